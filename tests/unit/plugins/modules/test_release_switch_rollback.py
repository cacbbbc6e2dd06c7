# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""release_switch going back to a release kept on the host (stage_kept, migrate_back), on real Django and SQLite:
the schema back inside the window or after the switch, and a failed rollback undone with the kept tree kept."""

from __future__ import annotations

import json
import os
import sqlite3

from ansible_collections.simpledeploy.django.plugins.module_utils import _state, _static
from ansible_collections.simpledeploy.django.plugins.modules import release_switch
from ansible_collections.simpledeploy.django.tests.unit.conftest import copy_example
from ansible_collections.simpledeploy.django.tests.unit.plugins.modules.test_release_switch import (
    applied, applied_leaves, args, backups, fake_venv, link_shared, rows,
)
# The fixtures of test_release_switch, used here by name.
from ansible_collections.simpledeploy.django.tests.unit.plugins.modules.test_release_switch import (  # noqa: F401 pylint: disable=unused-import
    deployed, running, systemctl, venv,
)

NULLABLE = '''
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [('people', '0002_person_weight')]
    operations = [migrations.AddField('person', 'nickname', models.CharField(max_length=20, null=True))]
'''


def columns(root):
    with sqlite3.connect(os.path.join(root, 'shared', 'db.sqlite3')) as conn:
        return [row[1] for row in conn.execute('PRAGMA table_info(people_person)')]


def release_of(root, tree):
    return _state.tree_release(os.path.join(root, tree))


def deploy(run_module, root, release, venv, key=None, **extra):
    """RELEASE (staged) live with a virtualenv of its own, KEY (k<release> by default); returns the result."""
    key = key or 'k' + release
    if not os.path.isdir(os.path.join(root, 'venvs', key)):
        fake_venv(root, key, venv)
    result = run_module(release_switch, args(root, release=release, venv_key=key, **extra))
    assert not result.get('failed'), result
    return result


def three_releases(run_module, root, venv, v1_venv=True):
    """v1 (live in the fixture; with V1_VENV a virtualenv of its own, so it can come back), v2 (its migration),
    then v3 (v2's code again, nothing to migrate): v3 live, v2 in code.previous/, v1 in releases/."""
    if v1_venv:
        fake_venv(root, 'kv1', venv)
    deploy(run_module, root, 'v2', venv)
    copy_example('v2', os.path.join(root, 'staging'))
    link_shared(root, os.path.join(root, 'staging'))
    deploy(run_module, root, 'v3', venv, migrate=False)


def rollback(root, release, newer, targets, after=False, key=None, **extra):
    """release_switch's arguments for a rollback to RELEASE from NEWER (live), TARGETS [(app, name)]; KEY: the
    virtualenv both use (each its own by default)."""
    return args(root, release=release, venv_key=key or 'k' + release, stage_kept=True, migrate=not after,
                migrate_back=dict(targets=[dict(app=app, name=name) for app, name in targets],
                                  venv_key=key or 'k' + newer, after=after),
                backup=True, reversible=False, applied_leaves=applied_leaves(root), **extra)


def collected(tree, name):
    """TREE with a static file NAME its own collectstatic made (its RECORD says so)."""
    os.makedirs(os.path.join(tree, 'static'), exist_ok=True)
    with open(os.path.join(tree, 'static', name), 'w') as handle:
        handle.write(name)
    _static.write_record(tree, 'static', [name])


def test_a_rollback_over_a_migration_the_older_code_cannot_run_with_goes_back_inside_the_window(
        deployed, venv, systemctl, run_module):
    # v1 live (kept with a virtualenv of its own), then v2: NOT NULL weight, which v1 leaves out of its inserts.
    fake_venv(deployed, 'kv1', venv)
    collected(os.path.join(deployed, 'code'), 'app.v1.css')
    collected(os.path.join(deployed, 'staging'), 'app.v2.css')
    deploy(run_module, deployed, 'v2', venv)
    assert columns(deployed)[-1] == 'weight'
    result = run_module(release_switch, rollback(deployed, 'v1', 'v2', [('people', '0001_initial')]))
    assert not result.get('failed'), result
    assert (release_of(deployed, 'code'), release_of(deployed, 'code.previous')) == ('v1', 'v2')
    assert not os.path.exists(os.path.join(deployed, 'code', 'people', 'migrations', '0002_person_weight.py'))
    assert os.readlink(os.path.join(deployed, 'venv')) == 'venvs/kv1'
    # Migrated back by v2's tree (v1's knows nothing of 0002), inside the window, after a backup.
    assert applied(deployed) == ['0001_initial'] and 'weight' not in columns(deployed) and rows(deployed) == 3
    assert any('Unapplying people.0002_person_weight... OK' in line for line in result['migrate_output'])
    assert systemctl.read_text().splitlines()[-2:] == ['stop person', 'start person']
    assert backups(deployed) == [os.path.basename(result['backup'])]
    state = json.load(open(os.path.join(deployed, '.simpledeploy.json')))
    assert [entry['release'] for entry in state['releases']] == ['v1', 'v2']
    # v1's own static files, and v2's beside them (the same files, linked): a v2 page still open finds its CSS.
    assert result['static_carried'] == 1
    assert sorted(os.listdir(os.path.join(deployed, 'code', 'static'))) == ['app.v1.css', 'app.v2.css']
    assert os.path.samefile(os.path.join(deployed, 'code', 'static', 'app.v2.css'),
                            os.path.join(deployed, 'code.previous', 'static', 'app.v2.css'))


def test_a_rollback_the_older_code_runs_through_takes_no_window_then_takes_the_schema_back(
        deployed, venv, systemctl, running, run_module):
    # v2, then v3 (v2 and a nullable column, which v2 runs with), in the same virtualenv; the server runs.
    deploy(run_module, deployed, 'v2', venv, key='kshared')
    copy_example('v2', os.path.join(deployed, 'staging'))
    link_shared(deployed, os.path.join(deployed, 'staging'))
    with open(os.path.join(deployed, 'staging', 'people', 'migrations', '0003_nickname.py'), 'w') as handle:
        handle.write(NULLABLE)
    deploy(run_module, deployed, 'v3', venv, key='kshared')
    assert columns(deployed)[-1] == 'nickname'
    calls = len(systemctl.read_text().splitlines())
    result = run_module(release_switch, rollback(deployed, 'v2', 'v3', [('people', '0002_person_weight')], after=True,
                                                 key='kshared', strategy='auto'))
    assert not result.get('failed'), result
    # No window: a graceful reload, then the schema back while v2 serves (a backup first).
    assert result['strategy'] == 'reload' and result['downtime'] is False and result['window'] == 0
    assert systemctl.read_text().splitlines()[calls:] == ['reload person']
    assert result['migrated_back'] is True and result['migrated'] is False and 'migrate' not in result['steps']
    assert (release_of(deployed, 'code'), release_of(deployed, 'code.previous')) == ('v2', 'v3')
    # Taken from code.previous/: nothing went to releases/ for it, v1 stays kept there.
    assert sorted(os.listdir(os.path.join(deployed, 'releases'))) == ['v1']
    assert applied(deployed) == ['0001_initial', '0002_person_weight'] and 'nickname' not in columns(deployed)
    assert rows(deployed) == 3
    assert result['backup'] and any('Unapplying people.0003_nickname' in line for line in result['migrate_output'])


def test_a_failed_rollback_is_undone_and_the_release_stays_kept(deployed, venv, systemctl, run_module):
    three_releases(run_module, deployed, venv)
    assert release_of(deployed, 'releases/v1') == 'v1'
    before = (applied(deployed), columns(deployed), rows(deployed))
    # No such migration: migrate back fails inside the window, after the swap and the backup.
    result = run_module(release_switch, rollback(deployed, 'v1', 'v3', [('people', '0009_nowhere')]))
    assert result['failed'] and result['failed_step'] == 'migrate'
    assert '0009_nowhere' in result['msg']
    assert (release_of(deployed, 'code'), release_of(deployed, 'code.previous')) == ('v3', 'v2')
    assert release_of(deployed, 'releases/v1') == 'v1' and not os.path.exists(os.path.join(deployed, 'staging'))
    assert (applied(deployed), columns(deployed), rows(deployed)) == before
    assert systemctl.read_text().splitlines()[-1] == 'start person'
    assert os.readlink(os.path.join(deployed, 'venv')) == 'venvs/kv3'


def test_a_release_not_kept_is_refused_before_anything_changes(deployed, venv, systemctl, run_module):
    deploy(run_module, deployed, 'v2', venv)
    calls = systemctl.read_text()
    result = run_module(release_switch, rollback(deployed, 'v0', 'v2', [('people', 'zero')]))
    assert result['failed'] and 'release v0 is not kept on this host' in result['msg']
    assert systemctl.read_text() == calls and release_of(deployed, 'code') == 'v2'


def test_migrate_back_after_the_switch_with_a_migrate_in_the_window_is_refused(deployed, venv, systemctl,
                                                                               run_module):
    deploy(run_module, deployed, 'v2', venv)
    result = run_module(release_switch, dict(rollback(deployed, 'v1', 'v2', [('people', '0001_initial')], after=True),
                                             migrate=True))
    assert result['failed'] and 'migrate_back with after True needs migrate False' in result['msg']
    # v1's tree (made before trees were marked: people/legacy.py tells it) where it was.
    assert release_of(deployed, 'code') == 'v2'
    assert os.path.exists(os.path.join(deployed, 'code.previous', 'people', 'legacy.py'))


def test_a_schema_that_fails_to_go_back_after_the_switch_leaves_the_release_live_and_says_so(
        deployed, venv, systemctl, run_module):
    three_releases(run_module, deployed, venv, v1_venv=False)
    before = applied(deployed)
    result = run_module(release_switch, rollback(deployed, 'v2', 'v3', [('people', '0009_nowhere')], after=True))
    assert result['failed']
    assert result['msg'].startswith('release v2 is live and serves, but taking the schema back after the switch '
                                    'failed: manage.py migrate people 0009_nowhere'), result['msg']
    assert 'To finish, run manage.py migrate people 0009_nowhere in %s/code.previous/ as the app user, with the ' \
        'environment of %s/app.env and the virtualenv %s/venvs/kv3' % ((deployed,) * 3) in result['msg']
    assert '; the backup taken just before is ' in result['msg']
    assert release_of(deployed, 'code') == 'v2' and applied(deployed) == before
    state = json.load(open(os.path.join(deployed, '.simpledeploy.json')))
    assert state['current']['release'] == 'v2' and 'switching' not in state


def test_a_rollback_that_fails_before_its_window_puts_every_tree_back_where_it_was(
        deployed, venv, systemctl, run_module):
    three_releases(run_module, deployed, venv)
    calls = systemctl.read_text()
    for release in ('v2', 'v1'):  # from code.previous/, then from releases/ (code.previous/ set aside for it)
        args = rollback(deployed, release, 'v3', [('people', '0001_initial')])
        args['migrate_back']['venv_key'] = 'gone'
        result = run_module(release_switch, args)
        assert result['failed'] and result['msg'].startswith('cannot migrate, nothing was stopped: missing '), result
        assert (release_of(deployed, 'code'), release_of(deployed, 'code.previous'),
                release_of(deployed, 'releases/v1')) == ('v3', 'v2', 'v1')
        assert not os.path.exists(os.path.join(deployed, 'staging')) and systemctl.read_text() == calls


def test_an_undone_rollback_to_the_previous_tree_leaves_it_there(deployed, venv, systemctl, run_module):
    three_releases(run_module, deployed, venv)
    result = run_module(release_switch, rollback(deployed, 'v2', 'v3', [('people', '0009_nowhere')]))
    assert result['failed'] and result['failed_step'] == 'migrate'
    assert (release_of(deployed, 'code'), release_of(deployed, 'code.previous'),
            release_of(deployed, 'releases/v1')) == ('v3', 'v2', 'v1')
    assert not os.path.exists(os.path.join(deployed, 'releases', 'v2'))


def test_a_rollbacks_window_left_open_says_which_release_it_went_back_from(deployed, venv, systemctl, run_module):
    # rollback false: the failed window stays as it failed, its record in the marker (as a killed run leaves it).
    fake_venv(deployed, 'kv1', venv)
    deploy(run_module, deployed, 'v2', venv)
    result = run_module(release_switch, rollback(deployed, 'v1', 'v2', [('people', '0009_nowhere')], rollback=False))
    assert result['failed']
    state = json.load(open(os.path.join(deployed, '.simpledeploy.json')))
    assert state['switching']['release'] == 'v1' and state['switching']['rollback_from'] == 'v2'
