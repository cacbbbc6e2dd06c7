# -*- coding: utf-8 -*-
# Copyright (c) simpledeploy developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The release layout on a host, and the downtime window that switches it.

Private to the simpledeploy.django collection: the interface may change.

Layout under the deploy root (every path is ours, marked by MARKER):

    .simpledeploy.json   marker and state: app name, current/previous release
    code/                the live code tree (the service's working directory)
    code.previous/       the tree that was live before, kept for a rollback
    staging/             the next tree, prepared before any downtime
    shared/              data that outlives releases, linked into every tree
    venvs/<key>/         virtualenvs, one per requirements set
    venv                 symlink to the live virtualenv
    app.env              the service's environment (secrets), mode 0600
"""

from __future__ import annotations

import json
import os
import shutil
import time
from urllib.error import HTTPError, URLError

from ansible.module_utils.urls import open_url

MARKER = '.simpledeploy.json'
CODE = 'code'
PREVIOUS = 'code.previous'
STAGING = 'staging'
VENVS = 'venvs'
VENV_LINK = 'venv'
VENV_READY = '.simpledeploy-complete'

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
    """Replace the marker atomically."""
    target = os.path.join(root, MARKER)
    tmp = target + '.tmp'
    with open(tmp, 'w') as handle:
        json.dump(state, handle, indent=2, sort_keys=True)
        handle.write('\n')
        handle.flush()
        os.fsync(handle.fileno())
    os.rename(tmp, target)


def inspect_root(root, home_dirs=(), app=None):
    """What the role needs to know about ROOT before it changes anything."""
    info = {
        'root': root,
        'exists': os.path.isdir(root),
        'ours': False,
        'safe': True,
        'reason': None,
        'state': {},
        'current_release': None,
        'previous_release': None,
        'current_venv': None,
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
    for key in ('current', 'previous'):
        entry = info['state'].get(key) or {}
        info['%s_release' % key] = entry.get('release')
    info['current_venv'] = (info['state'].get('current') or {}).get('venv')
    return info


def home_dirs():
    """Every user's home directory on this host."""
    import pwd
    return sorted(set(entry.pw_dir for entry in pwd.getpwall() if entry.pw_dir))


def venv_ready(root, key):
    return bool(key) and os.path.exists(os.path.join(root, VENVS, key, VENV_READY))


def remove_tree(path):
    """Remove PATH whatever it is; never follows a symlink."""
    if os.path.islink(path) or os.path.isfile(path):
        os.unlink(path)
    elif os.path.isdir(path):
        shutil.rmtree(path)


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


def swap_trees(root):
    """code -> code.previous, staging -> code. Two renames, no copy."""
    code = os.path.join(root, CODE)
    previous = os.path.join(root, PREVIOUS)
    staging = os.path.join(root, STAGING)
    if os.path.lexists(previous):
        remove_tree(previous)
    if os.path.lexists(code):
        os.rename(code, previous)
    os.rename(staging, code)


def unswap_trees(root):
    """Undo swap_trees: code -> staging, code.previous -> code."""
    code = os.path.join(root, CODE)
    previous = os.path.join(root, PREVIOUS)
    staging = os.path.join(root, STAGING)
    if os.path.lexists(staging):
        remove_tree(staging)
    if os.path.lexists(code):
        os.rename(code, staging)
    if os.path.lexists(previous):
        os.rename(previous, code)


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
                 ready=None):
        self.root = root
        self.release = release
        self.venv_key = venv_key
        self.service = service
        self.systemctl = systemctl
        self.migrate = migrate
        self.ready = ready
        self.answered = None
        self.clock = clock
        self.steps = {}
        self.done = []
        self.step = None

    def _step(self, name, func):
        self.step = name
        start = self.clock()
        try:
            return func()
        finally:
            self.steps[name] = round(self.clock() - start, 3)

    def run(self, swap):
        """Run the window. Returns the seconds the service was down."""
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

    def undo(self):
        """After a failure in run(): put the old code and venv back and start it.

        The schema is not touched here: a migration that failed was rolled
        back by its own transaction. Returns what was restored.
        """
        restored = []
        for step in reversed(self.done):
            if step == 'swap':
                unswap_trees(self.root)
                restored.append('code')
            elif isinstance(step, tuple) and step[0] == 'venv' and step[1]:
                point_symlink(os.path.join(self.root, VENV_LINK), step[1])
                restored.append('venv')
        self.systemctl('start', self.service)
        restored.append('service started')
        return restored

    def record(self, state, at):
        """The marker's new content after a successful window."""
        state = dict(state)
        current = state.get('current') or {}
        if self.release and current.get('release') != self.release:
            state['previous'] = current or None
            current = {'release': self.release}
        current = dict(current)
        if self.venv_key:
            current['venv'] = self.venv_key
        current['at'] = at
        state['current'] = current
        return state
