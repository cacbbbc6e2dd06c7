# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""_proc: the one reader of /proc, on the real one and on a directory laid out like it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from ansible_collections.simpledeploy.django.plugins.module_utils import _proc


def fake_stat(proc, pid, comm, state, ppid, starttime=0):
    """A /proc/PID/stat line: fields 3 (state), 4 (ppid) and 22 (starttime) as given, the others 0."""
    rest = [state, str(ppid)] + ['0'] * 17 + [str(starttime)] + ['0'] * 10
    (proc / str(pid)).mkdir()
    (proc / str(pid) / 'stat').write_text('%d (%s) %s\n' % (pid, comm, ' '.join(rest)))


def test_a_command_name_with_spaces_and_parentheses_does_not_shift_the_fields(tmp_path):
    """A program can name itself anything: ") S 1" in its name must not read as its state and parent."""
    fake_stat(tmp_path, 10, 'gunicorn: master', 'S', 1)
    fake_stat(tmp_path, 11, 'evil) Z 10 (x', 'S', 10)
    fake_stat(tmp_path, 12, 'worker', 'Z', 10)
    (tmp_path / 'self').mkdir()
    (tmp_path / 'locks').write_text('')
    assert _proc.child_pids(10, proc=str(tmp_path)) == [11, 12]
    assert _proc.child_pids(1, proc=str(tmp_path)) == [10]
    assert _proc.is_running(11, proc=str(tmp_path)) is True
    assert _proc.is_running(12, proc=str(tmp_path)) is False
    assert _proc.is_running(99, proc=str(tmp_path)) is False


def test_start_time_is_boot_time_plus_the_ticks(tmp_path):
    hz = os.sysconf('SC_CLK_TCK')
    fake_stat(tmp_path, 10, 'a) b', 'S', 1, starttime=5 * hz)
    (tmp_path / 'stat').write_text('cpu  1 2 3\nbtime 1700000000\nprocesses 9\n')
    assert _proc.start_time(10, proc=str(tmp_path)) == 1700000005
    assert _proc.start_time(11, proc=str(tmp_path)) is None
    assert _proc.start_time(10, proc=str(tmp_path / 'missing')) is None


def test_nothing_to_read_is_no_process(tmp_path):
    assert _proc.child_pids(1, proc=str(tmp_path / 'missing')) == []
    assert _proc.processes_of(0, proc=str(tmp_path / 'missing')) == []


def test_child_pids_and_is_running_read_the_real_proc():
    proc = subprocess.Popen([sys.executable, '-c', 'import subprocess, sys; '
                             'subprocess.run([sys.executable, "-c", "import time; time.sleep(30)"])'])
    try:
        for dummy in range(500):
            kids = _proc.child_pids(proc.pid)
            if kids:
                break
            time.sleep(0.01)
        assert len(kids) == 1 and _proc.is_running(kids[0])
        assert _proc.child_pids(kids[0]) == []
    finally:
        proc.kill()
        proc.wait()
    assert not _proc.is_running(proc.pid)


@pytest.mark.skipif(not os.path.exists('/proc/self/stat'), reason='Linux /proc')
def test_start_time_of_a_new_process_is_now():
    child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(30)'])
    try:
        assert abs(_proc.start_time(child.pid) - time.time()) < 5
        assert _proc.start_time(child.pid) >= _proc.start_time(os.getpid())
    finally:
        child.kill()
        child.wait()


def test_signal_pending_reads_the_real_proc_for_a_process_that_blocks_the_signal():
    """A child that blocks SIGTTOU keeps it pending; once it unblocks it (its handler takes it), it is not."""
    child = subprocess.Popen([sys.executable, '-c', (
        'import signal, sys, time\n'
        'signal.signal(signal.SIGTTOU, lambda *a: None)\n'
        'signal.pthread_sigmask(signal.SIG_BLOCK, [signal.SIGTTOU])\n'
        'print("blocked", flush=True)\n'
        'sys.stdin.readline()\n'
        'signal.pthread_sigmask(signal.SIG_UNBLOCK, [signal.SIGTTOU])\n'
        'print("taken", flush=True)\n'
        'sys.stdin.readline()\n')], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline() == 'blocked\n'
        assert not _proc.signal_pending(child.pid, signal.SIGTTOU)
        child.send_signal(signal.SIGTTOU)
        deadline = time.monotonic() + 5
        while not _proc.signal_pending(child.pid, signal.SIGTTOU):
            assert time.monotonic() < deadline, 'never pending'
            time.sleep(0.01)
        assert not _proc.signal_pending(child.pid, signal.SIGTTIN)
        child.stdin.write('\n')
        child.stdin.flush()
        assert child.stdout.readline() == 'taken\n'
        assert not _proc.signal_pending(child.pid, signal.SIGTTOU)
    finally:
        child.kill()
        child.wait()
    assert not _proc.signal_pending(child.pid, signal.SIGTTOU), 'a process that is gone has nothing pending'
