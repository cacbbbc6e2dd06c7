# -*- coding: utf-8 -*-
# Copyright: (c) 2026, simpledeploy developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

"""plugins/module_utils/_django.py: how a job is started inside the project's Django, on real Django."""

from __future__ import absolute_import, division, print_function

import json
import os
import sqlite3
import stat

import pytest

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.simpledeploy.django.plugins.module_utils import _django
from ansible_collections.simpledeploy.django.plugins.module_utils._django import (
    Child,
    DjangoError,
    child_argv,
    error_text,
    last_line,
    run_in_django,
    start_error,
)
from ansible_collections.simpledeploy.django.plugins.module_utils._plan import plan_error_message

try:
    from ansible.module_utils.testing import patch_module_args
except ImportError:  # ansible-core < 2.19
    patch_module_args = None


# ---------------------------------------------------------------- child_argv

def test_child_argv_runs_the_runner_as_a_module_with_the_job_and_no_source():
    assert child_argv('/v/bin/python', 'plan') == ['/v/bin/python', '-m', 'simpledeploy_in_django.runner', 'plan']


def test_child_argv_same_user_needs_no_runuser():
    me = _django.current_user()
    assert child_argv('/v/bin/python', 'plan', run_as=me)[0] == '/v/bin/python'


def test_child_argv_other_user_goes_through_runuser():
    runuser = _django.find_runuser()
    if runuser is None:
        pytest.skip('runuser (util-linux) is not installed here')
    other = 'nobody' if _django.current_user() != 'nobody' else 'root'
    assert child_argv('/v/bin/python', 'migrate', run_as=other) == [
        runuser, '-u', other, '--', '/v/bin/python', '-m', 'simpledeploy_in_django.runner', 'migrate']


def test_child_argv_without_runuser_fails_clearly(monkeypatch):
    monkeypatch.setattr(_django, '_RUNUSER_DIRS', ())
    monkeypatch.setenv('PATH', '/nonexistent')
    with pytest.raises(DjangoError, match='runuser'):
        child_argv('/v/bin/python', 'migrate', run_as='somebody-else-entirely')


def test_child_sources_are_the_package_files_as_loaded():
    sources = _django.child_sources()
    assert sorted(sources) == ['__init__.py', 'database.py', 'migrate.py', 'plan.py', 'postgres.py', 'protocol.py',
                               'runner.py', 'static.py']
    here = os.path.dirname(_django.__file__)
    for name, source in sources.items():
        with open(os.path.join(here, 'in_django', name), 'rb') as handle:
            assert handle.read() == source


# ------------------------------------------------------- messages

@pytest.mark.parametrize('stderr, stdout, expected', [
    ('Traceback ...\n  File "x"\nValueError: boom\n\n', '', 'ValueError: boom'),
    ('', 'CommandError: nope\n', 'CommandError: nope'),
    ('  \n', '', 'no output'),
])
def test_last_line(stderr, stdout, expected):
    assert last_line(stderr, stdout) == expected


@pytest.mark.parametrize('error, expected', [
    ({'type': 'ValueError', 'message': 'boom.\nmore'}, 'ValueError: boom'),
    ({'type': 'ValueError', 'message': 'boom', 'where': '/p/x.py:3'}, 'ValueError: boom (at /p/x.py:3)'),
    ({'type': 'LockTimeout'}, 'LockTimeout'),
    ({}, 'Error'),
])
def test_error_text(error, expected):
    assert error_text(error) == expected


def child(error=None, result=None, rc=3, stdout='', stderr=''):
    return Child('plan', rc, stdout, stderr, ['python'], result, error)


@pytest.mark.parametrize('error, expected', [
    (None, 'Django could not start (simpledeploy_in_django.runner plan, rc=3): Killed; fix the project'),
    ({'stage': 'import', 'type': 'ModuleNotFoundError', 'message': "No module named 'django'", 'python': '/v/bin/python'},
     "Django could not be imported by /v/bin/python: ModuleNotFoundError: No module named 'django'; install"),
    ({'stage': 'manage', 'type': 'ImportError', 'message': 'no dotenv', 'path': '/p/manage.py', 'where': '/p/manage.py:4'},
     "the project's /p/manage.py failed: ImportError: no dotenv (at /p/manage.py:4)"),
    ({'stage': 'settings', 'type': 'ImproperlyConfigured', 'message': 'no key.\nmore', 'settings_module': 'mysite.settings'},
     'Django settings could not be loaded (DJANGO_SETTINGS_MODULE=mysite.settings): '
     'ImproperlyConfigured: no key; fix the settings module'),
    ({'stage': 'setup', 'type': 'ModuleNotFoundError', 'message': "No module named 'x'", 'settings_module': 's'},
     "Django could not start (django.setup(), DJANGO_SETTINGS_MODULE=s): ModuleNotFoundError: No module named 'x'"),
    ({'stage': 'unexpected', 'type': 'KeyError', 'message': "'mode'", 'where': None},
     "the plan job failed inside Django: KeyError: 'mode'"),
    ({'stage': 'connect'}, None),
])
def test_start_error_speaks_for_the_runners_own_stages_only(error, expected):
    message = start_error(child(error, stderr='Killed\n'))
    if expected is None:
        assert message is None
    else:
        assert message.startswith(expected), message
        assert '\n' not in message


def test_start_error_masks_secrets():
    message = start_error(child({'stage': 'settings', 'type': 'ValueError', 'message': 'bad hunter2-secret',
                                 'settings_module': 's'}), {'hunter2-secret'})
    assert 'hunter2-secret' not in message and '********' in message


@pytest.mark.parametrize('error, expected', [
    ({'stage': 'connect', 'type': 'OperationalError', 'message': 'refused', 'vendor': 'postgresql',
      'HOST': 'db', 'PORT': '5432', 'NAME': 'app'},
     "the database 'default' could not be reached (postgresql host=db port=5432 name=app): "
     'OperationalError: refused'),
    ({'stage': 'database', 'type': 'UnknownDatabase', 'defined': ['default', 'other']},
     "database 'default' is not defined in settings.DATABASES (defined: default, other)"),
    ({'stage': 'checks', 'messages': ['a: (x.E1) bad', 'b: (x.E2) worse']},
     "Django's system checks reported 2 error(s): a: (x.E1) bad | b: (x.E2) worse"),
    ({'stage': 'conflicts', 'conflicts': {'people': ['0002_a', '0002_b']}},
     'conflicting migrations (more than one leaf) in people: 0002_a, 0002_b; run makemigrations'),
    ({'stage': 'missing', 'type': 'ValueError', 'message': 'Cannot resolve bases'},
     'looking for model changes without a migration (makemigrations --check) failed: '
     'ValueError: Cannot resolve bases; detect_missing=false skips that check'),
])
def test_plan_error_message(error, expected):
    message = plan_error_message(error)
    assert message.startswith(expected)
    assert '\n' not in message


# ------------------------------------------------- run_manage on real Django

class Failed(Exception):
    pass


@pytest.fixture
def ansible_module(capsys):
    """A real AnsibleModule; fail_json raises Failed(result) instead of exiting."""
    if patch_module_args is None:
        pytest.skip('needs ansible-core >= 2.19 (ansible.module_utils.testing)')
    with patch_module_args({}):
        module = AnsibleModule(argument_spec={}, supports_check_mode=True)

        def fail_json(**kwargs):
            capsys.readouterr()
            with pytest.raises(SystemExit):
                AnsibleModule.fail_json(module, **kwargs)
            raise Failed(json.loads(capsys.readouterr().out))

        module.fail_json = fail_json
        yield module


SECRET = {'DJANGO_SECRET_KEY': 'unit-test-secret-value-7f3a'}

# Appended to the project's settings: what the child process really is, seen from inside it.
RECORD = """
import json as _json, os as _os, sys as _sys
with open(_os.environ['RECORD_TO'], 'w') as _out:
    _runner = _sys.modules['__main__'].__file__
    _json.dump({'cmdline': open('/proc/self/cmdline', 'rb').read().decode().split('\\0')[:-1],
                'runner': _runner, 'package': _os.path.dirname(_runner),
                'settings': _os.environ.get('DJANGO_SETTINGS_MODULE'), 'cwd': _os.getcwd(),
                'path0': _sys.path[0], 'bytecode': _sys.dont_write_bytecode}, _out)
"""


def applied(db_path):
    with sqlite3.connect(db_path) as conn:
        return conn.execute('SELECT app, name FROM django_migrations ORDER BY id').fetchall()


def record_in_settings(project, tmp_path):
    with open(os.path.join(project, 'mysite', 'settings.py'), 'a', encoding='utf-8') as handle:
        handle.write(RECORD)
    return str(tmp_path / 'record.json')


def test_the_child_gets_no_source_on_its_command_line_and_reads_a_package_only_root_can_change(
        ansible_module, django_venv, person_v1, tmp_path):
    record = record_in_settings(person_v1, tmp_path)
    child = run_in_django(ansible_module, person_v1, django_venv.path, 'plan', {'database': 'default'},
                          environment=dict(SECRET, RECORD_TO=record))
    assert child.result is not None, child.stderr
    with open(record, encoding='utf-8') as handle:
        seen = json.load(handle)
    assert seen['cmdline'][1:] == ['-m', 'simpledeploy_in_django.runner', 'plan']
    assert child.cmd == [os.path.join(django_venv.path, 'bin', 'python'), '-m', 'simpledeploy_in_django.runner', 'plan']
    # loaded from the copy of the package, which is gone once the job is done
    assert not os.path.exists(seen['package'])
    assert seen['runner'] == os.path.join(seen['package'], 'runner.py')
    # manage.py's default settings module; the project's directory first on sys.path, as for manage.py
    assert seen['settings'] == 'mysite.settings'
    assert seen['cwd'] == person_v1 and seen['path0'] == person_v1
    assert seen['bytecode'] is True


def test_the_childs_package_is_roots_and_read_only_for_everyone_else(monkeypatch):
    seen = {}
    with _django.child_package() as top:
        for path, dirs, files in os.walk(top):
            for name in dirs + files:
                info = os.lstat(os.path.join(path, name))
                seen[name] = (info.st_uid, stat.S_IMODE(info.st_mode))
        seen['.'] = (os.lstat(top).st_uid, stat.S_IMODE(os.lstat(top).st_mode))
    assert not os.path.exists(top)
    assert {mode for uid, mode in seen.values()} <= {0o755, 0o644}
    assert {uid for uid, mode in seen.values()} == {os.geteuid()}
    assert 'runner.py' in seen and 'plan.py' in seen


def test_the_settings_option_wins_over_manage_pys_default(ansible_module, django_venv, person_v1, tmp_path):
    with open(os.path.join(person_v1, 'mysite', 'other_settings.py'), 'w', encoding='utf-8') as handle:
        handle.write('from mysite.settings import *  # noqa\nDATABASES["default"]["NAME"] = %r\n'
                     % str(tmp_path / 'other.sqlite3'))
    _migrate_with_env(ansible_module, django_venv, person_v1, settings='mysite.other_settings')
    assert applied(str(tmp_path / 'other.sqlite3'))
    assert not os.path.exists(os.path.join(person_v1, 'db.sqlite3'))


def _migrate_with_env(module, venv, project, **kwargs):
    child = run_in_django(module, project, venv.path, 'migrate',
                          {'database': 'default', 'args': [], 'lock_key': 1, 'lock_timeout': 1.0},
                          environment=SECRET, **kwargs)
    assert child.result is not None, child.stderr
    return child.stdout, child.result


def test_migrate_job_migrates_for_real(ansible_module, django_venv, person_v1):
    out, info = _migrate_with_env(ansible_module, django_venv, person_v1)
    db = os.path.join(person_v1, 'db.sqlite3')
    assert ('people', '0001_initial') in applied(db)
    assert 'Applying people.0001_initial... OK' in out
    assert info == {'vendor': 'sqlite', 'lock': None, 'waited': 0.0, 'retries': []}
    assert SECRET['DJANGO_SECRET_KEY'] in ansible_module.no_log_values


def test_env_file_and_settings(ansible_module, django_venv, person_v1, tmp_path):
    env_file = tmp_path / 'env'
    env_file.write_text('export DJANGO_SECRET_KEY="from-the-file-1234"\n'
                        'DJANGO_DB_NAME=%s\n' % (tmp_path / 'elsewhere.sqlite3'))
    child = run_in_django(ansible_module, person_v1, django_venv.path, 'migrate',
                          {'database': 'default', 'args': [], 'lock_key': 1, 'lock_timeout': 1.0},
                          settings='mysite.settings', env_file=str(env_file))
    assert child.result is not None, child.stderr
    assert applied(str(tmp_path / 'elsewhere.sqlite3'))
    assert not os.path.exists(os.path.join(person_v1, 'db.sqlite3'))
    assert 'from-the-file-1234' in ansible_module.no_log_values


def test_a_project_that_overrides_shell_does_not_change_how_the_job_runs(
        ansible_module, django_venv, person_v1, tmp_path):
    commands = os.path.join(person_v1, 'people', 'management', 'commands')
    os.makedirs(commands)
    for directory in (os.path.dirname(commands), commands):
        open(os.path.join(directory, '__init__.py'), 'w').close()
    marker = tmp_path / 'shell-ran'
    with open(os.path.join(commands, 'shell.py'), 'w', encoding='utf-8') as handle:
        handle.write('from django.core.management.base import BaseCommand\n\n\n'
                     'class Command(BaseCommand):\n'
                     '    def add_arguments(self, parser):\n'
                     '        parser.add_argument("-c", "--command")\n\n'
                     '    def handle(self, **options):\n'
                     '        open(%r, "w").close()\n'
                     '        raise SystemExit("this project has its own shell")\n' % str(marker))
    child = run_in_django(ansible_module, person_v1, django_venv.path, 'plan', {'database': 'default'},
                          environment=SECRET)
    assert child.result is not None, child.stderr
    assert [m['name'] for m in child.result['migrations']][-1] == '0001_initial'
    assert not marker.exists()


def test_a_manage_py_that_never_hands_over_needs_the_settings_option(ansible_module, django_venv, person_v1):
    with open(os.path.join(person_v1, 'manage.py'), 'w', encoding='utf-8') as handle:
        handle.write('import sys\nprint("a manage.py of its own")\nsys.exit(0)\n')
    child = run_in_django(ansible_module, person_v1, django_venv.path, 'plan', {'database': 'default'},
                          environment=SECRET)
    assert child.error['stage'] == 'settings' and child.error['type'] == 'NoSettingsModule'
    assert 'nor call execute_from_command_line' in child.error['message']
    child = run_in_django(ansible_module, person_v1, django_venv.path, 'plan', {'database': 'default'},
                          environment=SECRET, settings='mysite.settings')
    assert child.result is not None, child.stderr


def test_what_manage_py_sets_is_set_for_the_job(ansible_module, django_venv, person_v1, tmp_path):
    # e.g. a manage.py that loads a .env file: the job sees what it set
    with open(os.path.join(person_v1, 'manage.py'), encoding='utf-8') as handle:
        text = handle.read()
    text = text.replace("    os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'mysite.settings')",
                        "    os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'mysite.settings')\n"
                        "    os.environ.setdefault('DJANGO_DB_NAME', %r)" % str(tmp_path / 'from-manage-py.sqlite3'))
    with open(os.path.join(person_v1, 'manage.py'), 'w', encoding='utf-8') as handle:
        handle.write(text)
    _migrate_with_env(ansible_module, django_venv, person_v1)
    assert applied(str(tmp_path / 'from-manage-py.sqlite3'))


SLASH_URL = 'redis://cacheuser:Tr0ub4dor/c0rrectHorse@cache.internal:6379/0'
PRINT_PIECES = """
import os as _os, sys as _sys
from urllib.parse import urlsplit as _urlsplit
_url = _os.environ["CACHE_URL"]
_sys.stderr.write("url %s user:pw %s port " % (_url, _urlsplit(_url).netloc))
_urlsplit(_url).port
"""


def test_the_app_environment_is_masked_in_what_it_returns(ansible_module, django_venv, person_v1):
    with open(os.path.join(person_v1, 'mysite', 'settings.py'), 'a', encoding='utf-8') as handle:
        handle.write(PRINT_PIECES)
    env = dict(SECRET, CACHE_URL=SLASH_URL, EMAIL_HOST_PASS='mail-pass-5e1d')
    child = run_in_django(ansible_module, person_v1, django_venv.path, 'plan', {'database': 'default'},
                          environment=env)
    message = start_error(child, ansible_module.no_log_values)
    assert "Port could not be cast to integer value as '********'" in message
    err = child.stderr
    # the whole URL first (longest first), then the pieces Python's parser cut it into
    assert 'url ******** user:pw cacheuser:******** port' in err
    for part in (SLASH_URL, 'Tr0ub4dor/c0rrectHorse', 'Tr0ub4dor', 'c0rrectHorse', 'cacheuser:Tr0ub4dor'):
        assert part not in err, part
        assert part not in message, part
    assert {'mail-pass-5e1d', SLASH_URL, 'Tr0ub4dor', 'c0rrectHorse'} <= ansible_module.no_log_values


@pytest.mark.parametrize('what', ['manage.py', 'virtualenv', 'env_file'])
def test_paths_are_checked_before_anything_runs(ansible_module, tmp_path, person_v1, what):
    venv = str(tmp_path / 'novenv')
    kwargs = {}
    project = person_v1
    if what == 'manage.py':
        project = str(tmp_path)
        expected = '%s not found: project_path must be the directory' % (tmp_path / 'manage.py')
    elif what == 'virtualenv':
        expected = '%s/bin/python not found: virtualenv must be an existing virtualenv' % venv
    else:
        kwargs['env_file'] = str(tmp_path / 'missing.env')
        expected = 'could not read env_file'
        os.makedirs(str(tmp_path / 'fakevenv' / 'bin'))
        python = tmp_path / 'fakevenv' / 'bin' / 'python'
        python.write_text('#!/bin/sh\ntouch "$0.ran"\nexit 0\n')
        python.chmod(0o755)
        venv = str(tmp_path / 'fakevenv')
    with pytest.raises(DjangoError) as failed:
        run_in_django(ansible_module, project, venv, 'plan', {}, **kwargs)
    assert str(failed.value).startswith(expected)
    assert not os.path.exists(os.path.join(venv, 'bin', 'python.ran'))


def test_niced_puts_the_child_under_nice_only_when_the_module_asks():
    """run_in_django and the hooks run their child through niced (the modules' nice option)."""
    class Module(object):
        def __init__(self, nice):
            self.params = {'nice': nice}

    argv = ['/srv/venv/bin/python', '-m', 'simpledeploy_in_django.runner', 'plan']
    niced = _django.niced(argv, Module(10))
    assert niced[1:3] == ['-n', '10'] and os.path.basename(niced[0]) == 'nice' and niced[3:] == argv
    assert _django.niced(argv, Module(0)) == argv
    assert _django.niced(argv, object()) == argv  # release_switch's window: no such option
