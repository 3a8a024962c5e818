"""The bench tables as Django models, ``managed = False``: bench/admin.py creates them."""

from django.db import models


class Owner(models.Model):
    name = models.CharField(max_length=100, unique=True)

    class Meta:
        app_label = "djangoapp"
        db_table = "bench_owner"
        managed = False

    def __str__(self) -> str:
        return self.name


class Item(models.Model):
    title = models.CharField(max_length=100)
    done = models.BooleanField(default=False)
    created = models.DateTimeField()
    owner = models.ForeignKey(Owner, on_delete=models.CASCADE)

    class Meta:
        app_label = "djangoapp"
        db_table = "bench_item"
        managed = False

    def __str__(self) -> str:
        return self.title
