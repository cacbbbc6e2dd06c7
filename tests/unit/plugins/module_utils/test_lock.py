# -*- coding: utf-8 -*-
# Copyright: (c) 2026, simpledeploy developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The deploy lock's decisions (pure) and its file, on real files."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import signal
import stat
import time

import pytest

from ansible_collections.simpledeploy.django.plugins.module_utils import _lock, _proc

NOW = 1767261600.0  # 2026-01-01T10:00:00Z


def holder(run_id='ci-4242-1767261540', age=60, **extra):
    lock = dict(owner='bob@ci', run_id=run_id, controller_host='ci', controller_machine_id='m-ci', controller_pid=4242,
                since=_lock.iso_utc(NOW - age), since_epoch=int(NOW - age))
    lock.update(extra)
    return lock


UNREADABLE = dict(unreadable='not JSON: Expecting value: line 1 column 1 (char 0)', since='2026-01-01T09:59:00Z',
                  since_epoch=int(NOW - 60))
UNREADABLE_OLD = dict(UNREADABLE, since_epoch=int(NOW - 4000))


# ------------------------------------------------------------------ decide

@pytest.mark.parametrize('existing, state, dead, action, reason', [
    (None, 'present', (), _lock.ACQUIRE, 'no lock'),
    (holder(run_id='mine'), 'present', (), _lock.KEEP, 'already'),
    (holder(run_id='mine', age=99999), 'present', (), _lock.KEEP, 'already'),   # our own, however old
    (holder(age=60), 'present', (), _lock.WAIT, 'another run'),
    (holder(age=1800), 'present', (), _lock.WAIT, 'another run'),              # at the timeout: not older
    (holder(age=1801), 'present', (), _lock.TAKE_OVER, '30 min 1 s old, older than the timeout of 1800 s'),
    (holder(age=60), 'present', ('ci-4242-1767261540',), _lock.TAKE_OVER, 'PID 4242 no longer runs on controller ci'),
    (holder(age=60, controller_pid=None), 'present', ('ci-4242-1767261540',), _lock.TAKE_OVER,
     'its run ci-4242-1767261540 is gone'),
    (holder(age=60), 'present', ('ci-1-1',), _lock.WAIT, 'another run'),       # another dead run
    (holder(run_id=None, age=60), 'present', ('',), _lock.WAIT, 'another run'),
    (UNREADABLE, 'present', (), _lock.WAIT, 'another run'),
    (UNREADABLE_OLD, 'present', (), _lock.TAKE_OVER, 'older than the timeout'),
    # dated in the future: handled as expired, saying why (the old code waited for it forever)
    (holder(age=-3600), 'present', (), _lock.TAKE_OVER, '1 h 0 min in the future (an impossible date, handled as expired)'),
    (holder(age=-10 * 365 * 86400), 'present', (), _lock.TAKE_OVER, 'in the future'),
    (holder(age=-60), 'present', (), _lock.WAIT, 'another run'),              # within the tolerance
    (dict(UNREADABLE, since_epoch=int(NOW + 7200)), 'present', (), _lock.TAKE_OVER, 'in the future'),
    # renewed: the expiry counts from the renewal
    (holder(age=7200, renewed_epoch=int(NOW - 60)), 'present', (), _lock.WAIT, 'another run'),
    (holder(age=7200, renewed_epoch=int(NOW - 1801)), 'present', (), _lock.TAKE_OVER,
     '30 min 1 s old since its last renewal, older than the timeout of 1800 s'),
    (holder(age=7200, renewed_epoch=int(NOW + 7200)), 'present', (), _lock.TAKE_OVER, 'in the future'),
    (holder(age=7200, renewed_epoch='soon'), 'present', (), _lock.TAKE_OVER, '2 h 0 min old, older'),
    (None, 'absent', (), _lock.NONE, 'no lock'),
    (holder(run_id='mine', age=99999), 'absent', (), _lock.RELEASE, 'this run'),
    (holder(age=99999), 'absent', ('ci-4242-1767261540',), _lock.LEAVE, 'another run'),
    (UNREADABLE, 'absent', (), _lock.LEAVE, 'another run'),
])
def test_decide(existing, state, dead, action, reason):
    decision = _lock.decide(existing, state, 'mine', NOW, 1800, dead)
    assert decision.action == action
    assert reason in decision.reason
    if existing is None:
        assert decision.age is None
    else:
        assert decision.age == NOW - existing['since_epoch']


WINDOW = dict(path='/run/simpledeploy/app.window', pid=31337)


@pytest.mark.parametrize('existing, state, dead, action', [
    (None, 'present', (), _lock.WAIT),                                   # free, but a window runs
    (holder(age=99999), 'present', (), _lock.WAIT),                      # expired
    (holder(age=60), 'present', ('ci-4242-1767261540',), _lock.WAIT),   # its controller gone
    (holder(age=-99999), 'present', (), _lock.WAIT),                     # impossibly dated
    (holder(run_id='mine', age=60), 'present', (), _lock.KEEP),          # this run's: kept, renewed
    (holder(run_id='mine', age=60), 'absent', (), _lock.RELEASE),
    (None, 'absent', (), _lock.NONE),
])
def test_a_live_window_stops_any_taking(existing, state, dead, action):
    decision = _lock.decide(existing, state, 'mine', NOW, 1800, dead, window=WINDOW)
    assert decision.action == action
    if action == _lock.WAIT:
        assert decision.reason.endswith('the window of a deploy still runs: PID 31337 holds /run/simpledeploy/app.window')


def test_an_unreadable_lock_is_never_this_runs_even_with_a_matching_run_id():
    lock = dict(UNREADABLE, run_id='mine')
    assert _lock.decide(lock, 'present', 'mine', NOW, 1800).action == _lock.WAIT
    assert _lock.decide(lock, 'absent', 'mine', NOW, 1800).action == _lock.LEAVE


# ------------------------------------------------------------------ holder_verdict

def _alive(pids):
    return lambda pid: pid in pids


@pytest.mark.parametrize('lock, local_host, alive, started, verdict', [
    (holder(), 'laptop', _alive({4242}), lambda pid: None, None),           # another controller: unknown
    # the same host name on another machine (a cloned VM, a CI runner named alike): unknown, not dead
    (holder(controller_machine_id='m-other'), 'ci', _alive(set()), lambda pid: None, None),
    (dict((k, v) for k, v in holder().items() if k != 'controller_machine_id'), 'ci', _alive(set()),
     lambda pid: None, None),                                              # an old lock: no machine ID
    (holder(), 'ci', _alive(set()), lambda pid: None, 'dead'),
    (holder(), 'ci', _alive({4242}), lambda pid: None, 'alive'),
    (holder(controller_pid_started=1000.0), 'ci', _alive({4242}), lambda pid: 1001.5, 'alive'),  # within 2 s
    (holder(controller_pid_started=1000.0), 'ci', _alive({4242}), lambda pid: 5000.0, 'dead'),   # PID reused
    (holder(controller_pid_started=1000.0), 'ci', _alive({4242}), lambda pid: None, 'alive'),    # start unknown
    (holder(), 'ci', lambda pid: None, lambda pid: None, None),             # liveness unknown
    (holder(controller_pid=None), 'ci', _alive(set()), lambda pid: None, None),
    (holder(controller_pid=0), 'ci', _alive(set()), lambda pid: None, None),
    (holder(controller_pid=-1), 'ci', _alive(set()), lambda pid: None, None),
    (holder(controller_pid=True), 'ci', _alive(set()), lambda pid: None, None),
    (holder(controller_pid='4242'), 'ci', _alive(set()), lambda pid: None, None),
    (holder(controller_host=None), None, _alive(set()), lambda pid: None, None),
    (dict(UNREADABLE, controller_host='ci', controller_pid=4242), 'ci', _alive(set()), lambda pid: None, None),
    (None, 'ci', _alive(set()), lambda pid: None, None),
])
def test_holder_verdict(lock, local_host, alive, started, verdict):
    assert _lock.holder_verdict(lock, 'm-ci', local_host, alive, started) == verdict


def test_holder_verdict_asks_about_the_holders_pid_only():
    asked = []
    _lock.holder_verdict(holder(controller_pid_started=1.0), 'm-ci', 'ci', lambda pid: asked.append(('alive', pid)) or True,
                         lambda pid: asked.append(('started', pid)) or 1.0)
    assert asked == [('alive', 4242), ('started', 4242)]


# ------------------------------------------------------------------ words

@pytest.mark.parametrize('seconds, text', [
    (0, '0 s'), (59.9, '59 s'), (60, '1 min 0 s'), (125, '2 min 5 s'), (3599, '59 min 59 s'),
    (3600, '1 h 0 min'), (7205, '2 h 0 min'), (90061, '25 h 1 min'), (-5, '0 s'),
])
def test_duration(seconds, text):
    assert _lock.duration(seconds) == text


@pytest.mark.parametrize('lock, text', [
    (holder(), 'bob@ci (run ci-4242-1767261540, ansible-playbook PID 4242 on ci)'),
    (holder(controller_pid=None), 'bob@ci (run ci-4242-1767261540, from ci)'),
    (dict(owner='bob@ci'), 'bob@ci'),
    (dict(run_id='r1'), 'an unnamed run (run r1)'),
    (UNREADABLE, 'an unreadable lock file (not JSON: Expecting value: line 1 column 1 (char 0))'),
])
def test_describe_holder(lock, text):
    assert _lock.describe_holder(lock) == text


def test_refusal_message_says_who_since_when_and_what_to_do():
    message = _lock.refusal_message('/srv/person/.simpledeploy.lock', holder(age=65), 65.4, 1800)
    assert message == (
        'another deploy holds the lock /srv/person/.simpledeploy.lock: bob@ci (run ci-4242-1767261540, '
        'ansible-playbook PID 4242 on ci), since 2026-01-01T09:58:55Z (1 min 5 s ago). Wait for it to finish. '
        'If that run is dead, the lock is taken over once it is older than 1800 s, in 28 min 55 s, counted from '
        'its last renewal (timeout; deploy_lock_timeout in the deploy role), or remove /srv/person/.simpledeploy.lock '
        'by hand.')


def test_refusal_message_counts_from_the_renewal():
    message = _lock.refusal_message('/run/simpledeploy/app.lock', holder(age=7200, renewed_epoch=int(NOW - 65)),
                                    7200, 1800, NOW)
    assert 'since 2026-01-01T08:00:00Z (2 h 0 min ago, renewed 1 min 5 s ago)' in message
    assert 'older than 1800 s, in 28 min 56 s, counted from its last renewal' in message


def test_refusal_message_for_a_live_window_names_its_process():
    message = _lock.refusal_message('/run/simpledeploy/app.lock', None, None, 1800, NOW, WINDOW)
    assert message.startswith('the window of a deploy still runs on this host: PID 31337 holds '
                              '/run/simpledeploy/app.window')
    assert '(the lock /run/simpledeploy/app.lock: it is free)' in message


# ------------------------------------------------------------------ the file

def test_write_then_read_round_trips_atomically(tmp_path):
    path = str(tmp_path / 'app.lock')
    lock = _lock.new_lock(dict(owner='alice@laptop', run_id='laptop-1-2', controller_host='laptop',
                               controller_machine_id='m1', controller_pid=1, controller_pid_started=2.5,
                               ignored='x'), NOW)
    assert lock == dict(owner='alice@laptop', run_id='laptop-1-2', controller_host='laptop', controller_machine_id='m1',
                        controller_pid=1, controller_pid_started=2.5, since='2026-01-01T10:00:00Z',
                        since_epoch=1767261600)
    _lock.write_lock(path, lock)
    assert _lock.read_lock(path) == lock
    assert json.loads((tmp_path / 'app.lock').read_text()) == lock
    assert os.listdir(str(tmp_path)) == ['app.lock']  # no temporary file left behind
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o644


def test_write_replaces_by_rename_so_an_open_reader_keeps_the_old_lock(tmp_path):
    path = str(tmp_path / 'app.lock')
    _lock.write_lock(path, holder(run_id='old'))
    with open(path) as reader:
        _lock.write_lock(path, holder(run_id='new'))
        assert json.load(reader)['run_id'] == 'old'  # the old inode, whole: never rewritten in place
    assert _lock.read_lock(path)['run_id'] == 'new'


def test_a_failed_write_leaves_no_temporary_file(tmp_path, monkeypatch):
    path = str(tmp_path / 'app.lock')

    def refuse(*args, **kwargs):
        raise OSError(28, 'No space left on device')

    monkeypatch.setattr(_lock.os, 'rename', refuse)
    with pytest.raises(OSError):
        _lock.write_lock(path, holder())
    assert os.listdir(str(tmp_path)) == []


def test_read_a_missing_lock(tmp_path):
    assert _lock.read_lock(str(tmp_path / 'none.lock')) is None


@pytest.mark.parametrize('content, problem', [
    ('', 'not JSON'),
    ('{"owner": ', 'not JSON'),
    ('["owner"]', 'not a JSON object'),
    ('\xff\xfe', 'not JSON'),
])
def test_read_a_file_that_is_not_a_lock(tmp_path, content, problem):
    path = tmp_path / 'app.lock'
    path.write_text(content, encoding='latin-1')
    os.utime(str(path), (NOW - 100, NOW - 100))
    lock = _lock.read_lock(str(path))
    assert lock['unreadable'].startswith(problem)
    assert lock['since_epoch'] == int(NOW - 100) and lock['since'] == '2026-01-01T09:58:20Z'


@pytest.mark.parametrize('data, since_epoch, since', [
    ({'run_id': 'r'}, int(NOW - 100), '2026-01-01T09:58:20Z'),                 # no time: the file's
    ({'run_id': 'r', 'since_epoch': 'soon'}, int(NOW - 100), '2026-01-01T09:58:20Z'),
    ({'run_id': 'r', 'since_epoch': True}, int(NOW - 100), '2026-01-01T09:58:20Z'),
    ({'run_id': 'r', 'since_epoch': NOW - 7200}, NOW - 7200, '2026-01-01T08:00:00Z'),  # no ISO: computed
    ({'run_id': 'r', 'since_epoch': 1, 'since': 'then'}, 1, 'then'),
])
def test_read_a_lock_with_missing_or_bad_times(tmp_path, data, since_epoch, since):
    path = tmp_path / 'app.lock'
    path.write_text(json.dumps(dict(data, extra='dropped')))
    os.utime(str(path), (NOW - 100, NOW - 100))
    lock = _lock.read_lock(str(path))
    assert lock == dict(run_id='r', since_epoch=since_epoch, since=since)


def test_read_the_lock_the_molecule_scenario_plants(tmp_path):
    """The format molecule/failure writes by hand (no controller_pid_started)."""
    planted = dict(owner='bob@another-controller', run_id='another-controller-4242-1767254400',
                   controller_host='another-controller', controller_pid=4242, since='2026-01-01T08:00:00Z',
                   since_epoch=1767254400)
    (tmp_path / 'app.lock').write_text(json.dumps(planted) + '\n')
    lock = _lock.read_lock(str(tmp_path / 'app.lock'))
    assert lock == planted
    assert _lock.decide(lock, 'present', 'mine', NOW, 600).action == _lock.TAKE_OVER
    assert _lock.decide(lock, 'present', 'mine', NOW, 7200).action == _lock.WAIT


def test_write_flushes_the_file_then_renames_then_flushes_the_directory(tmp_path, monkeypatch):
    """Power loss cannot be performed here: the flushes are, in order, around the rename."""
    calls = []
    real_fsync, real_rename = os.fsync, os.rename

    def fsync(fd):
        calls.append(('fsync', 'dir' if stat.S_ISDIR(os.fstat(fd).st_mode) else 'file'))
        real_fsync(fd)

    def rename(*args, **kwargs):
        calls.append(('rename',))
        real_rename(*args, **kwargs)

    monkeypatch.setattr(_lock.os, 'fsync', fsync)
    monkeypatch.setattr(_lock.os, 'rename', rename)
    _lock.write_lock(str(tmp_path / 'app.lock'), holder())
    assert calls == [('fsync', 'file'), ('rename',), ('fsync', 'dir')]


# ------------------------------------------------------------------ what is never followed

def test_a_symlinked_lock_is_refused_and_its_target_never_read(tmp_path):
    secret = tmp_path / 'secret'
    secret.write_text('{"owner": "TOPSECRET"}')
    (tmp_path / 'app.lock').symlink_to(secret)
    with pytest.raises(_lock.LockError) as caught:
        _lock.read_lock(str(tmp_path / 'app.lock'))
    assert caught.value.msg.startswith('refusing %s: it is a symbolic link, which is never followed here'
                                       % (tmp_path / 'app.lock'))
    assert 'TOPSECRET' not in caught.value.msg


@pytest.mark.parametrize('make, what', [(os.mkfifo, 'not a regular file'), (os.mkdir, 'a directory')])
def test_a_lock_that_is_not_a_file_is_refused_without_hanging(tmp_path, make, what):
    make(str(tmp_path / 'app.lock'))  # a FIFO opened for reading would block without O_NONBLOCK
    with pytest.raises(_lock.LockError, match='cannot lock %s: it is %s' % (tmp_path / 'app.lock', what)):
        _lock.read_lock(str(tmp_path / 'app.lock'))


@pytest.mark.parametrize('lock_path, window, guard', [
    ('/run/simpledeploy/person.lock', '/run/simpledeploy/person.window', '/run/simpledeploy/person.guard'),
    ('/srv/person/.simpledeploy.lock', '/srv/person/.simpledeploy.window', '/srv/person/.simpledeploy.guard'),
    ('/run/simpledeploy/person', '/run/simpledeploy/person.window', '/run/simpledeploy/person.guard'),
    ('/run/simpledeploy/.lock', '/run/simpledeploy/.lock.window', '/run/simpledeploy/.lock.guard'),
    ('/run/simpledeploy//x.lock', '/run/simpledeploy/x.window', '/run/simpledeploy/x.guard'),
])
def test_window_and_guard_files_sit_beside_the_lock(lock_path, window, guard):
    assert _lock.window_file(lock_path) == window
    assert _lock.guard_file(lock_path) == guard


# ------------------------------------------------------------------ the directory

def test_a_missing_directory_is_created_root_only(tmp_path):
    fd = _lock.open_lock_dir(str(tmp_path / 'simpledeploy' / 'app.lock'))
    os.close(fd)
    st = os.lstat(str(tmp_path / 'simpledeploy'))
    assert stat.S_ISDIR(st.st_mode) and stat.S_IMODE(st.st_mode) == 0o700 and st.st_uid == os.geteuid()
    assert _lock.open_lock_dir(str(tmp_path / 'other' / 'app.lock'), create=False) is None
    assert not (tmp_path / 'other').exists()


def _nobody():
    import pwd
    return pwd.getpwnam('nobody').pw_uid


@pytest.mark.parametrize('setup, problem', [
    ('link', 'is a symbolic link'),
    ('world', 'is writable by group or others (mode 1777)'),
    ('group', 'is writable by group or others (mode 0775)'),
    ('nobody', 'is owned by uid %s, not root'),
    ('parent', 'is not safe (it is under PARENT, which is writable by group or others (mode 0777))'),
])
def test_an_unsafe_directory_is_refused_naming_it(tmp_path, setup, problem):
    real = tmp_path / 'real'
    real.mkdir()
    directory = tmp_path / 'locks'
    if setup == 'link':
        directory.symlink_to(real)
    elif setup == 'parent':
        parent = tmp_path / 'open'
        parent.mkdir()
        os.chmod(str(parent), 0o777)
        directory = parent / 'locks'
        directory.mkdir()
        problem = problem.replace('PARENT', str(parent))
    else:
        directory.mkdir()
        os.chmod(str(directory), dict(world=0o1777, group=0o775).get(setup, 0o755))
        if setup == 'nobody':
            if os.geteuid() != 0:
                pytest.skip('chown needs root')
            os.chown(str(directory), _nobody(), -1)
            problem = problem % ('%d (nobody)' % _nobody())
    path = str(directory / 'app.lock')
    with pytest.raises(_lock.LockError) as caught:
        _lock.open_lock_dir(path)
    assert caught.value.msg.startswith('cannot lock %s: its directory %s %s, so another user could replace, plant '
                                       'or hold the lock' % (path, directory, problem))
    assert 'remove or fix %s (the deploy role uses /run/simpledeploy' % directory in caught.value.msg
    assert os.listdir(str(real)) == []


def test_a_sticky_parent_such_as_tmp_is_accepted(tmp_path):
    parent = tmp_path / 'sticky'
    parent.mkdir()
    os.chmod(str(parent), 0o1777)
    os.close(_lock.open_lock_dir(str(parent / 'locks' / 'app.lock')))
    assert stat.S_IMODE(os.lstat(str(parent / 'locks')).st_mode) == 0o700


# ------------------------------------------------------------------ the window

def _hold(path, ready, release, run_id=None):
    """In a child: hold the window of ``path`` until ``release`` exists (or forever)."""
    with _lock.hold_window(path, run_id):
        ready.write_text(str(os.getpid()))
        while not os.path.exists(str(release)):
            time.sleep(0.02)


@pytest.fixture
def window_holder(tmp_path):
    """start(path) -> PID of a forked process holding the window of ``path``; killed at the end."""
    pids = []

    def start(path):
        ready = tmp_path / ('ready-%d' % len(pids))
        pid = os.fork()
        if pid == 0:
            try:
                _hold(path, ready, tmp_path / 'never')
            finally:
                os._exit(0)
        pids.append(pid)
        deadline = time.time() + 10
        while not ready.exists() and time.time() < deadline:
            time.sleep(0.02)
        assert ready.exists(), 'the window holder did not start'
        return pid

    yield start
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, 0)


def test_hold_window_holds_a_kernel_lock_that_dies_with_its_process(tmp_path, window_holder):
    path = str(tmp_path / 'locks' / 'app.lock')
    pid = window_holder(path)
    window = tmp_path / 'locks' / 'app.window'
    assert stat.S_IMODE(os.lstat(str(window)).st_mode) == 0o600
    with open(str(window)) as handle:
        with pytest.raises(BlockingIOError):
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        assert _proc.flock_holder(handle.fileno()) == pid
        with pytest.raises(_lock.LockError, match=r'another deploy window of this app is still running on this '
                           r'host: PID %d holds %s\. Nothing was changed' % (pid, window)):
            with _lock.hold_window(path, wait=0.3):
                pass
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)  # the kernel dropped it with the process


def test_hold_window_refuses_a_run_that_lost_its_lock(tmp_path):
    path = str(tmp_path / 'app.lock')
    _lock.write_lock(path, holder(run_id='next-run'))
    with pytest.raises(_lock.LockError) as caught:
        with _lock.hold_window(path, run_id='mine'):
            pytest.fail('the window was entered')
    assert caught.value.msg.startswith('this run (mine) no longer holds the deploy lock %s: bob@ci (run next-run'
                                       % path)
    _lock.write_lock(path, holder(run_id='mine'))
    with _lock.hold_window(path, run_id='mine') as window:
        assert window == str(tmp_path / 'app.window')
    with _lock.hold_window(path, active=False) as window:  # check mode: nothing held, nothing made
        assert window is None


def test_hold_window_renews_the_runs_lock_and_only_its_own(tmp_path):
    """The role's renewal before the switch is the window's own (release_switch): the heartbeat is the window's
    start; a lock another run took over is neither entered nor rewritten."""
    path = str(tmp_path / 'app.lock')
    _lock.write_lock(path, holder(run_id='mine'))
    before = _lock.read_lock(path)
    with _lock.hold_window(path, run_id='mine', renew=True, clock=lambda: 1_767_261_700.5):
        renewed = _lock.read_lock(path)
    assert renewed['renewed_epoch'] == 1_767_261_700 and renewed['renewed'] == '2026-01-01T10:01:40Z'
    assert dict(renewed, renewed=None, renewed_epoch=None) == dict(before, renewed=None, renewed_epoch=None)
    _lock.write_lock(path, holder(run_id='next-run'))
    with open(path, 'rb') as handle:
        theirs = handle.read()
    with pytest.raises(_lock.LockError):
        with _lock.hold_window(path, run_id='mine', renew=True):
            pytest.fail('the window was entered')
    with open(path, 'rb') as handle:
        assert handle.read() == theirs


def test_hold_window_never_follows_a_link(tmp_path):
    target = tmp_path / 'elsewhere'
    target.write_text('keep')
    (tmp_path / 'app.window').symlink_to(target)
    with pytest.raises(_lock.LockError, match='refusing %s: it is a symbolic link' % (tmp_path / 'app.window')):
        with _lock.hold_window(str(tmp_path / 'app.lock')):
            pass
    assert target.read_text() == 'keep' and stat.S_IMODE(os.stat(str(target)).st_mode) == 0o644


def test_flock_within_gives_up_after_the_bound(tmp_path):
    times = iter([0.0, 0.0, 4.0, 10.5])
    path = str(tmp_path / 'f')
    with open(path, 'w') as holder_handle, open(path) as other:
        fcntl.flock(holder_handle, fcntl.LOCK_EX)
        assert _lock.flock_within(other.fileno(), 10, clock=lambda: next(times), sleep=lambda s: None) is False
        fcntl.flock(holder_handle, fcntl.LOCK_UN)
        assert _lock.flock_within(other.fileno(), 10) is True
