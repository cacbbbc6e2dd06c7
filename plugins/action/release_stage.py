# -*- coding: utf-8 -*-
# Copyright: (c) 2026, simpledeploy developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The controller side of simpledeploy.django.release_stage (documented with the module).

Sends the archive into Ansible's remote temporary directory (one transfer, as
the copy and unarchive actions do), hashes it on the controller, and runs the
module once with the remote path and the hash: a temporary directory made,
one transfer, one execution. With the lock option, the module takes the deploy
lock first, as deploy_lock does: this action fills in who this run is and,
when a run of this controller that is gone holds it, runs the module again to
take it over (deploy_lock's action does the same). The module removes the archive, and the
directory too when nothing else is in it (with pipelining): then the action's
cleanup has nothing to remove, one remote execution fewer.
"""

from __future__ import annotations

from ansible.errors import AnsibleActionFail
from ansible.plugins.action import ActionBase
from ansible_collections.simpledeploy.django.plugins.action.deploy_lock import controller_identity, settle_holder
from ansible_collections.simpledeploy.django.plugins.module_utils._archive import file_sha256

MODULE = 'simpledeploy.django.release_stage'


class ActionModule(ActionBase):

    TRANSFERS_FILES = True

    def run(self, tmp=None, task_vars=None):
        result = super(ActionModule, self).run(tmp, task_vars)
        del tmp
        args = dict(self._task.args)
        src = args.pop('src', None)
        if not src:
            raise AnsibleActionFail('src is required: the release archive on the controller (release_archive)')
        try:
            digest = file_sha256(src)
        except OSError as exc:
            raise AnsibleActionFail('cannot read the release archive %s on the controller: %s' % (src, exc.strerror))
        remote = self._connection._shell.join_path(self._connection._shell.tmpdir, 'release.tar.gz')
        self._transfer_file(src, remote)
        # Readable by the user the module runs as; nothing to execute (execute=False: no chmod when that user is
        # the connection's own, one remote execution fewer).
        self._fixup_perms2((self._connection._shell.tmpdir, remote), execute=False)
        args.update(archive=remote, sha256=digest)
        identity = None
        if args.get('lock'):
            identity = controller_identity()
            args['lock_request'] = dict((key, identity[key]) for key in (
                'owner', 'run_id', 'controller_host', 'controller_machine_id', 'controller_pid',
                'controller_pid_started'))
        outcome = self._execute_module(module_name=MODULE, module_args=args, task_vars=task_vars)
        if identity is not None:
            def rerun(takeover_run_ids):
                args['lock_takeover_run_ids'] = takeover_run_ids
                return self._execute_module(module_name=MODULE, module_args=args, task_vars=task_vars)

            outcome = settle_holder(outcome, identity, args.get('lock_takeover_run_ids') or [], rerun)
        result.update(outcome)
        if result.get('tmpdir_removed'):
            # The module removed it, empty: nothing left for the action's cleanup to remove remotely.
            self._connection._shell.tmpdir = None
        return result
