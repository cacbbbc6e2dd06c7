# -*- coding: utf-8 -*-
# Copyright (c) simpledeploy developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one message a failed deploy ends with (documented in failure_message.yml)."""

from __future__ import annotations

from collections.abc import Mapping

from ansible.errors import AnsibleFilterError

from ansible_collections.simpledeploy.django.plugins.module_utils import _failure


def failure_message(result, app, task, env=None):
    """``<app>: the deploy failed at "<task>": <what failed>``: see ``_failure.failure_message``."""
    if not isinstance(result, Mapping):
        raise AnsibleFilterError('failure_message expects the failed task\'s result (a dict), got %s'
                                 % type(result).__name__)
    if env is not None and not isinstance(env, Mapping):
        raise AnsibleFilterError('failure_message expects env to be a dict (deploy_env), got %s' % type(env).__name__)
    return _failure.failure_message(dict(result), app, task, env)


class FilterModule(object):
    """The deploy role's failure message."""

    def filters(self):
        return {'failure_message': failure_message}
