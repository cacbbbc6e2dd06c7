# -*- coding: utf-8 -*-
# Copyright: (c) 2026, simpledeploy developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""One deploy at a time: the lock file of the deploy_lock module, and the
kernel lock of the process that runs a deploy's window.

Private to simpledeploy.django; the interface may change without notice.

* decide(), holder_verdict(), refusal_message() - pure: the lock found, this
  run's request, whether a window is live and the time in; what to do (or
  what to say) out;
* window_file(), guard_file() - pure: the files beside a lock;
* open_lock_dir() - the lock's directory, only if only root can write it
  (created 0700 when missing); everything else works relative to its
  descriptor and never follows a link there;
* read_lock(), write_lock() - the file: JSON, written whole to a temporary
  file, flushed, renamed into place and the directory flushed, so a reader
  never sees half a lock;
* apply() - what the module calls: under an exclusive flock on the guard file
  beside the lock (tried without blocking, for GUARD_WAIT seconds at most),
  read, decide, act unless in check mode, and return the result;
* hold_window() - what the process that runs a deploy's window holds: an
  flock on window_file() that the kernel drops when that process dies. While
  it is held no other run takes the lock, even an expired one or one whose
  controller is gone.

Where the lock lives: a directory that only root (or the user the module
runs as) can write, with parents alike. No other user can then create,
replace, link or hold (flock) anything there: the guard and window files are
0600 and opened without following links.

Impossible dates: a lock whose last renewal (or taking) is more than
FUTURE_TOLERANCE seconds in the future is reported and handled as expired; a
lock without a usable date counts from its file's modification time.

The module runs on the managed host; holder_verdict() is for the controller
side (the action plugin), which alone can tell whether a run of its own
controller still lives. Python 3.9+, standard library only.
"""

import collections
import contextlib
import errno
import fcntl
import json
import math
import os
import stat
import time

from ansible_collections.simpledeploy.django.plugins.module_utils import _fsio, _proc

DEFAULT_TIMEOUT = 1800
STATES = ('present', 'absent')
# The directory of the deploy role's locks: only root can write it.
LOCK_DIR = '/run/simpledeploy'
# What this run holds: the fields of the lock file, in order. The first six
# are the run's request (who it is); renewed_epoch is the last heartbeat.
FIELDS = ('owner', 'run_id', 'controller_host', 'controller_machine_id', 'controller_pid', 'controller_pid_started',
          'since', 'since_epoch', 'renewed', 'renewed_epoch')
REQUEST = FIELDS[:6]
# A recorded process start time and a measured one further apart than this
# (seconds) belong to two processes that had the same PID.
START_TOLERANCE = 2.0
# A lock dated further than this (seconds) in the future has an impossible date.
FUTURE_TOLERANCE = 60
# How long (seconds) the guard or the window flock is tried before giving up,
# and how often.
GUARD_WAIT = 10.0
GUARD_POLL = 0.05

# Actions: what the module does (or, in check mode, would do).
ACQUIRE = 'acquire'      # no lock: take it
KEEP = 'keep'            # this run holds it already: renew it
TAKE_OVER = 'take_over'  # another run's lock, expired, impossibly dated or its run dead: replace it
WAIT = 'wait'            # another run's live lock, or a live window: refuse
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
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _positive_int(value):
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


# ------------------------------------------------------------------ pure

def _sibling(lock_path, suffix):
    directory, name = os.path.split(os.path.normpath(lock_path))
    if name.endswith('.lock') and len(name) > len('.lock'):
        name = name[:-len('.lock')]
    return os.path.join(directory, name + suffix)


def window_file(lock_path):
    """The file whose flock the process running a deploy's window holds: /run/simpledeploy/app.window."""
    return _sibling(lock_path, '.window')


def guard_file(lock_path):
    """The file flocked for a read-decide-write of the lock: /run/simpledeploy/app.guard."""
    return _sibling(lock_path, '.guard')


def last_renewed(lock):
    """When ``lock`` was last taken or renewed (epoch seconds): what its expiry counts from."""
    renewed = lock.get('renewed_epoch')
    if _number(renewed) and renewed > lock['since_epoch']:
        return renewed
    return lock['since_epoch']


def impossible_date(lock, now):
    """Why the date of ``lock`` cannot be (it lies in the future), or None."""
    last = last_renewed(lock)
    if last - now > FUTURE_TOLERANCE:
        return 'it is dated %s, %s in the future (an impossible date, handled as expired)' % (
            iso_utc(last) if last < 253402300800 else 'after the year 9999', duration(last - now))
    return None


def describe_window(window):
    """Who holds a window: 'PID 4242 holds /run/simpledeploy/app.window'."""
    who = 'PID %s' % window['pid'] if window.get('pid') else 'a process'
    return '%s holds %s' % (who, window['path'])


def decide(existing, state, run_id, now, timeout, dead_run_ids=(), window=None):
    """What to do about the lock ``existing`` (a read_lock() dict or None).

    A lock is this run's when its run_id is ``run_id``. Another run's lock is
    taken over when its last renewal is older than ``timeout`` seconds, when
    it is dated in the future (beyond FUTURE_TOLERANCE), or when its run_id is
    in ``dead_run_ids``; otherwise the answer is WAIT. Whatever the lock, it is
    neither taken nor taken over while ``window`` (a live window's holder, see
    hold_window()) is set: WAIT.
    """
    if existing is None:
        if state == 'absent':
            return Decision(NONE, None, 'there is no lock')
        if window:
            return Decision(WAIT, None, 'there is no lock, but the window of a deploy still runs: %s'
                            % describe_window(window))
        return Decision(ACQUIRE, None, 'there is no lock')
    age = now - existing['since_epoch']
    ours = 'unreadable' not in existing and existing.get('run_id') == run_id
    if state == 'absent':
        if ours:
            return Decision(RELEASE, age, 'this run holds the lock')
        return Decision(LEAVE, age, 'another run holds the lock')
    if ours:
        return Decision(KEEP, age, 'this run holds the lock already')
    holder_run = existing.get('run_id')
    idle = now - last_renewed(existing)
    future = impossible_date(existing, now)
    if holder_run and 'unreadable' not in existing and holder_run in dead_run_ids:
        host, pid = existing.get('controller_host'), existing.get('controller_pid')
        if host and pid:
            reason = 'its run is gone: PID %s no longer runs on controller %s' % (pid, host)
        else:
            reason = 'its run %s is gone' % holder_run
    elif future:
        reason = future
    elif idle > timeout:
        renewed = ' since its last renewal' if last_renewed(existing) != existing['since_epoch'] else ''
        reason = 'it is %s old%s, older than the timeout of %d s' % (duration(idle), renewed, timeout)
    else:
        return Decision(WAIT, age, 'another run holds the lock')
    if window:
        return Decision(WAIT, age, 'the lock could be taken over (%s), but the window of a deploy still runs: %s'
                        % (reason, describe_window(window)))
    return Decision(TAKE_OVER, age, reason)


def holder_verdict(holder, local_machine_id, local_host, pid_alive, process_started):
    """Whether the run holding ``holder`` lives: 'dead', 'alive' or None (unknown).

    Known only for a holder that ran on this controller: the same machine ID
    (``local_machine_id``) and the same host name (``local_host``); a lock
    without a machine ID (written by an older version) is unknown. Dead when
    its PID is gone, or when the process now using that PID started at another
    time than the one the lock recorded (the PID was reused).
    ``pid_alive(pid)`` returns True, False or None; ``process_started(pid)``
    an epoch time or None.
    """
    if not holder or 'unreadable' in holder or not local_machine_id or not local_host:
        return None
    if holder.get('controller_machine_id') != local_machine_id or holder.get('controller_host') != local_host:
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
    """Who holds a lock, in words: 'bob@ci (run 5f..-4242-1767..., ansible-playbook PID 4242 on ci)'."""
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


def refusal_message(path, holder, age, timeout, now=None, window=None):
    """The failure when another live run holds the lock, or a window still runs: who, since when, what to do."""
    if window:
        found = 'it is free' if holder is None else 'held by %s since %s' % (describe_holder(holder), holder['since'])
        return ('the window of a deploy still runs on this host: %s, the process that runs a deploy\'s switch '
                '(release_switch), and a new deploy must not start before it ends (the lock %s: %s). Wait for it '
                'to end; the kernel drops its hold when that process exits. If it hangs, look at it (ps -fp PID) '
                'before you stop it.' % (describe_window(window), path, found))
    idle = age if now is None else now - last_renewed(holder)
    remaining = timeout - idle
    when = ', in %s' % duration(int(remaining) + 1) if remaining >= 0 else ''
    renewed = ''
    if now is not None and last_renewed(holder) != holder['since_epoch']:
        renewed = ', renewed %s ago' % duration(idle)
    return ('another deploy holds the lock %s: %s, since %s (%s ago%s). Wait for it to finish. If that run is '
            'dead, the lock is taken over once it is older than %d s%s, counted from its last renewal (timeout; '
            'deploy_lock_timeout in the deploy role), or remove %s by hand.'
            % (path, describe_holder(holder), holder['since'], duration(age), renewed, timeout, when, path))


def new_lock(request, now):
    lock = dict((key, request.get(key)) for key in REQUEST)
    lock['since'] = iso_utc(now)
    lock['since_epoch'] = int(now)
    return lock


def renewed_lock(lock, now):
    """``lock`` (this run's) with its heartbeat set to ``now``."""
    lock = dict((key, value) for key, value in lock.items() if key in FIELDS)
    lock['renewed'] = iso_utc(now)
    lock['renewed_epoch'] = int(now)
    return lock


def _render(lock):
    if lock is None:
        return ''
    if 'unreadable' in lock:
        return lock.get('raw', '')
    return json.dumps(lock, indent=2, sort_keys=True) + '\n'


# ------------------------------------------------------------------ the directory

def _trusted(uid):
    return uid in (0, os.geteuid())


def _owner(uid):
    try:
        import pwd
        return '%d (%s)' % (uid, pwd.getpwuid(uid).pw_name)
    except (ImportError, KeyError):
        return str(uid)


def _ancestor_problem(path):
    """Why another user could change ``path`` (a directory above the lock's), or None."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return None  # creating the lock's directory fails then, saying so
    except OSError as exc:
        return 'cannot be examined (%s)' % exc.strerror
    if stat.S_ISLNK(st.st_mode):
        return None if _trusted(st.st_uid) else 'is a symbolic link owned by uid %s' % _owner(st.st_uid)
    if not stat.S_ISDIR(st.st_mode):
        return 'is not a directory'
    if not _trusted(st.st_uid):
        return 'is owned by uid %s' % _owner(st.st_uid)
    if st.st_mode & 0o022 and not st.st_mode & stat.S_ISVTX:
        return 'is writable by group or others (mode %04o)' % stat.S_IMODE(st.st_mode)
    return None


def _parents(path):
    found = []
    while True:
        found.append(path)
        parent = os.path.dirname(path)
        if parent == path:
            return found
        path = parent


def _dir_refusal(path, directory, what):
    return ('cannot lock %s: its directory %s %s, so another user could replace, plant or hold the lock. The lock '
            'must live in a directory only root can write, whose parents only root can change either: remove or fix '
            '%s (the deploy role uses %s, which deploy_lock creates, mode 0700) or give path in another one.'
            % (path, directory, what, directory, LOCK_DIR))


def open_lock_dir(path, create=True):
    """A descriptor of the directory of the lock ``path``, checked; None when it is missing and not ``create``.

    The directory must be a real directory (not a link), owned by root (or
    the user running this), not writable by group or others; every directory
    above it owned by root and not writable by others unless sticky (as /tmp),
    links there owned by root. A missing directory is created, mode 0700, when
    its parent passes. Raises LockError naming what is wrong and what to do.
    """
    directory = os.path.dirname(path)
    parent = os.path.dirname(directory)
    for above in sorted(set(_parents(parent)) | set(_parents(os.path.realpath(parent))), key=len):
        problem = _ancestor_problem(above)
        if problem:
            raise LockError(_dir_refusal(path, directory, 'is not safe (it is under %s, which %s)' % (above, problem)))
    try:
        st = os.lstat(directory)
    except FileNotFoundError:
        if not create:
            return None
        try:
            os.mkdir(directory, 0o700)
        except FileExistsError:
            pass
        except OSError as exc:
            raise LockError('cannot lock %s: cannot create its directory %s: %s' % (path, directory, exc.strerror))
        st = os.lstat(directory)
    if stat.S_ISLNK(st.st_mode):
        raise LockError(_dir_refusal(path, directory, 'is a symbolic link'))
    if not stat.S_ISDIR(st.st_mode):
        raise LockError('cannot lock %s: %s is not a directory' % (path, directory))
    if not _trusted(st.st_uid):
        raise LockError(_dir_refusal(path, directory, 'is owned by uid %s, not root' % _owner(st.st_uid)))
    if st.st_mode & 0o022:
        raise LockError(_dir_refusal(path, directory, 'is writable by group or others (mode %04o)'
                                     % stat.S_IMODE(st.st_mode)))
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    opened = os.fstat(fd)
    if (opened.st_dev, opened.st_ino) != (st.st_dev, st.st_ino):
        os.close(fd)
        raise LockError('cannot lock %s: its directory %s changed while it was checked; try again' % (path, directory))
    return fd


@contextlib.contextmanager
def _directory(path, dir_fd):
    """``dir_fd``, or a descriptor of the directory of ``path`` (not checked: for the helpers' own use)."""
    if dir_fd is not None:
        yield dir_fd
        return
    fd = os.open(os.path.dirname(path) or '.', os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        yield fd
    finally:
        os.close(fd)


def _open_in(dir_fd, path, flags, mode=0o600):
    """Open the file ``path`` names in ``dir_fd`` without following a link; LockError on a link or a non-file."""
    name = os.path.basename(path)
    try:
        fd = os.open(name, flags | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, mode, dir_fd=dir_fd)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise LockError('refusing %s: it is a symbolic link, which is never followed here. Someone with root '
                            'made it: find out why, then remove it (rm %s).' % (path, path))
        raise
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode):
        os.close(fd)
        what = 'a directory' if stat.S_ISDIR(st.st_mode) else 'not a regular file'
        raise LockError('cannot lock %s: it is %s' % (path, what))
    return fd, st


def flock_within(fd, wait=GUARD_WAIT, clock=time.monotonic, sleep=time.sleep):
    """An exclusive flock on ``fd``, tried without blocking for ``wait`` seconds at most: True when taken."""
    deadline = clock() + wait
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            if clock() >= deadline:
                return False
            sleep(GUARD_POLL)


# ------------------------------------------------------------------ the file

def _parse(raw, mtime):
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
        lock['since'] = iso_utc(lock['since_epoch']) if lock['since_epoch'] < 253402300800 else 'after the year 9999'
    return lock


def read_lock(path, dir_fd=None):
    """The lock at ``path`` as a dict of FIELDS, or None when there is none.

    Opened in ``dir_fd`` (else the directory of ``path``) without following a
    link: a link there or anything but a regular file raises LockError. A file
    that is not a JSON object comes back as {'unreadable': why, 'raw': its
    text, 'since', 'since_epoch'} with the file's modification time; so does
    the time of a lock without a usable since_epoch.
    """
    with _directory(path, dir_fd) as directory:
        try:
            fd, st = _open_in(directory, path, os.O_RDONLY)
        except OSError as exc:
            if exc.errno == errno.ENOENT:
                return None
            raise LockError('cannot read the lock %s: %s' % (path, exc.strerror))
        with os.fdopen(fd, 'rb') as handle:
            raw = handle.read(65536)
    return _parse(raw, st.st_mtime)


def write_lock(path, lock, dir_fd=None):
    """Write ``lock`` to ``path`` whole (_fsio.atomic_write: flushed, renamed over it, the directory flushed)."""
    _fsio.atomic_write(os.path.basename(path) if dir_fd is not None else path,
                       json.dumps(lock, sort_keys=True) + '\n', 0o644, dir_fd=dir_fd)


def remove_lock(path, dir_fd=None):
    """Remove the lock ``path`` (gone already is fine) and flush its directory."""
    with _directory(path, dir_fd) as directory:
        with contextlib.suppress(FileNotFoundError):  # removed by hand meanwhile
            os.unlink(os.path.basename(path), dir_fd=directory)
        os.fsync(directory)


@contextlib.contextmanager
def _guard(dir_fd, path, wait, active):
    """An exclusive flock on guard_file(path) for a read-decide-write; LockError after ``wait`` seconds."""
    if not active:
        yield
        return
    guard = guard_file(path)
    fd, _st = _open_in(dir_fd, guard, os.O_RDWR | os.O_CREAT)
    try:
        os.fchmod(fd, 0o600)
        if not flock_within(fd, wait):
            pid = _proc.flock_holder(fd)
            raise LockError('cannot take or release the lock %s: another process (%s) has held %s for over %s '
                            'without letting go; a deploy_lock task takes it for milliseconds. Look at that process '
                            '(ps -fp PID), then run the deploy again.'
                            % (path, 'PID %d' % pid if pid else 'PID unknown', guard, duration(wait)))
        yield
    finally:
        os.close(fd)


@contextlib.contextmanager
def _window_probe(dir_fd, path):
    """Whether a window of this lock is live: yields None (and holds it, so that none starts meanwhile) or its holder."""
    window = window_file(path)
    try:
        fd, _st = _open_in(dir_fd, window, os.O_RDONLY)
    except FileNotFoundError:
        yield None
        return
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield dict(path=window, pid=_proc.flock_holder(fd))
        else:
            yield None
    finally:
        os.close(fd)


@contextlib.contextmanager
def hold_window(lock_path, run_id=None, wait=GUARD_WAIT, active=True, renew=False, clock=time.time):
    """Hold the window of the lock ``lock_path`` for the life of this block (and of this process).

    An exclusive flock on window_file(lock_path), in a directory checked as
    open_lock_dir() does, tried for ``wait`` seconds. With ``run_id``, the
    lock must still be that run's (read under the flock, so no take-over can
    come between): otherwise LockError, before anything is done. With
    ``renew`` too, its heartbeat is set to now (renewed_lock, under the guard
    as deploy_lock writes it): the lock's expiry counts from the window's start,
    as it did from the role's renewal task before the switch, and that task's
    round trip is saved. Yields the window file's path (None when not
    ``active``, as in check mode).
    """
    if not active:
        yield None
        return
    path = os.path.normpath(lock_path)
    dir_fd = open_lock_dir(path, create=True)
    try:
        window = window_file(path)
        fd, _st = _open_in(dir_fd, window, os.O_RDWR | os.O_CREAT)
        try:
            os.fchmod(fd, 0o600)
            if not flock_within(fd, wait):
                pid = _proc.flock_holder(fd)
                raise LockError('another deploy window of this app is still running on this host: %s holds %s. '
                                'Nothing was changed. Wait for it to end (it ends with that process).'
                                % ('PID %d' % pid if pid else 'a process', window))
            if run_id is not None:
                with _guard(dir_fd, path, wait, True):
                    lock = read_lock(path, dir_fd)
                    if lock is None or 'unreadable' in lock or lock.get('run_id') != run_id:
                        holder = 'nobody holds it' if lock is None else '%s holds it' % describe_holder(lock)
                        raise LockError('this run (%s) no longer holds the deploy lock %s: %s (taken over after it '
                                        'expired, or released). Nothing was changed; run the deploy again.'
                                        % (run_id, path, holder))
                    if renew:
                        write_lock(path, renewed_lock(lock, clock()), dir_fd)
            yield window
        finally:
            os.close(fd)
    finally:
        os.close(dir_fd)


# ------------------------------------------------------------------ the module

def _check_arguments(path, state, request, timeout):
    if state not in STATES:
        raise LockError('state must be one of: %s' % ', '.join(STATES))
    if not path or not os.path.isabs(path):
        raise LockError('path must be absolute, not %s' % path)
    if not request.get('run_id'):
        raise LockError('run_id is required: a value unique to this playbook run (the action plugin sets one '
                        'when the module runs as a task)')
    if timeout < 1:
        raise LockError('timeout must be 1 or more, not %d' % timeout)
    if os.path.dirname(path) == path:
        raise LockError('cannot lock %s: it is a directory' % path)


def _decide_in(dir_fd, path, state, request, clock, timeout, dead_run_ids, check_mode):
    """Read, decide and (unless in check mode) act in the checked directory ``dir_fd``: (existing, window, decision, after)."""
    if dir_fd is None:  # check mode, no directory yet: no lock, no window, nothing written
        decision = decide(None, state, request['run_id'], clock, timeout, dead_run_ids)
        return None, None, decision, _act(None, path, decision, None, request, clock, True)
    existing = read_lock(path, dir_fd)
    with _window_probe(dir_fd, path) as window:  # held, when free, until the new lock is written
        decision = decide(existing, state, request['run_id'], clock, timeout, dead_run_ids, window)
        return existing, window, decision, _act(dir_fd, path, decision, existing, request, clock, check_mode)


def _act(dir_fd, path, decision, existing, request, clock, check_mode):
    after = existing
    if decision.action in (ACQUIRE, TAKE_OVER):
        after = new_lock(request, clock)
        if not check_mode:
            write_lock(path, after, dir_fd)
    elif decision.action == KEEP:
        after = renewed_lock(existing, clock)
        if not check_mode:
            write_lock(path, after, dir_fd)
    elif decision.action == RELEASE:
        after = None
        if not check_mode:
            remove_lock(path, dir_fd)
    return after


def apply(path, state, request, timeout=DEFAULT_TIMEOUT, dead_run_ids=(), check_mode=False, diff=False,
          now=None, guard_wait=GUARD_WAIT):
    """Take (state=present) or release (state=absent) the lock at ``path``.

    ``request`` holds this run's REQUEST fields (owner, run_id,
    controller_host, controller_machine_id, controller_pid,
    controller_pid_started). Returns (result, warnings). Raises LockError
    when another live run or a live window holds the lock (not in check
    mode), when the lock's directory or file is not safe, or the arguments
    are wrong; its result then holds RV(held_by) and the rest.
    """
    path = os.path.normpath(path) if path else path
    _check_arguments(path, state, request, timeout)
    warnings = []
    verb = 'take' if state == 'present' else 'release'
    try:
        dir_fd = open_lock_dir(path, create=not check_mode)
        try:
            with _guard(dir_fd, path, guard_wait, active=not check_mode):
                clock = time.time() if now is None else now
                existing, window, decision, after = _decide_in(dir_fd, path, state, request, clock, timeout,
                                                               dead_run_ids, check_mode)
        finally:
            if dir_fd is not None:
                os.close(dir_fd)
    except OSError as exc:
        raise LockError('cannot %s the lock %s: %s' % (verb, path, exc.strerror or exc))
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
        window=window,
    )
    if diff and action in CHANGING:
        result['diff'] = dict(before=_render(existing), after=_render(after),
                              before_header=path, after_header=path)
    _say(result, warnings, path, existing, decision, timeout, clock, window, check_mode)
    return result, warnings


def _say(result, warnings, path, existing, decision, timeout, clock, window, check_mode):
    """apply()'s words: RESULT's msg and the WARNINGS for DECISION; raises LockError when a real run waits."""
    action, age = decision.action, decision.age
    if existing is not None and action != KEEP and 'unreadable' not in existing:
        future = impossible_date(existing, clock)
        if future:
            warnings.append('the lock %s held by %s has an impossible date: %s'
                            % (path, describe_holder(existing), future))
    if action == WAIT:
        message = refusal_message(path, existing, age, timeout, clock, window)
        result['msg'] = message
        if not check_mode:
            raise LockError(message, dict(result, warnings=warnings))  # the module warns them
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
            KEEP: 'this run holds the lock %s already; %s its renewal time' % (
                path, 'would refresh' if check_mode else 'refreshed'),
            RELEASE: '%s the lock %s' % ('would release' if check_mode else 'released', path),
            NONE: 'there is no lock %s to release' % path,
        }[action]
