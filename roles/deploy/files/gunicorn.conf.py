# -*- coding: utf-8 -*-
# Copyright (c) simpledeploy developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""gunicorn's configuration file in the units that simpledeploy.django's deploy role writes.

The role installs it as <deploy_root>/gunicorn.conf.py (root's, 0644) and the unit passes it
with --config; the options on the unit's command line still win over anything set here. It
serves the graceful reload without a gap: release_switch rolls the workers (one SIGTTIN per
worker, and once every new worker has loaded the new release, as many SIGTTOU, each of which
stops the oldest worker gracefully), so that old workers serve until new ones can.

  post_fork         a worker forked after the code tree was swapped works in code/ as it is
                    now, not in the tree the master started in (which a later deploy removes)
  post_worker_init  a worker that has loaded the app waits while the serve gate is closed (the file
                    SIMPLEDEPLOY_SERVE_GATE names: release_switch loads the new release while
                    the old one serves or migrate runs, and its workers must not take a
                    connection before the schema is the one they need), telling the master all
                    the while that it is alive, its file saying "held <release>" meanwhile;
                    then it says it is ready (and, in the log, that it takes connections): a
                    file named after its PID in
                    $RUNTIME_DIRECTORY/workers, holding the release it loaded (the file that
                    SIMPLEDEPLOY_RELEASE_FILE names, read once the app is imported), or
                    "preloaded <release>" when the master preloaded the app (preload_app):
                    then its code is the master's, and the reload stops saying so
  worker_exit       that file goes with the worker (in the worker, or in the master when the
                    worker was gone before it could say so)

A gunicorn.conf.py of the project's own, in the directory gunicorn starts in, is what gunicorn
reads when no --config is given: it is read here first, so its settings and hooks still apply
(its hooks run before these).
"""

from __future__ import annotations

import os
import runpy
import time

# The project's own configuration file: its settings become this file's, its hooks are kept.
_PROJECT_CONF = os.path.join(os.getcwd(), 'gunicorn.conf.py')
_PROJECT = {}
if os.path.isfile(_PROJECT_CONF) and not os.path.samefile(_PROJECT_CONF, __file__):
    _PROJECT = runpy.run_path(_PROJECT_CONF)
    globals().update((name, value) for name, value in _PROJECT.items() if not name.startswith('_'))


def _call_project(name, *args):
    hook = _PROJECT.get(name)
    if callable(hook):
        hook(*args)


def _marker(pid):
    """The path of the file that says worker PID has loaded the app, or None outside such a unit."""
    runtime = os.environ.get('RUNTIME_DIRECTORY', '').split(':')[0]
    return os.path.join(runtime, 'workers', str(pid)) if runtime else None


def post_fork(server, worker):
    os.chdir(server.cfg.chdir)
    _call_project('post_fork', server, worker)


# What a worker's file says before the release: held at the serve gate; loaded by a master that preloaded the app.
HELD = 'held '
PRELOADED = 'preloaded '


def _gate_closed(gate):
    """Whether the file GATE is there; one that cannot be looked at (permissions) counts as there: fail closed."""
    try:
        os.lstat(gate)
    except FileNotFoundError:
        return False
    except OSError:
        return True
    return True


def wait_at_serve_gate(worker, say, interval=0.01):
    """While the serve gate is closed: wait, the app loaded, before the first connection is taken, having said so
    (SAY('held')). The master hears from the worker at every turn, so that its --timeout never takes a waiting
    worker for a stuck one (gunicorn counts it only from a worker's first word, a version that counts it from the
    fork would). A worker told to stop meanwhile (a window undone) stops at once."""
    gate = os.environ.get('SIMPLEDEPLOY_SERVE_GATE')
    if not gate or not _gate_closed(gate):
        return
    worker.log.info('simpledeploy: worker %s loaded the app and waits at the serve gate %s', worker.pid, gate)
    say(HELD)
    while worker.alive and _gate_closed(gate):
        worker.notify()
        time.sleep(interval)


def _say(worker, prefix=''):
    """Write the worker's file: PREFIX and the release it loaded (see the module's docstring)."""
    path = _marker(worker.pid)
    release_file = os.environ.get('SIMPLEDEPLOY_RELEASE_FILE')
    if not path or not release_file:
        return
    try:
        with open(release_file, encoding='utf-8') as handle:
            release = handle.read(64).strip()
        if worker.cfg.preload_app:
            # The master imported the app before it forked this worker: the code it runs is the master's, not
            # what code/ holds now. Said so, the reload stops at once instead of taking old code for new.
            release = PRELOADED + release
        os.makedirs(os.path.dirname(path), exist_ok=True)
        # Whole or not at all: written beside, then renamed over.
        with open(path + '.new', 'w', encoding='utf-8') as handle:
            handle.write(prefix + release + '\n')
        os.replace(path + '.new', path)
    except OSError as exc:
        # The worker serves all the same; the reload then waits for it in vain and says so.
        worker.log.warning('simpledeploy: cannot say that worker %s is ready: %s', worker.pid, exc)


def post_worker_init(worker):
    _call_project('post_worker_init', worker)
    wait_at_serve_gate(worker, lambda prefix: _say(worker, prefix))
    if worker.alive:
        # (a worker told to stop while it waited goes without saying it is ready)
        _say(worker)
        worker.log.info('simpledeploy: worker %s takes connections', worker.pid)


def worker_exit(server, worker):
    _call_project('worker_exit', server, worker)
    path = _marker(worker.pid)
    if path:
        try:
            os.unlink(path)
        except OSError:
            pass
