"""Post form submissions to the public POST endpoint of a running `leadflow serve` on 127.0.0.1.

Usage: .venv/bin/python bench/capture.py [--submissions 3000] [--clients 4] [--workers 4] [--database-url URL]
Sets up a fresh database with a marketing user, builds a form through the API, starts `leadflow serve` on a free
loopback port with the per-IP rate limit off, takes a signed token from the hosted page, waits out the minimum
fill time once, and posts from a few client threads over keep-alive connections. One submission in five comes
back from an address already sent (an update of the open lead). Every response comes after the lead was created
or updated; at the end the submissions and leads are counted through the API: nothing may be lost.
Target (issue 23): ≥ 250 form submissions/s on SQLite.
"""

import argparse
import http.client
import json
import os
import random
import re
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import urlencode

BIN = Path(sys.executable).parent
FIELDS = [
    {"label": "Work email", "name": "email", "target": "email"},
    {"label": "First name", "name": "first_name", "target": "first_name", "required": True},
    {"label": "Company", "name": "company", "target": "company_name"},
    {"label": "Team size", "name": "team_size", "kind": "choice", "target": "property", "property_name": "team_size",
     "choices": "1-10\n11-50\n51+"},
]  # fmt: skip


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def call(port: int, method: str, path: str, body: str | None = None, headers: dict | None = None) -> tuple[int, str]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    connection.request(method, path, body, headers or {})
    response = connection.getresponse()
    return response.status, response.read().decode()


def post(port: int, key: str, bodies: list[str], statuses: list[int]) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    headers = {"Content-Type": "application/x-www-form-urlencoded", "Accept": "application/json"}
    for body in bodies:
        connection.request("POST", f"/forms/{key}/submit", body, headers)
        response = connection.getresponse()
        response.read()
        statuses.append(response.status)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--submissions", type=int, default=3000)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--workers", type=int, default=4, help="gunicorn workers")
    parser.add_argument("--database-url")
    args = parser.parse_args()
    workdir = tempfile.mkdtemp(prefix="leadflow-capture-")
    env = {
        **os.environ,
        "LEADFLOW_VAR_DIR": workdir,
        "DATABASE_URL": args.database_url or f"sqlite:///{workdir}/leadflow.sqlite3",
        "SECRET_KEY": "bench-only-secret-key",
        "DEBUG": "0",
        "LEADFLOW_CAPTURE_RATE_PER_MINUTE": "0",  # every submission comes from 127.0.0.1
    }
    leadflow = str(BIN / "leadflow")
    subprocess.run([leadflow, "migrate", "-v0"], env=env, check=True)
    subprocess.run([leadflow, "createuser", "--username", "mia", "--password", "bench-password-1", "--role",
                    "marketing"], env=env, check=True, capture_output=True)  # fmt: skip
    token = subprocess.run([leadflow, "token", "create", "mia"], env=env, check=True, capture_output=True, text=True)
    bearer = {"Authorization": f"Bearer {token.stdout.strip().splitlines()[-1]}", "Content-Type": "application/json"}
    port = free_port()
    log = open(Path(workdir) / "serve.log", "wb")  # noqa: SIM115 (open while the server runs)
    server = subprocess.Popen(
        [leadflow, "serve", "--port", str(port), "--workers", str(args.workers)],
        env=env, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        for _ in range(300):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.1)
        status, text = call(port, "POST", "/api/v1/capture/forms",
                            json.dumps({"name": "Bench", "fields": FIELDS}), bearer)  # fmt: skip
        assert status == 201, text
        form = json.loads(text)
        status, page = call(port, "GET", f"/f/{form['slug']}/")
        signed = re.search(r'name="_lf_token" value="([^"]+)"', page)
        assert status == 200 and signed, page[:300]
        time.sleep(3.1)  # the minimum fill time, once: the token is the form's, not the submission's
        rng = random.Random(23)
        emails: list[str] = []
        bodies = []
        for index in range(args.submissions):
            email = rng.choice(emails) if emails and rng.random() < 0.2 else f"person{index}@bench{index % 97}.test"
            emails.append(email)
            bodies.append(urlencode({"_lf_token": signed[1], "email": email, "first_name": f"P{index}",
                                     "company": f"Company {index % 97}", "team_size": "11-50"}))  # fmt: skip
        shares = [bodies[i :: args.clients] for i in range(args.clients)]
        statuses: list[int] = []
        started = time.perf_counter()
        threads = [threading.Thread(target=post, args=(port, form["key"], share, statuses)) for share in shares]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        seconds = time.perf_counter() - started
        accepted = statuses.count(201)
        _, text = call(port, "GET", f"/api/v1/capture/forms/{form['id']}", headers=bearer)
        figures = json.loads(text)
        print(f"database: {env['DATABASE_URL'].split('@')[-1]}; {args.clients} clients, {args.workers} workers")
        print(f"posted {len(bodies):,} submissions in {seconds:.1f} s ({len(set(emails)):,} people)")
        print(f"form submissions: {len(bodies) / seconds:,.0f} /s")
        print(f"accepted {accepted:,}; stored {figures['submission_count']:,} submissions, "
              f"{figures['lead_count']:,} leads; load average {os.getloadavg()[0]:.1f}")  # fmt: skip
        ok = accepted == figures["submission_count"] == len(bodies) and figures["lead_count"] == len(set(emails))
        print("nothing lost" if ok else f"MISMATCH: statuses {sorted(set(statuses))}; see {log.name}")
        return 0 if ok else 1
    finally:
        server.terminate()
        server.wait(timeout=10)
        log.close()


if __name__ == "__main__":
    sys.exit(main())
