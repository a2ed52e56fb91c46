"""Work out the match keys of the contacts that exist (new writes keep them)."""

from django.db import migrations

from leadflow.accounts.matching import keys_of


def fill_keys(apps, schema_editor):
    Contact = apps.get_model("accounts", "Contact")
    batch = []
    for contact in Contact.objects.select_related("account").iterator(chunk_size=2000):
        for key, value in keys_of(contact).items():
            setattr(contact, key, value)
        batch.append(contact)
        if len(batch) == 2000:
            Contact.objects.bulk_update(batch, ["mailbox_key", "phone_key", "name_key"])
            batch = []
    Contact.objects.bulk_update(batch, ["mailbox_key", "phone_key", "name_key"])


class Migration(migrations.Migration):
    dependencies = [("accounts", "0005_match_keys")]

    operations = [migrations.RunPython(fill_keys, migrations.RunPython.noop)]
