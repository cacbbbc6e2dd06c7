# -*- coding: utf-8 -*-
# Copyright (c) simpledeploy developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Where a deploy root may be, and its directories made without following links.

Private to the simpledeploy.django collection: the interface may change.

The role runs as root; the app runs as its own user, who owns ``shared/``
(it writes its database and media there) and is the attacker this file is
written against. Two rules:

* placement_reason(): a deploy root is judged by what it is on the host, not
  by its spelling: the path as given must not be a link (its parents may be
  root's links), and the real path, its parents and the root itself must be
  directories owned by root that nobody else can write; system, temporary
  and home directories are refused wherever a link or a bind mount puts them.
* ensure_layout(): the root, ``venvs/``, ``shared/`` and the data directories
  under it are made and given their owner and mode through descriptors opened
  with O_NOFOLLOW, one path component at a time, so an entry the app user
  swapped for a link is never followed. In ``shared/``, a link owned by root
  (an operator's ``media -> /mnt/media``) is kept as it is; anything else that
  is not a directory where the role makes one stops the run before anything
  changes (shared_problems() says which, for release_info and the role).

Python 3.9+, standard library only.
"""

from __future__ import annotations

import json
import os
import stat

from ansible_collections.simpledeploy.django.plugins.module_utils import _fsio, _root_safety, _state

# Directories whose contents any user can create or replace (or that the
# system empties): a deploy root below them is refused, whatever the path
# through which it is reached (/var/run -> /run, a bind mount, ...).
TEMP_TREES = ('/tmp', '/var/tmp', '/dev/shm', '/run', '/var/run', '/var/lock', '/run/lock', '/run/shm')
# Users below this UID (and nobody) are system users: their "home" is often a
# system directory that holds deploy roots (www-data's /var/www).
UID_MIN = 1000
NOBODY = 65534
SHARED = 'shared'
ROOT_MODE = 0o755
SHARED_MODE = 0o750
MARKER_FORMAT = 1

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | getattr(os, 'O_CLOEXEC', 0)


class LayoutError(Exception):
    """The deploy root cannot be used or made; the message says why and what to do."""


# ------------------------------------------------------------------ placement

def human_homes(entries=None):
    """Home directories of the host's people (UID >= UID_MIN, not nobody)."""
    if entries is None:
        import pwd
        entries = pwd.getpwall()
    return sorted(set(entry.pw_dir for entry in entries
                      if entry.pw_dir and entry.pw_uid >= UID_MIN and entry.pw_uid != NOBODY
                      and os.path.normpath(entry.pw_dir) != '/'))


def _components(path):
    return [part for part in os.path.normpath(path).split('/') if part]


def _identity(path):
    """(st_dev, st_ino) of an existing path (followed), or None."""
    try:
        info = os.stat(path)
    except OSError:
        return None
    return info.st_dev, info.st_ino


def _inside(path, top):
    return path == top or path.startswith(top.rstrip('/') + '/')


def _who(uid):
    try:
        import pwd
        return pwd.getpwuid(uid).pw_name
    except (KeyError, ImportError):
        return 'uid %d' % uid


def _existing_prefixes(path, with_root):
    """(prefix, lstat) for '/' (WITH_ROOT) and each prefix of PATH that exists, up to the first missing one."""
    parts = _components(path)
    found = []
    for current in (['/'] if with_root else []) + ['/' + '/'.join(parts[:count]) for count in range(1, len(parts) + 1)]:
        try:
            found.append((current, os.lstat(current)))
        except FileNotFoundError:
            break
    return found


def placement_reason(root, homes=(), temp_trees=TEMP_TREES):
    """Why ROOT must not be a deploy root on this host, or None when it may.

    Reads the file system (lstat only, nothing is opened). Refused: what
    _root_safety.unsafe_root_reason() refuses lexically; a root that is itself a
    symbolic link; a link on the way that someone other than root owns; a
    root whose real path (or a parent of it) is not a directory owned by root
    that only root can write; a real path inside TEMP_TREES or inside (or
    holding) one of HOMES, judged by the real paths and by the directories'
    identities (so a bind mount of /tmp is /tmp too).
    """
    reason = _root_safety.unsafe_root_reason(root, ())
    if reason:
        return reason
    norm = os.path.normpath(root)
    try:
        reason = _link_reason(norm)
        if reason:
            return reason
        real = os.path.realpath(norm)
        chain = _existing_prefixes(real, with_root=True)
    except OSError as exc:
        return 'deploy_root %s cannot be checked: %s: %s' % (norm, exc.filename, exc.strerror)
    if real != norm:
        reason = _root_safety.unsafe_root_reason(real, ())
        if reason:
            return '%s (deploy_root %s leads there)' % (reason, norm)
    homes = [(home, os.path.realpath(home)) for home in homes]
    temps = [(top, os.path.realpath(top)) for top in temp_trees]
    return (_shared_tree_reason(norm, real, temps, homes)
            or _not_directory_reason(norm, chain)
            or _shared_tree_identity_reason(norm, chain, temps, homes)
            or _ownership_reason(norm, real, chain))


def _link_reason(norm):
    """The path as given: links on the way must be root's, the last part no link (lstat; OSError passes)."""
    given = _existing_prefixes(norm, with_root=False)
    last = len(_components(norm))
    for index, (current, info) in enumerate(given, 1):
        if not stat.S_ISLNK(info.st_mode):
            continue
        if index == last:
            return ('deploy_root %s is a symbolic link (to %s): set deploy_root to the real directory (%s), '
                    'so that nobody can point the deploy somewhere else'
                    % (norm, os.readlink(current), os.path.realpath(norm)))
        if info.st_uid != 0:
            return ('deploy_root %s goes through the symbolic link %s, owned by %s, who could point it '
                    'anywhere: use a path through directories only root can change'
                    % (norm, current, _who(info.st_uid)))
    return None


def _shared_tree_reason(norm, real, temps, homes):
    """The real path inside a temporary tree, or inside (or holding) a home, judged by paths."""
    for top, top_real in temps:
        if _inside(real, top_real) or _inside(real, top):
            return _temp_reason(norm, top)
    for home, home_real in homes:
        if _inside(real, home_real) or _inside(home_real, real):
            return _home_reason(norm, home)
    return None


def _not_directory_reason(norm, chain):
    """A part of the real path that exists and is not a directory."""
    for current, info in chain:
        if not stat.S_ISDIR(info.st_mode):
            return 'deploy_root %s cannot be made: %s exists and is not a directory' % (norm, current)
    return None


def _shared_tree_identity_reason(norm, chain, temps, homes):
    """Temporary and home directories reached another way (a bind mount): a part of the real path that is one, by identity."""
    idents = set((info.st_dev, info.st_ino) for dummy, info in chain)
    for top, dummy in temps:
        if _identity(top) in idents:
            return _temp_reason(norm, top)
    for home, dummy in homes:
        if _identity(home) in idents:
            return _home_reason(norm, home)
    return None


def _ownership_reason(norm, real, chain):
    """A part of the real path (the root or a parent) that is not root's, or that others can write."""
    for current, info in chain:
        if info.st_uid != 0 or info.st_mode & 0o022:
            what = 'the deploy root' if current == real else 'its parent %s' % current
            return ('deploy_root %s is not safe: %s is owned by %s with mode %04o, so someone other than root '
                    'can replace what is in it. Use a directory that root owns and only root can write '
                    '(chown root:root, chmod go-w), or another deploy_root'
                    % (norm, what, _who(info.st_uid), stat.S_IMODE(info.st_mode)))
    return None


def _temp_reason(root, top):
    return ('deploy_root %s is in the temporary directory %s, which other users can write to (or the system '
            'empties): use a directory such as /srv/<app>' % (root, top))


def _home_reason(root, home):
    return ('deploy_root %s is (or is inside, or holds) the home directory %s: use a directory such as /srv/<app>'
            % (root, home))


# ------------------------------------------------------------------ descriptors

def _open_dir(name, dir_fd):
    return os.open(name, _DIR_FLAGS, dir_fd=dir_fd)


def _lstat_at(name, dir_fd):
    try:
        return os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
    except FileNotFoundError:
        return None


def _kind(info):
    if stat.S_ISLNK(info.st_mode):
        return 'a symbolic link'
    if stat.S_ISREG(info.st_mode):
        return 'a file'
    return 'not a directory'


def _problem(path, info, dir_fd, name):
    """The message for an entry of shared/ that is not what the role makes, or None to keep it."""
    if stat.S_ISDIR(info.st_mode):
        return None
    if stat.S_ISLNK(info.st_mode):
        target = os.readlink(name, dir_fd=dir_fd)
        if info.st_uid == 0 and info.st_nlink == 1:
            return None  # an operator's link: kept as it is, never changed through
        return ('%s is a symbolic link to %s owned by %s, where the role keeps a directory: the app user can plant '
                'such a link to make root change another path. Nothing was changed. Look at who made it, remove '
                'it (rm %s) and deploy again; to keep the data elsewhere, make the link as root'
                % (path, target, _who(info.st_uid), path))
    return ('%s is %s owned by %s, where the role keeps a directory. Nothing was changed. Move it away and deploy '
            'again' % (path, _kind(info), _who(info.st_uid)))


def _shared_problem(shared_fd, shared_path, rel):
    """The message for the first part of shared/REL that is not what the role makes, or None.

    Missing parts are fine (the role makes them); an operator's link ends the walk (kept)."""
    parts = _components(rel)
    fds = []
    parent = shared_fd
    try:
        for index, part in enumerate(parts):
            path = os.path.join(shared_path, *parts[:index + 1])
            info = _lstat_at(part, parent)
            if info is None:
                return None
            message = _problem(path, info, parent, part)
            if message or stat.S_ISLNK(info.st_mode):
                return message
            parent = _open_dir(part, parent)
            fds.append(parent)
        return None
    finally:
        for fd in fds:
            os.close(fd)


def shared_problems(root, shared_dirs):
    """What under ROOT/shared is not what the role makes there: a list of messages (empty: none).

    Reads only, never through a link. A missing shared/ or entry is no problem
    (the role makes it); shared/ itself must be a directory.
    """
    shared_path = os.path.join(root, SHARED)
    try:
        root_fd = os.open(root, _DIR_FLAGS)
    except OSError:
        return []  # no deploy root yet (or not a directory: placement_reason says so)
    try:
        info = _lstat_at(SHARED, root_fd)
        if info is None:
            return []
        if not stat.S_ISDIR(info.st_mode):
            return [_problem(shared_path, info, root_fd, SHARED) or
                    '%s is a link; the role keeps a directory there. Nothing was changed' % shared_path]
        shared_fd = _open_dir(SHARED, root_fd)
        try:
            problems = (_shared_problem(shared_fd, shared_path, rel) for rel in shared_dirs)
            return [message for message in problems if message]
        finally:
            os.close(shared_fd)
    finally:
        os.close(root_fd)


def _set_owner_mode(fd, uid, gid, mode, check_mode):
    """Give the directory open as FD its owner and mode; True when something changed."""
    info = os.fstat(fd)
    changed = False
    if (info.st_uid, info.st_gid) != (uid, gid):
        changed = True
        if not check_mode:
            os.fchown(fd, uid, gid)
    if stat.S_IMODE(info.st_mode) != mode:
        changed = True
        if not check_mode:
            os.fchmod(fd, mode)
    return changed


class _Maker(object):
    """Makes directories below one descriptor, one component at a time, never through a link."""

    def __init__(self, check_mode):
        self.check_mode = check_mode
        self.created = []
        self.fixed = []

    def child(self, parent_fd, name, path, uid, gid, mode):
        """Open the directory NAME under PARENT_FD, making it first when missing, with UID:GID and
        MODE. None in check mode when it (or its parent, PARENT_FD None) does not exist yet."""
        info = _lstat_at(name, parent_fd) if parent_fd is not None else None
        if info is None:
            self.created.append(path)
            if self.check_mode or parent_fd is None:
                return None
            os.mkdir(name, 0o700, dir_fd=parent_fd)
        elif not stat.S_ISDIR(info.st_mode):
            # Planted after the look at shared/ (a race): say what this run already did.
            message = (_problem(path, info, parent_fd, name) or 'cannot use %s' % path).replace(
                'Nothing was changed.', 'Already made or set by this run: %s.'
                % (', '.join(self.created + self.fixed) or 'nothing'))
            raise LayoutError(message)
        fd = _open_dir(name, parent_fd)  # ELOOP if it was swapped for a link meanwhile
        try:
            if _set_owner_mode(fd, uid, gid, mode, self.check_mode) and info is not None:
                self.fixed.append(path)
        except BaseException:
            os.close(fd)
            raise
        return fd


def _open_root(root, maker):
    """A descriptor of ROOT, making it and its missing parents (root's, 0755); None in check mode
    when it does not exist yet."""
    parts = _components(root)
    fd = os.open('/', _DIR_FLAGS)
    path = '/'
    try:
        for part in parts[:-1]:
            path = os.path.join(path, part)
            info = _lstat_at(part, fd) if fd is not None else None
            if info is None:
                maker.created.append(path)
                if fd is None or maker.check_mode:
                    if fd is not None:
                        os.close(fd)
                    fd = None
                    continue
                os.mkdir(part, ROOT_MODE, dir_fd=fd)
                following = _open_dir(part, fd)
                os.fchmod(following, ROOT_MODE)
            elif stat.S_ISLNK(info.st_mode):
                # a link of root's on the way: placement_reason() checked its owner and real path
                following = os.open(os.path.realpath(path), _DIR_FLAGS)
            else:
                following = _open_dir(part, fd)
            os.close(fd)
            fd = following
        last = maker.child(fd, parts[-1], root, 0, 0, ROOT_MODE)
    finally:
        if fd is not None:
            os.close(fd)
    return last


def _write_marker(root_fd, app, check_mode):
    """Create ROOT/.simpledeploy.json (app, format) when missing; True when it was (or would be)."""
    if root_fd is not None and _lstat_at(_state.MARKER, root_fd) is not None:
        return False
    if check_mode or root_fd is None:
        return True
    data = json.dumps({'app': app, 'format': MARKER_FORMAT}, indent=2, sort_keys=True) + '\n'
    # Whole or not at all: an empty marker would read as ours without an app name.
    _fsio.atomic_write(_state.MARKER, data, 0o644, dir_fd=root_fd)
    return True


def ensure_layout(root, app, uid, gid, shared_dirs=(), homes=(), check_mode=False):
    """Make ROOT (root's, 0755), ROOT/venvs (root's, 0755), ROOT/shared and each of SHARED_DIRS
    under it (UID:GID, 0750), and the marker; fix owner and mode where they differ.

    Nothing is changed when the placement is refused or something in shared/
    is not what the role makes there (LayoutError says what). Returns
    dict(changed, created, fixed, kept_links, marker_created). In check mode,
    changes nothing and says what a real run would do.
    """
    reason = placement_reason(root, homes)
    if reason:
        raise LayoutError(reason)
    root = os.path.normpath(root)
    problems = shared_problems(root, shared_dirs)
    if problems:
        raise LayoutError(' '.join(problems))
    maker = _Maker(check_mode)
    kept = []
    root_fd = _open_root(root, maker)
    try:
        venvs_fd = maker.child(root_fd, 'venvs', os.path.join(root, 'venvs'), 0, 0, ROOT_MODE)
        if venvs_fd is not None:
            os.close(venvs_fd)
        shared_fd = maker.child(root_fd, SHARED, os.path.join(root, SHARED), uid, gid, SHARED_MODE)
        try:
            for rel in shared_dirs:
                kept.extend(_make_shared(maker, shared_fd, os.path.join(root, SHARED), rel, uid, gid))
        finally:
            if shared_fd is not None:
                os.close(shared_fd)
        marker = _write_marker(root_fd, app, check_mode)
    finally:
        if root_fd is not None:
            os.close(root_fd)
    created = sorted(set(maker.created))
    return dict(changed=bool(created or maker.fixed or marker), created=created, fixed=sorted(set(maker.fixed)),
                kept_links=sorted(set(kept)), marker_created=marker)


def _make_shared(maker, shared_fd, shared_path, rel, uid, gid):
    """Make shared/REL one part at a time; returns the operator links found on the way (kept)."""
    parent, fds, path = shared_fd, [], shared_path
    try:
        for part in _components(rel):
            path = os.path.join(path, part)
            info = _lstat_at(part, parent) if parent is not None else None
            if info is not None and stat.S_ISLNK(info.st_mode) and _problem(path, info, parent, part) is None:
                return [path]  # an operator's link
            parent = maker.child(parent, part, path, uid, gid, SHARED_MODE)
            if parent is not None:
                fds.append(parent)
        return []
    finally:
        for fd in fds:
            os.close(fd)
