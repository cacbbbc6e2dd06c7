# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""No role task sets owner or mode on a path the app user can change.

The app user owns <deploy_root>/shared and can replace anything in it with a
link. ansible.builtin.file, copy and template follow such a link when they set
owner, group or mode (file does unless follow: false), so a task of theirs
aimed at shared/ would hand root's target to the app user. Such work belongs
to simpledeploy.django.deploy_root, which never follows a link.
"""

from __future__ import annotations

import glob
import os

import pytest
import yaml

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..'))
MODULES = {'file', 'copy', 'template', 'ansible.builtin.file', 'ansible.builtin.copy', 'ansible.builtin.template'}
SETTING = ('owner', 'group', 'mode')
# What names shared/ in a task: the internal variable, or the literal directory.
SHARED = ('__deploy_shared_dir', '/shared')


def tasks(node):
    """Every task of a task file, blocks, rescue and always included."""
    for task in node or []:
        if not isinstance(task, dict):
            continue
        yield task
        for key in ('block', 'rescue', 'always'):
            yield from tasks(task.get(key))


def offenders(task_list):
    found = []
    for task in tasks(task_list):
        for module in MODULES & set(task):
            args = task[module] if isinstance(task[module], dict) else {}
            if not any(key in args for key in SETTING):
                continue
            aimed = ' '.join(str(args.get(key, '')) for key in ('path', 'dest', 'name')) + ' ' + str(
                task.get('loop', task.get('with_items', '')))
            if any(mark in aimed for mark in SHARED):
                found.append(task.get('name', module))
    return found


def role_task_files():
    return sorted(glob.glob(os.path.join(ROOT, 'roles', '*', 'tasks', '*.yml'))
                  + glob.glob(os.path.join(ROOT, 'roles', '*', 'handlers', '*.yml')))


@pytest.mark.parametrize('path', role_task_files(), ids=lambda path: os.path.relpath(path, ROOT))
def test_no_task_sets_owner_or_mode_through_shared(path):
    with open(path) as handle:
        assert offenders(yaml.safe_load(handle)) == []


def test_the_check_finds_the_task_that_made_etc_the_app_users():
    """The task this test was written against (preflight.yml before the fix)."""
    old = yaml.safe_load('''
- name: Preflight | Create the deploy root and its data directories
  ansible.builtin.file:
    path: "{{ item }}"
    state: directory
    owner: "{{ 'root' if item in __deploy_root_dirs else deploy_user }}"
    mode: "0750"
  loop: "{{ __deploy_root_dirs + [__deploy_shared_dir] + deploy_shared_dirs | map('regex_replace', '^', __deploy_shared_dir ~ '/') | list }}"
- name: A block
  block:
    - name: Fix the media mode
      ansible.builtin.file:
        path: "{{ deploy_root }}/shared/media"
        mode: "0750"
''')
    assert offenders(old) == ['Preflight | Create the deploy root and its data directories', 'Fix the media mode']
