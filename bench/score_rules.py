"""Time rule-based scoring on a big world (the scoring-100k bundle by default).

Usage: .venv/bin/python bench/score_rules.py [BUNDLE] [--database-url URL] [--repeat 3]
Imports the bundle into a fresh database (a temporary SQLite file unless --database-url is given; an existing one is
reused), writes the demo's starter rule set (an ICP of fit rules, engagement rules with half-lives and caps, a
disqualifier), then times full rescores of every lead (the median and fastest of --repeat; on PostgreSQL vacuumed and
analyzed first and after each, as autovacuum would after a bulk load or a rewrite of every score) and the
incremental update one new event makes.
Targets (issue 5): full rescore of 100k leads ≤ 5 s on SQLite; one event's incremental rescore ≤ 5 ms.
"""

import argparse
import statistics
import sys
import time
from pathlib import Path

from fresh_database import settle, use_fresh_database

DEFAULT_BUNDLE = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "leadforge" / "scoring-100k"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("bundle", nargs="?", type=Path, default=DEFAULT_BUNDLE)
    parser.add_argument("--database-url")
    parser.add_argument("--repeat", type=int, default=1, help="full rescores to time")
    args = parser.parse_args()
    use_fresh_database(args.database_url, prefix="leadflow-score-")

    from django.db import connection, transaction
    from django.utils import timezone

    from leadflow.demo.world import add_starter_rules
    from leadflow.engagement.models import Event
    from leadflow.engagement.services import EventIn, ingest_events
    from leadflow.imports.leadforge import LeadforgeImport
    from leadflow.leads.models import Lead
    from leadflow.scoring.models import LeadScore, ScoringRule
    from leadflow.scoring.services import rescore_leads, score_new_events
    from leadflow.users.models import Role, User

    if not Lead.objects.exists():
        started = time.perf_counter()
        LeadforgeImport(args.bundle).run()
        print(f"imported {args.bundle.name} in {time.perf_counter() - started:.1f} s")
    admin = User.objects.filter(role=Role.ADMIN).first() or User.objects.create(username="bench", role=Role.ADMIN)
    ScoringRule.objects.all().delete()
    add_starter_rules(by=admin)
    print(f"database: {connection.vendor}; {Lead.objects.count():,} leads; {ScoringRule.objects.count()} rules")

    settle()
    fulls = []
    for _ in range(args.repeat):
        started = time.perf_counter()
        scored = rescore_leads()
        fulls.append(time.perf_counter() - started)
        settle()
    full = statistics.median(fulls)
    print(
        f"full rescore: {scored:,} leads in {full:.2f} s (median of {len(fulls)}, fastest {min(fulls):.2f} s; "
        f"{scored / full:,.0f} leads/s; target ≤ 5 s)"
    )

    lead = Lead.objects.filter(score__isnull=False).order_by("pk").first()
    assert lead is not None
    timings = []
    for _ in range(25):
        started = time.perf_counter()
        ingest_events([EventIn(type="pricing_page_view", occurred_at=timezone.now(), lead_id=lead.pk)], by=admin)
        timings.append((time.perf_counter() - started) * 1000)
    print(f"one event, ingested and scored: median {statistics.median(timings):.1f} ms")
    event = Event.objects.filter(lead=lead).latest("pk")
    rescoring = []
    for _ in range(25):
        started = time.perf_counter()
        with transaction.atomic():
            score_new_events(Event, events=[event])
        rescoring.append((time.perf_counter() - started) * 1000)
    print(f"one event's incremental rescore alone: median {statistics.median(rescoring):.1f} ms (target ≤ 5 ms)")
    score = LeadScore.objects.get(lead=lead)
    print(f"lead {lead.pk}: fit {score.fit}, engagement {score.engagement}, total {score.total}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
