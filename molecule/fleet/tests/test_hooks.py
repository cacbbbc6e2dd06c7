# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""An after-live task file that fails on one host of a fleet (prepare.yml, hooks.yml): every host goes back.

Release v2 (a migration) went live on both web hosts; the team's smoke test
(hooks/after_live.yml) saw v2 on each, then failed on the second: the first
host, which migrated the shared database, took the schema back, and both hosts
served v1 again, the rows kept.
"""

import os

import pytest

SECRETS = ("molecule-fleet-db-password-2b7e91", "molecule-fleet-secret-key-a04c5d")


def read(records, name):
    with open(os.path.join(records, name), encoding="utf-8") as handle:
        return handle.read()


def test_the_smoke_test_ran_while_the_new_release_served_on_each_host(web, records):
    for host in web:
        page = read(records, "hook-page-%s.html" % host.backend.hostname)
        assert 'content="v2"' in page and "<th>weight</th>" in page, host.backend.hostname


def test_both_hosts_served_v1_again_with_every_row(web, records):
    for host in web:
        page = read(records, "after-hooks-%s.html" % host.backend.hostname)
        assert "<th>weight</th>" not in page and 'content="v2"' not in page, host.backend.hostname
        for name in ("Ada", "Grace", "Linus"):
            assert name in page, (host.backend.hostname, name)


def test_each_host_said_the_fleet_went_back_and_the_schema_with_it(web, records):
    first, second = (host.backend.hostname for host in web)
    log = " ".join(read(records, "hooks-failed.log").split())
    where = "on %s (of %s, %s, which share the database %s migrated) and was rolled back" % (
        second, first, second, first)
    # the host whose smoke test failed, with the task's own error; the host that migrated, with the schema
    assert "failed its after-live task file %s" % where in log
    assert "smoke test failed on %s: the search page answered 503" % second in log
    assert "schema migrated back people to 0001_initial" in log
    assert log.count(where) >= 2, log  # both hosts say it


@pytest.mark.parametrize("secret", SECRETS)
def test_no_secret_in_the_failed_run_output(records, secret):
    assert secret not in read(records, "hooks-failed.log")
