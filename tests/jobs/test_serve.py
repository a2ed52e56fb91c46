"""The app as `make run` starts it: `leadflow serve --with-worker` (two web processes and a worker) on a database of
its own. A rescore queued from the web finishes; concurrent writes through both web processes while the worker
writes never fail; Ctrl-C stops every process; SQLite's busy timeout running out answers 503 with Retry-After."""

import http.client
import json
import os
import re
import signal
import socket
import sqlite3
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from http.cookies import SimpleCookie
from pathlib import Path
from urllib.parse import urlencode

import pytest
from django.db import connection

from .worlds import Template, World


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Browser:
    """An HTTP client with cookies (one keep-alive connection)."""

    def __init__(self, port: int) -> None:
        self.http = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        self.cookies: dict[str, str] = {}

    def request(self, method: str, path: str, body: bytes | None = None, headers: dict | None = None):
        headers = dict(headers or {})
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        if "csrftoken" in self.cookies and method == "POST":
            headers.setdefault("X-CSRFToken", self.cookies["csrftoken"])
            headers.setdefault("Referer", f"http://127.0.0.1:{self.http.port}/")
        self.http.request(method, path, body=body, headers=headers)
        response = self.http.getresponse()
        text = response.read().decode()
        for header in response.headers.get_all("Set-Cookie") or []:
            for name, morsel in SimpleCookie(header).items():
                self.cookies[name] = morsel.value
        return response, text

    def form(self, path: str, fields: dict[str, str]):
        body = urlencode(fields).encode()
        return self.request("POST", path, body, {"Content-Type": "application/x-www-form-urlencoded"})

    def api(self, method: str, path: str, token: str, payload: object = None):
        body = json.dumps(payload).encode() if payload is not None else None
        headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        response, text = self.request(method, path, body, headers)
        return response.status, text, response.headers


def wait_for_port(port: int, process, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.poll() is None, "the server exited"
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.2)
    raise AssertionError("the server never listened")


@pytest.fixture(scope="module")
def template(tmp_path_factory):
    template = Template(tmp_path_factory.mktemp("serve"), leads=300, known=0, import_rows=10)
    yield template
    template.drop()


@dataclass
class App:
    world: World
    port: int
    token: str
    process: object
    log: Path


@pytest.fixture(scope="module")
def app(template, tmp_path_factory):
    """`leadflow serve --with-worker` as `make run` starts it (DEBUG on), with two web processes."""
    world = template.copy("app")
    world.env["DEBUG"] = "1"
    port = free_port()
    log = tmp_path_factory.mktemp("serve-log") / "serve.log"
    process = world.start("serve", "--with-worker", "--port", str(port), "--workers", "2", log=log)
    wait_for_port(port, process)
    yield App(world, port, template.token, process, log)
    if process.poll() is None:
        process.send_signal(signal.SIGINT)
        process.wait(timeout=60)


def test_a_rescore_queued_from_the_web_is_run_by_the_worker_beside_the_server(app):
    browser = Browser(app.port)
    browser.request("GET", "/login/")
    response, _ = browser.form("/login/", {"username": "admin", "password": "fault-test-pw",
                                           "csrfmiddlewaretoken": browser.cookies["csrftoken"]})  # fmt: skip
    assert response.status == 302
    response, _ = browser.form("/scoring/rescore/", {"csrfmiddlewaretoken": browser.cookies["csrftoken"]})
    assert response.status == 302
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        _, text = browser.request("GET", "/scoring/rescore/progress/")
        if "Done" in text or "Failed" in text:
            break
        time.sleep(0.5)
    assert "Last rescore: Done — Scored 300 leads." in text
    _, page = browser.request("GET", "/")
    assert "No background worker is running" not in page


def test_writes_through_two_web_processes_beside_the_worker_all_succeed(app):
    before = app.world.census()
    assert Browser(app.port).api("POST", "/api/v1/scoring/rescore", app.token)[0] == 202  # the worker writes scores too
    statuses: list[int] = []
    failures: list[str] = []

    def client(number: int) -> None:
        browser = Browser(app.port)
        for step in range(15):
            lead = {"email": f"c{number}-{step}@load.example", "first_name": f"C{number}"}
            status, text, _ = browser.api("POST", "/api/v1/leads", app.token, lead)
            statuses.append(status)
            if status != 201:
                failures.append(text)
                continue
            lead_id = json.loads(text)["id"]
            events = [{"type": "page_visit", "occurred_at": datetime.now(UTC).isoformat(), "lead_id": lead_id,
                       "external_id": f"c{number}-{step}-{i}"} for i in range(5)]  # fmt: skip
            status, text, _ = browser.api("POST", "/api/v1/events", app.token, {"events": events})
            statuses.append(status)
            if status != 200:
                failures.append(text)

    threads = [threading.Thread(target=client, args=(number,)) for number in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert failures == []
    assert len(statuses) == 8 * 15 * 2
    after = app.world.census()
    assert after["leads_lead"] - before["leads_lead"] == 8 * 15
    assert after["engagement_event"] - before["engagement_event"] == 8 * 15 * 5
    assert "database is locked" not in app.log.read_text()
    pids = set(re.findall(r"Booting worker with pid: (\d+)", app.log.read_text()))
    assert len(pids) == 2  # both web processes served


def test_ctrl_c_stops_the_web_server_and_the_worker(app):
    children = [int(pid) for pid in re.findall(r"\(pid (\d+)\)", app.log.read_text())]
    assert len(children) == 2
    app.process.send_signal(signal.SIGINT)
    assert app.process.wait(timeout=60) == 0
    for pid in children:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)


@pytest.mark.skipif(connection.vendor != "sqlite", reason="SQLite's write lock; PostgreSQL locks rows, not the file")
def test_when_sqlite_stays_busy_past_the_timeout_a_write_answers_503_with_retry_after(template, tmp_path):
    world = template.copy("busy")
    world.env["SQLITE_BUSY_TIMEOUT"] = "1"
    port = free_port()
    process = world.start("serve", "--port", str(port), "--workers", "1", log=tmp_path / "serve.log")
    try:
        wait_for_port(port, process)
        browser = Browser(port)
        holder = sqlite3.connect(world.url.removeprefix("sqlite:///"), isolation_level=None)
        holder.execute("BEGIN IMMEDIATE")  # another writer holds the lock
        try:
            status, text, headers = browser.api("POST", "/api/v1/leads", template.token, {"email": "a@busy.example"})
        finally:
            holder.execute("ROLLBACK")
            holder.close()
        assert status == 503
        assert headers["Retry-After"] == "5"
        assert "try again" in json.loads(text)["detail"]
        status, _, _ = browser.api("POST", "/api/v1/leads", template.token, {"email": "a@busy.example"})
        assert status == 201
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(timeout=60)
