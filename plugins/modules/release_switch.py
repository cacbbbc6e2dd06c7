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
        site is down for that window. With V(auto), O(worker_ready_dir) and O(serve_gate), when only the
        pending migrations keep a graceful reload from applying the deploy, the server is not stopped; the trees
        are swapped under it, new workers load the new release and wait at the serve gate while the old ones
        serve (step V(workers)), then the window is the old workers going (step V(stop)), the backup, C(migrate)
        and the project's commands; the serve gate opens and the new workers answer the connections held in the
        socket. RV(strategy_reason) says so ("the server keeps running").
      - V(reload) swaps the code tree under the running server (one atomic rename where the kernel
        supports it) and has it reload gracefully (C(systemctl reload), gunicorn's C(HUP)), so the
        server keeps its socket, new workers load the new code, old ones finish their requests;
        no request fails. Refused, before anything changes, when a reload cannot apply the deploy
        (see RV(strategy_reason)), when migrations are pending for example.
      - V(expand) applies the pending migrations while the running release serves (after the backup, under
        the same locks), then goes live as V(reload) does, with no downtime. Only when O(expand) says every pending
        migration can run under the old release and nothing but the migrations blocks the reload; refused
        otherwise, before anything changes. The backup is never restored automatically (writes went on), so a
        failure after the migration puts the old code back on the migrated schema, and migrates back only with
        O(expand_migrate_back).
      - V(auto) picks V(reload) when nothing blocks it, V(expand) when only migrations block it and O(expand)
        allows it, and V(simple) otherwise, and says why in RV(strategy_reason).
      - A graceful reload cannot apply migrations, a new virtualenv, a first deploy, or a service
        that is not running or has no C(ExecReload); the caller adds its own reasons with
        O(reload_blockers).
    type: str
    choices: [auto, simple, reload, expand]
    default: simple
  expand:
    description:
      - Whether the pending migrations can run while the old release serves, and why not, as
        the RV(simpledeploy.django.migration_status#module:expand) of M(simpledeploy.django.migration_status).
        Without it, O(strategy) never picks V(expand).
    type: dict
    suboptions:
      possible:
        description: Whether they can.
        type: bool
        required: true
      reasons:
        description: Why not, one entry per operation.
        type: list
        elements: str
        default: []
  expand_migrate_back:
    description:
      - When a step after an V(expand) migration fails, migrate the schema back too (with the new release's
        migration files, while the old release serves), not only the code. Never a restore of the backup.
    type: bool
    default: false
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
      - Redirects that stay on the host asked (a relative C(Location), or the URL's scheme and host:port,
        or the O(ready_host)) are followed, at most 5; one that leaves it (C(SECURE_SSL_REDIRECT)'s 301 to
        C(https://...)) is the last answer, not a success.
      - The failure's message shows the last answer (the status, where a redirect pointed, the start
        of the page's text, or why nothing answered) and what to set; the values of the environment
        files that may be secrets are masked in it, and the values of O(ready_headers) are never in it.
    type: str
  ready_status:
    description:
      - HTTP status that means the app is back. V(200), the default, accepts any 2xx status in the
        end (after the redirects followed); any other value is required exactly (a 3xx one is the
        redirect itself, not followed).
    type: int
    default: 200
  ready_host:
    description:
      - The C(Host) header of the requests to O(ready_url), a host the project's C(ALLOWED_HOSTS) lists
        (Django answers 400 to another). Not given, the URL's own host.
    type: str
  ready_headers:
    description:
      - More headers of the requests to O(ready_url), for example the one C(SECURE_PROXY_SSL_HEADER)
        names (C(X-Forwarded-Proto) V(https)), as the proxy in front of the app sends it; a C(Host) here
        wins over O(ready_host).
      - The values may be secrets (a token) and are never shown, in the result's invocation included;
        those that look like secrets (see the role's C(deploy_env)) are masked anywhere in the result.
    type: dict
    default: {}
  ready_timeout:
    description: Seconds to wait for O(ready_url).
    type: float
    default: 30
  daemon_reload:
    description: Make systemd read changed unit files before the stop (outside the window).
    type: bool
    default: false
  prune:
    description:
      - After a good window, remove the releases kept beyond O(keep_releases) (their trees under C(releases/))
        and the virtualenvs no kept release uses.
    type: bool
    default: true
  keep_releases:
    description:
      - How many releases the host keeps, the live one included, at least 2 (the live release and the one a
        failed deploy goes back to). The live tree is C(code/), the one before it C(code.previous/), older ones
        C(releases/<id>/), each with its static files; their virtualenvs are kept with them.
      - Before a swap, the tree in C(code.previous/) moves to C(releases/<id>/) (a rename, before the stop).
        A deploy root laid out before this option existed carries on from its C(code/) and C(code.previous/).
    type: int
    default: 5
  stage_kept:
    description:
      - Go live with a release kept on the host (a rollback) instead of one staged by the role. Before anything
        stops, its tree is renamed from C(code.previous/), or from C(releases/<id>/) (C(code.previous/) then going
        to C(releases/)), to C(staging/); the window is then a deploy's. When the window is undone, the tree goes
        back to C(releases/<id>/).
      - A release not kept on the host fails the module before any change.
    type: bool
    default: false
  migrate_back:
    description:
      - For a rollback (O(stage_kept)), the schema taken back with the release that knows the migrations to undo
        (the live one when the module starts, in C(code.previous/) once swapped) and its virtualenv.
      - Its step C(migrate) runs C(manage.py migrate APP NAME) for each target, in order, under the migrate lock.
    type: dict
    suboptions:
      targets:
        description: Where each app goes back to; V(zero) unapplies every migration of the app.
        type: list
        elements: dict
        required: true
        suboptions:
          app:
            description: The app label.
            type: str
            required: true
          name:
            description: The migration to go back to, or V(zero).
            type: str
            required: true
      venv_key:
        description: The virtualenv key of the release that knows the migrations (the live one).
        type: str
        required: true
      after:
        description:
          - V(false) (with O(migrate) true), inside the window, before the older release serves. With O(backup)
            and O(reversible) false, a failure restores the backup taken in the window.
          - V(true) (with O(migrate) false), once the older release serves and is recorded as live, after a backup;
            for migrations the older code runs with (backward compatible for it), so no window is needed. A
            failure leaves the release live and says so.
        type: bool
        default: false
  leaves:
    description:
      - The last migration of each app the new release's code knows
        (RV(simpledeploy.django.migration_status#module:known_leaves)), recorded with the release in the marker
        file (what a rollback to it migrates the schema back to).
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
  migrate_table_lock_timeout:
    description:
      - With a PostgreSQL database, every statement of C(migrate) (and of a migration back) runs with this
        C(lock_timeout), in seconds, on every connection it opens, since an C(ALTER TABLE) that waits behind a long
        transaction would otherwise hold every query of the site behind it (while it waits they wait behind it,
        for at most this long per try). V(0) sets none. C(CREATE INDEX CONCURRENTLY) runs without it.
      - A C(migrate) that hits it is run again after a backoff (0.5 s, doubling, at most 8 s), after dropping an
        index that a failed C(CREATE INDEX CONCURRENTLY) of the plan left invalid, until O(migrate_retry_budget)
        is spent; then the step C(migrate) fails naming the sessions that held the tables, their query and age.
      - C(statement_timeout) is left alone, so an index build may take as long as it needs.
    type: float
    default: 2
  migrate_retry_budget:
    description:
      - Seconds C(migrate) keeps trying after a lock timeout (see O(migrate_table_lock_timeout)). Inside a downtime
        window this bounds how much longer the site stays down; with V(expand) the old release serves meanwhile.
    type: float
    default: 30
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
  release_lock:
    description:
      - With O(lock) and O(lock_run_id), release that deploy lock at the end of a run that put the release live
        and saw it answer O(ready_url) (what M(simpledeploy.django.deploy_lock) does with
        O(simpledeploy.django.deploy_lock#module:state=absent)), after the window's kernel lock is let go;
        RV(lock_released) says whether it was. Not with O(hold), nor in check mode, nor when there was nothing
        to do; a failed run leaves the lock to the caller's own release.
    type: bool
    default: false
  window_commands:
    description:
      - The project's own C(manage.py) commands run inside the window, after C(migrate) and before the start, in the
        new tree with the new virtualenv, as O(run_as), with the variables of O(env_file) (read by the module, passed
        in the command's environment). Each is a string split like a shell line (C(shlex)) or a list of arguments,
        without C(manage.py).
      - They cost downtime, so they rule out V(reload). A failure (or a command stopped at O(commands_timeout)) is a
        failed step C(hooks), undone like a failed C(migrate); what a command wrote is not undone, except by the
        schema's rollback.
    type: list
    elements: raw
    default: []
  after_live_commands:
    description:
      - The project's own C(manage.py) commands run once the new release answers O(ready_url) (or once it started,
        without it), as O(window_commands) are, before the run records the release as live.
      - A failure is a failed step C(after_live_hooks), rolled back as when O(ready_url) does not answer (with
        O(rollback)); what a command wrote is not undone, except by the schema's rollback. Not run when the app did
        not answer (O(rollback) false).
    type: list
    elements: raw
    default: []
  commands_timeout:
    description: Seconds each of O(window_commands) and O(after_live_commands) may run before it is stopped; V(0) for no limit.
    type: float
    default: 600
  hold:
    description:
      - Once the new release answers (and O(after_live_commands) ran), keep the window open instead of recording the
        release as live and tidying, so that the caller can run steps of its own (the role's
        C(deploy_hooks_after_live_tasks)) and then confirm or undo the window with O(held). What the undo needs (the
        steps done, the configuration files kept aside, what C(migrate) applied, the backup) is kept in the marker
        file's C(switching) record meanwhile; RV(held) is true.
      - The window's kernel lock (O(lock)) ends with this run; the role's deploy lock, held by the run for the whole
        deploy, keeps other runs out until the second call. A run killed before the second call leaves the release
        live; the next run of the module takes it as live (it answered its health check), records it and goes on,
        RV(recovered) saying so.
      - Without a change to go live (nothing to do), nothing is held. Check mode changes nothing.
    type: bool
    default: false
  held:
    description:
      - End the window a run with O(hold) left open (give the same O(root), O(release), O(service), O(env_file),
        O(settings), O(run_as), O(ready_url) and O(lock)).
      - V(confirm) records the release as live and tidies, as a window that went well does.
      - V(undo) rolls the window back as after a failed health check (the schema back to O(applied_leaves) or
        restored from the backup, the old configuration files, code tree and virtualenv, the old release started and
        asked whether it answers O(ready_url)); the module succeeds when the undo does, RV(restored) and its message
        saying what was restored, and fails only when the undo fails.
      - Fails, changing nothing, when no window is held open, or one of another release or run.
    type: str
    choices: [confirm, undo]
  gate:
    description:
      - A file whose presence holds every start of the service (the role's unit runs C(simpledeploy_gate.py) as its
        C(ExecStartPre), which waits while the file exists). With socket activation a connection that arrives while
        the service is stopped starts it at once; the gate keeps any release's code from starting before the window
        ends.
      - Put in place (root's) before the window's C(stop) and removed just before its C(start); the undo of a failed
        window, or O(held=undo), closes it again until the old release starts. A run killed inside its window leaves
        it closed, so nothing starts on a half-switched release; the next run opens it (also when it finds nothing
        left to do).
    type: path
  worker_ready_dir:
    description:
      - The runtime directory (C($RUNTIME_DIRECTORY)) of a gunicorn unit that runs the deploy role's
        C(gunicorn.conf.py), where each worker that has loaded the app writes a file named after its PID holding the
        release it loaded (under C(workers/)).
      - When given, a graceful reload (V(reload)) rolls the workers instead of sending C(SIGHUP) - one C(SIGTTIN) per
        worker to the master, then, once every new worker has said it loaded O(release), as many C(SIGTTOU), each of
        which stops the oldest worker once it has finished its request - so that old workers serve until new ones
        can, on the same listening socket. RV(workers) says how long each phase took.
      - Without it, C(systemctl reload) (C(SIGHUP)); gunicorn then stops its old workers before the new ones have
        loaded the app, and requests wait for that.
      - With a downtime window, the first of those files (the directory is emptied at every stop) ends the window;
        see RV(window).
    type: path
  serve_gate:
    description:
      - A file whose presence keeps the workers of a unit that runs the deploy role's C(gunicorn.conf.py) from taking
        connections once they have loaded the app (its C(post_worker_init) waits while the file exists; the unit
        names it in C(SIMPLEDEPLOY_SERVE_GATE)). Used only with O(worker_ready_dir).
      - When given, a downtime window starts the service right after the swap (and the new configuration), beside
        the backup, C(migrate) and the project's commands, instead of after them; the workers load the new release
        meanwhile and take the connections held in the socket once the serve gate goes, after those steps. The
        window then ends about a worker's first turn after C(migrate), not a server's start-up after it. An app that
        reads the database while it is imported (not in a request) would read it before C(migrate), so leave this
        option out for such an app.
      - Put in place with O(gate), removed once the steps before the start are done; the undo of a failed window
        stops the new release (it has served nothing) before it puts anything back, and opens the gate before the
        old release starts. A run killed inside the window leaves it closed; the next run opens it.
    type: path
attributes:
  check_mode:
    support: full
    details:
      - Reports what the window would do (RV(strategy), RV(downtime), RV(migrated), RV(files)) and
        changes nothing.
  diff_mode:
    support: full
    details: With O(manifest), lists the files of the code tree that are added, changed or removed.
  platform:
    details: Needs systemd and C(runuser) (util-linux); C(pg_dump) and C(pg_restore) for a PostgreSQL backup.
extends_documentation_fragment:
  - simpledeploy.django._attributes
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
    - The strategy used (or, in check mode, that would be used), V(simple), V(reload) or V(expand); null when
      there was nothing to do (the task reports no change).
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
    - Seconds from the stop command (in a window for migrations alone, which keeps the server, from the moment
      the old workers are told to go) until a worker of the new release had loaded it, as it says in
      O(worker_ready_dir). Without O(worker_ready_dir), or when the app answers O(ready_url) (asked beside it) before
      any worker says so, until it answered (without O(ready_url), until C(systemctl start) returned). V(0) for a graceful reload,
      V(expand) included.
    - O(ready_url) is asked after the window then. Its request waits in the socket's backlog behind every
      connection held through the window, so ending the window with it overstated the downtime by the time those
      took.
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
    - Seconds spent in each step, V(stop), V(swap), V(venv), V(migrate), V(start), V(serving) (with
      O(worker_ready_dir)), V(ready) for V(simple); V(swap), V(reload), V(workers) (until the old workers are gone), V(ready) for
      V(reload); V(backup), V(migrate) (while the old release serves), then those of V(reload) for V(expand).
    - In a window for migrations alone (see O(strategy)), V(swap), V(workers) (new workers loaded, held, before
      the window), V(stop) (until the old workers were gone), V(backup), V(migrate), V(serving), V(ready).
    - With O(serve_gate), V(start) is the start's own time, which ran beside V(backup), V(migrate) and V(hooks),
      so the steps then add up to more than RV(window).
  returned: changed and not check mode
  type: dict
  sample: {"stop": 0.21, "swap": 0.001, "venv": 0.0, "migrate": 0.48, "start": 0.12, "serving": 0.41, "ready": 0.08}
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
lock_released:
  description: Whether this run released the deploy lock O(lock) (O(release_lock)).
  returned: success
  type: bool
  sample: true
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
      spent waiting for it; V(retries), one entry per lock timeout it hit (see O(migrate_table_lock_timeout)),
      with V(after) (seconds since its first try), V(blockers) (the sessions that held a lock on the plan's
      tables, V(pid), V(table), V(state), V(seconds) since their transaction began and the start of their
      V(query)) and V(dropped) (invalid indexes dropped).
  returned: when migrate ran
  type: dict
  sample: {"vendor": "postgresql", "lock": "postgresql advisory lock 5210961937245436370", "waited": 0.004,
           "retries": []}
static_carried:
  description:
    - With O(stage_kept), how many static files of the live release were linked into the kept release's tree beside
      its own (hard links, as a deploy does), so that the newer release's asset URLs still answer after the switch.
  returned: when O(stage_kept) staged a tree with static files
  type: int
  sample: 12
migrated_back:
  description: Whether the schema went back after the switch (O(migrate_back) with C(after)).
  returned: always
  type: bool
  sample: false
kept_release:
  description: The release moved from C(code.previous/) to C(releases/<id>/) before the swap, or null.
  returned: always
  type: str
  sample: 0c4b2a1d9e8f7a65
pruned_releases:
  description: Releases whose trees were removed from C(releases/) after the window, beyond O(keep_releases).
  returned: always
  type: list
  elements: str
  sample: ["7e6d5c4b3a291807"]
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
commands:
  description:
    - The project's commands (O(window_commands), O(after_live_commands)) run, each with its return code and the
      seconds it took; in check mode those that would run (C(rc) and C(seconds) null). On a failure, those run so far.
  returned: always
  type: dict
  sample: {"window": [{"command": "manage.py createcachetable", "rc": 0, "seconds": 0.41}], "after_live": []}
failed_step:
  description: The step that failed, V(backup), V(migrate), V(hooks), V(start), V(ready), V(after_live_hooks), V(reload), V(workers), ...
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
workers:
  description: With O(worker_ready_dir), the graceful reload's roll of the workers, or that of a window for
    migrations alone (see O(strategy)).
  returned: when workers were rolled (also when it failed)
  type: dict
  contains:
    old:
      description: The PIDs of the workers before the roll.
      type: list
      elements: int
    new:
      description: The PIDs of the workers started for the new release.
      type: list
      elements: int
    seconds:
      description: >-
        How long each phase took - C(spawn) (a new worker per old one), C(ready) (until each had loaded the release),
        C(retire) (until the old ones had finished).
      type: dict
    lingering:
      description: >-
        Old workers still finishing a request O(ready_timeout) seconds after they were told to go. The release is
        live all the same; each ends with its request, at the latest when gunicorn's worker timeout (C(--timeout))
        kills it. In a window for migrations alone such a worker fails the step V(stop) instead (nothing is
        migrated while it can write).
      type: list
      elements: int
  sample: {"old": [812, 813], "new": [1502, 1504], "seconds": {"spawn": 0.05, "ready": 1.21, "retire": 0.08},
           "lingering": []}
held:
  description: Whether the window is held open (O(hold)), waiting for a run with O(held).
  returned: with O(hold) (when something went live) or O(held)
  type: bool
  sample: true
settled:
  description: With O(held), what was done, V(confirm) or V(undo).
  returned: with O(held)
  type: str
  sample: undo
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

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.simpledeploy.django.plugins.module_utils import _golive, _held, _hooks, _migrate, _strategy


def _migrations(**extra):
    """A list of migrations, each ``{app, name}`` (applied_leaves, leaves, migrate_back's targets)."""
    return dict(type='list', elements='dict', options=dict(
        app=dict(type='str', required=True), name=dict(type='str', required=True)), **extra)


def argument_spec():
    """The options, as DOCUMENTATION describes them."""
    return dict(
        root=dict(type='path', required=True),
        release=dict(type='str'),
        swap=dict(type='bool', default=True),
        venv_key=dict(type='str', no_log=False),
        service=dict(type='str', required=True),
        strategy=dict(type='str', default='simple', choices=list(_strategy.STRATEGIES)),
        reload_blockers=dict(type='list', elements='str', default=[]),
        expand=dict(type='dict', options=dict(possible=dict(type='bool', required=True),
                                              reasons=dict(type='list', elements='str', default=[]))),
        expand_migrate_back=dict(type='bool', default=False),
        migrate=dict(type='bool', default=False),
        project_subdir=dict(type='str', default=''),
        settings=dict(type='str'),
        env_file=dict(type='path'),
        run_as=dict(type='str'),
        ready_url=dict(type='str'),
        ready_status=dict(type='int', default=200),
        ready_timeout=dict(type='float', default=30),
        ready_host=dict(type='str'),
        ready_headers=dict(type='dict', default={}, no_log=True),
        daemon_reload=dict(type='bool', default=False),
        config=dict(type='list', elements='dict', default=[], options=dict(
            dest=dict(type='path', required=True), src=dict(type='path', required=True),
            systemd=dict(type='bool', default=False))),
        prune=dict(type='bool', default=True),
        keep_releases=dict(type='int', default=5),
        stage_kept=dict(type='bool', default=False),
        migrate_back=dict(type='dict', options=dict(
            targets=_migrations(required=True),
            venv_key=dict(type='str', required=True, no_log=False),
            after=dict(type='bool', default=False))),
        leaves=_migrations(),
        manifest=dict(type='dict'),
        keep_paths=dict(type='list', elements='str', default=[], no_log=False),
        database=dict(type='str', default='default'),
        backup=dict(type='bool', default=False),
        backup_dir=dict(type='path'),
        backup_keep=dict(type='int', default=5),
        rollback=dict(type='bool', default=True),
        applied_leaves=_migrations(),
        reversible=dict(type='bool'),
        migrate_lock_timeout=dict(type='float', default=_migrate.DEFAULT_LOCK_TIMEOUT),
        migrate_table_lock_timeout=dict(type='float', default=_migrate.DEFAULT_TABLE_LOCK_TIMEOUT),
        migrate_retry_budget=dict(type='float', default=_migrate.DEFAULT_RETRY_BUDGET),
        lock=dict(type='path'),
        lock_run_id=dict(type='str'),
        release_lock=dict(type='bool', default=False),
        window_commands=dict(type='list', elements='raw', default=[]),
        after_live_commands=dict(type='list', elements='raw', default=[]),
        commands_timeout=dict(type='float', default=_hooks.DEFAULT_TIMEOUT),
        hold=dict(type='bool', default=False),
        held=dict(type='str', choices=['confirm', 'undo']),
        worker_ready_dir=dict(type='path'),
        gate=dict(type='path'),
        serve_gate=dict(type='path'),
    )


def main():
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True)
    # The run: plan, checks before the stop, the window (_window.Switch.run: stop, swap, migrate,
    # start), the record. It holds the window's lock until this process exits, after exit_json.
    if module.params['held']:
        module.exit_json(**_held.Settle(module).go())
    run = _golive.GoLive(module)
    result = run.go()
    result['lock_released'] = run.release_lock()
    module.exit_json(**result)


if __name__ == '__main__':
    main()
