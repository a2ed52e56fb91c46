"""Import a leadforge bundle into a fresh database and compare with a raw sqlite3.executemany of the same rows.

Usage: .venv/bin/python bench/import_world.py [BUNDLE] [--database-url URL]
Default bundle: ../shared/data/leadforge/scoring-100k (about 1.36 million rows). Prints wall time, rows/s, the
ratio to the raw baseline, a second (idempotent) run and peak memory (the importing process's, and its largest
helper's). Targets (issue 4): ≤ 30 s on SQLite (≥ 45k rows/s), ≤ 1 GiB. With --database-url, give an empty
database (it is migrated, then imported into).
"""

import argparse
import csv
import gzip
import io
import os
import resource
import sqlite3
import sys
import time
from pathlib import Path

from fresh_database import use_fresh_database

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_BUNDLE = ROOT.parent / "shared" / "data" / "leadforge" / "scoring-100k"
TABLES = ("accounts", "contacts", "leads", "opportunities", "touches", "sessions", "sales_activities")


def raw_baseline(bundle: Path, workdir: str) -> tuple[int, float]:
    """Rows/s of the plainest possible load: every CSV row into a text table, one transaction, executemany."""
    database = sqlite3.connect(Path(workdir) / "raw.sqlite3")
    database.execute("PRAGMA journal_mode=WAL")
    database.execute("PRAGMA synchronous=NORMAL")
    rows = 0
    started = time.perf_counter()
    with database:
        for table in TABLES:
            candidates = (bundle / "tables" / f"{table}.csv", bundle / "tables" / f"{table}.csv.gz")
            path = next(p for p in candidates if p.exists())
            opener = gzip.open if path.name.endswith(".gz") else open
            with opener(path, "rb") as raw, io.TextIOWrapper(raw, encoding="utf-8", newline="") as text:
                reader = csv.reader(text)
                header = next(reader)
                columns = ", ".join(f'"{name}" TEXT' for name in header)
                database.execute(f'CREATE TABLE "{table}" ({columns})')
                marks = ", ".join("?" * len(header))
                before = database.total_changes
                database.executemany(f'INSERT INTO "{table}" VALUES ({marks})', reader)
                rows += database.total_changes - before
    return rows, time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("bundle", nargs="?", type=Path, default=DEFAULT_BUNDLE)
    parser.add_argument("--database-url", help="Import into this database instead of a fresh SQLite file")
    args = parser.parse_args()
    workdir = use_fresh_database(args.database_url, prefix="leadflow-import-")

    from leadflow.imports.leadforge import LeadforgeImport

    print(f"bundle: {args.bundle}")
    print(f"database: {os.environ['DATABASE_URL'].split('@')[-1]}")
    started = time.perf_counter()
    report = LeadforgeImport(args.bundle).run()
    wall = time.perf_counter() - started
    print(report.summary())
    print(f"leadflow import: {report.rows:,} rows in {wall:.1f} s = {report.rows / wall:,.0f} rows/s")
    raw_rows, raw_seconds = raw_baseline(args.bundle, workdir)
    print(f"raw sqlite3.executemany: {raw_rows:,} rows in {raw_seconds:.1f} s = {raw_rows / raw_seconds:,.0f} rows/s")
    print(f"ratio (leadflow time / raw time): {wall / raw_seconds:.2f}")
    started = time.perf_counter()
    again = LeadforgeImport(args.bundle).run()
    print(f"second run: {again.rows:,} rows in {time.perf_counter() - started:.1f} s; {again.sentence()}")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak memory: {peak:,.0f} MiB")
    helper = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024  # the largest, shared pages counted in
    print(f"peak memory of a helper process making rows: {helper:,.0f} MiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
