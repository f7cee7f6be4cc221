"""How many uvicorn workers: `WEB_CONCURRENCY`, else the container's CPU quota, else one."""

import math
import os
from pathlib import Path

from app.settings import Settings

CGROUP_ROOT = Path("/sys/fs/cgroup")


def cpu_quota(cgroup_root: Path = CGROUP_ROOT) -> float | None:
    """CPUs the container may use (`docker run --cpus`, a Kubernetes CPU limit); None for no limit.

    cgroup v2 writes the limit as `cpu.max` ("200000 100000", or "max 100000"); cgroup v1 as
    `cpu/cpu.cfs_quota_us` (-1 for no limit) over `cpu/cpu.cfs_period_us`.
    """
    try:
        quota, period = (cgroup_root / "cpu.max").read_text().split()
    except (OSError, ValueError):
        try:
            quota = (cgroup_root / "cpu" / "cpu.cfs_quota_us").read_text().strip()
            period = (cgroup_root / "cpu" / "cpu.cfs_period_us").read_text().strip()
        except OSError:
            return None
    if quota in ("max", "-1"):
        return None
    try:
        return int(quota) / int(period)
    except (ValueError, ZeroDivisionError):
        return None


def worker_count(settings: Settings, cgroup_root: Path = CGROUP_ROOT) -> int:
    """`WEB_CONCURRENCY` when set; else one worker per CPU of the quota (rounded up); else 1.

    Never the host's CPU count: a container limited to 2 CPUs on a 64-core host wants 2 workers.
    """
    if settings.workers is not None:
        return settings.workers
    quota = cpu_quota(cgroup_root)
    if quota is None:
        return 1
    return max(1, min(math.ceil(quota), len(os.sched_getaffinity(0))))
