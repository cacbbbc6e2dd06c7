#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) simpledeploy developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: deploy_root
short_description: Make a Django app's deploy root and its data directories, never through a link
version_added: 0.2.0
description:
  - Makes the deploy root (owned by root, mode C(0755)), C(venvs/) in it (root's, C(0755)), C(shared/)
    and each of O(shared_dirs) under it (owned by O(owner) and O(group), mode C(0750)), and the
    collection's marker file C(.simpledeploy.json) when missing. Owner and mode are set where they differ.
  - The app user owns C(shared/) and can replace what is in it. Every directory is opened one path
    component at a time with C(O_NOFOLLOW) and given its owner and mode through that descriptor, so a
    link planted where a directory belongs is never followed. In C(shared/), a link owned by root (an
    operator's C(media -> /mnt/media)) is kept as it is and nothing is changed through it; any other
    link, a file or anything else where the role keeps a directory fails the task before anything
    changes, naming it.
  - The root is judged by what it is, not by its spelling. Refused, with the reason, before anything
    changes - C(/), system directories, a root that is itself a symbolic link, a link on the way owned by
    someone other than root, a real path (or a parent of it) that is not a directory owned by root and
    writable by root alone, temporary directories (C(/tmp), C(/var/tmp), C(/dev/shm), C(/run) and their
    aliases, by real path and by the directories' identity, so a bind mount counts) and people's home
    directories (users with a UID of 1000 or more), inside or holding one.
author:
  - simpledeploy developers (@simpledeploy)
options:
  root:
    description: The deploy root, an absolute path.
    type: path
    required: true
  app:
    description: The app's name, written into a new marker file.
    type: str
    required: true
  owner:
    description:
      - The user that owns C(shared/) and its directories (the app's user).
      - In check mode it may not exist yet (the role creates it first); it must in a real run.
    type: str
    required: true
  group:
    description: The group of C(shared/) and its directories; the primary group of O(owner) when not given.
    type: str
  shared_dirs:
    description: Directories under C(shared/), relative paths without C(..), made one component at a time.
    type: list
    elements: str
    default: []
attributes:
  check_mode:
    support: full
    details: Reports what a real run would make or fix, and fails on the same problems, changing nothing.
  diff_mode:
    support: none
    details: RV(created) and RV(fixed) say what changes.
  platform:
    details: Needs C(O_NOFOLLOW) and the C(*at) system calls (Linux, the BSDs, macOS).
extends_documentation_fragment:
  - simpledeploy.django._attributes
seealso:
  - module: simpledeploy.django.release_info
"""

EXAMPLES = r"""
- name: Make the deploy root and its data directories
  simpledeploy.django.deploy_root:
    root: /srv/person
    app: person
    owner: person
    shared_dirs: [media]
"""

RETURN = r"""
created:
  description: Directories made (or, in check mode, that a real run would make), parents first.
  returned: success
  type: list
  elements: str
  sample: [/srv/person, /srv/person/venvs, /srv/person/shared, /srv/person/shared/media]
fixed:
  description: Directories that existed with another owner or mode, now set (or, in check mode, to set).
  returned: success
  type: list
  elements: str
  sample: [/srv/person/shared/media]
kept_links:
  description: Links owned by root found in C(shared/) where a directory would be made; kept as they are.
  returned: success
  type: list
  elements: str
  sample: [/srv/person/shared/media]
marker_created:
  description: Whether the marker file C(.simpledeploy.json) was (or would be) created.
  returned: success
  type: bool
  sample: false
"""

import os
import pwd
import grp

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.simpledeploy.django.plugins.module_utils import _layout


def _ids(module, owner, group):
    """(uid, gid) of OWNER and GROUP; (-1, -1) for a user still to be made, in check mode."""
    try:
        entry = pwd.getpwnam(owner)
    except KeyError:
        if module.check_mode:
            return -1, -1
        module.fail_json(msg='the user %s does not exist: create it first (the deploy role does)' % owner)
    if not group:
        return entry.pw_uid, entry.pw_gid
    try:
        return entry.pw_uid, grp.getgrnam(group).gr_gid
    except KeyError:
        if module.check_mode:
            return entry.pw_uid, -1
        module.fail_json(msg='the group %s does not exist: create it first (the deploy role does)' % group)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            root=dict(type='path', required=True),
            app=dict(type='str', required=True),
            owner=dict(type='str', required=True),
            group=dict(type='str'),
            shared_dirs=dict(type='list', elements='str', default=[]),
        ),
        supports_check_mode=True,
    )
    params = module.params
    bad = [rel for rel in params['shared_dirs'] if not rel or os.path.isabs(rel) or '..' in rel.split('/')]
    if bad:
        module.fail_json(msg='shared_dirs must be relative paths without .., got %s' % ', '.join(map(repr, bad)))
    uid, gid = _ids(module, params['owner'], params['group'])
    try:
        result = _layout.ensure_layout(params['root'], params['app'], uid, gid, params['shared_dirs'],
                                       homes=_layout.human_homes(), check_mode=module.check_mode)
    except _layout.LayoutError as exc:
        module.fail_json(msg=str(exc))
    except OSError as exc:
        module.fail_json(msg='cannot make the deploy root %s: %s: %s'
                         % (params['root'], exc.filename or params['root'], exc.strerror or exc))
    module.exit_json(**result)


if __name__ == '__main__':
    main()
