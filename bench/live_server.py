"""Shared by the benchmarks that load a real server: `leadflow serve` on a free loopback port, stopped after."""

import contextlib
import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

LEADFLOW = str(Path(sys.executable).parent / "leadflow")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextlib.contextmanager
def serve(env: dict[str, str], *, workers: int, log: Path) -> Iterator[int]:
    """Run `leadflow serve` with this environment and number of gunicorn workers, its output in `log`; yields the
    port once it accepts connections, and stops the server on the way out."""
    port = free_port()
    with open(log, "wb") as output:
        server = subprocess.Popen(
            [LEADFLOW, "serve", "--port", str(port), "--workers", str(workers)],
            env=env, stdout=output, stderr=subprocess.STDOUT,
        )  # fmt: skip
        try:
            for _ in range(600):
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                    break
                except OSError:
                    time.sleep(0.1)
            yield port
        finally:
            server.terminate()
            try:
                server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                server.kill()


def in_process(env: dict[str, str], send: Callable[[Any, int], None], count: int) -> tuple[float, float]:
    """Database queries and CPU milliseconds per call of `send(client, number)` (a request through Django's test
    client) in this process, against the database the server used: figures that do not depend on what else the
    machine is doing. Five calls warm up first (imports, templates)."""
    os.environ.update(env)
    os.environ["DJANGO_SETTINGS_MODULE"] = "leadflow.settings"
    import django

    django.setup()
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext, setup_test_environment

    setup_test_environment()  # the test client's host, allowed
    client = Client()
    for number in range(count, count + 5):
        send(client, number)
    with CaptureQueriesContext(connection) as queries:
        cpu = time.process_time()
        for number in range(count):
            send(client, number)
        cpu = time.process_time() - cpu
    return len(queries) / count, cpu * 1000 / count
