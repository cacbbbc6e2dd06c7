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

import sys

import pytest

from ansible_collections.simpledeploy.django.plugins.module_utils import _release
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


# A stand-in for gunicorn's master: forks two workers; on SIGHUP forks two new
# ones, then stops the old ones (what gunicorn does on a graceful reload); with
# a file named "broken" beside it, it dies on SIGHUP instead (new code that
# cannot load).
MASTER = r'''
import os, signal, sys, time
here = os.path.dirname(os.path.abspath(__file__))

def worker():
    signal.signal(signal.SIGTERM, lambda *a: os._exit(0))
    while True:
        time.sleep(1)

def spawn():
    pid = os.fork()
    if pid == 0:
        worker()
    return pid

workers = [spawn(), spawn()]
hup = []
signal.signal(signal.SIGHUP, lambda *a: hup.append(1))
signal.signal(signal.SIGTERM, lambda *a: sys.exit(0))
open(os.path.join(here, "master.pid"), "w").write(str(os.getpid()))
while True:
    time.sleep(0.01)
    if hup:
        hup.clear()
        if os.path.exists(os.path.join(here, "broken")):
            os._exit(1)
        old, workers = workers, [spawn(), spawn()]
        time.sleep(0.1)
        for pid in old:
            os.kill(pid, signal.SIGTERM)
            os.waitpid(pid, 0)
'''

# Logs every action but "show", which answers from the files "show" (when it
# exists) and master.pid; "reload" sends SIGHUP to the stand-in master.
SYSTEMCTL = '''#!/bin/sh
dir=%s
if [ "$1" = show ]; then
  [ -f "$dir/show" ] || exit 0
  cat "$dir/show"
  echo "MainPID=$(cat "$dir/master.pid" 2>/dev/null || echo 0)"
  exit 0
fi
echo "$@" >> "$dir/systemctl.log"
if [ "$1" = reload ]; then kill -HUP "$(cat "$dir/master.pid")"; fi
'''


@pytest.fixture
def systemctl(tmp_path, monkeypatch):
    """A systemctl that logs its arguments; returns the log's path."""
    bindir = tmp_path / 'bin'
    bindir.mkdir()
    log = tmp_path / 'systemctl.log'
    script = bindir / 'systemctl'
    script.write_text(SYSTEMCTL % tmp_path)
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv('PATH', '%s:%s' % (bindir, os.environ.get('PATH', '')))
    return log


@pytest.fixture
def running(tmp_path, systemctl):
    """The service runs (the stand-in master and its workers) and can reload."""
    import subprocess
    import time
    (tmp_path / 'master.py').write_text(MASTER)
    (tmp_path / 'show').write_text('ActiveState=active\nCanReload=yes\n')
    proc = subprocess.Popen([sys.executable, str(tmp_path / 'master.py')])
    deadline = time.monotonic() + 10
    while not (tmp_path / 'master.pid').exists() or len(_release.child_pids(proc.pid)) < 2:
        assert time.monotonic() < deadline, 'the stand-in master did not start'
        time.sleep(0.01)
    yield proc
    proc.kill()
    proc.wait()


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


def test_simple_is_the_default_and_says_the_site_goes_down(deployed, systemctl, running, run_module):
    result = run_module(release_switch, args(deployed, migrate=False))
    assert not result.get('failed'), result
    assert result['strategy'] == 'simple' and result['downtime'] is True
    assert systemctl.read_text().splitlines() == ['stop person', 'start person']


def test_auto_reloads_a_code_only_release_without_stopping(deployed, systemctl, running, run_module):
    old_workers = _release.child_pids(running.pid)
    result = run_module(release_switch, args(deployed, migrate=False, strategy='auto'))
    assert not result.get('failed'), result
    assert result['strategy'] == 'reload' and result['downtime'] is False and result['window'] == 0
    assert 'nothing to migrate' in result['strategy_reason']
    assert systemctl.read_text().splitlines() == ['reload person']
    new_workers = _release.child_pids(running.pid)
    assert len(new_workers) == 2 and not set(new_workers) & set(old_workers)
    assert set(result['steps']) == {'swap', 'reload', 'workers'}
    assert os.path.exists(os.path.join(deployed, 'code', 'people', 'migrations', '0002_person_weight.py'))
    assert os.path.exists(os.path.join(deployed, 'code.previous', 'people', 'legacy.py'))
    assert json.load(open(os.path.join(deployed, '.simpledeploy.json')))['current']['release'] == 'v2'


def test_auto_stops_when_migrations_are_pending_and_says_why(deployed, systemctl, running, run_module):
    result = run_module(release_switch, args(deployed, strategy='auto'))
    assert not result.get('failed'), result
    assert result['strategy'] == 'simple' and result['downtime'] is True and result['migrated']
    assert result['strategy_reason'] == 'auto: migrations are pending: the schema changes while no server runs'
    assert systemctl.read_text().splitlines() == ['stop person', 'start person']


def test_reload_is_refused_before_anything_changes(deployed, systemctl, running, run_module):
    result = run_module(release_switch, args(deployed, strategy='reload', reload_blockers=['the unit changed']))
    assert result['failed']
    assert 'migrations are pending' in result['msg'] and 'the unit changed' in result['msg']
    assert 'Nothing was stopped' in result['msg']
    assert not systemctl.exists()
    assert os.path.isdir(os.path.join(deployed, 'staging'))
    assert applied(deployed) == ['0001_initial']


def test_auto_cannot_reload_a_service_that_does_not_run(deployed, systemctl, run_module):
    result = run_module(release_switch, args(deployed, migrate=False, strategy='auto'))
    assert result['strategy'] == 'simple'
    assert 'the service person is not running' in result['strategy_reason']


def test_a_reload_whose_server_dies_puts_the_old_tree_back_and_restarts(
        tmp_path, deployed, systemctl, running, run_module):
    (tmp_path / 'broken').write_text('')
    result = run_module(release_switch, args(deployed, migrate=False, strategy='reload', ready_timeout=5))
    assert result['failed']
    assert 'failed at workers' in result['msg'] and 'exited during the reload' in result['msg']
    assert result['restored'] == ['code', 'service restarted']
    assert systemctl.read_text().splitlines() == ['reload person', 'restart person']
    assert os.path.exists(os.path.join(deployed, 'code', 'people', 'legacy.py'))
    assert os.path.isdir(os.path.join(deployed, 'staging'))
    assert json.load(open(os.path.join(deployed, '.simpledeploy.json')))['current']['release'] == 'v1'


def manifest_of(tree, keep=('db.sqlite3', 'media', '.env')):
    from ansible_collections.simpledeploy.django.plugins.module_utils import _archive
    return _archive.build_manifest(tree, _archive.DEFAULT_EXCLUDES, list(keep))[0]


def test_check_mode_previews_strategy_downtime_and_files(deployed, systemctl, running, run_module):
    new = manifest_of(os.path.join(deployed, 'staging'))
    before = sorted(os.listdir(deployed))
    result = run_module(release_switch, args(deployed, strategy='auto', manifest=new,
                                             keep_paths=['db.sqlite3', 'media', '.env']), check_mode=True)
    assert result['strategy'] == 'simple' and result['downtime'] is True
    # v1 -> v2: the fixture, models.py, views.py, the template changed, 0002 added, legacy.py removed
    assert result['files'] == {'added': 1, 'changed': 4, 'removed': 1}, result['diff']['prepared']
    prepared = result['diff']['prepared']
    assert '+ people/migrations/0002_person_weight.py' in prepared
    assert '- people/legacy.py' in prepared
    assert 'db.sqlite3' not in prepared
    assert sorted(os.listdir(deployed)) == before
    assert not systemctl.exists()
