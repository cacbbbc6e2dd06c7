#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, simpledeploy developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
module: release_config
short_description: Write a release's configuration files in one remote execution
version_added: 0.1.0
description:
  - Writes several files, rendered on the controller, in one run of the module on the
    managed host, where a C(template) or C(copy) task per file would cost a round trip or
    more each. The deploy role writes with it the new environment file and the new gunicorn
    units beside the live ones, and its own gunicorn configuration and start gate.
  - Each file is written only when its content, mode or owner differs, through a
    temporary file beside it that is flushed and renamed over it, so the name always holds
    the old or the new content whole. The owner is the user the module runs as (root).
  - Every file's directory must be a real directory (not a symbolic link) owned by that
    user and writable by no one else. Every directory is checked before any file is
    written, and a bad one fails the task with nothing written. A file that is a symbolic link
    or not a regular file is replaced by the rename, never followed or read.
  - A staged file (O(files[].staged)) is one that M(simpledeploy.django.release_switch) puts
    in place inside the deploy's window (C(<dest>.simpledeploy-next) beside the live file).
    It is written in check mode too, so that the preview can compare it with the live one,
    and it is never counted as a change here, since release_switch reports what goes live.
author:
  - simpledeploy developers (@simpledeploy)
options:
  files:
    description:
      - The files to write, in this order; O(contents) holds what each one holds.
    type: list
    elements: dict
    required: true
    suboptions:
      dest:
        description:
          - The file, an absolute path.
        type: path
        required: true
      mode:
        description:
          - The file's permissions, an octal string such as V('0644').
        type: str
        default: '0644'
      staged:
        description:
          - Written in check mode too, and not counted as a change (see the description).
        type: bool
        default: false
  contents:
    description:
      - The whole content of each file of O(files), as text (written as UTF-8), in the same order.
      - Never logged (the host's journal included) nor returned, since an environment file holds secrets. A
        list of its own, because Ansible logs the other options to the journal as text, where a multi-line
        value nested in a list escapes the masking of secrets.
    type: list
    elements: str
    required: true
attributes:
  check_mode:
    support: full
    details: Files that are not staged are compared, not written; the task reports whether they would change.
  diff_mode:
    support: none
  platform:
    details: Runs on the managed host's Python 3.9 or newer, standard library only, as root.
extends_documentation_fragment:
  - simpledeploy.django._attributes
notes:
  - Used by the role simpledeploy.django.deploy; see its C(preflight.yml).
"""

EXAMPLES = r"""
- name: Write the new environment file beside the live one, and the gunicorn configuration in place
  simpledeploy.django.release_config:
    files:
      - dest: /srv/mysite/app.env.simpledeploy-next
        mode: "0600"
        staged: true
      - dest: /srv/mysite/gunicorn.conf.py
    contents:
      - "{{ lookup('ansible.builtin.template', 'app.env.j2') }}"
      - "{{ lookup('ansible.builtin.file', 'gunicorn.conf.py') }}"
"""

RETURN = r"""
written:
  description: The files written (in check mode, only staged ones are).
  returned: always
  type: list
  elements: str
  sample: [/srv/mysite/app.env.simpledeploy-next]
changed_files:
  description: The files that are not staged and changed (in check mode, that would change).
  returned: always
  type: list
  elements: str
  sample: [/srv/mysite/gunicorn.conf.py]
"""

import re

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.simpledeploy.django.plugins.module_utils import _config

_MODE = re.compile(r'^0?[0-7]{3}$')


def argument_spec():
    return dict(
        files=dict(type='list', elements='dict', required=True, options=dict(
            dest=dict(type='path', required=True),
            mode=dict(type='str', default='0644'),
            staged=dict(type='bool', default=False),
        )),
        contents=dict(type='list', elements='str', required=True, no_log=True),
    )


def main():
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True)
    if len(module.params['contents']) != len(module.params['files']):
        module.fail_json(msg='contents must hold one content for each of the %d files, got %d'
                         % (len(module.params['files']), len(module.params['contents'])))
    files = []
    for entry, content in zip(module.params['files'], module.params['contents']):
        if not _MODE.match(entry['mode']):
            module.fail_json(msg='the mode of %s must be an octal string such as 0644, got %r'
                             % (entry['dest'], entry['mode']))
        files.append(dict(entry, mode=int(entry['mode'], 8), content=content))
    try:
        written, changed = _config.write_files(files, module.check_mode)
    except (_config.ConfigError, OSError) as exc:
        module.fail_json(msg=str(exc))
    module.exit_json(changed=bool(changed), written=written, changed_files=changed)


if __name__ == '__main__':
    main()
