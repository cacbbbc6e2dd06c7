# -*- coding: utf-8 -*-
# Copyright: (c) 2026, simpledeploy developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Shared fixtures: real Django virtualenvs (cached) and copies of the example project.

Virtualenvs are built once per machine under ``~/.cache/simpledeploy-tests/``
(``SIMPLEDEPLOY_TEST_CACHE`` overrides), one per Django series, with Python
3.12 or newer (Django 6 needs it): ``SIMPLEDEPLOY_TEST_PYTHON`` names the
interpreter, else the running one when new enough, else ``python3.12`` /
``python3.13`` on PATH. A venv is reused when its stamp file exists; delete the
directory to rebuild it. Building all three takes about a minute; reuse is free.

Fixtures:
    django_venv      session-scoped, parametrized over DJANGO_SERIES
                     -> DjangoVenv(series, path, python, version)
    person_v1        a fresh copy of examples/person/v1 (function-scoped)
    person_v2        a fresh copy of examples/person/v2 (function-scoped)
    copy_person      copy(version, dest) for copies elsewhere
    migrated_database  get(venv, 'v1'|'v2') -> a SQLite file migrated once per session
    run_module       call a module's main() in-process, return its JSON result
    django52_venv    session-scoped: the Django 5.2 venv alone
    system_django_venv  a Django 5.2 venv from /usr/bin/python3 that every user can
                     run (under /var/tmp), for run_as tests; skips unless root
    world_readable_dir  a temporary directory every user can enter
    root_parent      a directory that only root can write, outside every temporary
                     directory (under /var/lib): where deploy roots may be; needs root
    attacker         run a function as an unprivileged user (nobody) in a forked
                     child: the app user of the threat model; skips unless root
"""

from __future__ import absolute_import, division, print_function

import collections
import contextlib
import fcntl
import json
import os
import posix
import shutil
import subprocess
import sys
import tempfile

import pytest

try:
    from ansible.module_utils.testing import patch_module_args
except ImportError:  # ansible-core < 2.19
    patch_module_args = None

REPO_ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..'))
EXAMPLES = os.path.join(REPO_ROOT, 'examples', 'person')

# Django series under test -> pip requirement. Keep the newest series current.
DJANGO_SERIES = collections.OrderedDict([
    ('4.2', 'Django>=4.2,<4.3'),
    ('5.2', 'Django>=5.2,<5.3'),
    ('6.1', 'Django>=6.1,<6.2'),
])
# Installed beside Django in every test venv: the PostgreSQL driver, so that an
# unreachable PostgreSQL server can be tested without a server.
EXTRA_PACKAGES = ['psycopg[binary]>=3.1']

DjangoVenv = collections.namedtuple('DjangoVenv', 'series path python version')


def cache_dir():
    return os.environ.get('SIMPLEDEPLOY_TEST_CACHE') or os.path.join(
        os.path.expanduser('~'), '.cache', 'simpledeploy-tests')


def _python_version(python):
    out = subprocess.check_output(
        [python, '-c', 'import sys; print("%d.%d" % sys.version_info[:2])'], text=True)
    return tuple(int(part) for part in out.strip().split('.'))


def venv_python():
    """The interpreter test venvs are built with (3.12 or newer), or None."""
    wanted = os.environ.get('SIMPLEDEPLOY_TEST_PYTHON')
    if wanted:
        return wanted
    if sys.version_info >= (3, 12):
        return sys.executable
    for name in ('python3.12', 'python3.13'):
        found = shutil.which(name)
        if found:
            try:
                if _python_version(found) >= (3, 12):
                    return found
            except (OSError, subprocess.CalledProcessError):
                continue
    return None


def build_venv(series, python, base=None, extra_packages=None):
    """Create (or reuse) the venv for ``series`` under ``base``; return DjangoVenv."""
    base = base or cache_dir()
    major_minor = '%d%d' % _python_version(python)
    path = os.path.join(base, 'django-%s-py%s' % (series, major_minor))
    stamp = os.path.join(path, '.simpledeploy-stamp')
    os.makedirs(base, exist_ok=True)
    with open(path + '.lock', 'w', encoding='utf-8') as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # parallel workers build each venv once
        if not os.path.exists(stamp):
            shutil.rmtree(path, ignore_errors=True)
            env = dict(os.environ, PIP_DISABLE_PIP_VERSION_CHECK='1')
            subprocess.check_call([python, '-m', 'venv', path])
            if extra_packages is None:
                extra_packages = EXTRA_PACKAGES
            subprocess.check_call(
                [os.path.join(path, 'bin', 'python'), '-m', 'pip', 'install', '--quiet',
                 DJANGO_SERIES[series]] + list(extra_packages), env=env)
            version = subprocess.check_output(
                [os.path.join(path, 'bin', 'python'), '-c',
                 'import django; print(django.get_version())'], text=True).strip()
            with open(stamp, 'w', encoding='utf-8') as handle:
                handle.write(version + '\n')
    with open(stamp, encoding='utf-8') as handle:
        version = handle.read().strip()
    return DjangoVenv(series, path, os.path.join(path, 'bin', 'python'), version)


@pytest.fixture(scope='session', params=list(DJANGO_SERIES), ids=lambda s: 'django' + s)
def django_venv(request):
    python = venv_python()
    if python is None:
        pytest.skip('no Python >= 3.12 to build Django test virtualenvs: set '
                    'SIMPLEDEPLOY_TEST_PYTHON')
    return build_venv(request.param, python)


@pytest.fixture(scope='session')
def django52_venv():
    """The Django 5.2 test virtualenv alone, for tests that need one Django, not every series."""
    python = venv_python()
    if python is None:
        pytest.skip('no Python >= 3.12 for the Django test virtualenv')
    return build_venv('5.2', python)


def trusted(value):
    """VALUE (a role file's strings, dicts and lists) marked as templates, as Ansible reads a role's files."""
    from ansible.template import trust_as_template
    if isinstance(value, str):
        return trust_as_template(value)
    if isinstance(value, dict):
        return dict((key, trusted(item)) for key, item in value.items())
    if isinstance(value, list):
        return [trusted(item) for item in value]
    return value


SYSTEM_PYTHON = '/usr/bin/python3'
SHARED_CACHE = '/var/tmp/simpledeploy-tests'


@pytest.fixture(scope='session')
def system_django_venv():
    """A Django 5.2 venv that any user can run (for run_as / runuser tests).

    Built with the system's /usr/bin/python3 under /var/tmp/simpledeploy-tests
    (``SIMPLEDEPLOY_TEST_SHARED_CACHE`` overrides; the usual cache lives in
    root's home, which other users cannot enter). Skips unless running as root
    with runuser and the system Python available.
    """
    if os.geteuid() != 0:
        pytest.skip('switching users needs root')
    if not shutil.which('runuser', path=os.environ.get('PATH', '') + ':/usr/sbin:/sbin'):
        pytest.skip('runuser (util-linux) is not installed')
    if not os.access(SYSTEM_PYTHON, os.X_OK):
        pytest.skip('%s is not installed' % SYSTEM_PYTHON)
    base = os.environ.get('SIMPLEDEPLOY_TEST_SHARED_CACHE') or SHARED_CACHE
    os.makedirs(base, exist_ok=True)
    os.chmod(base, 0o755)
    try:
        return build_venv('5.2', SYSTEM_PYTHON, base=base, extra_packages=[])
    except subprocess.CalledProcessError as exc:
        pytest.skip('could not build a venv with %s (python3-venv missing?): %s'
                    % (SYSTEM_PYTHON, exc))


@pytest.fixture
def world_readable_dir():
    """A temporary directory other users can enter (tmp_path's parents are 0700)."""
    path = tempfile.mkdtemp(prefix='simpledeploy-test-')
    os.chmod(path, 0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


class Attacker(object):
    """An unprivileged user (``nobody``) acting in a child process of its own.

    ``run(func, *args)`` forks, drops to the user's uid and gid (no
    supplementary groups) and calls ``func(*args)`` there; it returns what
    func returned (anything JSON can carry) or raises AssertionError with the
    child's exception. ``start(func, *args)`` does the same in the
    background and returns the child's PID (``stop(pid)`` kills and reaps it).
    """

    def __init__(self, name='nobody'):
        import pwd
        entry = pwd.getpwnam(name)
        self.name, self.uid, self.gid = name, entry.pw_uid, entry.pw_gid

    def _child(self, func, args, write_fd):
        code = 1
        try:
            os.setgroups([])
            os.setgid(self.gid)
            os.setuid(self.uid)
            try:
                payload = {'value': func(*args)}
            except Exception as exc:  # reported to the parent
                payload = {'error': '%s: %s' % (type(exc).__name__, exc)}
            os.write(write_fd, json.dumps(payload).encode('utf-8'))
            code = 0
        finally:
            # The real _exit: under --coverage, ansible-test replaces os._exit with one that first
            # saves coverage data, which this process (the attacker now) may not write; its error
            # would carry this child on into the test runner as the unprivileged user.
            posix._exit(code)

    def run(self, func, *args):
        read_fd, write_fd = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.close(read_fd)
            self._child(func, args, write_fd)
        os.close(write_fd)
        chunks = []
        while True:
            chunk = os.read(read_fd, 65536)
            if not chunk:
                break
            chunks.append(chunk)
        os.close(read_fd)
        os.waitpid(pid, 0)
        payload = json.loads(b''.join(chunks).decode('utf-8') or '{"error": "the child died"}')
        if 'error' in payload:
            raise AssertionError('as %s: %s' % (self.name, payload['error']))
        return payload['value']

    def start(self, func, *args):
        pid = os.fork()
        if pid == 0:
            devnull = os.open(os.devnull, os.O_WRONLY)
            self._child(func, args, devnull)
        return pid

    @staticmethod
    def stop(pid):
        import signal
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        os.waitpid(pid, 0)


@pytest.fixture
def root_parent():
    """A new directory under /var/lib (root's, 0755): deploy roots are refused under /tmp."""
    if os.geteuid() != 0:
        pytest.skip('a directory only root can write needs root')
    path = tempfile.mkdtemp(prefix='simpledeploy-test-', dir='/var/lib')
    os.chmod(path, 0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


UID_CLAIMS = '/run/simpledeploy-test-uids'


@contextlib.contextmanager
def claimed_uid(first, last):
    """A user ID in [FIRST, LAST) that no account, no process and no other test (pytest-xdist
    workers run side by side, and a build user's processes are all killed) uses; claimed by an
    exclusive file for the block."""
    from ansible_collections.simpledeploy.django.plugins.module_utils import _proc
    import pwd
    os.makedirs(UID_CLAIMS, mode=0o700, exist_ok=True)
    for uid in range(first, last):
        try:
            pwd.getpwuid(uid)
            continue
        except KeyError:
            pass
        claim = os.path.join(UID_CLAIMS, str(uid))
        try:
            os.close(os.open(claim, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        except FileExistsError:
            continue
        if _proc.processes_of(uid):
            os.unlink(claim)
            continue
        try:
            yield uid
        finally:
            os.unlink(claim)
        return
    pytest.skip('no free user ID between %d and %d' % (first, last))


@pytest.fixture
def attacker():
    """The app user of the threat model: ``nobody``, acting in a child process (needs root)."""
    if os.geteuid() != 0:
        pytest.skip('acting as another user needs root')
    return Attacker()


def copy_example(version, dest):
    """Copy examples/person/<version> to ``dest`` (without bytecode or databases)."""
    shutil.copytree(os.path.join(EXAMPLES, version), dest,
                    ignore=shutil.ignore_patterns('__pycache__', '*.pyc', 'db.sqlite3', 'media'))
    return str(dest)


def make_project(root, version='v1'):
    """The example Person project (a real Django source tree) copied to ROOT; returns ROOT."""
    copy_example(version, str(root))
    return root


@pytest.fixture
def copy_person():
    """``copy(version, dest)`` -> path: copy examples/person/<version> anywhere."""
    return copy_example


@pytest.fixture
def person_v1(tmp_path):
    return copy_example('v1', tmp_path / 'v1')


@pytest.fixture
def person_v2(tmp_path):
    return copy_example('v2', tmp_path / 'v2')


@pytest.fixture(scope='session')
def migrated_database(tmp_path_factory):
    """``get(venv, version, load=())`` -> path of a SQLite file fully migrated by that example version.

    Each (Django series, example version, fixtures) is migrated once per
    session with a plain ``manage.py migrate``, then ``manage.py loaddata`` of
    each fixture named in ``load``; tests copy the file instead of migrating
    again (two Django processes fewer a test).
    """
    cache = {}

    def get(venv, version, load=()):
        key = (venv.series, version, tuple(load))
        if key not in cache:
            workdir = tmp_path_factory.mktemp('migrated-%s-%s' % key[:2])
            project = copy_example(version, workdir / 'project')
            env = dict(os.environ, DJANGO_SECRET_KEY='migrated-database-fixture')
            for command in [['migrate', '--noinput']] + [['loaddata', name] for name in load]:
                subprocess.run([venv.python, 'manage.py'] + command, cwd=project,
                               env=env, check=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            cache[key] = os.path.join(project, 'db.sqlite3')
        return cache[key]

    return get


class ModuleResult(dict):
    """A module's JSON result, plus the raw text it printed (``raw``)."""

    raw = ''


@pytest.fixture
def run_module(capsys):
    """Run ``module.main()`` in-process with ``args``; return its parsed result.

    Goes through the real exit_json/fail_json (and so Ansible's masking of
    no_log values): the returned ``raw`` is exactly what Ansible would receive.
    """
    if patch_module_args is None:
        pytest.skip('needs ansible-core >= 2.19 (ansible.module_utils.testing)')

    from ansible.module_utils import _internal

    def run(module, args, check_mode=False):
        args = dict(args, _ansible_check_mode=check_mode, _ansible_inject_invocation=True)
        capsys.readouterr()
        # As in a module's own process: once a test of this session has used the controller's templating,
        # ansible-core takes this process for the controller and sends a module's warnings to its display
        # instead of the result (the tests of warnings then failed after such a test, in that order only).
        controller, _internal.is_controller = _internal.is_controller, False
        try:
            with patch_module_args(args):
                with pytest.raises(SystemExit):
                    module.main()
        finally:
            _internal.is_controller = controller
        raw = capsys.readouterr().out
        result = ModuleResult(json.loads(raw))
        result.raw = raw
        return result

    return run


@contextlib.contextmanager
def proxied_django(host, page):
    """A server that answers as a production Django behind a TLS proxy does; yields it, with .url and .asked.

    400 for another Host than HOST, a 301 to https:// without ``X-Forwarded-Proto: https``
    (SECURE_SSL_REDIRECT), ``/`` a 302 to ``/catalog/``, any other path 200 with PAGE (bytes).
    ``.asked`` holds the headers of every request.
    """
    import http.server
    import threading
    asked = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 (the stdlib's name)
            asked.append(dict(self.headers))
            if self.headers.get('Host') != host:
                code, location, body = 400, None, b'<h1>Bad Request (400)</h1>'
            elif self.headers.get('X-Forwarded-Proto') != 'https':
                code, location, body = 301, 'https://%s%s' % (host, self.path), b''
            elif self.path == '/':
                code, location, body = 302, '/catalog/', b''
            else:
                code, location, body = 200, None, page
            self.send_response(code)
            if location:
                self.send_header('Location', location)
            self.send_header('Content-Length', str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = http.server.HTTPServer(('127.0.0.1', 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    server.url = 'http://127.0.0.1:%d/' % server.server_address[1]
    server.asked = asked
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
