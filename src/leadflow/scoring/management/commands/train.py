"""`leadflow train [--exclude FILE]`: learn a conversion model from the leads with a known outcome, then predict
every lead with it."""

import csv
import time
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from leadflow.errors import DomainError
from leadflow.scoring.services import predict_leads, train_model


def held_out_ids(path: Path) -> list[str]:
    """The lead external ids in a CSV file (its `lead_id` column, else its first); nothing else in it is read."""
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            reader = csv.reader(handle)
            header = next(reader, [])
            column = header.index("lead_id") if "lead_id" in header else 0
            return [row[column].strip() for row in reader if len(row) > column and row[column].strip()]
    except OSError as exc:
        raise CommandError(f"--exclude: cannot read {path}: {exc.strerror}.") from exc


class Command(BaseCommand):
    help = "Train a conversion model on the leads whose outcome is known, keep it as a new version, predict leads."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--exclude", type=Path, metavar="FILE",
            help="A CSV of lead external ids to keep out of training (an evaluation split); only the ids are read",
        )  # fmt: skip

    def handle(self, *args: Any, **options: Any) -> None:
        exclude = held_out_ids(options["exclude"]) if options["exclude"] else []
        started = time.perf_counter()
        try:
            model = train_model(exclude=exclude)
        except DomainError as refused:
            raise CommandError(refused.detail) from refused
        self.stdout.write(
            f"Model v{model.pk}: trained on {model.training_size:,} of {model.known:,} leads with a known outcome "
            f"({model.converted:,} converted) in {time.perf_counter() - started:.1f} s; on {model.holdout_size:,} "
            f"held out: ROC AUC {model.roc_auc:.3f}, Brier {model.brier:.4f} "
            f"(the base rate alone: {model.baseline_brier:.4f})."
        )
        if not model.is_good:
            raise CommandError("The model is no better than the base rate, so it is kept but not served.")
        started = time.perf_counter()
        predicted = predict_leads(model=model)
        self.stdout.write(f"Predicted {predicted:,} leads in {time.perf_counter() - started:.1f} s.")
