"""Prometheus metrics at `/metrics`, added up over every worker process of the container.

With several uvicorn workers, each scrape is answered by one of them; if each counted only its own
requests, every scrape would see a part, a different part each time. So app.server runs several
workers in prometheus_client's multiprocess mode: each process writes its values to its own files in
APP_METRICS_DIR (emptied at start, app.server.prepare_metrics_dir), and a scrape adds up the
files of all of them, of workers that have exited included: their counts are kept, and a restarted
worker, a new process, writes new files beside them rather than counting twice. Gauges of a single
process (requests in flight, the worker gauges) count only live processes.

One worker, or no app.server (a test client, `uvicorn --reload`): one process, counted in memory.
"""

import asyncio
import os
import resource
from collections.abc import Iterable
from pathlib import Path

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.metrics_core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead
from prometheus_client.registry import Collector
from starlette.types import Scope

from app import lifecycle

# Set by app.server for its workers (prometheus_client reads it when it is first imported).
MULTIPROCESS_DIR = "PROMETHEUS_MULTIPROC_DIR"

# Seconds. An API answers in milliseconds; the upper buckets show what waits on something slow.
LATENCY_BUCKETS = (0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

# Methods a client names are counted under their own name; any other is "other", so that a client
# cannot make a series per made-up method.
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
# The route label of a request that matched no route (a 404): one series, whatever the path.
UNMATCHED = "unmatched"

# How often each worker writes its own process figures (WorkerGauges).
WORKER_SAMPLE_SECONDS = 5.0

# The metrics' own registry: the scrape adds their files up (multiprocess) or reads it (in memory).
REGISTRY = CollectorRegistry(auto_describe=True)

REQUESTS = Counter(
    "http_requests",
    "Requests answered, by method, route template and status.",
    ["method", "route", "status"],
    registry=REGISTRY,
)
LATENCY = Histogram(
    "http_request_duration_seconds",
    "Time from the request's arrival in the app to the end of its answer, by method and route.",
    ["method", "route"],
    buckets=LATENCY_BUCKETS,
    registry=REGISTRY,
)
IN_FLIGHT = Gauge(
    "http_requests_in_flight",
    "Requests being answered now, in all live workers.",
    multiprocess_mode="livesum",
    registry=REGISTRY,
)
WORKER_MEMORY = Gauge(
    "app_worker_resident_memory_bytes",
    "Resident memory of each live worker process (label pid).",
    multiprocess_mode="liveall",
    registry=REGISTRY,
)
WORKER_CPU = Gauge(
    "app_worker_cpu_seconds",
    "CPU time (user and system) each live worker process has used (label pid).",
    multiprocess_mode="liveall",
    registry=REGISTRY,
)
WORKER_FDS = Gauge(
    "app_worker_open_fds",
    "Open file descriptors of each live worker process (label pid).",
    multiprocess_mode="liveall",
    registry=REGISTRY,
)


class Recorder:
    """What RequestContext (app.middleware) calls for each request; one per app."""

    def __init__(self, mounts: Iterable[str] = ()) -> None:
        # Paths of mounted apps (the docs' assets): their requests are counted under the mount.
        self.mounts = tuple(mounts)
        # (method, route, status) -> the counter and histogram children: labels() on every
        # request would check and join the label values again.
        self.children: dict[tuple[str, str, int], tuple[Counter, Histogram]] = {}

    def started(self) -> None:
        IN_FLIGHT.inc()

    def finished(self, method: str, scope: Scope, status: int, seconds: float) -> None:
        IN_FLIGHT.dec()
        if method not in METHODS:
            method = "other"
        route = route_template(scope, self.mounts)
        key = (method, route, status)
        children = self.children.get(key)
        if children is None:
            children = REQUESTS.labels(method, route, str(status)), LATENCY.labels(method, route)
            self.children[key] = children
        counter, histogram = children
        counter.inc()
        histogram.observe(seconds)


def route_template(scope: Scope, mounts: tuple[str, ...] = ()) -> str:
    """The path template of the route that answered (`/items/{item_id}`), never the raw path.

    FastAPI's routes are in the scope once matched; a mounted app's requests are counted as
    `<mount>/{path}`; anything else (a 404) is UNMATCHED.
    """
    path = getattr(scope.get("route"), "path", None)
    if isinstance(path, str):
        return path
    for mount in mounts:
        if scope["path"].startswith(f"{mount}/"):
            return f"{mount}/{{path}}"
    return UNMATCHED


class BuildAndState(Collector):
    """The build (version, revision) and whether this process drains, read at each scrape."""

    def __init__(self, version: str, revision: str) -> None:
        self.version = version
        self.revision = revision

    def collect(self) -> Iterable[Metric]:
        info = GaugeMetricFamily(
            "app_build_info",
            "The build this container runs (always 1).",
            labels=["version", "revision"],
        )
        info.add_metric([self.version, self.revision], 1)
        yield info
        yield GaugeMetricFamily(
            "app_draining",
            "1 once shutdown has begun (app.lifecycle): readiness fails, connections close.",
            value=1 if lifecycle.draining.is_set() else 0,
        )


def scrape_registry(build: BuildAndState) -> CollectorRegistry:
    """The registry a scrape reads: every process's files when run by app.server, else memory."""
    registry = CollectorRegistry(auto_describe=False)
    path = os.environ.get(MULTIPROCESS_DIR)
    if path:
        forget_dead_processes(Path(path))
        MultiProcessCollector(registry, path)  # type: ignore[no-untyped-call]
    else:
        registry.register(InMemory())
    registry.register(build)
    return registry


class InMemory(Collector):
    def collect(self) -> Iterable[Metric]:
        return REGISTRY.collect()


def forget_dead_processes(path: Path) -> None:
    """Drop the live-only gauges (in flight, worker gauges) of processes that have exited.

    Counters and histograms of an exited worker stay: what it answered was answered.
    """
    for file in path.glob("gauge_live*_*.db"):
        try:
            pid = int(file.stem.rsplit("_", 1)[1])
        except ValueError:
            continue
        if not alive(pid):
            mark_process_dead(pid, str(path))  # type: ignore[no-untyped-call]


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def render(version: str, revision: str) -> bytes:
    """The scrape's answer in Prometheus' text format (blocking: it reads each process's files)."""
    return generate_latest(scrape_registry(BuildAndState(version, revision)))


async def sample_worker(interval: float = WORKER_SAMPLE_SECONDS) -> None:
    """Write this worker's memory, CPU time and open descriptors now and every `interval` s."""
    fds = Path("/proc/self/fd")
    while True:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        WORKER_CPU.set(usage.ru_utime + usage.ru_stime)
        WORKER_MEMORY.set(resident_bytes())
        if fds.is_dir():
            WORKER_FDS.set(sum(1 for _ in fds.iterdir()))
        await asyncio.sleep(interval)


def resident_bytes() -> float:
    """Current resident memory: /proc/self/statm where there is one, else the peak (getrusage)."""
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[1])
    except (OSError, IndexError, ValueError):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024.0
    return float(pages * os.sysconf("SC_PAGE_SIZE"))
