# -*- coding: utf-8 -*-
# Copyright (c) simpledeploy developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The service as systemd runs it: systemctl's commands and answers, and its workers during a reload.

Private to the simpledeploy.django collection: the interface may change.
"""

from __future__ import annotations

import time

from ansible_collections.simpledeploy.django.plugins.module_utils import _proc
from ansible_collections.simpledeploy.django.plugins.module_utils._errors import StepError

# What the window asks systemd about the service before it changes anything.
SHOWN = ('ActiveState', 'MainPID', 'CanReload', 'LoadState')


def parse_show(text):
    """``systemctl show -p A -p B UNIT`` output as a dict."""
    found = {}
    for line in (text or '').splitlines():
        key, sep, value = line.partition('=')
        if sep:
            found[key.strip()] = value.strip()
    return found


def show(module, service):
    """What systemd says of SERVICE: (properties, loaded, main_pid). Only reads.

    LOADED is false when systemd has no such unit (a first deploy's unit goes in place
    inside its window); MAIN_PID is 0 when nothing runs.
    """
    argv = ['systemctl', 'show']
    for name in SHOWN:
        argv += ['-p', name]
    rc, out, dummy = module.run_command(argv + [service], environ_update={'LC_ALL': 'C'})
    unit = parse_show(out) if rc == 0 else {}
    loaded = unit.get('LoadState') != 'not-found'
    main_pid = int(unit.get('MainPID') or 0) if (unit.get('MainPID') or '0').isdigit() else 0
    return unit, loaded, main_pid


# What ``systemctl is-enabled`` answers 0 for (ansible.builtin.systemd_service's enabled=true then changes
# nothing), and the states of a unit that runs: started=true would change nothing ('reloading' runs too).
ENABLED_STATES = ('enabled', 'enabled-runtime', 'static', 'alias', 'indirect', 'generated', 'transient')
RUNNING_STATES = ('active', 'activating', 'reloading')


def parse_show_units(text):
    """``systemctl show -p Id -p ... UNIT...`` output (one block per unit, blank lines between) as dicts."""
    return [parse_show(block) for block in (text or '').split('\n\n') if block.strip()]


def units_report(module, units):
    """(ready, problem): whether every one of UNITS is loaded, enabled and running, from one ``systemctl show``,
    and else what is not, in words (``person.service: ActiveState=deactivating``, or systemctl's own error).
    Only reads.

    The role then skips its task that enables and starts them (it would change nothing); anything else, a
    unit systemd does not know or an answer it cannot read included, is not ready.
    """
    if not units:
        return True, None
    if not module.get_bin_path('systemctl'):
        return False, 'no systemctl on this host'
    argv = ['systemctl', 'show', '-p', 'Id', '-p', 'LoadState', '-p', 'ActiveState', '-p', 'UnitFileState']
    rc, out, err = module.run_command(argv + list(units), environ_update={'LC_ALL': 'C'})
    if rc != 0:
        return False, 'systemctl show failed (rc=%s): %s' % (rc, (err or out or '').strip())
    found = parse_show_units(out)
    if len(found) != len(units):
        return False, 'systemctl show answered for %d of the %d units' % (len(found), len(units))
    wanted = (('LoadState', ('loaded',)), ('UnitFileState', ENABLED_STATES), ('ActiveState', RUNNING_STATES))
    problems = []
    for name, unit in zip(units, found):
        wrong = [(key, unit.get(key)) for key, good in wanted if unit.get(key) not in good]
        if wrong:
            problems.append('%s: %s' % (unit.get('Id') or name, ', '.join('%s=%s' % pair for pair in wrong)))
    return not problems, '; '.join(problems) or None


class Systemctl(object):
    """``systemctl ACTION [UNIT]`` through the module, raising StepError when it fails.

    LOADED is whether the service's unit existed before this run: stopping a unit
    systemd does not know yet (rc 5) is then nothing to stop, not a failure.
    """

    def __init__(self, module, loaded=True):
        self.module = module
        self.loaded = loaded

    def __call__(self, action, unit):
        argv = ['systemctl', action] + ([unit] if unit else [])
        rc, out, err = self.module.run_command(argv, environ_update={'LC_ALL': 'C'})
        if rc == 5 and action == 'stop' and not self.loaded:
            return  # no unit yet (its file goes in place in the window): nothing runs to stop
        if rc != 0:
            raise StepError('%s failed (rc=%s): %s' % (' '.join(argv), rc, (err or out).strip()))


def wait_workers_replaced(main_pid, old_workers, timeout=30.0, interval=0.02, children=_proc.child_pids,
                          alive=_proc.is_running, clock=time.monotonic, sleep=time.sleep):
    """After a graceful reload: wait until none of OLD_WORKERS is a child of MAIN_PID any more
    and new workers run. Raises StepError when the server died or did not finish in TIMEOUT."""
    deadline = clock() + timeout
    old = set(old_workers)
    while True:
        if not alive(main_pid):
            raise StepError('the server (pid %s) exited during the reload: the new code probably '
                            'failed to load in its workers' % main_pid)
        kids = set(children(main_pid))
        if kids and not kids & old:
            return sorted(kids)
        if clock() >= deadline:
            raise StepError('the old workers (%s) still ran %s s after the reload'
                            % (', '.join(str(pid) for pid in sorted(kids & old)), timeout))
        sleep(interval)
