# -*- coding: utf-8 -*-
# Copyright (c) simpledeploy developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The virtualenvs under the deploy root's venvs/: which one may go live, which no release uses.

Private to the simpledeploy.django collection: the interface may change.
"""

from __future__ import annotations

import os

from ansible_collections.simpledeploy.django.plugins.module_utils import _handoff
from ansible_collections.simpledeploy.django.plugins.module_utils._state import VENVS


def venv_ready(root, key):
    """Whether venvs/KEY was handed over to root complete: a build user can write a marker of its own
    into an unfinished build, it cannot make the tree root's (_handoff.is_handed_over)."""
    return bool(key) and _handoff.is_handed_over(os.path.join(root, VENVS, key))


def stale_venvs(root, keep):
    """Virtualenv keys under ROOT/venvs that no kept release uses."""
    try:
        names = sorted(os.listdir(os.path.join(root, VENVS)))
    except OSError:
        return []
    return [name for name in names if name not in keep]
