#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, simpledeploy developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
module: release_stage
short_description: Unpack a release archive into a fresh tree, mark it and link the shared data, in one execution
version_added: 0.1.0
description:
  - Sends the archive M(simpledeploy.django.release_archive) built on the controller to the managed host and
    stages it there in one run of the module, where the C(file), C(unarchive) and C(copy) tasks it replaces cost
    a round trip or more each.
  - The action plugin sends O(src) into Ansible's remote temporary directory and passes its sha256; the module
    checks it before anything changes, then replaces O(dest) whole with the archive's tree, writes the release id
    into C(<dest>/.simpledeploy-release), links each of O(shared_paths) into it, and removes the archive it was
    sent.
  - O(dest)'s parent must be a directory of root's that only root can write (the deploy root, or the
    preview's temporary directory). Everything in the tree is root's; files keep the archive's mode (never a
    set-id bit) and modification time.
  - Only what release_archive writes is unpacked (directories, regular files and symbolic links), with
    relative names that never go up nor through a symbolic link of the archive. Anything else fails the task and removes
    the tree it began.
  - A shared path the release ships as a file, a link or an empty directory is replaced by its link; one it ships
    as a directory with content fails the task, since its link would hide that content.
author:
  - simpledeploy developers (@simpledeploy)
options:
  src:
    description:
      - The release archive on the controller (RV(simpledeploy.django.release_archive#module:archive)).
      - Handled by the action plugin, which sends it; the module receives O(archive) instead.
    type: path
  archive:
    description:
      - The archive on the managed host. Set by the action plugin; give O(src) instead.
    type: path
    required: true
  sha256:
    description:
      - The archive's sha256, checked before anything changes. Set by the action plugin.
    type: str
  dest:
    description:
      - The tree to stage into, replaced whole. Its parent must be a directory only root can write.
      - When omitted, a new temporary directory (C(simpledeploy-preview-*) in the system's temporary directory,
        root's, mode 0755) is made and the tree is staged into its C(tree), for the deploy role's preview in
        check mode. The caller removes it (RV(preview)).
    type: path
  release:
    description:
      - The release id written into C(<dest>/.simpledeploy-release).
    type: str
    required: true
  shared_dir:
    description:
      - The directory of the data that outlives releases (C(<deploy root>/shared)); required with O(shared_paths).
    type: path
  shared_paths:
    description:
      - Paths of that data, relative to the project; each becomes, in the tree, a symbolic link
        C(<dest>/<project_subdir>/<path>) to C(<shared_dir>/<path>), replacing what the release ships there.
    type: list
    elements: str
    default: []
  project_subdir:
    description:
      - Where the project (C(manage.py)) is inside the tree; V('') for its top.
    type: str
    default: ''
  lock:
    description:
      - A deploy lock to take before anything changes, as M(simpledeploy.django.deploy_lock) takes it (its
        O(simpledeploy.django.deploy_lock#module:path)), in the same remote execution as the stage. Its result is
        in RV(deploy_lock); release it with M(simpledeploy.django.deploy_lock) (O(simpledeploy.django.deploy_lock#module:state=absent)),
        or let M(simpledeploy.django.release_switch) release it (its C(release_lock)).
      - Held by another live run, the task fails before anything changes (RV(lock_refused)); held by a run of
        this controller that is gone, the action runs the module again and takes it over.
      - Only with O(dest).
    type: path
  lock_timeout:
    description:
      - Seconds after its last renewal that another run's lock is taken over, as
        M(simpledeploy.django.deploy_lock)'s O(simpledeploy.django.deploy_lock#module:timeout).
    type: int
    default: 1800
  lock_request:
    description:
      - Who this run is (owner, run_id and where its ansible-playbook runs). Set by the action plugin.
    type: dict
  lock_takeover_run_ids:
    description:
      - Run IDs of runs known to be gone, whose lock is taken over. Set by the action plugin.
    type: list
    elements: str
    default: []
attributes:
  action:
    support: full
    description: The action plugin sends O(src) to the host and passes its sha256.
  check_mode:
    support: none
    details: Skipped in check mode; the role runs it with C(check_mode=false) to stage the preview into a temporary directory.
  diff_mode:
    support: none
  platform:
    details: Runs on the managed host's Python 3.9 or newer, standard library only, as root.
extends_documentation_fragment:
  - simpledeploy.django._attributes
notes:
  - Used by the role simpledeploy.django.deploy; see its C(stage.yml).
"""

EXAMPLES = r"""
- name: Stage the release beside the live tree
  simpledeploy.django.release_stage:
    src: "{{ build.archive }}"
    dest: /srv/mysite/staging
    release: "{{ build.release_id }}"
    shared_dir: /srv/mysite/shared
    shared_paths: [media]
"""

RETURN = r"""
entries:
  description: The number of directories, files and links unpacked.
  returned: success
  type: int
  sample: 412
tmpdir_removed:
  description:
    - Whether Ansible's remote temporary directory the archive was sent into was removed with it (it was then
      empty, as with pipelining); the action plugin then skips its own removal.
  returned: always
  type: bool
  sample: true
dest:
  description: The tree staged.
  returned: success
  type: str
  sample: /srv/mysite/staging
preview:
  description: The temporary directory made when O(dest) was omitted, else V('').
  returned: success
  type: str
  sample: /tmp/simpledeploy-preview-k2j3h4/
replaced:
  description: Whether a tree was at O(dest) before (a run that stopped before its switch left it).
  returned: success
  type: bool
  sample: false
deploy_lock:
  description:
    - With O(lock), what taking it did, as M(simpledeploy.django.deploy_lock) returns it (its RV(simpledeploy.django.deploy_lock#module:action),
      RV(simpledeploy.django.deploy_lock#module:lock) with the C(run_id)...). Returned on a failure after the lock was
      taken too, so that the caller releases it. Null without O(lock).
  returned: always
  type: dict
  sample: {"action": "acquire", "changed": true, "lock": {"run_id": "1f0c2a9b8e7d6c5b-0a1b2c3d4e5f6a7b-4242"}}
lock_refused:
  description: True when another run holds O(lock) (the task failed before anything changed).
  returned: when the lock was refused
  type: bool
  sample: true
"""

import os
import shutil
import tempfile

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.simpledeploy.django.plugins.module_utils import _lock, _stage


def argument_spec():
    return dict(
        src=dict(type='path'),
        archive=dict(type='path', required=True),
        sha256=dict(type='str'),
        dest=dict(type='path'),
        release=dict(type='str', required=True),
        shared_dir=dict(type='path'),
        shared_paths=dict(type='list', elements='str', default=[]),
        project_subdir=dict(type='str', default=''),
        lock=dict(type='path'),
        lock_timeout=dict(type='int', default=_lock.DEFAULT_TIMEOUT),
        lock_request=dict(type='dict'),
        lock_takeover_run_ids=dict(type='list', elements='str', default=[]),
    )


def remove_sent(archive):
    """Remove the archive, and Ansible's remote temporary directory it was sent into when that is then empty
    (with pipelining; the action then has nothing left to remove). Returns whether the directory went."""
    try:
        os.unlink(archive)
    except OSError:
        return False
    directory = os.path.dirname(archive)
    if not os.path.basename(directory).startswith('ansible-tmp-'):
        return False
    try:
        os.rmdir(directory)
    except OSError:
        return False
    return True


def take_lock(module):
    """The deploy lock (with the lock option), taken before anything changes, as deploy_lock takes it; returns
    deploy_lock's result, or None without the option. Refused: fails, the sent archive left for the action to
    run the module again (taking over a dead run's lock), or for its cleanup."""
    params = module.params
    if not params['lock']:
        return None
    request = params['lock_request'] or {}
    try:
        result, warnings = _lock.apply(params['lock'], 'present', dict((key, request.get(key)) for key in _lock.REQUEST),
                                       timeout=params['lock_timeout'], dead_run_ids=params['lock_takeover_run_ids'])
    except _lock.LockError as exc:
        failure = dict(exc.result)
        failure.pop('msg', None)
        for warning in failure.pop('warnings', []):
            module.warn(warning)
        module.fail_json(msg=exc.msg, changed=False, lock_refused=True, deploy_lock=None,
                         held_by=failure.get('held_by'), would_wait=failure.get('would_wait', False))
    for warning in warnings:
        module.warn(warning)
    return result


def main():
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=False)
    params = module.params
    if params['shared_paths'] and not params['shared_dir']:
        module.fail_json(msg='shared_dir is required with shared_paths: the directory their links point into')
    if params['lock'] and not params['dest']:
        module.fail_json(msg='lock goes with dest: a preview (no dest) changes nothing the lock guards')
    locked = take_lock(module)
    preview = ''
    if not params['dest']:
        preview = tempfile.mkdtemp(prefix=_stage.PREVIEW_PREFIX)
        os.chmod(preview, 0o755)
        params['dest'] = os.path.join(preview, 'tree')
    links = [dict(path=os.path.join(params['project_subdir'], path), target=os.path.join(params['shared_dir'], path))
             for path in params['shared_paths']]
    try:
        result = _stage.stage(params['archive'], params['dest'], params['release'], links, sha256=params['sha256'])
    # Any error: the lock this run took must be in the result, for the caller to release it.
    except Exception as exc:  # pylint: disable=broad-exception-caught
        remove_sent(params['archive'])
        if preview:
            # The preview's directory is the caller's to remove only once it has its name.
            shutil.rmtree(preview, ignore_errors=True)
        # Whatever went wrong (a damaged archive, a full disk, an entry tarfile cannot read): the caller learns
        # that this run holds the lock it took, and releases it.
        why = exc if isinstance(exc, (_stage.StageError, OSError)) else '%s: %s' % (type(exc).__name__, exc)
        module.fail_json(msg='could not stage release %s into %s: %s' % (params['release'], params['dest'], why),
                         deploy_lock=locked)
    tmpdir_removed = remove_sent(params['archive'])
    module.exit_json(changed=True, tmpdir_removed=tmpdir_removed, dest=params['dest'], preview=preview,
                     deploy_lock=locked, **result)


if __name__ == '__main__':
    main()
