# -*- coding: utf-8 -*-
# Copyright (c) simpledeploy developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The attributes every module of the collection documents, written once.

A module extends ``simpledeploy.django._attributes`` and states, under its own
``attributes:``, its ``support`` of check_mode and diff_mode and the ``details``
that are its own (a module's keys win over a fragment's). A module that never
changes anything extends ``simpledeploy.django._attributes.read_only`` as well.
"""

from __future__ import annotations


class ModuleDocFragment(object):

    # What each attribute means; every module runs on POSIX hosts.
    DOCUMENTATION = r"""
options: {}
attributes:
  check_mode:
    description: Can run in C(check_mode) and return changed status prediction without modifying target.
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in C(check_mode)), when in diff mode.
  platform:
    description: Target OS/families that can be operated against.
    support: full
    platforms: posix
"""

    # A module that only reads: the same report in check mode, no diff.
    READ_ONLY = r"""
options: {}
attributes:
  check_mode:
    support: full
    details: Runs in check mode too; it never changes anything, so the report is the same.
  diff_mode:
    support: none
    details: Nothing changes, so there is no diff.
"""
