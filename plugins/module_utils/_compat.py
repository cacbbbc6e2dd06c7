# -*- coding: utf-8 -*-
# Copyright: (c) 2026, simpledeploy developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Verdicts on pending Django migrations: reversible, and backward compatible.

Private to the collection: the interface may change without notice.

Pure functions over plain data, no Django import: the plan code that runs
inside the project's virtualenv (``in_django/plan.py``) only serialises each
operation into a dict, and :func:`judge_plan` decides here.

*Backward compatible* answers one question: can the release that runs now keep
running on the schema once the migration is applied (the old code during the
migration, or after a code-only rollback)? ``True``: yes; ``False``: it breaks
(a column or table it uses is gone or renamed, its inserts fail); ``None``:
unknown (data migrations, operations not in the catalogue). The catalogue
follows django-migration-linter's list of backward incompatible operations
(NOT NULL column without a database default, dropped or renamed column or
table, altered column, added unique constraint) and Django's own semantics
(a field's ``default`` is applied by Django, not kept in the database; only
``db_default``, Django 5.0+, is).

*Online safe* answers another: can the migration run while the old release
serves writes, without holding them for long? ``True``: every statement is
brief whatever the table's size (a new table, a nullable column, an index
built ``CONCURRENTLY``, a constraint or index dropped); ``False``: a statement
blocks the table's writes for as long as it takes (a plain ``CREATE INDEX``, a
column type change that rewrites the table, SQLite's table rebuild);
``None``: not known (data steps, raw SQL, other database vendors). A plan
that is backward compatible and online safe can be migrated before the new
release goes live (:func:`expand_verdict`).

*Reversible* is Django's: ``migrate`` back to the previous migration raises
IrreversibleError when an operation has no reverse (RunPython without
``reverse_code``, RunSQL without ``reverse_sql``).

An operation dict (what PLAN_CODE emits) has ``kind`` (class name), ``base``
(the Django operation class it is or derives from, else the same as kind),
``description``, ``reversible`` (Django's attribute), ``model``, ``before``
and ``after`` (the model in the project state before and after it: ``table``,
``applies`` (migrated on this database), ``unique_together``,
``order_with_respect_to``, ``m2m``; None when there is no such model), for
field operations ``field``, ``old`` and ``new`` (field facts: ``column``,
``null``, ``default``, ``db_default``, ``unique``, ``db_index``,
``primary_key``, ``many_to_many``, ``generated``, ``related``, ``db_type``,
``m2m_table``, ``class``, ``db_default_constant``; None when unknown) and, per kind, ``code``,
``reverse``, ``elidable``, ``constraint``, ``database_operations``.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type  # pylint: disable=invalid-name

import re

# Operations that change no schema an old release relies on.
STATE_ONLY = frozenset([
    'AlterModelOptions', 'AlterModelManagers', 'AlterModelTableComment',
])
INDEX_ONLY = frozenset([
    'AddIndex', 'RemoveIndex', 'RenameIndex', 'AlterIndexTogether',
    'AddIndexConcurrently', 'RemoveIndexConcurrently',
])

_SIZED_TYPE = re.compile(r'^\s*([A-Za-z][A-Za-z0-9 ]*?)\s*\(\s*(\d+)\s*\)\s*$')


def combine(verdicts):
    """False when any is False, else None when any is None, else True (True for none)."""
    verdicts = list(verdicts)
    if any(v is False for v in verdicts):
        return False
    if any(v is None for v in verdicts):
        return None
    return True


def _table(op, side='after'):
    facts = op.get(side) or op.get('before' if side == 'after' else 'after') or {}
    return facts.get('table') or op.get('model') or '?'


def _column(op, facts):
    name = (facts or {}).get('column') or op.get('field') or '?'
    return '%s.%s' % (_table(op), name)


def _widens(old_type, new_type):
    """True when ``new_type`` is ``old_type`` with a larger length (varchar(50) -> varchar(100))."""
    old = _SIZED_TYPE.match(old_type or '')
    new = _SIZED_TYPE.match(new_type or '')
    return bool(old and new and old.group(1).lower() == new.group(1).lower()
                and int(new.group(2)) > int(old.group(2)))


def _type_change(old, new):
    """(changed, old label, new label) for the column type of two field facts."""
    if old.get('db_type') and new.get('db_type'):
        return old['db_type'] != new['db_type'], old['db_type'], new['db_type']
    old_label = '%s(%s)' % (old.get('class'), old.get('max_length')) \
        if old.get('max_length') else old.get('class')
    new_label = '%s(%s)' % (new.get('class'), new.get('max_length')) \
        if new.get('max_length') else new.get('class')
    return old_label != new_label, old_label, new_label


def _add_field(op):
    new = op.get('new')
    if new is None:
        return None, ['could not read the field %s.%s that this operation adds'
                      % (_table(op), op.get('field'))]
    if new.get('many_to_many'):
        return True, []
    if new.get('null') or new.get('db_default') or new.get('generated'):
        return True, []
    hint = (' (its default is applied by Django, not kept in the database)'
            if new.get('default') else '')
    return False, ['adds NOT NULL column %s without a database default%s: the old release '
                   "leaves it out of its inserts, which then fail" % (_column(op, new), hint)]


def _remove_field(op):
    old = op.get('old') or {}
    if old.get('many_to_many'):
        where = 'table %s' % (old.get('m2m_table') or '%s_%s' % (_table(op, 'before'),
                                                                 op.get('field')))
        return False, ['drops %s: the old release still queries it (migrating back '
                       're-creates it empty)' % where]
    return False, ['drops column %s: the old release still selects it (migrating back '
                   're-creates it without its data)' % _column(op, old)]


def _rename_field(op):
    old, new = op.get('old'), op.get('new')
    if old is None or new is None:
        return False, ['renames field %s.%s: the old release still uses the old name'
                       % (_table(op), op.get('field'))]
    if old.get('many_to_many') or new.get('many_to_many'):
        if old.get('m2m_table') and old.get('m2m_table') == new.get('m2m_table'):
            return True, []
        return False, ['renames table %s to %s: the old release still uses the old name'
                       % (old.get('m2m_table'), new.get('m2m_table'))]
    if old.get('column') == new.get('column'):
        return True, []
    return False, ['renames column %s to %s: the old release still uses the old name'
                   % (_column(op, old), new.get('column'))]


def _alter_field(op):
    old, new = op.get('old'), op.get('new')
    if old is None or new is None:
        return None, ['could not read field %s.%s before and after this operation'
                      % (_table(op), op.get('field'))]
    column = _column(op, old)
    reasons = []
    if old.get('column') != new.get('column'):
        reasons.append('renames column %s to %s: the old release still uses the old name'
                       % (column, new.get('column')))
    if old.get('m2m_table') != new.get('m2m_table'):
        reasons.append('renames table %s to %s: the old release still uses the old name'
                       % (old.get('m2m_table'), new.get('m2m_table')))
    if old.get('null') and not new.get('null') and not new.get('many_to_many'):
        reasons.append('makes column %s NOT NULL: the old release may still write NULL'
                       % column)
    changed, old_type, new_type = _type_change(old, new)
    if changed and not new.get('many_to_many') and not _widens(old_type, new_type):
        reasons.append('changes the type of column %s from %s to %s: the old release may '
                       'write or expect values of the old type' % (column, old_type, new_type))
    if old.get('related') and new.get('related') and old['related'] != new['related']:
        reasons.append('points %s at %s instead of %s: the old release still writes keys of '
                       'the old table' % (column, new.get('related'), old.get('related')))
    if old.get('primary_key') != new.get('primary_key'):
        reasons.append('changes the primary key of %s: the old release still relies on the '
                       'old one' % _table(op))
    if new.get('unique') and not old.get('unique'):
        reasons.append('adds a unique constraint on column %s: inserts of the old release '
                       'may break it' % column)
    if new.get('db_check') and new.get('db_check') != old.get('db_check'):
        reasons.append('adds a check constraint (%s) on column %s: writes of the old release may break it'
                       % (new['db_check'], column))
    if old.get('db_default') and not new.get('db_default') and not new.get('null'):
        reasons.append('drops the database default of NOT NULL column %s: inserts of the old '
                       'release rely on it' % column)
    return (False, reasons) if reasons else (True, [])


def _model_table_change(op, what):
    before, after = op.get('before') or {}, op.get('after') or {}
    if not before or not after:
        return None, ['could not read model %s before and after this operation' % op.get('model')]
    if before.get('table') != after.get('table'):
        return False, ['renames table %s to %s: the old release still uses the old name'
                       % (before.get('table'), after.get('table'))]
    if what == 'model' and before.get('m2m'):
        return False, ['renames the many-to-many tables or columns named after model %s: the '
                       'old release still uses the old names' % op.get('model')]
    return True, []


def _alter_unique_together(op):
    before, after = op.get('before'), op.get('after')
    if before is None or after is None:
        return None, ['could not read the unique_together of %s before and after this '
                      'operation' % op.get('model')]
    old = set(tuple(item) for item in before.get('unique_together') or [])
    added = [list(item) for item in after.get('unique_together') or [] if tuple(item) not in old]
    if not added:
        return True, []
    return False, ['adds a unique constraint on %s (%s): inserts of the old release may '
                   'break it' % (_table(op), ', '.join(added[0]))]


def _alter_order(op):
    before, after = op.get('before'), op.get('after')
    if before is None or after is None:
        return None, ['could not read model %s before and after this operation' % op.get('model')]
    old, new = before.get('order_with_respect_to'), after.get('order_with_respect_to')
    if bool(old) == bool(new):
        return True, []
    if new:
        return False, ['adds NOT NULL column %s._order without a database default: the old '
                       'release leaves it out of its inserts, which then fail' % _table(op)]
    return False, ['drops column %s._order: the old release still selects it' % _table(op)]


def _add_constraint(op):
    constraint = op.get('constraint') or {}
    kind = constraint.get('class')
    name = constraint.get('name')
    if kind == 'UniqueConstraint':
        return False, ['adds unique constraint %s on %s: inserts of the old release may '
                       'break it' % (name, _table(op))]
    if kind == 'CheckConstraint':
        return None, ['adds check constraint %s on %s: whether every write of the old '
                      'release satisfies it is not known' % (name, _table(op))]
    return None, ['adds constraint %s (%s) on %s: not catalogued, its effect on the old '
                  'release is not known' % (name, kind, _table(op))]


def _run_python(op):
    if op.get('code') == 'noop':
        return True, []
    return None, ['runs Python code (%s): what it changes is not known'
                  % (op.get('code') or 'RunPython')]


def _run_sql(op):
    if op.get('sql') == 'noop':
        return True, []
    return None, ['runs raw SQL: what it changes is not known']


def _irreversible_reason(op):
    base = op.get('base') or op.get('kind')
    if base == 'RunPython':
        return ('RunPython %s has no reverse_code: migrating back fails (IrreversibleError)'
                % (op.get('code') or ''))
    if base == 'RunSQL':
        return 'RunSQL has no reverse_sql: migrating back fails (IrreversibleError)'
    return '%s cannot be reversed: migrating back fails (IrreversibleError)' % op.get('kind')


# ---------------------------------------------------------------- online safe

# A statement that reads or copies every row under the table's lock is brief on a table this small (rows, as the plan
# read them: PostgreSQL's estimate, SQLite's largest rowid).
SMALL_TABLE = 10000
# Column facts that reach PostgreSQL (when the plan could not ask Django's schema editor).
_DB_FACTS = ('column', 'db_type', 'null', 'unique', 'db_index', 'primary_key', 'related', 'db_default', 'm2m_table',
             'db_check', 'db_collation', 'db_constraint')


def _rows(op):
    return (op.get('before') or op.get('after') or {}).get('rows')


def _scan(op, what):
    """A statement that reads or copies every row of the table under its lock: (True, []) on a small table, else
    (False, [WHAT, with the table's size when known])."""
    rows = _rows(op)
    if rows is not None and rows <= SMALL_TABLE:
        return True, []
    size = ' (about %d rows)' % rows if rows is not None else ' (its size not known)'
    return False, [what.replace('%TABLE%', _table(op) + size, 1).replace('%TABLE%', _table(op))]


def _index_reason(what):
    return ('builds %s with a plain CREATE INDEX, which holds writes to %%TABLE%% until it is built: add it with '
            'AddIndexConcurrently (PostgreSQL, in a migration with atomic = False)' % what)


_REBUILD = 'SQLite rebuilds table %%TABLE%% to %s (a copy of every row): writes wait until it is done'


def _online_add_field(op, vendor):
    new = op.get('new')
    if new is None:
        return None, ['could not read the field %s.%s that this operation adds' % (_table(op), op.get('field'))]
    if new.get('many_to_many'):
        return True, []  # a new table
    column = _column(op, new)
    if new.get('generated'):
        return _scan(op, 'adds generated column %s: every row of %%TABLE%% is computed and written' % column)
    defaulted = new.get('effective_default')
    if defaulted is None:
        defaulted = new.get('default')
    if vendor == 'sqlite':
        # Django's sqlite3 add_field: ALTER TABLE ADD COLUMN only for these, else a copy of the table.
        if (not new.get('null') or defaulted or new.get('unique') or new.get('primary_key')
                or (new.get('db_default') and not new.get('db_default_constant'))):
            return _scan(op, _REBUILD % ('add column %s' % column))
    elif vendor == 'postgresql':
        if new.get('db_default') and not new.get('db_default_constant'):
            return _scan(op, 'adds column %s with a database default that is not a constant: PostgreSQL rewrites '
                             'every row of %%TABLE%%' % column)
    else:
        return None, ['adds column %s on %s: not judged for running while the old release serves'
                      % (column, vendor or 'an unknown database')]
    if new.get('related') and new.get('db_constraint', True):
        return _scan(op, 'adds foreign key %s: its constraint is checked against every row of %%TABLE%%' % column)
    if new.get('db_index') or new.get('unique') or new.get('related'):
        return _scan(op, _index_reason('an index on %s' % column))
    if new.get('db_check'):
        return _scan(op, 'adds column %s with a check constraint (%s), checked against every row of %%TABLE%%'
                     % (column, new['db_check']))
    return True, []


def _online_alter_field(op, vendor):
    old, new = op.get('old'), op.get('new')
    if old is None or new is None:
        return None, ['could not read field %s.%s before and after this operation' % (_table(op), op.get('field'))]
    alters = op.get('alters')
    if alters is False:
        return True, []  # Django's schema editor changes nothing (choices, help_text, verbose_name)
    column = _column(op, old)
    if vendor == 'sqlite':
        return _scan(op, _REBUILD % ('alter column %s' % column))
    if vendor != 'postgresql':
        return None, ['alters column %s on %s: not judged for running while the old release serves'
                      % (column, vendor or 'an unknown database')]
    changed = [key for key in _DB_FACTS if old.get(key) != new.get(key)]
    if alters is None and not changed and old.get('default') == new.get('default'):
        return True, []
    if old.get('related') or new.get('related'):
        # Django drops the foreign key's constraint and adds it again, checked against every row.
        return _scan(op, 'alters foreign key %s: Django drops its constraint and adds it again, checked against '
                         'every row of %%TABLE%%' % column)
    if old.get('unique') or old.get('primary_key'):
        return _scan(op, 'alters unique column %s: Django drops and adds again the constraints of the foreign keys '
                         'that point at it, each checked against every row' % column)
    reasons = []
    for key in changed:
        if key == 'null' and new.get('null'):
            continue  # DROP NOT NULL: the catalogue only
        if key == 'db_default':
            continue  # SET/DROP DEFAULT: the catalogue only
        if key == 'db_index' and not new.get('db_index'):
            continue  # DROP INDEX: brief
        if key == 'db_type' and _widens(old.get('db_type'), new.get('db_type')):
            continue  # a longer varchar: the catalogue only
        if key == 'db_index':
            found = _scan(op, _index_reason('an index on %s' % column))
        else:
            found = _scan(op, 'changes %s of column %s: PostgreSQL checks or rewrites every row of %%TABLE%%'
                          % (key.replace('_', ' '), column))
        reasons.extend(found[1])
    return (False, reasons) if reasons else (True, [])


def _online_unique_together(op):
    before, after = op.get('before') or {}, op.get('after') or {}
    old = set(tuple(item) for item in before.get('unique_together') or [])
    if all(tuple(item) in old for item in after.get('unique_together') or []):
        return True, []
    return _scan(op, _index_reason('a unique index on %TABLE%'))


def judge_online(op, vendor, new_tables=frozenset()):
    """Whether the serialised operation OP can run while the old release serves writes: (verdict, reasons).

    VENDOR is the database's (``postgresql``, ``sqlite``, ...); NEW_TABLES as for :func:`judge_operation`.
    A statement that reads or copies every row under the table's lock counts as brief on a table of at most
    SMALL_TABLE rows. Data steps (RunPython, RunSQL) are None here: :func:`expand_verdict` decides on them.
    """
    kind = op.get('kind') or '?'
    base = op.get('base') or kind
    model = op.get('after') or op.get('before') or {}
    if base == 'SeparateDatabaseAndState':
        inner = [judge_online(item, vendor, new_tables) for item in op.get('database_operations') or []]
        reasons = []
        for dummy, found in inner:
            reasons.extend(reason for reason in found if reason not in reasons)
        return combine(verdict for verdict, dummy in inner), reasons
    if base in ('RunPython', 'RunSQL'):
        if op.get('code') == 'noop' or op.get('sql') == 'noop':
            return True, []
        return None, ['a data step (%s): how long it holds rows is not known' % base]
    if model.get('applies') is False or base in STATE_ONLY:
        return True, []
    if base == 'CreateModel' or (op.get('before') and op['before'].get('table') in new_tables):
        return True, []  # a table of this plan: nothing serves from it yet
    if vendor not in ('postgresql', 'sqlite'):
        return None, ['%s on %s: not judged for running while the old release serves'
                      % (kind, vendor or 'an unknown database')]
    if base == 'AddField':
        return _online_add_field(op, vendor)
    if base == 'AlterField':
        return _online_alter_field(op, vendor)
    if base in ('AddIndexConcurrently', 'RemoveIndexConcurrently') or base == 'RemoveIndex':
        return True, []  # CONCURRENTLY, or a DROP INDEX: brief
    if base == 'RenameIndex':
        if vendor == 'postgresql':
            return True, []  # ALTER INDEX ... RENAME
        return _scan(op, _index_reason('index again on %TABLE%'))  # SQLite: DROP INDEX, CREATE INDEX
    if base == 'RemoveConstraint':
        if vendor == 'postgresql':
            return True, []
        return _scan(op, _REBUILD % 'drop a constraint')
    if base == 'AddIndex':
        return _scan(op, _index_reason('an index on %TABLE%'))
    if base == 'AlterUniqueTogether':
        return _online_unique_together(op)
    return None, ['%s: not judged for running while the old release serves' % kind]


def expand_verdict(migrations, data_steps=False):
    """Whether the judged pending MIGRATIONS (:func:`judge_plan`'s) can all run while the old release serves, before
    the new one goes live: (possible, reasons). Each operation must keep the old release working (backward
    compatible) and be online safe. A data step (RunPython) qualifies when DATA_STEPS is true and it has a reverse
    (a failure later can take it back). Pure."""
    if not migrations:
        return False, ['nothing to migrate']
    reasons = []
    for migration in migrations:
        for op in migration['operations']:
            label = '%s.%s (%s)' % (migration['app'], migration['name'], op['description'])
            if op.get('data_step'):
                if not data_steps:
                    reasons.append('%s: a data step, and data steps are not run first (expand_data_steps false)'
                                   % label)
                elif not op['reversible']:
                    reasons.append('%s: a data step without a reverse: a failure after it could not take it back'
                                   % label)
                continue
            if op['backward_compatible'] is not True:
                why = op['reasons'] or ['not known to keep the old release working']
                reasons.append('%s: %s' % (label, '; '.join(why)))
            elif op['online_safe'] is not True:
                reasons.append('%s: %s' % (label, '; '.join(op['online_reasons'])))
    return not reasons, reasons


_JUDGES = {
    'AddField': _add_field,
    'RemoveField': _remove_field,
    'RenameField': _rename_field,
    'AlterField': _alter_field,
    'RenameModel': lambda op: _model_table_change(op, 'model'),
    'AlterModelTable': lambda op: _model_table_change(op, 'table'),
    'AlterUniqueTogether': _alter_unique_together,
    'AlterOrderWithRespectTo': _alter_order,
    'AddConstraint': _add_constraint,
    'RunPython': _run_python,
    'RunSQL': _run_sql,
}


def judge_operation(op, new_tables=frozenset(), vendor=None):
    """Verdict on one serialised operation.

    ``new_tables``: tables created earlier in the same pending plan, which the
    old release does not use; ``vendor``: the database's, for the online
    verdict. Returns ``{kind, description, reversible, backward_compatible,
    reasons, online_safe, online_reasons, data_step}``.
    """
    kind = op.get('kind') or '?'
    base = op.get('base') or kind
    reasons = []
    inner = [judge_operation(item, new_tables, vendor) for item in op.get('database_operations') or []]
    reversible = bool(op.get('reversible', True)) and all(item['reversible'] for item in inner)
    if not op.get('reversible', True):
        reasons.append(_irreversible_reason(op))
    model = op.get('after') or op.get('before') or {}
    if base == 'SeparateDatabaseAndState':
        verdict = combine(item['backward_compatible'] for item in inner)
        for item in inner:
            reasons.extend(reason for reason in item['reasons'] if reason not in reasons)
    elif base in ('RunPython', 'RunSQL'):
        verdict, found = _JUDGES[base](op)
        reasons = found + reasons
    elif model.get('applies') is False:
        verdict = True  # unmanaged, proxy, or routed to another database: no schema change here
    elif base == 'CreateModel':
        verdict = True
    elif op.get('before') and op['before'].get('table') in new_tables:
        verdict = True  # the table came with this plan: the old release does not use it
    elif base == 'DeleteModel':
        verdict = False
        reasons.insert(0, 'drops table %s: the old release still queries it (migrating back '
                          're-creates it empty)' % _table(op, 'before'))
    elif base in STATE_ONLY or base in INDEX_ONLY or base == 'RemoveConstraint':
        verdict = True
    elif base in _JUDGES:
        verdict, found = _JUDGES[base](op)
        reasons = found + reasons
    else:
        verdict = None
        reasons.insert(0, '%s is not catalogued: its effect on the old release is not known'
                       % kind)
    online, online_reasons = judge_online(op, vendor, new_tables)
    return {
        'kind': kind,
        'description': op.get('description') or kind,
        'reversible': reversible,
        'backward_compatible': verdict,
        'reasons': reasons,
        'online_safe': online,
        'online_reasons': online_reasons,
        # Code of the project's that changes rows: expand_verdict decides on it.
        'data_step': base == 'RunPython' and op.get('code') != 'noop',
    }


def _created_tables(op):
    """Tables an operation creates (or renames a new table to)."""
    base = op.get('base') or op.get('kind')
    after = op.get('after') or {}
    if base == 'CreateModel' and after.get('table'):
        return [after['table']]
    found = []
    for item in op.get('database_operations') or []:
        found.extend(_created_tables(item))
    return found


def judge_plan(migrations, vendor=None):
    """Verdicts for the pending migrations, in plan order.

    ``migrations``: ``[{app, name, operations: [serialised operation]}]``;
    ``vendor``: the database's. Returns ``(migrations, summary)``: each
    migration as ``{app, name, operations, reversible, backward_compatible,
    reasons, online_safe}`` with judged operations, and ``summary``
    ``{reversible, backward_compatible, online_safe}`` over all of them (all
    True when nothing is pending).
    """
    new_tables = set()
    judged = []
    for migration in migrations:
        operations = []
        for op in migration.get('operations') or []:
            operations.append(judge_operation(op, frozenset(new_tables), vendor))
            new_tables.update(_created_tables(op))
            base = op.get('base') or op.get('kind')
            before, after = op.get('before') or {}, op.get('after') or {}
            if base in ('RenameModel', 'AlterModelTable') and before.get('table') in new_tables:
                new_tables.add(after.get('table'))
        reasons = []
        for op in operations:
            reasons.extend(reason for reason in op['reasons'] if reason not in reasons)
        judged.append({
            'app': migration['app'],
            'name': migration['name'],
            'operations': operations,
            'reversible': all(op['reversible'] for op in operations),
            'backward_compatible': combine(op['backward_compatible'] for op in operations),
            'reasons': reasons,
            'online_safe': combine(op['online_safe'] for op in operations),
        })
    summary = {
        'reversible': all(m['reversible'] for m in judged),
        'backward_compatible': combine(m['backward_compatible'] for m in judged),
        'online_safe': combine(m['online_safe'] for m in judged),
    }
    return judged, summary
