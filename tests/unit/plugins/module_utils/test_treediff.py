# -*- coding: utf-8 -*-
# Copyright: (c) 2026, simpledeploy developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""_treediff: what a preview says replacing the live tree changes."""

from __future__ import absolute_import, division, print_function

import os

from ansible_collections.simpledeploy.django.plugins.module_utils._archive import build_manifest
from ansible_collections.simpledeploy.django.plugins.module_utils._static import write_record
from ansible_collections.simpledeploy.django.plugins.module_utils._treediff import tree_changes


def write(path, text):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, 'w', encoding='utf-8') as handle:
        handle.write(text)


def test_the_static_files_the_deploy_collected_are_not_files_the_release_removes(tmp_path):
    release = tmp_path / 'release'
    write(str(release / 'manage.py'), 'print(1)\n')
    write(str(release / 'site_' / 'views.py'), 'x = 2\n')
    live = tmp_path / 'root' / 'code'
    write(str(live / 'manage.py'), 'print(1)\n')
    write(str(live / 'site_' / 'views.py'), 'x = 1\n')
    for name in ('app.0123456789ab.css', 'app.css', 'staticfiles.json'):
        write(str(live / 'site_' / 'staticfiles' / name), name)
    write_record(str(live), 'site_/staticfiles', ['app.0123456789ab.css', 'app.css', 'staticfiles.json'])
    manifest = build_manifest(str(release))[0]
    counts, text = tree_changes(str(tmp_path / 'root'), manifest)
    assert counts == {'added': 0, 'changed': 1, 'removed': 0}, text
    assert '~ site_/views.py' in text and 'staticfiles' not in text
