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
``m2m_table``, ``class``; None when unknown) and, per kind, ``code``,
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


def judge_operation(op, new_tables=frozenset()):
    """Verdict on one serialised operation.

    ``new_tables``: tables created earlier in the same pending plan, which the
    old release does not use. Returns ``{kind, description, reversible,
    backward_compatible, reasons}``.
    """
    kind = op.get('kind') or '?'
    base = op.get('base') or kind
    reasons = []
    inner = [judge_operation(item, new_tables) for item in op.get('database_operations') or []]
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
    return {
        'kind': kind,
        'description': op.get('description') or kind,
        'reversible': reversible,
        'backward_compatible': verdict,
        'reasons': reasons,
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


def judge_plan(migrations):
    """Verdicts for the pending migrations, in plan order.

    ``migrations``: ``[{app, name, operations: [serialised operation]}]``.
    Returns ``(migrations, summary)``: each migration as ``{app, name,
    operations, reversible, backward_compatible, reasons}`` with judged
    operations, and ``summary`` ``{reversible, backward_compatible}`` over all
    of them (both True when nothing is pending).
    """
    new_tables = set()
    judged = []
    for migration in migrations:
        operations = []
        for op in migration.get('operations') or []:
            operations.append(judge_operation(op, frozenset(new_tables)))
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
        })
    summary = {
        'reversible': all(m['reversible'] for m in judged),
        'backward_compatible': combine(m['backward_compatible'] for m in judged),
    }
    return judged, summary
