# -*- coding: utf-8 -*-
# Copyright (c) simpledeploy developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The project's own steps (hooks): ``manage.py`` commands run as the app's user, one at a time.

Private to the simpledeploy.django collection: the interface may change.

The module django_command runs them before the switch, release_switch inside
its window and once the release is live; both go through run_commands here.
A command is ``[timeout -k KILL SECONDS] [runuser -u RUN_AS --]
<virtualenv>/bin/python manage.py ARGS`` in the project's directory, with the
app's environment (the environment file, read here as root, and passed in the
child's environment: never on a command line). ``timeout`` (coreutils) stops
the command's whole process group when it runs longer than its time limit.
"""

from __future__ import annotations

import os
import shlex
import shutil
import time

from ansible_collections.simpledeploy.django.plugins.module_utils import _failure, _secrets
from ansible_collections.simpledeploy.django.plugins.module_utils._django import current_user, find_runuser, niced
from ansible_collections.simpledeploy.django.plugins.module_utils._envfile import app_env, build_env
from ansible_collections.simpledeploy.django.plugins.module_utils._errors import StepError

DEFAULT_TIMEOUT = 600
# Seconds between timeout's SIGTERM and its SIGKILL.
KILL_AFTER = 10
# What timeout(1) exits with when it stopped the command (SIGTERM; SIGKILL after KILL_AFTER).
TIMED_OUT = (124, 137)
_TIMEOUT_DIRS = ('/usr/bin', '/bin')


class HookError(StepError):
    """A command failed or could not start; ``results`` holds every command run so far, the failed one last."""

    def __init__(self, message, results=None):
        super(HookError, self).__init__(message)
        self.results = results or []


def parse_command(command):
    """The arguments after ``manage.py`` of COMMAND: a string split like a shell line (shlex), or a list.

    Raises ValueError for an empty command, a string shlex cannot split, or a
    command that starts with ``manage.py`` or ``python`` (give only what follows manage.py).
    """
    if isinstance(command, (list, tuple)):
        args = [str(arg) for arg in command]
    else:
        try:
            args = shlex.split(str(command or ''))
        except ValueError as exc:
            raise ValueError('cannot read the command %r: %s' % (command, exc))
    if not args or not args[0].strip():
        raise ValueError('an empty command: give a manage.py command, e.g. "createcachetable"')
    first = os.path.basename(args[0])
    if first == 'manage.py' or first.startswith('python'):
        raise ValueError('the command %r starts with %s: give only what follows manage.py, e.g. %r'
                         % (command, args[0], ' '.join(args[1:]) or 'createcachetable'))
    return args


def shown(args):
    """``manage.py ARGS`` as a message shows it (quoted like a shell line)."""
    return ' '.join(['manage.py'] + [shlex.quote(arg) for arg in args])


def find_timeout():
    """Path of coreutils' ``timeout``, looked up on PATH and /usr/bin, /bin."""
    path = os.pathsep.join([os.environ.get('PATH', '')] + list(_TIMEOUT_DIRS))
    return shutil.which('timeout', path=path)


def command_argv(python, args, run_as=None, seconds=DEFAULT_TIMEOUT, timeout='timeout', runuser='runuser'):
    """``[TIMEOUT -k KILL_AFTER SECONDS] [RUNUSER -u RUN_AS --] PYTHON manage.py ARGS``.

    TIMEOUT None (or SECONDS 0) runs without a time limit; RUNUSER None runs as the current user.
    """
    argv = [python, 'manage.py'] + list(args)
    if run_as and runuser:
        argv = [runuser, '-u', run_as, '--'] + argv
    if timeout and seconds:
        argv = [timeout, '-k', str(KILL_AFTER), '%g' % seconds] + argv
    return argv


def failure_message(args, rc, stdout, stderr, seconds, limit, run_as=None, secrets=()):
    """One line: the command, as whom, how it ended and the last lines of its own error, secrets masked."""
    who = ' (as %s)' % run_as if run_as else ''
    if rc in TIMED_OUT and limit and seconds >= limit:
        how = 'did not finish within %g s and was stopped (deploy_hooks_timeout)' % limit
    else:
        how = 'failed (rc=%s)' % rc
    lines = _failure.last_lines(stderr) or _failure.last_lines(stdout)
    text = '%s%s %s: %s' % (shown(args), who, how, ' | '.join(lines) if lines else 'no output')
    return _secrets.protect(text, secrets)


def check_inputs(project_path, virtualenv, env_file=None):
    """Raise HookError, before anything runs, when manage.py, the virtualenv's python or the env file is missing."""
    missing = [path for path in (os.path.join(project_path, 'manage.py'), os.path.join(virtualenv, 'bin', 'python'),
                                 env_file) if path and not os.path.exists(path)]
    if missing:
        raise HookError('cannot run manage.py commands: missing %s' % ', '.join(missing))


def _run_as(run_as):
    """(user to show, runuser path or None): runuser only to switch to another user, and only as root."""
    if not run_as or run_as == current_user():
        return None, None
    if os.geteuid() != 0:
        raise HookError('run_as=%s needs root to switch user: run the task with become: true' % run_as)
    runuser = find_runuser()
    if not runuser:
        raise HookError('run_as=%s needs runuser (util-linux), which is not installed' % run_as)
    return run_as, runuser


def run_commands(module, project_path, virtualenv, commands, env_file=None, settings=None, run_as=None,
                 timeout=DEFAULT_TIMEOUT, clock=time.monotonic):
    """Run each of COMMANDS (see parse_command) in order; stop at the first that fails.

    As RUN_AS, in PROJECT_PATH, with VIRTUALENV's python and build_env(settings, env_file);
    each stopped after TIMEOUT seconds (0: no limit). The values of the environment file that
    may be secrets go into ``module.no_log_values`` and are masked in the message. Returns
    ``[{command, rc, seconds}]``; raises HookError (with those results) on a failure.
    """
    parsed = [parse_command(command) for command in commands]
    if not parsed:
        return []
    check_inputs(project_path, virtualenv, env_file)
    public = [project_path, virtualenv] + [arg for args in parsed for arg in args] + _secrets.public_strings(
        getattr(module, 'argument_spec', {}), getattr(module, 'params', {}))
    try:
        secrets = _secrets.secret_strings(app_env(None, env_file), public)
        env = build_env(settings=settings, env_file=env_file)
    except (OSError, ValueError) as exc:
        raise HookError('cannot run manage.py commands: could not read %s: %s' % (env_file, exc))
    module.no_log_values.update(secrets)
    env['PYTHONDONTWRITEBYTECODE'] = '1'
    user, runuser = _run_as(run_as)
    timeout_path = find_timeout() if timeout else None
    if timeout and not timeout_path:
        raise HookError('cannot run manage.py commands with a time limit: timeout (coreutils) is not installed')
    python = os.path.join(virtualenv, 'bin', 'python')
    results = []
    for args in parsed:
        argv = niced(command_argv(python, args, user, timeout, timeout_path, runuser), module)
        start = clock()
        rc, out, err = module.run_command(argv, cwd=project_path, environ_update=env)
        seconds = round(clock() - start, 3)
        results.append(dict(command=shown(args), rc=rc, seconds=seconds))
        if rc != 0:
            raise HookError(failure_message(args, rc, out, err, seconds, timeout, user, module.no_log_values), results)
    return results


def planned(commands):
    """``[{command, rc: None, seconds: None}]`` for check mode: what would run, nothing run."""
    return [dict(command=shown(parse_command(command)), rc=None, seconds=None) for command in commands]
