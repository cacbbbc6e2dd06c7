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

from ansible_collections.simpledeploy.django.plugins.module_utils import _fsio, _proc, _releases, _state, _swap, _window
from ansible_collections.simpledeploy.django.plugins.modules import release_switch
from ansible_collections.simpledeploy.django.tests.unit.conftest import copy_example

FAILING_MIGRATION = '''
from django.db import migrations


def explode(apps, schema_editor):
    raise RuntimeError("data migration exploded")


class Migration(migrations.Migration):
    dependencies = [("people", "0002_person_weight")]
    operations = [migrations.RunPython(explode)]
'''


@pytest.fixture(scope='module')
def venv(django52_venv):
    return django52_venv


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
    # A process group of its own: its workers (orphaned when a test kills the master) go with it.
    proc = subprocess.Popen([sys.executable, str(tmp_path / 'master.py')], start_new_session=True)
    deadline = time.monotonic() + 10
    while not (tmp_path / 'master.pid').exists() or len(_proc.child_pids(proc.pid)) < 2:
        assert time.monotonic() < deadline, 'the stand-in master did not start'
        time.sleep(0.01)
    yield proc
    import signal
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait()


def link_shared(root, tree):
    for name in ('db.sqlite3', 'media', '.env'):
        os.symlink(os.path.join(root, 'shared', name), os.path.join(tree, name))


@pytest.fixture
def deployed(tmp_path, venv, migrated_database):
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
    # v1 migrated, with the people fixture loaded: made once a session, copied here.
    shutil.copyfile(migrated_database(venv, 'v1', load=('people',)), os.path.join(root, 'shared', 'db.sqlite3'))
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


def stage(root, release):
    """staging/ holding a copy of v2 (code only) as RELEASE."""
    copy_example('v2', os.path.join(root, 'staging'))
    link_shared(root, os.path.join(root, 'staging'))
    return release


def test_deploys_keep_the_releases_before_and_prune_beyond_keep_releases(deployed, venv, systemctl, run_module):
    # deployed: a root laid out before releases/ existed (code/ and the marker's current only), v2 staged.
    known = [{'app': 'people', 'name': '0002_person_weight'}]
    kept, pruned = [], []
    for release in ('v2', 'v3', 'v4'):
        if release != 'v2':
            stage(deployed, release)
        fake_venv(deployed, 'k' + release, venv)
        result = run_module(release_switch, args(deployed, release=release, migrate=release == 'v2',
                                                 venv_key='k' + release, leaves=known, keep_releases=3, prune=True))
        assert not result.get('failed'), result
        kept.append(result['kept_release'])
        pruned.append(result['pruned_releases'])
    # v1, then v2, went from code.previous/ to releases/ before their swap; v1 went when v4 made it the 4th.
    assert kept == [None, 'v1', 'v2'] and pruned == [[], [], ['v1']]
    assert sorted(os.listdir(os.path.join(deployed, 'releases'))) == ['v2']
    assert _state.tree_release(os.path.join(deployed, 'releases', 'v2')) == 'v2'
    assert sorted(os.listdir(os.path.join(deployed, 'venvs'))) == ['kv2', 'kv3', 'kv4']
    state = json.load(open(os.path.join(deployed, '.simpledeploy.json')))
    assert [(entry['release'], entry['venv'], entry['migrations']) for entry in state['releases']] == [
        (release, 'k' + release, {'people': '0002_person_weight'}) for release in ('v4', 'v3', 'v2')]
    # (release_info gives this listing for a root it may use: not under /tmp; test_release_info.py.)
    listing = _releases.listing(deployed, state)
    assert [(row['release'], row['tree'], row['rollback']) for row in listing] == [
        ('v4', 'code', False), ('v3', 'code.previous', True), ('v2', 'releases/v2', True)]
    assert applied(deployed) == ['0001_initial', '0002_person_weight'] and rows(deployed) == 3


def test_keep_releases_below_two_is_refused_before_anything_changes(deployed, systemctl, run_module):
    result = run_module(release_switch, args(deployed, keep_releases=1))
    assert result['failed'] and 'keep_releases must be 2 or more' in result['msg']
    assert _state.tree_release(os.path.join(deployed, 'staging')) is None
    assert not os.path.exists(systemctl)


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
    assert state['current']['release'] == 'v1' and 'switching' not in state
    # Without applied_leaves nor a backup there is nowhere to take the schema back to: said so.
    assert applied(deployed) == ['0001_initial', '0002_person_weight']
    assert 'schema NOT restored (no applied_leaves to migrate back to, and no backup was taken, backup is false)' \
        in result['msg']
    assert result['msg'].endswith('Logs: journalctl -u person -n 50')


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
    old_workers = _proc.child_pids(running.pid)
    result = run_module(release_switch, args(deployed, migrate=False, strategy='auto'))
    assert not result.get('failed'), result
    assert result['strategy'] == 'reload' and result['downtime'] is False and result['window'] == 0
    assert 'nothing to migrate' in result['strategy_reason']
    assert systemctl.read_text().splitlines() == ['reload person']
    new_workers = _proc.child_pids(running.pid)
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


# ---------------------------------------------------------------------------
# Backups and schema rollback (real migrations on SQLite)

# 0002 (AddField) applies, then this fails: 0002 must be unapplied again.
IRREVERSIBLE_DATA = '''
from django.db import migrations


def fill(apps, schema_editor):
    apps.get_model("people", "Person").objects.update(weight=70)


class Migration(migrations.Migration):
    dependencies = [("people", "0002_person_weight")]
    operations = [migrations.RunPython(fill)]
'''

FAILING_AFTER_IRREVERSIBLE = FAILING_MIGRATION.replace('0002_person_weight', '0003_fill')


def fake_venv(root, key, venv):
    """venvs/KEY: a second virtualenv (sharing the cached one's packages), marked ready."""
    path = os.path.join(root, 'venvs', key)
    os.makedirs(os.path.join(path, 'bin'))
    shutil.copy(os.path.join(venv.path, 'pyvenv.cfg'), path)
    os.symlink(os.path.join(venv.path, 'lib'), os.path.join(path, 'lib'))
    os.symlink(os.path.realpath(venv.python), os.path.join(path, 'bin', 'python'))
    with open(os.path.join(path, _state.VENV_READY), 'w') as handle:
        handle.write(key + '\n')
    return path


def schema(db):
    """Every table's columns, every row of people_person, the applied migrations: what a restore must give back."""
    with sqlite3.connect(db) as conn:
        tables = [name for (name,) in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")]
        columns = dict((table, [row[1] for row in conn.execute('PRAGMA table_info("%s")' % table)])
                       for table in tables)
        people = conn.execute('SELECT * FROM people_person ORDER BY id').fetchall()
        migrations = conn.execute('SELECT app, name FROM django_migrations ORDER BY id').fetchall()
    return {'columns': columns, 'people': people, 'migrations': migrations}


def applied_leaves(root):
    """What migration_status reports as applied_leaves (linear histories: the last one per app)."""
    with sqlite3.connect(os.path.join(root, 'shared', 'db.sqlite3')) as conn:
        return [{'app': app, 'name': name} for app, name in conn.execute(
            'SELECT app, max(name) FROM django_migrations GROUP BY app ORDER BY app')]


def add_migration(root, name, text):
    with open(os.path.join(root, 'staging', 'people', 'migrations', name + '.py'), 'w') as handle:
        handle.write(text)


def backups(root):
    path = os.path.join(root, 'backups')
    return sorted(os.listdir(path)) if os.path.isdir(path) else []


def closed_port():
    import socket
    sock = socket.socket()
    sock.bind(('127.0.0.1', 0))
    port = sock.getsockname()[1]
    sock.close()
    return port


def test_a_failure_after_a_migration_applied_migrates_it_back_with_code_and_venv(deployed, venv, systemctl, run_module):
    add_migration(deployed, '0003_explode', FAILING_MIGRATION)
    fake_venv(deployed, 'new', venv)
    db = os.path.join(deployed, 'shared', 'db.sqlite3')
    before = schema(db)
    result = run_module(release_switch, args(deployed, venv_key='new', backup=True,
                                             applied_leaves=applied_leaves(deployed), reversible=True))
    assert result['failed'] and result['failed_step'] == 'migrate'
    assert '  Applying people.0002_person_weight... OK' in result['migrate_output']
    assert result['restored'] == ['schema: migrated back people to 0001_initial', 'venv', 'code', 'service started']
    assert result['schema_as_before'] is True
    # schema, rows and applied migrations as before; old code and venv serving again
    assert schema(db) == before
    assert os.path.exists(os.path.join(deployed, 'code', 'people', 'legacy.py'))
    assert os.readlink(os.path.join(deployed, 'venv')) == venv.path
    assert systemctl.read_text().splitlines() == ['stop person', 'start person']
    # the backup: root's directory and file, named after the release, a valid SQLite copy of the old schema
    name, = backups(deployed)
    assert name.startswith('v2-') and name.endswith('Z.sqlite3') and len(name) == len('v2-20260101T000000Z.sqlite3')
    path = os.path.join(deployed, 'backups', name)
    assert stat.S_IMODE(os.stat(os.path.join(deployed, 'backups')).st_mode) == 0o700
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert result['backup'] == path
    with sqlite3.connect(path) as conn:
        assert conn.execute('PRAGMA integrity_check').fetchone()[0] == 'ok'
    assert schema(path) == before
    assert not [n for n in os.listdir(deployed) if n.startswith('.simpledeploy-backup-')]
    msg = result['msg']
    assert msg.startswith('the downtime window failed at migrate: manage.py migrate failed: RuntimeError: ')
    assert 'data migration exploded' in msg
    assert ('Restored: code of release v1, its virtualenv, schema migrated back people to 0001_initial, '
            'service person started.' in msg)
    assert 'Backup taken before migrating: %s.' % path in msg
    assert msg.endswith('Logs: journalctl -u person -n 50')
    state = json.load(open(os.path.join(deployed, '.simpledeploy.json')))
    assert state['current']['release'] == 'v1' and 'switching' not in state


@pytest.mark.parametrize('reversible', [False, None], ids=['known-irreversible', 'found-irreversible'])
def test_an_irreversible_plan_that_fails_restores_the_schema_from_the_backup(
        deployed, systemctl, run_module, reversible):
    # 0002 adds a column, 0003 fills it with no way back, 0004 fails.
    add_migration(deployed, '0003_fill', IRREVERSIBLE_DATA)
    add_migration(deployed, '0004_explode', FAILING_AFTER_IRREVERSIBLE)
    db = os.path.join(deployed, 'shared', 'db.sqlite3')
    before = schema(db)
    result = run_module(release_switch, args(deployed, backup=True, applied_leaves=applied_leaves(deployed),
                                             reversible=reversible))
    assert result['failed'] and result['failed_step'] == 'migrate'
    assert '  Applying people.0003_fill... OK' in result['migrate_output']
    path = os.path.join(deployed, 'backups', backups(deployed)[0])
    why = ('not reversible' if reversible is False
           else 'migrating back failed: manage.py migrate people 0001_initial failed: ')
    assert result['restored'][0].startswith('schema: restored from backup %s (%s' % (path, why))
    assert result['restored'][1:] == ['code', 'service started']
    after = schema(db)
    assert after['columns']['people_person'] == before['columns']['people_person'] == ['id', 'name', 'height']
    assert after == before
    assert 'schema restored from backup %s' % path in result['msg']


def test_a_ready_url_that_never_answers_rolls_everything_back(deployed, systemctl, run_module):
    url = 'http://127.0.0.1:%d/' % closed_port()
    db = os.path.join(deployed, 'shared', 'db.sqlite3')
    before = schema(db)
    result = run_module(release_switch, args(deployed, backup=True, applied_leaves=applied_leaves(deployed),
                                             reversible=True, ready_url=url, ready_timeout=0.3))
    assert result['failed'] and result['failed_step'] == 'ready'
    # the new release was started, then stopped again before its schema went back; the old one started
    assert systemctl.read_text().splitlines() == ['stop person', 'start person', 'stop person', 'start person']
    assert result['restored'] == ['schema: migrated back people to 0001_initial', 'code', 'service started']
    assert schema(db) == before
    assert os.path.exists(os.path.join(deployed, 'code', 'people', 'legacy.py'))
    assert result['answered'] is False
    assert '%s did not answer a 2xx status within 0.3 s (last answer: no answer (' % url in result['msg']
    assert 'set deploy_healthcheck_url to where it listens' in result['msg']
    assert 'service person started and answering: no' in result['msg']


def test_the_page_the_app_answered_is_in_the_message_with_the_app_environment_masked(deployed, systemctl, run_module):
    # No migration, so no Django child runs in this window: the module masks the env file's values itself.
    import http.server
    import threading
    page = b"<h1>Server Error (500)</h1><p>SECRET_KEY = 'release-switch-test-secret'</p>"

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 (the stdlib's name)
            self.send_response(500)
            self.send_header('Content-Length', str(len(page)))
            self.end_headers()
            self.wfile.write(page)

        def log_message(self, *args):
            pass

    server = http.server.HTTPServer(('127.0.0.1', 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = 'http://127.0.0.1:%d/' % server.server_address[1]
        result = run_module(release_switch, args(deployed, migrate=False, ready_url=url, ready_timeout=0.3))
    finally:
        server.shutdown()
        server.server_close()
    assert result['failed'] and result['failed_step'] == 'ready'
    assert "did not answer a 2xx status within 0.3 s (last answer: HTTP 500: Server Error (500) SECRET_KEY = '********'" \
        in result['msg']
    assert 'set deploy_healthcheck_url (and deploy_healthcheck_status)' in result['msg']
    assert 'release-switch-test-secret' not in result.raw


def test_rollback_false_leaves_everything_as_it_failed_and_says_so(deployed, systemctl, run_module):
    add_migration(deployed, '0003_explode', FAILING_MIGRATION)
    result = run_module(release_switch, args(deployed, backup=True, rollback=False,
                                             applied_leaves=applied_leaves(deployed), reversible=True))
    assert result['failed'] and result['failed_step'] == 'migrate'
    assert result['restored'] == []
    # 0002 applied before 0003 failed: hosts sharing this database must not start their old release
    assert result['schema_as_before'] is False
    assert systemctl.read_text().splitlines() == ['stop person']
    assert os.path.exists(os.path.join(deployed, 'code', 'people', 'migrations', '0003_explode.py'))
    assert os.path.exists(os.path.join(deployed, 'code.previous', 'people', 'legacy.py'))
    assert applied(deployed) == ['0001_initial', '0002_person_weight']
    assert ('Nothing was rolled back (rollback is false): code/ holds release v2, the schema is as migrate '
            'left it, service person left stopped.' in result['msg'])
    assert result['backup'] and os.path.isfile(result['backup'])
    # the window is still open: the next run finishes it
    state = json.load(open(os.path.join(deployed, '.simpledeploy.json')))
    assert state['switching']['release'] == 'v2'


def test_rollback_false_reports_a_ready_url_that_does_not_answer_without_failing(deployed, systemctl, run_module):
    url = 'http://127.0.0.1:%d/' % closed_port()
    result = run_module(release_switch, args(deployed, rollback=False, ready_url=url, ready_timeout=0.2))
    assert not result.get('failed'), result['msg']
    assert result['ready'] is False
    assert systemctl.read_text().splitlines() == ['stop person', 'start person']


def test_retention_keeps_the_newest_backups_and_nothing_else_is_touched(deployed, systemctl, run_module):
    folder = os.path.join(deployed, 'backups')
    os.makedirs(folder)
    old = ['v0-2020010%dT000000Z.sqlite3' % day for day in (1, 2, 3, 4)]
    for name in old + ['notes.txt']:
        open(os.path.join(folder, name), 'w').close()
    result = run_module(release_switch, args(deployed, backup=True, backup_keep=2))
    assert not result.get('failed'), result['msg']
    assert result['pruned_backups'] == old[:3]
    new = os.path.basename(result['backup'])
    assert backups(deployed) == sorted([old[3], new, 'notes.txt'])
    taken = schema(result['backup'])['migrations']
    assert ('people', '0001_initial') in taken and ('people', '0002_person_weight') not in taken
    assert applied(deployed) == ['0001_initial', '0002_person_weight']


def test_no_backup_without_migrate_or_when_not_asked(deployed, systemctl, run_module):
    result = run_module(release_switch, args(deployed))
    assert not result.get('failed') and result['backup'] is None and backups(deployed) == []


def test_an_unsupported_database_fails_before_the_stop(deployed, systemctl, run_module):
    with open(os.path.join(deployed, 'staging', 'mysite', 'settings_dummy.py'), 'w') as handle:
        handle.write("from .settings import *  # noqa\nDATABASES = {'default': {'ENGINE': 'django.db.backends.dummy'}}\n")
    result = run_module(release_switch, args(deployed, backup=True, settings='mysite.settings_dummy'))
    assert result['failed']
    assert result['msg'] == ("cannot back up the database, nothing was stopped: the database 'default' is unknown: "
                             "backups support SQLite and PostgreSQL only. Set backup: false to deploy without a backup")
    assert not systemctl.exists()
    assert 'switching' not in json.load(open(os.path.join(deployed, '.simpledeploy.json')))


def pg_env_file(root, password, port):
    with open(os.path.join(root, 'app.env'), 'w') as handle:
        handle.write('DJANGO_SECRET_KEY=release-switch-test-secret\nDJANGO_DB_ENGINE=postgresql\n'
                     'DJANGO_DB_HOST=127.0.0.1\nDJANGO_DB_PORT=%d\nDJANGO_DB_USER=person\nDJANGO_DB_NAME=person\n'
                     'DJANGO_DB_CONNECT_TIMEOUT=2\nDJANGO_DB_PASSWORD=%s\n' % (port, password))


def test_a_missing_pg_dump_fails_before_the_stop(deployed, systemctl, run_module, monkeypatch):
    pg_env_file(deployed, 'pg-password-0b7e41', closed_port())
    # only the fake systemctl: no pg_dump on this PATH
    monkeypatch.setenv('PATH', str(systemctl.parent / 'bin'))
    result = run_module(release_switch, args(deployed, backup=True))
    assert result['failed']
    assert result['msg'].startswith('cannot back up the database, nothing was stopped: pg_dump and pg_restore not '
                                    "found on the PATH of root for the PostgreSQL database 'default'")
    assert 'backup: false' in result['msg']
    assert not systemctl.exists()
    assert os.path.isdir(os.path.join(deployed, 'staging'))
    assert 'pg-password-0b7e41' not in result.raw


# Records its argv and whether it got the password, and writes a dump file.
FAKE_PG_DUMP = '''#!/bin/sh
{ echo "argv: $*"; echo "PGPASSWORD=${PGPASSWORD:-unset} PGHOST=$PGHOST PGDATABASE=$PGDATABASE"; } >> %s
for arg; do case "$arg" in --file=*) echo dump > "${arg#--file=}";; esac; done
'''


def test_postgresql_backup_passes_the_password_to_pg_dump_alone(deployed, systemctl, run_module, monkeypatch):
    """No server here: a pg_dump on PATH records what it got; migrate then fails to connect."""
    password = 'pg-password-0b7e41'
    pg_env_file(deployed, password, closed_port())
    bindir = systemctl.parent / 'bin'
    calls = systemctl.parent / 'pg.log'
    for tool in ('pg_dump', 'pg_restore'):
        (bindir / tool).write_text(FAKE_PG_DUMP % calls)
        (bindir / tool).chmod(0o755)
    result = run_module(release_switch, args(deployed, backup=True, applied_leaves=[], reversible=True))
    assert result['failed'] and result['failed_step'] == 'migrate'
    log = calls.read_text()
    assert log.startswith('argv: --format=custom --no-password --file=')
    assert 'PGPASSWORD=%s PGHOST=127.0.0.1 PGDATABASE=person' % password in log
    assert password not in log.splitlines()[0]
    assert result['backup'].endswith('.dump') and os.path.basename(result['backup']).startswith('v2-')
    assert open(result['backup']).read() == 'dump\n'
    # nothing was applied (no server): the schema is left alone, the old code comes back
    assert 'schema unchanged (no migration was applied)' in result['msg']
    assert result['restored'] == ['code', 'service started']
    assert password not in result.raw


def test_secrets_of_the_env_file_are_never_in_the_result(deployed, systemctl, run_module):
    with open(os.path.join(deployed, 'app.env'), 'a') as handle:
        handle.write('DJANGO_DB_PASSWORD=db-password-77e1c0\nAPI_TOKEN=api-token-5d2f90\n')
    add_migration(deployed, '0003_fill', IRREVERSIBLE_DATA)
    add_migration(deployed, '0004_explode', FAILING_AFTER_IRREVERSIBLE.replace(
        'raise RuntimeError("data migration exploded")',
        'import os; raise RuntimeError(os.environ["DJANGO_DB_PASSWORD"] + os.environ["API_TOKEN"])'))
    result = run_module(release_switch, args(deployed, backup=True, applied_leaves=applied_leaves(deployed)))
    assert result['failed'] and result['failed_step'] == 'migrate'
    assert result['restored'][0].startswith('schema: restored from backup')
    for secret in ('db-password-77e1c0', 'api-token-5d2f90', 'release-switch-test-secret'):
        assert secret not in result.raw


# ---------------------------------------------------------------------------
# Runs killed mid-window: the trees say how far they got

def kill_after_swap(root, release='v2'):
    """What a run killed right after its swap leaves: new tree live, old aside, state still old."""
    for tree, name in (('staging', release), ('code', 'v1')):
        _state.write_release(os.path.join(root, tree), name)
    _swap.swap_trees(root)
    state = json.load(open(os.path.join(root, '.simpledeploy.json')))
    state['switching'] = {'release': release, 'started': '2026-11-24T10:15:00Z', 'strategy': 'simple'}
    _state.write_state(root, state)


def test_a_window_killed_after_the_swap_is_finished_without_swapping_again(deployed, systemctl, run_module):
    kill_after_swap(deployed)
    result = run_module(release_switch, args(deployed))
    assert not result.get('failed'), result['msg']
    assert result['recovered'] is True
    assert result['recovery']['switching']['release'] == 'v2'
    assert result['recovery']['found'] == {'code': 'v2', 'previous': 'v1', 'staging': None}
    assert result['recovery']['notes'] == ['code/ already holds release v2: not swapped again']
    # the old tree is still aside for a rollback; the rest of the window ran
    assert os.path.exists(os.path.join(deployed, 'code.previous', 'people', 'legacy.py'))
    assert os.path.exists(os.path.join(deployed, 'code', 'people', 'migrations', '0002_person_weight.py'))
    assert 'swap' not in result['steps']
    assert applied(deployed) == ['0001_initial', '0002_person_weight']
    assert systemctl.read_text().splitlines() == ['stop person', 'start person']
    assert result['previous_release'] == 'v1'
    state = json.load(open(os.path.join(deployed, '.simpledeploy.json')))
    assert 'switching' not in state
    assert state['current']['release'] == 'v2' and state['previous']['release'] == 'v1'


def test_a_restaged_copy_of_the_live_release_is_removed_not_swapped(deployed, copy_person, systemctl, run_module):
    kill_after_swap(deployed)
    copy_person('v2', os.path.join(deployed, 'staging'))
    _state.write_release(os.path.join(deployed, 'staging'), 'v2')
    result = run_module(release_switch, args(deployed))
    assert not result.get('failed'), result['msg']
    assert result['recovery']['notes'][1] == 'staging/ holds release v2 too: removed'
    assert not os.path.exists(os.path.join(deployed, 'staging'))
    assert _state.tree_release(os.path.join(deployed, 'code.previous')) == 'v1'


def test_a_swap_killed_between_its_two_renames_puts_the_old_tree_aside(deployed, systemctl, run_module):
    _state.write_release(os.path.join(deployed, 'staging'), 'v2')
    _state.write_release(os.path.join(deployed, 'code'), 'v1')
    # the exchange happened, the rename of the old tree to code.previous/ did not
    os.rename(os.path.join(deployed, 'code'), os.path.join(deployed, 'tmp'))
    os.rename(os.path.join(deployed, 'staging'), os.path.join(deployed, 'code'))
    os.rename(os.path.join(deployed, 'tmp'), os.path.join(deployed, 'staging'))
    state = json.load(open(os.path.join(deployed, '.simpledeploy.json')))
    _state.write_state(deployed, dict(state, switching={'release': 'v2', 'started': 'x'}))
    result = run_module(release_switch, args(deployed))
    assert not result.get('failed'), result['msg']
    assert _state.tree_release(os.path.join(deployed, 'code.previous')) == 'v1'
    assert _state.tree_release(os.path.join(deployed, 'code')) == 'v2'
    assert not os.path.exists(os.path.join(deployed, 'staging'))


def test_the_window_marks_the_trees_and_says_it_is_open_until_it_is_done(deployed, systemctl, run_module):
    seen = []

    def migrate_spy(*a, **k):
        seen.append(json.load(open(os.path.join(deployed, '.simpledeploy.json'))))
        return real(*a, **k)

    real = release_switch._migrate.migrate
    release_switch._migrate.migrate = migrate_spy
    try:
        result = run_module(release_switch, args(deployed))
    finally:
        release_switch._migrate.migrate = real
    assert not result.get('failed'), result['msg']
    assert seen[0]['switching']['release'] == 'v2' and seen[0]['current']['release'] == 'v1'
    assert _state.tree_release(os.path.join(deployed, 'code')) == 'v2'
    assert 'switching' not in json.load(open(os.path.join(deployed, '.simpledeploy.json')))


def test_a_staged_tree_of_another_release_is_refused_before_the_stop(deployed, systemctl, run_module):
    _state.write_release(os.path.join(deployed, 'staging'), 'v9')
    result = run_module(release_switch, args(deployed))
    assert result['failed'] and 'holds release v9, not v2' in result['msg']
    assert not systemctl.exists()


def test_the_file_diff_ignores_the_release_marker(deployed, systemctl, run_module):
    _state.write_release(os.path.join(deployed, 'code'), 'v1')
    new = manifest_of(os.path.join(deployed, 'staging'))
    new[_state.RELEASE_FILE] = {'type': 'file', 'mode': 0o644, 'size': 3, 'sha256': '0' * 64}
    result = run_module(release_switch, args(deployed, manifest=new, keep_paths=['db.sqlite3', 'media', '.env']),
                        check_mode=True)
    assert result['files'] == {'added': 1, 'changed': 4, 'removed': 1}
    assert _state.RELEASE_FILE not in result['diff']['prepared']


# ---------------------------------------------------------------------------
# PostgreSQL for real, when the machine has a server to start (as the user postgres)

PG_SUPERUSER_PASSWORD = 'pg-super-3c81'
PG_APP_PASSWORD = 'pg-app-password-61fd'


def _pg_bin(name):
    import glob
    found = shutil.which(name)
    if found:
        return found
    for path in sorted(glob.glob('/usr/lib/postgresql/*/bin/' + name), reverse=True):
        return path
    return None


@pytest.fixture(scope='module')
def pg_server():
    """A throwaway PostgreSQL cluster on 127.0.0.1 with password authentication: {port, psql}."""
    import pwd
    import subprocess
    import tempfile
    initdb, pg_ctl, psql = _pg_bin('initdb'), _pg_bin('pg_ctl'), _pg_bin('psql')
    runuser = shutil.which('runuser', path=os.environ.get('PATH', '') + ':/usr/sbin:/sbin')
    if not (initdb and pg_ctl and psql and _pg_bin('pg_dump') and _pg_bin('pg_restore')):
        pytest.skip('no PostgreSQL server binaries (initdb, pg_ctl) and client (psql, pg_dump, pg_restore)')
    if os.geteuid() != 0 or not runuser:
        pytest.skip('starting a PostgreSQL cluster needs root and runuser (the server refuses to run as root)')
    try:
        owner = pwd.getpwnam('postgres')
    except KeyError:
        pytest.skip('no user postgres to run the server as')
    base = tempfile.mkdtemp(prefix='simpledeploy-pg-')
    os.chmod(base, 0o755)
    os.chown(base, owner.pw_uid, owner.pw_gid)
    with open(os.path.join(base, 'pw'), 'w') as handle:
        handle.write(PG_SUPERUSER_PASSWORD + '\n')
    os.chown(os.path.join(base, 'pw'), owner.pw_uid, owner.pw_gid)
    port = closed_port()
    as_pg = [runuser, '-u', 'postgres', '--']
    quiet = dict(stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        subprocess.run(as_pg + [initdb, '-D', base + '/data', '-U', 'postgres', '--auth=scram-sha-256',
                                '--pwfile=' + base + '/pw'], check=True, **quiet)
        subprocess.run(as_pg + [pg_ctl, '-D', base + '/data', '-l', base + '/log', '-w', 'start', '-o',
                                '-p %d -k %s -c listen_addresses=127.0.0.1 -c fsync=off' % (port, base)],
                       check=True, **quiet)
    except subprocess.CalledProcessError as exc:
        shutil.rmtree(base, ignore_errors=True)
        pytest.skip('could not start a PostgreSQL cluster: %s' % (exc.stderr or b'').decode()[-300:])

    def sql(statement, database='postgres', user='postgres', password=PG_SUPERUSER_PASSWORD):
        env = dict(os.environ, PGPASSWORD=password)
        return subprocess.run([psql, '-h', '127.0.0.1', '-p', str(port), '-U', user, '-d', database, '-AtX',
                               '-v', 'ON_ERROR_STOP=1', '-c', statement], env=env, text=True, check=True,
                              **quiet).stdout

    sql("CREATE ROLE person LOGIN PASSWORD '%s'" % PG_APP_PASSWORD)
    yield {'port': port, 'sql': sql}
    subprocess.run(as_pg + [pg_ctl, '-D', base + '/data', '-m', 'immediate', 'stop'], check=False, **quiet)
    shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
def deployed_pg(deployed, venv, pg_server):
    """The `deployed` root, but on a fresh PostgreSQL database with v1 migrated and 3 rows."""
    import subprocess
    pg_server['sql']('DROP DATABASE IF EXISTS person')
    pg_server['sql']('CREATE DATABASE person OWNER person')
    pg_env_file(deployed, PG_APP_PASSWORD, pg_server['port'])
    env = dict(os.environ, DJANGO_SECRET_KEY='x' * 20, DJANGO_DB_ENGINE='postgresql', DJANGO_DB_HOST='127.0.0.1',
               DJANGO_DB_PORT=str(pg_server['port']), DJANGO_DB_USER='person', DJANGO_DB_NAME='person',
               DJANGO_DB_PASSWORD=PG_APP_PASSWORD)
    for cmd in (['migrate', '--noinput'], ['loaddata', 'people']):
        subprocess.run([venv.python, 'manage.py'] + cmd, cwd=os.path.join(deployed, 'code'), env=env, check=True,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    return deployed


def pg_schema(sql):
    def query(statement):
        return sql(statement, database='person').splitlines()
    return {
        'tables': query("SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1"),
        'columns': query("SELECT column_name FROM information_schema.columns WHERE table_name = 'people_person' "
                         "ORDER BY ordinal_position"),
        'people': query('SELECT id, name, height FROM people_person ORDER BY id'),
        'migrations': query('SELECT app, name FROM django_migrations ORDER BY id'),
    }


# A new table, then data changed with no way back, then a failure.
PG_NEW_TABLE = '''
from django.db import migrations, models


def fill(apps, schema_editor):
    apps.get_model("people", "Tag").objects.create(label="x")


class Migration(migrations.Migration):
    dependencies = [("people", "0002_person_weight")]
    operations = [
        migrations.CreateModel("Tag", [("id", models.BigAutoField(primary_key=True)),
                                       ("label", models.CharField(max_length=20))]),
        migrations.RunPython(fill),
    ]
'''


def test_postgresql_backup_and_restore_for_real(deployed_pg, systemctl, pg_server, run_module):
    add_migration(deployed_pg, '0003_tag', PG_NEW_TABLE)
    add_migration(deployed_pg, '0004_explode', FAILING_MIGRATION.replace('0002_person_weight', '0003_tag'))
    before = pg_schema(pg_server['sql'])
    assert len(before['people']) == 3 and 'people_tag' not in before['tables']
    result = run_module(release_switch, args(deployed_pg, backup=True, applied_leaves=[
        {'app': 'people', 'name': '0001_initial'}]))
    assert result['failed'] and result['failed_step'] == 'migrate', result['msg']
    assert '  Applying people.0003_tag... OK' in result['migrate_output']
    path = result['backup']
    assert os.path.basename(path).startswith('v2-') and path.endswith('.dump')
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    # 0003 cannot be unapplied: the dump came back, and the table 0003 made is gone with it
    assert result['restored'][0].startswith('schema: restored from backup %s (migrating back failed: ' % path)
    after = pg_schema(pg_server['sql'])
    assert set(after['tables']) ^ set(before['tables']) == set()
    assert after == before
    assert PG_APP_PASSWORD not in result.raw


class PsqlSession(object):
    """Another session of the app's user (psql, kept open) that ran STATEMENTS and holds what they took until
    release(): a concurrent run's advisory lock, a long report's table lock."""

    def __init__(self, port, statements):
        import subprocess
        import time
        self.proc = subprocess.Popen(
            [_pg_bin('psql'), '-h', '127.0.0.1', '-p', str(port), '-U', 'person', '-d', 'person', '-AtX', '-q'],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            env=dict(os.environ, PGPASSWORD=PG_APP_PASSWORD))
        self.proc.stdin.write(statements + ';\n\\echo held\n')
        self.proc.stdin.flush()
        deadline = time.monotonic() + 10
        # psql answers "held" once the statements ran (stdout is line-buffered here).
        while self.proc.stdout.readline().strip() != 'held':
            assert time.monotonic() < deadline and self.proc.poll() is None, 'psql could not run ' + statements

    def release(self):
        if self.proc.poll() is None:
            self.proc.stdin.write('COMMIT;\n\\q\n')
            self.proc.stdin.close()
            self.proc.wait(10)


def advisory_lock_holder(port):
    """Another session holding the migrate lock, as a concurrent run would."""
    from ansible_collections.simpledeploy.django.plugins.module_utils import _migrate
    return PsqlSession(port, 'SELECT pg_advisory_lock(%d)' % _migrate.lock_key())


def test_a_migrate_waits_for_the_advisory_lock_another_run_holds(deployed_pg, systemctl, pg_server, run_module):
    import threading
    import time
    holder = advisory_lock_holder(pg_server['port'])
    seen = []

    def release_once_the_module_waits():
        # The module's child asks for the lock (and is refused) before this lets go.
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not seen:
            if pg_server['sql']("SELECT count(*) FROM pg_stat_activity WHERE pid <> pg_backend_pid() "
                                "AND query LIKE 'SELECT pg_try_advisory_lock(%'").strip() != '0':
                seen.append(time.monotonic())
            time.sleep(0.05)
        time.sleep(0.5)
        holder.release()

    thread = threading.Thread(target=release_once_the_module_waits)
    thread.start()
    try:
        result = run_module(release_switch, args(deployed_pg, migrate_lock_timeout=30))
    finally:
        thread.join()
    assert seen, 'the module never asked for the advisory lock'
    assert not result.get('failed'), result.get('msg')
    lock = result['migrate_lock']
    assert lock['vendor'] == 'postgresql' and lock['lock'].startswith('postgresql advisory lock ')
    # it waited for the other session (at least the half second after it was seen asking)
    assert lock['waited'] >= 0.4
    assert '  Applying people.0002_person_weight... OK' in result['migrate_output']
    applied = pg_server['sql']("SELECT name FROM django_migrations WHERE app = 'people' ORDER BY id",
                               database='person').split()
    assert applied == ['0001_initial', '0002_person_weight']


def test_a_lock_that_is_never_released_fails_the_migrate_step_and_rolls_back(
        deployed_pg, systemctl, pg_server, run_module):
    holder = advisory_lock_holder(pg_server['port'])
    before = pg_schema(pg_server['sql'])
    try:
        result = run_module(release_switch, args(deployed_pg, migrate_lock_timeout=1))
    finally:
        holder.release()
    assert result['failed'] and result['failed_step'] == 'migrate'
    assert 'manage.py migrate could not take the database lock: another migrate held the advisory lock' in result['msg']
    assert result['migrate_lock']['waited'] >= 1
    # nothing was migrated; the old release is back and serving
    assert pg_schema(pg_server['sql']) == before
    assert result['restored'] == ['code', 'service started']
    assert systemctl.read_text().splitlines() == ['stop person', 'start person']


@pytest.fixture
def held_lock(tmp_path, run_module):
    """A deploy lock in a root-only directory, taken by the run 'run-a'; returns its path."""
    from ansible_collections.simpledeploy.django.plugins.modules import deploy_lock
    lock_dir = tmp_path / 'lockdir'
    lock_dir.mkdir(mode=0o700)
    path = str(lock_dir / 'person.lock')
    taken = run_module(deploy_lock, dict(path=path, run_id='run-a', owner='alice@ctl', controller_host='ctl',
                                         controller_pid=os.getpid(), timeout=1800))
    assert not taken.get('failed'), taken
    return path


def test_a_window_still_running_elsewhere_stops_the_switch_before_any_change(deployed, systemctl, run_module,
                                                                             held_lock):
    """A real process (the earlier run's module, whose controller vanished) holds the window's flock."""
    import subprocess
    import time
    from ansible_collections.simpledeploy.django.plugins.module_utils import _lock
    holder = subprocess.Popen([sys.executable, '-c', 'import fcntl, os, sys, time\n'
                               'fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT, 0o600)\n'
                               'fcntl.flock(fd, fcntl.LOCK_EX)\nprint("held", flush=True)\ntime.sleep(60)\n',
                               _lock.window_file(held_lock)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == 'held'
        before = sorted(os.listdir(deployed))
        began = time.monotonic()
        result = run_module(release_switch, args(deployed, lock=held_lock, lock_run_id='run-a'))
        assert result['failed'] and 'another deploy window of this app is still running' in result['msg']
        assert 'PID %d' % holder.pid in result['msg']
        assert time.monotonic() - began < 30
        assert sorted(os.listdir(deployed)) == before and not systemctl.exists()
        assert applied(deployed) == ['0001_initial']
    finally:
        holder.kill()
        holder.wait()
    result = run_module(release_switch, args(deployed, lock=held_lock, lock_run_id='run-a'))
    assert not result.get('failed'), result
    assert applied(deployed) == ['0001_initial', '0002_person_weight']


def test_a_run_whose_lock_was_taken_over_opens_no_window(deployed, systemctl, run_module, held_lock):
    result = run_module(release_switch, args(deployed, lock=held_lock, lock_run_id='run-b'))
    assert result['failed'] and 'this run (run-b) no longer holds the deploy lock' in result['msg']
    assert not systemctl.exists() and os.path.isdir(os.path.join(deployed, 'staging'))


def test_while_the_window_runs_no_other_run_can_take_the_lock(
        deployed, systemctl, run_module, held_lock, monkeypatch):
    """Inside the window (paused at its migrate step), another run's deploy_lock is refused, even with the
    holder's run declared dead."""
    from ansible_collections.simpledeploy.django.plugins.module_utils import _lock
    seen = []
    real_migrate = release_switch._migrate.migrate

    def migrate_and_try(*a, **kw):
        try:
            _lock.apply(held_lock, 'present', dict(run_id='run-b', owner='bob@ctl2'), timeout=1,
                        dead_run_ids=['run-a'])
            seen.append('taken')
        except _lock.LockError as exc:
            seen.append(exc.msg)
        return real_migrate(*a, **kw)

    monkeypatch.setattr(release_switch._migrate, 'migrate', migrate_and_try)
    result = run_module(release_switch, args(deployed, lock=held_lock, lock_run_id='run-a'))
    assert not result.get('failed'), result
    assert len(seen) == 1 and 'window' in seen[0], seen


def test_a_window_that_succeeds_releases_the_lock_it_was_asked_to(deployed, systemctl, run_module, held_lock):
    # release_lock: the role's unlock task is then skipped, one remote execution fewer.
    result = run_module(release_switch, args(deployed, lock=held_lock, lock_run_id='run-a', release_lock=True))
    assert not result.get('failed'), result
    assert result['lock_released'] is True and not os.path.exists(held_lock)
    assert applied(deployed) == ['0001_initial', '0002_person_weight']


def test_a_failed_window_leaves_the_lock_to_the_roles_rescue(deployed, systemctl, run_module, held_lock):
    # The role's rescue and unlock act on what this run prepared, under the lock.
    with open(os.path.join(deployed, 'staging', 'people', 'migrations', '0002_person_weight.py'), 'a') as handle:
        handle.write('\nraise RuntimeError("this migration cannot load")\n')
    failed = run_module(release_switch, args(deployed, lock=held_lock, lock_run_id='run-a', release_lock=True))
    assert failed['failed'] and 'lock_released' not in failed
    assert os.path.exists(held_lock)


def test_a_run_with_nothing_to_do_keeps_the_lock(deployed, systemctl, run_module, held_lock):
    # The role asks the health URL itself then (verify.yml), under the lock.
    first = run_module(release_switch, args(deployed, lock=held_lock, lock_run_id='run-a'))
    assert not first.get('failed'), first
    again = run_module(release_switch, args(deployed, swap=False, migrate=False, lock=held_lock, lock_run_id='run-a',
                                            release_lock=True))
    assert not again.get('failed'), again
    assert again['changed'] is False and again['lock_released'] is False and os.path.exists(held_lock)


def test_without_release_lock_the_lock_stays(deployed, systemctl, run_module, held_lock):
    result = run_module(release_switch, args(deployed, lock=held_lock, lock_run_id='run-a'))
    assert not result.get('failed'), result
    assert result['lock_released'] is False and os.path.exists(held_lock)


OLD_ENV = 'DJANGO_SECRET_KEY=release-switch-test-secret\n'
NEW_ENV = 'DJANGO_SECRET_KEY=release-switch-test-secret\nFEATURE_FLAG=on\n'


def config_args(root, unit_dir, **extra):
    """The environment file and a unit (in UNIT_DIR) rendered beside the live ones, as the role does."""
    env = os.path.join(root, 'app.env')
    unit = os.path.join(str(unit_dir), 'person.service')
    return args(root, config=[dict(dest=env, src=env + '.simpledeploy-next'),
                              dict(dest=unit, src=unit + '.simpledeploy-next', systemd=True)], **extra)


def render(config, env=NEW_ENV, unit='[Service]\nExecStart=/new\n'):
    for entry, text in zip(config, (env, unit)):
        with open(entry['src'], 'w') as handle:
            handle.write(text)


def leftovers(config):
    return [path for entry in config for path in (entry['src'], entry['dest'] + '.simpledeploy-previous')
            if os.path.lexists(path)]


def read(path):
    with open(path) as handle:
        return handle.read()


@pytest.fixture
def unit_dir(tmp_path):
    path = tmp_path / 'systemd'
    path.mkdir()
    (path / 'person.service').write_text('[Service]\nExecStart=/old\n')
    return path


def test_a_failed_window_brings_the_old_environment_and_unit_back_with_the_old_code(
        deployed, systemctl, run_module, unit_dir):
    with open(os.path.join(deployed, 'staging', 'people', 'migrations', '0003_explode.py'), 'w') as handle:
        handle.write(FAILING_MIGRATION)
    call = config_args(deployed, unit_dir)
    render(call['config'])
    result = run_module(release_switch, call)
    assert result['failed'] and 'failed at migrate' in result['msg']
    assert read(os.path.join(deployed, 'app.env')) == OLD_ENV
    assert read(str(unit_dir / 'person.service')) == '[Service]\nExecStart=/old\n'
    restored = result['msg'].split('Restored: ')[1]
    assert os.path.join(deployed, 'app.env') in restored and str(unit_dir / 'person.service') in restored
    assert leftovers(call['config']) == []
    # the new unit was read before the window and the old one again before the old release started
    assert systemctl.read_text().splitlines() == ['stop person', 'daemon-reload', 'daemon-reload', 'start person']


def test_a_failed_window_that_brought_a_socket_unit_closes_that_socket_before_the_old_unit_starts(
        deployed, systemctl, run_module, unit_dir):
    """A host moving to the socket-activated unit: the socket unit is new with this window. Undone, its file goes,
    and the socket it opened is stopped before the old unit (which binds the address itself) starts."""
    with open(os.path.join(deployed, 'staging', 'people', 'migrations', '0003_explode.py'), 'w') as handle:
        handle.write(FAILING_MIGRATION)
    call = config_args(deployed, unit_dir)
    render(call['config'])
    socket_unit = os.path.join(str(unit_dir), 'person.socket')
    call['config'].insert(1, dict(dest=socket_unit, src=socket_unit + '.simpledeploy-next', systemd=True))
    with open(socket_unit + '.simpledeploy-next', 'w') as handle:
        handle.write('[Socket]\nListenStream=127.0.0.1:8000\n')
    result = run_module(release_switch, call)
    assert result['failed'] and 'failed at migrate' in result['msg']
    assert not os.path.lexists(socket_unit) and leftovers(call['config']) == []
    assert systemctl.read_text().splitlines() == [
        'stop person', 'daemon-reload', 'stop person.socket', 'daemon-reload', 'start person']


def test_a_socket_unit_whose_address_changed_listens_anew_and_again_on_the_old_one_when_undone(
        deployed, systemctl, run_module, unit_dir):
    """systemd keeps a running socket's old address after a daemon-reload: restarted (service stopped, gate closed),
    in the window and again in its undo."""
    with open(os.path.join(deployed, 'staging', 'people', 'migrations', '0003_explode.py'), 'w') as handle:
        handle.write(FAILING_MIGRATION)
    call = config_args(deployed, unit_dir)
    render(call['config'])
    socket_unit = os.path.join(str(unit_dir), 'person.socket')
    with open(socket_unit, 'w') as handle:
        handle.write('[Socket]\nListenStream=127.0.0.1:8000\n')
    call['config'].insert(1, dict(dest=socket_unit, src=socket_unit + '.simpledeploy-next', systemd=True))
    with open(socket_unit + '.simpledeploy-next', 'w') as handle:
        handle.write('[Socket]\nListenStream=127.0.0.1:8010\n')
    result = run_module(release_switch, call)
    assert result['failed'] and 'failed at migrate' in result['msg']
    assert read(socket_unit) == '[Socket]\nListenStream=127.0.0.1:8000\n'
    assert systemctl.read_text().splitlines() == [
        'stop person', 'daemon-reload', 'restart person.socket', 'daemon-reload', 'restart person.socket',
        'start person']


def test_the_new_environment_and_unit_go_live_with_the_release(deployed, systemctl, run_module, unit_dir):
    call = config_args(deployed, unit_dir)
    render(call['config'])
    result = run_module(release_switch, call)
    assert not result.get('failed'), result
    assert result['config'] == [entry['dest'] for entry in call['config']]
    assert read(os.path.join(deployed, 'app.env')) == NEW_ENV
    assert read(str(unit_dir / 'person.service')) == '[Service]\nExecStart=/new\n'
    assert leftovers(call['config']) == []
    assert systemctl.read_text().splitlines() == ['stop person', 'daemon-reload', 'start person']


def test_a_changed_environment_alone_restarts_the_same_release_in_a_window(
        deployed, systemctl, run_module, unit_dir):
    shutil.rmtree(os.path.join(deployed, 'staging'))
    call = config_args(deployed, unit_dir, release='v1', migrate=False, swap=False, strategy='auto')
    render(call['config'], unit='[Service]\nExecStart=/old\n')
    result = run_module(release_switch, call)
    assert not result.get('failed'), result
    assert result['changed'] and result['config'] == [os.path.join(deployed, 'app.env')]
    assert result['strategy'] == 'simple' and 'app.env changed' in result['strategy_reason']
    assert systemctl.read_text().splitlines() == ['stop person', 'start person']
    assert read(os.path.join(deployed, 'app.env')) == NEW_ENV and leftovers(call['config']) == []


def test_the_same_release_environment_and_unit_change_nothing(deployed, systemctl, run_module, unit_dir):
    shutil.rmtree(os.path.join(deployed, 'staging'))
    call = config_args(deployed, unit_dir, release='v1', migrate=False, swap=False)
    render(call['config'], env=OLD_ENV, unit='[Service]\nExecStart=/old\n')
    for check_mode in (True, False):
        render(call['config'], env=OLD_ENV, unit='[Service]\nExecStart=/old\n')
        result = run_module(release_switch, call, check_mode=check_mode)
        assert not result.get('failed'), result
        assert result['changed'] is False and result['config'] == [] and result['strategy'] is None
        assert leftovers(call['config']) == []
    assert not systemctl.exists()


def test_check_mode_says_which_files_change_and_leaves_them(deployed, systemctl, run_module, unit_dir):
    call = config_args(deployed, unit_dir)
    render(call['config'])
    result = run_module(release_switch, call, check_mode=True)
    assert result['changed'] and result['config'] == [entry['dest'] for entry in call['config']]
    assert result['strategy'] == 'simple'
    assert read(os.path.join(deployed, 'app.env')) == OLD_ENV and leftovers(call['config']) == []
    assert not systemctl.exists()


def test_a_missing_rendering_stops_before_anything(deployed, systemctl, run_module, unit_dir):
    call = config_args(deployed, unit_dir)
    result = run_module(release_switch, call)
    assert result['failed'] and 'is missing' in result['msg'] and 'nothing was stopped' in result['msg']
    assert not systemctl.exists() and os.path.isdir(os.path.join(deployed, 'staging'))


# ---------------------------------------------------------------------------
# What goes live is on disk first; full disks (a real one: a small tmpfs holding the deploy root)

def test_the_staged_tree_is_flushed_to_disk_before_the_stop(deployed, systemctl, run_module, monkeypatch):
    """The mechanism of power-loss safety (a power loss cannot be performed here): the filesystem of
    the staged tree is flushed (syncfs) before the first systemctl stop, and the cost is measured."""
    flushed = []
    real = _fsio.flush_filesystems

    def spy(paths, *rest, **kwargs):
        flushed.append((list(paths), systemctl.exists() and systemctl.read_text()))
        return real(paths, *rest, **kwargs)

    monkeypatch.setattr(_fsio, 'flush_filesystems', spy)
    result = run_module(release_switch, args(deployed))
    assert not result.get('failed'), result['msg']
    assert flushed == [([os.path.join(deployed, 'staging')], False)]
    assert systemctl.read_text().splitlines() == ['stop person', 'start person']
    assert isinstance(result['flush'], float) and result['flush'] >= 0


def test_with_nothing_new_to_go_live_nothing_is_flushed(deployed, systemctl, run_module, monkeypatch):
    monkeypatch.setattr(_fsio, 'flush_filesystems', lambda paths: pytest.fail('flushed %s' % paths))
    shutil.rmtree(os.path.join(deployed, 'staging'))
    result = run_module(release_switch, args(deployed, release='v1', swap=False))
    assert not result.get('failed'), result['msg']
    assert result['flush'] is None and systemctl.read_text().splitlines() == ['stop person', 'start person']


@pytest.fixture
def small_disk(tmp_path):
    """A 4 MiB tmpfs on tmp_path/srv, where `deployed` puts the deploy root (ask for it before `deployed`)."""
    from ansible_collections.simpledeploy.django.tests.unit.plugins.module_utils.test_fsio import small_tmpfs
    with small_tmpfs(str(tmp_path / 'srv'), '4m') as disk:
        yield disk


def fill(disk):
    from ansible_collections.simpledeploy.django.tests.unit.plugins.module_utils.test_fsio import fill_up
    return fill_up(disk)


def state_of(root):
    return json.load(open(os.path.join(root, '.simpledeploy.json')))


def warnings(result):
    return [item['event']['msg'] if isinstance(item, dict) else item for item in result.get('warnings', [])]


def temporary_files(root):
    return [name for name in os.listdir(root) if name.endswith('.tmp')]


def test_a_full_disk_after_a_good_window_warns_and_the_next_run_finishes(
        small_disk, deployed, systemctl, run_module, monkeypatch):
    """The disk fills up right after the window (a hook on Switch.record, called just before the state
    is written): the new release serves, so the task succeeds and warns naming the state file and the
    error (the old code ended in a traceback, MODULE FAILURE); the next run, with space again, records it."""
    real = _window.Switch.record
    filler = []

    def record_on_a_full_disk(self, state, at):
        filler.append(fill(small_disk))
        return real(self, state, at)

    monkeypatch.setattr(_window.Switch, 'record', record_on_a_full_disk)
    result = run_module(release_switch, args(deployed))
    assert not result.get('failed'), result['msg']
    assert result['changed'] and result['release'] == 'v2' and result['migrated']
    marker = os.path.join(deployed, '.simpledeploy.json')
    [warning] = [text for text in warnings(result) if marker in text]
    assert 'release v2 is live' in warning and 'No space left on device' in warning
    assert _state.tree_release(os.path.join(deployed, 'code')) == 'v2'
    assert applied(deployed) == ['0001_initial', '0002_person_weight'] and rows(deployed) == 3
    assert systemctl.read_text().splitlines() == ['stop person', 'start person']
    # The old state is whole (still saying a window is open), and no temporary file is left.
    assert state_of(deployed)['switching']['release'] == 'v2' and state_of(deployed)['current']['release'] == 'v1'
    assert temporary_files(deployed) == []

    monkeypatch.setattr(_window.Switch, 'record', real)
    os.unlink(filler[0])
    again = run_module(release_switch, args(deployed))
    assert not again.get('failed'), again['msg']
    assert again['recovered'] is True and 'swap' not in again['steps']
    assert 'switching' not in state_of(deployed)
    assert state_of(deployed)['current']['release'] == 'v2' and state_of(deployed)['previous']['release'] == 'v1'


@pytest.mark.parametrize('when', ['before the run', 'before the record'])
def test_a_full_disk_before_the_stop_fails_cleanly_and_stops_nothing(
        small_disk, deployed, systemctl, run_module, monkeypatch, when):
    """Full before the run: the staged tree's release file cannot be written; full just before the
    `switching` record (a hook on the construction of the window, the last step before the flush and the
    record): the record cannot be written. Either way the task fails naming the file and the error (the
    old code ended in a traceback, MODULE FAILURE), nothing stops, nothing changes, and the next run works."""
    before = state_of(deployed)
    original = _window.Switch
    filler = []
    if when == 'before the run':
        filler.append(fill(small_disk))
        path = os.path.join(deployed, 'staging', _state.RELEASE_FILE)
    else:
        class FillsTheDisk(original):
            def __init__(self, *a, **k):
                filler.append(fill(small_disk))
                super().__init__(*a, **k)

        monkeypatch.setattr(_window, 'Switch', FillsTheDisk)
        path = os.path.join(deployed, '.simpledeploy.json')
    result = run_module(release_switch, args(deployed))
    assert result['failed']
    assert result['msg'].startswith('nothing was stopped: cannot write %s: No space left on device' % path)
    assert 'Traceback' not in result.raw and not systemctl.exists()
    assert state_of(deployed) == before and temporary_files(deployed) == []
    assert temporary_files(os.path.join(deployed, 'staging')) == []
    assert applied(deployed) == ['0001_initial'] and os.path.isdir(os.path.join(deployed, 'staging'))

    monkeypatch.setattr(_window, 'Switch', original)
    os.unlink(filler[0])
    again = run_module(release_switch, args(deployed))
    assert not again.get('failed'), again['msg']
    assert state_of(deployed)['current']['release'] == 'v2'


def test_a_full_disk_after_a_rollback_keeps_the_failure_message(small_disk, deployed, systemctl, run_module, monkeypatch):
    """A failed migration is rolled back, then the disk fills up (a hook after Switch.undo) before the state
    is written: the task fails with the window's own message and a warning naming the state file, not a
    traceback (the old code's MODULE FAILURE hid what failed and what was put back)."""
    with open(os.path.join(deployed, 'staging', 'people', 'migrations', '0003_explode.py'), 'w') as handle:
        handle.write(FAILING_MIGRATION)
    real = _window.Switch.undo
    filler = []

    def undo_then_fill(self, *a, **k):
        restored = real(self, *a, **k)
        filler.append(fill(small_disk))
        return restored

    monkeypatch.setattr(_window.Switch, 'undo', undo_then_fill)
    result = run_module(release_switch, args(deployed))
    assert result['failed'] and 'failed at migrate' in result['msg'] and 'data migration exploded' in result['msg']
    assert result['restored'] == ['code', 'service started']
    marker = os.path.join(deployed, '.simpledeploy.json')
    [warning] = [text for text in warnings(result) if marker in text and 'put back' in text]
    assert 'No space left on device' in warning
    assert os.path.exists(os.path.join(deployed, 'code', 'people', 'legacy.py'))
    assert temporary_files(deployed) == []


def test_a_first_environment_file_goes_in_place_in_the_window_and_migrate_reads_it(
        deployed, systemctl, run_module, unit_dir):
    """A first deploy has no live environment file: the checks before the stop read the new one."""
    os.unlink(os.path.join(deployed, 'app.env'))
    call = config_args(deployed, unit_dir, backup=True)
    render(call['config'])
    result = run_module(release_switch, call)
    assert not result.get('failed'), result
    assert read(os.path.join(deployed, 'app.env')) == NEW_ENV
    assert applied(deployed) == ['0001_initial', '0002_person_weight']


def test_a_first_deploys_unit_goes_in_place_in_the_window_and_its_failure_leaves_none(
        deployed, systemctl, run_module, unit_dir, tmp_path):
    """systemd answers rc=5 to stopping a unit it does not know: a first deploy's unit is not there
    before its window. A failure in that window takes the new unit away again and starts nothing."""
    os.unlink(str(unit_dir / 'person.service'))
    script = tmp_path / 'bin' / 'systemctl'
    script.write_text(SYSTEMCTL.replace('if [ "$1" = show ]; then', 'if [ "$1" = show ]; then\n  echo LoadState=not-found')
                      .replace('echo "$@" >> "$dir/systemctl.log"',
                               'echo "$@" >> "$dir/systemctl.log"\n[ "$1" = stop ] && exit 5') % tmp_path)
    with open(os.path.join(deployed, 'staging', 'people', 'migrations', '0003_explode.py'), 'w') as handle:
        handle.write(FAILING_MIGRATION)
    call = config_args(deployed, unit_dir)
    render(call['config'])
    result = run_module(release_switch, call)
    assert result['failed'] and 'failed at migrate' in result['msg'], result['msg']
    assert 'service person not started: a first deploy' in result['msg']
    assert not os.path.exists(str(unit_dir / 'person.service')) and leftovers(call['config']) == []
    assert systemctl.read_text().splitlines() == ['stop person', 'daemon-reload', 'daemon-reload']


# ---------------------------------------------------------------- the health check that fits Django; a first deploy

class _App(object):
    """A loopback server answering as a Django project in production settings: 400 for a Host ALLOWED_HOSTS
    does not list (example.com), SECURE_PROXY_SSL_HEADER's 301 to https:// without X-Forwarded-Proto https,
    / redirecting to /catalog/; self.status (500: broken settings, say) for /catalog/."""

    def __init__(self):
        import http.server
        import threading
        app = self
        self.status = 200
        self.asked = []

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 (the stdlib's name)
                app.asked.append(dict(self.headers))
                if self.headers.get('Host') != 'example.com':
                    code, headers, body = 400, [], b'<h1>Bad Request (400)</h1>'
                elif self.headers.get('X-Forwarded-Proto') != 'https':
                    code, headers, body = 301, [('Location', 'https://example.com%s' % self.path)], b''
                elif self.path == '/':
                    code, headers, body = 302, [('Location', '/catalog/')], b''
                else:
                    code, headers, body = app.status, [], b'<h1>Catalog</h1>' if app.status == 200 else b'Server Error'
                self.send_response(code)
                for name, value in headers:
                    self.send_header(name, value)
                self.send_header('Content-Length', str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = http.server.HTTPServer(('127.0.0.1', 0), Handler)
        self.url = 'http://127.0.0.1:%d/' % self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def app():
    server = _App()
    yield server
    server.close()


TOKEN = 'health-token-4f1b9c'


def test_the_ready_check_sends_the_host_and_headers_follows_the_redirect_and_never_shows_a_header_value(
        deployed, systemctl, run_module, app):
    headers = {'X-Forwarded-Proto': 'https', 'X-Health-Token': TOKEN}
    bare = run_module(release_switch, args(deployed, migrate=False, ready_url=app.url, ready_timeout=0.3))
    assert bare['failed'] and 'last answer: HTTP 400: Bad Request (400)' in bare['msg']
    assert 'set deploy_healthcheck_host to a host ALLOWED_HOSTS lists' in bare['msg']
    no_proxy = run_module(release_switch, args(deployed, migrate=False, ready_url=app.url, ready_timeout=0.3,
                                               ready_host='example.com'))
    assert no_proxy['failed'] and 'last answer: HTTP 301 to https://example.com/)' in no_proxy['msg']
    assert 'set SECURE_PROXY_SSL_HEADER' in no_proxy['msg']
    result = run_module(release_switch, args(deployed, migrate=False, ready_url=app.url, ready_timeout=5,
                                             ready_host='example.com', ready_headers=headers))
    assert not result.get('failed'), result['msg']
    assert result['ready'] is True and state_of(deployed)['current']['release'] == 'v2'
    assert app.asked[-1]['Host'] == 'example.com' and app.asked[-1]['X-Health-Token'] == TOKEN
    # The token is in no output, the invocation included; "https" is not masked (the rule keeps short values).
    assert TOKEN not in result.raw and TOKEN not in bare.raw
    assert result['invocation']['module_args']['ready_headers'] == {
        'X-Forwarded-Proto': 'VALUE_SPECIFIED_IN_NO_LOG_PARAMETER', 'X-Health-Token': 'VALUE_SPECIFIED_IN_NO_LOG_PARAMETER'}
    assert 'https://example.com/' in no_proxy['msg']


@pytest.fixture
def first_deploy(tmp_path, venv):
    """A deploy root before its first release went live: the marker, shared/, app.env and v1 staged; no code/."""
    root = str(tmp_path / 'srv' / 'person')
    os.makedirs(os.path.join(root, 'shared', 'media'))
    with open(os.path.join(root, '.simpledeploy.json'), 'w') as handle:
        json.dump({'app': 'person', 'format': 1}, handle)
    with open(os.path.join(root, 'app.env'), 'w') as handle:
        handle.write('DJANGO_SECRET_KEY=release-switch-test-secret\n')
    copy_example('v1', os.path.join(root, 'staging'))
    link_shared(root, os.path.join(root, 'staging'))
    return root


def test_a_failed_first_deploy_says_there_is_nothing_to_go_back_to_and_the_next_run_deploys(
        first_deploy, systemctl, run_module, app, tmp_path):
    """The service's own unit is there (deploy_manage_service false), enabled maybe, and its server cannot
    start without code/ (as gunicorn cannot). The first release answers 500: the window stops it, disables
    it, starts nothing (the old rollback started it and failed: "The rollback failed too ... the host needs
    a look"); fixed, the next run deploys as usual."""
    script = tmp_path / 'bin' / 'systemctl'
    script.write_text(SYSTEMCTL.replace(
        'echo "$@" >> "$dir/systemctl.log"',
        'echo "$@" >> "$dir/systemctl.log"\n'
        '[ "$1" = start ] && [ ! -d %s/code ] && { echo "no code to run" >&2; exit 1; }' % first_deploy) % tmp_path)
    (tmp_path / 'show').write_text('LoadState=loaded\nActiveState=inactive\n')
    call = args(first_deploy, release='v1', migrate=False, ready_url=app.url, ready_timeout=0.3,
                ready_host='example.com', ready_headers={'X-Forwarded-Proto': 'https'})
    app.status = 500
    result = run_module(release_switch, call)
    assert result['failed'] and result['failed_step'] == 'ready'
    assert 'last answer: HTTP 500: Server Error (after redirects to /catalog/)' in result['msg']
    assert ('This was the first deploy: there is no earlier release to go back to; the service person is stopped '
            'and disabled, nothing else is left half-done; fix what failed at ready and run again.') in result['msg']
    assert 'rollback failed' not in result['msg']
    assert systemctl.read_text().splitlines() == ['stop person', 'start person', 'stop person', 'disable person']
    assert result['restored'] == ['code', 'service left stopped and disabled (no release before this run)']
    assert result['answered'] is None
    # Nothing half-done: the release is staged again, nothing is live, no window is open.
    assert not os.path.exists(os.path.join(first_deploy, 'code'))
    assert _state.tree_release(os.path.join(first_deploy, 'staging')) == 'v1'
    assert state_of(first_deploy) == {'app': 'person', 'format': 1}

    app.status = 200
    again = run_module(release_switch, call)
    assert not again.get('failed'), again['msg']
    assert again['ready'] is True and state_of(first_deploy)['current']['release'] == 'v1'
    assert systemctl.read_text().splitlines()[-2:] == ['stop person', 'start person']
