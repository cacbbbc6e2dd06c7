# -*- coding: utf-8 -*-
# Copyright (c) simpledeploy developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""_systemd.units_report: the role skips enabling and starting the units after the switch only when every one
is loaded, enabled and running. systemctl's answer is given as systemd prints it (the Molecule scenarios read
a real one: every deploy there asks)."""

from __future__ import annotations

import pytest

from ansible_collections.simpledeploy.django.plugins.module_utils import _systemd

READY = 'LoadState=loaded\nActiveState=active\nUnitFileState=enabled\n'


def ready(module, units):
    """units_report's verdict alone (what the role's units_ready is)."""
    return _systemd.units_report(module, units)[0]


class Module(object):
    def __init__(self, out, rc=0, systemctl='/usr/bin/systemctl'):
        self.out, self.rc, self.systemctl, self.argv = out, rc, systemctl, None

    def get_bin_path(self, name):
        return self.systemctl

    def run_command(self, argv, environ_update=None):
        self.argv = argv
        return self.rc, self.out, ''


def test_every_unit_ready_in_one_question():
    module = Module(READY + '\n' + READY.replace('active\n', 'reloading\n', 1))
    assert ready(module, ['person', 'person.socket']) is True
    assert module.argv[-2:] == ['person', 'person.socket'] and module.argv[:2] == ['systemctl', 'show']


@pytest.mark.parametrize('second', [
    READY.replace('enabled', 'disabled'),
    READY.replace('active', 'inactive', 1),
    READY.replace('active', 'failed', 1),
    READY.replace('loaded', 'not-found'),
    '',
])
def test_one_unit_not_ready_runs_the_task(second):
    assert ready(Module(READY + '\n' + second), ['person', 'person.socket']) is False


def test_no_systemctl_or_an_error_is_not_ready():
    assert ready(Module(READY, systemctl=None), ['person']) is False
    assert ready(Module(READY, rc=1), ['person']) is False
    assert ready(Module(''), []) is True


def test_what_is_not_ready_is_said_in_words():
    # What deploy_result.quiet_blockers shows when a run with the same release had something to do.
    stopping = READY.replace('active', 'deactivating', 1)
    assert _systemd.units_report(Module(READY + '\n' + stopping), ['person', 'person.socket']) == (
        False, 'person.socket: ActiveState=deactivating')
    named = 'Id=person.service\n' + READY.replace('enabled', 'disabled')
    assert _systemd.units_report(Module(named), ['person']) == (False, 'person.service: UnitFileState=disabled')
    assert _systemd.units_report(Module(READY), ['person', 'person.socket']) == (
        False, 'systemctl show answered for 1 of the 2 units')

    class Failing(Module):
        def run_command(self, argv, environ_update=None):
            return 1, '', 'Failed to connect to bus: Connection timed out\n'
    assert _systemd.units_report(Failing(''), ['person']) == (
        False, 'systemctl show failed (rc=1): Failed to connect to bus: Connection timed out')
    assert _systemd.units_report(Module(READY + '\n' + READY), ['person', 'person.socket']) == (True, None)
