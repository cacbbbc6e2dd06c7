# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""plan.yml: an older release over a schema a newer one migrated is judged by the live release, and refused
before any change when it may not run on it.

The two tasks are evaluated by Ansible's templating with the results migration_status returns (see
tests/unit/plugins/modules/test_migration_report.py for those results on real Django).
"""

from __future__ import annotations

import os

import pytest
import yaml

from ansible.parsing.dataloader import DataLoader
from ansible.template import Templar, trust_as_template

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..'))
PREFLIGHT = os.path.join(ROOT, 'roles', 'deploy', 'tasks', 'plan.yml')
JUDGE = "Preflight | Judge, with the live release's code, the applied migrations the new release does not know"
STOP = 'Preflight | Stop before any change when the database is ahead of the new release and it may not run on it'

WEIGHT = ('people.0002_person_weight: adds NOT NULL column people_person.weight without a database default: the old '
          'release leaves it out of its inserts, which then fail')
UNKNOWN = [{'app': 'people', 'name': '0002_person_weight'}]
PLAN = {'unknown_applied': UNKNOWN, 'applied_leaves': [{'app': 'auth', 'name': '0012_x'},
                                                       {'app': 'people', 'name': '0001_initial'}]}
LIVE = {'current_release': 'r2', 'current_venv': 'v9'}


def task(name, tasks=None):
    if tasks is None:
        with open(PREFLIGHT, encoding='utf-8') as handle:
            tasks = yaml.safe_load(handle)
    for item in tasks:
        if item.get('name') == name:
            return item
        for key in ('block', 'rescue', 'always'):
            found = task(name, item.get(key) or []) if item.get(key) else None
            if found:
                return found
    return None


def role_var(name):
    with open(os.path.join(ROOT, 'roles', 'deploy', 'vars', 'main.yml'), encoding='utf-8') as handle:
        return yaml.safe_load(handle)[name]


def templar(**variables):
    base = dict(deploy_allow_unknown_migrations=False, __deploy_plan=PLAN, __deploy_info=LIVE,
                deploy_root='/srv/person', deploy_project_subdir='', __deploy_code_dir='/srv/person/code',
                __deploy_env_file='/srv/person/app.env', deploy_user='person')
    base.update(variables)
    engine = Templar(loader=DataLoader(), variables=base)
    # vars/main.yml's, as the role has it
    names = engine.template(trust_as_template(role_var('__deploy_unknown_names')))
    return Templar(loader=DataLoader(), variables=dict(base, __deploy_unknown_names=names))


def runs(name, engine):
    return all(engine.evaluate_conditional(trust_as_template(when)) for when in task(name)['when'])


def stop(engine):
    """(whether the stop task runs and fails, its message)."""
    if not runs(STOP, engine):
        return False, None
    stop_task = task(STOP)
    check = stop_task['ansible.builtin.assert']
    for name, value in stop_task['vars'].items():
        engine.available_variables = dict(engine.available_variables, **{name: engine.template(trust_as_template(value))})
    that = check['that'] if isinstance(check['that'], list) else [check['that']]
    if all(engine.evaluate_conditional(trust_as_template(condition)) for condition in that):
        return False, None
    return True, engine.template(trust_as_template(check['fail_msg']))


def test_the_live_release_judges_the_migrations_the_new_one_does_not_know():
    engine = templar()
    assert runs(JUDGE, engine)
    module = task(JUDGE)['simpledeploy.django.migration_status']
    assert engine.template(trust_as_template(module['judge'])) == ['people.0002_person_weight']
    assert engine.template(trust_as_template(module['virtualenv'])) == '/srv/person/venvs/v9'
    assert engine.template(trust_as_template(module['project_path'])).rstrip('/') == '/srv/person/code'
    assert module['detect_missing'] is False


@pytest.mark.parametrize('variables', [
    dict(__deploy_plan=dict(PLAN, unknown_applied=[])),  # nothing unknown
    dict(deploy_allow_unknown_migrations=True),  # the user knows
    dict(__deploy_info=dict(LIVE, current_release=None, current_venv=None)),  # nothing live to ask
])
def test_nothing_to_judge(variables):
    assert not runs(JUDGE, templar(**variables))


def test_the_names_are_none_when_the_plan_was_not_read():
    assert templar(__deploy_plan={'skipped': True, 'changed': False}).template(
        trust_as_template('{{ __deploy_unknown_names }}')) == []


def test_a_release_that_does_not_run_on_the_schema_is_stopped_naming_why_and_the_way_back():
    refused, message = stop(templar(__deploy_ahead={'changed': False, 'older_blockers': [WEIGHT],
                                                    'judged_unknown': []}))
    assert refused
    assert message.startswith('The database has migrations this release does not know, applied by a newer release: '
                              'people.0002_person_weight. The live release (r2) knows them, and this release would '
                              'not run on the schema they made: ' + WEIGHT + '.')
    assert 'To go back to a release kept on the host, run the rollback playbook (ansible-playbook ' \
        'simpledeploy.django.rollback; simpledeploy.django.releases lists them)' in message
    assert 'Otherwise first migrate the schema back with that release (manage.py migrate people 0001_initial)' \
        in message
    assert message.endswith('Nothing live was changed: the old release still serves.')
    assert '\n' not in message and '  ' not in message


def test_a_release_that_runs_on_the_schema_goes_on():
    assert stop(templar(__deploy_ahead={'changed': False, 'older_blockers': [], 'judged_unknown': []})) == (False, None)


def test_migrations_the_live_release_does_not_know_either_stop_it():
    # A fleet on one database: another host went to v3 while this one stays on v1; v2 here knows 0002, not 0003.
    refused, message = stop(templar(
        __deploy_plan=dict(PLAN, unknown_applied=[{'app': 'people', 'name': '0003_nickname'},
                                                  {'app': 'shop', 'name': '0001_initial'}]),
        __deploy_ahead={'changed': False, 'older_blockers': [], 'judged_unknown': ['people.0003_nickname']}))
    assert refused
    assert ('The live release (r2) does not know people.0003_nickname either, so nothing can tell whether this '
            'release runs on that schema.') in message
    # an app this release has applied nothing of goes back to zero
    assert '(manage.py migrate people 0001_initial; manage.py migrate shop zero)' in message


def test_a_live_release_that_cannot_judge_stops_it_with_its_error():
    # What Ansible registers for a module that failed under failed_when: false: "failed" is false too.
    refused, message = stop(templar(__deploy_ahead={'changed': False, 'failed': False, 'failed_when_result': False,
                                                    'msg': 'manage.py not found in /srv/person/code'}))
    assert refused
    assert 'The live release (r2) could not judge them: manage.py not found in /srv/person/code.' in message
    assert 'deploy_allow_unknown_migrations: true' in message
    assert task(JUDGE)['failed_when'] is False


def test_no_release_on_the_host_knows_them_so_it_stops_unless_allowed():
    nothing_live = dict(__deploy_info=dict(LIVE, current_release=None, current_venv=None),
                        __deploy_ahead={'changed': False, 'skipped': True})
    refused, message = stop(templar(**nothing_live))
    assert refused and 'No release on this host knows them' in message
    assert stop(templar(deploy_allow_unknown_migrations=True, **nothing_live)) == (False, None)
