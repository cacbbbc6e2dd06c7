# -*- coding: utf-8 -*-
# Copyright (c) simpledeploy developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A release's static files: collected as the app's user, kept as root's in the release's own tree.

Private to the simpledeploy.django collection: the interface may change.

``collectstatic`` runs project code, so it runs as the app's user (the
``static`` job of ``in_django``), writing into a new directory of that
user's (``work_dir``), inside a root-owned directory with a name nobody can
guess. Root then copies what it left into the staged tree at the place
``STATIC_ROOT`` names (``copy_collected``): every directory and file read
through descriptors without following a link, only regular files and
directories accepted, each file root's own new copy (0644). The app's user
can never change a live static file: the tree is root's.

A reload lets the old release's workers serve for a moment beside the new
ones, and a rollback brings the old tree back: each tree keeps its own
files, and the new tree also gets the files the live release collected
(``carry_over``: hard links, root's to root's), so that every asset URL that
either release's pages reference answers. ``RECORD`` in each tree lists the
files its own collectstatic made: only those are carried, one release back,
so nothing piles up.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import pwd
import secrets
import stat
import tempfile
import time

from ansible_collections.simpledeploy.django.plugins.module_utils import _django, _fsio, _stage
from ansible_collections.simpledeploy.django.plugins.module_utils._errors import StepError

# At the top of each tree whose static files the deploy collected.
RECORD = '.simpledeploy-static'
# The root-owned directory, beside the tree, that holds the app user's output while it runs.
WORK_PREFIX = '.simpledeploy-static-'
_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
_READ = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
_CREATE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
_CHUNK = 1 << 20
# Deeper than this, what collectstatic left is not static files a project collects.
MAX_DEPTH = 32


class StaticError(StepError):
    """The static files cannot be collected or placed; the message says why and what to do."""


def placement(static_root, tree, project_path):
    """STATIC_ROOT's path relative to TREE; raises StaticError when it is not a directory of its own in it."""
    # BASE_DIR usually comes from Path.resolve(): compare with the tree's real path when it is reached
    # through a link (/srv -> /data/srv).
    static_root = os.path.abspath(static_root)
    tree = os.path.abspath(tree)
    real = os.path.realpath(tree)
    if real != tree and (static_root + os.sep).startswith(real + os.sep):
        tree, project_path = real, os.path.realpath(project_path)
    project = os.path.abspath(project_path)
    if project == static_root or project.startswith(static_root + os.sep):
        raise StaticError('STATIC_ROOT is %s, which holds the project\'s code: set it to a directory of its own '
                          'inside the project (e.g. BASE_DIR / "staticfiles")' % static_root)
    relative = os.path.relpath(static_root, tree)
    if relative.split(os.sep)[0] == os.pardir:
        raise StaticError(
            'STATIC_ROOT is %s, outside the release\'s tree (%s): each release\'s static files are collected into '
            'its own tree, root\'s, so that both releases\' assets answer during a reload and the app\'s user cannot '
            'change them. Set STATIC_ROOT to a directory inside the project (e.g. BASE_DIR / "staticfiles"), or set '
            'deploy_collectstatic: false and collect them yourself' % (static_root, tree))
    return relative


@contextlib.contextmanager
def work_dir(parent, uid, gid, empty=None):
    """A new directory the user UID can write, in a new root-owned directory in PARENT; removed afterwards.

    Yields the path of the user's directory. Both names are random (mkdtemp,
    and a token for the user's directory): the wrapper is 0711, so another
    process of the user cannot find the directory collectstatic writes in. At
    the end EMPTY(path), when given, empties it as the user itself (root never
    walks what the user made deeper than it must); then root removes the
    wrapper through descriptors (``_fsio.remove_tree``), and the wrappers a
    killed run left in PARENT. A removal that fails (the user kept writing)
    never fails the deploy: the next run tries again.
    """
    for name in os.listdir(parent):
        if name.startswith(WORK_PREFIX) and os.lstat(os.path.join(parent, name)).st_uid == 0:
            _remove_quietly(os.path.join(parent, name))
    wrapper = tempfile.mkdtemp(prefix=WORK_PREFIX, dir=parent)
    out = 'out-' + secrets.token_hex(16)
    try:
        os.chmod(wrapper, 0o711)
        fd = os.open(wrapper, _DIR)
        try:
            os.mkdir(out, 0o700, dir_fd=fd)
            os.chown(out, uid, gid, dir_fd=fd, follow_symlinks=False)
        finally:
            os.close(fd)
        yield os.path.join(wrapper, out)
    finally:
        if empty is not None:
            empty(os.path.join(wrapper, out))
        _remove_quietly(wrapper)


def _remove_quietly(path):
    """Remove PATH (root's wrapper) through descriptors; what the app's user made too deep stays for the next run."""
    with contextlib.suppress(OSError, RecursionError):
        _fsio.remove_tree(path)


def open_dirs(top_fd, relative, create):
    """A descriptor of RELATIVE below TOP_FD, each part opened without following a link; None when missing.

    With CREATE, missing directories are made (root's, 0755). A part that is a
    link or not a directory raises StaticError naming it.
    """
    fd = os.dup(top_fd)
    for part in [p for p in relative.split(os.sep) if p]:
        try:
            child = os.open(part, _DIR, dir_fd=fd)
        except FileNotFoundError:
            if not create:
                os.close(fd)
                return None
            os.mkdir(part, 0o755, dir_fd=fd)
            child = os.open(part, _DIR, dir_fd=fd)
        except OSError as exc:
            os.close(fd)
            if exc.errno in (errno.ELOOP, errno.ENOTDIR):
                raise StaticError('%s of STATIC_ROOT (%s) is a link or not a directory in the release\'s tree: '
                                  'static files are never written through a link (a shared directory is the app '
                                  'user\'s); set STATIC_ROOT to a directory of the project\'s own' % (part, relative))
            raise
        os.close(fd)
        fd = child
    return fd


def _open_under(tree, relative, create):
    """A descriptor of TREE/RELATIVE (see open_dirs), TREE itself opened without following a link."""
    top = os.open(tree, _DIR)
    try:
        return open_dirs(top, relative, create=create)
    finally:
        os.close(top)


def _copy_file(src_fd, dst_dir_fd, name, info, path):
    """Root's own copy of the open regular file SRC_FD as NAME in DST_DIR_FD (0644, same mtime); never over a file."""
    try:
        out = os.open(name, _CREATE, 0o644, dir_fd=dst_dir_fd)
    except FileExistsError:
        raise StaticError('collectstatic would replace %s, which the release ships in STATIC_ROOT: STATIC_ROOT must be '
                          'a directory of its own that the project does not ship (e.g. BASE_DIR / "staticfiles"); '
                          'nothing was made live' % path)
    try:
        while True:
            chunk = os.read(src_fd, _CHUNK)
            if not chunk:
                break
            view = memoryview(chunk)
            while view:
                view = view[os.write(out, view):]
        os.fchmod(out, 0o644)
        os.utime(out, ns=(info.st_atime_ns, info.st_mtime_ns))
    finally:
        os.close(out)


def _copy_entry(src_fd, dst_fd, name, prefix, copied, uid):
    """Copy NAME of SRC_FD into DST_FD: a directory whole, a regular file of UID's; anything else raises StaticError."""
    path = os.path.join(prefix, name)
    info = os.stat(name, dir_fd=src_fd, follow_symlinks=False)
    if stat.S_ISDIR(info.st_mode) and path.count(os.sep) >= MAX_DEPTH:
        raise StaticError('collectstatic left directories deeper than %d levels (%s...): not static files a project '
                          'collects; nothing was made live' % (MAX_DEPTH, path[:80]))
    if stat.S_ISDIR(info.st_mode):
        child = os.open(name, _DIR, dir_fd=src_fd)
        try:
            if (os.fstat(child).st_ino, os.fstat(child).st_dev) != (info.st_ino, info.st_dev):
                raise StaticError('%s changed while it was copied: the app user\'s processes write into the '
                                  'collected files; run the deploy again' % path)
            with contextlib.suppress(FileExistsError):
                os.mkdir(name, 0o755, dir_fd=dst_fd)
            target = open_dirs(dst_fd, name, create=False)
            try:
                _copy_dir(child, target, path, copied, uid)
            finally:
                os.close(target)
        finally:
            os.close(child)
        return
    if not stat.S_ISREG(info.st_mode):
        raise StaticError('collectstatic left %s, which is not a regular file or a directory (collectstatic --link '
                          'and links of the project are not kept): nothing was made live' % path)
    fd = os.open(name, _READ, dir_fd=src_fd)
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise StaticError('%s changed while it was copied: run the deploy again' % path)
        # A hard link to a file of someone else's (root's app.env, where protected_hardlinks is off) is not
        # the output of collectstatic: root would publish it.
        if info.st_nlink != 1 or (uid is not None and info.st_uid != uid):
            raise StaticError('collectstatic left %s, a file with %d links owned by uid %d: only files the app\'s user '
                              'made are copied; nothing was made live' % (path, info.st_nlink, info.st_uid))
        _copy_file(fd, dst_fd, name, info, path)
    finally:
        os.close(fd)
    copied.append(path)


def _copy_dir(src_fd, dst_fd, prefix, copied, uid):
    for name in sorted(os.listdir(src_fd)):
        _copy_entry(src_fd, dst_fd, name, prefix, copied, uid)


def copy_collected(source, tree, relative, uid=None):
    """Copy the directory SOURCE (the app user's, UID) to TREE/RELATIVE as root's; the relative paths copied."""
    copied = []
    src = os.open(source, _DIR)
    try:
        dst = _open_under(tree, relative, create=True)
        try:
            _copy_dir(src, dst, '', copied, uid)
        finally:
            os.close(dst)
    finally:
        os.close(src)
    return copied


def safe_relative(path):
    """Whether PATH is a relative path that stays below where it starts (no '..', not absolute)."""
    return (isinstance(path, str) and bool(path) and not os.path.isabs(path)
            and os.pardir not in path.split(os.sep))


def read_record(tree):
    """The RECORD of TREE (``{static_root, files}``), or None when it has none or it cannot be read."""
    try:
        fd = os.open(os.path.join(tree, RECORD), _READ)
    except OSError:
        return None
    try:
        with os.fdopen(fd, 'rb') as handle:
            data = json.loads(handle.read().decode('utf-8'))
    except ValueError:
        return None
    if not isinstance(data, dict) or not isinstance(data.get('files'), list):
        return None
    return data


def write_record(tree, relative, files):
    """Write TREE's RECORD: where its static files are and which its own collectstatic made."""
    _fsio.atomic_write(os.path.join(tree, RECORD),
                       json.dumps({'static_root': relative, 'files': sorted(files)}, indent=1) + '\n')


def _link_one(src_top, dst_top, path):
    """Hard-link SRC_TOP/PATH (a regular file, reached without following a link) to DST_TOP/PATH; True when done."""
    head, name = os.path.split(path)
    try:
        src_dir = open_dirs(src_top, head, create=False)
    except StaticError:
        return False
    if src_dir is None:
        return False
    try:
        info = os.stat(name, dir_fd=src_dir, follow_symlinks=False)
        if not stat.S_ISREG(info.st_mode):
            return False
        dst_dir = open_dirs(dst_top, head, create=True)
        try:
            os.link(name, name, src_dir_fd=src_dir, dst_dir_fd=dst_dir, follow_symlinks=False)
        except FileExistsError:
            return False
        finally:
            os.close(dst_dir)
    except FileNotFoundError:
        return False
    finally:
        os.close(src_dir)
    return True


def carry_over(previous_tree, tree, relative, own):
    """Link into TREE/RELATIVE the files the PREVIOUS_TREE's collectstatic made that TREE's did not (OWN).

    Returns how many were linked. Without a RECORD in the previous tree
    nothing is carried (its files were not the deploy's to vouch for).
    """
    record = read_record(previous_tree) if previous_tree else None
    if not record or not safe_relative(record.get('static_root')):
        return 0
    own = set(own)
    carried = 0
    src_top = os.open(previous_tree, _DIR)
    try:
        try:
            src_root = open_dirs(src_top, record['static_root'], create=False)
        except StaticError:
            return 0
        if src_root is None:
            return 0
        dst_root = _open_under(tree, relative, create=True)
        try:
            for path in record['files']:
                if safe_relative(path) and path not in own and _link_one(src_root, dst_root, path):
                    carried += 1
        finally:
            os.close(dst_root)
            os.close(src_root)
    finally:
        os.close(src_top)
    return carried


def job_error(child):
    """The message of a ``static`` job that failed: the runner's own stages, or collectstatic's own error."""
    started = _django.start_error(child)
    if started:
        return started
    tail = [line.strip() for line in (child.stderr or '').splitlines() if line.strip()][-4:]
    return 'collectstatic --noinput failed (as the app\'s user, in the new release): %s%s' % (
        _django.error_text(child.error or {}), (' | ' + ' | '.join(tail)) if tail else '')


def shipped_files(tree, relative):
    """Names the release ships in TREE/RELATIVE (dotfiles such as .gitkeep aside); [] when it ships none."""
    fd = _open_under(tree, relative, create=False)
    if fd is None:
        return []
    try:
        return sorted(name for name in os.listdir(fd) if not name.startswith('.'))
    finally:
        os.close(fd)


def _emptier(module, run_as):
    """EMPTY for work_dir: the app's user removes what it made, with its own rights (rm has no depth limit)."""
    runuser = _django.find_runuser()

    def empty(path):
        if runuser and run_as != _django.current_user():
            module.run_command([runuser, '-u', run_as, '--', 'rm', '-rf', '--one-file-system', '--', path])
    return empty


def _place(found, tree, project_path):
    """STATIC_ROOT relative to TREE, refused when the release ships files there (collectstatic would mix with them)."""
    relative = placement(found['static_root'], tree, project_path)
    shipped = shipped_files(tree, relative)
    if shipped:
        raise StaticError('STATIC_ROOT (%s) is a directory the release ships (%s): collectstatic\'s output would mix '
                          'with the release\'s own files. Set STATIC_ROOT to a directory the project does not ship '
                          '(e.g. BASE_DIR / "staticfiles", left out of the repository)'
                          % (relative, ', '.join(shipped[:3]) + (', ...' if len(shipped) > 3 else '')))
    return relative


def _static_job(module, project_path, virtualenv, run_as, output, settings, env_file):
    """The ``static`` job's result (collecting into OUTPUT unless it is None); StaticError when it failed."""
    child = _django.run_in_django(module, project_path, virtualenv, 'static', {'output': output},
                                  settings=settings, env_file=env_file, run_as=run_as)
    if child.result is None:
        raise StaticError(job_error(child))
    return child.result


def collect(module, project_path, tree, virtualenv, run_as, previous_tree=None, settings=None, env_file=None):
    """Collect the static files of the release in TREE as RUN_AS and place them as root's; the result dict.

    In check mode the job only reports whether and where it would collect.
    Raises StaticError (or _django.DjangoError) with the message to fail with.
    """
    start = time.monotonic()
    job = (project_path, virtualenv, run_as)
    if module.check_mode:
        found = _static_job(module, *job, output=None, settings=settings, env_file=env_file)
        relative = _place(found, tree, project_path) if found['enabled'] else None
    else:
        try:
            user = pwd.getpwnam(run_as)
        except KeyError:
            raise StaticError('run_as %s is not a user on this host: create it first (the deploy role does)' % run_as)
        with work_dir(os.path.dirname(os.path.abspath(tree)), user.pw_uid, user.pw_gid,
                      _emptier(module, run_as)) as output:
            found = _static_job(module, *job, output=output, settings=settings, env_file=env_file)
            relative = _place(found, tree, project_path) if found['enabled'] else None
            own = copy_collected(output, tree, relative, user.pw_uid) if found['enabled'] else []
    result = {'changed': found['enabled'], 'enabled': found['enabled'], 'reason': found['reason'],
              'storage': found['storage'], 'static_url': found['static_url'], 'collected': 0, 'carried': 0,
              'static_root': relative}
    if found['enabled'] and not module.check_mode:
        result.update(collected=len(own), carried=carry_over(previous_tree, tree, result['static_root'], own))
        write_record(tree, result['static_root'], own)
    result['seconds'] = round(time.monotonic() - start, 3)
    return result


def collect_or_failure(module, project_path, tree, virtualenv, run_as, previous_tree=None, settings=None,
                       env_file=None):
    """collect(), as a module reports it: (result, None), or (None, {msg}: the cause and what to do)."""
    try:
        return collect(module, project_path, tree, virtualenv, run_as, previous_tree=previous_tree,
                       settings=settings, env_file=env_file), None
    except (StaticError, _django.DjangoError) as exc:
        return None, dict(msg=str(exc))
    except OSError as exc:
        return None, dict(msg='collecting the static files failed: %s: %s. Nothing was stopped: the old release '
                              'still serves; fix the cause (disk space, permissions) and deploy again'
                          % (exc.filename or tree, exc.strerror or exc))


def discard(module, preview):
    """Remove the preview directory PREVIEW (release_stage's), read last: whether it was removed (a warning
    otherwise)."""
    if not preview:
        return False
    try:
        _stage.discard_preview(preview)
    except (_stage.StageError, OSError) as exc:
        module.warn('the preview directory was not removed: %s' % exc)
        return False
    return True
