#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) simpledeploy developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: release_switch
short_description: Switch a Django app to its staged release inside one short downtime window
version_added: 0.1.0
description:
  - Runs the downtime window of the simple deploy method as one remote execution, so that
    the site is down only for the steps that need it. The steps are to stop the service, replace
    the live code tree with the staged one whole (the old tree is kept aside for a rollback), point
    the virtualenv link at the new virtualenv, run C(manage.py migrate) when asked, and start the
    service.
  - Everything that can happen before the stop (shipping the code, building the virtualenv,
    C(manage.py check), reading the migration plan) is the role's job before this module runs.
  - When a step after the stop fails, the module puts the old code tree and virtualenv back,
    starts the service again and fails with the step that failed.
  - Refuses to work on a deploy root that is unsafe or was not created by the collection.
  - Works on the layout described in the role C(simpledeploy.django.deploy).
author:
  - simpledeploy developers (@simpledeploy)
options:
  root:
    description: The deploy root, holding C(code/), C(staging/), C(venvs/) and the marker file.
    type: path
    required: true
  release:
    description: Identifier of the staged release, recorded in the marker as the current release.
    type: str
  swap:
    description: Replace C(code/) with C(staging/). When false, only the other steps run.
    type: bool
    default: true
  venv_key:
    description: Name of the virtualenv under C(venvs/) that the C(venv) link must point at.
    type: str
  service:
    description: The systemd unit that serves the app.
    type: str
    required: true
  strategy:
    description:
      - How the release goes live.
      - V(simple) is the seed's method, stop the service, replace the code, migrate, start; the
        site is down for that window.
      - V(reload) swaps the code tree under the running server (one atomic rename where the kernel
        supports it) and has it reload gracefully (C(systemctl reload), gunicorn's C(HUP)), so the
        server keeps its socket, new workers load the new code, old ones finish their requests;
        no request fails. Refused, before anything changes, when a reload cannot apply the deploy
        (see RV(strategy_reason)), when migrations are pending for example.
      - V(auto) picks V(reload) when nothing blocks it and V(simple) otherwise, and says why in
        RV(strategy_reason).
      - A graceful reload cannot apply migrations, a new virtualenv, a first deploy, or a service
        that is not running or has no C(ExecReload); the caller adds its own reasons with
        O(reload_blockers).
    type: str
    choices: [auto, simple, reload]
    default: simple
  reload_blockers:
    description:
      - Reasons, known to the caller, why a graceful reload cannot apply this deploy (a changed unit
        or environment file, an app preloaded in the server's master process). Any entry rules out
        V(reload).
    type: list
    elements: str
    default: []
  migrate:
    description: Run C(manage.py migrate --noinput) in the new tree between the swap and the start.
    type: bool
    default: false
  project_subdir:
    description: Where C(manage.py) sits inside the code tree.
    type: str
    default: ''
  settings:
    description: Django settings module for C(migrate); empty uses C(manage.py)'s default.
    type: str
  env_file:
    description: Environment file (C(KEY=VALUE) lines) loaded for C(migrate).
    type: path
  run_as:
    description: Run C(migrate) as this user (through C(runuser)).
    type: str
  ready_url:
    description:
      - URL requested from the host after the start until it answers with O(ready_status); the
        window ends then, not when C(systemctl start) returns (a server can listen before its
        workers have loaded the app).
      - A URL that does not answer in O(ready_timeout) seconds does not fail the module; RV(ready)
        is false and the role's health check decides.
    type: str
  ready_status:
    description: HTTP status that means the app is back.
    type: int
    default: 200
  ready_timeout:
    description: Seconds to wait for O(ready_url).
    type: float
    default: 30
  daemon_reload:
    description: Make systemd read changed unit files before the stop (outside the window).
    type: bool
    default: false
  prune:
    description: Remove virtualenvs that neither the current nor the previous release uses.
    type: bool
    default: true
  manifest:
    description:
      - The entries of the new release's manifest (the C(entries) of the file
        M(simpledeploy.django.release_archive) writes). With it, in check mode or diff mode, the
        live tree is compared with the release and RV(files) and the diff say what would change.
    type: dict
  keep_paths:
    description:
      - Paths, relative to the directory of C(manage.py), that hold data linked in from C(shared/);
        left out of the comparison with O(manifest).
    type: list
    elements: str
    default: []
attributes:
  check_mode:
    support: full
    description:
      - Reports what the window would do (RV(strategy), RV(downtime), RV(migrated), RV(files)) and
        changes nothing.
  diff_mode:
    support: full
    description: With O(manifest), lists the files of the code tree that are added, changed or removed.
  platform:
    support: full
    platforms: posix
    description: Needs systemd and C(runuser) (util-linux).
notes:
  - Needs root (or a user allowed to run C(systemctl stop/start) and to write the deploy root).
seealso:
  - module: simpledeploy.django.release_info
  - module: simpledeploy.django.migration_status
"""

EXAMPLES = r"""
- name: Go live without downtime when nothing is pending, with a stop otherwise
  simpledeploy.django.release_switch:
    root: /srv/person
    release: 4c1d7e2f9a0b3c58
    venv_key: 9b1d0c2e4f6a
    service: person
    strategy: auto
    migrate: "{{ plan.pending }}"
    ready_url: http://127.0.0.1:8000/
  register: switch

- name: Switch to the staged release and migrate
  simpledeploy.django.release_switch:
    root: /srv/person
    release: 3f2a9c0d1e4b5a67
    venv_key: 9b1d0c2e4f6a
    service: person
    migrate: true
    env_file: /srv/person/app.env
    run_as: person
"""

RETURN = r"""
strategy:
  description: The strategy used (or, in check mode, that would be used), V(simple) or V(reload).
  returned: success
  type: str
  sample: reload
strategy_reason:
  description: Why that strategy, in one sentence.
  returned: success
  type: str
  sample: "auto: migrations are pending: the schema changes while no server runs"
downtime:
  description: Whether the service is (or would be) stopped, that is whether the site goes down.
  returned: success
  type: bool
  sample: false
files:
  description: How many files of the code tree the new release adds, changes and removes.
  returned: when O(manifest) is given, in check mode or diff mode
  type: dict
  sample: {"added": 1, "changed": 2, "removed": 1}
window:
  description:
    - Seconds from the stop command until the app answered O(ready_url) (or, without it, until
      C(systemctl start) returned); V(0) for a graceful reload.
  returned: changed and not check mode
  type: float
  sample: 0.912
steps:
  description:
    - Seconds spent in each step, V(stop), V(swap), V(venv), V(migrate), V(start), V(ready) for
      V(simple); V(swap), V(reload), V(workers) (until the old workers are gone), V(ready) for
      V(reload).
  returned: changed and not check mode
  type: dict
  sample: {"stop": 0.21, "swap": 0.001, "venv": 0.0, "migrate": 0.48, "start": 0.12, "ready": 0.08}
ready:
  description: Whether the app answered O(ready_url) with O(ready_status) in time; null without O(ready_url).
  returned: changed and not check mode
  type: bool
  sample: true
release:
  description: The release now live.
  returned: always
  type: str
  sample: 3f2a9c0d1e4b5a67
previous_release:
  description: The release kept in C(code.previous/) for a rollback.
  returned: always
  type: str
  sample: 0c4b2a1d9e8f7a65
migrated:
  description: Whether C(migrate) ran.
  returned: always
  type: bool
  sample: true
migrate_output:
  description: What C(manage.py migrate) printed, one line per item.
  returned: when migrate ran
  type: list
  elements: str
  sample: ["Operations to perform:", "  Apply all migrations: people", "Running migrations:", "  Applying people.0002_person_weight... OK"]
pruned_venvs:
  description: Virtualenvs removed after the window.
  returned: always
  type: list
  elements: str
  sample: ["0d9e8f7a6b5c"]
"""

import os
from datetime import datetime, timezone

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.simpledeploy.django.plugins.module_utils import _release
from ansible_collections.simpledeploy.django.plugins.module_utils._archive import (
    DEFAULT_EXCLUDES,
    DEFAULT_PROJECT_EXCLUDES,
    ArchiveError,
    build_manifest,
    diff_manifests,
    keep_paths_under,
)
from ansible_collections.simpledeploy.django.plugins.module_utils._django import run_manage

StepFailed = _release.StepError

# Paths listed by name in the diff; the counts are always complete.
DIFF_CAP = 500


def tree_changes(root, params):
    """What replacing code/ with the release described by params['manifest'] changes."""
    live = os.path.join(root, _release.CODE)
    anchored = keep_paths_under(params['project_subdir'],
                                list(params['keep_paths']) + list(DEFAULT_PROJECT_EXCLUDES))
    old = {}
    if os.path.isdir(live):
        old = build_manifest(live, DEFAULT_EXCLUDES, anchored)[0]
    new = dict((path, entry) for path, entry in params['manifest'].items()
               if not any(path == a or path.startswith(a + '/') for a in anchored))
    changes = diff_manifests(old, new)
    files = dict((key, [p for p in paths if (new.get(p) or old.get(p) or {}).get('type') != 'dir'])
                 for key, paths in changes.items())
    counts = dict((key, len(paths)) for key, paths in files.items())
    lines = (['+ ' + p for p in files['added']] + ['~ ' + p for p in files['changed']]
             + ['- ' + p for p in files['removed']])
    shown = sorted(lines, key=lambda line: line[2:])
    text = '\n'.join(shown[:DIFF_CAP])
    if len(shown) > DIFF_CAP:
        text += '\n... and %d more' % (len(shown) - DIFF_CAP)
    prepared = ('code tree: %d added, %d changed, %d removed (+ added, ~ changed, - removed)\n%s\n'
                % (counts['added'], counts['changed'], counts['removed'], text))
    return counts, prepared


def main():
    module = AnsibleModule(
        argument_spec=dict(
            root=dict(type='path', required=True),
            release=dict(type='str'),
            swap=dict(type='bool', default=True),
            venv_key=dict(type='str', no_log=False),
            service=dict(type='str', required=True),
            strategy=dict(type='str', default='simple', choices=list(_release.STRATEGIES)),
            reload_blockers=dict(type='list', elements='str', default=[]),
            migrate=dict(type='bool', default=False),
            project_subdir=dict(type='str', default=''),
            settings=dict(type='str'),
            env_file=dict(type='path'),
            run_as=dict(type='str'),
            ready_url=dict(type='str'),
            ready_status=dict(type='int', default=200),
            ready_timeout=dict(type='float', default=30),
            daemon_reload=dict(type='bool', default=False),
            prune=dict(type='bool', default=True),
            manifest=dict(type='dict'),
            keep_paths=dict(type='list', elements='str', default=[], no_log=False),
        ),
        supports_check_mode=True,
    )
    params = module.params
    root = params['root']
    info = _release.inspect_root(root, _release.home_dirs(), None)
    if not info['safe']:
        module.fail_json(msg=info['reason'])
    result = dict(changed=True, release=params['release'] or info['current_release'],
                  previous_release=info['current_release'] if params['swap'] else info['previous_release'],
                  migrated=False, pruned_venvs=[])

    def systemctl(action, unit):
        argv = ['systemctl', action] + ([unit] if unit else [])
        rc, out, err = module.run_command(argv, environ_update={'LC_ALL': 'C'})
        if rc != 0:
            raise StepFailed('%s failed (rc=%s): %s' % (' '.join(argv), rc, (err or out).strip()))

    # How the release goes live. Everything here only reads.
    rc, out, err = module.run_command(
        ['systemctl', 'show', '-p', 'ActiveState', '-p', 'MainPID', '-p', 'CanReload', params['service']],
        environ_update={'LC_ALL': 'C'})
    unit = _release.parse_show(out) if rc == 0 else {}
    main_pid = int(unit.get('MainPID') or 0) if (unit.get('MainPID') or '0').isdigit() else 0
    venv_link = os.path.join(root, _release.VENV_LINK)
    blockers = []
    first = not info['current_release'] or not os.path.isdir(os.path.join(root, _release.CODE))
    if params['migrate']:
        blockers.append('migrations are pending: the schema changes while no server runs')
    if first:
        # Nothing to reload: the other reasons would only be noise.
        blockers.append('first deploy: nothing serves yet')
    else:
        if params['venv_key'] and (not os.path.islink(venv_link) or os.readlink(venv_link)
                                   != os.path.join(_release.VENVS, params['venv_key'])):
            blockers.append('the virtualenv changed: the server must restart to load it')
        if unit.get('ActiveState') != 'active' or not main_pid:
            blockers.append('the service %s is not running' % params['service'])
        elif unit.get('CanReload') != 'yes':
            blockers.append('the service %s has no ExecReload, it cannot reload' % params['service'])
        blockers.extend(params['reload_blockers'])
    try:
        strategy, reason = _release.choose_strategy(params['strategy'], blockers)
    except ValueError as exc:
        module.fail_json(msg=str(exc), reload_blockers=blockers)
    # A first deploy takes nothing down: nothing served before.
    result.update(strategy=strategy, strategy_reason=reason, downtime=strategy == 'simple' and not first)

    if params['manifest'] is not None and params['swap'] and (module.check_mode or module._diff):
        try:
            result['files'], prepared = tree_changes(root, params)
        except (ArchiveError, OSError) as exc:
            module.fail_json(msg='could not compare the live tree with the new release: %s' % exc)
        result['diff'] = {'prepared': prepared}

    if module.check_mode:
        # A real run stages, builds and marks all of this first: report the plan.
        result['migrated'] = params['migrate']
        module.exit_json(**result)
    if not info['ours']:
        module.fail_json(msg='deploy_root %s has no %s: run the role, not this module alone' % (root, _release.MARKER))
    staging = os.path.join(root, _release.STAGING)
    if params['swap'] and not os.path.isdir(staging):
        module.fail_json(msg='nothing is staged: %s does not exist' % staging)
    venv_key = params['venv_key']
    if venv_key and not _release.venv_ready(root, venv_key):
        module.fail_json(msg='the virtualenv %s is not ready (no %s in it)' % (venv_key, _release.VENV_READY))
    if params['migrate']:
        # Checked before the stop: run_manage fails the module at once on these,
        # which inside the window would skip the restore.
        tree = staging if params['swap'] else os.path.join(root, _release.CODE)
        needed = [os.path.join(tree, params['project_subdir'], 'manage.py'),
                  os.path.join(root, _release.VENVS, venv_key, 'bin', 'python') if venv_key
                  else os.path.join(root, _release.VENV_LINK, 'bin', 'python')]
        if params['env_file']:
            needed.append(params['env_file'])
        missing = [path for path in needed if not os.path.exists(path)]
        if missing:
            module.fail_json(msg='cannot migrate, nothing was stopped: missing %s' % ', '.join(missing))

    migrate_out = []

    def migrate():
        project = os.path.join(root, _release.CODE, params['project_subdir'])
        rc, out, err = run_manage(module, project, os.path.join(root, _release.VENV_LINK), ['migrate', '--noinput'],
                                  settings=params['settings'], env_file=params['env_file'],
                                  run_as=params['run_as'], check_rc=False)
        migrate_out.extend(out.splitlines())
        if rc != 0:
            lines = [line for line in (err or out).strip().splitlines() if line.strip()]
            raise StepFailed('manage.py migrate failed (rc=%s): %s' % (rc, lines[-1] if lines else 'no output'))

    if params['daemon_reload']:
        try:
            systemctl('daemon-reload', None)
        except StepFailed as exc:
            module.fail_json(msg='nothing was stopped: %s' % exc)

    def ready():
        return _release.wait_for_url(params['ready_url'], params['ready_status'], params['ready_timeout'])

    old_workers = _release.child_pids(main_pid) if strategy == 'reload' else []

    def replaced():
        return _release.wait_workers_replaced(main_pid, old_workers, params['ready_timeout'])

    switch = _release.Switch(root, params['release'], venv_key, params['service'], systemctl,
                             migrate if params['migrate'] else None,
                             ready=ready if params['ready_url'] else None, replaced=replaced)
    try:
        result['window'] = switch.run(params['swap'], strategy)
    except (StepFailed, OSError) as exc:
        try:
            restored = switch.undo()
        except (StepFailed, OSError) as undo_exc:
            restored = ['nothing: the restore failed too (%s)' % undo_exc]
        module.fail_json(msg='the %s failed at %s: %s. Restored: %s.'
                         % ('graceful reload' if strategy == 'reload' else 'downtime window',
                            switch.step, exc, ', '.join(restored)),
                         failed_step=switch.step, steps=switch.steps, migrate_output=migrate_out, restored=restored,
                         strategy=strategy)
    result['steps'] = switch.steps
    result['ready'] = switch.answered
    result['migrated'] = params['migrate']
    if params['migrate']:
        result['migrate_output'] = migrate_out
    state = switch.record(info['state'], datetime.now(timezone.utc).strftime('%Y-%m-%dT%H:%M:%SZ'))
    _release.write_state(root, state)
    if params['prune']:
        keep = set(filter(None, [(state.get('current') or {}).get('venv'), (state.get('previous') or {}).get('venv')]))
        for name in _release.stale_venvs(root, keep):
            _release.remove_tree(os.path.join(root, _release.VENVS, name))
            result['pruned_venvs'].append(name)
    module.exit_json(**result)


if __name__ == '__main__':
    main()
