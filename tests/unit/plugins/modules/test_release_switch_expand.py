# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Strategy expand with a real gunicorn 23 serving the Person example: migrate while the old release serves, then
the rolled reload.

The staged release adds a nullable column (people.0002_person_nickname) and its model selects it, so it cannot
answer before the migration ran; the old release runs on the migrated schema. A client asks every 20 ms with a
1 s timeout and notes which release answered, and when (the roll test's client). Only systemctl is a stand-in (it says which PID is the
master and writes down every other call); gunicorn, Django, SQLite and the module are real.
"""

from __future__ import annotations

import os
import sqlite3
import time
from datetime import datetime, timezone

import pytest

from ansible_collections.simpledeploy.django.plugins.modules import release_switch
from ansible_collections.simpledeploy.django.tests.unit.plugins.modules.test_release_switch import (  # noqa: F401 pylint: disable=unused-import
    systemctl,
)
from ansible_collections.simpledeploy.django.tests.unit.plugins.modules.test_release_switch_roll import (  # noqa: F401 pylint: disable=unused-import
    Client, args, gunicorn_venv, preload, served,
)

MIGRATION = '''from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("people", "0001_initial")]
    operations = [
        migrations.AddField(model_name="person", name="nickname",
                            field=models.CharField(max_length=50, null=True, blank=True)),
    ]
'''
EXPAND = dict(possible=True, reasons=[])


@pytest.fixture
def additive(served):
    """served, with the staged release adding a nullable column its model reads."""
    root = served[0]
    staged = os.path.join(root, 'staging')
    with open(os.path.join(staged, 'people', 'migrations', '0002_person_nickname.py'), 'w') as handle:
        handle.write(MIGRATION)
    models = os.path.join(staged, 'people', 'models.py')
    with open(models) as handle:
        text = handle.read()
    with open(models, 'w') as handle:
        handle.write(text.replace('    height = models.FloatField()\n',
                                  '    height = models.FloatField()\n'
                                  '    nickname = models.CharField(max_length=50, null=True, blank=True)\n'))
    return served


def columns(root):
    with sqlite3.connect(os.path.join(root, 'shared', 'db.sqlite3')) as db:
        return [row[1] for row in db.execute('PRAGMA table_info(people_person)')]


def applied_at(root, name):
    """When Django recorded migration NAME as applied (its clock: UTC, naive)."""
    with sqlite3.connect(os.path.join(root, 'shared', 'db.sqlite3')) as db:
        row = db.execute("SELECT applied FROM django_migrations WHERE app = 'people' AND name = ?", (name,)).fetchone()
    return row and datetime.fromisoformat(row[0]).replace(tzinfo=None)


def expand_args(root, url, runtime, **extra):
    given = dict(worker_ready_dir=runtime, migrate=True, expand=EXPAND,
                 applied_leaves=[dict(app='people', name='0001_initial')], reversible=True)
    given.update(extra)
    return args(root, url, **given)


def test_expand_migrates_while_the_old_release_serves_then_rolls_the_workers(additive, systemctl, run_module):
    root, url, master, runtime = additive
    with Client(url) as client:
        time.sleep(0.3)
        result = run_module(release_switch, expand_args(root, url, runtime))
        returned = time.time()
        time.sleep(0.3)
    assert not result.get('failed'), result
    assert result['strategy'] == 'expand' and result['downtime'] is False and result['window'] == 0.0
    assert result['strategy_reason'].startswith('auto: every pending migration keeps the old release working')
    assert result['migrated'] is True and 'nickname' in columns(root)
    assert client.failed == [], client.failed
    # The old release answered after the migration was applied, the new one only after that; while the old
    # workers retire both answer, and once the module is done only the new one does.
    applied = applied_at(root, '0002_person_nickname')
    utc = [(datetime.fromtimestamp(at, timezone.utc).replace(tzinfo=None), release) for at, release in client.answers]
    assert any(release == 'v1' and at > applied for at, release in utc)
    assert all(at > applied for at, release in utc if release == 'v1b')
    after = [release for at, release in client.answers if at > returned]
    assert after and set(after) == {'v1b'}, after
    assert result['workers']['lingering'] == []
    # No stop, no start, no restart: the same master, rolled (the stand-in writes down every call but "show").
    assert not systemctl.exists(), systemctl.read_text()
    assert list(result['steps'])[:2] == ['migrate', 'swap'] and 'workers' in result['steps']


def test_a_failure_after_an_expand_puts_the_old_code_back_on_the_migrated_schema(additive, systemctl, run_module):
    root, url, master, runtime = additive
    with open(os.path.join(root, 'staging', 'mysite', 'wsgi.py'), 'a') as handle:
        handle.write('\nraise RuntimeError("the new release cannot load")\n')
    result = run_module(release_switch, expand_args(root, url, runtime, ready_timeout=15))
    assert result.get('failed') and result['failed_step'] == 'workers', result
    assert result['strategy'] == 'expand'
    assert result['msg'].startswith('the expand (migrations applied while the old release served, then a graceful '
                                    'reload) failed at workers: ')
    assert ('schema left as migrated, which the old release runs with (expand); expand_migrate_back '
            '(deploy_expand_migrate_back) migrates it back') in result['msg']
    assert result['schema_as_before'] is False
    # The code only: v1 in code/, restarted; the column stays.
    with open(os.path.join(root, 'code', '.simpledeploy-release')) as handle:
        assert handle.read().strip() == 'v1'
    assert 'nickname' in columns(root)
    assert systemctl.read_text().splitlines() == ['restart person']


def test_with_expand_migrate_back_the_schema_goes_back_too_never_from_the_backup(additive, systemctl, run_module):
    root, url, master, runtime = additive
    with open(os.path.join(root, 'staging', 'mysite', 'wsgi.py'), 'a') as handle:
        handle.write('\nraise RuntimeError("the new release cannot load")\n')
    result = run_module(release_switch, expand_args(root, url, runtime, ready_timeout=15, expand_migrate_back=True,
                                                    backup=True))
    assert result.get('failed') and result['failed_step'] == 'workers', result
    # The backup was taken before the migration, and not restored: migrated back with the new release's files.
    assert result['backup'] and os.path.exists(result['backup'])
    assert 'schema migrated back people to 0001_initial' in result['msg'] and 'restored from backup' not in result['msg']
    assert result['schema_as_before'] is True and 'nickname' not in columns(root)
    assert applied_at(root, '0002_person_nickname') is None


def test_expand_is_refused_before_anything_changes_when_the_plan_does_not_allow_it(additive, systemctl, run_module):
    root, url, master, runtime = additive
    why = 'people.0002_person_nickname (Add field nickname to person): builds index on people_person'
    result = run_module(release_switch, expand_args(root, url, runtime, strategy='expand',
                                                    expand=dict(possible=False, reasons=[why])))
    assert result.get('failed')
    assert result['msg'] == ('deploy_strategy is expand, but the migrations cannot be applied while the old release '
                             'serves: %s. Nothing was stopped; deploy with deploy_strategy auto or simple' % why)
    assert 'nickname' not in columns(root) and not systemctl.exists()
    with open(os.path.join(root, 'code', '.simpledeploy-release')) as handle:
        assert handle.read().strip() == 'v1'


def test_an_expand_whose_migration_fails_leaves_the_old_release_serving_untouched(additive, systemctl, run_module):
    root, url, master, runtime = additive
    with open(os.path.join(root, 'staging', 'people', 'migrations', '0002_person_nickname.py'), 'a') as handle:
        handle.write('\n\ndef explode(apps, schema_editor):\n    raise RuntimeError("exploded on purpose")\n\n\n'
                     'Migration.operations.append(migrations.RunPython(explode, migrations.RunPython.noop))\n')
    with Client(url) as client:
        result = run_module(release_switch, expand_args(root, url, runtime))
    assert result.get('failed') and result['failed_step'] == 'migrate', result
    # atomic: nothing of the migration stayed; the code was never swapped; the service was never touched
    assert 'schema unchanged (no migration was applied)' in result['msg']
    assert 'service person untouched: the old release served throughout' in result['msg']
    assert result['schema_as_before'] is True and 'nickname' not in columns(root)
    assert not systemctl.exists() and client.failed == []
    assert {release for dummy, release in client.answers} == {'v1'}
