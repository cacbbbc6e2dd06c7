# -*- coding: utf-8 -*-
# Copyright (c) simpledeploy developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A graceful reload without a gap: gunicorn's workers rolled, new ones ready before old ones go.

Private to the simpledeploy.django collection: the interface may change.

On SIGHUP gunicorn stops its old workers in the same call that starts the new
ones, before they have imported the app: requests wait for that import. Rolled
instead, with the master's own signals:

  1. SIGTTIN once per old worker, one at a time (signals of one kind sent
     together merge into one): the master forks a new worker each time, which
     imports the app from code/ (swapped already) while the old ones serve;
  2. wait until every new worker has said that it loaded this release: the
     role's gunicorn.conf.py (roles/deploy/files) writes a file named after its
     PID, holding the release, into $RUNTIME_DIRECTORY/workers once the app is
     imported (post_worker_init). Readiness is the new code's own word, not
     "something answered";
  3. SIGTTOU as many times, one at a time: each stops the oldest worker
     gracefully (it finishes the request it holds). Every worker shares the
     master's listening socket: no connection is refused or reset. An old
     worker still busy with a long request is not waited for beyond TIMEOUT:
     the release is live, the worker ends with its request (at the latest
     when gunicorn's --timeout kills it), and the result names it (lingering).

A new worker that cannot load the app makes gunicorn's master stop altogether:
the caller's undo (the old tree back, a restart) follows the error raised here.

The files are the app user's: read through a descriptor of the directory, no
link followed, regular files only, a few bytes. A forged file only makes the
roll go on early (what the app user could do to its own server anyway).

Python 3.9+, standard library only.
"""

from __future__ import annotations

import errno
import os
import signal
import stat
import time

from ansible_collections.simpledeploy.django.plugins.module_utils import _proc
from ansible_collections.simpledeploy.django.plugins.module_utils._errors import StepError

WORKERS_DIR = 'workers'
# What a worker of a master that preloaded the app writes instead of the release (gunicorn.conf.py).
PRELOADED = 'preloaded '
# What a worker writes before the release while it waits at the serve gate, the app loaded (gunicorn.conf.py).
HELD = 'held '


def worker_release(directory_fd, pid):
    """The release worker PID's file says it loaded, or None (no such file, or not a plain small file)."""
    try:
        fd = os.open(str(pid), os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, dir_fd=directory_fd)
    except OSError:
        return None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return None
        return os.read(fd, 128).decode('ascii', 'replace').strip() or None
    finally:
        os.close(fd)


def first_ready(ready_dir, release, timeout, clock=time.monotonic, sleep=time.sleep, interval=0.02,
                give_up=lambda: False):
    """Whether a worker said, within TIMEOUT seconds, that it loaded RELEASE (preloaded or not): its file in
    READY_DIR/workers, which the unit's RuntimeDirectory empties at every stop, so that any file there is a worker
    of the server started since. False when none did, or as soon as GIVE_UP() is true (the app answered by other
    means: a hook that cannot write there must not make the window wait for a word that never comes)."""
    deadline = clock() + timeout
    wanted = (release, PRELOADED + release)
    while True:
        try:
            directory_fd = os.open(ready_dir + '/' + WORKERS_DIR,
                                   os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
        except OSError:
            directory_fd = None
        if directory_fd is not None:
            try:
                said = [worker_release(directory_fd, name) for name in os.listdir(directory_fd) if name.isdigit()]
            finally:
                os.close(directory_fd)
            if any(text in wanted for text in said):
                return True
        if clock() >= deadline or give_up():
            return False
        sleep(interval)


class Roll(object):
    """Roll the workers of gunicorn's master MASTER (see the module's docstring).

    OLD: its workers before the roll. READY_DIR: the runtime directory the unit
    gives gunicorn ($RUNTIME_DIRECTORY); RELEASE: what each new worker must say
    it loaded. TIMEOUT bounds each wait. The callables are the real ones but for
    tests of the logic alone.
    """

    def __init__(self, master, old, ready_dir, release, timeout=30.0, kill=os.kill, children=_proc.child_pids,
                 alive=_proc.is_running, clock=time.monotonic, sleep=time.sleep, interval=0.02, held=False,
                 pending=_proc.signal_pending):
        self.pending = pending
        # HELD: the new workers wait at the serve gate once loaded (a window between load() and retire()).
        self.held = held
        self.master = master
        self.old = sorted(old)
        self.ready_dir = ready_dir
        self.release = release
        self.timeout = timeout
        self.kill = kill
        self.children = children
        self.alive = alive
        self.clock = clock
        self.sleep = sleep
        self.interval = interval
        self.new = []
        # Seconds of each phase, for the result; old workers still finishing a request once the roll ended.
        self.seconds = {}
        self.lingering = []

    def run(self):
        """Roll; returns the new workers' PIDs. Raises StepError, saying what is left, when it cannot."""
        self.load()
        return self.retire()

    def load(self):
        """The first half: new workers, one per old one, that have loaded the release (held at the serve gate, with
        HELD); returns their PIDs. The old ones serve meanwhile."""
        if not self.old:
            raise StepError('the server (pid %s) has no workers to replace' % self.master)
        start = self.clock()
        for dummy in self.old:
            self._signal(signal.SIGTTIN)
            self.new.append(self._wait(self._one_more_worker, 'a new worker after SIGTTIN'))
        self.seconds['spawn'] = round(self.clock() - start, 3)
        start = self.clock()
        self._wait(self._all_ready, 'the new workers to load release %s' % self.release, self._said)
        self.seconds['ready'] = round(self.clock() - start, 3)
        return list(self.new)

    def retire(self, every=False):
        """The second half: the old workers go, each finishing its request. EVERY: wait until every one is gone,
        or fail (a window: no old worker may still write once the schema changes); else one still busy after the
        timeout is left to finish (lingering). Returns the new workers' PIDs."""
        start = self.clock()
        for dummy in self.old:
            self._signal(signal.SIGTTOU)
            # Each tells the master to stop its oldest worker, which finishes its request first. The next is sent
            # once the master has taken this one (two pending at once would merge into one); the old workers then
            # go together (at most one second between two signals).
            self._wait(lambda: not self.pending(self.master, signal.SIGTTOU), 'the server to take SIGTTOU',
                       limit=1.0)
        # The master may still have merged two of them (Python runs its handler once for two signals delivered
        # before it ran; gunicorn queues five at most): each old worker still there after half a second is told to
        # go itself, as the master tells it (SIGTERM: it finishes its request). The master then replaces it with one
        # that loads code/. (Not at once: a worker that went before the master took its SIGTTOU would be replaced
        # too, and the SIGTTOU would then stop a new worker.)
        self._wait(lambda: self._old_gone(len(self.old)), 'the old workers to go', limit=0.5)
        kids = set(self.children(self.master))
        for pid in self.old:
            if pid in kids:
                try:
                    self.kill(pid, signal.SIGTERM)
                except OSError:
                    pass  # gone meanwhile
        gone = self._wait(lambda: self._old_gone(len(self.old)), 'the old workers to finish their requests',
                          limit=self.timeout)
        kids = set(self.children(self.master))
        self.lingering = [pid for pid in self.old if pid in kids]
        self.seconds['retire'] = round(self.clock() - start, 3)
        if every and not gone:
            raise StepError('old workers %s were still busy %s s after they were told to go: nothing was migrated '
                            'while they could still write' % (', '.join(str(pid) for pid in self.lingering),
                                                              self.timeout))
        return list(self.new)

    def _signal(self, signum):
        try:
            self.kill(self.master, signum)
        except OSError as exc:
            raise StepError('cannot signal the server (pid %s): %s' % (self.master, exc.strerror))

    def _wait(self, done, what, said=None, limit=None):
        """Until DONE() returns something true (returned); StepError when the master died or TIMEOUT passed
        (with what SAID() returns, when given). With LIMIT, after that many seconds returns None instead."""
        deadline = self.clock() + (self.timeout if limit is None else limit)
        while True:
            if not self.alive(self.master):
                raise StepError('the server (pid %s) exited while waiting for %s: a new worker probably could not '
                                'load the new release (gunicorn stops when a worker fails to boot)' % (self.master, what))
            found = done()
            if found:
                return found
            if self.clock() >= deadline and limit is not None:
                return None
            if self.clock() >= deadline:
                raise StepError('waited %s s for %s in vain (old workers: %s; new: %s)%s' % (
                    self.timeout, what, ', '.join(str(pid) for pid in self.old) or 'none',
                    ', '.join(str(pid) for pid in self.new) or 'none', said() if said else ''))
            self.sleep(self.interval)

    def _one_more_worker(self):
        known = set(self.old) | set(self.new)
        fresh = [pid for pid in self.children(self.master) if pid not in known]
        return fresh[0] if fresh else None

    def _all_ready(self):
        kids = set(self.children(self.master))
        if any(pid not in kids for pid in self.new):
            # A new worker that died: the master replaces it (with one that loads code/ too); wait for that one.
            self.new = [pid for pid in self.new if pid in kids]
            fresh = sorted(pid for pid in kids if pid not in set(self.old) | set(self.new))
            self.new.extend(fresh[:len(self.old) - len(self.new)])
        if len(self.new) < len(self.old):
            return False
        try:
            said = [text for dummy, text in self._read_new()]
        except OSError as exc:
            if exc.errno in (errno.ENOENT, errno.ENOTDIR, errno.ELOOP):
                return False
            raise StepError('cannot read %s/%s: %s' % (self.ready_dir, WORKERS_DIR, exc.strerror))
        if any(text and (text.startswith(PRELOADED) or text.startswith(HELD + PRELOADED)) for text in said):
            raise StepError('gunicorn preloads the app in its master (preload_app, --preload): its new workers '
                            'carry the old code, so a graceful reload cannot put the new release live; set '
                            'deploy_gunicorn_preload: true (the deploy then restarts the service)')
        if self.held:
            serving = [pid for pid, text in zip(self.new, said) if text == self.release]
            if serving:
                raise StepError('new workers %s serve release %s already, before the window: the serve gate was not '
                                'closed' % (', '.join(str(pid) for pid in serving), self.release))
            return all(text == HELD + self.release for text in said)
        return all(text == self.release for text in said)

    def _read_new(self):
        """[(pid, what its file says or None)] for the new workers; OSError when their directory cannot be opened
        (the last name is the app user's: no link followed, a directory only)."""
        directory_fd = os.open(self.ready_dir + '/' + WORKERS_DIR,
                               os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
        try:
            return [(pid, worker_release(directory_fd, pid)) for pid in self.new]
        finally:
            os.close(directory_fd)

    def _said(self):
        """What each new worker's file says, for the message of a roll that waited in vain."""
        try:
            said = self._read_new()
        except OSError as exc:
            return ('; %s/%s: %s (the service\'s journal says why a worker could not write there: '
                    '"simpledeploy: cannot say")' % (self.ready_dir, WORKERS_DIR, exc.strerror))
        # The app user's bytes: shown only as far as they are plain printable characters.
        shown = [(pid, ''.join(c for c in text if c.isprintable())[:64] if text else 'nothing') for pid, text in said]
        return '; ' + ', '.join('%s says %s' % pair for pair in shown)

    def _old_gone(self, count):
        """Whether COUNT of the old workers are gone."""
        kids = set(self.children(self.master))
        return len([pid for pid in self.old if pid not in kids]) >= count
