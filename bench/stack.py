"""The Compose stack as `docker compose up --build` runs it: one replica direct, the proxy over
HTTPS (counted per client or not), the published port; and `deploy/rollout` under load."""

import json
import signal
import subprocess
import time
from typing import Any

from bench.containers import PATHS, memory_mib
from bench.shell import docker, run, wrk
from testbed.compose import Stack, compose_up
from testbed.host import ROOT, free_port
from testbed.wrk import wrk_figures

REPLICA = "stack: one API replica, direct (its loopback)"
PROXY = "stack: through the proxy, HTTPS (its loopback)"
COUNTED = "stack: through the proxy, HTTPS (its own address: counted per client)"
PUBLISHED = "stack: through the published port, HTTPS (host loopback)"


def measure_stack(rounds: int, seconds: int, rollouts: int) -> dict[str, Any]:
    """compose.yml as `docker compose up --build` runs it: the rows of each round, and rollouts."""
    env = {
        "PROXY_PORT": str(free_port()),
        "API_IMAGE": "bench-stack-api",
        "CERTS_IMAGE": "bench-stack-certs",
        "BACKEND_SUBNET": "10.231.253.0/24",
        # wrk is one address (the host's), with 64 connections: the limits per client address
        # are raised past what it asks, so that they are checked on every request (their cost is
        # in the figures) and never refuse one.
        "CLIENT_MAX_IN_FLIGHT": "1000",
        "CLIENT_MAX_RATE": "1000000",
    }
    with compose_up(env) as stack:
        replica = stack.containers("api")[0].id
        proxy = stack.containers("proxy")[0].id
        targets = {
            REPLICA: (replica, replica, "http://127.0.0.1:8000"),
            # HTTPS with keep-alive, as clients reach the stack (plain HTTP only redirects).
            PROXY: (proxy, proxy, "https://127.0.0.1:8443"),
            # The same, to the proxy's address on the frontend network: no longer the loopback,
            # so each request is counted against its client address's limits (raised above, so
            # that none is refused). Side by side with the row above: what the counting costs.
            COUNTED: (proxy, proxy, f"https://{frontend_address(stack, proxy)}:8443"),
            # Through docker-proxy, as a client on the host reaches it.
            PUBLISHED: (None, proxy, stack.url),
        }
        per_round = []
        for _ in range(rounds):
            figures: dict[str, dict[str, Any]] = {}
            for name, (namespace, container, url) in targets.items():
                entry: dict[str, Any] = {"idle_mib": memory_mib(container)}
                for path in PATHS:
                    wrk(namespace, f"{url}{path}", 1)  # warm-up
                    entry[path] = wrk(namespace, f"{url}{path}", seconds)
                figures[name] = entry
            per_round.append(figures)
        runs = [rollout_under_load(stack) for _ in range(rollouts)]
    return {"rounds": per_round, "rollouts": runs}


def frontend_address(stack: Stack, container: str) -> str:
    networks = json.loads(docker("inspect", "-f", "{{json .NetworkSettings.Networks}}", container))
    return str(networks[f"{stack.project}_frontend"]["IPAddress"])


def rollout_under_load(stack: Stack) -> dict[str, float]:
    """`deploy/rollout` while wrk keeps 64 connections busy through the published port."""
    command = ["wrk", "-t1", "-c64", "-d600s", "--latency", f"{stack.url}/"]
    with subprocess.Popen(command, stdout=subprocess.PIPE, text=True) as load:
        try:
            time.sleep(1)  # the load flows before the rollout starts
            started = time.monotonic()
            run("deploy/rollout", "-p", stack.project, env=stack.environ, cwd=ROOT)
            took = time.monotonic() - started
            time.sleep(1)  # and on the new replicas after it
        finally:
            load.send_signal(signal.SIGINT)  # wrk prints its report and exits
        report, _ = load.communicate(timeout=60)
    return {**wrk_figures(report), "rollout_s": took}
