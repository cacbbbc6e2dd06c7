# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Finishing the window of a killed run, from the releases the trees hold."""

from __future__ import annotations

import os

import pytest

from ansible_collections.simpledeploy.django.plugins.module_utils import _resume, _state
from ansible_collections.simpledeploy.django.tests.unit.plugins.module_utils.release_trees import make_root, tree, read_tree


@pytest.mark.parametrize('trees, switching, swap, staging, notes', [
    # nothing special: swap as asked
    ({'code': 'a', 'staging': 'b'}, None, True, None, []),
    # code/ already holds the release: no swap; a copy of it in staging/ goes
    ({'code': 'b', 'previous': 'a'}, {'release': 'b'}, False, None,
     ['code/ already holds release b: not swapped again']),
    ({'code': 'b', 'previous': 'a', 'staging': 'b'}, None, False, 'remove',
     ['code/ already holds release b: not swapped again', 'staging/ holds release b too: removed']),
    # the exchange ran, its last rename did not: the old live tree waits in staging/
    ({'code': 'b', 'staging': 'a'}, {'release': 'b'}, False, 'aside',
     ['code/ already holds release b: not swapped again',
      'staging/ holds release a, the one that was live: moved to code.previous/']),
    # without a record of a window, another release in staging/ is not ours to move
    ({'code': 'b', 'staging': 'a'}, None, False, None, ['code/ already holds release b: not swapped again']),
    # trees without markers (an older layout): as asked
    ({}, None, True, None, []),
])
def test_resume_plan(tmp_path, trees, switching, swap, staging, notes):
    root = make_root(tmp_path, {})
    names = {'code': 'code', 'previous': 'code.previous', 'staging': 'staging'}
    for key in ('code', 'staging'):
        tree(root, names[key], {'manage.py': key})
    for key, release in trees.items():
        tree(root, names[key], {_state.RELEASE_FILE: release + '\n'})
    plan = _resume.resume_plan(root, 'b', True, switching)
    assert (plan['swap'], plan['staging'], plan['notes']) == (swap, staging, notes)
    assert plan['found']['code'] == trees.get('code')


def test_apply_resume_moves_the_old_tree_aside_or_removes_the_copy(tmp_path):
    root = make_root(tmp_path, {})
    tree(root, 'staging', {'f': 'old'})
    _resume.apply_resume(root, {'staging': 'aside'})
    assert read_tree(os.path.join(root, 'code.previous')) == {'f': 'old'}
    tree(root, 'staging', {'f': 'copy'})
    _resume.apply_resume(root, {'staging': 'remove'})
    assert not os.path.exists(os.path.join(root, 'staging'))
    _resume.apply_resume(root, {'staging': None})
    assert read_tree(os.path.join(root, 'code.previous')) == {'f': 'old'}


def test_resume_plan_removes_a_copy_of_the_live_release_even_without_a_swap(tmp_path):
    root = make_root(tmp_path, {})
    tree(root, 'code', {_state.RELEASE_FILE: 'b\n'})
    tree(root, 'staging', {_state.RELEASE_FILE: 'b\n'})
    plan = _resume.resume_plan(root, 'b', False)
    assert (plan['swap'], plan['staging'], plan['notes']) == (False, 'remove', ['staging/ holds release b too: removed'])
    assert _resume.resume_plan(root, 'c', False)['staging'] is None


HELD = {'release': 'b', 'venv_key': 'k2', 'loaded': True, 'attempted': ['stop', 'swap', 'start', 'ready'],
        'done': ['stop', 'swap', ['venv', 'venvs/k1'], 'start'], 'config_done': []}


@pytest.mark.parametrize('code, current, previous, switching', [
    # a window held open (hold) whose run was killed, code/ holding its release: taken as live
    ('b', {'release': 'b', 'venv': 'k2', 'at': '2026-11-30T10:00:00Z'}, {'release': 'a', 'venv': 'k1'}, None),
    # code/ does not hold it (put back by hand, say): an ordinary window in progress, finished as a killed run's
    ('a', {'release': 'a', 'venv': 'k1'}, None, {'release': 'b', 'started': '2026-11-30T10:00:00Z'}),
])
def test_a_held_window_whose_run_was_killed(tmp_path, code, current, previous, switching):
    root = make_root(tmp_path, {})
    tree(root, 'code', {_state.RELEASE_FILE: code + '\n'})
    tree(root, 'code.previous', {_state.RELEASE_FILE: 'a\n'})
    state = {'app': 'person', 'current': {'release': 'a', 'venv': 'k1'},
             'switching': {'release': 'b', 'started': '2026-11-30T10:00:00Z', 'held': HELD}}
    found, note = _resume.held_as_live(root, state)
    assert (found['current'], found.get('previous'), found.get('switching')) == (current, previous, switching)
    assert ('taken as live' in note) == (code == 'b')
    assert state['switching']['held'] == HELD  # read only


def test_no_held_window_is_left_alone(tmp_path):
    state = {'current': {'release': 'a'}, 'switching': {'release': 'b'}}
    assert _resume.held_as_live(make_root(tmp_path, {}), state) == (state, None)
