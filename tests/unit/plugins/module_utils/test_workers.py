# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""_workers.Roll's logic alone, against a model of gunicorn's master (TTIN adds the newest worker, TTOU
stops the oldest), with the workers' files written as the role's gunicorn.conf.py writes them.

The roll with a real gunicorn is tests/unit/plugins/modules/test_release_switch_roll.py.
"""

from __future__ import annotations

import os
import signal

import pytest

from ansible_collections.simpledeploy.django.plugins.module_utils import _workers
from ansible_collections.simpledeploy.django.plugins.module_utils._errors import StepError


class Master(object):
    """gunicorn's arbiter as far as signals and workers go; ON_SPAWN(pid) runs for each new worker."""

    def __init__(self, ready_dir, workers=(101, 102), on_spawn=None):
        self.ready_dir = ready_dir
        self.workers = list(workers)
        self.next_pid = 500
        self.alive = True
        self.signals = []
        self.terminated = []
        self.on_spawn = on_spawn or (lambda pid: None)

    def kill(self, pid, signum):
        if signum == signal.SIGTERM and pid != 1:
            # A worker told to go itself: it finishes its request and goes (the master's replacement is not modelled).
            assert pid in self.workers
            self.terminated.append(pid)
            self.workers.remove(pid)
            return
        assert pid == 1 and self.alive
        self.signals.append(signum)
        if signum == signal.SIGTTIN:
            self.next_pid += 1
            self.workers.append(self.next_pid)
            self.on_spawn(self.next_pid)
        elif signum == signal.SIGTTOU:
            self.workers.pop(0)

    def children(self, pid):
        return sorted(self.workers) if self.alive else []

    def say(self, pid, release):
        os.makedirs(os.path.join(self.ready_dir, 'workers'), exist_ok=True)
        with open(os.path.join(self.ready_dir, 'workers', str(pid)), 'w') as handle:
            handle.write(release + '\n')


class Clock(object):
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        self.now += seconds


def roll(master, tmp_path, release='r2', timeout=5.0, clock=None):
    clock = clock or Clock()
    return _workers.Roll(1, [101, 102], str(tmp_path), release, timeout=timeout, kill=master.kill,
                         children=master.children, alive=lambda pid: master.alive, clock=clock, sleep=clock.sleep,
                         pending=lambda pid, signum: False)


def test_new_workers_first_then_the_old_ones_go(tmp_path):
    master = Master(str(tmp_path))
    master.on_spawn = lambda pid: master.say(pid, 'r2')
    assert roll(master, tmp_path).run() == [501, 502]
    assert master.signals == [signal.SIGTTIN, signal.SIGTTIN, signal.SIGTTOU, signal.SIGTTOU]
    assert master.workers == [501, 502]


def test_a_worker_that_loaded_another_release_is_not_ready(tmp_path):
    master = Master(str(tmp_path))
    master.on_spawn = lambda pid: master.say(pid, 'r1')
    with pytest.raises(StepError, match='waited 5.0 s for the new workers to load release r2 in vain '
                                        '\\(old workers: 101, 102; new: 501, 502\\); 501 says r1, 502 says r1'):
        roll(master, tmp_path).run()
    # Nothing retired: the old workers still serve.
    assert signal.SIGTTOU not in master.signals and master.workers[:2] == [101, 102]


def test_a_new_worker_that_died_is_replaced_by_the_masters_next_one(tmp_path):
    master = Master(str(tmp_path))
    clock = Clock()
    calls = []

    def spawn(pid):
        calls.append(pid)
        if pid != 502:
            master.say(pid, 'r2')

    master.on_spawn = spawn
    run = roll(master, tmp_path, clock=clock)

    real_children = master.children
    seen_after_spawn = []

    def children(pid):
        # Worker 502 dies once the roll waits for readiness (it had been counted as new); gunicorn's master
        # forks 503 in its place (it loads code/ too).
        if len(calls) == 2:
            seen_after_spawn.append(1)
        if 502 in master.workers and len(seen_after_spawn) > 1:
            master.workers.remove(502)
            master.workers.append(503)
            master.say(503, 'r2')
        return real_children(pid)

    run.children = children
    assert run.run() == [501, 503]
    assert master.workers == [501, 503]


def test_a_master_that_stops_says_a_worker_could_not_load(tmp_path):
    master = Master(str(tmp_path))

    def spawn(pid):
        master.alive = False  # a worker failed to boot: gunicorn halts

    master.on_spawn = spawn
    with pytest.raises(StepError, match='exited while waiting for a new worker after SIGTTIN'):
        roll(master, tmp_path).run()


def test_a_link_or_a_fifo_in_place_of_a_workers_file_is_not_its_word(tmp_path):
    workers = tmp_path / 'workers'
    workers.mkdir()
    (tmp_path / 'elsewhere').write_text('r2\n')
    os.symlink(str(tmp_path / 'elsewhere'), str(workers / '501'))
    os.mkfifo(str(workers / '502'))  # opened without blocking, then refused
    fd = os.open(str(workers), os.O_RDONLY | os.O_DIRECTORY)
    try:
        assert _workers.worker_release(fd, 501) is None
        assert _workers.worker_release(fd, 502) is None
        (workers / '503').write_text('r2\n')
        assert _workers.worker_release(fd, 503) == 'r2'
    finally:
        os.close(fd)


def test_workers_that_could_not_write_their_file_point_to_the_journal(tmp_path):
    master = Master(str(tmp_path))  # the new workers write nothing: no workers/ directory at all
    with pytest.raises(StepError, match='workers: No such file or directory \\(the service\'s journal says why a '
                                        'worker could not write there: "simpledeploy: cannot say"\\)'):
        roll(master, tmp_path).run()


def test_an_old_worker_busy_with_a_long_request_does_not_fail_the_roll(tmp_path):
    master = Master(str(tmp_path))
    master.on_spawn = lambda pid: master.say(pid, 'r2')
    busy = []

    def kill(pid, signum):
        # Worker 101 is told to go but finishes its long request first: it stays a child of the master.
        if signum == signal.SIGTERM and pid == 101:
            busy.append(101)
            return
        if signum == signal.SIGTTOU and master.workers[0] == 101:
            busy.append(101)
            master.signals.append(signum)
            master.workers = master.workers[1:] + [101]
            return
        Master.kill(master, pid, signum)

    run = roll(master, tmp_path)
    run.kill = kill
    assert run.run() == [501, 502]
    assert busy == [101, 101] and run.lingering == [101]
    assert master.signals.count(signal.SIGTTOU) == 2


def test_workers_of_a_master_that_preloaded_the_app_stop_the_roll_at_once(tmp_path):
    master = Master(str(tmp_path))
    master.on_spawn = lambda pid: master.say(pid, 'preloaded r2')
    clock = Clock()
    with pytest.raises(StepError, match='gunicorn preloads the app in its master .*set deploy_gunicorn_preload: true'):
        roll(master, tmp_path, clock=clock).run()
    assert clock.now < 1 and signal.SIGTTOU not in master.signals


def test_what_a_worker_wrote_is_shown_printable_only(tmp_path):
    master = Master(str(tmp_path))
    master.on_spawn = lambda pid: master.say(pid, 'r1\x1b[2J\x07')
    with pytest.raises(StepError) as failed:
        roll(master, tmp_path).run()
    assert '501 says r1[2J' in str(failed.value) and '\x1b' not in str(failed.value)


def held_roll(master, tmp_path, clock=None):
    clock = clock or Clock()
    return _workers.Roll(1, [101, 102], str(tmp_path), 'r2', timeout=5.0, kill=master.kill,
                         children=master.children, alive=lambda pid: master.alive, clock=clock, sleep=clock.sleep,
                         held=True, pending=lambda pid, signum: False)


def test_held_new_workers_are_loaded_when_they_say_they_wait_at_the_serve_gate_and_the_old_ones_go_after(tmp_path):
    """load() returns once every new worker said "held r2" and sends no SIGTTOU: the old workers serve until
    retire()."""
    master = Master(str(tmp_path))
    master.on_spawn = lambda pid: master.say(pid, 'held r2')
    run = held_roll(master, tmp_path)
    assert run.load() == [501, 502]
    assert master.signals == [signal.SIGTTIN, signal.SIGTTIN] and master.workers == [101, 102, 501, 502]
    assert run.retire(every=True) == [501, 502]
    assert master.workers == [501, 502] and master.signals[2:] == [signal.SIGTTOU, signal.SIGTTOU]


def test_held_new_workers_that_serve_already_fail_the_load(tmp_path):
    """A worker that says the bare release took connections: the serve gate was not closed. The window must not
    go on (new code would serve on the old schema)."""
    master = Master(str(tmp_path))
    master.on_spawn = lambda pid: master.say(pid, 'r2')
    with pytest.raises(StepError, match='serve release r2 already, before the window: the serve gate was not closed'):
        held_roll(master, tmp_path).load()


def test_a_held_roll_that_preloads_stops_at_once(tmp_path):
    master = Master(str(tmp_path))
    master.on_spawn = lambda pid: master.say(pid, 'held preloaded r2')
    with pytest.raises(StepError, match='gunicorn preloads the app in its master'):
        held_roll(master, tmp_path).load()


def test_retiring_every_old_worker_fails_when_one_is_still_busy(tmp_path):
    """In a window, an old worker still finishing a request after the timeout could write with the old code once
    migrate begins: the step fails instead of leaving it to linger."""
    master = Master(str(tmp_path))
    master.on_spawn = lambda pid: master.say(pid, 'held r2')
    run = held_roll(master, tmp_path)
    run.load()

    def kill(pid, signum):
        if signum == signal.SIGTERM and pid == 101:
            return  # busy with a long request
        if signum == signal.SIGTTOU and master.workers[0] == 101:
            master.signals.append(signum)
            master.workers = master.workers[1:] + [101]
            return
        Master.kill(master, pid, signum)

    run.kill = kill
    with pytest.raises(StepError, match='old workers 101 were still busy 5.0 s after they were told to go'):
        run.retire(every=True)


def test_the_next_sigttou_waits_until_the_master_took_the_last_one(tmp_path):
    """Two SIGTTOU pending at once merge into one: the second is sent only once the first was delivered."""
    master = Master(str(tmp_path))
    master.on_spawn = lambda pid: master.say(pid, 'r2')
    clock = Clock()
    run = roll(master, tmp_path, clock=clock)
    run.load()
    sent = []
    pending_until = {}

    def kill(pid, signum):
        sent.append((clock.now, signum))
        pending_until[signum] = clock.now + 0.1  # the master takes it 0.1 s later
        Master.kill(master, pid, signum)

    run.kill = kill
    run.pending = lambda pid, signum: clock.now < pending_until.get(signum, 0)
    run.retire()
    ttou = [when for when, signum in sent if signum == signal.SIGTTOU]
    assert len(ttou) == 2 and ttou[1] - ttou[0] >= 0.1


def test_an_old_worker_whose_sigttou_the_master_merged_is_told_to_go_itself(tmp_path):
    """Two SIGTTOU that the master took as one stop one old worker only: the other is sent SIGTERM, as the master
    would have sent it, and goes."""
    master = Master(str(tmp_path))
    master.on_spawn = lambda pid: master.say(pid, 'r2')
    run = roll(master, tmp_path)
    run.load()
    ttou = []

    def kill(pid, signum):
        if signum == signal.SIGTTOU:
            ttou.append(signum)
            if len(ttou) == 2:
                return  # merged with the first: lost
        Master.kill(master, pid, signum)

    run.kill = kill
    assert run.retire(every=True) == [501, 502]
    assert master.terminated == [102] and master.workers == [501, 502] and run.lingering == []
