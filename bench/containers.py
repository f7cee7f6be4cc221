"""One container at a time, under `--cpus 2`: its requests/s, latency, CPU time a request, idle
memory, time to healthy and to stop, and `docker stop` under load."""

import re
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from app.settings import Settings
from bench.shell import docker, netns, run, wrk
from testbed.host import ROOT
from testbed.wrk import wrk_figures

APPS = ROOT / "bench" / "apps"
PATHS = ("/", "/info/status")
# uvicorn as app.server runs it, for the apps that are not fastapi-app's own.
UVICORN = [
    "python",
    "-m",
    "uvicorn",
    "--host",
    "0.0.0.0",
    "--http",
    "httptools",
    "--no-access-log",
    "--no-server-header",
    "--app-dir",
    "/bench",
]


@dataclass
class Variant:
    name: str
    image: str
    workers: int
    command: list[str] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)
    healthcheck: bool = False  # measure start-to-healthy and stop time for this one
    scrape: bool = False  # time /metrics scrapes once its load has run


def variants(ours: str, tutorial: str, ours_slim: str) -> list[Variant]:
    return [
        Variant("tutorial", tutorial, 1, healthcheck=True),
        Variant("ours (auto workers)", ours, 2, healthcheck=True, scrape=True),
        Variant("ours (1 worker)", ours, 1, env={"WEB_CONCURRENCY": "1"}),
        Variant("ours, slim base (auto workers)", ours_slim, 2, healthcheck=True),
        Variant("ours, slim base (1 worker)", ours_slim, 1, env={"WEB_CONCURRENCY": "1"}),
        Variant(
            "ours (1 worker, metrics off)",
            ours,
            1,
            env={"WEB_CONCURRENCY": "1", "APP_METRICS": "false"},
        ),
        Variant(
            "ours (1 worker, access log on)",
            ours,
            1,
            env={"WEB_CONCURRENCY": "1", "APP_ACCESS_LOG": "true"},
        ),
        Variant(
            "ours (1 worker, asyncio loop)",
            ours,
            1,
            [*UVICORN, "--loop", "asyncio", "--factory", "app.main:create_app"],
        ),
        Variant(
            "ours (1 worker, routes copied, not included)",
            ours,
            1,
            [
                "python",
                "-c",
                "import sys; sys.path[:0] = ['/bench']; "
                "from app.server import main; main('copied:create_app')",
            ],
            env={"WEB_CONCURRENCY": "1"},
        ),
        Variant("bare FastAPI (1 worker)", ours, 1, [*UVICORN, "bare:app"]),
        Variant("raw ASGI ceiling (1 worker)", ours, 1, [*UVICORN, "raw:app"]),
        Variant(
            "raw ASGI ceiling (auto workers)", ours, 2, [*UVICORN, "--workers", "2", "raw:app"]
        ),
    ]


def start(variant: Variant) -> str:
    command = ["run", "-d", "--cpus", "2", "-v", f"{APPS}:/bench:ro"]
    for key, value in variant.env.items():
        command += ["-e", f"{key}={value}"]
    return docker(*command, variant.image, *variant.command)


def wait_listening(container: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    probe = netns(container, "bash", "-c", "exec 3<>/dev/tcp/127.0.0.1/8000")
    while subprocess.run(probe, capture_output=True, check=False).returncode != 0:
        if time.monotonic() > deadline:
            raise TimeoutError(f"{container[:12]} does not listen on 8000")
        time.sleep(0.05)


def wait_healthy(container: str, timeout: float) -> float | None:
    """The moment the HEALTHCHECK first passes (time.monotonic), or None if it never does."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if docker("inspect", "-f", "{{.State.Health.Status}}", container) == "healthy":
            return time.monotonic()
        time.sleep(0.02)
    return None


def cpu_seconds(container: str) -> float:
    """CPU time the container's processes have used, from its cgroup (v2 or v1).

    Per request, it varies less than requests/s between containers and runs: a container's
    requests/s also depends on what the scheduler gives it and on the load generator beside it.
    """
    pid = docker("inspect", "-f", "{{.State.Pid}}", container)
    for line in Path(f"/proc/{pid}/cgroup").read_text().splitlines():
        _, controllers, path = line.split(":", 2)
        if controllers == "":
            stat = Path(f"/sys/fs/cgroup{path}/cpu.stat")
            if stat.exists():
                usage = dict(line.split() for line in stat.read_text().splitlines())
                return int(usage["usage_usec"]) / 1e6
        if "cpuacct" in controllers.split(","):
            return int(Path(f"/sys/fs/cgroup/cpuacct{path}/cpuacct.usage").read_text()) / 1e9
    raise RuntimeError(f"no CPU accounting found for container {container}")


def memory_mib(container: str) -> float:
    usage = docker("stats", "--no-stream", "--format", "{{.MemUsage}}", container).split("/")[0]
    number, unit = re.match(r"([\d.]+)\s*(\w+)", usage.strip()).groups()  # type: ignore[union-attr]
    return float(number) * {"KiB": 1 / 1024, "MiB": 1.0, "GiB": 1024.0, "B": 1 / 2**20}[unit]


def measure_variant(variant: Variant, seconds: int) -> dict[str, Any]:
    started = time.monotonic()
    container = start(variant)
    try:
        figures: dict[str, Any] = {}
        if variant.healthcheck:
            healthy_at = wait_healthy(container, timeout=10)
            figures["healthy_s"] = None if healthy_at is None else healthy_at - started
        wait_listening(container)
        time.sleep(1)  # settle before reading idle memory: not a readiness wait
        figures["idle_mib"] = memory_mib(container)
        for path in PATHS:
            wrk(container, f"http://127.0.0.1:8000{path}", 1)  # warm-up
            cpu_before = cpu_seconds(container)
            figures[path] = wrk(container, f"http://127.0.0.1:8000{path}", seconds)
            cpu = cpu_seconds(container) - cpu_before
            figures[path]["cpu_us"] = cpu / figures[path]["requests"] * 1e6
        if variant.scrape:
            figures["scrape_ms"], figures["scraped_requests"] = time_scrapes(container)
        if variant.healthcheck:
            stop_started = time.monotonic()
            docker("stop", container)
            figures["stop_s"] = time.monotonic() - stop_started
            figures["exit_code"] = int(docker("inspect", "-f", "{{.State.ExitCode}}", container))
        return figures
    finally:
        docker("rm", "-f", container)


SCRAPE = """
import re, time, urllib.request
times = []
for _ in range(20):
    started = time.perf_counter()
    body = urllib.request.urlopen("http://127.0.0.1:8000/metrics").read().decode()
    times.append(time.perf_counter() - started)
requests = sum(float(n) for n in re.findall(r"^http_requests_total{.*} (\\S+)$", body, re.M))
print(sorted(times)[len(times) // 2] * 1000, requests)
"""


def time_scrapes(container: str) -> tuple[float, float]:
    """The median of 20 scrapes of /metrics (ms), and the requests the last one counted."""
    scrape_ms, requests = run(*netns(container, sys.executable, "-c", SCRAPE)).stdout.split()
    return float(scrape_ms), float(requests)


def stop_under_load(image: str) -> dict[str, float]:
    """`docker stop` of one container (2 workers, no proxy) under 32 keep-alive connections.

    wrk reconnects at once when refused, and counts each refused connection as a write error:
    once the drain has ended and the listener is closed, those are expected.
    """
    container = start(Variant("stop under load", image, 2))
    try:
        wait_healthy(container, timeout=10)
        seconds = Settings.model_fields["drain_seconds"].default + 3
        command = netns(container, "wrk", "-t1", "-c32", f"-d{seconds:g}s", "--latency")
        with subprocess.Popen(
            [*command, "http://127.0.0.1:8000/"], stdout=subprocess.PIPE, text=True
        ) as load:
            time.sleep(1)  # the load flows before the stop
            started = time.monotonic()
            docker("stop", container)
            took = time.monotonic() - started
            report, _ = load.communicate(timeout=60)
        exit_code = int(docker("inspect", "-f", "{{.State.ExitCode}}", container))
        return {**wrk_figures(report), "stop_s": took, "exit_code": exit_code}
    finally:
        docker("rm", "-f", container)
