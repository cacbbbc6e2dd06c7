# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Swapping whole trees and pointing links, on real directories."""

from __future__ import annotations

import os
import shutil

import pytest

from ansible_collections.simpledeploy.django.plugins.module_utils import _swap
from ansible_collections.simpledeploy.django.tests.unit.plugins.module_utils.release_trees import tree, read_tree, setup_release


def test_point_symlink_is_idempotent(tmp_path):
    link = str(tmp_path / 'venv')
    assert _swap.point_symlink(link, 'venvs/a') is True
    assert _swap.point_symlink(link, 'venvs/a') is False
    assert _swap.point_symlink(link, 'venvs/b') is True
    assert os.readlink(link) == 'venvs/b'


def test_exchange_paths_swaps_two_trees_in_one_step(tmp_path):
    tree(str(tmp_path), 'a', {'f': 'a'})
    tree(str(tmp_path), 'b', {'f': 'b'})
    if not _swap.exchange_paths(str(tmp_path / 'a'), str(tmp_path / 'b')):
        pytest.skip('renameat2(RENAME_EXCHANGE) is not supported here')
    assert (tmp_path / 'a' / 'f').read_text() == 'b' and (tmp_path / 'b' / 'f').read_text() == 'a'
    with pytest.raises(OSError):
        _swap.exchange_paths(str(tmp_path / 'a'), str(tmp_path / 'missing'))


def test_swap_and_unswap_without_the_exchange_give_the_same_trees(tmp_path, monkeypatch):
    monkeypatch.setattr(_swap, 'exchange_paths', lambda first, second: False)
    root = setup_release(tmp_path)
    _swap.swap_trees(root)
    assert read_tree(os.path.join(root, 'code'))['manage.py'] == 'new'
    assert read_tree(os.path.join(root, 'code.previous'))['manage.py'] == 'old'
    _swap.unswap_trees(root)
    assert read_tree(os.path.join(root, 'code'))['manage.py'] == 'old'
    assert read_tree(os.path.join(root, 'staging'))['manage.py'] == 'new'
    assert not os.path.exists(os.path.join(root, 'code.previous'))


def test_swap_without_a_staged_tree_moves_nothing(tmp_path):
    root = setup_release(tmp_path)
    shutil.rmtree(os.path.join(root, 'staging'))
    with pytest.raises(OSError, match='nothing is staged'):
        _swap.swap_trees(root)
    assert read_tree(os.path.join(root, 'code'))['manage.py'] == 'old'


def test_a_rotation_killed_between_its_renames_is_finished_without_losing_the_old_tree(tmp_path, monkeypatch):
    monkeypatch.setattr(_swap, 'exchange_paths', lambda first, second: False)
    root = setup_release(tmp_path)
    # the first plain rename happened: code/ -> code.previous/
    shutil.rmtree(os.path.join(root, 'code.previous'))
    os.rename(os.path.join(root, 'code'), os.path.join(root, 'code.previous'))
    _swap.swap_trees(root)
    assert read_tree(os.path.join(root, 'code'))['manage.py'] == 'new'
    assert read_tree(os.path.join(root, 'code.previous'))['manage.py'] == 'old'
