# -*- coding: utf-8 -*-
# Copyright: (c) 2026, simpledeploy developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What the end-to-end drivers (awx_job.py, infra_repo.py) share.

The environment a job runs with (a fresh one, as AWX's execution environment or
a person's shell in an infrastructure repository would have, not the caller's
ANSIBLE_* and MOLECULE_* variables), the inventory copied from the caller, the
search for secrets in what a run left behind, and the one JSON summary.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

ROOT = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..'))
EXAMPLES = os.path.join(ROOT, 'examples')

# Exit statuses of both drivers.
EXIT_OK = 0
EXIT_FAILED = 1  # the run did not succeed
EXIT_SETUP = 2  # the run could not start: bad arguments, an answer AWX would refuse, a tool that failed
EXIT_SECRET = 3  # the run succeeded, but a --secret value shows in its output or artefacts

# Every copy leaves these out (the example project run by hand leaves them behind).
COPY_IGNORE = shutil.ignore_patterns('__pycache__', '*.pyc', 'db.sqlite3', 'media', '.app-checkout')


class SetupError(Exception):
    """The run could not be set up; the message says what to do."""


def tool(name):
    """The command ``name`` next to the running Python (its virtualenv), else on PATH."""
    beside = os.path.join(os.path.dirname(sys.executable), name)
    if os.access(beside, os.X_OK):
        return beside
    found = shutil.which(name)
    if not found:
        raise SetupError('%s not found beside %s or on PATH: run this with .venv/bin/python '
                         '(scripts/setup installs the tools there)' % (name, sys.executable))
    return found


def job_environment(collections_path, extra=None):
    """The environment of a run: the caller's minus ANSIBLE_* and MOLECULE_*, plus ours.

    The virtualenv of the running Python comes first on PATH, so that the
    ansible-playbook run is the one beside it; the locale is UTF-8 (Ansible
    needs it).
    """
    env = dict((key, value) for key, value in os.environ.items()
               if not key.startswith(('ANSIBLE_', 'MOLECULE_')))
    env['PATH'] = os.pathsep.join([os.path.dirname(sys.executable), env.get('PATH', '')])
    env.update(LANG='C.UTF-8', LC_ALL='C.UTF-8', ANSIBLE_NOCOLOR='1')
    if collections_path:
        env['ANSIBLE_COLLECTIONS_PATH'] = collections_path
    env.update(extra or {})
    return env


def copy_inventory(sources, dest):
    """Copy inventory files and directories (their contents) into the directory ``dest``."""
    os.makedirs(dest, exist_ok=True)
    for index, source in enumerate(sources):
        if os.path.isdir(source):
            shutil.copytree(source, dest, dirs_exist_ok=True)
        elif os.path.isfile(source):
            name = os.path.basename(source)
            if os.path.exists(os.path.join(dest, name)):
                name = '%d-%s' % (index, name)
            shutil.copy(source, os.path.join(dest, name))
        else:
            raise SetupError('inventory %s does not exist' % source)
    return dest


def files_containing(root, secrets):
    """Paths (relative to ``root``) of the files under it that contain any of ``secrets``."""
    needles = [secret.encode('utf-8') for secret in secrets if secret]
    found = []
    if not needles:
        return found
    for directory, _dirs, files in os.walk(root):
        for name in files:
            path = os.path.join(directory, name)
            if os.path.islink(path) or not os.path.isfile(path):
                continue
            with open(path, 'rb') as handle:
                data = handle.read()
            if any(needle in data for needle in needles):
                found.append(os.path.relpath(path, root))
    return sorted(found)


def contains_secret(text, secrets):
    return any(secret and secret in text for secret in secrets)


def run_command(argv, cwd, env, log=None):
    """Run ``argv``; its output goes to the file ``log`` (appended) when given.

    Raises SetupError with the end of the output when it fails.
    """
    proc = subprocess.run(argv, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          text=True, check=False)
    if log:
        with open(log, 'a', encoding='utf-8') as handle:
            handle.write('$ %s\n%s\n' % (' '.join(argv), proc.stdout))
    if proc.returncode != 0:
        raise SetupError('%s failed (rc=%d):\n%s' % (' '.join(argv), proc.returncode, tail(proc.stdout)))
    return proc.stdout


def tail(text, lines=40):
    return '\n'.join(text.rstrip('\n').splitlines()[-lines:])


def emit(summary):
    """Print the one JSON summary on stdout."""
    sys.stdout.write(json.dumps(summary, indent=2, sort_keys=True) + '\n')
    sys.stdout.flush()


def say(message):
    """Progress and diagnostics go to stderr: stdout holds only the JSON summary."""
    sys.stderr.write(message.rstrip('\n') + '\n')
    sys.stderr.flush()
