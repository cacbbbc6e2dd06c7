# -*- coding: utf-8 -*-
# Copyright: (c) 2026, simpledeploy developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""release_stage (and _stage under it) on real archives built by release_archive's own code: the tree is the
release, whole, marked and linked; a damaged or hostile archive changes nothing outside the tree and leaves no
tree; the preview's temporary directory; the archive sent is removed. The action plugin's transfer is proven
by the Molecule scenarios (every deploy stages through it)."""

from __future__ import annotations

import io
import json
import os
import shutil
import stat
import tarfile
import time

import pytest

from ansible_collections.simpledeploy.django.plugins.module_utils import _archive, _lock, _stage
from ansible_collections.simpledeploy.django.plugins.modules import release_stage


def write(path, text, mode=0o644):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, 'w', encoding='utf-8') as handle:
        handle.write(text)
    os.chmod(path, mode)


@pytest.fixture
def project(tmp_path):
    src = tmp_path / 'src'
    write(str(src / 'manage.py'), 'print("manage")\n', 0o755)
    write(str(src / 'mysite' / 'settings.py'), 'DEBUG = False\n')
    write(str(src / 'mysite' / '__pycache__' / 'settings.cpython-311.pyc'), 'stale')
    write(str(src / 'static' / 'site.css'), 'body {}\n')
    write(str(src / 'media' / '.keep'), '')
    os.symlink('static/site.css', str(src / 'site.css'))
    os.utime(str(src / 'mysite' / 'settings.py'), (1_700_000_000, 1_700_000_000))
    built = _archive.build_release(str(src), str(tmp_path / 'build'), keep_paths=['media'])
    return built


@pytest.fixture
def sent(project, tmp_path):
    """The archive where the action plugin puts it: a copy in an Ansible-like remote temporary directory."""
    tmpdir = tmp_path / 'ansible-tmp-1767261600.1-42-1234'
    tmpdir.mkdir()
    path = tmpdir / 'release.tar.gz'
    path.write_bytes(open(project['archive'], 'rb').read())
    return str(path)


def args(sent, dest, **extra):
    base = dict(archive=sent, sha256=_stage.file_sha256(sent), dest=dest, release='3f2a9c0d1e4b5a67',
                shared_dir='/srv/mysite/shared', shared_paths=['media'])
    base.update(extra)
    return base


def test_the_tree_is_the_release_marked_and_linked(sent, root_parent, run_module):
    dest = os.path.join(root_parent, 'staging')
    os.makedirs(os.path.join(dest, 'leftover'))
    result = run_module(release_stage, args(sent, dest))
    assert result['changed'] is True and result['replaced'] is True and result['preview'] == ''
    assert not os.path.exists(os.path.join(dest, 'leftover'))
    assert sorted(os.listdir(dest)) == ['.simpledeploy-release', 'manage.py', 'media', 'mysite', 'site.css', 'static']
    assert open(os.path.join(dest, '.simpledeploy-release')).read() == '3f2a9c0d1e4b5a67\n'
    assert os.readlink(os.path.join(dest, 'media')) == '/srv/mysite/shared/media'
    assert os.readlink(os.path.join(dest, 'site.css')) == 'static/site.css'
    assert not os.path.exists(os.path.join(dest, 'mysite', '__pycache__'))
    settings = os.lstat(os.path.join(dest, 'mysite', 'settings.py'))
    assert settings.st_mtime == 1_700_000_000 and stat.S_IMODE(settings.st_mode) == 0o644 and settings.st_uid == 0
    assert stat.S_IMODE(os.lstat(os.path.join(dest, 'manage.py')).st_mode) == 0o755
    assert stat.S_IMODE(os.lstat(dest).st_mode) == 0o755
    # The archive sent is gone, and its directory with it.
    assert not os.path.exists(sent) and not os.path.exists(os.path.dirname(sent))
    assert result['tmpdir_removed'] is True


def test_a_damaged_archive_changes_nothing(sent, root_parent, run_module):
    dest = os.path.join(root_parent, 'staging')
    os.makedirs(os.path.join(dest, 'kept'))
    with open(sent, 'r+b') as handle:
        handle.seek(40)
        handle.write(b'\0\0\0\0')
    result = run_module(release_stage, args(sent, dest, sha256=_stage.file_sha256(sent)[::-1]))
    assert result['failed'] is True and 'arrived damaged' in result['msg']
    assert os.path.isdir(os.path.join(dest, 'kept'))
    assert not os.path.exists(sent)


def hostile(path, members):
    with tarfile.open(path, 'w:gz') as tar:
        for name, kind, extra in members:
            info = tarfile.TarInfo(name)
            if kind == 'link':
                info.type, info.linkname = tarfile.SYMTYPE, extra
                tar.addfile(info)
            elif kind == 'hard':
                info.type, info.linkname = tarfile.LNKTYPE, extra
                tar.addfile(info)
            elif kind == 'fifo':
                info.type = tarfile.FIFOTYPE
                tar.addfile(info)
            else:
                data = extra.encode()
                info.size = len(data)
                info.mode = 0o4755
                tar.addfile(info, io.BytesIO(data))


@pytest.mark.parametrize('members, why', [
    ([('../escaped', 'file', 'x')], 'goes up'),
    ([('/etc/escaped', 'file', 'x')], 'absolute'),
    ([('out', 'link', '/'), ('out/escaped', 'file', 'x')], 'inside the symbolic link'),
    ([('hard', 'hard', '/etc/passwd')], 'neither a file'),
    ([('pipe', 'fifo', '')], 'neither a file'),
])
def test_a_hostile_archive_writes_nothing_outside_and_leaves_no_tree(tmp_path, root_parent, members, why):
    archive = str(tmp_path / 'evil.tar.gz')
    hostile(archive, [('ok.py', 'file', 'x = 1\n')] + members)
    dest = os.path.join(root_parent, 'staging')
    with pytest.raises(_stage.StageError, match=why):
        _stage.stage(archive, dest, 'r1', [])
    assert not os.path.exists(dest)
    assert not os.path.exists(os.path.join(root_parent, 'escaped')) and not os.path.exists('/escaped')
    assert not os.path.exists('/etc/escaped')


def test_no_set_id_bit_survives(tmp_path, root_parent):
    archive = str(tmp_path / 'suid.tar.gz')
    hostile(archive, [('tool', 'file', '#!/bin/sh\n')])
    dest = os.path.join(root_parent, 'staging')
    _stage.stage(archive, dest, 'r1', [])
    assert stat.S_IMODE(os.lstat(os.path.join(dest, 'tool')).st_mode) == 0o755


def test_a_parent_another_user_can_write_is_refused(sent, tmp_path, run_module):
    parent = tmp_path / 'open'
    parent.mkdir()
    os.chmod(str(parent), 0o777)
    result = run_module(release_stage, args(sent, str(parent / 'staging')))
    assert result['failed'] is True and "only root can" in result['msg']
    assert not os.path.exists(str(parent / 'staging'))


def test_a_shared_path_the_release_ships_with_content_is_refused(tmp_path, root_parent):
    archive = str(tmp_path / 'media.tar.gz')
    with tarfile.open(archive, 'w:gz') as tar:
        info = tarfile.TarInfo('media')
        info.type = tarfile.DIRTYPE
        info.mode = 0o755
        tar.addfile(info)
        info = tarfile.TarInfo('media/logo.png')
        info.size = 3
        tar.addfile(info, io.BytesIO(b'png'))
    dest = os.path.join(root_parent, 'staging')
    with pytest.raises(_stage.StageError, match='ships media with content'):
        _stage.stage(archive, dest, 'r1', [dict(path='media', target='/srv/x/shared/media')])
    assert not os.path.exists(dest)


def test_without_dest_a_preview_directory_of_its_own(sent, run_module):
    result = run_module(release_stage, args(sent, None))
    try:
        assert os.path.basename(result['preview']).startswith('simpledeploy-preview-')
        assert result['dest'] == os.path.join(result['preview'], 'tree')
        assert os.path.isfile(os.path.join(result['dest'], 'manage.py'))
        assert stat.S_IMODE(os.lstat(result['preview']).st_mode) == 0o755
    finally:
        shutil.rmtree(result['preview'], ignore_errors=True)


# ------------------------------------------------------------------ the deploy lock, taken first (lock)

REQUEST = dict(run_id='laptop-81234-1767261600', owner='alice@laptop', controller_host='laptop',
               controller_pid=81234, controller_pid_started=1767261600.5)


def other_run(age=60):
    """The lock another, live run took AGE seconds ago."""
    since = int(time.time()) - age
    return dict(owner='bob@ci', run_id='ci-4242-%d' % since, controller_host='ci', controller_pid=4242,
                since=_lock.iso_utc(since), since_epoch=since)


@pytest.fixture
def lock_file(tmp_path):
    directory = tmp_path / 'run' / 'simpledeploy'
    directory.mkdir(parents=True, mode=0o700)
    return directory / 'mysite.lock'


def test_the_lock_is_taken_before_the_stage_in_the_same_execution(sent, root_parent, run_module, lock_file):
    dest = os.path.join(root_parent, 'staging')
    result = run_module(release_stage, args(sent, dest, lock=str(lock_file), lock_request=REQUEST))
    assert not result.get('failed'), result
    assert result['deploy_lock']['action'] == _lock.ACQUIRE
    assert result['deploy_lock']['lock']['run_id'] == REQUEST['run_id']
    assert json.loads(lock_file.read_text())['run_id'] == REQUEST['run_id']
    assert os.path.isfile(os.path.join(dest, 'manage.py'))


def test_another_live_runs_lock_stops_it_before_anything_changes(sent, root_parent, run_module, lock_file):
    # The other run is mid-deploy: its staging tree, its lock, untouched; the archive stays for a retry.
    dest = os.path.join(root_parent, 'staging')
    os.makedirs(os.path.join(dest, 'theirs'))
    planted = other_run()
    lock_file.write_text(json.dumps(planted) + '\n')
    before = lock_file.read_bytes()
    result = run_module(release_stage, args(sent, dest, lock=str(lock_file), lock_request=REQUEST))
    assert result['failed'] is True and result['lock_refused'] is True and result['would_wait'] is True
    assert result['held_by']['owner'] == 'bob@ci' and 'bob@ci' in result['msg']
    assert result['deploy_lock'] is None
    assert lock_file.read_bytes() == before
    assert os.listdir(dest) == ['theirs']
    assert os.path.isfile(sent)
    # A run known to be gone (the action's verdict on its controller): taken over, and staged.
    taken = run_module(release_stage, args(sent, dest, lock=str(lock_file), lock_request=REQUEST,
                                           lock_takeover_run_ids=[planted['run_id']]))
    assert not taken.get('failed'), taken
    assert taken['deploy_lock']['action'] == _lock.TAKE_OVER and not os.path.exists(os.path.join(dest, 'theirs'))


def test_a_stage_that_fails_after_taking_the_lock_says_it_holds_it(sent, root_parent, run_module, lock_file):
    # The role's rescue and unlock act on the lock this run holds (vars/main.yml __deploy_lock_held).
    dest = os.path.join(root_parent, 'staging')
    result = run_module(release_stage, args(sent, dest, sha256='0' * 64, lock=str(lock_file), lock_request=REQUEST))
    assert result['failed'] is True and 'arrived damaged' in result['msg']
    assert result['deploy_lock']['lock']['run_id'] == REQUEST['run_id']
    assert json.loads(lock_file.read_text())['run_id'] == REQUEST['run_id']


def test_a_preview_takes_no_lock(sent, run_module, lock_file):
    result = run_module(release_stage, dict(args(sent, None), lock=str(lock_file), lock_request=REQUEST))
    assert result['failed'] is True and result['msg'].startswith('lock goes with dest')
    assert not lock_file.exists()
