"""Every failure ends in a known, serving state with no data lost.

converge.yml ran files/faults.py, which deployed each fault with a real
ansible-playbook run and wrote the host's state before and after each to
faults.json in Molecule's ephemeral directory.
"""

import json
import os

import re

import pytest

REPORT = os.path.join(os.environ.get("MOLECULE_EPHEMERAL_DIRECTORY", "."), "faults.json")


def load():
    with open(REPORT) as handle:
        return {case["name"]: case for case in json.load(handle)}


CASES = load() if os.path.exists(REPORT) else {}

# What each failing run must say (a part of its one clear message).
MESSAGES = {
    "failing-migration": "data migration exploded on purpose",
    "irreversible-migration": "restored from backup",
    # gunicorn starts, its workers cannot import the app: the health URL never answers
    "crash-on-start": "did not answer a 2xx status",
    "health-check-fails": "did not answer",
    "source-missing": "does not exist",
    "source-without-manage-py": "has no manage.py",
    "root-is-slash": "deploy_root is /",
    "root-is-a-system-directory": "inside the system directory /usr",
    "root-is-a-home-directory": "home directory /home/alice",
    "service-does-not-exist": "the service nosuch does not exist",
    "broken-settings-module": "mysite.nosuch",
    "database-unreachable": "could not be reached",
    "requirements-fail-to-install": "simpledeploy-no-such-package",
    "health-url-never-answers": "does not answer",
    "lock-held-by-another-run": "bob@another-controller",
    "app-user-planted-a-link-in-shared": "/srv/person/shared/media is a symbolic link to /etc owned by person",
}


def names(kind):
    return sorted(name for name, case in CASES.items() if case["kind"] == kind)


def test_every_case_ran():
    expected = set(MESSAGES) | {"lock-left-by-a-dead-run", "killed-while-staging",
                                "killed-while-building-the-virtualenv", "killed-in-the-downtime-window",
                                "killed-on-both-sides-in-the-window"}
    assert set(CASES) == expected


@pytest.mark.parametrize("name", sorted(MESSAGES))
def test_the_run_fails_with_a_clear_message(name):
    run = CASES[name]["run"]
    assert run["rc"] != 0
    assert MESSAGES[name] in run["tail"], run["failed_lines"]


def test_a_failed_command_ends_in_one_message_with_its_own_error():
    # pip's own reason, not "non-zero return code", in the deploy's one failure message. The
    # callback folds a long message over several lines: read it from the output's end, blanks joined.
    run = CASES["requirements-fail-to-install"]["run"]
    text = " ".join(re.sub(r"\x1b\[[0-9;]*m", "", run["tail"]).split())
    marker = 'the deploy failed at "Preflight | Install the requirements into it": '
    assert marker in text, run["failed_lines"]
    message = text[text.rindex(marker) + len(marker):][:2500]  # at most 6 lines of 300 characters and the command
    assert "-m pip install" in message and "failed (rc=1): " in message, message
    assert "No matching distribution found for simpledeploy-no-such-package" in message, message
    assert "non-zero return code" not in message


@pytest.mark.parametrize("name", names("fault"))
def test_a_failure_after_the_stop_brings_the_old_release_back(name):
    before, after = CASES[name]["before"], CASES[name]["after"]
    assert before["page"] == "v2" and after["page"] == "v2"
    assert after["service"] == "active"
    assert after["rows"] == before["rows"] == 3
    # the schema is the old one: no nickname column, no 0003 recorded
    assert after["columns"] == before["columns"]
    assert after["migrations"] == before["migrations"] == ["0001_initial", "0002_person_weight"]
    assert not after["lock"] and not after["staging"]
    # the run changed deploy_env and the unit: the old release serves with its own again
    assert after["config"] == before["config"] and len(after["config"].split()) == 2


@pytest.mark.parametrize("name", names("input"))
def test_bad_input_changes_nothing_on_the_host(name):
    before, after = CASES[name]["before"], CASES[name]["after"]
    assert before["fingerprint"], "no fingerprint taken"
    assert after == before
    assert after["page"] == "v2" and after["service"] == "active" and after["rows"] == 3


def test_a_lock_held_by_a_live_run_refuses_at_once_and_stays():
    case = CASES["lock-held-by-another-run"]
    assert case["run"]["rc"] != 0 and case["run"]["seconds"] < 60
    assert case["after"]["lock"], "the other run's lock was removed"
    assert case["after"]["page"] == "v2"


def test_a_lock_left_by_a_dead_run_is_taken_over_and_released():
    case = CASES["lock-left-by-a-dead-run"]
    assert case["run"]["rc"] == 0, case["run"]["failed_lines"]
    assert not case["after"]["lock"]


@pytest.mark.parametrize("name", names("kill"))
def test_a_killed_run_is_finished_by_the_next_one(name):
    case = CASES[name]
    assert case["killed_run"]["killed"], "the run ended before the point it was to be killed at"
    assert case["run"]["rc"] == 0, case["run"]["failed_lines"]
    after = case["after"]
    assert after["page"] == case["release"] and after["service"] == "active"
    assert after["rows"] == 3
    assert not after["lock"] and not after["staging"]


def test_the_module_killed_mid_window_left_the_site_down_and_the_rerun_recovered():
    """Killed in the window (its hooks step): the new release was started beside migrate, its workers held at the
    serve gate, so no release answers (the request waits in the socket until curl gives up); the rerun finishes
    the window."""
    case = CASES["killed-on-both-sides-in-the-window"]
    # (the page is the release a page named, or files/host_state.py's "no answer: timed out" when none answered
    # within its 5 s)
    page = case["middle"]["page"] or ""
    assert "timed out" in page, "the kill did not land inside the window: %s" % case["middle"]
    assert case["after"]["page"] == "v6" and case["after"]["migrations"][-1] == "0004_person_alias"


def test_no_secret_in_any_output_even_at_vvv():
    seen = dict((name, case["run"]["secrets_seen"]) for name, case in CASES.items() if case["run"]["secrets_seen"])
    assert seen == {}
    # and the runs that failed at -vvv did print their connection traces: the check saw real -vvv output
    verbose = dict((name, case["run"]) for name, case in CASES.items() if case["run"]["verbose"])
    assert len(verbose) >= 5
    for name, run in verbose.items():
        # the connection traces -vvv adds (one per task and more), and the run failed
        assert run["vvv_traces"] > 10 and run["rc"] != 0, (name, run["vvv_traces"])


def test_backups_are_kept_root_only(host):
    backups = host.file("/srv/person/backups")
    assert backups.is_directory and backups.user == "root" and backups.mode == 0o700
    assert host.check_output("ls /srv/person/backups | wc -l") != "0"


def test_the_unit_is_hardened_and_the_app_cannot_write_its_code(host):
    unit = host.file("/etc/systemd/system/person.service").content_string
    for option in ("NoNewPrivileges=true", "ProtectSystem=strict", "ProtectHome=true", "PrivateTmp=true",
                   "PrivateDevices=true", "CapabilityBoundingSet=\n", "ReadWritePaths=/srv/person/shared"):
        assert option in unit
    assert host.run("runuser -u person -- touch /srv/person/code/x").rc != 0
    assert host.service("person").is_running
