# -*- coding: utf-8 -*-
# Copyright (c) simpledeploy developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Whether a path may be a deploy root, judged by its spelling alone.

Private to the simpledeploy.django collection: the interface may change.

The role removes whole trees under the deploy root: a root in a system
directory, or one holding a user's home, would put that next to files that
are not ours. _layout.placement_reason() judges the same root by what it is
on the host (owners, links, mounts); this is the check that needs no host.
"""

from __future__ import annotations

import os

# Directories whose whole subtree belongs to the system: a deploy root there
# would put the role's rm -rf next to the operating system's own files.
SYSTEM_TREES = (
    '/bin', '/boot', '/dev', '/etc', '/lib', '/lib32', '/lib64', '/libx32',
    '/proc', '/root', '/run', '/sbin', '/sys', '/usr',
)
# Well-known directories that may hold a deploy root but never be one.
SYSTEM_DIRS = (
    '/var/lib', '/var/log', '/var/cache', '/var/spool', '/var/tmp', '/var/mail',
    '/var/www', '/var/backups', '/var/opt', '/var/local', '/var/run', '/var/lock',
    '/home', '/srv', '/opt', '/mnt', '/media', '/tmp', '/var', '/data',
)


def unsafe_root_reason(path, home_dirs=()):
    """Say why PATH must not be a deploy root, or return None when it may.

    Pure: HOME_DIRS is the list of users' home directories on the host.
    """
    if not path or not os.path.isabs(path):
        return 'deploy_root must be an absolute path, got %r' % (path,)
    norm = os.path.normpath(path)
    if norm.startswith('//'):
        norm = '/' + norm.lstrip('/')
    if norm == '/':
        return 'deploy_root is /, the whole filesystem'
    for tree in SYSTEM_TREES:
        if norm == tree or norm.startswith(tree + '/'):
            return 'deploy_root %s is inside the system directory %s' % (norm, tree)
    if norm in SYSTEM_DIRS:
        return 'deploy_root %s is a system directory; use a directory below it, such as %s/<app>' % (norm, norm)
    if norm.count('/') < 2:
        return 'deploy_root %s is a top-level directory; use a directory below it, such as %s/<app>' % (norm, norm)
    for home in home_dirs:
        home = os.path.normpath(home or '/')
        if home != '/' and (norm == home or home.startswith(norm + '/')):
            return 'deploy_root %s is (or holds) the home directory %s' % (norm, home)
    return None


def home_dirs():
    """Every user's home directory on this host."""
    import pwd
    return sorted(set(entry.pw_dir for entry in pwd.getpwall() if entry.pw_dir))
