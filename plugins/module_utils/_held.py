# -*- coding: utf-8 -*-
# Copyright (c) simpledeploy developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The second run of release_switch for a window held open (options hold, then held): confirm or undo.

Private to the simpledeploy.django collection: the interface may change.

A run with hold (GoLive.hold) ends with the new release serving and its window
open: the marker's switching record holds what undo needs (held). The caller runs
its own steps (the role: the after-live task file), then runs the module again
with held:

  confirm   what a window that went well does last (GoLive.finish): the marker's
            record of the new release, then tidying
  undo      what a failed step does (GoLive.fail): schema, configuration, code,
            virtualenv back, the old release started and asked whether it answers;
            the module succeeds and its message says what was restored (it fails
            only when the undo does)
"""

from __future__ import annotations

import os
from datetime import datetime, timezone

from ansible_collections.simpledeploy.django.plugins.module_utils import (
    _backup, _messages, _root_safety, _secrets, _state, _systemd, _window,
)
from ansible_collections.simpledeploy.django.plugins.module_utils._errors import StepError
from ansible_collections.simpledeploy.django.plugins.module_utils._golive import GoLive

# The step named in the message of an undo.
STEP = 'after_live_tasks'


class Settle(GoLive):
    """The run of release_switch with held (confirm or undo) for MODULE."""

    def go(self):
        params = self.params
        held = self._held_record()
        self.strategy = held.get('strategy')
        self.loaded = held.get('loaded', True)
        self.backup_dir = params['backup_dir'] or os.path.join(self.root, 'backups')
        # The options of the run that held the window decide its undo and its tidying.
        self.params = dict(params, backup=bool(held.get('backup_asked')), applied_leaves=held.get('applied_leaves'),
                           reversible=held.get('reversible'), leaves=held.get('leaves'))
        self.result = dict(changed=True, held=False, settled=params['held'], release=held.get('release'),
                           previous_release=held.get('previous_release'), backup=held.get('backup'), restored=[],
                           pruned_venvs=[], pruned_releases=[], kept_release=None, migrated_back=False,
                           pruned_backups=[])
        if self.module.check_mode:
            return self.result
        self.mask_app_environment()
        self._take_lock()
        switch = _window.Switch(self.root, held.get('release'), held.get('venv_key'), params['service'],
                                _systemd.Systemctl(self.module, self.loaded), loaded=self.loaded, gate=params['gate'],
                                serve_gate=params['serve_gate'])
        switch.restore_undo_state(held)
        # Where an expand's migrations are, once its undo has staged the new release again.
        self.new_tree = os.path.join(self.root, _state.STAGING if 'swap' in switch.done else _state.CODE,
                                     params['project_subdir'])
        if params['held'] == 'confirm':
            self.now = datetime.now(timezone.utc).strftime('%Y-%m-%dT%H:%M:%SZ')
            self._commit(switch)
            return self.result
        return self._undo(switch, held)

    def _held_record(self):
        """The marker's record of the window held open; fails, changing nothing, when there is none to settle."""
        params = self.params
        self.info = info = _state.inspect_root(self.root, _root_safety.home_dirs(), None)
        if not info['safe']:
            self.module.fail_json(msg=info['reason'])
        held = (info['switching'] or {}).get('held')
        if not isinstance(held, dict):
            self.module.fail_json(msg='no window is held open in %s (no run with hold left one): nothing to %s, '
                                      'nothing was changed' % (self.marker, params['held']), changed=False)
        if params['release'] and held.get('release') != params['release']:
            self.module.fail_json(msg='the window held open in %s is release %s\'s, not %s: nothing was changed'
                                  % (self.root, held.get('release'), params['release']), changed=False)
        live = _state.tree_release(os.path.join(self.root, _state.CODE))
        if live != held.get('release'):
            # Changed by hand since: neither recorded as live nor undone (the undo would swap the wrong trees).
            self.module.fail_json(msg='the window held open in %s is release %s\'s, but code/ holds %s: nothing was '
                                      'changed; the host needs a look' % (self.root, held.get('release'), live),
                                  changed=False)
        if params['lock_run_id'] and held.get('lock_run_id') not in (None, params['lock_run_id']):
            self.module.fail_json(msg='the window held open in %s is run %s\'s, not this run\'s (%s): nothing was '
                                      'changed' % (self.root, held.get('lock_run_id'), params['lock_run_id']),
                                  changed=False)
        return held

    def _undo(self, switch, held):
        """held undo: the rollback of a failed step, then the marker without the window."""
        params = self.params
        self.migrate_out = list(held.get('migrate_output') or [])
        self.db = self._database(params['env_file'])
        first = bool(held.get('first'))
        kind = _messages.kind(self.strategy)
        error = 'undone by the caller (held undo), its steps once the release was live having failed'
        said = {}
        result = self.result
        try:
            if self.strategy == 'expand':
                result['restored'] = self.undo_expand(switch, held.get('expand_migrate_back'), said)
            else:
                result['restored'] = switch.undo(lambda: _backup.schema_rollback(
                    self.db, self.live_project, self.live_venv, self.migrate_out, held.get('backup'), self.params,
                    said), first=first)
        except (StepError, OSError) as exc:
            msg = _messages.failure_message(kind, STEP, error, params['service'], True, [], said.get('schema'),
                                            None, None, exc, held.get('backup'))
            self.module.fail_json(msg=_secrets.protect(msg, self.module.no_log_values), failed_step=STEP,
                                  schema_as_before=False, **result)
        result['answered'] = None
        self._after_rollback(result, first)
        result['schema_as_before'] = _messages.schema_as_before(said.get('schema'))
        # What serves now: the old release (none after a first deploy).
        result['release'] = self._live_release() or (None if first else held.get('previous_release'))
        result['msg'] = _secrets.protect(_messages.failure_message(
            kind, STEP, error, params['service'], True, result['restored'], said.get('schema'), result['release'],
            result['answered'], None, held.get('backup'), first=first), self.module.no_log_values)
        return result
