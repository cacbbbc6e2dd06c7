# -*- coding: utf-8 -*-
# Copyright: (c) 2026, simpledeploy developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The deploy_lock module on real lock files: main() in-process, racing
processes, and the module file run by a Python as on a managed host. Its
action plugin (the controller side) is tested in
tests/unit/plugins/action/test_deploy_lock_action.py."""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import multiprocessing
import os
import signal
import stat
import subprocess
import sys
import time

import pytest

import ansible
import ansible.module_utils._internal
import ansible.module_utils.common.warnings
from ansible_collections.simpledeploy.django.plugins.module_utils import _lock
from ansible_collections.simpledeploy.django.plugins.modules import deploy_lock

COLLECTIONS_ROOT = os.path.abspath(os.path.join(os.path.dirname(deploy_lock.__file__), *(['..'] * 5)))
ANSIBLE_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(ansible.__file__)))
FORK = multiprocessing.get_context('fork')


def mine(path, **extra):
    args = dict(path=str(path), run_id='laptop-81234-1767261600', owner='alice@laptop', controller_host='laptop',
                controller_pid=81234, controller_pid_started=1767261600.5)
    args.update(extra)
    return args


def bob(age, host='another-controller', pid=4242):
    """The lock another run wrote ``age`` seconds ago (the format molecule/failure plants)."""
    since = int(time.time()) - age
    return dict(owner='bob@%s' % host, run_id='%s-%d-%d' % (host, pid, since), controller_host=host,
                controller_pid=pid, since=_lock.iso_utc(since), since_epoch=since)


def plant(path, lock):
    path.write_text(json.dumps(lock) + '\n')
    return path.read_bytes()


def snapshot(directory):
    """Every file in ``directory`` with its bytes, inode and mtime: what 'nothing written' means."""
    found = {}
    for name in sorted(os.listdir(str(directory))):
        full = os.path.join(str(directory), name)
        st = os.stat(full)
        with open(full, 'rb') as handle:
            found[name] = (handle.read(), st.st_ino, st.st_mtime_ns)
    return found


@pytest.fixture(autouse=True)
def on_the_target(monkeypatch):
    """Run main() as on a managed host: once controller code is imported in the same process (as
    when one pytest runs the action plugin's or the filter's tests too), module warnings would go to
    the controller's display instead of the result; and they pile up from one in-process run to the next."""
    monkeypatch.setattr(ansible.module_utils._internal, 'is_controller', False)
    monkeypatch.setattr(ansible.module_utils.common.warnings, '_global_warnings', {})


@pytest.fixture
def lock_path(tmp_path):
    root = tmp_path / 'srv' / 'person'
    root.mkdir(parents=True)
    return root / '.simpledeploy.lock'


# ------------------------------------------------------------------ taking and keeping

def test_takes_a_free_lock_writing_who_and_since(run_module, lock_path):
    before = time.time()
    result = run_module(deploy_lock, mine(lock_path))
    assert result['changed'] is True and result['action'] == 'acquire'
    written = json.loads(lock_path.read_text())
    assert written == result['lock']
    assert {k: written[k] for k in ('owner', 'run_id', 'controller_host', 'controller_pid')} == dict(
        owner='alice@laptop', run_id='laptop-81234-1767261600', controller_host='laptop', controller_pid=81234)
    assert written['controller_pid_started'] == 1767261600.5
    assert int(before) <= written['since_epoch'] <= time.time()
    assert written['since'] == time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime(written['since_epoch']))
    assert (result['held_by'], result['taken_over'], result['age'], result['would_wait']) == (None, None, None, False)
    assert result['msg'] == 'took the lock %s' % lock_path
    # no file facts mixed in (AnsibleModule adds them to a result with a "path" key)
    assert 'state' not in result and 'uid' not in result


def test_the_same_run_again_keeps_it_and_renews_it(run_module, lock_path):
    taken = run_module(deploy_lock, mine(lock_path))['lock']
    again = run_module(deploy_lock, mine(lock_path, owner='someone else'))
    assert again['changed'] is False and again['action'] == 'keep'
    assert again['lock']['owner'] == 'alice@laptop'
    written = json.loads(lock_path.read_text())
    assert written == again['lock'] == dict(taken, renewed=written['renewed'], renewed_epoch=written['renewed_epoch'])
    assert written['renewed_epoch'] >= taken['since_epoch']
    assert again['msg'] == 'this run holds the lock %s already; refreshed its renewal time' % lock_path


def test_a_run_longer_than_the_timeout_keeps_its_lock_by_renewing_it(run_module, lock_path):
    """Taken two hours ago, renewed now: another run with a 10 min timeout waits (the old code took it over)."""
    plant(lock_path, _lock.new_lock(mine(lock_path), time.time() - 7200))
    renewed = run_module(deploy_lock, mine(lock_path, timeout=600))
    assert renewed['action'] == 'keep' and 'failed' not in renewed
    other = run_module(deploy_lock, mine(lock_path, run_id='next-run', timeout=600))
    assert other['failed'] is True and other['action'] == 'wait'
    assert json.loads(lock_path.read_text())['run_id'] == 'laptop-81234-1767261600'
    assert '(2 h 0 min ago, renewed 0 s ago)' in other['msg'] or '(2 h 0 min ago, renewed 1 s ago)' in other['msg']


def test_another_live_runs_lock_fails_at_once_saying_who_and_what_to_do(run_module, lock_path):
    planted = bob(age=65)
    content = plant(lock_path, planted)
    began = time.time()
    result = run_module(deploy_lock, mine(lock_path))
    assert time.time() - began < 2
    assert result['failed'] is True and result['changed'] is False
    assert result['action'] == 'wait' and result['would_wait'] is True
    assert result['held_by'] == planted
    assert result['msg'].startswith(
        'another deploy holds the lock %s: bob@another-controller (run %s, ansible-playbook PID 4242 on '
        'another-controller), since %s (1 min ' % (lock_path, planted['run_id'], planted['since']))
    assert 'Wait for it to finish. If that run is dead, the lock is taken over once it is older than 1800 s, ' \
           'in 28 min ' in result['msg']
    assert result['msg'].endswith('or remove %s by hand.' % lock_path)
    assert lock_path.read_bytes() == content


def test_an_expired_lock_is_taken_over(run_module, lock_path):
    planted = bob(age=7200)
    plant(lock_path, planted)
    result = run_module(deploy_lock, mine(lock_path, timeout=600))
    assert result['changed'] is True and result['action'] == 'take_over'
    taken = result['taken_over']
    assert taken['owner'] == 'bob@another-controller' and taken['run_id'] == planted['run_id']
    assert 7200 <= taken['age'] <= 7203
    assert taken['reason'] == 'it is 2 h 0 min old, older than the timeout of 600 s'
    assert result['held_by'] == planted
    assert json.loads(lock_path.read_text())['run_id'] == 'laptop-81234-1767261600'
    assert result['msg'].startswith('took over the lock %s from bob@another-controller' % lock_path)


def test_the_same_lock_is_kept_within_the_timeout(run_module, lock_path):
    content = plant(lock_path, bob(age=500))
    assert run_module(deploy_lock, mine(lock_path, timeout=600))['failed'] is True
    assert lock_path.read_bytes() == content


def test_a_run_named_dead_is_taken_over_at_once_and_only_that_one(run_module, lock_path):
    planted = bob(age=5)
    content = plant(lock_path, planted)
    other = run_module(deploy_lock, mine(lock_path, takeover_run_ids=['another-controller-1-1']))
    assert other['failed'] is True and lock_path.read_bytes() == content
    result = run_module(deploy_lock, mine(lock_path, takeover_run_ids=[planted['run_id']]))
    assert result['action'] == 'take_over'
    assert result['taken_over']['reason'] == 'its run is gone: PID 4242 no longer runs on controller another-controller'
    assert json.loads(lock_path.read_text())['owner'] == 'alice@laptop'


@pytest.mark.parametrize('age, action', [(30, 'wait'), (4000, 'take_over')])
def test_a_file_that_is_not_a_lock_counts_as_held_since_it_was_written(run_module, lock_path, age, action):
    lock_path.write_text('garbage')
    os.utime(str(lock_path), (time.time() - age, time.time() - age))
    result = run_module(deploy_lock, mine(lock_path))
    assert result['action'] == action
    assert result['held_by']['unreadable'].startswith('not JSON')
    if action == 'wait':
        assert 'another deploy holds the lock %s: an unreadable lock file (not JSON' % lock_path in result['msg']
        assert lock_path.read_text() == 'garbage'
    else:
        assert json.loads(lock_path.read_text())['owner'] == 'alice@laptop'


# ------------------------------------------------------------------ releasing

def test_release_only_by_the_run_that_holds_it(run_module, lock_path):
    run_module(deploy_lock, mine(lock_path))
    before = snapshot(lock_path.parent)
    foreign = run_module(deploy_lock, mine(lock_path, state='absent', run_id='ci-1-1'))
    assert foreign['changed'] is False and foreign['action'] == 'leave'
    assert foreign['held_by']['owner'] == 'alice@laptop'
    assert [w['event']['msg'] for w in foreign['warnings']] == [
        "the lock %s is not this run's and was left in place: alice@laptop (run laptop-81234-1767261600, "
        "ansible-playbook PID 81234 on laptop) holds it" % lock_path]
    assert snapshot(lock_path.parent) == before

    released = run_module(deploy_lock, mine(lock_path, state='absent'))
    assert released['changed'] is True and released['action'] == 'release'
    assert not lock_path.exists()
    again = run_module(deploy_lock, mine(lock_path, state='absent'))
    assert again['changed'] is False and again['action'] == 'none'
    assert os.listdir(str(lock_path.parent)) == ['.simpledeploy.guard']


# ------------------------------------------------------------------ check and diff mode

@pytest.mark.parametrize('planted, args, action, changed', [
    (None, {}, 'acquire', True),
    ('expired', {'timeout': 600}, 'take_over', True),
    ('ours', {'state': 'absent'}, 'release', True),
    ('ours', {}, 'keep', False),
    ('live', {}, 'wait', False),
    ('live', {'state': 'absent'}, 'leave', False),
])
def test_check_mode_reports_and_writes_nothing(run_module, lock_path, planted, args, action, changed):
    if planted == 'ours':
        plant(lock_path, _lock.new_lock(mine(lock_path), time.time() - 10))
    elif planted:
        plant(lock_path, bob(age=7200 if planted == 'expired' else 60))
    before = snapshot(lock_path.parent)
    result = run_module(deploy_lock, mine(lock_path, **args), check_mode=True)
    assert snapshot(lock_path.parent) == before
    assert 'failed' not in result
    assert (result['action'], result['changed']) == (action, changed)
    assert result['would_wait'] is (action == 'wait')
    if action == 'wait':
        assert result['held_by']['owner'] == 'bob@another-controller'
        assert result['warnings'][0]['event']['msg'].startswith(
            'a real run would fail here: another deploy holds the lock %s: bob@another-controller' % lock_path)
    if action in ('acquire', 'take_over'):
        assert result['lock']['run_id'] == 'laptop-81234-1767261600'
        assert result['msg'].startswith('would take')


def test_diff_shows_the_lock_before_and_after(run_module, lock_path):
    planted = bob(age=7200)
    plant(lock_path, planted)
    result = run_module(deploy_lock, mine(lock_path, timeout=600, _ansible_diff=True))
    assert json.loads(result['diff']['before']) == planted
    assert json.loads(result['diff']['after']) == json.loads(lock_path.read_text())
    released = run_module(deploy_lock, mine(lock_path, state='absent', _ansible_diff=True))
    assert json.loads(released['diff']['before'])['owner'] == 'alice@laptop'
    assert released['diff']['after'] == ''
    assert 'diff' not in run_module(deploy_lock, mine(lock_path, state='absent', _ansible_diff=True))


# ------------------------------------------------------------------ bad input

@pytest.mark.parametrize('args, message', [
    ({'path': 'MISSING_DIR'}, 'cannot lock MISSING_DIR: cannot create its directory MISSING_PARENT: No such file'),
    ({'path': 'relative/app.lock'}, 'path must be absolute, not relative/app.lock'),
    ({'path': 'DIR'}, 'cannot lock DIR: it is a directory'),
    ({'timeout': 0}, 'timeout must be 1 or more, not 0'),
    ({'run_id': ''}, 'run_id is required'),
    ({'state': 'locked'}, 'value of state must be one of: present, absent'),
])
def test_bad_input_fails_clearly_and_writes_nothing(run_module, lock_path, args, message):
    names = {'MISSING_DIR': str(lock_path.parent / 'gone' / 'deeper' / 'app.lock'),
             'MISSING_PARENT': str(lock_path.parent / 'gone' / 'deeper'), 'DIR': str(lock_path.parent)}
    args = dict((k, names.get(v, v)) for k, v in args.items())
    for name, value in names.items():
        message = message.replace(name, value)
    result = run_module(deploy_lock, dict(mine(lock_path), **args))
    assert result['failed'] is True
    assert message in result['msg']
    assert os.listdir(str(lock_path.parent)) == []


# ------------------------------------------------------------------ races

def _race(lock_path, racers, barrier, results, **extra):
    def one(index):
        barrier.wait()
        request = dict(mine(lock_path, run_id='racer-%d' % index))
        try:
            result, _warnings = _lock.apply(str(lock_path), 'present', request, **extra)
            results.put((index, result['action']))
        except _lock.LockError as exc:
            results.put((index, exc.result.get('action', exc.msg)))
    procs = [FORK.Process(target=one, args=(index,)) for index in range(racers)]
    for proc in procs:
        proc.start()
    outcome = dict(results.get(timeout=60) for proc in procs)
    for proc in procs:
        proc.join(30)
    return outcome


@pytest.fixture
def slow_reads(monkeypatch):
    """Every racer reads the lock, then dawdles before deciding: the window a missing guard would lose in."""
    real = _lock.read_lock

    def read(path, dir_fd=None):
        found = real(path, dir_fd)
        time.sleep(0.2)
        return found

    monkeypatch.setattr(_lock, 'read_lock', read)


@pytest.mark.parametrize('planted, winner', [(False, 'acquire'), (True, 'take_over')])
def test_racing_processes_exactly_one_wins(lock_path, slow_reads, planted, winner):
    if planted:
        plant(lock_path, bob(age=7200))
    racers = 6
    outcome = _race(lock_path, racers, FORK.Barrier(racers), FORK.Queue(), timeout=600)
    assert sorted(outcome.values()) == [winner] + ['wait'] * (racers - 1), outcome
    holder = json.loads(lock_path.read_text())
    assert outcome[int(holder['run_id'].split('-')[1])] == winner
    assert sorted(os.listdir(str(lock_path.parent))) == ['.simpledeploy.guard', '.simpledeploy.lock']


def test_the_race_test_catches_a_missing_guard(lock_path, slow_reads, monkeypatch):
    """Without the flock the racers all read 'free' and all write: several 'win'."""
    monkeypatch.setattr(_lock, '_guard', lambda dir_fd, path, wait, active: _lock.contextlib.nullcontext())
    racers = 4
    outcome = _race(lock_path, racers, FORK.Barrier(racers), FORK.Queue())
    assert list(outcome.values()).count('acquire') > 1, outcome


def _module_env():
    return dict(os.environ, PYTHONPATH=os.pathsep.join([COLLECTIONS_ROOT, ANSIBLE_ROOT]), LANG='C.UTF-8',
                LC_ALL='C.UTF-8', PYTHONDONTWRITEBYTECODE='1')


def test_racing_module_processes_exactly_one_wins(lock_path, tmp_path):
    """The module file run by Python, as Ansible runs it on a host, six times at once."""
    procs = []
    for index in range(6):
        args_file = tmp_path / ('args-%d.json' % index)
        args_file.write_text(json.dumps({'ANSIBLE_MODULE_ARGS': mine(lock_path, run_id='racer-%d' % index)}))
        procs.append(subprocess.Popen([sys.executable, '-m', deploy_lock.__name__, str(args_file)],
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=_module_env(),
                                      cwd=str(tmp_path), text=True))
    results = [json.loads(proc.communicate(timeout=60)[0]) for proc in procs]
    winners = [index for index, result in enumerate(results) if result['changed']]
    assert len(winners) == 1, results
    holder = json.loads(lock_path.read_text())
    assert holder['run_id'] == 'racer-%d' % winners[0]
    for index, result in enumerate(results):
        if index != winners[0]:
            assert result['failed'] is True and result['held_by'] == holder


# ------------------------------------------------------------------ attacks and faults (issue 9)

def run_module_file(tmp_path, args, timeout=30):
    """The module file run by Python as on a host; its JSON result and seconds taken, or (None, seconds) when hung."""
    args_file = tmp_path / ('args-%s.json' % time.monotonic_ns())
    args_file.write_text(json.dumps({'ANSIBLE_MODULE_ARGS': args}))
    began = time.monotonic()
    proc = subprocess.Popen([sys.executable, '-m', deploy_lock.__name__, str(args_file)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=_module_env(), cwd=str(tmp_path), text=True)
    try:
        out = proc.communicate(timeout=timeout)[0]
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        return None, time.monotonic() - began
    return json.loads(out), time.monotonic() - began


def _wait_for(path, seconds=10):
    deadline = time.time() + seconds
    while not os.path.exists(str(path)) and time.time() < deadline:
        time.sleep(0.02)
    assert os.path.exists(str(path)), 'the helper process did not get ready'


@pytest.fixture
def holder_process(tmp_path):
    """start(func, *args) -> PID of a forked root process running func(ready, *args); killed at the end."""
    pids = []

    def start(func, *args):
        ready = tmp_path / ('ready-%d' % len(pids))
        pid = os.fork()
        if pid == 0:
            try:
                func(str(ready), *args)
            finally:
                os._exit(0)
        pids.append(pid)
        _wait_for(ready)
        return pid

    def stop(pid):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, 0)

    start.stop = stop
    yield start
    for pid in pids:
        stop(pid)


def _flock_forever(ready, path):
    fd = os.open(path, os.O_RDONLY)
    fcntl.flock(fd, fcntl.LOCK_EX)
    open(ready, 'w').close()
    while True:
        time.sleep(1)


def _window_file(lock_path):
    """Spelled out here (not _lock.window_file()), so that the test runs against any _lock."""
    return str(lock_path)[:-len('.lock')] + '.window'


def _window_forever(ready, lock_path):
    """What release_switch's process does for its window (_lock.hold_window(); see test_lock.py): hold the flock."""
    fd = os.open(_window_file(lock_path), os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600)
    fcntl.flock(fd, fcntl.LOCK_EX)
    open(ready, 'w').close()
    while True:
        time.sleep(1)


def test_a_blocking_flock_on_the_lock_directory_no_longer_hangs_the_module(tmp_path, lock_path, holder_process):
    """The old module took a blocking flock on the directory: whoever held one hung every deploy."""
    holder_process(_flock_forever, str(lock_path.parent))
    result, seconds = run_module_file(tmp_path, mine(lock_path), timeout=20)
    assert result is not None, 'the module hung behind a flock on %s' % lock_path.parent
    assert seconds < 10
    assert result['action'] == 'acquire' and result['changed'] is True, result


def test_a_stuck_guard_holder_fails_within_the_bound_naming_it(tmp_path, lock_path, holder_process):
    """A process (root's: no other user can reach the guard) stuck holding the guard: the module does not wait for
    it for ever, nor does it act without it. The old module flocked the directory, not the guard, and acted."""
    guard = str(lock_path)[:-len('.lock')] + '.guard'  # spelled out, so that the test runs against any _lock
    open(guard, 'a').close()
    os.chmod(guard, 0o600)
    pid = holder_process(_flock_forever, guard)
    result, seconds = run_module_file(tmp_path, mine(lock_path), timeout=30)
    assert result is not None and result.get('failed') is True, result
    assert _lock.GUARD_WAIT <= seconds < _lock.GUARD_WAIT + 5
    assert result['msg'] == (
        'cannot take or release the lock %s: another process (PID %d) has held %s for over 10 s without letting '
        'go; a deploy_lock task takes it for milliseconds. Look at that process (ps -fp PID), then run the deploy '
        'again.' % (lock_path, pid, guard))
    assert not lock_path.exists()
    assert guard == _lock.guard_file(str(lock_path))


def _reach(directory):
    """As the app user: try to open, flock, create in the lock directory; the errno of each."""
    found = []
    for name, flags in (('', os.O_RDONLY), ('app.guard', os.O_RDONLY), ('app.guard', os.O_RDWR | os.O_CREAT),
                        ('app.window', os.O_RDONLY), ('app.lock', os.O_RDONLY),
                        ('evil', os.O_WRONLY | os.O_CREAT)):
        try:
            fd = os.open(os.path.join(directory, name), flags, 0o644)
        except OSError as exc:
            found.append(errno.errorcode[exc.errno])
        else:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            found.append('held %s' % name)
    return found


def test_the_app_user_cannot_reach_hold_or_plant_anything_in_the_lock_directory(
        tmp_path, world_readable_dir, attacker, holder_process):
    """/run/lock was world-writable: nobody could flock it or plant files. The new directory is root's alone."""
    directory = os.path.join(world_readable_dir, 'simpledeploy')
    path = os.path.join(directory, 'app.lock')
    taken, _seconds = run_module_file(tmp_path, mine(path))
    assert taken['action'] == 'acquire', taken
    holder_process(_window_forever, path)  # even the window file, live
    assert stat.S_IMODE(os.lstat(directory).st_mode) == 0o700
    assert attacker.run(_reach, directory) == ['EACCES'] * 6
    assert sorted(os.listdir(directory)) == ['app.guard', 'app.lock', 'app.window']


def _hold_directory_and_say_so(directory):
    fd = os.open(directory, os.O_RDONLY)
    fcntl.flock(fd, fcntl.LOCK_EX)
    open(os.path.join(directory, 'ready'), 'w').close()
    while True:
        time.sleep(1)


def test_a_world_writable_lock_directory_held_by_the_app_user_is_refused_at_once(
        tmp_path, world_readable_dir, attacker):
    """The attack on /run/lock: nobody holds a blocking flock on the world-writable directory. The old module
    hung there for good; the new one refuses the directory, at once, naming it and what to do."""
    directory = os.path.join(world_readable_dir, 'lock')
    os.mkdir(directory)
    os.chmod(directory, 0o1777)
    pid = attacker.start(_hold_directory_and_say_so, directory)
    try:
        _wait_for(os.path.join(directory, 'ready'))
        path = os.path.join(directory, 'simpledeploy-app.lock')
        result, seconds = run_module_file(tmp_path, mine(path), timeout=20)
    finally:
        attacker.stop(pid)
    assert result is not None, 'the module hung behind the app user\'s flock on %s' % directory
    assert seconds < 10
    assert result['failed'] is True
    assert result['msg'].startswith('cannot lock %s: its directory %s is writable by group or others (mode 1777), '
                                    'so another user could replace, plant or hold the lock' % (path, directory))
    assert os.listdir(directory) == ['ready']


def test_a_future_dated_lock_is_taken_over_not_honoured_forever(run_module, lock_path):
    since = int(time.time()) + 10 * 365 * 86400
    forged = dict(bob(age=0), since=_lock.iso_utc(since), since_epoch=since)
    plant(lock_path, forged)
    result = run_module(deploy_lock, mine(lock_path, timeout=600))
    assert result['action'] == 'take_over', result
    assert result['taken_over']['reason'].startswith('it is dated %s, ' % forged['since'])
    assert result['taken_over']['reason'].endswith('in the future (an impossible date, handled as expired)')
    assert [w['event']['msg'] for w in result['warnings']] == [
        'the lock %s held by %s has an impossible date: %s' % (lock_path, _lock.describe_holder(forged),
                                                               result['taken_over']['reason'])]
    assert json.loads(lock_path.read_text())['run_id'] == 'laptop-81234-1767261600'


@pytest.mark.parametrize('check_mode', [False, True])
def test_a_symlinked_lock_is_refused_and_its_target_never_shown(run_module, lock_path, tmp_path, check_mode):
    secret = tmp_path / 'secret'
    secret.write_text('TOPSECRET root-only data\n')
    os.chmod(str(secret), 0o600)
    old = time.time() - 7200  # old enough that the old module took the "lock" over, showing it in --diff
    os.utime(str(secret), (old, old))
    lock_path.symlink_to(secret)
    result = run_module(deploy_lock, mine(lock_path, timeout=600, _ansible_diff=True), check_mode=check_mode)
    assert 'TOPSECRET' not in result.raw
    assert result['failed'] is True
    assert result['msg'].startswith('refusing %s: it is a symbolic link, which is never followed here' % lock_path)
    assert os.readlink(str(lock_path)) == str(secret)
    assert secret.read_text() == 'TOPSECRET root-only data\n' and os.stat(str(secret)).st_mtime == old


@pytest.mark.parametrize('kind', ['link', 'world-writable'])
def test_a_lock_directory_that_is_a_link_or_world_writable_is_refused(run_module, tmp_path, kind):
    real = tmp_path / 'real'
    real.mkdir()
    directory = tmp_path / 'locks'
    if kind == 'link':
        directory.symlink_to(real)
    else:
        directory.mkdir()
        os.chmod(str(directory), 0o777)
    result = run_module(deploy_lock, mine(directory / 'app.lock'))
    assert result['failed'] is True
    what = 'is a symbolic link' if kind == 'link' else 'is writable by group or others (mode 0777)'
    assert result['msg'].startswith('cannot lock %s: its directory %s %s' % (directory / 'app.lock', directory, what))
    assert os.listdir(str(real)) == [] and (kind == 'link' or os.listdir(str(directory)) == [])


@pytest.mark.parametrize('how', ['expired', 'dead controller', 'impossible date'])
def test_a_live_window_blocks_take_over_until_its_process_dies(run_module, lock_path, holder_process, how):
    """A controller vanished (lost connection) while its release_switch still runs on the host: "run it again"
    must not start a second window. The old module took the lock over at once."""
    planted = bob(age=7200 if how == 'expired' else (-86400 if how == 'impossible date' else 30))
    content = plant(lock_path, planted)
    args = mine(lock_path, timeout=600, takeover_run_ids=[planted['run_id']] if how == 'dead controller' else [])
    pid = holder_process(_window_forever, str(lock_path))
    window = _window_file(lock_path)

    refused = run_module(deploy_lock, args)
    assert refused['failed'] is True and refused['action'] == 'wait', refused
    assert refused['window'] == dict(path=window, pid=pid)
    assert refused['msg'].startswith('the window of a deploy still runs on this host: PID %d holds %s, the process '
                                     'that runs a deploy\'s switch (release_switch)' % (pid, window))
    assert lock_path.read_bytes() == content
    checked = run_module(deploy_lock, args, check_mode=True)
    assert 'failed' not in checked and checked['would_wait'] is True and lock_path.read_bytes() == content

    holder_process.stop(pid)  # the kernel drops the window with its process
    taken = run_module(deploy_lock, args)
    assert taken['action'] == 'take_over' and taken['window'] is None, taken
    assert json.loads(lock_path.read_text())['run_id'] == 'laptop-81234-1767261600'
    assert window == _lock.window_file(str(lock_path))  # where release_switch's hold_window() holds it


def test_a_released_lock_is_not_taken_while_the_window_still_runs(run_module, lock_path, holder_process):
    """The controller lost its connection, ran its rescue and released the lock; the window still runs on."""
    pid = holder_process(_window_forever, str(lock_path))
    result = run_module(deploy_lock, mine(lock_path, run_id='next-run'))
    assert result['failed'] is True and result['action'] == 'wait'
    assert 'PID %d holds' % pid in result['msg'] and '(the lock %s: it is free)' % lock_path in result['msg']
    assert not lock_path.exists()
