# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The role's rescue (tasks/rescue.yml) ends a failed command with the command's own error.

A real ansible-playbook run on localhost: a block runs a real ``manage.py check`` of the Person example, with
settings broken so that they raise with a value of deploy_env in the exception, through
ansible.builtin.command (as the role runs pip, the virtualenv and manage.py commands); its rescue is the
role's rescue.yml (nothing of this run locked or prepared, so only its last task acts). The message that
task fails with is recorded by an outer rescue.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

import ansible

from ansible_collections.simpledeploy.django.plugins.filter import failure_message
from ansible_collections.simpledeploy.django.tests.unit.conftest import copy_example

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..'))
RESCUE = os.path.join(ROOT, 'roles', 'deploy', 'tasks', 'rescue.yml')
# the directory that holds ansible_collections/simpledeploy/django (as the unit tests import it)
COLLECTIONS_ROOT = os.path.abspath(os.path.join(os.path.dirname(failure_message.__file__), *(['..'] * 5)))
ANSIBLE_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(ansible.__file__)))

PLAYBOOK = """
- name: A command of the deploy fails; the role's rescue says why
  hosts: localhost
  gather_facts: false
  vars:
    deploy_app_name: person
    deploy_manage_service: false
    __deploy_env_next: /nonexistent/app.env.simpledeploy-next
  tasks:
    - name: Record the message the rescue fails with
      block:
        - name: Deploy
          block:
            - name: Hooks | Run manage.py check
              ansible.builtin.command:
                argv: ["{{ python }}", manage.py, check]
                chdir: "{{ project }}"
              environment: "{{ deploy_env }}"
              changed_when: false
          rescue:
            - name: The role's rescue
              ansible.builtin.include_tasks: "{{ rescue_file }}"
      rescue:
        - name: Write the message down
          ansible.builtin.copy:
            content: "{{ ansible_failed_result | to_json }}"
            dest: "{{ record }}"
            mode: "0600"
"""

SECRET = 'hunter2-cache-password'
RAISES = '\nraise RuntimeError("cannot log in to the cache with " + os.environ["CACHE_PASSWORD"])\n'


@pytest.fixture(scope='module')
def django(django52_venv):
    return django52_venv


def run_rescue(tmp_path, django, rescue=RESCUE):
    """The failed task's result the outer rescue recorded, and the run's output."""
    project = copy_example('v1', tmp_path / 'project')
    with open(os.path.join(project, 'mysite', 'settings.py'), 'a', encoding='utf-8') as handle:
        handle.write(RAISES)
    (tmp_path / 'play.yml').write_text(PLAYBOOK)
    record = tmp_path / 'record.json'
    extra = dict(python=django.python, project=project, rescue_file=rescue, record=str(record),
                 deploy_env={'DJANGO_SECRET_KEY': 'a-long-django-secret-key-0123456789', 'CACHE_PASSWORD': SECRET,
                             'DJANGO_DEBUG': 'false'},
                 ansible_python_interpreter=sys.executable)
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=COLLECTIONS_ROOT, ANSIBLE_LOCAL_TEMP=str(tmp_path / 'tmp'),
               ANSIBLE_REMOTE_TMP=str(tmp_path / 'tmp'), ANSIBLE_NOCOLOR='1', ANSIBLE_RETRY_FILES_ENABLED='0',
               LANG='C.UTF-8', LC_ALL='C.UTF-8', PYTHONDONTWRITEBYTECODE='1',
               PYTHONPATH=os.pathsep.join([COLLECTIONS_ROOT, ANSIBLE_ROOT]))
    argv = [sys.executable, '-m', 'ansible.cli.playbook', '-i', 'localhost,', '-c', 'local',
            '-e', json.dumps(extra), str(tmp_path / 'play.yml')]
    proc = subprocess.run(argv, capture_output=True, text=True, env=env, cwd=str(tmp_path), timeout=300, check=False)
    output = proc.stdout + proc.stderr
    assert record.exists(), output
    return json.loads(record.read_text()), output


def test_rescue_fails_with_the_commands_own_error_secrets_masked(tmp_path, django):
    failed, output = run_rescue(tmp_path, django)
    message = failed['msg']
    assert message.startswith('person: the deploy failed at "Hooks | Run manage.py check": %s manage.py check '
                              'failed (rc=1): ' % django.python), output
    # the traceback's last line, the secret in it masked by value
    assert message.endswith('RuntimeError: cannot log in to the cache with ********'), output
    assert SECRET not in message
    assert 'non-zero return code' not in message
