"""Load on `leadflow serve` with its worker: 32 connections for 60 s mixing list reads, lead pages, lead creates and
event batches, on 127.0.0.1 only.

Usage: .venv/bin/python bench/load.py [--database-url URL] [--seconds 60] [--connections 32] [--leads 1000]
       [--max-requests 200000] [--workers 3]
Builds the demo world into a fresh database (a temporary SQLite file unless --database-url names an empty one),
starts `leadflow serve --with-worker` on a free loopback port, queues a full rescore so the worker writes
throughout, then runs the connections until the time or the request count is up, and stops the server. Prints
requests/s and p50/p99 per kind of request and the error count (any answer but the expected one, or no answer);
exits non-zero if any request errored.
"""

import argparse
import http.client
import json
import os
import random
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections import defaultdict
from datetime import UTC, datetime
from http.cookies import SimpleCookie
from pathlib import Path
from urllib.parse import urlencode

from fresh_database import use_fresh_database

HOST = "127.0.0.1"
# Kind of request: (share of the mix, the status that means it worked).
KINDS = {"list read": (0.4, 200), "lead page": (0.3, 200), "lead create": (0.15, 201), "event batch": (0.15, 200)}
EVENTS_PER_BATCH = 20
EVENT_TYPES = ["page_visit", "pricing_page_view", "email_open", "email_click", "content_download"]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return probe.getsockname()[1]


def session_cookie(port: int, username: str, password: str) -> str:
    """Log in through the login form; returns the Cookie header of the signed-in session."""
    connection = http.client.HTTPConnection(HOST, port, timeout=60)
    connection.request("GET", "/login/")
    response = connection.getresponse()
    response.read()
    cookies = {name: morsel.value for name, morsel in SimpleCookie(response.headers["Set-Cookie"]).items()}
    body = urlencode({"username": username, "password": password, "csrfmiddlewaretoken": cookies["csrftoken"]})
    headers = {"Content-Type": "application/x-www-form-urlencoded", "Cookie": f"csrftoken={cookies['csrftoken']}"}
    connection.request("POST", "/login/", body, headers)
    response = connection.getresponse()
    response.read()
    for header in response.headers.get_all("Set-Cookie") or []:
        cookies.update({name: morsel.value for name, morsel in SimpleCookie(header).items()})
    if response.status != 302 or "sessionid" not in cookies:
        raise SystemExit(f"could not log in as {username}: HTTP {response.status}")
    return f"sessionid={cookies['sessionid']}"


class Client(threading.Thread):
    """One connection's requests until `deadline` or until the shared budget of requests is spent."""

    def __init__(self, number: int, *, port: int, token: str, cookie: str, lead_ids: list[int], deadline: float,
                 budget: "Budget") -> None:  # fmt: skip
        super().__init__(daemon=True)
        self.number, self.port, self.lead_ids, self.deadline, self.budget = number, port, lead_ids, deadline, budget
        self.api = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        self.page = {"Cookie": cookie}
        self.rng = random.Random(number)
        self.timings: dict[str, list[float]] = defaultdict(list)
        self.errors: dict[str, int] = defaultdict(int)
        self.first_error = ""

    def request(self, kind: str, step: int) -> tuple[str, str, str | None, dict[str, str]]:
        if kind == "list read":
            offset = self.rng.randrange(0, 500)
            return "GET", f"/api/v1/leads?limit=50&offset={offset}", None, self.api
        if kind == "lead page":
            return "GET", f"/leads/{self.rng.choice(self.lead_ids)}/", None, self.page
        if kind == "lead create":
            lead = {"email": f"load-{self.number}-{step}@load.example", "first_name": "Load", "last_name": f"{step}"}
            return "POST", "/api/v1/leads", json.dumps(lead), self.api
        now = datetime.now(UTC).isoformat()
        events = [
            {"type": self.rng.choice(EVENT_TYPES), "occurred_at": now, "lead_id": self.rng.choice(self.lead_ids),
             "external_id": f"load-{self.number}-{step}-{i}"}
            for i in range(EVENTS_PER_BATCH)
        ]  # fmt: skip
        return "POST", "/api/v1/events", json.dumps({"events": events}), self.api

    def run(self) -> None:
        connection = http.client.HTTPConnection(HOST, self.port, timeout=60)
        kinds, weights = list(KINDS), [share for share, _ in KINDS.values()]
        step = 0
        while time.monotonic() < self.deadline and self.budget.take():
            step += 1
            kind = self.rng.choices(kinds, weights)[0]
            method, path, body, headers = self.request(kind, step)
            started = time.perf_counter()
            try:
                connection.request(method, path, body, headers)
                response = connection.getresponse()
                text = response.read()
                status = response.status
            except (OSError, http.client.HTTPException) as exc:
                connection.close()
                status, text = 0, repr(exc).encode()
            self.timings[kind].append((time.perf_counter() - started) * 1000)
            if status != KINDS[kind][1]:
                self.errors[kind] += 1
                self.first_error = self.first_error or f"{kind} {method} {path}: HTTP {status} {text[:200]!r}"


class Budget:
    """A bound on the number of requests all connections make together."""

    def __init__(self, requests: int) -> None:
        self.left, self.lock = requests, threading.Lock()

    def take(self) -> bool:
        with self.lock:
            self.left -= 1
            return self.left >= 0


def percentile(values: list[float], share: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[round(share * 100) - 1] if len(values) > 1 else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", help="an empty database (default: a new SQLite file)")
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--leads", type=int, default=1000, help="leads in the demo world")
    parser.add_argument("--max-requests", type=int, default=200_000)
    parser.add_argument("--workers", type=int, default=3, help="gunicorn workers")
    args = parser.parse_args()

    # The worker's SLA check emails owners of breached leads: into files under the temporary folder, not SMTP.
    os.environ.setdefault("EMAIL_BACKEND", "django.core.mail.backends.filebased.EmailBackend")
    workdir = use_fresh_database(args.database_url, prefix="leadflow-load-")
    from django.db import connections

    from leadflow.demo.world import build_demo_world
    from leadflow.leads.models import Lead
    from leadflow.users.models import User
    from leadflow.users.services import create_api_token

    if Lead.objects.exists():
        raise SystemExit("--database-url must name an empty database: the demo world is built into it")
    build_demo_world(seed=42, leads=args.leads, password="bench-password")
    _, token = create_api_token(user=User.objects.get(username="admin"))
    lead_ids = list(Lead.objects.values_list("pk", flat=True))
    connections.close_all()

    port = free_port()
    log_path = Path(workdir) / "serve.log"
    with log_path.open("wb") as log:
        server = subprocess.Popen(
            [sys.executable, "-m", "leadflow.cli", "serve", "--with-worker", "--host", HOST, "--port", str(port),
             "--workers", str(args.workers)],
            env=os.environ, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        try:
            return run_load(args, port=port, token=token, lead_ids=lead_ids, log_path=log_path)
        finally:
            server.send_signal(signal.SIGINT)  # the supervisor stops the web server and the worker
            server.wait(timeout=60)


def run_load(args: argparse.Namespace, *, port: int, token: str, lead_ids: list[int], log_path: Path) -> int:
    for _ in range(600):
        try:
            socket.create_connection((HOST, port), timeout=0.2).close()
            break
        except OSError:
            time.sleep(0.1)
    cookie = session_cookie(port, "admin", "bench-password")
    rescore = http.client.HTTPConnection(HOST, port, timeout=60)
    rescore.request("POST", "/api/v1/scoring/rescore", headers={"Authorization": f"Bearer {token}"})
    queued = rescore.getresponse()
    queued.read()
    if queued.status != 202:
        raise SystemExit(f"could not queue a rescore: HTTP {queued.status}")

    load_before = os.getloadavg()
    budget = Budget(args.max_requests)
    deadline = time.monotonic() + args.seconds
    started = time.perf_counter()
    clients = [
        Client(number, port=port, token=token, cookie=cookie, lead_ids=lead_ids, deadline=deadline, budget=budget)
        for number in range(args.connections)
    ]
    for client in clients:
        client.start()
    for client in clients:
        client.join(timeout=args.seconds + 120)
    seconds = time.perf_counter() - started
    load_after = os.getloadavg()

    print(f"database: {os.environ['DATABASE_URL'].split('@')[-1]}; {args.connections} connections for "
          f"{seconds:.1f} s; {args.workers} web processes and a worker; {len(lead_ids):,} leads")  # fmt: skip
    print(f"load average before {load_before[0]:.2f}, after {load_after[0]:.2f} (1 min); {os.cpu_count()} CPUs")
    print(f"{'kind':<12} {'requests':>9} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'errors':>7}")
    total = errors = 0
    for kind in KINDS:
        timings = [value for client in clients for value in client.timings[kind]]
        failed = sum(client.errors[kind] for client in clients)
        total, errors = total + len(timings), errors + failed
        print(f"{kind:<12} {len(timings):>9,} {len(timings) / seconds:>8.1f} {percentile(timings, 0.5):>8.1f} "
              f"{percentile(timings, 0.99):>8.1f} {failed:>7}")  # fmt: skip
    print(f"{'all':<12} {total:>9,} {total / seconds:>8.1f} {'':>8} {'':>8} {errors:>7}")
    if errors:
        print(next(client.first_error for client in clients if client.first_error), file=sys.stderr)
        print(f"{errors} requests errored; the server's log: {log_path}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
