"""Move in from a HubSpot export (contacts, companies, deals) built here, into a fresh database.

Usage: .venv/bin/python bench/import_export.py [--contacts N] [--database-url URL]
Prints the first run (everything new: accounts, leads with their funnel steps, deals with their moves), the second
run (every row matched and left as it is) and the dry run of an update that changes a field on every contact. Each
row goes through the services one by one, so expect hundreds of rows a second, not the leadforge bundle's tens of
thousands.
"""

import argparse
import csv
import os
import random
import sys
import time
from pathlib import Path

from fresh_database import use_fresh_database

STAGES = ["subscriber", "lead", "marketingqualifiedlead", "salesqualifiedlead", "opportunity", "customer"]
STATUSES = ["", "NEW", "IN_PROGRESS", "UNQUALIFIED", "BAD_TIMING", "CONNECTED"]
SOURCES = ["ORGANIC_SEARCH", "PAID_SEARCH", "REFERRALS", "OFFLINE", "Mystery Source"]
DEAL_STAGES = ["appointmentscheduled", "qualifiedtobuy", "contractsent", "closedwon", "closedlost"]


def write(path: Path, header: list[str], rows: list[list[str]]) -> None:
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)


def build_export(folder: Path, contacts: int, *, title: str = "") -> None:
    """contacts people, a company per four of them, a deal per four of them (seeded, so every run is the same)."""
    pick = random.Random(7).choice
    companies = max(contacts // 4, 1)
    write(folder / "companies.csv", ["Record ID", "Company name", "Company Domain Name", "Number of Employees"],
          [[str(n), f"Company {n}", f"company{n}.example", str(10 * n)] for n in range(companies)])  # fmt: skip
    write(folder / "contacts.csv", ["Record ID", "First Name", "Last Name", "Email", "Job Title", "Lifecycle Stage",
                                    "Lead Status", "Original Source", "Create Date", "Associated Company ID"],
          [[str(n), f"First{n}", f"Last{n}", f"person{n}@company{n % companies}.example", title, pick(STAGES),
            pick(STATUSES), pick(SOURCES), "2024-03-05 10:30", str(n % companies)]
           for n in range(contacts)])  # fmt: skip
    write(folder / "deals.csv", ["Record ID", "Deal Name", "Deal Stage", "Amount", "Close Date", "Create Date",
                                 "Associated Contact IDs"],
          [[str(n), f"Deal {n}", pick(DEAL_STAGES), "1000", "2024-06-30", "2024-04-01", str(n * 4)]
           for n in range(contacts // 4)])  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contacts", type=int, default=2000)
    parser.add_argument("--database-url", help="Import into this (empty) database instead of a fresh SQLite file")
    args = parser.parse_args()
    workdir = Path(use_fresh_database(args.database_url, prefix="leadflow-export-"))

    from leadflow.imports.services import import_path
    from leadflow.users.models import Role, User

    admin = User.objects.create(username="bench-admin", role=Role.ADMIN)
    print(f"database: {os.environ['DATABASE_URL'].split('@')[-1]}; load average {os.getloadavg()[0]:.2f}")
    first, update = workdir / "export", workdir / "update"
    for folder, title in ((first, ""), (update, "CFO")):
        folder.mkdir()
        build_export(folder, args.contacts, title=title)
    for label, folder, options in (
        ("first run", first, {}),
        ("second run", first, {}),
        ("update (dry run)", update, {"dry_run": True}),
    ):
        started = time.perf_counter()
        report = import_path(folder, preset="hubspot", by=admin, **options)
        wall = time.perf_counter() - started
        print(f"{label}: {report.rows:,} rows in {wall:.1f} s = {report.rows / wall:,.0f} rows/s; {report.sentence()}")
    print(f"load average {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
