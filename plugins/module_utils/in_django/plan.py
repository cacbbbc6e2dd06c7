# -*- coding: utf-8 -*-
# Copyright (c) simpledeploy developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The ``plan`` job: what ``migrate`` would apply, as data, without changing anything.

Private to the simpledeploy.django collection: the interface may change.

Runs inside the project's Django process (see ``runner``). Reads the
migration plan the way ``migrate`` does (``MigrationExecutor``), walks the
project state operation by operation and describes each operation with the
facts ``_compat.judge_plan`` (on the module side) needs for its verdicts:
kinds, fields before and after, tables. Optionally runs the system checks and
the missing-migration check (``makemigrations --check``). It creates and
changes nothing: no database file, no ``django_migrations`` table.

Parameters: ``database`` (alias), ``check``, ``detect_missing`` (booleans).
Also reports the settings a health check needs (``settings_report``).
"""

from __future__ import absolute_import, division, print_function

import os
import re
import traceback

from .protocol import Failure

# Modules whose operation classes are Django's own: a subclass is described by the one it extends.
_DJANGO_OPERATIONS = ('django.db.migrations.operations', 'django.contrib.postgres.operations')


def base_kind(op):
    """The name of the Django operation class OP is (or extends)."""
    for cls in type(op).__mro__:
        if (getattr(cls, '__module__', '') or '').startswith(_DJANGO_OPERATIONS):
            return cls.__name__
    return type(op).__name__


def describe(op):
    """OP as ``migrate`` describes it when it applies it (else its own describe())."""
    try:
        from django.core.management.commands.migrate import Command
        return Command.describe_operation(op, False)[0]
    except Exception:
        try:
            return op.describe()
        except Exception:
            return type(op).__name__


def model_facts(state, op, app, name, alias):
    """Facts of the model APP.NAME in STATE (None when it is not there)."""
    try:
        model = state.apps.get_model(app, name)
    except LookupError:
        return None
    meta = model._meta
    facts = {'table': meta.db_table, 'applies': True, 'm2m': False,
             'unique_together': sorted(list(t) for t in meta.unique_together),
             'order_with_respect_to': None}
    order = meta.order_with_respect_to
    if order:
        facts['order_with_respect_to'] = str(getattr(order, 'name', order))
    try:
        facts['applies'] = bool(op.allow_migrate_model(alias, model))
    except Exception:
        pass
    try:
        facts['m2m'] = any(
            f.remote_field.through._meta.auto_created and f.related_model is not model
            for f in meta.local_many_to_many) or any(
            r.many_to_many and r.through._meta.auto_created for r in meta.related_objects)
    except Exception:
        pass
    return facts


def field_facts(state, app, model_name, name, conn):
    """Facts of the field NAME of APP.MODEL_NAME in STATE (None when it is not there)."""
    from django.db.models.fields import NOT_PROVIDED
    try:
        field = state.apps.get_model(app, model_name)._meta.get_field(name)
    except Exception:
        return None
    from django.db.models import Value
    db_default = getattr(field, 'db_default', NOT_PROVIDED)
    facts = {'class': type(field).__name__, 'column': getattr(field, 'column', None) or None,
             'null': bool(field.null), 'default': bool(field.has_default()),
             'db_default': db_default is not NOT_PROVIDED,
             # A constant is kept in the catalogue (PostgreSQL 11+); an expression (Now()) rewrites the table.
             'db_default_constant': isinstance(db_default, Value),
             'unique': bool(field.unique), 'db_index': bool(field.db_index),
             'primary_key': bool(field.primary_key), 'many_to_many': bool(field.many_to_many),
             'generated': bool(getattr(field, 'generated', False)),
             'max_length': getattr(field, 'max_length', None),
             'related': None, 'db_type': None, 'm2m_table': None}
    related = getattr(field, 'related_model', None)
    if isinstance(related, str):
        facts['related'] = related.lower()
    elif related is not None:
        facts['related'] = related._meta.label_lower
    try:
        facts['db_type'] = field.db_type(conn)
        facts['db_check'] = field.db_parameters(connection=conn).get('check')
    except Exception:
        pass
    facts['db_collation'] = getattr(field, 'db_collation', None)
    facts['db_constraint'] = bool(getattr(field, 'db_constraint', False))
    try:
        # What Django's schema editor puts in the column for existing rows (auto_now_add's now() included).
        facts['effective_default'] = conn.schema_editor().effective_default(field) is not None
    except Exception:
        facts['effective_default'] = None
    if field.many_to_many:
        try:
            facts['m2m_table'] = field.m2m_db_table()
        except Exception:
            pass
    return facts


def _names(op):
    """((model before, model after), (field before, field after)) that OP is about."""
    from django.db.migrations import operations as ops
    if isinstance(op, ops.RenameModel):
        models = (op.old_name, op.new_name)
    elif hasattr(op, 'model_name'):
        models = (op.model_name, op.model_name)
    elif isinstance(op, ops.models.ModelOperation):
        models = (op.name, op.name)
    else:
        models = (None, None)
    if isinstance(op, ops.RenameField):
        fields = (op.old_name, op.new_name)
    elif isinstance(op, ops.fields.FieldOperation):
        fields = (op.name, op.name)
    else:
        fields = (None, None)
    return models, fields


def _code_name(code):
    from django.db.migrations import operations as ops
    if code is None:
        return None
    if code is ops.RunPython.noop:
        return 'noop'
    return getattr(code, '__name__', None) or repr(code)


def _sql_name(sql):
    if sql is None:
        return None
    return 'noop' if sql in ('', []) else 'sql'


def operation_kind_facts(op):
    """What a RunPython, RunSQL or AddConstraint operation holds (code, reverse, elidable)."""
    from django.db.migrations import operations as ops
    if isinstance(op, ops.RunPython):
        return {'code': _code_name(op.code), 'reverse': _code_name(op.reverse_code), 'elidable': bool(op.elidable)}
    if isinstance(op, ops.RunSQL):
        return {'sql': _sql_name(op.sql), 'reverse': _sql_name(op.reverse_sql),
                'elidable': bool(op.elidable)}
    if isinstance(op, ops.AddConstraint):
        return {'constraint': {'class': type(op.constraint).__name__, 'name': getattr(op.constraint, 'name', None)}}
    return {}


class States(object):
    """The project state, walked operation by operation as ``migrate`` would.

    When a state cannot be built or advanced (a custom operation that fails
    outside a real migrate), the walk stops (``ok`` false) and operations are
    described without their before/after facts.
    """

    def __init__(self, loader, applied, alias, conn, exists=True):
        from django.db.migrations.state import ProjectState
        self.alias, self.conn, self.ok, self.state = alias, conn, True, None
        # No database yet (a SQLite file that does not exist): never connect, it would create it.
        self.sizes, self.exists = {}, exists
        nodes = [key for key in applied if key in loader.graph.nodes]
        try:
            if nodes:
                self.state = loader.project_state(nodes, at_end=True)
            else:
                self.state = ProjectState(real_apps=loader.unmigrated_apps)
            self.state.apps  # pylint: disable=pointless-statement  # render the models once, as migrate does
        except Exception:
            traceback.print_exc()
            self.ok = False

    def model(self, state, op, app, name):
        if not self.ok or not name:
            return None
        try:
            facts = model_facts(state, op, app, name, self.alias)
        except Exception:
            traceback.print_exc()
            return None
        if facts is not None:
            facts['rows'] = self.rows(facts['table'])
        return facts

    def rows(self, table):
        """About how many rows TABLE holds now (None: not known, or no such table yet), read once per table:
        PostgreSQL's planner estimate (or, never analyzed, a count that stops past 10,000 rows), SQLite's largest
        rowid; never a full scan."""
        if table not in self.sizes:
            self.sizes[table] = None
            if not self.exists:
                return None
            try:
                with self.conn.cursor() as cursor:
                    if self.conn.vendor == 'postgresql':
                        cursor.execute('SELECT reltuples::bigint FROM pg_class WHERE oid = to_regclass(%s)', [table])
                        found = cursor.fetchone()
                        if found and found[0] is not None and found[0] >= 0:
                            self.sizes[table] = found[0]
                        elif found:
                            # -1: never analyzed (PostgreSQL 14+): counted, up to one row past a small table
                            cursor.execute('SELECT count(*) FROM (SELECT 1 FROM %s LIMIT 10001) AS rows'
                                           % self.conn.ops.quote_name(table))
                            self.sizes[table] = cursor.fetchone()[0]
                    elif self.conn.vendor == 'sqlite':
                        cursor.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = %s", [table])
                        if cursor.fetchone():
                            cursor.execute('SELECT coalesce(max(rowid), 0) FROM %s' % self.conn.ops.quote_name(table))
                            self.sizes[table] = cursor.fetchone()[0]
            except Exception:
                self.sizes[table] = None
        return self.sizes[table]

    def field(self, state, app, model_name, name):
        if not self.ok or not name or not model_name:
            return None
        return field_facts(state, app, model_name, name, self.conn)

    def field_object(self, state, app, model_name, name):
        if not self.ok or not name or not model_name:
            return None
        try:
            return state.apps.get_model(app, model_name)._meta.get_field(name)
        except Exception:
            return None

    def alters(self, old, new):
        """Whether Django's schema editor changes the column from OLD to NEW (None: not known)."""
        if old is None or new is None:
            return None
        try:
            return bool(self.conn.schema_editor()._field_should_be_altered(old, new))
        except Exception:
            return None

    def operation(self, op, app, state=None):
        """Describe OP, advancing STATE (the walked one by default) past it."""
        from django.db.migrations import operations as ops
        state = self.state if state is None else state
        data = {'kind': type(op).__name__, 'base': base_kind(op), 'description': describe(op),
                'reversible': bool(getattr(op, 'reversible', True))}
        models, fields = _names(op)
        data['model'] = models[1]
        data['before'] = self.model(state, op, app, models[0])
        old_field = None
        if fields[0]:
            data['field'] = fields[1]
            data['old'] = self.field(state, app, models[0], fields[0])
            old_field = self.field_object(state, app, models[0], fields[0])
        data.update(operation_kind_facts(op))
        if isinstance(op, ops.SeparateDatabaseAndState):
            inner = state.clone() if self.ok else None
            data['database_operations'] = [self.operation(o, app, inner) for o in op.database_operations]
        if self.ok and state is not None:
            try:
                op.state_forwards(app, state)
            except Exception:
                traceback.print_exc()
                self.ok = False
        data['after'] = self.model(state, op, app, models[1])
        if fields[1]:
            data['new'] = self.field(state, app, models[1], fields[1])
            if isinstance(op, ops.AlterField):
                data['alters'] = self.alters(old_field, self.field_object(state, app, models[1], fields[1]))
        return data


def operations(loader, plan, applied, alias, conn, exists=True):
    """``[{app, name, operations}]`` for the migrations of PLAN, in order."""
    states = States(loader, applied, alias, conn, exists)
    found = []
    for migration in plan:
        described = []
        for op in migration.operations:
            try:
                described.append(states.operation(op, migration.app_label))
            except Exception:
                traceback.print_exc()
                states.ok = False
                described.append({'kind': type(op).__name__, 'base': base_kind(op), 'description': describe(op),
                                  'reversible': bool(getattr(op, 'reversible', True))})
        found.append({'app': migration.app_label, 'name': migration.name, 'operations': described})
    return found


def missing_migrations(loader):
    """``{app: [description]}`` of model changes that have no migration (``makemigrations --check``)."""
    from django.apps import apps
    from django.db.migrations.autodetector import MigrationAutodetector
    from django.db.migrations.questioner import NonInteractiveMigrationQuestioner
    from django.db.migrations.state import ProjectState

    class Questioner(NonInteractiveMigrationQuestioner):
        # The stock one exits (sys.exit(3)) where makemigrations would need a default.
        def ask_not_null_addition(self, field_name, model_name):
            return None

        def ask_auto_now_add_addition(self, field_name, model_name):
            return None

    questioner = Questioner(specified_apps=set(), dry_run=True, verbosity=0, log=lambda *args, **kwargs: None)
    detector = MigrationAutodetector(loader.project_state(), ProjectState.from_apps(apps), questioner)
    changes = detector.changes(graph=loader.graph)
    return dict((app, [op.describe() for m in migrations for op in m.operations]) for app, migrations in changes.items())


def system_checks():
    """Warnings of Django's system checks; raises Failure at stage ``checks`` on an error."""
    from django.core import checks
    try:
        found = [m for m in checks.run_checks() if not m.is_silenced()]
    except Exception as exc:
        raise Failure('checks', exc)
    warnings = [str(m) for m in found if not m.is_serious()]
    errors = [str(m) for m in found if m.is_serious()]
    if errors:
        raise Failure('checks', type='SystemCheckError', messages=errors, warnings=warnings)
    return warnings


def connection(settings, alias):
    """The connection of ALIAS, its vendor and where it points; raises Failure."""
    from django.db import connections
    if alias not in settings.DATABASES:
        raise Failure('database', type='UnknownDatabase', defined=sorted(settings.DATABASES))
    try:
        conn = connections[alias]
        vendor = conn.vendor
    except Exception as exc:
        raise Failure('backend', exc)
    return conn, vendor


def _loader(conn, vendor, where, exists):
    """(executor or None, loader): the executor reads what is applied, when there is a database."""
    from django.db.migrations.loader import MigrationLoader
    if not exists:
        return None, MigrationLoader(None, ignore_no_migrations=True)
    from django.db.migrations.executor import MigrationExecutor
    try:
        conn.ensure_connection()
        executor = MigrationExecutor(conn)
    except Exception as exc:
        raise Failure('connect', exc, vendor=vendor, **where)
    return executor, executor.loader


def pending(executor, loader, conn):
    """The migrations migrate would apply, in order (all of them when there is no database yet)."""
    from django.db.migrations.exceptions import InconsistentMigrationHistory
    conflicts = loader.detect_conflicts()
    if conflicts:
        raise Failure('conflicts', type='ConflictingMigrations',
                      conflicts=dict((a, sorted(n)) for a, n in conflicts.items()))
    if executor is None:
        found, seen = [], set()
        for target in loader.graph.leaf_nodes():
            for key in loader.graph.forwards_plan(target):
                if key not in seen:
                    seen.add(key)
                    found.append(loader.graph.nodes[key])
        return found
    try:
        loader.check_consistent_history(conn)
    except InconsistentMigrationHistory as exc:
        raise Failure('history', exc)
    return [migration for migration, dummy in executor.migration_plan(loader.graph.leaf_nodes())]


def applied_leaves(loader, applied):
    """``[{app, name}]``: per app, the applied migrations no applied migration of that app follows."""
    leaves = []
    for key in sorted(applied):
        if key not in loader.graph.node_map:
            continue
        kids = [c.key for c in loader.graph.node_map[key].children if c.key[0] == key[0]]
        if not any(k in applied for k in kids):
            leaves.append({'app': key[0], 'name': key[1]})
    return leaves


def known_leaves(loader):
    """``[{app, name}]``: per app with migrations, the last migration this code knows (its graph's leaves)."""
    return [{'app': app, 'name': name} for app, name in sorted(loader.graph.leaf_nodes())]


IDENTIFIER = re.compile(r'^[A-Za-z0-9_]+$')


def _number(name):
    """The leading number of a migration's name (``0003_x`` -> 3), or None."""
    digits = re.match(r'^([0-9]+)_', name)
    return int(digits.group(1)) if digits else None


def unknown_applied(loader, applied):
    """``(ahead, leftover)``, both ``[{app, name}]``: rows of django_migrations, of apps this code has migrations for,
    that this code knows neither as a file nor as one a squashed migration replaces.

    LEFTOVER: numbered at or below this code's last migration of the app (files deleted or squashed away
    since, which ``migrate --prune`` forgets). AHEAD: the others, a newer release's, so the database is ahead
    of this code. A row whose app or name is not an identifier (a module name) is no migration at all and is
    left out of both: the database's text, which its user can write, never reaches the output unchecked."""
    known = set(loader.disk_migrations)
    for migration in loader.replacements.values():
        known.update(tuple(key) for key in migration.replaces)
    last = {}
    for app, name in loader.disk_migrations:
        number = _number(name)
        if number is not None:
            last[app] = max(last.get(app, number), number)
    ahead, leftover = [], []
    for app, name in sorted(applied):
        if app not in loader.migrated_apps or (app, name) in known:
            continue
        if not (IDENTIFIER.match(app) and IDENTIFIER.match(name)):
            continue
        number = _number(name)
        older = number is not None and app in last and number <= last[app]
        (leftover if older else ahead).append({'app': app, 'name': name})
    return ahead, leftover


def judged(loader, applied, names, alias, conn, exists):
    """The applied migrations NAMES (``app.name``) as this code knows them, judged as if they were still to run
    (the release before them then runs on the schema they made): (their reports in graph order, the names this
    code does not know either)."""
    keys = set(tuple(name.split('.', 1)) for name in names if '.' in name)
    known = set(key for key in keys if key in loader.graph.nodes)
    order, seen = [], set()
    for key in sorted(known):
        for node in loader.graph.forwards_plan(key):
            if node in known and node not in seen:
                seen.add(node)
                order.append(node)
    plan = [loader.graph.nodes[key] for key in order]
    reports = operations(loader, plan, set(applied) - known, alias, conn, exists)
    return reports, sorted('%s.%s' % key for key in keys - known)


def settings_report(settings):
    """What a request must carry for the project to answer it (the health check's Host and headers), and
    DEBUG: ``allowed_hosts``, ``secure_proxy_ssl_header`` (a pair or None), ``debug``."""
    header = getattr(settings, 'SECURE_PROXY_SSL_HEADER', None)
    return {'allowed_hosts': [str(host) for host in getattr(settings, 'ALLOWED_HOSTS', None) or ()],
            'secure_proxy_ssl_header': [str(part) for part in header] if header else None,
            'debug': bool(getattr(settings, 'DEBUG', False))}


def run(params, settings):
    """The job: the plan of the database ``params['database']``, with the optional checks."""
    import django
    alias = params.get('database', 'default')
    result = {'django_version': django.get_version(), 'database': alias, 'settings': settings_report(settings)}
    if params.get('check'):
        result['checks'] = system_checks()
    conn, vendor = connection(settings, alias)
    where = dict((k, str(conn.settings_dict.get(k) or '')) for k in ('NAME', 'HOST', 'PORT'))
    exists = True
    if vendor == 'sqlite' and not conn.is_in_memory_db():
        exists = os.path.exists(str(conn.settings_dict['NAME']))
    result.update(vendor=vendor, database_exists=exists, location=dict((k.lower(), v) for k, v in where.items()))
    executor, loader = _loader(conn, vendor, where, exists)
    plan = pending(executor, loader, conn)
    applied = set(loader.applied_migrations or ())
    result['applied_leaves'] = applied_leaves(loader, applied)
    result['known_leaves'] = known_leaves(loader)
    result['unknown_applied'], result['leftover_applied'] = unknown_applied(loader, applied)
    result['migrations'] = operations(loader, plan, applied, alias, conn, exists)
    if params.get('judge'):
        result['judged'], result['judged_unknown'] = judged(loader, applied, params['judge'], alias, conn, exists)
    if params.get('detect_missing'):
        try:
            result['missing_migrations'] = missing_migrations(loader)
        except (Exception, SystemExit) as exc:
            raise Failure('missing', exc)
    return result
