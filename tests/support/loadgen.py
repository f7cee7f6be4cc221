"""A closed-loop load that accounts for every request by its X-Request-ID.

In a test: `with Load(url, connections=16) as load: ...` keeps that many keep-alive clients busy
until the block ends (or the server refuses connections: it is gone), then `load.outcomes` maps each
request id to "200", another status, or the error's name.

As a command, for use inside a container's network namespace (nsenter):
`python -m tests.support.loadgen URL CONNECTIONS SECONDS` prints `running` once the load flows,
then the outcomes as one JSON object.
"""

import json
import sys
import threading
import time
import uuid
from collections import Counter
from types import TracebackType

import httpx

from testbed.host import wait_until


class Load:
    def __init__(self, url: str, connections: int, server_name: str | None = None) -> None:
        self.url = url
        # The server's name, when the URL's host is an address: sent in TLS (SNI) and as the Host.
        self.extensions = {"sni_hostname": server_name} if server_name else {}
        self.host = {"Host": server_name} if server_name else {}
        self.outcomes: dict[str, str] = {}
        # When each request was sent (time.monotonic()).
        self.sent: dict[str, float] = {}
        self.stop = threading.Event()
        self.threads = [threading.Thread(target=self.worker) for _ in range(connections)]

    def worker(self) -> None:
        # The stack's HTTPS port serves a self-signed certificate (see testbed/compose.py).
        with httpx.Client(timeout=10, verify=False) as client:
            while not self.stop.is_set():
                rid = uuid.uuid4().hex
                self.sent[rid] = time.monotonic()
                try:
                    response = client.get(
                        self.url,
                        headers={"X-Request-ID": rid, **self.host},
                        extensions=self.extensions,
                    )
                    self.outcomes[rid] = str(response.status_code)
                except httpx.ConnectError:
                    self.outcomes[rid] = "refused"
                    return  # nothing listens any more: the server has stopped accepting
                except httpx.HTTPError as exc:
                    self.outcomes[rid] = type(exc).__name__

    def wait_flowing(self, requests: int = 100, timeout: float = 30) -> None:
        wait_until(lambda: len(self.outcomes) >= requests, timeout, f"{requests} requests")

    def summary(self) -> Counter[str]:
        return Counter(self.outcomes.values())

    def failed_sent_after(self, moment: float) -> Counter[str]:
        """The outcomes other than 200 of the requests sent after `moment` (time.monotonic())."""
        return Counter(
            outcome
            for rid, outcome in self.outcomes.items()
            if outcome != "200" and self.sent[rid] > moment
        )

    def __enter__(self) -> "Load":
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join()


def main() -> None:
    url, connections, seconds = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
    with Load(url, connections) as load:
        load.wait_flowing()
        print("running", flush=True)
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline and any(t.is_alive() for t in load.threads):
            time.sleep(0.05)
    print(json.dumps(load.outcomes), flush=True)


if __name__ == "__main__":
    main()
