"""How uvicorn runs in the container: `python -m app.server` is the image's CMD and PID 1."""

import math
import os
import signal
import sys
from pathlib import Path
from types import FrameType
from typing import Any

import uvicorn

from app import logs
from app.settings import Settings, SettingsError, load_settings

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


def options(settings: Settings, app: str = "app.main:create_app") -> dict[str, Any]:
    """The arguments of `uvicorn.run` for these settings, serving the app factory `app`."""
    return {
        "app": app,
        "factory": True,
        "host": settings.host,
        "port": settings.port,
        "workers": worker_count(settings),
        # httptools rejects request-smuggling forms that h11 has answered; uvloop when installed.
        "http": "httptools",
        "loop": "auto",
        "lifespan": "on",
        "log_level": settings.log_level,
        "log_config": logs.config(settings.log_level, settings.log_format),
        # Our access log (app.logs) has the duration and the request id; uvicorn's has neither.
        "access_log": False,
        "proxy_headers": True,
        "forwarded_allow_ips": settings.forwarded_allow_ips,
        "server_header": False,
        # uvicorn's default waits forever for requests in flight; Docker kills after 10 s.
        "timeout_graceful_shutdown": settings.timeout_graceful_shutdown,
        "timeout_keep_alive": settings.timeout_keep_alive,
    }


def main(app: str = "app.main:create_app") -> None:
    try:
        settings = load_settings()
    except SettingsError as exc:
        sys.exit(f"fastapi-app: invalid configuration: {exc}")
    # After a graceful shutdown uvicorn re-raises the signal it stopped on, so the process would end
    # "killed by SIGTERM" (143) after a clean drain. A clean drain exits 0 (`docker stop`, systemd),
    # whether or not we are PID 1, where the kernel ignores that re-raised signal anyway.
    signal.signal(signal.SIGTERM, exit_cleanly)
    uvicorn.run(**options(settings, app))


def exit_cleanly(signum: int, frame: FrameType | None) -> None:
    sys.exit(0)


if __name__ == "__main__":
    main()
