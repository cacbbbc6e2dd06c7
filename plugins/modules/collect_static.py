#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, simpledeploy developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: collect_static
short_description: Collect a staged release's static files as the app's user, and keep them as root's in its tree
version_added: 0.2.0
description:
  - Reads the release's settings inside its own Django (in its virtualenv, as O(run_as), with the app's
    environment) and says whether it has static files to collect - C(django.contrib.staticfiles) in
    C(INSTALLED_APPS), a C(STATIC_ROOT), and a static files storage that writes to this host's disk. When it
    has none, nothing changes and RV(reason) says why.
  - Otherwise it runs Django's own C(collectstatic --noinput) as O(run_as), with C(STATIC_ROOT) pointed at a
    new directory of that user's (project code never runs as root), then copies what it left into O(tree)
    at the place C(STATIC_ROOT) names, as root's own files (directories C(0755), files C(0644)), reading
    through descriptors that never follow a link. Only regular files and directories are accepted. The
    app's user cannot change them once the tree is live.
  - The files the live release's own C(collectstatic) made (listed in C(.simpledeploy-static) at the top of
    O(previous_tree)) that the new release does not have are hard-linked into the new tree too (RV(carried)),
    one release back, so that while old and new workers both serve (a graceful reload) every asset URL either
    release's pages reference answers. A tree without that list (made before this module) carries nothing.
  - A C(STATIC_ROOT) outside O(tree), one that holds the project's code, one the release ships files in, or one
    reached through a link (a shared directory) is refused with a message that says what to set. Only regular files
    of O(run_as) with a single link, at most 32 directories deep, are copied, and never over a file of the release.
attributes:
  check_mode:
    support: full
    details: Reads the settings (running the project's settings code as O(run_as), as a real run does) and
      reports whether and where it would collect; runs no C(collectstatic) and writes nothing.
  diff_mode:
    support: none
    details: RV(collected) and RV(carried) count what is written.
  platform:
    details: Linux; the managed host's Python 3.9 or newer, standard library only. Runs as root.
extends_documentation_fragment:
  - simpledeploy.django._attributes
  - simpledeploy.django._attributes.nice
author:
  - simpledeploy developers (@simpledeploy)
options:
  project_path:
    description: The staged release's project directory, the one that holds C(manage.py).
    type: path
    required: true
  tree:
    description:
      - The staged release's tree (root's), which O(project_path) is in. C(STATIC_ROOT) must be a directory
        of its own inside it. The app's user's temporary directory is made beside it.
    type: path
    required: true
  previous_tree:
    description: The live release's tree, whose own static files are carried into O(tree); none on a first deploy.
    type: path
  virtualenv:
    description: The release's virtualenv, with Django installed.
    type: path
    required: true
  settings:
    description: C(DJANGO_SETTINGS_MODULE), when C(manage.py) and the environment file do not set the right one.
    type: str
  env_file:
    description: The app's environment file (C(KEY=value) lines, root's); its values are masked in every message.
    type: path
  run_as:
    description: The app's unprivileged user, which runs C(collectstatic).
    type: str
    required: true
  discard:
    description:
      - A preview directory M(simpledeploy.django.release_stage) made (its RV(simpledeploy.django.release_stage#module:preview)),
        with O(tree) in it, to remove once done, whether collecting succeeded or not (RV(discarded)). The deploy
        role's check mode reads the static files last, then has nothing more to read there.
      - Only a directory named C(simpledeploy-preview-*) of the user the module runs as, never a link.
    type: path
"""

EXAMPLES = r"""
- name: Collect the new release's static files before the switch
  simpledeploy.django.collect_static:
    project_path: /srv/mysite/staging
    tree: /srv/mysite/staging
    previous_tree: /srv/mysite/code
    virtualenv: /srv/mysite/venvs/0123456789ab
    env_file: /srv/mysite/app.env.simpledeploy-next
    run_as: mysite
  register: static
"""

RETURN = r"""
discarded:
  description: Whether the O(discard) directory was removed.
  returned: always
  type: bool
  sample: true
enabled:
  description: Whether the release has static files to collect here.
  returned: always
  type: bool
reason:
  description: Why not, when RV(enabled) is false.
  returned: always
  type: str
  sample: django.contrib.staticfiles is not in INSTALLED_APPS
static_root:
  description: C(STATIC_ROOT) relative to O(tree), when RV(enabled).
  returned: always
  type: str
  sample: staticfiles
static_url:
  description: C(STATIC_URL) of the release's settings.
  returned: always
  type: str
  sample: /static/
storage:
  description: The class name of the release's static files storage.
  returned: always
  type: str
  sample: CompressedManifestStaticFilesStorage
collected:
  description: How many files the release's own C(collectstatic) made (0 in check mode).
  returned: always
  type: int
carried:
  description: How many files of the live release were linked into the new tree (0 in check mode).
  returned: always
  type: int
seconds:
  description: Wall time of the whole task, measured.
  returned: always
  type: float
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.simpledeploy.django.plugins.module_utils import _static


def main():
    module = AnsibleModule(
        argument_spec=dict(
            project_path=dict(type='path', required=True),
            tree=dict(type='path', required=True),
            previous_tree=dict(type='path'),
            virtualenv=dict(type='path', required=True),
            settings=dict(type='str'),
            env_file=dict(type='path'),
            run_as=dict(type='str', required=True),
            nice=dict(type='int', default=0),
            discard=dict(type='path'),
        ),
        supports_check_mode=True,
    )
    if not 0 <= module.params['nice'] <= 19:
        module.fail_json(msg='nice must be between 0 and 19, got %d' % module.params['nice'])
    params = module.params
    result, failure = _static.collect_or_failure(
        module, params['project_path'], params['tree'], params['virtualenv'], params['run_as'],
        previous_tree=params['previous_tree'], settings=params['settings'], env_file=params['env_file'])
    # The preview read last (the role's check mode): removed whatever collectstatic did.
    discarded = _static.discard(module, params['discard'])
    if failure:
        module.fail_json(discarded=discarded, **failure)
    module.exit_json(discarded=discarded, **result)


if __name__ == '__main__':
    main()
