#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) simpledeploy developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
---
module: release_archive
short_description: Pack a Django source tree into one archive named by its content
version_added: 0.1.0
description:
  - Walks O(src) on the machine the module runs on (the controller, with C(delegate_to=localhost)
    and C(run_once=true)) without following symlinks, and writes one C(<release_id>.tar.gz) and
    one C(<release_id>.manifest.json) into O(dest).
  - The release id is the first 16 hex digits of a sha256 over the manifest (paths, types,
    normalised modes, contents and link targets; not mtimes, not owners), so the same code gives
    the same id and an archive that exists already is not written again.
  - VCS folders, bytecode, virtualenvs (any directory holding C(pyvenv.cfg)), local databases,
    media and C(.env) files are left out by default.
  - In the archive every entry is owned by root (0/0), files have mode 0644 (0755 when the
    executable bit is set), directories 0755, and the files keep their real mtimes, on which
    Python's timestamp-based C(.pyc) validation depends. Empty directories are kept.
author:
  - simpledeploy developers (@simpledeploy)
options:
  src:
    description:
      - The project's source directory.
      - It must hold C(manage.py), or O(project_subdir) must point to where it is.
    type: path
    required: true
  project_subdir:
    description:
      - Where C(manage.py) sits inside O(src), as a relative path. The whole of O(src) is archived.
    type: str
    default: ''
  dest:
    description:
      - Directory to write the archive and the manifest into. It is created when missing.
      - When it lies inside O(src) it is left out of the archive.
    type: path
    required: true
  exclude:
    description:
      - Shell-glob patterns of paths to leave out, added to the defaults.
      - A pattern is matched against each path relative to O(src), and, when it holds no C(/)
        (trailing ones aside), against the name of every path component, so V(node_modules)
        leaves out every directory of that name and V(*.log) every such file. A leading C(/) or
        C(./) anchors a pattern at O(src) - V(/media) leaves out the top-level C(media) only.
        C(*) matches C(/) too. A directory left out takes everything below it along.
    type: list
    elements: str
    default: []
  default_excludes:
    description:
      - Also leave out V(.git), V(.hg), V(.svn), V(.bzr), V(__pycache__), V(*.pyc), V(*.pyo),
        V(.tox), V(.nox), V(.mypy_cache), V(.pytest_cache), V(.ruff_cache), V(.coverage),
        V(htmlcov), V(*.sqlite3) and its V(-journal), V(-wal) and V(-shm) files, V(db.sqlite3),
        V(.env), V(.DS_Store) and V(*.swp) anywhere, and V(media) next to C(manage.py).
      - Virtualenvs are always left out.
    type: bool
    default: true
  keep_paths:
    description:
      - Paths relative to the project directory (where C(manage.py) is) that hold data on the
        host, such as V(db.sqlite3), V(media) or V(.env). They are left out of the archive.
      - Absolute paths and paths containing C(..) are refused.
    type: list
    elements: str
    default: []
  requirements:
    description:
      - A pip requirements file of the project, relative to the directory of C(manage.py)
        (V(requirements.txt)); V("") for none.
      - It and every file it includes by C(-r)/C(--requirement) or C(-c)/C(--constraint), at any
        depth and relative to the file that names it (as pip reads them), are looked up in the
        release. The module fails, naming the file, when one is missing or outside O(src). Their
        paths and one digest of their contents are returned (RV(requirements_files),
        RV(requirements_digest)), so that a pin changed in a nested file changes the digest. An
        include that is a URL counts by its text only.
    type: str
    default: ''
attributes:
  check_mode:
    support: full
    details: Computes the manifest and the release id and writes nothing.
  diff_mode:
    support: none
    details: Reports no diff; the manifest written next to the archive lists every path.
  platform:
    details: Runs where the source tree is, normally the controller.
extends_documentation_fragment:
  - simpledeploy.django._attributes
notes:
  - A symlink is archived as a symlink. A symlink whose target is absolute or resolves outside
    O(src) is refused, as is anything that is not a file, a directory or a symlink.
  - A file that changes while it is being archived makes the module fail rather than write an
    archive that does not match its name.
seealso:
  - module: simpledeploy.django.migration_status
  - module: simpledeploy.django.pyc_cleanup
"""

EXAMPLES = r"""
- name: Pack the project on the controller
  simpledeploy.django.release_archive:
    src: "{{ playbook_dir }}/../mysite"
    dest: "{{ playbook_dir }}/.releases"
    keep_paths: [db.sqlite3, media, .env]
    exclude: [node_modules, "*.log"]
  delegate_to: localhost
  run_once: true
  register: __deploy_release

- name: Pack a repository whose manage.py is in src/
  simpledeploy.django.release_archive:
    src: /srv/checkouts/shop
    project_subdir: src
    dest: /var/tmp/shop-releases
  delegate_to: localhost
  run_once: true
"""

RETURN = r"""
release_id:
  description: First 16 hex digits of the sha256 of the canonical manifest.
  returned: success
  type: str
  sample: 3f9a1c0e5b7d2a64
archive:
  description: Path of the archive; it exists unless in check mode.
  returned: success
  type: str
  sample: /home/me/site/.releases/3f9a1c0e5b7d2a64.tar.gz
manifest:
  description:
    - Path of the manifest, JSON with C(format), C(release_id) and C(entries), which maps each
      relative path to its C(type) (file, link or dir), C(mode), and C(size) and C(sha256) for
      files or C(target) for links.
  returned: success
  type: str
  sample: /home/me/site/.releases/3f9a1c0e5b7d2a64.manifest.json
files:
  description: Number of files and symlinks in the archive.
  returned: success
  type: int
  sample: 42
bytes:
  description: Sum of the sizes of the archived files, uncompressed.
  returned: success
  type: int
  sample: 183204
excluded:
  description: Number of paths left out; a directory left out counts once, whatever it holds.
  returned: success
  type: int
  sample: 3
excluded_paths:
  description: The paths left out, relative to O(src), in walk order, at most 50.
  returned: success
  type: list
  elements: str
  sample: [.git, .venv, people/__pycache__]
archive_bytes:
  description: Size of the archive; 0 in check mode when it does not exist yet.
  returned: success
  type: int
  sample: 51377
requirements_files:
  description: O(requirements) and the files it includes, relative to O(src), in the order pip reads them, then included URLs.
  returned: success
  type: list
  elements: str
  sample: [requirements.txt, requirements/base.txt, constraints.txt]
requirements_digest:
  description: sha256 over the paths and contents of RV(requirements_files); V("") without O(requirements).
  returned: success
  type: str
  sample: 9b1d0c5e0f4a2d7c3e8b6a1f0d9c8e7b6a5f4e3d2c1b0a9f8e7d6c5b4a3f2e1d
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.simpledeploy.django.plugins.module_utils._archive import (
    ARGUMENT_SPEC,
    ArchiveError,
    build_release,
)


def main():
    # The action plugin (plugins/action/release_archive.py) runs build_release in the controller's own process;
    # this entry point runs it where the module is sent (the options are the same).
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    try:
        result = build_release(check_mode=module.check_mode, **module.params)
    except ArchiveError as exc:
        module.fail_json(msg=str(exc))
    except OSError as exc:
        module.fail_json(msg='release_archive failed: %s' % exc)
    module.exit_json(**result)


if __name__ == '__main__':
    main()
