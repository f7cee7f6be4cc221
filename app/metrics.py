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

import os
from collections.abc import Iterable
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
from app.worker_metrics import WorkerGauges

# Set by app.server for its workers (prometheus_client reads it when it is first imported).
MULTIPROCESS_DIR = "PROMETHEUS_MULTIPROC_DIR"

# Seconds. An API answers in milliseconds; the upper buckets show what waits on something slow.
LATENCY_BUCKETS = (0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

# Methods a client names are counted under their own name; any other is "other", so that a client
# cannot make a series per made-up method.
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
# The route label of a request that matched no route (a 404): one series, whatever the path.
UNMATCHED = "unmatched"

# Names and help texts.
REQUESTS = ("http_requests", "Requests answered, by method, route template and status.")
LATENCY = (
    "http_request_duration_seconds",
    "Time from the request's arrival in the app to the end of its answer, by method and route.",
)
IN_FLIGHT = ("http_requests_in_flight", "Requests being answered now, in all live workers.")


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
