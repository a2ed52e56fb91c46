"""`leadflow nurture run`: what the worker does each round for nurture, once, until nothing is due."""

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from leadflow.nurture.services import run_nurture


class Command(BaseCommand):
    help = "run: enrol from segments, run due sequence steps, send due emails, decide A/B tests."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("action", choices=["run"])

    def handle(self, *args: Any, **options: Any) -> None:
        done = run_nurture()
        self.stdout.write(
            f"Enrolled {done['enrolled']:,}; ran {done['steps']:,} steps; sent {done.get('sent', 0):,} emails, "
            f"{done.get('suppressed', 0):,} suppressed, {done.get('postponed', 0):,} postponed, "
            f"{done.get('failed', 0):,} failed."
        )
