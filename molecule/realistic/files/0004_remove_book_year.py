# v3r: the column v2 added goes (its model field and its template cell too). v3, which reads it, does not run on the
# schema this makes: going back from v3r to v3 takes the schema back inside the window.

from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ('books', '0003_book_year'),
    ]

    operations = [
        migrations.RemoveField(model_name='book', name='year'),
    ]
