"""Server time of the web app's pages on the demo world, through Django's test client.

Usage: .venv/bin/python bench/pages.py [--leads 3000] [--repeat 20] [--database-url URL]
Builds the demo world into a fresh database (a temporary SQLite file unless --database-url is given), then requests
each page as an admin and as a sales rep and prints the median and 95th percentile in milliseconds.
Target (issue 3): every page under 150 ms.
"""

import argparse
import os
import statistics
import sys
import time

from fresh_database import use_fresh_database


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--leads", type=int, default=3000)
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--database-url")
    args = parser.parse_args()

    use_fresh_database(args.database_url, prefix="leadflow-bench-")
    from django.test import Client
    from django.test.utils import setup_test_environment

    from leadflow.demo.world import build_demo_world
    from leadflow.leads.models import Lead
    from leadflow.pipeline.models import Opportunity
    from leadflow.users.models import User

    setup_test_environment()  # lets the test client run against this database with ALLOWED_HOSTS=testserver
    if not Lead.objects.exists():
        started = time.perf_counter()
        build_demo_world(seed=42, leads=args.leads, password="bench-password")
        print(f"demo world with {args.leads} leads built in {time.perf_counter() - started:.1f} s")

    admin = User.objects.get(role="admin", username="admin")
    rep = User.objects.filter(role="sales", owned_leads__isnull=False).distinct().first()
    lead = Lead.objects.filter(owner=rep, opportunities__isnull=False).first() or Lead.objects.filter(owner=rep).first()
    deal = Opportunity.objects.filter(owner=rep).first()
    pages = [
        ("my day", "/"),
        ("leads", "/leads/"),
        ("leads filtered", "/leads/?stage=prospect&sort=-last_activity_at"),
        ("leads search", "/leads/?q=a"),
        ("lead page", f"/leads/{lead.pk}/"),
        ("pipeline board", "/pipeline/"),
        ("opportunity page", f"/opportunities/{deal.pk}/"),
        ("accounts", "/accounts/"),
        ("contacts", "/contacts/"),
        ("search", "/search/?q=an"),
        ("settings", "/settings/"),
    ]
    print(f"database: {os.environ['DATABASE_URL'].split('@')[-1]}; {args.repeat} requests per page")
    print(f"{'page':<20} {'user':<8} {'median ms':>10} {'p95 ms':>8}")
    worst = 0.0
    for user in (admin, rep):
        client = Client()
        client.force_login(user)
        for name, path in pages:
            if name == "settings" and not user.is_admin:
                continue
            client.get(path)  # warm caches (templates, connections)
            timings = []
            for _ in range(args.repeat):
                started = time.perf_counter()
                response = client.get(path)
                timings.append((time.perf_counter() - started) * 1000)
                if response.status_code != 200:
                    print(f"{path} answered {response.status_code} for {user.username}", file=sys.stderr)
                    return 1
            median = statistics.median(timings)
            p95 = statistics.quantiles(timings, n=20)[-1]
            worst = max(worst, p95)
            print(f"{name:<20} {user.role:<8} {median:>10.1f} {p95:>8.1f}")
    print(f"slowest p95: {worst:.1f} ms (target < 150 ms)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
