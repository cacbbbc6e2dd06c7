# -*- coding: utf-8 -*-
# Copyright (c) simpledeploy developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The attributes every module of the collection documents, written once.

A module extends ``simpledeploy.django._attributes`` and states, under its own
``attributes:``, its ``support`` of check_mode and diff_mode and the ``details``
that are its own (a module's keys win over a fragment's). A module that never
changes anything extends ``simpledeploy.django._attributes.read_only`` as well.
A module that starts Django to prepare a release while the old one serves
extends ``simpledeploy.django._attributes.nice`` (its option ``nice``).
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

    # The option of the modules that start Django while the old release serves (the role's deploy_prepare_nice).
    NICE = r"""
options:
  nice:
    description:
      - Run the Django process under C(nice -n) this value (1 to 19), so that it yields the CPU to the live
        release's workers on a busy host; V(0) runs it at the usual priority. The deploy role passes
        C(deploy_prepare_nice).
    type: int
    default: 0
"""
