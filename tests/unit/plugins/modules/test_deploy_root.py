# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""deploy_root as a task runs it: real directories, the app user (nobody) attacking."""

from __future__ import annotations

import os
import stat

import pytest

from ansible_collections.simpledeploy.django.plugins.modules import deploy_root

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason='owners and other users need root')


@pytest.fixture
def layout(run_module):
    return lambda args, check_mode=False: run_module(deploy_root, args, check_mode=check_mode)


def args(root, **extra):
    return dict(dict(root=root, app='person', owner='nobody', shared_dirs=['media']), **extra)


def test_makes_the_layout_once_then_changes_nothing(layout, root_parent, attacker):
    root = os.path.join(root_parent, 'srv', 'person')
    first = layout(args(root))
    assert not first.get('failed'), first
    assert first['changed'] and first['marker_created']
    assert os.path.join(root, 'shared', 'media') in first['created']
    info = os.lstat(os.path.join(root, 'shared', 'media'))
    assert (info.st_uid, info.st_gid, stat.S_IMODE(info.st_mode)) == (attacker.uid, attacker.gid, 0o750)
    second = layout(args(root))
    assert second['changed'] is False and second['created'] == [] and second['fixed'] == []


def test_a_planted_link_fails_the_task_naming_it_and_root_does_not_chown_its_target(layout, root_parent,
                                                                                    attacker):
    root = os.path.join(root_parent, 'srv', 'person')
    layout(args(root))
    victim = os.path.join(root_parent, 'etc')
    os.mkdir(victim, 0o755)
    media = os.path.join(root, 'shared', 'media')
    attacker.run(lambda: (os.rmdir(media), os.symlink(victim, media)))
    result = layout(args(root))
    assert result['failed'] and media in result['msg'] and 'owned by nobody' in result['msg']
    info = os.stat(victim)
    assert (info.st_uid, info.st_gid, stat.S_IMODE(info.st_mode)) == (0, 0, 0o755)


def test_check_mode_on_a_new_host_whose_user_does_not_exist_yet(layout, root_parent):
    root = os.path.join(root_parent, 'srv', 'person')
    result = layout(args(root, owner='no-such-user-4b1e'), check_mode=True)
    assert not result.get('failed'), result
    assert result['changed'] and not os.path.exists(root)
    real = layout(args(root, owner='no-such-user-4b1e'))
    assert real['failed'] and 'the user no-such-user-4b1e does not exist' in real['msg']
    assert not os.path.exists(root)


@pytest.mark.parametrize('bad', ['/abs', '../up', 'a/../b', ''])
def test_shared_dirs_outside_shared_are_refused(layout, root_parent, bad):
    result = layout(args(os.path.join(root_parent, 'person'), shared_dirs=[bad]))
    assert result['failed'] and 'relative paths without ..' in result['msg']
    assert not os.path.exists(os.path.join(root_parent, 'person'))


def test_a_root_in_tmp_is_refused_before_anything_is_made(layout, tmp_path):
    root = str(tmp_path / 'srv' / 'person')
    result = layout(args(root))
    assert result['failed'] and 'temporary directory /tmp' in result['msg']
    assert not os.path.exists(os.path.dirname(root))
