"""
``manage.py catalog_ready``: is this release ready to serve? A deploy hook.

Prints one line (release, books, unapplied migrations, static manifest) and
exits 1 with the reason on standard error when something is wrong:

- always: the database cannot be reached;
- with ``--record``: migrations are unapplied, or the static files'
  manifest is missing while DEBUG is off (pages would answer 500); otherwise
  it records the check in the database, one row per release (running it
  again updates that row: idempotent);
- with ``--fail``: always, on purpose (to test a failing hook).

Without ``--record`` it only reads, and tolerates what a release that is not
live yet lacks (tables its migrations will create): a hook before the switch.
"""
from django.conf import settings
from django.contrib.staticfiles.storage import staticfiles_storage
from django.core.management.base import BaseCommand, CommandError
from django.db import DEFAULT_DB_ALIAS, DatabaseError, connections
from django.db.migrations.executor import MigrationExecutor

from books import RELEASE
from books.models import Book, ReadyCheck


class Command(BaseCommand):
    help = "Check that this release of the catalog can serve; --record writes the check to the database."

    def add_arguments(self, parser):
        parser.add_argument("--record", action="store_true",
                            help="require every migration applied and the static manifest, then record the check")
        parser.add_argument("--fail", action="store_true", help="fail on purpose (for tests of deploy hooks)")
        parser.add_argument("--database", default=DEFAULT_DB_ALIAS)

    def handle(self, *args, **options):
        if options["fail"]:
            raise CommandError("catalog_ready: failing on purpose (--fail)")
        connection = connections[options["database"]]
        try:
            connection.ensure_connection()
            executor = MigrationExecutor(connection)
            unapplied = len(executor.migration_plan(executor.loader.graph.leaf_nodes()))
            tables = connection.introspection.table_names()
        except DatabaseError as exc:
            raise CommandError("catalog_ready: the database cannot be reached: %s" % exc)
        books = Book.objects.using(options["database"]).count() if Book._meta.db_table in tables else None
        manifest = self.manifest_present()
        self.stdout.write(
            "catalog_ready: release %s; books: %s; unapplied migrations: %d; static manifest: %s"
            % (RELEASE, "no table yet" if books is None else books, unapplied, "present" if manifest else "missing")
        )
        if options["record"]:
            self.record(options["database"], books, unapplied, manifest)

    @staticmethod
    def manifest_present():
        name = getattr(staticfiles_storage, "manifest_name", None)
        return name is None or staticfiles_storage.exists(name)

    def record(self, database, books, unapplied, manifest):
        if unapplied:
            raise CommandError("catalog_ready: unapplied migrations: %d; run manage.py migrate first" % unapplied)
        if not manifest and not settings.DEBUG:
            raise CommandError("catalog_ready: the static files' manifest is missing: run manage.py collectstatic")
        ReadyCheck.objects.using(database).update_or_create(release=RELEASE, defaults={"books": books})
        self.stdout.write("catalog_ready: recorded the check of release %s" % RELEASE)
