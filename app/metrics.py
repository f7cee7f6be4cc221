"""Prometheus metrics at `/metrics`, added up over every worker process of the container.

One process (one worker, the image's default without a CPU limit and a Kubernetes pod's; or no
app.server: a test client, `uvicorn --reload`) counts in plain Python (MemoryRecorder): a few dict
and list updates a request, about a fifth of what prometheus_client's own metric objects cost,
read into Prometheus' format only when scraped.

With several uvicorn workers, each scrape is answered by one of them; if each counted only its own
requests, every scrape would see a part, a different part each time. So app.server runs several
workers in prometheus_client's multiprocess mode (SharedRecorder): each process writes its values to
its own files in APP_METRICS_DIR (emptied at start, app.server.prepare_metrics_dir), and a scrape
adds up the files of all of them, of workers that have exited included: their counts are kept, and
a restarted worker, a new process, writes new files beside them rather than counting twice. Gauges
of a single process (requests in flight, the worker gauges) count only live processes.
"""

import asyncio
import bisect
import os
import resource
from collections.abc import Iterable, Iterator
from pathlib import Path

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.metrics_core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
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

# Names and help texts, the same in both recorders.
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
    """What RequestContext (app.middleware) calls for each request, and what a scrape reads."""

    def __init__(self, mounts: Iterable[str] = ()) -> None:
        # Paths of mounted apps (the docs' assets): their requests are counted under the mount.
        self.mounts = tuple(mounts)

    def labels(self, method: str, scope: Scope) -> tuple[str, str]:
        """The request's method and route labels: a bounded set, whatever the client sends."""
        return method if method in METHODS else "other", route_template(scope, self.mounts)

    def started(self) -> None:
        raise NotImplementedError

    def finished(self, method: str, scope: Scope, status: int, seconds: float) -> None:
        raise NotImplementedError

    def registry(self) -> CollectorRegistry:
        raise NotImplementedError


class MemoryRecorder(Recorder, Collector):
    """The counts of this process alone, in memory."""

    def __init__(self, mounts: Iterable[str] = ()) -> None:
        super().__init__(mounts)
        self.in_flight = 0
        # (method, route, status) -> count
        self.requests: dict[tuple[str, str, int], int] = {}
        # (method, route) -> a count per bucket of LATENCY_BUCKETS, one past the last (+Inf),
        # then the sum of the durations
        self.durations: dict[tuple[str, str], list[float]] = {}

    def started(self) -> None:
        self.in_flight += 1

    def finished(self, method: str, scope: Scope, status: int, seconds: float) -> None:
        self.in_flight -= 1
        method, route = self.labels(method, scope)
        key = (method, route, status)
        self.requests[key] = self.requests.get(key, 0) + 1
        durations = self.durations.get((method, route))
        if durations is None:
            durations = self.durations[method, route] = [0.0] * (len(LATENCY_BUCKETS) + 2)
        durations[bisect.bisect_left(LATENCY_BUCKETS, seconds)] += 1
        durations[-1] += seconds

    def collect(self) -> Iterator[Metric]:
        requests = CounterMetricFamily(*REQUESTS, labels=["method", "route", "status"])
        for (method, route, status), count in list(self.requests.items()):
            requests.add_metric([method, route, str(status)], count)
        yield requests
        latency = HistogramMetricFamily(*LATENCY, labels=["method", "route"])
        bounds = [*map(str, LATENCY_BUCKETS), "+Inf"]
        for (method, route), durations in list(self.durations.items()):
            counts, total = durations[:-1], durations[-1]
            cumulative = [sum(counts[: i + 1]) for i in range(len(counts))]
            latency.add_metric([method, route], list(zip(bounds, cumulative, strict=True)), total)
        yield latency
        yield GaugeMetricFamily(*IN_FLIGHT, value=self.in_flight)
        yield from worker_gauges()

    def registry(self) -> CollectorRegistry:
        """What a scrape reads: this process's counts."""
        registry = CollectorRegistry(auto_describe=False)
        registry.register(self)
        return registry


class SharedRecorder(Recorder):
    """The counts of one worker of several, in the files they share (multiprocess mode)."""

    def __init__(self, mounts: Iterable[str] = ()) -> None:
        super().__init__(mounts)
        self.path = os.environ[MULTIPROCESS_DIR]
        self.request_counter = Counter(*REQUESTS, ["method", "route", "status"], registry=None)
        self.latency = Histogram(
            *LATENCY, ["method", "route"], buckets=LATENCY_BUCKETS, registry=None
        )
        self.in_flight_gauge = Gauge(*IN_FLIGHT, multiprocess_mode="livesum", registry=None)
        # (method, route, status) -> the counter and histogram children: labels() on every
        # request would check and join the label values again.
        self.children: dict[tuple[str, str, int], tuple[Counter, Histogram]] = {}

    def started(self) -> None:
        self.in_flight_gauge.inc()

    def finished(self, method: str, scope: Scope, status: int, seconds: float) -> None:
        self.in_flight_gauge.dec()
        method, route = self.labels(method, scope)
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
        """What a scrape reads: the files of every worker, live or exited."""
        registry = CollectorRegistry(auto_describe=False)
        forget_dead_processes(Path(self.path))
        MultiProcessCollector(registry, self.path)  # type: ignore[no-untyped-call]
        return registry


def new_recorder(mounts: Iterable[str] = ()) -> Recorder:
    """The recorder for this process: shared files when app.server runs several workers."""
    return SharedRecorder(mounts) if os.environ.get(MULTIPROCESS_DIR) else MemoryRecorder(mounts)


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


def worker_gauges() -> Iterator[Metric]:
    """The worker gauges of this process, read now (one process: no pid label)."""
    memory, cpu, fds = worker_figures()
    yield GaugeMetricFamily(*WORKER_MEMORY, value=memory)
    yield GaugeMetricFamily(*WORKER_CPU, value=cpu)
    if fds is not None:
        yield GaugeMetricFamily(*WORKER_FDS, value=fds)


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
