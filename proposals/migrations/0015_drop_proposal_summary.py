# Exports read the proposals' names and scores through the ORM (reports.proposal_rows) instead
# of summaries built ahead.

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("proposals", "0014_outbox_faults"),
    ]

    operations = [
        migrations.DeleteModel(name="ProposalSummary"),
    ]
