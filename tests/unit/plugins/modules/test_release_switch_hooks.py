# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""release_switch's project commands (window_commands, after_live_commands) on a real deploy root, real Django.

The deploy root, the systemctl that logs its calls and the stand-in server are those of test_release_switch.
"""

from __future__ import annotations

import json
import os

from ansible_collections.simpledeploy.django.plugins.modules import release_switch
from ansible_collections.simpledeploy.django.tests.unit.plugins.modules.test_release_switch import (
    applied, applied_leaves, args, rows,
)
# The fixtures of test_release_switch, used here by name.
from ansible_collections.simpledeploy.django.tests.unit.plugins.modules.test_release_switch import (  # noqa: F401 pylint: disable=unused-import
    deployed, running, systemctl, venv,
)
from ansible_collections.simpledeploy.django.tests.unit.plugins.modules.test_django_command import COMMAND

SECRET = 'release-switch-test-secret'

# What the command 'hook NAME' records besides the marker test_django_command's writes: which migrations the
# database had applied and what systemctl had been asked when it ran.
WITNESS = '''
from django.db import connection


def witness(name):
    log = os.environ["SYSTEMCTL_LOG"]
    with connection.cursor() as cursor:
        cursor.execute("SELECT name FROM django_migrations WHERE app = 'people' ORDER BY id")
        migrations = [row[0] for row in cursor.fetchall()]
    calls = open(log).read().splitlines() if os.path.exists(log) else []
    with open(os.path.join(os.environ["MARKER_DIR"], name + ".witness"), "w") as handle:
        json.dump({"migrations": migrations, "systemctl": calls}, handle)
'''


def with_hook(root, systemctl):
    """The staged release gets the command 'hook'; the environment file says where it writes."""
    commands = os.path.join(root, 'staging', 'people', 'management', 'commands')
    os.makedirs(commands)
    for directory in (os.path.dirname(commands), commands):
        open(os.path.join(directory, '__init__.py'), 'w').close()
    source = COMMAND.replace('        with open(os.path.join(os.environ["MARKER_DIR"], name), "w") as handle:',
                             '        witness(name)\n'
                             '        with open(os.path.join(os.environ["MARKER_DIR"], name), "w") as handle:')
    with open(os.path.join(commands, 'hook.py'), 'w') as handle:
        handle.write(source + WITNESS)
    markers = os.path.join(os.path.dirname(root), 'markers')
    os.mkdir(markers)
    with open(os.path.join(root, 'app.env'), 'a') as handle:
        handle.write('MARKER_DIR=%s\nSYSTEMCTL_LOG=%s\n' % (markers, systemctl))
    return markers


def witness(markers, name):
    with open(os.path.join(markers, name + '.witness')) as handle:
        return json.load(handle)


def state(root):
    with open(os.path.join(root, '.simpledeploy.json')) as handle:
        return json.load(handle)


def test_window_commands_run_after_migrate_and_before_the_start_in_the_new_tree(deployed, systemctl, run_module):
    markers = with_hook(deployed, systemctl)
    result = run_module(release_switch, args(deployed, window_commands=['hook inside'],
                                             after_live_commands=[['hook', 'after']]))
    assert not result.get('failed'), result.get('msg')
    seen = witness(markers, 'inside')
    assert seen == {'migrations': ['0001_initial', '0002_person_weight'], 'systemctl': ['stop person']}
    assert witness(markers, 'after')['systemctl'] == ['stop person', 'start person']
    assert json.load(open(os.path.join(markers, 'inside')))['cwd'] == os.path.join(deployed, 'code')
    assert [entry['command'] for entry in result['commands']['window']] == ['manage.py hook inside']
    assert [entry['command'] for entry in result['commands']['after_live']] == ['manage.py hook after']
    assert result['commands']['window'][0]['rc'] == 0 and result['commands']['window'][0]['seconds'] > 0
    assert list(result['steps']) == ['stop', 'swap', 'migrate', 'hooks', 'start', 'after_live_hooks']
    # The window's length counts the commands inside it, not those after it.
    assert result['window'] >= result['steps']['hooks']
    assert state(deployed)['current']['release'] == 'v2'


def test_a_failing_window_command_undoes_the_window_like_a_failed_migrate(deployed, systemctl, run_module):
    markers = with_hook(deployed, systemctl)
    result = run_module(release_switch, args(deployed, applied_leaves=applied_leaves(deployed), reversible=True,
                                             window_commands=['hook ok', 'hook bad --fail', 'hook never']))
    assert result['failed'] is True and result['failed_step'] == 'hooks'
    msg = result['msg']
    assert msg.startswith('the downtime window failed at hooks: manage.py hook bad --fail failed (rc=1): ')
    assert 'RuntimeError: the hook exploded with key ********' in msg
    assert SECRET not in result.raw
    assert result['restored'] == ['schema: migrated back people to 0001_initial', 'code', 'service started']
    assert applied(deployed) == ['0001_initial'] and rows(deployed) == 3
    assert os.path.exists(os.path.join(deployed, 'code', 'people', 'legacy.py'))
    assert systemctl.read_text().splitlines() == ['stop person', 'start person']
    assert [entry['rc'] for entry in result['commands']['window']] == [0, 1]
    assert not os.path.exists(os.path.join(markers, 'never'))
    assert state(deployed)['current']['release'] == 'v1' and 'switching' not in state(deployed)


def test_a_failing_after_live_command_rolls_back_like_a_failed_health_check(deployed, systemctl, run_module):
    with_hook(deployed, systemctl)
    result = run_module(release_switch, args(deployed, applied_leaves=applied_leaves(deployed), reversible=True,
                                             after_live_commands=['hook bad --fail']))
    assert result['failed'] is True and result['failed_step'] == 'after_live_hooks'
    assert 'failed at after_live_hooks: manage.py hook bad --fail failed (rc=1): ' in result['msg']
    # The new release had started; it is stopped before its schema goes back, then the old one starts.
    assert systemctl.read_text().splitlines() == ['stop person', 'start person', 'stop person', 'start person']
    assert result['restored'] == ['schema: migrated back people to 0001_initial', 'code', 'service started']
    assert applied(deployed) == ['0001_initial']
    assert state(deployed)['current']['release'] == 'v1'


def test_window_commands_rule_out_a_graceful_reload_and_say_which_variable(deployed, systemctl, running, run_module):
    with_hook(deployed, systemctl)
    result = run_module(release_switch, args(deployed, migrate=False, strategy='auto',
                                             window_commands=['hook inside']), check_mode=True)
    assert result['strategy'] == 'simple' and result['downtime'] is True
    assert 'deploy_hooks_window' in result['strategy_reason']
    refused = run_module(release_switch, args(deployed, migrate=False, strategy='reload',
                                              window_commands=['hook inside']))
    assert refused['failed'] is True and 'deploy_hooks_window' in refused['msg']
    assert not systemctl.exists()


def test_check_mode_lists_the_commands_and_runs_none(deployed, systemctl, run_module):
    markers = with_hook(deployed, systemctl)
    result = run_module(release_switch, args(deployed, window_commands=['hook inside'],
                                             after_live_commands=['hook after']), check_mode=True)
    assert not result.get('failed'), result.get('msg')
    assert result['commands'] == {'window': [{'command': 'manage.py hook inside', 'rc': None, 'seconds': None}],
                                  'after_live': [{'command': 'manage.py hook after', 'rc': None, 'seconds': None}]}
    assert os.listdir(markers) == []
    assert not systemctl.exists()


def test_a_command_that_is_none_fails_before_anything_stops(deployed, systemctl, run_module):
    result = run_module(release_switch, args(deployed, window_commands=['manage.py migrate']))
    assert result['failed'] is True and 'give only what follows manage.py' in result['msg']
    assert not systemctl.exists() and state(deployed)['current']['release'] == 'v1'
