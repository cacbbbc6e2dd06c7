# -*- coding: utf-8 -*-
# Copyright (c) simpledeploy developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Replacing the live code tree with the staged one whole, and pointing links, atomically.

Private to the simpledeploy.django collection: the interface may change.

staging/ -> code/ -> code.previous/ (swap_trees) and back (unswap_trees):
renames only, no copy, and code/ never missing where the kernel can exchange
two paths in one step (renameat2 RENAME_EXCHANGE).
"""

from __future__ import annotations

import errno
import os

from ansible_collections.simpledeploy.django.plugins.module_utils import _fsio
from ansible_collections.simpledeploy.django.plugins.module_utils._state import CODE, PREVIOUS, STAGING

_RENAME_EXCHANGE = 2
_AT_FDCWD = -100


def remove_tree(path):
    """Remove PATH whatever it is, and all it holds; never follows a link nor opens a FIFO (see
    _fsio.remove_tree: some trees were writable by another user, a build or a backup child)."""
    _fsio.remove_tree(path)


def point_symlink(link, target):
    """Make LINK point at TARGET atomically, flushed (_fsio.atomic_symlink); False when it already did."""
    if os.path.islink(link) and os.readlink(link) == target:
        return False
    _fsio.atomic_symlink(target, link)
    return True


def exchange_paths(first, second):
    """Swap two existing paths in one atomic step (Linux renameat2 RENAME_EXCHANGE).

    Returns False, having changed nothing, when the kernel, the C library or
    the filesystem cannot do it; raises OSError on any other error.
    """
    try:
        import ctypes
        libc = ctypes.CDLL(None, use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    renameat2.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    renameat2.restype = ctypes.c_int
    if renameat2(_AT_FDCWD, os.fsencode(first), _AT_FDCWD, os.fsencode(second), _RENAME_EXCHANGE) == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP):
        return False
    raise OSError(err, os.strerror(err), first)


def _rotate(new, live, aside):
    """new -> live, live -> aside, with LIVE never missing when the kernel allows.

    LIVE missing while NEW exists is a rotation interrupted between its two
    plain renames (or a first deploy): only NEW -> LIVE is left to do, and
    ASIDE (the tree that was live) is kept.
    """
    if not os.path.lexists(live):
        if os.path.lexists(new):
            os.rename(new, live)
        return
    if os.path.lexists(aside):
        remove_tree(aside)
    if os.path.lexists(live) and os.path.lexists(new) and exchange_paths(new, live):
        os.rename(new, aside)
        return
    if os.path.lexists(live):
        os.rename(live, aside)
    if os.path.lexists(new):
        os.rename(new, live)


def swap_trees(root):
    """staging -> code -> code.previous: no copy, and code/ always exists.

    The two trees are exchanged in one atomic rename where the kernel supports
    it (a request served meanwhile sees the old tree or the new one, never
    none), with two plain renames otherwise.
    """
    staging = os.path.join(root, STAGING)
    if not os.path.isdir(staging):
        raise OSError(errno.ENOENT, 'nothing is staged', staging)
    _rotate(staging, os.path.join(root, CODE), os.path.join(root, PREVIOUS))


def unswap_trees(root):
    """Undo swap_trees: code.previous -> code -> staging."""
    _rotate(os.path.join(root, PREVIOUS), os.path.join(root, CODE), os.path.join(root, STAGING))
