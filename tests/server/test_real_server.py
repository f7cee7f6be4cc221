"""A real uvicorn, started the way the image starts it, on a real socket."""

import signal
import socket
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from app import NAME
from tests.support.servers import isolated_env, run_server, stop_and_read_logs

pytestmark = pytest.mark.server


def test_contract_over_a_socket() -> None:
    with run_server() as server:
        root = httpx.get(f"{server.url}/")
        status = httpx.get(f"{server.url}/info/status")
        head = httpx.head(f"{server.url}/info/status")
    assert (root.status_code, root.content) == (200, b'"Hello World"')
    assert (status.status_code, status.content) == (200, b'{"status":"ok"}')
    assert status.headers["content-type"] == "application/json"
    assert (head.status_code, head.content) == (200, b"")
    assert head.headers["content-length"] == "15"


def test_head_sends_no_body_on_a_kept_alive_connection() -> None:
    # HEAD then GET on one connection, read as raw bytes: a body after the HEAD's head would stand
    # where the GET's status line must.
    with run_server() as server, socket.create_connection(("127.0.0.1", server.port), 5) as sock:
        sock.sendall(
            b"HEAD /info/status HTTP/1.1\r\nHost: t\r\n\r\n"
            b"GET /info/status HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"
        )
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    head, after_head = answer.split(b"\r\n\r\n", 1)
    assert head.startswith(b"HTTP/1.1 200 ") and b"content-length: 15" in head.lower()
    assert after_head.startswith(b"HTTP/1.1 200 "), after_head[:40]
    assert after_head.endswith(b'\r\n\r\n{"status":"ok"}')


def test_no_server_header() -> None:
    with run_server() as server:
        response = httpx.get(f"{server.url}/")
    assert "server" not in response.headers


def test_a_bad_setting_stops_the_start_with_one_line() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "app.server"],
        env=isolated_env(APP_PORT="eighty"),
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode != 0
    assert result.stdout == ""
    assert result.stderr.strip().splitlines() == [
        f"{NAME}: invalid configuration: APP_PORT: Input should be a valid integer, "
        "unable to parse string as an integer"
    ]


def test_workers_from_web_concurrency_serve_and_stop_cleanly() -> None:
    with run_server(env={"WEB_CONCURRENCY": "2"}) as server:
        with httpx.Client() as client:
            for _ in range(20):
                assert client.get(f"{server.url}/info/status").status_code == 200
        server.process.send_signal(signal.SIGTERM)
        assert server.process.wait(timeout=15) == 0
        lines = server.output().splitlines()
    started = [line for line in lines if "Started server process" in line]
    assert len(started) == 2, lines


def test_a_developers_settings_and_env_file_do_not_reach_the_test_server(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("APP_LOG_FORMAT", "text")
    (tmp_path / ".env").write_text("APP_ACCESS_LOG=false\nAPP_LOG_FORMAT=text\n")
    monkeypatch.chdir(tmp_path)
    with run_server(env={"APP_ACCESS_LOG": "true"}) as server:
        httpx.get(f"{server.url}/")
        logs = stop_and_read_logs(server)  # fails unless every line is JSON
    assert any(line["logger"] == "app.access" for line in logs)


def test_an_error_once_the_response_started_cuts_the_connection_and_is_logged() -> None:
    with run_server(module="tests.support.serve_slow_app") as server:
        with pytest.raises(httpx.RemoteProtocolError):  # the chunked body never ends properly
            httpx.get(f"{server.url}/fails-midway", headers={"X-Request-ID": "midway-1"})
        assert httpx.get(f"{server.url}/").status_code == 200  # the server goes on
        logs = stop_and_read_logs(server)
    [error] = [line for line in logs if line["logger"] == "app.errors"]
    assert error["request_id"] == "midway-1"
    assert "failed after the response started" in error["exception"]
