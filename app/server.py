"""How uvicorn runs in the container: `python -m app.server` is the image's CMD and PID 1."""

import errno
import logging
import os
import signal
import sys
from pathlib import Path
from types import FrameType
from typing import Any

import uvicorn

from app import NAME, logs
from app.listener import socket_filters_allowed
from app.settings import Settings, SettingsError, load_settings
from app.uvicorn_internals import Server, run_workers
from app.workers import worker_count

logger = logging.getLogger("app.server")


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
        sys.exit(f"{NAME}: invalid configuration: {exc}")
    # After a graceful shutdown uvicorn re-raises the signal it stopped on, so the process would end
    # "killed by SIGTERM" (143) after a clean drain. A clean drain exits 0 (`docker stop`, systemd),
    # whether or not we are PID 1, where the kernel ignores that re-raised signal anyway.
    signal.signal(signal.SIGTERM, exit_cleanly)
    config = uvicorn.Config(**options(settings, app))  # configures logging too
    if settings.metrics and config.workers > 1:
        try:
            prepare_metrics_dir(settings.metrics_dir)
        except OSError as exc:
            sys.exit(
                f"{NAME}: invalid configuration: APP_METRICS_DIR: cannot use "
                f"{settings.metrics_dir}: {exc.strerror}"
            )
    else:
        # One process counts in memory (app.metrics), whatever the environment says.
        os.environ.pop("PROMETHEUS_MULTIPROC_DIR", None)
    if not socket_filters_allowed():
        logger.warning(
            "the kernel refuses this process a socket filter: at the end of a drain, a client "
            "that connects just as the listener closes may read a reset instead of a refusal"
        )
    if config.workers > 1:
        run_workers(config, settings.drain_seconds)
    else:
        server = Server(config)
        server.run()
        if not server.started:
            sys.exit(3)  # uvicorn's STARTUP_FAILURE: the app did not start


def prepare_metrics_dir(path: Path) -> None:
    """Make `path` the workers' metrics directory (app.metrics), emptied of an earlier run's files.

    Only with several workers: a single one counts in memory, and needs no writable directory.

    Set before any worker starts: prometheus_client chooses its multiprocess mode when first
    imported, and the workers inherit the environment.
    """
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    if path.stat().st_uid != os.getuid():
        # Another user's directory (in a shared /tmp, say) could feed this process's scrapes.
        raise PermissionError(errno.EPERM, "owned by another user")
    for file in path.glob("*.db"):
        file.unlink()
    # Fail here, in one line, rather than in every worker's first request.
    probe = path / f".write-test-{os.getpid()}"
    probe.touch()
    probe.unlink()
    # app.metrics.MULTIPROCESS_DIR: not imported here, as it would import prometheus_client.
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(path)


def exit_cleanly(signum: int, frame: FrameType | None) -> None:
    sys.exit(0)


if __name__ == "__main__":
    main()
