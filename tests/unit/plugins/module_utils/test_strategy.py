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
