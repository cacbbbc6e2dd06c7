# -*- coding: utf-8 -*-
# Copyright (c) simpledeploy developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Run a job inside the project's Django process, in its virtualenv, and read its report.

Private to the simpledeploy.django collection: the interface may change.

This is the module side of ``module_utils/in_django`` (read its
``__init__``): ``run_in_django`` copies that package into a new directory of
root's that every user can read (never on a command line), starts
``[runuser -u RUN_AS --] <virtualenv>/bin/python -m simpledeploy_in_django.runner
JOB`` in the project's directory with the app's environment (the environment
file, the variables given, ``DJANGO_SETTINGS_MODULE`` when ``settings`` is
given), hands it the job's parameters on stdin and reads the one report
``protocol`` defines. Everything here runs on the managed host's own Python
(3.9 or newer) with the standard library only.
"""

from __future__ import annotations

import collections
import contextlib
import importlib.util
import json
import os
import pwd
import shutil
import stat
import tempfile
import threading

from ansible_collections.simpledeploy.django.plugins.module_utils import _secrets
from ansible_collections.simpledeploy.django.plugins.module_utils._envfile import app_env, build_env
from ansible_collections.simpledeploy.django.plugins.module_utils._errors import StepError
from ansible_collections.simpledeploy.django.plugins.module_utils import in_django
from ansible_collections.simpledeploy.django.plugins.module_utils.in_django import (
    database, migrate, plan, postgres, protocol, runner, static,
)

# The package's name in the child's directory: unlikely to be a module of the project's.
CHILD_PACKAGE = 'simpledeploy_in_django'
# What the child runs, module by module. Importing them here is also what puts them into the
# module's payload (Ansible ships the module_utils a module imports).
CHILD_MODULES = (in_django, protocol, runner, plan, migrate, database, postgres, static)
_RUNUSER_DIRS = ('/usr/sbin', '/sbin', '/usr/bin', '/bin')
_CREATE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC

# What a job left: its report's result or error (both None when it died without one).
Child = collections.namedtuple('Child', 'job rc stdout stderr cmd result error')


class DjangoError(StepError):
    """A job could not be started, or its child died without a report; the message says why."""


def current_user():
    """Name of the effective user, or its uid as a string when it has no name."""
    uid = os.geteuid()
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)


def find_runuser():
    """Path of util-linux ``runuser``, looked up on PATH and the sbin directories."""
    path = os.pathsep.join([os.environ.get('PATH', '')] + list(_RUNUSER_DIRS))
    return shutil.which('runuser', path=path)


def child_argv(python, job, run_as=None):
    """``[runuser -u RUN_AS --] PYTHON -m simpledeploy_in_django.runner JOB``.

    runuser only when RUN_AS is set and is not the current user; raises
    DjangoError when it is needed and missing.
    """
    argv = [python, '-m', CHILD_PACKAGE + '.runner', job]
    if run_as and run_as != current_user():
        runuser = find_runuser()
        if not runuser:
            raise DjangoError('run_as=%s needs runuser (util-linux), which is not installed' % run_as)
        argv = [runuser, '-u', run_as, '--'] + argv
    return argv


def child_sources():
    """``{file name: source as bytes}`` of the in_django package, as this process loaded it (a zip included).

    Loaders differ in what get_source returns (text for most, bytes for
    Ansible's collection loader): bytes either way.
    """
    sources = {}
    for module in CHILD_MODULES:
        name = '__init__' if module is in_django else module.__name__.rpartition('.')[2]
        source = importlib.util.find_spec(module.__name__).loader.get_source(module.__name__)
        sources[name + '.py'] = source if isinstance(source, bytes) else source.encode('utf-8')
    return sources


def _reachable_by_all(path):
    """Whether every directory from / to PATH lets every user through."""
    while True:
        if not os.stat(path).st_mode & stat.S_IXOTH:
            return False
        parent = os.path.dirname(path)
        if parent == path:
            return True
        path = parent


def niced(argv, module):
    """ARGV under ``nice -n N`` when the module's own ``nice`` option is N above 0, else ARGV.

    The modules that prepare a release while the old one serves (migration_status, collect_static,
    django_command) take that option (the role's deploy_prepare_nice): Django's start-up, the checks and
    collectstatic then yield the CPU to the live release's workers on a busy host. The window's own children
    (release_switch has no such option) run at the usual priority. Without coreutils' nice, ARGV as it is.
    """
    level = (getattr(module, 'params', None) or {}).get('nice') or 0
    if level <= 0:
        return list(argv)
    tool = shutil.which('nice', path=os.pathsep.join([os.environ.get('PATH', '')] + list(_RUNUSER_DIRS)
                                                     + ['/usr/bin', '/bin']))
    return [tool, '-n', str(level)] + list(argv) if tool else list(argv)


@contextlib.contextmanager
def child_package():
    """A new directory of root's holding the package, readable by every user; removed afterwards.

    Made by mkdtemp (a name nobody can predict, in a directory where others
    cannot replace it: /tmp is sticky), its files created exclusively without
    following links. Nothing in it can be changed by the app's user, who only
    reads it.
    """
    base = tempfile.gettempdir()
    if not _reachable_by_all(base):
        base = '/tmp'
    top = tempfile.mkdtemp(prefix='simpledeploy-django-', dir=base)
    try:
        os.chmod(top, 0o755)
        package = os.path.join(top, CHILD_PACKAGE)
        os.mkdir(package, 0o755)
        os.chmod(package, 0o755)
        for name, source in child_sources().items():
            fd = os.open(os.path.join(package, name), _CREATE, 0o644)
            with os.fdopen(fd, 'wb') as handle:
                handle.write(source)
        yield top
    finally:
        shutil.rmtree(top, ignore_errors=True)


def last_line(stderr, stdout=''):
    """The last non-blank line of STDERR (else STDOUT)."""
    for text in (stderr, stdout):
        lines = [line.strip() for line in (text or '').splitlines() if line.strip()]
        if lines:
            return lines[-1]
    return 'no output'


def error_text(error):
    """``Type: message (at FILE:LINE)`` of a report's error: the first line of the message."""
    message = (error.get('message') or '').strip()
    what = '%s: %s' % (error.get('type', 'Error'), message.splitlines()[0].rstrip('.')) if message else error.get('type', 'Error')
    if error.get('where'):
        what += ' (at %s)' % error['where']
    return what


def start_error(child, secrets=()):
    """The one-line message for a job that failed in the runner's own stages, or None for the job's stages.

    The runner's stages (see ``in_django/runner``): ``import``, ``manage``,
    ``settings``, ``setup``, ``unexpected``; and no report at all.
    """
    error = child.error
    if child.result is None and error is None:
        return _secrets.protect('Django could not start (%s %s, rc=%s): %s; fix the project or its virtualenv'
                                % (CHILD_PACKAGE + '.runner', child.job, child.rc,
                                   last_line(child.stderr, child.stdout)), secrets)
    stage = error.get('stage') if error else None
    if stage == 'import':
        text = ('Django could not be imported by %s: %s; install the project\'s requirements into its virtualenv'
                % (error.get('python'), error_text(error)))
    elif stage == 'manage':
        text = 'the project\'s %s failed: %s' % (error.get('path'), error_text(error))
    elif stage == 'settings':
        text = ('Django settings could not be loaded (DJANGO_SETTINGS_MODULE=%s): %s; fix the settings module or '
                'the variables it reads (env_file, environment)' % (error.get('settings_module'), error_text(error)))
    elif stage == 'setup':
        text = ('Django could not start (django.setup(), DJANGO_SETTINGS_MODULE=%s): %s; fix the project or its '
                'virtualenv' % (error.get('settings_module'), error_text(error)))
    elif stage in ('unexpected', 'job'):
        text = 'the %s job failed inside Django: %s' % (child.job, error_text(error))
    else:
        return None
    return _secrets.protect(text, secrets)


def run_in_django(module, project_path, virtualenv, job, params, settings=None, environment=None,
                  env_file=None, run_as=None, pass_fds=(), started=None, in_thread=False):
    """Run JOB (``plan``, ``migrate``, ``database``) with PARAMS in the project at PROJECT_PATH.

    The child runs with the virtualenv's Python as RUN_AS (root switches with
    runuser), in PROJECT_PATH, with ``build_env(settings, environment,
    env_file)``, no bytecode written. The values of the app's environment that
    may be secrets (``_secrets.secret_strings``) go into
    ``module.no_log_values`` and are masked in the returned stderr. Returns a
    ``Child``; raises DjangoError, before starting anything, when manage.py or
    the virtualenv's python is missing, the environment file cannot be read
    or the user cannot be switched. PASS_FDS are kept open in the child; STARTED, when given, is called with
    the child's Popen as soon as it runs (see Warm). IN_THREAD: a child that cannot be started raises OSError
    instead of failing the module (which, from a thread, would print a result and end only that thread).
    """
    manage_py = os.path.join(project_path, 'manage.py')
    python = os.path.join(virtualenv, 'bin', 'python')
    if not os.path.isfile(manage_py):
        raise DjangoError("%s not found: project_path must be the directory that holds the project's manage.py"
                          % manage_py)
    if not os.path.isfile(python) or not os.access(python, os.X_OK):
        raise DjangoError('%s not found: virtualenv must be an existing virtualenv with Django installed '
                          '(python3 -m venv %s; %s -m pip install -r requirements.txt)' % (python, virtualenv, python))
    try:
        public = [project_path, virtualenv] + _secrets.public_strings(
            getattr(module, 'argument_spec', {}), getattr(module, 'params', {}))
        secrets = _secrets.secret_strings(app_env(environment, env_file), public)
        env = build_env(settings=settings, environment=environment, env_file=env_file)
    except (OSError, ValueError) as exc:
        raise DjangoError('could not read env_file: %s' % exc)
    module.no_log_values.update(secrets)
    if run_as and run_as != current_user() and os.geteuid() != 0:
        raise DjangoError('run_as=%s needs root to switch user: run the task with become: true' % run_as)
    argv = niced(child_argv(python, job, run_as), module)
    with child_package() as top:
        env['PYTHONPATH'] = os.pathsep.join([top] + ([env['PYTHONPATH']] if env.get('PYTHONPATH') else []))
        env['PYTHONDONTWRITEBYTECODE'] = '1'
        rc, out, err = module.run_command(argv, cwd=project_path, environ_update=env, data=json.dumps(params),
                                          pass_fds=tuple(pass_fds) or None, before_communicate_callback=started,
                                          handle_exceptions=not in_thread)
    err = _secrets.protect(err, secrets)
    report = protocol.read_report(out) or {}
    return Child(job, rc, out, err, argv, report.get('result'), report.get('error'))


class Warm(object):
    """A job's child started ahead of its time: Django loaded, it waits for go() (in_django/runner.wait_for_go).

    What a child spends loading Django (a third of a second, more on a busy host) is spent before the window
    instead of inside it. The child is run_in_django's, in a thread of its own; two pipes passed to it carry its
    "ready" and the module side's "go" (with the parameters known only then). Closing the go pipe without a word
    (cancel(), or this process's end: a failed module) ends the child without running its job.

    __init__ returns at once; ``ready`` waits until the child is waiting, or has ended; when it is not waiting,
    go() returns the Child that says why (Django could not start, say), and raises nothing new.
    """

    def __init__(self, module, project_path, virtualenv, job, params, **options):
        go_r, self._go_w = os.pipe()
        ready_r, ready_w = os.pipe()
        child_ends = [go_r, ready_w]
        self._outcome = {}

        def close_child_ends(dummy=None):
            while child_ends:
                os.close(child_ends.pop())

        def run():
            try:
                self._outcome['child'] = run_in_django(
                    module, project_path, virtualenv, job, dict(params, go_fd=go_r, ready_fd=ready_w),
                    pass_fds=(go_r, ready_w), started=close_child_ends, in_thread=True, **options)
            except BaseException as exc:  # pylint: disable=broad-except
                # Raised by go(), in the module's own thread.
                self._outcome['error'] = exc if isinstance(exc, Exception) else DjangoError(
                    'the %s job could not be run: %r' % (job, exc))
            finally:
                close_child_ends()

        self._thread = threading.Thread(target=run, name='simpledeploy-warm-' + job, daemon=True)
        self._thread.start()
        self._ready_r = ready_r
        self._ready = None

    @property
    def ready(self):
        """Whether the child is waiting for go(), Django loaded: waits until it says so, or ends."""
        if self._ready is None:
            with os.fdopen(self._ready_r, 'rb') as ready:
                self._ready = ready.readline(16) == b'ready\n'
        return self._ready

    def _close_go(self):
        if self._go_w is not None:
            try:
                os.close(self._go_w)
            finally:
                self._go_w = None

    def go(self, extra=None):
        """Run the job now, with EXTRA added to its parameters; returns its Child (raises DjangoError when it could
        not be started at all)."""
        if self.ready:
            try:
                os.write(self._go_w, (json.dumps(extra or {}) + '\n').encode('utf-8'))
            except OSError:
                pass  # the child is gone (a broken pipe): its Child says why
            finally:
                self._close_go()
        else:
            self._close_go()
        self._thread.join()
        if 'error' in self._outcome:
            raise self._outcome['error']
        return self._outcome['child']

    def cancel(self):
        """The child ends without running its job (nothing to do if go() ran); returns its Child, or None when it
        could not be started."""
        if self._ready is None:
            self._ready = False
            os.close(self._ready_r)
        self._close_go()
        self._thread.join()
        return self._outcome.get('child')
