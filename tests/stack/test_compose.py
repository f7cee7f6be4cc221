"""The README's run command, `docker compose up --build`: HAProxy in front of two API replicas."""

import json
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from testbed.compose import Stack, compose_up, get, post, stack_env
from testbed.docker import docker
from testbed.host import ROOT
from tests.support.loadgen import Load

pytestmark = pytest.mark.stack

API_KEY = "stack-test-key-0123456789abcdef"


@pytest.fixture(scope="module")
def secret_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("secrets") / "api_key"
    path.write_text(API_KEY + "\n")
    return path


@pytest.fixture(scope="module")
def stack(secret_file: Path) -> Iterator[Stack]:
    env = stack_env(
        "10.231.251.0/24",
        API_KEY_FILE=str(secret_file),
        API_ACCESS_LOG="true",  # the client-address test reads the API's access lines
        # The rollout tests' load comes from one address, the host's: past 1,000 requests a
        # second (a fast machine) it would get 429s (docs/stack.md).
        CLIENT_MAX_RATE="1000000",
        # The names clients reach it by (the tests: the loopback address).
        PROXY_ALLOWED_HOSTS="127.0.0.1,localhost",
    )
    with compose_up(env) as stack:
        yield stack


def json_lines(lines: list[str]) -> list[dict[str, Any]]:
    return [json.loads(line) for line in lines if line.startswith("{")]


def test_the_contract_through_the_proxy(stack: Stack) -> None:
    assert get(f"{stack.url}/").content == b'"Hello World"'
    assert get(f"{stack.url}/info/status").content == b'{"status":"ok"}'
    assert get(f"{stack.url}/docs").status_code == 200
    assert get(f"{stack.url}/redoc").status_code == 200


def test_only_the_proxy_is_published_and_the_api_network_is_internal(stack: Stack) -> None:
    for container in stack.containers("api"):
        assert container.inspect()["NetworkSettings"]["Ports"] in ({}, {"8000/tcp": None})
    [network] = [
        n
        for n in docker(
            "network", "ls", "-q", "--filter", f"name={stack.project}_backend"
        ).stdout.split()
    ]
    assert json.loads(docker("network", "inspect", network).stdout)[0]["Internal"] is True


def test_every_service_is_hardened(stack: Stack) -> None:
    for service in ("api", "proxy"):
        for container in stack.containers(service):
            config = container.inspect()
            host = config["HostConfig"]
            assert host["ReadonlyRootfs"] is True, service
            assert host["CapDrop"] == ["ALL"], service
            assert host["SecurityOpt"] == ["no-new-privileges:true"], service
            assert host["Memory"] > 0 and host["PidsLimit"] > 0, service
            assert host["RestartPolicy"]["Name"] == "unless-stopped", service
            assert config["Config"]["User"] not in ("", "0", "root"), service


def test_security_headers_and_gzip(stack: Stack) -> None:
    response = get(f"{stack.url}/static/docs/swagger-ui.css", headers={"Accept-Encoding": "gzip"})
    assert response.headers["content-encoding"] == "gzip"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["referrer-policy"] == "no-referrer"
    assert "server" not in response.headers  # no product or version to fingerprint


def test_only_the_docs_pages_may_run_inline_scripts(stack: Stack) -> None:
    api = get(f"{stack.url}/").headers["content-security-policy"]
    docs = get(f"{stack.url}/docs").headers["content-security-policy"]
    redoc = get(f"{stack.url}/redoc").headers["content-security-policy"]
    assert api == "default-src 'none'; frame-ancestors 'none'"
    assert docs == redoc and "script-src 'self' 'unsafe-inline'" in docs
    assert "default-src 'self'" in docs and "frame-ancestors 'none'" in docs


def test_an_unsafe_request_id_is_replaced_with_one_id_from_edge_to_app(stack: Stack) -> None:
    unsafe = 'forged id", "level": "critical' + "x" * 200  # spaces, quotes, and too long
    response = get(f"{stack.url}/", headers={"X-Request-ID": unsafe})
    rid = response.headers["x-request-id"]
    assert rid != unsafe and len(rid) <= 128
    [edge] = [line for line in json_lines(stack.logs("proxy")) if line.get("request_id") == rid]
    [app] = [line for line in json_lines(stack.logs("api")) if line.get("request_id") == rid]
    assert edge["status"] == app["status"] == 200


def test_the_real_client_reaches_the_api_and_a_spoofed_one_does_not(stack: Stack) -> None:
    rid = "client-address-check"
    response = get(f"{stack.url}/", headers={"X-Forwarded-For": "6.6.6.6", "X-Request-ID": rid})
    assert response.headers["x-request-id"] == rid
    [edge] = [line for line in json_lines(stack.logs("proxy")) if line.get("request_id") == rid]
    [app] = [line for line in json_lines(stack.logs("api")) if line.get("request_id") == rid]
    assert app["client"] == edge["client"] != "6.6.6.6"


def test_only_the_allowed_hosts_are_served(stack: Stack) -> None:
    assert get(f"{stack.url}/", headers={"Host": "LOCALHOST:8443"}).status_code == 200
    other = get(f"{stack.url}/", headers={"Host": "evil.example"})
    assert other.status_code == 421
    assert other.json() == {"detail": "This server does not serve that host."}
    redirect = httpx.get(f"{stack.http_url}/", headers={"Host": "evil.example"})
    assert redirect.status_code == 421 and "location" not in redirect.headers


def test_oversized_headers_are_refused_at_the_proxy(stack: Stack) -> None:
    rid = "oversized-header"
    response = get(f"{stack.url}/", headers={"X-Big": "a" * 16384, "X-Request-ID": rid})
    assert response.status_code in (400, 431)
    assert not [line for line in json_lines(stack.logs("api")) if line.get("request_id") == rid]
    assert get(f"{stack.url}/").status_code == 200


def test_a_body_over_the_limit_is_refused_at_the_proxy(stack: Stack) -> None:
    response = post(f"{stack.url}/", content=b"x" * (2 * 1024 * 1024))
    assert response.status_code == 413
    assert response.json() == {"detail": "Content Too Large"}  # as the API's own 413


def test_slow_clients_are_cut_at_the_proxy_while_others_are_served(stack: Stack) -> None:
    port = int(stack.env["PROXY_PORT"])
    slow = []
    try:
        for _ in range(50):  # slowloris: request lines started, headers never finished
            sock = socket.create_connection(("127.0.0.1", port), timeout=20)
            sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nX-Slow: 1")
            slow.append(sock)
        started = time.monotonic()
        for _ in range(20):
            assert get(f"{stack.url}/info/status").status_code == 200
        assert slow[0].recv(65536).startswith(b"HTTP/1.1 408 ")  # blocks until the proxy gives up
        assert time.monotonic() - started < 15
    finally:
        for sock in slow:
            sock.close()


def test_the_secret_reaches_the_settings_and_is_not_leaked(stack: Stack) -> None:
    # The key is checked by the private router's routes: a project that removed it has none.
    pytest.importorskip("app.routes.private", reason="no private router (docs/your-own-api.md)")
    ok = get(f"{stack.url}/private/hello", headers={"Authorization": f"Bearer {API_KEY}"})
    denied = get(f"{stack.url}/private/hello", headers={"Authorization": "Bearer wrong"})
    assert (ok.status_code, denied.status_code) == (200, 401)
    for container in stack.containers("api"):
        assert API_KEY not in json.dumps(container.inspect())
    assert API_KEY not in "\n".join(stack.logs("api") + stack.logs("proxy"))
    image = "fastapi-app:stack-test"
    assert API_KEY not in docker("image", "inspect", image).stdout
    assert API_KEY not in docker("history", "--no-trunc", image).stdout


def test_a_missing_secret_file_fails_the_start_naming_it(secret_file: Path) -> None:
    missing = secret_file.parent / "not-there"
    env = stack_env("10.231.252.0/24", API_KEY_FILE=str(missing))
    stack = Stack(project="fastapi-app-test-missing-secret", env=env)
    try:
        result = stack.run("up", "--detach", "--wait", check=False, timeout=300)
        assert result.returncode != 0
        assert str(missing) in result.stderr
        running = [c for c in stack.containers("api") if c.inspect()["State"]["Running"]]
        assert running == []
    finally:
        stack.compose("down", "--volumes", "--timeout", "5", check=False)


def test_rolling_replacement_under_load_fails_no_request(stack: Stack) -> None:
    before = {c.id for c in stack.containers("api")}
    with Load(f"{stack.url}/", connections=16) as load:
        load.wait_flowing()
        subprocess.run(
            [str(ROOT / "deploy" / "rollout"), "-p", stack.project],
            cwd=ROOT,  # where its README command runs it
            check=True,
            env=stack.environ,
            capture_output=True,
            timeout=300,
        )
        load.wait_flowing(len(load.outcomes) + 100)  # traffic keeps flowing on the new replicas
    after = {c.id for c in stack.containers("api")}
    assert len(after) == 2 and not before & after
    assert load.summary() == {"200": len(load.outcomes)}, load.summary()


def test_stopping_one_of_two_replicas_under_load_fails_no_request(stack: Stack) -> None:
    first, _other = stack.containers("api")
    try:
        with Load(f"{stack.url}/", connections=16) as load:
            load.wait_flowing()
            docker("stop", first.id)  # drains, then exits: as `docker compose stop` does
            load.wait_flowing(len(load.outcomes) + 500)  # the other replica carries on
        assert first.inspect()["State"]["ExitCode"] == 0
        assert load.summary() == {"200": len(load.outcomes)}, load.summary()
    finally:
        docker("start", first.id)
        first.wait_healthy(timeout=30)


def test_the_api_can_write_temporary_files_on_its_read_only_root(stack: Stack) -> None:
    for container in stack.containers("api"):
        write = container.exec(
            "python", "-c", "import tempfile; tempfile.TemporaryFile().write(b'x')"
        )
        assert write.returncode == 0, write.stderr
        assert container.exec("python", "-c", "open('/app/x', 'w')").returncode != 0
