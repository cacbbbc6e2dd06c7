# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The role's hooks: where they are included, and a real ansible-playbook run of their task files.

The run is on localhost with the Person example (a custom management command added) in a real Django
virtualenv: hooks_before_switch.yml runs the manage.py commands, then the user's task file; in check mode
neither runs. hooks_after_live.yml includes a user's task file that fails: the deploy fails saying the
new release stays live, with the failed task's own error, the app's secrets masked.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import yaml
from ansible.parsing.dataloader import DataLoader
from ansible.template import Templar, trust_as_template

from ansible_collections.simpledeploy.django.tests.unit.conftest import copy_example
from ansible_collections.simpledeploy.django.tests.unit.plugins.modules.test_django_command import add_command
from ansible_collections.simpledeploy.django.tests.unit.test_role_failure_message import (
    ANSIBLE_ROOT, COLLECTIONS_ROOT,
)
# The deploy root (v1 live, v2 staged) and the systemctl stand-in of test_release_switch, used here by name.
from ansible_collections.simpledeploy.django.tests.unit.plugins.modules.test_release_switch import (  # noqa: F401 pylint: disable=unused-import
    deployed, systemctl, venv,
)

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..'))
TASKS = os.path.join(ROOT, 'roles', 'deploy', 'tasks')
SECRET = 'hooks-role-secret-0123456789'


def load(name):
    with open(os.path.join(TASKS, name)) as handle:
        return yaml.safe_load(handle)


def included(task):
    include = task.get('ansible.builtin.include_tasks') or task.get('ansible.builtin.import_tasks') or {}
    return include.get('file') if isinstance(include, dict) else include


def test_the_hooks_come_after_the_plan_and_after_the_health_check_before_the_result():
    steps = [included(task) for task in load('main.yml')[0]['block']]
    assert steps.index('plan.yml') < steps.index('hooks_before_switch.yml') < steps.index('switch.yml')
    verify = [included(task) or task['name'] for task in load('verify.yml')]
    hooks = verify.index('hooks_after_live.yml')
    assert verify.index('Verify | Fail when the app does not answer') < hooks
    assert hooks < verify.index('Verify | Record what the deploy did')
    switch, = load('go_live.yml')
    options = switch['simpledeploy.django.release_switch']
    assert 'deploy_hooks_window' in options['window_commands']
    assert 'deploy_hooks_after_live' in options['after_live_commands']
    # An after-live task file holds the window open (a fleet's hosts too): hooks_after_live.yml confirms or undoes it.
    assert 'deploy_hooks_after_live_tasks' in options['hold'] and '__deploy_fleet' not in options['hold']
    # In the before-switch file: the commands, then the user's task file.
    names = [task['name'] for task in load('hooks_before_switch.yml')]
    assert names.index("Hooks | Run the project's manage.py commands on the new release, before the switch") < \
        names.index("Hooks | Run the project's task file before the switch")


HOOKS = dict(deploy_hooks_before_switch=['check'], deploy_hooks_window=['check'], deploy_hooks_after_live=['check'],
             deploy_hooks_before_switch_tasks='/x.yml', deploy_hooks_after_live_tasks='/x.yml')


@pytest.mark.parametrize('hook', [None] + sorted(HOOKS))
def test_the_hook_files_are_included_whenever_a_hook_is_set(hook):
    # Skipped whole when no hook is set (one task instead of each of theirs); any one hook set includes them.
    variables = dict(deploy_hooks_before_switch=[], deploy_hooks_window=[], deploy_hooks_after_live=[],
                     deploy_hooks_before_switch_tasks='', deploy_hooks_after_live_tasks='', __deploy_quiet=False)
    if hook:
        variables[hook] = HOOKS[hook]
    templar = Templar(loader=DataLoader(), variables=variables)
    before = next(task for task in load('main.yml')[0]['block'] if included(task) == 'hooks_before_switch.yml')
    assert all(templar.evaluate_conditional(trust_as_template(when)) for when in before['when']) is bool(hook)
    after = next(task for task in load('verify.yml') if included(task) == 'hooks_after_live.yml')
    assert templar.evaluate_conditional(trust_as_template(after['when'])) is (hook == 'deploy_hooks_after_live_tasks')


def run_playbook(tmp_path, extra, inventory='localhost,', check=False):
    """ansible-playbook on tmp_path/play.yml with the collection of this tree and EXTRA vars; the finished process."""
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=COLLECTIONS_ROOT, ANSIBLE_LOCAL_TEMP=str(tmp_path / 'tmp'),
               ANSIBLE_REMOTE_TMP=str(tmp_path / 'tmp'), ANSIBLE_NOCOLOR='1', ANSIBLE_RETRY_FILES_ENABLED='0',
               LANG='C.UTF-8', LC_ALL='C.UTF-8', PYTHONDONTWRITEBYTECODE='1',
               PYTHONPATH=os.pathsep.join([COLLECTIONS_ROOT, ANSIBLE_ROOT]))
    argv = [sys.executable, '-m', 'ansible.cli.playbook', '-i', inventory] + \
        (['-c', 'local'] if inventory == 'localhost,' else []) + \
        ['-e', json.dumps(extra), str(tmp_path / 'play.yml')] + (['--check'] if check else [])
    return subprocess.run(argv, capture_output=True, text=True, env=env, cwd=str(tmp_path), timeout=300, check=False)


PLAYBOOK = """
- name: The hooks of the role, before the switch and once live
  hosts: localhost
  gather_facts: false
  tasks:
    - name: Record how the run ended
      block:
        - name: Before the switch
          ansible.builtin.include_tasks: "{{ tasks }}/hooks_before_switch.yml"
        - name: Once live
          ansible.builtin.include_tasks: "{{ tasks }}/hooks_after_live.yml"
      rescue:
        - name: Write the message down
          ansible.builtin.copy:
            content: "{{ ansible_failed_result | to_json }}"
            dest: "{{ record }}"
            mode: "0600"
"""

# The user's task files: the first says whether the command ran before it; the second fails with a secret.
BEFORE_TASKS = """
- name: See whether the before-switch command ran already
  ansible.builtin.stat:
    path: "{{ markers }}/before"
  register: seen
- name: Write down what the task file saw
  ansible.builtin.copy:
    content: "{{ seen.stat.exists }}"
    dest: "{{ markers }}/task-file-saw-the-command"
    mode: "0600"
"""
AFTER_TASKS = """
- name: Warm the cache of the new release
  ansible.builtin.command:
    argv: [/bin/sh, -c, 'echo "cannot reach the cache with $CACHE_PASSWORD" >&2; exit 3']
  environment:
    CACHE_PASSWORD: "{{ deploy_env.CACHE_PASSWORD }}"
  changed_when: true
"""


@pytest.fixture(scope='module')
def django(django52_venv):
    return django52_venv


def run_play(tmp_path, django, check=False):
    project = add_command(copy_example('v1', tmp_path / 'project'))
    markers = tmp_path / 'markers'
    markers.mkdir()
    env_file = tmp_path / 'app.env'
    env_file.write_text('DJANGO_SECRET_KEY=%s\nMARKER_DIR=%s\n' % (SECRET, markers))
    env_file.chmod(0o600)
    (tmp_path / 'before.yml').write_text(BEFORE_TASKS)
    (tmp_path / 'after.yml').write_text(AFTER_TASKS)
    (tmp_path / 'play.yml').write_text(PLAYBOOK)
    record = tmp_path / 'record.json'
    extra = dict(
        tasks=TASKS, record=str(record), markers=str(markers), ansible_python_interpreter=sys.executable,
        deploy_app_name='person', deploy_env={'CACHE_PASSWORD': SECRET}, deploy_user=None, deploy_settings_module='',
        deploy_project_subdir='', deploy_hooks_timeout=60, deploy_prepare_nice=10,
        deploy_hooks_before_switch=['hook before'], deploy_hooks_before_switch_tasks=str(tmp_path / 'before.yml'),
        deploy_hooks_after_live_tasks=str(tmp_path / 'after.yml'),
        __deploy_code_changed=True, __deploy_venv_changed=False, __deploy_migrate_now=False, __deploy_check_mode=check,
        __deploy_next_dir=project, __deploy_venv_dir=django.path, __deploy_env_new=str(env_file),
        __deploy_release_id='4c1d7e2f9a0b3c58')
    proc = run_playbook(tmp_path, extra, check=check)
    output = proc.stdout + proc.stderr
    failed = json.loads(record.read_text()) if record.exists() else None
    return failed, sorted(os.listdir(str(markers))), output


def test_the_commands_then_the_task_file_and_an_after_live_failure_says_the_release_stays_live(tmp_path, django):
    failed, markers, output = run_play(tmp_path, django)
    assert 'before' in markers, output
    assert (tmp_path / 'markers' / 'task-file-saw-the-command').read_text() == 'True'
    assert failed is not None, output
    message = failed['msg']
    assert message.startswith('release 4c1d7e2f9a0b3c58 is live and was NOT rolled back: the task file %s '
                              '(deploy_hooks_after_live_tasks) failed at "Warm the cache of the new release": '
                              % (tmp_path / 'after.yml')), output
    assert message.endswith('failed (rc=3): cannot reach the cache with ********'), message
    assert SECRET not in message


def test_check_mode_runs_neither_the_commands_nor_the_task_files_and_names_them(tmp_path, django):
    failed, markers, output = run_play(tmp_path, django, check=True)
    assert failed is None, failed
    assert markers == []
    assert 'check mode: %s (deploy_hooks_before_switch_tasks) is not included' % (tmp_path / 'before.yml') in output
    assert 'check mode: %s (deploy_hooks_after_live_tasks) is not included' % (tmp_path / 'after.yml') in output


# ---------------------------------------------------------------- the after-live task file with the window held open

HELD_PLAYBOOK = """
- name: Go live holding the window open, then the after-live task file
  hosts: localhost
  gather_facts: false
  tasks:
    - name: Record how the run ended
      block:
        - name: Go live as go_live.yml does with an after-live task file (hold)
          simpledeploy.django.release_switch:
            root: "{{ deploy_root }}"
            release: v2
            service: person
            migrate: true
            env_file: "{{ __deploy_env_file }}"
            applied_leaves: "{{ leaves }}"
            reversible: true
            ready_url: "{{ deploy_healthcheck_url }}"
            prune: false
            hold: true
          register: __deploy_switch
        - name: Once live
          ansible.builtin.include_tasks: "{{ tasks }}/hooks_after_live.yml"
      rescue:
        - name: Write the message down
          ansible.builtin.copy:
            content: "{{ ansible_failed_result | to_json }}"
            dest: "{{ record }}"
            mode: "0600"
"""

GOOD_TASKS = """
- name: Tell the team
  ansible.builtin.command:
    argv: [/bin/true]
  changed_when: true
"""


def run_held(tmp_path, root, tasks_text):
    """The play above on the deploy root ROOT (v1 live, v2 staged), the app answering with the release in code/."""
    from ansible_collections.simpledeploy.django.tests.unit.plugins.modules.test_release_switch import applied_leaves
    from ansible_collections.simpledeploy.django.tests.unit.plugins.modules.test_release_switch_held import serving
    with open(os.path.join(root, 'code', '.simpledeploy-release'), 'w') as handle:
        handle.write('v1\n')
    with open(os.path.join(root, 'app.env'), 'a') as handle:
        handle.write('CACHE_PASSWORD=%s\n' % SECRET)
    (tmp_path / 'after.yml').write_text(tasks_text)
    (tmp_path / 'play.yml').write_text(HELD_PLAYBOOK)
    record = tmp_path / 'record.json'
    with serving(root) as url:
        extra = dict(
            tasks=TASKS, record=str(record), leaves=applied_leaves(root), ansible_python_interpreter=sys.executable,
            deploy_root=root, deploy_app_name='person', deploy_service_name='person', deploy_env={'CACHE_PASSWORD': SECRET},
            deploy_user=None, deploy_settings_module='', deploy_project_subdir='', deploy_healthcheck_url=url,
            deploy_healthcheck_status=200, deploy_healthcheck_retries=5, deploy_healthcheck_delay=1,
            deploy_backup_keep=5, deploy_keep_releases=5, deploy_prepare_nice=10, deploy_hooks_after_live_tasks=str(tmp_path / 'after.yml'),
            __deploy_env_file=os.path.join(root, 'app.env'), __deploy_healthcheck_host='',
            __deploy_healthcheck_headers={}, __deploy_hooks_due=True, __deploy_check_mode=False,
            deploy_manage_service=False, __deploy_release_id='v2')
        proc = run_playbook(tmp_path, extra)
        page = served(url)
    with open(os.path.join(root, '.simpledeploy.json')) as handle:
        marker = json.load(handle)
    failed = json.loads(record.read_text()) if record.exists() else None
    return failed, page, marker, proc.stdout + proc.stderr


def served(url):
    import urllib.request
    with urllib.request.urlopen(url, timeout=5) as answer:
        return answer.read().decode().strip()


def test_a_failing_after_live_task_file_rolls_back_and_says_the_old_release_is_back(tmp_path, deployed, systemctl):
    from ansible_collections.simpledeploy.django.tests.unit.plugins.modules.test_release_switch import applied, rows
    failed, page, marker, output = run_held(tmp_path, deployed, AFTER_TASKS)
    assert failed is not None, output
    message = failed['msg']
    assert message.startswith('release v2 failed its after-live task file and was rolled back, release v1 is back: '
                              'the task file %s (deploy_hooks_after_live_tasks) failed at "Warm the cache of the new '
                              'release": ' % (tmp_path / 'after.yml')), message
    assert 'failed (rc=3): cannot reach the cache with ********. Rollback: ' in message
    assert 'Restored: code of release v1' in message and 'schema migrated back people to 0001_initial' in message
    # (The task file's own output shows what it printed: the play's, not the role's.)
    assert SECRET not in message
    # The old release serves again, on its schema, and the marker says so.
    assert page == 'v1' and applied(deployed) == ['0001_initial'] and rows(deployed) == 3
    assert marker['current']['release'] == 'v1' and 'switching' not in marker
    assert systemctl.read_text().splitlines() == ['stop person', 'start person', 'stop person', 'start person']


def test_a_good_after_live_task_file_confirms_the_release(tmp_path, deployed, systemctl):
    failed, page, marker, output = run_held(tmp_path, deployed, GOOD_TASKS)
    assert failed is None, failed
    assert page == 'v2' and marker['current']['release'] == 'v2' and marker['previous']['release'] == 'v1'
    assert 'switching' not in marker, output


# ---------------------------------------------------------------- a fleet: two hosts sharing the migrated database

FLEET_INVENTORY = """
web:
  hosts:
    web1: {deploy_root: "%(root1)s", deploy_service_name: person, __deploy_env_file: "%(root1)s/app.env",
           __deploy_gate_file: "%(root1)s/.simpledeploy-gate",
           __deploy_serve_gate_file: "%(root1)s/.simpledeploy-serve-gate"}
    web2: {deploy_root: "%(root2)s", deploy_service_name: person2, __deploy_env_file: "%(root2)s/app.env",
           __deploy_gate_file: "%(root2)s/.simpledeploy-gate",
           __deploy_serve_gate_file: "%(root2)s/.simpledeploy-serve-gate"}
  vars:
    ansible_connection: local
"""

FLEET_PLAYBOOK = """
- name: Go live as fleet.yml does (web1 migrates the shared database, then web2), then the after-live task file
  hosts: web
  gather_facts: false
  tasks:
    - name: Record how the run ended
      block:
        # One host at a time, web1 first (fleet.yml includes go_live.yml for the migrator, then for the others).
        - name: Go live as go_live.yml does, holding the window open, web1 migrating the shared database
          simpledeploy.django.release_switch:
            root: "{{ deploy_root }}"
            release: v2
            service: "{{ deploy_service_name }}"
            migrate: "{{ inventory_hostname == __deploy_migrator }}"
            env_file: "{{ __deploy_env_file }}"
            applied_leaves: "{{ leaves }}"
            reversible: "{{ reversible }}"
            rollback: "{{ inventory_hostname == __deploy_migrator }}"
            prune: false
            hold: true
          register: __deploy_switch
          throttle: 1
        - name: Let systemctl show say the services run (the stop before the migrator's undo asks)
          ansible.builtin.copy:
            dest: "{{ show }}"
            content: "Id={{ deploy_service_name }}.service\\nLoadState=loaded\\nActiveState=active\\n"
            mode: "0644"
          run_once: true
        - name: Once live
          ansible.builtin.include_tasks: "{{ tasks }}/hooks_after_live.yml"
      rescue:
        - name: Write the message down
          ansible.builtin.copy:
            content: "{{ ansible_failed_result | to_json }}"
            dest: "{{ record }}-{{ inventory_hostname }}"
            mode: "0600"
"""

# Fails on web2 only.
FLEET_TASKS = """
- name: Warm the cache of the new release
  ansible.builtin.command:
    argv: [/bin/sh, -c, 'echo "cannot reach the cache on {{ inventory_hostname }}" >&2; exit 3']
  changed_when: true
  when: inventory_hostname == 'web2'
"""


def second_root(tmp_path, venv, database):
    """web2's deploy root: v1 live and v2 staged like deployed's, its environment naming web1's SQLite file."""
    from ansible_collections.simpledeploy.django.tests.unit.plugins.modules.test_release_switch import link_shared
    root = str(tmp_path / 'srv2' / 'person')
    os.makedirs(os.path.join(root, 'shared', 'media'))
    with open(os.path.join(root, '.simpledeploy.json'), 'w') as handle:
        json.dump({'app': 'person', 'format': 1, 'current': {'release': 'v1'}}, handle)
    with open(os.path.join(root, 'app.env'), 'w') as handle:
        handle.write('DJANGO_SECRET_KEY=release-switch-test-secret\nDJANGO_DB_NAME=%s\n' % database)
    for tree, version in (('code', 'v1'), ('staging', 'v2')):
        copy_example(version, os.path.join(root, tree))
        link_shared(root, os.path.join(root, tree))
    with open(os.path.join(root, 'code', '.simpledeploy-release'), 'w') as handle:
        handle.write('v1\n')
    os.symlink(venv.path, os.path.join(root, 'venv'))
    return root


def run_fleet(tmp_path, deployed, venv, reversible=True):
    """FLEET_PLAYBOOK on web1 (DEPLOYED) and web2 sharing its database; returns ({host: message}, web2's root, output)."""
    from ansible_collections.simpledeploy.django.tests.unit.plugins.modules.test_release_switch import applied_leaves
    with open(os.path.join(deployed, 'code', '.simpledeploy-release'), 'w') as handle:
        handle.write('v1\n')
    root2 = second_root(tmp_path, venv, os.path.join(deployed, 'shared', 'db.sqlite3'))
    (tmp_path / 'after.yml').write_text(FLEET_TASKS)
    (tmp_path / 'play.yml').write_text(FLEET_PLAYBOOK)
    (tmp_path / 'inventory.yml').write_text(FLEET_INVENTORY % dict(root1=deployed, root2=root2))
    record = tmp_path / 'record'
    extra = dict(
        tasks=TASKS, record=str(record), leaves=applied_leaves(deployed), show=str(tmp_path / 'show'),
        reversible=reversible, ansible_python_interpreter=sys.executable, deploy_app_name='person', deploy_env={},
        deploy_user=None, deploy_settings_module='', deploy_project_subdir='', deploy_healthcheck_url='',
        deploy_healthcheck_status=200, deploy_healthcheck_retries=5, deploy_healthcheck_delay=1, deploy_backup_keep=5, deploy_keep_releases=5,
        deploy_prepare_nice=10,
        deploy_hooks_after_live_tasks=str(tmp_path / 'after.yml'), __deploy_healthcheck_host='',
        __deploy_healthcheck_headers={}, __deploy_hooks_due=True, __deploy_check_mode=False,
        __deploy_fleet=True, __deploy_migrator='web1', __deploy_release_id='v2', deploy_manage_service=True)
    proc = run_playbook(tmp_path, extra, inventory=str(tmp_path / 'inventory.yml'))
    output = proc.stdout + proc.stderr
    messages = {}
    for host in ('web1', 'web2'):
        path = tmp_path / ('record-' + host)
        assert path.exists(), output
        messages[host] = ' '.join(json.loads(path.read_text())['msg'].split())
    return messages, root2, output


def marker_of(root):
    with open(os.path.join(root, '.simpledeploy.json')) as handle:
        return json.load(handle)


def test_a_task_file_failing_on_one_host_of_a_fleet_takes_every_host_back_in_order(
        tmp_path, deployed, venv, systemctl):
    from ansible_collections.simpledeploy.django.tests.unit.plugins.modules.test_release_switch import applied, rows
    messages, root2, output = run_fleet(tmp_path, deployed, venv)
    outcome = ('release v2 failed its after-live task file on web2 (of web1, web2, which share the database web1 '
               'migrated) and was rolled back, release v1 is back')
    # The host whose file failed says why, with the task's own error; the other says where it failed.
    assert messages['web2'].startswith(outcome + ': the task file %s (deploy_hooks_after_live_tasks) failed at "Warm '
                                       'the cache of the new release": ' % (tmp_path / 'after.yml')), messages
    assert 'cannot reach the cache on web2. Rollback: ' in messages['web2'], messages
    assert messages['web1'].startswith(outcome + '. Rollback: '), messages
    assert 'schema migrated back people to 0001_initial' in messages['web1'], messages
    # Order: web2 stops before web1 takes the schema back, and starts its old release only after that.
    assert systemctl.read_text().splitlines() == [
        'stop person', 'start person',          # web1 goes live, migrating
        'stop person2', 'start person2',        # then web2
        'stop person2',                         # the file failed on web2: web2 stops first
        'stop person', 'start person',          # web1 undoes its window (the schema back)
        'stop person2', 'start person2',        # then web2 undoes its own
    ], output
    # Both hosts hold v1 again, recorded as live, on the schema v1 knows, with every row.
    assert applied(deployed) == ['0001_initial'] and rows(deployed) == 3
    for root in (deployed, root2):
        with open(os.path.join(root, 'code', '.simpledeploy-release')) as handle:
            assert handle.read().strip() == 'v1', root
        marker = marker_of(root)
        assert marker['current']['release'] == 'v1' and 'switching' not in marker, (root, marker)
        # web2's start gate, closed while web1 took the schema back, was opened by its own undo.
        assert not os.path.lexists(os.path.join(root, '.simpledeploy-gate')), root


def test_when_the_host_that_migrated_cannot_take_the_schema_back_the_others_stay_stopped(
        tmp_path, deployed, venv, systemctl):
    from ansible_collections.simpledeploy.django.tests.unit.plugins.modules.test_release_switch import applied
    # Not reversible and no backup: web1's undo cannot take the schema back.
    messages, root2, output = run_fleet(tmp_path, deployed, venv, reversible=False)
    assert 'schema NOT restored (not reversible, and no backup was taken' in messages['web1'], messages
    assert messages['web2'].startswith(
        'release v2 failed its after-live task file on web2 (of web1, web2, which share the database web1 migrated), '
        'and web1, the host that migrated the shared database, did not take the schema back (see its message): this '
        'host was left stopped, holding it (the host needs a look): the task file'), messages
    assert 'Rollback:' not in messages['web2']
    # web2 never started again: no old code on the new schema, nor new code under an undo.
    assert systemctl.read_text().splitlines()[4:] == ['stop person2', 'stop person', 'start person'], output
    assert applied(deployed) == ['0001_initial', '0002_person_weight']
    # Its window stays held: the next run takes v2 as live (_resume.held_as_live) and deploys from there.
    assert marker_of(root2)['switching']['held']['release'] == 'v2'
    # and its start gate stays closed: no connection starts v2 (or v1) on a schema in doubt.
    assert os.path.lexists(os.path.join(root2, '.simpledeploy-gate'))


def fleet_schema_changed(migrator_vars):
    """vars/main.yml's __deploy_fleet_schema_changed, rendered for a host whose migrator registered MIGRATOR_VARS."""
    from ansible.parsing.dataloader import DataLoader
    from ansible.template import Templar
    from ansible_collections.simpledeploy.django.tests.unit.conftest import trusted
    with open(os.path.join(ROOT, 'roles', 'deploy', 'vars', 'main.yml')) as handle:
        expression = yaml.safe_load(handle)['__deploy_fleet_schema_changed']
    variables = dict(__deploy_migrator='web1', hostvars={'web1': migrator_vars})
    return Templar(loader=DataLoader(), variables=variables).template(trusted(expression))


@pytest.mark.parametrize('migrator_vars, changed', [
    ({'__deploy_switch': {'changed': True, 'migrated': True}}, True),
    # Migrated, then taken back by the undo of a failed after-live task file: later batches may start again.
    ({'__deploy_switch': {'changed': True, 'migrated': True, 'held': True},
      '__deploy_hooks_undo': {'changed': True, 'schema_as_before': True}}, False),
    ({'__deploy_switch': {'changed': True, 'migrated': True, 'held': True},
      '__deploy_hooks_undo': {'changed': True, 'schema_as_before': False}}, True),
    ({'__deploy_switch': {'failed': True, 'schema_as_before': False}}, True),
    ({'__deploy_switch': {'failed': True, 'schema_as_before': True}}, False),
])
def test_later_batches_start_again_once_the_schema_is_as_before(migrator_vars, changed):
    assert fleet_schema_changed(migrator_vars) is changed
