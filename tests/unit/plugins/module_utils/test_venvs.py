# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The virtualenvs under venvs/."""

from __future__ import annotations

from ansible_collections.simpledeploy.django.plugins.module_utils import _venvs
from ansible_collections.simpledeploy.django.tests.unit.plugins.module_utils.release_trees import setup_release


def test_stale_venvs_keeps_the_named_ones(tmp_path):
    root = setup_release(tmp_path)
    assert _venvs.stale_venvs(root, {'v2'}) == ['v1']
    assert _venvs.stale_venvs(str(tmp_path / 'none'), set()) == []
