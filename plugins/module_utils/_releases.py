# -*- coding: utf-8 -*-
# Copyright (c) simpledeploy developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The releases kept on a host: their trees, their record in the marker, and which one can be gone back to.

Private to the simpledeploy.django collection: the interface may change.

The live tree is code/ and the one before it code.previous/ (_swap); the
releases before those are kept whole, each in releases/<id>/ (root's, mode
0755 like code/: the app user reads a kept tree when a rollback plans with
it): its code, its static files (hard links, see _static) and its
RELEASE_FILE. The marker's ``releases`` list records them newest
first, each ``{release, venv, at, first, migrations}``: the virtualenv key
it ran with, when it last went live, its number in the order releases were
first deployed in and, per app, the last migration its code knows
(``{app: name}``, its migration graph's leaf). A root laid out before this
list existed has only ``current`` and ``previous``: history() builds the list
from them, so the next deploy carries on from there, without a window.

Before a swap, set_aside() moves code.previous/ to releases/<id>/ (a rename
on the same file system, outside the window) instead of letting the swap
remove it; after a good window, remember() records the live release and
prune() removes the trees beyond the number kept. Nothing here follows a
link: the deploy root and releases/ are root's and writable by root alone.
"""

from __future__ import annotations

import os
import re
import stat

from ansible_collections.simpledeploy.django.plugins.module_utils import _fsio, _venvs
from ansible_collections.simpledeploy.django.plugins.module_utils._state import (
    CODE, PREVIOUS, STAGING, tree_release, write_release,
)

RELEASES = 'releases'
RELEASES_MODE = 0o755
# A release id that may name a directory: what release_archive makes (a hash) and what a user may give.
SAFE_ID = re.compile(r'^[A-Za-z0-9][A-Za-z0-9._+-]{0,127}$')
# Never fewer: the live release and the one a failed deploy goes back to.
MIN_KEEP = 2


class ReleasesError(Exception):
    """releases/ cannot be used; the message says why and what to do."""


def _valid(entry):
    return isinstance(entry, dict) and isinstance(entry.get('release'), str) and bool(SAFE_ID.match(entry['release']))


def history(state):
    """The releases STATE records, newest first, each once: its ``releases`` list, with ``current`` and
    ``previous`` first (a marker written before the list existed, or by a run that recorded only those)."""
    entries, by_id = [], {}
    for entry in [state.get('current'), state.get('previous')] + list(state.get('releases') or []):
        if not _valid(entry):
            continue
        known = by_id.get(entry['release'])
        if known is None:
            by_id[entry['release']] = known = {}
            entries.append(known)
        for key, value in entry.items():
            if value is not None:
                known.setdefault(key, value)
    return entries


def leaves_by_app(leaves):
    """``[{app, name}]`` (migration_status's known_leaves) as ``{app: name}``; None when not given."""
    if leaves is None:
        return None
    return dict((leaf['app'], leaf['name']) for leaf in sorted(leaves, key=lambda leaf: (leaf['app'], leaf['name'])))


def remember(state, release, leaves, keep):
    """STATE, as Switch.record() left it, with its ``releases`` list: RELEASE (live) first, with the
    migrations its code knows (LEAVES, ``[{app, name}]``, when given), KEEP releases at most."""
    entries = history(state)
    if release and entries and entries[0]['release'] == release:
        # Its place in the order releases were first deployed in (kept when it goes live again, after a rollback):
        # the order a rollback goes back in.
        if not isinstance(entries[0].get('first'), int):
            entries[0]['first'] = 1 + max([entry.get('first') for entry in entries[1:]
                                           if isinstance(entry.get('first'), int)] + [0])
        if leaves is not None:
            entries[0]['migrations'] = leaves_by_app(leaves)
    state = dict(state)
    state['releases'] = entries[:max(keep, MIN_KEEP)]
    return state


def _top(root, make):
    """releases/ under ROOT: its path, after checking (and with MAKE, making) it is a directory of root's
    that only root can write; None when it does not exist and MAKE is false."""
    top = os.path.join(root, RELEASES)
    try:
        info = os.lstat(top)
    except FileNotFoundError:
        if not make:
            return None
        os.mkdir(top, RELEASES_MODE)
        info = os.lstat(top)
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.geteuid() or info.st_mode & 0o022:
        raise ReleasesError('%s is not a directory that only root can write (a link, a file, or another '
                            'owner): the releases kept there cannot be trusted. Look at who made it, move it '
                            'away and deploy again' % top)
    return top


def set_aside(root, recorded=None):
    """Before a swap: the tree in code.previous/ moved to releases/<its release>/ (replacing an older copy of
    that release), so that the swap keeps it. Its release is the one its RELEASE_FILE names, else RECORDED
    (the marker's previous release: a tree made before trees were marked). Returns the release moved, or
    None: nothing there, or no release id that may name a directory (the swap then replaces the tree, as it
    always did)."""
    previous = os.path.join(root, PREVIOUS)
    if not os.path.isdir(os.path.join(root, CODE)):
        # No live tree: a swap interrupted between its two renames left the live one in code.previous/, which the
        # swap keeps there (and an undo brings back).
        return None
    try:
        if not stat.S_ISDIR(os.lstat(previous).st_mode):
            return None
    except FileNotFoundError:
        return None
    release = tree_release(previous) or recorded
    if not release or not SAFE_ID.match(release):
        return None
    dest = os.path.join(_top(root, make=True), release)
    if os.path.lexists(dest):
        _fsio.remove_tree(dest)
    os.rename(previous, dest)
    if tree_release(dest) != release:
        # A tree made before trees were marked: marked now, as every kept tree is.
        write_release(dest, release)
    return release


def put_back(root, release):
    """A window undone: the tree set_aside() moved to releases/RELEASE/ goes back to code.previous/, where the
    undo left nothing. Returns whether it moved."""
    previous = os.path.join(root, PREVIOUS)
    top = _top(root, make=False)
    if not release or not SAFE_ID.match(release) or top is None or os.path.lexists(previous):
        return False
    kept = os.path.join(top, release)
    if os.path.islink(kept) or not os.path.isdir(kept):
        return False
    os.rename(kept, previous)
    return True


def keep_staged(root, release):
    """A rollback undone: the kept tree of RELEASE, which the undo put in staging/, goes back to releases/<id>/.
    Returns whether it moved."""
    staging = os.path.join(root, STAGING)
    if not release or not SAFE_ID.match(release) or tree_release(staging) != release or os.path.islink(staging):
        return False
    dest = os.path.join(_top(root, make=True), release)
    if os.path.lexists(dest):
        _fsio.remove_tree(dest)
    os.rename(staging, dest)
    return True


def unstage(root, release, origin, aside):
    """Undo what staging a kept release did, before or after its window: RELEASE's tree back from staging/ to
    ORIGIN (code.previous/ when it came from there and nothing took its place, else releases/<id>/), then ASIDE
    (the release set_aside() moved out of code.previous/) back there."""
    staging = os.path.join(root, STAGING)
    if release and SAFE_ID.match(release) and not os.path.islink(staging) and tree_release(staging) == release:
        if origin == PREVIOUS and not os.path.lexists(os.path.join(root, PREVIOUS)):
            os.rename(staging, os.path.join(root, PREVIOUS))
        else:
            keep_staged(root, release)
    put_back(root, aside)


def prune(root, state):
    """The trees under releases/ of releases STATE's ``releases`` list no longer holds, copies of the
    releases in code/ and code.previous/, and anything else there, removed; code/ and code.previous/ are
    never touched. Returns the names removed, sorted."""
    top = _top(root, make=False)
    if top is None:
        return []
    kept = set(entry['release'] for entry in history(state))
    # A copy of the release code/ or code.previous/ holds (one deployed again) is kept there already.
    kept -= set([tree_release(os.path.join(root, CODE)), tree_release(os.path.join(root, PREVIOUS))])
    removed = []
    for name in sorted(os.listdir(top)):
        if name not in kept:
            _fsio.remove_tree(os.path.join(top, name))
            removed.append(name)
    return removed


def kept_venvs(state):
    """The virtualenv keys of every release STATE keeps."""
    return set(entry['venv'] for entry in history(state) if entry.get('venv'))


def locate(root, release, recorded=None):
    """Where RELEASE's tree is under ROOT (``code``, ``code.previous``, ``releases/<id>``, or ``staging`` where a
    rollback killed before its window left it, told by the tree's own RELEASE_FILE; for code.previous/ without
    one, by RECORDED, the marker's previous release), or None when no tree holds it."""
    if not release or not SAFE_ID.match(release):
        return None
    for relative in (CODE, PREVIOUS, os.path.join(RELEASES, release), STAGING):
        path = os.path.join(root, relative)
        if os.path.islink(path) or not os.path.isdir(path):
            continue
        found = tree_release(path)
        if found == release or (found is None and relative == PREVIOUS and recorded == release):
            return relative
    return None


def listing(root, state):
    """The releases kept on the host, newest first: ``{release, live, went_live, order, venv, tree,
    migrations, rollback, why_not}``. ORDER is its number in the order releases were first deployed in (None
    before numbers were given). ROLLBACK says whether a rollback can bring it back (its tree and its virtualenv
    are there, and it is not the live one); WHY_NOT says why not, else None. MIGRATIONS is null for a release
    deployed before its migrations were recorded (a rollback reads them from its tree)."""
    live = tree_release(os.path.join(root, CODE))
    recorded = (state.get('previous') or {}).get('release')
    rows = []
    for entry in history(state):
        release = entry['release']
        tree = locate(root, release, recorded)
        venv = entry.get('venv')
        if release == live:
            why = 'it is the live release'
        elif tree is None:
            why = 'its tree is no longer on the host (pruned, or removed by hand)'
        elif not venv:
            why = 'the virtualenv it ran with is not recorded'
        elif not _venvs.venv_ready(root, venv):
            why = 'its virtualenv (venvs/%s) is no longer on the host' % venv
        else:
            why = None
        order = entry.get('first') if isinstance(entry.get('first'), int) else None
        rows.append(dict(release=release, live=release == live, went_live=entry.get('at'), order=order, venv=venv,
                         tree=tree, migrations=entry.get('migrations'), rollback=why is None, why_not=why))
    return rows


def rollback_target(rows, previous=None):
    """The release a rollback goes back to when none is named, from listing()'s ROWS: PREVIOUS (the release live
    before the live one) when it can come back and was deployed before it; else, the live one having come by a
    rollback, of those it can bring back the one deployed last before the live one was first deployed (after v1,
    v2, v3 and a rollback to v2: v1, not v3), by ORDER; the newest one when that is not known. None when there is
    none."""
    live = next((row for row in rows if row['live']), None)
    candidates = [row for row in rows if row['rollback']]
    before = next((row for row in candidates if row['release'] == previous), None)
    if before is not None and (live is None or None in (live['order'], before['order'])
                               or before['order'] < live['order']):
        return before['release']
    if live is not None and live['order'] is not None:
        # A release without a number was deployed before numbers were given: before any numbered one.
        candidates = [row for row in candidates if (row['order'] or 0) < live['order']]
        numbered = [row for row in candidates if row['order']]
        if numbered:
            return max(numbered, key=lambda row: row['order'])['release']
    return candidates[0]['release'] if candidates else None
