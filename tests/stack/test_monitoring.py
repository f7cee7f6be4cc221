"""`docker compose --profile monitoring up`: Prometheus scrapes every replica; the edge hides it."""

import os
import re
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from testbed.compose import Stack, compose_up, get, stack_env
from testbed.docker import docker
from testbed.host import ROOT, free_port, wait_until

pytestmark = pytest.mark.stack

REQUESTS = 300
# The image the monitoring profile runs: compose.yml's default unless PROMETHEUS_IMAGE is set.
COMPOSE_DEFAULT = re.search(r"\$\{PROMETHEUS_IMAGE:-([^}]+)\}", (ROOT / "compose.yml").read_text())
assert COMPOSE_DEFAULT
PROMETHEUS_IMAGE = os.environ.get("PROMETHEUS_IMAGE", COMPOSE_DEFAULT.group(1))


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    env = stack_env("10.231.246.0/24", PROMETHEUS_PORT=str(free_port()))
    with compose_up(env, profiles=("monitoring",)) as stack:
        yield stack


def prometheus(stack: Stack, path: str, **params: str) -> Any:
    url = f"http://127.0.0.1:{stack.env['PROMETHEUS_PORT']}/api/v1/{path}"
    response = httpx.get(url, params=params, timeout=5)
    response.raise_for_status()
    return response.json()["data"]


def api_targets(stack: Stack) -> dict[str, str]:
    """Each API target Prometheus knows of (address:port) and its health."""
    targets = prometheus(stack, "targets", state="active")["activeTargets"]
    return {t["labels"]["instance"]: t["health"] for t in targets if t["labels"]["job"] == "api"}


def query(stack: Stack, promql: str) -> float | None:
    result = prometheus(stack, "query", query=promql)["result"]
    return float(result[0]["value"][1]) if result else None


def replica_addresses(stack: Stack) -> dict[str, str]:
    """Each API container's id and its address:port on the backend network."""
    addresses = {}
    for container in stack.containers("api"):
        networks = container.inspect()["NetworkSettings"]["Networks"]
        [address] = [n["IPAddress"] for name, n in networks.items() if name.endswith("_backend")]
        addresses[container.id] = f"{address}:8000"
    return addresses


def test_prometheus_scrapes_both_replicas(stack: Stack) -> None:
    expected = set(replica_addresses(stack).values())
    assert len(expected) == 2
    wait_until(lambda: api_targets(stack) == dict.fromkeys(expected, "up"), 30, "both replicas up")
    [prometheus] = stack.containers("prometheus")
    host = prometheus.inspect()["HostConfig"]
    assert host["ReadonlyRootfs"] is True and host["CapDrop"] == ["ALL"]
    assert host["PortBindings"]["9090/tcp"][0]["HostIp"] == "127.0.0.1"


def test_prometheus_counts_the_requests_sent_through_the_proxy(stack: Stack) -> None:
    with httpx.Client(base_url=stack.url, verify=False) as client:
        for _ in range(REQUESTS):
            assert client.get("/").status_code == 200
    promql = 'sum(http_requests_total{job="api", method="GET", route="/", status="200"})'
    # Within a scrape interval (5 s) or two; never more than were sent.
    deadline = time.monotonic() + 20
    while (count := query(stack, promql)) != REQUESTS:
        assert count is None or count < REQUESTS, count
        assert time.monotonic() < deadline, f"Prometheus counts {count} of {REQUESTS}"
        time.sleep(0.5)
    # The build's labels reach Prometheus from both replicas.
    assert query(stack, 'count(app_build_info{job="api"})') == 2


def test_metrics_are_not_served_at_the_edge(stack: Stack) -> None:
    for path in ("/metrics", "/metrics/", "/%6Detrics", "/metrics?format=x"):
        response = get(f"{stack.url}{path}")
        assert response.status_code == 404, path
        assert response.json() == {"detail": "Not Found"}
        assert "# TYPE" not in response.text


def test_a_stopped_replica_s_target_goes_down(stack: Stack) -> None:
    addresses = replica_addresses(stack)
    wait_until(lambda: set(api_targets(stack).values()) == {"up"}, 30, "both replicas up")
    stopped, kept = sorted(addresses)
    docker("kill", stopped)
    # Down at its next scrape; with Docker's DNS it also leaves the targets at the next refresh.
    wait_until(
        lambda: api_targets(stack).get(addresses[stopped], "down") == "down",
        30,
        "the killed replica's target down",
    )
    assert api_targets(stack)[addresses[kept]] == "up"
    wait_until(lambda: query(stack, 'count(up{job="api"} == 1)') == 1, 30, "one replica counted up")


@pytest.mark.parametrize(
    "command",
    [
        ("check", "config", "/etc/prometheus/prometheus.yml"),
        ("check", "rules", "/etc/prometheus/alerts.yml"),
        ("test", "rules", "alerts.test.yml"),
    ],
)
def test_promtool_checks_the_configuration_and_the_alert_rules(command: tuple[str, ...]) -> None:
    result = docker(
        "run", "--rm", "--entrypoint", "promtool", "-w", "/etc/prometheus",
        "-v", f"{ROOT / 'deploy' / 'prometheus'}:/etc/prometheus:ro",
        PROMETHEUS_IMAGE, *command,
        check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout + result.stderr
