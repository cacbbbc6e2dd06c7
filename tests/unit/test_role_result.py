# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""deploy_result (verify.yml) says what the switch did: each figure follows what it is made from.

The fact is rendered by Ansible's templating from the task in verify.yml, with the results the role
registered (release_switch's, release_info's, the migration plan), then read by the summary filter.
"""

from __future__ import annotations

import os

import pytest
import yaml

from ansible.parsing.dataloader import DataLoader
from ansible.template import Templar

from ansible_collections.simpledeploy.django.tests.unit.conftest import trusted

from ansible_collections.simpledeploy.django.plugins.filter.deploy_summary import deploy_summary

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..'))
VERIFY = os.path.join(ROOT, 'roles', 'deploy', 'tasks', 'verify.yml')

MIGRATION = {'app': 'people', 'name': '0002_person_weight', 'backward_compatible': False, 'reversible': True,
             'operations': [{'kind': 'AddField', 'description': 'Add field weight to person'}]}
PLAN = {'changed': False, 'pending': True, 'migrations': [MIGRATION], 'backward_compatible': False,
        'reversible': True}
NOTHING_PENDING = {'changed': False, 'pending': False, 'migrations': []}
# What release_switch registers (see its RETURN): a window with a migration, a graceful reload without.
WINDOW = {'changed': True, 'strategy': 'simple', 'strategy_reason': 'auto: migrations are pending',
          'downtime': True, 'window': 0.812, 'migrated': True, 'previous_release': 'r1', 'config': [],
          'ready': True}
RELOAD = {'changed': True, 'strategy': 'reload', 'strategy_reason': 'auto: nothing to migrate',
          'downtime': False, 'window': 0, 'migrated': False, 'previous_release': 'r1', 'config': [],
          'ready': True}
NOTHING_TO_DO = {'changed': False, 'strategy': None, 'strategy_reason': None, 'downtime': False,
                 'migrated': False, 'previous_release': 'r0', 'config': []}


def result_template():
    with open(VERIFY, encoding='utf-8') as handle:
        tasks = yaml.safe_load(handle)
    task = next(task for task in tasks if task.get('name') == 'Verify | Record what the deploy did')
    return task['ansible.builtin.set_fact']['deploy_result']


def deploy_result(switch=None, plan=None, **overrides):
    """deploy_result as the role sets it after SWITCH (release_switch's registered result)."""
    variables = dict(
        deploy_app_name='person', __deploy_check_mode=False, __deploy_build={'release_id': 'a2'}, __deploy_release_id='r2',
        __deploy_info={'current_release': 'r1', 'previous_release': 'r0'},
        __deploy_switch=WINDOW if switch is None else switch, __deploy_code_changed=True,
        __deploy_venv_changed=False, __deploy_plan=PLAN if plan is None else plan, __deploy_fleet=False,
        ansible_play_hosts_all=['web1'], deploy_collectstatic=True)
    variables.update(overrides)
    if switch == 'absent':  # a quiet run: go_live.yml was not included, nothing registered
        del variables['__deploy_switch']
    with open(os.path.join(ROOT, 'roles', 'deploy', 'vars', 'main.yml'), encoding='utf-8') as handle:
        names = yaml.safe_load(handle)['__deploy_unknown_names']
    variables['__deploy_unknown_names'] = Templar(loader=DataLoader(), variables=variables).template(trusted(names))
    return Templar(loader=DataLoader(), variables=variables).template(trusted(result_template()))


def test_the_fact_has_no_bytecode_figure():
    assert 'bytecode_removed' not in deploy_result()
    assert 'bytecode' not in deploy_summary(deploy_result())


def test_a_window_with_a_migration_and_a_reload_without_one():
    with_migration = deploy_result(WINDOW)
    assert (with_migration['downtime'], with_migration['window'], with_migration['migrated']) == (True, 0.812, True)
    assert deploy_summary(with_migration) == (
        'person: release r2 live (was r1), strategy simple (auto: migrations are pending); migrations applied: 1: '
        'people.0002_person_weight (Add field weight to person: NOT backward compatible, reversible); '
        'downtime window 0.812 s')
    without = deploy_result(RELOAD, plan=NOTHING_PENDING)
    assert (without['downtime'], without['window'], without['migrated']) == (False, 0, False)
    assert deploy_summary(without).endswith('strategy reload (auto: nothing to migrate); migrations applied: 0; '
                                            'no downtime')


def test_a_window_that_migrated_nothing_applies_nothing_although_the_plan_lists_migrations():
    # deploy_migrate false: the plan has pending migrations, the window ran without migrate
    line = deploy_summary(deploy_result(dict(WINDOW, migrated=False, strategy_reason='auto: a new virtualenv')))
    assert 'migrations applied: 0; downtime window 0.812 s' in line


def test_nothing_to_do_is_no_switch_and_no_window():
    result = deploy_result(NOTHING_TO_DO, plan=NOTHING_PENDING, __deploy_code_changed=False)
    assert (result['switched'], result['window'], result['strategy']) == (False, None, None)
    assert deploy_summary(result) == 'person: release r1 already live: nothing stopped, nothing changed'


def test_a_quiet_run_did_not_switch_and_says_why():
    result = deploy_result('absent', plan=NOTHING_PENDING, __deploy_code_changed=False, __deploy_quiet=True,
                           __deploy_release_id='r1')
    assert (result['switched'], result['window'], result['strategy'], result['downtime']) == (False, None, None, False)
    assert result['strategy_reason'].startswith('nothing to do: the same release')
    assert deploy_summary(result) == 'person: release r1 already live: nothing stopped, nothing changed'


@pytest.mark.parametrize('switch, expected', [
    (WINDOW, 'r1'),
    (dict(WINDOW, previous_release='r9'), 'r9'),
    # no previous_release from the switch: the one release_info read
    (dict((key, value) for key, value in WINDOW.items() if key != 'previous_release'), 'r0'),
])
def test_the_previous_release_is_the_one_the_switch_kept_aside(switch, expected):
    result = deploy_result(switch)
    assert result['previous_release'] == expected
    assert '(was %s)' % expected in deploy_summary(result)


@pytest.mark.parametrize('files', [{'added': 1, 'changed': 4, 'removed': 1}, {'added': 7, 'changed': 0, 'removed': 2}])
def test_the_file_counts_are_the_switchs(files):
    result = deploy_result(dict(WINDOW, files=files), __deploy_check_mode=True)
    assert result['files'] == files
    assert '(files: %(added)d added, %(changed)d changed, %(removed)d removed)' % files in deploy_summary(result)
    assert deploy_result(WINDOW)['files'] is None


def test_the_plan_is_none_when_it_was_not_read():
    assert deploy_result()['plan'] == PLAN
    skipped = deploy_result(plan={'skipped': True, 'changed': False}, __deploy_check_mode=True)
    assert skipped['plan'] is None
    assert 'migrations pending: unknown until the virtualenv is built' in deploy_summary(skipped)


def test_a_changed_environment_alone_is_a_restart():
    config_only = dict(WINDOW, migrated=False, config=['/srv/person/app.env'], window=0.64)
    restarted = deploy_result(config_only, __deploy_code_changed=False)
    assert restarted['restarted'] is True
    assert deploy_summary(restarted).endswith('restarted to apply a changed unit or environment (downtime window 0.64 s)')
    assert deploy_result(config_only)['restarted'] is False  # with new code it is a deploy
    assert deploy_result(config_only, __deploy_code_changed=False, __deploy_venv_changed=True)['restarted'] is False


@pytest.mark.parametrize('hosts', [['web1', 'web2'], ['web1', 'web2', 'web3']])
def test_the_fleet_figures_are_the_plays(hosts):
    fleet = dict(__deploy_fleet=True, __deploy_migrator='web1', ansible_play_hosts_all=hosts)
    migrator = deploy_result(**fleet)
    assert migrator['fleet'] == {'migrator': 'web1', 'hosts': len(hosts), 'window': None, 'expand': False}
    assert 'database shared by %d hosts: this host migrated it' % len(hosts) in deploy_summary(migrator)
    other = deploy_result(dict(RELOAD, strategy='simple', downtime=True, window=1.1), __deploy_fleet_window=5.5,
                          **fleet)
    assert other['fleet'] == {'migrator': 'web1', 'hosts': len(hosts), 'window': 5.5, 'expand': False}
    assert deploy_result(__deploy_fleet_expand=True, **fleet)['fleet']['expand'] is True
    assert ("migrations applied: 0 here; down 5.5 s (stopped for the shared database's migration until it "
            "answered again); database shared by %d hosts: migrated once, by web1" % len(hosts)) in deploy_summary(other)
    assert deploy_result()['fleet'] is None


COLLECTED = {'changed': True, 'enabled': True, 'reason': '', 'static_root': 'staticfiles', 'collected': 40,
             'carried': 3, 'seconds': 1.5, 'storage': 'ManifestStaticFilesStorage', 'static_url': '/static/'}


def test_the_static_files_figures_are_collect_statics():
    static = deploy_result(__deploy_static=COLLECTED)['static']
    assert static == {'enabled': True, 'reason': '', 'static_root': 'staticfiles', 'collected': 40, 'carried': 3,
                      'seconds': 1.5}
    assert deploy_summary(deploy_result(__deploy_static=COLLECTED)).endswith(
        '; static files: 40 collected into staticfiles in 1.5 s (3 of the previous release kept beside them)')


def test_static_files_turned_off_say_so_and_not_run_says_nothing():
    off = deploy_result(deploy_collectstatic=False, __deploy_static={'skipped': True, 'changed': False})
    assert off['static'] == {'enabled': False, 'reason': 'deploy_collectstatic is false'}
    assert deploy_result()['static'] is None
    assert deploy_result(__deploy_code_changed=False, deploy_collectstatic=False)['static'] is None


def test_the_steps_are_release_switchs_figures():
    steps = {'stop': 0.34, 'swap': 0.06, 'migrate': 0.43, 'start': 0.13, 'serving': 0.31, 'ready': 0.4}
    assert deploy_result(dict(WINDOW, steps=steps))['steps'] == steps
    assert deploy_result(NOTHING_TO_DO)['steps'] is None


def test_the_rolled_workers_are_release_switchs_figures():
    rolled = {'old': [812, 813], 'new': [1502, 1504], 'seconds': {'spawn': 0.05, 'ready': 1.21, 'retire': 0.08}}
    assert deploy_result(dict(RELOAD, workers=rolled))['workers'] == rolled
    assert deploy_result()['workers'] is None


def test_the_lock_timeouts_migrate_hit_are_in_the_fact_and_the_summary():
    held = {'pid': 4242, 'table': 'books_book', 'state': 'idle in transaction', 'seconds': 7.5, 'query': 'UPDATE'}
    lock = {'vendor': 'postgresql', 'lock': 'postgresql advisory lock 1', 'waited': 0.0,
            'retries': [{'after': 0.0, 'blockers': [], 'dropped': ['books_book_isbn_idx']},
                        {'after': 2.004, 'blockers': [held], 'dropped': []},
                        {'after': 4.51, 'blockers': [held], 'dropped': []}]}
    result = deploy_result(dict(WINDOW, migrate_lock=lock))
    assert result['migrate_lock'] == lock
    line = deploy_summary(result)
    # the invalid index dropped before the first try is not a timeout
    assert ('migrations applied: 1: people.0002_person_weight (Add field weight to person: NOT backward compatible, '
            'reversible) (after 2 lock timeouts over 4.51 s: tables held by pid 4242 on books_book); '
            'downtime window 0.812 s') in line, line
    quiet = deploy_result(dict(WINDOW, migrate_lock=dict(lock, retries=[])))
    assert 'lock timeout' not in deploy_summary(quiet)
    assert deploy_result()['migrate_lock'] is None
    assert 'lock timeout' not in deploy_summary(deploy_result(dict(RELOAD, migrate_lock=lock)))


def test_applied_migrations_the_release_does_not_know_are_named_in_the_fact_and_the_summary():
    ahead = dict(PLAN, unknown_applied=[{'app': 'people', 'name': '0003_nickname'},
                                        {'app': 'shop', 'name': '0007_order_note'}])
    result = deploy_result(RELOAD, plan=ahead)
    assert result['unknown_applied'] == ['people.0003_nickname', 'shop.0007_order_note']
    assert ('migrations applied: 0; the database has 2 migrations this release does not know: people.0003_nickname, '
            'shop.0007_order_note; no downtime') in deploy_summary(result)
    checked = deploy_result(RELOAD, plan=ahead, __deploy_check_mode=True)
    assert 'the database has 2 migrations this release does not know' in deploy_summary(checked)
    assert deploy_result()['unknown_applied'] == []
    assert 'does not know' not in deploy_summary(deploy_result())
    assert deploy_result(plan={'skipped': True, 'changed': False})['unknown_applied'] == []
    # on a fleet host that did not migrate, the note stays beside "0 here"
    fleet = dict(result, fleet={'migrator': 'web1', 'hosts': 2, 'window': None, 'expand': True})
    assert 'migrations applied: 0 here; the database has 2 migrations this release does not know' in deploy_summary(fleet)


def test_the_hooks_figures_are_the_commands_each_module_ran():
    before = {'commands': [{'command': 'manage.py catalog_ready', 'rc': 0, 'seconds': 0.4}]}
    after = [{'command': 'manage.py x', 'rc': 0, 'seconds': 0.2}]
    switch = dict(WINDOW, commands={'window': [], 'after_live': after})
    hooks = deploy_result(switch, __deploy_hooks_before=before)['hooks']
    assert hooks == {'before_switch': before['commands'], 'window': [], 'after_live': after}
    assert deploy_result()['hooks'] == {'before_switch': [], 'window': [], 'after_live': []}


def release_id(build_id, venv_key):
    """vars/main.yml's __deploy_release_id for an archive BUILD_ID and a virtualenv key VENV_KEY."""
    with open(os.path.join(ROOT, 'roles', 'deploy', 'vars', 'main.yml'), encoding='utf-8') as handle:
        expression = yaml.safe_load(handle)['__deploy_release_id']
    variables = dict(__deploy_build={'release_id': build_id}, __deploy_venv_key=venv_key)
    return Templar(loader=DataLoader(), variables=variables).template(trusted(expression))


def test_a_release_is_named_by_its_code_and_its_virtualenv():
    """A new virtualenv for the same code (deploy_pip_packages) is a new release: staged, its static files
    collected again with the new packages; the same code and virtualenv again is the same release."""
    first = release_id('3f2a9c0d1e4b5a67', 'a1b2c3d4e5f6')
    assert len(first) == 16 and int(first, 16) >= 0
    assert release_id('3f2a9c0d1e4b5a67', 'a1b2c3d4e5f6') == first
    assert release_id('3f2a9c0d1e4b5a67', '0f1e2d3c4b5a') != first
    assert release_id('3f2a9c0d1e4b5a68', 'a1b2c3d4e5f6') != first
