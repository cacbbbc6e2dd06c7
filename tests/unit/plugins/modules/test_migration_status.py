# -*- coding: utf-8 -*-
# Copyright: (c) 2026, simpledeploy developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

"""simpledeploy.django.migration_status against the example project on real Django."""

from __future__ import absolute_import, division, print_function

import hashlib
import json
import os
import shutil
import socket
import sqlite3
import subprocess
import sys

import pytest

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.simpledeploy.django.plugins.modules import migration_status

SECRET_VALUE = 'unit-test-secret-9c1e-do-not-print'
ENV = {'DJANGO_SECRET_KEY': SECRET_VALUE}

# What the example project's first migrate applies, per app (Django 4.2 to 6.1
# ship the same contrib migrations for these apps; Django 6 adds none to them).
PERSON = {'app': 'people', 'name': '0001_initial'}
WEIGHT = {'app': 'people', 'name': '0002_person_weight'}


def manage(venv, project, *args):
    """Run manage.py directly (not through the code under test)."""
    env = dict(os.environ, **ENV)
    subprocess.run([venv.python, 'manage.py'] + list(args), cwd=project, env=env, check=True,
                   stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def keys(result):
    """The pending migrations of a result as ``{app, name}`` (without their analysis)."""
    return [{'app': m['app'], 'name': m['name']} for m in result['migrations']]


def applied(db_path):
    with sqlite3.connect(db_path) as conn:
        return [{'app': app, 'name': name} for app, name in
                conn.execute('SELECT app, name FROM django_migrations ORDER BY id')]


def digest(path):
    with open(path, 'rb') as handle:
        return hashlib.sha256(handle.read()).hexdigest()


def bytecode_under(path):
    return [os.path.join(d, f) for d, dummy, files in os.walk(path) for f in files
            if f.endswith('.pyc')]


def args_for(venv, project, **extra):
    args = {'project_path': project, 'virtualenv': venv.path, 'environment': dict(ENV)}
    args.update(extra)
    return args


def install_db(source, project):
    """Put a copy of the SQLite file ``source`` in place as the project's db.sqlite3."""
    target = os.path.join(project, 'db.sqlite3')
    shutil.copyfile(source, target)
    return target


# ----------------------------------------------------------------- reports

def test_fresh_database_everything_pending_nothing_created(run_module, django_venv, person_v1,
                                                           monkeypatch):
    monkeypatch.delenv('PYTHONDONTWRITEBYTECODE', raising=False)  # bytecode would be written
    result = run_module(migration_status, args_for(django_venv, person_v1))
    assert result['changed'] is False
    assert result['pending'] is True
    assert result['database_exists'] is False
    assert result['django_version'] == django_venv.version
    assert result['vendor'] == 'sqlite'
    # where the database is, from the settings: the SQLite file of this project
    assert result['location'] == {'name': os.path.join(person_v1, 'db.sqlite3'), 'host': '', 'port': ''}
    assert keys(result)[0] == {'app': 'contenttypes', 'name': '0001_initial'}
    assert PERSON in keys(result) and WEIGHT not in keys(result)
    assert result['total'] == len(result['migrations']) == sum(result['by_app'].values())
    assert set(result['by_app']) == {'admin', 'auth', 'contenttypes', 'people', 'sessions'}
    assert result['by_app']['people'] == 1
    assert result['applied_leaves'] == []
    # a report creates nothing: no database file, no bytecode in the project
    assert sorted(os.listdir(person_v1)) == ['manage.py', 'mysite', 'people', 'requirements.txt']
    assert bytecode_under(person_v1) == []


def test_plan_order_is_the_order_migrate_applies(run_module, django_venv, person_v2):
    result = run_module(migration_status, args_for(django_venv, person_v2))
    manage(django_venv, person_v2, 'migrate', '--noinput')
    assert keys(result) == applied(os.path.join(person_v2, 'db.sqlite3'))
    assert keys(result).index(PERSON) < keys(result).index(WEIGHT)


def test_v1_database_with_v2_code_has_exactly_the_new_migration(
        run_module, django_venv, person_v2, migrated_database):
    # the seed's deploy: new code, the database v1 left
    db = install_db(migrated_database(django_venv, 'v1'), person_v2)
    before = digest(db)
    result = run_module(migration_status, args_for(django_venv, person_v2))
    assert result['pending'] is True
    assert result['database_exists'] is True
    assert keys(result) == [WEIGHT]
    assert result['total'] == 1
    assert result['by_app'] == {'people': 1}
    assert PERSON in result['applied_leaves']
    assert {'app': 'contenttypes', 'name': '0002_remove_content_type_name'} in \
        result['applied_leaves']
    # What the code knows, whatever the database holds: v2's last migration, not the applied one.
    assert WEIGHT in result['known_leaves'] and PERSON not in result['known_leaves']
    assert set(leaf['app'] for leaf in result['known_leaves']) == {'admin', 'auth', 'contenttypes', 'people',
                                                                   'sessions'}
    assert digest(db) == before  # the database was only read


def test_no_recorder_table_is_created(run_module, django_venv, person_v1):
    db = os.path.join(person_v1, 'db.sqlite3')
    sqlite3.connect(db).close()  # an empty database file, as sqlite3 or a DBA leaves it
    result = run_module(migration_status, args_for(django_venv, person_v1))
    assert result['database_exists'] is True
    assert result['pending'] is True and PERSON in keys(result)
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT name FROM sqlite_master").fetchall() == []


@pytest.mark.parametrize('check_mode', [False, True], ids=['run', 'check_mode'])
def test_fully_migrated_is_not_pending(run_module, django_venv, person_v2, check_mode,
                                       migrated_database):
    install_db(migrated_database(django_venv, 'v2'), person_v2)
    result = run_module(migration_status, args_for(django_venv, person_v2), check_mode=check_mode)
    assert result['changed'] is False
    assert result.get('failed') is not True
    assert result['pending'] is False
    assert result['total'] == 0
    assert result['migrations'] == [] and result['by_app'] == {}
    assert WEIGHT in result['applied_leaves']


def test_env_file_settings_and_database_alias(run_module, django_venv, person_v1, tmp_path,
                                              migrated_database):
    db = tmp_path / 'outside.sqlite3'
    env_file = tmp_path / 'env'
    env_file.write_text('# the service env file\nexport DJANGO_SECRET_KEY="%s"\n'
                        "DJANGO_DB_NAME='%s'\n" % (SECRET_VALUE, db))
    install_db(migrated_database(django_venv, 'v1'), person_v1)  # in the tree: not this one
    args = {'project_path': person_v1, 'virtualenv': django_venv.path,
            'env_file': str(env_file), 'settings': 'mysite.settings'}
    result = run_module(migration_status, args)
    assert result['database_exists'] is False and PERSON in keys(result)
    assert not db.exists()
    failed = run_module(migration_status, dict(args, database='replica'))
    assert failed['failed'] is True
    assert failed['msg'] == ("database 'replica' is not defined in settings.DATABASES "
                             "(defined: default)")


# --------------------------------------------------------------- system checks

def break_models(project):
    path = os.path.join(project, 'people', 'models.py')
    with open(path, 'a', encoding='utf-8') as handle:
        handle.write('\n\nclass Broken(models.Model):\n'
                     '    class Meta:\n'
                     "        ordering = ['no_such_field']\n")


def add_url_warning(project):
    path = os.path.join(project, 'mysite', 'urls.py')
    with open(path, 'a', encoding='utf-8') as handle:
        handle.write("\nurlpatterns.append(path('/slash', views.healthz))\n")


def test_check_true_fails_on_a_system_check_error(run_module, django_venv, person_v1):
    break_models(person_v1)
    result = run_module(migration_status, args_for(django_venv, person_v1, check=True))
    assert result['failed'] is True
    assert result['stage'] == 'checks'
    assert result['msg'].startswith("Django's system checks reported 1 error(s): ")
    assert 'models.E015' in result['msg'] and 'no_such_field' in result['msg']
    assert 'Traceback' not in result['msg']


def test_check_false_does_not_run_the_checks(run_module, django_venv, person_v1):
    break_models(person_v1)
    result = run_module(migration_status, args_for(django_venv, person_v1))
    assert result.get('failed') is not True
    assert 'checks' not in result
    assert result['pending'] is True


def test_check_true_returns_warnings(run_module, django_venv, person_v1):
    add_url_warning(person_v1)
    result = run_module(migration_status, args_for(django_venv, person_v1, check=True))
    assert result.get('failed') is not True
    assert [w for w in result['checks'] if 'urls.W002' in w], result['checks']
    assert result['pending'] is True


@pytest.mark.parametrize('version', ['v1', 'v2'])
def test_check_true_on_the_example_project_has_no_findings(run_module, django_venv, request,
                                                           version):
    project = request.getfixturevalue('person_' + version)
    result = run_module(migration_status, args_for(django_venv, project, check=True))
    assert result['checks'] == []
    assert result['pending'] is True


# --------------------------------------------------------------------- failures

def assert_clear_failure(result, starts_with):
    assert result['failed'] is True
    assert result['msg'].startswith(starts_with), result['msg']
    assert '\n' not in result['msg'] and 'Traceback' not in result['msg']
    assert result.get('changed', False) is False


@pytest.mark.parametrize('case', ['no-secret-key', 'no-such-settings'])
def test_broken_settings(run_module, django_venv, person_v1, case):
    args = args_for(django_venv, person_v1)
    if case == 'no-secret-key':
        args['environment'] = {}
        detail = ('ImproperlyConfigured: DJANGO_SECRET_KEY is not set', 'ImproperlyConfigured')
    else:
        args['settings'] = 'mysite.nosuchsettings'
        detail = ("ModuleNotFoundError: No module named 'mysite.nosuchsettings'",
                  'ModuleNotFoundError')
    result = run_module(migration_status, args)
    assert_clear_failure(result, 'Django settings could not be loaded '
                                 '(DJANGO_SETTINGS_MODULE=%s): %s'
                         % (args.get('settings', 'mysite.settings'), detail[0]))
    assert result['stage'] == 'settings'
    assert detail[1] in result['stderr'] and 'Traceback' in result['stderr']


def test_settings_syntax_error_names_the_file(run_module, django_venv, person_v1):
    settings = os.path.join(person_v1, 'mysite', 'settings.py')
    with open(settings, 'a', encoding='utf-8') as handle:
        handle.write('\nDEBUG = = True\n')
    with open(settings, encoding='utf-8') as handle:
        line = len(handle.read().splitlines())
    result = run_module(migration_status, args_for(django_venv, person_v1))
    assert_clear_failure(result, 'Django settings could not be loaded (DJANGO_SETTINGS_MODULE=mysite.settings): '
                                 'SyntaxError: ')
    assert '(at %s:%d)' % (settings, line) in result['msg']
    assert result['stage'] == 'settings'


def test_broken_app_fails_at_start_up_naming_the_line_of_the_project(run_module, django_venv, person_v1):
    models = os.path.join(person_v1, 'people', 'models.py')
    with open(models, 'a', encoding='utf-8') as handle:
        handle.write('\nimport no_such_dependency\n')
    with open(models, encoding='utf-8') as handle:
        line = len(handle.read().splitlines())
    result = run_module(migration_status, args_for(django_venv, person_v1))
    assert_clear_failure(result, 'Django could not start (django.setup(), DJANGO_SETTINGS_MODULE=mysite.settings): '
                                 "ModuleNotFoundError: No module named 'no_such_dependency' (at %s:%d)"
                         % (models, line))
    assert result['stage'] == 'setup'
    assert 'no_such_dependency' in result['stderr'] and 'Traceback' in result['stderr']


def test_missing_manage_py(run_module, django_venv, tmp_path):
    result = run_module(migration_status, args_for(django_venv, str(tmp_path)))
    assert_clear_failure(result, '%s not found: project_path must be the directory that holds '
                                 "the project's manage.py" % (tmp_path / 'manage.py'))


def test_missing_virtualenv(run_module, person_v1, tmp_path):
    venv = str(tmp_path / 'venv')
    result = run_module(migration_status, {'project_path': person_v1, 'virtualenv': venv})
    assert_clear_failure(result, '%s/bin/python not found: virtualenv must be an existing '
                                 'virtualenv with Django installed' % venv)


def test_virtualenv_without_django(run_module, person_v1, tmp_path):
    venv = tmp_path / 'venv'
    subprocess.check_call([sys.executable, '-m', 'venv', '--without-pip', str(venv)])
    result = run_module(migration_status, {'project_path': person_v1, 'virtualenv': str(venv)})
    assert_clear_failure(result, 'Django could not be imported by %s/bin/python: ModuleNotFoundError: '
                                 "No module named 'django'; install the project's requirements into its virtualenv"
                         % venv)
    assert result['stage'] == 'import'


def closed_port():
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]  # closed again on exit: nothing listens there


def test_unreachable_database(run_module, django_venv, person_v1):
    port = closed_port()
    env = dict(ENV, DJANGO_DB_ENGINE='postgresql', DJANGO_DB_HOST='127.0.0.1',
               DJANGO_DB_PORT=str(port), DJANGO_DB_NAME='people',
               DJANGO_DB_PASSWORD='pg-password-never-shown')
    result = run_module(migration_status, args_for(django_venv, person_v1, environment=env))
    # the name comes from the environment and is 6 characters long: masked (the rule of
    # _secrets.secret_strings); the vendor and an IP address never are
    assert_clear_failure(result, "the database 'default' could not be reached "
                                 '(postgresql host=127.0.0.1 port=%d name=********): '
                                 'OperationalError: ' % port)
    assert 'Connection refused' in result['msg']
    assert result['stage'] == 'connect'
    assert 'OperationalError' in result['stderr']
    assert 'pg-password-never-shown' not in result.raw


def test_run_as_runs_django_as_that_user(run_module, system_django_venv, world_readable_dir,
                                         copy_person):
    project = copy_person('v1', os.path.join(world_readable_dir, 'v1'))
    with open(os.path.join(project, 'mysite', 'settings.py'), 'a', encoding='utf-8') as handle:
        handle.write('\nimport pwd\nif pwd.getpwuid(os.geteuid()).pw_name != "nobody":\n'
                     '    raise ImproperlyConfigured("running as the wrong user")\n')
    args = args_for(system_django_venv, project)
    as_root = run_module(migration_status, args)
    assert as_root['failed'] is True and 'running as the wrong user' in as_root['msg']
    result = run_module(migration_status, dict(args, run_as='nobody'))
    assert result.get('failed') is not True, result.get('msg')
    assert PERSON in keys(result) and result['database_exists'] is False


# --------------------------------------------------------------------- secrets

@pytest.mark.parametrize('source', ['environment', 'env_file'])
def test_secret_values_never_appear_in_the_result(run_module, django_venv, person_v1, tmp_path,
                                                  source):
    # settings that print the key and put it in their error message
    with open(os.path.join(person_v1, 'mysite', 'settings.py'), 'a', encoding='utf-8') as handle:
        handle.write('\nprint("key is", SECRET_KEY)\n'
                     'raise ImproperlyConfigured("refusing key " + SECRET_KEY)\n')
    args = {'project_path': person_v1, 'virtualenv': django_venv.path}
    if source == 'environment':
        args['environment'] = {'DJANGO_SECRET_KEY': SECRET_VALUE, 'DJANGO_DEBUG': '1'}
    else:
        (tmp_path / 'env').write_text('DJANGO_SECRET_KEY=%s\nDJANGO_DEBUG=1\n' % SECRET_VALUE)
        args['env_file'] = str(tmp_path / 'env')
    result = run_module(migration_status, args)
    assert result['failed'] is True and result['stage'] == 'settings'
    assert 'refusing key ********' in result['msg']
    assert 'key is ********' in result['stdout']
    assert SECRET_VALUE not in result.raw


def test_short_non_secret_values_are_not_masked(run_module, django_venv, person_v1):
    # DJANGO_DEBUG=1 must not turn "0001_initial" or the counts into asterisks
    env = dict(ENV, DJANGO_DEBUG='1')
    result = run_module(migration_status, args_for(django_venv, person_v1, environment=env))
    assert PERSON in keys(result)
    assert result['by_app']['people'] == 1
    assert SECRET_VALUE not in result.raw
    # the option is no_log: its invocation shows no value at all, short ones included (a 5-digit PIN
    # under a name that does not look secret is not masked in the output, but is not echoed either)
    shown = result['invocation']['module_args']['environment']
    assert shown == {'DJANGO_SECRET_KEY': 'VALUE_SPECIFIED_IN_NO_LOG_PARAMETER',
                     'DJANGO_DEBUG': 'VALUE_SPECIFIED_IN_NO_LOG_PARAMETER'}


# What Django's own errors show of a DATABASE_URL whose password holds an unencoded "/":
# urlsplit reads "Tr0ub4dor" as the port ("Port could not be cast to integer value as ...").
SLASH_PASSWORD = 'Tr0ub4dor/c0rrectHorse'
SLASH_URL = 'postgres://appuser:%s@db.internal:5432/person' % SLASH_PASSWORD


def test_a_database_url_password_with_a_slash_is_never_shown_even_in_part(run_module, django_venv, person_v1):
    result = run_module(migration_status, args_for(django_venv, person_v1,
                                                   environment=dict(ENV, DATABASE_URL=SLASH_URL)))
    assert result['failed'] is True
    # Django's error is still there, the piece of the password it quotes is not
    assert 'Port could not be cast to integer value as ' in result['msg']
    assert "as '********'" in result['msg']
    for part in (SLASH_URL, 'appuser:' + SLASH_PASSWORD, SLASH_PASSWORD, 'Tr0ub4dor', 'c0rrectHorse'):
        assert part not in result.raw, part


@pytest.mark.parametrize('source', ['environment', 'env_file'])
def test_secrets_are_masked_by_value_whatever_their_names(run_module, django_venv, person_v1, tmp_path, source):
    secrets = {'EMAIL_HOST_PASS': 'mail-pass-5e1d', 'DB_PASS': 'db-pass-0c7a',
               'REDIS_URL': 'redis://:r3dis-pw-9f%2Fx@cache.internal:6379/0'}
    with open(os.path.join(person_v1, 'mysite', 'settings.py'), 'a', encoding='utf-8') as handle:
        handle.write('\nfrom urllib.parse import unquote, urlsplit\n'
                     'print("mail", os.environ["EMAIL_HOST_PASS"], os.environ["DB_PASS"])\n'
                     'print("redis", os.environ["REDIS_URL"], unquote(urlsplit(os.environ["REDIS_URL"]).password))\n'
                     'raise ImproperlyConfigured("cannot log in with " + os.environ["EMAIL_HOST_PASS"] + " / "\n'
                     '                           + os.environ["DB_PASS"] + " to " + os.environ["REDIS_URL"])\n')
    env = dict(ENV, **secrets)
    args = {'project_path': person_v1, 'virtualenv': django_venv.path}
    if source == 'environment':
        args['environment'] = env
    else:
        (tmp_path / 'env').write_text(''.join('%s=%s\n' % item for item in env.items()))
        args['env_file'] = str(tmp_path / 'env')
    result = run_module(migration_status, args)
    assert result['failed'] is True and result['stage'] == 'settings'
    assert 'cannot log in with ******** / ******** to ********' in result['msg']
    assert 'mail ******** ********' in result['stdout']
    for value in list(secrets.values()) + ['r3dis-pw-9f%2Fx', 'r3dis-pw-9f/x', SECRET_VALUE]:
        assert value not in result.raw, value


def test_short_values_numbers_and_booleans_are_not_masked(run_module, django_venv, person_v1):
    # environment is no_log, which registers every value: "1" would turn the counts into
    # VALUE_SPECIFIED_IN_NO_LOG_PARAMETER and "0001_initial" into "000********_initial"
    env = dict(ENV, FEATURE_A='1', FEATURE_B='True', FEATURE_C='off', WORKERS='3')
    result = run_module(migration_status, args_for(django_venv, person_v1, environment=env))
    assert result.get('failed') is not True, result.get('msg')
    assert isinstance(result['total'], int) and result['total'] > 10
    assert result['by_app']['people'] == 1
    assert PERSON in keys(result)
    assert result['remote_database'] is False
    # ... while the no_log option itself is never echoed, not even its short values
    shown = result['invocation']['module_args']['environment']
    assert set(shown.values()) == {'VALUE_SPECIFIED_IN_NO_LOG_PARAMETER'} and len(shown) == len(env)


def test_the_journal_never_holds_the_environment(run_module, django_venv, person_v1, monkeypatch):
    logged = []
    # what AnsibleModule would send to the host's journal (syslog)
    monkeypatch.setattr(AnsibleModule, 'log', lambda self, msg, log_args=None: logged.append(msg))
    env = dict(ENV, DB_PASS='db-pass-0c7a', DATABASE_URL=SLASH_URL)
    run_module(migration_status, args_for(django_venv, person_v1, environment=env))
    assert any(msg.startswith('Invoked with ') for msg in logged)
    text = '\n'.join(logged)
    assert 'environment=NOT_LOGGING_PARAMETER' in text
    for value in (SECRET_VALUE, 'db-pass-0c7a', SLASH_PASSWORD, 'Tr0ub4dor'):
        assert value not in text, value


def test_names_from_the_code_and_the_options_stay_readable(run_module, django_venv, person_v1):
    # "people" (an app label) and "person" (in the project's path) are values of the
    # environment, long enough to mask: they are no secrets and the plan stays exact
    project = os.path.join(os.path.dirname(person_v1), 'person')
    os.rename(person_v1, project)
    env = dict(ENV, APP_LABEL='people', APP_NAME='person', DJANGO_DB_ENGINE='sqlite3')
    result = run_module(migration_status, args_for(django_venv, project, environment=env))
    assert result.get('failed') is not True, result.get('msg')
    assert PERSON in keys(result)
    assert result['location']['name'] == os.path.join(project, 'db.sqlite3')
    assert SECRET_VALUE not in result.raw


# ------------------------------------------------- the example project itself

PAGES = r"""
import json
from django.test import Client
client = Client()
index, health = client.get('/'), client.get('/healthz')
print('PAGES=' + json.dumps({'index': [index.status_code, index.content.decode()],
                             'healthz': [health.status_code, health.content.decode()]}))
"""


@pytest.mark.parametrize('version', ['v1', 'v2'])
def test_example_project_pages(django_venv, request, migrated_database, version):
    """What the Molecule scenario and a person check: the marker, the table, /healthz."""
    project = request.getfixturevalue('person_' + version)
    install_db(migrated_database(django_venv, version), project)
    manage(django_venv, project, 'loaddata', 'people')
    env = dict(os.environ, DJANGO_ALLOWED_HOSTS='testserver', **ENV)
    out = subprocess.run([django_venv.python, 'manage.py', 'shell', '-c', PAGES], cwd=project,
                         env=env, check=True, stdout=subprocess.PIPE, text=True).stdout
    pages = json.loads(out.split('PAGES=', 1)[1])
    status, html = pages['index']
    assert status == 200
    assert '<meta name="release" content="%s">' % version in html
    assert 'release %s' % version in html
    assert '<td>Grace</td><td>1.7</td>' in html
    assert ('<th>weight</th>' in html) == (version == 'v2')
    assert pages['healthz'] == [200, 'ok']
    assert os.path.exists(os.path.join(project, 'people', 'legacy.py')) == (version == 'v1')


# ----------------------------------------------------------------- the settings the health check needs

@pytest.mark.parametrize('source', ['environment', 'env_file'])
def test_the_settings_report_says_what_the_health_check_sends(run_module, django_venv, person_v1, tmp_path, source):
    """ALLOWED_HOSTS and SECURE_PROXY_SSL_HEADER of the settings Django loaded (a production module over the
    project's own), the host whole although it comes from the environment (a value of 6 characters or
    more, masked elsewhere), and what the health check sends by default."""
    with open(os.path.join(person_v1, 'mysite', 'production.py'), 'w') as handle:
        handle.write('from .settings import *  # noqa\n'
                     'SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")\n')
    env = dict(ENV, DJANGO_ALLOWED_HOSTS='.catalog.example')
    args = args_for(django_venv, person_v1, settings='mysite.production', environment=dict(env))
    if source == 'env_file':
        del args['environment']
        (tmp_path / 'env').write_text(''.join('%s=%s\n' % item for item in env.items()))
        args['env_file'] = str(tmp_path / 'env')
    result = run_module(migration_status, args)
    assert not result.get('failed'), result
    assert result['settings'] == {
        'allowed_hosts': ['.catalog.example'], 'secure_proxy_ssl_header': ['HTTP_X_FORWARDED_PROTO', 'https'],
        'debug': False, 'healthcheck': {'host': 'catalog.example', 'headers': {'X-Forwarded-Proto': 'https'}}}
    assert SECRET_VALUE not in result.raw


def test_the_settings_report_of_the_example_project_by_default(run_module, django_venv, person_v1):
    result = run_module(migration_status, args_for(django_venv, person_v1, environment=dict(ENV, DJANGO_DEBUG='1')))
    assert result['settings'] == {'allowed_hosts': ['localhost', '127.0.0.1'], 'secure_proxy_ssl_header': None,
                                  'debug': True, 'healthcheck': {'host': 'localhost', 'headers': {}}}
