"""Going back on demand on the catalog, as a user runs it: the releases playbook, then the rollback playbook twice
while a client reads and writes. After test_realistic.py (it changes the host): v3b with a new virtualenv is live.

1. back to v3b (same code, its own virtualenv): nothing to undo, a window held by systemd's socket;
2. back to v3 (before v3b's nullable isbn, which v3 runs with): a graceful reload first, no window, then the
   schema back while v3 serves. v3b's hashed CSS still answers, and every book written meanwhile is kept;
3. v3r (v3 without v2's year column) deployed, then back to v3, which reads that column: the schema back inside the
   window;
4. v3i (v3 and a data migration without reverse_code): going back is refused, naming its backup;
5. v3's archive deployed over v3i's schema: refused, pointing to the rollback playbook.
"""

import json
import os
import re
import shlex
import subprocess
import time

from test_realistic import nothing_failed

CATALOG = "http://127.0.0.1:8001"
FACTS = "/var/tmp/realistic"
HERE = os.path.dirname(os.path.abspath(__file__))
COLLECTION = os.path.join(HERE, "..", "..", "..")
VARS = [os.path.join(HERE, "..", "vars", "scenario.yml"),
        os.path.join(COLLECTION, "examples", "catalog", "deploy-vars.yml"),
        os.path.join(HERE, "..", "vars", "catalog.yml")]


def playbook(name, *extra):
    """ansible-playbook simpledeploy.django's playbooks/NAME.yml on the scenario's hosts, with the catalog's variables:
    (return code, the messages its debug tasks printed)."""
    argv = ["ansible-playbook", "--inventory", os.environ["MOLECULE_INVENTORY_FILE"]]
    for path in VARS:
        argv += ["--extra-vars", "@" + path]
    run = subprocess.run(argv + list(extra) + [os.path.join(COLLECTION, "playbooks", name + ".yml")],
                         env=dict(os.environ, ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0",
                                  ANSIBLE_CALLBACK_RESULT_FORMAT="json"),
                         capture_output=True, text=True, check=False)
    return run.returncode, run.stdout + run.stderr


def psql(host, query):
    return host.check_output("runuser -u postgres -- psql -X -A -t -d catalog -c %s" % shlex.quote(query))


def under_traffic(host, name, reads, *runs):
    """files/traffic.py reading the catalog's page (and READS) and writing books, its record traffic-NAME.json,
    while each of RUNS (playbook() arguments) runs in turn: (their results, and when each began and returned)."""
    host.check_output(
        "systemd-run --unit=sd-traffic-%s --property=EnvironmentFile=/srv/catalog/app.env /usr/bin/python3 -I "
        "/usr/local/bin/sd-traffic --timeout=10 --out=%s/traffic-%s.json --write=%s/books/add/ %s"
        % (name, FACTS, name, CATALOG, " ".join(shlex.quote(url) for url in [CATALOG + "/books/"] + reads)))
    try:
        time.sleep(1)
        results, spans = [], []
        for run in runs:
            began = time.time()
            results.append(playbook(*run))
            spans.append((began, time.time()))
        time.sleep(1)
    finally:
        host.check_output("systemctl stop sd-traffic-%s" % name)
    return results, spans


def timeline(seen, spans, results):
    """When the failed requests were sent, against when each playbook ran and what it said (its "msg" lines), in
    seconds from the first playbook's start: what a failure under load needs to be understood."""
    start = spans[0][0]
    failed = [row[2] - start for row in seen["requests"] if row[4] not in (200, 201)]
    said = [re.findall(r'"msg": "([^"]*)"', out) for _rc, out in results]
    return "failed requests: %d, sent from %.1f to %.1f s; playbooks ran %s; the client's summary %s; they said %s" % (
        len(failed), min(failed, default=0), max(failed, default=0),
        ", ".join("%.1f-%.1f s" % (began - start, ended - start) for began, ended in spans), seen["summary"], said)


def served(host, name, old, new, spans, results):
    """What files/traffic.py saw (traffic-NAME.json): no read or write failed, OLD and NEW answered (their X-Release),
    and no request sent after the last playbook returned (SPANS: when each began and returned) was answered by OLD.
    Returns it."""
    returned = spans[-1][1]
    seen = json.loads(host.file("%s/traffic-%s.json" % (FACTS, name)).content_string)
    try:
        nothing_failed(seen)
    except AssertionError as exc:
        raise AssertionError("%s\n%s" % (exc, timeline(seen, spans, results))) from exc
    rows = [row for row in seen["requests"] if "/static/" not in row[1]]
    assert {row[5] for row in rows} == {old, new}, {row[5] for row in rows}
    assert not [row for row in rows if row[5] == old and row[2] > returned]
    return seen


def page(host):
    return host.check_output("curl -sS -H 'Host: localhost' %s/books/" % CATALOG)


def test_the_releases_playbook_lists_the_catalogs_releases_newest_first(host):
    rc, out = playbook("releases")
    assert rc == 0, out
    lines = re.findall(r'"([0-9a-f]{16} \| (?:live|kept) \| [^"]*)"', out)
    # v3b with a new virtualenv (live), v3b, v3, v2 and v1: deploy_keep_releases (5); v3c failed, it is not kept.
    assert len(lines) == 5, out
    assert " | live | " in lines[0] and all(" | kept | " in line for line in lines[1:]), lines
    assert "books.0004_book_isbn" in lines[0] and "books.0004_book_isbn" in lines[1], lines
    assert "books.0004_book_isbn" not in lines[2] and "books.0003" in lines[2], lines
    assert all(line.endswith("| rollback possible") for line in lines[1:]), lines


def test_two_rollbacks_under_reads_and_writes_bring_back_v3b_then_v3_and_fail_no_request(host):
    css = re.search(r"/static/books/css/catalog\.[0-9a-f]{12}\.css", page(host)).group(0)
    books_before = int(psql(host, "SELECT count(*) FROM books_book"))
    (first, second), spans = under_traffic(host, "rollback", [CATALOG + css], ["rollback"], ["rollback"])
    assert first[0] == 0, first[1]
    assert second[0] == 0, second[1]
    said = [re.search(r'"msg": "(catalog: rolled back [^"]*)"', run[1]).group(1) for run in (first, second)]
    # 1: the same code with v3b's own virtualenv: a window, systemd's socket holding the connections.
    assert "schema: nothing to undo; downtime window " in said[0], said[0]
    # 2: v3 runs on v3b's schema (a nullable column): no window, the schema back once v3 served.
    assert said[1].endswith("strategy reload; schema: migrations undone: books.0004_book_isbn after the switch, the "
                            "older release serving; no downtime"), said[1]
    seen = served(host, "rollback", "v3b", "v3", spans, (first, second))
    # v3 serves, on v3's schema, with v3b's CSS still answering (linked beside v3's own), and every book kept.
    text = page(host)
    assert "v3b" not in text and re.search(r"/static/books/css/catalog\.[0-9a-f]{12}\.css", text).group(0) != css
    assert host.check_output("curl -sS -o /dev/null -w '%%{http_code}' -H 'Host: localhost' %s%s" % (CATALOG, css)) \
        == "200"
    assert psql(host, "SELECT count(*) FROM information_schema.columns WHERE table_name = 'books_book' "
                      "AND column_name = 'isbn'") == "0"
    assert psql(host, "SELECT count(*) FROM django_migrations WHERE app = 'books' AND name = '0004_book_isbn'") == "0"
    written = sum(1 for row in seen["requests"] if row[0] == "write")
    assert int(psql(host, "SELECT count(*) FROM books_book")) == books_before + written


def test_a_rollback_over_a_removed_column_goes_back_inside_the_window_and_fails_no_request(host):
    """v3r (v3 without the year column v2 added) deployed, then back to v3, which reads that column: the schema goes
    back inside the window, under the client. The column comes back empty: the values v3r's migration dropped are
    only in the backup its deploy took."""
    source = "deploy_source=%s/realistic/catalog-v3r" % os.environ["MOLECULE_EPHEMERAL_DIRECTORY"]
    (deployed, back), spans = under_traffic(host, "removed", [], ["deploy", "--extra-vars", source], ["rollback"])
    assert deployed[0] == 0, deployed[1]
    assert back[0] == 0, back[1]
    said = re.search(r'"msg": "(catalog: rolled back [^"]*)"', back[1]).group(1)
    assert "schema: migrations undone: books.0004_remove_book_year inside the window, before the older release " \
        "served; downtime window " in said, said
    served(host, "removed", "v3r", "v3", spans, (deployed, back))
    assert re.search(r"\bv3\b", page(host)) and "v3r" not in page(host)
    assert psql(host, "SELECT count(*) FROM information_schema.columns WHERE table_name = 'books_book' "
                      "AND column_name = 'year'") == "1"
    assert psql(host, "SELECT count(*) FROM books_book WHERE year IS NOT NULL") == "0"
    assert psql(host, "SELECT count(*) FROM django_migrations WHERE name = '0004_remove_book_year'") == "0"


def test_a_rollback_over_a_migration_django_cannot_undo_is_refused_naming_the_backup_taken_before_it(host):
    """v3i (v3 and a data migration without reverse_code), deployed by the deploy playbook over v3: going back is
    refused before any change, naming the migration, the backup its deploy took and how to restore it."""
    rc, out = playbook("deploy", "--extra-vars",
                       "deploy_source=%s/realistic/catalog-v3i" % os.environ["MOLECULE_EPHEMERAL_DIRECTORY"])
    assert rc == 0, out
    assert "v3i" in page(host)
    backups = host.check_output("ls /srv/catalog/backups").split()
    rc, out = playbook("rollback")
    assert rc != 0, out
    message = re.search(r'"msg": "(Cannot take the schema back [^"]*)"', out)
    assert message, out
    said = message.group(1)
    assert "Django cannot undo books.0004_book_title_trimmed (irreversible)" in said, said
    backup = re.search(r"The backup taken before they ran is (/srv/catalog/backups/\S+\.dump);", said)
    assert backup and backup.group(1).rsplit("/", 1)[1] in backups, said
    # the newest backup: v3i's deploy took it, before its migration ran
    assert backup.group(1).rsplit("/", 1)[1] == sorted(backups, key=lambda name: name.rsplit("-", 1)[1])[-1]
    assert "pg_restore --clean --if-exists --single-transaction into the database catalog" in said, said
    assert said.endswith("Nothing was changed."), said
    assert "v3i" in page(host)
    assert psql(host, "SELECT count(*) FROM django_migrations WHERE name = '0004_book_title_trimmed'") == "1"


def test_v3s_archive_over_v3is_schema_is_refused_pointing_to_the_rollback_playbook(host):
    """Last: a deploy of v3 (its archive) over the schema v3i migrated. v3i judges its data migration: what it changes
    is not known, so v3 may not run on it; refused before any change, the message saying how to go back."""
    source = os.path.join(COLLECTION, "examples", "catalog", "v3")
    rc, out = playbook("deploy", "--extra-vars", "deploy_source=%s" % source)
    assert rc != 0, out
    message = re.search(r'"msg": "(The database has migrations[^"]*)"', out)
    assert message, out
    said = message.group(1)
    assert said.startswith("The database has migrations this release does not know, applied by a newer release: "
                           "books.0004_book_title_trimmed."), said
    assert "run the rollback playbook (ansible-playbook simpledeploy.django.rollback" in said, said
    assert said.endswith("Nothing live was changed: the old release still serves."), said
    assert "v3i" in page(host)
