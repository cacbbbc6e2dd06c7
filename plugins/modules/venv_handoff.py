#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, simpledeploy developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: venv_handoff
short_description: Let an unprivileged build user build a virtualenv, then hand it over to root
version_added: 0.2.0
description:
  - pip runs the build code of the packages it installs from source (C(setup.py)). This module lets a
    build user of its own (not root, not the app's user) build a virtualenv at its final path, then gives
    the result to root without root ever following a link or acting through a path that user can change.
  - O(state=building) kills every process of O(build_user), removes whatever is at O(path) (an unfinished
    build) and makes O(path) an empty directory owned by O(build_user), mode C(0700), with
    C(.simpledeploy-build/) in it, the build's private C(HOME) and C(TMPDIR) (RV(home)).
  - O(state=handed_off) kills every process of O(build_user) and waits until none is left, so that nothing
    holds a descriptor into the tree; removes C(.simpledeploy-build/), C(pip.conf) and any
    C(.simpledeploy-complete) the build left; gives every entry to root - each directory and file opened
    relative to its parent's descriptor with C(O_NOFOLLOW) and checked to be the entry listed, then given
    its owner and mode through that descriptor, each symbolic link changed itself and never its target;
    drops group and other write, set-user-ID, set-group-ID and sticky bits; kills any process of
    O(build_user) again; flushes the tree to disk; and last writes C(.simpledeploy-complete) (root's,
    C(0644)) holding the name of O(path).
  - An entry not owned by O(build_user) (a hard link to another user's file) or that is not a file, a
    directory or a link stops O(state=handed_off) before anything is changed, naming it.
  - O(state=absent) kills every process of O(build_user) (when the user exists), then removes O(path)
    relative to directory descriptors, never following a link.
  - The directory holding O(path) must be root's and writable by root alone.
author:
  - simpledeploy developers (@simpledeploy)
options:
  path:
    description: The virtualenv, an absolute path; its directory must be root's and writable by root alone.
    type: path
    required: true
  build_user:
    description:
      - The user that builds the virtualenv. Every process of this user is killed, so it must be a user of
        its own that nothing else runs as; never root.
      - In check mode, and for O(state=absent), it may not exist yet.
    type: str
    required: true
  state:
    description:
      - V(building) makes O(path) ready for the build user to build in.
      - V(handed_off) gives what the build user built to root and marks it complete.
      - V(absent) stops the build and removes O(path).
    type: str
    choices: [building, handed_off, absent]
    default: handed_off
attributes:
  check_mode:
    support: full
    details: Reports what a real run would do (the entries it would change) and changes and kills nothing.
  diff_mode:
    support: none
    details: RV(entries), RV(owner_changed) and RV(mode_changed) say what changes.
  platform:
    details: Linux (C(/proc)); the managed host's Python 3.9 or newer, standard library only. Runs as root.
extends_documentation_fragment:
  - simpledeploy.django._attributes
notes:
  - Guaranteed - after O(state=handed_off), no process of O(build_user) runs and nothing in the tree is
    that user's or writable by anyone but root. Not guaranteed - a descriptor the build user passed to a
    process of another user (over a socket) before being killed stays open in that process.
"""

EXAMPLES = r"""
- name: Make the build directory
  simpledeploy.django.venv_handoff:
    path: /srv/mysite/venvs/0123456789ab
    build_user: mysite-build
    state: building

- name: Build the virtualenv as the build user
  ansible.builtin.command:
    argv: [runuser, -u, mysite-build, --, /usr/bin/python3, -m, venv, /srv/mysite/venvs/0123456789ab]
    chdir: /srv/mysite/venvs/0123456789ab/.simpledeploy-build
  changed_when: true

- name: Give it to root and mark it complete
  simpledeploy.django.venv_handoff:
    path: /srv/mysite/venvs/0123456789ab
    build_user: mysite-build

- name: Remove an unfinished build
  simpledeploy.django.venv_handoff:
    path: /srv/mysite/venvs/0123456789ab
    build_user: mysite-build
    state: absent
"""

RETURN = r"""
path:
  description: The virtualenv.
  returned: always
  type: str
  sample: /srv/mysite/venvs/0123456789ab
home:
  description: The build's private C(HOME) and C(TMPDIR), inside O(path).
  returned: when O(state=building)
  type: str
  sample: /srv/mysite/venvs/0123456789ab/.simpledeploy-build
removed_leftover:
  description: Whether something was at O(path) (an unfinished build) and was removed (or would be).
  returned: when O(state=building)
  type: bool
  sample: false
killed:
  description: PIDs of the processes of O(build_user) that were killed.
  returned: always
  type: list
  elements: int
  sample: [4242]
removed:
  description: What the build left in O(path) and the hand-off removed (or would remove).
  returned: when O(state=handed_off)
  type: list
  elements: str
  sample: [.simpledeploy-build, pip.conf]
entries:
  description: Entries of the tree given to root, O(path) included (or that would be).
  returned: when O(state=handed_off)
  type: int
  sample: 2816
owner_changed:
  description: Entries whose owner changed to root (or would).
  returned: when O(state=handed_off)
  type: int
  sample: 2816
mode_changed:
  description: Entries that lost group or other write, set-user-ID, set-group-ID or sticky bits (or would).
  returned: when O(state=handed_off)
  type: int
  sample: 0
problem:
  description:
    - In check mode, why a real hand-off would refuse the tree as it is now (left by an earlier run). A real
      run of the role replaces such a tree first (O(state=building)), so check mode reports it and does not fail.
  returned: in check mode, when O(state=handed_off) and the tree as it is would be refused
  type: str
  sample: /srv/mysite/venvs/0123456789ab/lib is a directory owned by uid 0, not by the build user (uid 990)
"""

import pwd

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.simpledeploy.django.plugins.module_utils import _handoff


def main():
    module = AnsibleModule(
        argument_spec=dict(
            path=dict(type='path', required=True),
            build_user=dict(type='str', required=True),
            state=dict(type='str', choices=['building', 'handed_off', 'absent'], default='handed_off'),
        ),
        supports_check_mode=True,
    )
    params = module.params
    path, state = params['path'], params['state']
    try:
        entry = pwd.getpwnam(params['build_user'])
        uid, gid = entry.pw_uid, entry.pw_gid
    except KeyError:
        if not module.check_mode and state != 'absent':
            module.fail_json(msg='the build user %s does not exist: create it first (the deploy role does)'
                             % params['build_user'])
        uid = gid = None
    if uid == 0:
        module.fail_json(msg='build_user %s is root: the virtualenv must be built by an unprivileged user of its own'
                         % params['build_user'])
    try:
        if state == 'absent':
            result = _handoff.remove(path, uid, gid, check_mode=module.check_mode)
        elif uid is None:  # check mode, the user still to be made: nothing can be built yet
            result = dict(changed=True, path=path, killed=[])
            if state == 'building':
                result.update(home='%s/%s' % (path.rstrip('/'), _handoff.BUILD_HOME), removed_leftover=False)
        elif state == 'building':
            result = _handoff.prepare(path, uid, gid, check_mode=module.check_mode)
        else:
            result = _handoff.hand_over(path, uid, gid, marker=path.rstrip('/').rsplit('/', 1)[-1],
                                        check_mode=module.check_mode)
    except _handoff.HandoffError as exc:
        module.fail_json(msg=exc.msg, path=exc.path or path)
    except OSError as exc:
        module.fail_json(msg='%s: %s: %s' % (path, exc.filename or path, exc.strerror or exc))
    module.exit_json(**result)


if __name__ == '__main__':
    main()
