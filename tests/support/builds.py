"""Reproducible builds for the image tests: fresh clones of HEAD built by scripts/build-reproducible
with no build cache, and what those builds need from the machine."""

import json
import platform
import subprocess
from dataclasses import dataclass
from pathlib import Path

from testbed.docker import docker
from testbed.host import ROOT
from tests.support.needs import unavailable

# Seconds one build may take: an arm64 one under emulation on a busy machine included.
BUILD_TIMEOUT = 900


def require_arm64_emulation() -> None:
    """Skip (in CI: fail) when this machine cannot run arm64 binaries."""
    if platform.machine() in ("aarch64", "arm64"):
        return
    entry = Path("/proc/sys/fs/binfmt_misc/qemu-aarch64")
    if entry.exists() and entry.read_text().startswith("enabled"):
        return
    reason = "no arm64 emulation (qemu-user-static with binfmt_misc: see docs/delivery.md)"
    unavailable(reason)


def require_containerd_store() -> None:
    """Skip (in CI: fail) without the containerd image store: Docker's builder then cannot write an
    OCI archive with rewritten file times, and a loaded image's ID is not its manifest digest."""
    status = json.loads(docker("info", "--format", "{{json .DriverStatus}}").stdout) or []
    if ["driver-type", "io.containerd.snapshotter.v1"] in status:
        return
    reason = "no containerd image store: turn it on (docs/delivery.md#reproducible-builds)"
    unavailable(reason)


def clone(into: Path, umask: str) -> Path:
    subprocess.run(
        ["sh", "-c", f'umask {umask} && git clone --quiet --no-hardlinks "$0" "$1"', ROOT, into],
        check=True,
        timeout=120,
    )
    return into


@dataclass
class Build:
    digests: dict[str, str]  # what the script printed: platform -> manifest digest
    archive: Path  # the OCI archive it wrote


def build(clone: Path, platform: str, base: str | None) -> Build:
    """Build HEAD of `clone` with no build cache."""
    command = [str(clone / "scripts/build-reproducible"), "--platform", platform]
    if base:
        command += ["--base", base]
    result = subprocess.run(
        [*command, "--", "--no-cache", "--progress", "quiet"],
        capture_output=True,
        text=True,
        timeout=BUILD_TIMEOUT,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    [archive] = (clone / "build/images").glob("*.tar")
    return Build(dict(line.split() for line in result.stdout.splitlines()), archive)
