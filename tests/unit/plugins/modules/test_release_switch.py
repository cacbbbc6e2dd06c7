# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""release_switch on a real deploy root with real Django migrations.

systemd is the one part not run here (no service manager in a unit test): a
`systemctl` on PATH records its calls. The Molecule scenario runs the module
against real systemd and gunicorn.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import stat

import pytest

from ansible_collections.simpledeploy.django.plugins.modules import release_switch
from ansible_collections.simpledeploy.django.tests.unit.conftest import build_venv, copy_example, venv_python

FAILING_MIGRATION = '''
from django.db import migrations


def explode(apps, schema_editor):
    raise RuntimeError("data migration exploded")


class Migration(migrations.Migration):
    dependencies = [("people", "0002_person_weight")]
    operations = [migrations.RunPython(explode)]
'''


@pytest.fixture(scope='module')
def venv():
    python = venv_python()
    if python is None:
        pytest.skip('no Python >= 3.12 for the Django test virtualenv')
    return build_venv('5.2', python)


@pytest.fixture
def systemctl(tmp_path, monkeypatch):
    """A systemctl that logs its arguments; returns the log's path."""
    bindir = tmp_path / 'bin'
    bindir.mkdir()
    log = tmp_path / 'systemctl.log'
    script = bindir / 'systemctl'
    script.write_text('#!/bin/sh\necho "$@" >> %s\n' % log)
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv('PATH', '%s:%s' % (bindir, os.environ.get('PATH', '')))
    return log


def link_shared(root, tree):
    for name in ('db.sqlite3', 'media', '.env'):
        os.symlink(os.path.join(root, 'shared', name), os.path.join(tree, name))


@pytest.fixture
def deployed(tmp_path, venv):
    """A deploy root with v1 live and migrated, 3 rows, and v2 staged."""
    root = str(tmp_path / 'srv' / 'person')
    os.makedirs(os.path.join(root, 'shared', 'media'))
    with open(os.path.join(root, '.simpledeploy.json'), 'w') as handle:
        json.dump({'app': 'person', 'format': 1, 'current': {'release': 'v1'}}, handle)
    with open(os.path.join(root, 'app.env'), 'w') as handle:
        handle.write('DJANGO_SECRET_KEY=release-switch-test-secret\n')
    copy_example('v1', os.path.join(root, 'code'))
    link_shared(root, os.path.join(root, 'code'))
    os.symlink(venv.path, os.path.join(root, 'venv'))
    env = dict(os.environ, DJANGO_SECRET_KEY='x' * 20)
    import subprocess
    for args in (['migrate', '--noinput'], ['loaddata', 'people']):
        subprocess.run([venv.python, 'manage.py'] + args, cwd=os.path.join(root, 'code'), env=env, check=True,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    copy_example('v2', os.path.join(root, 'staging'))
    link_shared(root, os.path.join(root, 'staging'))
    return root


def applied(root):
    with sqlite3.connect(os.path.join(root, 'shared', 'db.sqlite3')) as conn:
        return [name for (name,) in conn.execute(
            "SELECT name FROM django_migrations WHERE app = 'people' ORDER BY id")]


def rows(root):
    with sqlite3.connect(os.path.join(root, 'shared', 'db.sqlite3')) as conn:
        return conn.execute('SELECT count(*) FROM people_person').fetchone()[0]


def args(root, **extra):
    base = dict(root=root, release='v2', service='person', migrate=True,
                env_file=os.path.join(root, 'app.env'), prune=False)
    base.update(extra)
    return base


def test_the_window_swaps_migrates_and_restarts_in_order(deployed, systemctl, run_module):
    result = run_module(release_switch, args(deployed))
    assert not result.get('failed'), result
    assert result['changed'] and result['migrated']
    assert os.path.exists(os.path.join(deployed, 'code', 'people', 'migrations', '0002_person_weight.py'))
    assert os.path.exists(os.path.join(deployed, 'code.previous', 'people', 'legacy.py'))
    assert not os.path.exists(os.path.join(deployed, 'code', 'people', 'legacy.py'))
    assert not os.path.exists(os.path.join(deployed, 'staging'))
    assert applied(deployed) == ['0001_initial', '0002_person_weight']
    assert rows(deployed) == 3
    assert systemctl.read_text().splitlines() == ['stop person', 'start person']
    assert set(result['steps']) == {'stop', 'swap', 'migrate', 'start'}
    assert result['window'] >= result['steps']['migrate'] > 0
    state = json.load(open(os.path.join(deployed, '.simpledeploy.json')))
    assert state['current']['release'] == 'v2' and state['previous']['release'] == 'v1'
    assert 'release-switch-test-secret' not in result.raw


def test_a_failing_migration_puts_the_old_release_back_and_keeps_the_data(deployed, systemctl, run_module):
    with open(os.path.join(deployed, 'staging', 'people', 'migrations', '0003_explode.py'), 'w') as handle:
        handle.write(FAILING_MIGRATION)
    result = run_module(release_switch, args(deployed))
    assert result['failed']
    assert 'failed at migrate' in result['msg'] and 'data migration exploded' in result['msg']
    assert result['restored'] == ['code', 'service started']
    # The old tree serves again; the new one is back in staging for a look.
    assert os.path.exists(os.path.join(deployed, 'code', 'people', 'legacy.py'))
    assert os.path.exists(os.path.join(deployed, 'staging', 'people', 'migrations', '0003_explode.py'))
    assert systemctl.read_text().splitlines() == ['stop person', 'start person']
    # 0003 rolled back by its own transaction; rows all there; the marker unchanged.
    assert '0003_explode' not in applied(deployed)
    assert rows(deployed) == 3
    state = json.load(open(os.path.join(deployed, '.simpledeploy.json')))
    assert state['current']['release'] == 'v1'


def test_check_mode_stops_nothing_and_moves_nothing(deployed, systemctl, run_module):
    before = sorted(os.listdir(deployed))
    result = run_module(release_switch, args(deployed), check_mode=True)
    assert result['changed'] and result['migrated']
    assert sorted(os.listdir(deployed)) == before
    assert not systemctl.exists()
    assert applied(deployed) == ['0001_initial']


def test_missing_pieces_fail_before_the_stop(deployed, systemctl, run_module):
    shutil.rmtree(os.path.join(deployed, 'staging'))
    result = run_module(release_switch, args(deployed))
    assert result['failed'] and 'nothing is staged' in result['msg']
    assert not systemctl.exists()


def test_a_root_the_collection_did_not_create_is_refused(tmp_path, systemctl, run_module):
    root = tmp_path / 'srv' / 'site'
    (root / 'staging').mkdir(parents=True)
    result = run_module(release_switch, dict(root=str(root), service='site'))
    assert result['failed']
    assert not systemctl.exists()
