# -*- coding: utf-8 -*-
# Copyright (c) simpledeploy developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""_accounts.account_ready: the role skips creating the app's user and group only when they already are
exactly what its tasks make; on this host's real account database, and on entries that differ in one field."""

from __future__ import annotations

import collections
import grp
import pwd

import pytest

from ansible_collections.simpledeploy.django.plugins.module_utils import _accounts

Pw = collections.namedtuple('Pw', 'pw_name pw_gid pw_shell pw_dir')
Gr = collections.namedtuple('Gr', 'gr_name gr_gid')


def lookups(**user):
    entry = dict(pw_name='person', pw_gid=998, pw_shell='/usr/sbin/nologin', pw_dir='/nonexistent')
    entry.update(user)
    groups = {'person': Gr('person', 998), 'staff': Gr('staff', 50)}

    def getpwnam(name):
        if name != 'person':
            raise KeyError(name)
        return Pw(**entry)

    return dict(getpwnam=getpwnam, getgrnam=groups.__getitem__)


def test_the_account_the_role_makes_is_ready():
    assert _accounts.account_ready('person', 'person', **lookups()) is True


@pytest.mark.parametrize('user, group, changed', [
    ('nobody-here', 'person', {}),
    ('person', 'missing', {}),
    ('person', 'staff', {}),
    ('person', 'person', {'pw_shell': '/bin/bash'}),
    ('person', 'person', {'pw_dir': '/home/person'}),
    ('person', 'person', {'pw_gid': 50}),
])
def test_anything_else_runs_the_tasks(user, group, changed):
    assert _accounts.account_ready(user, group, **lookups(**changed)) is False


def test_on_the_real_account_database():
    nobody = pwd.getpwnam('nobody')
    group = grp.getgrgid(nobody.pw_gid).gr_name
    expected = nobody.pw_shell == _accounts.SHELL and nobody.pw_dir == _accounts.HOME
    assert _accounts.account_ready('nobody', group) is expected
    assert _accounts.account_ready('root', 'root') is False
