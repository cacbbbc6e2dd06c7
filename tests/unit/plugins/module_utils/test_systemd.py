# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""systemctl show parsing and the wait for a reload's new workers."""

from __future__ import annotations

import pytest

from ansible_collections.simpledeploy.django.plugins.module_utils import _errors, _systemd


def test_parse_show():
    assert _systemd.parse_show('ActiveState=active\nMainPID=42\nCanReload=yes\n\n') == {
        'ActiveState': 'active', 'MainPID': '42', 'CanReload': 'yes'}


def test_wait_workers_replaced():
    ticks = iter(range(100))
    seen = iter([[1, 2], [1, 2, 3, 4], [3, 4]])
    assert _systemd.wait_workers_replaced(9, [1, 2], children=lambda pid: next(seen), alive=lambda pid: True,
                                          clock=lambda: next(ticks), sleep=lambda s: None) == [3, 4]
    with pytest.raises(_errors.StepError, match=r'old workers \(2\) still ran 3 s'):
        _systemd.wait_workers_replaced(9, [1, 2], timeout=3, children=lambda pid: [2, 3],
                                       alive=lambda pid: True, clock=lambda: next(ticks), sleep=lambda s: None)
    with pytest.raises(_errors.StepError, match='exited during the reload'):
        _systemd.wait_workers_replaced(9, [1], children=lambda pid: [], alive=lambda pid: False)
