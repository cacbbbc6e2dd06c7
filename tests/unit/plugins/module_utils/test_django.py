# -*- coding: utf-8 -*-
# Copyright: (c) 2026, simpledeploy developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

"""plugins/module_utils/_django.py: pure helpers, and run_manage on real Django."""

from __future__ import absolute_import, division, print_function

import json
import os
import sqlite3

import pytest

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.simpledeploy.django.plugins.module_utils import _django
from ansible_collections.simpledeploy.django.plugins.module_utils._django import (
    build_env,
    last_error_line,
    manage_argv,
    parse_marked_json,
    plan_error_message,
    read_env_file,
    run_manage,
    secret_values,
)

try:
    from ansible.module_utils.testing import patch_module_args
except ImportError:  # ansible-core < 2.19
    patch_module_args = None


# ---------------------------------------------------------------- read_env_file

@pytest.mark.parametrize('text, expected', [
    ('A=1\n', {'A': '1'}),
    ('# comment\n\n   \nA=1\n; systemd comment\n', {'A': '1'}),
    ('export A=1\nexport\tB=2\n', {'A': '1', 'B': '2'}),
    ('  A = spaced value  \n', {'A': 'spaced value'}),
    ('A="double quoted # not a comment"\n', {'A': 'double quoted # not a comment'}),
    ("A='single $X \\\"kept\\\"'\n", {'A': 'single $X \\"kept\\"'}),
    ('A="esc \\" \\\\ \\$ \\` \\n"\n', {'A': 'esc " \\ $ ` \\n'}),
    ('A=\nB=""\n', {'A': '', 'B': ''}),
    ('A=x=y=z\n', {'A': 'x=y=z'}),
    ('A=1\nA=2\n', {'A': '2'}),
    ('DJANGO_SECRET_KEY=p@ss#word;x\n', {'DJANGO_SECRET_KEY': 'p@ss#word;x'}),
    ('A=1', {'A': '1'}),
    ('', {}),
], ids=['plain', 'comments', 'export', 'spaces', 'double', 'single', 'escapes', 'empty',
        'equals', 'last-wins', 'hash-inside', 'no-newline', 'empty-file'])
def test_read_env_file(tmp_path, text, expected):
    # systemd's whole grammar, each case also read by systemd itself: tests/unit/test_systemd_quoting.py
    path = tmp_path / 'env'
    path.write_bytes(text.encode('utf-8'))
    assert read_env_file(str(path)) == expected


@pytest.mark.parametrize('text, line', [
    ('A=1\nnot a pair\n', 2),
    ('1A=x\n', 1),
    ('A-B=x\n', 1),
    ('=x\n', 1),
    ('A="unterminated\n', 1),
    ("A='\n", 1),
    ('A="x\'\n', 1),
    ('A=1\nB="sec\nret\nC=3\n', 2),
    ("A=1\n\nB='secret\n", 3),
    ('A="secret\\', 1),
    ('A=1\n# a comment \\\nB=2\n', 2),
    ('A=1\nB=sec\x00ret\n', 2),
    ('export A B=secret\n', 1),
], ids=['no-equals', 'digit-first', 'dash', 'no-key', 'unterminated-double', 'unterminated-single',
        'mixed-quotes', 'unterminated-double-later', 'unterminated-single-later', 'escape-at-end-in-quotes',
        'comment-continued', 'nul', 'blank-in-key'])
def test_read_env_file_rejects_malformed_lines(tmp_path, text, line):
    path = tmp_path / 'env'
    path.write_bytes(text.encode('utf-8'))
    with pytest.raises(ValueError, match=r'line %d: ' % line) as caught:
        read_env_file(str(path))
    assert 'secret' not in str(caught.value) and 'sec' not in str(caught.value).replace(str(path), '')


def test_read_env_file_refuses_text_that_is_not_utf8(tmp_path):
    path = tmp_path / 'env'
    path.write_bytes(b'A=1\nB="\xff\xfe"\n')
    with pytest.raises(ValueError, match='line 2: not UTF-8'):
        read_env_file(str(path))


def test_read_env_file_missing(tmp_path):
    with pytest.raises(OSError):
        read_env_file(str(tmp_path / 'nope'))


# -------------------------------------------------------------------- build_env

@pytest.mark.parametrize('kwargs, file_text, expected', [
    ({}, None, {'LC_ALL': 'C', 'PYTHONUNBUFFERED': '1'}),
    ({'settings': 'mysite.settings'}, None,
     {'LC_ALL': 'C', 'PYTHONUNBUFFERED': '1', 'DJANGO_SETTINGS_MODULE': 'mysite.settings'}),
    ({}, 'A=file\nB=file\n', {'LC_ALL': 'C', 'PYTHONUNBUFFERED': '1', 'A': 'file', 'B': 'file'}),
    ({'environment': {'B': 'dict'}}, 'A=file\nB=file\n',
     {'LC_ALL': 'C', 'PYTHONUNBUFFERED': '1', 'A': 'file', 'B': 'dict'}),
    ({'environment': {'N': 3, 'T': True, 'F': False, 'E': None}}, None,
     {'LC_ALL': 'C', 'PYTHONUNBUFFERED': '1', 'N': '3', 'T': '1', 'F': '0', 'E': ''}),
    ({'settings': 'explicit.settings', 'environment': {'DJANGO_SETTINGS_MODULE': 'dict.settings'}},
     'DJANGO_SETTINGS_MODULE=file.settings\n',
     {'LC_ALL': 'C', 'PYTHONUNBUFFERED': '1', 'DJANGO_SETTINGS_MODULE': 'explicit.settings'}),
    ({'environment': {'LC_ALL': 'C.UTF-8'}}, None, {'LC_ALL': 'C.UTF-8', 'PYTHONUNBUFFERED': '1'}),
], ids=['defaults', 'settings', 'file', 'dict-over-file', 'stringified', 'settings-wins',
        'user-locale'])
def test_build_env(tmp_path, kwargs, file_text, expected):
    if file_text is not None:
        path = tmp_path / 'env'
        path.write_text(file_text)
        kwargs = dict(kwargs, env_file=str(path))
    assert build_env(**kwargs) == expected


# -------------------------------------------------------------- secret_values

@pytest.mark.parametrize('key, value, secret', [
    # by value, whatever the key is called
    ('DJANGO_SECRET_KEY', 'some-value-1234', True),
    ('EMAIL_HOST_PASS', 'mail-pass-5e1d', True),
    ('DB_PASS', 'db-pass-0c7a', True),
    ('DJANGO_ALLOWED_HOSTS', 'example.com', True),
    ('SOMETHING', 'abcdef', True),
    # short values, numbers and booleans are never masked by value
    ('DJANGO_DEBUG', '1', False),
    ('DJANGO_DEBUG', 'True', False),
    ('FEATURE', 'off', False),
    ('ENABLED', 'FALSE', False),
    ('WORKERS', '123456', False),
    ('RATIO', '0.75', False),
    ('NAME', 'abcde', False),
    # ... except under a name that looks secret, from 4 characters on
    ('API_KEY', '1234', True),
    ('DB_PASS', 'abcd', True),
    ('DB_PASS', 'abc', False),
    ('DJANGO_SECRET_KEY', '', False),
])
def test_secret_values_by_value(key, value, secret):
    assert secret_values({key: value}) == ({value} if secret else set())


def test_secret_values_of_urls_hold_their_userinfo_and_its_pieces():
    found = secret_values({'REDIS_URL': 'redis://:r3dis-Pass%2Fword@cache:6379/0'})
    assert {'redis://:r3dis-Pass%2Fword@cache:6379/0', 'r3dis-Pass%2Fword', 'r3dis-Pass/word',
            'r3dis-Pass'} <= found
    assert 'cache' not in ' '.join(found.difference(['redis://:r3dis-Pass%2Fword@cache:6379/0']))


# ---------------------------------------------------------------- manage_argv

def test_manage_argv_plain():
    assert manage_argv('/v/bin/python', ['migrate', '--noinput']) == [
        '/v/bin/python', 'manage.py', 'migrate', '--noinput']


def test_manage_argv_same_user_needs_no_runuser():
    me = _django.current_user()
    assert manage_argv('/v/bin/python', ['check'], run_as=me) == ['/v/bin/python', 'manage.py', 'check']


def test_manage_argv_other_user_goes_through_runuser():
    runuser = _django.find_runuser()
    if runuser is None:
        pytest.skip('runuser (util-linux) is not installed here')
    other = 'nobody' if _django.current_user() != 'nobody' else 'root'
    assert manage_argv('/v/bin/python', ['migrate'], run_as=other) == [
        runuser, '-u', other, '--', '/v/bin/python', 'manage.py', 'migrate']


def test_manage_argv_without_runuser_fails_clearly(monkeypatch):
    monkeypatch.setattr(_django, '_RUNUSER_DIRS', ())
    monkeypatch.setenv('PATH', '/nonexistent')
    with pytest.raises(ValueError, match='runuser'):
        manage_argv('/v/bin/python', ['migrate'], run_as='somebody-else-entirely')


# ------------------------------------------------------- output helpers

@pytest.mark.parametrize('stderr, stdout, expected', [
    ('Traceback ...\n  File "x"\nValueError: boom\n\n', '', 'ValueError: boom'),
    ('', 'CommandError: nope\n', 'CommandError: nope'),
    ('  \n', '', 'no output'),
])
def test_last_error_line(stderr, stdout, expected):
    assert last_error_line(stderr, stdout) == expected


@pytest.mark.parametrize('stdout, expected', [
    ('noise\n%s{"a": 1}\nmore noise\n' % _django.PLAN_MARKER, {'a': 1}),
    ('%s{"a": 1}\n%s{"a": 2}\n' % (_django.PLAN_MARKER, _django.PLAN_MARKER), {'a': 2}),
    ('{"a": 1}\n', None),
    ('%s{broken\n' % _django.PLAN_MARKER, None),
    ('', None),
])
def test_parse_marked_json(stdout, expected):
    assert parse_marked_json(stdout) == expected


@pytest.mark.parametrize('error, expected', [
    ({'stage': 'settings', 'type': 'ImproperlyConfigured', 'message': 'no key.\nmore',
      'settings_module': 'mysite.settings'},
     'Django settings could not be loaded (DJANGO_SETTINGS_MODULE=mysite.settings): '
     'ImproperlyConfigured: no key; fix the settings module'),
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


def applied(db_path):
    with sqlite3.connect(db_path) as conn:
        return conn.execute('SELECT app, name FROM django_migrations ORDER BY id').fetchall()


def test_run_manage_migrates_for_real(ansible_module, django_venv, person_v1):
    rc, out, err = run_manage(ansible_module, person_v1, django_venv.path,
                              ['migrate', '--noinput'], environment=SECRET)
    assert rc == 0, err
    db = os.path.join(person_v1, 'db.sqlite3')
    assert ('people', '0001_initial') in applied(db)
    with sqlite3.connect(db) as conn:
        columns = [row[1] for row in conn.execute('PRAGMA table_info(people_person)')]
    assert columns == ['id', 'name', 'height']
    assert SECRET['DJANGO_SECRET_KEY'] in ansible_module.no_log_values


def test_run_manage_env_file_and_settings(ansible_module, django_venv, person_v1, tmp_path):
    env_file = tmp_path / 'env'
    env_file.write_text('export DJANGO_SECRET_KEY="from-the-file-1234"\n'
                        'DJANGO_DB_NAME=%s\n' % (tmp_path / 'elsewhere.sqlite3'))
    rc, dummy, err = run_manage(ansible_module, person_v1, django_venv.path, ['migrate', '-v0'],
                                settings='mysite.settings', env_file=str(env_file))
    assert rc == 0, err
    assert applied(str(tmp_path / 'elsewhere.sqlite3'))
    assert not os.path.exists(os.path.join(person_v1, 'db.sqlite3'))
    assert 'from-the-file-1234' in ansible_module.no_log_values


def test_run_manage_failure_is_one_line_with_djangos_error(ansible_module, django_venv, person_v1):
    with pytest.raises(Failed) as failed:
        run_manage(ansible_module, person_v1, django_venv.path, ['migrate', 'people', '0099'],
                   environment=SECRET)
    result = failed.value.args[0]
    assert result['failed'] is True
    assert result['msg'].startswith('manage.py migrate people 0099 failed (rc=1): CommandError: ')
    assert "'0099'" in result['msg'] and '\n' not in result['msg']
    assert 'CommandError' in result['stderr']
    assert result['rc'] == 1
    assert result['cmd'][-4:] == ['manage.py', 'migrate', 'people', '0099']


def test_run_manage_check_rc_false_returns_failure(ansible_module, django_venv, person_v1):
    rc, dummy, err = run_manage(ansible_module, person_v1, django_venv.path, ['nosuchcommand'],
                                environment=SECRET, check_rc=False)
    assert rc != 0
    assert "Unknown command: 'nosuchcommand'" in err


SLASH_URL = 'redis://cacheuser:Tr0ub4dor/c0rrectHorse@cache.internal:6379/0'
PRINT_PIECES = ('import os, sys; from urllib.parse import urlsplit; url = os.environ["CACHE_URL"]; '
                'sys.stderr.write("url %s user:pw %s port " % (url, urlsplit(url).netloc)); urlsplit(url).port')


@pytest.mark.parametrize('check_rc', [False, True])
def test_run_manage_masks_the_app_environment_in_what_it_returns(ansible_module, django_venv, person_v1,
                                                                 check_rc):
    env = dict(SECRET, CACHE_URL=SLASH_URL, EMAIL_HOST_PASS='mail-pass-5e1d')
    if check_rc:
        with pytest.raises(Failed) as failed:
            run_manage(ansible_module, person_v1, django_venv.path, ['shell', '-c', PRINT_PIECES],
                       environment=env)
        shown = failed.value.args[0]
        assert "Port could not be cast to integer value as '********'" in shown['msg']
        err = shown['stderr']
    else:
        rc, dummy, err = run_manage(ansible_module, person_v1, django_venv.path, ['shell', '-c', PRINT_PIECES],
                                    environment=env, check_rc=False)
        assert rc != 0
    # the whole URL first (longest first), then the pieces Python's parser cut it into
    assert 'url ******** user:pw cacheuser:******** port' in err
    for part in (SLASH_URL, 'Tr0ub4dor/c0rrectHorse', 'Tr0ub4dor', 'c0rrectHorse', 'cacheuser:Tr0ub4dor'):
        assert part not in err, part
    assert {'mail-pass-5e1d', SLASH_URL, 'Tr0ub4dor', 'c0rrectHorse'} <= ansible_module.no_log_values


@pytest.mark.parametrize('what', ['manage.py', 'virtualenv', 'env_file'])
def test_run_manage_validates_paths(ansible_module, tmp_path, person_v1, what):
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
        python.write_text('#!/bin/sh\nexit 0\n')
        python.chmod(0o755)
        venv = str(tmp_path / 'fakevenv')
    with pytest.raises(Failed) as failed:
        run_manage(ansible_module, project, venv, ['check'], **kwargs)
    assert failed.value.args[0]['msg'].startswith(expected)
