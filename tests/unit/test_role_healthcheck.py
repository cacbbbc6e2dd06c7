# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The role's health check (verify.yml's tasks, with the role's defaults and vars/main.yml) in a real
ansible-playbook run on localhost, against a loopback server that answers as a Django project in production
settings does: 400 for a Host its ALLOWED_HOSTS does not list, 301 to https:// without the header its
SECURE_PROXY_SSL_HEADER names, / redirecting to /catalog/. What the health check sends comes from the
settings report of migration_status (__deploy_plan.settings), the user's variables winning."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import yaml

import ansible

from ansible_collections.simpledeploy.django.plugins.modules import health_check
from ansible_collections.simpledeploy.django.tests.unit.conftest import proxied_django

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..'))
ROLE = os.path.join(ROOT, 'roles', 'deploy')
COLLECTIONS_ROOT = os.path.abspath(os.path.join(os.path.dirname(health_check.__file__), *(['..'] * 5)))
ANSIBLE_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(ansible.__file__)))
TOKEN = 'role-health-token-5e2d'

PLAYBOOK = """
- name: The role's health check after a run that put nothing live
  hosts: localhost
  gather_facts: false
  vars_files: ["{{ role }}/defaults/main.yml", "{{ role }}/vars/main.yml"]
  tasks:
    - name: Record what the health check said
      block:
        - name: The role's health tasks
          ansible.builtin.include_tasks: "{{ health }}"
        - name: Write the answer down
          ansible.builtin.copy:
            content: "{{ __deploy_health | to_json }}"
            dest: "{{ record }}"
            mode: "0600"
      rescue:
        - name: Write the failure down
          ansible.builtin.copy:
            content: "{{ ansible_failed_result | to_json }}"
            dest: "{{ record }}"
            mode: "0600"
"""


@pytest.fixture
def app():
    """As a production Django behind its TLS proxy, for Host catalog.example."""
    with proxied_django('catalog.example', b'<h1>Local Library</h1>') as server:
        yield server


def health_tasks(tmp_path):
    """verify.yml's health tasks, as the role has them."""
    with open(os.path.join(ROLE, 'tasks', 'verify.yml')) as handle:
        tasks = [task for task in yaml.safe_load(handle) if task.get('name', '').startswith(
            ('Verify | Wait until the app answers', 'Verify | Fail when the app does not answer'))]
    assert len(tasks) == 2
    path = tmp_path / 'health.yml'
    path.write_text(yaml.safe_dump(tasks))
    return str(path)


def run(tmp_path, app, **extra):
    (tmp_path / 'play.yml').write_text(PLAYBOOK)
    record = tmp_path / 'record.json'
    variables = dict(role=ROLE, health=health_tasks(tmp_path), record=str(record), deploy_app_name='catalog',
                     deploy_healthcheck_url=app.url, deploy_healthcheck_retries=1, deploy_healthcheck_delay=1,
                     __deploy_check_mode=False, __deploy_switch={'changed': False},
                     ansible_python_interpreter=sys.executable)
    variables.update(extra)
    # In a file: -vvvv shows the command line.
    variables_file = tmp_path / 'variables.json'
    variables_file.write_text(json.dumps(variables))
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=COLLECTIONS_ROOT, ANSIBLE_LOCAL_TEMP=str(tmp_path / 'tmp'),
               ANSIBLE_REMOTE_TMP=str(tmp_path / 'tmp'), ANSIBLE_NOCOLOR='1', ANSIBLE_RETRY_FILES_ENABLED='0',
               LANG='C.UTF-8', LC_ALL='C.UTF-8', PYTHONDONTWRITEBYTECODE='1',
               PYTHONPATH=os.pathsep.join([COLLECTIONS_ROOT, ANSIBLE_ROOT]))
    argv = [sys.executable, '-m', 'ansible.cli.playbook', '-vvvv', '-i', 'localhost,', '-c', 'local',
            '-e', '@%s' % variables_file, str(tmp_path / 'play.yml')]
    proc = subprocess.run(argv, capture_output=True, text=True, env=env, cwd=str(tmp_path), timeout=300, check=False)
    output = proc.stdout + proc.stderr
    assert record.exists(), output
    return json.loads(record.read_text()), output


# What migration_status reports of a project with ALLOWED_HOSTS = ['.catalog.example'] and
# SECURE_PROXY_SSL_HEADER = ('HTTP_X_FORWARDED_PROTO', 'https').
PLAN = {'settings': {'allowed_hosts': ['.catalog.example'], 'debug': False,
                     'secure_proxy_ssl_header': ['HTTP_X_FORWARDED_PROTO', 'https'],
                     'healthcheck': {'host': 'catalog.example', 'headers': {'X-Forwarded-Proto': 'https'}}}}


def test_the_settings_make_the_check_pass_with_no_variable_set(tmp_path, app):
    health, output = run(tmp_path, app, __deploy_plan=PLAN)
    assert health.get('answered') is True, output
    assert health['last'] == 'HTTP 200: Local Library (after redirects to /catalog/)'
    assert app.asked[-1]['Host'] == 'catalog.example' and app.asked[-1]['X-Forwarded-Proto'] == 'https'


def test_the_users_host_and_headers_win_and_no_header_value_is_shown(tmp_path, app):
    plan = {'settings': dict(PLAN['settings'], healthcheck={'host': 'localhost', 'headers': {'X-Forwarded-Proto': 'http'}})}
    health, output = run(tmp_path, app, __deploy_plan=plan, deploy_healthcheck_host='catalog.example',
                         deploy_healthcheck_headers={'x-forwarded-proto': 'https', 'X-Probe-Token': TOKEN})
    assert health.get('answered') is True, output
    assert app.asked[-1]['X-Probe-Token'] == TOKEN
    # Not in the output at -vvvv (the module's result, its invocation masked, is checked in test_health_check).
    assert TOKEN not in output


def test_without_the_settings_the_failure_says_what_to_set(tmp_path, app):
    failed, output = run(tmp_path, app)
    assert failed['failed'] is True, output
    assert failed['msg'].startswith('catalog did not answer %s with a 2xx status within 1 s (last answer: HTTP 400: '
                                    'Bad Request (400)); Django answers 400 when ALLOWED_HOSTS does not list the '
                                    'Host header' % app.url), failed['msg']
    assert 'set deploy_healthcheck_host' in failed['msg'] and 'journalctl -u ' in failed['msg']
