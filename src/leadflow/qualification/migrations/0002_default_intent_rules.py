"""The explicit-intent rules a new installation starts with: a demo request, a pricing or a contact-sales form."""

from django.db import migrations

DEFAULT_RULES = [
    ("Demo request", "demo_request", "", ""),
    ("Pricing request form", "form_submission", "form", "pricing"),
    ("Contact sales form", "form_submission", "form", "contact"),
]


def add_rules(apps, schema_editor):
    IntentRule = apps.get_model("qualification", "IntentRule")
    if not IntentRule.objects.exists():
        for name, event_type, property_name, contains in DEFAULT_RULES:
            IntentRule.objects.create(
                name=name, event_type=event_type, property_name=property_name, property_contains=contains
            )


class Migration(migrations.Migration):
    dependencies = [("qualification", "0001_initial")]
    operations = [migrations.RunPython(add_rules, migrations.RunPython.noop)]
