from django.db import migrations


def load(apps, schema_editor):
    from proposals.reference_data import load_reference_data

    load_reference_data(apps.get_model("proposals", "Country"), apps.get_model("proposals", "City"))


class Migration(migrations.Migration):
    dependencies = [("proposals", "0001_initial")]

    operations = [migrations.RunPython(load, migrations.RunPython.noop)]
