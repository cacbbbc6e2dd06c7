# -*- coding: utf-8 -*-
# Copyright (c) simpledeploy developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What replacing the live code tree with a release changes, file by file (check and diff mode).

Private to the simpledeploy.django collection: the interface may change.
"""

from __future__ import annotations

import os

from ansible_collections.simpledeploy.django.plugins.module_utils._archive import (
    DEFAULT_EXCLUDES,
    DEFAULT_PROJECT_EXCLUDES,
    build_manifest,
    diff_manifests,
    keep_paths_under,
)
from ansible_collections.simpledeploy.django.plugins.module_utils._state import CODE, RELEASE_FILE
from ansible_collections.simpledeploy.django.plugins.module_utils._static import RECORD, read_record

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
        # The static files the deploy collected into the live tree are the deploy's, not the release's.
        record = read_record(live)
        collected = [RECORD] + ([record['static_root']] if isinstance((record or {}).get('static_root'), str) else [])
        old = build_manifest(live, DEFAULT_EXCLUDES, list(anchored) + collected)[0]
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
