# -*- coding: utf-8 -*-
# Copyright (c) simpledeploy developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Whether the app's user and group already are what the role makes them.

Private to the simpledeploy.django collection: the interface may change.

The role creates them with ansible.builtin.group and ansible.builtin.user (a
system group; a system user in it, shell /usr/sbin/nologin, home /nonexistent,
no home directory made). On a host where they already are exactly that, those
two tasks would change nothing: release_info reports it (``user_ready``) and
the role skips them, two remote executions fewer per deploy. Anything else
(a missing account, another primary group, shell or home) runs them as before.
Python 3.9+, standard library only.
"""

from __future__ import annotations

import grp
import pwd

SHELL = '/usr/sbin/nologin'
HOME = '/nonexistent'


def account_ready(user, group, getpwnam=pwd.getpwnam, getgrnam=grp.getgrnam):
    """True when USER exists in GROUP (its primary group) with the role's shell and home."""
    try:
        entry = getpwnam(user)
        gid = getgrnam(group).gr_gid
    except KeyError:
        return False
    return entry.pw_gid == gid and entry.pw_shell == SHELL and entry.pw_dir == HOME
