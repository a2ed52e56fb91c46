"""`leadflow serve [--host H] [--port P] [--workers N] [--dev] [--with-worker]`: migrate, then serve the app."""

import os
import sys

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandParser

from leadflow.web.supervisor import supervise


class Command(BaseCommand):
    help = "Apply migrations, then serve leadflow with gunicorn (or Django's autoreloading server with --dev)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8000)
        parser.add_argument("--workers", type=int, default=int(os.environ.get("WEB_CONCURRENCY", "3")))
        parser.add_argument("--dev", action="store_true", help="Autoreload on code changes (development)")
        parser.add_argument(
            "--with-worker",
            action="store_true",
            help="Run `leadflow worker` beside the web server; stopping one stops both (for one machine)",
        )

    def handle(self, *args: object, **options: object) -> None:
        call_command("migrate", interactive=False, verbosity=0)
        self.stdout.write(f"Database ready: {settings.DATABASES['default']['NAME']}")
        address = f"{options['host']}:{options['port']}"
        self.stdout.write(f"Serving leadflow on http://{address}/ (API docs at /api/v1/docs)", ending="\n")
        self.stdout.flush()
        if options["dev"]:
            web = [sys.executable, "-m", "leadflow.cli", "runserver", address]
        else:
            web = [
                sys.executable, "-m", "gunicorn", "leadflow.wsgi:application",
                "--bind", address,
                "--workers", str(options["workers"]),
                "--access-logfile", "-",
            ]  # fmt: skip
        if options["with_worker"]:
            worker = [sys.executable, "-m", "leadflow.cli", "worker"]
            sys.exit(supervise({"web server": web, "worker": worker}))
        # The web server takes over this process, so a supervisor sees one process and Ctrl-C stops it cleanly.
        os.execv(sys.executable, web)
