"""How uvicorn runs in the container: `python -m app.server` is the image's CMD and PID 1."""

import asyncio
import ctypes
import errno
import fcntl
import logging
import math
import os
import select
import signal
import socket
import struct
import sys
import termios
import time
from pathlib import Path
from types import FrameType
from typing import Any

import uvicorn
from uvicorn.supervisors import multiprocess

from app import NAME, logs
from app.settings import Settings, SettingsError, load_settings

logger = logging.getLogger("app.server")

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


# The last step of the drain (Server.shutdown): at most this long, before uvicorn's own shutdown.
STOP_ACCEPTING_SECONDS = 0.5
QUIET_SECONDS = 0.05


class Server(uvicorn.Server):
    """uvicorn's server, with a last step to the drain (app.lifecycle) that loses no request.

    uvicorn's own shutdown closes the listening socket, which resets the connections the kernel has
    queued and not yet handed over, then closes every connection whose request it has not read yet:
    under load, clients that had just sent a request read a reset. Here the kernel first stops
    taking new connections (refuse_new_connections), what is queued is accepted, the listener
    closes once its queue is empty, and the requests already on their way are answered, each with
    `Connection: close` as in the whole drain.

    A worker of several shares its listening socket with the others: there the supervisor makes
    the kernel stop taking connections (Supervisor), not the worker, which may be retiring alone.
    """

    # False in a worker of several (WorkerProcess).
    owns_listener = True

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        deadline = time.monotonic() + STOP_ACCEPTING_SECONDS
        listeners = [listener for server in self.servers for listener in server.sockets]
        if self.owns_listener:
            for listener in listeners:
                refuse_new_connections(listener.fileno())
        # The event loop accepts what is queued; the listener closes when none waits, so the kernel
        # resets none.
        await asyncio.sleep(STOP_ACCEPTING_SECONDS / 10)
        while select.select(listeners, [], [], 0)[0] and time.monotonic() < deadline:
            await asyncio.sleep(0.005)
        for server in self.servers:
            server.close()
        # A connection is left to uvicorn once it has been idle for a moment after a request: one
        # accepted just before the listener closed may not have received its first request yet.
        quiet_since = None
        while time.monotonic() < deadline:
            if any(map(busy, self.server_state.connections)):
                quiet_since = None
            elif quiet_since is None:
                quiet_since = time.monotonic()
            elif time.monotonic() - quiet_since >= QUIET_SECONDS:
                break
            await asyncio.sleep(0.005)
        await super().shutdown(sockets)


# A classic BPF program for a listening socket, which sees each TCP segment from its TCP header:
# a new connection attempt (SYN without ACK) is dropped, every other segment goes through, so a
# handshake the kernel has already answered still completes and is queued, never left half-open.
REFUSE_SYN = b"".join(
    struct.pack("HBBI", code, jump_true, jump_false, k)
    for code, jump_true, jump_false, k in (
        (0x30, 0, 0, 13),  # BPF_LD | BPF_B | BPF_ABS: the byte of TCP flags
        (0x54, 0, 0, 0x12),  # BPF_ALU | BPF_AND | BPF_K: its SYN and ACK bits
        (0x15, 0, 1, 0x02),  # BPF_JMP | BPF_JEQ | BPF_K: SYN alone? next; else skip one
        (0x06, 0, 0, 0),  # BPF_RET | BPF_K: drop
        (0x06, 0, 0, 0xFFFFFFFF),  # BPF_RET | BPF_K: keep the whole segment
    )
)
SO_ATTACH_FILTER = 26  # Linux; not in Python's socket module


def refuse_new_connections(fd: int) -> bool:
    """Make the kernel drop new connection attempts to the listening socket `fd`; say if it does.

    Their clients send their SYN again a second later and find the port closed: refused, cleanly.
    Where the kernel refuses this process a socket filter (not Linux; some hardened kernels ask for
    CAP_NET_ADMIN, which the container does not have), the queue shrinks to one place instead, and
    a client that connects just as the listener closes may read a reset rather than a refusal.
    """
    # asyncio's socket wrapper has neither setsockopt for this nor listen(); a duplicate has.
    with socket.socket(fileno=os.dup(fd)) as sock:
        if attach_refuse_syn(sock):
            return True
        sock.listen(0)
        return False


def attach_refuse_syn(sock: socket.socket) -> bool:
    program = ctypes.create_string_buffer(REFUSE_SYN)
    try:
        sock.setsockopt(
            socket.SOL_SOCKET,
            SO_ATTACH_FILTER,
            struct.pack("HP", len(REFUSE_SYN) // 8, ctypes.addressof(program)),
        )
    except OSError:
        return False
    return True


def socket_filters_allowed() -> bool:
    """Whether this process may attach the drain's last filter (refuse_new_connections)."""
    with socket.socket() as probe:
        return attach_refuse_syn(probe)


def busy(connection: Any) -> bool:
    """Whether a connection has a request in progress, bytes of one not read yet, or none yet.

    A connection with no request yet has just been accepted: its client, which the kernel answered
    at once, may take a while (a busy machine) to send its first request; uvicorn would close it.
    """
    cycle = getattr(connection, "cycle", None)
    if cycle is None or not cycle.response_complete:
        return True
    transport = getattr(connection, "transport", None)
    sock = transport.get_extra_info("socket") if transport is not None else None
    if sock is None or sock.fileno() < 0:
        return False
    waiting = fcntl.ioctl(sock.fileno(), termios.FIONREAD, struct.pack("i", 0))
    return bool(struct.unpack("i", waiting)[0])


class Supervisor(multiprocess.Multiprocess):
    """uvicorn's supervisor of several workers, whose workers run our Server.

    When it stops them all, it does the first part of their drain's last step for them, on the
    listening socket they share: a worker retired alone (SIGHUP's restart, SIGTTOU) must leave it
    taking connections for the others.
    """

    def __init__(self, config: uvicorn.Config, sockets: list[socket.socket], drain: float) -> None:
        super().__init__(config, sockets)
        self.drain = drain

    def terminate_all(self) -> None:
        super().terminate_all()  # SIGTERM: every worker drains, still serving
        # A little before the workers' drains end, the kernel stops taking new connections; each
        # worker then accepts what is queued and closes its copy once the queue is empty. The
        # supervisor's copy goes too: it would keep the socket open, connections queuing up until
        # the supervisor exits, to be reset then.
        time.sleep(max(0.0, self.drain - 0.1))
        for sock in self.sockets:
            refuse_new_connections(sock.fileno())
            sock.close()


class WorkerProcess(multiprocess.Process):
    """A worker of uvicorn's supervisor that runs our Server rather than uvicorn's."""

    @property
    def server(self) -> uvicorn.Server:
        if self._server is None:
            self._server = Server(config=self.config)
            self._server.owns_listener = False
        return self._server


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
        # uvicorn's supervisor makes its workers from this module attribute: ours run our Server.
        multiprocess.Process = WorkerProcess  # type: ignore[misc]
        Supervisor(config, [config.bind_socket()], settings.drain_seconds).run()
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
