"""Post 200,000 engagement events in batches of 1,000 to a running `leadflow serve` on 127.0.0.1.

Usage: .venv/bin/python bench/ingest_events.py [--events 200000] [--clients 4] [--inprocess 10] [--database-url URL]
Sets up a fresh database with the demo world, starts `leadflow serve` on a free loopback port, posts the events
from a few client threads over keep-alive connections, retries one batch, and checks that nothing was lost and
nothing counted twice. Then --inprocess more batches through Django's test client in this process give the queries
and CPU milliseconds per batch, figures that do not depend on what else the machine is doing.
Target (issues 4, 22): ≥ 5,000 events/s.
"""

import argparse
import http.client
import json
import os
import random
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from live_server import in_process, serve

BIN = Path(sys.executable).parent
TYPES = ["page_visit", "pricing_page_view", "email_open", "email_click", "content_download", "form_submission"]


def post(port: int, token: str, batches: list[list[dict]], results: list) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    for batch in batches:
        connection.request("POST", "/api/v1/events", json.dumps({"events": batch}), headers)
        response = connection.getresponse()
        text = response.read()
        if response.status != 200:
            print(f"HTTP {response.status}: {text[:300]!r}", file=sys.stderr)
            return
        results.append(json.loads(text))


def post_in_process(token: str, events: list[dict]) -> Callable[[Any, int], None]:
    """A sender for `in_process`: batches of 1,000 of the same kind of events, with external ids not sent yet."""

    def send(client: Any, number: int) -> None:
        batch = [{**event, "external_id": f"inproc-{number}-{index}"} for index, event in enumerate(events[:1000])]
        response = client.post("/api/v1/events", json.dumps({"events": batch}), content_type="application/json",
                                HTTP_AUTHORIZATION=f"Bearer {token}")  # fmt: skip
        if response.status_code != 200 or response.json()["created"] != len(batch):
            raise SystemExit(f"in process: HTTP {response.status_code} {response.content[:300]!r}")

    return send


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--workers", type=int, default=4, help="gunicorn workers")
    parser.add_argument("--inprocess", type=int, default=10, help="batches through Django's test client")
    parser.add_argument("--database-url")
    args = parser.parse_args()
    workdir = tempfile.mkdtemp(prefix="leadflow-ingest-")
    env = {
        **os.environ,
        "LEADFLOW_VAR_DIR": workdir,
        "DATABASE_URL": args.database_url or f"sqlite:///{workdir}/leadflow.sqlite3",
        "SECRET_KEY": "bench-only-secret-key",
        "DEBUG": "0",
        "EMAIL_BACKEND": "django.core.mail.backends.filebased.EmailBackend",  # the demo's emails, kept in files
    }
    leadflow = str(BIN / "leadflow")
    subprocess.run([leadflow, "migrate", "-v0"], env=env, check=True)
    subprocess.run([leadflow, "demo", "--password", "bench-password-1"], env=env, check=True, capture_output=True)
    token = (
        subprocess.run([leadflow, "token", "create", "admin"], env=env, check=True, capture_output=True, text=True)
        .stdout.strip()
        .splitlines()[-1]
    )
    with serve(env, workers=args.workers, log=Path(workdir) / "serve.log") as port:
        rng = random.Random(7)
        lead_ids = list(range(1, 3001))
        events = [
            {
                "type": rng.choice(TYPES),
                "occurred_at": f"2026-11-{rng.randrange(1, 25):02d}T{rng.randrange(0, 24):02d}:00:00Z",
                "lead_id": rng.choice(lead_ids),
                "properties": {"page": "/pricing"} if rng.random() < 0.2 else {},
                "external_id": f"bench-{index}",
            }
            for index in range(args.events)
        ]
        batches = [events[i : i + 1000] for i in range(0, len(events), 1000)]
        shares = [batches[i :: args.clients] for i in range(args.clients)]
        results: list[dict] = []
        started = time.perf_counter()
        threads = [threading.Thread(target=post, args=(port, token, share, results)) for share in shares]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        seconds = time.perf_counter() - started
        created = sum(body["created"] for body in results)
        print(f"database: {env['DATABASE_URL'].split('@')[-1]}; {args.clients} clients, {args.workers} workers")
        rate = len(events) / seconds
        print(f"posted {len(events):,} events in {len(batches)} batches in {seconds:.1f} s = {rate:,.0f} events/s")
        print(f"created {created:,}, errors {sum(body['errors'] for body in results)}")
        retry: list[dict] = []
        post(port, token, [batches[len(batches) // 2]], retry)
        print(f"retried one batch: created {retry[0]['created']}, duplicates {retry[0]['duplicates']}")
        ok = created == len(events) and retry[0]["created"] == 0 and retry[0]["duplicates"] == len(batches[0])
        print("nothing lost, nothing counted twice" if ok else f"MISMATCH: lost or double-counted; see {workdir}")
    if args.inprocess:
        queries, cpu_ms = in_process(env, post_in_process(token, events), args.inprocess)
        print(f"in process, {args.inprocess} batches of 1,000 (Django test client; load-independent): "
              f"{queries:.1f} queries and {cpu_ms:.0f} CPU ms per batch, {cpu_ms:.0f} CPU µs per event")  # fmt: skip
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
