# -*- coding: utf-8 -*-
# Copyright: (c) 2026, simpledeploy developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The deploy lock's decisions (pure) and its file, on real files."""

from __future__ import annotations

import json
import os
import stat

import pytest

from ansible_collections.simpledeploy.django.plugins.module_utils import _lock

NOW = 1767261600.0  # 2026-01-01T10:00:00Z


def holder(run_id='ci-4242-1767261540', age=60, **extra):
    lock = dict(owner='bob@ci', run_id=run_id, controller_host='ci', controller_pid=4242,
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


def test_an_unreadable_lock_is_never_this_runs_even_with_a_matching_run_id():
    lock = dict(UNREADABLE, run_id='mine')
    assert _lock.decide(lock, 'present', 'mine', NOW, 1800).action == _lock.WAIT
    assert _lock.decide(lock, 'absent', 'mine', NOW, 1800).action == _lock.LEAVE


# ------------------------------------------------------------------ holder_verdict

def _alive(pids):
    return lambda pid: pid in pids


@pytest.mark.parametrize('lock, local_host, alive, started, verdict', [
    (holder(), 'laptop', _alive({4242}), lambda pid: None, None),           # another controller: unknown
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
    assert _lock.holder_verdict(lock, local_host, alive, started) == verdict


def test_holder_verdict_asks_about_the_holders_pid_only():
    asked = []
    _lock.holder_verdict(holder(controller_pid_started=1.0), 'ci', lambda pid: asked.append(('alive', pid)) or True,
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
        'If that run is dead, the lock is taken over once it is older than 1800 s, in 28 min 55 s '
        '(timeout; deploy_lock_timeout in the deploy role), or remove /srv/person/.simpledeploy.lock by hand.')


# ------------------------------------------------------------------ the file

def test_write_then_read_round_trips_atomically(tmp_path):
    path = str(tmp_path / 'app.lock')
    lock = _lock.new_lock(dict(owner='alice@laptop', run_id='laptop-1-2', controller_host='laptop',
                               controller_pid=1, controller_pid_started=2.5, ignored='x'), NOW)
    assert lock == dict(owner='alice@laptop', run_id='laptop-1-2', controller_host='laptop', controller_pid=1,
                        controller_pid_started=2.5, since='2026-01-01T10:00:00Z', since_epoch=1767261600)
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

    def refuse(src, dst):
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
