"""The drain's last step inside uvicorn: the only module that uses uvicorn's private API.

uvicorn has no hook for what happens between "stop accepting" and "close the connections", nor
one for the class its supervisor runs as a worker. So this module subclasses `uvicorn.Server`
(reading `servers` and `server_state.connections`, and each connection's `cycle` and `transport`)
and uvicorn's multiprocess supervisor (`terminate_all`, `sockets`, the module attribute `Process`
and its `_server`). Checked against uvicorn 0.54.0; pyproject.toml caps uvicorn below the next
minor, and the drain's tests (tests/server/test_drain.py, tests/server/test_logs_and_shutdown.py)
gate a raise of that cap.
"""

import asyncio
import fcntl
import select
import socket
import struct
import termios
import time
from typing import Any

import uvicorn
from uvicorn.supervisors import multiprocess

from app.listener import refuse_new_connections

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


def run_workers(config: uvicorn.Config, drain_seconds: float) -> None:
    """Serve with `config.workers` workers, each running our Server, under uvicorn's supervisor."""
    # uvicorn's supervisor makes its workers from this module attribute.
    multiprocess.Process = WorkerProcess  # type: ignore[misc]
    Supervisor(config, [config.bind_socket()], drain_seconds).run()
