"""app.workers: how many workers, from the CPU quota, never from the host."""

import os
from pathlib import Path

import pytest

from app.workers import cpu_quota, worker_count
from tests.support.settings import make_settings


def cgroup_v2(root: Path, cpu_max: str) -> Path:
    (root / "cpu.max").write_text(f"{cpu_max}\n")
    return root


def cgroup_v1(root: Path, quota: int, period: int = 100000) -> Path:
    (root / "cpu").mkdir()
    (root / "cpu" / "cpu.cfs_quota_us").write_text(f"{quota}\n")
    (root / "cpu" / "cpu.cfs_period_us").write_text(f"{period}\n")
    return root


@pytest.mark.parametrize(
    ("cpu_max", "expected"),
    [("200000 100000", 2.0), ("150000 100000", 1.5), ("50000 100000", 0.5), ("max 100000", None)],
)
def test_cgroup_v2_quota(tmp_path: Path, cpu_max: str, expected: float | None) -> None:
    assert cpu_quota(cgroup_v2(tmp_path, cpu_max)) == expected


@pytest.mark.parametrize(("quota", "expected"), [(200000, 2.0), (50000, 0.5), (-1, None)])
def test_cgroup_v1_quota(tmp_path: Path, quota: int, expected: float | None) -> None:
    assert cpu_quota(cgroup_v1(tmp_path, quota)) == expected


def test_no_cgroup_information_means_no_quota(tmp_path: Path) -> None:
    assert cpu_quota(tmp_path) is None


def test_garbage_in_cpu_max_means_no_quota(tmp_path: Path) -> None:
    assert cpu_quota(cgroup_v2(tmp_path, "lots of cpus")) is None


@pytest.fixture
def eight_cpus(monkeypatch: pytest.MonkeyPatch) -> None:
    """The process may run on 8 CPUs, whatever this machine has."""
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(8)))


@pytest.mark.parametrize(
    ("cpu_max", "workers"),
    [
        ("50000 100000", 1),
        ("100000 100000", 1),
        ("150000 100000", 2),  # 1.5 CPUs: two workers can use it all, one could not
        ("400000 100000", 4),
        ("1600000 100000", 8),  # never more than the CPUs it may run on
    ],
)
@pytest.mark.usefixtures("eight_cpus")
def test_workers_follow_the_quota(tmp_path: Path, cpu_max: str, workers: int) -> None:
    assert worker_count(make_settings(), cgroup_v2(tmp_path, cpu_max)) == workers


def test_one_worker_without_a_quota_whatever_the_host_has(tmp_path: Path) -> None:
    assert worker_count(make_settings(), cgroup_v2(tmp_path, "max 100000")) == 1
    assert worker_count(make_settings(), tmp_path) == 1


def test_web_concurrency_wins_over_the_quota(tmp_path: Path) -> None:
    assert worker_count(make_settings(workers=3), cgroup_v2(tmp_path, "100000 100000")) == 3
