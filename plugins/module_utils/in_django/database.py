# -*- coding: utf-8 -*-
# Copyright (c) simpledeploy developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The ``database`` job: probe, back up or restore the project's database.

Private to the simpledeploy.django collection: the interface may change.

Runs inside the project's Django process (see ``runner``), as the app's
user, so the database is reached through the project's own settings
(``connections[alias].settings_dict``), never through settings guessed
elsewhere:

- SQLite: Python's ``sqlite3`` online backup API (``Connection.backup``), in
  both directions, checked with ``PRAGMA quick_check``; never a file copy,
  which could catch a half-written page.
- PostgreSQL: ``pg_dump --format=custom``, restored with ``pg_restore --clean
  --if-exists --no-owner --single-transaction`` (``postgres``); tables the
  project's migrations made since the dump are dropped first.

Where the file is written or read (``path``) is a work directory the module
side prepared (see ``_backup``); what root does with the file afterwards is
its business. Parameters: ``mode`` (``probe``: vendor and tools, changes
nothing; ``backup``; ``restore``), ``database`` (alias), ``path``.
"""

from __future__ import absolute_import, division, print_function

import os
import shutil
import subprocess
import sys

from . import postgres
from .protocol import Failure


def last_line(text):
    """The last non-blank line of TEXT, stripped."""
    lines = [line.strip() for line in (text or '').splitlines() if line.strip()]
    return lines[-1] if lines else 'no output'


def run_tool(argv, env, secret_env):
    """Run a PostgreSQL client tool with the child's environment plus ENV and SECRET_ENV; its stderr goes on."""
    full = dict(os.environ)
    full.update(env)
    full.update(secret_env)
    try:
        # Inside Django, not in a module: there is no AnsibleModule.run_command here.
        proc = subprocess.run(argv, env=full, stdout=subprocess.PIPE, stderr=subprocess.PIPE,  # pylint: disable=ansible-bad-function
                              universal_newlines=True, check=False)
    except OSError as exc:
        raise Failure(os.path.basename(argv[0]), type=type(exc).__name__, message='%s: %s' % (argv[0], exc.strerror))
    sys.stderr.write(proc.stderr)
    return proc


def sqlite_copy(source, target):
    """Online backup of the SQLite file SOURCE into TARGET, checked; returns ``{tables}``."""
    import sqlite3
    from urllib.parse import quote
    src = sqlite3.connect('file:%s?mode=ro' % quote(source), uri=True)
    try:
        dst = sqlite3.connect(target)
        try:
            # A few pages at a time: the old release may be serving (expand), and its writes wait only between
            # steps, not for the whole copy.
            src.backup(dst, pages=256)
            check = dst.execute('PRAGMA quick_check').fetchone()[0]
            tables = dst.execute("SELECT count(*) FROM sqlite_master WHERE type = 'table'").fetchone()[0]
        finally:
            dst.close()
    finally:
        src.close()
    if check != 'ok':
        raise Failure('check', type='CorruptCopy', message='PRAGMA quick_check says %s' % check)
    return {'tables': tables}


def project_tables(conn):
    """Tables of the project's models (in its code or its migrations) that exist in the database."""
    from django.db.migrations.loader import MigrationLoader
    existing = set(conn.introspection.table_names(include_views=False))
    known = set(conn.introspection.django_table_names(include_views=False))
    state = MigrationLoader(None, ignore_no_migrations=True).project_state()
    for model in state.apps.get_models(include_auto_created=True):
        if model._meta.managed and not model._meta.proxy:
            known.add(model._meta.db_table)
    return existing & known


def pg_backup(settings, path, tools):
    """pg_dump the database of SETTINGS into PATH; returns its size."""
    argv, env = postgres.dump_command(settings, path, tools['pg_dump'] or 'pg_dump')
    proc = run_tool(argv, env, postgres.password_env(settings))
    if proc.returncode != 0:
        raise Failure('pg_dump', type='pg_dump', message='rc=%d: %s' % (proc.returncode, last_line(proc.stderr)))
    return os.path.getsize(path)


def pg_restore(conn, path, tools):
    """Put the dump PATH back into the database of CONN; returns the tables dropped first.

    Tables the migrations created are not in the dump, so ``--clean`` would
    leave them and a later migrate would trip on them: they are dropped
    first (only tables of the project's models).
    """
    settings = conn.settings_dict
    binary = tools['pg_restore'] or 'pg_restore'
    listing = run_tool([binary, '--list', path], {}, {})
    if listing.returncode != 0:
        raise Failure('pg_restore', type='pg_restore', message='--list: %s' % last_line(listing.stderr))
    try:
        extra = sorted(project_tables(conn) - set(postgres.toc_tables(listing.stdout)))
        if extra:
            with conn.cursor() as cursor:
                for table in extra:
                    cursor.execute('DROP TABLE IF EXISTS %s CASCADE' % conn.ops.quote_name(table))
        conn.close()
    except Exception as exc:
        raise Failure('connect', exc)
    argv, env = postgres.restore_command(settings, path, binary)
    proc = run_tool(argv, env, postgres.password_env(settings))
    if proc.returncode != 0:
        raise Failure('pg_restore', type='pg_restore', message='rc=%d: %s' % (proc.returncode, last_line(proc.stderr)))
    return extra


def sqlite(conn, mode, path, result):
    """The SQLite side of the job: the file's name and whether it exists; the copy for backup/restore."""
    if conn.is_in_memory_db():
        raise Failure('vendor', type='InMemoryDatabase', message='an in-memory SQLite database has nothing to back up')
    name = os.path.abspath(str(conn.settings_dict['NAME']))
    result.update(name=name, exists=os.path.isfile(name))
    if mode == 'backup' and result['exists']:
        result.update(sqlite_copy(name, path))
    elif mode == 'restore':
        result.update(sqlite_copy(path, name))


def postgresql(conn, mode, path, result):
    """The PostgreSQL side of the job: which client tools there are; the dump or the restore."""
    tools = dict((name, shutil.which(name)) for name in ('pg_dump', 'pg_restore'))
    result['tools'] = tools
    if mode == 'backup':
        result['size'] = pg_backup(conn.settings_dict, path, tools)
    elif mode == 'restore':
        result['dropped'] = pg_restore(conn, path, tools)


def run(params, settings):
    """The job: ``params['mode']`` on the database ``params['database']``."""
    from django.db import connections
    mode = params['mode']
    alias = params.get('database', 'default')
    path = params.get('path') or None
    if alias not in settings.DATABASES:
        raise Failure('database', type='UnknownDatabase',
                      message='not in settings.DATABASES (defined: %s)' % ', '.join(sorted(settings.DATABASES)))
    try:
        conn = connections[alias]
        vendor = conn.vendor
    except Exception as exc:
        raise Failure('backend', exc)
    result = {'vendor': vendor, 'database': alias, 'exists': True}
    if vendor == 'sqlite':
        sqlite(conn, mode, path, result)
    elif vendor == 'postgresql':
        postgresql(conn, mode, path, result)
    elif mode != 'probe':
        raise Failure('vendor', type='UnsupportedDatabase', message=vendor)
    return result
