from collections import defaultdict

from django.db import migrations, models


def fill_weighted_scores(apps, schema_editor):
    """Σ weight·score / Σ weight of each existing review's scores (scoring.weighted_score)."""
    Review = apps.get_model("proposals", "Review")
    Score = apps.get_model("proposals", "Score")
    pairs = defaultdict(list)
    for review_id, weight, value in Score.objects.values_list(
        "review_id", "criterion__weight", "value"
    ).iterator(chunk_size=5000):
        pairs[review_id].append((float(weight), value))
    Review.objects.bulk_update(
        [
            Review(
                pk=review_id,
                weighted_score=sum(w * v for w, v in review_pairs)
                / sum(w for w, _v in review_pairs),
            )
            for review_id, review_pairs in pairs.items()
        ],
        ["weighted_score"],
        batch_size=500,
    )


class Migration(migrations.Migration):
    dependencies = [
        ("proposals", "0010_performance_indexes"),
    ]

    operations = [
        migrations.AddField(
            model_name="review",
            name="weighted_score",
            field=models.FloatField(
                blank=True, editable=False, null=True, verbose_name="weighted score"
            ),
        ),
        migrations.RunPython(fill_weighted_scores, migrations.RunPython.noop),
    ]
