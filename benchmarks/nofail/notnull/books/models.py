from django.db import models


class Book(models.Model):
    title = models.CharField(max_length=200)
    author = models.CharField(max_length=200)
    year = models.PositiveSmallIntegerField("first published", null=True, blank=True)
    # New in this release, NOT NULL with a default Django fills in, not the
    # database (no db_default): the old release's inserts fail once it exists.
    pages = models.PositiveIntegerField(default=0)

    def __str__(self):
        return self.title


class ReadyCheck(models.Model):
    """One row per release, written by ``manage.py catalog_ready --record``."""

    release = models.CharField(max_length=32, unique=True)
    books = models.PositiveIntegerField()
    checked_at = models.DateTimeField(auto_now=True)

    def __str__(self):
        return self.release
