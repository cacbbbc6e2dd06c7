from django.db import models


class Person(models.Model):
    """A human person"""
    name = models.CharField(max_length=128)
    height = models.FloatField()

    def __str__(self):
        return self.name
