"""Load the REST API's hot writes (and one read) over loopback and measure each in-process too.

Usage: .venv/bin/python bench/api_writes.py [--requests 5000] [--warmup 50] [--connections 16] [--workers 2]
       [--only lead_create,...] [--database-url URL] [--port P] [--max-seconds 120] [--inprocess 300]
       [--profile SCENARIO]
Sets up a fresh database (a temporary SQLite file unless --database-url names an empty one) with an admin, an API
token, leads and open opportunities (not timed), starts `leadflow serve --workers N` on a loopback port and, for
each scenario in turn — lead create, event batch (50 events), activity create, opportunity move, lead list — sends
the warm-up requests, then the timed ones from N connections, and prints requests per second and the p50 and p99
latency. Each scenario stops after --requests requests or --max-seconds, whichever comes first. Then it makes
--inprocess more requests of each kind through Django's test client in this process and prints the database
queries and the CPU milliseconds per request: figures that do not depend on what else the machine is doing.
Target (issue 22): lead create ≥ 300 req/s with p99 ≤ 100 ms on SQLite.
"""

import argparse
import cProfile
import http.client
import itertools
import json
import os
import pstats
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

from fresh_database import use_fresh_database

BIN = Path(sys.executable).parent
SCENARIOS = ["lead_create", "event_batch", "activity_create", "opportunity_move", "lead_list"]
SETUP_LEADS = 500
SETUP_DEALS = 100
EVENTS_PER_BATCH = 50


class Requests:
    """The request each scenario sends for a running number (unique emails, a deal's next stage, ...)."""

    def __init__(self, *, lead_ids: list[int], deal_ids: list[int], stage_ids: list[int]) -> None:
        self.lead_ids, self.deal_ids, self.stage_ids = lead_ids, deal_ids, stage_ids
        self.deal_moves = [itertools.count(1) for _ in deal_ids]
        self.lock = threading.Lock()

    def make(self, scenario: str, number: int, run: str) -> tuple[str, str, dict | None, int]:
        """(method, path, body, expected status) of request `number` of a scenario in run `run`."""
        lead_id = self.lead_ids[number % len(self.lead_ids)]
        if scenario == "lead_create":
            body = {
                "email": f"person-{run}-{number}@company{number % 300}.example",
                "first_name": "Ada",
                "last_name": f"Number {number}",
                "company_name": f"Company {number % 300}",
                "source": "inbound_marketing",
                "utm_source": "newsletter",
            }
            return "POST", "/api/v1/leads", body, 201
        if scenario == "event_batch":
            events = [
                {
                    "type": ("page_visit", "email_open", "content_download")[index % 3],
                    "occurred_at": "2026-11-20T10:00:00Z",
                    "lead_id": self.lead_ids[(number * EVENTS_PER_BATCH + index) % len(self.lead_ids)],
                    "external_id": f"bench-{run}-{number}-{index}",
                }
                for index in range(EVENTS_PER_BATCH)
            ]
            return "POST", "/api/v1/events", {"events": events}, 200
        if scenario == "activity_create":
            body = {"kind": "call", "subject": f"Call {number}", "lead_id": lead_id}
            return "POST", "/api/v1/activities", body, 201
        if scenario == "opportunity_move":
            slot = number % len(self.deal_ids)
            with self.lock:  # each deal walks the open stages in turn, so every move is a real move
                step = next(self.deal_moves[slot])
            stage = self.stage_ids[step % len(self.stage_ids)]
            return "POST", f"/api/v1/opportunities/{self.deal_ids[slot]}/move", {"stage": stage}, 200
        if scenario == "lead_list":
            return "GET", f"/api/v1/leads?offset={50 * (number % 5)}&limit=50", None, 200
        raise ValueError(scenario)


def set_up() -> tuple[str, Requests]:
    """An admin with a token, leads and open deals; returns (token, request maker)."""
    from leadflow.accounts.services import create_account
    from leadflow.leads.services import create_lead
    from leadflow.pipeline.models import Stage
    from leadflow.pipeline.selectors import default_pipeline
    from leadflow.pipeline.services import create_opportunity
    from leadflow.users.services import create_api_token, create_user

    admin = create_user(username="admin", password="bench-password-1", role="admin")
    _, token = create_api_token(user=admin, name="bench")
    account = create_account(name="Bench Industries", domain="bench.example")
    leads = [
        create_lead(by=admin, email=f"setup-{index}@bench.example", first_name="Set", last_name=f"Up {index}")
        for index in range(SETUP_LEADS)
    ]
    pipeline = default_pipeline()
    stages = list(Stage.objects.filter(pipeline=pipeline, is_won=False, is_lost=False).order_by("order"))
    deals = [
        create_opportunity(by=admin, name=f"Deal {index}", pipeline=pipeline, lead=None, account=account)
        for index in range(SETUP_DEALS)
    ]
    maker = Requests(
        lead_ids=[lead.pk for lead in leads], deal_ids=[deal.pk for deal in deals], stage_ids=[s.pk for s in stages]
    )
    return token, maker


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def load(port: int, token: str, jobs: list[tuple[str, str, dict | None, int]], connections: int, deadline: float):
    """Send the jobs from `connections` threads; returns (latencies in ms, failures, seconds)."""
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    queue = iter(jobs)
    lock = threading.Lock()
    latencies: list[float] = []
    failures: list[str] = []

    def client() -> None:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        while time.perf_counter() < deadline:
            with lock:
                job = next(queue, None)
            if job is None:
                return
            method, path, body, expected = job
            started = time.perf_counter()
            connection.request(method, path, json.dumps(body) if body is not None else None, headers)
            response = connection.getresponse()
            text = response.read()
            elapsed = (time.perf_counter() - started) * 1000
            with lock:
                latencies.append(elapsed)
                if response.status != expected:
                    failures.append(f"{method} {path}: HTTP {response.status} {text[:200]!r}")

    started = time.perf_counter()
    threads = [threading.Thread(target=client) for _ in range(connections)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return latencies, failures, time.perf_counter() - started


def in_process(scenario: str, maker: Requests, token: str, count: int, profile: bool) -> tuple[float, float]:
    """Queries and CPU ms per request of `count` requests through Django's test client in this process."""
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    client = Client(HTTP_AUTHORIZATION=f"Bearer {token}")

    def send(number: int) -> None:
        method, path, body, expected = maker.make(scenario, number, "inproc")
        if method == "GET":
            response = client.get(path)
        else:
            response = client.post(path, json.dumps(body), content_type="application/json")
        if response.status_code != expected:
            raise SystemExit(f"{method} {path}: HTTP {response.status_code} {response.content[:300]!r}")

    for number in range(10):
        send(1_000_000 + number)
    profiler = cProfile.Profile() if profile else None
    with CaptureQueriesContext(connection) as queries:
        cpu = time.process_time()
        if profiler:
            profiler.enable()
        for number in range(count):
            send(2_000_000 + number)
        if profiler:
            profiler.disable()
        cpu = time.process_time() - cpu
    if profiler:
        pstats.Stats(profiler).sort_stats("cumulative").print_stats(150)
    return len(queries) / count, cpu * 1000 / count


def load_average() -> str:
    return "load average " + ", ".join(f"{value:.2f}" for value in os.getloadavg())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=5000, help="timed requests per scenario")
    parser.add_argument("--warmup", type=int, default=50)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers")
    parser.add_argument("--only", default=",".join(SCENARIOS), help="comma-separated scenarios")
    parser.add_argument("--max-seconds", type=float, default=120, help="per scenario")
    parser.add_argument("--inprocess", type=int, default=300, help="requests per scenario in this process")
    parser.add_argument("--profile", choices=SCENARIOS, help="print a cProfile of the in-process requests")
    parser.add_argument("--port", type=int, help="loopback port for the server (a free one by default)")
    parser.add_argument("--database-url")
    args = parser.parse_args()
    scenarios = [name.strip() for name in args.only.split(",") if name.strip()]
    unknown = set(scenarios) - set(SCENARIOS)
    if unknown:
        parser.error(f"unknown scenario(s): {', '.join(sorted(unknown))}")

    workdir = use_fresh_database(args.database_url, prefix="leadflow-api-")
    from django.db import connection

    token, maker = set_up()
    print(f"database: {os.environ['DATABASE_URL'].split('@')[-1]}")
    connection.close()  # the server's workers write next; hold no connection meanwhile
    failed = over_loopback(args, scenarios, token, maker, workdir) if args.requests else False
    if args.inprocess:
        print(f"in process, {args.inprocess} requests each (Django test client; load-independent):")
        print(f"{'scenario':<18} {'queries/req':>11} {'CPU ms/req':>10}")
        for scenario in scenarios:
            queries, cpu_ms = in_process(scenario, maker, token, args.inprocess, scenario == args.profile)
            print(f"{scenario:<18} {queries:>11.1f} {cpu_ms:>10.2f}")
    print(load_average())
    return 1 if failed else 0


def over_loopback(args: argparse.Namespace, scenarios: list[str], token: str, maker: Requests, workdir: str) -> bool:
    """Serve with gunicorn and load each scenario; prints a line each and returns whether any request failed."""
    port = args.port or free_port()
    log = open(Path(workdir) / "serve.log", "wb")  # noqa: SIM115 (open while the server runs)
    server = subprocess.Popen(
        [str(BIN / "leadflow"), "serve", "--port", str(port), "--workers", str(args.workers)],
        env=os.environ.copy(), stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    print(f"{args.connections} connections, {args.workers} gunicorn workers, {args.warmup} warm-up requests")
    print(f"{'scenario':<18} {'requests':>8} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8}  {'load average'}")
    failed = False
    try:
        started = time.perf_counter()
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                if server.poll() is not None or time.perf_counter() - started > 300:
                    raise SystemExit(f"the server did not answer; see {log.name}") from None
                time.sleep(0.2)
        load(port, token, [maker.make("lead_list", 0, "boot")] * args.workers, args.workers, started + 600)
        for scenario in scenarios:
            warmup = [maker.make(scenario, number, "warm") for number in range(args.warmup)]
            load(port, token, warmup, args.connections, time.perf_counter() + args.max_seconds)
            jobs = [maker.make(scenario, number, "load") for number in range(args.requests)]
            latencies, failures, seconds = load(
                port, token, jobs, args.connections, time.perf_counter() + args.max_seconds
            )
            done = len(latencies)
            cuts = statistics.quantiles(latencies, n=100) if done > 1 else [float("nan")] * 99
            print(
                f"{scenario:<18} {done:>8} {done / seconds:>8.1f} {cuts[49]:>8.1f} {cuts[98]:>8.1f}  "
                f"{', '.join(f'{v:.2f}' for v in os.getloadavg())}"
            )
            if failures:
                failed = True
                print(f"  {len(failures)} failed, first: {failures[0]}", file=sys.stderr)
    finally:
        server.terminate()
        server.wait(timeout=20)
        log.close()
    return failed


if __name__ == "__main__":
    sys.exit(main())
