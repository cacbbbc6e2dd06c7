# -*- coding: utf-8 -*-
# Copyright (c) simpledeploy developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The release layout on a host, and the downtime window that switches it.

Private to the simpledeploy.django collection: the interface may change.

Layout under the deploy root (every path is ours, marked by MARKER):

    .simpledeploy.json   marker and state: app name, current/previous release,
                         and ``switching`` while a window is in progress
    code/                the live code tree (the service's working directory)
    code.previous/       the tree that was live before, kept for a rollback
    staging/             the next tree, prepared before any downtime
    */.simpledeploy-release  in each tree: the release it holds (RELEASE_FILE),
                         so that a run killed at any point can be finished
    backups/             database backups taken before migrating (root, 0700)
    shared/              data that outlives releases, linked into every tree
    venvs/<key>/         virtualenvs, one per requirements set
    venv                 symlink to the live virtualenv
    app.env              the service's environment (secrets), mode 0600
"""

from __future__ import annotations

import errno
import json
import os
import time
from urllib.error import HTTPError, URLError

from ansible.module_utils.urls import open_url

from ansible_collections.simpledeploy.django.plugins.module_utils._errors import StepError
from ansible_collections.simpledeploy.django.plugins.module_utils import _config, _fsio, _handoff

from ansible_collections.simpledeploy.django.plugins.module_utils._archive import (
    DEFAULT_EXCLUDES,
    DEFAULT_PROJECT_EXCLUDES,
    build_manifest,
    diff_manifests,
    keep_paths_under,
)

MARKER = '.simpledeploy.json'
CODE = 'code'
PREVIOUS = 'code.previous'
STAGING = 'staging'
VENVS = 'venvs'
VENV_LINK = 'venv'
VENV_READY = '.simpledeploy-complete'
# At the top of each code tree: the release it holds, one line.
RELEASE_FILE = '.simpledeploy-release'

# Directories whose whole subtree belongs to the system: a deploy root there
# would put the role's rm -rf next to the operating system's own files.
SYSTEM_TREES = (
    '/bin', '/boot', '/dev', '/etc', '/lib', '/lib32', '/lib64', '/libx32',
    '/proc', '/root', '/run', '/sbin', '/sys', '/usr',
)
# Well-known directories that may hold a deploy root but never be one.
SYSTEM_DIRS = (
    '/var/lib', '/var/log', '/var/cache', '/var/spool', '/var/tmp', '/var/mail',
    '/var/www', '/var/backups', '/var/opt', '/var/local', '/var/run', '/var/lock',
    '/home', '/srv', '/opt', '/mnt', '/media', '/tmp', '/var', '/data',
)


def unsafe_root_reason(path, home_dirs=()):
    """Say why PATH must not be a deploy root, or return None when it may.

    Pure: HOME_DIRS is the list of users' home directories on the host.
    """
    if not path or not os.path.isabs(path):
        return 'deploy_root must be an absolute path, got %r' % (path,)
    norm = os.path.normpath(path)
    if norm.startswith('//'):
        norm = '/' + norm.lstrip('/')
    if norm == '/':
        return 'deploy_root is /, the whole filesystem'
    for tree in SYSTEM_TREES:
        if norm == tree or norm.startswith(tree + '/'):
            return 'deploy_root %s is inside the system directory %s' % (norm, tree)
    if norm in SYSTEM_DIRS:
        return 'deploy_root %s is a system directory; use a directory below it, such as %s/<app>' % (norm, norm)
    if norm.count('/') < 2:
        return 'deploy_root %s is a top-level directory; use a directory below it, such as %s/<app>' % (norm, norm)
    for home in home_dirs:
        home = os.path.normpath(home or '/')
        if home != '/' and (norm == home or home.startswith(norm + '/')):
            return 'deploy_root %s is (or holds) the home directory %s' % (norm, home)
    return None


def read_state(root):
    """The marker's content, or None when ROOT has no marker."""
    try:
        with open(os.path.join(root, MARKER), 'rb') as handle:
            data = json.loads(handle.read().decode('utf-8'))
    except (IOError, OSError):
        return None
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def write_state(root, state):
    """Replace the marker whole, on disk before this returns (_fsio.atomic_write); OSError when it cannot."""
    _fsio.atomic_write(os.path.join(root, MARKER), json.dumps(state, indent=2, sort_keys=True) + '\n')


def tree_release(tree):
    """The release TREE holds, from its RELEASE_FILE; None when it has none."""
    try:
        with open(os.path.join(tree, RELEASE_FILE), 'rb') as handle:
            text = handle.read(512).decode('utf-8', 'replace').strip()
    except (IOError, OSError):
        return None
    return text.splitlines()[0].strip() if text else None


def write_release(tree, release):
    """Mark TREE as holding RELEASE, on disk before this returns (_fsio.atomic_write)."""
    _fsio.atomic_write(os.path.join(tree, RELEASE_FILE), '%s\n' % release)


def inspect_root(root, home_dirs=(), app=None):
    """What the role needs to know about ROOT before it changes anything.

    The releases come from the trees' own RELEASE_FILE when they have one (a
    run killed after the swap and before it wrote the state leaves the state
    behind the trees), from the state file otherwise.
    """
    info = {
        'root': root,
        'exists': os.path.isdir(root),
        'ours': False,
        'safe': True,
        'reason': None,
        'state': {},
        'current_release': None,
        'previous_release': None,
        'staged_release': None,
        'current_venv': None,
        'switching': None,
    }
    reason = unsafe_root_reason(root, home_dirs)
    if reason is None and os.path.lexists(root) and not os.path.isdir(root):
        reason = 'deploy_root %s exists and is not a directory' % root
    state = read_state(root) if info['exists'] else None
    if state is not None:
        info['ours'] = True
        info['state'] = state
        if app and state.get('app') and state.get('app') != app:
            reason = ('deploy_root %s belongs to the app %r, not %r; give each app its own deploy_root'
                      % (root, state.get('app'), app))
    elif reason is None and info['exists'] and os.listdir(root):
        reason = ('deploy_root %s already exists, is not empty and was not created by simpledeploy '
                  '(no %s in it); the deploy would replace what is there. Choose a new or empty '
                  'directory, or move the existing one away' % (root, MARKER))
    if reason:
        info['safe'] = False
        info['reason'] = reason
    for key, tree in (('current', CODE), ('previous', PREVIOUS)):
        entry = info['state'].get(key) or {}
        found = tree_release(os.path.join(root, tree)) if info['exists'] else None
        info['%s_release' % key] = found or entry.get('release')
    if info['exists']:
        info['staged_release'] = tree_release(os.path.join(root, STAGING))
    info['current_venv'] = (info['state'].get('current') or {}).get('venv')
    info['switching'] = info['state'].get('switching') or None
    return info


def home_dirs():
    """Every user's home directory on this host."""
    import pwd
    return sorted(set(entry.pw_dir for entry in pwd.getpwall() if entry.pw_dir))


def venv_ready(root, key):
    """Whether venvs/KEY was handed over to root complete: a build user can write a marker of its own
    into an unfinished build, it cannot make the tree root's (_handoff.is_handed_over)."""
    return bool(key) and _handoff.is_handed_over(os.path.join(root, VENVS, key))


def remove_tree(path):
    """Remove PATH whatever it is, and all it holds; never follows a link nor opens a FIFO (see
    _fsio.remove_tree: some trees were writable by another user, a build or a backup child)."""
    _fsio.remove_tree(path)


def point_symlink(link, target):
    """Make LINK point at TARGET atomically (rename over the old link)."""
    if os.path.islink(link) and os.readlink(link) == target:
        return False
    tmp = link + '.new'
    if os.path.lexists(tmp):
        os.unlink(tmp)
    os.symlink(target, tmp)
    os.rename(tmp, link)
    return True


_RENAME_EXCHANGE = 2
_AT_FDCWD = -100


def exchange_paths(first, second):
    """Swap two existing paths in one atomic step (Linux renameat2 RENAME_EXCHANGE).

    Returns False, having changed nothing, when the kernel, the C library or
    the filesystem cannot do it; raises OSError on any other error.
    """
    try:
        import ctypes
        libc = ctypes.CDLL(None, use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    renameat2.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    renameat2.restype = ctypes.c_int
    if renameat2(_AT_FDCWD, os.fsencode(first), _AT_FDCWD, os.fsencode(second), _RENAME_EXCHANGE) == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP):
        return False
    raise OSError(err, os.strerror(err), first)


def _rotate(new, live, aside):
    """new -> live, live -> aside, with LIVE never missing when the kernel allows.

    LIVE missing while NEW exists is a rotation interrupted between its two
    plain renames (or a first deploy): only NEW -> LIVE is left to do, and
    ASIDE (the tree that was live) is kept.
    """
    if not os.path.lexists(live):
        if os.path.lexists(new):
            os.rename(new, live)
        return
    if os.path.lexists(aside):
        remove_tree(aside)
    if os.path.lexists(live) and os.path.lexists(new) and exchange_paths(new, live):
        os.rename(new, aside)
        return
    if os.path.lexists(live):
        os.rename(live, aside)
    if os.path.lexists(new):
        os.rename(new, live)


def swap_trees(root):
    """staging -> code -> code.previous: no copy, and code/ always exists.

    The two trees are exchanged in one atomic rename where the kernel supports
    it (a request served meanwhile sees the old tree or the new one, never
    none), with two plain renames otherwise.
    """
    staging = os.path.join(root, STAGING)
    if not os.path.isdir(staging):
        raise OSError(errno.ENOENT, 'nothing is staged', staging)
    _rotate(staging, os.path.join(root, CODE), os.path.join(root, PREVIOUS))


def unswap_trees(root):
    """Undo swap_trees: code.previous -> code -> staging."""
    _rotate(os.path.join(root, PREVIOUS), os.path.join(root, CODE), os.path.join(root, STAGING))


def wait_for_url(url, status=200, timeout=30.0, interval=0.02, clock=time.monotonic, sleep=time.sleep):
    """Request URL until it answers STATUS; True when it did within TIMEOUT seconds."""
    deadline = clock() + timeout
    while True:
        try:
            answer = open_url(url, timeout=max(1.0, min(5.0, timeout)), follow_redirects='none',
                              validate_certs=False)
            code = answer.getcode()
        except HTTPError as exc:
            code = exc.code
        except (URLError, OSError, ValueError):
            code = None
        if code == status:
            return True
        if clock() >= deadline:
            return False
        sleep(interval)


STRATEGIES = ('auto', 'simple', 'reload')

# Paths listed by name in the diff; the counts are always complete.
DIFF_CAP = 500


def tree_changes(root, manifest, project_subdir='', keep_paths=()):
    """What replacing code/ with the release described by MANIFEST changes: (counts, diff text).

    Raises ArchiveError on a bad keep path, OSError when the live tree cannot be read.
    """
    live = os.path.join(root, CODE)
    anchored = keep_paths_under(project_subdir, list(keep_paths) + list(DEFAULT_PROJECT_EXCLUDES))
    old = {}
    if os.path.isdir(live):
        old = build_manifest(live, DEFAULT_EXCLUDES, anchored)[0]
    # The release marker is the layout's, not the release's.
    old.pop(RELEASE_FILE, None)
    new = dict((path, entry) for path, entry in manifest.items()
               if path != RELEASE_FILE and not any(path == a or path.startswith(a + '/') for a in anchored))
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


def reload_blockers(root, info, unit, main_pid, migrate, venv_key, service, extra=()):
    """Why a graceful reload cannot apply this deploy, and whether it is a first deploy: (blockers, first).

    INFO is inspect_root's, UNIT parse_show's of the service, EXTRA the caller's own reasons.
    """
    venv_link = os.path.join(root, VENV_LINK)
    blockers = []
    first = not info['current_release'] or not os.path.isdir(os.path.join(root, CODE))
    if migrate:
        blockers.append('migrations are pending: the schema changes while no server runs')
    if first:
        # Nothing to reload: the other reasons would only be noise.
        blockers.append('first deploy: nothing serves yet')
        return blockers, first
    if venv_key and (not os.path.islink(venv_link) or os.readlink(venv_link) != os.path.join(VENVS, venv_key)):
        blockers.append('the virtualenv changed: the server must restart to load it')
    if unit.get('ActiveState') != 'active' or not main_pid:
        blockers.append('the service %s is not running' % service)
    elif unit.get('CanReload') != 'yes':
        blockers.append('the service %s has no ExecReload, it cannot reload' % service)
    blockers.extend(extra)
    return blockers, first


def choose_strategy(requested, blockers):
    """Pick how the new release goes live: (strategy, reason).

    REQUESTED is auto, simple or reload; BLOCKERS lists why a graceful reload
    cannot apply this deploy (pending migrations, a new virtualenv, ...).
    Pure. Raises ValueError when reload is requested and something blocks it.
    """
    if requested not in STRATEGIES:
        raise ValueError('unknown strategy %r: choose one of %s' % (requested, ', '.join(STRATEGIES)))
    if requested == 'simple':
        return 'simple', 'deploy_strategy is simple: stop, replace, migrate, start'
    if not blockers:
        return 'reload', ('%snothing to migrate and the same virtualenv: the running server '
                          'reloads the new code gracefully, no downtime'
                          % ('' if requested == 'reload' else 'auto: '))
    if requested == 'reload':
        raise ValueError('deploy_strategy is reload, but a graceful reload cannot apply this deploy: %s. '
                         'Nothing was stopped; deploy with deploy_strategy auto or simple'
                         % '; '.join(blockers))
    return 'simple', 'auto: %s' % '; '.join(blockers)


def parse_show(text):
    """``systemctl show -p A -p B UNIT`` output as a dict."""
    found = {}
    for line in (text or '').splitlines():
        key, sep, value = line.partition('=')
        if sep:
            found[key.strip()] = value.strip()
    return found


def child_pids(pid, proc='/proc'):
    """PIDs whose parent is PID, read from /proc."""
    kids = []
    for name in os.listdir(proc):
        if not name.isdigit():
            continue
        try:
            with open(os.path.join(proc, name, 'stat'), 'rb') as handle:
                data = handle.read().decode('ascii', 'replace')
        except (IOError, OSError):
            continue
        fields = data.rpartition(')')[2].split()
        if len(fields) > 1 and fields[1] == str(pid):
            kids.append(int(name))
    return sorted(kids)


def pid_alive(pid, proc='/proc'):
    """Whether PID exists and is not a zombie."""
    try:
        with open(os.path.join(proc, str(pid), 'stat'), 'rb') as handle:
            data = handle.read().decode('ascii', 'replace')
    except (IOError, OSError):
        return False
    fields = data.rpartition(')')[2].split()
    return bool(fields) and fields[0] != 'Z'


def wait_workers_replaced(main_pid, old_workers, timeout=30.0, interval=0.02, children=child_pids,
                          alive=pid_alive, clock=time.monotonic, sleep=time.sleep):
    """After a graceful reload: wait until none of OLD_WORKERS is a child of MAIN_PID any more
    and new workers run. Raises StepError when the server died or did not finish in TIMEOUT."""
    deadline = clock() + timeout
    old = set(old_workers)
    while True:
        if not alive(main_pid):
            raise StepError('the server (pid %s) exited during the reload: the new code probably '
                            'failed to load in its workers' % main_pid)
        kids = set(children(main_pid))
        if kids and not kids & old:
            return sorted(kids)
        if clock() >= deadline:
            raise StepError('the old workers (%s) still ran %s s after the reload'
                            % (', '.join(str(pid) for pid in sorted(kids & old)), timeout))
        sleep(interval)


def stale_venvs(root, keep):
    """Virtualenv keys under ROOT/venvs that no kept release uses."""
    try:
        names = sorted(os.listdir(os.path.join(root, VENVS)))
    except OSError:
        return []
    return [name for name in names if name not in keep]


class Switch(object):
    """The downtime window: stop, swap, migrate, start, as one remote execution.

    SYSTEMCTL and MIGRATE are callables so that the window's logic can be
    tested without a service manager; the module passes real ones.
    """

    def __init__(self, root, release, venv_key, service, systemctl, migrate=None, clock=time.monotonic,
                 ready=None, replaced=None, backup=None, config=(), loaded=True):
        self.root = root
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
        """Run the window. Returns the seconds the service was down (0 for a reload)."""
        if strategy == 'reload':
            return self._reload(swap)
        venv_link = os.path.join(self.root, VENV_LINK)
        stopped_at = self.clock()
        self._step('stop', lambda: self.systemctl('stop', self.service))
        self.done.append('stop')
        if swap:
            self._step('swap', lambda: swap_trees(self.root))
            self.done.append('swap')
        if self.venv_key:
            old = os.readlink(venv_link) if os.path.islink(venv_link) else None
            target = os.path.join(VENVS, self.venv_key)
            if self._step('venv', lambda: point_symlink(venv_link, target)):
                self.done.append(('venv', old))
        if self.config:
            # Before migrate: the new release migrates with its own environment.
            self._step('config', self._put_config)
            self.done.append('config')
        if self.migrate is not None and self.backup is not None:
            # After the stop, so that no write is lost; before the first change to the schema.
            self._step('backup', self.backup)
            self.done.append('backup')
        if self.migrate is not None:
            self._step('migrate', self.migrate)
            self.done.append('migrate')
        self._step('start', lambda: self.systemctl('start', self.service))
        self.done.append('start')
        if self.ready is not None:
            # The service manager says "started" once the server listens; the
            # site is back when the app answers. That moment ends the window.
            self.answered = self._step('ready', self.ready)
        return round(self.clock() - stopped_at, 3)

    def _put_config(self):
        try:
            self.config_done = _config.put_in_place(self.config)
        except _config.ConfigError as exc:
            self.config_done = exc.done
            raise StepError(str(exc))
        if any(entry['systemd'] for entry in self.config_done):
            self.systemctl('daemon-reload', None)

    def _reload(self, swap):
        """Swap the tree under the running server and have it replace its workers.

        The server keeps its listening socket: requests wait in its backlog
        while the new workers load the app, none is refused.
        """
        if swap:
            self._step('swap', lambda: swap_trees(self.root))
            self.done.append('swap')
        self._step('reload', lambda: self.systemctl('reload', self.service))
        self.done.append('reload')
        if self.replaced is not None:
            self._step('workers', self.replaced)
        if self.ready is not None:
            self.answered = self._step('ready', self.ready)
        return 0.0

    def undo(self, schema=None):
        """After a failure in run(): put the schema, the old code and venv back and start it.

        SCHEMA, when given, is called once migrate has begun, with the service
        stopped (stopped again when the failure came after the start) and the
        new tree still in code/ (the migrations to unapply live there); it
        returns the entries it restored. Returns everything restored, in order.
        """
        restored = []
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
            if any(entry['systemd'] for entry in self.config_done):
                self.systemctl('daemon-reload', None)
            self.config_done = []
        for step in reversed(self.done):
            if step == 'swap':
                unswap_trees(self.root)
                restored.append('code')
            elif isinstance(step, tuple) and step[0] == 'venv' and step[1]:
                point_symlink(os.path.join(self.root, VENV_LINK), step[1])
                restored.append('venv')
        if 'reload' in self.done:
            # The server may be dead or running broken workers: a clean start.
            self.systemctl('restart', self.service)
            restored.append('service restarted')
        elif 'stop' in self.done and self.loaded:
            self.systemctl('start', self.service)
            restored.append('service started')
        elif 'stop' in self.done:
            restored.append('service left stopped (none before this run)')
        return restored

    def record(self, state, at):
        """The marker's new content after a successful window.

        The previous release is the one code.previous/ holds (its RELEASE_FILE),
        so that a state left behind by a killed run is put right.
        """
        state = dict(state)
        state.pop('switching', None)
        current = state.get('current') or {}
        if self.release and current.get('release') != self.release:
            aside = tree_release(os.path.join(self.root, PREVIOUS))
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


def resume_plan(root, release, swap, switching=None):
    """What this run does with the trees, from the releases they hold (a killed run's too).

    Returns {swap, staging, found, notes}: SWAP is false when code/ already
    holds RELEASE (a window killed after its swap: swapping again would push
    the good old tree out of code.previous/); STAGING, when code/ holds
    RELEASE (whatever SWAP), is 'remove' when staging/ holds that same
    release again, 'aside' when it holds the tree
    that was live (a swap killed between its exchange and its last rename,
    told by the SWITCHING record), else None; FOUND the release of each tree.
    Reads only.
    """
    found = dict((key, tree_release(os.path.join(root, name)))
                 for key, name in (('code', CODE), ('previous', PREVIOUS), ('staging', STAGING)))
    plan = {'swap': bool(swap), 'staging': None, 'found': found, 'notes': []}
    if not (release and found['code'] == release):
        return plan
    if swap:
        plan['swap'] = False
        plan['notes'].append('code/ already holds release %s: not swapped again' % release)
    if found['staging'] == release:
        plan['staging'] = 'remove'
        plan['notes'].append('staging/ holds release %s too: removed' % release)
    elif switching and found['staging'] and not os.path.lexists(os.path.join(root, PREVIOUS)):
        plan['staging'] = 'aside'
        plan['notes'].append('staging/ holds release %s, the one that was live: moved to %s/'
                             % (found['staging'], PREVIOUS))
    return plan


def apply_resume(root, plan):
    """Carry out plan['staging'] (see resume_plan)."""
    staging = os.path.join(root, STAGING)
    if plan['staging'] == 'remove':
        remove_tree(staging)
    elif plan['staging'] == 'aside':
        os.rename(staging, os.path.join(root, PREVIOUS))


def failure_message(kind, step, error, service, rollback=True, restored=(), schema=None, live_release=None,
                    answered=None, undo_error=None, backup=None, left=None):
    """The one message of a failed window: what failed, what was restored (or left), where the logs are.

    KIND is 'downtime window' or 'graceful reload'; RESTORED what undo()
    returned; SCHEMA what became of the schema; LIVE_RELEASE the release in
    code/ afterwards; ANSWERED whether the app answered its ready URL again
    (None: not asked); LEFT, with ROLLBACK false, the state things were left in.
    """
    text = 'the %s failed at %s: %s.' % (kind, step, str(error).strip().rstrip('.'))
    if not rollback:
        text += ' Nothing was rolled back (rollback is false): %s.' % left
    elif undo_error is not None:
        text += (' The rollback failed too: %s (restored before that: %s); the host needs a look.'
                 % (str(undo_error).strip().rstrip('.'), ', '.join(restored) or 'nothing'))
    else:
        said = []
        if 'code' in restored:
            said.append('code of release %s' % (live_release or 'the previous release'))
        if 'venv' in restored:
            said.append('its virtualenv')
        configs = [entry[len('config '):] for entry in restored if entry.startswith('config ')]
        if configs:
            said.append('its %s' % ' and '.join(configs))
        if schema:
            said.append('schema %s' % schema)
        started = 'restarted' if 'service restarted' in restored else 'started'
        service_text = 'service %s %s' % (service, started)
        if any(entry.startswith('service left stopped') for entry in restored):
            service_text = 'service %s not started: a first deploy, nothing served before' % service
        elif answered is not None:
            service_text += ' and answering: %s' % ('yes' if answered else 'no')
        said.append(service_text)
        text += ' Restored: %s.' % ', '.join(said)
    if backup:
        text += ' Backup taken before migrating: %s.' % backup
    return text + ' Logs: journalctl -u %s -n 50' % service
