from django.db import models


class Book(models.Model):
    title = models.CharField(max_length=200)
    author = models.CharField(max_length=200)
    year = models.PositiveSmallIntegerField("first published", null=True, blank=True)
    # New in this release, nullable: the old release's inserts leave it empty.
    isbn = models.CharField("ISBN", max_length=13, null=True, blank=True)

    class Meta:
        # Built with AddIndexConcurrently (0004): no write waits for it.
        indexes = [models.Index(fields=["author"], name="books_book_author_idx")]

    def __str__(self):
        return self.title


class Review(models.Model):
    """New in this release: a table the old release never reads."""

    book = models.ForeignKey(Book, on_delete=models.CASCADE, related_name="reviews")
    text = models.TextField()
    stars = models.PositiveSmallIntegerField()

    def __str__(self):
        return "%s: %d" % (self.book, self.stars)


class ReadyCheck(models.Model):
    """One row per release, written by ``manage.py catalog_ready --record``."""

    release = models.CharField(max_length=32, unique=True)
    books = models.PositiveIntegerField()
    checked_at = models.DateTimeField(auto_now=True)

    def __str__(self):
        return self.release
