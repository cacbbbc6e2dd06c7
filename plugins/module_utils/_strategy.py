# -*- coding: utf-8 -*-
# Copyright (c) simpledeploy developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""How a release goes live: a graceful reload when nothing blocks it; migrations applied first and then a graceful
reload when every pending one can run under the old release (expand); the stop-and-start window otherwise.

Private to the simpledeploy.django collection: the interface may change.
"""

from __future__ import annotations

import os

from ansible_collections.simpledeploy.django.plugins.module_utils._state import CODE, VENV_LINK, VENVS

STRATEGIES = ('auto', 'simple', 'reload', 'expand')
MIGRATIONS_PENDING = 'migrations are pending: the schema changes while no server runs'


def reload_blockers(root, info, unit, main_pid, migrate, venv_key, service, extra=()):
    """Why a graceful reload cannot apply this deploy, and whether it is a first deploy: (blockers, first).

    INFO is _state.inspect_root's, UNIT _systemd.parse_show's of the service, EXTRA the caller's own reasons.
    """
    venv_link = os.path.join(root, VENV_LINK)
    blockers = []
    first = not info['current_release'] or not os.path.isdir(os.path.join(root, CODE))
    if migrate:
        blockers.append(MIGRATIONS_PENDING)
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


def choose_strategy(requested, blockers, expand=None):
    """Pick how the new release goes live: (strategy, reason).

    REQUESTED is one of STRATEGIES; BLOCKERS lists why a graceful reload
    cannot apply this deploy (pending migrations, a new virtualenv, ...);
    EXPAND is (possible, reasons) for the pending migrations
    (_compat.expand_verdict), None when not known. Pure. Raises ValueError when
    reload or expand is requested and cannot be done.
    """
    if requested not in STRATEGIES:
        raise ValueError('unknown strategy %r: choose one of %s' % (requested, ', '.join(STRATEGIES)))
    if requested == 'simple':
        return 'simple', 'deploy_strategy is simple: stop, replace, migrate, start'
    said = '' if requested in ('reload', 'expand') else 'auto: '
    if not blockers:
        return 'reload', ('%snothing to migrate and the same virtualenv: the running server '
                          'reloads the new code gracefully, no downtime' % said)
    if requested == 'reload':
        raise ValueError('deploy_strategy is reload, but a graceful reload cannot apply this deploy: %s. '
                         'Nothing was stopped; deploy with deploy_strategy auto or simple'
                         % '; '.join(blockers))
    others = [blocker for blocker in blockers if blocker != MIGRATIONS_PENDING]
    migrating = len(others) < len(blockers)
    possible, why = expand if expand is not None else (False, ['the migrations were not judged (no expand given)'])
    if migrating and possible and not others:
        return 'expand', ('%severy pending migration keeps the old release working and holds no writes for long: '
                          'migrated while the old release serves, then a graceful reload, no downtime' % said)
    if requested == 'expand' and not migrating:
        raise ValueError('deploy_strategy is expand, but a graceful reload cannot apply this deploy: %s. Nothing was '
                         'stopped; deploy with deploy_strategy auto or simple' % '; '.join(others))
    if requested == 'expand':
        raise ValueError('deploy_strategy is expand, but the migrations cannot be applied while the old release '
                         'serves: %s. Nothing was stopped; deploy with deploy_strategy auto or simple'
                         % '; '.join(why + others))
    if migrating and not others and expand is not None:
        # Only the migrations stand in the way: say which ones keep them from running first.
        return 'simple', 'auto: %s, and not all can run while the old release serves: %s' % (
            MIGRATIONS_PENDING, '; '.join(why))
    return 'simple', 'auto: %s' % '; '.join(blockers)
