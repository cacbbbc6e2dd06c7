# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Backups and schema rollback: the pure parts, and the Django child on a real project."""

from __future__ import annotations

import contextlib
import datetime
import errno
import os
import pwd
import shutil
import signal
import sqlite3
import tempfile

import pytest

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.simpledeploy.django.plugins.module_utils import _backup

try:
    from ansible.module_utils.testing import patch_module_args
except ImportError:  # ansible-core < 2.19
    patch_module_args = None


@pytest.mark.parametrize('release, vendor, expected', [
    ('3f2a9c0d1e4b5a67', 'sqlite', '3f2a9c0d1e4b5a67-20261124T101500Z.sqlite3'),
    ('v2', 'postgresql', 'v2-20261124T101500Z.dump'),
    ('../etc/x y', 'sqlite', '_etc_x_y-20261124T101500Z.sqlite3'),
    (None, 'sqlite', 'unknown-20261124T101500Z.sqlite3'),
])
def test_backup_name(release, vendor, expected):
    when = datetime.datetime(2026, 11, 24, 10, 15, 0, tzinfo=datetime.timezone.utc)
    assert _backup.backup_name(release, vendor, when) == expected


def test_backups_to_prune_keeps_the_newest_by_their_timestamp_and_ignores_other_files():
    names = ['b-20260103T000000Z.dump', 'a-20260101T000000Z.sqlite3', 'z-20260102T000000Z.sqlite3',
             'a-20260103T000000Z-1.dump', 'notes.txt', 'x-2026.sqlite3']
    assert _backup.backups_to_prune(names, 2) == ['a-20260101T000000Z.sqlite3', 'z-20260102T000000Z.sqlite3']
    assert _backup.backups_to_prune(names, 10) == []
    assert len(_backup.backups_to_prune(names, 0)) == 4


def test_prune_backups_removes_only_old_backup_files(tmp_path):
    for name in ('r-20260101T000000Z.sqlite3', 'r-20260102T000000Z.sqlite3', 'keep.txt'):
        (tmp_path / name).write_text('')
    assert _backup.prune_backups(str(tmp_path), 1) == ['r-20260101T000000Z.sqlite3']
    assert sorted(os.listdir(str(tmp_path))) == ['keep.txt', 'r-20260102T000000Z.sqlite3']
    assert _backup.prune_backups(str(tmp_path / 'missing'), 1) == []


def test_touched_apps_reads_migrates_applying_lines_in_order():
    out = ['Operations to perform:', '  Apply all migrations: admin, people, shop', 'Running migrations:',
           '  Applying people.0002_person_weight... OK', '  Applying shop.0001_initial... OK',
           '  Applying people.0003_explode...', 'Traceback (most recent call last):']
    assert _backup.touched_apps(out) == ['people', 'shop']
    assert _backup.touched_apps([]) == []


def test_reverse_targets_go_back_to_each_apps_leaf_or_zero_last_app_first():
    leaves = [{'app': 'people', 'name': '0001_initial'}, {'app': 'auth', 'name': '0012_x'}]
    assert _backup.reverse_targets(leaves, ['people', 'shop']) == [('shop', 'zero'), ('people', '0001_initial')]
    assert _backup.reverse_targets([], ['people']) == [('people', 'zero')]
    with pytest.raises(ValueError, match='the app people had 2 applied leaf migrations'):
        _backup.reverse_targets(leaves + [{'app': 'people', 'name': '0002_branch'}], ['people'])


def test_ensure_backup_dir_creates_it_private(tmp_path):
    path = str(tmp_path / 'srv' / 'backups')
    _backup.ensure_backup_dir(path)
    assert os.stat(path).st_mode & 0o777 == 0o700
    _backup.ensure_backup_dir(path)  # an existing one that is right is kept
    assert os.stat(path).st_uid == os.geteuid()
    os.chmod(path, 0o755)
    _backup.ensure_backup_dir(path)  # one of ours with another mode is made private
    assert os.stat(path).st_mode & 0o777 == 0o700


def _planted_link(path, tmp_path):
    elsewhere = tmp_path / 'elsewhere'
    elsewhere.mkdir(mode=0o700)
    os.symlink(str(elsewhere), path)


def _nobodys_dir(path, tmp_path):
    os.mkdir(path, 0o700)
    entry = pwd.getpwnam('nobody')
    os.chown(path, entry.pw_uid, entry.pw_gid)


@pytest.mark.parametrize('plant, expected', [
    pytest.param(_planted_link, r'is a symbolic link, not a directory .*set backup_dir to a real directory', id='link'),
    pytest.param(_nobodys_dir, r'is owned by nobody; it must be .*chown .*chmod 0700 ', id='foreign-owner',
                 marks=pytest.mark.skipif(os.geteuid() != 0, reason='giving a directory away needs root')),
    pytest.param(lambda path, tmp: open(path, 'w').close(), r'is a regular file, not a directory', id='file'),
    pytest.param(lambda path, tmp: os.chmod(os.path.dirname(path), 0o777), r'other users can write .*chmod go-w ',
                 id='parent-writable'),
])
def test_ensure_backup_dir_refuses_what_it_did_not_make_without_following_it(tmp_path, plant, expected):
    root = tmp_path / 'srv'
    root.mkdir(mode=0o755)
    path = str(root / 'backups')
    plant(path, tmp_path)
    before = os.lstat(path) if os.path.lexists(path) else None
    with pytest.raises(_backup.BackupError, match=expected) as failed:
        _backup.ensure_backup_dir(path)
    assert path in str(failed.value)
    after = os.lstat(path) if os.path.lexists(path) else None
    assert (before and (before.st_mode, before.st_uid)) == (after and (after.st_mode, after.st_uid))


# ---------------------------------------------------------------------------
# Root and the app's user hand files over through work directories: the app
# user (nobody here, played by the attacker fixture) attacks the hand-off.

VICTIM = b'root owns this file; nobody may change it\n'


@pytest.fixture
def ansible_module():
    if patch_module_args is None:
        pytest.skip('needs ansible-core >= 2.19 (ansible.module_utils.testing)')
    with patch_module_args({}):
        yield AnsibleModule(argument_spec={}, supports_check_mode=True)


class App(object):
    """A deploy root of root's and the Person project whose database belongs to the app user (nobody)."""

    def __init__(self, base, venv, module, project, live):
        self.base, self.venv, self.project, self.live = base, venv, project, live
        self.root = os.path.join(base, 'deploy')
        os.mkdir(self.root, 0o755)
        self.backups = os.path.join(self.root, 'backups')
        env_file = os.path.join(self.root, 'app.env')
        with open(env_file, 'w', encoding='utf-8') as handle:
            handle.write('DJANGO_SECRET_KEY=%s\n' % ('k' * 40))
        os.chmod(env_file, 0o600)
        self.db = _backup.Database(module, self.root, env_file=env_file, run_as='nobody')
        self.victim = os.path.join(base, 'victim')
        with open(self.victim, 'wb') as handle:
            handle.write(VICTIM)
        os.chmod(self.victim, 0o600)

    def names(self):
        with contextlib.closing(sqlite3.connect(self.live)) as conn:
            return [row[0] for row in conn.execute('SELECT name FROM people_person ORDER BY id')]

    def backup(self, directory=None):
        return self.db.backup(self.project, self.venv.path, 'sqlite', directory or self.backups,
                              'v1-20261124T101500Z.sqlite3')


@pytest.fixture
def app(system_django_venv, world_readable_dir, migrated_database, copy_person, ansible_module, attacker):
    project = copy_person('v1', os.path.join(world_readable_dir, 'project'))
    with open(os.path.join(project, 'mysite', 'settings.py'), 'a', encoding='utf-8') as handle:
        # the children must run as the app's user, as in a deploy
        handle.write('\nimport pwd\nif pwd.getpwuid(os.geteuid()).pw_name != "nobody":\n'
                     '    raise ImproperlyConfigured("running as the wrong user")\n')
    live = os.path.join(project, 'db.sqlite3')
    with open(migrated_database(system_django_venv, 'v1'), 'rb') as src, open(live, 'wb') as dst:
        dst.write(src.read())
    with contextlib.closing(sqlite3.connect(live)) as conn:
        with conn:
            conn.execute("INSERT INTO people_person (name, height) VALUES ('Ada', 1.65), ('Grace', 1.7)")
    for path in (project, live):
        os.chown(path, attacker.uid, attacker.gid)
    return App(world_readable_dir, system_django_venv, ansible_module, project, live)


@contextlib.contextmanager
def deadline(seconds):
    """Fail instead of hanging (a FIFO root would wait on)."""
    def expired(signum, frame):
        raise AssertionError('still running after %d s: root is blocked' % seconds)
    previous = signal.signal(signal.SIGALRM, expired)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def after_child(monkeypatch, mode, action):
    """Call ACTION(path) right after the MODE child ran, before root takes its file over."""
    original = _backup.Database._run

    def run(self, project, virtualenv, mode_, path=None, warm=None):
        found = original(self, project, virtualenv, mode_, path, warm=warm)
        if mode_ == mode:
            action(path)
        return found

    monkeypatch.setattr(_backup.Database, '_run', run)


def plant_link(target, path):
    """As the app user: make PATH a link to TARGET, replacing what is there; returns what happened."""
    try:
        if os.path.lexists(path):
            os.unlink(path)
        os.symlink(target, path)
    except OSError as exc:
        return errno.errorcode[exc.errno]
    return 'planted'


def plant_fifo(path):
    os.unlink(path)
    os.mkfifo(path, 0o666)
    return 'planted'


def assert_victim_untouched(app):
    info = os.stat(app.victim)
    with open(app.victim, 'rb') as handle:
        assert handle.read() == VICTIM
    assert (info.st_uid, info.st_gid, info.st_mode & 0o777) == (0, 0, 0o600)


def test_a_restore_never_writes_through_a_link_the_app_user_planted_in_its_work_directory(app, attacker, monkeypatch):
    backup = app.backup()
    with contextlib.closing(sqlite3.connect(app.live)) as conn:
        with conn:
            conn.execute("DELETE FROM people_person")
    planted = []
    original = _backup.Database._workdir

    def workdir(self, *args, **kwargs):
        # the race made deterministic: the app user acts as soon as the work directory exists
        work = original(self, *args, **kwargs)
        planted.append(attacker.run(plant_link, app.victim, os.path.join(work, os.path.basename(backup))))
        return work

    monkeypatch.setattr(_backup.Database, '_workdir', workdir)
    try:
        app.db.restore(app.project, app.venv.path, backup)
        refused = None
    except _backup.BackupError as exc:
        refused = str(exc)
    assert_victim_untouched(app)
    assert planted == ['EACCES'] or refused, (planted, refused)
    if refused is None:
        assert app.names() == ['Ada', 'Grace']
    assert not _backup.stale_workdirs(app.root)


def other_filesystem(app):
    """A directory of root's on another filesystem than the deploy root (/dev/shm), or skip."""
    if not os.path.isdir('/dev/shm') or os.stat('/dev/shm').st_dev == os.stat(app.root).st_dev:
        pytest.skip('no tmpfs at /dev/shm on another filesystem than %s' % app.root)
    path = tempfile.mkdtemp(prefix='simpledeploy-test-', dir='/dev/shm')
    os.chmod(path, 0o755)
    return path


@pytest.fixture(params=['same-filesystem', 'other-filesystem'])
def backups(request, app):
    """The backup directory: in the deploy root, or on another filesystem (a separate /var/backups)."""
    if request.param == 'same-filesystem':
        yield app.backups
        return
    base = other_filesystem(app)
    yield os.path.join(base, 'backups')
    shutil.rmtree(base)


@pytest.mark.parametrize('swap', ['link', 'fifo'])
def test_root_refuses_what_the_app_user_swapped_in_for_the_backup_file(app, attacker, monkeypatch, backups, swap):
    planted = []
    if swap == 'link':
        after_child(monkeypatch, 'backup', lambda path: planted.append(attacker.run(plant_link, app.victim, path)))
        expected = r'did not leave a regular file at .*%s but a symbolic link'
    else:
        after_child(monkeypatch, 'backup', lambda path: planted.append(attacker.run(plant_fifo, path)))
        expected = r'did not leave a regular file at .*%s but a FIFO'
    with deadline(60), pytest.raises(_backup.BackupError, match=expected % 'v1-20261124T101500Z.sqlite3') as failed:
        app.backup(backups)
    assert planted == ['planted']
    assert 'nothing was copied' in str(failed.value)
    assert os.listdir(backups) == []
    assert_victim_untouched(app)
    assert not _backup.stale_workdirs(app.root)


def test_a_backup_is_a_copy_of_roots_own_with_the_content_the_child_wrote(app, monkeypatch, backups):
    seen = {}

    def record(path):
        info = os.lstat(path)
        with open(path, 'rb') as handle:
            seen.update(inode=(info.st_dev, info.st_ino), owner=info.st_uid, content=handle.read())

    after_child(monkeypatch, 'backup', record)
    target = app.backup(backups)
    assert target == os.path.join(backups, 'v1-20261124T101500Z.sqlite3')
    info = os.lstat(target)
    assert (info.st_uid, info.st_gid, info.st_mode) == (0, 0, 0o100600)
    assert seen['owner'] == pwd.getpwnam('nobody').pw_uid
    # a copy: the app user's inode never enters root's directory
    assert (info.st_dev, info.st_ino) != seen['inode']
    with open(target, 'rb') as handle:
        assert handle.read() == seen['content']
    with contextlib.closing(sqlite3.connect('file:%s?mode=ro' % target, uri=True)) as conn:
        assert [row[0] for row in conn.execute('SELECT name FROM people_person ORDER BY id')] == ['Ada', 'Grace']
    assert os.stat(backups).st_mode & 0o777 == 0o700
    assert not _backup.stale_workdirs(app.root)
    # a second backup in the same second gets a name of its own
    assert app.backup(backups) == os.path.join(backups, 'v1-20261124T101500Z-1.sqlite3')


def keep_writing(path, ready, go):
    """As the app user: hold PATH open, say so on READY, and once GO says so write through it."""
    fd = os.open(path, os.O_WRONLY)
    os.write(ready, b'r')
    os.read(go, 1)
    os.pwrite(fd, b'EVIL' * 1024, 0)
    os.write(fd, b'appended by the app user')
    os.fsync(fd)
    os.write(ready, b'd')
    return 'written'


def test_writes_through_a_descriptor_the_app_user_kept_do_not_reach_the_backup(app, attacker, monkeypatch):
    ready_r, ready_w = os.pipe()
    go_r, go_w = os.pipe()
    pids = []

    def hold(path):
        pids.append(attacker.start(keep_writing, path, ready_w, go_r))
        assert os.read(ready_r, 1) == b'r'

    after_child(monkeypatch, 'backup', hold)
    try:
        target = app.backup()
        with open(target, 'rb') as handle:
            before = handle.read()
        os.write(go_w, b'g')
        with deadline(30):
            assert os.read(ready_r, 1) == b'd'
        with open(target, 'rb') as handle:
            assert handle.read() == before
        assert b'EVIL' not in before
        with contextlib.closing(sqlite3.connect('file:%s?mode=ro' % target, uri=True)) as conn:
            assert conn.execute('PRAGMA quick_check').fetchone()[0] == 'ok'
    finally:
        for pid in pids:
            attacker.stop(pid)
        for fd in (ready_r, ready_w, go_r, go_w):
            os.close(fd)


def test_a_backup_round_trips_through_restore_as_the_app_user(app):
    target = app.backup()
    with contextlib.closing(sqlite3.connect(app.live)) as conn:
        with conn:
            conn.execute("DELETE FROM people_person")
    assert app.names() == []
    found = app.db.restore(app.project, app.venv.path, target)
    assert found['vendor'] == 'sqlite'
    assert app.names() == ['Ada', 'Grace']
    assert os.stat(app.live).st_uid == pwd.getpwnam('nobody').pw_uid
    assert not _backup.stale_workdirs(app.root)


def test_a_backup_started_ahead_waits_with_django_loaded_and_dumps_what_is_there_at_go(app):
    """start_backup's child (through runuser, as the app user) loads Django and waits; rows written after it
    started and before go are in the backup: the dump is taken at go, not at the start."""
    warm = app.db.start_backup(app.project, app.venv.path)
    assert warm.ready
    with contextlib.closing(sqlite3.connect(app.live)) as conn:
        with conn:
            conn.execute("INSERT INTO people_person (name, height) VALUES ('Katherine', 1.6)")
    target = app.db.backup(app.project, app.venv.path, 'sqlite', app.backups, 'v1-20261124T101500Z.sqlite3',
                           warm=warm)
    with contextlib.closing(sqlite3.connect(target)) as conn:
        assert [row[0] for row in conn.execute('SELECT name FROM people_person ORDER BY id')] == [
            'Ada', 'Grace', 'Katherine']
    assert not _backup.stale_workdirs(app.root)


def test_a_backup_started_ahead_and_cancelled_runs_nothing(app):
    warm = app.db.start_backup(app.project, app.venv.path)
    assert warm.ready
    child = warm.cancel()
    # The job never ran: the child reports the stage it stopped at, no result, and printed no dump's work.
    assert child.error['stage'] == 'cancelled' and child.result is None and child.rc != 0
    assert not _backup.stale_workdirs(app.root)


def test_a_backup_that_cannot_start_ahead_says_why(app):
    with open(os.path.join(app.project, 'mysite', 'settings.py'), 'a', encoding='utf-8') as handle:
        handle.write('\nraise ImproperlyConfigured("DATABASE_URL is not set")\n')
    warm = app.db.start_backup(app.project, app.venv.path)
    assert not warm.ready
    with pytest.raises(_backup.BackupError, match='DATABASE_URL is not set'):
        app.db.backup(app.project, app.venv.path, 'sqlite', app.backups, 'v1-20261124T101500Z.sqlite3', warm=warm)
