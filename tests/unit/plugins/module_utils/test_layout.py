# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Where a deploy root may be, and its directories made with the app user attacking.

Real directories, links and users: the ``attacker`` fixture plays the app user
(``nobody``), who owns shared/ and plants links in it.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import tempfile

import pytest

from ansible_collections.simpledeploy.django.plugins.module_utils import _layout

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason='owners and other users need root')


def owner_mode(path):
    info = os.lstat(path)
    return info.st_uid, info.st_gid, stat.S_IMODE(info.st_mode)


def snapshot(top):
    """Every path under TOP with its type, owner and mode."""
    found = {}
    for dirpath, dirs, files in os.walk(top):
        for name in dirs + files + ['.']:
            path = os.path.normpath(os.path.join(dirpath, name))
            info = os.lstat(path)
            found[path] = (stat.S_IFMT(info.st_mode), info.st_uid, info.st_gid, stat.S_IMODE(info.st_mode))
    return found


@pytest.fixture
def victim(root_parent):
    """A directory of root's, 0755, with a file: what a planted link points at."""
    path = os.path.join(root_parent, 'victim')
    os.mkdir(path, 0o755)
    with open(os.path.join(path, 'passwd'), 'w') as handle:
        handle.write('root:x:0:0\n')
    os.chmod(os.path.join(path, 'passwd'), 0o644)
    return path


def deployed(root_parent, attacker, shared_dirs=('media',)):
    root = os.path.join(root_parent, 'srv', 'person')
    _layout.ensure_layout(root, 'person', attacker.uid, attacker.gid, shared_dirs)
    return root


# ------------------------------------------------------------------ placement

@pytest.mark.parametrize('top, fragment', [('/tmp', 'temporary directory /tmp'),
                                           ('/var/tmp', 'temporary directory /var/tmp'),
                                           ('/dev/shm', 'system directory /dev')])
def test_a_root_in_a_temporary_directory_is_refused(top, fragment):
    if not os.path.isdir(top):
        pytest.skip('%s does not exist here' % top)
    base = tempfile.mkdtemp(dir=top)
    os.chmod(base, 0o755)  # a directory of root's that nobody else can write: still refused
    try:
        reason = _layout.placement_reason(os.path.join(base, 'app'))
        assert reason and fragment in reason
    finally:
        os.rmdir(base)


def test_var_run_is_run_whatever_the_spelling():
    if os.path.realpath('/var/run') != '/run':
        pytest.skip('/var/run is not a link to /run here')
    reason = _layout.placement_reason('/var/run/person')
    assert reason and '/run' in reason and 'leads there' in reason


def test_a_root_that_is_a_link_is_refused_even_to_a_good_directory(root_parent):
    real = os.path.join(root_parent, 'real')
    os.mkdir(real, 0o755)
    link = os.path.join(root_parent, 'person')
    os.symlink(real, link)
    assert _layout.placement_reason(real) is None
    reason = _layout.placement_reason(link)
    assert reason and 'is a symbolic link' in reason and real in reason


def test_a_link_on_the_way_owned_by_another_user_is_refused(root_parent, attacker):
    real = os.path.join(root_parent, 'real')
    os.mkdir(real, 0o755)
    via = os.path.join(root_parent, 'via')
    os.symlink(real, via)
    assert _layout.placement_reason(os.path.join(via, 'person')) is None  # root's link: fine
    os.lchown(via, attacker.uid, attacker.gid)
    reason = _layout.placement_reason(os.path.join(via, 'person'))
    assert reason and 'symbolic link %s' % via in reason and 'nobody' in reason


@pytest.mark.parametrize('owner, mode', [('nobody', 0o755), ('root', 0o775), ('root', 0o757)])
def test_a_parent_someone_else_can_write_is_refused(root_parent, attacker, owner, mode):
    parent = os.path.join(root_parent, 'apps')
    os.mkdir(parent)
    os.chmod(parent, mode)
    if owner == 'nobody':
        os.chown(parent, attacker.uid, attacker.gid)
    reason = _layout.placement_reason(os.path.join(parent, 'person'))
    assert reason and 'its parent %s' % parent in reason and '%04o' % mode in reason


def test_an_existing_root_someone_else_owns_is_refused(root_parent, attacker):
    root = os.path.join(root_parent, 'person')
    os.mkdir(root, 0o755)
    os.chown(root, attacker.uid, attacker.gid)
    reason = _layout.placement_reason(root)
    assert reason and 'the deploy root is owned by nobody' in reason


def test_inside_or_holding_a_home_is_refused(root_parent):
    home = os.path.join(root_parent, 'home', 'alice')
    os.makedirs(home)
    assert 'home directory %s' % home in _layout.placement_reason(os.path.join(home, 'sites', 'person'), [home])
    assert 'home directory %s' % home in _layout.placement_reason(os.path.join(root_parent, 'home'), [home])
    assert _layout.placement_reason(os.path.join(root_parent, 'srv', 'person'), [home]) is None


def test_a_bind_mount_of_a_temporary_directory_is_recognised(root_parent):
    alias = os.path.join(root_parent, 'alias')
    os.mkdir(alias, 0o755)
    if subprocess.run(['mount', '--bind', '/var/tmp', alias], stderr=subprocess.DEVNULL,
                      check=False).returncode != 0:
        pytest.skip('bind mounts are not allowed here')
    try:
        reason = _layout.placement_reason(os.path.join(alias, 'person'))
        assert reason and 'temporary directory /var/tmp' in reason
    finally:
        subprocess.run(['umount', alias], check=True)


def test_human_homes_leave_system_users_out():
    entry = type('pw', (), {})

    def user(uid, home):
        made = entry()
        made.pw_uid, made.pw_dir = uid, home
        return made

    homes = _layout.human_homes([user(0, '/root'), user(33, '/var/www'), user(1000, '/home/alice'),
                                 user(65534, '/nonexistent'), user(1001, '/')])
    assert homes == ['/home/alice']


# ------------------------------------------------------------------ making the layout

def test_a_new_layout_is_made_with_owners_modes_and_marker(root_parent, attacker):
    root = os.path.join(root_parent, 'srv', 'person')
    result = _layout.ensure_layout(root, 'person', attacker.uid, attacker.gid, ['media', 'files/uploads'])
    assert result['changed'] and result['marker_created']
    assert owner_mode(root) == (0, 0, 0o755)
    assert owner_mode(os.path.join(root, 'venvs')) == (0, 0, 0o755)
    for rel in ('shared', 'shared/media', 'shared/files', 'shared/files/uploads'):
        assert owner_mode(os.path.join(root, rel)) == (attacker.uid, attacker.gid, 0o750)
    with open(os.path.join(root, '.simpledeploy.json')) as handle:
        assert json.load(handle) == {'app': 'person', 'format': 1}
    again = _layout.ensure_layout(root, 'person', attacker.uid, attacker.gid, ['media', 'files/uploads'])
    assert not again['changed'] and again['created'] == [] and again['fixed'] == []


def test_the_marker_appears_whole_or_not_at_all(root_parent, attacker, monkeypatch):
    # A crash cannot be made here: the flush of the marker's data fails instead, as a full or
    # failing disk makes it. The marker must not be left under its name (an empty or partial
    # one would read as this app's root with no app name: the next run would skip that check).
    root = os.path.join(root_parent, 'srv', 'person')
    real_fsync = os.fsync

    def failing_fsync(fd):
        if stat.S_ISREG(os.fstat(fd).st_mode):
            raise OSError(28, 'No space left on device')
        return real_fsync(fd)

    monkeypatch.setattr(os, 'fsync', failing_fsync)
    with pytest.raises(OSError):
        _layout.ensure_layout(root, 'person', attacker.uid, attacker.gid, [])
    assert not os.path.lexists(os.path.join(root, '.simpledeploy.json'))
    assert [name for name in os.listdir(root) if name.startswith('.')] == []


def test_check_mode_says_what_would_be_made_and_changes_nothing(root_parent, attacker):
    root = os.path.join(root_parent, 'srv', 'person')
    before = snapshot(root_parent)
    result = _layout.ensure_layout(root, 'person', attacker.uid, attacker.gid, ['media'], check_mode=True)
    assert result['changed'] and result['marker_created']
    assert result['created'] == sorted([os.path.join(root_parent, 'srv'), root, root + '/venvs', root + '/shared',
                                        root + '/shared/media'])
    assert snapshot(root_parent) == before
    deployed(root_parent, attacker)
    os.chmod(os.path.join(root, 'shared', 'media'), 0o777)
    before = snapshot(root_parent)
    result = _layout.ensure_layout(root, 'person', attacker.uid, attacker.gid, ['media'], check_mode=True)
    assert result['fixed'] == [root + '/shared/media'] and result['created'] == []
    assert snapshot(root_parent) == before


def test_a_link_planted_by_the_app_user_stops_the_run_and_nothing_changes(root_parent, attacker, victim):
    root = deployed(root_parent, attacker, ['media', 'static'])
    media = os.path.join(root, 'shared', 'media')

    def plant(media, target):
        os.rename(media, media + '.old')
        os.symlink(target, media)
        return True

    assert attacker.run(plant, media, victim)
    os.chmod(os.path.join(root, 'shared', 'static'), 0o700)  # something the run would fix
    before = snapshot(root_parent)
    assert _layout.shared_problems(root, ['media', 'static']) != []
    with pytest.raises(_layout.LayoutError) as caught:
        _layout.ensure_layout(root, 'person', attacker.uid, attacker.gid, ['media', 'static'])
    message = str(caught.value)
    assert media in message and 'symbolic link to %s owned by nobody' % victim in message
    assert 'Nothing was changed' in message and 'rm %s' % media in message
    assert snapshot(root_parent) == before
    assert owner_mode(victim) == (0, 0, 0o755)


def test_a_file_planted_where_a_directory_belongs_stops_the_run(root_parent, attacker):
    root = deployed(root_parent, attacker, ['media'])
    media = os.path.join(root, 'shared', 'media')

    def plant(media):
        os.rmdir(media)
        with open(media, 'w') as handle:
            handle.write('x')
        return True

    attacker.run(plant, media)
    with pytest.raises(_layout.LayoutError) as caught:
        _layout.ensure_layout(root, 'person', attacker.uid, attacker.gid, ['media'])
    assert '%s is a file owned by nobody' % media in str(caught.value)


def test_a_link_inside_a_nested_shared_dir_is_not_followed(root_parent, attacker, victim):
    root = deployed(root_parent, attacker, ['files/uploads'])
    files = os.path.join(root, 'shared', 'files')

    def plant(files, target):
        os.rename(files, files + '.old')
        os.symlink(target, files)
        return True

    attacker.run(plant, files, victim)
    with pytest.raises(_layout.LayoutError):
        _layout.ensure_layout(root, 'person', attacker.uid, attacker.gid, ['files/uploads'])
    assert not os.path.exists(os.path.join(victim, 'uploads'))
    assert owner_mode(victim) == (0, 0, 0o755)


def test_an_operators_link_owned_by_root_is_kept_and_nothing_goes_through_it(root_parent, attacker, victim):
    root = deployed(root_parent, attacker, [])
    os.symlink(victim, os.path.join(root, 'shared', 'media'))  # root's: the operator's choice
    result = _layout.ensure_layout(root, 'person', attacker.uid, attacker.gid, ['media', 'media/uploads'])
    assert result['kept_links'] == [os.path.join(root, 'shared', 'media')]
    assert owner_mode(victim) == (0, 0, 0o755)
    assert not os.path.exists(os.path.join(victim, 'uploads'))
    assert _layout.shared_problems(root, ['media']) == []


def test_a_link_swapped_in_between_the_look_and_the_open_is_not_followed(
        root_parent, attacker, victim, monkeypatch):
    """The race made deterministic: the app user swaps shared/media for a link right after the
    module looked at it (a directory) and before it opens it."""
    root = deployed(root_parent, attacker, ['media'])
    media = os.path.join(root, 'shared', 'media')
    os.chmod(media, 0o700)  # so the run has something to set through its descriptor
    real_lstat = _layout._lstat_at
    looks, swapped = [], []

    def look_then_swap(name, dir_fd):
        info = real_lstat(name, dir_fd)
        looks.append(name)
        if looks.count('media') == 2:  # the look just before the open
            swapped.append(attacker.run(lambda: (os.rename(media, media + '.old'), os.symlink(victim, media))))
        return info

    monkeypatch.setattr(_layout, 'shared_problems', lambda root, dirs: [])
    monkeypatch.setattr(_layout, '_lstat_at', look_then_swap)
    with pytest.raises(OSError):
        _layout.ensure_layout(root, 'person', attacker.uid, attacker.gid, ['media'])
    assert swapped and os.path.islink(media)
    assert owner_mode(victim) == (0, 0, 0o755)


def test_a_refused_placement_changes_nothing(root_parent):
    link = os.path.join(root_parent, 'person')
    os.symlink('/etc', link)
    with pytest.raises(_layout.LayoutError) as caught:
        _layout.ensure_layout(link, 'person', 0, 0, ['media'])
    assert 'symbolic link' in str(caught.value)
    assert not os.path.exists('/etc/shared') and not os.path.exists('/etc/.simpledeploy.json')
