"""Measure fastapi-app against the tutorial's image, side by side in one run.

    uv run python -m bench.run [--rounds 3] [--duration 8] [--out bench/results]

Needs a Docker engine, wrk and nsenter (root): load is sent to each container on its own loopback,
inside its network namespace. Cold builds are `docker build --no-cache` (every layer built again;
the harness deletes no build cache, so uv's download cache mount stays warm). Then the Compose
stack (`compose.yml`, as `docker compose up --build` runs it): one replica direct (HTTP), the
proxy over HTTPS with keep-alive from its own loopback and through the published port, side by
side; `docker stop` of one container under 32 keep-alive connections; and `deploy/rollout` under
load through the proxy.
Writes results.json (every figure), results.md (the table) and chart.png under --out.
"""

import argparse
import json
import os
import platform
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from app.settings import Settings
from tests.support.compose import Stack, compose_up
from tests.support.docker import Container, in_netns
from tests.support.servers import free_port

ROOT = Path(__file__).resolve().parents[1]
APPS = ROOT / "bench" / "apps"
TUTORIAL = ROOT / "bench" / "tutorial"
DEFAULT_BASE = os.environ.get("PYTHON_IMAGE", "python:3.13.5-alpine3.22")
# The documented alternative base, glibc's CPython: ours is measured on it too.
SLIM_BASE = os.environ.get("PYTHON_SLIM_IMAGE", "python:3.13-slim")
PATHS = ("/", "/info/status")
SOCKET_ERRORS = ("connect", "read", "write", "timeout")
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
            [
                "python",
                "-m",
                "uvicorn",
                "app.main:create_app",
                "--factory",
                "--host",
                "0.0.0.0",
                "--http",
                "httptools",
                "--loop",
                "asyncio",
                "--no-access-log",
                "--no-server-header",
            ],
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


def run(*command: str, timeout: float = 900, **kwargs: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        command, check=True, capture_output=True, text=True, timeout=timeout, **kwargs
    )


def docker(*args: str, **kwargs: Any) -> str:
    return run("docker", *args, **kwargs).stdout.strip()


def image_size(image: str) -> int:
    """Its layers' size unpacked, in either image store (in the containerd store, `.Size` is the
    compressed size of its content)."""
    layers = docker("history", "--human=false", "--format", "{{.Size}}", image).split()
    return sum(map(int, layers))


# Builds ---------------------------------------------------------------------------------------


def timed_build(
    context: Path, tag: str, base: str, dockerfile: Path | None = None, *options: str
) -> float:
    started = time.monotonic()
    docker(
        "build",
        "-q",
        *options,
        "--build-arg",
        f"PYTHON_IMAGE={base}",
        "-t",
        tag,
        "-f",
        str(dockerfile or context / "Dockerfile"),
        str(context),
    )
    return time.monotonic() - started


def measure_builds(base: str, slim: str) -> dict[str, dict[str, float]]:
    """Cold build (no build cache at all), then a rebuild after a one-line change to the app."""
    results = {}
    for name, tag, source, app_file, on in (
        ("tutorial", "bench-build-tutorial", TUTORIAL, "app.py", base),
        ("ours", "bench-build-ours", ROOT, "app/routes/root.py", base),
        ("ours, slim base", "bench-build-ours-slim", ROOT, "app/routes/root.py", slim),
    ):
        with tempfile.TemporaryDirectory() as tmp:
            context = Path(tmp) / "context"
            shutil.copytree(
                source,
                context,
                ignore=shutil.ignore_patterns(
                    ".venv", ".git", "__pycache__", "bench", "tests", ".*cache"
                ),
            )
            cold = timed_build(context, tag, on, None, "--no-cache")
            target = context / app_file
            target.write_text(target.read_text().replace("Hello World", "Hello, World"))
            rebuild = timed_build(context, tag, on)
        results[name] = {"cold_build_s": cold, "rebuild_s": rebuild}
    return results


# Containers -----------------------------------------------------------------------------------


def start(variant: Variant) -> str:
    command = ["run", "-d", "--cpus", "2", "-v", f"{APPS}:/bench:ro"]
    for key, value in variant.env.items():
        command += ["-e", f"{key}={value}"]
    return docker(*command, variant.image, *variant.command)


def netns(container: str, *command: str) -> list[str]:
    """`command` inside the container's network namespace: the tests' helper, by container id."""
    return in_netns(Container(container), *command)


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


def wrk(container: str | None, url: str, seconds: int, connections: int = 64) -> dict[str, float]:
    """wrk on `url`, from the container's network namespace (None: from the host)."""
    command = ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency", url]
    return wrk_figures(run(*(netns(container, *command) if container else command)).stdout)


def wrk_figures(report: str) -> dict[str, float]:
    latency = dict(re.findall(r"^\s+(50|99)%\s+([\d.]+\w+)", report, re.M))
    errors = dict(re.findall(r"(connect|read|write|timeout) (\d+)", report))
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", report)
    return {
        "requests": int(re.search(r"(\d+) requests in", report).group(1)),  # type: ignore[union-attr]
        "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", report).group(1)),  # type: ignore[union-attr]
        "p50_ms": to_ms(latency["50"]),
        "p99_ms": to_ms(latency["99"]),
        "errors": sum(int(n) for n in errors.values()),
        **{
            f"{kind}_errors": int(errors.get(kind, 0))
            for kind in ("connect", "read", "write", "timeout")
        },
        "non_2xx": 0 if non_2xx is None else int(non_2xx.group(1)),
    }


def to_ms(value: str) -> float:
    number, unit = re.match(r"([\d.]+)(\w+)", value).groups()  # type: ignore[union-attr]
    return float(number) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


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


# The stack and shutdown under load --------------------------------------------------------------

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


# The run --------------------------------------------------------------------------------------


def median(values: list[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return statistics.median(present) if present else None


def summarise(rounds: list[dict[str, dict[str, Any]]], workers: dict[str, int]) -> dict[str, Any]:
    summary: dict[str, Any] = {}
    for name in rounds[0]:
        per_round = [r[name] for r in rounds]
        entry: dict[str, Any] = {
            key: median([r.get(key) for r in per_round])
            for key in ("healthy_s", "idle_mib", "stop_s", "scrape_ms", "scraped_requests")
        }
        entry["exit_codes"] = sorted({r["exit_code"] for r in per_round if "exit_code" in r})
        entry["workers"] = workers[name]
        for path in PATHS:
            entry[path] = {
                key: median([r[path].get(key) for r in per_round])
                for key in ("rps", "p50_ms", "p99_ms", "errors", "non_2xx", "cpu_us")
            }
        summary[name] = entry
    return summary


def machine() -> dict[str, str]:
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    memory_kib = int(Path("/proc/meminfo").read_text().split()[1])
    return {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "cpu": cpu,
        "cores": str(os.cpu_count()),
        "memory_gib": f"{memory_kib / 2**20:.0f}",
        "kernel": platform.release(),
        "docker": docker("version", "--format", "{{.Server.Version}}"),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=int, default=8, help="seconds of load per wrk run")
    parser.add_argument("--python-image", default=DEFAULT_BASE)
    parser.add_argument("--slim-image", default=SLIM_BASE, help="the glibc base ours is also on")
    parser.add_argument("--rollouts", type=int, default=5, help="rollouts under load")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results")
    args = parser.parse_args()

    base, slim = args.python_image, args.slim_image
    builds = measure_builds(base, slim)
    ours, tutorial, ours_slim = "bench-build-ours", "bench-build-tutorial", "bench-build-ours-slim"
    # The measured images are built from the unchanged sources.
    timed_build(ROOT, ours, base)
    timed_build(TUTORIAL, tutorial, base)
    timed_build(ROOT, ours_slim, slim)
    no_curl = (
        subprocess.run(
            ["docker", "run", "--rm", "--entrypoint", "sh", tutorial, "-c", "command -v curl"],
            capture_output=True,
            check=False,
        ).returncode
        != 0
    )
    all_variants = variants(ours, tutorial, ours_slim)
    rounds = []
    for number in range(args.rounds):
        # Alternate: each round measures every variant once, in a rotated order.
        turn = number % len(all_variants)
        order = all_variants[turn:] + all_variants[:turn]
        rounds.append({v.name: measure_variant(v, args.duration) for v in order})
    stack = measure_stack(args.rounds, args.duration, args.rollouts)
    for figures, stack_figures in zip(rounds, stack["rounds"], strict=True):
        figures.update(stack_figures)
    workers = {v.name: v.workers for v in all_variants} | {
        REPLICA: 1,
        PROXY: 1,
        COUNTED: 1,
        PUBLISHED: 1,
    }
    stops = [stop_under_load(ours) for _ in range(args.rounds)]
    base_size = {base: image_size(base), slim: image_size(slim)}
    results = {
        "machine": machine(),
        "settings": {
            "rounds": args.rounds,
            "duration_s": args.duration,
            "python_image": base,
            "slim_image": slim,
            "connections": 64,
            "cpus": 2,
        },
        "images": {
            name: {
                "size_mb": image_size(tag) / 1e6,
                "added_mb": (image_size(tag) - base_size[on]) / 1e6,
            }
            for name, tag, on in (
                ("tutorial", tutorial, base),
                ("ours", ours, base),
                ("ours, slim base", ours_slim, slim),
            )
        },
        "base_mb": base_size[base] / 1e6,
        "slim_base_mb": base_size[slim] / 1e6,
        "builds": builds,
        "tutorial_has_curl": not no_curl,
        "summary": summarise(rounds, workers),
        "rounds": rounds,
        "rollouts": stack["rollouts"],
        "stops_under_load": stops,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    from bench.report import chart, table  # matplotlib is imported only here

    (args.out / "results.md").write_text(table(results))
    chart(results, args.out / "chart.png")
    print((args.out / "results.md").read_text())


if __name__ == "__main__":
    main()
