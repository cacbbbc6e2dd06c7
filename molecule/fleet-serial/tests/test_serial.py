# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""serial: 1 on two hosts sharing one database: a release whose migration fails, then v2, then v3 whose nullable
column is migrated while both hosts serve."""

import os

from test_fleet import SECRETS, sql


def read(records, name):
    with open(os.path.join(records, name), encoding="utf-8") as handle:
        return handle.read()


def test_the_failed_deploy_migrated_back_on_the_host_that_migrated(records):
    log = " ".join(read(records, "failed-deploy.log").split())
    assert "the downtime window failed at migrate: manage.py migrate failed: RuntimeError: data migration " \
           "exploded on purpose" in log
    assert "schema migrated back people to 0001_initial" in log
    for secret in SECRETS:
        assert secret not in log


def test_both_hosts_served_v1_again_after_the_failure(web, records):
    for host in web:
        page = read(records, "after-failure-%s.html" % host.backend.hostname)
        assert "<th>height</th>" in page and "<th>weight</th>" not in page, host.backend.hostname
        assert "Ada" in page, host.backend.hostname


def test_v3s_additive_migration_ran_once_while_every_host_served(web, db, records):
    # expand on a shared database: migrated once, by the first batch's host, no host stopped (the next test: the
    # same gunicorn master on each host before and after v3)
    assert sql(db, "SELECT count(*) FROM django_migrations WHERE app = 'people' AND name = '0003_person_nickname'") \
        == "1"
    assert sql(db, "SELECT count(*) FROM information_schema.columns WHERE table_name = 'people_person' "
                   "AND column_name = 'nickname'") == "1"


def test_v3_reloaded_each_host_without_a_restart(web, records):
    for host in web:
        name = host.backend.hostname
        page = read(records, "after-v3.html-%s" % name)
        assert "<p>release v3</p>" in page and "<th>weight</th>" in page, name
        # the same gunicorn master before and after: a graceful reload, not a stop and start
        before, after = read(records, "mainpid-before-%s" % name).strip(), read(records, "mainpid-after-%s" % name).strip()
        assert before == after and before not in ("", "0"), (name, before, after)
        assert "<p>release v3</p>" in host.check_output("curl -fsS http://127.0.0.1:8000/"), name
