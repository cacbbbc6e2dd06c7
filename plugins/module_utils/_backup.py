# -*- coding: utf-8 -*-
# Copyright (c) simpledeploy developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Database backups before migrating, and taking the schema back after a failed deploy.

Private to the simpledeploy.django collection: the interface may change.

The database is always reached through the project's own Django settings
(``connections[alias].settings_dict``), by the database job run inside
Django like the migration plan (``in_django/database.py``, as the app's user,
with its environment file), never from settings this module guesses:

- SQLite: Python's ``sqlite3`` online backup API (``Connection.backup``), in
  both directions; never a file copy, which could catch a half-written page.
- PostgreSQL: ``pg_dump --format=custom``, restored with ``pg_restore --clean
  --if-exists --no-owner --single-transaction``. The password goes to the
  pg_dump/pg_restore child through its ``PGPASSWORD`` environment only: never
  on a command line, never in any output.

Files change hands between root and the app's user (who runs the child, and
is the attacker of the threat model) through work directories under the
deploy root, and root never acts through a path that user can change:

- Backup: the child writes into a work directory of its user's (made by root
  with an unpredictable name). Root then opens the file relative to that
  directory's descriptor, without following links and without blocking (a
  FIFO), refuses anything but a regular file of that user's with one link,
  and copies exactly the size it had then into a new file it creates
  (exclusive, no-follow, 0600) in the backup directory, flushed with the
  directory. The app user's inode never enters root's directory, so a
  descriptor kept open on it changes nothing of the backup.
- Restore: root makes the work directory (its own, mode 0711: the app user
  reaches a file there by name but cannot create or replace one), creates the
  copy in it (exclusive, no-follow), writes, hands it over with fchown and
  flushes it through the descriptor, then runs the child.
- The backup directory (root's, mode 0700) is opened without following links
  and refused, with the fix, when it is not a directory of root's in a parent
  that only root can write (one of root's with another mode is set to 0700).
"""

from __future__ import annotations

import errno
import os
import pwd
import re
import stat
import tempfile

from ansible_collections.simpledeploy.django.plugins.module_utils import _fsio, _migrate
from ansible_collections.simpledeploy.django.plugins.module_utils._django import (
    DjangoError,
    current_user,
    error_text,
    Warm,
    run_in_django,
    start_error,
)
from ansible_collections.simpledeploy.django.plugins.module_utils._errors import StepError

VENDORS = ('sqlite', 'postgresql')
SUFFIXES = {'sqlite': '.sqlite3', 'postgresql': '.dump'}
WORKDIR_PREFIX = '.simpledeploy-backup-'
_NAME = re.compile(r'^(?P<release>.+)-(?P<stamp>\d{8}T\d{6}Z)(?:-(?P<n>\d+))?\.(?:sqlite3|dump)$')
_UNSAFE = re.compile(r'[^A-Za-z0-9._-]+')
# "Unapplying": a rollback's migrate back changes the schema too.
_APPLYING = re.compile(r'^\s*(?:Applying|Unapplying) ([^.\s]+)\.([^.\s]+)\.\.\.')


class BackupError(StepError):
    """A backup, a restore or a migration back failed; the message says which and why."""


def backup_name(release, vendor, when):
    """``<release>-<YYYYmmddTHHMMSSZ>.sqlite3|.dump`` for a backup taken at WHEN (a UTC datetime)."""
    label = _UNSAFE.sub('_', release or 'unknown').strip('.') or 'unknown'
    return '%s-%s%s' % (label, when.strftime('%Y%m%dT%H%M%SZ'), SUFFIXES[vendor])


def backups_to_prune(names, keep):
    """The backup file names among NAMES beyond the KEEP newest (by their timestamp), oldest first.

    Only names this module writes are considered; anything else is left alone.
    """
    ours = []
    for name in names:
        match = _NAME.match(name)
        if match:
            ours.append((match.group('stamp'), int(match.group('n') or 0), name))
    ours.sort()
    return [name for dummy, dummy2, name in ours[:max(0, len(ours) - max(0, keep))]]


def prune_backups(directory, keep):
    """Remove the backups in DIRECTORY beyond the KEEP newest; returns the removed names."""
    try:
        names = os.listdir(directory)
    except OSError:
        return []
    removed = []
    for name in backups_to_prune(names, keep):
        path = os.path.join(directory, name)
        if os.path.isfile(path) and not os.path.islink(path):
            os.unlink(path)
            removed.append(name)
    return removed


def touched_apps(migrate_lines):
    """Apps, in order, whose migrations ``manage.py migrate`` began to apply or unapply (its "Applying" and
    "Unapplying" lines)."""
    apps = []
    for line in migrate_lines or ():
        match = _APPLYING.match(line)
        if match and match.group(1) not in apps:
            apps.append(match.group(1))
    return apps


def reverse_targets(applied_leaves, apps):
    """``[(app, target)]`` that ``manage.py migrate`` takes back to APPLIED_LEAVES, last app first.

    APPLIED_LEAVES is the per-app applied leaf migrations read before the
    deploy (``[{app, name}]``); an app without one goes back to ``zero``.
    Raises ValueError when an app had more than one leaf (unmerged branches:
    no single target says where it was).
    """
    leaves = {}
    for leaf in applied_leaves or ():
        leaves.setdefault(leaf['app'], []).append(leaf['name'])
    targets = []
    for app in reversed(list(apps)):
        names = leaves.get(app, [])
        if len(names) > 1:
            raise ValueError('the app %s had %d applied leaf migrations (%s): no single target to migrate back to'
                             % (app, len(names), ', '.join(sorted(names))))
        targets.append((app, names[0] if names else 'zero'))
    return targets


def schema_rollback(db, project, virtualenv, migrate_lines, backup, params, said, restore=True):
    """Take the schema back to where it was before migrate; returns the entries restored.

    Migrates each app the deploy's migrations touched (MIGRATE_LINES) back to
    its leaf in params['applied_leaves'] unless params['reversible'] is
    false; restores BACKUP when that is not possible or fails, unless RESTORE
    is false (an expand: writes went on after the backup). What happened
    goes into SAID['schema'] for the message.
    """
    apps = touched_apps(migrate_lines)
    if not apps:
        said['schema'] = 'unchanged (no migration was applied)'
        return []
    if params['reversible'] is False:
        why = 'not reversible'
    elif params['applied_leaves'] is None:
        why = 'no applied_leaves to migrate back to'
    else:
        try:
            targets = reverse_targets(params['applied_leaves'], apps)
            for app, target in targets:
                db.migrate_to(project, virtualenv, app, target)
            said['schema'] = 'migrated back %s' % ', '.join('%s to %s' % pair for pair in targets)
            return ['schema: ' + said['schema']]
        except (ValueError, BackupError) as exc:
            why = 'migrating back failed: %s' % exc
    if not restore:
        said['schema'] = ('NOT migrated back (%s): as migrate left it, which the old release runs with; the backup '
                          'is not restored after an expand (writes went on since it was taken)' % why)
        return []
    if not backup:
        said['schema'] = 'NOT restored (%s, and no backup was taken%s): as migrate left it' % (
            why, '' if params['backup'] else ', backup is false')
        return []
    try:
        db.restore(project, virtualenv, backup)
    except BackupError as exc:
        said['schema'] = 'NOT restored (%s; restoring %s failed: %s)' % (why, backup, exc)
        return []
    said['schema'] = 'restored from backup %s (%s)' % (backup, why)
    return ['schema: ' + said['schema']]


def stale_workdirs(root):
    """Work directories left by a killed run under ROOT."""
    try:
        names = os.listdir(root)
    except OSError:
        return []
    return sorted(os.path.join(root, name) for name in names if name.startswith(WORKDIR_PREFIX))


_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
# A file root reads in a directory another user can write: never a link, never a wait on a FIFO.
_READ_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
# A file root creates: a new inode, never an entry someone put there first.
_CREATE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
_CHUNK = 1024 * 1024
_KINDS = ((stat.S_ISLNK, 'a symbolic link'), (stat.S_ISDIR, 'a directory'), (stat.S_ISREG, 'a regular file'),
          (stat.S_ISFIFO, 'a FIFO'), (stat.S_ISSOCK, 'a socket'), (stat.S_ISCHR, 'a character device'),
          (stat.S_ISBLK, 'a block device'))


def _kind(mode):
    """What a file of MODE is, in words."""
    for test, word in _KINDS:
        if test(mode):
            return word
    return 'a special file'


def _found(name, dir_fd=None):
    """What NAME (in DIR_FD) is, without following it: 'a symbolic link', 'missing', ..."""
    try:
        return _kind(os.lstat(name, dir_fd=dir_fd).st_mode)
    except FileNotFoundError:
        return 'missing'
    except OSError as exc:
        return 'unreadable (%s)' % exc.strerror


def _user(uid):
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return 'uid %d' % uid


def _open_dir(path, what, dir_fd=None, name=None, fix='it is made by this module: remove what is there'):
    """A descriptor on the directory PATH (NAME in DIR_FD when given); its last component is never followed."""
    try:
        return os.open(name or path, _DIR_FLAGS, dir_fd=dir_fd)
    except OSError as exc:
        if exc.errno in (errno.ELOOP, errno.ENOTDIR):
            raise BackupError('%s %s is %s, not a directory (links are not followed): %s'
                              % (what, path, _found(name or path, dir_fd), fix))
        raise BackupError('could not open %s %s: %s' % (what, path, exc.strerror))


def _copy_exactly(source, target, size, what):
    """Copy SIZE bytes from descriptor SOURCE to descriptor TARGET; no more, even if SOURCE grows.

    Raises BackupError when SOURCE ends before SIZE (it shrank meanwhile).
    """
    left = size
    while left:
        chunk = os.read(source, min(_CHUNK, left))
        if not chunk:
            raise BackupError('%s shrank while it was copied (%d of %d bytes read): nothing was kept'
                              % (what, size - left, size))
        view = memoryview(chunk)
        while view:
            view = view[os.write(target, view):]
        left -= len(chunk)


def _create_in(dir_fd, directory, name):
    """(descriptor, name) of a new file, mode 0600, NAME in DIR_FD or NAME-<n> when it is taken."""
    base, ext = os.path.splitext(name)
    candidate, count = name, 0
    while True:
        try:
            return os.open(candidate, _CREATE_FLAGS, 0o600, dir_fd=dir_fd), candidate
        except FileExistsError:
            count += 1
            candidate = '%s-%d%s' % (base, count, ext)
        except OSError as exc:
            raise BackupError('could not create %s: %s' % (os.path.join(directory, candidate), exc.strerror))


def _backup_dir_fd(path):
    """A descriptor on the backup directory PATH, made when missing (root's, mode 0700).

    Never follows PATH when it is a link. Refuses (BackupError, with the fix)
    a PATH that is a link or not a directory, a directory that is not root's
    (this process's user's when not root), or one in a directory another user
    can write (who could replace it between two runs). A directory of root's
    with another mode is set to 0700 through its descriptor.
    """
    path = os.path.abspath(path)
    parent, name = os.path.split(path)
    me = os.geteuid()
    try:
        if not os.path.isdir(parent):
            os.makedirs(parent, 0o755)
        parent_fd = os.open(parent, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError as exc:
        raise BackupError('could not make the parent %s of the backup directory %s: %s' % (parent, path, exc.strerror))
    try:
        info = os.fstat(parent_fd)
        if info.st_uid != me or info.st_mode & 0o022:
            raise BackupError('the backup directory %s is in %s, which %s (owner %s, mode %04o): keep backups in a '
                              'directory only %s can write (chown %s %s; chmod go-w %s), or set backup_dir elsewhere'
                              % (path, parent, 'other users can write' if info.st_mode & 0o022 else
                                 'is not owned by %s' % _user(me), _user(info.st_uid), stat.S_IMODE(info.st_mode),
                                 _user(me), _user(me), parent, parent))
        try:
            os.mkdir(name, 0o700, dir_fd=parent_fd)
            made = True
        except FileExistsError:
            made = False
        except OSError as exc:
            raise BackupError('could not make the backup directory %s: %s' % (path, exc.strerror))
        fd = _open_dir(path, 'the backup directory', parent_fd, name,
                       fix='set backup_dir to a real directory (where a link points), or remove %s and let the next '
                       'run make it' % path)
        try:
            if made and me == 0:
                os.fchown(fd, 0, 0)
            info = os.fstat(fd)
            if info.st_uid != me:
                raise BackupError('the backup directory %s is owned by %s; it must be %s\'s, mode 0700 (another '
                                  'user could read or replace the backups): chown %s %s && chmod 0700 %s, or remove '
                                  'it and let the next run make it' % (path, _user(info.st_uid), _user(me), _user(me),
                                                                       path, path))
            if stat.S_IMODE(info.st_mode) != 0o700:
                # ours, held by its descriptor, in a parent only we can write: safe to set
                os.fchmod(fd, 0o700)
        except BaseException:
            os.close(fd)
            raise
        return fd
    finally:
        os.close(parent_fd)


def ensure_backup_dir(path):
    """Make PATH (and its parents) for backups, root's, mode 0700, or check the existing one is root's.

    Raises BackupError, naming PATH and the fix, when it is a link, not a
    directory, not root's, or in a directory others can write; an existing
    directory of root's is set to mode 0700.
    """
    os.close(_backup_dir_fd(path))


def _remove_quietly(path):
    """Remove a work directory the app user could write, never through a link or a FIFO (best effort:
    a killed run's leftovers are removed by the next run)."""
    try:
        _fsio.remove_tree(path)
    except (OSError, RecursionError):
        pass


class Database(object):
    """The project's database, reached through its own settings by the database job (``in_django/database.py``).

    Every child runs as RUN_AS with ENV_FILE and SETTINGS, like migrate.
    """

    def __init__(self, module, root, settings=None, env_file=None, run_as=None, alias='default',
                 table_lock_timeout=_migrate.DEFAULT_TABLE_LOCK_TIMEOUT, retry_budget=_migrate.DEFAULT_RETRY_BUDGET):
        self.module = module
        # migrate_to's lock_timeout and retry budget (PostgreSQL), as the forward migrate's.
        self.table_lock_timeout, self.retry_budget = table_lock_timeout, retry_budget
        self.root = root
        self.settings = settings
        self.env_file = env_file
        self.run_as = run_as
        self.alias = alias

    def _run(self, project, virtualenv, mode, path=None, warm=None):
        """The database job in MODE (probe, backup, restore); returns its result, raises BackupError. WARM: the
        job's child started already (start_backup), told to go with PATH."""
        params = {'mode': mode, 'database': self.alias, 'path': path or ''}
        try:
            if warm is not None:
                child = warm.go({'path': path or ''})
            else:
                child = run_in_django(self.module, project, virtualenv, 'database', params, settings=self.settings,
                                      env_file=self.env_file, run_as=self.run_as)
        except DjangoError as exc:
            raise BackupError(str(exc))
        if child.result is not None:
            return child.result
        raise BackupError(start_error(child, self.module.no_log_values)
                          or '%s: %s' % (child.error.get('stage'), error_text(child.error)))

    def probe(self, project, virtualenv, restore=False):
        """Before the stop: (vendor facts, None) when a backup can be taken, (facts, why not) otherwise."""
        try:
            found = self._run(project, virtualenv, 'probe')
        except BackupError as exc:
            return {}, 'could not read the database settings of %r: %s' % (self.alias, exc)
        vendor = found.get('vendor')
        if vendor not in VENDORS:
            return found, ('the database %r is %s: backups support SQLite and PostgreSQL only'
                           % (self.alias, vendor))
        if vendor == 'postgresql':
            tools = found.get('tools') or {}
            missing = [name for name in ('pg_dump', 'pg_restore') if not tools.get(name)
                       and (name == 'pg_dump' or restore)]
            if missing:
                return found, ('%s not found on the PATH of %s for the PostgreSQL database %r: install the '
                               'PostgreSQL client (postgresql-client)'
                               % (' and '.join(missing), self.run_as or current_user(), self.alias))
        return found, None

    def _child_ids(self):
        """(uid, gid) the children run as."""
        if self.run_as and self.run_as != current_user():
            entry = pwd.getpwnam(self.run_as)
            return entry.pw_uid, entry.pw_gid
        return os.geteuid(), os.getegid()

    def _workdir(self, child_writes):
        """A new directory under the deploy root, with an unpredictable name, ready for the child.

        CHILD_WRITES (a backup): the child's user owns it, mode 0700. Else (a
        restore) it stays root's, mode 0711: the child reaches the file root
        puts there by its name, and can neither create nor replace an entry.
        Set up through its descriptor; the path itself is an entry of the
        deploy root, which only root can change.
        """
        path = tempfile.mkdtemp(prefix=WORKDIR_PREFIX, dir=self.root)
        try:
            fd = _open_dir(path, 'the work directory')
            try:
                if child_writes:
                    uid, gid = self._child_ids()
                    if uid != os.geteuid():
                        os.fchown(fd, uid, gid)
                else:
                    os.fchmod(fd, 0o711)
            finally:
                os.close(fd)
        except BaseException:
            _remove_quietly(path)
            raise
        return path

    def _open_produced(self, work, name):
        """A read descriptor and the size of the file the backup child left as WORK/NAME, checked.

        Opened relative to the work directory's descriptor, never following a
        link nor waiting on a FIFO; refused unless it is a regular file of the
        child's user with one link (not a hard link to someone else's file).
        """
        partial = os.path.join(work, name)
        how = ('refused, nothing was copied (the work directory is writable by %s: something running as that '
               'user replaced the file)' % (self.run_as or current_user()))
        work_fd = _open_dir(work, 'the work directory')
        try:
            try:
                fd = os.open(name, _READ_FLAGS, dir_fd=work_fd)
            except OSError as exc:
                raise BackupError('the backup child did not leave a regular file at %s but %s (%s): %s'
                                  % (partial, _found(name, work_fd), exc.strerror, how))
        finally:
            os.close(work_fd)
        try:
            info = os.fstat(fd)
            uid = self._child_ids()[0]
            if not stat.S_ISREG(info.st_mode):
                raise BackupError('the backup child did not leave a regular file at %s but %s: %s'
                                  % (partial, _kind(info.st_mode), how))
            if info.st_uid != uid or info.st_nlink != 1:
                raise BackupError('the backup file %s is owned by %s with %d links, not by %s with one: %s'
                                  % (partial, _user(info.st_uid), info.st_nlink, _user(uid), how))
        except BaseException:
            os.close(fd)
            raise
        return fd, info.st_size

    def start_backup(self, project, virtualenv):
        """The backup job's child, started now in PROJECT with VIRTUALENV and waiting with Django loaded (a
        _django.Warm): backup(warm=...) then costs the dump only. Cancel it when it is not used."""
        return Warm(self.module, project, virtualenv, 'database', {'mode': 'backup', 'database': self.alias},
                    settings=self.settings, env_file=self.env_file, run_as=self.run_as)

    def backup(self, project, virtualenv, vendor, directory, name, warm=None):
        """Back the database up into DIRECTORY/NAME (root's, 0600); returns its path, or None when
        there is no database yet (a SQLite file not created yet).

        The child writes WORK/NAME as the app's user; root copies exactly the
        size that file had once the child was done into a new file of its own
        (NAME-<n> when NAME is taken), flushed with the directory. The copy is
        what is kept, never the app user's inode: what that user does to its
        file afterwards (writes through a descriptor it kept, grows it) does not
        reach the backup.
        """
        dir_fd = _backup_dir_fd(directory)
        try:
            work = self._workdir(child_writes=True)
            try:
                found = self._run(project, virtualenv, 'backup', os.path.join(work, name), warm=warm)
                if not found.get('exists'):
                    return None
                source, size = self._open_produced(work, name)
                try:
                    target_fd, target = _create_in(dir_fd, directory, name)
                    try:
                        if os.geteuid() == 0:
                            os.fchown(target_fd, 0, 0)
                        os.fchmod(target_fd, 0o600)
                        _copy_exactly(source, target_fd, size, os.path.join(work, name))
                        os.fsync(target_fd)
                    except BaseException as exc:
                        os.close(target_fd)
                        os.unlink(target, dir_fd=dir_fd)
                        if isinstance(exc, OSError):
                            raise BackupError('could not write the backup %s: %s'
                                              % (os.path.join(directory, target), exc.strerror))
                        raise
                    os.close(target_fd)
                    os.fsync(dir_fd)
                finally:
                    os.close(source)
                return os.path.join(directory, target)
            finally:
                _remove_quietly(work)
        finally:
            os.close(dir_fd)

    def restore(self, project, virtualenv, path):
        """Put the backup PATH back into the live database (the service must be stopped).

        Root copies PATH (its own file, never followed) into a new file it
        creates in a work directory of its own, hands the copy to the child's
        user through the descriptor, then runs the child on it.
        """
        name = os.path.basename(path)
        try:
            source = os.open(path, _READ_FLAGS)
        except OSError as exc:
            raise BackupError('could not open the backup %s (%s): %s' % (path, _found(path), exc.strerror))
        try:
            info = os.fstat(source)
            if not stat.S_ISREG(info.st_mode) or info.st_uid != os.geteuid():
                raise BackupError('the backup %s is %s of %s: a backup is a regular file of %s\'s; not restored'
                                  % (path, _kind(info.st_mode), _user(info.st_uid), _user(os.geteuid())))
            work = self._workdir(child_writes=False)
            try:
                work_fd = _open_dir(work, 'the work directory')
                try:
                    copy_fd = os.open(name, _CREATE_FLAGS, 0o600, dir_fd=work_fd)
                    try:
                        _copy_exactly(source, copy_fd, info.st_size, path)
                        uid, gid = self._child_ids()
                        if uid != os.geteuid():
                            os.fchown(copy_fd, uid, gid)
                        os.fsync(copy_fd)
                    finally:
                        os.close(copy_fd)
                except OSError as exc:
                    raise BackupError('could not copy the backup %s into %s: %s' % (path, work, exc.strerror))
                finally:
                    os.close(work_fd)
                return self._run(project, virtualenv, 'restore', os.path.join(work, name))
            finally:
                _remove_quietly(work)
        finally:
            os.close(source)

    def migrate_to(self, project, virtualenv, app, target):
        """``manage.py migrate APP TARGET``: unapply what came after TARGET (under the migrate lock)."""
        try:
            lines, _info = _migrate.migrate(self.module, project, virtualenv, [app, target], settings=self.settings,
                                            env_file=self.env_file, run_as=self.run_as, alias=self.alias,
                                            table_lock_timeout=self.table_lock_timeout,
                                            retry_budget=self.retry_budget)
        except _migrate.MigrateError as exc:
            raise BackupError(str(exc))
        return '\n'.join(lines)
