#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) simpledeploy developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: release_info
short_description: Report what is deployed under a Django app's deploy root, and whether it is safe to deploy there
version_added: 0.1.0
description:
  - Reads the deploy root of an app deployed by the role C(simpledeploy.django.deploy) and
    reports the live, previous and staged releases, whether a window was left open by a killed
    run, whether a virtualenv is ready, whether the service unit exists, and whether the role
    may use the directory at all.
  - A directory is not safe when it is C(/), a system directory, or when it exists with content
    and was not created by the collection; and, judged by what it is on the host rather than its
    spelling, when it is a symbolic link, goes through a link owned by someone other than root, has
    a real path (or a parent) that is not a directory owned by root and writable by root alone, or
    is in a temporary directory (C(/tmp), C(/var/tmp), C(/dev/shm), C(/run) and their aliases) or in
    (or holds) a person's home directory. The module reports the reason; the role stops on it before
    anything changes.
  - With O(shared_dirs), also reports in RV(shared_problems) what under C(shared/) is not what the
    role makes there (a link not owned by root, a file, ... where a directory belongs), read without
    following any link.
  - Lists in RV(releases) the releases kept on the host, newest first, and whether a rollback can bring each
    one back.
  - Changes nothing.
author:
  - simpledeploy developers (@simpledeploy)
options:
  root:
    description: The deploy root.
    type: path
    required: true
  app:
    description: The app's name; a root recorded for another app is reported as not safe.
    type: str
  venv_key:
    description: A virtualenv key whose readiness to report.
    type: str
  service:
    description: A systemd unit whose existence to report.
    type: str
  shared_dirs:
    description: Directories under C(shared/) to look at for RV(shared_problems), relative paths.
    type: list
    elements: str
    default: []
  units:
    description: systemd units whose state to report in RV(units_ready).
    type: list
    elements: str
    default: []
  config:
    description:
      - The files the deploy would write (the O(simpledeploy.django.release_config#module:files) of
        M(simpledeploy.django.release_config)), to compare with the live ones in RV(config_changed), with their
        content in O(config_contents). A staged entry (C(<file>.simpledeploy-next)) is compared with C(<file>).
    type: list
    elements: dict
    default: []
    suboptions:
      dest:
        description: The file, as release_config writes it.
        type: path
        required: true
      mode:
        description: Its permissions, an octal string.
        type: str
        default: '0644'
      staged:
        description: Whether O(config[].dest) is the staged name of the live file.
        type: bool
        default: false
  config_contents:
    description:
      - The content of each file of O(config), in the same order. Never logged (the host's journal included) nor
        returned.
    type: list
    elements: str
    default: []
  lock:
    description:
      - The deploy lock file (M(simpledeploy.django.deploy_lock)'s O(simpledeploy.django.deploy_lock#module:path)),
        whose presence to report in RV(lock_present). Only looked at, never read through a link nor taken.
    type: path
  gates:
    description: Gate files (the window's start and serve gates) whose presence to report in RV(gates_closed).
    type: list
    elements: path
    default: []
  user:
    description: The app's user, whose account to report in RV(user_ready) (with O(group)).
    type: str
  group:
    description: The app user's primary group, for RV(user_ready).
    type: str
  health_url:
    description:
      - A URL of the app to ask once, as M(simpledeploy.django.health_check) asks it, with the result in
        RV(health). Asked only when O(service) is given and active, the root holds a live release and no window
        is open (RV(switching) is null).
      - A password in its userinfo is masked in the result.
    type: str
  health_status:
    description: The status that counts as healthy (V(200), the default, accepts any 2xx).
    type: int
    default: 200
  health_host:
    description: The Host header of the request (the one C(ALLOWED_HOSTS) accepts).
    type: str
  health_headers:
    description: More request headers. Their values are never logged nor returned.
    type: dict
    default: {}
  health_request_timeout:
    description: Seconds the request may take.
    type: float
    default: 10
  release:
    description:
      - The release the caller would put live (RV(simpledeploy.django.release_archive#module:release_id)). With
        O(venv_key), RV(nothing_to_do) says whether a deploy of it has anything to change here.
    type: str
  plan:
    description:
      - When RV(nothing_to_do), read the live release's migration plan in the same execution, as
        M(simpledeploy.django.migration_status) reads it (with O(settings), O(env_file), O(run_as), O(nice),
        O(check), O(expand_data_steps); its virtualenv is C(venvs/<venv_key>)), into RV(plan). The plan of a
        database migrated back by hand has migrations to apply all the same.
    type: bool
    default: false
  project_subdir:
    description: Where C(manage.py) is inside the live tree C(code/), for O(plan).
    type: str
    default: ''
  settings:
    description: The Django settings module for O(plan) (C(DJANGO_SETTINGS_MODULE)); unset, C(manage.py) picks its own.
    type: str
  env_file:
    description:
      - The live environment file (C(KEY=VALUE) lines). O(plan) runs Django with its variables; the values that
        may be secrets are masked in every output, what the O(health_url) page shows included.
    type: path
  run_as:
    description: The user O(plan) runs C(manage.py) as, through C(runuser) (the service's user).
    type: str
  check:
    description: With O(plan), run Django's system checks first, as M(simpledeploy.django.migration_status) does.
    type: bool
    default: false
  expand_data_steps:
    description: With O(plan), as M(simpledeploy.django.migration_status)'s option of the same name.
    type: bool
    default: false
attributes:
  platform:
    details: Runs on POSIX hosts; O(service) is looked up with systemd.
extends_documentation_fragment:
  - simpledeploy.django._attributes
  - simpledeploy.django._attributes.read_only
  - simpledeploy.django._attributes.nice
seealso:
  - module: simpledeploy.django.release_switch
"""

EXAMPLES = r"""
- name: Read the deploy root
  simpledeploy.django.release_info:
    root: /srv/person
    app: person
    service: person
  register: release

- name: Stop when the root is not ours
  ansible.builtin.assert:
    that: release.safe
    fail_msg: "{{ release.reason }}"
"""

RETURN = r"""
exists:
  description: Whether the deploy root exists.
  returned: always
  type: bool
  sample: true
ours:
  description: Whether the deploy root holds the collection's marker file.
  returned: always
  type: bool
  sample: true
safe:
  description: Whether the role may deploy into the root.
  returned: always
  type: bool
  sample: true
reason:
  description: Why the root is not safe, with what to do about it.
  returned: always
  type: str
  sample: deploy_root /home/alice is (or holds) the home directory /home/alice
current_release:
  description:
    - The release live in C(code/), or null. Read from C(code/.simpledeploy-release) when the tree has it
      (after a run killed inside its window the trees are ahead of the marker file), else from the marker file.
  returned: always
  type: str
  sample: 3f2a9c0d1e4b5a67
previous_release:
  description: The release kept in C(code.previous/) (its C(.simpledeploy-release), else the marker file), or null.
  returned: always
  type: str
  sample: 0c4b2a1d9e8f7a65
staged_release:
  description: The release in C(staging/) (its C(.simpledeploy-release)), or null.
  returned: always
  type: str
  sample: null
switching:
  description:
    - The record of a window in progress, C(release), C(started) and C(strategy), or null. Set while
      M(simpledeploy.django.release_switch) runs; still there afterwards means that run was killed, and the
      next one finishes the window.
    - With C(rollback_from), the window of a rollback (O(simpledeploy.django.release_switch#module:stage_kept)),
      and the release it went back from, which a deploy finishes that window with.
    - With C(held), a window release_switch holds open (its option C(hold)) while the role runs the after-live
      task file; the new release serves meanwhile. Left by a run killed then, the next release_switch takes that
      release as live.
  returned: always
  type: dict
  sample: {"release": "3f2a9c0d1e4b5a67", "started": "2026-11-24T10:15:00Z", "strategy": "simple"}
current_venv:
  description: The virtualenv key the live release runs with, or null.
  returned: always
  type: str
  sample: 9b1d0c2e4f6a
venv_ready:
  description: Whether the virtualenv named by O(venv_key) is built and complete.
  returned: always
  type: bool
  sample: false
check_mode:
  description:
    - Whether the module ran in check mode (C(--check), or C(check_mode) set on the play, block or
      task). Unlike the variable C(ansible_check_mode), which only reflects C(--check).
  returned: always
  type: bool
  sample: false
diff_mode:
  description: Whether the module ran in diff mode (C(--diff), or C(diff) set on the play, block or task).
  returned: always
  type: bool
  sample: false
shared_problems:
  description:
    - What under C(shared/) is not what the role makes there, one message each, naming the path, who owns
      it and what to do; empty when there is nothing wrong. A link owned by root is an operator's and no
      problem.
  returned: always
  type: list
  elements: str
  sample:
    - >-
      /srv/person/shared/media is a symbolic link to /etc owned by person, where the role keeps a directory:
      the app user can plant such a link to make root change another path. Nothing was changed. Look at who
      made it, remove it (rm /srv/person/shared/media) and deploy again; to keep the data elsewhere, make the
      link as root
releases:
  description:
    - The releases kept on the host, newest first (the live one, the one in C(code.previous/), then those in
      C(releases/)), each with V(release), V(live), V(went_live) (when it last went live, UTC), V(order) (its
      number in the order releases were first deployed in; null for one deployed before numbers were given),
      V(venv) (the virtualenv key it ran with), V(tree) (where its tree is under the deploy root, null when it is gone),
      V(migrations) (the last migration of each app its code knows, null when it went live before the role
      recorded them), V(rollback) (whether a rollback can bring it back) and V(why_not) (why not, else null).
  returned: always
  type: list
  elements: dict
  sample:
    - {"release": "3f2a9c0d1e4b5a67", "live": true, "went_live": "2026-11-24T10:15:00Z", "venv": "9b1d0c2e4f6a",
       "tree": "code", "order": 7, "migrations": {"people": "0003_person_email"}, "rollback": false,
       "why_not": "it is the live release"}
    - {"release": "0c4b2a1d9e8f7a65", "live": false, "went_live": "2026-11-20T08:00:00Z", "venv": "9b1d0c2e4f6a",
       "tree": "code.previous", "order": 6, "migrations": {"people": "0002_person_weight"}, "rollback": true,
       "why_not": null}
rollback_to:
  description:
    - The release a rollback goes back to when none is named, or null. The release live before the live one,
      when it can come back and was deployed before it; after a rollback, of the releases it can bring back, the
      one deployed last before the live one was first deployed, so that two rollbacks in a row go back twice
      (after v1, v2, v3 and a rollback to v2, v1).
  returned: always
  type: str
  sample: 0c4b2a1d9e8f7a65
config_changed:
  description: The live files of O(config) whose content, mode or owner differs, or that are missing.
  returned: always
  type: list
  elements: str
  sample: [/srv/mysite/app.env]
health:
  description:
    - The answer to O(health_url), null when it was not asked. RV(health.answered) is whether it answered
      O(health_status); RV(health.status) is the status of any answer (null for none).
  returned: always
  type: dict
  contains:
    answered:
      description: Whether the answer was the status asked.
      type: bool
    status:
      description: The HTTP status of the last answer, null when there was none.
      type: int
    active:
      description: Whether O(service) was active (the URL is asked only then).
      type: bool
    last:
      description: The last answer in words, secrets masked.
      type: str
    hint:
      description: What to check when it did not answer as asked, else null.
      type: str
  sample: {"answered": true, "status": 200, "active": true, "last": "HTTP 200", "hint": null}
nothing_to_do:
  description:
    - Whether a deploy of O(release) with O(venv_key) has nothing to change here - the same release and virtualenv
      live, every file of O(config) as it is, the deploy root and the account as the deploy role makes them, the
      O(units) enabled and running, and no window, gate or lock left (RV(switching), RV(gates_closed),
      RV(lock_present)). False when any of it is unknown.
  returned: always
  type: bool
  sample: true
quiet_blockers:
  description:
    - Why RV(nothing_to_do) is false, one reason per condition that does not hold (names and states, never a
      file's content); empty when it is true. The deploy role puts it in C(deploy_result).
  returned: always
  type: list
  elements: str
  sample: ["files to write: /srv/person/app.env"]
plan:
  description:
    - The live release's migration plan (M(simpledeploy.django.migration_status)'s result) with O(plan) when
      RV(nothing_to_do), else null.
  returned: always
  type: dict
  sample: {"pending": false, "total": 0, "migrations": []}
lock_present:
  description:
    - Whether the file O(lock) exists (a run holds the deploy lock, or one that died left it). The role then takes
      its whole path, where M(simpledeploy.django.deploy_lock) refuses the lock or takes it over. Null without
      O(lock).
  returned: always
  type: bool
  sample: false
gates_closed:
  description: The files of O(gates) that exist (a window a run did not finish left them).
  returned: always
  type: list
  elements: str
  sample: []
root_ready:
  description:
    - Whether the deploy root, its C(shared/) directories (O(shared_dirs)) and its marker are already what
      M(simpledeploy.django.deploy_root) makes for O(user) and O(group) (it would change nothing); false when the
      user does not exist yet, null without O(user).
  returned: always
  type: bool
  sample: true
user_ready:
  description:
    - Whether O(user) exists with O(group) as its primary group, the shell C(/usr/sbin/nologin) and the home
      C(/nonexistent), as the role makes it (the role then skips creating the group and the user); null when not
      asked.
  returned: always
  type: bool
  sample: true
units_ready:
  description:
    - Whether every unit of O(units) is loaded, enabled and running (active, activating or reloading), from one
      C(systemctl show); the role then skips enabling and starting them after the switch. True when O(units) is
      empty.
  returned: always
  type: bool
  sample: true
units_problem:
  description:
    - When RV(units_ready) is false, what is not ready, in words (a unit's states that are not, or
      C(systemctl)'s own error); else null.
  returned: always
  type: str
  sample: "person.service: ActiveState=deactivating"
service_exists:
  description: Whether the systemd unit named by O(service) is known to systemd; null when not asked.
  returned: always
  type: bool
  sample: true
"""

import grp
import os
import pwd

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.simpledeploy.django.plugins.module_utils import (
    _accounts, _config, _health, _layout, _plan, _releases, _root_safety, _secrets, _state, _systemd, _venvs, _wait,
)


def service_exists(module, unit):
    systemctl = module.get_bin_path('systemctl')
    if not systemctl:
        return False
    rc, out, dummy = module.run_command([systemctl, 'show', '--property=LoadState', '--value', unit],
                                        environ_update={'LC_ALL': 'C'})
    return rc == 0 and out.strip() not in ('', 'not-found')


def root_ready(root, app, user, group, shared_dirs, safe):
    """Whether deploy_root would change nothing (its own code, in check mode); False when it cannot tell."""
    if not safe or not app:
        return False
    try:
        uid, gid = pwd.getpwnam(user).pw_uid, grp.getgrnam(group).gr_gid
        return not _layout.ensure_layout(root, app, uid, gid, shared_dirs, homes=_layout.human_homes(),
                                         check_mode=True)['changed']
    except (KeyError, _layout.LayoutError, OSError):
        return False


def main():
    module = AnsibleModule(
        argument_spec=dict(
            root=dict(type='path', required=True),
            app=dict(type='str'),
            venv_key=dict(type='str', no_log=False),
            service=dict(type='str'),
            shared_dirs=dict(type='list', elements='str', default=[]),
            units=dict(type='list', elements='str', default=[]),
            config=dict(type='list', elements='dict', default=[], options=dict(
                dest=dict(type='path', required=True),
                mode=dict(type='str', default='0644'),
                staged=dict(type='bool', default=False),
            )),
            # A list of its own, no_log (see release_config): never written to the host's journal.
            config_contents=dict(type='list', elements='str', default=[], no_log=True),
            gates=dict(type='list', elements='path', default=[]),
            lock=dict(type='path'),
            user=dict(type='str'),
            group=dict(type='str'),
            health_url=dict(type='str'),
            health_status=dict(type='int', default=200),
            health_host=dict(type='str'),
            health_headers=dict(type='dict', default={}, no_log=True),
            health_request_timeout=dict(type='float', default=10),
            release=dict(type='str'),
            plan=dict(type='bool', default=False),
            project_subdir=dict(type='str', default=''),
            settings=dict(type='str'),
            env_file=dict(type='path'),
            run_as=dict(type='str'),
            nice=dict(type='int', default=0),
            check=dict(type='bool', default=False),
            expand_data_steps=dict(type='bool', default=False),
        ),
        required_together=[('user', 'group')],
        supports_check_mode=True,
    )
    # Out of the params at once (no_log registered every value, "1" and "https" included, which would blank
    # them in every string of the result), whether or not the URL is asked.
    health_headers = _wait.take_headers(module, 'health_headers', 'health_host')
    _health.mask_url(module, module.params['health_url'])
    root = module.params['root']
    info = _state.inspect_root(root, _root_safety.home_dirs(), module.params['app'])
    placement = _layout.placement_reason(root, _layout.human_homes()) if info['safe'] else None
    if placement:
        info.update(safe=False, reason=placement)
    info['shared_problems'] = _layout.shared_problems(root, module.params['shared_dirs']) if info['safe'] else []
    info['releases'] = _releases.listing(root, info['state']) if info['safe'] and info['ours'] else []
    previous = (info['state'].get('previous') or {}).get('release')
    info['rollback_to'] = _releases.rollback_target(info['releases'], previous)
    info.pop('state')
    info.pop('root')
    info['venv_ready'] = _venvs.venv_ready(module.params['root'], module.params['venv_key'])
    user, group = module.params['user'], module.params['group']
    info['user_ready'] = _accounts.account_ready(user, group) if user else None
    info['root_ready'] = root_ready(root, module.params['app'], user, group, module.params['shared_dirs'],
                                    info['safe']) if user else None
    if len(module.params['config_contents']) != len(module.params['config']):
        module.fail_json(msg='config_contents must hold one content for each of the %d config files, got %d'
                         % (len(module.params['config']), len(module.params['config_contents'])))
    try:
        info['config_changed'] = _config.changed_live([
            dict(entry, mode=int(entry['mode'], 8), content=content)
            for entry, content in zip(module.params['config'], module.params['config_contents'])])
    except ValueError:
        module.fail_json(msg='the mode of each config entry must be an octal string such as 0644')
    info['gates_closed'] = [gate for gate in module.params['gates'] if os.path.lexists(gate)]
    info['lock_present'] = os.path.lexists(module.params['lock']) if module.params['lock'] else None
    info['units_ready'], info['units_problem'] = _systemd.units_report(module, module.params['units'])
    info['service_exists'] = service_exists(module, module.params['service']) if module.params['service'] else None
    # The live release asked once, while its service runs (through a socket unit a request would start a stopped
    # one), unless a window a killed run left open holds every connection: the run finishes that window first.
    # Only in a root found safe: the environment file is read for the masking.
    params = module.params
    info['health'] = None
    if (params['health_url'] and info['safe'] and info['current_release'] and info['switching'] is None
            and params['service']):
        info['health'] = _health.ask(module, params['health_url'], params['health_status'], params['health_host'],
                                     health_headers, env_file=params['env_file'], service=params['service'],
                                     timeout=0, request_timeout=params['health_request_timeout'])
    # Nothing to change: the live release's migration plan read here, in the same execution (the role's quiet
    # path: a database migrated back by hand has migrations to apply all the same).
    info['quiet_blockers'] = _state.quiet_blockers(info, params['release'], params['venv_key'])
    info['nothing_to_do'] = not info['quiet_blockers']
    info['plan'] = None
    if params['plan'] and info['nothing_to_do']:
        if not 0 <= params['nice'] <= 19:
            module.fail_json(msg='nice must be between 0 and 19, got %d' % params['nice'])
        code = os.path.join(root, _state.CODE, params['project_subdir'])
        info['plan'] = _plan.finish_report(module, _plan.migration_plan(
            module, code, os.path.join(root, _state.VENVS, params['venv_key']), settings=params['settings'],
            env_file=params['env_file'], run_as=params['run_as'], check=params['check'],
            expand_data_steps=params['expand_data_steps']))
        # finish_report keeps the project's own names unmasked: never the URL's password nor a header's value.
        _health.mask_url(module, params['health_url'])
        module.no_log_values.update(_secrets.secret_strings(health_headers))
    # Ansible's ansible_check_mode and ansible_diff_mode only reflect --check and
    # --diff, not check_mode/diff set on a play, block or include: the role
    # reads the truth here, from the module's own invocation.
    info['check_mode'] = module.check_mode
    info['diff_mode'] = module._diff
    module.exit_json(changed=False, **info)


if __name__ == '__main__':
    main()
