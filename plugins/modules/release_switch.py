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
    the virtualenv link at the new virtualenv, put the changed configuration files (O(config), the
    environment file and the unit) in place, run C(manage.py migrate) when asked, and start the
    service.
  - Everything that can happen before the stop (shipping the code, building the virtualenv,
    C(manage.py check), reading the migration plan) is the role's job before this module runs.
  - With O(backup), the database is backed up inside the window, after the stop (so that no write
    is lost) and before C(migrate), through the project's own Django settings. SQLite is copied with
    its online backup API, PostgreSQL with C(pg_dump --format=custom). Whether a backup can be
    taken (a supported database, C(pg_dump) installed) is checked before the stop.
  - When a step after the stop fails (the backup, C(migrate), the start, the new workers of a
    graceful reload) or, with O(rollback), when O(ready_url) does not answer in time, the module
    takes the schema back first (C(manage.py migrate APP LEAF) per app the deploy's migrations
    touched, or a restore of the backup when they are not reversible or that fails), then puts the
    old configuration files, code tree and virtualenv back, starts the old release, waits for O(ready_url) again and
    fails with one message, the step that failed, what was restored and where the logs are.
  - Each code tree holds its release in a C(.simpledeploy-release) file at its top, and the
    marker file records a window in progress (C(switching)). A run that finds the window of an
    earlier, killed run finishes it. If C(code/) already holds the release, it is not swapped again,
    and the rest (virtualenv link, C(migrate), start) runs; RV(recovered) says so.
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
      - Reasons, known to the caller, why a graceful reload cannot apply this deploy (an app preloaded
        in the server's master process, a database other hosts share). Any entry rules out V(reload).
    type: list
    elements: str
    default: []
  config:
    description:
      - The service's configuration files that go live with the release (the environment file, the
        unit). For each, the caller renders the new content in O(config[].src) beside O(config[].dest).
      - A file whose content differs goes in place inside the window, after the stop and before
        C(migrate) (so the new release migrates with its own environment), the live one kept aside;
        a failure that rolls the window back puts the old file back before the old release starts, and
        success removes it. A changed file rules out V(reload). Unchanged ones change nothing.
      - Every O(config[].src) is removed by the module (compared, or put in place), check mode included.
      - With nothing else to do (no tree to swap, the same virtualenv, nothing to migrate, no window
        left open by a killed run) and no file changed, the module changes nothing and stops nothing.
    type: list
    elements: dict
    default: []
    suboptions:
      dest:
        description: The live file, e.g. C(/srv/person/app.env).
        type: path
        required: true
      src:
        description:
          - The new content, rendered beside O(config[].dest) (same directory, so that it goes in
            place by a rename), by convention C(<dest>.simpledeploy-next).
          - Missing is an error, except in check mode (it counts as changed).
        type: path
        required: true
      systemd:
        description: Whether it is a systemd unit file, read again by C(systemctl daemon-reload) once changed.
        type: bool
        default: false
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
      - A URL that does not answer in O(ready_timeout) seconds is a failed step C(ready) when
        O(rollback) is true (the old release is put back); with O(rollback) false the module does
        not fail, RV(ready) is false and the role's health check decides.
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
  database:
    description: The alias in C(settings.DATABASES) of the database that is backed up and restored.
    type: str
    default: default
  backup:
    description:
      - Back up the database before C(migrate), with the service stopped. Only when O(migrate) is true.
      - SQLite through Python's C(sqlite3) online backup API, PostgreSQL with C(pg_dump --format=custom)
        (the password goes through C(PGPASSWORD) in the environment of C(pg_dump) alone). Any other
        database fails the module before the stop; V(false) deploys without a backup.
      - The file is named after the release and the time, in UTC, C(<release>-<YYYYmmddTHHMMSSZ>.sqlite3)
        or C(.dump), owned by root, mode C(0600).
    type: bool
    default: false
  backup_dir:
    description: Where backups go; created owned by root, mode C(0700). Default C(<root>/backups).
    type: path
  backup_keep:
    description: How many backups to keep in O(backup_dir); the oldest go after a successful window.
    type: int
    default: 5
  rollback:
    description:
      - When a step after the stop fails, or O(ready_url) does not answer, put the schema, the old code,
        the old virtualenv and the service back, then fail.
      - V(false) leaves everything as the failure left it (the new tree in C(code/), the schema as
        C(migrate) left it, the service as it is) and says so; a later run finishes the window.
    type: bool
    default: true
  applied_leaves:
    description:
      - The applied leaf migration of each app before the deploy (RV(simpledeploy.django.migration_status#module:applied_leaves)),
        where the schema goes back to. An app the deploy's migrations touched and that is not listed goes back
        to C(zero). Without it, the schema can only come back from the backup.
    type: list
    elements: dict
    suboptions:
      app:
        description: The app label.
        type: str
        required: true
      name:
        description: The migration's name.
        type: str
        required: true
  reversible:
    description:
      - Whether every pending migration can be unapplied
        (RV(simpledeploy.django.migration_status#module:reversible)). V(false) restores the backup
        directly; unset tries to migrate back and restores the backup when that fails.
    type: bool
  migrate_lock_timeout:
    description:
      - With a PostgreSQL database, C(migrate) runs only while it holds a PostgreSQL advisory lock
        (session level, on a connection of its own, the same key for every host and run), so that two
        runs that share the database (two hosts, two playbooks, two AWX jobs) never migrate it at the
        same time; the one that waited reads the plan again and finds nothing left to apply.
      - Seconds to wait for that lock before the step C(migrate) fails (and the window is rolled back).
    type: float
    default: 600
  lock:
    description:
      - The deploy lock of M(simpledeploy.django.deploy_lock) this run holds. From its first change to its
        exit, the module holds a kernel lock (C(flock)) on the lock's C(.window) file beside it, which dies with
        this process; while it lives, no run can take (or take over) that deploy lock, so two windows never
        overlap, even when the controller that started this one vanished.
      - Its directory is checked as M(simpledeploy.django.deploy_lock) does (root's, writable by root alone,
        no link). Another window of the same lock still running fails the task, before anything changes.
    type: path
  lock_run_id:
    description:
      - With O(lock), the run ID that must still hold that lock (RV(simpledeploy.django.deploy_lock#module:lock)
        C(.run_id)); when another run took it over meanwhile, the task fails before anything changes.
    type: str
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
    description: Needs systemd and C(runuser) (util-linux); C(pg_dump) and C(pg_restore) for a PostgreSQL backup.
notes:
  - Needs root (or a user allowed to run C(systemctl stop/start) and to write the deploy root).
  - A PostgreSQL restore drops the tables of the project's models that the dump does not hold (created
    by the failed migrations) and then runs C(pg_restore --clean --if-exists --no-owner --single-transaction).
  - A migration with C(atomic = False) that fails half-way is not recorded as applied and so is not
    unapplied; with O(reversible) unset or true the backup is not restored then.
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

- name: Back up, migrate, and put everything back if the new release fails
  simpledeploy.django.release_switch:
    root: /srv/person
    release: 3f2a9c0d1e4b5a67
    venv_key: 9b1d0c2e4f6a
    service: person
    migrate: "{{ plan.pending }}"
    backup: true
    backup_keep: 5
    applied_leaves: "{{ plan.applied_leaves }}"
    reversible: "{{ plan.reversible }}"
    env_file: /srv/person/app.env
    run_as: person
    ready_url: http://127.0.0.1:8000/
"""

RETURN = r"""
strategy:
  description:
    - The strategy used (or, in check mode, that would be used), V(simple) or V(reload); null when there was
      nothing to do (the task reports no change).
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
config:
  description:
    - The configuration files (O(config[].dest)) whose content changed, put in place by this run (in check
      mode, that a real run would put in place). Their content is never returned (secrets).
  returned: always
  type: list
  elements: str
  sample: [/srv/person/app.env]
window:
  description:
    - Seconds from the stop command until the app answered O(ready_url) (or, without it, until
      C(systemctl start) returned); V(0) for a graceful reload.
  returned: changed and not check mode
  type: float
  sample: 0.912
flush:
  description:
    - Seconds spent, before the stop, writing the new code tree and the new virtualenv out to disk (C(syncfs) on
      their filesystems, C(sync) where the kernel has no C(syncfs)), so that what goes live survives a power loss;
      null when neither changes.
  returned: changed and not check mode
  type: float
  sample: 0.043
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
migrate_lock:
  description:
    - The lock C(migrate) ran under, V(vendor), V(lock) (null for SQLite) and V(waited), the seconds
      spent waiting for it.
  returned: when migrate ran
  type: dict
  sample: {"vendor": "postgresql", "lock": "postgresql advisory lock 5210961937245436370", "waited": 0.004}
pruned_venvs:
  description: Virtualenvs removed after the window.
  returned: always
  type: list
  elements: str
  sample: ["0d9e8f7a6b5c"]
backup:
  description: The backup taken before C(migrate), or null (none asked, nothing migrated, no database file yet).
  returned: always
  type: str
  sample: /srv/person/backups/3f2a9c0d1e4b5a67-20261124T101500Z.sqlite3
pruned_backups:
  description: Backups removed after the window to keep O(backup_keep).
  returned: always
  type: list
  elements: str
  sample: ["0c4b2a1d9e8f7a65-20261001T080000Z.sqlite3"]
restored:
  description:
    - What the rollback put back, in order, after a failed step; empty with O(rollback) false.
  returned: failure after the stop (or during a graceful reload)
  type: list
  elements: str
  sample: ["schema: migrated back people to 0001_initial", "venv", "code", "service started"]
failed_step:
  description: The step that failed, V(backup), V(migrate), V(start), V(ready), V(reload), V(workers), ...
  returned: failure after the stop (or during a graceful reload)
  type: str
  sample: migrate
schema_as_before:
  description:
    - Whether the database schema is as it was before this run, because no migration was applied or
      the rollback took it back. Hosts that share the database may serve their old release again only then.
  returned: failure after the stop (or during a graceful reload)
  type: bool
  sample: true
answered:
  description: Whether the old release answered O(ready_url) again after the rollback; null when not asked.
  returned: failure after the stop (or during a graceful reload)
  type: bool
  sample: true
recovered:
  description: Whether an earlier run was killed inside its window (a C(switching) record in the marker file).
  returned: always
  type: bool
  sample: false
recovery:
  description:
    - With RV(recovered), what was found and done, the earlier run's record (C(release), C(started),
      C(strategy)), the release each tree held and what this run did about the trees.
  returned: when RV(recovered)
  type: dict
  sample:
    switching: {"release": "3f2a9c0d1e4b5a67", "started": "2026-11-24T10:15:00Z", "strategy": "simple"}
    found: {"code": "3f2a9c0d1e4b5a67", "previous": "0c4b2a1d9e8f7a65", "staging": null}
    notes: ["code/ already holds release 3f2a9c0d1e4b5a67: not swapped again"]
"""

import contextlib
import os
from datetime import datetime, timezone

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.simpledeploy.django.plugins.module_utils import (
    _backup, _config, _fsio, _lock, _migrate, _release, _secrets,
)
from ansible_collections.simpledeploy.django.plugins.module_utils._archive import ArchiveError

StepFailed = _release.StepError


def not_written(path, exc):
    """The refusal when a file that must be on disk before the stop cannot be written."""
    return ('nothing was stopped: cannot write %s: %s. Free space on (or repair) its filesystem, then run again'
            % (path, exc.strerror or exc))


def state_not_written(path, exc, live, then):
    """The warning when the marker cannot be written after the window: LIVE says what serves, THEN what comes next."""
    return ('%s, but the state file %s could not be written: %s. The %s file of each tree says what is live; free '
            'space on (or repair) its filesystem: %s' % (live, path, exc.strerror or exc, _release.RELEASE_FILE, then))


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
            config=dict(type='list', elements='dict', default=[], options=dict(
                dest=dict(type='path', required=True), src=dict(type='path', required=True),
                systemd=dict(type='bool', default=False))),
            prune=dict(type='bool', default=True),
            manifest=dict(type='dict'),
            keep_paths=dict(type='list', elements='str', default=[], no_log=False),
            database=dict(type='str', default='default'),
            backup=dict(type='bool', default=False),
            backup_dir=dict(type='path'),
            backup_keep=dict(type='int', default=5),
            rollback=dict(type='bool', default=True),
            applied_leaves=dict(type='list', elements='dict', options=dict(
                app=dict(type='str', required=True), name=dict(type='str', required=True))),
            reversible=dict(type='bool'),
            migrate_lock_timeout=dict(type='float', default=_migrate.DEFAULT_LOCK_TIMEOUT),
            lock=dict(type='path'),
            lock_run_id=dict(type='str'),
        ),
        supports_check_mode=True,
    )
    params = module.params
    root = params['root']
    info = _release.inspect_root(root, _release.home_dirs(), None)
    if not info['safe']:
        module.fail_json(msg=info['reason'])
    if params['backup_keep'] < 0:
        module.fail_json(msg='backup_keep must be 0 or more, got %d' % params['backup_keep'])
    backup_dir = params['backup_dir'] or os.path.join(root, 'backups')
    # What the trees hold says how far an earlier run got.
    resume = _release.resume_plan(root, params['release'], params['swap'], info['switching'])
    swap = resume['swap']
    result = dict(changed=True, release=params['release'] or info['current_release'],
                  previous_release=info['current_release'] if swap else info['previous_release'],
                  migrated=False, pruned_venvs=[], backup=None, pruned_backups=[],
                  recovered=bool(info['switching']))
    if info['switching']:
        result['recovery'] = dict(switching=info['switching'], found=resume['found'], notes=resume['notes'])
    try:
        config = _config.changed_entries(params['config'], module.check_mode)
    except (_config.ConfigError, OSError) as exc:
        module.fail_json(msg=str(exc))
    # What will not go in place is not needed any more (in check mode, nothing goes in place).
    _config.discard([entry for entry in params['config'] if module.check_mode or entry not in config])
    result['config'] = [entry['dest'] for entry in config]
    venv_changed = bool(params['venv_key']) and params['venv_key'] != info['current_venv']
    if not (swap or venv_changed or params['migrate'] or info['switching'] or config):
        result.update(changed=False, strategy=None, downtime=False,
                      strategy_reason='nothing to do: the same release, virtualenv, environment and unit')
        module.exit_json(**result)

    def systemctl(action, unit):
        argv = ['systemctl', action] + ([unit] if unit else [])
        rc, out, err = module.run_command(argv, environ_update={'LC_ALL': 'C'})
        if rc == 5 and action == 'stop' and not loaded:
            return  # no unit yet (its file goes in place in the window): nothing runs to stop
        if rc != 0:
            raise StepFailed('%s failed (rc=%s): %s' % (' '.join(argv), rc, (err or out).strip()))

    # How the release goes live. Everything here only reads.
    rc, out, err = module.run_command(
        ['systemctl', 'show', '-p', 'ActiveState', '-p', 'MainPID', '-p', 'CanReload', '-p', 'LoadState',
         params['service']], environ_update={'LC_ALL': 'C'})
    unit = _release.parse_show(out) if rc == 0 else {}
    # A first deploy's unit is not there before its window puts it in place.
    loaded = unit.get('LoadState') != 'not-found'
    main_pid = int(unit.get('MainPID') or 0) if (unit.get('MainPID') or '0').isdigit() else 0
    extra = params['reload_blockers'] + ['%s changed: the service must restart to read it' % entry['dest']
                                         for entry in config]
    blockers, first = _release.reload_blockers(root, info, unit, main_pid, params['migrate'], params['venv_key'],
                                               params['service'], extra)
    try:
        strategy, reason = _release.choose_strategy(params['strategy'], blockers)
    except ValueError as exc:
        module.fail_json(msg=str(exc), reload_blockers=blockers)
    # A first deploy takes nothing down: nothing served before.
    result.update(strategy=strategy, strategy_reason=reason, downtime=strategy == 'simple' and not first)

    if params['manifest'] is not None and swap and (module.check_mode or module._diff):
        try:
            result['files'], prepared = _release.tree_changes(root, params['manifest'], params['project_subdir'],
                                                              params['keep_paths'])
        except (ArchiveError, OSError) as exc:
            module.fail_json(msg='could not compare the live tree with the new release: %s' % exc)
        result['diff'] = {'prepared': prepared}

    if module.check_mode:
        # A real run stages, builds and marks all of this first: report the plan.
        result['migrated'] = params['migrate']
        module.exit_json(**result)
    if not info['ours']:
        module.fail_json(msg='deploy_root %s has no %s: run the role, not this module alone' % (root, _release.MARKER))
    # Held from here, the first change, until this process ends (the kernel drops it then).
    window = contextlib.ExitStack()
    if params['lock']:
        try:
            window.enter_context(_lock.hold_window(params['lock'], params['lock_run_id']))
        except _lock.LockError as exc:
            module.fail_json(msg=exc.msg, changed=False)
    _release.apply_resume(root, resume)
    _config.remove_stale_asides(params['config'])
    for path in _backup.stale_workdirs(root):
        _release.remove_tree(path)
    staging = os.path.join(root, _release.STAGING)
    if swap and not os.path.isdir(staging):
        module.fail_json(msg='nothing is staged: %s does not exist' % staging)
    if swap and params['release']:
        if resume['found']['staging'] and resume['found']['staging'] != params['release']:
            module.fail_json(msg='nothing was stopped: %s holds release %s, not %s'
                             % (staging, resume['found']['staging'], params['release']))
        try:
            _release.write_release(staging, params['release'])
        except OSError as exc:
            module.fail_json(msg=not_written(os.path.join(staging, _release.RELEASE_FILE), exc))
    venv_key = params['venv_key']
    if venv_key and not _release.venv_ready(root, venv_key):
        module.fail_json(msg='the virtualenv %s is not ready (no %s in it)' % (venv_key, _release.VENV_READY))
    new_venv = (os.path.join(root, _release.VENVS, venv_key) if venv_key
                else os.path.join(root, _release.VENV_LINK))
    new_tree = os.path.join(staging if swap else os.path.join(root, _release.CODE), params['project_subdir'])
    # The new release's environment, for what runs before the stop: the file that goes in place
    # inside the window when it changes (on a first deploy there is no other yet).
    new_env = next((entry['src'] for entry in config if entry['dest'] == params['env_file']), params['env_file'])
    if params['migrate']:
        # Checked before the stop: run_manage fails the module at once on these,
        # which inside the window would skip the restore.
        needed = [os.path.join(new_tree, 'manage.py'), os.path.join(new_venv, 'bin', 'python')]
        if new_env:
            needed.append(new_env)
        missing = [path for path in needed if not os.path.exists(path)]
        if missing:
            module.fail_json(msg='cannot migrate, nothing was stopped: missing %s' % ', '.join(missing))

    vendor = None
    if params['migrate'] and params['backup']:
        found, why = _backup.Database(module, root, params['settings'], new_env, params['run_as'],
                                      params['database']).probe(new_tree, new_venv, restore=params['rollback'])
        if why:
            module.fail_json(msg='cannot back up the database, nothing was stopped: %s. Set backup: false to '
                                 'deploy without a backup' % why, vendor=found.get('vendor'))
        vendor = found['vendor']
    # Inside the window the live environment file is the new one already.
    db = _backup.Database(module, root, params['settings'], params['env_file'], params['run_as'], params['database'])

    live_project = os.path.join(root, _release.CODE, params['project_subdir'])
    live_venv = os.path.join(root, _release.VENV_LINK)
    migrate_out = []

    def migrate():
        # Under the database's advisory lock (PostgreSQL): one migrate at a time, even across runs.
        try:
            lines, result['migrate_lock'] = _migrate.migrate(
                module, live_project, live_venv, settings=params['settings'], env_file=params['env_file'],
                run_as=params['run_as'], alias=params['database'], lock_timeout=params['migrate_lock_timeout'])
        except _migrate.MigrateError as exc:
            migrate_out.extend(exc.lines)
            result['migrate_lock'] = exc.info
            raise
        migrate_out.extend(lines)

    def backup():
        name = _backup.backup_name(result['release'], vendor, datetime.now(timezone.utc))
        result['backup'] = db.backup(live_project, live_venv, vendor, backup_dir, name)

    if params['daemon_reload']:
        try:
            systemctl('daemon-reload', None)
        except StepFailed as exc:
            module.fail_json(msg='nothing was stopped: %s' % exc)

    def ready():
        answered = _release.wait_for_url(params['ready_url'], params['ready_status'], params['ready_timeout'])
        if not answered and params['rollback']:
            raise StepFailed('%s did not answer %s within %s s'
                             % (_secrets.redact_urls(params['ready_url']), params['ready_status'],
                                params['ready_timeout']))
        return answered

    old_workers = _release.child_pids(main_pid) if strategy == 'reload' else []

    def replaced():
        return _release.wait_workers_replaced(main_pid, old_workers, params['ready_timeout'])

    switch = _release.Switch(root, params['release'], venv_key, params['service'], systemctl,
                             migrate if params['migrate'] else None,
                             ready=ready if params['ready_url'] else None, replaced=replaced,
                             backup=backup if vendor else None, config=config, loaded=loaded)
    now = datetime.now(timezone.utc).strftime('%Y-%m-%dT%H:%M:%SZ')
    # What goes live is on disk before anything stops (the staged tree was unpacked by another
    # process, the virtualenv built by one): timed, the cost is in the result.
    result['flush'] = None
    flush = [path for path, new in ((staging, swap), (new_venv, venv_changed)) if new]
    if flush:
        try:
            result['flush'] = _fsio.flush_filesystems(flush)
        except OSError as exc:
            module.fail_json(msg='nothing was stopped: cannot flush %s to disk: %s' % (exc.filename, exc.strerror))
    # Said before anything stops: a run killed from here on is finished by the next one.
    switching = dict(release=params['release'], started=now, strategy=strategy)
    marker = os.path.join(root, _release.MARKER)
    try:
        _release.write_state(root, dict(info['state'], switching=switching))
    except OSError as exc:
        module.fail_json(msg=not_written(marker, exc))
    try:
        result['window'] = switch.run(swap, strategy)
    except (StepFailed, OSError) as exc:
        kind = 'graceful reload' if strategy == 'reload' else 'downtime window'
        fail = dict(failed_step=switch.step, steps=switch.steps, migrate_output=migrate_out, strategy=strategy,
                    migrate_lock=result.get('migrate_lock'),
                    backup=result['backup'], recovered=result['recovered'], restored=[], answered=None)
        if not params['rollback']:
            service = ('as the reload left it' if strategy == 'reload' else 'failed to start' if switch.step == 'start'
                       else 'left stopped')
            left = 'code/ holds release %s, %sservice %s %s' % (
                _release.tree_release(os.path.join(root, _release.CODE)) or params['release'],
                'the schema is as migrate left it, ' if 'migrate' in switch.attempted else '',
                params['service'], service)
            fail['schema_as_before'] = 'migrate' not in switch.attempted
            msg = _release.failure_message(kind, switch.step, exc, params['service'], False,
                                           backup=result['backup'], left=left)
            module.fail_json(msg=_secrets.protect(msg, module.no_log_values), **fail)
        said = {}
        undo_error = None
        try:
            fail['restored'] = switch.undo(lambda: _backup.schema_rollback(
                db, live_project, live_venv, migrate_out, result['backup'], params, said))
        except (StepFailed, OSError) as undo_exc:
            undo_error = undo_exc
        if undo_error is None:
            if params['ready_url'] and loaded:
                fail['answered'] = _release.wait_for_url(params['ready_url'], params['ready_status'],
                                                         params['ready_timeout'])
            try:
                _release.write_state(root, dict((k, v) for k, v in info['state'].items() if k != 'switching'))
            except OSError as state_exc:
                module.warn(state_not_written(marker, state_exc, 'the old release was put back',
                                              'the next run deploys as usual'))
        fail['schema_as_before'] = undo_error is None and not said.get('schema', '').startswith('NOT')
        msg = _release.failure_message(
            kind, switch.step, exc, params['service'], True, fail['restored'], said.get('schema'),
            _release.tree_release(os.path.join(root, _release.CODE)) or info['current_release'],
            fail['answered'], undo_error, result['backup'])
        module.fail_json(msg=_secrets.protect(msg, module.no_log_values), **fail)
    result['steps'] = switch.steps
    result['ready'] = switch.answered
    result['migrated'] = params['migrate']
    if params['migrate']:
        result['migrate_output'] = migrate_out
    state = switch.record(info['state'], now)
    try:
        _release.write_state(root, state)
    except OSError as exc:
        # The new release serves: the deploy succeeded, its record did not.
        module.warn(state_not_written(marker, exc, 'release %s is live' % result['release'],
                                      'the next run finishes the record, restarting the service once '
                                      '(as after a run killed in its window)'))
    # The new release serves: what is left is tidying, and its failure is a warning, not a failed deploy.
    try:
        _config.commit(switch.config_done)
        if params['backup']:
            result['pruned_backups'] = _backup.prune_backups(backup_dir, params['backup_keep'])
        if params['prune']:
            keep = set(filter(None, [(state.get('current') or {}).get('venv'),
                                     (state.get('previous') or {}).get('venv')]))
            for name in _release.stale_venvs(root, keep):
                _release.remove_tree(os.path.join(root, _release.VENVS, name))
                result['pruned_venvs'].append(name)
    except (OSError, RecursionError) as exc:
        module.warn('release %s is live, but tidying up after the window failed: %s (old configuration files, '
                    'backups or virtualenvs may be left; the next run tries again)'
                    % (result['release'], getattr(exc, 'strerror', None) or exc))
    module.exit_json(**result)


if __name__ == '__main__':
    main()
