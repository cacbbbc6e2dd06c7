# -*- coding: utf-8 -*-
# Copyright: (c) 2026, simpledeploy developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A virtualenv built by an unprivileged build user, then handed over to root.

Private to simpledeploy.django; used by the venv_handoff module.  Runs on
Python 3.9+, standard library only.

pip runs the build code of every sdist it installs (``setup.py``): as root,
that code would own the host.  So the virtualenv is built by a build user of
its own (not the app user, not root), in a directory root makes for it at the
virtualenv's final path (console scripts carry that path in their ``#!``
line), under a parent only root can write.  Then:

* prepare() - every process of the build user is killed; whatever is left at
  the path (an unfinished build) is removed; an empty directory owned by the
  build user (mode 0700 until the hand-off) is made, with a private HOME and
  TMPDIR for the build in it (BUILD_HOME);
* hand_over() - every process of the build user is killed and waited for, so
  that nothing holds a descriptor into the tree or changes it any more; the
  build's leftovers (BUILD_HOME, pip.conf, a marker the build planted) are
  removed; every entry is given to root: each directory and file opened
  relative to its parent's descriptor with O_NOFOLLOW and checked to be the
  entry listed, then fchown/fchmod through that descriptor; each symbolic link
  lchown'ed itself (a venv's ``bin/python -> /usr/bin/python3`` is normal: its
  target is never touched); group and other write, set-user-ID, set-group-ID
  and sticky bits are dropped; anything not owned by the build user, or not a
  file, directory or link, stops the hand-off, named, before anything is
  changed; the tree is flushed; last, the marker VENV_READY is written (root's,
  0644) and flushed with its directory;
* remove() - every process of the build user is killed, then the tree is
  removed relative to directory descriptors, never following a link.
"""

import errno
import os
import signal
import stat
import time

from ansible_collections.simpledeploy.django.plugins.module_utils import _proc

VENV_READY = '.simpledeploy-complete'
# HOME and TMPDIR of the build, inside the tree; removed by the hand-off.
BUILD_HOME = '.simpledeploy-build'
PIP_CONF = 'pip.conf'
# What the build leaves that is not part of the virtualenv.
LEFTOVERS = (BUILD_HOME, PIP_CONF, VENV_READY)
# Mode bits an entry keeps: read/write/execute for the owner, read/execute for the others.
KEPT_MODE = 0o755
BUILD_MODE = 0o700

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | getattr(os, 'O_CLOEXEC', 0)
_FILE_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_NOCTTY | getattr(os, 'O_CLOEXEC', 0)


class HandoffError(Exception):
    """A refusal or failure that names the path it is about."""

    def __init__(self, msg, path=None):
        super(HandoffError, self).__init__(msg)
        self.msg = msg
        self.path = path
        self.missing = False


# --- the build user's processes ----------------------------------------------

def _kill_all_as(uid, gid):
    """Send SIGKILL to every process UID may signal, from a child running as UID: kill(-1) is one pass
    the kernel makes over every process at once, so a process forking meanwhile is not missed."""
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            os.setgroups([])
            os.setgid(gid)
            os.setuid(uid)
            try:
                os.kill(-1, signal.SIGKILL)
            except OSError as exc:
                if exc.errno != errno.ESRCH:
                    raise
            code = 0
        finally:
            os._exit(code)
    os.waitpid(pid, 0)


def stop_processes(uid, gid, timeout=30.0, clock=time.monotonic, sleep=time.sleep, proc='/proc'):
    """Kill every process of UID and wait until none is left; return the PIDs that were running."""
    if uid == 0:
        raise HandoffError('the build user must not be root: every process of the build user is killed')
    deadline = clock() + timeout
    seen = set()
    while True:
        pids = _proc.processes_of(uid, proc)
        if not pids:
            return sorted(seen)
        seen.update(pids)
        if clock() > deadline:
            raise HandoffError('processes of the build user (uid %d) still run %s s after being killed: %s; '
                               'stop them and run the deploy again' % (uid, timeout, ', '.join(map(str, pids))))
        _kill_all_as(uid, gid)
        sleep(0.02)


# --- walking and removing by descriptor ----------------------------------------

def _open_parent(path):
    """Open PATH's parent and check that only root can change it; return (fd, name)."""
    path = os.path.normpath(path)
    parent, name = os.path.split(path)
    if not os.path.isabs(path) or not name or name in ('.', '..'):
        raise HandoffError('%s: the virtualenv must be an absolute path below a directory' % path, path)
    try:
        fd = os.open(parent, _DIR_FLAGS & ~os.O_NOFOLLOW)
    except OSError as exc:
        error = HandoffError('cannot open %s, the directory of the virtualenv: %s' % (parent, exc.strerror), parent)
        error.missing = exc.errno == errno.ENOENT
        raise error
    st = os.fstat(fd)
    if st.st_uid != 0 or st.st_mode & 0o022:
        os.close(fd)
        raise HandoffError('%s is owned by uid %d, mode %04o: root would act in a directory another user can '
                           'change; it must be root\'s and writable by root alone (deploy_root makes venvs/ so)'
                           % (parent, st.st_uid, stat.S_IMODE(st.st_mode)), parent)
    return fd, name


def _lstat_at(dir_fd, name):
    try:
        return os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
    except FileNotFoundError:
        return None


def _open_at(dir_fd, name, expected, flags):
    """Open NAME in DIR_FD without following a link; it must be the very entry EXPECTED (device, inode)."""
    fd = os.open(name, flags, dir_fd=dir_fd)
    st = os.fstat(fd)
    if (st.st_dev, st.st_ino) != (expected.st_dev, expected.st_ino):
        os.close(fd)
        raise HandoffError('%s changed while it was handed over: something still writes the tree' % name, name)
    return fd, st


def _remove_at(dir_fd, name):
    """Remove NAME in DIR_FD with all it holds, never following a link."""
    st = _lstat_at(dir_fd, name)
    if st is None:
        return
    if not stat.S_ISDIR(st.st_mode):
        os.unlink(name, dir_fd=dir_fd)
        return
    fd, _st = _open_at(dir_fd, name, st, _DIR_FLAGS)
    try:
        for child in os.listdir(fd):
            _remove_at(fd, child)
    finally:
        os.close(fd)
    os.rmdir(name, dir_fd=dir_fd)


def _kept_mode(st):
    return stat.S_IMODE(st.st_mode) & KEPT_MODE


class _Walk(object):
    """Checks (first pass) or hands over (second pass) every entry below a directory descriptor."""

    def __init__(self, uid, top, check_only, skip_top=()):
        self.uid = uid
        self.skip_top = frozenset(skip_top)
        self.top = top
        self.check_only = check_only
        self.entries = 0
        self.owner_changed = 0
        self.mode_changed = 0

    def _refuse_foreign(self, rel, st):
        kind = ('link' if stat.S_ISLNK(st.st_mode) else 'directory' if stat.S_ISDIR(st.st_mode)
                else 'file' if stat.S_ISREG(st.st_mode) else None)
        where = os.path.join(self.top, rel)
        if kind is None:
            raise HandoffError('%s is neither a file, a directory nor a link (mode %06o): pip makes none such; '
                               'nothing was handed over, remove the virtualenv and build it again'
                               % (where, st.st_mode), where)
        if st.st_uid != self.uid:
            raise HandoffError('%s is a %s owned by uid %d, not by the build user (uid %d): the build did not make '
                               'it (a hard link to someone else\'s file?); nothing was handed over, remove the '
                               'virtualenv and build it again' % (where, kind, st.st_uid, self.uid), where)
        return kind

    def entry(self, dir_fd, name, rel, st=None):
        st = st or _lstat_at(dir_fd, name)
        if st is None:
            raise HandoffError('%s vanished while it was handed over: something still changes the tree'
                               % os.path.join(self.top, rel), os.path.join(self.top, rel))
        kind = self._refuse_foreign(rel, st)
        self.entries += 1
        if st.st_uid != 0:
            self.owner_changed += 1
        if kind == 'link':
            if not self.check_only:
                os.chown(name, 0, 0, dir_fd=dir_fd, follow_symlinks=False)
            return
        if stat.S_IMODE(st.st_mode) != _kept_mode(st):
            self.mode_changed += 1
        flags = _DIR_FLAGS if kind == 'directory' else _FILE_FLAGS
        fd, _st = _open_at(dir_fd, name, st, flags)
        try:
            if not self.check_only:
                os.fchown(fd, 0, 0)
                os.fchmod(fd, _kept_mode(st))
            if kind == 'directory':
                for child in sorted(os.listdir(fd)):
                    if not rel and child in self.skip_top:
                        continue
                    self.entry(fd, child, os.path.join(rel, child))
        finally:
            os.close(fd)


# --- the three steps -------------------------------------------------------------

def prepare(path, uid, gid, check_mode=False):
    """Make PATH an empty directory of the build user, with BUILD_HOME in it; return a result dict."""
    parent_fd, name = _open_parent(path)
    try:
        existing = _lstat_at(parent_fd, name)
        result = dict(changed=True, path=path, home=os.path.join(path, BUILD_HOME),
                      removed_leftover=existing is not None, killed=[])
        if check_mode:
            return result
        result['killed'] = stop_processes(uid, gid)
        if existing is not None:
            _remove_at(parent_fd, name)
        os.mkdir(name, BUILD_MODE, dir_fd=parent_fd)
        fd = os.open(name, _DIR_FLAGS, dir_fd=parent_fd)
        try:
            os.fchown(fd, uid, gid)
            os.fchmod(fd, BUILD_MODE)
            os.mkdir(BUILD_HOME, BUILD_MODE, dir_fd=fd)
            os.chown(BUILD_HOME, uid, gid, dir_fd=fd, follow_symlinks=False)
        finally:
            os.close(fd)
        return result
    finally:
        os.close(parent_fd)


def hand_over(path, uid, gid, marker, check_mode=False, sync=os.sync):
    """Give the tree the build user made at PATH to root, then write the marker; return a result dict.

    MARKER is the text written to VENV_READY.
    """
    parent_fd, name = _open_parent(path)
    try:
        st = _lstat_at(parent_fd, name)
        result = dict(changed=True, path=path, killed=[], removed=[], entries=0, owner_changed=0, mode_changed=0)
        if st is None:
            if check_mode:
                return result  # not built yet: in check mode nothing is
            raise HandoffError('%s does not exist: nothing to hand over (build it first)' % path, path)
        if not stat.S_ISDIR(st.st_mode):
            raise HandoffError('%s is not a directory (mode %06o): nothing was handed over' % (path, st.st_mode), path)
        if not check_mode:
            result['killed'] = stop_processes(uid, gid)
        top_fd, st = _open_at(parent_fd, name, st, _DIR_FLAGS)
        try:
            present = [leftover for leftover in LEFTOVERS if _lstat_at(top_fd, leftover) is not None]
            result['removed'] = present
            # First pass: look at everything, change nothing; a foreign entry refuses the whole hand-off.
            check = _Walk(uid, path, check_only=True, skip_top=present)
            try:
                check.entry(parent_fd, name, '', st)
            except HandoffError as exc:
                if not check_mode:
                    raise
                # A tree left by an earlier run: a real run makes a new one first (prepare), so only say it.
                result['problem'] = exc.msg
            for key in ('entries', 'owner_changed', 'mode_changed'):
                result[key] = getattr(check, key)
            if check_mode:
                return result
            for leftover in present:
                _remove_at(top_fd, leftover)
            walk = _Walk(uid, path, check_only=False)
            walk.entry(parent_fd, name, '', os.fstat(top_fd))
            os.fchmod(top_fd, KEPT_MODE)  # readable by the app: the build kept it 0700
            # A process of the build user started meanwhile (cron?) could have opened a file not yet
            # handed over: killed too. Nothing is the build user's any more, so none can start again.
            result['killed'] = sorted(set(result['killed']) | set(stop_processes(uid, gid)))
            for key in ('entries', 'owner_changed', 'mode_changed'):
                result[key] = getattr(walk, key)
            sync()  # the whole tree on disk before the marker says it is complete
            fd = os.open(VENV_READY, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | getattr(os, 'O_CLOEXEC', 0),
                         0o644, dir_fd=top_fd)
            try:
                os.fchmod(fd, 0o644)
                os.write(fd, (marker + '\n').encode('utf-8'))
                os.fsync(fd)
            finally:
                os.close(fd)
            os.fsync(top_fd)
            return result
        finally:
            os.close(top_fd)
    finally:
        os.close(parent_fd)


def remove(path, uid=None, gid=None, check_mode=False):
    """Kill the build user's processes (when UID is given), then remove PATH; return a result dict.

    A PATH whose directory does not exist (a run that failed before making it) is not there: nothing to do.
    """
    try:
        parent_fd, name = _open_parent(path)
    except HandoffError as exc:
        if exc.missing:
            return dict(changed=False, path=path, killed=[])
        raise
    try:
        existing = _lstat_at(parent_fd, name) is not None
        result = dict(changed=existing, path=path, killed=[])
        if check_mode or not existing:
            return result
        if uid is not None:
            result['killed'] = stop_processes(uid, gid)
        _remove_at(parent_fd, name)
        return result
    finally:
        os.close(parent_fd)


def is_handed_over(path):
    """Whether PATH is a virtualenv this module handed over: a real directory of root's, writable by root
    alone, holding the marker as a regular file of root's.  A build user can write a marker of its own into
    an unfinished build; it cannot make it root's.  For _venvs.venv_ready()."""
    try:
        parent_fd, name = _open_parent(path)
    except HandoffError:
        return False
    try:
        st = _lstat_at(parent_fd, name)
        if st is None or not stat.S_ISDIR(st.st_mode) or st.st_uid != 0 or st.st_mode & 0o022:
            return False
        fd = os.open(name, _DIR_FLAGS, dir_fd=parent_fd)
        try:
            marker = _lstat_at(fd, VENV_READY)
        finally:
            os.close(fd)
        return marker is not None and stat.S_ISREG(marker.st_mode) and marker.st_uid == 0
    except OSError:
        return False
    finally:
        os.close(parent_fd)
