# -*- coding: utf-8 -*-
# Copyright (c) simpledeploy developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""One run of the module release_switch: plan, checks before the stop, the window, the record.

Private to the simpledeploy.django collection: the interface may change.

GoLive.go() is the whole run, in order:

  plan()         reads only: the deploy root, an earlier run's unfinished window,
                 the configuration files that change, the strategy, the file diff;
                 with nothing to do, or in check mode, the run ends there
  prepare()      the first changes, all before the stop: the window's lock, the
                 trees of a killed run, the staged release marked, every input of
                 the window checked, the database's backup probed
  open_window()  the window (_window.Switch) built, what goes live flushed to disk,
                 the marker saying a window is open
  Switch.run()   stop, swap, venv, config, backup, migrate, start, ready (_window)
  fail()         after a failed step: the rollback (Switch.undo) and the one message
  finish()       the marker's new record, then tidying (old files, backups, virtualenvs)
  hold()         instead of finish(), with hold: the window stays open, what undo needs in the
                 marker; a second run with held confirm (finish's record and tidying) or undo (the
                 rollback of a failed step) ends it (_held.Settle)

The window's steps that need the module (migrate, backup, ready, workers) are
methods here, handed to the Switch.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import threading
from datetime import datetime, timezone

from ansible_collections.simpledeploy.django.plugins.module_utils import (
    _backup, _config, _envfile, _fsio, _hooks, _lock, _messages, _migrate, _proc, _releases, _resume, _root_safety,
    _secrets, _state, _static, _strategy, _swap, _systemd, _treediff, _venvs, _wait, _window, _workers,
)
from ansible_collections.simpledeploy.django.plugins.module_utils._archive import ArchiveError
from ansible_collections.simpledeploy.django.plugins.module_utils._errors import StepError


class GoLive(object):
    """The run of release_switch for MODULE (its params, check mode, run_command, exit and fail).

    Holds, once prepare() took it, the window's lock (_lock.hold_window) for as long as
    this object lives: the caller keeps it until the module exits.
    """

    def __init__(self, module):
        self.module = module
        self.params = module.params
        self.root = module.params['root']
        self.lock = contextlib.ExitStack()
        self.locked = False
        # A killed run's window held open (hold), taken as live by plan(): its record (_resume.held_as_live).
        self.held_found = None
        self.migrate_out = []
        self.result = {}
        # A kept release staged (stage_kept): where its tree came from; whether the window's record was written.
        self.staged_from = None
        self.window_open = False
        # The health check's headers (a token, maybe): kept here, out of the result's invocation.
        self.ready_headers = _wait.take_headers(module, 'ready_headers', 'ready_host')
        # A password in the health URL's userinfo: masked everywhere, the invocation included.
        module.no_log_values.update(_secrets.url_secret_parts(module.params.get('ready_url') or ''))

    def go(self):
        """The whole run (see the module's docstring); returns the result for exit_json."""
        planned = self.plan()
        if self.module.check_mode:
            return self.result
        if self.held_found is not None:
            self._settle_killed_hold()
        if not planned:
            self._open_stale_gate()
            return self.result
        self.mask_app_environment()
        self.prepare()
        switch = self.open_window()
        try:
            self.result['window'] = switch.run(self.swap, self.strategy)
        except (StepError, OSError) as exc:
            self.fail(switch, exc)
        if self.params['hold']:
            self.hold(switch)
        else:
            self.finish(switch)
        return self.result

    def _open_stale_gate(self):
        """Nothing to do, yet the gate is closed (a window that failed with rollback false, then was put right
        by hand): a start held there would wait for ever. Opened, and said."""
        for what, gate in (('start gate', self.params['gate']), ('serve gate', self.params['serve_gate'])):
            if gate and os.path.lexists(gate):
                os.unlink(gate)
                note = 'the %s %s was closed with no window open: opened' % (what, gate)
                recovery = self.result.get('recovery') or dict(switching=None, found=self.resume['found'], notes=[])
                recovery['notes'] = list(recovery['notes']) + [note]
                self.result.update(changed=True, recovered=True, recovery=recovery)

    def mask_app_environment(self):
        """Mask in every output the values of the live and the new environment file that may be secrets.

        A page the app answers, a traceback, a command's error may show them, whether or not a Django
        child (which registers them too) runs in this window.
        """
        params = self.params
        public = _secrets.public_strings(self.module.argument_spec, params)
        paths = [params['env_file']] + [entry['src'] for entry in params['config'] or () if not entry.get('systemd')]
        for path in paths:
            if not path:
                continue
            try:
                env = _envfile.read_env_file(path)
            except (OSError, ValueError):
                continue  # missing or unreadable: a later step that needs it says so
            self.module.no_log_values.update(_secrets.secret_strings(env, public))

    # ---------------------------------------------------------------- plan: reads only

    def plan(self):
        """What this run does; False when there is nothing to do (the result says so). Changes nothing."""
        params = self.params
        self.info = info = _state.inspect_root(self.root, _root_safety.home_dirs(), None)
        if not info['safe']:
            self.module.fail_json(msg=info['reason'])
        if params['backup_keep'] < 0:
            self.module.fail_json(msg='backup_keep must be 0 or more, got %d' % params['backup_keep'])
        if params['keep_releases'] < _releases.MIN_KEEP:
            self.module.fail_json(msg='keep_releases must be %d or more (the live release and the one a failed '
                                      'deploy goes back to), got %d' % (_releases.MIN_KEEP, params['keep_releases']))
        back = params['migrate_back']
        if back is not None and back['after'] == params['migrate']:
            self.module.fail_json(msg='migrate_back with after %s needs migrate %s: the schema goes back %s'
                                  % (back['after'], not back['after'], 'once the release serves, no window migrates'
                                     if back['after'] else 'inside the window, in its step migrate'))
        self.backup_dir = params['backup_dir'] or os.path.join(self.root, 'backups')
        held_note = self._take_held_as_live()
        # What the trees hold says how far an earlier run got.
        self.resume = _resume.resume_plan(self.root, params['release'], params['swap'], info['switching'])
        self.swap = swap = self.resume['swap']
        if params['stage_kept'] and swap and self.resume['found']['staging'] != params['release'] \
                and _releases.locate(self.root, params['release'], info['previous_release']) in (None, _state.CODE):
            self.module.fail_json(msg='release %s is not kept on this host (neither in %s nor in %s/): nothing was '
                                      'changed. release_info lists the releases kept'
                                  % (params['release'], _state.PREVIOUS, _releases.RELEASES))
        self.result = dict(changed=True, release=params['release'] or info['current_release'],
                           previous_release=info['current_release'] if swap else info['previous_release'],
                           migrated=False, pruned_venvs=[], pruned_releases=[], kept_release=None, migrated_back=False,
                           backup=None, pruned_backups=[], recovered=bool(info['switching']))
        if info['switching']:
            self.result['recovery'] = dict(switching=info['switching'], found=self.resume['found'],
                                           notes=self.resume['notes'])
        if held_note:
            self.result['recovered'] = True
            self.result['recovery'] = dict(switching=held_note[0], found=self.resume['found'],
                                           notes=[held_note[1]] + self.resume['notes'])
        self._plan_commands()
        self.config = self._changed_config()
        self.venv_changed = bool(params['venv_key']) and params['venv_key'] != info['current_venv']
        if not (swap or self.venv_changed or params['migrate'] or info['switching'] or self.config):
            self.result.update(changed=False, strategy=None, downtime=False, commands=dict(window=[], after_live=[]),
                               strategy_reason='nothing to do: the same release, virtualenv, environment and unit')
            # A killed run's held window is recorded as live all the same (_settle_killed_hold).
            self.result['changed'] = self.held_found is not None
            return False
        self._choose_strategy()
        self._diff()
        if self.module.check_mode:
            # A real run stages, builds and marks all of this first: report the plan.
            self.result['migrated'] = params['migrate']
        return True

    def _take_held_as_live(self):
        """A window an earlier run held open (hold) and never confirmed or undone (killed between its two
        calls): taken as live, in this run's view (written by _settle_killed_hold). Returns (the record, the
        note) or None. Reads only."""
        info = self.info
        state, note = _resume.held_as_live(self.root, info['state'])
        if note is None:
            return None
        record = info['switching']
        info.update(state=state, switching=state.get('switching') or None,
                    current_venv=(state.get('current') or {}).get('venv'))
        if info['switching'] is None:
            self.held_found = record['held']
        return record, note

    def _settle_killed_hold(self):
        """The held window plan() took as live: its record in the marker, the files it kept aside gone."""
        self._take_lock()
        try:
            _state.write_state(self.root, self.info['state'])
        except OSError as exc:
            self.module.fail_json(msg=_messages.not_written(self.marker, exc))
        _config.commit(self.held_found.get('config_done') or [])
        self.result['changed'] = True

    def _changed_config(self):
        """The configuration entries whose content changes; the others' rendered files are removed."""
        try:
            config = _config.changed_entries(self.params['config'], self.module.check_mode)
        except (_config.ConfigError, OSError) as exc:
            self.module.fail_json(msg=str(exc))
        # What will not go in place is not needed any more (in check mode, nothing goes in place).
        _config.discard([entry for entry in self.params['config'] if self.module.check_mode or entry not in config])
        self.result['config'] = [entry['dest'] for entry in config]
        return config

    def _choose_strategy(self):
        """How the release goes live (_strategy), from what systemd says of the service."""
        params = self.params
        self.unit, self.loaded, self.main_pid = _systemd.show(self.module, params['service'])
        extra = params['reload_blockers'] + ['%s changed: the service must restart to read it' % entry['dest']
                                             for entry in self.config]
        if params['window_commands']:
            extra.append('manage.py commands run inside the window (deploy_hooks_window): the service must be stopped')
        if params['worker_ready_dir'] and params['serve_gate'] and os.path.lexists(params['serve_gate']):
            # Left by a window that did not finish: new workers of a reload would wait there for ever.
            extra.append('the serve gate %s is closed (a window did not finish): the service must restart'
                         % params['serve_gate'])
        blockers, first = _strategy.reload_blockers(self.root, self.info, self.unit, self.main_pid, params['migrate'],
                                                    params['venv_key'], params['service'], extra)
        expand = params['expand']
        try:
            self.strategy, reason = _strategy.choose_strategy(
                params['strategy'], blockers, (expand['possible'], expand['reasons']) if expand else None)
        except ValueError as exc:
            self.module.fail_json(msg=str(exc), reload_blockers=blockers)
        # The window without a stop (Switch._rolled_window): only the migrations keep this release from a graceful
        # reload, with the role's unit and gunicorn.conf.py.
        self.rolled = bool(self.strategy == 'simple' and params['strategy'] == 'auto'
                           and blockers == [_strategy.MIGRATIONS_PENDING] and params['worker_ready_dir']
                           and params['serve_gate'])
        if self.rolled:
            reason += ('; the server keeps running: new workers load the new release while the old ones serve, and '
                       'the window is only the old workers going, the backup and migrate')
        # A first deploy takes nothing down: nothing served before.
        self.result.update(strategy=self.strategy, strategy_reason=reason,
                           downtime=self.strategy == 'simple' and not first)

    def _diff(self):
        """With a manifest, in check or diff mode: the files of the code tree that change (_treediff)."""
        params = self.params
        if params['manifest'] is None or not self.swap or not (self.module.check_mode or self.module._diff):
            return
        try:
            self.result['files'], prepared = _treediff.tree_changes(self.root, params['manifest'],
                                                                    params['project_subdir'], params['keep_paths'])
        except (ArchiveError, OSError) as exc:
            self.module.fail_json(msg='could not compare the live tree with the new release: %s' % exc)
        self.result['diff'] = {'prepared': prepared}

    # ---------------------------------------------------------------- prepare: before the stop

    def prepare(self):
        """The first changes and every check that can fail, all before anything stops."""
        params = self.params
        if not self.info['ours']:
            self.module.fail_json(msg='deploy_root %s has no %s: run the role, not this module alone'
                                  % (self.root, _state.MARKER))
        self._take_lock()
        _resume.apply_resume(self.root, self.resume)
        _config.remove_stale_asides(params['config'])
        for path in _backup.stale_workdirs(self.root):
            _swap.remove_tree(path)
        if params['stage_kept'] and self.swap:
            self._stage_kept()
        self._mark_staging()
        venv_key = params['venv_key']
        if venv_key and not _venvs.venv_ready(self.root, venv_key):
            self.module.fail_json(msg='the virtualenv %s is not ready (no %s in it)' % (venv_key, _state.VENV_READY))
        self.new_venv = (os.path.join(self.root, _state.VENVS, venv_key) if venv_key
                         else os.path.join(self.root, _state.VENV_LINK))
        self.new_tree = os.path.join(self.staging if self.swap else os.path.join(self.root, _state.CODE),
                                     params['project_subdir'])
        # The new release's environment, for what runs before the stop: the file that goes in place
        # inside the window when it changes (on a first deploy there is no other yet).
        self.new_env = next((entry['src'] for entry in self.config if entry['dest'] == params['env_file']),
                            params['env_file'])
        self._check_migrate_inputs()
        if params['window_commands'] or params['after_live_commands']:
            try:
                _hooks.check_inputs(self.new_tree, self.new_venv, self.new_env)
            except _hooks.HookError as exc:
                self.module.fail_json(msg='nothing was stopped: %s' % exc)
        self._probe_backup()
        self._warm_backup()
        if params['daemon_reload']:
            try:
                _systemd.Systemctl(self.module, self.loaded)('daemon-reload', None)
            except StepError as exc:
                self.module.fail_json(msg='nothing was stopped: %s' % exc)
        if self.swap:
            # The swap removes what code.previous/ holds: the release before the live one goes to releases/.
            try:
                self.result['kept_release'] = (_releases.set_aside(self.root, self.info['previous_release'])
                                               or self.result['kept_release'])
            except (OSError, _releases.ReleasesError) as exc:
                self.module.fail_json(msg='nothing was stopped: cannot keep the release in %s: %s' % (
                    os.path.join(self.root, _state.PREVIOUS), getattr(exc, 'strerror', None) or exc))

    def _stage_kept(self):
        """With stage_kept: the release's kept tree becomes staging/, by a rename (code.previous/ when it holds the
        release, else releases/<id>/, code.previous/ going to releases/ first); a staging/ of another release is
        removed. Already staged (a rerun after a failure): nothing to do."""
        params = self.params
        staging = os.path.join(self.root, _state.STAGING)
        if self.resume['found']['staging'] == params['release']:
            return
        try:
            if os.path.lexists(staging):
                # The only tree of a kept release, left there by a rollback killed before its window, goes back to
                # releases/; anything else there (a deploy's unfinished staging) is removed, as a deploy does.
                left = _state.tree_release(staging)
                kept = [entry['release'] for entry in _releases.history(self.info['state'])]
                if not (left in kept and _releases.locate(self.root, left) == _state.STAGING
                        and _releases.keep_staged(self.root, left)):
                    _swap.remove_tree(staging)
            self.staged_from = where = _releases.locate(self.root, params['release'], self.info['previous_release'])
            if where != _state.PREVIOUS:
                self.result['kept_release'] = _releases.set_aside(self.root, self.info['previous_release'])
            os.rename(os.path.join(self.root, where), staging)
        except (OSError, _releases.ReleasesError) as exc:
            self.module.fail_json(msg='nothing was stopped: cannot stage the kept release %s: %s'
                                  % (params['release'], getattr(exc, 'strerror', None) or exc))
        self.resume['found']['staging'] = params['release']
        # Any failure from here until the window opens puts the trees back where they were.
        fail_json = self.module.fail_json

        def unstage_then_fail(**kwargs):
            if not self.window_open:
                self._unstage()
            fail_json(**kwargs)
        self.module.fail_json = unstage_then_fail
        # The live release's own static files beside the older ones (hard links), as a deploy carries them: a page
        # of the newer release still open in a browser finds its assets after the switch.
        record = _static.read_record(staging)
        if record and _static.safe_relative(record.get('static_root')):
            try:
                self.result['static_carried'] = _static.carry_over(
                    os.path.join(self.root, _state.CODE), staging, record['static_root'], record.get('files') or [])
            except (OSError, _static.StaticError) as exc:
                self.module.warn('the live release\'s static files were not linked beside the older ones: %s' % exc)

    def release_lock(self):
        """The deploy lock released at the end of a run that put a release live and saw it answer its health URL
        (release_lock; with no URL, once started): the window's kernel lock let go first. A run that had nothing
        to do keeps it (the caller asks the URL itself then, under the lock). Returns whether it was released; a
        lock this run no longer holds is left, with a warning."""
        params = self.params
        if (not params['release_lock'] or not params['lock'] or not params['lock_run_id'] or params['hold']
                or self.module.check_mode or not self.result.get('changed')
                or params['ready_url'] and not self.result.get('ready')):
            return False
        self.lock.close()
        self.locked = False
        try:
            result, warnings = _lock.apply(params['lock'], 'absent', dict(run_id=params['lock_run_id']))
        except _lock.LockError as exc:
            self.module.warn('the deploy lock %s was not released: %s' % (params['lock'], exc.msg))
            return False
        for warning in warnings:
            self.module.warn(warning)
        return result['action'] == _lock.RELEASE

    def _take_lock(self):
        """The window's lock (with the lock option): held from the first change until this process ends (the
        kernel drops it then)."""
        params = self.params
        if params['lock'] and not self.locked:
            try:
                self.lock.enter_context(_lock.hold_window(params['lock'], params['lock_run_id'], renew=True))
            except _lock.LockError as exc:
                self.module.fail_json(msg=exc.msg, changed=False)
            self.locked = True

    def _mark_staging(self):
        """staging/ is there and holds this release (written into it, or already)."""
        params = self.params
        self.staging = staging = os.path.join(self.root, _state.STAGING)
        if self.swap and not os.path.isdir(staging):
            self.module.fail_json(msg='nothing is staged: %s does not exist' % staging)
        if self.swap and params['release']:
            found = self.resume['found']['staging']
            if found and found != params['release']:
                self.module.fail_json(msg='nothing was stopped: %s holds release %s, not %s'
                                      % (staging, found, params['release']))
            try:
                _state.write_release(staging, params['release'])
            except OSError as exc:
                self.module.fail_json(msg=_messages.not_written(os.path.join(staging, _state.RELEASE_FILE), exc))

    def _check_migrate_inputs(self):
        """Checked before the stop: run_manage fails the module at once on these,
        which inside the window would skip the restore."""
        if not (self.params['migrate'] or self.params['migrate_back']):
            return
        needed = [os.path.join(self.new_tree, 'manage.py'), os.path.join(self.new_venv, 'bin', 'python')]
        if self.new_env:
            needed.append(self.new_env)
        if self.params['migrate_back']:
            # The tree that knows the migrations to undo is live now (code.previous/ once swapped).
            needed += [os.path.join(self.live_project, 'manage.py'), os.path.join(self.migrate_venv, 'bin', 'python')]
        missing = [path for path in needed if not os.path.exists(path)]
        if missing:
            self.module.fail_json(msg='cannot migrate, nothing was stopped: missing %s' % ', '.join(missing))

    def _probe_backup(self):
        """Whether the database can be backed up (with backup and migrate), asked with the new release."""
        params = self.params
        self.vendor = None
        if (params['migrate'] or params['migrate_back']) and params['backup']:
            found, why = self._database(self.new_env).probe(self.new_tree, self.new_venv, restore=params['rollback'])
            if why:
                self.module.fail_json(msg='cannot back up the database, nothing was stopped: %s. Set backup: false '
                                          'to deploy without a backup' % why, vendor=found.get('vendor'))
            self.vendor = found['vendor']
        # Inside the window the live environment file is the new one already.
        self.db = self._database(params['env_file'])

    def _warm_backup(self):
        """A window's PostgreSQL backup: its child started now, from the new release (as the probe), Django loaded
        before the stop, so that the window pays for pg_dump only. A child that cannot start fails the module
        here, nothing stopped. SQLite's is not: its file's path may be relative to the tree, which the swap moves.
        Ended at the module's exit when it was not used."""
        self.warm_backup = self.warm_migrate = None
        if self.vendor != 'postgresql' or self.strategy != 'simple':
            return
        warm = self._database(self.new_env).start_backup(self.new_tree, self.new_venv)
        atexit.register(warm.cancel)
        if not warm.ready:
            try:
                self._database(self.new_env)._run(self.new_tree, self.new_venv, 'backup', warm=warm)
                why = 'its child ended before it was ready'
            except _backup.BackupError as exc:
                why = str(exc)
            self.module.fail_json(msg='cannot back up the database, nothing was stopped: %s. Set backup: false to '
                                      'deploy without a backup' % why, vendor=self.vendor)
        self.warm_backup = warm

    def _database(self, env_file):
        """The project's database (_backup.Database), its settings read with ENV_FILE."""
        params = self.params
        return _backup.Database(self.module, self.root, settings=params['settings'], env_file=env_file,
                                run_as=params['run_as'], alias=params['database'],
                                table_lock_timeout=params['migrate_table_lock_timeout'],
                                retry_budget=params['migrate_retry_budget'])

    # ---------------------------------------------------------------- the window's steps that need the module

    @property
    def live_project(self):
        return os.path.join(self.root, _state.CODE, self.params['project_subdir'])

    @property
    def migrate_tree(self):
        """Where manage.py migrate runs: the live tree inside a window (the new release is in it by then); the
        new release's tree where it is staged for expand, which migrates before the swap."""
        if self.params['migrate_back']:
            # A rollback: the newer release's tree knows the migrations to undo; it is in code.previous/ once
            # swapped (every migrate of a rollback comes after the swap).
            return os.path.join(self.root, _state.PREVIOUS, self.params['project_subdir'])
        return self.new_tree if self.strategy == 'expand' else self.live_project

    @property
    def live_venv(self):
        return os.path.join(self.root, _state.VENV_LINK)

    @property
    def migrate_venv(self):
        """The virtualenv migrate runs with: the live one, or for a rollback the newer release's."""
        back = self.params['migrate_back']
        return os.path.join(self.root, _state.VENVS, back['venv_key']) if back else self.live_venv

    def _migrate_options(self):
        params = self.params
        back = params['migrate_back']
        return dict(settings=params['settings'], env_file=params['env_file'], run_as=params['run_as'],
                    alias=params['database'], lock_timeout=params['migrate_lock_timeout'],
                    table_lock_timeout=params['migrate_table_lock_timeout'],
                    retry_budget=params['migrate_retry_budget'],
                    targets=[(target['app'], target['name']) for target in back['targets']] if back else None)

    def _start_migrate(self):
        """migrate's child, started now in the live tree (the new release is in it): it loads Django and waits for
        the step migrate (ended at the module's exit when it was not used)."""
        self.warm_migrate = _migrate.start(self.module, self.migrate_tree, self.migrate_venv, **self._migrate_options())
        atexit.register(self.warm_migrate.cancel)

    def migrate(self):
        """The step migrate: under the database's advisory lock (PostgreSQL), one migrate at a time, even
        across runs. Its child may have loaded Django during the backup (backup())."""
        warm, self.warm_migrate = self.warm_migrate, None
        try:
            lines, self.result['migrate_lock'] = _migrate.migrate(
                self.module, self.migrate_tree, self.migrate_venv, warm=warm, **self._migrate_options())
        except _migrate.MigrateError as exc:
            self.migrate_out.extend(exc.lines)
            self.result['migrate_lock'] = exc.info
            raise
        self.migrate_out.extend(lines)

    def backup(self):
        """The step backup: the database into backup_dir, named after the release and the time. Inside a window,
        migrate's child is started first and loads Django while the database is dumped (it migrates nothing until
        the step migrate says go; ended at the module's exit when a failed backup leaves it unused)."""
        if self.strategy == 'simple' and self.warm_migrate is None:
            self._start_migrate()
        name = _backup.backup_name(self.result['release'], self.vendor, datetime.now(timezone.utc))
        warm, self.warm_backup = self.warm_backup, None
        self.result['backup'] = self.db.backup(self.live_project, self.live_venv, self.vendor, self.backup_dir, name,
                                               warm=warm)

    def ready(self):
        """The step ready: until the app answers ready_url; a failed step only with rollback."""
        params = self.params
        waited = self._wait_ready()
        if not waited.answered and params['rollback']:
            # The page may hold anything the app printed: masked like every output. Header values
            # (a token, maybe) are never in it: only the Host sent is named.
            raise StepError(_secrets.protect(
                '%s did not answer %s within %s s (last answer: %s); %s'
                % (params['ready_url'], _wait.expected(params['ready_status']), params['ready_timeout'], waited.last,
                   _wait.hint(waited.last, params['ready_status'], params['ready_host'])), self.module.no_log_values))
        return waited.answered

    def _wait_ready(self):
        """Until the app answers ready_url as asked (ready_status, with ready_host and ready_headers): a Waited."""
        params = self.params
        return _wait.wait_for_url(params['ready_url'], params['ready_status'], params['ready_timeout'],
                                  headers=_wait.request_headers(params['ready_host'], self.ready_headers))

    def serving(self):
        """The step serving: until the first worker of the new release has loaded it (_workers.first_ready), or,
        should no worker say so, until the app answers ready_url (asked beside it): the window then ends as it
        did before this step, never after a wait of its own."""
        answered = threading.Event()

        def ask():
            try:
                if self._wait_ready().answered:
                    answered.set()
            except Exception:  # pylint: disable=broad-except
                pass  # the step ready asks again and says what went wrong

        if self.params['ready_url']:
            threading.Thread(target=ask, daemon=True).start()
        return _workers.first_ready(self.params['worker_ready_dir'], self.params['release'],
                                    self.params['ready_timeout'], give_up=answered.is_set)

    def replaced(self):
        """The step workers of a graceful reload: until the old workers are gone and new ones run."""
        return _systemd.wait_workers_replaced(self.main_pid, self.old_workers, self.params['ready_timeout'])

    def roll(self):
        """The step workers of a graceful reload without a gap (worker_ready_dir): new workers of the new release
        ready before the old ones go (_workers.Roll); RV workers says how long each phase took."""
        roll = _workers.Roll(self.main_pid, self.old_workers, self.params['worker_ready_dir'], self.params['release'],
                             timeout=self.params['ready_timeout'])
        try:
            new = roll.run()
        finally:
            self.result['workers'] = dict(old=roll.old, new=roll.new, seconds=roll.seconds, lingering=roll.lingering)
        return new

    def roll_load(self):
        """The step workers of a rolled window (Switch._rolled_window): migrate's child starts loading Django, then
        new workers, one per old one, load the new release and wait at the serve gate; the old ones serve."""
        if self.params['migrate']:
            self._start_migrate()
        self.held = _workers.Roll(self.main_pid, self.old_workers, self.params['worker_ready_dir'],
                                  self.params['release'], timeout=self.params['ready_timeout'], held=True)
        try:
            return self.held.load()
        finally:
            self._note_workers(self.held)

    def roll_retire(self):
        """The step stop of a rolled window: the old workers go, each finishing its request; all of them, or the
        step fails (nothing may write with the old code once migrate begins)."""
        try:
            return self.held.retire(every=True)
        finally:
            self._note_workers(self.held)

    def _note_workers(self, roll):
        self.result['workers'] = dict(old=roll.old, new=roll.new, seconds=roll.seconds, lingering=roll.lingering)

    def _plan_commands(self):
        """The project's commands (RV commands): in check mode what would run, else none yet (each
        added as it ran). Fails, before anything changes, on a command that is none."""
        try:
            planned = dict((when, _hooks.planned(self.params[when + '_commands'])) for when in ('window', 'after_live'))
        except ValueError as exc:
            self.module.fail_json(msg=str(exc))
        self.result['commands'] = planned if self.module.check_mode else dict(window=[], after_live=[])

    def hooks(self):
        """The step hooks: the project's manage.py commands inside the window, in the new tree, after migrate."""
        self._run_commands('window')

    def after_live_hooks(self):
        """The step after_live_hooks: the project's manage.py commands once the new release answers."""
        self._run_commands('after_live')

    def _run_commands(self, when):
        params = self.params
        try:
            self.result['commands'][when] = _hooks.run_commands(
                self.module, self.live_project, self.live_venv, params[when + '_commands'], env_file=params['env_file'],
                settings=params['settings'], run_as=params['run_as'], timeout=params['commands_timeout'])
        except _hooks.HookError as exc:
            self.result['commands'][when] = exc.results
            raise

    # ---------------------------------------------------------------- the window

    def open_window(self):
        """The window, built; what goes live flushed to disk; the marker saying a window is open."""
        params = self.params
        # expand reads them just before its reload (_read_old_workers), after the migration.
        self.old_workers = _proc.child_pids(self.main_pid) if self.strategy == 'reload' else []
        switch = _window.Switch(self.root, params['release'], params['venv_key'], params['service'],
                                _systemd.Systemctl(self.module, self.loaded),
                                self.migrate if params['migrate'] else None,
                                ready=self.ready if params['ready_url'] else None, replaced=self.replaced,
                                backup=self.backup if self.vendor else None, config=self.config, loaded=self.loaded,
                                hooks=self.hooks if params['window_commands'] else None,
                                after_live=self.after_live_hooks if params['after_live_commands'] else None,
                                roll=self.roll if params['worker_ready_dir'] else None, gate=params['gate'],
                                before_reload=self._read_old_workers if self.strategy == 'expand' or self.rolled
                                else None,
                                serving=self.serving if params['worker_ready_dir'] else None,
                                serve_gate=params['serve_gate'] if params['worker_ready_dir'] else None,
                                held_roll=(self.roll_load, self.roll_retire) if self.rolled else None)
        self.now = datetime.now(timezone.utc).strftime('%Y-%m-%dT%H:%M:%SZ')
        # What goes live is on disk before anything stops (the staged tree was unpacked by another
        # process, the virtualenv built by one): timed, the cost is in the result.
        self.result['flush'] = None
        flush = [path for path, new in ((self.staging, self.swap), (self.new_venv, self.venv_changed)) if new]
        if flush:
            try:
                self.result['flush'] = _fsio.flush_filesystems(flush)
            except OSError as exc:
                self.module.fail_json(msg='nothing was stopped: cannot flush %s to disk: %s'
                                      % (exc.filename, exc.strerror))
        # Said before anything stops: a run killed from here on is finished by the next one.
        switching = dict(release=params['release'], started=self.now, strategy=self.strategy)
        if params['stage_kept']:
            # A rollback's window: the next run says how to finish it (roles/deploy/tasks/rollback.yml).
            switching['rollback_from'] = self.info['current_release']
        try:
            _state.write_state(self.root, dict(self.info['state'], switching=switching))
        except OSError as exc:
            self.module.fail_json(msg=_messages.not_written(self.marker, exc))
        self.window_open = True
        return switch

    def _read_old_workers(self):
        """The master's workers as they are now: gunicorn may have replaced some while expand migrated
        (max_requests, its timeout), and a worker missing from the list would count as new."""
        self.old_workers = _proc.child_pids(self.main_pid)

    @property
    def marker(self):
        return os.path.join(self.root, _state.MARKER)

    def _live_release(self):
        return _state.tree_release(os.path.join(self.root, _state.CODE))

    def fail(self, switch, exc):
        """A step of the window failed: roll back (unless rollback is false) and fail with one message."""
        params = self.params
        kind = _messages.kind(self.strategy)
        fail = dict(failed_step=switch.step, steps=switch.steps, migrate_output=self.migrate_out,
                    strategy=self.strategy, migrate_lock=self.result.get('migrate_lock'),
                    backup=self.result['backup'], recovered=self.result['recovered'], restored=[], answered=None,
                    commands=self.result['commands'])
        if 'workers' in self.result:
            fail['workers'] = self.result['workers']
        if not params['rollback']:
            gates = [path for path in (params['gate'], params['serve_gate']) if path and os.path.lexists(path)]
            left = _messages.left_as_is(self.strategy, switch.step, self._live_release() or params['release'],
                                        'migrate' in switch.attempted, params['service'], gates,
                                        held=switch.starting is not None or (
                                            switch.held_roll is not None and 'workers' in switch.attempted))
            fail['schema_as_before'] = 'migrate' not in switch.attempted
            msg = _messages.failure_message(kind, switch.step, exc, params['service'], False,
                                            backup=self.result['backup'], left=left)
            self.module.fail_json(msg=_secrets.protect(msg, self.module.no_log_values), **fail)
        said = {}
        undo_error = None
        first = self._first_deploy()
        try:
            if self.strategy == 'expand':
                fail['restored'] = self.undo_expand(switch, params['expand_migrate_back'], said)
            else:
                fail['restored'] = switch.undo(lambda: _backup.schema_rollback(
                    self.db, self.migrate_tree if params['migrate_back'] else self.live_project, self.migrate_venv,
                    self.migrate_out, self.result['backup'], params, said), first=first)
        except (StepError, OSError) as undo_exc:
            undo_error = undo_exc
        if undo_error is None:
            self._keep_after_undo()
            self._after_rollback(fail, first)
        fail['schema_as_before'] = undo_error is None and _messages.schema_as_before(said.get('schema'))
        msg = _messages.failure_message(
            kind, switch.step, exc, params['service'], True, fail['restored'], said.get('schema'),
            self._live_release() or self.info['current_release'], fail['answered'], undo_error, self.result['backup'],
            first=first)
        self.module.fail_json(msg=_secrets.protect(msg, self.module.no_log_values), **fail)

    def _keep_after_undo(self):
        """The window undone: the release set aside goes back to code.previous/, and a kept release that a rollback
        staged (the undo put it back in staging/) to where it came from."""
        if self.params['stage_kept']:
            self._unstage()
            return
        try:
            _releases.put_back(self.root, self.result['kept_release'])
        except (OSError, _releases.ReleasesError) as exc:
            self.module.warn('the releases kept may not be where they were before this run (%s); release_info '
                             'lists where each one is' % exc)

    def _unstage(self):
        """A rollback that did not go live: its kept tree back from staging/ to where it came from, and the release
        moved out of code.previous/ for it back there (_releases.unstage); a failure only warns."""
        try:
            _releases.unstage(self.root, self.params['release'], self.staged_from, self.result['kept_release'])
        except (OSError, _releases.ReleasesError) as exc:
            self.module.warn('the releases kept may not be where they were before this run (%s); release_info '
                             'lists where each one is' % exc)

    def undo_expand(self, switch, migrate_back, said):
        """The undo of an expand: the old code back and restarted, on the schema as migrated, which the old release
        runs with. MIGRATE_BACK: the migrations applied are then unapplied, with the new release's tree (staged
        again), the old release serving. The backup is never restored: writes went on since it was taken."""
        restored = switch.undo(None)
        if 'reload' not in switch.done:
            # It failed before the swap: the old release served throughout, its service untouched.
            restored.append('service untouched')
        if 'migrate' not in switch.attempted:
            return restored
        if not any(line.rstrip().endswith('... OK') for line in self.migrate_out):
            # Atomic migrations that failed left nothing applied (a lock timeout, say).
            said['schema'] = 'unchanged (no migration was applied)'
            return restored
        if not migrate_back:
            said['schema'] = _messages.EXPANDED
            return restored
        return restored + _backup.schema_rollback(self.db, self.migrate_tree, self.live_venv, self.migrate_out, None,
                                                  self.params, said, restore=False)

    def _first_deploy(self):
        """Whether no release served before this run: none to start again after a failure. A killed first
        deploy's window, finished by this run, left its own release in code/ and none aside."""
        info = self.info
        switching = info['switching'] or {}
        return not info['current_release'] or (
            info['current_release'] == switching.get('release') and not info['previous_release'])

    def _after_rollback(self, fail, first=False):
        """The old release is back: whether it answers (FIRST: none was, nothing is asked), and the marker
        without the open window."""
        params = self.params
        if params['ready_url'] and self.loaded and not first:
            fail['answered'] = self._wait_ready().answered
        try:
            _state.write_state(self.root, dict((k, v) for k, v in self.info['state'].items() if k != 'switching'))
        except OSError as state_exc:
            self.module.warn(_messages.state_not_written(self.marker, state_exc, 'the old release was put back',
                                                         'the next run deploys as usual'))

    # ---------------------------------------------------------------- after a good window

    def hold(self, switch):
        """With hold, instead of finish(): the new release serves, the window stays open for the caller's
        after-live task file. What undo needs goes into the marker's switching record (held); a second run
        with held confirm or undo ends the window (_held.Settle). A run killed before that is taken as live
        by the next one (_resume.held_as_live)."""
        params = self.params
        self.result.update(steps=switch.steps, ready=switch.answered, migrated=params['migrate'], held=True)
        if params['migrate']:
            self.result['migrate_output'] = self.migrate_out
        held = dict(switch.undo_state(), strategy=self.strategy, first=self._first_deploy(),
                    previous_release=self.result['previous_release'], migrate_output=self.migrate_out,
                    backup=self.result['backup'], backup_asked=params['backup'],
                    applied_leaves=params['applied_leaves'], reversible=params['reversible'], leaves=params['leaves'],
                    lock_run_id=params['lock_run_id'], expand_migrate_back=params['expand_migrate_back'])
        switching = dict(release=params['release'], started=self.now, strategy=self.strategy, held=held)
        try:
            _state.write_state(self.root, dict(self.info['state'], switching=switching))
        except OSError as exc:
            # Without its record the window cannot be undone later: undone now, as after a failed step.
            switch.step = 'hold'
            self.fail(switch, OSError(exc.errno, 'cannot record the window held open: %s' % exc.strerror,
                                      exc.filename))

    def finish(self, switch):
        """The new release serves: its record in the marker, then tidying (a failure there only warns)."""
        params = self.params
        self.result['steps'] = switch.steps
        self.result['ready'] = switch.answered
        self.result['migrated'] = params['migrate']
        if params['migrate']:
            self.result['migrate_output'] = self.migrate_out
        self._commit(switch)
        if params['migrate_back'] and params['migrate_back']['after']:
            self._migrate_back_after()

    def _migrate_back_after(self):
        """A rollback whose release runs on the schema as it is: it serves, recorded as live; the schema now goes
        back with the newer release's tree and virtualenv (code.previous/), after a backup. A failure leaves the
        release live on the schema as migrate left it, which it runs on, and says so."""
        params = self.params
        try:
            if self.vendor:
                self.backup()
            self.migrate()
        except (StepError, OSError) as exc:
            self.result['migrate_output'] = self.migrate_out
            back = params['migrate_back']
            msg = ('release %s is live and serves, but taking the schema back after the switch failed: %s. The schema '
                   'is as migrate left it, which this release runs on (the migrations to undo are backward compatible '
                   'for it). To finish, run manage.py migrate %s in %s as %s, with the environment of %s and the '
                   'virtualenv %s (that code knows those migrations)%s'
                   % (params['release'], exc, '; '.join('%s %s' % (t['app'], t['name']) for t in back['targets']),
                      self.migrate_tree, params['run_as'] or 'the app user', params['env_file'], self.migrate_venv,
                      '; the backup taken just before is %s' % self.result['backup'] if self.result['backup'] else ''))
            self.module.fail_json(msg=_secrets.protect(msg, self.module.no_log_values), **self.result)
        self.result['migrated_back'] = True
        self.result['migrate_output'] = self.migrate_out

    def _commit(self, switch):
        """The marker's record of the release now live, then tidying (a failure there only warns)."""
        state = _releases.remember(switch.record(self.info['state'], self.now), switch.release,
                                   self.params.get('leaves'), self.params['keep_releases'])
        try:
            _state.write_state(self.root, state)
        except OSError as exc:
            # The new release serves: the deploy succeeded, its record did not.
            self.module.warn(_messages.state_not_written(
                self.marker, exc, 'release %s is live' % self.result['release'],
                'the next run finishes the record, restarting the service once (as after a run killed in its window)'))
        try:
            self._tidy(switch, state)
        except (OSError, RecursionError) as exc:
            self.module.warn('release %s is live, but tidying up after the window failed: %s (old configuration '
                             'files, backups or virtualenvs may be left; the next run tries again)'
                             % (self.result['release'], getattr(exc, 'strerror', None) or exc))

    def _tidy(self, switch, state):
        """The configuration files kept aside, backups beyond backup_keep, virtualenvs no kept release uses."""
        params = self.params
        _config.commit(switch.config_done)
        if params['backup']:
            self.result['pruned_backups'] = _backup.prune_backups(self.backup_dir, params['backup_keep'])
        if params['prune']:
            self.result['pruned_releases'] = _releases.prune(self.root, state)
            for name in _venvs.stale_venvs(self.root, _releases.kept_venvs(state)):
                _swap.remove_tree(os.path.join(self.root, _state.VENVS, name))
                self.result['pruned_venvs'].append(name)
