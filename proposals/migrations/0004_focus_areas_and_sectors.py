from django.db import migrations


def load(apps, schema_editor):
    from proposals.reference_data import load_taxonomies

    load_taxonomies(apps.get_model("proposals", "FocusArea"), apps.get_model("proposals", "Sector"))


class Migration(migrations.Migration):
    dependencies = [("proposals", "0003_calls_and_proposals")]

    operations = [migrations.RunPython(load, migrations.RunPython.noop)]
