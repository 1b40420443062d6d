import django.db.models.deletion
from django.db import migrations, models


def create_summaries(apps, schema_editor):
    """An unbuilt summary for each proposal (built by the beat task; exports do without)."""
    Proposal = apps.get_model("proposals", "Proposal")
    ProposalSummary = apps.get_model("proposals", "ProposalSummary")
    ProposalSummary.objects.bulk_create(
        (ProposalSummary(proposal_id=pk) for pk in Proposal.objects.values_list("pk", flat=True)),
        batch_size=1000,
    )


class Migration(migrations.Migration):
    dependencies = [
        ("proposals", "0011_review_weighted_score"),
    ]

    operations = [
        migrations.CreateModel(
            name="ProposalSummary",
            fields=[
                (
                    "proposal",
                    models.OneToOneField(
                        on_delete=django.db.models.deletion.CASCADE,
                        primary_key=True,
                        related_name="report_summary",
                        serialize=False,
                        to="proposals.proposal",
                    ),
                ),
                ("version", models.PositiveBigIntegerField(default=1)),
                ("built_version", models.PositiveBigIntegerField(default=0)),
                ("focus_areas", models.TextField(blank=True)),
                ("sectors", models.TextField(blank=True)),
                ("partners", models.TextField(blank=True)),
                ("reviews", models.PositiveIntegerField(default=0)),
                ("mean_score", models.FloatField(null=True)),
                ("low_score", models.FloatField(null=True)),
                ("high_score", models.FloatField(null=True)),
            ],
            options={
                "verbose_name": "proposal summary",
                "verbose_name_plural": "proposal summaries",
            },
        ),
        migrations.RunPython(create_summaries, migrations.RunPython.noop),
    ]
