# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""release_switch's window held open (hold), then confirmed or undone (held), on a real deploy root, real Django.

The deploy root, the systemctl that logs its calls and the environment file and unit are those of
test_release_switch; the app is a loopback server that answers with the release code/ holds.
"""

from __future__ import annotations

import contextlib
import http.server
import json
import os
import threading
import urllib.request

import pytest

from ansible_collections.simpledeploy.django.plugins.modules import release_switch
from ansible_collections.simpledeploy.django.tests.unit.plugins.modules.test_release_switch import (
    NEW_ENV, OLD_ENV, applied, applied_leaves, args, config_args, leftovers, read, render, rows,
)
# The fixtures of test_release_switch, used here by name.
from ansible_collections.simpledeploy.django.tests.unit.plugins.modules.test_release_switch import (  # noqa: F401 pylint: disable=unused-import
    deployed, first_deploy, running, systemctl, unit_dir, venv,
)


@contextlib.contextmanager
def serving(root):
    """The app: a loopback server answering every request with the release in ROOT's code/ (what a server started
    there would serve); yields its URL."""
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 (the stdlib's name)
            with open(os.path.join(root, 'code', '.simpledeploy-release'), 'rb') as handle:
                body = handle.read()
            self.send_response(200)
            self.send_header('Content-Length', str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = http.server.HTTPServer(('127.0.0.1', 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield 'http://127.0.0.1:%d/' % server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def page(deployed):
    with serving(deployed) as url:
        yield url


def state(root):
    with open(os.path.join(root, '.simpledeploy.json')) as handle:
        return json.load(handle)


def served(url):
    with urllib.request.urlopen(url, timeout=5) as answer:
        return answer.read().decode().strip()


def hold(root, unit_dir, page, **extra):
    """v2 goes live with hold (a migration, a new environment file and unit): the window is left open."""
    with open(os.path.join(root, 'code', '.simpledeploy-release'), 'w') as handle:
        handle.write('v1\n')
    call = config_args(root, unit_dir, applied_leaves=applied_leaves(root), reversible=True, ready_url=page,
                       ready_timeout=5, hold=True, **extra)
    render(call['config'])
    return call


def test_hold_leaves_the_window_open_and_undo_puts_everything_back_as_after_a_failed_health_check(
        deployed, systemctl, unit_dir, page, run_module):
    call = hold(deployed, unit_dir, page)
    result = run_module(release_switch, call)
    assert not result.get('failed'), result.get('msg')
    assert result['held'] is True and result['ready'] is True
    assert served(page) == 'v2' and applied(deployed) == ['0001_initial', '0002_person_weight']
    # Not recorded as live: the old release and what undo needs are kept.
    marker = state(deployed)
    assert marker['current']['release'] == 'v1' and marker['switching']['held']['release'] == 'v2'
    assert leftovers(call['config']) == [call['config'][0]['dest'] + '.simpledeploy-previous',
                                         call['config'][1]['dest'] + '.simpledeploy-previous']
    undo = run_module(release_switch, dict(call, hold=False, held='undo', config=[]))
    assert not undo.get('failed'), undo.get('msg')
    assert undo['settled'] == 'undo' and undo['release'] == 'v1' and undo['answered'] is True
    assert undo['restored'] == ['schema: migrated back people to 0001_initial', 'config %s' % call['config'][1]['dest'],
                                'config %s' % call['config'][0]['dest'], 'code', 'service started']
    assert 'Restored: code of release v1' in undo['msg'] and 'schema migrated back people to 0001_initial' in undo['msg']
    assert served(page) == 'v1' and applied(deployed) == ['0001_initial'] and rows(deployed) == 3
    assert read(call['config'][0]['dest']) == OLD_ENV and leftovers(call['config']) == []
    assert os.path.exists(os.path.join(deployed, 'code', 'people', 'legacy.py'))
    assert systemctl.read_text().splitlines() == ['stop person', 'daemon-reload', 'start person', 'stop person',
                                                  'daemon-reload', 'start person']
    marker = state(deployed)
    assert marker['current']['release'] == 'v1' and 'switching' not in marker
    # Nothing is held any more: a second undo changes nothing.
    again = run_module(release_switch, dict(call, hold=False, held='undo', config=[]))
    assert again['failed'] is True and 'no window is held open' in again['msg'] and served(page) == 'v1'


def test_confirm_records_the_held_release_as_live_and_tidies(deployed, systemctl, unit_dir, page, run_module):
    call = hold(deployed, unit_dir, page)
    assert run_module(release_switch, call)['held'] is True
    confirm = run_module(release_switch, dict(call, hold=False, held='confirm', config=[]))
    assert not confirm.get('failed'), confirm.get('msg')
    assert confirm['settled'] == 'confirm' and confirm['release'] == 'v2' and confirm['previous_release'] == 'v1'
    marker = state(deployed)
    assert marker['current']['release'] == 'v2' and marker['previous']['release'] == 'v1'
    assert 'switching' not in marker
    assert read(call['config'][0]['dest']) == NEW_ENV and leftovers(call['config']) == []
    assert served(page) == 'v2' and applied(deployed) == ['0001_initial', '0002_person_weight']
    assert systemctl.read_text().splitlines() == ['stop person', 'daemon-reload', 'start person']


def test_a_run_killed_between_hold_and_confirm_leaves_the_release_the_next_run_takes_as_live(
        deployed, systemctl, unit_dir, page, run_module):
    call = hold(deployed, unit_dir, page)
    assert run_module(release_switch, call)['held'] is True
    # The next run, the same release (the role's plan now finds nothing pending): nothing stops.
    again = dict(call, migrate=False)
    render(again['config'])
    # Check mode says it, changes nothing.
    preview = run_module(release_switch, again, check_mode=True)
    assert preview['changed'] is True and preview['recovered'] is True and 'held' in state(deployed)['switching']
    render(again['config'])
    result = run_module(release_switch, again)
    assert not result.get('failed'), result.get('msg')
    assert result['changed'] is True and result['recovered'] is True and result['strategy'] is None
    assert 'taken as live' in result['recovery']['notes'][0]
    marker = state(deployed)
    assert marker['current']['release'] == 'v2' and marker['previous']['release'] == 'v1'
    assert 'switching' not in marker and leftovers(call['config']) == []
    assert systemctl.read_text().splitlines() == ['stop person', 'daemon-reload', 'start person']
    assert served(page) == 'v2'


def test_check_mode_holds_nothing_and_a_held_call_without_a_held_window_changes_nothing(
        deployed, systemctl, unit_dir, page, run_module):
    call = hold(deployed, unit_dir, page)
    preview = run_module(release_switch, call, check_mode=True)
    assert not preview.get('failed') and 'held' not in preview
    assert 'switching' not in state(deployed) and not systemctl.exists()
    render(call['config'])
    refused = run_module(release_switch, dict(call, hold=False, held='confirm', config=[]))
    assert refused['failed'] is True and refused['changed'] is False and 'no window is held open' in refused['msg']
    assert state(deployed)['current']['release'] == 'v1' and not systemctl.exists()


def test_a_graceful_reload_held_open_is_undone_by_a_clean_restart_of_the_old_release(
        deployed, systemctl, running, page, run_module):
    with open(os.path.join(deployed, 'code', '.simpledeploy-release'), 'w') as handle:
        handle.write('v1\n')
    call = args(deployed, migrate=False, strategy='reload', ready_url=page, ready_timeout=5, hold=True)
    result = run_module(release_switch, call)
    assert not result.get('failed'), result.get('msg')
    assert result['strategy'] == 'reload' and result['held'] is True and served(page) == 'v2'
    undo = run_module(release_switch, dict(call, hold=False, held='undo'))
    assert not undo.get('failed'), undo.get('msg')
    assert undo['restored'] == ['code', 'service restarted'] and 'graceful reload' in undo['msg']
    assert served(page) == 'v1' and systemctl.read_text().splitlines() == ['reload person', 'restart person']
    assert state(deployed)['current']['release'] == 'v1' and 'switching' not in state(deployed)


def test_a_held_window_whose_tree_was_changed_by_hand_is_neither_confirmed_nor_undone(
        deployed, systemctl, unit_dir, page, run_module):
    call = hold(deployed, unit_dir, page)
    assert run_module(release_switch, call)['held'] is True
    with open(os.path.join(deployed, 'code', '.simpledeploy-release'), 'w') as handle:
        handle.write('v3\n')
    for held in ('undo', 'confirm'):
        refused = run_module(release_switch, dict(call, hold=False, held=held, config=[]))
        assert refused['failed'] is True and refused['changed'] is False, refused
        assert "is release v2's, but code/ holds v3" in refused['msg']
    assert systemctl.read_text().splitlines() == ['stop person', 'daemon-reload', 'start person']
    assert 'held' in state(deployed)['switching'] and applied(deployed) == ['0001_initial', '0002_person_weight']


def test_a_held_first_deploy_undone_leaves_the_service_stopped_and_disabled_and_nothing_half_done(
        first_deploy, systemctl, tmp_path, run_module):
    (tmp_path / 'show').write_text('LoadState=loaded\nActiveState=inactive\n')
    with serving(first_deploy) as url:
        call = args(first_deploy, release='v1', migrate=False, ready_url=url, ready_timeout=5, hold=True)
        assert run_module(release_switch, call)['held'] is True
        undo = run_module(release_switch, dict(call, hold=False, held='undo'))
    assert not undo.get('failed'), undo.get('msg')
    assert undo['release'] is None and undo['answered'] is None
    assert undo['restored'] == ['code', 'service left stopped and disabled (no release before this run)']
    assert 'This was the first deploy: there is no earlier release to go back to' in undo['msg']
    assert systemctl.read_text().splitlines() == ['stop person', 'start person', 'stop person', 'disable person']
    assert not os.path.exists(os.path.join(first_deploy, 'code'))
    assert state(first_deploy) == {'app': 'person', 'format': 1}
