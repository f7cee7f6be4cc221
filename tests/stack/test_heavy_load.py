"""The edge under heavy load: thousands of clients, and overload that fails fast.

Every load here is bounded in count and time and sent to the stack's published loopback port only.
"""

import json
import re
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest

from bench.run import wrk_figures
from tests.support.compose import Stack, compose_up
from tests.support.docker import docker, in_netns
from tests.support.servers import ROOT, free_port

pytestmark = pytest.mark.stack

STATUSES = ROOT / "tests" / "support" / "statuses.lua"


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    env = {
        "PROXY_PORT": str(free_port()),
        "API_IMAGE": "fastapi-app:stack-test",
        "BACKEND_SUBNET": "10.231.249.0/24",
        # A tenth of a CPU per replica: the loads below overflow the replicas, not this machine.
        "API_CPUS": "0.1",
    }
    with compose_up(env) as stack:
        yield stack


def statuses_of(report: str) -> tuple[dict[str, Any], dict[int, int], int]:
    """wrk's figures, the count of each status, and the unexpected answers (statuses.lua)."""
    statuses = {int(s): int(n) for s, n in re.findall(r"^status (\d+) (\d+)$", report, re.M)}
    unexpected = int(re.search(r"^unexpected (\d+)$", report, re.M).group(1))  # type: ignore[union-attr]
    return wrk_figures(report), statuses, unexpected


def test_10000_idle_keep_alive_connections_beside_64_active_ones(stack: Stack) -> None:
    # From the proxy's own network namespace, to its loopback: through the published port, Docker's
    # userland proxy takes six descriptors a connection, and here it has 20,000 (docs/stack.md).
    # HTTPS, as clients come: each idle connection holds its TLS state in the proxy.
    [proxy] = stack.containers("proxy")
    command = in_netns(proxy, sys.executable, "-m", "tests.support.idle", "127.0.0.1", "8443")
    with subprocess.Popen(
        [*command, "10000", "tls"],
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    ) as idle:
        try:
            assert idle.stdin is not None and idle.stdout is not None
            opened = json.loads(idle.stdout.readline())
            # Opening 10,000 TLS connections takes about 20 s here: one more request on each
            # starts the load with every one of them fresh, well within the proxy's 30 s
            # keep-alive timeout (the oldest would otherwise be closed by it before the check).
            idle.stdin.write("check\n")
            idle.stdin.flush()
            refreshed = json.loads(idle.stdout.readline())
            active = subprocess.run(
                in_netns(
                    proxy,
                    "wrk",
                    "-t1",
                    "-c64",
                    "-d10s",
                    "--latency",
                    "-s",
                    str(STATUSES),
                    "https://127.0.0.1:8443/",
                ),
                capture_output=True,
                text=True,
                timeout=70,
                check=True,
            ).stdout
            memory = int(
                docker("stats", "--no-stream", "--format", "{{.MemUsage}}", proxy.id)
                .stdout.split("MiB")[0]
                .split(".")[0]
            )
            idle.stdin.write("check\n")
            idle.stdin.flush()
            checked = json.loads(idle.stdout.readline())
        finally:
            idle.kill()
    # Every idle connection opened, was answered, stayed open beside the load, and answered again.
    assert opened == {"answered": 10_000, "errors": {}}, opened
    assert refreshed == {"answered": 20_000, "errors": {}}, refreshed
    assert checked == {"answered": 30_000, "errors": {}}, checked
    figures, statuses, unexpected = statuses_of(active)
    assert figures["errors"] == 0 and set(statuses) == {200} and unexpected == 0, active
    state = proxy.inspect()["State"]
    assert state["Running"] and not state["OOMKilled"]
    print(f"proxy memory with 10,000 idle connections: {memory} MiB")


def test_overload_is_shed_with_503_and_retry_after_never_a_hang(stack: Stack) -> None:
    # 2,000 connections through the published port, as clients come, far past what the replicas
    # (a tenth of a CPU each) can take.
    report = subprocess.run(
        ["wrk", "-t1", "-c2000", "-d20s", "--latency", "-s", str(STATUSES), f"{stack.url}/"],
        capture_output=True,
        text=True,
        timeout=80,
        check=True,
    ).stdout
    figures, statuses, unexpected = statuses_of(report)
    # Overload did happen, and what could not be taken in time was shed with 503 and Retry-After,
    # nothing else; no client was refused, cut off without an answer, or waited into a timeout.
    assert statuses.get(200, 0) > 0 and statuses.get(503, 0) > 0, statuses
    assert set(statuses) == {200, 503} and unexpected == 0, statuses
    assert figures["errors"] == 0, report
    [proxy] = stack.containers("proxy")
    assert not proxy.inspect()["State"]["OOMKilled"]
    # The access log kept up: a line for every answer, none cut or mixed with another.
    access = [json.loads(line) for line in proxy.logs().splitlines() if line.startswith("{")]
    answers = [line for line in access if line["logger"] == "haproxy.access"]
    assert len(answers) >= figures["requests"]
    # Each line's duration, from the request's first byte to the answer's headers: a shed request
    # is answered within a second; admitted ones waited in the queue, so took some time.
    shed = [line["duration_ms"] for line in answers if line["status"] == 503]
    admitted = sorted(line["duration_ms"] for line in answers if line["status"] == 200)
    assert 0 <= min(shed) and max(shed) < 1000, (min(shed), max(shed))
    assert admitted[len(admitted) // 2] > 0, admitted[len(admitted) // 2]
