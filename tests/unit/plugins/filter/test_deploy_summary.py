# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The role's one summary line per host."""

from __future__ import annotations

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.simpledeploy.django.plugins.filter.deploy_summary import FilterModule, deploy_summary

MIGRATION = {
    'app': 'people', 'name': '0002_person_weight', 'backward_compatible': False, 'reversible': True,
    'operations': [{'kind': 'AddField', 'description': 'Add field weight to person'}],
}


def result(**extra):
    base = dict(app='person', check_mode=False, release='new', current_release='old', previous_release='old',
                code_changed=True, switched=True, restarted=False, strategy='simple',
                strategy_reason='auto: migrations are pending', downtime=True, window=0.812, migrated=True,
                plan={'migrations': [MIGRATION], 'backward_compatible': False, 'reversible': True,
                      'online_safe': False},
                files=None)
    base.update(extra)
    return base


def test_a_simple_deploy_names_strategy_migrations_and_window():
    assert deploy_summary(result()) == (
        'person: release new live (was old), strategy simple (auto: migrations are pending); migrations '
        'applied: 1: people.0002_person_weight (Add field weight to person: NOT backward compatible, '
        'reversible); downtime window 0.812 s')


def test_a_reload_says_there_was_no_downtime_and_nothing_migrated():
    line = deploy_summary(result(strategy='reload', strategy_reason='auto: nothing to migrate', downtime=False,
                                 window=0.0, migrated=False, plan={'migrations': []}))
    assert line.endswith('strategy reload (auto: nothing to migrate); migrations applied: 0; no downtime')


def test_many_migrations_are_counted_per_app():
    many = [dict(app='auth', name='%04d' % i) for i in range(12)] + [dict(app='people', name='0001_initial')]
    line = deploy_summary(result(plan={'migrations': many}))
    assert 'migrations applied: 13 (auth: 12, people: 1)' in line


def test_check_mode_previews_files_migrations_strategy_and_downtime():
    line = deploy_summary(result(check_mode=True, files={'added': 1, 'changed': 4, 'removed': 1}, window=None))
    assert line.startswith('person: check mode, nothing changed: ')
    assert 'would replace release old with new (files: 1 added, 4 changed, 1 removed)' in line
    assert 'migrations pending: 1: people.0002_person_weight' in line
    assert 'all backward compatible: no, all reversible: yes, all online safe: no' in line
    assert line.endswith('the site would go down: yes')


def test_check_mode_without_a_plan_says_why_it_is_unknown():
    line = deploy_summary(result(check_mode=True, plan=None, current_release=None, downtime=False))
    assert 'would replace release nothing with new' in line
    assert 'migrations pending: unknown until the virtualenv is built' in line
    assert line.endswith('the site would go down: no')


@pytest.mark.parametrize('check_mode, restarted, expected', [
    (True, False, 'person: check mode: release old is already live, nothing would change'),
    (False, False, 'person: release old already live: nothing stopped, nothing changed'),
])
def test_nothing_to_switch(check_mode, restarted, expected):
    assert deploy_summary(result(switched=False, check_mode=check_mode, restarted=restarted)) == expected


def test_a_changed_environment_alone_restarts_the_live_release_in_a_window():
    changed = result(code_changed=False, restarted=True, migrated=False, window=0.64, current_release='old',
                     release='old')
    assert deploy_summary(changed) == ('person: release old already live; restarted to apply a changed unit or '
                                       'environment (downtime window 0.64 s)')
    preview = deploy_summary(dict(changed, check_mode=True))
    assert 'would keep release old and restart it to apply a changed unit or environment' in preview


def test_the_same_release_with_migrations_pending_is_kept():
    # A new virtualenv is a new release (vars/main.yml's __deploy_release_id): not this case.
    preview = deploy_summary(result(code_changed=False, restarted=False, check_mode=True, current_release='old',
                                    release='old'))
    assert 'would keep release old (migrations pending, or an earlier run left unfinished)' in preview


def test_an_expand_says_it_migrated_while_the_old_release_served():
    reason = ('auto: every pending migration keeps the old release working and holds no writes for long: migrated '
              'while the old release serves, then a graceful reload, no downtime')
    migration = dict(MIGRATION, backward_compatible=True)
    plan = {'migrations': [migration], 'backward_compatible': True, 'reversible': True, 'online_safe': True}
    line = deploy_summary(result(strategy='expand', strategy_reason=reason, downtime=False, window=0.0, plan=plan))
    assert line == ('person: release new live (was old), strategy expand (%s); migrations applied: 1: '
                    'people.0002_person_weight (Add field weight to person: backward compatible, reversible); '
                    'no downtime (migrated while release old served)' % reason)
    line = deploy_summary(result(strategy='expand', strategy_reason=reason, downtime=False, plan=plan,
                                 check_mode=True))
    assert 'all online safe: yes, strategy expand (%s); the site would go down: no' % reason in line


def test_a_fleet_expand_says_every_host_served_while_it_migrated():
    fleet = {'migrator': 'web1', 'hosts': 2, 'window': None, 'expand': True}
    line = deploy_summary(result(strategy='reload', downtime=False, window=0.0, migrated=False, fleet=fleet))
    assert line.endswith('no downtime; database shared by 2 hosts: migrated once, by web1 while all of them served')
    line = deploy_summary(result(fleet=dict(fleet, expand=False, window=1.5)))
    assert 'while all of them were stopped' in line


def test_unknown_compatibility_is_said_so():
    migration = dict(MIGRATION, backward_compatible=None, reversible=False,
                     operations=[{'kind': 'RunPython', 'description': 'Raw Python operation'}])
    plan = {'migrations': [migration], 'backward_compatible': None, 'reversible': False}
    assert '(Raw Python operation: compatibility unknown, irreversible)' in deploy_summary(result(plan=plan))
    line = deploy_summary(result(plan=plan, check_mode=True))
    assert 'all backward compatible: unknown, all reversible: no' in line


def test_the_filter_is_registered_and_refuses_what_is_not_a_dict():
    assert FilterModule().filters()['deploy_summary'] is deploy_summary
    with pytest.raises(AnsibleFilterError, match='expects the deploy_result dict'):
        deploy_summary(['not', 'a', 'dict'])


def test_a_first_deploy_took_nothing_down():
    line = deploy_summary(result(previous_release=None, downtime=False, strategy_reason='auto: first deploy'))
    assert line.startswith('person: release new live (was nothing), strategy simple (auto: first deploy)')
    assert line.endswith('; no downtime (nothing served before)')


def test_a_fleet_deploy_says_who_migrated_and_how_long_this_host_was_down():
    # the host that migrated stopped inside its own window: no fleet window of its own
    migrator = deploy_summary(result(fleet={'migrator': 'web1', 'hosts': 3, 'window': None}))
    assert migrator.endswith('migrations applied: 1: people.0002_person_weight (Add field weight to person: NOT '
                             'backward compatible, reversible); downtime window 0.812 s; '
                             'database shared by 3 hosts: this host migrated it while all of them were stopped')
    other = deploy_summary(result(fleet={'migrator': 'web1', 'hosts': 3, 'window': 5.5}, migrated=False, window=1.1))
    assert other.endswith("migrations applied: 0 here; down 5.5 s (stopped for the "
                          "shared database's migration until it answered again); database shared by 3 hosts: "
                          "migrated once, by web1 while all of them were stopped")


def test_no_bytecode_figure_even_when_a_result_still_carries_one():
    # the staged tree never holds bytecode (the archive leaves it out): the line names no such figure
    assert 'bytecode' not in deploy_summary(result(bytecode_removed=3))


# Each figure of the line, from the deploy_result key it is made of: (what, base, changed, before, after);
# the line of BASE says BEFORE and not AFTER, and the line with CHANGED says AFTER and not BEFORE.
FIGURES = [
    ('release', {}, dict(release='newer'), 'release new live', 'release newer live'),
    ('previous release', {}, dict(previous_release='older'), '(was old)', '(was older)'),
    ('no previous release', {}, dict(previous_release=None), '(was old)', '(was nothing)'),
    ('strategy', {}, dict(strategy='reload', strategy_reason='auto: nothing to migrate'),
     'strategy simple (auto: migrations are pending)', 'strategy reload (auto: nothing to migrate)'),
    ('window', {}, dict(window=1.5), 'downtime window 0.812 s', 'downtime window 1.5 s'),
    ('downtime', {}, dict(downtime=False, strategy='reload'), 'downtime window', 'no downtime'),
    ('migrated', {}, dict(migrated=False), 'migrations applied: 1: people.0002', 'migrations applied: 0;'),
    ('migrations applied count', {},
     dict(plan={'migrations': [MIGRATION, dict(MIGRATION, name='0003_person_age')]}),
     'migrations applied: 1: ', 'migrations applied: 2: people.0002_person_weight (Add field weight to person: '
     'NOT backward compatible, reversible), people.0003_person_age'),
    ('fleet hosts', dict(fleet={'migrator': 'web1', 'hosts': 2, 'window': None}),
     dict(fleet={'migrator': 'web1', 'hosts': 3, 'window': None}), 'shared by 2 hosts', 'shared by 3 hosts'),
    ('fleet migrator', dict(migrated=False, fleet={'migrator': 'web1', 'hosts': 2, 'window': 5.5}),
     dict(migrated=False, fleet={'migrator': 'web2', 'hosts': 2, 'window': 5.5}), 'by web1', 'by web2'),
    ('fleet window', dict(migrated=False, fleet={'migrator': 'web1', 'hosts': 2, 'window': 5.5}),
     dict(migrated=False, fleet={'migrator': 'web1', 'hosts': 2, 'window': 7.25}), 'down 5.5 s', 'down 7.25 s'),
    ('restart window', dict(restarted=True, window=0.64), dict(restarted=True, window=0.9),
     '(downtime window 0.64 s)', '(downtime window 0.9 s)'),
    ('files added', dict(check_mode=True, files={'added': 1, 'changed': 4, 'removed': 1}),
     dict(check_mode=True, files={'added': 2, 'changed': 4, 'removed': 1}), '1 added', '2 added'),
    ('files changed', dict(check_mode=True, files={'added': 1, 'changed': 4, 'removed': 1}),
     dict(check_mode=True, files={'added': 1, 'changed': 5, 'removed': 1}), '4 changed', '5 changed'),
    ('files removed', dict(check_mode=True, files={'added': 1, 'changed': 4, 'removed': 1}),
     dict(check_mode=True, files={'added': 1, 'changed': 4, 'removed': 0}), '1 removed', '0 removed'),
    ('migrations pending', dict(check_mode=True), dict(check_mode=True, plan={'migrations': []}),
     'migrations pending: 1: people.0002', 'migrations pending: 0'),
    ('site goes down', dict(check_mode=True), dict(check_mode=True, downtime=False),
     'the site would go down: yes', 'the site would go down: no'),
    ('live release, check mode', dict(check_mode=True), dict(check_mode=True, current_release='older'),
     'would replace release old with', 'would replace release older with'),
]


@pytest.mark.parametrize('base, changed, before, after', [figure[1:] for figure in FIGURES],
                         ids=[figure[0] for figure in FIGURES])
def test_each_figure_changes_with_what_it_reports(base, changed, before, after):
    line, other = deploy_summary(result(**base)), deploy_summary(result(**dict(base, **changed)))
    assert before in line and after not in line, line
    assert after in other and before not in other, other


STATIC = {'enabled': True, 'reason': '', 'static_root': 'staticfiles', 'collected': 131, 'carried': 12,
          'seconds': 2.41}


def test_static_files_collected_are_counted_with_those_kept_from_the_previous_release():
    assert deploy_summary(result(static=STATIC)).endswith(
        '; static files: 131 collected into staticfiles in 2.41 s (12 of the previous release kept beside them)')
    assert deploy_summary(result(static=dict(STATIC, carried=0))).endswith(
        '; static files: 131 collected into staticfiles in 2.41 s')


def test_static_files_not_collected_say_why_and_check_mode_says_where_they_would_go():
    skipped = {'enabled': False, 'reason': 'django.contrib.staticfiles is not in INSTALLED_APPS'}
    assert deploy_summary(result(static=skipped)).endswith(
        '; static files: not collected (django.contrib.staticfiles is not in INSTALLED_APPS)')
    assert deploy_summary(result(check_mode=True, static=dict(STATIC, collected=0, carried=0))).endswith(
        '; static files: would be collected into staticfiles')
    assert 'static files' not in deploy_summary(result(static=None))


HOOKS = {'before_switch': [{'command': 'manage.py catalog_ready', 'rc': 0, 'seconds': 0.41}],
         'window': [],
         'after_live': [{'command': 'manage.py catalog_ready --record', 'rc': 0, 'seconds': 0.52}]}


def test_hooks_are_named_with_where_they_ran_and_how_long_they_took():
    assert deploy_summary(result(hooks=HOOKS)).endswith(
        '; hooks: manage.py catalog_ready before the switch (0.41 s), '
        'manage.py catalog_ready --record after live (0.52 s)')
    assert 'hooks' not in deploy_summary(result(hooks={'before_switch': [], 'window': [], 'after_live': []}))


def test_check_mode_lists_the_hooks_that_would_run_without_figures():
    listed = {'before_switch': [{'command': 'manage.py catalog_ready', 'rc': None, 'seconds': None}]}
    assert deploy_summary(result(check_mode=True, hooks=listed)).endswith(
        '; hooks that would run: manage.py catalog_ready before the switch')
