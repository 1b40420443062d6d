from django.core.management import call_command
from django.db import migrations


def create_cache_table(apps, schema_editor):
    # The rate-limit counters live in the cache; without Redis that is a database table, made
    # here so that `migrate` alone prepares a database (createcachetable skips other caches).
    call_command("createcachetable", database=schema_editor.connection.alias, verbosity=0)


class Migration(migrations.Migration):
    dependencies = [("proposals", "0004_focus_areas_and_sectors")]

    operations = [migrations.RunPython(create_cache_table, migrations.RunPython.noop)]
