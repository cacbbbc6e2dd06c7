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
