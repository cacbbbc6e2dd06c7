# -*- coding: utf-8 -*-
# Copyright (c) simpledeploy developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The exception every step of a deploy raises when it fails.

Private to the simpledeploy.django collection: the interface may change.
"""

from __future__ import annotations


class StepError(Exception):
    """A step of the window failed; the message says which and why."""
