# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The role builds the virtualenv as deploy_build_user, never as root, and hands it over with venv_handoff."""

from __future__ import annotations

import os

import yaml

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..'))
TASKS = os.path.join(ROOT, 'roles', 'deploy', 'tasks')
AS_BUILDER = "__deploy_nice + ['runuser', '-u', deploy_build_user, '--']"


def load(name):
    with open(os.path.join(TASKS, name), encoding='utf-8') as handle:
        return yaml.safe_load(handle)


def flatten(tasks):
    for task in tasks:
        yield task
        for key in ('block', 'rescue', 'always'):
            yield from flatten(task.get(key) or [])


def venv_block():
    return next(task for task in load('venv.yml')
                if task.get('name') == 'Preflight | Build the virtualenv beside the live one')


def pip_install_prefix():
    """The argv both pip runs start with (a var of the block that holds them)."""
    block = next(task for task in venv_block()['block'] if '__deploy_pip_install' in task.get('vars', {}))
    return block['vars']['__deploy_pip_install']


def test_every_command_of_the_build_runs_as_the_build_user():
    commands = [task for task in flatten(venv_block()['block']) if 'ansible.builtin.command' in task]
    assert len(commands) == 3  # python -m venv, pip install the requirements, pip install gunicorn
    for task in commands:
        argv = task['ansible.builtin.command']['argv']
        if '__deploy_pip_install' in argv:
            assert argv.strip().lstrip('{').strip().startswith('__deploy_pip_install'), task['name']
            argv = pip_install_prefix()
        assert isinstance(argv, str) and argv.strip().lstrip('{').strip().startswith(AS_BUILDER), task['name']
        assert task['ansible.builtin.command']['chdir'] == '{{ __deploy_venv_build_home }}'
        assert 'become' not in task and 'become_user' not in task


def test_the_build_is_prepared_then_handed_over_and_nothing_root_writes_the_marker():
    tasks = list(flatten(venv_block()['block']))
    states = [task['simpledeploy.django.venv_handoff']['state'] for task in tasks
              if 'simpledeploy.django.venv_handoff' in task]
    assert states == ['building', 'handed_off']
    names = [task['name'] for task in tasks]
    assert names.index('Preflight | Make the virtualenv\'s directory the build user\'s') \
        < names.index('Preflight | Create a new virtualenv, as the build user') \
        < names.index('Preflight | Hand the virtualenv over to root and mark it complete') == len(names) - 1
    assert not [task for task in tasks if '.simpledeploy-complete' in str(task)]
    pip_conf = next(task for task in tasks if 'ansible.builtin.template' in task)['ansible.builtin.template']
    assert pip_conf['owner'] == pip_conf['group'] == '{{ deploy_build_user }}' and pip_conf['mode'] == '0600'


def test_the_rescue_kills_the_build_before_removing_it():
    task = next(task for task in load('rescue.yml')
                if task.get('name') == 'Rescue | Remove the virtualenv this run built, unless a release uses it')
    assert task['simpledeploy.django.venv_handoff'] == {
        'path': '{{ __deploy_venv_dir }}', 'build_user': '{{ deploy_build_user }}', 'state': 'absent'}
