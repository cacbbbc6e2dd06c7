# -*- coding: utf-8 -*-
# Copyright (c) simpledeploy developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The deploy root's layout, and what it records: the marker (state) file and each tree's release.

Private to the simpledeploy.django collection: the interface may change.

Layout under the deploy root (every path is ours, marked by MARKER):

    .simpledeploy.json   marker and state: app name, current/previous release,
                         the releases kept (``releases``, _releases) and
                         ``switching`` while a window is in progress
    code/                the live code tree (the service's working directory)
    code.previous/       the tree that was live before, kept for a rollback
    releases/<id>/       older releases kept (_releases: moved there before a swap)
    staging/             the next tree, prepared before any downtime
    */.simpledeploy-release  in each tree: the release it holds (RELEASE_FILE),
                         so that a run killed at any point can be finished
    backups/             database backups taken before migrating (root, 0700)
    shared/              data that outlives releases, linked into every tree
    venvs/<key>/         virtualenvs, one per requirements set
    venv                 symlink to the live virtualenv
    app.env              the service's environment (secrets), mode 0600
"""

from __future__ import annotations

import json
import os

from ansible_collections.simpledeploy.django.plugins.module_utils import _fsio, _root_safety

MARKER = '.simpledeploy.json'
CODE = 'code'
PREVIOUS = 'code.previous'
STAGING = 'staging'
VENVS = 'venvs'
VENV_LINK = 'venv'
VENV_READY = '.simpledeploy-complete'
# At the top of each code tree: the release it holds, one line.
RELEASE_FILE = '.simpledeploy-release'


def read_state(root):
    """The marker's content, or None when ROOT has no marker."""
    try:
        with open(os.path.join(root, MARKER), 'rb') as handle:
            data = json.loads(handle.read().decode('utf-8'))
    except (IOError, OSError):
        return None
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def write_state(root, state):
    """Replace the marker whole, on disk before this returns (_fsio.atomic_write); OSError when it cannot."""
    _fsio.atomic_write(os.path.join(root, MARKER), json.dumps(state, indent=2, sort_keys=True) + '\n')


def tree_release(tree):
    """The release TREE holds, from its RELEASE_FILE; None when it has none."""
    try:
        with open(os.path.join(tree, RELEASE_FILE), 'rb') as handle:
            text = handle.read(512).decode('utf-8', 'replace').strip()
    except (IOError, OSError):
        return None
    return text.splitlines()[0].strip() if text else None


def write_release(tree, release):
    """Mark TREE as holding RELEASE, on disk before this returns (_fsio.atomic_write)."""
    _fsio.atomic_write(os.path.join(tree, RELEASE_FILE), '%s\n' % release)


def inspect_root(root, home_dirs=(), app=None):
    """What the role needs to know about ROOT before it changes anything.

    The releases come from the trees' own RELEASE_FILE when they have one (a
    run killed after the swap and before it wrote the state leaves the state
    behind the trees), from the state file otherwise.
    """
    info = {
        'root': root,
        'exists': os.path.isdir(root),
        'ours': False,
        'safe': True,
        'reason': None,
        'state': {},
        'current_release': None,
        'previous_release': None,
        'staged_release': None,
        'current_venv': None,
        'switching': None,
    }
    reason = _root_safety.unsafe_root_reason(root, home_dirs)
    if reason is None and os.path.lexists(root) and not os.path.isdir(root):
        reason = 'deploy_root %s exists and is not a directory' % root
    state = read_state(root) if info['exists'] else None
    if state is not None:
        info['ours'] = True
        info['state'] = state
        if app and state.get('app') and state.get('app') != app:
            reason = ('deploy_root %s belongs to the app %r, not %r; give each app its own deploy_root'
                      % (root, state.get('app'), app))
    elif reason is None and info['exists'] and os.listdir(root):
        reason = ('deploy_root %s already exists, is not empty and was not created by simpledeploy '
                  '(no %s in it); the deploy would replace what is there. Choose a new or empty '
                  'directory, or move the existing one away' % (root, MARKER))
    if reason:
        info['safe'] = False
        info['reason'] = reason
    for key, tree in (('current', CODE), ('previous', PREVIOUS)):
        entry = info['state'].get(key) or {}
        found = tree_release(os.path.join(root, tree)) if info['exists'] else None
        info['%s_release' % key] = found or entry.get('release')
    if info['exists']:
        info['staged_release'] = tree_release(os.path.join(root, STAGING))
    info['current_venv'] = (info['state'].get('current') or {}).get('venv')
    info['switching'] = info['state'].get('switching') or None
    return info


def quiet_blockers(info, release, venv_key):
    """Why a deploy of RELEASE with the virtualenv VENV_KEY has something to change on the host release_info
    read into INFO, one short reason each (names and states, never a file's content). Empty, release_info's
    nothing_to_do and the deploy role's quiet path, only when the same release and virtualenv are live (the
    virtualenv complete), the files this run would write all live already (config_changed), the deploy root and
    the app's account are as the role makes them, the units enabled and running, and no window, gate or deploy
    lock is left by another run or a killed one; anything unknown is a reason."""
    if not info.get('exists'):
        return ['the deploy root does not exist yet']
    reasons = []
    if not (release and venv_key):
        reasons.append('the release or its virtualenv key is not known')
    else:
        if info.get('current_release') != release:
            reasons.append('release %s is live, not %s' % (info.get('current_release') or 'none', release))
        if info.get('current_venv') != venv_key:
            reasons.append('virtualenv %s is live, not %s' % (info.get('current_venv') or 'none', venv_key))
        elif not info.get('venv_ready'):
            reasons.append('the virtualenv %s is not complete' % venv_key)
    if info.get('config_changed'):
        reasons.append('files to write: %s' % ', '.join(info['config_changed']))
    if not info.get('root_ready'):
        reasons.append('the deploy root is not as the role makes it')
    if not info.get('user_ready'):
        reasons.append("the app's account is not as the role makes it")
    if not info.get('units_ready'):
        reasons.append('the units are not all enabled and running%s'
                       % (': %s' % info['units_problem'] if info.get('units_problem') else ''))
    if info.get('switching') is not None:
        reasons.append('a window a killed run left open')
    if info.get('gates_closed'):
        reasons.append('gates left closed: %s' % ', '.join(info['gates_closed']))
    if info.get('lock_present'):
        reasons.append('the deploy lock is present (another run holds it, or one that died left it)')
    return reasons
