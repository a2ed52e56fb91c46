"""Shared set-up for the benchmarks: Django configured against a fresh database, migrated."""

import os
import tempfile


def use_fresh_database(database_url: str | None, *, prefix: str) -> str:
    """Point leadflow at `database_url` (a new SQLite file in a temporary folder by default), set Django up and
    migrate; returns the temporary folder."""
    workdir = tempfile.mkdtemp(prefix=prefix)
    os.environ["LEADFLOW_VAR_DIR"] = workdir
    os.environ["DATABASE_URL"] = database_url or f"sqlite:///{workdir}/leadflow.sqlite3"
    os.environ.setdefault("SECRET_KEY", "bench-only-secret-key")
    os.environ["DEBUG"] = "0"
    os.environ["DJANGO_SETTINGS_MODULE"] = "leadflow.settings"

    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0)
    return workdir


def settle() -> None:
    """On PostgreSQL, what autovacuum does after a bulk load or a rewrite of many rows: VACUUM ANALYZE, so the
    planner knows the tables (a server may run without autovacuum, as this team's machines do)."""
    from django.db import connection

    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE")
