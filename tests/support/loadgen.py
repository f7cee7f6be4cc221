"""A closed-loop load client that accounts for every request, by its X-Request-ID.

`python -m tests.support.loadgen URL CONNECTIONS SECONDS` keeps CONNECTIONS keep-alive clients busy
until SECONDS pass or the server refuses connections (it is gone). It prints `running` once the
load is flowing, then one JSON object: request id -> outcome ("200", another status, or the error).
Run it inside a container's network namespace (nsenter) to reach it on its own loopback.
"""

import json
import sys
import threading
import time
import uuid

import httpx


def worker(url: str, deadline: float, outcomes: dict[str, str], stop: threading.Event) -> None:
    with httpx.Client(timeout=10) as client:
        while time.monotonic() < deadline and not stop.is_set():
            rid = uuid.uuid4().hex
            try:
                response = client.get(url, headers={"X-Request-ID": rid})
                outcomes[rid] = str(response.status_code)
            except httpx.ConnectError:
                outcomes[rid] = "refused"
                return  # nothing listens any more: the server has stopped accepting
            except httpx.HTTPError as exc:
                outcomes[rid] = type(exc).__name__


def main() -> None:
    url, connections, seconds = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
    outcomes: dict[str, str] = {}
    stop = threading.Event()
    deadline = time.monotonic() + seconds
    threads = [
        threading.Thread(target=worker, args=(url, deadline, outcomes, stop))
        for _ in range(connections)
    ]
    for thread in threads:
        thread.start()
    while len(outcomes) < 100 and time.monotonic() < deadline:
        time.sleep(0.01)
    print("running", flush=True)
    for thread in threads:
        thread.join()
    print(json.dumps(outcomes), flush=True)


if __name__ == "__main__":
    main()
