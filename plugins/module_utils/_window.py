# -*- coding: utf-8 -*-
# Copyright (c) simpledeploy developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The downtime window: the article's stop, replace, migrate, start, with its undo.

Private to the simpledeploy.django collection: the interface may change.

Switch.run() is the window, step by step; Switch.undo() puts back what it
changed after a failure; Switch.record() is the marker's content after a
window that went well. How each step is done lives elsewhere: the trees in
_swap, the configuration files in _config, systemctl in _systemd (the
module passes the callables), migrate and backup in _migrate and _backup.
"""

from __future__ import annotations

import os
import threading
import time

from ansible_collections.simpledeploy.django.plugins.module_utils import _config, _state, _swap
from ansible_collections.simpledeploy.django.plugins.module_utils._errors import StepError


class Switch(object):
    """The downtime window: stop, swap, migrate, start, as one remote execution (see run()).

    SYSTEMCTL and MIGRATE are callables so that the window's logic can be
    tested without a service manager; the module passes real ones.
    """

    def __init__(self, root, release, venv_key, service, systemctl, migrate=None, clock=time.monotonic,
                 ready=None, replaced=None, backup=None, config=(), loaded=True, hooks=None, after_live=None,
                 roll=None, gate=None, before_reload=None, serving=None, serve_gate=None, held_roll=None):
        self.root = root
        # (load, retire): the window without a stop (_rolled_window), when only the migrations keep the release
        # from a graceful reload: new workers load the release first, held at the serve gate, while the old ones
        # serve; the window is the old workers going, backup, migrate and hooks.
        self.held_roll = held_roll
        # The file whose presence keeps the workers that loaded the app from taking a connection (the role's
        # gunicorn.conf.py, post_worker_init). When given, run() starts the new release right after the swap and
        # has its workers load it while backup, migrate and hooks run; they serve once this file goes. Closed and
        # opened with the gate.
        self.serve_gate = serve_gate
        self.starting = None
        # Until the first worker of the new release has loaded it (and so accepts): when given, that moment ends
        # the window, and ready asks the health URL after it. A request of ready's waits in the socket's backlog
        # behind every connection held through the window: the window would end once they are all served.
        self.serving = serving
        # Called first in _reload (expand: the old workers are read again after a migration that may be long).
        self.before_reload = before_reload
        # The file whose presence holds a start of the service (the unit's ExecStartPre waits while it exists):
        # with socket activation a connection that arrives while the window is open would start the service at
        # once, on whatever code/ holds. Present from before the stop until just before the start.
        self.gate = gate
        # A graceful reload by rolling the server's workers (_workers.Roll) instead of SIGHUP, when given.
        self.roll = roll
        # The project's manage.py commands: inside the window (after migrate), and once the app answers.
        self.hooks = hooks
        self.after_live = after_live
        # Whether the service's unit existed before this window (a first deploy's goes in place in it).
        self.loaded = loaded
        # The configuration files that change with this release (_config entries), and what of
        # them is in place.
        self.config = list(config)
        self.config_done = []
        self.backup = backup
        self.attempted = []
        self.release = release
        self.venv_key = venv_key
        self.service = service
        self.systemctl = systemctl
        self.migrate = migrate
        self.ready = ready
        self.replaced = replaced
        self.answered = None
        self.clock = clock
        self.steps = {}
        self.done = []
        self.step = None

    def _step(self, name, func):
        self.step = name
        self.attempted.append(name)
        start = self.clock()
        try:
            return func()
        finally:
            self.steps[name] = round(self.clock() - start, 3)

    def run(self, swap, strategy='simple'):
        """Run the window; return the seconds the service was down (0 for a graceful reload).

        The article's steps, in this order, each timed in self.steps and put
        back by undo() when a later one fails:

          stop     systemctl stop: the site is down from here
          swap     staging/ becomes code/, the old tree goes to code.previous/ (SWAP true)
          venv     the venv link points at the new virtualenv (VENV_KEY given)
          config   the new environment file and unit go in place (CONFIG given)
          backup   the database is backed up (BACKUP given, and MIGRATE)
          migrate  manage.py migrate in the new tree (MIGRATE given)
          hooks    the project's manage.py commands (HOOKS given): downtime they cost
          start    systemctl start; with SERVE_GATE begun right after config, beside backup, migrate and
                   hooks, the workers holding until those are done (the window's end is then the serve
                   gate's opening plus a worker's first turn, not the server's start-up)
          serving  until the first worker of the new release has loaded it (SERVING given): the window ends
          ready    until the app answers its URL (READY given): the window ends here without SERVING
          after_live_hooks  the project's commands once it answers (AFTER_LIVE given);
                   their failure is undone like a failed ready

        STRATEGY 'reload' runs _reload() instead: swap, reload (or, rolled, workers alone), workers, ready,
        after_live_hooks. With HELD_ROLL, 'simple' runs _rolled_window(): swap, workers (loaded, held), stop (the old
        workers go), backup, migrate, hooks, serving, ready, after_live_hooks. STRATEGY 'expand' runs backup and
        migrate first, with the old release serving, then _reload() (MIGRATE then runs the new release's tree where
        it is staged).
        """
        if strategy == 'expand':
            if self.migrate is not None and self.backup is not None:
                self._done('backup', self.backup)
            if self.migrate is not None:
                self._done('migrate', self.migrate)
            return self._reload(swap)
        if strategy == 'reload':
            return self._reload(swap)
        if self.held_roll is not None:
            return self._rolled_window(swap)
        self.close_gate()
        stopped_at = self.clock()
        self._done('stop', lambda: self.systemctl('stop', self.service))
        if swap:
            self._done('swap', lambda: _swap.swap_trees(self.root))
        if self.venv_key:
            self._point_venv()
        if self.config:
            # Before migrate: the new release migrates with its own environment.
            self._done('config', self._put_config)
        if self.serve_gate:
            # The new release loads now, beside what follows; its workers take no connection until the serve gate
            # opens. A start that a connection asked for meanwhile goes on now too, with the new release.
            self._start_beside()
        self._schema_steps()
        if self.starting is not None:
            self._started_beside()
        else:
            # A start that a connection asked for meanwhile goes on now, with the new release, as does this one.
            self.open_gate()
            self._done('start', lambda: self.systemctl('start', self.service))
        return self._window_ends(stopped_at)

    def _schema_steps(self):
        """backup, migrate and hooks, in a window: after every old worker is gone, so that no write is lost;
        before the new release serves."""
        if self.migrate is not None and self.backup is not None:
            self._done('backup', self.backup)
        if self.migrate is not None:
            self._done('migrate', self.migrate)
        if self.hooks is not None:
            # Nothing of their own to undo: a failure undoes the window as a failed migrate does.
            self._step('hooks', self.hooks)

    def _window_ends(self, stopped_at):
        """The new release started (or its workers let through the serve gate): the site is back when a worker of
        it can answer (SERVING), or else when the app answers its URL. That moment ends the window, counted from
        STOPPED_AT; then ready and after_live_hooks. Returns the window."""
        serving = self.serving is not None and self._step('serving', self.serving)
        window = round(self.clock() - stopped_at, 3)
        if self.ready is not None:
            self.answered = self._step('ready', self.ready)
        if not serving:
            window = round(self.clock() - stopped_at, 3)
        self._after_live()
        return window

    def _rolled_window(self, swap):
        """The window of a release that a graceful reload could put live but for its migrations: the server keeps
        running and its socket. Both gates closed; the trees swapped under it; new workers, one per old one, load
        the new release and wait at the serve gate (step workers, the old release serving); then the window: the
        old workers go, each finishing its request (step stop), backup, migrate, hooks; the serve gate opens and
        the new workers take the connections held meanwhile (step serving). Undone like a reload (the old tree
        back, a clean restart), the new workers stopped first."""
        load, retire = self.held_roll
        self.close_gate()
        if self.before_reload is not None:
            self.before_reload()
        if swap:
            self._done('swap', lambda: _swap.swap_trees(self.root))
        self.done.append('reload')
        # The new release runs from here on (held): an undo stops the server before it puts anything back.
        self.attempted.append('start')
        self._step('workers', load)
        stopped_at = self.clock()
        self._step('stop', retire)
        self._schema_steps()
        self.open_gate()
        return self._window_ends(stopped_at)

    def _start_beside(self):
        """The step start, begun in a thread of its own (the start gate open, the serve gate closed): the service
        manager starts the server on the new release while the window's other steps run. _started_beside() waits
        for it."""
        self.step = 'start'
        self.attempted.append('start')
        self.done.append('start')
        outcome = {}

        def start():
            began = self.clock()
            try:
                self.systemctl('start', self.service)
            except BaseException as exc:  # pylint: disable=broad-except
                # Raised in the window's own thread, by _started_beside(): a SystemExit too (a module's fail_json
                # in this thread), which would otherwise end the thread as if the start had gone well.
                outcome['error'] = exc if isinstance(exc, Exception) else StepError(
                    'systemctl start %s did not run: %r' % (self.service, exc))
            finally:
                outcome['seconds'] = round(self.clock() - began, 3)

        self.open_gate(serve=False)
        self.starting = threading.Thread(target=start, name='simpledeploy-start', daemon=True)
        self.starting.outcome = outcome
        self.starting.start()

    def _started_beside(self):
        """The start begun by _start_beside() is over: its error is the step start's; then the serve gate opens
        and the workers, the app loaded meanwhile, take the connections held in the socket. steps['start'] is the
        start's own time (it overlapped the steps before)."""
        self.step = 'start'
        self._join_start()
        outcome = self.starting.outcome
        self.steps['start'] = outcome.get('seconds')
        if 'error' in outcome:
            raise outcome['error']
        self.open_gate()

    def _join_start(self):
        """Wait for a start begun beside the window's steps, if any (an undo stops the service only after)."""
        if self.starting is not None:
            self.starting.join()

    def _after_live(self):
        """The step after_live_hooks: the release serves; a failure is undone like a failed ready.

        Not run when the app did not answer (ready returns False only with rollback false).
        """
        if self.after_live is not None and self.answered is not False:
            self._step('after_live_hooks', self.after_live)

    def _done(self, name, func):
        """Run the step NAME and note that undo() has it to put back."""
        self._step(name, func)
        self.done.append(name)

    def _point_venv(self):
        """The step venv: the link to the new virtualenv, noting the old target when it changed."""
        venv_link = os.path.join(self.root, _state.VENV_LINK)
        old = os.readlink(venv_link) if os.path.islink(venv_link) else None
        target = os.path.join(_state.VENVS, self.venv_key)
        if self._step('venv', lambda: _swap.point_symlink(venv_link, target)):
            self.done.append(('venv', old))

    def _put_config(self):
        try:
            self.config_done = _config.put_in_place(self.config)
        except _config.ConfigError as exc:
            self.config_done = exc.done
            raise StepError(str(exc))
        if any(entry['systemd'] for entry in self.config_done):
            self.systemctl('daemon-reload', None)
        self._rebind_sockets(entry for entry in self.config_done if entry['aside'] is not None)

    def _rebind_sockets(self, entries):
        """A socket unit whose file changed (its address) listens anew only once restarted: the service is
        stopped and the gate closed, so no start runs meanwhile."""
        for entry in entries:
            if entry['systemd'] and entry['dest'].endswith('.socket'):
                self.systemctl('restart', os.path.basename(entry['dest']))

    def _reload(self, swap):
        """Swap the tree under the running server and have it replace its workers.

        The server keeps its listening socket: none is refused. With ROLL the
        old workers serve until new ones have loaded the new release (step
        workers: _workers.Roll); else systemctl reload (SIGHUP), after which
        requests wait in the backlog while the new workers load the app.
        """
        if self.before_reload is not None:
            self.before_reload()
        if swap:
            self._done('swap', lambda: _swap.swap_trees(self.root))
        if self.roll is not None:
            # Undone like a reload: the old tree back, a clean restart.
            self.done.append('reload')
            self._step('workers', self.roll)
        else:
            self._done('reload', lambda: self.systemctl('reload', self.service))
            if self.replaced is not None:
                self._step('workers', self.replaced)
        if self.ready is not None:
            self.answered = self._step('ready', self.ready)
        self._after_live()
        return 0.0

    def undo(self, schema=None, first=False):
        """After a failure in run(): put the schema, the old code and venv back and start it.

        SCHEMA, when given, is called once migrate has begun, with the service
        stopped (stopped again when the failure came after the start) and the
        new tree still in code/ (the migrations to unapply live there); it
        returns the entries it restored. FIRST: no release served before this
        run, so there is none to start; the service is left stopped, and
        disabled when its unit was there before the run (a new unit goes away
        with the configuration). Returns everything restored, in order.
        """
        restored = []
        # A start begun beside the window's steps runs to its end first: closing the start gate under a start still
        # at the unit's ExecStartPre would hold it there for TimeoutStartSec. Its workers wait at the serve gate.
        self._join_start()
        # No start, a connection's included, until the old release is back. Not being able to say so (a full
        # disk, the window's own failure maybe) must not stop the undo.
        try:
            self.close_gate()
        except OSError:
            pass
        if 'start' in self.attempted:
            # The new release may be running (a ready_url that never answered):
            # nothing may write while the schema goes back, and the old release
            # must start, not find the new one still running ("systemctl start"
            # of a running service does nothing).
            self.systemctl('stop', self.service)
        if schema is not None and 'migrate' in self.attempted:
            restored.extend(schema())
        if self.config_done:
            # The old release starts with the environment and unit it was deployed with.
            restored.extend('config %s' % dest for dest in _config.undo(self.config_done))
            for entry in self.config_done:
                if entry['systemd'] and entry['aside'] is None and entry['dest'].endswith('.socket'):
                    # A socket unit new with this window: its file is gone, the socket it opened must
                    # close too (the old unit binds that address itself).
                    self.systemctl('stop', os.path.basename(entry['dest']))
            if any(entry['systemd'] for entry in self.config_done):
                self.systemctl('daemon-reload', None)
            # A socket unit changed with this window: back on its old address.
            self._rebind_sockets(entry for entry in self.config_done if entry['aside'] is not None)
            self.config_done = []
        for step in reversed(self.done):
            if step == 'swap':
                _swap.unswap_trees(self.root)
                restored.append('code')
            elif isinstance(step, tuple) and step[0] == 'venv' and step[1]:
                _swap.point_symlink(os.path.join(self.root, _state.VENV_LINK), step[1])
                restored.append('venv')
        self.open_gate()
        if 'reload' in self.done:
            # The server may be dead or running broken workers: a clean start.
            self.systemctl('restart', self.service)
            restored.append('service restarted')
        elif 'stop' in self.done and first and self.loaded:
            # Nothing to start: code/ holds no release now. Not started at boot either.
            self.systemctl('disable', self.service)
            restored.append('service left stopped and disabled (no release before this run)')
        elif 'stop' in self.done and self.loaded:
            self.systemctl('start', self.service)
            restored.append('service started')
        elif 'stop' in self.done:
            restored.append('service left stopped (none before this run)')
        return restored

    def close_gate(self):
        """The gate files in place (root's, empty: they need no space on a full disk): the service's ExecStartPre
        waits while the gate exists, its workers while the serve gate does. Raises OSError when one cannot be
        made."""
        for path in (self.gate, self.serve_gate):
            if path and not os.path.lexists(path):
                os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644))

    def open_gate(self, serve=True):
        """The gate files gone (the start gate only, without SERVE): a start held at the gate goes on, workers
        held at the serve gate take connections."""
        for path in (self.gate, self.serve_gate if serve else None):
            if path:
                try:
                    os.unlink(path)
                except FileNotFoundError:
                    pass

    def undo_state(self):
        """What undo() needs, as JSON, for a window held open between two runs of the module (hold)."""
        return dict(release=self.release, venv_key=self.venv_key, loaded=self.loaded, attempted=list(self.attempted),
                    done=[list(step) if isinstance(step, tuple) else step for step in self.done],
                    config_done=list(self.config_done))

    def restore_undo_state(self, held):
        """Take back what undo_state() wrote (HELD): this Switch can then undo() or record() that window."""
        self.attempted = list(held.get('attempted') or [])
        self.done = [tuple(step) if isinstance(step, list) else step for step in held.get('done') or []]
        self.config_done = list(held.get('config_done') or [])
        return self

    def record(self, state, at):
        """The marker's new content after a successful window.

        The previous release is the one code.previous/ holds (its RELEASE_FILE),
        so that a state left behind by a killed run is put right.
        """
        state = dict(state)
        state.pop('switching', None)
        current = state.get('current') or {}
        if self.release and current.get('release') != self.release:
            aside = _state.tree_release(os.path.join(self.root, _state.PREVIOUS))
            kept = state.get('previous') or {}
            if aside is None or aside == current.get('release'):
                state['previous'] = current or None
            elif aside != kept.get('release'):
                state['previous'] = {'release': aside}
            current = {'release': self.release}
        current = dict(current)
        if self.venv_key:
            current['venv'] = self.venv_key
        current['at'] = at
        state['current'] = current
        return state
