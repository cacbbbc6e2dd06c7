from django.db import models


class Book(models.Model):
    title = models.CharField(max_length=200)
    author = models.CharField(max_length=200)
    # "year" is gone in this release (RemoveField): the old release still selects it.

    def __str__(self):
        return self.title


class ReadyCheck(models.Model):
    """One row per release, written by ``manage.py catalog_ready --record``."""

    release = models.CharField(max_length=32, unique=True)
    books = models.PositiveIntegerField()
    checked_at = models.DateTimeField(auto_now=True)

    def __str__(self):
        return self.release
