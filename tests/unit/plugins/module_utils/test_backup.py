# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Backups and schema rollback: the pure parts, and the Django child on a real project."""

from __future__ import annotations

import datetime
import json
import os
import sqlite3
import subprocess

import pytest

from ansible_collections.simpledeploy.django.plugins.module_utils import _backup, _django

PG_SETTINGS = {
    'ENGINE': 'django.db.backends.postgresql', 'NAME': 'person', 'USER': 'app', 'PASSWORD': 's3cret-pw',
    'HOST': 'db.internal', 'PORT': 5433, 'OPTIONS': {'sslmode': 'require', 'connect_timeout': 10, 'pool': True},
}


def test_pg_dump_command_reaches_the_database_through_the_environment_without_the_password():
    argv, env = _backup.pg_dump_command(PG_SETTINGS, '/w/v2.dump', '/usr/bin/pg_dump')
    assert argv == ['/usr/bin/pg_dump', '--format=custom', '--no-password', '--file=/w/v2.dump']
    assert env == {'PGHOST': 'db.internal', 'PGPORT': '5433', 'PGUSER': 'app', 'PGDATABASE': 'person',
                   'PGSSLMODE': 'require', 'PGCONNECT_TIMEOUT': '10'}
    assert 's3cret-pw' not in json.dumps([argv, env])


def test_pg_restore_command_cleans_restores_in_one_transaction_and_names_the_database():
    argv, env = _backup.pg_restore_command(PG_SETTINGS, '/w/v2.dump')
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
    argv, dummy = _backup.pg_restore_command(dict(PG_SETTINGS, NAME=name), 'f')
    assert argv[-2] == expected


def test_only_the_tool_child_gets_the_password():
    assert _backup.pg_password_env(PG_SETTINGS) == {'PGPASSWORD': 's3cret-pw'}
    assert _backup.pg_password_env(dict(PG_SETTINGS, PASSWORD='')) == {}
    assert _backup.pg_password_env({}) == {}


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
    assert _backup.toc_tables(listing) == ['django_migrations', 'people_person']
    assert _backup.toc_tables('') == []


@pytest.mark.parametrize('release, vendor, expected', [
    ('3f2a9c0d1e4b5a67', 'sqlite', '3f2a9c0d1e4b5a67-20261124T101500Z.sqlite3'),
    ('v2', 'postgresql', 'v2-20261124T101500Z.dump'),
    ('../etc/x y', 'sqlite', '_etc_x_y-20261124T101500Z.sqlite3'),
    (None, 'sqlite', 'unknown-20261124T101500Z.sqlite3'),
])
def test_backup_name(release, vendor, expected):
    when = datetime.datetime(2026, 11, 24, 10, 15, 0, tzinfo=datetime.timezone.utc)
    assert _backup.backup_name(release, vendor, when) == expected


def test_backups_to_prune_keeps_the_newest_by_their_timestamp_and_ignores_other_files():
    names = ['b-20260103T000000Z.dump', 'a-20260101T000000Z.sqlite3', 'z-20260102T000000Z.sqlite3',
             'a-20260103T000000Z-1.dump', 'notes.txt', 'x-2026.sqlite3']
    assert _backup.backups_to_prune(names, 2) == ['a-20260101T000000Z.sqlite3', 'z-20260102T000000Z.sqlite3']
    assert _backup.backups_to_prune(names, 10) == []
    assert len(_backup.backups_to_prune(names, 0)) == 4


def test_prune_backups_removes_only_old_backup_files(tmp_path):
    for name in ('r-20260101T000000Z.sqlite3', 'r-20260102T000000Z.sqlite3', 'keep.txt'):
        (tmp_path / name).write_text('')
    assert _backup.prune_backups(str(tmp_path), 1) == ['r-20260101T000000Z.sqlite3']
    assert sorted(os.listdir(str(tmp_path))) == ['keep.txt', 'r-20260102T000000Z.sqlite3']
    assert _backup.prune_backups(str(tmp_path / 'missing'), 1) == []


def test_touched_apps_reads_migrates_applying_lines_in_order():
    out = ['Operations to perform:', '  Apply all migrations: admin, people, shop', 'Running migrations:',
           '  Applying people.0002_person_weight... OK', '  Applying shop.0001_initial... OK',
           '  Applying people.0003_explode...', 'Traceback (most recent call last):']
    assert _backup.touched_apps(out) == ['people', 'shop']
    assert _backup.touched_apps([]) == []


def test_reverse_targets_go_back_to_each_apps_leaf_or_zero_last_app_first():
    leaves = [{'app': 'people', 'name': '0001_initial'}, {'app': 'auth', 'name': '0012_x'}]
    assert _backup.reverse_targets(leaves, ['people', 'shop']) == [('shop', 'zero'), ('people', '0001_initial')]
    assert _backup.reverse_targets([], ['people']) == [('people', 'zero')]
    with pytest.raises(ValueError, match='the app people had 2 applied leaf migrations'):
        _backup.reverse_targets(leaves + [{'app': 'people', 'name': '0002_branch'}], ['people'])


def test_ensure_backup_dir_creates_it_private(tmp_path):
    path = str(tmp_path / 'srv' / 'backups')
    _backup.ensure_backup_dir(path)
    assert os.stat(path).st_mode & 0o777 == 0o700


# ---------------------------------------------------------------------------
# The child itself, run by manage.py shell in a real project


@pytest.fixture
def project(tmp_path, django_venv, migrated_database, copy_person):
    path = copy_person('v1', str(tmp_path / 'project'))
    db = str(tmp_path / 'project' / 'db.sqlite3')
    with open(migrated_database(django_venv, 'v1'), 'rb') as src, open(db, 'wb') as dst:
        dst.write(src.read())
    with sqlite3.connect(db) as conn:
        conn.execute("INSERT INTO people_person (name, height) VALUES ('Ada', 1.65), ('Grace', 1.7)")
    return path, db, django_venv


def child(project, mode, path=''):
    path_, dummy, venv = project
    env = dict(os.environ, DJANGO_SECRET_KEY='x' * 20, SIMPLEDEPLOY_MARKER=_backup.BACKUP_MARKER,
               SIMPLEDEPLOY_DATABASE='default', SIMPLEDEPLOY_BACKUP_MODE=mode, SIMPLEDEPLOY_BACKUP_PATH=path)
    proc = subprocess.run([venv.python, 'manage.py', 'shell', '--verbosity', '0', '-c', _backup.CHILD_CODE],
                          cwd=path_, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, check=False)
    return _django.parse_marked_json(proc.stdout, _backup.BACKUP_MARKER)


def test_the_child_backs_sqlite_up_and_restores_it_on_every_django(project, tmp_path):
    dummy, db, dummy2 = project
    assert child(project, 'probe') == {'vendor': 'sqlite', 'database': 'default', 'exists': True, 'name': db}
    copy = str(tmp_path / 'copy.sqlite3')
    found = child(project, 'backup', copy)
    assert found['tables'] > 5
    with sqlite3.connect(copy) as conn:
        assert conn.execute('SELECT name FROM people_person ORDER BY id').fetchall() == [('Ada',), ('Grace',)]
    with sqlite3.connect(db) as conn:
        conn.execute('DROP TABLE people_person')
    assert 'error' not in child(project, 'restore', copy)
    with sqlite3.connect(db) as conn:
        assert conn.execute('SELECT count(*) FROM people_person').fetchone()[0] == 2


def test_the_child_says_when_there_is_no_database_yet(project, tmp_path):
    dummy, db, dummy2 = project
    os.unlink(db)
    found = child(project, 'backup', str(tmp_path / 'copy.sqlite3'))
    assert found['exists'] is False
    assert not os.path.exists(str(tmp_path / 'copy.sqlite3')) and not os.path.exists(db)
