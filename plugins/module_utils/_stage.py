# -*- coding: utf-8 -*-
# Copyright (c) simpledeploy developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Stage a release: its archive unpacked into a fresh tree, marked, the shared data linked in.

Private to the simpledeploy.django collection: the interface may change.

The module release_stage runs this in one remote execution, where the role
used five tasks (clear, create, unarchive, mark, link). The archive is the one
release_archive wrote on the controller and the action plugin sent: its sha256
is checked before anything is unpacked. Only what release_archive writes is
accepted: directories, regular files and symbolic links, with relative names
that never go up nor through a link the archive made. Everything is created
by root, in a directory root made a moment before under a parent only root
can write, so no other user can put anything in the tree's way; files get the
archive's mode (no set-id bit) and mtime (timestamp-based .pyc validation
depends on it). Python 3.9+, standard library only.
"""

from __future__ import annotations

import errno
import os
import posixpath
import shutil
import stat
import tarfile

from ansible_collections.simpledeploy.django.plugins.module_utils import _fsio
from ansible_collections.simpledeploy.django.plugins.module_utils._archive import file_sha256

MARKER = '.simpledeploy-release'
# The temporary directory release_stage makes for the role's preview (check mode), in the system's temporary one.
PREVIEW_PREFIX = 'simpledeploy-preview-'
_CHUNK = 1024 * 1024
_FILE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | getattr(os, 'O_CLOEXEC', 0)


class StageError(Exception):
    """The release cannot be staged; the message says why and what to do."""


def check_parent(dest, euid):
    """DEST's parent must be a real directory of EUID's (root's) that no other user can write."""
    parent = os.path.dirname(dest.rstrip('/'))
    try:
        info = os.lstat(parent)
    except OSError as exc:
        raise StageError('cannot stage into %s: %s' % (dest, exc.strerror))
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != euid or info.st_mode & 0o022:
        raise StageError("cannot stage into %s: its parent %s must be a directory of root's that only root can "
                         'write (owner uid %d, mode %04o)' % (dest, parent, info.st_uid, stat.S_IMODE(info.st_mode)))


def _member_path(member, links):
    """The member's normalised relative name, refused when it is absolute, goes up, or goes through a link."""
    name = member.name
    if name.startswith('/') or not name:
        raise StageError('the release archive holds an absolute or empty path %r: rebuild it' % name)
    parts = [part for part in name.split('/') if part not in ('', '.')]
    if not parts or '..' in parts:
        raise StageError('the release archive holds a path that goes up, %r: rebuild it' % name)
    for i in range(1, len(parts)):
        if '/'.join(parts[:i]) in links:
            raise StageError('the release archive holds %r, inside the symbolic link %r: rebuild it'
                             % (name, '/'.join(parts[:i])))
    return '/'.join(parts)


def unpack(archive, dest):
    """Unpack ARCHIVE (a tar.gz of release_archive) into the new directory DEST; returns the number of entries."""
    links = set()
    count = 0
    with tarfile.open(archive, mode='r:gz') as tar:
        for member in tar:
            relpath = _member_path(member, links)
            path = os.path.join(dest, relpath)
            mode = member.mode & 0o755
            if member.isdir():
                try:
                    os.mkdir(path, 0o700)
                except FileExistsError:
                    if not stat.S_ISDIR(os.lstat(path).st_mode):
                        raise StageError('the release archive holds %r twice: rebuild it' % relpath)
                os.chmod(path, mode)
            elif member.isfile():
                source = tar.extractfile(member)
                fd = os.open(path, _FILE_FLAGS, 0o600)
                with os.fdopen(fd, 'wb') as handle:
                    for chunk in iter(lambda: source.read(_CHUNK), b''):
                        handle.write(chunk)
                    os.fchmod(handle.fileno(), mode)
                os.utime(path, (member.mtime, member.mtime), follow_symlinks=False)
            elif member.issym():
                os.symlink(member.linkname, path)
                links.add(relpath)
            else:
                raise StageError('the release archive holds %r, neither a file, a directory nor a symbolic link: '
                                 'rebuild it with release_archive' % relpath)
            count += 1
    return count


def link_shared(dest, links):
    """Each of LINKS ({path: relative to DEST, target}) made a symbolic link, replacing a file, a link or an
    empty directory the release ships there; a directory with content is refused (the data would be hidden)."""
    real_dest = os.path.realpath(dest)
    for link in links:
        relpath = posixpath.normpath(link['path'])
        if relpath.startswith(('/', '../')) or relpath in ('.', '..'):
            raise StageError('the shared path %r must be relative and inside the project' % link['path'])
        path = os.path.join(dest, relpath)
        parent = os.path.dirname(path)
        if os.path.realpath(parent) != os.path.normpath(os.path.join(real_dest, os.path.dirname(relpath))):
            raise StageError('the shared path %r goes through a symbolic link of the release: change the project or '
                             'deploy_shared_dirs' % link['path'])
        os.makedirs(parent, 0o755, exist_ok=True)
        try:
            info = os.lstat(path)
        except FileNotFoundError:
            info = None
        if info is not None:
            if stat.S_ISDIR(info.st_mode):
                try:
                    os.rmdir(path)
                except OSError as exc:
                    if exc.errno in (errno.ENOTEMPTY, errno.EEXIST):
                        raise StageError('the release ships %s with content, and it is a shared path (%s): remove '
                                         'it from the project, or from deploy_shared_dirs and deploy_shared_files'
                                         % (relpath, link['target']))
                    raise
            else:
                os.unlink(path)
        os.symlink(link['target'], path)


def stage(archive, dest, release, links, sha256=None, euid=None):
    """The whole staging (see the module's docstring); returns a summary dict. DEST is replaced whole."""
    euid = os.geteuid() if euid is None else euid
    check_parent(dest, euid)
    if sha256 is not None:
        found = file_sha256(archive)
        if found != sha256:
            raise StageError('the release archive %s arrived damaged (sha256 %s, expected %s): run again'
                             % (archive, found, sha256))
    removed = os.path.lexists(dest)
    if removed:
        _fsio.remove_tree(dest)
    os.mkdir(dest, 0o700)
    try:
        entries = unpack(archive, dest)
        _fsio.atomic_write(os.path.join(dest, MARKER), release + '\n', 0o644)
        link_shared(dest, links)
    except BaseException:
        _fsio.remove_tree(dest)
        raise
    os.chmod(dest, 0o755)
    return dict(entries=entries, replaced=removed)


def discard_preview(preview, euid=None):
    """Remove PREVIEW, a directory release_stage made for a preview (PREVIEW_PREFIX), with the tree in it: only a
    directory of that name that is this user's (root's) and no link; StageError otherwise, nothing removed."""
    path = os.path.normpath(preview)
    euid = os.geteuid() if euid is None else euid
    if not os.path.isabs(path) or not os.path.basename(path).startswith(PREVIEW_PREFIX):
        raise StageError('%s is not a preview directory (%s*): not removed' % (preview, PREVIEW_PREFIX))
    found = os.lstat(path)
    if not stat.S_ISDIR(found.st_mode) or found.st_uid != euid:
        raise StageError('%s is not a directory of uid %d: not removed' % (preview, euid))
    shutil.rmtree(path)
