"""What the real server writes, and how it stops: JSON lines, and a drain that loses nothing."""

import signal
import socket
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from testbed.host import wait_until
from tests.support.servers import run_server, stop_and_read_logs
from tests.support.slow_app import in_flight

pytestmark = pytest.mark.server


def test_every_line_is_json_and_the_access_line_carries_the_request_id() -> None:
    with run_server(env={"APP_ACCESS_LOG": "true"}) as server:
        response = httpx.get(f"{server.url}/")
        logs = stop_and_read_logs(server)  # fails unless every line parses as JSON
    rid = response.headers["x-request-id"]
    [access] = [line for line in logs if line.get("request_id") == rid]
    assert access["logger"] == "app.access"
    assert (access["method"], access["path"], access["status"]) == ("GET", "/", 200)
    assert access["client"] == "127.0.0.1"
    assert isinstance(access["duration_ms"], float)
    assert {"time", "level", "message"} <= set(access)


def test_text_logs_for_local_development() -> None:
    with run_server(env={"APP_LOG_FORMAT": "text", "APP_ACCESS_LOG": "true"}) as server:
        httpx.get(f"{server.url}/", headers={"X-Request-ID": "text-1"})
        # A path that decodes to a new line and a terminal escape: one line, escaped.
        forged = "/x%0A2026-01-01T00:00:00.000+00:00 CRITICAL app forged%1B[2J"
        httpx.get(f"{server.url}{forged}", headers={"X-Request-ID": "text-2"})
        server.process.send_signal(signal.SIGTERM)
        assert server.process.wait(timeout=15) == 0
        lines = server.output().splitlines()
    [access] = [line for line in lines if "text-1" in line]
    assert " INFO    app.access GET / 200 [text-1]" in access
    assert not any(line.startswith("{") for line in lines)
    [escaped] = [line for line in lines if "text-2" in line]
    assert "GET /x\\n2026-01-01T00:00:00.000+00:00 CRITICAL app forged\\x1b[2J 404" in escaped
    assert not [line for line in lines if "forged" in line and line is not escaped]


def test_after_the_drain_requests_in_flight_finish_and_idle_connections_close() -> None:
    # No drain period (tests/server/test_drain.py has it): uvicorn's graceful shutdown alone.
    env = {"APP_ACCESS_LOG": "true", "APP_DRAIN_SECONDS": "0"}
    with (
        run_server(module="tests.support.serve_slow_app", env=env) as server,
        ThreadPoolExecutor(max_workers=5) as pool,
    ):
        requests = [
            pool.submit(httpx.get, f"{server.url}/slow?seconds=1.5", timeout=10) for _ in range(5)
        ]
        wait_until(lambda: in_flight(server.url) == 5, 5, "five requests in their handlers")
        # An idle keep-alive connection: it has had its answer and now waits for another request.
        idle = socket.create_connection(("127.0.0.1", server.port), timeout=5)
        idle.sendall(b"GET /info/status HTTP/1.1\r\nHost: x\r\n\r\n")
        answer = b""
        while not answer.endswith(b'{"status":"ok"}'):  # headers and body may come apart
            chunk = idle.recv(65536)
            assert chunk, f"closed before the whole answer: {answer!r}"
            answer += chunk
        assert answer.startswith(b"HTTP/1.1 200 ")
        server.process.send_signal(signal.SIGTERM)
        idle_closed = idle.recv(65536)  # b"" once closed; a socket.timeout fails the test
        idle.close()
        responses = [request.result(timeout=10) for request in requests]
        logs = stop_and_read_logs(server)
    assert idle_closed == b""
    assert [(r.status_code, r.json()) for r in responses] == [(200, "done")] * 5
    messages = [line["message"] for line in logs]
    draining = messages.index("shutdown started: readiness now fails, requests in flight finish")
    slow_done = [i for i, line in enumerate(logs) if line.get("path") == "/slow"]
    assert len(slow_done) == 5 and draining < min(slow_done)


def test_a_request_still_running_at_the_graceful_timeout_gets_500_and_the_server_exits() -> None:
    with (
        run_server(
            module="tests.support.serve_slow_app",
            # A short drain: the timeout is what this test is about.
            env={"APP_TIMEOUT_GRACEFUL_SHUTDOWN": "1", "APP_DRAIN_SECONDS": "0.5"},
        ) as server,
        ThreadPoolExecutor() as pool,
    ):
        request = pool.submit(httpx.get, f"{server.url}/slow?seconds=30", timeout=10)
        wait_until(lambda: in_flight(server.url) == 1, 5, "the slow request in its handler")
        server.process.send_signal(signal.SIGTERM)
        assert server.process.wait(timeout=5) == 0
        # uvicorn cancels the handler and still answers: a 500, and the connection closes.
        response = request.result(timeout=10)
    assert (response.status_code, response.headers["connection"]) == (500, "close")
