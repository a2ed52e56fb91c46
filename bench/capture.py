"""The public doors under load: form submissions to the POST endpoint, then tracking beacons of 20 page views.

Usage: .venv/bin/python bench/capture.py [--submissions 3000] [--page-views 100000] [--clients 4] [--workers 2]
       [--inprocess 300] [--database-url URL]
Sets up a fresh database (a temporary SQLite file unless --database-url is given) with a marketing user and a
tracked site, starts `leadflow serve` on a free loopback port with the per-address rate limits off, and posts from
client threads over keep-alive connections:
- forms: a form built through the API; a signed token from the hosted page, the minimum fill time waited out once;
  one submission in five comes back from an address already sent (an update of the open lead). Every response comes
  after the lead was created or updated; the submissions and leads are counted through the API at the end.
- beacons: 20 page views each, as a site's pages send them (their Origin), some sent twice; every page view must be
  stored exactly once.
Then --inprocess more submissions through Django's test client in this process give the queries and CPU
milliseconds per submission, figures that do not depend on what else the machine is doing.
Targets: ≥ 250 form submissions/s (issue 23) and ≥ 5,000 page views/s (issue 24) on SQLite.
"""

import argparse
import http.client
import json
import os
import random
import re
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from live_server import in_process, serve

BIN = Path(sys.executable).parent
FIELDS = [
    {"label": "Work email", "name": "email", "target": "email"},
    {"label": "First name", "name": "first_name", "target": "first_name", "required": True},
    {"label": "Company", "name": "company", "target": "company_name"},
    {"label": "Team size", "name": "team_size", "kind": "choice", "target": "property", "property_name": "team_size",
     "choices": "1-10\n11-50\n51+"},
]  # fmt: skip
ORIGIN = "https://www.example.com"
PATHS = ["/", "/product", "/pricing", "/docs/start", "/blog/lead-scoring", "/customers", "/about"]


def call(port: int, method: str, path: str, body: str | None = None, headers: dict | None = None) -> tuple[int, str]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    connection.request(method, path, body, headers or {})
    response = connection.getresponse()
    return response.status, response.read().decode()


def post_all(port: int, path: str, headers: dict, bodies: list, statuses: list[int]) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    for body in bodies:
        connection.request("POST", path, body, headers)
        response = connection.getresponse()
        response.read()
        statuses.append(response.status)


def in_parallel(clients: int, bodies: list, send: Callable[[list, list[int]], None]) -> tuple[float, list[int]]:
    """Send the bodies from `clients` threads; the seconds it took and every answer's status."""
    statuses: list[int] = []
    threads = [threading.Thread(target=send, args=(bodies[i::clients], statuses)) for i in range(clients)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return time.perf_counter() - started, statuses


def forms(port: int, bearer: dict, submissions: int, clients: int) -> tuple[bool, str, str]:
    """Post the submissions; whether nothing was lost, the form's key and its signed token."""
    status, text = call(port, "POST", "/api/v1/capture/forms", json.dumps({"name": "Bench", "fields": FIELDS}), bearer)
    assert status == 201, text
    form = json.loads(text)
    status, page = call(port, "GET", f"/f/{form['slug']}/")
    signed = re.search(r'name="_lf_token" value="([^"]+)"', page)
    assert status == 200 and signed, page[:300]
    time.sleep(3.1)  # the minimum fill time, once: the token is the form's, not the submission's
    rng = random.Random(23)
    emails: list[str] = []
    bodies = []
    for index in range(submissions):
        email = rng.choice(emails) if emails and rng.random() < 0.2 else f"person{index}@bench{index % 97}.test"
        emails.append(email)
        bodies.append(urlencode({"_lf_token": signed[1], "email": email, "first_name": f"P{index}",
                                 "company": f"Company {index % 97}", "team_size": "11-50"}))  # fmt: skip
    headers = {"Content-Type": "application/x-www-form-urlencoded", "Accept": "application/json"}
    path = f"/forms/{form['key']}/submit"
    seconds, statuses = in_parallel(clients, bodies, lambda share, out: post_all(port, path, headers, share, out))
    accepted = statuses.count(201)
    figures = json.loads(call(port, "GET", f"/api/v1/capture/forms/{form['id']}", headers=bearer)[1])
    print(f"posted {len(bodies):,} submissions in {seconds:.1f} s ({len(set(emails)):,} people)")
    print(f"form submissions: {len(bodies) / seconds:,.0f} /s")
    print(f"accepted {accepted:,}; stored {figures['submission_count']:,} submissions, {figures['lead_count']:,} leads")
    ok = accepted == figures["submission_count"] == len(bodies) and figures["lead_count"] == len(set(emails))
    print("forms: nothing lost" if ok else f"forms: MISMATCH, statuses {sorted(set(statuses))}")
    return ok, form["key"], signed[1]


def submit_in_process(key: str, token: str) -> Callable[[Any, int], None]:
    """A sender for `in_process`: new people, one submission in five from someone it sent already."""
    rng = random.Random(29)
    sent: list[str] = []

    def send(client: Any, number: int) -> None:
        email = rng.choice(sent) if sent and rng.random() < 0.2 else f"inproc{number}@bench{number % 97}.test"
        sent.append(email)
        answers = {"_lf_token": token, "email": email, "first_name": f"Q{number}", "company": f"Company {number % 97}",
                   "team_size": "11-50"}  # fmt: skip
        response = client.post(f"/forms/{key}/submit", answers, HTTP_ACCEPT="application/json")
        if response.status_code != 201:
            raise SystemExit(f"in process: HTTP {response.status_code} {response.content[:300]!r}")

    return send


def beacons(port: int, key: str, page_views: int, clients: int, count_hits: Callable[[], int]) -> bool:
    count = page_views // 20
    visitors = max(1, count // 5)
    bodies = []
    for index in range(count):
        events = [
            {"id": f"{index}-{n}", "k": "page_view", "u": f"{ORIGIN}{PATHS[(index + n) % len(PATHS)]}?utm_source=ads",
             "ti": "A page", "r": "https://www.google.com/"}
            for n in range(20)
        ]  # fmt: skip
        bodies.append(json.dumps({"v": f"bench-visitor-{index % visitors:06d}", "e": events}).encode())
    headers = {"Content-Type": "text/plain", "Origin": ORIGIN}
    path = f"/t/{key}/collect"
    seconds, statuses = in_parallel(clients, bodies, lambda share, out: post_all(port, path, headers, share, out))
    errors = sum(status != 204 for status in statuses)
    print(f"posted {count:,} beacons ({count * 20:,} page views) in {seconds:.1f} s, {errors} errors")
    print(f"page views: {count * 20 / seconds:,.0f} /s")
    again: list[int] = []
    post_all(port, path, headers, bodies[: min(10, count)], again)  # the snippet re-sends what may not have gone out
    stored = count_hits()
    ok = errors == 0 and set(again) <= {204} and stored == count * 20
    print(f"stored {stored:,} page views for {count * 20:,} sent ({len(again)} beacons sent twice)")
    print("beacons: nothing lost, nothing stored twice" if ok else "beacons: MISMATCH or errors")
    return ok


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--submissions", type=int, default=3000)
    parser.add_argument("--page-views", type=int, default=100_000)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers")
    parser.add_argument("--inprocess", type=int, default=300, help="submissions through Django's test client")
    parser.add_argument("--database-url")
    args = parser.parse_args()
    workdir = tempfile.mkdtemp(prefix="leadflow-capture-")
    env = {
        **os.environ,
        "LEADFLOW_VAR_DIR": workdir,
        "DATABASE_URL": args.database_url or f"sqlite:///{workdir}/leadflow.sqlite3",
        "SECRET_KEY": "bench-only-secret-key",
        "DEBUG": "0",
        "LEADFLOW_CAPTURE_RATE_PER_MINUTE": "0",  # everything comes from 127.0.0.1
        "LEADFLOW_TRACKING_RATE_PER_MINUTE": "0",
    }
    leadflow = str(BIN / "leadflow")

    def shell(code: str) -> str:
        return subprocess.run([leadflow, "shell", "-c", code], env=env, check=True, capture_output=True,
                              text=True).stdout.split()[-1]  # fmt: skip

    subprocess.run([leadflow, "migrate", "-v0"], env=env, check=True)
    subprocess.run([leadflow, "flush", "--no-input"], env=env, check=True)
    subprocess.run([leadflow, "createuser", "--username", "mia", "--password", "bench-password-1", "--role",
                    "marketing"], env=env, check=True, capture_output=True)  # fmt: skip
    token = subprocess.run([leadflow, "token", "create", "mia"], env=env, check=True, capture_output=True, text=True)
    bearer = {"Authorization": f"Bearer {token.stdout.strip().splitlines()[-1]}", "Content-Type": "application/json"}
    site_key = shell(
        "from leadflow.tracking.models import Site; "
        f"print(Site.objects.create(name='Bench', allowed_origins='{ORIGIN}', consent_required=False).key)"
    )
    with serve(env, workers=args.workers, log=Path(workdir) / "serve.log") as port:
        print(f"database: {env['DATABASE_URL'].split('@')[-1]}; {args.clients} clients, {args.workers} workers")
        print(f"load average before: {os.getloadavg()[0]:.1f}")
        forms_ok, key, signed = forms(port, bearer, args.submissions, args.clients)
        hits = "from leadflow.tracking.models import Hit; print(Hit.objects.count())"
        beacons_ok = beacons(port, site_key, args.page_views, args.clients, lambda: int(shell(hits)))
        print(f"load average after: {os.getloadavg()[0]:.1f}")
    if args.inprocess:
        queries, cpu_ms = in_process(env, submit_in_process(key, signed), args.inprocess)
        print(f"in process, {args.inprocess} submissions (Django test client; load-independent): "
              f"{queries:.1f} queries and {cpu_ms:.2f} CPU ms per submission")  # fmt: skip
    return 0 if forms_ok and beacons_ok else 1


if __name__ == "__main__":
    sys.exit(main())
