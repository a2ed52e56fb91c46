"""Several processes run as one: `leadflow serve --with-worker` starts the web server and the worker side by side,
and stopping it (Ctrl-C, SIGTERM) stops both; if one of them dies, the other is stopped too."""

import ctypes
import signal
import subprocess
import sys
import time
from collections.abc import Callable

STOP_TIMEOUT = 20.0  # seconds a child has to stop after SIGTERM before it is killed


def _die_with_parent() -> Callable[[], None] | None:
    """On Linux, make a child get SIGTERM when this process dies, even by SIGKILL, so none is left orphaned."""
    if not sys.platform.startswith("linux"):
        return None
    libc = ctypes.CDLL(None, use_errno=True)
    return lambda: libc.prctl(1, signal.SIGTERM)  # 1 = PR_SET_PDEATHSIG


def _say(text: str) -> None:
    print(text, flush=True)


def supervise(commands: dict[str, list[str]], *, say: Callable[[str], None] = _say) -> int:
    """Run each command as a child until one exits or this process is told to stop; then stop the others and
    return an exit status: 0 when told to stop, else the status of the child that exited (1 if that was 0)."""
    stop_signals: list[int] = []

    def stop(signum: int, frame: object) -> None:
        stop_signals.append(signum)

    previous = {signum: signal.signal(signum, stop) for signum in (signal.SIGINT, signal.SIGTERM)}
    children: dict[str, subprocess.Popen] = {}
    status = 0
    try:
        for name, command in commands.items():
            children[name] = subprocess.Popen(command, preexec_fn=_die_with_parent())
        say(", ".join(f"{name} (pid {child.pid})" for name, child in children.items()) + " started; Ctrl-C stops all.")
        while not stop_signals:
            exited = next(((name, child) for name, child in children.items() if child.poll() is not None), None)
            if exited is not None:
                name, child = exited
                say(f"The {name} process exited (status {child.returncode}); stopping the others.")
                status = child.returncode or 1
                break
            time.sleep(0.2)
    finally:
        _stop_all(children)
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    return status


def _stop_all(children: dict[str, subprocess.Popen]) -> None:
    for child in children.values():
        if child.poll() is None:
            child.terminate()
    deadline = time.monotonic() + STOP_TIMEOUT
    for child in children.values():
        try:
            child.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()
