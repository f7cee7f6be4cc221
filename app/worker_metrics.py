"""Each worker's own figures for /metrics: resident memory, CPU time, open file descriptors.

prometheus_client's `process_*` metrics describe the one process that answers a scrape. These are
labelled with the worker's pid: one process reads its own at each scrape (WorkerGauges); each of
several writes its own to the shared files every few seconds (sample_worker), and a scrape adds up
those of the live workers.
"""

import asyncio
import os
import resource
from collections.abc import Iterator
from pathlib import Path

from prometheus_client import Gauge
from prometheus_client.metrics_core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

# How often each of several workers writes its own figures (sample_worker).
WORKER_SAMPLE_SECONDS = 5.0

WORKER_MEMORY = ("app_worker_resident_memory_bytes", "Resident memory of each live worker.")
WORKER_CPU = ("app_worker_cpu_seconds", "CPU time (user and system) each live worker has used.")
WORKER_FDS = ("app_worker_open_fds", "Open file descriptors of each live worker.")


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
