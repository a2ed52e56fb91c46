"""The default sales pipeline and the starting list of lost reasons."""

from django.db import migrations

STAGES = [
    ("Prospecting", 10, False, False),
    ("Qualification", 20, False, False),
    ("Proposal", 50, False, False),
    ("Negotiation", 70, False, False),
    ("Closed won", 100, True, False),
    ("Closed lost", 0, False, True),
]
LOST_REASONS = ["Price", "No budget", "Chose a competitor", "No decision", "Bad timing", "Missing feature", "Unresponsive"]


def create_defaults(apps, schema_editor):
    Pipeline = apps.get_model("pipeline", "Pipeline")
    Stage = apps.get_model("pipeline", "Stage")
    LostReason = apps.get_model("pipeline", "LostReason")
    pipeline, _ = Pipeline.objects.get_or_create(name="Sales", defaults={"is_default": True})
    for order, (name, probability, is_won, is_lost) in enumerate(STAGES, start=1):
        Stage.objects.get_or_create(
            pipeline=pipeline,
            name=name,
            defaults={"order": order, "probability": probability, "is_won": is_won, "is_lost": is_lost},
        )
    for name in LOST_REASONS:
        LostReason.objects.get_or_create(name=name)


def remove_defaults(apps, schema_editor):
    apps.get_model("pipeline", "Pipeline").objects.filter(name="Sales", opportunities__isnull=True).delete()
    apps.get_model("pipeline", "LostReason").objects.filter(name__in=LOST_REASONS).delete()


class Migration(migrations.Migration):
    dependencies = [("pipeline", "0002_initial")]

    operations = [migrations.RunPython(create_defaults, remove_defaults)]
