"""The same commit gives the same image, bit for bit (scripts/build-reproducible): two builds from
two fresh clones made at different times (the second under another umask), with no build cache, for
linux/amd64 and linux/arm64 (under emulation). And the image so built runs as the usual one does.

Needs Docker's containerd image store (Docker Engine 29's default; `.ci/engine` turns it on).
"""

import os
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from testbed.docker import docker, run_container
from testbed.host import ROOT
from tests.container.test_image import assert_start_up_imports_its_bytecode
from tests.support.builds import BUILD_TIMEOUT, Build, build, clone, require_containerd_store
from tests.support.needs import require_engine

pytestmark = pytest.mark.container


@pytest.fixture(scope="module")
def engine() -> None:
    require_engine()
    require_containerd_store()


@pytest.fixture(scope="module")
def amd64_builds(engine: None, tmp_path_factory: pytest.TempPathFactory) -> list[Build]:
    base = os.environ.get("PYTHON_IMAGE")
    root = tmp_path_factory.mktemp("reproducible-amd64")
    return [
        build(clone(root / "a", "022"), "linux/amd64", base),
        build(clone(root / "b", "002"), "linux/amd64", base),
    ]


def test_two_amd64_builds_of_one_commit_give_the_same_image(amd64_builds: list[Build]) -> None:
    first, second = amd64_builds
    assert list(first.digests) == ["linux/amd64"]
    assert first.digests == second.digests
    # Not only the manifest: the archives are the same bytes.
    assert first.archive.read_bytes() == second.archive.read_bytes()


# Two builds with no layer cache under emulation: together they took over pytest's 300 s default
# on a new machine, whose build cache mounts were empty; that default would judge how fast a
# machine emulates arm64, not whether the builds agree.
# The first build is the session's (tests/container/conftest.py), which test_arm64.py runs.
@pytest.mark.timeout(2 * BUILD_TIMEOUT)
def test_two_arm64_builds_of_one_commit_give_the_same_digest(
    engine: None, arm64_build: Build, tmp_path: Path
) -> None:
    first = arm64_build
    second = build(
        clone(tmp_path / "b", "002"), "linux/arm64", os.environ.get("PYTHON_ARM64_IMAGE")
    )
    assert list(first.digests) == ["linux/arm64"]
    assert first.digests == second.digests


def test_the_reproducible_image_runs_and_records_the_commit(amd64_builds: list[Build]) -> None:
    # Loaded untagged, as its manifest digest (the containerd store's image ID); removed after,
    # unless it was there before.
    image = amd64_builds[0].digests["linux/amd64"]
    existed = docker("image", "inspect", image, check=False).returncode == 0
    loaded = docker("load", "--quiet", "--input", str(amd64_builds[0].archive)).stdout
    assert image in loaded, loaded
    try:
        with run_container(image, "--cpus", "1", "--read-only") as container:
            container.wait_healthy(timeout=30)
            assert httpx.get(f"{container.url()}/info/status").content == b'{"status":"ok"}'
            version = httpx.get(f"{container.url()}/info/version").json()
        commit = subprocess.run(
            ["git", "-C", str(ROOT), "log", "-1", "--format=%H %ct"],
            capture_output=True, text=True, check=True,
        ).stdout.split()  # fmt: skip
        created = datetime.fromtimestamp(int(commit[1]), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        assert (version["revision"], version["build_date"]) == (commit[0], created)
        # Its file times clamped to the commit's time, the hash-based bytecode is still used.
        assert_start_up_imports_its_bytecode(image, "--read-only")
    finally:
        if not existed:
            docker("image", "rm", image, check=False)
