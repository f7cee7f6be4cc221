"""Many idle keep-alive clients: connections that have had one answer and then wait.

    with IdleClients("127.0.0.1", port, 10_000, tls=True) as idle:  # opened, each answered once
        ...                                               # they wait, open
        idle.check()                                      # one more request on each

`idle.errors` counts every failure by its kind: a connection refused, reset or closed, a timeout, or
an answer other than 200.

They are opened in waves, and after each wave the connections answered more than `FRESH` seconds
ago are asked once more: however long opening them all takes (about 20 s on a quiet machine, far
more on a busy one), none has been idle for as long as the server's keep-alive timeout when the
last one opens, as a client that keeps its connection would do.
"""

import asyncio
import json
import resource
import ssl
import sys
from collections import Counter
from collections.abc import Awaitable, Iterable
from dataclasses import dataclass
from types import TracebackType

REQUEST = b"GET /healthz HTTP/1.1\r\nHost: idle-client\r\n\r\n"
# Connections opened at a time, and how long one may sit idle while the others open: a third of
# the proxy's `timeout http-keep-alive` (30 s).
WAVE = 1000
FRESH = 10.0


@dataclass
class Connection:
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    answered_at: float = 0.0


class IdleClients:
    def __init__(
        self, host: str, port: int, count: int, tls: bool = False, at_once: int = 200
    ) -> None:
        self.host, self.port, self.count = host, port, count
        # TLS as browsers do it (not verified: the stack's self-signed certificate).
        self.tls: ssl.SSLContext | None = None
        if tls:
            self.tls = ssl.create_default_context()
            self.tls.check_hostname = False
            self.tls.verify_mode = ssl.CERT_NONE
        self.limit = asyncio.Semaphore(at_once)
        self.loop = asyncio.new_event_loop()
        self.connections: list[Connection] = []
        self.errors: Counter[str] = Counter()
        self.answered = 0

    def __enter__(self) -> "IdleClients":
        # One descriptor per connection: raise this process's limit as far as the machine allows.
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        if soft < self.count + 1000:
            resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, self.count + 1000), hard))
        self.loop.run_until_complete(self.open_all())
        return self

    def check(self) -> None:
        """Send one more request on every connection still open, and read its answer."""
        self.loop.run_until_complete(self.all(self.exchange(c) for c in self.connections))

    def outcome(self) -> dict[str, object]:
        """What a test asserts on: connections open, answers so far, errors by kind."""
        return {"open": len(self.connections), "answered": self.answered, "errors": self.errors}

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        for connection in self.connections:
            connection.writer.close()
        self.loop.run_until_complete(asyncio.sleep(0))
        self.loop.close()

    async def all(self, jobs: Iterable[Awaitable[object]]) -> None:
        await asyncio.gather(*jobs)

    async def open_all(self) -> None:
        for opened in range(0, self.count, WAVE):
            await self.all(self.open_one() for _ in range(min(WAVE, self.count - opened)))
            stale = self.loop.time() - FRESH
            await self.all(self.exchange(c) for c in self.connections if c.answered_at < stale)

    async def open_one(self) -> None:
        async with self.limit:
            try:
                reader, writer = await asyncio.wait_for(
                    asyncio.open_connection(self.host, self.port, ssl=self.tls), 10
                )
            except (OSError, TimeoutError) as error:
                self.errors[type(error).__name__] += 1
                return
        connection = Connection(reader, writer)
        if await self.exchange(connection):
            self.connections.append(connection)

    async def exchange(self, connection: Connection) -> bool:
        """One request and its answer, at most `at_once` at a time."""
        async with self.limit:
            try:
                connection.writer.write(REQUEST)
                await connection.writer.drain()
                head = await asyncio.wait_for(connection.reader.readuntil(b"\r\n\r\n"), 10)
                length = next(
                    int(line.split(b":", 1)[1])
                    for line in head.split(b"\r\n")
                    if line.lower().startswith(b"content-length:")
                )
                await asyncio.wait_for(connection.reader.readexactly(length), 10)
            except (OSError, TimeoutError, asyncio.IncompleteReadError, StopIteration) as error:
                self.errors[type(error).__name__] += 1
                return False
        if not head.startswith(b"HTTP/1.1 200 "):
            self.errors[head.split(b"\r\n", 1)[0].decode()] += 1
            return False
        connection.answered_at = self.loop.time()
        self.answered += 1
        return True


def main() -> None:
    """`python -m tests.support.idle HOST PORT COUNT [tls]`, for a test to run in another network
    namespace: prints the first outcome as JSON once the connections are open, then checks them
    again for each `check` line on stdin and prints the outcome so far; ends with stdin."""
    host, port, count = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    with IdleClients(host, port, count, tls=sys.argv[4:] == ["tls"]) as idle:
        print(json.dumps(idle.outcome()), flush=True)
        for line in sys.stdin:
            if line.strip() == "check":
                idle.check()
                print(json.dumps(idle.outcome()), flush=True)


if __name__ == "__main__":
    main()
