"""Prometheus metrics at `/metrics`, added up over every worker process of the container.

One recorder, prometheus_client's metric objects. In one process (one worker, the image's default
without a CPU limit and a Kubernetes pod's; or no app.server: a test client, `uvicorn --reload`)
they count in memory. With several uvicorn workers, each scrape is answered by one of them; if each
counted only its own requests, every scrape would see a part, a different part each time. So
app.server runs several workers in prometheus_client's multiprocess mode: each process writes its
values to its own files in APP_METRICS_DIR (emptied at start, app.server.prepare_metrics_dir), and
a scrape adds up the files of all of them, of workers that have exited included: their counts are
kept, and a restarted worker, a new process, writes new files beside them rather than counting
twice. Gauges of a single process (requests in flight, the worker gauges) count only live
processes. The series and their labels are the same in both modes.
"""

import asyncio
import os
import resource
from collections.abc import Iterable, Iterator
from pathlib import Path

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.metrics_core import (
    GaugeMetricFamily,
    Metric,
)
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

# How often each of several workers writes its own process figures (sample_worker).
WORKER_SAMPLE_SECONDS = 5.0

# Names and help texts.
REQUESTS = ("http_requests", "Requests answered, by method, route template and status.")
LATENCY = (
    "http_request_duration_seconds",
    "Time from the request's arrival in the app to the end of its answer, by method and route.",
)
IN_FLIGHT = ("http_requests_in_flight", "Requests being answered now, in all live workers.")
WORKER_MEMORY = ("app_worker_resident_memory_bytes", "Resident memory of each live worker.")
WORKER_CPU = ("app_worker_cpu_seconds", "CPU time (user and system) each live worker has used.")
WORKER_FDS = ("app_worker_open_fds", "Open file descriptors of each live worker.")


class Recorder:
    """What RequestContext (app.middleware) calls for each request, and what a scrape reads.

    prometheus_client's own metric objects: in one process they count in memory; with several
    workers (multiprocess mode) each writes its values to its files, and a scrape adds them up.
    """

    def __init__(self, mounts: Iterable[str] = ()) -> None:
        # Paths of mounted apps (the docs' assets): their requests are counted under the mount.
        self.mounts = tuple(mounts)
        self.shared_dir = os.environ.get(MULTIPROCESS_DIR)
        self.request_counter = Counter(*REQUESTS, ["method", "route", "status"], registry=None)
        self.latency = Histogram(
            *LATENCY, ["method", "route"], buckets=LATENCY_BUCKETS, registry=None
        )
        self.in_flight = Gauge(*IN_FLIGHT, multiprocess_mode="livesum", registry=None)
        # (method, route, status) -> the counter and histogram children: labels() on every
        # request would check and join the label values again.
        self.children: dict[tuple[str, str, int], tuple[Counter, Histogram]] = {}

    @property
    def shared(self) -> bool:
        """Whether this process is one worker of several, counting in their shared files."""
        return self.shared_dir is not None

    def started(self) -> None:
        self.in_flight.inc()

    def finished(self, method: str, scope: Scope, status: int, seconds: float) -> None:
        self.in_flight.dec()
        # The labels: a bounded set, whatever the client sends.
        method = method if method in METHODS else "other"
        route = route_template(scope, self.mounts)
        key = (method, route, status)
        children = self.children.get(key)
        if children is None:
            children = (
                self.request_counter.labels(method, route, str(status)),
                self.latency.labels(method, route),
            )
            self.children[key] = children
        counter, histogram = children
        counter.inc()
        histogram.observe(seconds)

    def registry(self) -> CollectorRegistry:
        """What a scrape reads: this process's metrics, or the files of every worker, live or
        exited."""
        registry = CollectorRegistry(auto_describe=False)
        if self.shared_dir is None:
            for metric in (self.request_counter, self.latency, self.in_flight):
                registry.register(metric)
            registry.register(WorkerGauges())
        else:
            forget_dead_processes(Path(self.shared_dir))
            MultiProcessCollector(registry, self.shared_dir)  # type: ignore[no-untyped-call]
        return registry


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


def render(recorder: Recorder, version: str, revision: str) -> bytes:
    """The scrape's answer in Prometheus' text format (blocking: it may read the workers' files)."""
    registry = recorder.registry()
    registry.register(BuildAndState(version, revision))
    return generate_latest(registry)


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


def worker_figures() -> tuple[float, float, float | None]:
    """This process's resident memory (bytes), CPU time (s) and open descriptors (None: unknown)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    fds = Path("/proc/self/fd")
    open_fds = sum(1 for _ in fds.iterdir()) if fds.is_dir() else None
    return resident_bytes(), usage.ru_utime + usage.ru_stime, open_fds


class WorkerGauges(Collector):
    """This process's worker gauges, read at each scrape, labelled with its pid as each of
    several workers' are (sample_worker)."""

    def collect(self) -> Iterator[Metric]:
        memory, cpu, fds = worker_figures()
        pid = [str(os.getpid())]
        for (name, documentation), value in (
            (WORKER_MEMORY, memory),
            (WORKER_CPU, cpu),
            (WORKER_FDS, fds),
        ):
            if value is not None:
                family = GaugeMetricFamily(name, documentation, labels=["pid"])
                family.add_metric(pid, value)
                yield family


async def sample_worker(interval: float = WORKER_SAMPLE_SECONDS) -> None:
    """With several workers: write this one's gauges to its files, now and every `interval` s.

    A scrape is answered by one worker, which cannot read the others' figures: each writes its own
    (label pid), and the scrape adds the live workers' files up.
    """
    memory = Gauge(*WORKER_MEMORY, multiprocess_mode="liveall", registry=None)
    cpu = Gauge(*WORKER_CPU, multiprocess_mode="liveall", registry=None)
    fds = Gauge(*WORKER_FDS, multiprocess_mode="liveall", registry=None)
    while True:
        resident, seconds, open_fds = worker_figures()
        memory.set(resident)
        cpu.set(seconds)
        if open_fds is not None:
            fds.set(open_fds)
        await asyncio.sleep(interval)


def resident_bytes() -> float:
    """Current resident memory: /proc/self/statm where there is one, else the peak (getrusage)."""
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[1])
    except (OSError, IndexError, ValueError):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024.0
    return float(pages * os.sysconf("SC_PAGE_SIZE"))
