# -*- coding: utf-8 -*-
# Copyright (c) simpledeploy developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Finishing the window of an earlier run that was killed in it, from the releases the trees hold.

Private to the simpledeploy.django collection: the interface may change.
"""

from __future__ import annotations

import os

from ansible_collections.simpledeploy.django.plugins.module_utils._state import (
    CODE, PREVIOUS, STAGING, tree_release,
)
from ansible_collections.simpledeploy.django.plugins.module_utils._swap import remove_tree
from ansible_collections.simpledeploy.django.plugins.module_utils._window import Switch


def resume_plan(root, release, swap, switching=None):
    """What this run does with the trees, from the releases they hold (a killed run's too).

    Returns {swap, staging, found, notes}: SWAP is false when code/ already
    holds RELEASE (a window killed after its swap: swapping again would push
    the good old tree out of code.previous/); STAGING, when code/ holds
    RELEASE (whatever SWAP), is 'remove' when staging/ holds that same
    release again, 'aside' when it holds the tree
    that was live (a swap killed between its exchange and its last rename,
    told by the SWITCHING record), else None; FOUND the release of each tree.
    Reads only.
    """
    found = dict((key, tree_release(os.path.join(root, name)))
                 for key, name in (('code', CODE), ('previous', PREVIOUS), ('staging', STAGING)))
    plan = {'swap': bool(swap), 'staging': None, 'found': found, 'notes': []}
    if not (release and found['code'] == release):
        return plan
    if swap:
        plan['swap'] = False
        plan['notes'].append('code/ already holds release %s: not swapped again' % release)
    if found['staging'] == release:
        plan['staging'] = 'remove'
        plan['notes'].append('staging/ holds release %s too: removed' % release)
    elif switching and found['staging'] and not os.path.lexists(os.path.join(root, PREVIOUS)):
        plan['staging'] = 'aside'
        plan['notes'].append('staging/ holds release %s, the one that was live: moved to %s/'
                             % (found['staging'], PREVIOUS))
    return plan


def apply_resume(root, plan):
    """Carry out plan['staging'] (see resume_plan)."""
    staging = os.path.join(root, STAGING)
    if plan['staging'] == 'remove':
        remove_tree(staging)
    elif plan['staging'] == 'aside':
        os.rename(staging, os.path.join(root, PREVIOUS))


def held_as_live(root, state):
    """A window an earlier run held open (release_switch's hold: switching.held in STATE) and that no second
    run confirmed or undid: that run was killed between its two calls. Returns (state, note); note None when
    STATE holds no such window.

    The held release had answered its health check: when code/ still holds it, it is taken as live, the
    returned state being what a confirm would have recorded (the next run commits it, and tidies later).
    Otherwise the record is an ordinary window in progress (held dropped), finished as a killed run's.
    Reads only.
    """
    switching = state.get('switching') or {}
    held = switching.get('held')
    if not isinstance(held, dict):
        return state, None
    release = held.get('release')
    if release and tree_release(os.path.join(root, CODE)) == release:
        switch = Switch(root, release, held.get('venv_key'), None, None).restore_undo_state(held)
        return switch.record(state, switching.get('started')), (
            'the window of release %s was held open for the after-live task file and neither confirmed nor '
            'undone (its run was killed): it answered its health check, taken as live' % release)
    return dict(state, switching=dict((k, v) for k, v in switching.items() if k != 'held')), (
        'the window of release %s was held open and its run killed, but code/ does not hold it: finished as a '
        'window in progress' % release)
