"""/metrics in the image: two workers add up, on a read-only root with the tmpfs Compose gives."""

import httpx
import pytest

from app import NAME
from testbed.docker import run_container
from testbed.host import wait_until
from tests.support.metrics import ROOT_ROUTE, get_root, scrape, value, worker_pids

pytestmark = pytest.mark.container

# As compose.yml runs the API: a read-only root, /tmp in memory.
COMPOSE_LIKE = ("--read-only", "--tmpfs", "/tmp", "--cap-drop", "ALL", "-e", "WEB_CONCURRENCY=2")  # noqa: S108


def test_two_workers_count_every_request_once_even_when_one_is_killed(image: str) -> None:
    with run_container(image, *COMPOSE_LIKE) as container:
        container.wait_healthy(timeout=15)
        url = container.url()
        wait_until(lambda: len(worker_pids(url)) == 2, 15, "both workers' gauges")
        get_root(url, 200)
        for _ in range(8):
            assert value(scrape(url), "http_requests_total", **ROOT_ROUTE) == 200
        killed = sorted(worker_pids(url))[0]
        kill = container.exec("python", "-c", f"import os; os.kill({killed}, 9)")
        assert kill.returncode == 0, kill.stderr
        wait_until(
            lambda: len(pids := worker_pids(url)) == 2 and killed not in pids,
            20,
            "a new worker in place of the killed one",
        )
        get_root(url, 50)
        for _ in range(8):
            assert value(scrape(url), "http_requests_total", **ROOT_ROUTE) == 250


def test_several_workers_on_a_read_only_root_without_tmpfs_say_what_to_mount(image: str) -> None:
    with run_container(image, "--read-only", "-e", "WEB_CONCURRENCY=2") as container:
        wait_until(lambda: not container.inspect()["State"]["Running"], 15, "the container to exit")
        assert container.inspect()["State"]["ExitCode"] == 1
        assert container.logs().strip().splitlines()[-1] == (
            f"{NAME}: invalid configuration: APP_METRICS_DIR: cannot use /tmp/metrics: "
            "Read-only file system"
        )


def test_one_worker_on_a_read_only_root_counts_in_memory(image: str) -> None:
    with run_container(image, "--read-only", "--cap-drop", "ALL") as container:
        container.wait_healthy(timeout=15)
        get_root(container.url(), 5)
        assert value(scrape(container.url()), "http_requests_total", **ROOT_ROUTE) == 5
        assert (
            httpx.get(f"{container.url()}/metrics").headers["content-type"].startswith("text/plain")
        )
