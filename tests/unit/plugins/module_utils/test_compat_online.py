# -*- coding: utf-8 -*-
# Copyright: (c) 2026, simpledeploy developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

"""plugins/module_utils/_compat.py: the online-safe verdict and expand_verdict, on plain dicts (no Django).

The facts are what in_django/plan.py reads from Django; the SQL each verdict stands for is Django's own
(sqlmigrate): a nullable column is one ALTER TABLE ADD COLUMN, an index a plain CREATE INDEX unless
AddIndexConcurrently, SQLite's AddField with a default or AlterField a copy of the table.
"""

from __future__ import absolute_import, division, print_function

import pytest

from ansible_collections.simpledeploy.django.plugins.module_utils._compat import (
    expand_verdict,
    judge_online,
    judge_plan,
)
from ansible_collections.simpledeploy.django.tests.unit.plugins.module_utils.test_compat import field, op


def nullable(**facts):
    return field(null=True, **facts)


@pytest.mark.parametrize('vendor, new, expected, said', [
    ('postgresql', nullable(), True, None),
    ('sqlite', nullable(), True, None),
    ('postgresql', nullable(default=True), True, None),  # a constant default: PostgreSQL 11 keeps it aside
    ('sqlite', nullable(default=True), False, 'SQLite rebuilds table people_person (its size not known) to add'),
    ('sqlite', nullable(effective_default=True), False, 'SQLite rebuilds'),  # auto_now_add: now() in every row
    ('postgresql', nullable(generated=True), False, 'adds generated column'),
    ('postgresql', nullable(db_check='"nickname" >= 0'), False, 'check constraint'),
    ('postgresql', field(db_default=True, db_default_constant=True), True, None),
    ('sqlite', nullable(db_default=True, db_default_constant=True), True, None),
    ('sqlite', nullable(db_default=True, db_default_constant=False), False, 'SQLite rebuilds'),
    ('sqlite', field(db_default=True, db_default_constant=True), False, 'SQLite rebuilds'),
    ('postgresql', field(db_default=True, db_default_constant=False), False, 'not a constant'),
    ('postgresql', nullable(db_index=True), False, 'plain CREATE INDEX'),
    ('postgresql', nullable(related='people.team', db_index=True), False, 'foreign key people_person.nickname'),
    ('postgresql', nullable(many_to_many=True), True, None),
    ('mysql', nullable(), None, 'not judged'),
])
def test_an_added_column(vendor, new, expected, said):
    verdict, reasons = judge_online(op('AddField', field='nickname', new=new), vendor)
    assert verdict is expected
    assert (said is None and reasons == []) or said in reasons[0]


@pytest.mark.parametrize('vendor, old, new, alters, expected, said', [
    ('postgresql', field(), field(), False, True, None),  # Django's own attributes only: no SQL
    ('sqlite', field(), field(), False, True, None),
    ('sqlite', field(), field(default=True), True, False, 'SQLite rebuilds table people_person'),  # a default: a copy
    ('postgresql', field(max_length=50), field(db_type='varchar(100)', max_length=100), True, True, None),
    ('postgresql', field(), field(null=True), True, True, None),
    ('postgresql', field(db_index=True), field(), True, True, None),
    ('postgresql', field(), field(db_index=True), True, False, 'plain CREATE INDEX'),
    ('postgresql', field(), field(db_type='text'), True, False, 'changes db type of column people_person.nickname'),
    ('postgresql', field(related='people.team'), field(related='people.team', null=True), True, False,
     'Django drops its constraint and adds it again'),
    ('postgresql', field(unique=True), field(unique=True, db_type='varchar(100)'), True, False, 'foreign keys'),
    ('postgresql', field(), field(db_check='"n" >= 0'), True, False, 'changes db check'),
    ('sqlite', field(), field(null=True), True, False, 'SQLite rebuilds table people_person (its size not known) '
                                                       'to alter column'),
])
def test_an_altered_column(vendor, old, new, alters, expected, said):
    verdict, reasons = judge_online(op('AlterField', field='nickname', old=old, new=new, alters=alters), vendor)
    assert verdict is expected
    assert (said is None and reasons == []) or said in reasons[0]


@pytest.mark.parametrize('rows, expected', [(50, True), (10000, True), (10001, False), (None, False)])
def test_a_scan_of_a_small_table_is_brief(rows, expected):
    index = op('AddIndex', before=dict(op('x')['before'], rows=rows))
    verdict, reasons = judge_online(index, 'postgresql')
    assert verdict is expected
    if not expected:
        size = 'about %d rows' % rows if rows else 'its size not known'
        assert reasons[0].startswith('builds an index on people_person (%s) with a plain CREATE INDEX' % size)


@pytest.mark.parametrize('vendor, operation, expected', [
    ('sqlite', op('RenameIndex'), False),  # DROP INDEX, CREATE INDEX
    ('postgresql', op('RenameIndex'), True),
    ('sqlite', op('RemoveConstraint'), False),  # a copy of the table
    ('postgresql', op('RemoveConstraint'), True),
    ('mysql', op('CreateModel', before=None), True),
    ('mysql', op('RemoveIndex'), None),
    ('mysql', op('AlterModelOptions'), True),
])
def test_what_is_brief_depends_on_the_database(vendor, operation, expected):
    assert judge_online(operation, vendor)[0] is expected


@pytest.mark.parametrize('operation, expected', [
    (op('CreateModel', before=None), True),
    (op('AddIndexConcurrently'), True),
    (op('RemoveIndex'), True),
    (op('AlterModelOptions'), True),
    (op('AddIndex'), False),
    (op('RunPython', code='forwards', reverse='backwards'), None),
    (op('RunPython', code='noop', reverse='noop'), True),
    (op('AlterUniqueTogether', after=dict(op('x')['after'], unique_together=[['a', 'b']])), False),
])
def test_other_operations(operation, expected):
    assert judge_online(operation, 'postgresql')[0] is expected


def test_an_index_on_a_table_this_plan_creates_is_safe():
    created = op('CreateModel', model='team', before=None, after=dict(op('x')['after'], table='people_team'))
    index = op('AddIndex', model='team', before=dict(op('x')['before'], table='people_team'))
    judged, summary = judge_plan([{'app': 'people', 'name': '0002', 'operations': [created, index]}], 'postgresql')
    assert [o['online_safe'] for o in judged[0]['operations']] == [True, True] and summary['online_safe'] is True


def plan(*operations, vendor='postgresql'):
    return judge_plan([{'app': 'people', 'name': '0002_more', 'operations': list(operations)}], vendor)[0]


def test_an_additive_plan_can_be_migrated_first():
    assert expand_verdict(plan(op('AddField', field='nickname', new=nullable()),
                               op('CreateModel', before=None),
                               op('AddIndexConcurrently'))) == (True, [])


@pytest.mark.parametrize('operation, said', [
    # backward incompatible: the old release's inserts fail
    (op('AddField', field='nickname', new=field()), 'adds NOT NULL column people_person.nickname'),
    (op('RemoveField', field='nickname', old=field()), 'drops column people_person.nickname'),
    # compatible, but holds writes for as long as it takes
    (op('AddIndex'), 'plain CREATE INDEX'),
    # not known
    (op('RunSQL', sql='sql', reverse='sql'), 'runs raw SQL'),
])
def test_a_plan_that_cannot_be_migrated_first_says_which_operation_and_why(operation, said):
    possible, reasons = expand_verdict(plan(op('AddField', field='nickname', new=nullable()), operation))
    assert possible is False and len(reasons) == 1
    assert reasons[0].startswith('people.0002_more (described %s): ' % operation['kind']) and said in reasons[0]


@pytest.mark.parametrize('reverse, data_steps, possible, said', [
    ('backwards', True, True, None),
    (None, True, False, 'a data step without a reverse'),
    ('backwards', False, False, 'data steps are not run first'),
])
def test_a_data_step_is_run_first_only_when_reversible_and_allowed(reverse, data_steps, possible, said):
    step = op('RunPython', before=None, after=None, model=None, code='fill', reverse=reverse,
              reversible=reverse is not None)
    found, reasons = expand_verdict(plan(op('AddField', field='nickname', new=nullable()), step), data_steps)
    assert found is possible and (said is None or said in reasons[0])


def test_nothing_pending_is_not_an_expand():
    assert expand_verdict([]) == (False, ['nothing to migrate'])
