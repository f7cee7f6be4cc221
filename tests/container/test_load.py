"""The image under load, on the container's own loopback (nsenter into its network namespace):
no error at 64 connections, and nothing accepted is lost when `docker stop` comes mid-load."""

import collections
import json
import re
import subprocess
import sys

import pytest

from testbed.docker import docker, in_netns, run_container
from testbed.host import ROOT

pytestmark = pytest.mark.container

# Two CPUs, so two workers, run as Compose runs them: a read-only root with /tmp in memory, where
# the workers write their metrics.
TWO_WORKERS_HARDENED = ("--cpus", "2", "--read-only", "--tmpfs", "/tmp", "--cap-drop", "ALL")  # noqa: S108


def test_64_connections_for_30s_give_no_error_and_no_non_2xx(image: str) -> None:
    with run_container(image, *TWO_WORKERS_HARDENED) as container:
        container.wait_healthy(timeout=10)
        wrk = subprocess.run(
            in_netns(container, "wrk", "-t2", "-c64", "-d30s", "http://127.0.0.1:8000/"),
            capture_output=True,
            text=True,
            timeout=60,
        )
    report = wrk.stdout
    assert wrk.returncode == 0, wrk.stderr
    requests = int(re.search(r"(\d+) requests in", report).group(1))  # type: ignore[union-attr]
    assert requests > 1000, report
    assert "Socket errors" not in report, report
    assert "Non-2xx" not in report, report


# Some hardened kernels (this project's CI machine's among them) let only CAP_NET_ADMIN attach
# the socket filter of the drain's last step; the image says so in a warning at start. The second
# case gives the container that capability, as root, to check the filter itself on such kernels.
FILTER_REFUSED = "the kernel refuses this process a socket filter"


@pytest.mark.parametrize(
    "privileges",
    [(), ("--user", "0", "--cap-add", "NET_ADMIN")],
    ids=["as-shipped", "root-with-net-admin"],
)
def test_docker_stop_under_load_answers_every_request_or_refuses_its_connection(
    image: str, privileges: tuple[str, ...]
) -> None:
    # The access log tells which requests the app handled.
    options = (*TWO_WORKERS_HARDENED, "-e", "APP_ACCESS_LOG=true")
    with run_container(image, *options, *privileges) as container:
        container.wait_healthy(timeout=10)
        command = in_netns(container, sys.executable, "-m", "tests.support.loadgen")
        with subprocess.Popen(
            [*command, "http://127.0.0.1:8000/", "32", "20"],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            text=True,
        ) as load:
            try:
                assert load.stdout is not None
                assert load.stdout.readline().strip() == "running"
                docker("stop", container.id)
                outcomes: dict[str, str] = json.loads(load.stdout.readline())
            finally:
                load.kill()
        exit_code = container.inspect()["State"]["ExitCode"]
        lines = [json.loads(line) for line in container.logs().splitlines()]
    # The load's requests only: the HEALTHCHECK probes /info/status meanwhile.
    access = [line for line in lines if line["logger"] == "app.access" and line["path"] == "/"]
    filtered = not any(line["message"].startswith(FILTER_REFUSED) for line in lines)
    counts = collections.Counter(outcomes.values())
    print("outcomes:", counts, "socket filter:", filtered)
    assert exit_code == 0
    assert filtered or not privileges, "the filter needs more than CAP_NET_ADMIN here"
    # Every request was answered 200, or its connection refused once the listener had closed (each
    # of the 32 clients stops at its first refusal): no reset, no other status. Without the filter,
    # a connection the kernel queued just as the listener closed is reset (about 1 stop in 10 on
    # the CI machine): a request the app never saw.
    expected = {"200", "refused"} if filtered else {"200", "refused", "ReadError"}
    assert set(counts) <= expected and counts["refused"] > 0, counts
    assert counts["200"] > 100, counts
    # And every request the app handled reached its client.
    answered = {rid for rid, outcome in outcomes.items() if outcome == "200"}
    assert {line["request_id"] for line in access} == answered
