# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Release v2 (a migration) deployed on two web hosts that share one PostgreSQL database."""

from datetime import datetime, timezone

import pytest

MIGRATION = ("people", "0002_person_weight")
SECRETS = ("molecule-fleet-db-password-2b7e91", "molecule-fleet-secret-key-a04c5d")


def sql(db, query):
    return db.check_output("runuser -u postgres -- psql -AtX -d person -c %s", query).strip()


def unit_times(host):
    """When the service last became inactive and last became active, as UTC datetimes."""
    out = host.check_output("systemctl show --timestamp=us+utc -p InactiveEnterTimestamp -p ActiveEnterTimestamp person")
    times = {}
    for line in out.splitlines():
        key, value = (line.split("=", 1) + [""])[:2]
        assert value, "%s: %s is empty: the service never %s" % (host.backend.hostname, key, key)
        times[key] = datetime.strptime(value, "%a %Y-%m-%d %H:%M:%S.%f UTC").replace(tzinfo=timezone.utc)
    return times["InactiveEnterTimestamp"], times["ActiveEnterTimestamp"]


def test_both_web_hosts_serve_v2_with_the_rows_of_the_shared_database(web):
    for host in web:
        page = host.check_output("curl -fsS http://127.0.0.1:8000/")
        assert "<th>weight</th>" in page, host.backend.hostname
        assert 'content="v2"' in page, host.backend.hostname  # v2's own views.py, not v1's
        for name in ("Ada", "Grace", "Linus"):
            assert name in page, (host.backend.hostname, name)
        assert host.service("person").is_running


def test_the_migration_was_applied_exactly_once(db):
    assert sql(db, "SELECT count(*) FROM django_migrations WHERE app = '%s' AND name = '%s'" % MIGRATION) == "1"
    assert sql(db, "SELECT count(*) FROM people_person") == "3"
    # and its DDL stands once (log_statement = 'ddl', see prepare.yml): every column added that was
    # not dropped again by a rollback (fleet-serial's failed deploy migrates back once)
    log = db.file("/var/log/postgresql/postgresql-15-main.log").content_string
    added = log.count('ALTER TABLE "people_person" ADD COLUMN "weight"')
    dropped = log.count('ALTER TABLE "people_person" DROP COLUMN "weight"')
    assert added >= 1 and added - dropped == 1, (added, dropped)


def serving_times(host, since):
    """When workers of the service began to take connections after SINCE, as UTC datetimes: the role's
    gunicorn.conf.py says so in the journal, after any wait at the serve gate."""
    out = host.check_output("journalctl -u person --utc -o short-iso-precise --no-pager --since @%d "
                            "| grep 'takes connections' || true" % int(since.timestamp()))
    return [datetime.fromisoformat(line.split()[0]).astimezone(timezone.utc) for line in out.splitlines() if line]


def test_no_web_host_served_while_the_migration_ran(web, db):
    """Each host's old release stopped before the migration was recorded, and no worker of its new one took a
    connection before: the host that migrated started its service beside migrate, its workers held at the serve
    gate until it was done."""
    applied = datetime.fromtimestamp(float(sql(
        db, "SELECT extract(epoch FROM applied) FROM django_migrations WHERE app = '%s' AND name = '%s'"
        % MIGRATION)), timezone.utc)
    for host in web:
        stopped, started = unit_times(host)
        serving = serving_times(host, stopped)
        assert serving, (host.backend.hostname, 'no worker said it takes connections since', stopped)
        assert stopped < applied < min(serving), (host.backend.hostname, stopped, applied, started, serving)


def test_only_the_host_that_migrated_took_the_backups(web):
    # one pg_dump per migrating deploy (v1 on the empty database, v2, and in fleet-serial the failed
    # one), all by the first host of the play, none by the other
    dumps = {}
    for host in web:
        found = host.run("find /srv/person/backups -name '*.dump' -type f 2>/dev/null")
        dumps[host.backend.hostname] = found.stdout.split()
    first, second = (dumps[host.backend.hostname] for host in web)
    assert len(first) >= 2 and second == [], dumps


@pytest.mark.parametrize("secret", SECRETS)
def test_no_secret_in_the_journal_of_a_web_host(web, secret):
    for host in web:
        journal = host.check_output("journalctl --no-pager -o cat")
        assert secret not in journal, host.backend.hostname
