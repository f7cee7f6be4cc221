"""Real uvicorn subprocesses on free ports: start, wait until they answer, always stop."""

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from testbed.host import ROOT, free_port, wait_until


def is_app_setting(name: str) -> bool:
    """Whether a variable changes how the app runs: its settings, and prometheus_client's mode."""
    return name.startswith("APP_") or name in ("WEB_CONCURRENCY", "PROMETHEUS_MULTIPROC_DIR")


def isolated_env(**values: str) -> dict[str, str]:
    """The environment of a process a test starts: this one's without any of the app's settings
    (a developer's APP_* or WEB_CONCURRENCY), the repository importable, then `values`."""
    inherited = {name: value for name, value in os.environ.items() if not is_app_setting(name)}
    return {**inherited, "PYTHONPATH": str(ROOT), **values}


@dataclass
class Server:
    process: subprocess.Popen[str]
    url: str
    port: int

    def output(self) -> str:
        """Everything the server printed; call after it has exited."""
        out, _ = self.process.communicate(timeout=10)
        return out


def answers(url: str) -> bool:
    try:
        return httpx.get(f"{url}/info/status", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


@contextmanager
def run_server(
    env: dict[str, str] | None = None,
    module: str = "app.server",
    timeout: float = 20,
) -> Iterator[Server]:
    """Run `python -m <module>` on a free port with `env` added; stop it in every case."""
    port = free_port()
    # Its own working directory, and an empty secrets directory: no .env, no secret of the machine.
    workdir = Path(tempfile.mkdtemp(prefix="fastapi-app-server-"))
    (workdir / "secrets").mkdir()
    full_env = isolated_env(
        **{
            "APP_HOST": "127.0.0.1",
            "APP_PORT": str(port),
            "APP_SECRETS_DIR": str(workdir / "secrets"),
            # Its own metrics directory: app.server empties the one it is given.
            "APP_METRICS_DIR": str(workdir / "metrics"),
            "PYTHONUNBUFFERED": "1",
            **(env or {}),
        }
    )
    process = subprocess.Popen(
        [sys.executable, "-m", module],
        cwd=workdir,
        env=full_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    server = Server(process=process, url=f"http://{full_env['APP_HOST']}:{port}", port=port)
    try:
        wait_until(lambda: process.poll() is not None or answers(server.url), timeout, "the server")
        if process.poll() is not None:
            raise RuntimeError(f"server exited at start:\n{server.output()}")
        yield server
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)
        if process.stdout:
            process.stdout.close()
        shutil.rmtree(workdir, ignore_errors=True)


def exchange(port: int, data: bytes, timeout: float = 5) -> bytes:
    """Send raw bytes on a new connection; return all the server sent until it closed."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(data)
        received = b""
        while chunk := sock.recv(65536):
            received += chunk
        return received


COVERAGE_AT_EXIT_FAILED = "Exception ignored in atexit callback: <bound method Coverage._atexit"


def stop_and_read_logs(server: Server) -> list[dict[str, Any]]:
    """SIGTERM the server, check it exits 0, and return its stdout as parsed JSON lines."""
    server.process.send_signal(signal.SIGTERM)
    assert server.process.wait(timeout=15) == 0
    # The test command measures the servers' coverage: coverage.py's report of its own failure to
    # save its data at exit (seen once on a loaded machine) is not the server's log, and is only
    # printed. Everything before it is the server's, every line JSON.
    logs, failed, report = server.output().partition(COVERAGE_AT_EXIT_FAILED)
    if failed:
        print(f"coverage.py at the server's exit: {failed}{report}")
    return [json.loads(line) for line in logs.splitlines()]
