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
