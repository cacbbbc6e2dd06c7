# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The release layout and the downtime window's logic, on real directories."""

from __future__ import annotations

import json
import os
import shutil
import time

import pytest

from ansible_collections.simpledeploy.django.plugins.module_utils import _release


@pytest.mark.parametrize('path, homes, fragment', [
    ('relative/app', (), 'absolute'),
    ('/', (), 'whole filesystem'),
    ('//', (), 'whole filesystem'),
    ('/etc', (), 'system directory /etc'),
    ('/etc/myapp', (), 'system directory /etc'),
    ('/usr/local/app', (), 'system directory /usr'),
    ('/root/app', (), 'system directory /root'),
    ('/srv', (), 'system directory'),
    ('/srv/', (), 'system directory'),
    ('/var/www', (), 'system directory'),
    ('/home', (), 'system directory'),
    ('/apps', (), 'top-level'),
    ('/home/alice', ('/home/alice',), 'home directory /home/alice'),
    ('/home/alice/../alice', ('/home/alice',), 'home directory /home/alice'),
    ('/srv/shared', ('/srv/shared/bob',), 'home directory /srv/shared/bob'),
])
def test_unsafe_roots_are_refused_with_a_reason(path, homes, fragment):
    reason = _release.unsafe_root_reason(path, homes)
    assert reason is not None and fragment in reason


@pytest.mark.parametrize('path, homes', [
    ('/srv/person', ('/home/alice', '/', '/nonexistent')),
    ('/var/www/person', ('/var/www',)),
    ('/home/alice/sites/person', ('/home/alice',)),
    ('/opt/person', ()),
])
def test_ordinary_roots_are_accepted(path, homes):
    assert _release.unsafe_root_reason(path, homes) is None


def make_root(tmp_path, state=None, app='person'):
    root = tmp_path / 'srv' / 'person'
    root.mkdir(parents=True)
    if state is not None:
        (root / _release.MARKER).write_text(json.dumps(dict(app=app, **state)))
    return str(root)


def test_a_new_directory_is_safe_and_not_yet_ours(tmp_path):
    info = _release.inspect_root(str(tmp_path / 'srv' / 'new'), (), 'person')
    assert info['safe'] and not info['exists'] and not info['ours']
    assert info['current_release'] is None


def test_a_foreign_directory_with_content_is_refused(tmp_path):
    root = make_root(tmp_path)
    open(os.path.join(root, 'manage.py'), 'w').close()
    info = _release.inspect_root(root, (), 'person')
    assert not info['safe']
    assert 'was not created by simpledeploy' in info['reason']


def test_an_empty_foreign_directory_may_be_used(tmp_path):
    assert _release.inspect_root(make_root(tmp_path), (), 'person')['safe']


def test_a_root_of_another_app_is_refused(tmp_path):
    root = make_root(tmp_path, {}, app='other')
    info = _release.inspect_root(root, (), 'person')
    assert not info['safe'] and "'other'" in info['reason']


def test_state_is_read_from_the_marker(tmp_path):
    root = make_root(tmp_path, {'current': {'release': 'b', 'venv': 'v2'}, 'previous': {'release': 'a'}})
    info = _release.inspect_root(root, (), 'person')
    assert info['safe'] and info['ours']
    assert (info['current_release'], info['previous_release'], info['current_venv']) == ('b', 'a', 'v2')


def tree(root, name, files):
    base = os.path.join(root, name)
    for rel, text in files.items():
        path = os.path.join(base, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, 'w') as handle:
            handle.write(text)


def read_tree(path):
    found = {}
    for dirpath, dummy, filenames in os.walk(path):
        for name in filenames:
            full = os.path.join(dirpath, name)
            with open(full) as handle:
                found[os.path.relpath(full, path)] = handle.read()
    return found


class FakeSystemctl(object):
    """Records calls; fails the N-th call of an action when told to."""

    def __init__(self, fail=None):
        self.calls = []
        self.fail = fail

    def __call__(self, action, unit):
        self.calls.append((action, unit))
        if self.fail == (action, len([c for c in self.calls if c[0] == action])):
            raise OSError('%s failed' % action)


def setup_release(tmp_path):
    root = make_root(tmp_path, {'current': {'release': 'old', 'venv': 'v1'}})
    tree(root, 'code', {'manage.py': 'old', 'people/legacy.py': 'old'})
    tree(root, 'code.previous', {'manage.py': 'older'})
    tree(root, 'staging', {'manage.py': 'new', 'people/models.py': 'new'})
    for key in ('v1', 'v2'):
        tree(root, 'venvs/' + key, {_release.VENV_READY: key})
    os.symlink('venvs/v1', os.path.join(root, 'venv'))
    return root


def test_switch_swaps_whole_trees_and_orders_the_steps(tmp_path):
    root = setup_release(tmp_path)
    systemctl = FakeSystemctl()
    migrated = []
    switch = _release.Switch(root, 'new', 'v2', 'person', systemctl,
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

    switch = _release.Switch(root, 'new', 'v2', 'person', systemctl, migrate)
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
    switch = _release.Switch(root, 'new', None, 'person', systemctl)
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
        raise _release.StepError('http://127.0.0.1:8000/ did not answer 200 within 30 s')

    switch = _release.Switch(root, 'new', None, 'person', systemctl, ready=ready)
    with pytest.raises(_release.StepError):
        switch.run(swap=True)
    assert switch.undo() == ['code', 'service started']
    assert systemctl.calls == [('stop', 'person'), ('start', 'person'), ('stop', 'person'), ('start', 'person')]
    assert read_tree(os.path.join(root, 'code'))['manage.py'] == 'old'


def test_switch_without_swap_keeps_the_tree(tmp_path):
    root = setup_release(tmp_path)
    switch = _release.Switch(root, 'old', None, 'person', FakeSystemctl(), lambda: None)
    switch.run(swap=False)
    assert read_tree(os.path.join(root, 'code'))['manage.py'] == 'old'
    assert 'swap' not in switch.steps


def test_record_moves_current_to_previous_only_for_a_new_release():
    state = {'app': 'person', 'current': {'release': 'a', 'venv': 'v1', 'at': 't0'}}
    switch = _release.Switch('/srv/person', 'b', 'v2', 'person', None)
    new = switch.record(state, 't1')
    assert new['current'] == {'release': 'b', 'venv': 'v2', 'at': 't1'}
    assert new['previous'] == {'release': 'a', 'venv': 'v1', 'at': 't0'}
    again = _release.Switch('/srv/person', 'b', 'v3', 'person', None).record(new, 't2')
    assert again['previous'] == new['previous']
    assert again['current'] == {'release': 'b', 'venv': 'v3', 'at': 't2'}


def test_write_state_round_trips(tmp_path):
    root = make_root(tmp_path, {})
    _release.write_state(root, {'app': 'person', 'current': {'release': 'x'}})
    assert _release.read_state(root)['current'] == {'release': 'x'}
    assert not os.path.exists(os.path.join(root, _release.MARKER + '.tmp'))


def test_stale_venvs_keeps_the_named_ones(tmp_path):
    root = setup_release(tmp_path)
    assert _release.stale_venvs(root, {'v2'}) == ['v1']
    assert _release.stale_venvs(str(tmp_path / 'none'), set()) == []


def test_point_symlink_is_idempotent(tmp_path):
    link = str(tmp_path / 'venv')
    assert _release.point_symlink(link, 'venvs/a') is True
    assert _release.point_symlink(link, 'venvs/a') is False
    assert _release.point_symlink(link, 'venvs/b') is True
    assert os.readlink(link) == 'venvs/b'


class _Answer(object):
    """A loopback HTTP server answering STATUS, on a free port."""

    def __init__(self, status):
        import http.server
        import threading

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 (the stdlib's name)
                self.send_response(status)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = http.server.HTTPServer(('127.0.0.1', 0), Handler)
        self.url = 'http://127.0.0.1:%d/' % self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()


def test_wait_for_url_returns_when_the_app_answers():
    with _Answer(200) as app:
        assert _release.wait_for_url(app.url, 200, timeout=5) is True


def test_wait_for_url_gives_up_on_a_wrong_status_or_nothing_listening():
    with _Answer(500) as app:
        assert _release.wait_for_url(app.url, 200, timeout=0.2) is False
        url = app.url
    assert _release.wait_for_url(url, 200, timeout=0.2) is False


def test_the_window_lasts_until_the_app_answers(tmp_path):
    root = setup_release(tmp_path)
    ticks = iter(range(100))
    answered = []
    switch = _release.Switch(root, 'new', None, 'person', FakeSystemctl(), clock=lambda: next(ticks),
                             ready=lambda: answered.append(True) or True)
    window = switch.run(swap=True)
    assert answered == [True] and switch.answered is True
    assert 'ready' in switch.steps
    assert window >= sum(switch.steps.values())
    # The same window without the wait is shorter by exactly the wait's ticks.
    root2 = setup_release(tmp_path / 'again')
    ticks2 = iter(range(100))
    without = _release.Switch(root2, 'new', None, 'person', FakeSystemctl(), clock=lambda: next(ticks2)).run(swap=True)
    assert window - without == 2


@pytest.mark.parametrize('requested, blockers, strategy, reason', [
    ('simple', [], 'simple', 'deploy_strategy is simple: stop, replace, migrate, start'),
    ('auto', [], 'reload', 'auto: nothing to migrate and the same virtualenv: the running server '
                           'reloads the new code gracefully, no downtime'),
    ('reload', [], 'reload', 'nothing to migrate and the same virtualenv: the running server '
                             'reloads the new code gracefully, no downtime'),
    ('auto', ['migrations are pending', 'the unit changed'], 'simple',
     'auto: migrations are pending; the unit changed'),
    ('simple', ['migrations are pending'], 'simple', 'deploy_strategy is simple: stop, replace, migrate, start'),
])
def test_choose_strategy(requested, blockers, strategy, reason):
    assert _release.choose_strategy(requested, blockers) == (strategy, reason)


def test_choose_strategy_refuses_a_reload_that_cannot_apply_the_deploy():
    with pytest.raises(ValueError, match='cannot apply this deploy: migrations are pending. Nothing was stopped'):
        _release.choose_strategy('reload', ['migrations are pending'])
    with pytest.raises(ValueError, match='unknown strategy'):
        _release.choose_strategy('rolling', [])


def test_exchange_paths_swaps_two_trees_in_one_step(tmp_path):
    tree(str(tmp_path), 'a', {'f': 'a'})
    tree(str(tmp_path), 'b', {'f': 'b'})
    if not _release.exchange_paths(str(tmp_path / 'a'), str(tmp_path / 'b')):
        pytest.skip('renameat2(RENAME_EXCHANGE) is not supported here')
    assert (tmp_path / 'a' / 'f').read_text() == 'b' and (tmp_path / 'b' / 'f').read_text() == 'a'
    with pytest.raises(OSError):
        _release.exchange_paths(str(tmp_path / 'a'), str(tmp_path / 'missing'))


def test_swap_and_unswap_without_the_exchange_give_the_same_trees(tmp_path, monkeypatch):
    monkeypatch.setattr(_release, 'exchange_paths', lambda first, second: False)
    root = setup_release(tmp_path)
    _release.swap_trees(root)
    assert read_tree(os.path.join(root, 'code'))['manage.py'] == 'new'
    assert read_tree(os.path.join(root, 'code.previous'))['manage.py'] == 'old'
    _release.unswap_trees(root)
    assert read_tree(os.path.join(root, 'code'))['manage.py'] == 'old'
    assert read_tree(os.path.join(root, 'staging'))['manage.py'] == 'new'
    assert not os.path.exists(os.path.join(root, 'code.previous'))


def test_swap_without_a_staged_tree_moves_nothing(tmp_path):
    root = setup_release(tmp_path)
    shutil.rmtree(os.path.join(root, 'staging'))
    with pytest.raises(OSError, match='nothing is staged'):
        _release.swap_trees(root)
    assert read_tree(os.path.join(root, 'code'))['manage.py'] == 'old'


def test_parse_show():
    assert _release.parse_show('ActiveState=active\nMainPID=42\nCanReload=yes\n\n') == {
        'ActiveState': 'active', 'MainPID': '42', 'CanReload': 'yes'}


def test_child_pids_and_pid_alive_read_proc():
    import subprocess
    import sys
    proc = subprocess.Popen([sys.executable, '-c', 'import subprocess, sys; '
                             'subprocess.run([sys.executable, "-c", "import time; time.sleep(30)"])'])
    try:
        for dummy in range(500):
            kids = _release.child_pids(proc.pid)
            if kids:
                break
            time.sleep(0.01)
        assert len(kids) == 1 and _release.pid_alive(kids[0])
        assert _release.child_pids(kids[0]) == []
    finally:
        proc.kill()
        proc.wait()
    assert not _release.pid_alive(proc.pid)


def test_wait_workers_replaced():
    ticks = iter(range(100))
    seen = iter([[1, 2], [1, 2, 3, 4], [3, 4]])
    assert _release.wait_workers_replaced(9, [1, 2], children=lambda pid: next(seen), alive=lambda pid: True,
                                          clock=lambda: next(ticks), sleep=lambda s: None) == [3, 4]
    with pytest.raises(_release.StepError, match=r'old workers \(2\) still ran 3 s'):
        _release.wait_workers_replaced(9, [1, 2], timeout=3, children=lambda pid: [2, 3],
                                       alive=lambda pid: True, clock=lambda: next(ticks), sleep=lambda s: None)
    with pytest.raises(_release.StepError, match='exited during the reload'):
        _release.wait_workers_replaced(9, [1], children=lambda pid: [], alive=lambda pid: False)


def test_a_failed_reload_restarts_the_old_tree(tmp_path):
    root = setup_release(tmp_path)
    systemctl = FakeSystemctl()

    def replaced():
        raise _release.StepError('the server exited')

    switch = _release.Switch(root, 'new', None, 'person', systemctl, replaced=replaced)
    with pytest.raises(_release.StepError):
        switch.run(swap=True, strategy='reload')
    assert switch.step == 'workers'
    assert switch.undo() == ['code', 'service restarted']
    assert systemctl.calls == [('reload', 'person'), ('restart', 'person')]
    assert read_tree(os.path.join(root, 'code'))['manage.py'] == 'old'


def test_tree_release_reads_the_marker_and_write_release_writes_it(tmp_path):
    tree_path = str(tmp_path / 'code')
    os.mkdir(tree_path)
    assert _release.tree_release(tree_path) is None
    _release.write_release(tree_path, 'abc123')
    assert (tmp_path / 'code' / _release.RELEASE_FILE).read_text() == 'abc123\n'
    assert _release.tree_release(tree_path) == 'abc123'
    (tmp_path / 'code' / _release.RELEASE_FILE).write_text('\n')
    assert _release.tree_release(tree_path) is None
    assert _release.tree_release(str(tmp_path / 'missing')) is None


def test_inspect_root_takes_the_releases_from_the_trees(tmp_path):
    root = make_root(tmp_path, {'current': {'release': 'old', 'venv': 'v1'}, 'previous': {'release': 'older'},
                                'switching': {'release': 'new'}})
    tree(root, 'code', {_release.RELEASE_FILE: 'new\n'})
    info = _release.inspect_root(root, (), 'person')
    assert (info['current_release'], info['previous_release'], info['staged_release']) == ('new', 'older', None)
    assert info['switching'] == {'release': 'new'}
    tree(root, 'code.previous', {_release.RELEASE_FILE: 'old\n'})
    tree(root, 'staging', {_release.RELEASE_FILE: 'next\n'})
    info = _release.inspect_root(root, (), 'person')
    assert (info['previous_release'], info['staged_release']) == ('old', 'next')


def test_a_rotation_killed_between_its_renames_is_finished_without_losing_the_old_tree(tmp_path, monkeypatch):
    monkeypatch.setattr(_release, 'exchange_paths', lambda first, second: False)
    root = setup_release(tmp_path)
    # the first plain rename happened: code/ -> code.previous/
    shutil.rmtree(os.path.join(root, 'code.previous'))
    os.rename(os.path.join(root, 'code'), os.path.join(root, 'code.previous'))
    _release.swap_trees(root)
    assert read_tree(os.path.join(root, 'code'))['manage.py'] == 'new'
    assert read_tree(os.path.join(root, 'code.previous'))['manage.py'] == 'old'


@pytest.mark.parametrize('trees, switching, swap, staging, notes', [
    # nothing special: swap as asked
    ({'code': 'a', 'staging': 'b'}, None, True, None, []),
    # code/ already holds the release: no swap; a copy of it in staging/ goes
    ({'code': 'b', 'previous': 'a'}, {'release': 'b'}, False, None,
     ['code/ already holds release b: not swapped again']),
    ({'code': 'b', 'previous': 'a', 'staging': 'b'}, None, False, 'remove',
     ['code/ already holds release b: not swapped again', 'staging/ holds release b too: removed']),
    # the exchange ran, its last rename did not: the old live tree waits in staging/
    ({'code': 'b', 'staging': 'a'}, {'release': 'b'}, False, 'aside',
     ['code/ already holds release b: not swapped again',
      'staging/ holds release a, the one that was live: moved to code.previous/']),
    # without a record of a window, another release in staging/ is not ours to move
    ({'code': 'b', 'staging': 'a'}, None, False, None, ['code/ already holds release b: not swapped again']),
    # trees without markers (an older layout): as asked
    ({}, None, True, None, []),
])
def test_resume_plan(tmp_path, trees, switching, swap, staging, notes):
    root = make_root(tmp_path, {})
    names = {'code': 'code', 'previous': 'code.previous', 'staging': 'staging'}
    for key in ('code', 'staging'):
        tree(root, names[key], {'manage.py': key})
    for key, release in trees.items():
        tree(root, names[key], {_release.RELEASE_FILE: release + '\n'})
    plan = _release.resume_plan(root, 'b', True, switching)
    assert (plan['swap'], plan['staging'], plan['notes']) == (swap, staging, notes)
    assert plan['found']['code'] == trees.get('code')


def test_apply_resume_moves_the_old_tree_aside_or_removes_the_copy(tmp_path):
    root = make_root(tmp_path, {})
    tree(root, 'staging', {'f': 'old'})
    _release.apply_resume(root, {'staging': 'aside'})
    assert read_tree(os.path.join(root, 'code.previous')) == {'f': 'old'}
    tree(root, 'staging', {'f': 'copy'})
    _release.apply_resume(root, {'staging': 'remove'})
    assert not os.path.exists(os.path.join(root, 'staging'))
    _release.apply_resume(root, {'staging': None})
    assert read_tree(os.path.join(root, 'code.previous')) == {'f': 'old'}


def test_record_takes_the_previous_release_from_the_tree_aside(tmp_path):
    root = make_root(tmp_path, {})
    # A killed run swapped b in and never wrote the state: code.previous/ holds a, as the state's current says.
    tree(root, 'code.previous', {_release.RELEASE_FILE: 'a\n'})
    state = {'current': {'release': 'a', 'venv': 'v1'}, 'previous': {'release': 'z'},
             'switching': {'release': 'b'}}
    new = _release.Switch(root, 'b', 'v2', 'person', None).record(state, 't')
    assert new['previous'] == {'release': 'a', 'venv': 'v1'} and 'switching' not in new
    # The state is two releases behind the trees: the tree aside wins.
    tree(root, 'code.previous', {_release.RELEASE_FILE: 'y\n'})
    new = _release.Switch(root, 'b', 'v2', 'person', None).record(state, 't')
    assert new['previous'] == {'release': 'y'}


def test_undo_takes_the_schema_back_first_with_the_service_stopped(tmp_path):
    root = setup_release(tmp_path)
    systemctl = FakeSystemctl()
    seen = []

    def schema():
        seen.append((list(systemctl.calls), read_tree(os.path.join(root, 'code'))['manage.py']))
        return ['schema: migrated back']

    def ready():
        raise _release.StepError('did not answer')

    switch = _release.Switch(root, 'new', 'v2', 'person', systemctl, lambda: None, ready=ready,
                             backup=lambda: None)
    with pytest.raises(_release.StepError):
        switch.run(swap=True)
    assert switch.attempted == ['stop', 'swap', 'venv', 'backup', 'migrate', 'start', 'ready']
    assert switch.undo(schema) == ['schema: migrated back', 'venv', 'code', 'service started']
    # stopped again before the schema went back, with the new tree (its migrations) still live
    assert seen == [([('stop', 'person'), ('start', 'person'), ('stop', 'person')], 'new')]
    assert systemctl.calls[-1] == ('start', 'person')


def test_undo_leaves_the_schema_alone_when_migrate_never_began(tmp_path):
    root = setup_release(tmp_path)

    def backup():
        raise _release.StepError('pg_dump failed')

    switch = _release.Switch(root, 'new', None, 'person', FakeSystemctl(), lambda: None, backup=backup)
    with pytest.raises(_release.StepError):
        switch.run(swap=True)
    assert switch.step == 'backup'
    assert switch.undo(lambda: pytest.fail('the schema was not touched')) == ['code', 'service started']


@pytest.mark.parametrize('kwargs, expected', [
    (dict(restored=['schema: x', 'venv', 'code', 'service started'], schema='migrated back people to 0001_initial',
          live_release='v1', answered=True, backup='/srv/p/backups/v2-20260101T000000Z.sqlite3'),
     'the downtime window failed at migrate: boom. Restored: code of release v1, its virtualenv, schema migrated '
     'back people to 0001_initial, service person started and answering: yes. Backup taken before migrating: '
     '/srv/p/backups/v2-20260101T000000Z.sqlite3. Logs: journalctl -u person -n 50'),
    (dict(restored=['code', 'service started'], live_release='v1'),
     'the downtime window failed at migrate: boom. Restored: code of release v1, service person started. '
     'Logs: journalctl -u person -n 50'),
    (dict(rollback=False, left='code/ holds release v2, service person left stopped'),
     'the downtime window failed at migrate: boom. Nothing was rolled back (rollback is false): code/ holds '
     'release v2, service person left stopped. Logs: journalctl -u person -n 50'),
    (dict(restored=['schema: x'], undo_error=OSError('no code.previous')),
     'the downtime window failed at migrate: boom. The rollback failed too: no code.previous (restored before '
     'that: schema: x); the host needs a look. Logs: journalctl -u person -n 50'),
])
def test_failure_message(kwargs, expected):
    assert _release.failure_message('downtime window', 'migrate', 'boom.', 'person', **kwargs) == expected


def test_resume_plan_removes_a_copy_of_the_live_release_even_without_a_swap(tmp_path):
    root = make_root(tmp_path, {})
    tree(root, 'code', {_release.RELEASE_FILE: 'b\n'})
    tree(root, 'staging', {_release.RELEASE_FILE: 'b\n'})
    plan = _release.resume_plan(root, 'b', False)
    assert (plan['swap'], plan['staging'], plan['notes']) == (False, 'remove', ['staging/ holds release b too: removed'])
    assert _release.resume_plan(root, 'c', False)['staging'] is None
