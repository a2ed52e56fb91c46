"""`leadflow worker [--once] [--poll SECONDS]`: run background jobs and chores as they are queued."""

import signal

from django.core.management.base import BaseCommand, CommandParser

from leadflow.jobs.worker import work


class Command(BaseCommand):
    help = "Run queued background jobs: for ever, or until the queue is empty (--once)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--once", action="store_true", help="Run what is queued, then exit")
        parser.add_argument("--poll", type=float, default=2.0, help="Seconds between looks at an empty queue")

    def handle(self, *args: object, **options: object) -> None:
        # Stopped (Ctrl-C, or SIGTERM from a supervisor): the running job goes back to the queue, saying so.
        signal.signal(signal.SIGTERM, signal.default_int_handler)
        try:
            ran = work(once=bool(options["once"]), poll_seconds=float(options["poll"]))  # type: ignore[arg-type]
        except KeyboardInterrupt:
            return
        self.stdout.write(f"{ran} job{'s' if ran != 1 else ''} run.")
