"""The `leadflow` command: Django's management commands under the project's own name."""

import os
import sys


def main() -> None:
    """Run `leadflow SUBCOMMAND ...` as a Django management command."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "leadflow.settings")
    from django.core.management import execute_from_command_line

    execute_from_command_line(["leadflow", *sys.argv[1:]])


if __name__ == "__main__":
    main()
