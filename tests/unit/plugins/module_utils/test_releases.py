# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The releases kept on a host: their record, their trees moved and pruned, the listing (real directories)."""

from __future__ import annotations

import os

import pytest

from ansible_collections.simpledeploy.django.plugins.module_utils import _releases, _state

LEGACY = {'app': 'person', 'current': {'release': 'r3', 'venv': 'k2', 'at': '2026-11-03T00:00:00Z'},
          'previous': {'release': 'r2', 'venv': 'k1', 'at': '2026-11-02T00:00:00Z'}}


def tree(root, relative, release):
    path = os.path.join(root, relative)
    os.makedirs(path)
    _state.write_release(path, release)
    with open(os.path.join(path, 'manage.py'), 'w') as handle:
        handle.write('# %s\n' % release)
    return path


def venv(root, key):
    path = os.path.join(root, _state.VENVS, key)
    os.makedirs(path)
    with open(os.path.join(path, _state.VENV_READY), 'w') as handle:
        handle.write(key + '\n')


def test_a_marker_from_before_the_list_gives_its_current_and_previous_release():
    assert _releases.history(LEGACY) == [LEGACY['current'], LEGACY['previous']]
    assert _releases.history({'app': 'person'}) == []


def test_the_live_release_goes_first_with_its_migrations_each_release_once_and_keep_at_most():
    state = dict(LEGACY, releases=[{'release': 'r2', 'venv': 'k1', 'migrations': {'people': '0002_b'}},
                                   {'release': 'r1', 'venv': 'k1', 'migrations': {'people': '0001_a'}},
                                   {'release': '../etc', 'venv': 'k0'}, 'junk'])
    state = dict(state, current={'release': 'r4', 'venv': 'k2', 'at': 'now'}, previous=state['current'])
    leaves = [{'app': 'people', 'name': '0003_c'}, {'app': 'auth', 'name': '0012_x'}]
    kept = _releases.remember(state, 'r4', leaves, keep=3)['releases']
    assert [entry['release'] for entry in kept] == ['r4', 'r3', 'r2']
    assert kept[0] == {'release': 'r4', 'venv': 'k2', 'at': 'now', 'first': 1,
                       'migrations': {'auth': '0012_x', 'people': '0003_c'}}
    # What the list knew of r2 is kept; a name that could leave releases/ never enters the list.
    assert kept[2]['migrations'] == {'people': '0002_b'}
    assert _releases.remember(state, 'r4', None, keep=0)['releases'][0].get('migrations') is None
    assert len(_releases.remember(state, 'r4', None, keep=0)['releases']) == _releases.MIN_KEEP


def test_set_aside_moves_the_previous_tree_whole_into_releases(root_parent):
    root = os.path.join(root_parent, 'srv')
    tree(root, _state.CODE, 'r3')
    tree(root, _state.PREVIOUS, 'r2')
    assert _releases.set_aside(root) == 'r2'
    assert os.stat(os.path.join(root, _releases.RELEASES)).st_mode & 0o777 == _releases.RELEASES_MODE
    # r2 deployed again later: its newer copy replaces the one kept.
    os.rename(os.path.join(root, _releases.RELEASES, 'r2'), os.path.join(root, _state.PREVIOUS))
    tree(root, os.path.join(_releases.RELEASES, 'r2'), 'r2-old-copy')
    assert _releases.set_aside(root) == 'r2'
    assert not os.path.lexists(os.path.join(root, _state.PREVIOUS))
    kept = os.path.join(root, _releases.RELEASES, 'r2')
    assert _state.tree_release(kept) == 'r2' and open(os.path.join(kept, 'manage.py')).read() == '# r2\n'
    # Nothing in code.previous/ (a first or second deploy, or after an undo): nothing to do.
    assert _releases.set_aside(root) is None


def test_without_a_live_tree_the_previous_one_is_left_where_the_swap_finds_it(root_parent):
    # A swap interrupted between its two renames: code.previous/ holds the tree that was live, code/ is missing.
    root = os.path.join(root_parent, 'srv')
    tree(root, _state.PREVIOUS, 'r2')
    assert _releases.set_aside(root) is None
    assert _state.tree_release(os.path.join(root, _state.PREVIOUS)) == 'r2'


def test_a_tree_whose_release_cannot_name_a_directory_is_left_for_the_swap(root_parent):
    root = os.path.join(root_parent, 'srv')
    tree(root, _state.CODE, 'r3')
    tree(root, _state.PREVIOUS, '../../etc')
    assert _releases.set_aside(root) is None
    assert os.path.isdir(os.path.join(root, _state.PREVIOUS))
    assert not os.path.lexists(os.path.join(root, _releases.RELEASES))


@pytest.mark.parametrize('planted', ['link', 'writable'])
def test_a_releases_directory_that_is_not_roots_alone_is_refused_before_anything_moves(root_parent, planted):
    root = os.path.join(root_parent, 'srv')
    tree(root, _state.CODE, 'r3')
    tree(root, _state.PREVIOUS, 'r2')
    elsewhere = os.path.join(root_parent, 'elsewhere')
    os.makedirs(elsewhere)
    if planted == 'link':
        os.symlink(elsewhere, os.path.join(root, _releases.RELEASES))
    else:
        os.makedirs(os.path.join(root, _releases.RELEASES))
        os.chmod(os.path.join(root, _releases.RELEASES), 0o777)
    with pytest.raises(_releases.ReleasesError, match='only root can write'):
        _releases.set_aside(root)
    assert _state.tree_release(os.path.join(root, _state.PREVIOUS)) == 'r2'
    assert os.listdir(elsewhere) == []


def test_prune_removes_the_trees_no_longer_kept_and_copies_of_the_live_ones(root_parent):
    root = os.path.join(root_parent, 'srv')
    tree(root, _state.CODE, 'r5')
    tree(root, _state.PREVIOUS, 'r4')
    for release in ('r1', 'r2', 'r3', 'r5'):
        tree(root, os.path.join(_releases.RELEASES, release), release)
    state = {'current': {'release': 'r5'}, 'previous': {'release': 'r4'},
             'releases': [{'release': 'r5'}, {'release': 'r4'}, {'release': 'r3'}]}
    assert _releases.prune(root, state) == ['r1', 'r2', 'r5']
    assert os.listdir(os.path.join(root, _releases.RELEASES)) == ['r3']
    assert _state.tree_release(os.path.join(root, _state.CODE)) == 'r5'
    assert _state.tree_release(os.path.join(root, _state.PREVIOUS)) == 'r4'
    assert _releases.kept_venvs({'current': {'release': 'r5', 'venv': 'a'},
                                 'releases': [{'release': 'r3', 'venv': 'b'}, {'release': 'r2'}]}) == {'a', 'b'}


def test_the_listing_says_which_release_can_be_brought_back_and_why_not(root_parent):
    root = os.path.join(root_parent, 'srv')
    tree(root, _state.CODE, 'r4')
    tree(root, _state.PREVIOUS, 'r3')
    tree(root, os.path.join(_releases.RELEASES, 'r2'), 'r2')
    tree(root, os.path.join(_releases.RELEASES, 'r1'), 'r1')
    for key in ('k4', 'k2'):
        venv(root, key)
    state = {'current': {'release': 'r4', 'venv': 'k4', 'at': 't4'},
             'previous': {'release': 'r3', 'venv': 'k3', 'at': 't3'},
             'releases': [{'release': 'r4', 'migrations': {'people': '0003_c'}},
                          {'release': 'r3', 'venv': 'k3', 'migrations': {'people': '0002_b'}},
                          {'release': 'r2', 'venv': 'k2', 'at': 't2', 'migrations': {}},
                          {'release': 'r1'}, {'release': 'r0', 'venv': 'k2'}]}
    rows = dict((row['release'], row) for row in _releases.listing(root, state))
    assert [row['release'] for row in _releases.listing(root, state)] == ['r4', 'r3', 'r2', 'r1', 'r0']
    assert rows['r4'] == dict(release='r4', live=True, went_live='t4', order=None, venv='k4', tree='code',
                              migrations={'people': '0003_c'}, rollback=False, why_not='it is the live release')
    assert rows['r3']['tree'] == 'code.previous' and not rows['r3']['rollback']
    assert rows['r3']['why_not'] == 'its virtualenv (venvs/k3) is no longer on the host'
    assert rows['r2']['rollback'] is True and rows['r2']['why_not'] is None and rows['r2']['tree'] == 'releases/r2'
    assert rows['r1']['why_not'] == 'the virtualenv it ran with is not recorded'
    assert rows['r0']['tree'] is None and 'no longer on the host' in rows['r0']['why_not']


def test_releases_are_numbered_in_the_order_they_were_first_deployed_and_a_rollback_goes_back_in_it():
    state = {}
    for release in ('v1', 'v2', 'v3'):
        previous = state.get('current')
        state = _releases.remember(dict(state, current={'release': release, 'venv': 'k', 'at': 't'},
                                        previous=previous), release, None, keep=5)
    assert [(entry['release'], entry['first']) for entry in state['releases']] == [('v3', 3), ('v2', 2), ('v1', 1)]
    # Back to v2: it keeps its number; the next rollback goes to v1, not to v3 (deployed after it).
    state = _releases.remember(dict(state, current={'release': 'v2', 'venv': 'k', 'at': 't2'},
                                    previous=state['current']), 'v2', None, keep=5)
    assert [(entry['release'], entry['first']) for entry in state['releases']] == [('v2', 2), ('v3', 3), ('v1', 1)]

    def rows(live, *others):
        return [dict(release=name, live=name == live, order=order, rollback=name != live and ok)
                for name, order, ok in others]
    assert _releases.rollback_target(rows('v2', ('v2', 2, True), ('v3', 3, True), ('v1', 1, True))) == 'v1'
    # The one live before, when deployed before the live one (v1, v2, v3, back to v1, then v4: v1, not v3).
    assert _releases.rollback_target(rows('v4', ('v4', 4, True), ('v1', 1, True), ('v3', 3, True)), 'v1') == 'v1'
    # ... not when the live one came by a rollback from it (back to v2 from v3: v1 next, not v3 again).
    assert _releases.rollback_target(rows('v2', ('v2', 2, True), ('v3', 3, True), ('v1', 1, True)), 'v3') == 'v1'
    assert _releases.rollback_target(rows('v2', ('v2', 2, True), ('v3', 3, True), ('v1', 1, False))) is None
    # Deployed before numbers were given: older than any numbered release; unknown order: the newest kept.
    assert _releases.rollback_target(rows('v2', ('v2', 2, True), ('v0', None, True))) == 'v0'
    assert _releases.rollback_target(rows('v2', ('v2', None, True), ('v1', None, True))) == 'v1'
    # The next number follows the highest kept, whatever the list's order.
    assert _releases.remember({'current': {'release': 'v4'}, 'releases': state['releases']}, 'v4', None,
                              keep=5)['releases'][0]['first'] == 4
