"""`leadflow score --all | --lead ID … | --export FILE`: score leads afresh from the active rules (and predict them
with the serving conversion model), with a progress line; or write every lead's scores to a CSV file."""

import csv
import time
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from leadflow.leads.models import Lead
from leadflow.scoring.selectors import EXPORT_COLUMNS, active_rules, scores_for_export
from leadflow.scoring.services import predict_leads, rescore_leads


class Command(BaseCommand):
    help = "Score leads afresh from the active scoring rules (after the rules change, or after a bulk import)."

    def add_arguments(self, parser: CommandParser) -> None:
        which = parser.add_mutually_exclusive_group(required=True)
        which.add_argument("--all", action="store_true", help="Every lead")
        which.add_argument("--lead", type=int, nargs="+", metavar="ID", help="These leads")
        which.add_argument(
            "--export", type=Path, metavar="FILE",
            help="Write lead external id, probability, fit, engagement, total for every lead to FILE (CSV)",
        )  # fmt: skip

    def handle(self, *args: Any, **options: Any) -> None:
        if options["export"]:
            self.export(options["export"])
            return
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
        started = time.perf_counter()
        predicted = predict_leads(ids)
        if predicted:
            self.stdout.write(f"Predicted {predicted:,} leads in {time.perf_counter() - started:.1f} s.")

    def export(self, path: Path) -> None:
        try:
            with path.open("w", newline="", encoding="utf-8") as handle:
                writer = csv.writer(handle)
                writer.writerow(EXPORT_COLUMNS)
                written = 0
                for row in scores_for_export():
                    writer.writerow(row)
                    written += 1
        except OSError as exc:
            raise CommandError(f"--export: cannot write {path}: {exc.strerror}.") from exc
        self.stdout.write(f"Wrote {written:,} leads to {path}.")
