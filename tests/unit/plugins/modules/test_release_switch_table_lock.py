# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""migrate behind a real LOCK TABLE on a real PostgreSQL: lock_timeout, retries with backoff, a clean failure.

Another session (psql, kept open) holds people_person in ACCESS SHARE mode inside a transaction, as a long
report would; v2's migration needs ACCESS EXCLUSIVE to add its column. The holder lets go only once the
migrate has been seen waiting and then giving up a first time (made deterministic from pg_stat_activity,
not from sleeps), or never.
"""

from __future__ import annotations

import os
import subprocess
import threading
import time

from ansible_collections.simpledeploy.django.plugins.modules import release_switch
from ansible_collections.simpledeploy.django.tests.unit.plugins.modules.test_release_switch import (  # noqa: F401 pylint: disable=unused-import
    PG_APP_PASSWORD, PsqlSession, _pg_bin, args, deployed, deployed_pg, pg_schema, pg_server, systemctl, venv,
)

REPORT = "BEGIN; LOCK TABLE people_person IN ACCESS SHARE MODE; SELECT 'a long report'"


def table_lock_holder(port, statements=REPORT):
    """A session holding what STATEMENTS took (people_person, ACCESS SHARE) in an open transaction."""
    return PsqlSession(port, statements)


def waiting_on_a_lock(sql):
    """How many sessions wait for a lock right now."""
    return int(sql("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'").strip())


def until(sql, waiting, deadline):
    """Until a session waits for a lock (WAITING true), or none does; False when DEADLINE came first."""
    while bool(waiting_on_a_lock(sql)) != waiting:
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def run_beside(action, holder, run):
    """RUN() (the module) while ACTION runs in a thread; HOLDER lets go in the end, whatever happened."""
    thread = threading.Thread(target=action)
    thread.start()
    try:
        return run()
    finally:
        thread.join()
        holder.release()


def test_a_migrate_behind_a_table_lock_gives_up_waiting_and_tries_again(deployed_pg, systemctl, pg_server,
                                                                        run_module):
    holder = table_lock_holder(pg_server['port'])
    seen = []

    def release_after_the_first_timeout():
        deadline = time.monotonic() + 60
        if until(pg_server['sql'], True, deadline):
            seen.append('waiting')
        # The wait ends by lock_timeout (the holder still holds): the first try failed.
        if until(pg_server['sql'], False, deadline):
            seen.append('gave up')
        # The second try waits too: the first one's look at the locks is done.
        until(pg_server['sql'], True, deadline)
        holder.release()

    result = run_beside(release_after_the_first_timeout, holder, lambda: run_module(
        release_switch, args(deployed_pg, migrate_table_lock_timeout=1, migrate_retry_budget=60)))
    assert seen == ['waiting', 'gave up']
    assert not result.get('failed'), result.get('msg')
    retries = result['migrate_lock']['retries']
    assert len(retries) >= 1 and retries[0]['dropped'] == []
    blocker = retries[0]['blockers'][0]
    assert blocker['table'] == 'people_person' and blocker['state'] == 'idle in transaction'
    # what it runs, never the values it carries
    assert blocker['query'] == "SELECT ?;"
    assert 'weight' in pg_schema(pg_server['sql'])['columns']


def test_a_table_lock_held_past_the_budget_fails_migrate_naming_it_and_rolls_back(
        deployed_pg, systemctl, pg_server, run_module):
    before = pg_schema(pg_server['sql'])
    holder = table_lock_holder(pg_server['port'])
    started = time.monotonic()
    try:
        result = run_module(release_switch, args(deployed_pg, migrate_table_lock_timeout=0.5,
                                                 migrate_retry_budget=2))
    finally:
        holder.release()
    assert result['failed'] and result['failed_step'] == 'migrate'
    assert ('manage.py migrate failed: LockTimeout: a table lock it needs was not free within lock_timeout (0.5 s); '
            in result['msg'])
    assert "(retry budget 2 s): pid " in result['msg'] and 'a long report' not in result['msg']
    assert "on people_person, idle in transaction for " in result['msg'] and ", running: SELECT ?;" in result['msg']
    tries = len(result['migrate_lock']['retries'])
    assert tries >= 2 and ' %d tries over ' % tries in result['msg']
    # Bounded: the budget, not the holder, ended it; nothing was migrated and the old release is back.
    assert time.monotonic() - started < 30
    assert pg_schema(pg_server['sql']) == before
    assert systemctl.read_text().splitlines() == ['stop person', 'start person']


def test_without_a_table_lock_timeout_migrate_waits_as_django_does(deployed_pg, systemctl, pg_server, run_module):
    """The control: migrate_table_lock_timeout 0 sets none, so the same holder makes migrate wait, not retry."""
    holder = table_lock_holder(pg_server['port'])

    def release_once_waiting():
        until(pg_server['sql'], True, time.monotonic() + 60)
        time.sleep(1.5)
        holder.release()

    result = run_beside(release_once_waiting, holder, lambda: run_module(
        release_switch, args(deployed_pg, migrate_table_lock_timeout=0)))
    assert not result.get('failed'), result.get('msg')
    assert result['migrate_lock']['retries'] == [] and result['steps']['migrate'] >= 1.5


CONCURRENT_INDEX = '''
from django.contrib.postgres.operations import AddIndexConcurrently
from django.db import migrations, models


class Migration(migrations.Migration):
    atomic = False
    dependencies = [("people", "0002_person_weight")]
    operations = [AddIndexConcurrently("person", models.Index(fields=["name"], name="person_name_idx"))]
'''


def test_a_concurrent_index_build_waits_without_lock_timeout(deployed_pg, systemctl, pg_server, run_module):
    """CREATE INDEX CONCURRENTLY waits for every older transaction (here a report on another table), holding no
    write of the site: it runs without lock_timeout, so it is not cut short with an invalid index left."""
    from ansible_collections.simpledeploy.django.tests.unit.plugins.modules.test_release_switch import add_migration
    add_migration(deployed_pg, '0003_person_name_idx', CONCURRENT_INDEX)
    holder = table_lock_holder(pg_server['port'],
                               "BEGIN ISOLATION LEVEL REPEATABLE READ; SELECT count(*) FROM django_content_type")
    waited = []

    def release_after_a_while():
        until(pg_server['sql'], True, time.monotonic() + 60)
        time.sleep(2.5)  # past lock_timeout (1 s): still waiting, not cut short
        waited.append(waiting_on_a_lock(pg_server['sql']))
        holder.release()

    result = run_beside(release_after_a_while, holder, lambda: run_module(
        release_switch, args(deployed_pg, migrate_table_lock_timeout=1, migrate_retry_budget=60)))
    assert waited == [1]
    assert not result.get('failed'), result.get('msg')
    assert result['migrate_lock']['retries'] == []
    assert pg_server['sql']("SELECT i.indisvalid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
                            "WHERE c.relname = 'person_name_idx'", database='person').strip() == 't'


def test_an_invalid_index_an_earlier_run_left_is_dropped_first(deployed_pg, systemctl, pg_server, run_module):
    """A CREATE INDEX CONCURRENTLY that was cancelled (a run killed, a timeout) leaves an invalid index of the same
    name: Django would stop on it. It is dropped before migrate runs."""
    from ansible_collections.simpledeploy.django.tests.unit.plugins.modules.test_release_switch import add_migration
    add_migration(deployed_pg, '0003_person_name_idx', CONCURRENT_INDEX)
    sql = pg_server['sql']
    # weight first (v2's own migration), then a build cut short by its own statement_timeout while a repeatable-read
    # report holds it back: the index stays, invalid
    sql('ALTER TABLE people_person ADD COLUMN weight double precision', database='person')
    holder = table_lock_holder(pg_server['port'],
                               "BEGIN ISOLATION LEVEL REPEATABLE READ; SELECT count(*) FROM django_content_type")
    try:
        subprocess.run([_pg_bin('psql'), '-h', '127.0.0.1', '-p', str(pg_server['port']), '-U', 'person', '-d',
                        'person', '-AtX', '-c', 'SET statement_timeout = 500',
                        '-c', 'CREATE INDEX CONCURRENTLY person_name_idx ON people_person (name)'],
                       env=dict(os.environ, PGPASSWORD=PG_APP_PASSWORD), capture_output=True, check=False)
    finally:
        holder.release()
    sql('ALTER TABLE people_person DROP COLUMN weight', database='person')
    assert sql("SELECT i.indisvalid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
               "WHERE c.relname = 'person_name_idx'", database='person').strip() == 'f'
    result = run_module(release_switch, args(deployed_pg, migrate_table_lock_timeout=1))
    assert not result.get('failed'), result.get('msg')
    assert result['migrate_lock']['retries'][0]['dropped'] == ['person_name_idx']
    assert sql("SELECT i.indisvalid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
               "WHERE c.relname = 'person_name_idx'", database='person').strip() == 't'
