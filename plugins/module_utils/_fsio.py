# -*- coding: utf-8 -*-
# Copyright (c) simpledeploy developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Files that are on disk whole or not at all, and trees flushed before they go live.

Private to the simpledeploy.django collection: the interface may change.

Every file the collection replaces goes live through a rename in its own
directory, made durable the same way: the new content flushed (fsync) before
the rename, the directory flushed after it. A crash or a power loss at any
moment then leaves the name holding either the old content or the new one,
whole, never an empty or partial file; once the function returned, the new
one survives a power loss.

``atomic_file`` / ``atomic_write`` write the new content themselves (a state
file, the release archive and its manifest, the lock): a temporary file with a
unique hidden name beside the target, created exclusively and without
following a link, written whole, given its mode through its descriptor,
flushed, renamed over the target, the directory flushed. On an error before
the rename the temporary file is removed and the error raised: the target is
untouched. Only the last flush, of the directory, can fail after the rename:
its error is raised with the new content in place. A crash can leave a
temporary file (``.<name>.<random>.tmp``) beside the target, never anything
under the target's name.

``atomic_symlink`` replaces a symbolic link the same way (a new link under a
unique name, renamed over the old one, the directory flushed; a link has no
content of its own to flush).

``flush_file`` and ``flush_parent`` are those two flushes for a file that
another process wrote and that the caller renames into place itself
(_config's rendered configuration files): ``flush_file(new)`` before the
rename, ``flush_parent(target)`` after it.

``flush_filesystems`` writes out everything cached for the filesystems that
hold some paths (syncfs(2), or sync(2) where syncfs is not available), so that
a tree unpacked by another process is on disk before it goes live.

``remove_tree`` removes a tree that another user may be able to write, through
directory descriptors only.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import errno
import os
import secrets
import stat
import time

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | getattr(os, 'O_CLOEXEC', 0)
_TEMP_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | getattr(os, 'O_CLOEXEC', 0)


def temp_name(name):
    """A fresh hidden name beside NAME for its temporary file."""
    return '.%s.%s.tmp' % (name, secrets.token_hex(6))


@contextlib.contextmanager
def _directory(path, dir_fd):
    """The descriptor of PATH's directory (DIR_FD itself when given) and the name PATH has in it."""
    if dir_fd is not None:
        if os.sep in path:
            raise ValueError('with dir_fd, path must be a name in that directory, got %r' % (path,))
        yield dir_fd, path
        return
    fd = os.open(os.path.dirname(path) or '.', _DIR_FLAGS)
    try:
        yield fd, os.path.basename(path)
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_file(path, mode=0o644, dir_fd=None):
    """A binary file object whose content replaces PATH whole when the block ends without an error.

    The caller writes into it as it goes (write_archive streams a tar.gz
    through it); nothing is visible under PATH before the block ends. With
    DIR_FD, PATH is a name in the directory it is open on. The temporary file
    is created in the same directory (O_CREAT|O_EXCL|O_NOFOLLOW, so no
    link or file planted there is followed or reused), set to MODE with
    fchmod, flushed with fsync before the rename, and the directory is flushed
    after it. When the block or any step up to the rename fails, the
    temporary file is removed and the error raised: PATH keeps its old
    content. When the directory's flush fails, its error is raised with the
    new content in place (not yet sure to survive a power loss).
    """
    with _directory(path, dir_fd) as (directory, name):
        temp = temp_name(name)
        fd = os.open(temp, _TEMP_FLAGS, 0o600, dir_fd=directory)
        try:
            with os.fdopen(fd, 'wb') as handle:
                yield handle
                handle.flush()
                os.fchmod(handle.fileno(), mode)
                os.fsync(handle.fileno())
            os.rename(temp, name, src_dir_fd=directory, dst_dir_fd=directory)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(temp, dir_fd=directory)
            raise
        os.fsync(directory)


def atomic_write(path, data, mode=0o644, dir_fd=None):
    """Replace PATH with DATA (bytes, or text written as UTF-8) whole; see atomic_file."""
    if isinstance(data, str):
        data = data.encode('utf-8')
    with atomic_file(path, mode, dir_fd) as handle:
        handle.write(data)


def atomic_symlink(target, link):
    """Make LINK a symbolic link to TARGET, replacing what LINK was in one rename; see the module's docstring.

    The new link is made under a fresh hidden name beside LINK (symlink(2)
    never follows nor reuses a name that exists), renamed over LINK, and the
    directory is flushed. On an error before the rename that new link is
    removed and the error raised: LINK is untouched (a crash can leave the new
    link beside it). When the directory's flush fails, its error is raised
    with LINK already replaced.
    """
    directory, name = os.path.split(link)
    temp = os.path.join(directory, temp_name(name))
    os.symlink(target, temp)
    try:
        os.rename(temp, link)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise
    flush_parent(link)


def flush_file(path):
    """Flush PATH's content to disk (fsync), a regular file that is never a link followed."""
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | getattr(os, 'O_CLOEXEC', 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def flush_parent(path):
    """Flush the directory that holds PATH (fsync), so that a rename or a new name in it survives a power loss."""
    fd = os.open(os.path.dirname(path) or '.', _DIR_FLAGS)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _libc_syncfs():
    """libc's syncfs(2) as a function of a descriptor that raises OSError; None where libc has none."""
    try:
        func = ctypes.CDLL(ctypes.util.find_library('c') or None, use_errno=True).syncfs
    except (OSError, AttributeError):
        return None
    func.argtypes = [ctypes.c_int]
    func.restype = ctypes.c_int

    def syncfs(fd):
        if func(fd) != 0:
            err = ctypes.get_errno()
            raise OSError(err, os.strerror(err))
    return syncfs


def flush_filesystems(paths, syncfs=None, sync=os.sync, clock=time.monotonic):
    """Write out what is cached for the filesystems holding PATHS (directories); returns the seconds it took.

    One syncfs(2) per filesystem (told apart by st_dev), on a descriptor of the
    directory; sync(2), every filesystem, where syncfs is not available
    (ENOSYS). Any other error is raised as OSError naming the path.
    """
    start = clock()
    syncfs = syncfs or _libc_syncfs()
    seen = set()
    for path in paths:
        fd = os.open(path, _DIR_FLAGS)
        try:
            dev = os.fstat(fd).st_dev
            if dev in seen:
                continue
            seen.add(dev)
            if syncfs is None:
                sync()
                break
            try:
                syncfs(fd)
            except OSError as exc:
                if exc.errno != errno.ENOSYS:
                    raise OSError(exc.errno, exc.strerror, path)
                syncfs = None
                sync()
                break
        finally:
            os.close(fd)
    return round(clock() - start, 3)


# A directory opened for removal: no link followed, and no FIFO or device
# opened at all (O_DIRECTORY refuses them before open() could block on one).
_REMOVE_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, 'O_CLOEXEC', 0)


def _remove_at(dir_fd, name, tries=3):
    """Remove NAME in DIR_FD; an entry swapped under it is looked at again, TRIES times at most."""
    try:
        info = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
    except FileNotFoundError:
        return
    if not stat.S_ISDIR(info.st_mode):
        try:
            os.unlink(name, dir_fd=dir_fd)
        except FileNotFoundError:
            pass
        return
    try:
        fd = os.open(name, _REMOVE_FLAGS, dir_fd=dir_fd)
    except FileNotFoundError:
        return
    except OSError as exc:
        # Swapped for a link or a file since the look: that entry goes, its target is never reached.
        if exc.errno not in (errno.ELOOP, errno.ENOTDIR) or tries <= 1:
            raise
        _remove_at(dir_fd, name, tries - 1)
        return
    try:
        for child in os.listdir(fd):
            _remove_at(fd, child)
    finally:
        os.close(fd)
    try:
        os.rmdir(name, dir_fd=dir_fd)
    except FileNotFoundError:
        pass


def remove_tree(path):
    """Remove PATH with all it holds, as root, even where another user can write.

    Everything below PATH is reached through directory descriptors: a link is
    removed, never followed, and a FIFO or device planted where a directory
    was is unlinked, never opened (shutil.rmtree opens an entry it saw as a
    directory without O_NONBLOCK, and blocks for ever on a FIFO swapped in
    between). PATH's own parent must be a directory only root can change.
    """
    parent, name = os.path.split(os.path.normpath(path))
    parent_fd = os.open(parent or '.', _DIR_FLAGS)
    try:
        _remove_at(parent_fd, name)
    finally:
        os.close(parent_fd)
