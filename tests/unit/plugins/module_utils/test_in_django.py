# -*- coding: utf-8 -*-
# Copyright: (c) 2026, simpledeploy developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

"""plugins/module_utils/in_django/: the code that runs inside the project's Django, tested in this process.

Each test loads the example Person project into the test's own Python
(Django from tests/unit/requirements.txt) and calls the jobs directly, so
that coverage sees every line of them. Django can be set up once per
process: ansible-test runs each test in a forked child of its own; a plain
pytest run needs ``-p ansible_test._util.target.pytest.plugins.ansible_forked``
(else these tests skip after the first).
"""

from __future__ import absolute_import, division, print_function

import io
import json
import os
import sqlite3
import sys

import pytest

from ansible_collections.simpledeploy.django.plugins.module_utils.in_django import (
    database,
    migrate,
    plan,
    postgres,
    protocol,
    runner,
)
from ansible_collections.simpledeploy.django.plugins.module_utils.in_django.protocol import Failure


@pytest.fixture
def project(tmp_path, copy_person, monkeypatch):
    """``load(version)``: the Person project copied, made the current directory and first on sys.path."""
    pytest.importorskip('django')
    if 'mysite' in sys.modules or 'django.conf' in sys.modules and sys.modules['django.conf'].settings.configured:
        pytest.skip('Django is already set up in this process: run each test in a process of its own '
                    '(ansible-test units does)')
    db = str(tmp_path / 'db.sqlite3')

    def load(version='v1'):
        path = copy_person(version, str(tmp_path / 'project'))
        monkeypatch.chdir(path)
        monkeypatch.syspath_prepend(path)
        monkeypatch.setenv('DJANGO_SECRET_KEY', 'k' * 40)
        monkeypatch.setenv('DJANGO_DB_NAME', db)
        monkeypatch.delenv('DJANGO_SETTINGS_MODULE', raising=False)
        return path

    load.db = db
    return load


def run_main(job, params, capsys):
    """runner.main as the module side starts it: (exit status, report, what went to stderr)."""
    capsys.readouterr()
    status = runner.main(['runner', job], stdin=io.StringIO(json.dumps(params)))
    out, err = capsys.readouterr()
    return status, protocol.read_report(out), err


def names(db):
    with sqlite3.connect(db) as conn:
        return [row[0] for row in conn.execute('SELECT name FROM people_person ORDER BY id')]


# ---------------------------------------------------------------- runner

def test_the_plan_of_a_new_database_through_the_runner(project, capsys):
    project()
    status, report, dummy = run_main('plan', {'database': 'default', 'check': True, 'detect_missing': True}, capsys)
    assert status == 0, report
    result = report['result']
    assert result['database_exists'] is False and result['vendor'] == 'sqlite'
    assert result['checks'] == [] and result['missing_migrations'] == {}
    people = [m for m in result['migrations'] if m['app'] == 'people']
    assert [m['name'] for m in people] == ['0001_initial']
    create = people[0]['operations'][0]
    assert create['kind'] == 'CreateModel' and create['after']['table'] == 'people_person'
    assert create['before'] is None
    # a report creates nothing
    assert not os.path.exists(project.db)


def test_the_plan_reports_the_settings_a_health_check_needs(project, capsys, monkeypatch):
    path = project()
    with open(os.path.join(path, 'mysite', 'production.py'), 'w') as handle:
        handle.write('from .settings import *  # noqa\nSECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_SSL", "on")\n')
    monkeypatch.setenv('DJANGO_SETTINGS_MODULE', 'mysite.production')
    monkeypatch.setenv('DJANGO_ALLOWED_HOSTS', '*,.example.org')
    status, report, dummy = run_main('plan', {'database': 'default'}, capsys)
    assert status == 0, report
    assert report['result']['settings'] == {'allowed_hosts': ['*', '.example.org'], 'debug': False,
                                            'secure_proxy_ssl_header': ['HTTP_X_FORWARDED_SSL', 'on']}


def test_manage_pys_default_settings_module_is_used_and_the_environment_wins(project, monkeypatch):
    path = project()
    assert runner.run_manage_py(os.path.join(path, 'manage.py')) is True
    assert os.environ['DJANGO_SETTINGS_MODULE'] == 'mysite.settings'
    monkeypatch.setenv('DJANGO_SETTINGS_MODULE', 'mysite.elsewhere')
    runner.run_manage_py(os.path.join(path, 'manage.py'))
    assert os.environ['DJANGO_SETTINGS_MODULE'] == 'mysite.elsewhere'


def test_execute_from_command_line_is_put_back_and_nothing_of_the_project_runs(project):
    from django.core import management
    real = management.execute_from_command_line
    path = project()
    runner.run_manage_py(os.path.join(path, 'manage.py'))
    assert management.execute_from_command_line is real


def test_a_manage_py_that_fails_is_reported_at_stage_manage_naming_its_line(project, capsys):
    path = project()
    with open('manage.py', encoding='utf-8') as handle:
        text = handle.read()
    with open('manage.py', 'w', encoding='utf-8') as handle:
        handle.write(text.replace('import sys\n', 'import sys\nimport no_such_dotenv_package\n'))
    status, report, err = run_main('plan', {}, capsys)
    assert status == protocol.ERROR_EXIT
    error = report['error']
    assert error['stage'] == 'manage' and error['type'] == 'ModuleNotFoundError'
    assert error['where'].startswith(os.path.join(path, 'manage.py') + ':')
    assert 'Traceback' in err


def test_a_manage_py_that_never_hands_over_needs_a_settings_module(project, capsys):
    project()
    with open('manage.py', 'w', encoding='utf-8') as handle:
        handle.write('print("my own manage.py")\n')
    status, report, dummy = run_main('plan', {}, capsys)
    assert status == protocol.ERROR_EXIT
    assert report['error']['type'] == 'NoSettingsModule'


def test_settings_that_fail_are_reported_at_stage_settings(project, capsys, monkeypatch):
    project()
    monkeypatch.delenv('DJANGO_SECRET_KEY')
    status, report, dummy = run_main('plan', {}, capsys)
    assert report['error']['stage'] == 'settings'
    assert report['error']['type'] == 'ImproperlyConfigured'
    assert report['error']['settings_module'] == 'mysite.settings'
    assert 'settings.py' in report['error']['where']


def test_an_app_that_fails_to_load_is_reported_at_stage_setup(project, capsys):
    project()
    with open(os.path.join('people', 'models.py'), 'a', encoding='utf-8') as handle:
        handle.write('\nraise RuntimeError("broken app")\n')
    status, report, dummy = run_main('plan', {}, capsys)
    assert report['error']['stage'] == 'setup'
    assert report['error']['message'] == 'broken app'
    assert 'models.py' in report['error']['where']


def test_an_unknown_job_and_an_unexpected_error_are_reported(project, capsys, monkeypatch):
    project()
    status, report, dummy = run_main('nosuchjob', {}, capsys)
    assert status == protocol.ERROR_EXIT and report['error']['stage'] == 'job'

    def broken(params, settings):
        return params['nothing']

    monkeypatch.setitem(runner.JOBS, 'plan', broken)
    status, report, err = run_main('plan', {}, capsys)
    assert report['error']['stage'] == 'unexpected' and report['error']['type'] == 'KeyError'
    assert 'Traceback' in err


# ---------------------------------------------------------------- the jobs

def migrate_params(*args):
    return {'database': 'default', 'args': list(args), 'lock_key': 1, 'lock_timeout': 1.0}


def test_migrate_then_plan_on_the_migrated_database(project, capsys):
    project('v2')
    settings = runner.setup_django('manage.py')
    assert migrate.run(migrate_params('people', '0001_initial'), settings) == {
        'vendor': 'sqlite', 'lock': None, 'waited': 0.0, 'retries': []}
    assert 'Applying people.0001_initial... OK' in capsys.readouterr().out
    result = plan.run({'database': 'default', 'detect_missing': True}, settings)
    assert result['database_exists'] is True
    assert {'app': 'people', 'name': '0001_initial'} in result['applied_leaves']
    assert [m['name'] for m in result['migrations'] if m['app'] == 'people'] == ['0002_person_weight']
    add = [m for m in result['migrations'] if m['app'] == 'people'][0]['operations'][0]
    assert add['kind'] == add['base'] == 'AddField' and add['field'] == 'weight'
    # FloatField(default=0), preserve_default=False: NOT NULL, and the state keeps no default
    assert add['old'] is None and add['new']['column'] == 'weight' and add['new']['class'] == 'FloatField'
    assert add['new']['null'] is False and add['new']['default'] is False
    assert add['before']['table'] == add['after']['table'] == 'people_person'


def test_a_failing_migrate_is_reported_at_stage_migrate(project):
    project()
    settings = runner.setup_django('manage.py')
    with pytest.raises(Failure) as failed:
        migrate.run(migrate_params('people', '0099'), settings)
    assert failed.value.stage == 'migrate'
    assert failed.value.report()['type'] == 'CommandError'


def test_an_unknown_database_alias_is_reported(project):
    project()
    settings = runner.setup_django('manage.py')
    for job, params in ((plan.run, {'database': 'other'}), (migrate.run, dict(migrate_params(), database='other')),
                        (database.run, {'database': 'other', 'mode': 'probe'})):
        with pytest.raises(Failure) as failed:
            job(params, settings)
        assert failed.value.stage == 'database'


def test_the_database_job_backs_sqlite_up_and_restores_it(project, tmp_path, capsys):
    project()
    settings = runner.setup_django('manage.py')
    migrate.run(migrate_params(), settings)
    with sqlite3.connect(project.db) as conn:
        conn.execute("INSERT INTO people_person (name, height) VALUES ('Ada', 1.65), ('Grace', 1.7)")
    probe = database.run({'mode': 'probe', 'database': 'default'}, settings)
    assert probe == {'vendor': 'sqlite', 'database': 'default', 'exists': True, 'name': project.db}
    copy = str(tmp_path / 'copy.sqlite3')
    assert database.run({'mode': 'backup', 'path': copy}, settings)['tables'] > 5
    assert names(copy) == ['Ada', 'Grace']
    with sqlite3.connect(project.db) as conn:
        conn.execute('DELETE FROM people_person')
    database.run({'mode': 'restore', 'path': copy}, settings)
    assert names(project.db) == ['Ada', 'Grace']


def test_the_database_job_says_when_there_is_no_database_yet(project, tmp_path):
    project()
    settings = runner.setup_django('manage.py')
    found = database.run({'mode': 'backup', 'path': str(tmp_path / 'copy.sqlite3')}, settings)
    assert found['exists'] is False
    assert not os.path.exists(str(tmp_path / 'copy.sqlite3')) and not os.path.exists(project.db)


def test_a_copy_that_fails_its_check_is_refused(tmp_path, monkeypatch):
    source = str(tmp_path / 'db.sqlite3')
    with sqlite3.connect(source) as conn:
        conn.execute('CREATE TABLE t (x)')

    class Corrupt(sqlite3.Connection):
        """A real connection whose integrity check finds a fault."""

        def execute(self, sql, *args):
            if sql.startswith('PRAGMA quick_check'):
                return super(Corrupt, self).execute("SELECT 'row 3 missing from index'")
            return super(Corrupt, self).execute(sql, *args)

    real_connect = sqlite3.connect
    monkeypatch.setattr(sqlite3, 'connect', lambda *a, **k: real_connect(*a, factory=Corrupt, **k))
    with pytest.raises(Failure) as failed:
        database.sqlite_copy(source, str(tmp_path / 'copy.sqlite3'))
    assert failed.value.stage == 'check' and 'row 3 missing' in failed.value.report()['message']


# ---------------------------------------------------------------- migrate's lock (pure logic)

class FakeLockConnection(object):
    """A connection whose advisory lock is free after FREE_AFTER tries."""

    def __init__(self, free_after):
        self.tries, self.free_after, self.sql = 0, free_after, []

    def cursor(self):
        return self

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def execute(self, sql, params):
        self.tries += 1
        self.sql.append((sql, params))

    def fetchone(self):
        return (self.tries > self.free_after,)


class Clock(object):
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        self.now += seconds


def test_the_advisory_lock_is_waited_for_and_the_wait_measured():
    clock, conn = Clock(), FakeLockConnection(free_after=3)
    assert migrate.take_advisory_lock(conn, 42, 10.0, clock=clock, sleep=clock.sleep) == 0.6
    assert conn.sql == [('SELECT pg_try_advisory_lock(%s)', [42])] * 4


def test_the_advisory_lock_gives_up_after_its_timeout():
    clock, conn = Clock(), FakeLockConnection(free_after=1000)
    with pytest.raises(Failure) as failed:
        migrate.take_advisory_lock(conn, 42, 1.0, clock=clock, sleep=clock.sleep)
    report = failed.value.report()
    assert report['stage'] == 'lock' and report['type'] == 'LockTimeout' and report['waited'] >= 1.0


# ---------------------------------------------------------------- protocol

def test_a_report_is_the_last_marked_line_after_whatever_was_printed():
    out = io.StringIO()
    out.write('Applying people.0002... OK\n')
    protocol.emit({'result': {'a': 1}}, out)
    text = 'noise ' + out.getvalue() + 'trailing noise\n'
    assert protocol.read_report(text) == {'result': {'a': 1}}
    assert protocol.printed_lines(text) == ['noise Applying people.0002... OK', 'trailing noise']
    assert protocol.read_report(protocol.MARKER + '{cut') is None
    assert protocol.read_report(protocol.MARKER + '[1]') is None
    assert protocol.read_report('') is None


def test_location_names_the_projects_own_line_not_djangos(tmp_path):
    project = tmp_path / 'project'
    project.mkdir()
    code = compile('def f():\n    import json\n    json.loads("{")\n', str(project / 'views.py'), 'exec')
    namespace = {}
    exec(code, namespace)  # pylint: disable=exec-used
    try:
        namespace['f']()
    except ValueError as exc:
        assert protocol.location(exc, str(project)) == '%s:3' % (project / 'views.py')
        assert protocol.location(exc, str(tmp_path / 'elsewhere')) is None
    try:
        compile('x = = 1\n', str(project / 'settings.py'), 'exec')
    except SyntaxError as exc:
        assert protocol.location(exc, '/') == '%s:1' % (project / 'settings.py')


# ---------------------------------------------------------------- postgres (pure)

PG_SETTINGS = {
    'ENGINE': 'django.db.backends.postgresql', 'NAME': 'person', 'USER': 'app', 'PASSWORD': 's3cret-pw',
    'HOST': 'db.internal', 'PORT': 5433, 'OPTIONS': {'sslmode': 'require', 'connect_timeout': 10, 'pool': True},
}


def test_pg_dump_command_reaches_the_database_through_the_environment_without_the_password():
    argv, env = postgres.dump_command(PG_SETTINGS, '/w/v2.dump', '/usr/bin/pg_dump')
    assert argv == ['/usr/bin/pg_dump', '--format=custom', '--no-password', '--file=/w/v2.dump']
    assert env == {'PGHOST': 'db.internal', 'PGPORT': '5433', 'PGUSER': 'app', 'PGDATABASE': 'person',
                   'PGSSLMODE': 'require', 'PGCONNECT_TIMEOUT': '10'}
    assert 's3cret-pw' not in json.dumps([argv, env])


def test_pg_restore_command_cleans_restores_in_one_transaction_and_names_the_database():
    argv, env = postgres.restore_command(PG_SETTINGS, '/w/v2.dump')
    assert argv == ['pg_restore', '--clean', '--if-exists', '--no-owner', '--single-transaction', '--no-password',
                    '--dbname=person', '/w/v2.dump']
    assert env['PGHOST'] == 'db.internal' and 'PGPASSWORD' not in env
    assert 's3cret-pw' not in json.dumps([argv, env])


@pytest.mark.parametrize('name, expected', [
    ('person', '--dbname=person'),
    # a NAME pg_restore would read as a connection string is quoted into one that names the database only
    ("host=evil password=x", "--dbname=dbname='host=evil password=x'"),
    ('postgresql://u@h/db', "--dbname=dbname='postgresql://u@h/db'"),
    ("o'brien", "--dbname=dbname='o\\'brien'"),
    ('', '--dbname='),
])
def test_pg_restore_dbname_cannot_be_read_as_a_connection_string(name, expected):
    argv, dummy = postgres.restore_command(dict(PG_SETTINGS, NAME=name), 'f')
    assert argv[-2] == expected


def test_only_the_tool_child_gets_the_password():
    assert postgres.password_env(PG_SETTINGS) == {'PGPASSWORD': 's3cret-pw'}
    assert postgres.password_env(dict(PG_SETTINGS, PASSWORD='')) == {}
    assert postgres.password_env({}) == {}


def test_toc_tables_reads_tables_not_their_data_or_other_objects():
    listing = '''
;
; Archive created at 2026-11-24 10:15:00 UTC
;
215; 1259 16386 TABLE public people_person app
216; 1259 16385 SEQUENCE public people_person_id_seq app
3350; 0 16386 TABLE DATA public people_person app
217; 1259 16390 TABLE public django_migrations app
3200; 2606 16391 CONSTRAINT public people_person people_person_pkey app
'''
    assert postgres.toc_tables(listing) == ['django_migrations', 'people_person']
    assert postgres.toc_tables('') == []


# ---------------------------------------------------------------- the database job's PostgreSQL tools

def fake_tool(tmp_path, name, rc=0, writes=True):
    """A stand-in pg_dump/pg_restore that records its argv and environment, then exits RC."""
    record = tmp_path / (name + '.json')
    tool = tmp_path / name
    tool.write_text('#!%s\nimport json, os, sys\n'
                    'json.dump({"argv": sys.argv, "env": dict(os.environ)}, open(%r, "w"))\n'
                    'if %r:\n'
                    '    for arg in sys.argv:\n'
                    '        if arg.startswith("--file="):\n'
                    '            open(arg[7:], "w").write("dump")\n'
                    'sys.stderr.write("pg_dump: error: connection to server failed\\n" if %d else "")\n'
                    'sys.exit(%d)\n' % (sys.executable, str(record), writes, rc, rc))
    tool.chmod(0o755)
    return str(tool), record


def test_pg_dump_gets_the_password_in_its_environment_only_and_the_size_is_measured(tmp_path, monkeypatch):
    monkeypatch.delenv('PGPASSWORD', raising=False)
    tool, record = fake_tool(tmp_path, 'pg_dump')
    target = str(tmp_path / 'v2.dump')
    assert database.pg_backup(PG_SETTINGS, target, {'pg_dump': tool}) == 4
    seen = json.loads(record.read_text())
    assert seen['env']['PGPASSWORD'] == 's3cret-pw' and seen['env']['PGHOST'] == 'db.internal'
    assert 's3cret-pw' not in ' '.join(seen['argv'])
    # the password went to the tool's child alone, not into this process's environment
    assert 'PGPASSWORD' not in os.environ


def test_a_failing_pg_dump_is_reported_with_its_own_last_line(tmp_path, capsys):
    tool, dummy = fake_tool(tmp_path, 'pg_dump', rc=1, writes=False)
    with pytest.raises(Failure) as failed:
        database.pg_backup(PG_SETTINGS, str(tmp_path / 'v2.dump'), {'pg_dump': tool})
    report = failed.value.report()
    assert report['stage'] == 'pg_dump'
    assert report['message'] == 'rc=1: pg_dump: error: connection to server failed'
    # its stderr goes on to the child's, for the module's stderr
    assert 'connection to server failed' in capsys.readouterr().err


def test_a_missing_tool_is_reported_naming_it(tmp_path):
    with pytest.raises(Failure) as failed:
        database.pg_backup(PG_SETTINGS, str(tmp_path / 'v2.dump'), {'pg_dump': str(tmp_path / 'nowhere' / 'pg_dump')})
    report = failed.value.report()
    assert report['stage'] == 'pg_dump' and report['type'] == 'FileNotFoundError'
    assert 'nowhere/pg_dump' in report['message']


def test_a_lock_timeout_is_told_from_other_errors_through_djangos_wrapper():
    class Driver(Exception):
        def __init__(self, code):
            super(Driver, self).__init__('canceling statement due to lock timeout')
            self.sqlstate = code  # psycopg 3; psycopg2 says pgcode

    class Wrapped(Exception):
        pass

    def wrapped(code):
        try:
            try:
                raise Driver(code)
            except Driver as exc:
                raise Wrapped('OperationalError') from exc
        except Wrapped as exc:
            return exc

    assert migrate.lock_timed_out(wrapped('55P03')) is True
    assert migrate.lock_timed_out(wrapped('57014')) is False  # statement_timeout: not ours to retry
    assert migrate.lock_timed_out(ValueError('x')) is False


def test_the_backoff_doubles_up_to_its_longest():
    assert [migrate.backoff(n) for n in range(7)] == [0.5, 1.0, 2.0, 4.0, 8.0, 8.0, 8.0]
