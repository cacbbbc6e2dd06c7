# Added to the catalog's v3b by the realistic scenario (prepare.yml), with the
# field in books/models.py: a nullable column, which v3 runs with, so v3b goes
# live by expand. As makemigrations writes it.
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('books', '0003_book_year'),
    ]

    operations = [
        migrations.AddField(
            model_name='book',
            name='isbn',
            field=models.CharField(blank=True, max_length=13, null=True, verbose_name='ISBN'),
        ),
    ]
