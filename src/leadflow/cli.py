"""The `leadflow` command: Django's management commands under the project's own name.

Set-up mistakes (a missing SECRET_KEY, a malformed DATABASE_URL, a database that cannot be reached or is not
migrated) end the command with one line that says what to do, not a traceback.
"""

import os
import sys
import textwrap

from django.core.exceptions import ImproperlyConfigured
from django.db import DatabaseError

HELP_FLAGS = {"-h", "--help", "help"}
WIDTH = 120


def main() -> None:
    """Run `leadflow SUBCOMMAND ...` as a Django management command."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "leadflow.settings")
    arguments = sys.argv[1:]
    try:
        import django

        django.setup()
        if not arguments or (len(arguments) == 1 and arguments[0] in HELP_FLAGS):
            print(overview())
            return
        from django.core.management import execute_from_command_line

        execute_from_command_line(["leadflow", *arguments])
    except ImproperlyConfigured as exc:
        sys.exit(f"leadflow: {exc}")
    except DatabaseError:
        problem = database_problem()
        if problem is None:
            raise  # the database is fine: a bug, and its traceback is wanted
        sys.exit(f"leadflow: {problem}")


def first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


def database_problem() -> str | None:
    """What keeps commands from using the database (unreachable, not migrated), or None when it is usable."""
    from django.db import connection
    from django.db.migrations.executor import MigrationExecutor

    where = connection.settings_dict["NAME"]
    try:
        connection.close()
        executor = MigrationExecutor(connection)
        unapplied = executor.migration_plan(executor.loader.graph.leaf_nodes())
    except DatabaseError as exc:
        return f"cannot reach the database {where} ({first_line(exc)}): check DATABASE_URL and that the server is up"
    if unapplied:
        return f"the database {where} is not migrated ({len(unapplied)} migrations to apply): run `leadflow migrate`"
    return None


def overview() -> str:
    """`leadflow --help`: leadflow's own commands first, one line each, then Django's under a heading."""
    from django.core.management import get_commands, load_command_class

    ours: list[tuple[str, str]] = []
    django_commands: dict[str, list[str]] = {}
    for name, app in sorted(get_commands().items()):
        if app.startswith("leadflow."):
            summary = (load_command_class(app, name).help or "").strip().splitlines()
            ours.append((name, summary[0] if summary else ""))
        else:
            django_commands.setdefault(app.rpartition(".")[2], []).append(name)
    width = max(len(name) for name, _ in ours)
    lines = [
        "Usage: leadflow COMMAND [options]   (leadflow help COMMAND for a command's options)",
        "",
        "leadflow commands:",
        *(f"  {name.ljust(width)}  {summary}" for name, summary in ours),
        "",
        "Django's commands:",
    ]
    lines = [line if len(line) <= WIDTH else line[: WIDTH - 1] + "…" for line in lines]
    for app, names in sorted(django_commands.items()):
        lines += textwrap.wrap(f"[{app}] {', '.join(names)}", WIDTH, initial_indent="  ", subsequent_indent="    ")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
