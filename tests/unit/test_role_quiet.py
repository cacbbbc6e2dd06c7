# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The quiet path's decision (release_info's nothing_to_do, no _state.quiet_blockers, taken by validate.yml as
__deploy_quiet_candidate; vars/main.yml's __deploy_quiet), evaluated by Ansible's templating with what
release_info returns: a run with nothing to do reads the host once; each
thing that would change (the release, a nested requirements file through the virtualenv key, the environment,
a unit, the deploy root, the account, the units' state, a window or a gate left behind, a pending migration)
takes the whole path.

On real hosts: molecule/default/tests/test_default.py deploys the same release again (remote executions
counted), then a changed deploy_env and a changed unit."""

from __future__ import annotations

import os

import pytest
import yaml

from ansible.parsing.dataloader import DataLoader
from ansible.template import Templar

from ansible_collections.simpledeploy.django.plugins.module_utils import _state
from ansible_collections.simpledeploy.django.tests.unit.conftest import trusted
from ansible_collections.simpledeploy.django.tests.unit.test_role_downgrade import task

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..'))
VALIDATE = os.path.join(ROOT, 'roles', 'deploy', 'tasks', 'validate.yml')
VARS = os.path.join(ROOT, 'roles', 'deploy', 'vars', 'main.yml')

QUIET_INFO = {'exists': True, 'current_release': 'r2', 'current_venv': 'k2', 'venv_ready': True,
              'config_changed': [], 'root_ready': True, 'user_ready': True, 'units_ready': True, 'switching': None,
              'gates_closed': [], 'lock_present': False}


def decide(info, release='r2', venv_key='k2', plan=None):
    """(candidate, quiet): release_info's nothing_to_do (no _state.quiet_blockers, what validate.yml takes as the
    candidate), then vars/main.yml's __deploy_quiet with the plan."""
    with open(VALIDATE, encoding='utf-8') as handle:
        facts = task('Validate | Decide what this deploy has to do', yaml.safe_load(handle))['ansible.builtin.set_fact']
    with open(VARS, encoding='utf-8') as handle:
        quiet = yaml.safe_load(handle)['__deploy_quiet']
    info = dict(info, nothing_to_do=not _state.quiet_blockers(info, release, venv_key))
    variables = dict(__deploy_info=info, deploy_migrate=True, __deploy_plan=plan or {'pending': False})
    templar = Templar(loader=DataLoader(), variables=variables)
    candidate = templar.template(trusted(facts['__deploy_quiet_candidate']))
    variables.update(__deploy_quiet_candidate=candidate,
                     __deploy_migrate_now=variables['deploy_migrate'] and variables['__deploy_plan']['pending'])
    return candidate, Templar(loader=DataLoader(), variables=variables).template(trusted(quiet))


def test_nothing_to_do_is_quiet():
    assert decide(QUIET_INFO) == (True, True)
    assert _state.quiet_blockers(QUIET_INFO, 'r2', 'k2') == []


@pytest.mark.parametrize('change, release, venv_key', [
    ({}, 'r3', 'k2'),                                      # new code
    ({}, 'r2', 'k3'),                                      # a nested requirements file changed: a new key
    ({'venv_ready': False}, 'r2', 'k2'),
    ({'config_changed': ['/srv/person/app.env']}, 'r2', 'k2'),               # deploy_env
    ({'config_changed': ['/etc/systemd/system/person.service']}, 'r2', 'k2'),  # the unit
    ({'root_ready': False}, 'r2', 'k2'),
    ({'user_ready': False}, 'r2', 'k2'),
    ({'units_ready': False}, 'r2', 'k2'),
    ({'switching': {'release': 'r2'}}, 'r2', 'k2'),
    ({'gates_closed': ['/srv/person/.simpledeploy-gate']}, 'r2', 'k2'),
    ({'lock_present': True}, 'r2', 'k2'),                 # another run's lock, or a dead one's
    ({'exists': False, 'current_release': None, 'current_venv': None}, 'r2', 'k2'),
    ({'user_ready': None, 'root_ready': None}, 'r2', 'k2'),  # not asked: unknown is not ready
])
def test_anything_to_change_takes_the_whole_path(change, release, venv_key):
    assert decide(dict(QUIET_INFO, **change), release, venv_key) == (False, False)


@pytest.mark.parametrize('change, release, venv_key, reason', [
    ({}, 'r3', 'k2', 'release r2 is live, not r3'),
    ({}, 'r2', 'k3', 'virtualenv k2 is live, not k3'),
    ({'venv_ready': False}, 'r2', 'k2', 'the virtualenv k2 is not complete'),
    ({'config_changed': ['/srv/person/app.env']}, 'r2', 'k2', 'files to write: /srv/person/app.env'),
    ({'units_ready': False, 'units_problem': 'person.service: ActiveState=deactivating'}, 'r2', 'k2',
     'the units are not all enabled and running: person.service: ActiveState=deactivating'),
    ({'switching': {'release': 'r2'}}, 'r2', 'k2', 'a window a killed run left open'),
    ({'lock_present': True}, 'r2', 'k2',
     'the deploy lock is present (another run holds it, or one that died left it)'),
    ({'exists': False}, 'r2', 'k2', 'the deploy root does not exist yet'),
    ({'current_release': None, 'current_venv': None}, 'r2', 'k2', 'release none is live, not r2'),
    ({}, 'r2', None, 'the release or its virtualenv key is not known'),
])
def test_why_there_is_something_to_do_is_said(change, release, venv_key, reason):
    # deploy_result.quiet_blockers: the reason for each condition that does not hold.
    assert reason in _state.quiet_blockers(dict(QUIET_INFO, **change), release, venv_key)


def test_a_migration_found_by_the_plan_ends_the_quiet_run():
    assert decide(QUIET_INFO, plan={'pending': True}) == (True, False)


def role_vars(**variables):
    """A templar over vars/main.yml (the role's lazy vars) and VARIABLES."""
    with open(VARS, encoding='utf-8') as handle:
        role = yaml.safe_load(handle)
    return Templar(loader=DataLoader(), variables=dict(trusted(role), **variables))


@pytest.mark.parametrize('code_changed', [True, False])
@pytest.mark.parametrize('user_ready', [True, False])
@pytest.mark.parametrize('root_ready', [True, False])
@pytest.mark.parametrize('candidate', [True, False])
def test_exactly_one_task_takes_the_lock_before_the_first_change(code_changed, user_ready, root_ready, candidate):
    # release_stage takes it when staging is the first change (the user and root ready: preflight.yml writes the
    # config after the stage); else validate.yml's deploy_lock; a quiet candidate takes none there (plan.yml may).
    with open(VALIDATE, encoding='utf-8') as handle:
        lock_task = task('Validate | Take the deploy lock (one deploy at a time per app and host)', yaml.safe_load(handle))
    info = dict(QUIET_INFO, user_ready=user_ready, root_ready=root_ready, check_mode=False)
    templar = role_vars(__deploy_info=info, __deploy_check_mode=False, __deploy_code_changed=code_changed,
                        __deploy_quiet_candidate=candidate)
    by_validate = templar.evaluate_conditional(trusted(lock_task['when']))
    by_stage = templar.template(trusted('{{ __deploy_stage_locks }}'))
    assert [by_validate, by_stage].count(True) == (0 if candidate else 1)
    assert by_stage is (code_changed and user_ready and root_ready and not candidate)


@pytest.mark.parametrize('results, held', [
    (dict(), None),                                                          # nothing taken (quiet, check mode)
    (dict(__deploy_lock={'lock': {'run_id': 'a'}}), 'a'),                   # validate.yml
    (dict(__deploy_lock={'skipped': True}, __deploy_stage={'deploy_lock': {'lock': {'run_id': 'b'}}}), 'b'),
    # release_stage took it, then failed staging: still held, rescue.yml and unlock.yml act on it
    (dict(__deploy_lock={'skipped': True}, __deploy_stage={'failed': True, 'deploy_lock': {'lock': {'run_id': 'c'}}}),
     'c'),
    # refused (another run holds it): none held
    (dict(__deploy_lock={'skipped': True}, __deploy_stage={'failed': True, 'deploy_lock': None}), None),
    (dict(__deploy_lock={'failed': True, 'lock': None}), None),
    (dict(__deploy_lock={'skipped': True}, __deploy_stage={'skipped': True}, __deploy_lock_late={'lock': {'run_id': 'd'}}),
     'd'),
])
def test_the_lock_held_is_the_one_any_task_took(results, held):
    templar = role_vars(**results)
    found = templar.template(trusted('{{ __deploy_lock_held }}'))
    assert (found or {}).get('run_id') == held
    assert templar.template(trusted('{{ __deploy_locked }}')) is (held is not None)
    # Released by release_switch once live: rescue.yml and unlock.yml leave it alone.
    released = role_vars(__deploy_switch={'changed': True, 'lock_released': True}, **results)
    assert released.template(trusted('{{ __deploy_locked }}')) is False
