"""Send the tracking snippet's beacons (20 page views each) to a running `leadflow serve` on 127.0.0.1.

Usage: .venv/bin/python bench/capture.py [--page-views 100000] [--clients 16] [--workers 2] [--database-url URL]
Sets up a fresh database (a temporary SQLite file unless --database-url is given) with one tracked site, starts
`leadflow serve` on a free loopback port with the per-address rate limit off, posts the beacons from client threads
over keep-alive connections as pages of the site would (its Origin), re-sends some, and checks that every page view
was stored exactly once. Target (issue 24): ≥ 5,000 page views/s on SQLite.
"""

import argparse
import http.client
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

BIN = Path(sys.executable).parent
ORIGIN = "https://www.example.com"
PATHS = ["/", "/product", "/pricing", "/docs/start", "/blog/lead-scoring", "/customers", "/about"]
CREATE_SITE = (
    "from leadflow.tracking.models import Site; "
    "print(Site.objects.create(name='Bench', allowed_origins='{origin}', consent_required=False).key)"
)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def beacons(count: int, visitors: int) -> list[bytes]:
    """`count` beacons of 20 page views, spread over `visitors` visitors, each event with its own id."""
    bodies = []
    for index in range(count):
        visitor = f"bench-visitor-{index % visitors:06d}"
        events = [
            {"id": f"{index}-{n}", "k": "page_view", "u": f"{ORIGIN}{PATHS[(index + n) % len(PATHS)]}?utm_source=ads",
             "ti": "A page", "r": "https://www.google.com/"}
            for n in range(20)
        ]  # fmt: skip
        bodies.append(json.dumps({"v": visitor, "e": events}).encode())
    return bodies


def post(port: int, key: str, bodies: list[bytes], statuses: list[int]) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    headers = {"Content-Type": "text/plain", "Origin": ORIGIN}
    for body in bodies:
        connection.request("POST", f"/t/{key}/collect", body, headers)
        response = connection.getresponse()
        response.read()
        statuses.append(response.status)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--page-views", type=int, default=100_000)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers")
    parser.add_argument("--database-url")
    args = parser.parse_args()
    workdir = tempfile.mkdtemp(prefix="leadflow-capture-")
    env = {
        **os.environ,
        "LEADFLOW_VAR_DIR": workdir,
        "DATABASE_URL": args.database_url or f"sqlite:///{workdir}/leadflow.sqlite3",
        "SECRET_KEY": "bench-only-secret-key",
        "DEBUG": "0",
        "LEADFLOW_TRACKING_RATE_PER_MINUTE": "0",  # one loopback address sends everything
    }
    leadflow = str(BIN / "leadflow")
    subprocess.run([leadflow, "migrate", "-v0"], env=env, check=True)
    subprocess.run([leadflow, "flush", "--no-input"], env=env, check=True)
    shell = [leadflow, "shell", "-c", CREATE_SITE.format(origin=ORIGIN)]
    key = subprocess.run(shell, env=env, check=True, capture_output=True, text=True).stdout.split()[-1]
    port = free_port()
    log = open(Path(workdir) / "serve.log", "wb")  # noqa: SIM115 (open while the server runs)
    server = subprocess.Popen(
        [leadflow, "serve", "--port", str(port), "--workers", str(args.workers)],
        env=env, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.1)
        count = args.page_views // 20
        bodies = beacons(count, visitors=max(1, count // 5))
        post(port, key, bodies[:20], [])  # warm up each worker (the first requests import and connect)
        shares = [bodies[20:][i :: args.clients] for i in range(args.clients)]
        statuses: list[int] = []
        started = time.perf_counter()
        threads = [threading.Thread(target=post, args=(port, key, share, statuses)) for share in shares]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        seconds = time.perf_counter() - started
        sent = (count - 20) * 20
        errors = sum(status != 204 for status in statuses)
        print(f"database: {env['DATABASE_URL'].split('@')[-1]}; {args.clients} clients, {args.workers} workers")
        print(f"posted {count - 20:,} beacons ({sent:,} page views) in {seconds:.1f} s, {errors} errors")
        print(f"page views: {sent / seconds:,.0f} /s")
        post(port, key, bodies[100:110], statuses)  # the snippet re-sends what it is not sure went out
        stored = subprocess.run(
            [leadflow, "shell", "-c", "from leadflow.tracking.models import Hit; print(Hit.objects.count())"],
            env=env, check=True, capture_output=True, text=True,
        ).stdout.split()[-1]  # fmt: skip
        ok = errors == 0 and int(stored) == count * 20
        print(f"stored {int(stored):,} page views for {count * 20:,} sent (10 beacons sent twice)")
        print("nothing lost, nothing stored twice" if ok else f"MISMATCH or errors; see {log.name}")
        return 0 if ok else 1
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()


if __name__ == "__main__":
    sys.exit(main())
