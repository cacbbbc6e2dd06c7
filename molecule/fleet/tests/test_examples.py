# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The AWX job (ansible-runner) and the infrastructure repo that deployed this fleet."""

import glob
import json
import os

import pytest

from test_fleet import SECRETS


def report(records, pattern):
    found = sorted(glob.glob(os.path.join(records, pattern)))
    assert found, "no %s in %s" % (pattern, records)
    with open(found[0], encoding="utf-8") as handle:
        return json.load(handle)


def web_hosts(summary):
    return dict((host, stats) for host, stats in summary["hosts"].items() if host != "localhost")


def test_the_infra_repo_deployed_v1_from_the_collection_installed_from_its_tarball(records):
    infra = report(records, "infra-repo.json")
    assert infra["status"] == "successful" and infra["rc"] == 0
    assert os.path.basename(infra["tarball"]).startswith("simpledeploy-django-")
    assert infra["installed"].startswith(os.path.join(records, "infra-repo"))
    assert infra["role_tasks"]["from_installed_copy"] > 20 and infra["role_tasks"]["elsewhere"] == []
    assert sorted(web_hosts(infra)) == ["simpledeploy-fleet-web1", "simpledeploy-fleet-web2"]
    assert all(stats["failed"] == 0 and stats["unreachable"] == 0 for stats in web_hosts(infra).values())
    assert infra["secret_in_output"] is False


def test_the_dry_run_job_previewed_the_migration_and_changed_nothing(records):
    job = report(records, "awx-*-dry-run.json")
    assert job["status"] == "successful" and job["rc"] == 0
    assert job["answers"]["dry_run"] in ("true", True)
    for host, result in job["results"].items():
        assert result["check_mode"] is True, host
        assert "check mode, nothing changed" in result["summary"], host
        assert "people.0002_person_weight" in result["summary"], host


@pytest.mark.parametrize("kind", ["dry-run", "deploy"])
def test_the_jobs_events_hold_no_secret(records, kind):
    job = report(records, "awx-*-%s.json" % kind)
    assert job["secrets_checked"] == len(SECRETS)
    assert job["secret_in_stdout"] is False and job["secret_in_artifacts"] == []
    assert job["events"] > 50


def test_the_deploy_job_migrated_once_and_switched_both_hosts(records):
    job = report(records, "awx-*-deploy.json")
    assert job["status"] == "successful" and job["rc"] == 0
    assert job["answers"]["app_version"] == "v2" and job["answers"]["deploy_strategy"] == "auto"
    hosts = web_hosts(job)
    assert len(hosts) == 2 and all(s["failed"] == 0 and s["unreachable"] == 0 for s in hosts.values())
    results = job["results"]
    assert sorted(results[host]["migrated"] for host in hosts) == [False, True]
    assert all(results[host]["switched"] is True and results[host]["check_mode"] is False for host in hosts)


def test_the_job_launched_again_changed_nothing(records):
    jobs = sorted(glob.glob(os.path.join(records, "awx-*-deploy.json")))
    assert len(jobs) == 2, "idempotence runs converge again: two deploy jobs, found %s" % jobs
    with open(jobs[1], encoding="utf-8") as handle:
        again = json.load(handle)
    assert again["status"] == "successful"
    assert all(stats["changed"] == 0 for stats in web_hosts(again).values()), again["hosts"]
