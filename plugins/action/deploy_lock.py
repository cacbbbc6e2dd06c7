# -*- coding: utf-8 -*-
# Copyright: (c) 2026, simpledeploy developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The controller side of simpledeploy.django.deploy_lock (documented with the module).

Fills in who this run is (owner, run_id, controller host, ansible-playbook
PID and its start time) and, when the module finds the lock held by another
run of this same controller, whether that run's ansible-playbook process is
gone: then it runs the module again, naming that run in takeover_run_ids.

Tasks run in worker processes forked by ansible-playbook for each task, so
the run's process is the worker's parent (multiprocessing.parent_process()),
not the worker itself (os.getpid(), or $PPID in a pipe lookup, which dies
with the task).
"""

from __future__ import annotations

import getpass
import multiprocessing
import os
import socket
import subprocess
import time

from ansible.plugins.action import ActionBase
from ansible_collections.simpledeploy.django.plugins.module_utils._lock import holder_verdict

MODULE = 'simpledeploy.django.deploy_lock'


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


def _proc_started(pid, proc='/proc'):
    """Start time of ``pid`` from Linux's /proc, or None."""
    try:
        with open('%s/%d/stat' % (proc, pid)) as handle:
            stat = handle.read()
        with open('%s/stat' % proc) as handle:
            boot = [int(line.split()[1]) for line in handle if line.startswith('btime ')]
        ticks = int(stat[stat.rindex(')') + 2:].split()[19])  # field 22, starttime
        return round(boot[0] + ticks / float(os.sysconf('SC_CLK_TCK')), 2)
    except (OSError, ValueError, IndexError):
        return None


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
    started = _proc_started(pid)
    return started if started is not None else _ps_started(pid)


def run_process():
    """The PID of this ansible-playbook run: the parent of the task's worker."""
    parent = multiprocessing.parent_process()
    return parent.pid if parent is not None else os.getpid()


def controller_identity():
    """owner, run_id, controller_host, controller_pid, controller_pid_started of this run."""
    host = socket.gethostname()
    pid = run_process()
    started = process_started(pid)
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = str(os.getuid())
    run_id = '%s-%d' % (host, pid) if started is None else '%s-%d-%d' % (host, pid, int(started))
    return dict(owner='%s@%s' % (user, host), run_id=run_id, controller_host=host, controller_pid=pid,
                controller_pid_started=started)


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _supports_check_mode = True
    _supports_async = False

    def run(self, tmp=None, task_vars=None):
        result = super(ActionModule, self).run(tmp, task_vars)
        del tmp
        args = dict(self._task.args)
        identity = controller_identity()
        if args.get('controller_pid') is None:  # where this run lives: all three, or none of them
            for key in ('controller_host', 'controller_pid', 'controller_pid_started'):
                args[key] = identity[key]
        for key in ('run_id', 'owner'):
            if not args.get(key):
                args[key] = identity[key]

        outcome = self._execute_module(module_name=MODULE, module_args=args, task_vars=task_vars)
        holder = outcome.get('held_by')
        if outcome.get('would_wait') and holder:
            verdict = holder_verdict(holder, identity['controller_host'], pid_alive, process_started)
            if verdict == 'dead':
                dead = args.get('takeover_run_ids') or []
                dead = dead.split(',') if isinstance(dead, str) else list(dead)
                args['takeover_run_ids'] = dead + [holder['run_id']]
                outcome = self._execute_module(module_name=MODULE, module_args=args, task_vars=task_vars)
            elif verdict == 'alive' and outcome.get('msg'):
                # the module's error summary holds its own message: drop it, the message is the new one
                outcome.pop('exception', None)
                outcome['msg'] += (' Its ansible-playbook (PID %s) still runs on this controller.'
                                   % holder['controller_pid'])
        result.update(outcome)
        return result
