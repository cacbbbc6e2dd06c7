# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The deploy root's marker (state) file and each tree's release file, as inspect_root reads them."""

from __future__ import annotations

import os

from ansible_collections.simpledeploy.django.plugins.module_utils import _state
from ansible_collections.simpledeploy.django.tests.unit.plugins.module_utils.release_trees import make_root, tree


def test_a_new_directory_is_safe_and_not_yet_ours(tmp_path):
    info = _state.inspect_root(str(tmp_path / 'srv' / 'new'), (), 'person')
    assert info['safe'] and not info['exists'] and not info['ours']
    assert info['current_release'] is None


def test_a_foreign_directory_with_content_is_refused(tmp_path):
    root = make_root(tmp_path)
    open(os.path.join(root, 'manage.py'), 'w').close()
    info = _state.inspect_root(root, (), 'person')
    assert not info['safe']
    assert 'was not created by simpledeploy' in info['reason']


def test_an_empty_foreign_directory_may_be_used(tmp_path):
    assert _state.inspect_root(make_root(tmp_path), (), 'person')['safe']


def test_a_root_of_another_app_is_refused(tmp_path):
    root = make_root(tmp_path, {}, app='other')
    info = _state.inspect_root(root, (), 'person')
    assert not info['safe'] and "'other'" in info['reason']


def test_state_is_read_from_the_marker(tmp_path):
    root = make_root(tmp_path, {'current': {'release': 'b', 'venv': 'v2'}, 'previous': {'release': 'a'}})
    info = _state.inspect_root(root, (), 'person')
    assert info['safe'] and info['ours']
    assert (info['current_release'], info['previous_release'], info['current_venv']) == ('b', 'a', 'v2')


def test_write_state_round_trips(tmp_path):
    root = make_root(tmp_path, {})
    _state.write_state(root, {'app': 'person', 'current': {'release': 'x'}})
    assert _state.read_state(root)['current'] == {'release': 'x'}
    assert not os.path.exists(os.path.join(root, _state.MARKER + '.tmp'))


def test_tree_release_reads_the_marker_and_write_release_writes_it(tmp_path):
    tree_path = str(tmp_path / 'code')
    os.mkdir(tree_path)
    assert _state.tree_release(tree_path) is None
    _state.write_release(tree_path, 'abc123')
    assert (tmp_path / 'code' / _state.RELEASE_FILE).read_text() == 'abc123\n'
    assert _state.tree_release(tree_path) == 'abc123'
    (tmp_path / 'code' / _state.RELEASE_FILE).write_text('\n')
    assert _state.tree_release(tree_path) is None
    assert _state.tree_release(str(tmp_path / 'missing')) is None


def test_inspect_root_takes_the_releases_from_the_trees(tmp_path):
    root = make_root(tmp_path, {'current': {'release': 'old', 'venv': 'v1'}, 'previous': {'release': 'older'},
                                'switching': {'release': 'new'}})
    tree(root, 'code', {_state.RELEASE_FILE: 'new\n'})
    info = _state.inspect_root(root, (), 'person')
    assert (info['current_release'], info['previous_release'], info['staged_release']) == ('new', 'older', None)
    assert info['switching'] == {'release': 'new'}
    tree(root, 'code.previous', {_state.RELEASE_FILE: 'old\n'})
    tree(root, 'staging', {_state.RELEASE_FILE: 'next\n'})
    info = _state.inspect_root(root, (), 'person')
    assert (info['previous_release'], info['staged_release']) == ('old', 'next')
