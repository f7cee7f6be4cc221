"""The container's probe (`python -m app.healthcheck`) against a real server: it probes where the
server listens, wherever the configuration that says so comes from."""

import http.server
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from tests.support.servers import isolated_env, run_server

pytestmark = pytest.mark.server


def probe(
    workdir: Path, *options: str, measured: bool = True, **env: str
) -> subprocess.CompletedProcess[str]:
    """The probe, in `workdir`; not measured by coverage when `measured` is false (coverage's own
    start-up in the subprocess imports modules the probe does not)."""
    secrets = workdir / "secrets"
    secrets.mkdir(exist_ok=True)
    environment = isolated_env(APP_SECRETS_DIR=str(secrets), **env)
    if not measured:
        environment = {k: v for k, v in environment.items() if not k.startswith("COVERAGE_")}
    return subprocess.run(
        [sys.executable, *options, "-m", "app.healthcheck"],
        cwd=workdir,
        env=environment,
        capture_output=True,
        text=True,
        timeout=10,
    )


def test_the_port_from_the_environment(tmp_path: Path) -> None:
    with run_server() as server:
        assert probe(tmp_path, APP_PORT=str(server.port)).returncode == 0
        # And it can say no: nothing listens on the default port here.
        refused = probe(tmp_path, APP_PORT=str(server.port + 1))
    assert refused.returncode == 1 and refused.stderr.startswith("unhealthy:")


def test_the_probe_imports_no_http_client_ssl_or_settings(tmp_path: Path) -> None:
    # Each probe runs in the container's CPU quota: these imports would multiply its cost.
    with run_server() as server:
        result = probe(tmp_path, "-X", "importtime", measured=False, APP_PORT=str(server.port))
    assert result.returncode == 0, result.stderr
    imported = {line.rsplit("|", 1)[-1].strip() for line in result.stderr.splitlines()}
    assert "socket" in imported
    heavy = {"http.client", "email.parser", "ssl", "re", "pydantic", "app.settings"}
    assert not heavy & imported, heavy & imported


def test_the_port_from_a_dotenv_file(tmp_path: Path) -> None:
    with run_server() as server:
        (tmp_path / ".env").write_text(f"APP_PORT={server.port}\n")
        assert probe(tmp_path).returncode == 0


def test_the_port_from_a_secret_file(tmp_path: Path) -> None:
    with run_server() as server:
        (tmp_path / "secrets").mkdir()
        (tmp_path / "secrets" / "app_port").write_text(f"{server.port}\n")
        assert probe(tmp_path).returncode == 0


def test_a_host_other_than_the_wildcard(tmp_path: Path) -> None:
    # 127.0.0.2 is a loopback address too, on Linux: the server is not on 127.0.0.1.
    with run_server(env={"APP_HOST": "127.0.0.2"}) as server:
        result = probe(tmp_path, APP_HOST="127.0.0.2", APP_PORT=str(server.port))
    assert result.returncode == 0, result.stderr


class Answers503(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(503)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


def test_an_answer_other_than_ok_is_unhealthy(tmp_path: Path) -> None:
    with http.server.ThreadingHTTPServer(("127.0.0.1", 0), Answers503) as other:
        thread = threading.Thread(target=other.serve_forever)
        thread.start()
        try:
            result = probe(tmp_path, APP_PORT=str(other.server_address[1]))
        finally:
            other.shutdown()
            thread.join()
    assert result.returncode == 1
    assert result.stderr.strip() == "unhealthy: HTTP 503 b''"
