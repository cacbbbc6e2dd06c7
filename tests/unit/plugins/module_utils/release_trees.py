# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Deploy roots and code trees on real directories, for the tests of the window's module_utils."""

from __future__ import annotations

import json
import os

from ansible_collections.simpledeploy.django.plugins.module_utils import _state


def make_root(tmp_path, state=None, app='person'):
    root = tmp_path / 'srv' / 'person'
    root.mkdir(parents=True)
    if state is not None:
        (root / _state.MARKER).write_text(json.dumps(dict(app=app, **state)))
    return str(root)


def tree(root, name, files):
    base = os.path.join(root, name)
    for rel, text in files.items():
        path = os.path.join(base, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, 'w') as handle:
            handle.write(text)


def read_tree(path):
    found = {}
    for dirpath, dummy, filenames in os.walk(path):
        for name in filenames:
            full = os.path.join(dirpath, name)
            with open(full) as handle:
                found[os.path.relpath(full, path)] = handle.read()
    return found


class FakeSystemctl(object):
    """Records calls; fails the N-th call of an action when told to."""

    def __init__(self, fail=None):
        self.calls = []
        self.fail = fail

    def __call__(self, action, unit):
        self.calls.append((action, unit))
        if self.fail == (action, len([c for c in self.calls if c[0] == action])):
            raise OSError('%s failed' % action)


def setup_release(tmp_path):
    root = make_root(tmp_path, {'current': {'release': 'old', 'venv': 'v1'}})
    tree(root, 'code', {'manage.py': 'old', 'people/legacy.py': 'old'})
    tree(root, 'code.previous', {'manage.py': 'older'})
    tree(root, 'staging', {'manage.py': 'new', 'people/models.py': 'new'})
    for key in ('v1', 'v2'):
        tree(root, 'venvs/' + key, {_state.VENV_READY: key})
    os.symlink('venvs/v1', os.path.join(root, 'venv'))
    return root
