"""`leadflow score --all | --lead ID …`: score leads afresh from the active rules, with a progress line."""

import time
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from leadflow.leads.models import Lead
from leadflow.scoring.selectors import active_rules
from leadflow.scoring.services import rescore_leads


class Command(BaseCommand):
    help = "Score leads afresh from the active scoring rules (after the rules change, or after a bulk import)."

    def add_arguments(self, parser: CommandParser) -> None:
        which = parser.add_mutually_exclusive_group(required=True)
        which.add_argument("--all", action="store_true", help="Every lead")
        which.add_argument("--lead", type=int, nargs="+", metavar="ID", help="These leads")

    def handle(self, *args: Any, **options: Any) -> None:
        if not active_rules():
            raise CommandError("There are no active scoring rules: add some in Settings → Scoring or the API first.")
        ids = options["lead"]
        if ids:
            missing = set(ids) - set(Lead.objects.filter(pk__in=ids).values_list("pk", flat=True))
            if missing:
                raise CommandError(f"No lead {min(missing)}.")
        started = time.perf_counter()

        def progress(done: int) -> None:
            rate = done / (time.perf_counter() - started)
            self.stderr.write(f"\rscored {done:>10,} leads  {rate:>8,.0f} leads/s", ending="")
            self.stderr.flush()

        scored = rescore_leads(ids, progress=progress)
        self.stderr.write("")
        self.stdout.write(f"Scored {scored:,} leads in {time.perf_counter() - started:.1f} s.")
