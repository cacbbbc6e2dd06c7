"""What the collection knows before any downtime, checked on the host.

prepare.yml and converge.yml leave their records in /var/tmp/sd-test.
"""

import json

import pytest

RECORDS = "/var/tmp/sd-test"


def record(host, name):
    return host.file("%s/%s" % (RECORDS, name)).content_string


def fingerprint_diff(host, before, after):
    old = set(record(host, before).splitlines())
    new = set(record(host, after).splitlines())
    assert len(old) > 1000, "the fingerprint covers too little to prove anything"
    return sorted(old - new), sorted(new - old)


@pytest.mark.parametrize("when", ["fresh", "deployed"])
def test_check_mode_changes_nothing_on_the_host(host, when):
    gone, appeared = fingerprint_diff(host, when + "-before", when + "-after")
    assert (gone, appeared) == ([], [])


def test_check_mode_on_a_fresh_host_says_it_is_a_first_deploy(host):
    preview = json.loads(record(host, "fresh-check.json"))
    assert preview["check_mode"] and preview["switched"]
    assert preview["current_release"] is None and preview["plan"] is None
    assert preview["strategy"] == "simple" and preview["downtime"] is False
    assert preview["files"]["added"] > 10 and preview["files"]["removed"] == 0
    assert "first deploy" in preview["summary"]


def test_check_mode_on_a_deployed_host_previews_the_migration_and_the_downtime(host):
    preview = json.loads(record(host, "deployed-check.json"))
    # v1 -> v2: 0002 adds a NOT NULL column without a database default
    assert [(m["app"], m["name"]) for m in preview["plan"]["migrations"]] == [("people", "0002_person_weight")]
    migration = preview["plan"]["migrations"][0]
    assert [op["kind"] for op in migration["operations"]] == ["AddField"]
    assert migration["backward_compatible"] is False and migration["reversible"] is True
    assert preview["strategy"] == "simple" and preview["downtime"] is True
    assert "migrations are pending" in preview["strategy_reason"]
    assert preview["files"] == {"added": 1, "changed": 4, "removed": 1}
    assert "the site would go down: yes" in preview["summary"]


def test_a_model_change_without_migration_stops_the_deploy_naming_the_app(host):
    message = record(host, "missing-failure.txt")
    assert "without a migration file" in message
    assert "people: Add field nickname to person" in message
    assert "deploy_fail_on_missing_migrations" in message


def test_the_stopped_deploy_left_the_old_release_serving(host):
    page = record(host, "after-missing.html")
    assert '<meta name="release" content="v2">' in page


def poll_rows(host):
    host.run("touch %s/poll.stop" % RECORDS)
    host.run("for i in $(seq 50); do systemctl is-active -q sd-poller || break; sleep 0.1; done")
    return [line.split() for line in record(host, "poll.log").splitlines() if line.strip()]


def test_the_code_only_deploy_reloaded_without_a_single_failed_request(host):
    deploy = json.loads(record(host, "v3-deploy.json"))
    assert deploy["strategy"] == "reload" and deploy["downtime"] is False
    rows = poll_rows(host)
    releases = [release for _start, _end, _status, release in rows]
    failed = [row for row in rows if row[2] != "200"]
    assert len(rows) > 200, "the poller hardly ran"
    assert failed == []
    # v2 answered until the switch; then, while the workers were rolled, both did (old workers serve until
    # the new ones have loaded v3); once the last old worker went, only v3.
    first_v3 = releases.index("v3")
    last_v2 = len(releases) - 1 - releases[::-1].index("v2")
    assert set(releases[:first_v3]) == {"v2"} and first_v3 > 20
    assert set(releases[last_v2 + 1:]) == {"v3"} and len(releases) - last_v2 > 20
    assert set(releases) == {"v2", "v3"}
    assert host.check_output("curl -fsS http://127.0.0.1:8000/").count('content="v3"') == 1


def test_the_reload_kept_the_server_process(host):
    # A stop/start or restart gives gunicorn's master a new PID; a graceful reload does not.
    state = json.loads(host.file("/srv/person/.simpledeploy.json").content_string)
    deploy = json.loads(record(host, "v3-deploy.json"))
    assert state["current"]["release"] == deploy["release"]
    before = record(host, "mainpid-before").strip()
    assert before not in ("", "0")
    assert host.check_output("systemctl show -p MainPID --value person") == before
