# A data migration without a way back (no reverse_code): Django cannot undo it, so a rollback over it is refused.

from django.db import migrations


def trim_titles(apps, schema_editor):
    Book = apps.get_model('books', 'Book')
    for book in Book.objects.all():
        if book.title != book.title.strip():
            book.title = book.title.strip()
            book.save(update_fields=['title'])


class Migration(migrations.Migration):

    dependencies = [
        ('books', '0003_book_year'),
    ]

    operations = [
        migrations.RunPython(trim_titles),
    ]
