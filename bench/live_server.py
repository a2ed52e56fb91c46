"""Shared by the benchmarks that load a real server: `leadflow serve` on a free loopback port, stopped after."""

import contextlib
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

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
