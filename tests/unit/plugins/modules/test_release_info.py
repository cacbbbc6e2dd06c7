# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""release_info on real directories: what it reports, and that it changes nothing."""

from __future__ import annotations

import json
import os
import pathlib
import shutil

import pytest

from ansible_collections.simpledeploy.django.plugins.modules import release_info


@pytest.fixture
def info(run_module):
    """Run release_info with ARGS; return its result."""
    return lambda args, check_mode=False: run_module(release_info, args, check_mode=check_mode)


def snapshot(path):
    return sorted((dirpath, tuple(sorted(dirs)), tuple(sorted(files))) for dirpath, dirs, files in os.walk(path))


def test_a_deployed_root_reports_its_releases_and_changes_nothing(info, root_parent):
    tmp_path = pathlib.Path(root_parent)
    root = tmp_path / 'srv' / 'person'
    (root / 'venvs' / 'abc').mkdir(parents=True)
    (root / 'venvs' / 'abc' / '.simpledeploy-complete').write_text('abc\n')
    (root / '.simpledeploy.json').write_text(json.dumps(
        {'app': 'person', 'current': {'release': 'r2', 'venv': 'abc'}, 'previous': {'release': 'r1'},
         'releases': [{'release': 'r2', 'migrations': {'people': '0002_b'}},
                      {'release': 'r0', 'venv': 'abc', 'at': 't0', 'migrations': {}}]}))
    for tree, release in (('code', 'r2'), ('releases/r0', 'r0')):
        (root / tree).mkdir(parents=True)
        (root / tree / '.simpledeploy-release').write_text(release + '\n')
    before = snapshot(str(tmp_path))
    result = info({'root': str(root), 'app': 'person', 'venv_key': 'abc'})
    assert not result.get('failed'), result
    assert result['changed'] is False
    assert result['safe'] and result['ours'] and result['exists']
    assert (result['current_release'], result['previous_release'], result['current_venv']) == ('r2', 'r1', 'abc')
    assert result['venv_ready'] is True
    assert result['service_exists'] is None
    assert result['shared_problems'] == []
    assert [(row['release'], row['tree'], row['migrations'], row['rollback'], row['why_not'])
            for row in result['releases']] == [
        ('r2', 'code', {'people': '0002_b'}, False, 'it is the live release'),
        ('r1', None, None, False, 'its tree is no longer on the host (pruned, or removed by hand)'),
        ('r0', 'releases/r0', {}, True, None)]
    assert result['rollback_to'] == 'r0'
    assert snapshot(str(tmp_path)) == before


def test_a_root_in_a_temporary_directory_is_reported_unsafe(info, tmp_path):
    result = info({'root': str(tmp_path / 'srv' / 'person'), 'app': 'person'})
    assert result['safe'] is False and 'temporary directory /tmp' in result['reason']


def test_a_link_the_app_user_planted_in_shared_is_reported(info, root_parent, attacker):
    root = os.path.join(root_parent, 'srv', 'person')
    os.makedirs(os.path.join(root, 'shared'))
    os.chown(os.path.join(root, 'shared'), attacker.uid, attacker.gid)
    with open(os.path.join(root, '.simpledeploy.json'), 'w') as handle:
        handle.write('{"app": "person"}\n')
    attacker.run(os.symlink, '/etc', os.path.join(root, 'shared', 'media'))
    before = snapshot(root_parent)
    result = info({'root': root, 'app': 'person', 'shared_dirs': ['media', 'static']})
    assert result['safe'] is True
    assert len(result['shared_problems']) == 1
    assert 'shared/media is a symbolic link to /etc owned by nobody' in result['shared_problems'][0]
    assert snapshot(root_parent) == before
    os.unlink(os.path.join(root, 'shared', 'media'))
    os.symlink('/etc', os.path.join(root, 'shared', 'media'))  # root's own: an operator's link
    assert info({'root': root, 'app': 'person', 'shared_dirs': ['media']})['shared_problems'] == []


def test_a_foreign_root_is_reported_unsafe_with_what_to_do(info, tmp_path):
    root = tmp_path / 'srv' / 'mysite'
    root.mkdir(parents=True)
    (root / 'manage.py').write_text('# deployed by hand\n')
    result = info({'root': str(root), 'app': 'mysite', 'venv_key': 'nope'}, check_mode=True)
    assert not result.get('failed')
    assert result['safe'] is False and result['ours'] is False
    assert 'not created by simpledeploy' in result['reason'] and 'Choose a new or empty directory' in result['reason']
    assert result['venv_ready'] is False


@pytest.mark.parametrize('root', ['/', '/etc', '/srv', '/root/app'])
def test_system_directories_are_unsafe(info, root):
    result = info({'root': root})
    assert not result.get('failed')
    assert result['safe'] is False and result['reason']


def test_a_missing_service_is_reported(info, tmp_path):
    result = info({'root': str(tmp_path / 'srv' / 'x'), 'service': 'no-such-unit-3f9a'})
    assert not result.get('failed')
    assert result['service_exists'] is False


def test_the_trees_markers_win_over_a_state_left_behind_by_a_killed_run(info, tmp_path):
    root = tmp_path / 'srv' / 'person'
    for tree, release in (('code', 'r3'), ('code.previous', 'r2'), ('staging', 'r3')):
        (root / tree).mkdir(parents=True)
        (root / tree / '.simpledeploy-release').write_text(release + '\n')
    switching = {'release': 'r3', 'started': '2026-11-24T10:15:00Z', 'strategy': 'simple'}
    (root / '.simpledeploy.json').write_text(json.dumps(
        {'app': 'person', 'current': {'release': 'r2', 'venv': 'abc'}, 'previous': {'release': 'r1'},
         'switching': switching}))
    result = info({'root': str(root), 'app': 'person'})
    assert (result['current_release'], result['previous_release'], result['staged_release']) == ('r3', 'r2', 'r3')
    assert result['switching'] == switching
    assert result['current_venv'] == 'abc'


def test_without_markers_the_state_file_says_and_nothing_is_switching(info, tmp_path):
    root = tmp_path / 'srv' / 'person'
    (root / 'code').mkdir(parents=True)
    (root / '.simpledeploy.json').write_text(json.dumps({'app': 'person', 'current': {'release': 'r2'}}))
    result = info({'root': str(root), 'app': 'person'})
    assert (result['current_release'], result['previous_release'], result['staged_release']) == ('r2', None, None)
    assert result['switching'] is None


def test_what_a_quiet_run_needs_read_once_and_nothing_changed(info, root_parent, run_module):
    """config_changed, root_ready and gates_closed: the role's quiet path is taken only when each says nothing
    to do; each turns when the one thing it reads differs. The root is made by deploy_root itself."""
    from ansible_collections.simpledeploy.django.plugins.modules import deploy_root
    root = os.path.join(root_parent, 'srv-person')
    made = run_module(deploy_root, dict(root=root, app='person', owner='nobody', group='nogroup',
                                        shared_dirs=['media']))
    assert not made.get('failed'), made
    env = os.path.join(root, 'app.env')
    with open(env, 'w') as handle:
        handle.write('SECRET_KEY=quiet-run-secret-value\n')
    os.chmod(env, 0o600)
    config = [dict(dest=env + '.simpledeploy-next', mode='0600', staged=True)]
    args = dict(root=root, app='person', user='nobody', group='nogroup', shared_dirs=['media'], config=config,
                config_contents=['SECRET_KEY=quiet-run-secret-value\n'],
                gates=[os.path.join(root, '.simpledeploy-gate')])
    before = snapshot(root)
    result = info(args)
    assert (result['config_changed'], result['root_ready'], result['gates_closed']) == ([], True, [])
    assert 'quiet-run-secret-value' not in result.raw
    # Each difference is seen: the content, the mode, a missing shared directory, a gate left closed.
    changed = info(dict(args, config_contents=['SECRET_KEY=another\n']))
    assert changed['config_changed'] == [env] and 'files to write: %s' % env in changed['quiet_blockers']
    assert 'another' not in ' '.join(changed['quiet_blockers'])
    assert info(dict(args, config=[dict(config[0], mode='0644')]))['config_changed'] == [env]
    assert info(dict(args, shared_dirs=['media', 'uploads']))['root_ready'] is False
    assert info(dict(args, user='no-such-user-here'))['root_ready'] is False
    assert snapshot(root) == before
    assert info(dict(args, lock=os.path.join(root_parent, 'person.lock')))['lock_present'] is False
    open(os.path.join(root, '.simpledeploy-gate'), 'w').close()
    closed = info(args)
    assert closed['gates_closed'] == [os.path.join(root, '.simpledeploy-gate')]
    assert 'gates left closed: %s' % os.path.join(root, '.simpledeploy-gate') in closed['quiet_blockers']
    os.symlink('/nonexistent', os.path.join(root_parent, 'person.lock'))
    assert info(dict(args, lock=os.path.join(root_parent, 'person.lock')))['lock_present'] is True
    assert info(args)['lock_present'] is None


@pytest.fixture
def shop():
    """A production Django behind its proxy (conftest.proxied_django), answering 200 at /catalog/."""
    from ansible_collections.simpledeploy.django.tests.unit.conftest import proxied_django
    with proxied_django('shop.example.com', b'<h1>Catalog</h1>') as server:
        yield server


def fake_systemctl(tmp_path, monkeypatch, state):
    """A systemctl on PATH that says every unit is loaded and in STATE."""
    bindir = tmp_path / 'bin'
    bindir.mkdir(exist_ok=True)
    script = bindir / 'systemctl'
    script.write_text('#!/bin/sh\necho LoadState=loaded\necho ActiveState=%s\necho UnitFileState=enabled\n'
                      'echo MainPID=0\n' % state)
    script.chmod(0o755)
    monkeypatch.setenv('PATH', '%s:%s' % (bindir, os.environ.get('PATH', '')))


def live_root(parent, switching=False):
    root = pathlib.Path(parent) / 'srv' / 'shop'
    (root / 'code').mkdir(parents=True)
    (root / 'code' / '.simpledeploy-release').write_text('r2\n')
    state = {'app': 'shop', 'current': {'release': 'r2', 'venv': 'abc'}}
    if switching:
        state['switching'] = {'release': 'r3', 'previous': 'r2'}
    (root / '.simpledeploy.json').write_text(json.dumps(state))
    return root


HEALTH_TOKEN = 'health-token-5d4c3b2a1f'


def test_the_live_release_is_asked_in_the_same_execution_its_header_values_never_shown(
        info, root_parent, tmp_path, monkeypatch, shop):
    # The role's check before anything changes (a running service answers at all), and a quiet run's health check
    # (a 2xx): one request, with the Host ALLOWED_HOSTS accepts and the proxy's header.
    fake_systemctl(tmp_path, monkeypatch, 'active')
    root = live_root(root_parent)
    env_file = root / 'app.env'
    env_file.write_text('API_KEY=%s\n' % HEALTH_TOKEN)
    args = dict(root=str(root), app='shop', service='shop', health_url=shop.url, health_host='shop.example.com',
                health_headers={'X-Forwarded-Proto': 'https', 'X-Probe-Token': HEALTH_TOKEN},
                env_file=str(env_file))
    result = info(args)
    assert not result.get('failed'), result
    assert result['health']['answered'] is True and result['health']['status'] == 200
    assert shop.asked[-1]['X-Probe-Token'] == HEALTH_TOKEN and shop.asked[-1]['Host'] == 'shop.example.com'
    assert HEALTH_TOKEN not in result.raw
    # Without the Host: Django's 400, an answer (the check before the stop lets it pass), not a 2xx.
    result = info(dict(args, health_host=None))
    assert result['health']['answered'] is False and result['health']['status'] == 400
    assert 'deploy_healthcheck_host' in result['health']['hint']


def test_the_live_release_is_not_asked_when_stopped_nothing_is_live_or_a_window_is_open(
        info, root_parent, tmp_path, monkeypatch, shop):
    args = dict(app='shop', service='shop', health_url=shop.url, health_host='shop.example.com',
                health_headers={'X-Forwarded-Proto': 'https'})
    # Stopped: through its socket unit, a request would start it.
    fake_systemctl(tmp_path, monkeypatch, 'inactive')
    result = info(dict(args, root=str(live_root(root_parent))))
    assert result['health'] == dict(answered=False, status=None, active=False, last='not asked: shop is inactive',
                                    hint='start shop')
    fake_systemctl(tmp_path, monkeypatch, 'active')
    # A window a killed run left open holds every connection: the run finishes it first.
    shutil.rmtree(os.path.join(root_parent, 'srv'))
    assert info(dict(args, root=str(live_root(root_parent, switching=True))))['health'] is None
    # Nothing deployed yet.
    assert info(dict(args, root=os.path.join(root_parent, 'srv', 'new')))['health'] is None
    assert shop.asked == []


def test_header_values_never_blank_the_result_even_when_not_asked(info, root_parent, tmp_path, monkeypatch, shop):
    # no_log registers every header value: a "1" would mask the 1s of every string (the release ids), and the role
    # would take the live release for another one. Taken out of the params whether the URL is asked or not.
    fake_systemctl(tmp_path, monkeypatch, 'inactive')
    root = live_root(root_parent)
    (root / 'code' / '.simpledeploy-release').write_text('r1a1\n')
    with open(root / '.simpledeploy.json', 'w') as handle:
        json.dump({'app': 'shop', 'current': {'release': 'r1a1', 'venv': 'abc'}}, handle)
    result = info(dict(root=str(root), app='shop', service='shop', health_url=shop.url,
                       health_headers={'X-Probe': '1'}))
    assert result['current_release'] == 'r1a1' and result['health']['active'] is False


def test_an_unsafe_root_is_not_asked_nor_its_environment_read(info, tmp_path, monkeypatch, shop):
    # A root where the app user can write (here under /tmp): its app.env may be a FIFO or a link to a root-only file.
    fake_systemctl(tmp_path, monkeypatch, 'active')
    root = live_root(str(tmp_path))
    os.mkfifo(str(root / 'app.env'))
    result = info(dict(root=str(root), app='shop', service='shop', health_url=shop.url,
                       env_file=str(root / 'app.env')))
    assert result['safe'] is False and result['health'] is None and shop.asked == []


def quiet_root(parent, venv):
    """A deploy root with v1 live and migrated (SQLite in shared/), its virtualenv venvs/k1 complete, and the
    files, account and units as the role makes them (args() gives release_info what to compare)."""
    import subprocess
    from ansible_collections.simpledeploy.django.tests.unit.conftest import copy_example
    root = os.path.join(parent, 'srv', 'person')
    os.makedirs(os.path.join(root, 'shared'))
    copy_example('v1', os.path.join(root, 'code'))
    os.symlink(os.path.join(root, 'shared', 'db.sqlite3'), os.path.join(root, 'code', 'db.sqlite3'))
    with open(os.path.join(root, 'code', '.simpledeploy-release'), 'w') as handle:
        handle.write('r1\n')
    os.makedirs(os.path.join(root, 'venvs'))
    os.symlink(venv.path, os.path.join(root, 'venvs', 'k1'))
    with open(os.path.join(venv.path, '.simpledeploy-complete'), 'w') as handle:
        handle.write('k1\n')
    with open(os.path.join(root, '.simpledeploy.json'), 'w') as handle:
        json.dump({'app': 'person', 'current': {'release': 'r1', 'venv': 'k1'}}, handle)
    env = os.path.join(root, 'app.env')
    with open(env, 'w') as handle:
        handle.write('DJANGO_SECRET_KEY=quiet-plan-secret-0123456789\n')
    os.chmod(env, 0o600)
    subprocess.run([venv.python, 'manage.py', 'migrate', '--noinput'], cwd=os.path.join(root, 'code'), check=True,
                   env=dict(os.environ, DJANGO_SECRET_KEY='x' * 20), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    return root


def test_with_nothing_to_do_the_live_plan_is_read_in_the_same_execution(
        info, root_parent, django52_venv, monkeypatch):
    # The role's quiet path: one remote execution reads the host and the plan, which still sees a database
    # migrated back by hand (migrations to apply), and what it says of them.
    from ansible_collections.simpledeploy.django.plugins.module_utils import _state
    root = quiet_root(root_parent, django52_venv)
    # What the role's other reads find ready (each proven on its own above and in test_state, test_accounts...).
    monkeypatch.setattr(_state, 'quiet_blockers',
                        lambda found, release, key: [] if (release, key) == ('r1', 'k1') else ['release r1 is live'])
    args = dict(root=root, app='person', venv_key='k1', release='r1', plan=True,
                env_file=os.path.join(root, 'app.env'), check=True)
    result = info(args)
    assert not result.get('failed'), result
    assert result['nothing_to_do'] is True
    plan = result['plan']
    assert plan['pending'] is False and plan['remote_database'] is False and plan['checks'] == []
    assert 'quiet-plan-secret-0123456789' not in result.raw
    # Migrated back by hand: the same run is not quiet after all.
    import subprocess
    subprocess.run([django52_venv.python, 'manage.py', 'migrate', 'people', 'zero', '--noinput'],
                   cwd=os.path.join(root, 'code'), check=True, env=dict(os.environ, DJANGO_SECRET_KEY='x' * 20),
                   stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    plan = info(args)['plan']
    assert plan['pending'] is True and [m['name'] for m in plan['migrations']] == ['0001_initial']
    # Another release: something to do, no plan read here (plan.yml reads the new release's).
    other = info(dict(args, release='r2'))
    assert other['nothing_to_do'] is False and other['plan'] is None
    assert other['quiet_blockers'] == ['release r1 is live'] and result['quiet_blockers'] == []
