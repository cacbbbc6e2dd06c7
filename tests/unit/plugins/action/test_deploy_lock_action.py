# -*- coding: utf-8 -*-
# Copyright: (c) 2026, simpledeploy developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The controller side of deploy_lock: its action plugin's helpers (liveness,
process start, the run's identity in forked workers) and real ansible-playbook
runs on localhost (one run at a time, the lock of a dead run of this
controller taken over at once, another controller's live run waited for)."""

from __future__ import annotations

import json
import multiprocessing
import os
import socket
import subprocess
import sys
import time

import pytest

import ansible
from ansible_collections.simpledeploy.django.plugins.action import deploy_lock as action
from ansible_collections.simpledeploy.django.plugins.module_utils import _lock, _proc

COLLECTIONS_ROOT = os.path.abspath(os.path.join(os.path.dirname(action.__file__), *(['..'] * 5)))
ANSIBLE_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(ansible.__file__)))
FORK = multiprocessing.get_context('fork')


def bob(age, host='another-controller', pid=4242, machine=None):
    """The lock another run wrote ``age`` seconds ago (the format molecule/failure plants, plus ``machine``)."""
    since = int(time.time()) - age
    lock = dict(owner='bob@%s' % host, run_id='%s-%d-%d' % (host, pid, since), controller_host=host,
                controller_pid=pid, since=_lock.iso_utc(since), since_epoch=since)
    if machine:
        lock['controller_machine_id'] = machine
    return lock


def plant(path, lock):
    path.write_text(json.dumps(lock) + '\n')
    return path.read_bytes()


@pytest.fixture
def lock_path(tmp_path):
    root = tmp_path / 'srv' / 'person'
    root.mkdir(parents=True)
    return root / '.simpledeploy.lock'


# ------------------------------------------------------------------ the action plugin's helpers

def _dead_pid():
    proc = subprocess.Popen([sys.executable, '-c', ''])
    proc.wait()
    return proc.pid


def test_pid_alive():
    assert action.pid_alive(os.getpid()) is True
    assert action.pid_alive(1) is True  # another user's process (or our own init): it exists
    assert action.pid_alive(_dead_pid()) is False
    for pid in (0, -1, True, '1', None):
        assert action.pid_alive(pid) is None


@pytest.mark.skipif(not os.path.exists('/proc/self/stat'), reason='Linux /proc')
def test_process_start_from_proc_and_from_ps_agree():
    from_proc = _proc.start_time(os.getpid())
    from_ps = action._ps_started(os.getpid())
    assert from_proc is not None and from_ps is not None
    assert abs(from_proc - from_ps) <= 1.5
    assert from_proc <= time.time()
    child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(30)'])
    try:
        assert action.process_started(child.pid) >= from_proc
        assert abs(action.process_started(child.pid) - time.time()) < 5
    finally:
        child.kill()
        child.wait()
    dead = _dead_pid()
    assert _proc.start_time(dead) is None and action._ps_started(dead) is None


def _identity_in_a_worker(queue):
    queue.put(action.controller_identity())


def test_identity_in_forked_workers_is_the_parents_and_the_same_in_each():
    """Ansible runs each task in a worker forked by ansible-playbook: the run is the parent."""
    queue = FORK.Queue()
    workers = [FORK.Process(target=_identity_in_a_worker, args=(queue,)) for index in range(2)]
    for worker in workers:
        worker.start()
    first, second = queue.get(timeout=30), queue.get(timeout=30)
    for worker in workers:
        worker.join(30)
    assert first == second
    assert first['controller_pid'] == os.getpid()
    assert first['controller_host'] == socket.gethostname()
    assert first['owner'].endswith('@' + socket.gethostname())
    token, machine, pid, started = first['run_id'].split('-')
    assert len(token) == 16 and int(token, 16) >= 0
    assert machine == action.machine_id()[:16] == first['controller_machine_id'][:16]
    assert (int(pid), int(started)) == (os.getpid(), int(first['controller_pid_started']))
    assert action.controller_identity() == first  # the same seen from the run's own process


def test_the_token_is_random_per_run_and_shared_by_its_workers(tmp_path):
    """Kept in the run's own temporary directory: another run (another directory) gets another token."""
    one, other = tmp_path / 'run-1', tmp_path / 'run-2'
    one.mkdir()
    other.mkdir()
    first = action.run_token(str(one))
    assert first == action.run_token(str(one)) and len(first) == 16
    assert action.run_token(str(other)) != first
    assert sorted(os.listdir(str(one))) == [action.TOKEN_FILE]
    assert action.run_token(str(tmp_path / 'gone')) is None


def test_machine_id_is_hashed_and_falls_back(tmp_path):
    first, second = tmp_path / 'machine-id', tmp_path / 'dbus-machine-id'
    first.write_text('3d1219c7c4c5404aaa1f6d2a48adfda4\n')
    second.write_text('0123456789abcdef0123456789abcdef\n')
    hashed = action.machine_id([str(first), str(second)])
    assert len(hashed) == 32 and '3d1219c7' not in hashed
    assert action.machine_id([str(tmp_path / 'none'), str(second)]) != hashed
    first.write_text('')  # an empty /etc/machine-id (a container image): the next file
    assert action.machine_id([str(first), str(second)]) == action.machine_id([str(second)])
    assert action.machine_id([], host='a') != action.machine_id([], host='b')


# ------------------------------------------------------------------ real ansible-playbook runs

PLAYBOOK = """
- name: Take the lock, wait for a go, release it
  hosts: localhost
  gather_facts: false
  tasks:
    - name: Take the lock
      simpledeploy.django.deploy_lock:
        path: "{{ lock_path }}"
      register: taken

    - name: Record what the module said
      ansible.builtin.copy:
        content: "{{ taken | to_json }}"
        dest: "{{ record }}"
        mode: "0644"
      check_mode: false

    - name: Wait for the go
      ansible.builtin.wait_for:
        path: "{{ go }}"
        timeout: 60
      when: go | length > 0

    - name: Release the lock
      simpledeploy.django.deploy_lock:
        path: "{{ lock_path }}"
        state: absent
      when: release | bool
"""


@pytest.fixture
def playbook(tmp_path, lock_path):
    (tmp_path / 'play.yml').write_text(PLAYBOOK)
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=COLLECTIONS_ROOT, ANSIBLE_LOCAL_TEMP=str(tmp_path / 'tmp'),
               ANSIBLE_REMOTE_TMP=str(tmp_path / 'tmp'), ANSIBLE_NOCOLOR='1', ANSIBLE_RETRY_FILES_ENABLED='0',
               ANSIBLE_HOST_KEY_CHECKING='0', LANG='C.UTF-8', LC_ALL='C.UTF-8',
               PYTHONPATH=os.pathsep.join([COLLECTIONS_ROOT, ANSIBLE_ROOT]))

    def start(name, go='', release=True, check=False):
        extra = dict(lock_path=str(lock_path), record=str(tmp_path / (name + '.json')), go=go,
                     release=release, ansible_python_interpreter=sys.executable)
        argv = [sys.executable, '-m', 'ansible.cli.playbook', '-i', 'localhost,', '-c', 'local',
                '-e', json.dumps(extra), str(tmp_path / 'play.yml')] + (['--check'] if check else [])
        return subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env,
                                cwd=str(tmp_path), text=True)

    def record(name):
        return json.loads((tmp_path / (name + '.json')).read_text())

    return start, record


def test_playbook_runs_one_at_a_time_on_the_same_controller(playbook, lock_path, tmp_path):
    start, record = playbook
    go = tmp_path / 'go'
    first = start('first', go=str(go))
    deadline = time.time() + 60
    while not (tmp_path / 'first.json').exists() and first.poll() is None and time.time() < deadline:
        time.sleep(0.1)
    held = json.loads(lock_path.read_text())
    # the lock names the ansible-playbook process itself, not a worker that died with the task
    assert held['controller_pid'] == first.pid
    assert held['controller_host'] == socket.gethostname()
    assert held['controller_machine_id'] == action.machine_id()
    assert held['run_id'].split('-')[1:3] == [action.machine_id()[:16], str(first.pid)]

    second = start('second')
    out = second.communicate(timeout=120)[0]
    assert second.returncode != 0, out
    assert 'another deploy holds the lock %s: %s (run %s' % (lock_path, held['owner'], held['run_id']) in out
    assert 'Its ansible-playbook (PID %d) still runs on this controller.' % first.pid in out
    assert json.loads(lock_path.read_text()) == held

    checked = start('checked', check=True)
    out = checked.communicate(timeout=120)[0]
    assert checked.returncode == 0, out
    assert record('checked')['would_wait'] is True and record('checked')['held_by'] == held

    go.write_text('')
    out = first.communicate(timeout=120)[0]
    assert first.returncode == 0, out
    assert record('first')['action'] == 'acquire'
    assert not lock_path.exists()


def test_playbook_takes_over_the_lock_of_a_dead_run_of_this_controller_at_once(playbook, lock_path):
    start, record = playbook
    planted = bob(age=30, host=socket.gethostname(), pid=_dead_pid(), machine=action.machine_id())
    plant(lock_path, planted)
    run = start('next', release=False)
    out = run.communicate(timeout=120)[0]
    assert run.returncode == 0, out
    taken = record('next')
    assert taken['action'] == 'take_over'
    assert taken['taken_over']['reason'] == 'its run is gone: PID %d no longer runs on controller %s' % (
        planted['controller_pid'], socket.gethostname())
    assert json.loads(lock_path.read_text())['controller_pid'] == run.pid


def test_playbook_waits_for_a_live_run_of_another_controller(playbook, lock_path):
    start = playbook[0]
    content = plant(lock_path, bob(age=30, pid=os.getpid()))  # a PID alive here, but on another host
    run = start('next')
    out = run.communicate(timeout=120)[0]
    assert run.returncode != 0
    assert 'another deploy holds the lock %s: bob@another-controller' % lock_path in out
    assert 'still runs on this controller' not in out
    assert lock_path.read_bytes() == content


def test_playbook_waits_for_a_run_of_another_machine_with_the_same_host_name(playbook, lock_path):
    """Two controllers named alike (CI runners, cloned VMs): a PID gone here says nothing of a run there.
    The old plugin compared host names only and took this lock over at once."""
    content = plant(lock_path, bob(age=30, host=socket.gethostname(), pid=_dead_pid(), machine='f' * 32))
    run = playbook[0]('next')
    out = run.communicate(timeout=120)[0]
    assert run.returncode != 0, out
    assert 'another deploy holds the lock %s: bob@%s' % (lock_path, socket.gethostname()) in out
    assert lock_path.read_bytes() == content
