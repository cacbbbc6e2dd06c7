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
    assert '(%s closed:' % gate in result['msg'] and 'service person left stopped' in result['msg']
    again = run_module(release_switch, args(deployed, gate=gate, rollback=False, release='v1', swap=False,
                                            migrate=False))
    assert not again.get('failed'), again
    assert not os.path.lexists(gate) and log.read_text().splitlines()[-1] == 'start person gate=open'


def test_with_a_serve_gate_a_failed_migrate_stops_the_release_started_beside_it_and_starts_the_old_one(
        tmp_path, monkeypatch, deployed, run_module):
    """The new release starts right after the swap (start gate open, serve gate closed), before migrate fails; the
    undo stops it and starts the old release with both gates open."""
    log, gate = gated(tmp_path, monkeypatch, deployed)
    serve_gate = os.path.join(deployed, '.simpledeploy-serve-gate')
    runtime = tmp_path / 'run'
    runtime.mkdir()
    with open(os.path.join(deployed, 'staging', 'people', 'migrations', '0003_explode.py'), 'w') as handle:
        handle.write(FAILING_MIGRATION)
    result = run_module(release_switch, args(deployed, gate=gate, serve_gate=serve_gate,
                                             worker_ready_dir=str(runtime)))
    assert result['failed'] and 'failed at migrate' in result['msg']
    assert log.read_text().splitlines() == ['stop person gate=closed', 'start person gate=open',
                                            'stop person gate=closed', 'start person gate=open']
    assert not os.path.lexists(gate) and not os.path.lexists(serve_gate)


def test_with_rollback_false_the_serve_gate_stays_closed_the_message_says_so_and_the_next_run_opens_it(
        tmp_path, monkeypatch, deployed, run_module):
    log, gate = gated(tmp_path, monkeypatch, deployed)
    serve_gate = os.path.join(deployed, '.simpledeploy-serve-gate')
    runtime = tmp_path / 'run'
    runtime.mkdir()
    with open(os.path.join(deployed, 'staging', 'people', 'migrations', '0003_explode.py'), 'w') as handle:
        handle.write(FAILING_MIGRATION)
    # (ready_timeout: the stand-in starts no worker, so the rerun's serving step waits for none that long)
    options = dict(gate=gate, serve_gate=serve_gate, worker_ready_dir=str(runtime), rollback=False, ready_timeout=1)
    result = run_module(release_switch, args(deployed, **options))
    assert result['failed']
    assert log.read_text().splitlines() == ['stop person gate=closed', 'start person gate=open']
    # The start gate opened for the start beside migrate; the workers that start loaded wait at the serve gate.
    assert os.path.lexists(serve_gate) and not os.path.lexists(gate)
    assert 'service person running, its new workers waiting at the serve gate' in result['msg']
    assert '(%s closed:' % serve_gate in result['msg']
    again = run_module(release_switch, args(deployed, release='v1', swap=False, migrate=False, **options))
    assert not again.get('failed'), again
    # The next run finishes the window left open: the service restarted, the gates open.
    assert not os.path.lexists(serve_gate) and not os.path.lexists(gate)
    assert log.read_text().splitlines()[-1] == 'start person gate=open', log.read_text()


def test_gates_left_closed_with_no_window_open_are_opened_by_a_run_with_nothing_to_do(
        tmp_path, monkeypatch, deployed, run_module):
    """A window that failed with rollback false, then put right by hand: a start, and the workers of a server
    started by hand, would wait at the gates for ever. A run with nothing else to do opens them and says so."""
    log, gate = gated(tmp_path, monkeypatch, deployed)
    serve_gate = os.path.join(deployed, '.simpledeploy-serve-gate')
    for path in (gate, serve_gate):
        open(path, 'w').close()
    result = run_module(release_switch, args(deployed, gate=gate, serve_gate=serve_gate, release='v1', swap=False,
                                             migrate=False))
    assert not result.get('failed'), result
    assert result['changed'] and not os.path.lexists(gate) and not os.path.lexists(serve_gate)
    notes = result['recovery']['notes']
    assert [note for note in notes if 'with no window open: opened' in note] == [
        'the start gate %s was closed with no window open: opened' % gate,
        'the serve gate %s was closed with no window open: opened' % serve_gate]
    assert not log.exists(), 'nothing was stopped or started'


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


def test_a_serve_gate_left_closed_makes_a_window_of_a_reload_and_the_window_opens_it(
        tmp_path, monkeypatch, deployed, run_module):
    """A window that did not finish left the serve gate closed: the workers of a graceful reload would wait there,
    so the run takes a window instead (saying why), which opens it."""
    log, gate = gated(tmp_path, monkeypatch, deployed)
    serve_gate = os.path.join(deployed, '.simpledeploy-serve-gate')
    open(serve_gate, 'w').close()
    runtime = tmp_path / 'run'
    runtime.mkdir()
    result = run_module(release_switch, args(deployed, gate=gate, serve_gate=serve_gate, migrate=False,
                                             strategy='auto', worker_ready_dir=str(runtime), ready_timeout=1))
    assert not result.get('failed'), result
    assert result['strategy'] == 'simple' and 'the serve gate %s is closed' % serve_gate in result['strategy_reason']
    assert not os.path.lexists(serve_gate) and not os.path.lexists(gate)
