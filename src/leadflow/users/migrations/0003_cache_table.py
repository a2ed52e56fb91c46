"""The database cache's table: the shared store of sign-in failure counts when no CACHE_URL names Redis."""

from django.core.management import call_command
from django.db import migrations


def create_cache_table(apps, schema_editor):
    call_command("createcachetable", database=schema_editor.connection.alias, verbosity=0)


def drop_cache_table(apps, schema_editor):
    schema_editor.execute(f"DROP TABLE IF EXISTS {schema_editor.quote_name('leadflow_cache')}")


class Migration(migrations.Migration):
    dependencies = [("users", "0002_notification")]

    operations = [migrations.RunPython(create_cache_table, drop_cache_table)]
