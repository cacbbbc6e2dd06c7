# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The build user's virtualenv handed over to root: real files, a real build user, real processes.

The build user is played by a user ID of its own that no account and no process has (not ``nobody``:
the hand-off kills every process of the build user, and other tests run as ``nobody`` meanwhile); it
acts through the ``attacker`` fixture's machinery, a forked child that drops to that user.
"""

from __future__ import annotations

import os
import signal
import stat
import time

import pytest

from ansible_collections.simpledeploy.django.plugins.module_utils import _handoff, _proc
from ansible_collections.simpledeploy.django.tests.unit.conftest import claimed_uid

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason='owners and other users need root')

KEY = '0123456789ab'


@pytest.fixture
def builder(attacker):
    """The build user: the attacker's machinery with a user ID nothing else uses."""
    with claimed_uid(61000, 62000) as uid:
        cls = type(attacker)
        player = cls.__new__(cls)
        player.name, player.uid, player.gid = 'build', uid, uid
        yield player
        _handoff.stop_processes(player.uid, player.gid)


@pytest.fixture
def venvs(root_parent):
    path = os.path.join(root_parent, 'venvs')
    os.mkdir(path, 0o755)
    return path


def owner_mode(path):
    info = os.lstat(path)
    return info.st_uid, stat.S_IMODE(info.st_mode)


def build(root, victims):
    """As the build user: what pip makes, plus links, setuid bits and writable modes."""
    os.makedirs(os.path.join(root, 'lib', 'site-packages', 'pkg'))
    os.makedirs(os.path.join(root, 'bin'))
    with open(os.path.join(root, 'lib', 'site-packages', 'pkg', '__init__.py'), 'w') as handle:
        handle.write('x = 1\n')
    os.symlink('/usr/bin/python3', os.path.join(root, 'bin', 'python'))
    os.symlink('python', os.path.join(root, 'bin', 'python3'))
    with open(os.path.join(root, 'bin', 'tool'), 'w') as handle:
        handle.write('#!%s/bin/python\n' % root)
    os.chmod(os.path.join(root, 'bin', 'tool'), 0o4777)
    os.chmod(os.path.join(root, 'lib', 'site-packages'), 0o2777)
    for name, victim in victims.items():
        os.symlink(victim, os.path.join(root, 'lib', name))
    with open(os.path.join(root, _handoff.VENV_READY), 'w') as handle:
        handle.write('forged\n')
    with open(os.path.join(root, _handoff.BUILD_HOME, 'cache'), 'w') as handle:
        handle.write('pip cache\n')
    return sorted(os.listdir(root))


@pytest.fixture
def victims(root_parent):
    """Files and a directory outside the tree that root must never change."""
    made = {}
    for name, uid, mode in (('root-file', 0, 0o666), ('app-file', 4242, 0o600)):
        path = os.path.join(root_parent, name)
        with open(path, 'w') as handle:
            handle.write('victim\n')
        os.chown(path, uid, uid)
        os.chmod(path, mode)
        made[name] = path
    path = os.path.join(root_parent, 'app-dir')
    os.mkdir(path)
    os.chown(path, 4242, 4242)
    os.chmod(path, 0o2777)
    made['app-dir'] = path
    return made


def test_prepare_makes_an_empty_directory_of_the_build_user_with_a_private_home(venvs, builder):
    path = os.path.join(venvs, KEY)
    result = _handoff.prepare(path, builder.uid, builder.gid)
    assert result['home'] == os.path.join(path, _handoff.BUILD_HOME) and not result['removed_leftover']
    assert owner_mode(path) == (builder.uid, 0o700)
    assert owner_mode(result['home']) == (builder.uid, 0o700)
    assert os.listdir(path) == [_handoff.BUILD_HOME]


def test_the_hand_off_lchowns_links_and_never_touches_their_targets(venvs, builder, victims):
    """A build that planted links to other users' files: the links become root's, the targets stay as they were."""
    path = os.path.join(venvs, KEY)
    _handoff.prepare(path, builder.uid, builder.gid)
    before = dict((name, owner_mode(victim)) for name, victim in victims.items())
    builder.run(build, path, victims)
    result = _handoff.hand_over(path, builder.uid, builder.gid, KEY)
    assert dict((name, owner_mode(victim)) for name, victim in victims.items()) == before
    for name in victims:
        link = os.path.join(path, 'lib', name)
        assert os.path.islink(link) and os.lstat(link).st_uid == 0
    assert os.lstat(os.path.join(path, 'bin', 'python')).st_uid == 0
    assert os.readlink(os.path.join(path, 'bin', 'python')) == '/usr/bin/python3'
    for root, dirs, files in os.walk(path):
        for name in dirs + files:
            info = os.lstat(os.path.join(root, name))
            assert info.st_uid == 0 and info.st_gid == 0, os.path.join(root, name)
            if not stat.S_ISLNK(info.st_mode):
                assert stat.S_IMODE(info.st_mode) & 0o7022 == 0, os.path.join(root, name)
    assert owner_mode(path) == (0, 0o755)
    assert owner_mode(os.path.join(path, 'bin', 'tool')) == (0, 0o755)
    assert owner_mode(os.path.join(path, 'lib', 'site-packages')) == (0, 0o755)
    assert result['owner_changed'] == result['entries'] and result['mode_changed'] == 2
    assert sorted(result['removed']) == sorted([_handoff.BUILD_HOME, _handoff.VENV_READY])
    assert not os.path.exists(os.path.join(path, _handoff.BUILD_HOME))


def test_a_naive_hand_off_by_path_would_change_the_victims(venvs, builder, victims):
    """The attack is real: chown/chmod by path (os.walk, links followed) hands the victims to root."""
    path = os.path.join(venvs, KEY)
    _handoff.prepare(path, builder.uid, builder.gid)
    builder.run(build, path, victims)
    for root, dirs, files in os.walk(path):
        for name in dirs + files:
            target = os.path.join(root, name)
            if os.path.exists(target):
                os.chown(target, 0, 0)
                os.chmod(target, stat.S_IMODE(os.stat(target).st_mode) & 0o755)
    assert owner_mode(victims['app-file'])[0] == 0
    assert owner_mode(victims['root-file'])[1] == 0o644


def hold_a_file_open(path, ready):
    handle = open(os.path.join(path, 'lib', 'site-packages', 'pkg', '__init__.py'), 'a')
    with open(ready, 'w') as flag:
        flag.write('open\n')
    while True:
        handle.write('# still here\n')
        handle.flush()
        time.sleep(0.01)


def wait_for(path, timeout=10):
    deadline = time.monotonic() + timeout
    while not os.path.exists(path):
        assert time.monotonic() < deadline, 'the build user never got ready'
        time.sleep(0.01)


def test_a_process_of_the_build_user_holding_a_file_open_is_killed_first(venvs, builder, victims):
    path = os.path.join(venvs, KEY)
    _handoff.prepare(path, builder.uid, builder.gid)
    builder.run(build, path, victims)
    ready = os.path.join(path, _handoff.BUILD_HOME, 'ready')
    pid = builder.start(hold_a_file_open, path, ready)
    try:
        wait_for(ready)
        result = _handoff.hand_over(path, builder.uid, builder.gid, KEY)
        assert pid in result['killed']
        done, status = os.waitpid(pid, os.WNOHANG)
        assert done == pid and os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL
        assert _proc.processes_of(builder.uid) == []
        module = os.path.join(path, 'lib', 'site-packages', 'pkg', '__init__.py')
        size = os.path.getsize(module)
        time.sleep(0.1)
        assert os.path.getsize(module) == size and os.lstat(module).st_uid == 0
    finally:
        try:
            builder.stop(pid)
        except ChildProcessError:
            pass


def test_a_hard_link_to_another_users_file_stops_the_hand_off_before_anything_changes(venvs, builder, victims):
    path = os.path.join(venvs, KEY)
    _handoff.prepare(path, builder.uid, builder.gid)
    builder.run(build, path, {})
    # What a build user can do where fs.protected_hardlinks is off: played by root here.
    os.link(victims['root-file'], os.path.join(path, 'lib', 'hard'))
    assert 'not by the build user' in _handoff.hand_over(path, builder.uid, builder.gid, KEY, check_mode=True)['problem']
    with pytest.raises(_handoff.HandoffError) as info:
        _handoff.hand_over(path, builder.uid, builder.gid, KEY)
    assert os.path.join(path, 'lib', 'hard') in info.value.msg and 'uid 0' in info.value.msg
    assert owner_mode(victims['root-file']) == (0, 0o666)
    assert owner_mode(path) == (builder.uid, 0o700)
    assert os.lstat(os.path.join(path, 'bin', 'tool')).st_uid == builder.uid
    assert os.path.exists(os.path.join(path, _handoff.BUILD_HOME))


def test_the_marker_the_build_planted_is_replaced_and_written_after_the_flush(venvs, builder):
    path = os.path.join(venvs, KEY)
    _handoff.prepare(path, builder.uid, builder.gid)
    builder.run(build, path, {})
    assert not _handoff.is_handed_over(path)  # the forged marker does not make it ready
    seen = []

    def sync():
        seen.append((os.path.exists(os.path.join(path, _handoff.VENV_READY)),
                     os.lstat(os.path.join(path, 'bin', 'tool')).st_uid))

    _handoff.hand_over(path, builder.uid, builder.gid, KEY, sync=sync)
    assert seen == [(False, 0)]  # flushed once, everything root's, before the marker exists
    with open(os.path.join(path, _handoff.VENV_READY)) as handle:
        assert handle.read() == KEY + '\n'
    assert owner_mode(os.path.join(path, _handoff.VENV_READY)) == (0, 0o644)
    assert _handoff.is_handed_over(path)


def test_check_mode_reports_and_changes_nothing(venvs, builder, victims):
    path = os.path.join(venvs, KEY)
    _handoff.prepare(path, builder.uid, builder.gid)
    builder.run(build, path, victims)
    ready = os.path.join(path, _handoff.BUILD_HOME, 'ready')
    pid = builder.start(hold_a_file_open, path, ready)
    try:
        wait_for(ready)
        result = _handoff.hand_over(path, builder.uid, builder.gid, KEY, check_mode=True)
        assert result['changed'] and result['entries'] > 10 and result['owner_changed'] == result['entries']
        assert result['killed'] == [] and _proc.processes_of(builder.uid) == [pid]
        assert owner_mode(path) == (builder.uid, 0o700)
        assert owner_mode(os.path.join(path, 'bin', 'tool')) == (builder.uid, 0o4777)
        assert os.path.exists(os.path.join(path, _handoff.BUILD_HOME))
        missing = _handoff.hand_over(os.path.join(venvs, 'not-built'), builder.uid, builder.gid, KEY, check_mode=True)
        assert missing['changed'] and missing['entries'] == 0
        assert _handoff.prepare(os.path.join(venvs, 'new'), builder.uid, builder.gid, check_mode=True)['changed']
        assert not os.path.exists(os.path.join(venvs, 'new'))
    finally:
        builder.stop(pid)


def test_prepare_and_remove_kill_the_build_and_never_follow_its_links(venvs, builder, victims):
    path = os.path.join(venvs, KEY)
    _handoff.prepare(path, builder.uid, builder.gid)
    builder.run(build, path, victims)
    with open(os.path.join(victims['app-dir'], 'keep'), 'w') as handle:
        handle.write('keep\n')
    ready = os.path.join(path, _handoff.BUILD_HOME, 'ready')
    pid = builder.start(hold_a_file_open, path, ready)
    try:
        wait_for(ready)
        again = _handoff.prepare(path, builder.uid, builder.gid)
        assert again['removed_leftover'] and pid in again['killed']
        assert os.listdir(path) == [_handoff.BUILD_HOME]
        builder.run(build, path, victims)
        result = _handoff.remove(path, builder.uid, builder.gid)
        assert result['changed'] and not os.path.lexists(path)
        assert os.listdir(victims['app-dir']) == ['keep'] and os.path.exists(victims['root-file'])
        assert _handoff.remove(path, builder.uid, builder.gid) == dict(changed=False, path=path, killed=[])
        nowhere = os.path.join(venvs, 'missing', KEY)  # a first deploy that failed before venvs/ was made
        assert _handoff.remove(nowhere, builder.uid, builder.gid) == dict(changed=False, path=nowhere, killed=[])
    finally:
        builder.stop(pid)


def test_a_parent_another_user_can_write_is_refused(root_parent, builder):
    venvs = os.path.join(root_parent, 'venvs')
    os.mkdir(venvs)
    os.chmod(venvs, 0o777)
    for call in (lambda: _handoff.prepare(os.path.join(venvs, KEY), builder.uid, builder.gid),
                 lambda: _handoff.hand_over(os.path.join(venvs, KEY), builder.uid, builder.gid, KEY),
                 lambda: _handoff.remove(os.path.join(venvs, KEY))):
        with pytest.raises(_handoff.HandoffError, match='writable by root alone'):
            call()
    assert os.listdir(venvs) == []


def test_root_is_never_the_build_user():
    with pytest.raises(_handoff.HandoffError, match='must not be root'):
        _handoff.stop_processes(0, 0)


@pytest.mark.parametrize('status, expected', [
    ('State:\tS (sleeping)\nUid:\t61000\t61000\t61000\t61000\n', [1234]),
    ('State:\tR (running)\nUid:\t1000\t0\t61000\t0\n', [1234]),     # setuid program the build user started
    ('State:\tZ (zombie)\nUid:\t61000\t61000\t61000\t61000\n', []),  # holds no descriptor
    ('State:\tS (sleeping)\nUid:\t0\t61000\t0\t61000\n', []),        # root acting as the user for a moment
])
def test_processes_of(tmp_path, status, expected):
    (tmp_path / '1234').mkdir()
    (tmp_path / '1234' / 'status').write_text(status)
    (tmp_path / 'self').mkdir()
    assert _proc.processes_of(61000, proc=str(tmp_path)) == expected
