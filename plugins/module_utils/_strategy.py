# -*- coding: utf-8 -*-
# Copyright (c) simpledeploy developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""How a release goes live: a graceful reload when nothing blocks it, the stop-and-start window otherwise.

Private to the simpledeploy.django collection: the interface may change.
"""

from __future__ import annotations

import os

from ansible_collections.simpledeploy.django.plugins.module_utils._state import CODE, VENV_LINK, VENVS

STRATEGIES = ('auto', 'simple', 'reload')


def reload_blockers(root, info, unit, main_pid, migrate, venv_key, service, extra=()):
    """Why a graceful reload cannot apply this deploy, and whether it is a first deploy: (blockers, first).

    INFO is _state.inspect_root's, UNIT _systemd.parse_show's of the service, EXTRA the caller's own reasons.
    """
    venv_link = os.path.join(root, VENV_LINK)
    blockers = []
    first = not info['current_release'] or not os.path.isdir(os.path.join(root, CODE))
    if migrate:
        blockers.append('migrations are pending: the schema changes while no server runs')
    if first:
        # Nothing to reload: the other reasons would only be noise.
        blockers.append('first deploy: nothing serves yet')
        return blockers, first
    if venv_key and (not os.path.islink(venv_link) or os.readlink(venv_link) != os.path.join(VENVS, venv_key)):
        blockers.append('the virtualenv changed: the server must restart to load it')
    if unit.get('ActiveState') != 'active' or not main_pid:
        blockers.append('the service %s is not running' % service)
    elif unit.get('CanReload') != 'yes':
        blockers.append('the service %s has no ExecReload, it cannot reload' % service)
    blockers.extend(extra)
    return blockers, first


def choose_strategy(requested, blockers):
    """Pick how the new release goes live: (strategy, reason).

    REQUESTED is auto, simple or reload; BLOCKERS lists why a graceful reload
    cannot apply this deploy (pending migrations, a new virtualenv, ...).
    Pure. Raises ValueError when reload is requested and something blocks it.
    """
    if requested not in STRATEGIES:
        raise ValueError('unknown strategy %r: choose one of %s' % (requested, ', '.join(STRATEGIES)))
    if requested == 'simple':
        return 'simple', 'deploy_strategy is simple: stop, replace, migrate, start'
    if not blockers:
        return 'reload', ('%snothing to migrate and the same virtualenv: the running server '
                          'reloads the new code gracefully, no downtime'
                          % ('' if requested == 'reload' else 'auto: '))
    if requested == 'reload':
        raise ValueError('deploy_strategy is reload, but a graceful reload cannot apply this deploy: %s. '
                         'Nothing was stopped; deploy with deploy_strategy auto or simple'
                         % '; '.join(blockers))
    return 'simple', 'auto: %s' % '; '.join(blockers)
