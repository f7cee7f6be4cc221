"""`docker stop` as a client of the image sees it: a drain, then a clean exit 0."""

import http.client
import time
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlsplit

import pytest

from app.settings import Settings
from testbed.docker import docker, run_container
from testbed.host import wait_until

pytestmark = pytest.mark.container

DRAIN = Settings.model_fields["drain_seconds"].default


def get(connection: http.client.HTTPConnection, path: str) -> tuple[int, str | None, bytes]:
    connection.request("GET", path)
    response = connection.getresponse()
    return response.status, response.getheader("connection"), response.read()


def test_docker_stop_drains_then_exits_0_within_the_stop_timeout(image: str) -> None:
    with (
        run_container(image, "--read-only", "--cap-drop", "ALL") as container,
        ThreadPoolExecutor() as pool,
    ):
        container.wait_healthy(timeout=10)
        address = urlsplit(container.url())
        assert address.hostname and address.port
        kept = http.client.HTTPConnection(address.hostname, address.port, timeout=5)
        assert get(kept, "/info/ready")[0] == 200
        started = time.monotonic()
        stopping = pool.submit(docker, "stop", container.id)  # SIGTERM, SIGKILL after 10 s
        # The kept-alive connection is answered, told the container is draining, then closed.
        wait_until(lambda: get(kept, "/info/ready")[:2] == (503, "close"), 5, "the drain")
        kept.close()
        # New connections are still served during the drain.
        fresh = http.client.HTTPConnection(address.hostname, address.port, timeout=5)
        assert get(fresh, "/") == (200, "close", b'"Hello World"')
        fresh.close()
        stopping.result(timeout=15)
        stopped = time.monotonic() - started
        state = container.inspect()["State"]
    assert state["ExitCode"] == 0 and not state["OOMKilled"]
    assert DRAIN <= stopped < 10, stopped  # drained the whole period, never killed
