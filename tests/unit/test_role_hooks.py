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


def test_the_hooks_come_last_in_preflight_and_after_the_health_check_before_the_result():
    assert load('preflight.yml')[-1]['ansible.builtin.import_tasks'] == 'hooks_before_switch.yml'
    verify = [task.get('ansible.builtin.import_tasks') or task['name'] for task in load('verify.yml')]
    hooks = verify.index('hooks_after_live.yml')
    assert verify.index('Verify | Fail when the app does not answer') < hooks
    assert hooks < verify.index('Verify | Record what the deploy did')
    switch, = load('go_live.yml')
    options = switch['simpledeploy.django.release_switch']
    assert 'deploy_hooks_window' in options['window_commands']
    assert 'deploy_hooks_after_live' in options['after_live_commands']
    # An after-live task file holds the window open (not for a fleet): hooks_after_live.yml confirms or undoes it.
    assert 'deploy_hooks_after_live_tasks' in options['hold'] and 'not __deploy_fleet' in options['hold']
    # In the before-switch file: the commands, then the user's task file.
    names = [task['name'] for task in load('hooks_before_switch.yml')]
    assert names.index("Hooks | Run the project's manage.py commands on the new release, before the switch") < \
        names.index("Hooks | Run the project's task file before the switch")


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
        deploy_project_subdir='', deploy_hooks_timeout=60,
        deploy_hooks_before_switch=['hook before'], deploy_hooks_before_switch_tasks=str(tmp_path / 'before.yml'),
        deploy_hooks_after_live_tasks=str(tmp_path / 'after.yml'),
        __deploy_code_changed=True, __deploy_venv_changed=False, __deploy_migrate_now=False, __deploy_check_mode=check,
        __deploy_next_dir=project, __deploy_venv_dir=django.path, __deploy_env_next=str(env_file),
        __deploy_build={'release_id': '4c1d7e2f9a0b3c58'})
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=COLLECTIONS_ROOT, ANSIBLE_LOCAL_TEMP=str(tmp_path / 'tmp'),
               ANSIBLE_REMOTE_TMP=str(tmp_path / 'tmp'), ANSIBLE_NOCOLOR='1', ANSIBLE_RETRY_FILES_ENABLED='0',
               LANG='C.UTF-8', LC_ALL='C.UTF-8', PYTHONDONTWRITEBYTECODE='1',
               PYTHONPATH=os.pathsep.join([COLLECTIONS_ROOT, ANSIBLE_ROOT]))
    argv = [sys.executable, '-m', 'ansible.cli.playbook', '-i', 'localhost,', '-c', 'local',
            '-e', json.dumps(extra), str(tmp_path / 'play.yml')] + (['--check'] if check else [])
    proc = subprocess.run(argv, capture_output=True, text=True, env=env, cwd=str(tmp_path), timeout=300, check=False)
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
            deploy_backup_keep=5, deploy_hooks_after_live_tasks=str(tmp_path / 'after.yml'),
            __deploy_env_file=os.path.join(root, 'app.env'), __deploy_healthcheck_host='',
            __deploy_healthcheck_headers={}, __deploy_hooks_due=True, __deploy_check_mode=False,
            __deploy_build={'release_id': 'v2'})
        env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=COLLECTIONS_ROOT, ANSIBLE_LOCAL_TEMP=str(tmp_path / 'tmp'),
                   ANSIBLE_REMOTE_TMP=str(tmp_path / 'tmp'), ANSIBLE_NOCOLOR='1', ANSIBLE_RETRY_FILES_ENABLED='0',
                   LANG='C.UTF-8', LC_ALL='C.UTF-8', PYTHONDONTWRITEBYTECODE='1',
                   PYTHONPATH=os.pathsep.join([COLLECTIONS_ROOT, ANSIBLE_ROOT]))
        argv = [sys.executable, '-m', 'ansible.cli.playbook', '-i', 'localhost,', '-c', 'local',
                '-e', json.dumps(extra), str(tmp_path / 'play.yml')]
        proc = subprocess.run(argv, capture_output=True, text=True, env=env, cwd=str(tmp_path), timeout=300,
                              check=False)
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
