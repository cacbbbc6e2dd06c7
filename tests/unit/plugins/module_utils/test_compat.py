# -*- coding: utf-8 -*-
# Copyright: (c) 2026, simpledeploy developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

"""plugins/module_utils/_compat.py: the verdicts, on plain dicts (no Django)."""

from __future__ import absolute_import, division, print_function

import pytest

from ansible_collections.simpledeploy.django.plugins.module_utils._compat import (
    combine,
    judge_operation,
    judge_plan,
)

PERSON = {'table': 'people_person', 'applies': True, 'm2m': False, 'unique_together': [],
          'order_with_respect_to': None}


def field(**facts):
    """Facts of a plain NOT NULL column, changed by ``facts``."""
    base = {'class': 'CharField', 'column': 'nickname', 'null': False, 'default': False,
            'db_default': False, 'unique': False, 'db_index': False, 'primary_key': False,
            'many_to_many': False, 'generated': False, 'max_length': 50, 'related': None,
            'db_type': 'varchar(50)', 'm2m_table': None}
    base.update(facts)
    return base


def model(**facts):
    base = dict(PERSON)
    base.update(facts)
    return base


def op(kind, **data):
    """A serialised operation on people.Person, as PLAN_CODE emits it."""
    base = {'kind': kind, 'base': kind, 'description': 'described ' + kind, 'reversible': True,
            'model': 'person', 'before': model(), 'after': model()}
    base.update(data)
    return base


def verdict(operation, new_tables=frozenset()):
    judged = judge_operation(operation, new_tables)
    return judged['backward_compatible'], judged['reasons']


# ------------------------------------------------------------------- combine

@pytest.mark.parametrize('verdicts, expected', [
    ([], True),
    ([True, True], True),
    ([True, None], None),
    ([None, False, True], False),
    ([False], False),
])
def test_combine(verdicts, expected):
    assert combine(verdicts) is expected


# ------------------------------------------------------------------ AddField

@pytest.mark.parametrize('facts', [
    {'null': True},
    {'db_default': True},
    {'generated': True, 'null': False},
    {'many_to_many': True, 'column': None, 'db_type': None, 'm2m_table': 'people_person_tags'},
], ids=['nullable', 'db_default', 'generated', 'many_to_many'])
def test_add_field_compatible(facts):
    assert verdict(op('AddField', field='nickname', old=None, new=field(**facts))) == (True, [])


def test_add_field_not_null_without_database_default():
    assert verdict(op('AddField', field='nickname', old=None, new=field())) == (False, [
        'adds NOT NULL column people_person.nickname without a database default: the old '
        'release leaves it out of its inserts, which then fail'])


def test_add_field_python_default_is_not_a_database_default():
    added = op('AddField', field='age', old=None, new=field(column='age', default=True))
    assert verdict(added) == (False, [
        'adds NOT NULL column people_person.age without a database default (its default is '
        'applied by Django, not kept in the database): the old release leaves it out of its '
        'inserts, which then fail'])


def test_add_field_unreadable_is_unknown():
    assert verdict(op('AddField', field='age', old=None, new=None)) == (None, [
        'could not read the field people_person.age that this operation adds'])


# --------------------------------------------------------------- RemoveField

def test_remove_field_drops_a_column():
    assert verdict(op('RemoveField', field='nickname', old=field(), new=None)) == (False, [
        'drops column people_person.nickname: the old release still selects it (migrating '
        'back re-creates it without its data)'])


def test_remove_many_to_many_drops_its_table():
    facts = field(many_to_many=True, column=None, m2m_table='people_person_tags')
    assert verdict(op('RemoveField', field='tags', old=facts, new=None)) == (False, [
        'drops table people_person_tags: the old release still queries it (migrating back '
        're-creates it empty)'])


# --------------------------------------------------------------- RenameField

@pytest.mark.parametrize('old, new, expected', [
    (field(column='nick'), field(column='nickname'), (False, [
        'renames column people_person.nick to nickname: the old release still uses the old '
        'name'])),
    (field(column='nick'), field(column='nick'), (True, [])),
    (field(many_to_many=True, m2m_table='people_person_tags'),
     field(many_to_many=True, m2m_table='people_person_labels'), (False, [
         'renames table people_person_tags to people_person_labels: the old release still uses '
         'the old name'])),
    (field(many_to_many=True, m2m_table='shared_tags'),
     field(many_to_many=True, m2m_table='shared_tags'), (True, [])),
    (None, None, (False, ['renames field people_person.nickname: the old release still uses '
                          'the old name'])),
], ids=['column', 'db_column-kept', 'm2m-table', 'm2m-db_table-kept', 'unreadable'])
def test_rename_field(old, new, expected):
    assert verdict(op('RenameField', field='nickname', old=old, new=new)) == expected


# ---------------------------------------------------------------- AlterField

@pytest.mark.parametrize('old, new', [
    (field(null=False), field(null=True)),
    (field(max_length=50, db_type='varchar(50)'), field(max_length=100, db_type='varchar(100)')),
    (field(db_type=None), field(db_type=None, max_length=80)),
    (field(db_index=False), field(db_index=True)),
    (field(unique=True), field(unique=False)),
    (field(default=False), field(default=True)),
    (field(db_default=False), field(db_default=True)),
    (field(db_default=True, null=True), field(db_default=False, null=True)),
    (field(), field()),
    (field(db_type=None, max_length=None, **{'class': 'ForeignKey'}, related='people.group'),
     field(db_type=None, max_length=None, **{'class': 'ForeignKey'}, related='people.group')),
], ids=['drop-not-null', 'widen-varchar', 'widen-without-db_type', 'add-index', 'drop-unique', 'python-default',
        'add-db_default', 'drop-db_default-nullable', 'nothing', 'fk-unchanged'])
def test_alter_field_compatible(old, new):
    assert verdict(op('AlterField', field='nickname', old=old, new=new)) == (True, [])


@pytest.mark.parametrize('old, new, reason', [
    (field(null=True), field(null=False),
     'makes column people_person.nickname NOT NULL: the old release may still write NULL'),
    (field(db_type='real', max_length=None), field(db_type='integer', max_length=None),
     'changes the type of column people_person.nickname from real to integer: the old release '
     'may write or expect values of the old type'),
    (field(max_length=100, db_type='varchar(100)'), field(max_length=50, db_type='varchar(50)'),
     'changes the type of column people_person.nickname from varchar(100) to varchar(50): the '
     'old release may write or expect values of the old type'),
    (field(db_type=None, max_length=None, **{'class': 'IntegerField'}), field(db_type=None),
     'changes the type of column people_person.nickname from IntegerField to CharField(50): '
     'the old release may write or expect values of the old type'),
    (field(column='nickname'), field(column='nick'),
     'renames column people_person.nickname to nick: the old release still uses the old name'),
    (field(many_to_many=True, m2m_table='people_person_tags', db_type=None),
     field(many_to_many=True, m2m_table='people_tags', db_type=None),
     'renames table people_person_tags to people_tags: the old release still uses the old name'),
    (field(related='people.group', db_type='bigint'), field(related='people.team', db_type='bigint'),
     'points people_person.nickname at people.team instead of people.group: the old release '
     'still writes keys of the old table'),
    (field(primary_key=False), field(primary_key=True),
     'changes the primary key of people_person: the old release still relies on the old one'),
    (field(unique=False), field(unique=True),
     'adds a unique constraint on column people_person.nickname: inserts of the old release '
     'may break it'),
    (field(db_default=True), field(db_default=False),
     'drops the database default of NOT NULL column people_person.nickname: inserts of the old '
     'release rely on it'),
], ids=['set-not-null', 'type', 'shrink-varchar', 'type-without-db_type', 'db_column', 'm2m-table',
        'fk-target', 'primary-key', 'add-unique', 'drop-db_default'])
def test_alter_field_incompatible(old, new, reason):
    assert verdict(op('AlterField', field='nickname', old=old, new=new)) == (False, [reason])


def test_alter_field_reports_every_reason():
    compatible, reasons = verdict(op('AlterField', field='nickname', old=field(null=True),
                                     new=field(unique=True, db_type='text')))
    assert compatible is False
    assert [r.split(':')[0] for r in reasons] == [
        'makes column people_person.nickname NOT NULL',
        'changes the type of column people_person.nickname from varchar(50) to text',
        'adds a unique constraint on column people_person.nickname']


@pytest.mark.parametrize('old, new', [(None, field()), (field(), None)])
def test_alter_field_unreadable_is_unknown(old, new):
    assert verdict(op('AlterField', field='nickname', old=old, new=new)) == (None, [
        'could not read field people_person.nickname before and after this operation'])


# ------------------------------------------------------------- models, tables

def test_create_model_is_compatible():
    assert verdict(op('CreateModel', before=None, after=model(table='people_tag'))) == (True, [])


def test_delete_model_drops_a_table():
    assert verdict(op('DeleteModel', before=model(), after=None)) == (False, [
        'drops table people_person: the old release still queries it (migrating back '
        're-creates it empty)'])


@pytest.mark.parametrize('kind', ['RenameModel', 'AlterModelTable'])
def test_table_renamed(kind):
    assert verdict(op(kind, after=model(table='people_human'))) == (False, [
        'renames table people_person to people_human: the old release still uses the old name'])


@pytest.mark.parametrize('kind', ['RenameModel', 'AlterModelTable'])
def test_table_kept(kind):
    assert verdict(op(kind)) == (True, [])


def test_rename_model_with_many_to_many_renames_their_tables():
    assert verdict(op('RenameModel', model='human', before=model(m2m=True))) == (False, [
        'renames the many-to-many tables or columns named after model human: the old release '
        'still uses the old names'])


@pytest.mark.parametrize('kind', ['RenameModel', 'AlterModelTable', 'AlterUniqueTogether',
                                  'AlterOrderWithRespectTo'])
@pytest.mark.parametrize('side', ['before', 'after'])
def test_model_operations_without_the_model_are_unknown(kind, side):
    compatible, reasons = verdict(op(kind, **{side: None}))
    assert compatible is None
    assert len(reasons) == 1 and reasons[0].startswith('could not read ')


@pytest.mark.parametrize('old, new, expected', [
    ([], [['name', 'age']], (False, ['adds a unique constraint on people_person (name, age): '
                                     'inserts of the old release may break it'])),
    ([['name', 'age']], [], (True, [])),
    ([['name', 'age']], [['name', 'age']], (True, [])),
], ids=['added', 'removed', 'same'])
def test_alter_unique_together(old, new, expected):
    assert verdict(op('AlterUniqueTogether', before=model(unique_together=old),
                      after=model(unique_together=new))) == expected


@pytest.mark.parametrize('old, new, expected', [
    (None, 'group', (False, ['adds NOT NULL column people_person._order without a database '
                             'default: the old release leaves it out of its inserts, which then '
                             'fail'])),
    ('group', None, (False, ['drops column people_person._order: the old release still selects '
                             'it'])),
    ('group', 'team', (True, [])),
], ids=['set', 'unset', 'changed'])
def test_alter_order_with_respect_to(old, new, expected):
    assert verdict(op('AlterOrderWithRespectTo', before=model(order_with_respect_to=old),
                      after=model(order_with_respect_to=new))) == expected


@pytest.mark.parametrize('kind', ['AlterModelOptions', 'AlterModelManagers',
                                  'AlterModelTableComment', 'AddIndex', 'RemoveIndex',
                                  'RenameIndex', 'AlterIndexTogether', 'AddIndexConcurrently',
                                  'RemoveIndexConcurrently', 'RemoveConstraint'])
def test_operations_that_an_old_release_does_not_notice(kind):
    assert verdict(op(kind)) == (True, [])


# --------------------------------------------------------------- constraints

@pytest.mark.parametrize('constraint, expected', [
    ({'class': 'UniqueConstraint', 'name': 'uniq_nick'},
     (False, ['adds unique constraint uniq_nick on people_person: inserts of the old release '
              'may break it'])),
    ({'class': 'CheckConstraint', 'name': 'age_gte_0'},
     (None, ['adds check constraint age_gte_0 on people_person: whether every write of the old '
             'release satisfies it is not known'])),
    ({'class': 'ExclusionConstraint', 'name': 'no_overlap'},
     (None, ['adds constraint no_overlap (ExclusionConstraint) on people_person: not catalogued, '
             'its effect on the old release is not known'])),
], ids=['unique', 'check', 'other'])
def test_add_constraint(constraint, expected):
    assert verdict(op('AddConstraint', constraint=constraint)) == expected


# ------------------------------------------------------- data migrations, reversibility

@pytest.mark.parametrize('reverse, reversible', [(None, False), ('noop', True), ('undo', True)])
def test_run_python(reverse, reversible):
    judged = judge_operation(op('RunPython', before=None, after=None, model=None,
                                code='fill', reverse=reverse, reversible=reversible))
    assert judged['backward_compatible'] is None
    assert judged['reversible'] is reversible
    expected = ['runs Python code (fill): what it changes is not known']
    if not reversible:
        expected.append('RunPython fill has no reverse_code: migrating back fails '
                        '(IrreversibleError)')
    assert judged['reasons'] == expected


@pytest.mark.parametrize('reverse, reversible', [(None, False), ('noop', True), ('sql', True)])
def test_run_sql(reverse, reversible):
    judged = judge_operation(op('RunSQL', before=None, after=None, model=None, sql='sql',
                                reverse=reverse, reversible=reversible))
    assert judged['backward_compatible'] is None
    assert judged['reversible'] is reversible
    expected = ['runs raw SQL: what it changes is not known']
    if not reversible:
        expected.append('RunSQL has no reverse_sql: migrating back fails (IrreversibleError)')
    assert judged['reasons'] == expected


@pytest.mark.parametrize('kind, extra', [('RunPython', {'code': 'noop'}),
                                         ('RunSQL', {'sql': 'noop'})])
def test_noop_forward_code_changes_nothing(kind, extra):
    judged = judge_operation(op(kind, before=None, after=None, model=None, reverse='x', **extra))
    assert (judged['backward_compatible'], judged['reasons']) == (True, [])


def test_subclass_is_judged_as_its_django_base():
    judged = judge_operation(op('AddFieldQuietly', base='AddField', field='nickname', old=None,
                                new=field(null=True)))
    assert judged['kind'] == 'AddFieldQuietly'
    assert judged['backward_compatible'] is True


def test_irreversible_other_operation():
    judged = judge_operation(op('AddIndex', reversible=False))
    assert judged['reversible'] is False
    assert judged['backward_compatible'] is True
    assert judged['reasons'] == ['AddIndex cannot be reversed: migrating back fails '
                                 '(IrreversibleError)']


def test_not_catalogued():
    judged = judge_operation(op('CreateExtension', before=None, after=None, model=None))
    assert judged == {'kind': 'CreateExtension', 'description': 'described CreateExtension',
                      'reversible': True, 'backward_compatible': None,
                      'reasons': ['CreateExtension is not catalogued: its effect on the old '
                                  'release is not known'],
                      'online_safe': None, 'data_step': False,
                      'online_reasons': ['CreateExtension on an unknown database: not judged for running while the old '
                                         'release serves']}


# ------------------------------------------------------- SeparateDatabaseAndState

def separate(*database_operations, **data):
    return op('SeparateDatabaseAndState', before=None, after=None, model=None,
              database_operations=list(database_operations), **data)


def test_separate_is_judged_by_its_database_operations():
    judged = judge_operation(separate(op('AddIndex'),
                                      op('RemoveField', field='nickname', old=field(), new=None)))
    assert judged['backward_compatible'] is False
    assert judged['reasons'] == ['drops column people_person.nickname: the old release still '
                                 'selects it (migrating back re-creates it without its data)']


def test_separate_state_only_is_compatible():
    assert verdict(separate()) == (True, [])


def test_separate_with_irreversible_database_operation():
    judged = judge_operation(separate(op('RunSQL', sql='sql', reverse=None, reversible=False)))
    assert judged['reversible'] is False
    assert judged['backward_compatible'] is None
    assert judged['reasons'] == ['runs raw SQL: what it changes is not known',
                                 'RunSQL has no reverse_sql: migrating back fails '
                                 '(IrreversibleError)']


# ------------------------------------------------------------------ applies, new tables

@pytest.mark.parametrize('kind, data', [
    ('RemoveField', {'field': 'nickname', 'old': field(), 'new': None}),
    ('DeleteModel', {'after': None}),
    ('AddField', {'field': 'age', 'old': None, 'new': field(column='age')}),
])
def test_not_migrated_on_this_database_is_compatible(kind, data):
    data = dict(data)
    for side in ('before', 'after'):
        if data.get(side, True) is not None:
            data[side] = model(applies=False)
    assert verdict(op(kind, **data)) == (True, [])


@pytest.mark.parametrize('kind, data', [
    ('AddField', {'field': 'age', 'old': None, 'new': field(column='age')}),
    ('RemoveField', {'field': 'nickname', 'old': field(), 'new': None}),
    ('DeleteModel', {'after': None}),
    ('AddConstraint', {'constraint': {'class': 'UniqueConstraint', 'name': 'u'}}),
])
def test_table_created_earlier_in_the_plan_is_compatible(kind, data):
    assert verdict(op(kind, **data), frozenset(['people_person'])) == (True, [])
    assert verdict(op(kind, **data), frozenset(['people_other']))[0] is False


# ------------------------------------------------------------------------ plans

def migration(name, *operations):
    return {'app': 'people', 'name': name, 'operations': list(operations)}


def test_plan_nothing_pending():
    assert judge_plan([]) == ([], {'reversible': True, 'backward_compatible': True, 'online_safe': True})


def test_plan_tracks_tables_created_by_earlier_migrations():
    plan = [
        migration('0003_tag', op('CreateModel', model='tag', before=None,
                                 after=model(table='people_tag'))),
        migration('0004_rename', op('RenameModel', model='label', before=model(table='people_tag'),
                                    after=model(table='people_label'))),
        migration('0005_slug', op('AddField', model='label', before=model(table='people_label'),
                                  after=model(table='people_label'), field='slug', old=None,
                                  new=field(column='slug'))),
    ]
    judged, summary = judge_plan(plan)
    assert [m['backward_compatible'] for m in judged] == [True, True, True]
    assert summary == {'reversible': True, 'backward_compatible': True, 'online_safe': True}


def test_plan_tracks_tables_created_inside_separate_database_and_state():
    plan = [
        migration('0003', separate(op('CreateModel', model='tag', before=None,
                                      after=model(table='people_tag')))),
        migration('0004', op('DeleteModel', model='tag', before=model(table='people_tag'),
                             after=None)),
    ]
    assert judge_plan(plan)[1]['backward_compatible'] is True


def test_plan_combines_operations_and_migrations():
    drop = op('RemoveField', field='nickname', old=field(), new=None)
    data = op('RunPython', before=None, after=None, model=None, code='fill', reverse=None,
              reversible=False)
    plan = [migration('0003_data', data, data), migration('0004_drop', op('AddIndex'), drop)]
    judged, summary = judge_plan(plan)
    assert [(m['name'], m['reversible'], m['backward_compatible']) for m in judged] == [
        ('0003_data', False, None), ('0004_drop', True, False)]
    # the same reason twice in one migration is listed once
    assert judged[0]['reasons'] == [
        'runs Python code (fill): what it changes is not known',
        'RunPython fill has no reverse_code: migrating back fails (IrreversibleError)']
    assert judged[1]['reasons'] == [
        'drops column people_person.nickname: the old release still selects it (migrating back '
        're-creates it without its data)']
    assert [o['kind'] for o in judged[1]['operations']] == ['AddIndex', 'RemoveField']
    assert set(judged[1]['operations'][0]) == {'kind', 'description', 'reversible', 'backward_compatible',
                                               'reasons', 'online_safe', 'online_reasons', 'data_step'}
    # no vendor given: whether the AddIndex is brief is not known
    assert summary == {'reversible': False, 'backward_compatible': False, 'online_safe': None}
    assert judge_plan(plan[:1])[1] == {'reversible': False, 'backward_compatible': None, 'online_safe': None}
