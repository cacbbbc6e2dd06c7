# -*- coding: utf-8 -*-
# Copyright (c) simpledeploy developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The ``migrate`` job: Django's own ``migrate``, one at a time per database.

Private to the simpledeploy.django collection: the interface may change.

Runs inside the project's Django process (see ``runner``). On PostgreSQL it
first takes a session-level advisory lock on a connection of its own (so
nothing ``migrate`` does to its connection can drop it): two runs on hosts
that share the database never migrate it at once, and the one that waited
finds nothing left to apply, since ``migrate`` reads the plan again under the
lock. The lock goes with the session: a killed child never leaves it held.
``migrate`` prints its progress on stdout as it goes (the module side reads
the "Applying ..." lines even when the child dies).

Also on PostgreSQL, every connection of the alias (a reconnect included) runs
with ``lock_timeout``: a migration whose ``ALTER TABLE`` waits behind a long
transaction would otherwise queue every query of the live site behind it. A
migrate that hits it is run again after a backoff (Django reads the plan
again: what was applied stays applied; an atomic migration was rolled back
whole), after dropping an index a failed ``CREATE INDEX CONCURRENTLY`` of the
plan left invalid, until ``retry_budget`` seconds have passed. Each try names
the sessions that held a lock on the plan's tables, with their query and
age. ``statement_timeout`` is left alone: an index build may take long.

Parameters: ``database`` (alias), ``args`` (migrate's arguments, e.g.
``[app, target]``), ``targets`` (instead of ``args``: ``[[app, target], ...]``,
one migrate each, in order, under the one lock), ``lock_key`` (the advisory lock's bigint), ``lock_timeout``
(seconds), ``table_lock_timeout`` (seconds, 0 for none), ``retry_budget``
(seconds). Result: ``{vendor, lock, waited, retries}``.
"""

from __future__ import absolute_import, division, print_function

import re
import sys
import time

from .protocol import Failure

# Seconds between two tries for the advisory lock.
_POLL = 0.2
# PostgreSQL's SQLSTATE for "canceling statement due to lock timeout".
LOCK_NOT_AVAILABLE = '55P03'
# Backoff between two migrate tries after a lock timeout: the first wait, the longest.
_BACKOFF = (0.5, 8.0)
# How much of a blocking session's query a message shows.
_QUERY_SHOWN = 200


def lock_timed_out(exc):
    """Whether EXC (Django's wrapper, or what it wraps) is PostgreSQL's lock timeout."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if (getattr(exc, 'pgcode', None) or getattr(exc, 'sqlstate', None)) == LOCK_NOT_AVAILABLE:
            return True
        exc = exc.__cause__ or exc.__context__
    return False


def backoff(attempt, first=_BACKOFF[0], longest=_BACKOFF[1]):
    """Seconds to wait before try ATTEMPT + 1 (0-based): doubling, capped."""
    return min(first * 2 ** attempt, longest)


def apply_lock_timeout(alias, seconds):
    """Every connection of ALIAS opened from now on runs with lock_timeout SECONDS (a session setting, so it
    holds across migrate's transactions; set again on a reconnect). The open one is closed first."""
    from django.db import connections
    from django.db.backends.signals import connection_created

    def on_connect(sender, connection, **kwargs):
        if connection.alias == alias and connection.vendor == 'postgresql':
            connection.simpledeploy_lock_timeout = '%dms' % int(seconds * 1000)
            with connection.cursor() as cursor:
                cursor.execute("SELECT set_config('lock_timeout', %s, false)", [connection.simpledeploy_lock_timeout])

    connection_created.connect(on_connect, weak=False)
    connections[alias].close()
    return on_connect


def plan_tables_and_indexes(alias):
    """(tables, concurrent index names) of the migrations ``migrate`` would apply: the tables of their apps'
    models, and the names AddIndexConcurrently gives."""
    from django.apps import apps
    from django.db import connections
    from django.db.migrations.executor import MigrationExecutor
    executor = MigrationExecutor(connections[alias])
    plan = executor.migration_plan(executor.loader.graph.leaf_nodes())
    tables, indexes = set(['django_migrations']), set()
    for migration, dummy in plan:
        try:
            config = apps.get_app_config(migration.app_label)
            tables.update(model._meta.db_table for model in config.get_models(include_auto_created=True))
        except LookupError:
            pass
        for op in migration.operations:
            if type(op).__name__ == 'AddIndexConcurrently':
                indexes.add(op.index.name)
    return sorted(tables), sorted(indexes)


_LITERAL = re.compile(r"(?:[EeBbXxNn]?'(?:[^']|'')*')|(?:\$\$.*?\$\$)|(?<![\w.\"$])-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?",
                      re.DOTALL)


def shape(query):
    """QUERY with its literals (strings, numbers) shown as ?: what it does, never the values it carries (with
    Django's client-side binding they are in the text: a session key, a token)."""
    return ' '.join(_LITERAL.sub('?', query or '').split())


def blockers(conn, tables, exclude=()):
    """The sessions that hold a lock on one of TABLES: [{pid, seconds, state, query, table}], oldest first. When
    none does, the open transactions of the database, oldest first (table None): CREATE INDEX CONCURRENTLY waits
    for every transaction older than it, whatever it reads."""
    age = "EXTRACT(EPOCH FROM now() - COALESCE(a.xact_start, a.query_start))::float8"
    with conn.cursor() as cursor:
        cursor.execute(
            "SELECT DISTINCT a.pid, " + age + ", a.state, a.query, c.relname FROM pg_locks l "
            "JOIN pg_stat_activity a ON a.pid = l.pid JOIN pg_class c ON c.oid = l.relation "
            "WHERE l.granted AND l.pid <> pg_backend_pid() AND NOT (l.pid = ANY(%s::int[])) "
            "AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database()) "
            "AND c.relname = ANY(%s::text[]) ORDER BY 2 DESC", [list(exclude), list(tables)])
        rows = cursor.fetchall()
        if not rows:
            cursor.execute(
                "SELECT a.pid, " + age + ", a.state, a.query, NULL FROM pg_stat_activity a "
                "WHERE a.datname = current_database() AND a.xact_start IS NOT NULL AND a.pid <> pg_backend_pid() "
                "AND NOT (a.pid = ANY(%s::int[])) ORDER BY 2 DESC LIMIT 3", [list(exclude)])
            rows = cursor.fetchall()
    found = []
    for pid, seconds, state, query, table in rows:
        shown = shape(query)
        found.append({'pid': pid, 'seconds': round(seconds or 0.0, 1), 'state': state, 'table': table,
                      'query': shown[:_QUERY_SHOWN] + ('...' if len(shown) > _QUERY_SHOWN else '')})
    return found


def drop_invalid_indexes(conn, names, seconds):
    """Drop the indexes among NAMES (in the current schema) that a failed CREATE INDEX CONCURRENTLY left invalid,
    each waiting at most SECONDS for its lock; returns [(name, None or why it was not dropped)]."""
    done = []
    with conn.cursor() as cursor:
        cursor.execute("SELECT n.nspname, c.relname FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
                       "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE NOT i.indisvalid "
                       "AND n.nspname = current_schema() AND c.relname = ANY(%s::text[])", [list(names)])
        found = cursor.fetchall()
        for schema, name in found:
            try:
                cursor.execute("SELECT set_config('lock_timeout', %s, false)", ['%dms' % max(int(seconds * 1000), 1)])
                cursor.execute('DROP INDEX CONCURRENTLY IF EXISTS %s.%s'
                               % (conn.ops.quote_name(schema), conn.ops.quote_name(name)))
                done.append((name, None))
            except Exception as exc:
                done.append((name, str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__))
            finally:
                try:
                    cursor.execute("SELECT set_config('lock_timeout', '0', false)")
                except Exception:
                    pass
    return done


def untimed_concurrently(execute, sql, params, many, context):
    """An execute_wrapper: a CREATE/DROP INDEX CONCURRENTLY runs without lock_timeout. It holds no write of the
    site while it waits (it waits for older transactions), and a timeout there would leave an invalid index behind
    a migration that applied part of its operations (atomic = False), which a second try cannot go over."""
    if 'CONCURRENTLY' not in (sql or '').upper():
        return execute(sql, params, many, context)
    raw = context['cursor'].cursor
    raw.execute("SELECT set_config('lock_timeout', '0', false)")
    try:
        return execute(sql, params, many, context)
    finally:
        raw.execute("SELECT set_config('lock_timeout', %s, false)",
                    [getattr(context['connection'], 'simpledeploy_lock_timeout', '0')])


def failed_migration_is_atomic(alias):
    """Whether the first migration still to apply (the one that just failed) runs in one transaction: only then
    did its failure leave nothing of it behind, and a second try starts clean."""
    from django.db import connections
    from django.db.migrations.executor import MigrationExecutor
    try:
        executor = MigrationExecutor(connections[alias])
        plan = executor.migration_plan(executor.loader.graph.leaf_nodes())
    except Exception:
        return False
    return not plan or bool(getattr(plan[0][0], 'atomic', True))


def describe_blockers(found):
    """One phrase naming the sessions that held the tables."""
    if not found:
        return 'no session held a lock on its tables when it was looked at'
    return '; '.join('pid %s %s, %s for %s s, running: %s' % (
        item['pid'], 'on %s' % item['table'] if item['table'] else 'in an open transaction', item['state'],
        item['seconds'], item['query']) for item in found[:3])


def migrate_retrying(command, conn, alias, budget, seconds, retries, clock=time.monotonic, sleep=time.sleep):
    """COMMAND (migrate) until it does not hit the lock timeout (SECONDS), or BUDGET seconds are spent; each try that
    hit it goes into RETRIES ({after, blockers, dropped}). CONN: a connection of its own, for looking at locks.
    A migration with atomic = False that hit it is not tried again (part of it may be applied). Raises Failure at
    stage migrate, naming the blockers, when it gives up."""
    from django.db import connections
    start = clock()
    tables, indexes = plan_tables_and_indexes(alias)
    if indexes:
        # Left by an earlier run that failed or was killed: Django would stop on the name.
        for name, why in drop_invalid_indexes(conn, indexes, seconds):
            retries.append({'after': 0.0, 'blockers': [], 'dropped': [name] if why is None else []})
    attempt = 0
    while True:
        try:
            with connections[alias].execute_wrapper(untimed_concurrently):
                command()
            return retries
        except Exception as exc:
            if not lock_timed_out(exc):
                raise
            mine = []
            try:
                with connections[alias].cursor() as cursor:
                    cursor.execute('SELECT pg_backend_pid()')
                    mine = [cursor.fetchone()[0]]
            except Exception:
                pass
            found = blockers(conn, tables, mine)
            dropped = drop_invalid_indexes(conn, indexes, seconds) if indexes else []
            wait = backoff(attempt)
            retries.append({'after': round(clock() - start, 3), 'blockers': found,
                            'dropped': [name for name, why in dropped if why is None]})
            atomic = failed_migration_is_atomic(alias)
            if not atomic or clock() - start + wait > budget:
                why = ('its migration runs with atomic = False, so part of it may be applied and it is not tried '
                       'again' if not atomic else '%d tries over %.1f s (retry budget %g s)'
                       % (attempt + 1, clock() - start, budget))
                message = ('a table lock it needs was not free within lock_timeout (%g s); %s: %s'
                           % (seconds, why, describe_blockers(found)))
                raise Failure('migrate', exc, type='LockTimeout', message=message)
            sleep(wait)
            attempt += 1


def take_advisory_lock(conn, key, timeout, clock=time.monotonic, sleep=time.sleep):
    """Wait until the PostgreSQL session of CONN holds the advisory lock KEY; returns the seconds waited.

    Raises Failure at stage ``lock`` when TIMEOUT seconds pass first.
    """
    start = clock()
    with conn.cursor() as cursor:
        while True:
            cursor.execute('SELECT pg_try_advisory_lock(%s)', [key])
            if cursor.fetchone()[0]:
                return round(clock() - start, 3)
            if clock() - start >= timeout:
                raise Failure('lock', type='LockTimeout',
                              message='another migrate held the advisory lock %d for more than %g s' % (key, timeout),
                              waited=round(clock() - start, 3))
            sleep(_POLL)


def run(params, settings):
    """The job: ``migrate ARGS`` on the database ``params['database']``, under the lock."""
    from django.core.management import call_command
    from django.db import connections
    alias = params.get('database', 'default')
    if alias not in settings.DATABASES:
        raise Failure('database', type='UnknownDatabase',
                      message='not in settings.DATABASES (defined: %s)' % ', '.join(sorted(settings.DATABASES)))
    try:
        vendor = connections[alias].vendor
    except Exception as exc:
        raise Failure('backend', exc)
    result = {'vendor': vendor, 'lock': None, 'waited': 0.0, 'retries': []}
    lock = None
    table_lock_timeout = float(params.get('table_lock_timeout') or 0)

    def command():
        # TARGETS: one migrate per [app, name], in order (a rollback takes several apps back).
        for args in params.get('targets') or [params.get('args', [])]:
            call_command('migrate', *args, database=alias, interactive=False, verbosity=1)

    try:
        if vendor == 'postgresql':
            key = int(params['lock_key'])
            try:
                # A connection of its own: migrate may close or reset the default one.
                lock = connections.create_connection(alias)
                result['waited'] = take_advisory_lock(lock, key, float(params['lock_timeout']))
            except Failure:
                raise
            except Exception as exc:
                raise Failure('lock', exc)
            result['lock'] = 'postgresql advisory lock %d' % key
        try:
            if vendor == 'postgresql' and table_lock_timeout > 0:
                apply_lock_timeout(alias, table_lock_timeout)
                migrate_retrying(command, lock, alias, float(params.get('retry_budget') or 0), table_lock_timeout,
                                 result['retries'])
            else:
                command()
        except Failure as failure:
            failure.extra = dict(result, **failure.extra)
            raise
        except Exception as exc:
            raise Failure('migrate', exc, **result)
    finally:
        if lock is not None:
            try:
                lock.close()
            except Exception:
                pass
    sys.stdout.flush()
    return result
