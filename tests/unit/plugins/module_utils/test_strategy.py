# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""How a release goes live: the strategy and its reason."""

from __future__ import annotations

import pytest

from ansible_collections.simpledeploy.django.plugins.module_utils import _strategy


@pytest.mark.parametrize('requested, blockers, strategy, reason', [
    ('simple', [], 'simple', 'deploy_strategy is simple: stop, replace, migrate, start'),
    ('auto', [], 'reload', 'auto: nothing to migrate and the same virtualenv: the running server '
                           'reloads the new code gracefully, no downtime'),
    ('reload', [], 'reload', 'nothing to migrate and the same virtualenv: the running server '
                             'reloads the new code gracefully, no downtime'),
    ('auto', ['migrations are pending', 'the unit changed'], 'simple',
     'auto: migrations are pending; the unit changed'),
    ('simple', ['migrations are pending'], 'simple', 'deploy_strategy is simple: stop, replace, migrate, start'),
])
def test_choose_strategy(requested, blockers, strategy, reason):
    assert _strategy.choose_strategy(requested, blockers) == (strategy, reason)


def test_choose_strategy_refuses_a_reload_that_cannot_apply_the_deploy():
    with pytest.raises(ValueError, match='cannot apply this deploy: migrations are pending. Nothing was stopped'):
        _strategy.choose_strategy('reload', ['migrations are pending'])
    with pytest.raises(ValueError, match='unknown strategy'):
        _strategy.choose_strategy('rolling', [])


PENDING = _strategy.MIGRATIONS_PENDING
EXPANDS = (True, [])
CANNOT = (False, ['people.0002 (Add field weight): adds NOT NULL column people_person.weight'])


@pytest.mark.parametrize('requested, blockers, expand, strategy, reason', [
    # every pending migration can run under the old release: migrated first, then the reload
    ('auto', [PENDING], EXPANDS, 'expand',
     'auto: every pending migration keeps the old release working and holds no writes for long: migrated while the '
     'old release serves, then a graceful reload, no downtime'),
    ('expand', [PENDING], EXPANDS, 'expand',
     'every pending migration keeps the old release working and holds no writes for long: migrated while the '
     'old release serves, then a graceful reload, no downtime'),
    # nothing to migrate: expand is a reload
    ('expand', [], (False, ['nothing to migrate']), 'reload',
     'nothing to migrate and the same virtualenv: the running server reloads the new code gracefully, no downtime'),
    # auto says which migration keeps it from running first
    ('auto', [PENDING], CANNOT, 'simple',
     'auto: %s, and not all can run while the old release serves: %s' % (PENDING, CANNOT[1][0])),
    # something else needs the restart: the window, whatever the migrations
    ('auto', [PENDING, 'the virtualenv changed'], EXPANDS, 'simple', 'auto: %s; the virtualenv changed' % PENDING),
    ('simple', [PENDING], EXPANDS, 'simple', 'deploy_strategy is simple: stop, replace, migrate, start'),
])
def test_expand_is_chosen_when_the_plan_allows_it_and_nothing_else_blocks_the_reload(requested, blockers, expand,
                                                                                     strategy, reason):
    assert _strategy.choose_strategy(requested, blockers, expand) == (strategy, reason)


@pytest.mark.parametrize('blockers, expand, said', [
    ([PENDING], CANNOT, 'adds NOT NULL column people_person.weight. Nothing was stopped'),
    ([PENDING, 'the unit changed'], EXPANDS, 'serves: the unit changed. Nothing was stopped'),
    (['the unit changed'], (False, ['nothing to migrate']),
     'a graceful reload cannot apply this deploy: the unit changed. Nothing was stopped'),
])
def test_expand_is_refused_naming_what_keeps_it_from_it(blockers, expand, said):
    with pytest.raises(ValueError, match='^deploy_strategy is expand, but') as raised:
        _strategy.choose_strategy('expand', blockers, expand)
    assert said in str(raised.value)
