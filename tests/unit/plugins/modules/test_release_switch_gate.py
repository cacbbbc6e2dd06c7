# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""release_switch's start gate: closed from before the stop until just before the start, in the window and in
its undo, so that a start a connection asks for through the socket runs no release's code before the window ends.

A real Django (the Person example) migrates; systemctl is a stand-in that writes down, with each call, whether
the gate file was there. That a real unit's start waits at the gate is the Molecule scenario's to show
(molecule/realistic), and the gate script's own test is below.
"""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import threading
import time

from ansible_collections.simpledeploy.django.plugins.modules import release_switch
from ansible_collections.simpledeploy.django.tests.unit.conftest import REPO_ROOT
from ansible_collections.simpledeploy.django.tests.unit.plugins.modules.test_release_switch import (  # noqa: F401 pylint: disable=unused-import
    FAILING_MIGRATION, applied, args, deployed, venv,
)

GATE_SCRIPT = os.path.join(REPO_ROOT, 'roles', 'deploy', 'files', 'simpledeploy_gate.py')

# Like test_release_switch's stand-in, but each line says whether the gate was closed (the file there).
SYSTEMCTL = '''#!/bin/sh
dir=%s
gate=%s
[ "$1" = show ] && exit 0
if [ -e "$gate" ]; then state=closed; else state=open; fi
echo "$* gate=$state" >> "$dir/systemctl.log"
'''


def gated(tmp_path, monkeypatch, root):
    bindir = tmp_path / 'bin'
    bindir.mkdir()
    script = bindir / 'systemctl'
    gate = os.path.join(root, '.simpledeploy-gate')
    script.write_text(SYSTEMCTL % (tmp_path, gate))
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv('PATH', '%s:%s' % (bindir, os.environ.get('PATH', '')))
    return tmp_path / 'systemctl.log', gate


def test_the_gate_is_closed_from_before_the_stop_until_the_start(tmp_path, monkeypatch, deployed, run_module):
    log, gate = gated(tmp_path, monkeypatch, deployed)
    result = run_module(release_switch, args(deployed, gate=gate))
    assert not result.get('failed'), result
    assert log.read_text().splitlines() == ['stop person gate=closed', 'start person gate=open']
    assert not os.path.lexists(gate)


def test_the_undo_closes_it_again_until_the_old_release_starts(tmp_path, monkeypatch, deployed, run_module):
    log, gate = gated(tmp_path, monkeypatch, deployed)
    with open(os.path.join(deployed, 'staging', 'people', 'migrations', '0003_explode.py'), 'w') as handle:
        handle.write(FAILING_MIGRATION)
    result = run_module(release_switch, args(deployed, gate=gate))
    assert result['failed'] and 'failed at migrate' in result['msg']
    assert log.read_text().splitlines() == ['stop person gate=closed', 'start person gate=open']
    assert not os.path.lexists(gate)


def test_a_window_that_fails_with_rollback_false_leaves_the_gate_closed_and_the_next_run_opens_it(
        tmp_path, monkeypatch, deployed, run_module):
    log, gate = gated(tmp_path, monkeypatch, deployed)
    with open(os.path.join(deployed, 'staging', 'people', 'migrations', '0003_explode.py'), 'w') as handle:
        handle.write(FAILING_MIGRATION)
    result = run_module(release_switch, args(deployed, gate=gate, rollback=False))
    assert result['failed']
    # Left as it is, stopped: nothing may start on it until a run has put it right, and the message says so.
    assert os.path.lexists(gate) and log.read_text().splitlines() == ['stop person gate=closed']
    assert 'its start gate %s is closed' % gate in result['msg']
    again = run_module(release_switch, args(deployed, gate=gate, rollback=False, release='v1', swap=False,
                                            migrate=False))
    assert not again.get('failed'), again
    assert not os.path.lexists(gate) and log.read_text().splitlines()[-1] == 'start person gate=open'


def test_the_gate_script_waits_while_the_file_exists(tmp_path):
    gate = tmp_path / 'gate'
    gate.write_text('open window\n')
    proc = subprocess.Popen([sys.executable, GATE_SCRIPT, str(gate)], stderr=subprocess.PIPE, text=True)
    time.sleep(0.5)
    assert proc.poll() is None, 'the start went on with the window open'
    threading.Timer(0.2, gate.unlink).start()
    assert proc.wait(10) == 0
    assert 'a deploy window is open' in proc.stderr.read()
    # No gate: it returns at once.
    assert subprocess.run([sys.executable, GATE_SCRIPT, str(gate)], timeout=10, check=False).returncode == 0


def test_a_gate_that_cannot_be_made_does_not_stop_the_undo(tmp_path, monkeypatch, deployed, run_module):
    """The disk is full (here: the gate's directory gone from under it): the undo puts the old release back all
    the same."""
    log, gate = gated(tmp_path, monkeypatch, deployed)
    with open(os.path.join(deployed, 'staging', 'people', 'migrations', '0003_explode.py'), 'w') as handle:
        handle.write(FAILING_MIGRATION)
    from ansible_collections.simpledeploy.django.plugins.module_utils import _window
    real = _window.Switch.close_gate
    calls = []

    def close_gate(self):
        calls.append(1)
        if len(calls) > 1:
            raise OSError(28, 'No space left on device', self.gate)
        return real(self)

    monkeypatch.setattr(_window.Switch, 'close_gate', close_gate)
    result = run_module(release_switch, args(deployed, gate=gate))
    assert result['failed'] and 'failed at migrate' in result['msg'] and 'code' in result['restored']
    assert log.read_text().splitlines() == ['stop person gate=closed', 'start person gate=open']
