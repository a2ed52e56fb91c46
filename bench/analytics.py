"""Time every dashboard query on a big world (the scoring-100k bundle by default).

Usage: .venv/bin/python bench/analytics.py [BUNDLE] [--database-url URL] [--repeat 5]
Imports the bundle into a fresh database (a temporary SQLite file unless --database-url is given; an existing one is
reused), takes two weekly snapshots and the forecast snapshots the worker would (and on PostgreSQL vacuums and
analyzes, as autovacuum would after a bulk load), then runs each analytics report as an admin sees it and prints
the median and fastest time (the machine's noise shows as the gap). Target (issue 7): ≤ 100 ms per dashboard query.
"""

import argparse
import os
import statistics
import sys
import time
from datetime import date, timedelta
from pathlib import Path

from fresh_database import settle, use_fresh_database

DEFAULT_BUNDLE = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "leadforge" / "scoring-100k"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("bundle", nargs="?", type=Path, default=DEFAULT_BUNDLE)
    parser.add_argument("--database-url")
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--reports", nargs="*", help="Time only these reports")
    args = parser.parse_args()
    use_fresh_database(args.database_url, prefix="leadflow-analytics-")

    from django.db import connection

    from leadflow.analytics.reports import REPORTS, run_report
    from leadflow.analytics.selectors import Scope
    from leadflow.analytics.services import take_snapshot
    from leadflow.imports.leadforge import LeadforgeImport
    from leadflow.leads.models import Lead
    from leadflow.pipeline.selectors import default_pipeline
    from leadflow.pipeline.services import take_forecast_snapshots
    from leadflow.users.models import Role, User

    if not Lead.objects.exists():
        started = time.perf_counter()
        LeadforgeImport(args.bundle).run()
        print(f"imported {args.bundle.name} in {time.perf_counter() - started:.1f} s")
    pipeline = default_pipeline()
    if not pipeline.snapshots.exists():  # two weekly snapshots, so the pipeline review compares real rows
        started = time.perf_counter()
        for days_ago in (7, 0):
            take_snapshot(pipeline, on=date.today() - timedelta(days=days_ago))
        print(f"took two snapshots in {time.perf_counter() - started:.1f} s")
    if not pipeline.forecast_snapshots.exists():  # the import stores them; a database imported before did not
        started = time.perf_counter()
        taken = take_forecast_snapshots()
        print(f"took {taken} forecast snapshots in {time.perf_counter() - started:.1f} s")
    if connection.vendor == "postgresql":
        started = time.perf_counter()
        settle()
        print(f"vacuumed and analyzed in {time.perf_counter() - started:.1f} s")
    scope = Scope(user=User(role=Role.ADMIN))
    print(f"database: {os.environ['DATABASE_URL'].split('@')[-1]}; {Lead.objects.count():,} leads")
    print(f"{'report':<18} {'median ms':>10} {'fastest ms':>11}")
    worst = 0.0
    for name in args.reports or REPORTS:
        timings = []
        for _ in range(args.repeat):
            started = time.perf_counter()
            run_report(name, scope)
            timings.append((time.perf_counter() - started) * 1000)
        median = statistics.median(timings)
        worst = max(worst, median)
        print(f"{name:<18} {median:>10.1f} {min(timings):>11.1f}")
    print(f"slowest dashboard query: {worst:.1f} ms (target ≤ 100 ms)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
