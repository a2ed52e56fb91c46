"""Evaluate predictive scoring by the bundle's protocol (../shared/data/README.md) and time training and scoring.

Usage: .venv/bin/python bench/score_eval.py [BUNDLE] [--database-url URL]
1. Imports the bundle's tables into a fresh database (a temporary SQLite file unless --database-url is given; an
   existing one is reused).
2. Gives leadflow the outcomes of the train and valid leads only (the leadforge-labels import: customers, and
   deals closed lost or leads disqualified), as known history.
3. Trains (`train_model`, the test leads' ids excluded: the bundle's opportunities table already carries final
   stages, which would otherwise reveal some test outcomes as history), then predicts every lead.
4. Only then reads labels/test.csv and prints ROC AUC and Brier of the test leads' probabilities.
Targets (issue 5): AUC ≥ 0.70 and Brier ≤ 0.153 on scoring-100k; training ≤ 60 s; scoring all 100k ≤ 10 s.
"""

import argparse
import csv
import sys
import time
from pathlib import Path

from fresh_database import use_fresh_database

DEFAULT_BUNDLE = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "leadforge" / "scoring-100k"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("bundle", nargs="?", type=Path, default=DEFAULT_BUNDLE)
    parser.add_argument("--database-url")
    args = parser.parse_args()
    use_fresh_database(args.database_url, prefix="leadflow-eval-")

    import numpy as np
    from django.db import connection
    from sklearn.metrics import brier_score_loss, roc_auc_score

    from leadflow.imports.labels import import_labels
    from leadflow.imports.leadforge import LeadforgeImport
    from leadflow.leads.models import Lead
    from leadflow.scoring.management.commands.train import held_out_ids
    from leadflow.scoring.models import LeadPrediction
    from leadflow.scoring.services import predict_leads, train_model

    labels = args.bundle / "labels"
    if not Lead.objects.exists():
        started = time.perf_counter()
        LeadforgeImport(args.bundle).run()
        for split in ("train", "valid"):
            import_labels(labels / f"{split}.csv")
        print(f"imported {args.bundle.name} and the train+valid outcomes in {time.perf_counter() - started:.1f} s")
    print(f"database: {connection.vendor}; {Lead.objects.count():,} leads")

    started = time.perf_counter()
    model = train_model(exclude=held_out_ids(labels / "test.csv"))
    print(
        f"training: {time.perf_counter() - started:.1f} s on {model.known:,} known outcomes "
        f"({model.training_size:,} trained on, {model.holdout_size:,} held out: AUC {model.roc_auc:.4f}, "
        f"Brier {model.brier:.4f}; target ≤ 60 s)"
    )
    started = time.perf_counter()
    predicted = predict_leads(model=model)
    print(f"scoring: {predicted:,} leads in {time.perf_counter() - started:.1f} s (target ≤ 10 s)")

    with (labels / "test.csv").open(newline="") as handle:
        truth = {
            row["lead_id"]: row["converted_within_90_days"].strip().lower() == "true" for row in csv.DictReader(handle)
        }
    found = LeadPrediction.objects.filter(lead__external_id__in=list(truth)).values_list(
        "lead__external_id", "probability"
    )
    pairs = [(truth[external_id], probability) for external_id, probability in found]
    if len(pairs) != len(truth):
        print(f"only {len(pairs):,} of {len(truth):,} test leads have a prediction", file=sys.stderr)
        return 1
    actual, predicted_p = np.array([pair[0] for pair in pairs]), np.array([pair[1] for pair in pairs])
    auc, brier = roc_auc_score(actual, predicted_p), brier_score_loss(actual, predicted_p)
    print(f"test ({len(pairs):,} leads): ROC AUC {auc:.4f} (target ≥ 0.70), Brier {brier:.4f} (target ≤ 0.153)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
