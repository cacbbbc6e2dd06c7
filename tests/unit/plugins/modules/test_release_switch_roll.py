# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The graceful reload without a gap, with a real gunicorn 23 serving the Person example.

The staged release takes 3 s to import (its wsgi.py sleeps, as a big project's import does) and
a client asks every 20 ms with a 1 s timeout. Rolled (worker_ready_dir: SIGTTIN, wait for the new
workers' own word through the role's gunicorn.conf.py, SIGTTOU), no request fails; by SIGHUP the
same client sees requests time out: the test of the roll can fail.

Only systemctl is a stand-in (it says which PID is the master); gunicorn, its hooks file, Django
and the module are real.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import threading
import time
import urllib.request

import pytest

from ansible_collections.simpledeploy.django.plugins.modules import release_switch
from ansible_collections.simpledeploy.django.plugins.module_utils import _proc
from ansible_collections.simpledeploy.django.tests.unit.conftest import (
    EXTRA_PACKAGES, REPO_ROOT, build_venv, cache_dir, copy_example, venv_python,
)
from ansible_collections.simpledeploy.django.tests.unit.plugins.modules.test_release_switch import (  # noqa: F401 pylint: disable=unused-import
    closed_port, link_shared, systemctl,
)

HOOKS = os.path.join(REPO_ROOT, 'roles', 'deploy', 'files', 'gunicorn.conf.py')
SECRET = 'roll-test-secret-key-0123456789'
IMPORT_SECONDS = 3


@pytest.fixture(scope='module')
def gunicorn_venv():
    python = venv_python()
    if python is None:
        pytest.skip('no Python >= 3.12 for the Django test virtualenv')
    return build_venv('5.2', python, base=os.path.join(cache_dir(), 'gunicorn'),
                      extra_packages=EXTRA_PACKAGES + ['gunicorn==23.0.0'])


@pytest.fixture
def preload():
    """Parametrized indirectly: whether the project's own gunicorn.conf.py sets preload_app."""
    return False


@pytest.fixture
def served(tmp_path, gunicorn_venv, systemctl, preload):
    """A deploy root with v1 live under a real gunicorn (2 workers) and v1b staged (a new page, a slow import).

    Yields (root, url, master PID, the runtime directory)."""
    root = str(tmp_path / 'srv' / 'person')
    os.makedirs(os.path.join(root, 'shared', 'media'))
    with open(os.path.join(root, '.simpledeploy.json'), 'w') as handle:
        handle.write('{"app": "person", "format": 1, "current": {"release": "v1"}}')
    with open(os.path.join(root, 'app.env'), 'w') as handle:
        handle.write('DJANGO_SECRET_KEY=%s\n' % SECRET)
    env = dict(os.environ, DJANGO_SECRET_KEY=SECRET, PYTHONDONTWRITEBYTECODE='1')
    for tree, release in (('code', 'v1'), ('staging', 'v1b')):
        path = copy_example('v1', os.path.join(root, tree))
        link_shared(root, path)
        with open(os.path.join(path, '.simpledeploy-release'), 'w') as handle:
            handle.write(release + '\n')
    subprocess.run([gunicorn_venv.python, 'manage.py', 'migrate', '--noinput'], cwd=os.path.join(root, 'code'),
                   env=env, check=True, capture_output=True)
    staged = os.path.join(root, 'staging')
    with open(os.path.join(staged, 'people', 'views.py')) as handle:
        views = handle.read()
    with open(os.path.join(staged, 'people', 'views.py'), 'w') as handle:
        handle.write(views.replace('RELEASE = "v1"', 'RELEASE = "v1b"'))
    with open(os.path.join(staged, 'mysite', 'wsgi.py'), 'a') as handle:
        handle.write('\nimport time\ntime.sleep(%d)  # a big project takes this long to import\n' % IMPORT_SECONDS)
    if preload:
        # The project's own configuration file, which the role's gunicorn.conf.py reads first.
        with open(os.path.join(root, 'code', 'gunicorn.conf.py'), 'w') as handle:
            handle.write('preload_app = True\n')
    os.symlink(gunicorn_venv.path, os.path.join(root, 'venv'))
    runtime = str(tmp_path / 'run')
    os.mkdir(runtime)
    port = closed_port()
    env.update(RUNTIME_DIRECTORY=runtime, SIMPLEDEPLOY_RELEASE_FILE=os.path.join(root, 'code', '.simpledeploy-release'),
               SIMPLEDEPLOY_SERVE_GATE=os.path.join(root, '.simpledeploy-serve-gate'))
    server = subprocess.Popen(
        [os.path.join(root, 'venv', 'bin', 'gunicorn'), 'mysite.wsgi:application', '--chdir', os.path.join(root, 'code'),
         '--bind', '127.0.0.1:%d' % port, '--workers', '2', '--config', HOOKS],
        cwd=os.path.join(root, 'code'), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        start_new_session=True)
    url = 'http://127.0.0.1:%d/' % port
    try:
        deadline = time.monotonic() + 60
        while True:
            assert server.poll() is None, 'gunicorn exited'
            try:
                with urllib.request.urlopen(url, timeout=2) as answer:
                    if b'content="v1"' in answer.read():
                        break
            except OSError:
                pass
            assert time.monotonic() < deadline, 'gunicorn did not answer'
            time.sleep(0.1)
        # The systemctl stand-in's "show": the service runs and can reload, gunicorn's master is its main PID.
        (tmp_path / 'show').write_text('ActiveState=active\nCanReload=yes\n')
        (tmp_path / 'master.pid').write_text(str(server.pid))
        yield root, url, server.pid, runtime
    finally:
        kill_server(server)


def kill_server(server):
    """gunicorn's master and its workers (its own session) killed, the master reaped."""
    try:
        os.killpg(server.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    server.wait()


class Client(threading.Thread):
    """Asks URL every 20 ms with a TIMEOUT (1 s) until stopped; keeps each failure, the longest wait, and each answer
    as (time.time(), the release its page names)."""

    def __init__(self, url, timeout=1.0):
        super().__init__(daemon=True)
        self.url = url
        self.timeout = timeout
        self.stopping = threading.Event()
        self.failed = []
        self.answered = 0
        self.answers = []
        self.longest = 0.0

    def run(self):
        while not self.stopping.is_set():
            start = time.monotonic()
            try:
                with urllib.request.urlopen(self.url, timeout=self.timeout) as answer:
                    found = re.search(r'content="([^"]+)"', answer.read().decode())
                self.answers.append((time.time(), found.group(1) if found else None))
                self.answered += 1
            except OSError as exc:
                self.failed.append(repr(exc))
            self.longest = max(self.longest, time.monotonic() - start)
            time.sleep(0.02)

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self.stopping.set()
        self.join(10)


def read_worker(runtime, pid):
    with open(os.path.join(runtime, 'workers', str(pid))) as handle:
        return handle.read().strip()


def page(url):
    with urllib.request.urlopen(url, timeout=5) as answer:
        return answer.read().decode()


def args(root, url, **extra):
    base = dict(root=root, release='v1b', swap=True, service='person', strategy='auto', migrate=False,
                env_file=os.path.join(root, 'app.env'), ready_url=url, ready_timeout=30, prune=False)
    base.update(extra)
    return base


def test_rolled_workers_serve_through_a_slow_import_and_none_of_the_old_ones_stays(served, systemctl, run_module):
    root, url, master, runtime = served
    old = _proc.child_pids(master)
    assert len(old) == 2
    with Client(url) as client:
        time.sleep(0.3)
        result = run_module(release_switch, args(root, url, worker_ready_dir=runtime))
        time.sleep(0.3)
    assert not result.get('failed'), result
    assert result['strategy'] == 'reload' and result['downtime'] is False
    assert client.failed == [] and client.answered > 50, (client.failed, client.answered)
    # The new workers said they loaded v1b only after its import; old ones served meanwhile.
    assert result['workers']['old'] == old and len(result['workers']['new']) == 2
    assert result['workers']['seconds']['ready'] >= IMPORT_SECONDS - 0.5, result['workers']
    assert 'content="v1b"' in page(url)
    # The same master, only new workers, each having said so; no SIGHUP was sent (no "reload" asked of systemd).
    assert _proc.is_running(master)
    assert sorted(_proc.child_pids(master)) == sorted(result['workers']['new'])
    for pid in result['workers']['new']:
        with open(os.path.join(runtime, 'workers', str(pid))) as handle:
            assert handle.read().strip() == 'v1b'
    # (the stand-in writes down every systemctl call but "show": none was made, no reload, no restart)
    assert not systemctl.exists(), systemctl.read_text()
    # Each worker runs in code/ as it is now, not in the tree the master started in (code.previous/).
    for pid in result['workers']['new']:
        assert os.readlink('/proc/%d/cwd' % pid) == os.path.join(root, 'code')


def test_by_sighup_the_same_client_waits_for_the_import(served, systemctl, run_module):
    """The control: the measure above can fail. gunicorn's HUP stops the old workers at once."""
    root, url, master, dummy = served
    with Client(url) as client:
        time.sleep(0.3)
        result = run_module(release_switch, args(root, url))
        time.sleep(0.3)
    assert not result.get('failed'), result
    assert 'workers' not in result
    assert client.failed or client.longest >= 1, (client.failed, client.longest)


def test_a_new_release_that_cannot_load_is_undone_and_the_old_one_serves(served, systemctl, run_module):
    root, url, master, runtime = served
    with open(os.path.join(root, 'staging', 'mysite', 'wsgi.py'), 'a') as handle:
        handle.write('\nraise RuntimeError("the new release cannot load")\n')
    result = run_module(release_switch, args(root, url, worker_ready_dir=runtime, ready_timeout=15))
    assert result.get('failed'), result
    assert result["failed_step"] == "workers", (result["msg"], result.get("workers"))
    assert 'exited while waiting for' in result['msg'] and 'could not load the new release' in result['msg']
    # The old tree is back and systemd was asked to restart it (the stand-in does not run it).
    with open(os.path.join(root, 'code', '.simpledeploy-release')) as handle:
        assert handle.read().strip() == 'v1'
    assert 'restart person' in systemctl.read_text()
    shutil.rmtree(runtime, ignore_errors=True)


@pytest.mark.parametrize('preload', [True])
def test_a_master_that_preloaded_the_app_stops_the_roll_at_once_and_is_restarted(served, systemctl, run_module):
    """preload_app in the project's own gunicorn.conf.py: new workers would carry the master's old code. They say
    so, the roll stops without waiting out its timeout, and the old tree comes back with a restart."""
    root, url, master, runtime = served
    started = time.monotonic()
    result = run_module(release_switch, args(root, url, worker_ready_dir=runtime))
    assert result.get('failed'), result
    assert result['failed_step'] == 'workers' and 'gunicorn preloads the app in its master' in result['msg']
    assert 'deploy_gunicorn_preload: true' in result['msg']
    assert time.monotonic() - started < 20, 'the roll waited out its timeout (30 s)'
    with open(os.path.join(root, 'code', '.simpledeploy-release')) as handle:
        assert handle.read().strip() == 'v1'
    assert systemctl.read_text().splitlines() == ['restart person']


def test_workers_wait_at_the_serve_gate_alive_and_take_the_held_connections_once_it_goes(tmp_path, gunicorn_venv):
    """The role's gunicorn.conf.py with SIMPLEDEPLOY_SERVE_GATE naming a file that exists: the workers load the app,
    then take no connection (a request waits, unanswered) and say "held v1" in their files, and they are still the same
    workers past --timeout (2 s here). Once the file goes, the request held in the socket is answered and the
    workers say they are ready. A real gunicorn 23 and Django."""
    root = str(tmp_path / 'srv' / 'person')
    os.makedirs(os.path.join(root, 'shared', 'media'))
    code = copy_example('v1', os.path.join(root, 'code'))
    link_shared(root, code)
    with open(os.path.join(code, '.simpledeploy-release'), 'w') as handle:
        handle.write('v1\n')
    env = dict(os.environ, DJANGO_SECRET_KEY=SECRET, PYTHONDONTWRITEBYTECODE='1')
    subprocess.run([gunicorn_venv.python, 'manage.py', 'migrate', '--noinput'], cwd=code, env=env, check=True,
                   capture_output=True)
    runtime = str(tmp_path / 'run')
    os.mkdir(runtime)
    gate = str(tmp_path / 'serve-gate')
    open(gate, 'w').close()
    port = closed_port()
    env.update(RUNTIME_DIRECTORY=runtime, SIMPLEDEPLOY_RELEASE_FILE=os.path.join(code, '.simpledeploy-release'),
               SIMPLEDEPLOY_SERVE_GATE=gate)
    log = tmp_path / 'gunicorn.log'
    with open(log, 'wb') as out:
        server = subprocess.Popen(
            [os.path.join(gunicorn_venv.path, 'bin', 'gunicorn'), 'mysite.wsgi:application', '--chdir', code,
             '--bind', '127.0.0.1:%d' % port, '--workers', '2', '--timeout', '2', '--config', HOOKS],
            cwd=code, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    url = 'http://127.0.0.1:%d/' % port
    held = {}

    def ask():
        try:
            held['page'] = page(url)
        except OSError as exc:
            held['error'] = repr(exc)
        held['at'] = time.monotonic()

    try:
        deadline = time.monotonic() + 60
        while log.read_text().count('waits at the serve gate') < 2:
            assert server.poll() is None, log.read_text()
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.1)
        waiting = sorted(_proc.child_pids(server.pid))
        asker = threading.Thread(target=ask, daemon=True)
        asker.start()
        time.sleep(3)  # past --timeout
        assert held == {}, held
        assert sorted(_proc.child_pids(server.pid)) == waiting, log.read_text()
        # Each says it waits, with the release it loaded, not that it is ready.
        assert {pid: read_worker(runtime, pid) for pid in waiting} == {pid: 'held v1' for pid in waiting}
        opened = time.monotonic()
        os.unlink(gate)
        asker.join(10)
        assert 'content="v1"' in held.get('page', ''), held
        assert held['at'] - opened < 2, 'the held request was not answered once the gate opened'
        assert {pid: read_worker(runtime, pid) for pid in waiting} == {pid: 'v1' for pid in waiting}
        assert 'WORKER TIMEOUT' not in log.read_text()
    finally:
        kill_server(server)


NICKNAME_MIGRATION = """from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [('people', '0001_initial')]
    operations = [migrations.AddField('person', 'nickname', models.CharField(max_length=50, null=True))]
"""


def test_a_window_for_migrations_alone_keeps_the_server_and_leaves_the_import_out(served, systemctl, run_module):
    """Only a migration keeps v1b from a graceful reload: the server keeps running (no systemctl call), new workers
    load v1b (3 s) while v1's serve, then the window is v1's workers going and migrate; the serve gate opens and the
    held requests are answered by v1b. The client sees no failure and waits far less than the import; no v1 answer
    comes after the first v1b one."""
    root, url, master, runtime = served
    with open(os.path.join(root, 'staging', 'people', 'migrations', '0002_person_nickname.py'), 'w') as handle:
        handle.write(NICKNAME_MIGRATION)
    serve_gate = os.path.join(root, '.simpledeploy-serve-gate')
    # A request that arrives in the window waits for it (held at the serve gate): the client waits as long as the
    # window may last (IMPORT_SECONDS - 1, asserted below), never as long as the import. With 1 s, a window of
    # 1-2 s on a busy machine failed a request the test allows.
    with Client(url, timeout=IMPORT_SECONDS - 1) as client:
        time.sleep(0.3)
        result = run_module(release_switch, args(root, url, migrate=True, worker_ready_dir=runtime,
                                                 serve_gate=serve_gate, gate=os.path.join(root, '.simpledeploy-gate')))
        time.sleep(0.3)
    assert not result.get('failed'), result
    assert result['strategy'] == 'simple' and 'the server keeps running' in result['strategy_reason'], result
    assert result['downtime'] is True and result['migrated'] is True
    assert any('Applying people.0002_person_nickname... OK' in line for line in result['migrate_output']), result
    assert result['steps']['workers'] >= IMPORT_SECONDS - 0.5, result['steps']
    assert result['window'] < IMPORT_SECONDS - 1, result
    assert client.failed == [] and client.longest < IMPORT_SECONDS - 1, (client.failed, client.longest)
    releases = [release for dummy, release in client.answers]
    first_new = releases.index('v1b')
    assert 'v1' in releases[:first_new] and 'v1' not in releases[first_new:], releases
    # The same master throughout, no systemctl call; its workers are the new ones, past the gate.
    assert not systemctl.exists(), systemctl.read_text()
    assert _proc.is_running(master) and sorted(_proc.child_pids(master)) == sorted(result['workers']['new'])
    for pid in result['workers']['new']:
        with open(os.path.join(runtime, 'workers', str(pid))) as handle:
            assert handle.read().strip() == 'v1b'
    assert not os.path.exists(serve_gate)
    assert 'content="v1b"' in page(url)
