# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The downtime window (Switch): its steps in order, its undo and its record, on real trees."""

from __future__ import annotations

import os
import threading
import time

import pytest

from ansible_collections.simpledeploy.django.plugins.module_utils import _errors, _state, _window
from ansible_collections.simpledeploy.django.tests.unit.plugins.module_utils.release_trees import make_root, tree, read_tree, FakeSystemctl, setup_release


def test_switch_swaps_whole_trees_and_orders_the_steps(tmp_path):
    root = setup_release(tmp_path)
    systemctl = FakeSystemctl()
    migrated = []
    switch = _window.Switch(root, 'new', 'v2', 'person', systemctl,
                            lambda: migrated.append(systemctl.calls[:]))
    window = switch.run(swap=True)
    assert read_tree(os.path.join(root, 'code')) == {'manage.py': 'new', 'people/models.py': 'new'}
    assert read_tree(os.path.join(root, 'code.previous')) == {'manage.py': 'old', 'people/legacy.py': 'old'}
    assert not os.path.exists(os.path.join(root, 'staging'))
    assert os.readlink(os.path.join(root, 'venv')) == 'venvs/v2'
    assert systemctl.calls == [('stop', 'person'), ('start', 'person')]
    assert migrated == [[('stop', 'person')]], 'migrate must run after the stop and before the start'
    assert window >= 0 and set(switch.steps) == {'stop', 'swap', 'venv', 'migrate', 'start'}


def test_a_failed_migration_puts_the_old_tree_back_and_starts_it(tmp_path):
    root = setup_release(tmp_path)
    systemctl = FakeSystemctl()

    def migrate():
        raise OSError('migration 0002 failed')

    switch = _window.Switch(root, 'new', 'v2', 'person', systemctl, migrate)
    with pytest.raises(OSError):
        switch.run(swap=True)
    assert switch.step == 'migrate'
    restored = switch.undo()
    assert restored == ['venv', 'code', 'service started']
    assert read_tree(os.path.join(root, 'code')) == {'manage.py': 'old', 'people/legacy.py': 'old'}
    assert read_tree(os.path.join(root, 'staging')) == {'manage.py': 'new', 'people/models.py': 'new'}
    assert os.readlink(os.path.join(root, 'venv')) == 'venvs/v1'
    assert systemctl.calls[-1] == ('start', 'person')


def test_a_failed_start_is_undone_too(tmp_path):
    root = setup_release(tmp_path)
    systemctl = FakeSystemctl(fail=('start', 1))
    switch = _window.Switch(root, 'new', None, 'person', systemctl)
    with pytest.raises(OSError):
        switch.run(swap=True)
    assert switch.step == 'start'
    switch.undo()
    assert read_tree(os.path.join(root, 'code'))['manage.py'] == 'old'
    # stopped again: a unit that failed to start may be restarting on its own (Restart=on-failure)
    assert systemctl.calls == [('stop', 'person'), ('start', 'person'), ('stop', 'person'), ('start', 'person')]


def test_a_release_that_started_but_does_not_answer_is_stopped_before_the_old_one_starts(tmp_path):
    """"systemctl start" of a running service does nothing: without a stop first, the new release
    kept serving after the rollback, on the old tree and configuration."""
    root = setup_release(tmp_path)
    systemctl = FakeSystemctl()

    def ready():
        raise _errors.StepError('http://127.0.0.1:8000/ did not answer 200 within 30 s')

    switch = _window.Switch(root, 'new', None, 'person', systemctl, ready=ready)
    with pytest.raises(_errors.StepError):
        switch.run(swap=True)
    assert switch.undo() == ['code', 'service started']
    assert systemctl.calls == [('stop', 'person'), ('start', 'person'), ('stop', 'person'), ('start', 'person')]
    assert read_tree(os.path.join(root, 'code'))['manage.py'] == 'old'


def test_switch_without_swap_keeps_the_tree(tmp_path):
    root = setup_release(tmp_path)
    switch = _window.Switch(root, 'old', None, 'person', FakeSystemctl(), lambda: None)
    switch.run(swap=False)
    assert read_tree(os.path.join(root, 'code'))['manage.py'] == 'old'
    assert 'swap' not in switch.steps


def test_record_moves_current_to_previous_only_for_a_new_release():
    state = {'app': 'person', 'current': {'release': 'a', 'venv': 'v1', 'at': 't0'}}
    switch = _window.Switch('/srv/person', 'b', 'v2', 'person', None)
    new = switch.record(state, 't1')
    assert new['current'] == {'release': 'b', 'venv': 'v2', 'at': 't1'}
    assert new['previous'] == {'release': 'a', 'venv': 'v1', 'at': 't0'}
    again = _window.Switch('/srv/person', 'b', 'v3', 'person', None).record(new, 't2')
    assert again['previous'] == new['previous']
    assert again['current'] == {'release': 'b', 'venv': 'v3', 'at': 't2'}


def test_the_window_lasts_until_the_app_answers(tmp_path):
    root = setup_release(tmp_path)
    ticks = iter(range(100))
    answered = []
    switch = _window.Switch(root, 'new', None, 'person', FakeSystemctl(), clock=lambda: next(ticks),
                            ready=lambda: answered.append(True) or True)
    window = switch.run(swap=True)
    assert answered == [True] and switch.answered is True
    assert 'ready' in switch.steps
    assert window >= sum(switch.steps.values())
    # The same window without the wait is shorter by exactly the wait's ticks.
    root2 = setup_release(tmp_path / 'again')
    ticks2 = iter(range(100))
    without = _window.Switch(root2, 'new', None, 'person', FakeSystemctl(), clock=lambda: next(ticks2)).run(swap=True)
    assert window - without == 2


def test_a_failed_reload_restarts_the_old_tree(tmp_path):
    root = setup_release(tmp_path)
    systemctl = FakeSystemctl()

    def replaced():
        raise _errors.StepError('the server exited')

    switch = _window.Switch(root, 'new', None, 'person', systemctl, replaced=replaced)
    with pytest.raises(_errors.StepError):
        switch.run(swap=True, strategy='reload')
    assert switch.step == 'workers'
    assert switch.undo() == ['code', 'service restarted']
    assert systemctl.calls == [('reload', 'person'), ('restart', 'person')]
    assert read_tree(os.path.join(root, 'code'))['manage.py'] == 'old'


def test_record_takes_the_previous_release_from_the_tree_aside(tmp_path):
    root = make_root(tmp_path, {})
    # A killed run swapped b in and never wrote the state: code.previous/ holds a, as the state's current says.
    tree(root, 'code.previous', {_state.RELEASE_FILE: 'a\n'})
    state = {'current': {'release': 'a', 'venv': 'v1'}, 'previous': {'release': 'z'},
             'switching': {'release': 'b'}}
    new = _window.Switch(root, 'b', 'v2', 'person', None).record(state, 't')
    assert new['previous'] == {'release': 'a', 'venv': 'v1'} and 'switching' not in new
    # The state is two releases behind the trees: the tree aside wins.
    tree(root, 'code.previous', {_state.RELEASE_FILE: 'y\n'})
    new = _window.Switch(root, 'b', 'v2', 'person', None).record(state, 't')
    assert new['previous'] == {'release': 'y'}


def test_undo_takes_the_schema_back_first_with_the_service_stopped(tmp_path):
    root = setup_release(tmp_path)
    systemctl = FakeSystemctl()
    seen = []

    def schema():
        seen.append((list(systemctl.calls), read_tree(os.path.join(root, 'code'))['manage.py']))
        return ['schema: migrated back']

    def ready():
        raise _errors.StepError('did not answer')

    switch = _window.Switch(root, 'new', 'v2', 'person', systemctl, lambda: None, ready=ready,
                            backup=lambda: None)
    with pytest.raises(_errors.StepError):
        switch.run(swap=True)
    assert switch.attempted == ['stop', 'swap', 'venv', 'backup', 'migrate', 'start', 'ready']
    assert switch.undo(schema) == ['schema: migrated back', 'venv', 'code', 'service started']
    # stopped again before the schema went back, with the new tree (its migrations) still live
    assert seen == [([('stop', 'person'), ('start', 'person'), ('stop', 'person')], 'new')]
    assert systemctl.calls[-1] == ('start', 'person')


def test_undo_leaves_the_schema_alone_when_migrate_never_began(tmp_path):
    root = setup_release(tmp_path)

    def backup():
        raise _errors.StepError('pg_dump failed')

    switch = _window.Switch(root, 'new', None, 'person', FakeSystemctl(), lambda: None, backup=backup)
    with pytest.raises(_errors.StepError):
        switch.run(swap=True)
    assert switch.step == 'backup'
    assert switch.undo(lambda: pytest.fail('the schema was not touched')) == ['code', 'service started']


def test_the_window_ends_when_a_worker_of_the_new_release_serves_and_the_app_is_asked_after(tmp_path):
    # With SERVING, the health URL is asked after the window: its request waits behind every connection the
    # socket held through the window, and the window would last until they were all served.
    now = [0]
    order = []

    def wait(seconds, name, said=True):
        order.append(name)
        now[0] += seconds
        return said

    switch = _window.Switch(setup_release(tmp_path), 'new', None, 'person', FakeSystemctl(), clock=lambda: now[0],
                            ready=lambda: wait(100, 'ready'), serving=lambda: wait(5, 'serving'))
    assert switch.run(swap=True) == 5
    assert order == ['serving', 'ready'] and switch.answered is True
    assert switch.steps['serving'] == 5 and switch.steps['ready'] == 100
    # A worker that never said so (a hook that cannot write there): the window lasts until the app answers.
    silent = _window.Switch(setup_release(tmp_path / 'silent'), 'new', None, 'person', FakeSystemctl(),
                            clock=lambda: now[0], ready=lambda: wait(100, 'ready'),
                            serving=lambda: wait(5, 'serving', said=False))
    assert silent.run(swap=True) == 105


def test_first_ready_reads_the_workers_files_never_through_a_link(tmp_path):
    from ansible_collections.simpledeploy.django.plugins.module_utils import _workers
    ready_dir = tmp_path / 'run'
    clock = iter(range(1000))
    quick = dict(clock=lambda: next(clock), sleep=lambda seconds: None)
    assert _workers.first_ready(str(ready_dir), 'r2', 5, **quick) is False  # no directory yet
    workers = ready_dir / _workers.WORKERS_DIR
    workers.mkdir(parents=True)
    (workers / '4242').write_text('r1\n')  # another release's word
    (workers / 'notes').write_text('r2\n')  # not a worker's file
    assert _workers.first_ready(str(ready_dir), 'r2', 5, **quick) is False
    (workers / '4243').write_text('preloaded r2\n')
    assert _workers.first_ready(str(ready_dir), 'r2', 5, **quick) is True
    # the app user's directory swapped for a link: not followed
    elsewhere = tmp_path / 'elsewhere'
    elsewhere.mkdir()
    (elsewhere / '1').write_text('r3\n')
    (workers / '4243').unlink()
    os.rename(str(workers), str(tmp_path / 'old-workers'))
    os.symlink(str(elsewhere), str(workers))
    assert _workers.first_ready(str(ready_dir), 'r3', 5, **quick) is False
    # nothing said, but the app answered by other means: given up at once, not after the timeout
    asked = iter([False, False, True])
    before = next(clock)
    assert _workers.first_ready(str(ready_dir), 'r9', 500, give_up=lambda: next(asked), **quick) is False
    assert next(clock) - before < 10


class GatedSystemctl(FakeSystemctl):
    """Records, with each call, which of the two gates were closed; a start takes START_SECONDS and is said (started)
    when it returns."""

    def __init__(self, gate, serve_gate, fail=None, start_seconds=0.0):
        super().__init__(fail)
        self.gates = (gate, serve_gate)
        self.seen = []
        self.started = threading.Event()
        self.start_seconds = start_seconds

    def __call__(self, action, unit):
        self.seen.append((action, tuple(os.path.exists(path) for path in self.gates)))
        if action == 'start':
            time.sleep(self.start_seconds)
        try:
            super().__call__(action, unit)
        finally:
            if action == 'start':
                self.started.set()


def gates(tmp_path):
    return str(tmp_path / 'gate'), str(tmp_path / 'serve-gate')


def test_with_a_serve_gate_the_new_release_starts_beside_migrate_and_serves_after_it(tmp_path):
    """The start runs while migrate does (migrate waits until it has returned), with the start gate open and the
    serve gate closed; the serve gate opens only once migrate is done, and the window ends after that."""
    root = setup_release(tmp_path)
    gate, serve_gate = gates(tmp_path)
    systemctl = GatedSystemctl(gate, serve_gate)
    during = []

    def migrate():
        assert systemctl.started.wait(10), 'the service was not started beside migrate'
        during.append((os.path.exists(gate), os.path.exists(serve_gate)))

    served = []
    switch = _window.Switch(root, 'new', 'v2', 'person', systemctl, migrate, gate=gate, serve_gate=serve_gate,
                            serving=lambda: served.append(os.path.exists(serve_gate)) or True)
    switch.run(swap=True)
    assert systemctl.seen == [('stop', (True, True)), ('start', (False, True))]
    assert during == [(False, True)], 'migrate ran with the start gate open and the workers held'
    assert served == [False], 'the window waited for a worker only once the serve gate was open'
    assert not os.path.exists(gate) and not os.path.exists(serve_gate)
    assert read_tree(os.path.join(root, 'code'))['manage.py'] == 'new'
    assert 'start' in switch.steps and switch.attempted.index('start') < switch.attempted.index('migrate')


def test_a_failed_migrate_beside_a_start_stops_the_new_release_once_started_then_starts_the_old_one(tmp_path):
    """The undo waits for the start begun beside migrate (0.3 s here), stops it (its workers served nothing), and
    starts the old release with both gates open."""
    root = setup_release(tmp_path)
    gate, serve_gate = gates(tmp_path)
    systemctl = GatedSystemctl(gate, serve_gate, start_seconds=0.3)

    def migrate():
        raise _errors.StepError('migration 0002 failed')

    switch = _window.Switch(root, 'new', 'v2', 'person', systemctl, migrate, gate=gate, serve_gate=serve_gate)
    with pytest.raises(_errors.StepError):
        switch.run(swap=True)
    assert switch.step == 'migrate'
    assert switch.undo() == ['venv', 'code', 'service started']
    assert systemctl.seen == [('stop', (True, True)), ('start', (False, True)), ('stop', (True, True)),
                              ('start', (False, False))]
    assert read_tree(os.path.join(root, 'code'))['manage.py'] == 'old'
    assert not os.path.exists(gate) and not os.path.exists(serve_gate)


def test_a_start_beside_migrate_that_fails_fails_the_window_at_start_after_migrate(tmp_path):
    root = setup_release(tmp_path)
    gate, serve_gate = gates(tmp_path)
    systemctl = GatedSystemctl(gate, serve_gate, fail=('start', 1))
    migrated = []
    switch = _window.Switch(root, 'new', None, 'person', systemctl, lambda: migrated.append(True),
                            gate=gate, serve_gate=serve_gate)
    with pytest.raises(OSError, match='start failed'):
        switch.run(swap=True)
    assert switch.step == 'start' and migrated == [True]
    assert os.path.exists(serve_gate), 'the workers of a release that failed to start never took a connection'
    switch.undo()
    assert systemctl.calls == [('stop', 'person'), ('start', 'person'), ('stop', 'person'), ('start', 'person')]
    assert read_tree(os.path.join(root, 'code'))['manage.py'] == 'old'


def test_a_rolled_window_loads_the_new_workers_before_the_old_ones_go_and_opens_the_serve_gate_after_migrate(
        tmp_path):
    """No systemctl call at all: the trees are swapped, new workers load (gates closed), the old ones go, then
    backup and migrate, then the serve gate opens; the window runs from the old workers' going to serving."""
    root = setup_release(tmp_path)
    gate, serve_gate = gates(tmp_path)
    systemctl = GatedSystemctl(gate, serve_gate)
    order = []
    clock = [0.0]

    def step(name, seconds=0.0):
        def run():
            order.append((name, read_tree(os.path.join(root, 'code'))['manage.py'], os.path.exists(gate),
                          os.path.exists(serve_gate)))
            clock[0] += seconds
            return True
        return run

    switch = _window.Switch(root, 'new', None, 'person', systemctl, step('migrate', 0.2), clock=lambda: clock[0],
                            backup=step('backup', 0.1), gate=gate, serve_gate=serve_gate,
                            serving=step('serving', 0.01), held_roll=(step('load', 3.0), step('retire', 0.05)))
    window = switch.run(swap=True)
    assert order == [('load', 'new', True, True), ('retire', 'new', True, True), ('backup', 'new', True, True),
                     ('migrate', 'new', True, True), ('serving', 'new', False, False)]
    assert systemctl.calls == []
    assert window == pytest.approx(0.36), 'the new workers\' 3 s of loading are not in the window'
    assert switch.steps['workers'] == pytest.approx(3.0) and switch.steps['stop'] == pytest.approx(0.05)


def test_a_rolled_window_that_fails_at_migrate_stops_the_held_workers_first_then_restarts_the_old_tree(tmp_path):
    root = setup_release(tmp_path)
    gate, serve_gate = gates(tmp_path)
    systemctl = GatedSystemctl(gate, serve_gate)

    def migrate():
        raise _errors.StepError('migration 0002 failed')

    schema = []
    switch = _window.Switch(root, 'new', None, 'person', systemctl, migrate, gate=gate, serve_gate=serve_gate,
                            held_roll=(lambda: [501], lambda: [501]))
    with pytest.raises(_errors.StepError):
        switch.run(swap=True)
    restored = switch.undo(lambda: schema.append(systemctl.seen[:]) or ['schema: migrated back'])
    # Stopped (held workers and all, gates closed) before the schema goes back; the old tree restarted, gates open.
    assert schema == [[('stop', (True, True))]]
    assert systemctl.seen == [('stop', (True, True)), ('restart', (False, False))]
    assert restored == ['schema: migrated back', 'code', 'service restarted']
    assert read_tree(os.path.join(root, 'code'))['manage.py'] == 'old'
