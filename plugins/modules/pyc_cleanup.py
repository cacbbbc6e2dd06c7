#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, simpledeploy developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
module: pyc_cleanup
short_description: Remove stale Python bytecode under a directory
version_added: 0.1.0
description:
  - Removes Python bytecode that can outlive its source and still be imported
    after a deploy, under O(path).
  - For trees deployed in place (new files copied over the old ones, for example
    by rsync or git pull), where bytecode whose source was removed stays behind
    (a C(module.pyc) beside the sources is still importable without its C(.py)).
    The role simpledeploy.django.deploy does not need it - it replaces the whole
    code tree with a fresh one unpacked from a release archive that holds no
    bytecode, so no stale bytecode can be left there.
  - In O(mode=stale) it removes C(__pycache__/NAME.TAG.pyc) (and
    C(NAME.TAG.opt-N.pyc)) whose source C(NAME.py) or C(NAME.pyw) beside the
    C(__pycache__) directory is gone; legacy C(NAME.pyc) and C(NAME.pyo) beside a
    missing C(NAME.py), which Python 3 still imports; C(__pycache__) directories
    this leaves empty; and directories left holding nothing but such bytecode,
    which Python 3 would still import as namespace packages.
  - In O(mode=all) it removes every C(*.pyc) and C(*.pyo) file and every
    C(__pycache__) directory with all it holds.
  - A directory is removed only when the cleanup emptied it; a directory that
    was empty before (an empty C(media/)) is never removed, nor is O(path) itself.
    Files that are not bytecode are never touched.
  - Symbolic links below O(path) are never followed, neither by the walk nor by
    the removal, even when someone who can write a directory in the tree swaps a
    directory for a link while the module runs. O(path) is opened once when the
    module starts (links in O(path) itself are resolved then, so a C(current) link
    to a release works); every directory below it is opened relative to its
    parent's open descriptor without following a link, and every file and
    directory is removed by its name relative to its directory's descriptor.
  - A directory found replaced by a link or a file when the walk or the removal
    comes to it, or, when files are to be removed from it, found to be another
    directory than the one walked (device and inode), is skipped with all it
    holds, returned in RV(skipped_dirs) and reported in a warning; what it held is
    not counted as removed. A symbolic link is only ever removed as part of a
    C(__pycache__) directory in O(mode=all), and then the link itself, not what
    it points to.
  - One C(os.scandir) pass over the tree, then the removals; fast on trees of
    100,000 files.
author:
  - simpledeploy developers (@simpledeploy)
options:
  path:
    description:
      - The directory to clean, for example the live code directory of a release.
    type: path
    required: true
  mode:
    description:
      - V(stale) removes only bytecode whose source is gone (and what that empties).
      - V(all) removes all bytecode, as the simple deploy method asks.
    type: str
    choices: [stale, all]
    default: stale
  exclude:
    description:
      - Paths relative to O(path), or absolute paths under it, that are not
        entered (or, for files, not removed), for example the virtualenv.
      - Entries holding V(*), V(?) or V([) are glob patterns matched against the
        whole path relative to O(path); V(*) matches V(/) too.
      - Absolute paths outside O(path) are ignored and returned in RV(excluded_outside).
    type: list
    elements: str
    default: []
  list_limit:
    description:
      - The most paths to return in RV(paths) and in the diff.
    type: int
    default: 100
attributes:
  check_mode:
    support: full
    details: Reports the same figures and paths as a real run and removes nothing.
  diff_mode:
    support: full
    details: The diff lists the paths that go, one a line (at most O(list_limit)).
  platform:
    details: Runs on the managed host's Python 3.9 or newer, standard library only.
extends_documentation_fragment:
  - simpledeploy.django._attributes
notes:
  - Runs on the managed host's Python 3.9 or newer with nothing else installed.
  - The whole tree is walked before anything is removed, so a directory that
    cannot be read fails the task with nothing removed. A file that cannot be
    removed stops the removal; the failure names it and returns RV(removed_files),
    RV(removed_dirs) and RV(bytes) of what was removed before it.
  - A file that vanishes while the module runs is skipped, and a directory that
    something new appeared in is kept; neither is an error.
  - The guarantee against links covers everything below O(path). O(path) itself
    (and each directory above it) is trusted as given; it should not be writable
    by another user, since whoever can swap it chooses the tree that is cleaned.
seealso:
  - name: PEP 3147 - PYC Repository Directories
    description: How C(__pycache__) and legacy bytecode files are looked up.
    link: https://peps.python.org/pep-3147/
"""

EXAMPLES = r"""
- name: Remove bytecode left by a previous release, not the virtualenv's
  simpledeploy.django.pyc_cleanup:
    path: /srv/mysite/current
    exclude:
      - venv

- name: Remove all bytecode, as the simple deploy method does
  simpledeploy.django.pyc_cleanup:
    path: /srv/mysite/current
    mode: all
    exclude:
      - /srv/mysite/current/.venv
      - "*/node_modules"

- name: See what would go, without removing anything
  simpledeploy.django.pyc_cleanup:
    path: /srv/mysite/current
    list_limit: 20
  check_mode: true
  diff: true
  register: stale

- name: Show the figures
  ansible.builtin.debug:
    msg: "{{ stale.removed_files }} files, {{ stale.bytes }} bytes would go"
"""

RETURN = r"""
removed_files:
  description: Files removed (or, in check mode, that would be).
  returned: always
  type: int
  sample: 12
removed_dirs:
  description: Directories removed (or, in check mode, that would be).
  returned: always
  type: int
  sample: 3
bytes:
  description: Apparent size in bytes of the files removed (or that would be).
  returned: always
  type: int
  sample: 48213
paths:
  description:
    - Paths removed (or that would be), relative to O(path), sorted, at most
      O(list_limit). Directories end with C(/).
  returned: always
  type: list
  elements: str
  sample:
    - polls/__pycache__/
    - polls/__pycache__/old_views.cpython-312.pyc
    - polls/legacy.pyc
paths_truncated:
  description: Whether RV(paths) was cut at O(list_limit).
  returned: always
  type: bool
  sample: false
mode:
  description: The mode the module ran in.
  returned: always
  type: str
  sample: stale
excluded_outside:
  description: Entries of O(exclude) that name absolute paths outside O(path), ignored.
  returned: always
  type: list
  elements: str
  sample: []
skipped_dirs:
  description:
    - Directories, relative to O(path) and ending with C(/), that were replaced
      (by a link, a file or another directory) while the module ran and were
      therefore neither entered nor removed from. Empty unless something else
      changes the tree at the same time; each run that skips one also warns.
  returned: always
  type: list
  elements: str
  sample:
    - uploads/pkg/
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.simpledeploy.django.plugins.module_utils._bytecode import (
    BytecodeError,
    MODES,
    cleanup,
)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            path=dict(type='path', required=True),
            mode=dict(type='str', choices=list(MODES), default='stale'),
            exclude=dict(type='list', elements='str', default=[]),
            list_limit=dict(type='int', default=100),
        ),
        supports_check_mode=True,
    )
    params = module.params
    try:
        result = cleanup(
            params['path'],
            mode=params['mode'],
            exclude=params['exclude'],
            list_limit=params['list_limit'],
            check_mode=module.check_mode,
            diff=module._diff,
        )
    except BytecodeError as exc:
        failure = dict(changed=False)
        failure.update(exc.partial)
        module.fail_json(msg=exc.msg, path=exc.path, **failure)
    if result['skipped_dirs']:
        module.warn('Skipped under %s, because something replaced them (by a link, a file or another directory) '
                    'while pyc_cleanup ran; nothing in them was removed: %s. Something else changes this tree: '
                    'find out what before relying on its bytecode.' % (params['path'], ', '.join(result['skipped_dirs'])))
    module.exit_json(**result)


if __name__ == '__main__':
    main()
