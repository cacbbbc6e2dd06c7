# -*- coding: utf-8 -*-
# Copyright (c) simpledeploy developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What Linux's /proc says about processes: the one place the collection parses it.

Private to the simpledeploy.django collection: the interface may change.

Every function takes ``proc`` (default ``/proc``) so that tests can hand it a
directory of their own. A process that ends while it is read is simply not
there: nothing here raises for it.

* child_pids(pid)       the children of a process (a server's workers)
* is_running(pid)       whether a process exists and is not a zombie
* start_time(pid)       when a process started, seconds since the epoch
* processes_of(uid)     the live processes whose real or saved user ID is uid
* flock_holder(fd)      the process /proc/locks names for an flock on a file
* signal_pending(pid, signum)  whether a signal sent to a process waits to be delivered

Python 3.9+, standard library only.
"""

from __future__ import annotations

import os

PROC = '/proc'


def stat_fields(pid, proc=PROC):
    """The fields of ``/proc/PID/stat`` after the command name, or None when PID is gone.

    The command name (field 2) is in parentheses and may hold spaces and
    parentheses of its own, so the fields start after the LAST ``)``: index 0
    is the state (field 3), 1 the parent PID (field 4), 19 the start time in
    clock ticks after boot (field 22).
    """
    try:
        with open(os.path.join(proc, str(pid), 'stat'), 'rb') as handle:
            data = handle.read().decode('ascii', 'replace')
    except OSError:
        return None
    return data.rpartition(')')[2].split()


def _pids(proc):
    """The numeric entries of PROC: every process there is (none when PROC cannot be read)."""
    try:
        names = os.listdir(proc)
    except OSError:
        return []
    return [int(name) for name in names if name.isdigit()]


def child_pids(pid, proc=PROC):
    """PIDs whose parent is PID, sorted."""
    kids = []
    for child in _pids(proc):
        fields = stat_fields(child, proc)
        if fields and len(fields) > 1 and fields[1] == str(pid):
            kids.append(child)
    return sorted(kids)


def is_running(pid, proc=PROC):
    """Whether PID exists and is not a zombie."""
    fields = stat_fields(pid, proc)
    return bool(fields) and fields[0] != 'Z'


def signal_pending(pid, signum, proc=PROC):
    """Whether SIGNUM, sent to process PID, is still pending: not yet delivered to its handler (a second one sent
    now would merge with it). False when PID is gone or its status cannot be read."""
    try:
        with open(os.path.join(proc, str(pid), 'status'), 'rb') as handle:
            lines = handle.read().decode('ascii', 'replace').splitlines()
    except OSError:
        return False
    bit = 1 << (int(signum) - 1)
    for line in lines:
        name, _sep, value = line.partition(':')
        if name in ('ShdPnd', 'SigPnd'):
            try:
                if int(value.strip(), 16) & bit:
                    return True
            except ValueError:
                continue
    return False


def start_time(pid, proc=PROC):
    """When PID started, seconds since the epoch (rounded to 10 ms), or None when unknown."""
    fields = stat_fields(pid, proc)
    try:
        with open(os.path.join(proc, 'stat')) as handle:
            boot = [int(line.split()[1]) for line in handle if line.startswith('btime ')]
        ticks = int(fields[19])
        return round(boot[0] + ticks / float(os.sysconf('SC_CLK_TCK')), 2)
    except (OSError, ValueError, IndexError, TypeError):
        return None


def processes_of(uid, proc=PROC):
    """PIDs of the live processes whose real or saved user ID is UID (zombies hold nothing: left out).

    Those are the processes a user can have started, setuid programs
    included, and exactly those that a process of UID may signal.
    """
    pids = []
    for pid in _pids(proc):
        try:
            with open(os.path.join(proc, str(pid), 'status'), encoding='utf-8', errors='replace') as handle:
                fields = dict(line.split(':', 1) for line in handle if ':' in line)
        except OSError:
            continue  # gone meanwhile
        state = fields.get('State', '').split()
        uids = fields.get('Uid', '').split()
        if not state or state[0] in ('Z', 'X') or len(uids) < 3:
            continue
        if str(uid) in (uids[0], uids[2]):
            pids.append(pid)
    return sorted(pids)


def flock_holder(fd, proc=PROC):
    """The PID /proc/locks names for an flock on the file open at ``fd``, or None."""
    st = os.fstat(fd)
    key = '%02x:%02x:%d' % (os.major(st.st_dev), os.minor(st.st_dev), st.st_ino)
    try:
        with open(os.path.join(proc, 'locks')) as handle:
            lines = handle.read().splitlines()
    except OSError:
        return None
    for line in lines:
        parts = line.split()
        if '->' not in parts and len(parts) > 5 and parts[1] == 'FLOCK' and parts[5] == key:
            return int(parts[4]) if parts[4].isdigit() else None
    return None
