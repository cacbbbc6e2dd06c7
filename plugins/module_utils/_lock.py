# -*- coding: utf-8 -*-
# Copyright: (c) 2026, simpledeploy developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""One deploy at a time: the lock file of the deploy_lock module.

Private to simpledeploy.django; the interface may change without notice.

* decide(), holder_verdict(), refusal_message() - pure: the lock found, this
  run's request and the time in; what to do (or what to say) out;
* read_lock(), write_lock() - the file: JSON, written whole to a temporary file
  and renamed into place, so a reader never sees half a lock;
* apply() - what the module calls: under an exclusive flock on the lock's
  directory (so two runs never both take it), read, decide, act unless in
  check mode, and return the result.

The module runs on the managed host; holder_verdict() is for the controller
side (the action plugin), which alone can tell whether a run of its own
controller still lives. Python 3.9+, standard library only.
"""

import collections
import contextlib
import errno
import fcntl
import json
import os
import tempfile
import time

DEFAULT_TIMEOUT = 1800
STATES = ('present', 'absent')
# What this run holds: the fields of the lock file, in order.
FIELDS = ('owner', 'run_id', 'controller_host', 'controller_pid', 'controller_pid_started', 'since', 'since_epoch')
# A recorded process start time and a measured one further apart than this
# (seconds) belong to two processes that had the same PID.
START_TOLERANCE = 2.0

# Actions: what the module does (or, in check mode, would do).
ACQUIRE = 'acquire'      # no lock: take it
KEEP = 'keep'            # this run holds it already
TAKE_OVER = 'take_over'  # another run's lock, expired or its run dead: replace it
WAIT = 'wait'            # another run's live lock: refuse
RELEASE = 'release'      # state=absent, this run's lock: remove it
NONE = 'none'            # state=absent, no lock
LEAVE = 'leave'          # state=absent, another run's lock: keep it, warn
CHANGING = (ACQUIRE, TAKE_OVER, RELEASE)

Decision = collections.namedtuple('Decision', 'action age reason')


class LockError(Exception):
    """A failure; result holds what the module returns with it."""

    def __init__(self, msg, result=None):
        super(LockError, self).__init__(msg)
        self.msg = msg
        self.result = result or {}


def iso_utc(epoch):
    return time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime(epoch))


def duration(seconds):
    """'45 s', '2 min 5 s', '3 h 0 min' (rounded down to the second)."""
    seconds = max(0, int(seconds))
    if seconds < 60:
        return '%d s' % seconds
    if seconds < 3600:
        return '%d min %d s' % divmod(seconds, 60)
    return '%d h %d min' % (seconds // 3600, seconds % 3600 // 60)


def _number(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _positive_int(value):
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


# ------------------------------------------------------------------ pure

def decide(existing, state, run_id, now, timeout, dead_run_ids=()):
    """What to do about the lock ``existing`` (a read_lock() dict or None).

    A lock is this run's when its run_id is ``run_id``. Another run's lock is
    taken over when it is older than ``timeout`` seconds or its run_id is in
    ``dead_run_ids``; otherwise the answer is WAIT.
    """
    if existing is None:
        return Decision(NONE if state == 'absent' else ACQUIRE, None, 'there is no lock')
    age = now - existing['since_epoch']
    ours = 'unreadable' not in existing and existing.get('run_id') == run_id
    if state == 'absent':
        if ours:
            return Decision(RELEASE, age, 'this run holds the lock')
        return Decision(LEAVE, age, 'another run holds the lock')
    if ours:
        return Decision(KEEP, age, 'this run holds the lock already')
    holder_run = existing.get('run_id')
    if holder_run and 'unreadable' not in existing and holder_run in dead_run_ids:
        host, pid = existing.get('controller_host'), existing.get('controller_pid')
        if host and pid:
            reason = 'its run is gone: PID %s no longer runs on controller %s' % (pid, host)
        else:
            reason = 'its run %s is gone' % holder_run
        return Decision(TAKE_OVER, age, reason)
    if age > timeout:
        return Decision(TAKE_OVER, age, 'it is %s old, older than the timeout of %d s' % (duration(age), timeout))
    return Decision(WAIT, age, 'another run holds the lock')


def holder_verdict(holder, local_host, pid_alive, process_started):
    """Whether the run holding ``holder`` lives: 'dead', 'alive' or None (unknown).

    Known only for a holder that ran on this controller (``local_host``):
    dead when its PID is gone, or when the process now using that PID started
    at another time than the one the lock recorded (the PID was reused).
    ``pid_alive(pid)`` returns True, False or None; ``process_started(pid)``
    an epoch time or None.
    """
    if not holder or 'unreadable' in holder or not local_host or holder.get('controller_host') != local_host:
        return None
    pid = holder.get('controller_pid')
    if not _positive_int(pid):
        return None
    alive = pid_alive(pid)
    if alive is None:
        return None
    if not alive:
        return 'dead'
    recorded = holder.get('controller_pid_started')
    started = process_started(pid) if _number(recorded) else None
    if _number(started) and abs(started - recorded) > START_TOLERANCE:
        return 'dead'
    return 'alive'


def describe_holder(holder):
    """Who holds a lock, in words: 'bob@ci (run ci-4242-1767..., PID 4242 on ci)'."""
    if 'unreadable' in holder:
        return 'an unreadable lock file (%s)' % holder['unreadable']
    where = []
    if holder.get('run_id'):
        where.append('run %s' % holder['run_id'])
    if holder.get('controller_pid') and holder.get('controller_host'):
        where.append('ansible-playbook PID %s on %s' % (holder['controller_pid'], holder['controller_host']))
    elif holder.get('controller_host'):
        where.append('from %s' % holder['controller_host'])
    who = holder.get('owner') or 'an unnamed run'
    return '%s (%s)' % (who, ', '.join(where)) if where else who


def refusal_message(path, holder, age, timeout):
    """The failure when another live run holds the lock: who, since when, what to do."""
    remaining = timeout - age
    when = ', in %s' % duration(int(remaining) + 1) if remaining >= 0 else ''
    return ('another deploy holds the lock %s: %s, since %s (%s ago). Wait for it to finish. If that run is '
            'dead, the lock is taken over once it is older than %d s%s (timeout; deploy_lock_timeout in the '
            'deploy role), or remove %s by hand.'
            % (path, describe_holder(holder), holder['since'], duration(age), timeout, when, path))


def new_lock(request, now):
    lock = dict((key, request.get(key)) for key in FIELDS[:5])
    lock['since'] = iso_utc(now)
    lock['since_epoch'] = int(now)
    return lock


def _render(lock):
    if lock is None:
        return ''
    if 'unreadable' in lock:
        return lock.get('raw', '')
    return json.dumps(lock, indent=2, sort_keys=True) + '\n'


# ------------------------------------------------------------------ the file

def read_lock(path):
    """The lock at ``path`` as a dict of FIELDS, or None when there is none.

    A file that is not a JSON object comes back as {'unreadable': why,
    'raw': its text, 'since', 'since_epoch'} with the file's modification time;
    so does the time of a lock without a usable since_epoch.
    """
    try:
        with open(path, 'rb') as handle:
            raw = handle.read(65536)
            mtime = os.fstat(handle.fileno()).st_mtime
    except OSError as exc:
        if exc.errno == errno.ENOENT:
            return None
        raise LockError('cannot read the lock %s: %s' % (path, exc.strerror))
    text = raw.decode('utf-8', 'replace')
    try:
        data = json.loads(text)
    except ValueError as exc:
        data, problem = None, 'not JSON: %s' % exc
    else:
        problem = 'not a JSON object'
    if not isinstance(data, dict):
        return dict(unreadable=problem, raw=text, since=iso_utc(mtime), since_epoch=int(mtime))
    lock = dict((key, data[key]) for key in FIELDS if key in data)
    if not _number(lock.get('since_epoch')):
        lock['since_epoch'] = int(mtime)
        lock['since'] = iso_utc(mtime)
    elif not isinstance(lock.get('since'), str):
        lock['since'] = iso_utc(lock['since_epoch'])
    return lock


def write_lock(path, lock):
    """Write ``lock`` to ``path`` whole: a temporary file beside it, renamed over it."""
    directory, name = os.path.split(path)
    fd, temp = tempfile.mkstemp(prefix='.%s.' % name, suffix='.tmp', dir=directory)
    try:
        with os.fdopen(fd, 'w') as handle:
            os.fchmod(handle.fileno(), 0o644)
            handle.write(json.dumps(lock, sort_keys=True) + '\n')
            handle.flush()
            os.fsync(handle.fileno())
        os.rename(temp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise


@contextlib.contextmanager
def _guard(directory, active):
    """An exclusive flock on ``directory`` for a read-decide-write (the kernel drops it if the process dies)."""
    if not active:
        yield
        return
    fd = os.open(directory, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


# ------------------------------------------------------------------ the module

def _check_arguments(path, state, request, timeout):
    if state not in STATES:
        raise LockError('state must be one of: %s' % ', '.join(STATES))
    if not os.path.isabs(path):
        raise LockError('path must be absolute, not %s' % path)
    if not request.get('run_id'):
        raise LockError('run_id is required: a value unique to this playbook run (the action plugin sets one '
                        'when the module runs as a task)')
    if timeout < 1:
        raise LockError('timeout must be 1 or more, not %d' % timeout)
    directory = os.path.dirname(path)
    if not os.path.isdir(directory):
        raise LockError('cannot lock %s: its directory %s does not exist' % (path, directory))
    if os.path.isdir(path):
        raise LockError('cannot lock %s: it is a directory' % path)


def apply(path, state, request, timeout=DEFAULT_TIMEOUT, dead_run_ids=(), check_mode=False, diff=False,
          now=None):
    """Take (state=present) or release (state=absent) the lock at ``path``.

    ``request`` holds this run's FIELDS (owner, run_id, controller_host,
    controller_pid, controller_pid_started). Returns (result, warnings).
    Raises LockError when another live run holds the lock (not in check mode)
    or the arguments are wrong; its result then holds RV(held_by) and the rest.
    """
    path = os.path.normpath(path) if path else path
    _check_arguments(path, state, request, timeout)
    warnings = []
    try:
        with _guard(os.path.dirname(path), active=not check_mode):
            clock = time.time() if now is None else now
            existing = read_lock(path)
            decision = decide(existing, state, request['run_id'], clock, timeout, dead_run_ids)
            after = existing
            if decision.action in (ACQUIRE, TAKE_OVER):
                after = new_lock(request, clock)
                if not check_mode:
                    write_lock(path, after)
            elif decision.action == RELEASE:
                after = None
                if not check_mode:
                    with contextlib.suppress(FileNotFoundError):  # removed by hand meanwhile
                        os.unlink(path)
    except OSError as exc:
        raise LockError('cannot %s the lock %s: %s' % ('take' if state == 'present' else 'release', path,
                                                       exc.strerror or exc))
    action, age = decision.action, decision.age
    found = None if existing is None else dict((k, v) for k, v in existing.items() if k != 'raw')
    foreign = found if action in (TAKE_OVER, WAIT, LEAVE) else None
    result = dict(
        changed=action in CHANGING,
        action=action,
        lock=after if action in (ACQUIRE, TAKE_OVER, KEEP) else None,
        held_by=foreign,
        age=None if age is None else int(age),
        would_wait=action == WAIT,
        taken_over=dict(found, age=int(age), reason=decision.reason) if action == TAKE_OVER else None,
    )
    if diff and action in CHANGING:
        result['diff'] = dict(before=_render(existing), after=_render(after),
                              before_header=path, after_header=path)
    if action == WAIT:
        message = refusal_message(path, existing, age, timeout)
        result['msg'] = message
        if not check_mode:
            raise LockError(message, result)
        warnings.append('a real run would fail here: %s' % message)
    elif action == LEAVE:
        result['msg'] = 'left the lock %s: %s holds it, not this run' % (path, describe_holder(existing))
        warnings.append('the lock %s is not this run\'s and was left in place: %s holds it'
                        % (path, describe_holder(existing)))
    elif action == TAKE_OVER:
        result['msg'] = '%s the lock %s from %s: %s' % ('would take over' if check_mode else 'took over', path,
                                                        describe_holder(existing), decision.reason)
    else:
        result['msg'] = {
            ACQUIRE: '%s the lock %s' % ('would take' if check_mode else 'took', path),
            KEEP: 'this run holds the lock %s already' % path,
            RELEASE: '%s the lock %s' % ('would release' if check_mode else 'released', path),
            NONE: 'there is no lock %s to release' % path,
        }[action]
    return result, warnings
