"""The image under load, on the container's own loopback (nsenter into its network namespace):
no error at 64 connections, and nothing accepted is lost when `docker stop` comes mid-load."""

import collections
import json
import re
import subprocess
import sys

import pytest

from tests.support.docker import docker, in_netns, run_container
from tests.support.servers import ROOT

pytestmark = pytest.mark.container


def test_64_connections_for_30s_give_no_error_and_no_non_2xx(image: str) -> None:
    with run_container(image, "--cpus", "2", "--read-only", "--cap-drop", "ALL") as container:
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


def test_docker_stop_under_load_answers_every_request_or_refuses_its_connection(
    image: str,
) -> None:
    # The access log tells which requests the app handled.
    options = ("--cpus", "2", "--read-only", "--cap-drop", "ALL", "-e", "APP_ACCESS_LOG=true")
    with run_container(image, *options) as container:
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
    counts = collections.Counter(outcomes.values())
    print("outcomes:", counts)
    assert exit_code == 0
    # No request got an answer other than 200. What failed was refused once the listener had
    # closed (each of the 32 clients stops at its first refusal), or, rarely (1 stop in about
    # 13 here), a connection the kernel had half-opened as the listener closed: never a request
    # the app had seen.
    assert not [outcome for outcome in counts if outcome.isdigit() and outcome != "200"], counts
    assert counts["refused"] > 0 and counts["200"] > 100, counts
    # And every request the app handled reached its client.
    answered = {rid for rid, outcome in outcomes.items() if outcome == "200"}
    assert {line["request_id"] for line in access} == answered
