#!/usr/bin/env python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, simpledeploy developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Run examples/infra-repo as an infrastructure repository would: the collection from its built tarball.

    .venv/bin/python tests/e2e/infra_repo.py --inventory INVENTORY --vars-file VARS \\
        [--source DIR] [--collections-path PATHS] [--check] [--limit PATTERN] \\
        [--secret VALUE]... [--out DIR]

1. ansible-galaxy collection build of this repository into DIR/dist;
2. examples/infra-repo copied to DIR/repo, the tarball put where its
   requirements.yml names it (vendor/), the app (--source, default
   examples/person/v1) copied to src/;
3. ansible-galaxy collection install -r requirements.yml -p DIR/repo/collections
   --offline, in DIR/repo;
4. ansible-playbook deploy.yml -i INVENTORY -e @VARS -vv in DIR/repo, with
   ANSIBLE_COLLECTIONS_PATH = DIR/repo/collections, then --collections-path
   (default: this environment's ANSIBLE_COLLECTIONS_PATH) for the dependencies
   such as containers.podman. The caller's other ANSIBLE_* and MOLECULE_*
   variables are left out: the repository's ansible.cfg applies.

The run must use the installed copy, not another simpledeploy.django on the
path (the set-up's collections root links the work tree): `ansible-galaxy
collection list` must find it first in DIR/repo/collections, and every task of
the role must come from there (the "task path:" lines of -vv).

Prints one JSON object: status (successful or failed), rc of ansible-playbook,
tarball, installed (where simpledeploy.django was found first), role_tasks
(how many ran from the installed copy, and paths of any that did not), hosts
(the play recap per host: ok, changed, failed, unreachable, skipped, rescued,
ignored), results (per host: the scalar values of the role's deploy_result),
log (ansible-playbook's output), secret_in_output (whether a --secret value is
in that output), seconds per step.

Exit status: 0 the run succeeded from the installed copy and no secret showed;
1 the playbook failed or the role did not run from the installed copy; 2 the
run could not start (bad arguments, build or install failed); 3 it succeeded
but a --secret value showed.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

import yaml

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _common  # noqa: E402  pylint: disable=wrong-import-position

EXAMPLE = os.path.join(_common.EXAMPLES, 'infra-repo')
DEFAULT_SOURCE = os.path.join(_common.EXAMPLES, 'person', 'v1')
COLLECTION = 'simpledeploy.django'
TASK_PATH = re.compile(r'^task path: (.+):\d+$', re.MULTILINE)
RECAP = re.compile(r'^(\S+)\s+:\s+ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)\s+'
                   r'skipped=(\d+)\s+rescued=(\d+)\s+ignored=(\d+)', re.MULTILINE)
RECAP_KEYS = ('ok', 'changed', 'unreachable', 'failed', 'skipped', 'rescued', 'ignored')
RESULT_START = re.compile(r'^ok: \[([^\]]+)\] => (\{.*)$')


def build_tarball(dest, env, log):
    os.makedirs(dest)
    _common.run_command([_common.tool('ansible-galaxy'), 'collection', 'build', _common.ROOT,
                         '--output-path', dest], cwd=dest, env=env, log=log)
    found = glob.glob(os.path.join(dest, 'simpledeploy-django-*.tar.gz'))
    if len(found) != 1:
        raise _common.SetupError('ansible-galaxy collection build made %s in %s' % (found or 'nothing', dest))
    return found[0]


def tarball_destination(repo):
    """Where the repository's requirements.yml expects the tarball of simpledeploy.django."""
    with open(os.path.join(repo, 'requirements.yml'), encoding='utf-8') as handle:
        requirements = yaml.safe_load(handle)
    for entry in requirements.get('collections', []):
        if isinstance(entry, dict) and entry.get('name') == COLLECTION and entry.get('type') == 'file':
            return os.path.normpath(os.path.join(repo, entry['source']))
    raise _common.SetupError('requirements.yml of %s has no entry "%s" of type file' % (repo, COLLECTION))


def make_repo(repo, tarball, source):
    shutil.copytree(EXAMPLE, repo, ignore=_common.COPY_IGNORE)
    dest = tarball_destination(repo)
    if os.path.basename(dest) != os.path.basename(tarball):
        raise _common.SetupError('examples/infra-repo/requirements.yml names %s, the build made %s: update it'
                                 % (os.path.basename(dest), os.path.basename(tarball)))
    os.makedirs(os.path.dirname(dest), exist_ok=True)
    shutil.copy(tarball, dest)
    shutil.copytree(source, os.path.join(repo, 'src'), ignore=_common.COPY_IGNORE)
    return repo


def collection_paths(repo, env, log):
    """The collection roots holding simpledeploy.django, in the order Ansible searches them."""
    out = _common.run_command([_common.tool('ansible-galaxy'), 'collection', 'list', COLLECTION,
                               '--format', 'json'], cwd=repo, env=env, log=log)
    listed = json.loads(out[out.index('{'):])
    order = env['ANSIBLE_COLLECTIONS_PATH'].split(os.pathsep)

    def rank(path):
        for index, root in enumerate(order):
            if os.path.realpath(path).startswith(os.path.realpath(root) + os.sep):
                return index
        return len(order)

    return sorted((path for path, found in listed.items() if COLLECTION in found), key=rank)


def role_tasks(output, installed):
    """(number of role tasks run from ``installed``, paths of the role's tasks run from elsewhere)."""
    inside, elsewhere = 0, set()
    prefix = os.path.realpath(installed) + os.sep
    for path in TASK_PATH.findall(output):
        if '/roles/deploy/' not in path:
            continue
        if os.path.realpath(path).startswith(prefix):
            inside += 1
        else:
            elsewhere.add(path)
    return inside, sorted(elsewhere)


def recap(output):
    return dict((match[0], dict(zip(RECAP_KEYS, (int(n) for n in match[1:])))) for match in RECAP.findall(output))


def task_results(output):
    """(host, result) for each "ok: [host] => {...}" of the output (-v, JSON result format).

    A result is on one line, or, for a debug message, indented JSON closed by a
    "}" alone on its line.
    """
    lines = output.splitlines()
    for index, line in enumerate(lines):
        match = RESULT_START.match(line)
        if not match:
            continue
        text = match.group(2)
        if text.strip() == '{':
            end = next((i for i in range(index + 1, len(lines)) if lines[i] == '}'), None)
            if end is None:
                continue
            text = '\n'.join([text] + lines[index + 1:end + 1])
        try:
            result = json.loads(text)
        except ValueError:
            continue
        if isinstance(result, dict):
            yield match.group(1), result


def deploy_results(output):
    """Per host: the scalar values of the role's deploy_result, and its summary line."""
    results = {}
    for host, result in task_results(output):
        facts = result.get('ansible_facts') or {}
        if isinstance(facts.get('deploy_result'), dict):
            results.setdefault(host, {}).update(
                (key, value) for key, value in facts['deploy_result'].items()
                if value is None or isinstance(value, (str, int, float, bool)))
        message, app = result.get('msg'), results.get(host, {}).get('app')
        if app and isinstance(message, str) and message.startswith(app + ': '):
            results[host]['summary'] = message
    return results


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.split('\n', 1)[0])
    parser.add_argument('--inventory', action='append', required=True, help='inventory (repeatable)')
    parser.add_argument('--vars-file', action='append', default=[], help='-e @FILE (repeatable)')
    parser.add_argument('--source', default=DEFAULT_SOURCE,
                        help='the app to deploy, copied to src/ (default: examples/person/v1)')
    parser.add_argument('--collections-path', default=os.environ.get('ANSIBLE_COLLECTIONS_PATH', ''),
                        help='where the dependencies are, after the installed copy (default: '
                        'this environment\'s ANSIBLE_COLLECTIONS_PATH)')
    parser.add_argument('--check', action='store_true', help='ansible-playbook --check --diff')
    parser.add_argument('--limit', help='ansible-playbook --limit')
    parser.add_argument('--secret', action='append', default=[],
                        help='a value that must not appear in the output (repeatable)')
    parser.add_argument('--out', help='work directory (created; default: a new temporary directory, kept)')
    return parser.parse_args(argv)


def run(args):
    started = time.time()
    out = os.path.abspath(args.out) if args.out else tempfile.mkdtemp(prefix='infra-repo-')
    if os.path.exists(out) and os.listdir(out):
        raise _common.SetupError('--out %s is not empty: give a new directory for each run' % out)
    os.makedirs(out, exist_ok=True)
    for path in args.inventory + args.vars_file + [args.source]:
        if not os.path.exists(path):
            raise _common.SetupError('%s does not exist' % path)
    repo = os.path.join(out, 'repo')
    installed_root = os.path.join(repo, 'collections')
    setup_log = os.path.join(out, 'setup.log')
    seconds = {}

    step = time.time()
    tarball = build_tarball(os.path.join(out, 'dist'), _common.job_environment(None), setup_log)
    seconds['build'] = round(time.time() - step, 1)

    step = time.time()
    make_repo(repo, tarball, os.path.abspath(args.source))
    # Only the target on the path: another simpledeploy.django there would make
    # ansible-galaxy say "already installed" and install nothing.
    _common.run_command([_common.tool('ansible-galaxy'), 'collection', 'install', '-r', 'requirements.yml',
                         '-p', installed_root, '--offline'],
                        cwd=repo, env=_common.job_environment(installed_root), log=setup_log)
    installed = os.path.join(installed_root, 'ansible_collections', 'simpledeploy', 'django')
    if not os.path.isfile(os.path.join(installed, 'MANIFEST.json')):
        raise _common.SetupError('ansible-galaxy installed nothing into %s (does PYTHONPATH hold another '
                                 'simpledeploy.django?); see %s' % (installed_root, setup_log))
    paths = os.pathsep.join([installed_root] + [p for p in args.collections_path.split(os.pathsep) if p])
    env = _common.job_environment(paths, dict(ANSIBLE_CALLBACK_RESULT_FORMAT='json'))
    found = collection_paths(repo, env, setup_log)
    seconds['install'] = round(time.time() - step, 1)

    step = time.time()
    argv = [_common.tool('ansible-playbook'), 'deploy.yml', '-vv']
    for inventory in args.inventory:
        argv += ['-i', os.path.abspath(inventory)]
    for vars_file in args.vars_file:
        argv += ['-e', '@' + os.path.abspath(vars_file)]
    if args.check:
        argv += ['--check', '--diff']
    if args.limit:
        argv += ['--limit', args.limit]
    log = os.path.join(out, 'ansible-playbook.log')
    with open(log, 'w', encoding='utf-8') as handle:
        proc = subprocess.run(argv, cwd=repo, env=env, stdout=handle, stderr=subprocess.STDOUT, check=False)
    with open(log, encoding='utf-8', errors='replace') as handle:
        output = handle.read()
    seconds['playbook'] = round(time.time() - step, 1)

    inside, elsewhere = role_tasks(output, installed)
    return dict(
        status='successful' if proc.returncode == 0 else 'failed', rc=proc.returncode,
        tarball=tarball, installed=found[0] if found else None, collection_paths=found,
        role_tasks=dict(from_installed_copy=inside, elsewhere=elsewhere),
        hosts=recap(output), results=deploy_results(output), log=log, repo=repo,
        secrets_checked=len([s for s in args.secret if s]),
        secret_in_output=_common.contains_secret(output, args.secret) if args.secret else None,
        seconds=dict(seconds, total=round(time.time() - started, 1))), output


def main(argv=None):
    args = parse_args(argv)
    try:
        summary, output = run(args)
    except (_common.SetupError, OSError, ValueError) as exc:
        _common.say('infra_repo: %s' % exc)
        _common.emit(dict(status='error', rc=None, error=str(exc)))
        return _common.EXIT_SETUP
    problems = []
    expected_root = os.path.join(summary['repo'], 'collections', 'ansible_collections')
    if not summary['installed'] or not summary['installed'].startswith(expected_root):
        problems.append('simpledeploy.django is found first in %s, not in the installed copy'
                        % summary['installed'])
    if summary['rc'] == 0 and (summary['role_tasks']['elsewhere'] or not summary['role_tasks']['from_installed_copy']):
        problems.append('the role did not run from the installed copy only: %s' % summary['role_tasks'])
    if problems:
        summary['status'] = 'failed'
        summary['problems'] = problems
    _common.emit(summary)
    if summary['status'] != 'successful':
        if summary['secret_in_output']:
            _common.say('infra_repo: the output is not shown: it holds a --secret value (%s)' % summary['log'])
        else:
            _common.say('infra_repo: %s; the end of the output:\n%s'
                        % ('; '.join(problems) or 'ansible-playbook failed', _common.tail(output, 60)))
        return _common.EXIT_FAILED
    if summary['secret_in_output']:
        _common.say('infra_repo: a --secret value shows in the output: %s' % summary['log'])
        return _common.EXIT_SECRET
    return _common.EXIT_OK


if __name__ == '__main__':
    sys.exit(main())
