# -*- coding: utf-8 -*-
# Copyright: (c) 2026, simpledeploy developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The controller side of simpledeploy.django.deploy_lock (documented with the module).

Fills in who this run is (owner, run_id, controller host and machine ID,
ansible-playbook PID and its start time) and, when the module finds the lock
held by another run of this same controller (the same machine ID and host
name), whether that run's ansible-playbook process is gone: then it runs the
module again, naming that run in takeover_run_ids.

The run ID is TOKEN-MACHINE-PID-START: a random token made once per
ansible-playbook run and shared by its workers through a file in the run's
own local temporary directory (ansible-playbook makes it, 0700, before it
forks any worker, and removes it at exit), the hashed machine ID, the PID and
the start time: two controllers cloned from one image (the same machine ID,
even the same PIDs) still get two run IDs.

Tasks run in worker processes forked by ansible-playbook for each task, so
the run's process is the worker's parent (multiprocessing.parent_process()),
not the worker itself (os.getpid(), or $PPID in a pipe lookup, which dies
with the task).
"""

from __future__ import annotations

import getpass
import hashlib
import multiprocessing
import os
import secrets
import socket
import subprocess
import time

from ansible import constants as C
from ansible.plugins.action import ActionBase
from ansible_collections.simpledeploy.django.plugins.module_utils import _proc
from ansible_collections.simpledeploy.django.plugins.module_utils._lock import holder_verdict

MODULE = 'simpledeploy.django.deploy_lock'
MACHINE_ID_FILES = ('/etc/machine-id', '/var/lib/dbus/machine-id')
TOKEN_FILE = 'simpledeploy-deploy-lock-run-token'


def pid_alive(pid):
    """True when a process ``pid`` exists (of any user), False when none does, None when unknown."""
    if not isinstance(pid, int) or isinstance(pid, bool) or pid <= 0:
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except OSError:
        return None
    return True


def _ps_started(pid):
    """Start time of ``pid`` from ``ps -o lstart=`` (macOS, BSD, Linux), or None."""
    try:
        proc = subprocess.run(['ps', '-o', 'lstart=', '-p', str(pid)], stdout=subprocess.PIPE,
                              stderr=subprocess.DEVNULL, env=dict(os.environ, LC_ALL='C', LANG='C'),
                              text=True, timeout=10, check=False)
        return time.mktime(time.strptime(' '.join(proc.stdout.split()), '%a %b %d %H:%M:%S %Y'))
    except (OSError, ValueError, subprocess.SubprocessError):
        return None


def process_started(pid):
    """When process ``pid`` started, seconds since the epoch, or None when unknown."""
    started = _proc.start_time(pid)
    return started if started is not None else _ps_started(pid)


def run_process():
    """The PID of this ansible-playbook run: the parent of the task's worker."""
    parent = multiprocessing.parent_process()
    return parent.pid if parent is not None else os.getpid()


def machine_id(files=MACHINE_ID_FILES, host=None):
    """This controller's machine ID, hashed for this use (as systemd's app-specific IDs): 32 hex digits.

    From the first of ``files`` that holds one, else from the host name. The
    raw machine ID is not written anywhere (systemd asks not to expose it).
    """
    for path in files:
        try:
            with open(path) as handle:
                found = handle.read().strip()
        except OSError:
            continue
        if found:
            return hashlib.sha256(('simpledeploy.django deploy_lock %s' % found).encode()).hexdigest()[:32]
    host = host or socket.gethostname()
    return hashlib.sha256(('simpledeploy.django deploy_lock host %s' % host).encode()).hexdigest()[:32]


def _valid_token(text):
    return len(text) == 16 and all(char in '0123456789abcdef' for char in text)


def run_token(directory=None):
    """A random token of this ansible-playbook run, the same in all its workers, or None when it cannot be kept.

    Kept in ``directory`` (the run's local temporary directory): the first
    worker links a file holding a new token into place, the others read it.
    """
    directory = directory or C.DEFAULT_LOCAL_TMP
    path = os.path.join(directory, TOKEN_FILE)
    temp = '%s.%d.%s' % (path, os.getpid(), secrets.token_hex(4))
    try:
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        try:
            with os.fdopen(fd, 'w') as handle:
                handle.write(secrets.token_hex(8))
            try:
                os.link(temp, path)  # atomic: the first one wins, whole
            except FileExistsError:
                pass
        finally:
            os.unlink(temp)
        with open(path) as handle:
            token = handle.read().strip()
    except (OSError, TypeError):
        return None
    return token if _valid_token(token) else None


def controller_identity():
    """owner, run_id, controller_host, controller_machine_id, controller_pid, controller_pid_started of this run."""
    host = socket.gethostname()
    machine = machine_id(host=host)
    pid = run_process()
    started = process_started(pid)
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = str(os.getuid())
    token = run_token()
    if token is None:  # no shared place: a token the run's workers can all compute (unique, not secret)
        token = hashlib.sha256(('%s %d %s' % (machine, pid, started)).encode()).hexdigest()[:16]
    run_id = '%s-%s-%d' % (token, machine[:16], pid)
    if started is not None:
        run_id += '-%d' % int(started)
    return dict(owner='%s@%s' % (user, host), run_id=run_id, controller_host=host, controller_machine_id=machine,
                controller_pid=pid, controller_pid_started=started)


def settle_holder(outcome, identity, takeover_run_ids, rerun):
    """OUTCOME, a module's refusal of the lock another run holds, settled on this controller: that run's
    ansible-playbook gone, the module run again by RERUN(run IDs to take over) and its outcome returned; still
    running, the message says so. Any other outcome is returned as it is. (deploy_lock's action, and
    release_stage's, which takes the lock as it stages.)"""
    holder = outcome.get('held_by')
    if not (outcome.get('would_wait') and holder):
        return outcome
    verdict = holder_verdict(holder, identity['controller_machine_id'], identity['controller_host'],
                             pid_alive, process_started)
    if verdict == 'dead':
        return rerun(list(takeover_run_ids) + [holder['run_id']])
    if verdict == 'alive' and outcome.get('msg'):
        # the module's error summary holds its own message: drop it, the message is the new one
        outcome.pop('exception', None)
        outcome['msg'] += ' Its ansible-playbook (PID %s) still runs on this controller.' % holder['controller_pid']
    return outcome


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _supports_check_mode = True
    _supports_async = False

    def run(self, tmp=None, task_vars=None):
        result = super(ActionModule, self).run(tmp, task_vars)
        del tmp
        args = dict(self._task.args)
        identity = controller_identity()
        if args.get('controller_pid') is None:  # where this run lives: all four, or none of them
            for key in ('controller_host', 'controller_machine_id', 'controller_pid', 'controller_pid_started'):
                args[key] = identity[key]
        for key in ('run_id', 'owner'):
            if not args.get(key):
                args[key] = identity[key]

        def rerun(takeover_run_ids):
            args['takeover_run_ids'] = takeover_run_ids
            return self._execute_module(module_name=MODULE, module_args=args, task_vars=task_vars)

        dead = args.get('takeover_run_ids') or []
        dead = dead.split(',') if isinstance(dead, str) else list(dead)
        outcome = settle_holder(self._execute_module(module_name=MODULE, module_args=args, task_vars=task_vars),
                                identity, dead, rerun)
        result.update(outcome)
        return result
