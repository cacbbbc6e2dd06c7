# A data migration: the catalog starts with a few books.

from django.db import migrations

BOOKS = [
    ("Dracula", "Bram Stoker"),
    ("Frankenstein", "Mary Shelley"),
    ("Pride and Prejudice", "Jane Austen"),
]


def add_books(apps, schema_editor):
    Book = apps.get_model("books", "Book")
    for title, author in BOOKS:
        Book.objects.using(schema_editor.connection.alias).get_or_create(title=title, author=author)


def remove_books(apps, schema_editor):
    Book = apps.get_model("books", "Book")
    for title, author in BOOKS:
        Book.objects.using(schema_editor.connection.alias).filter(title=title, author=author).delete()


class Migration(migrations.Migration):

    dependencies = [
        ('books', '0001_initial'),
    ]

    operations = [
        migrations.RunPython(add_books, remove_books),
    ]
