# -*- coding: utf-8 -*-
# Copyright (c) simpledeploy developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The service's configuration files go live with the release, and come back with the old one.

Private to the simpledeploy.django collection: the interface may change.

The role renders each new file (the environment file, the gunicorn unit)
beside the live one, as ``<dest>.simpledeploy-next``; release_switch puts it
in place inside the window, keeping the live one as
``<dest>.simpledeploy-previous`` (a hard link: the live name never goes
missing) until the window succeeded, and puts that back when the window is
undone. Renames in one directory, so each file is either the old or the new
one, whole, whatever happens; the new file is flushed before its rename and
the directory after it (_fsio.flush_file, _fsio.flush_parent: the guarantees
of _fsio.atomic_file, for a file the role wrote).

Both names are beside files of root's in directories only root writes
(the deploy root, /etc/systemd/system). Python 3.9+, standard library only.

``write_files`` writes those rendered files, and the role's own files that go
in place at once (gunicorn.conf.py, the start gate), in one remote execution
(the module release_config): each through a temporary file renamed over it
(_fsio.atomic_write), only when its content, mode or owner differs, and only
into a directory of root's that no other user can write.
"""

from __future__ import annotations

import errno
import os
import stat

from ansible_collections.simpledeploy.django.plugins.module_utils import _fsio

NEXT = '.simpledeploy-next'
PREVIOUS = '.simpledeploy-previous'

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | getattr(os, 'O_CLOEXEC', 0)
_READ_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, 'O_CLOEXEC', 0)


class ConfigError(Exception):
    """A configuration file cannot be put in place; the message names it."""


def next_path(dest):
    return dest + NEXT


def aside_path(dest):
    return dest + PREVIOUS


def _read(path):
    try:
        with open(path, 'rb') as handle:
            return handle.read()
    except OSError as exc:
        if exc.errno == errno.ENOENT:
            return None
        raise


def changed_entries(entries, check_mode=False):
    """The ENTRIES ({dest, src, systemd}) whose SRC differs from DEST (or DEST is missing).

    An entry whose SRC is missing is an error, except in check mode, where it
    counts as changed (the role renders nothing under a deploy root that does
    not exist yet).
    """
    changed = []
    for entry in entries:
        new = _read(entry['src'])
        if new is None:
            if check_mode:
                changed.append(entry)
                continue
            raise ConfigError('the new %s is missing (%s): nothing was stopped; run the role, which renders it'
                              % (entry['dest'], entry['src']))
        if new != _read(entry['dest']):
            changed.append(entry)
    return changed


def discard(entries):
    """Remove the rendered SRC files (they were compared, or were put in place)."""
    for entry in entries:
        try:
            os.unlink(entry['src'])
        except FileNotFoundError:
            pass


def remove_stale_asides(entries):
    """Asides left by a run killed inside its window: that window is finished forward, so they go.

    An aside whose file is missing (a run killed by an older version between its two renames) is the
    only copy left: it is put back instead.
    """
    for entry in entries:
        aside = aside_path(entry['dest'])
        if not os.path.lexists(aside):
            continue
        if os.path.lexists(entry['dest']):
            os.unlink(aside)
        else:
            os.rename(aside, entry['dest'])


def put_in_place(entries):
    """Put each SRC in place of its DEST, the old DEST kept aside; returns what undo() needs.

    Stops at the first failure, having undone its own part: the returned list
    (also attached to the exception as ``done``) says what is in place.
    """
    done = []
    for entry in entries:
        dest, src = entry['dest'], entry['src']
        aside = aside_path(dest)
        try:
            _fsio.flush_file(src)
            had = os.path.lexists(dest)
            if had:
                # A second name for the live file, so that DEST is never missing: a run killed
                # here leaves the old file in place (and an aside the next run removes).
                if os.path.lexists(aside):
                    os.unlink(aside)
                os.link(dest, aside)
            try:
                os.rename(src, dest)
            except OSError:
                if had:
                    os.unlink(aside)
                raise
            _fsio.flush_parent(dest)
        except OSError as exc:
            error = ConfigError('could not put the new %s in place: %s' % (dest, exc.strerror or exc))
            error.done = done
            raise error
        done.append(dict(dest=dest, aside=aside if had else None, systemd=entry.get('systemd', False)))
    return done


def undo(done):
    """Put back what put_in_place() replaced, last first; returns the destinations restored."""
    restored = []
    for entry in reversed(done):
        if entry['aside']:
            os.rename(entry['aside'], entry['dest'])
        else:
            os.unlink(entry['dest'])
        _fsio.flush_parent(entry['dest'])
        restored.append(entry['dest'])
    return restored


def commit(done):
    """The window succeeded: the old files kept aside go."""
    for entry in done:
        if entry['aside']:
            try:
                os.unlink(entry['aside'])
            except FileNotFoundError:
                pass


def _open_directory(path, euid):
    """A descriptor on PATH's directory, refused unless it is a real directory of EUID's (root's) that no other
    user can write: a file root writes there cannot be swapped by anyone else."""
    directory = os.path.dirname(path)
    try:
        fd = os.open(directory, _DIR_FLAGS)
    except OSError as exc:
        if exc.errno == errno.ENOENT:
            raise ConfigError('cannot write %s: its directory %s does not exist' % (path, directory))
        if exc.errno in (errno.ELOOP, errno.ENOTDIR):
            raise ConfigError('cannot write %s: %s is not a directory (a symbolic link?); nothing was written'
                              % (path, directory))
        raise
    info = os.fstat(fd)
    if info.st_uid != euid or info.st_mode & 0o022:
        os.close(fd)
        raise ConfigError('cannot write %s: its directory %s is owned by uid %d with mode %04o; it must be '
                          "root's and writable by root only; nothing was written"
                          % (path, directory, info.st_uid, stat.S_IMODE(info.st_mode)))
    return fd


def _current(dir_fd, name):
    """(content, stat) of the regular file NAME in DIR_FD, never through a link; (None, None) for anything else."""
    try:
        fd = os.open(name, _READ_FLAGS, dir_fd=dir_fd)
    except OSError as exc:
        if exc.errno in (errno.ENOENT, errno.ELOOP, errno.ENXIO):
            return None, None
        raise
    with os.fdopen(fd, 'rb') as handle:
        info = os.fstat(handle.fileno())
        if not stat.S_ISREG(info.st_mode):
            return None, None
        return handle.read(), info


def _same(found, entry, euid):
    """Whether FOUND ((content, stat) from _current) is ENTRY's content, mode and owner (EUID, the egid)."""
    content, info = found
    return (content == entry['content'].encode('utf-8') and stat.S_IMODE(info.st_mode) == entry['mode']
            and (info.st_uid, info.st_gid) == (euid, os.getegid()))


def write_files(files, check_mode=False, euid=None):
    """Write each of FILES whose content, mode or owner differs; returns (written, changed), lists of DESTs.

    FILES are dicts {dest, content (text), mode (int), staged (bool)}. A staged file is one the window puts in
    place (``<dest>.simpledeploy-next``): written in check mode too, so that release_switch can compare it
    with the live one, and never counted as a change here (release_switch reports what goes live). The
    others go in place at once: a change is reported, and check mode writes nothing.

    Every directory is checked first (_open_directory): a bad one fails before any file is written (in check
    mode, a missing directory counts as a change: a real run makes it before it writes there). A file
    that is a link or not a regular file is replaced, never followed (the rename replaces the name).
    """
    euid = os.geteuid() if euid is None else euid
    opened = []
    try:
        for entry in files:
            if check_mode and not entry.get('staged') and not os.path.lexists(os.path.dirname(entry['dest'])):
                # Check mode before the first deploy: the directory a real run makes first.
                opened.append(None)
                continue
            opened.append(_open_directory(entry['dest'], euid))
        written, changed = [], []
        for entry, dir_fd in zip(files, opened):
            if dir_fd is None:
                changed.append(entry['dest'])
                continue
            name = os.path.basename(entry['dest'])
            data = entry['content'].encode('utf-8')
            if _same(_current(dir_fd, name), entry, euid):
                continue
            if not entry.get('staged'):
                changed.append(entry['dest'])
                if check_mode:
                    continue
            _fsio.atomic_write(name, data, entry['mode'], dir_fd=dir_fd)
            written.append(entry['dest'])
        return written, changed
    finally:
        for fd in opened:
            if fd is not None:
                os.close(fd)


def live_path(entry):
    """Where ENTRY's content is live: DEST, or for a staged file the name release_switch renames it to."""
    dest = entry['dest']
    if entry.get('staged') and dest.endswith(NEXT):
        return dest[:-len(NEXT)]
    return dest


def changed_live(files, euid=None):
    """The live paths (live_path) of FILES whose content, mode or owner differs from the live file's, or that
    are missing. Only reads, never through a link (a link counts as a difference)."""
    euid = os.geteuid() if euid is None else euid
    changed = []
    for entry in files:
        path = live_path(entry)
        try:
            dir_fd = os.open(os.path.dirname(path), _DIR_FLAGS)
        except OSError:
            changed.append(path)
            continue
        try:
            found = _current(dir_fd, os.path.basename(path))
        finally:
            os.close(dir_fd)
        if not _same(found, entry, euid):
            changed.append(path)
    return changed
