# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one message of a failed window."""

from __future__ import annotations

import pytest

from ansible_collections.simpledeploy.django.plugins.module_utils import _messages


@pytest.mark.parametrize('kwargs, expected', [
    (dict(restored=['schema: x', 'venv', 'code', 'service started'], schema='migrated back people to 0001_initial',
          live_release='v1', answered=True, backup='/srv/p/backups/v2-20260101T000000Z.sqlite3'),
     'the downtime window failed at migrate: boom. Restored: code of release v1, its virtualenv, schema migrated '
     'back people to 0001_initial, service person started and answering: yes. Backup taken before migrating: '
     '/srv/p/backups/v2-20260101T000000Z.sqlite3. Logs: journalctl -u person -n 50'),
    (dict(restored=['code', 'service started'], live_release='v1'),
     'the downtime window failed at migrate: boom. Restored: code of release v1, service person started. '
     'Logs: journalctl -u person -n 50'),
    (dict(rollback=False, left='code/ holds release v2, service person left stopped'),
     'the downtime window failed at migrate: boom. Nothing was rolled back (rollback is false): code/ holds '
     'release v2, service person left stopped. Logs: journalctl -u person -n 50'),
    (dict(restored=['schema: x'], undo_error=OSError('no code.previous')),
     'the downtime window failed at migrate: boom. The rollback failed too: no code.previous (restored before '
     'that: schema: x); the host needs a look. Logs: journalctl -u person -n 50'),
])
def test_failure_message(kwargs, expected):
    assert _messages.failure_message('downtime window', 'migrate', 'boom.', 'person', **kwargs) == expected
