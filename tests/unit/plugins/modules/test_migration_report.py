# -*- coding: utf-8 -*-
# Copyright: (c) 2026, simpledeploy developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

"""simpledeploy.django.migration_status: what each pending migration does, on real Django.

Each case is the example project v2 on a database v2 migrated, plus migration
files written for the case: the module must describe every operation as
``migrate --plan`` does and give the exact verdict. The operation cases run
on one Django series (the serialisation is the same on 4.2 to 6.1; the
example's own migration and the missing-migration check run on all three).
"""

from __future__ import absolute_import, division, print_function

import hashlib
import os
import shutil
import sqlite3
import subprocess

import pytest

from ansible_collections.simpledeploy.django.plugins.modules import migration_status

ENV = {'DJANGO_SECRET_KEY': 'unit-test-secret-5a7d-report'}
ONE_SERIES = pytest.mark.parametrize('django_venv', ['5.2'], indirect=True, ids=['django5.2'])

DROPS_HEIGHT = ('drops column people_person.height: the old release still selects it '
                '(migrating back re-creates it without its data)')


def write_migration(project, name, body, depends='0002_person_weight'):
    path = os.path.join(project, 'people', 'migrations', name + '.py')
    with open(path, 'w', encoding='utf-8') as handle:
        handle.write('from django.db import migrations, models\n\n'
                     + body.replace('@DEPENDS@', repr(('people', depends))))


def mark_applied(db, name):
    """Record ``people.NAME`` as applied (as ``migrate --fake`` would)."""
    with sqlite3.connect(db) as conn:
        conn.execute("INSERT INTO django_migrations (app, name, applied) "
                     "VALUES ('people', ?, datetime('now'))", (name,))


def project_with(tmp_path, copy_person, migrated_database, venv, migrations, fake=()):
    """v2 code and a v2 database, plus ``migrations`` {name: body}; ``fake`` ones marked applied."""
    project = copy_person('v2', str(tmp_path / 'project'))
    for name, body in migrations.items():
        depends = body.pop('depends') if isinstance(body, dict) else '0002_person_weight'
        write_migration(project, name, body['text'] if isinstance(body, dict) else body, depends)
    db = os.path.join(project, 'db.sqlite3')
    shutil.copyfile(migrated_database(venv, 'v2'), db)
    for name in fake:
        mark_applied(db, name)
    return project


def plan_descriptions(venv, project):
    """{migration: [line]} as ``manage.py migrate --plan`` prints them."""
    env = dict(os.environ, PYTHONIOENCODING='utf-8', **ENV)
    out = subprocess.run([venv.python, 'manage.py', 'migrate', '--plan'], cwd=project, env=env,
                         check=True, stdout=subprocess.PIPE, encoding='utf-8').stdout
    found, current = {}, None
    for line in out.splitlines()[1:]:
        if line.startswith('    '):
            found[current].append(line[4:])
        else:
            current = line.strip()
            found[current] = []
    return found


def report(run_module, venv, project, **extra):
    args = {'project_path': project, 'virtualenv': venv.path, 'environment': dict(ENV),
            'detect_missing': False}
    args.update(extra)
    result = run_module(migration_status, args)
    assert result.get('failed') is not True, result.get('msg')
    return result


def verdicts(migration):
    return [(op['kind'], op['reversible'], op['backward_compatible'])
            for op in migration['operations']]


def reasons(migration):
    return [op['reasons'] for op in migration['operations']]


def assert_described_like_migrate_plan(result, venv, project):
    expected = plan_descriptions(venv, project)
    got = dict(('%s.%s' % (m['app'], m['name']), [op['description'] for op in m['operations']])
               for m in result['migrations'])
    assert got == expected


def tree(path):
    """{relative path: sha256} of every file under ``path``."""
    found = {}
    for folder, dummy, files in os.walk(path):
        for name in files:
            full = os.path.join(folder, name)
            with open(full, 'rb') as handle:
                found[os.path.relpath(full, path)] = hashlib.sha256(handle.read()).hexdigest()
    return found


# ---------------------------------------------------- the example's own migration

def test_example_v2_migration_breaks_the_running_v1(run_module, django_venv, person_v2,
                                                    migrated_database):
    shutil.copyfile(migrated_database(django_venv, 'v1'), os.path.join(person_v2, 'db.sqlite3'))
    result = report(run_module, django_venv, person_v2, detect_missing=True)
    reason = ('adds NOT NULL column people_person.weight without a database default: the old '
              'release leaves it out of its inserts, which then fail')
    # SQLite copies the table to add it, but the table holds 3 rows: brief
    assert result['migrations'] == [{
        'app': 'people', 'name': '0002_person_weight', 'reversible': True,
        'backward_compatible': False, 'reasons': [reason], 'online_safe': True,
        'operations': [{'kind': 'AddField', 'description': 'Add field weight to person',
                        'reversible': True, 'backward_compatible': False,
                        'reasons': [reason], 'online_safe': True, 'online_reasons': [],
                        'data_step': False}]}]
    assert result['reversible'] is True
    assert result['backward_compatible'] is False
    assert result['missing'] is False and result['missing_migrations'] == {}


def test_fresh_database_tables_created_in_the_plan_are_not_used_by_an_old_release(
        run_module, django_venv, person_v2):
    result = report(run_module, django_venv, person_v2)
    weight = [m for m in result['migrations'] if m['name'] == '0002_person_weight'][0]
    assert verdicts(weight) == [('AddField', True, True)]
    # contenttypes 0002 has a RunPython of its own (noop forward), auth 0011 a real one
    by_name = dict(('%s.%s' % (m['app'], m['name']), m) for m in result['migrations'])
    assert by_name['contenttypes.0002_remove_content_type_name']['backward_compatible'] is True
    assert by_name['auth.0011_update_proxy_permissions']['backward_compatible'] is None
    assert by_name['auth.0011_update_proxy_permissions']['reasons'] == [
        'runs Python code (update_proxy_model_permissions): what it changes is not known']
    assert result['backward_compatible'] is None and result['reversible'] is True
    assert_described_like_migrate_plan(result, django_venv, person_v2)


# ----------------------------------------------------------------- columns

COLUMNS = '''
class Migration(migrations.Migration):
    dependencies = [@DEPENDS@]
    operations = [
        migrations.AddField('person', 'nickname', models.CharField(max_length=50, null=True)),
        migrations.AddField('person', 'age', models.IntegerField(default=0)),
        migrations.AlterField('person', 'nickname', models.CharField(max_length=100, null=True)),
        migrations.AlterField('person', 'weight', models.FloatField(null=True)),
        migrations.AlterField('person', 'height', models.IntegerField()),
        migrations.AlterField('person', 'nickname', models.CharField(max_length=100, default='')),
        migrations.AlterField('person', 'name', models.CharField(max_length=128, db_column='full_name')),
        migrations.RenameField('person', 'weight', 'mass'),
        migrations.RemoveField('person', 'height'),
        migrations.AddIndex('person', models.Index(fields=['nickname'], name='person_nick_idx')),
        migrations.RenameIndex('person', new_name='person_nickname_idx', old_name='person_nick_idx'),
        migrations.RemoveIndex('person', 'person_nickname_idx'),
        migrations.AddConstraint('person', models.UniqueConstraint(fields=['nickname'], name='person_nick_uniq')),
        migrations.RemoveConstraint('person', 'person_nick_uniq'),
        migrations.AddConstraint('person', models.CheckConstraint(condition=models.Q(age__gte=0), name='person_age_gte_0')),
        migrations.AlterUniqueTogether('person', {('nickname', 'age')}),
        migrations.AlterModelOptions('person', {'ordering': ['nickname']}),
        migrations.AlterModelTableComment('person', 'People we know'),
        migrations.AlterField('person', 'age', models.IntegerField(default=0, help_text='in years')),
    ]
'''


@ONE_SERIES
def test_column_operations(run_module, django_venv, tmp_path, copy_person, migrated_database):
    project = project_with(tmp_path, copy_person, migrated_database, django_venv,
                           {'0003_columns': COLUMNS})
    result = report(run_module, django_venv, project)
    (migration,) = result['migrations']
    assert migration['name'] == '0003_columns'
    assert verdicts(migration) == [
        ('AddField', True, True),
        ('AddField', True, False),
        ('AlterField', True, True),
        ('AlterField', True, True),
        ('AlterField', True, False),
        ('AlterField', True, False),
        ('AlterField', True, False),
        ('RenameField', True, False),
        ('RemoveField', True, False),
        ('AddIndex', True, True),
        ('RenameIndex', True, True),
        ('RemoveIndex', True, True),
        ('AddConstraint', True, False),
        ('RemoveConstraint', True, True),
        ('AddConstraint', True, None),
        ('AlterUniqueTogether', True, False),
        ('AlterModelOptions', True, True),
        ('AlterModelTableComment', True, True),
        ('AlterField', True, True),
    ]
    old_type = ('changes the type of column people_person.height from real to integer: the old '
                'release may write or expect values of the old type')
    assert reasons(migration) == [
        [],
        ['adds NOT NULL column people_person.age without a database default (its default is '
         'applied by Django, not kept in the database): the old release leaves it out of its '
         'inserts, which then fail'],
        [], [],
        [old_type],
        ['makes column people_person.nickname NOT NULL: the old release may still write NULL'],
        ['renames column people_person.name to full_name: the old release still uses the old '
         'name'],
        ['renames column people_person.weight to mass: the old release still uses the old name'],
        [DROPS_HEIGHT],
        [], [], [],
        ['adds unique constraint person_nick_uniq on people_person: inserts of the old release '
         'may break it'],
        [],
        ['adds check constraint person_age_gte_0 on people_person: whether every write of the '
         'old release satisfies it is not known'],
        ['adds a unique constraint on people_person (nickname, age): inserts of the old release '
         'may break it'],
        [], [], [],
    ]
    assert migration['backward_compatible'] is False and migration['reversible'] is True
    assert migration['reasons'] == [r for op in reasons(migration) for r in op]
    assert result['backward_compatible'] is False and result['reversible'] is True
    assert_described_like_migrate_plan(result, django_venv, project)


@ONE_SERIES
def test_database_default_keeps_the_old_release_inserting(run_module, django_venv, tmp_path,
                                                          copy_person, migrated_database):
    # db_default exists from Django 5.0 on
    body = '''
class Migration(migrations.Migration):
    dependencies = [@DEPENDS@]
    operations = [
        migrations.AddField('person', 'nickname', models.CharField(max_length=50, db_default='')),
        migrations.AlterField('person', 'nickname', models.CharField(max_length=50)),
    ]
'''
    project = project_with(tmp_path, copy_person, migrated_database, django_venv,
                           {'0003_db_default': body})
    (migration,) = report(run_module, django_venv, project)['migrations']
    assert verdicts(migration) == [('AddField', True, True), ('AlterField', True, False)]
    assert reasons(migration) == [[], [
        'drops the database default of NOT NULL column people_person.nickname: inserts of the '
        'old release rely on it']]


# ------------------------------------------------------------------ models

MODELS = '''
class Migration(migrations.Migration):
    dependencies = [@DEPENDS@]
    operations = [
        migrations.CreateModel('Group', [
            ('id', models.BigAutoField(primary_key=True, serialize=False)),
            ('label', models.CharField(max_length=50)),
        ]),
        migrations.AddField('group', 'slug', models.SlugField()),
        migrations.AddField('person', 'group', models.ForeignKey('people.group', null=True, on_delete=models.CASCADE)),
        migrations.AlterOrderWithRespectTo('person', 'group'),
        migrations.CreateModel('Tag', [('id', models.BigAutoField(primary_key=True, serialize=False))]),
        migrations.RenameModel('Tag', 'Label'),
        migrations.DeleteModel('Label'),
        migrations.AlterModelManagers('person', managers=[]),
        migrations.RenameModel('Person', 'Human'),
        migrations.AlterModelTable('human', 'humans'),
        migrations.AlterModelTable('human', 'humans'),
        migrations.DeleteModel('Human'),
    ]
'''


@ONE_SERIES
def test_model_operations(run_module, django_venv, tmp_path, copy_person, migrated_database):
    project = project_with(tmp_path, copy_person, migrated_database, django_venv,
                           {'0003_models': MODELS})
    result = report(run_module, django_venv, project)
    (migration,) = result['migrations']
    assert verdicts(migration) == [
        ('CreateModel', True, True),
        ('AddField', True, True),          # NOT NULL, but on the table just created
        ('AddField', True, True),
        ('AlterOrderWithRespectTo', True, False),
        ('CreateModel', True, True),
        ('RenameModel', True, True),       # a table of this plan
        ('DeleteModel', True, True),       # idem
        ('AlterModelManagers', True, True),
        ('RenameModel', True, False),
        ('AlterModelTable', True, False),
        ('AlterModelTable', True, True),   # already that name
        ('DeleteModel', True, False),
    ]
    assert reasons(migration) == [
        [], [], [],
        ['adds NOT NULL column people_person._order without a database default: the old '
         'release leaves it out of its inserts, which then fail'],
        [], [], [], [],
        ['renames table people_person to people_human: the old release still uses the old name'],
        ['renames table people_human to humans: the old release still uses the old name'],
        [],
        ['drops table humans: the old release still queries it (migrating back re-creates it '
         'empty)'],
    ]
    assert_described_like_migrate_plan(result, django_venv, project)


# ---------------------------------------------------- data migrations and the rest

LEGACY = '''
class Migration(migrations.Migration):
    dependencies = [@DEPENDS@]
    operations = [
        migrations.CreateModel('Legacy', [
            ('id', models.AutoField(primary_key=True, serialize=False)),
            ('code', models.CharField(max_length=10)),
        ], options={'managed': False, 'db_table': 'legacy_codes'}),
    ]
'''

DATA = '''
from django.db.migrations.operations.base import Operation


def fill_nicknames(apps, schema_editor):
    """Fill the nickname of every person from the first word of the name."""


class UpperCaseNames(Operation):
    reversible = True

    def state_forwards(self, app_label, state):
        pass

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        pass

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        pass

    def describe(self):
        return "Upper-case every name"


class AddFieldQuietly(migrations.AddField):
    pass


class Migration(migrations.Migration):
    dependencies = [@DEPENDS@]
    operations = [
        migrations.RunPython(fill_nicknames),
        migrations.RunPython(fill_nicknames, migrations.RunPython.noop),
        migrations.RunPython(migrations.RunPython.noop, fill_nicknames),
        migrations.RunSQL("UPDATE people_person SET name = upper(name)"),
        migrations.RunSQL("UPDATE people_person SET name = upper(name)", migrations.RunSQL.noop),
        migrations.SeparateDatabaseAndState(database_operations=[migrations.RemoveField('person', 'height')]),
        migrations.SeparateDatabaseAndState(state_operations=[
            migrations.AlterField('person', 'name', models.CharField(max_length=200))]),
        UpperCaseNames(),
        AddFieldQuietly('person', 'nickname', models.CharField(max_length=50, null=True)),
        migrations.RemoveField('legacy', 'code'),
    ]
'''


@ONE_SERIES
def test_data_migrations_and_uncatalogued_operations(run_module, django_venv, tmp_path,
                                                     copy_person, migrated_database):
    project = project_with(tmp_path, copy_person, migrated_database, django_venv,
                           {'0003_legacy': LEGACY,
                            '0004_data': {'text': DATA, 'depends': '0003_legacy'}},
                           fake=['0003_legacy'])
    result = report(run_module, django_venv, project)
    (migration,) = result['migrations']
    assert migration['name'] == '0004_data'
    assert verdicts(migration) == [
        ('RunPython', False, None),
        ('RunPython', True, None),
        ('RunPython', True, True),          # the forward code is RunPython.noop
        ('RunSQL', False, None),
        ('RunSQL', True, None),
        ('SeparateDatabaseAndState', True, False),
        ('SeparateDatabaseAndState', True, True),
        ('UpperCaseNames', True, None),
        ('AddFieldQuietly', True, True),    # judged as the AddField it is
        ('RemoveField', True, True),        # unmanaged model: no schema change
    ]
    unknown_code = 'runs Python code (fill_nicknames): what it changes is not known'
    unknown_sql = 'runs raw SQL: what it changes is not known'
    assert reasons(migration) == [
        [unknown_code, 'RunPython fill_nicknames has no reverse_code: migrating back fails '
                       '(IrreversibleError)'],
        [unknown_code],
        [],
        [unknown_sql, 'RunSQL has no reverse_sql: migrating back fails (IrreversibleError)'],
        [unknown_sql],
        [DROPS_HEIGHT],
        [],
        ['UpperCaseNames is not catalogued: its effect on the old release is not known'],
        [], [],
    ]
    descriptions = [op['description'] for op in migration['operations']]
    assert descriptions[0] == 'Raw Python operation -> Fill the nickname of every person f…'
    assert descriptions[3] == 'Raw SQL operation -> UPDATE people_person SET name = upp…'
    assert descriptions[7] == 'Upper-case every name'
    assert migration['reversible'] is False and migration['backward_compatible'] is False
    assert result['reversible'] is False and result['backward_compatible'] is False
    assert_described_like_migrate_plan(result, django_venv, project)


# --------------------------------------------------------- missing migrations

def test_missing_migrations_are_reported_and_nothing_is_written(run_module, django_venv,
                                                                person_v2, monkeypatch):
    monkeypatch.delenv('PYTHONDONTWRITEBYTECODE', raising=False)  # bytecode would be written
    with open(os.path.join(person_v2, 'people', 'models.py'), 'a', encoding='utf-8') as handle:
        # age: NOT NULL without a default, where makemigrations would have to ask (and a
        # non-interactive makemigrations exits)
        handle.write('    nickname = models.CharField(max_length=50, null=True)\n'
                     '    age = models.IntegerField()\n')
    before = tree(person_v2)
    result = report(run_module, django_venv, person_v2, detect_missing=True)
    assert result['missing'] is True
    assert result['missing_migrations'] == {
        'people': ['Add field age to person', 'Add field nickname to person']}
    assert result['database_exists'] is False
    assert tree(person_v2) == before  # no migration file, no database, no bytecode


def test_detect_missing_false_skips_the_check(run_module, django_venv, person_v2):
    with open(os.path.join(person_v2, 'people', 'models.py'), 'a', encoding='utf-8') as handle:
        handle.write('    nickname = models.CharField(max_length=50, null=True)\n')
    result = report(run_module, django_venv, person_v2, detect_missing=False)
    assert 'missing' not in result and 'missing_migrations' not in result
    assert result['pending'] is True


@ONE_SERIES
def test_missing_new_model_against_an_existing_database(run_module, django_venv, tmp_path,
                                                        copy_person, migrated_database):
    project = project_with(tmp_path, copy_person, migrated_database, django_venv, {})
    with open(os.path.join(project, 'people', 'models.py'), 'a', encoding='utf-8') as handle:
        handle.write('\n\nclass Team(models.Model):\n'
                     '    members = models.ManyToManyField(Person)\n')
    before = tree(project)
    result = report(run_module, django_venv, project, detect_missing=True)
    assert result['database_exists'] is True and result['pending'] is False
    assert result['missing'] is True
    assert result['missing_migrations'] == {'people': ['Create model Team']}
    assert result['backward_compatible'] is True and result['reversible'] is True
    assert tree(project) == before


@ONE_SERIES
def test_missing_check_failure_is_clear_and_can_be_skipped(run_module, django_venv,
                                                           person_v2):
    with open(os.path.join(person_v2, 'people', 'models.py'), 'a', encoding='utf-8') as handle:
        handle.write('\n\nclass OpaqueField(models.TextField):\n'
                     '    def deconstruct(self):\n'
                     '        raise ValueError("OpaqueField cannot be serialised")\n\n\n'
                     'class Note(models.Model):\n'
                     '    text = OpaqueField()\n')
    args = {'project_path': person_v2, 'virtualenv': django_venv.path, 'environment': dict(ENV)}
    models = os.path.join(person_v2, 'people', 'models.py')
    with open(models, encoding='utf-8') as handle:
        line = handle.read().splitlines().index('        raise ValueError("OpaqueField cannot be serialised")') + 1
    failed = run_module(migration_status, args)
    assert failed['failed'] is True and failed['stage'] == 'missing'
    # the line of the project's code that raised, not Django's
    assert failed['msg'] == ('looking for model changes without a migration (makemigrations '
                             '--check) failed: ValueError: OpaqueField cannot be serialised (at %s:%d); '
                             'detect_missing=false skips that check' % (models, line))
    assert 'Traceback' in failed['stderr']
    result = report(run_module, django_venv, person_v2, detect_missing=False)
    assert result['pending'] is True and 'missing' not in result


# ------------------------------------------------------------------ online safe, expand

ONLINE = '''
class Migration(migrations.Migration):
    dependencies = [@DEPENDS@]
    operations = [
        migrations.AddField('person', 'nickname', models.CharField(max_length=50, null=True)),
        migrations.AddField('person', 'flag', models.BooleanField(null=True, default=False)),
        migrations.AddIndex('person', models.Index(fields=['name'], name='person_name_idx')),
        migrations.CreateModel('Group', [
            ('id', models.BigAutoField(primary_key=True, serialize=False)),
            ('label', models.CharField(max_length=50)),
        ]),
        migrations.AddField('group', 'slug', models.SlugField(null=True)),
        migrations.AlterField('person', 'nickname', models.CharField(max_length=50, null=True, help_text='x')),
    ]
'''
ADDITIVE = '''
def fill(apps, schema_editor):
    apps.get_model('people', 'Person').objects.update(nickname='n')


class Migration(migrations.Migration):
    dependencies = [@DEPENDS@]
    operations = [
        migrations.AddField('person', 'nickname', models.CharField(max_length=50, null=True)),
        migrations.CreateModel('Group', [('id', models.BigAutoField(primary_key=True, serialize=False))]),
        migrations.RunPython(fill, migrations.RunPython.noop),
    ]
'''


def sqlmigrate(venv, project, name):
    env = dict(os.environ, PYTHONIOENCODING='utf-8', **ENV)
    return subprocess.run([venv.python, 'manage.py', 'sqlmigrate', 'people', name], cwd=project, env=env,
                          check=True, stdout=subprocess.PIPE, encoding='utf-8').stdout


@ONE_SERIES
def test_online_safe_follows_the_sql_django_runs(run_module, django_venv, tmp_path, copy_person, migrated_database):
    project = project_with(tmp_path, copy_person, migrated_database, django_venv, {'0003_online': ONLINE})
    small = report(run_module, django_venv, project)
    # A few rows: a copy or an index build of them is brief.
    assert small['online_safe'] is True and small['expand']['possible'] is True
    # A big table (its largest rowid is what the plan reads: no scan).
    with sqlite3.connect(os.path.join(project, 'db.sqlite3')) as db:
        db.execute("INSERT INTO people_person (id, name, height, weight) VALUES (20000, 'Z', 1.0, 1.0)")
    result = report(run_module, django_venv, project)
    (migration,) = result['migrations']
    assert [(op['kind'], op['online_safe']) for op in migration['operations']] == [
        ('AddField', True), ('AddField', False), ('AddIndex', False), ('CreateModel', True), ('AddField', True),
        ('AlterField', True)]
    # What Django runs on SQLite: a column added in place; with a default, the table copied; a plain index.
    sql = sqlmigrate(django_venv, project, '0003_online')
    assert 'ALTER TABLE "people_person" ADD COLUMN "nickname" varchar(50) NULL' in sql
    assert 'CREATE TABLE "new__people_person"' in sql and 'CREATE INDEX "person_name_idx"' in sql
    assert migration['online_safe'] is False and result['online_safe'] is False
    possible, why = result['expand']['possible'], result['expand']['reasons']
    assert possible is False and len(why) == 2
    assert why[0].startswith('people.0003_online (Add field flag to person): SQLite rebuilds table people_person '
                             '(about 20000 rows)')
    assert why[1].startswith('people.0003_online (Create index person_name_idx on field(s) name of model person): '
                             'builds an index on people_person (about 20000 rows) with a plain CREATE INDEX, which '
                             'holds writes to people_person until it is built')


@ONE_SERIES
@pytest.mark.parametrize('data_steps, possible', [(True, True), (False, False)])
def test_an_additive_plan_can_be_migrated_first(run_module, django_venv, tmp_path, copy_person, migrated_database,
                                                data_steps, possible):
    project = project_with(tmp_path, copy_person, migrated_database, django_venv, {'0003_additive': ADDITIVE})
    result = report(run_module, django_venv, project, expand_data_steps=data_steps)
    assert result['expand']['possible'] is possible
    if not possible:
        assert result['expand']['reasons'] == [
            'people.0003_additive (Raw Python operation): a data step, and data steps are not run first '
            '(expand_data_steps false)']


def test_the_example_v2_migration_cannot_be_migrated_first(run_module, django_venv, person_v2, migrated_database):
    shutil.copyfile(migrated_database(django_venv, 'v1'), os.path.join(person_v2, 'db.sqlite3'))
    result = report(run_module, django_venv, person_v2)
    assert result['expand'] == {'possible': False, 'reasons': [
        'people.0002_person_weight (Add field weight to person): adds NOT NULL column people_person.weight without '
        'a database default: the old release leaves it out of its inserts, which then fail']}


# ---------------------------------------------------- a database ahead of the code

ADD_NICKNAME = '''
class Migration(migrations.Migration):
    dependencies = [@DEPENDS@]
    operations = [migrations.AddField('person', 'nickname', models.CharField(max_length=50, null=True))]
'''


@ONE_SERIES
def test_an_older_release_sees_the_migrations_a_newer_one_applied_and_the_newer_judges_them(
        run_module, django_venv, tmp_path, copy_person, migrated_database):
    """v1's code over v2's database: 0002 (a NOT NULL column) is unknown to v1, and v2 judges v1 cannot run on it."""
    older = copy_person('v1', str(tmp_path / 'v1'))
    shutil.copyfile(migrated_database(django_venv, 'v2'), os.path.join(older, 'db.sqlite3'))
    seen = report(run_module, django_venv, older)
    assert seen['unknown_applied'] == [{'app': 'people', 'name': '0002_person_weight'}]
    assert seen['migrations'] == [] and seen['pending'] is False
    assert 'judged' not in seen
    newer = copy_person('v2', str(tmp_path / 'v2'))
    shutil.copyfile(migrated_database(django_venv, 'v2'), os.path.join(newer, 'db.sqlite3'))
    judged = report(run_module, django_venv, newer, judge=['people.0002_person_weight', 'people.0009_gone'])
    assert judged['unknown_applied'] == []
    assert [(m['app'], m['name'], m['backward_compatible']) for m in judged['judged']] == [
        ('people', '0002_person_weight', False)]
    assert judged['judged'][0]['reasons'] == [
        'adds NOT NULL column people_person.weight without a database default: the old release leaves it out of '
        'its inserts, which then fail']
    assert judged['judged_unknown'] == ['people.0009_gone']
    assert judged['older_blockers'] == ['people.0002_person_weight: ' + judged['judged'][0]['reasons'][0]]


@ONE_SERIES
def test_an_additive_migration_the_older_release_does_not_know_is_one_it_runs_with(
        run_module, django_venv, tmp_path, copy_person, migrated_database):
    newer = project_with(tmp_path, copy_person, migrated_database, django_venv, {'0003_nickname': ADD_NICKNAME})
    db = os.path.join(newer, 'db.sqlite3')
    assert subprocess.run([django_venv.python, 'manage.py', 'migrate', '--noinput'], cwd=newer, check=False,
                          env=dict(os.environ, **ENV), capture_output=True).returncode == 0
    # a row left by migration files a later release deleted: neither release knows it
    mark_applied(db, '0001_squashed_leftover')
    # rows no migration can have: text the database's user wrote, never passed on
    mark_applied(db, '0004_x\n[ERROR]: forged line')
    mark_applied(db, '0005_ppp')
    with sqlite3.connect(db) as conn:
        conn.execute("INSERT INTO django_migrations (app, name, applied) VALUES ('people; rm', '0006_a', datetime('now'))")
    older = copy_person('v2', str(tmp_path / 'older'))
    shutil.copyfile(db, os.path.join(older, 'db.sqlite3'))
    seen = report(run_module, django_venv, older)
    # numbered after v2's last (0002): ahead; at or before it: a leftover of deleted files
    assert seen['unknown_applied'] == [{'app': 'people', 'name': '0003_nickname'},
                                       {'app': 'people', 'name': '0005_ppp'}]
    assert seen['leftover_applied'] == [{'app': 'people', 'name': '0001_squashed_leftover'}]
    judged = report(run_module, django_venv, newer, judge=['people.0003_nickname', 'people.0005_ppp'])
    assert [(m['name'], m['backward_compatible'], m['reversible']) for m in judged['judged']] == [
        ('0003_nickname', True, True)]
    assert judged['judged_unknown'] == ['people.0005_ppp']
    assert judged['older_blockers'] == []


@ONE_SERIES
def test_migrations_a_squashed_one_replaces_are_known(run_module, django_venv, tmp_path, copy_person,
                                                      migrated_database):
    """Django's own squashmigrations, the replaced files then deleted: their rows are the squash's, not unknown."""
    project = copy_person('v2', str(tmp_path / 'v2'))
    shutil.copyfile(migrated_database(django_venv, 'v2'), os.path.join(project, 'db.sqlite3'))
    env = dict(os.environ, **ENV)
    squashed = subprocess.run([django_venv.python, 'manage.py', 'squashmigrations', 'people', '0002', '--noinput'],
                              cwd=project, env=env, capture_output=True, text=True, check=False)
    assert squashed.returncode == 0, squashed.stderr
    folder = os.path.join(project, 'people', 'migrations')
    for name in ('0001_initial.py', '0002_person_weight.py'):
        os.unlink(os.path.join(folder, name))
    seen = report(run_module, django_venv, project)
    assert seen['unknown_applied'] == [] and seen['migrations'] == []


@ONE_SERIES
def test_a_secret_written_into_django_migrations_as_a_name_stays_masked(
        run_module, django_venv, tmp_path, copy_person, migrated_database):
    """The app's database user can write django_migrations: a row named after a secret must not unmask it."""
    project = copy_person('v2', str(tmp_path / 'v2'))
    db = os.path.join(project, 'db.sqlite3')
    shutil.copyfile(migrated_database(django_venv, 'v2'), db)
    secret = 'Zq7sEcretValue99xK'
    mark_applied(db, '0009_' + secret)
    result = report(run_module, django_venv, project, environment=dict(ENV, API_TOKEN=secret))
    assert len(result['unknown_applied']) == 1
    assert secret not in result.raw
