#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) simpledeploy developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: django_command
short_description: Run a project's own manage.py commands as the app's user, with the app's environment
version_added: 0.1.0
description:
  - Runs each of O(commands) in order, as C(<virtualenv>/bin/python manage.py COMMAND), in O(project_path), as
    O(run_as) (through C(runuser)), with the variables of O(env_file) in the command's environment (read by the
    module, never put on a command line) and C(DJANGO_SETTINGS_MODULE) from O(settings).
  - Stops at the first command that fails, with one message that names the command, how it ended and the last
    lines of its own error output; the values of O(env_file) that may be secrets are masked in it, as in every
    output of the module.
  - Each command is stopped (C(SIGTERM) to its whole process group, C(SIGKILL) 10 seconds later, by coreutils'
    C(timeout)) when it runs longer than O(timeout) seconds.
  - The role C(simpledeploy.django.deploy) runs it with C(deploy_hooks_before_switch), on the new release before
    the switch. The role's release trees are root's, so a command run as the app's user cannot write into them
    (C(compilemessages) cannot; compile translations before the release is built). A command runs every
    time the task runs; whatever it changed (files, the database) stays changed when a later step fails.
author:
  - simpledeploy developers (@simpledeploy)
requirements:
  - C(runuser) (util-linux) when O(run_as) is another user, and C(timeout) (coreutils) when O(timeout) is not 0.
extends_documentation_fragment:
  - simpledeploy.django._attributes
  - simpledeploy.django._attributes.nice
attributes:
  check_mode:
    support: full
    details: Runs nothing; returns the commands that would run (RV(commands), C(rc) and C(seconds) null).
  diff_mode:
    support: none
    details: What a command changes is the command's own business.
options:
  project_path:
    description: The directory that holds the project's C(manage.py); the commands run in it.
    type: path
    required: true
  virtualenv:
    description: The project's virtualenv; its C(bin/python) runs C(manage.py).
    type: path
    required: true
  env_file:
    description: Environment file (C(KEY=VALUE) lines, read as systemd reads an C(EnvironmentFile)) whose variables the commands get.
    type: path
  settings:
    description: The Django settings module, set as C(DJANGO_SETTINGS_MODULE) (wins over O(env_file)).
    type: str
  run_as:
    description: Run the commands as this user (root switches with C(runuser)); unset runs them as the module's user.
    type: str
  commands:
    description:
      - The C(manage.py) commands, without C(manage.py), each a string split like a shell line (C(shlex)) or a
        list of arguments, for example V(clearsessions) or V([createcachetable, --database, default]).
    type: list
    elements: raw
    required: true
  timeout:
    description: Seconds each command may run before it is stopped; V(0) for no limit.
    type: float
    default: 600
"""

EXAMPLES = r"""
- name: Create the cache table and clear expired sessions with the new release, as the app's user
  simpledeploy.django.django_command:
    project_path: /srv/person/staging
    virtualenv: /srv/person/venvs/9b1d0c2e4f6a
    env_file: /srv/person/app.env
    run_as: person
    commands:
      - [createcachetable, --database, default]
      - clearsessions
  register: hooks
"""

RETURN = r"""
commands:
  description:
    - Each command run, in order, as C(manage.py ARGS), with its return code and the seconds it took (both
      null in check mode, where nothing runs). On a failure, the commands run so far, the failed one last.
  returned: always
  type: list
  elements: dict
  sample: [{"command": "manage.py createcachetable", "rc": 0, "seconds": 0.412}]
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.simpledeploy.django.plugins.module_utils import _hooks


def main():
    module = AnsibleModule(
        argument_spec=dict(
            project_path=dict(type='path', required=True),
            virtualenv=dict(type='path', required=True),
            env_file=dict(type='path'),
            settings=dict(type='str'),
            run_as=dict(type='str'),
            nice=dict(type='int', default=0),
            commands=dict(type='list', elements='raw', required=True),
            timeout=dict(type='float', default=_hooks.DEFAULT_TIMEOUT),
        ),
        supports_check_mode=True,
    )
    if not 0 <= module.params['nice'] <= 19:
        module.fail_json(msg='nice must be between 0 and 19, got %d' % module.params['nice'])
    params = module.params
    try:
        planned = _hooks.planned(params['commands'])
    except ValueError as exc:
        module.fail_json(msg=str(exc), commands=[])
    if module.check_mode or not planned:
        module.exit_json(changed=bool(planned), commands=planned)
    try:
        done = _hooks.run_commands(module, params['project_path'], params['virtualenv'], params['commands'],
                                   env_file=params['env_file'], settings=params['settings'],
                                   run_as=params['run_as'], timeout=params['timeout'])
    except _hooks.HookError as exc:
        module.fail_json(msg=str(exc), commands=exc.results)
    module.exit_json(changed=True, commands=done)


if __name__ == '__main__':
    main()
