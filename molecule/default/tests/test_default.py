"""What a person checks by hand after the upgrade from v1 to v2 of the example."""

import json
import os
import re
import shlex
import subprocess

import pytest
import yaml

ROOT = "/srv/person"
CODE = ROOT + "/code"
EXAMPLE_V2 = os.path.join(os.path.dirname(__file__), "..", "..", "..", "examples", "person", "v2")


def sql(host, query):
    """Run a query on the app's SQLite database with the host's own Python."""
    script = (
        "import json, sqlite3; c = sqlite3.connect('file:%s/shared/db.sqlite3?mode=ro', uri=True); "
        "print(json.dumps(c.execute(%r).fetchall()))" % (ROOT, query)
    )
    return json.loads(host.check_output("python3 -c %s" % shlex.quote(script)))


def test_service_is_active_and_enabled(host):
    service = host.service("person")
    assert service.is_running
    assert service.is_enabled


def test_service_runs_as_the_unprivileged_user(host):
    pid = host.check_output("systemctl show -p MainPID --value person")
    assert host.check_output("ps -o user= -p %s" % pid) == "person"


def test_page_serves_release_v2_with_weight(host):
    page = host.check_output("curl -fsS http://127.0.0.1:8000/")
    assert 'content="v2"' in page
    assert "weight" in page


def test_rows_written_before_the_upgrade_are_still_served(host):
    names = [row[0] for row in sql(host, "SELECT name FROM people_person ORDER BY id")]
    assert len(names) == 3
    page = host.check_output("curl -fsS http://127.0.0.1:8000/")
    for name in names:
        assert name in page


def test_migration_was_applied_and_recorded(host):
    applied = sql(host, "SELECT name FROM django_migrations WHERE app = 'people' ORDER BY id")
    assert [row[0] for row in applied] == ["0001_initial", "0002_person_weight"]
    columns = [row[1] for row in sql(host, "PRAGMA table_info(people_person)")]
    assert "weight" in columns


def test_database_and_media_live_outside_the_code_and_are_linked_in(host):
    db = host.file(CODE + "/db.sqlite3")
    assert db.is_symlink
    assert db.linked_to == ROOT + "/shared/db.sqlite3"
    assert host.file(ROOT + "/shared/db.sqlite3").is_file
    assert host.file(CODE + "/media/upload.txt").content_string == "uploaded before the upgrade\n"


def live_files(host):
    out = host.check_output(
        "cd %s && find . \\( -name __pycache__ -prune \\) -o \\( -type f -o -type l \\) -print" % CODE)
    return sorted(path[2:] for path in out.splitlines())


def test_live_tree_is_exactly_release_v2(host):
    expected = set()
    for dirpath, dirnames, filenames in os.walk(EXAMPLE_V2):
        dirnames[:] = [d for d in dirnames if d != "__pycache__"]
        for name in filenames:
            if not name.endswith(".pyc"):
                expected.add(os.path.relpath(os.path.join(dirpath, name), EXAMPLE_V2))
    # the shared data's links, and the marker naming the release the tree holds
    expected |= {"db.sqlite3", "media", ".env", ".simpledeploy-release"}
    # the static files the deploy collected (STATIC_ROOT = BASE_DIR / "static"), and their record
    record = json.loads(host.file(CODE + "/.simpledeploy-static").content_string)
    assert record["static_root"] == "static" and "admin/css/base.css" in record["files"]
    expected |= {".simpledeploy-static"} | {"static/" + path for path in record["files"]}
    live = set(live_files(host))
    # and the previous release's own static files, kept beside them for a reload
    carried = {path for path in live - expected if path.startswith("static/")}
    assert all(host.file(ROOT + "/code.previous/" + path).is_file for path in carried)
    assert live - carried == expected
    assert not host.file(CODE + "/people/legacy.py").exists


def test_no_stale_bytecode_in_the_live_tree(host):
    out = host.check_output("find %s -name '*.py[co]'" % CODE)
    for pyc in out.splitlines():
        if "/__pycache__/" in pyc:
            source = os.path.dirname(os.path.dirname(pyc)) + "/" + os.path.basename(pyc).split(".")[0] + ".py"
        else:
            source = pyc[:-1]
        assert host.file(source).exists, "stale bytecode left: %s" % pyc
    assert not host.file(CODE + "/people/ghost.pyc").exists


def test_previous_release_is_kept_aside_for_a_rollback(host):
    assert host.file(ROOT + "/code.previous/people/legacy.py").exists
    state = json.loads(host.file(ROOT + "/.simpledeploy.json").content_string)
    assert state["app"] == "person"
    assert state["previous"]["release"] != state["current"]["release"]


def test_environment_file_is_readable_by_root_only(host):
    # systemd reads it as root before it drops to the app user, who cannot change it
    env = host.file(ROOT + "/app.env")
    assert (env.user, env.group, env.mode) == ("root", "root", 0o600)
    assert "DJANGO_SECRET_KEY=" in env.content_string
    assert host.run("runuser -u person -- cat %s/app.env" % ROOT).rc != 0
    # the renderings put in place inside the window, and the old files kept until it succeeded, are gone
    leftovers = host.check_output("ls -a %s /etc/systemd/system | grep -E 'simpledeploy-(next|previous)$' || true" % ROOT)
    assert leftovers == ""


def test_the_virtualenv_was_built_by_the_build_user_and_is_roots_now(host):
    build = host.user("person-build")
    assert build.exists and build.shell == "/usr/sbin/nologin"
    assert host.run("pgrep -u person-build").rc == 1  # no process of it left
    venv = host.file(ROOT + "/venv").linked_to
    others = host.check_output("find %s ! -user root -o ! -group root -o -perm -g+w ! -type l -o -perm -o+w ! -type l"
                               % venv)
    assert others == ""
    assert not host.file(venv + "/.simpledeploy-build").exists and not host.file(venv + "/pip.conf").exists
    marker = host.file(venv + "/.simpledeploy-complete")
    assert (marker.user, marker.mode) == ("root", 0o644)
    # console scripts carry the virtualenv's final path, where gunicorn runs from
    assert host.file(venv + "/bin/gunicorn").content_string.startswith("#!%s/bin/python" % venv)


def test_the_deploy_lock_lives_where_only_root_can_write(host):
    lock_dir = host.file("/run/simpledeploy")
    assert lock_dir.is_directory and (lock_dir.user, lock_dir.mode) == ("root", 0o700)
    assert not host.file("/run/simpledeploy/person.lock").exists  # released at the end of the run


@pytest.mark.parametrize("path", [CODE, CODE + "/people", CODE + "/manage.py"])
def test_app_user_cannot_write_its_code(host, path):
    assert host.file(path).user == "root"
    assert host.run("runuser -u person -- test -w %s" % path).rc != 0


def test_v1_over_v2s_schema_was_refused_saying_why_and_how_to_go_back(host):
    """converge.yml deployed v1 again after v2: the live v2 judged that v1 does not run on its schema."""
    path = os.path.join(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"], "older-over-newer.txt")
    with open(path, encoding="utf-8") as handle:
        message = handle.read().strip()
    assert message.startswith(
        "The database has migrations this release does not know, applied by a newer release: "
        "people.0002_person_weight. The live release ("), message
    assert "this release would not run on the schema they made: people.0002_person_weight: adds NOT NULL column " \
        "people_person.weight without a database default" in message, message
    assert "(manage.py migrate people 0001_initial)" in message, message
    assert message.endswith("Nothing live was changed: the old release still serves."), message
    # nothing changed indeed: v2 live and serving (test_page_serves_release_v2_with_weight), its migration applied
    release = host.file(CODE + "/.simpledeploy-release").content_string.strip()
    assert "The live release (%s)" % release in message


def test_the_releases_playbook_lists_v2_live_and_v1_ready_to_come_back(host):
    """converge.yml ran playbooks/releases.yml: one line per release kept, newest first, the live one first."""
    path = os.path.join(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"], "releases.txt")
    with open(path, encoding="utf-8") as handle:
        output = handle.read()
    live = host.file(CODE + "/.simpledeploy-release").content_string.strip()
    previous = host.file("/srv/person/code.previous/.simpledeploy-release").content_string.strip()
    lines = re.findall(r'"((?:%s|%s) \| [^"]*)"' % (live, previous), output)
    assert len(lines) == 2, output
    assert lines[0].startswith(live + " | live | went live 20"), lines
    assert "people.0002_person_weight" in lines[0] and "auth." in lines[0], lines
    assert lines[1].startswith(previous + " | kept | went live 20"), lines
    assert "people.0001_initial" in lines[1] and lines[1].endswith("| rollback possible"), lines


HERE = os.path.dirname(__file__)
VARIABLES = os.path.join(HERE, "..", "vars.yml")


def deploy_v2(*extra, count_file=None):
    """The deploy playbook for v2 (live already) as a user runs it, with EXTRA arguments; remote executions are
    counted into COUNT_FILE by benchmarks/plugins/callback/count_remote.py (one line each)."""
    env = dict(os.environ, ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0", ANSIBLE_CALLBACK_RESULT_FORMAT="json")
    if count_file:
        env.update(ANSIBLE_CALLBACK_PLUGINS=os.path.join(HERE, "..", "..", "..", "benchmarks", "plugins", "callback"),
                   ANSIBLE_CALLBACKS_ENABLED="count_remote", SD_COUNT_FILE=count_file)
    run = subprocess.run(
        ["ansible-playbook", "--inventory", os.environ["MOLECULE_INVENTORY_FILE"], "--extra-vars", "@" + VARIABLES,
         "--extra-vars", "deploy_source=" + EXAMPLE_V2] + list(extra)
        + [os.path.join(HERE, "..", "..", "..", "playbooks", "deploy.yml")],
        env=env, capture_output=True, text=True, check=False)
    assert run.returncode == 0, run.stdout[-6000:] + run.stderr[-3000:]
    recap = re.search(r"simpledeploy-default\s*:\s*ok=(\d+)\s+changed=(\d+)", run.stdout)
    assert recap, run.stdout[-3000:]
    return run, int(recap.group(2))


def main_pid(host):
    return host.check_output("systemctl show -p MainPID --value person")


@pytest.mark.parametrize("check", [False, True], ids=["deploy", "check"])
def test_y1_the_same_release_again_reads_the_host_once_and_changes_nothing(host, tmp_path, check):
    counts = str(tmp_path / "counts")
    pid = main_pid(host)
    # The interpreter named, as most inventories do: Ansible's discovery would add one execution per host.
    run, changed = deploy_v2(*(["--check"] if check else []), "--extra-vars",
                             "ansible_python_interpreter=/usr/bin/python3", count_file=counts)
    assert changed == 0, run.stdout[-6000:]
    # The one task that ran on the host: release_info, which asked the health URL (a 2xx: verify.yml does not
    # ask again) and read the live release's migration plan; no lock, no file written, nothing put live.
    ran = re.findall(r"TASK \[simpledeploy\.django\.deploy : ([^\]]*)\][^\n]*\n(?:ok|changed): ", run.stdout)
    on_host = [name for name in ran if not re.match(
        r"(Validating arguments|.*\| (Forget|Check the variables|Build the release archive|Refuse|Decide|Stop|"
        r"Keep the migration plan|Find out|Fail when|Record|Summary))", name)]
    assert on_host == ["Validate | Read the deploy root on the host"], ran
    with open(counts, encoding="utf-8") as handle:
        remote = [line.split()[0] for line in handle if line.strip()]
    assert remote == ["exec"] * len(on_host), remote
    assert main_pid(host) == pid


def test_y2_a_changed_environment_is_noticed_and_goes_live(host):
    with open(VARIABLES, encoding="utf-8") as handle:
        env = dict(yaml.safe_load(handle)["deploy_env"])
    pid = main_pid(host)
    _run, changed = deploy_v2("--extra-vars", json.dumps({"deploy_env": dict(env, SD_QUIET_TEST="noticed")}))
    assert changed > 0
    assert "SD_QUIET_TEST" in host.check_output("cat /srv/person/app.env")
    assert main_pid(host) != pid  # the service restarted to read it
    # And back: the key removed is noticed too.
    _run, changed = deploy_v2()
    assert changed > 0 and "SD_QUIET_TEST" not in host.check_output("cat /srv/person/app.env")


def test_y3_a_changed_unit_is_noticed_and_goes_live(host):
    unit = "/etc/systemd/system/person.service"
    _run, changed = deploy_v2("--extra-vars", "deploy_gunicorn_timeout=37")
    assert changed > 0 and "--timeout 37" in host.file(unit).content_string
    _run, changed = deploy_v2()
    assert changed > 0 and "--timeout 37" not in host.file(unit).content_string
    assert host.service("person").is_running


def test_zz_the_rollback_playbook_takes_v2_back_to_v1_schema_included(host):
    """Last (it changes the host): v1 does not run on v2's NOT NULL weight, so the schema goes back inside the
    window, with v2's tree and virtualenv, before v1 serves; the rows and the media file stay."""
    playbook = os.path.join(os.path.dirname(__file__), "..", "..", "..", "playbooks", "rollback.yml")
    variables = os.path.join(os.path.dirname(__file__), "..", "vars.yml")
    live = host.file(CODE + "/.simpledeploy-release").content_string.strip()
    previous = host.file("/srv/person/code.previous/.simpledeploy-release").content_string.strip()

    def rollback(*extra):
        return subprocess.run(
            ["ansible-playbook", "--inventory", os.environ["MOLECULE_INVENTORY_FILE"], "--extra-vars",
             "@" + variables] + list(extra) + [playbook],
            env=dict(os.environ, ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0", ANSIBLE_CALLBACK_RESULT_FORMAT="json"),
            capture_output=True, text=True, check=False)
    # --check first: it says what it would do and changes nothing.
    run = rollback("--check")
    assert run.returncode == 0, run.stdout + run.stderr
    said = re.search(r'"msg": "(person: would roll back [^"]*)"', run.stdout)
    assert said and "to release %s (was %s), strategy simple; schema: migrations undone: " \
        "people.0002_person_weight inside the window" % (previous, live) in said.group(1), run.stdout
    assert said.group(1).endswith("the site would go down"), said.group(1)
    assert host.file(CODE + "/.simpledeploy-release").content_string.strip() == live
    assert len(sql(host, "SELECT name FROM django_migrations WHERE app = 'people'")) == 2
    run = rollback()
    assert run.returncode == 0, run.stdout + run.stderr
    said = re.search(r'"msg": "(person: rolled back [^"]*)"', run.stdout)
    assert said, run.stdout
    assert said.group(1).startswith("person: rolled back to release %s (was %s)" % (previous, live)), said.group(1)
    assert "schema: migrations undone: people.0002_person_weight inside the window" in said.group(1)
    page = host.check_output("curl -fsS http://127.0.0.1:8000/")
    assert 'content="v1"' in page and "weight" not in page
    assert host.file(CODE + "/.simpledeploy-release").content_string.strip() == previous
    applied = sql(host, "SELECT name FROM django_migrations WHERE app = 'people' ORDER BY id")
    assert [row[0] for row in applied] == ["0001_initial"]
    assert "weight" not in [row[1] for row in sql(host, "PRAGMA table_info(people_person)")]
    assert len(sql(host, "SELECT name FROM people_person")) == 3
    assert host.file(ROOT + "/shared/media/upload.txt").content_string == "uploaded before the upgrade\n"
    # v2 is kept, ready to come back by a deploy (a rollback goes back, never forward: none is left before v1).
    assert host.file("/srv/person/code.previous/.simpledeploy-release").content_string.strip() == live
