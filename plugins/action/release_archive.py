# -*- coding: utf-8 -*-
# Copyright: (c) 2026, simpledeploy developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The controller side of simpledeploy.django.release_archive (documented with the module).

The archive is built from a tree on the controller, so the work is done here,
in the controller's own process: no module is sent and no Python started for
it (about half a second of every deploy, the same for one host or a hundred:
the role runs it once, run_once). The options are the module's
(_archive.ARGUMENT_SPEC), checked the same way; the result is the module's.
"""

from __future__ import annotations

from ansible.errors import AnsibleActionFail
from ansible.plugins.action import ActionBase
from ansible_collections.simpledeploy.django.plugins.module_utils._archive import (
    ARGUMENT_SPEC,
    ArchiveError,
    build_release,
)


class ActionModule(ActionBase):

    TRANSFERS_FILES = False
    _requires_connection = False

    def run(self, tmp=None, task_vars=None):
        result = super(ActionModule, self).run(tmp, task_vars)
        del tmp
        validation, params = self.validate_argument_spec(argument_spec=ARGUMENT_SPEC)
        del validation
        try:
            result.update(build_release(check_mode=bool(self._task.check_mode), **params))
        except ArchiveError as exc:
            raise AnsibleActionFail(str(exc))
        except OSError as exc:
            raise AnsibleActionFail('release_archive failed: %s' % exc)
        return result
