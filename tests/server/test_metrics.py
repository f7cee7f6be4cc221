"""/metrics added up over the workers of a real server (`python -m app.server`), whoever answers."""

import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from app import NAME
from app.server import prepare_metrics_dir
from testbed.host import wait_until
from tests.support.metrics import ROOT_ROUTE, get_root, scrape, value, worker_pids
from tests.support.servers import isolated_env, run_server, stop_and_read_logs

pytestmark = pytest.mark.server


# Two workers, stopped at the end with SIGTERM and no drain: the workers' coverage is written.
TWO_WORKERS = {"WEB_CONCURRENCY": "2", "APP_DRAIN_SECONDS": "0"}


def test_two_workers_report_every_request_in_every_scrape() -> None:
    with run_server(env=TWO_WORKERS) as server:
        wait_until(lambda: len(worker_pids(server.url)) == 2, 15, "both workers' gauges")
        get_root(server.url, 200)
        for _ in range(10):
            samples = scrape(server.url)
            assert value(samples, "http_requests_total", **ROOT_ROUTE) == 200
            count = value(samples, "http_request_duration_seconds_count", method="GET", route="/")
            assert count == 200
            # Each scrape is answered by one worker, which counts itself in flight.
            assert value(samples, "http_requests_in_flight") == 1
        assert len(worker_pids(server.url)) == 2
        stop_and_read_logs(server)


def test_a_killed_worker_s_counts_are_kept_once_and_its_gauges_go() -> None:
    with run_server(env=TWO_WORKERS) as server:
        wait_until(lambda: len(worker_pids(server.url)) == 2, 15, "both workers' gauges")
        get_root(server.url, 100)
        before = worker_pids(server.url)
        killed = sorted(before)[0]
        os.kill(int(killed), signal.SIGKILL)
        # uvicorn's supervisor starts a new worker in its place.
        wait_until(
            lambda: len(pids := worker_pids(server.url)) == 2 and killed not in pids,
            20,
            "a new worker in place of the killed one",
        )
        get_root(server.url, 50)
        for _ in range(6):
            assert value(scrape(server.url), "http_requests_total", **ROOT_ROUTE) == 150
        stop_and_read_logs(server)


def test_counts_start_from_zero_at_each_start(tmp_path: Path) -> None:
    env = {**TWO_WORKERS, "APP_METRICS_DIR": str(tmp_path / "metrics")}
    with run_server(env=env) as server:
        get_root(server.url, 20)
        assert value(scrape(server.url), "http_requests_total", **ROOT_ROUTE) == 20
    assert list((tmp_path / "metrics").glob("counter_*.db"))  # the killed server's files stay
    with run_server(env=env) as server:
        get_root(server.url, 3)
        assert value(scrape(server.url), "http_requests_total", **ROOT_ROUTE) == 3


def test_an_unusable_metrics_dir_stops_the_start_in_one_line(tmp_path: Path) -> None:
    not_a_dir = tmp_path / "file"
    not_a_dir.write_text("")
    env = isolated_env(
        APP_PORT="1",
        APP_METRICS_DIR=str(not_a_dir / "metrics"),
        APP_SECRETS_DIR=str(tmp_path),
        WEB_CONCURRENCY="2",
    )
    result = subprocess.run(
        [sys.executable, "-m", "app.server"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        f"{NAME}: invalid configuration: APP_METRICS_DIR: cannot use {not_a_dir / 'metrics'}: "
        "Not a directory"
    ]


def test_one_worker_counts_in_memory_and_needs_no_metrics_dir(tmp_path: Path) -> None:
    not_a_dir = tmp_path / "file"
    not_a_dir.write_text("")
    env = {"APP_METRICS_DIR": str(not_a_dir), "PROMETHEUS_MULTIPROC_DIR": str(not_a_dir)}
    with run_server(env=env) as server:
        get_root(server.url, 7)
        samples = scrape(server.url)
        assert value(samples, "http_requests_total", **ROOT_ROUTE) == 7
        # The worker gauges of the one process, labelled with its pid as several workers' are.
        pid = str(server.process.pid)
        assert [labels for labels, _ in samples["app_worker_open_fds"]] == [{"pid": pid}]


def test_metrics_off_serves_no_metrics() -> None:
    with run_server(env={"APP_METRICS": "false"}) as server:
        assert httpx.get(f"{server.url}/metrics").status_code == 404


def test_a_metrics_dir_of_another_user_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(os, "getuid", lambda: os.stat(tmp_path).st_uid + 1)
    with pytest.raises(PermissionError, match="owned by another user"):
        prepare_metrics_dir(tmp_path)
