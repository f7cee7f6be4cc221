"""What a test needs from the machine (an engine, a tool): without it, skip; in CI, fail."""

import os
import shutil
from typing import NoReturn

import pytest

from testbed.docker import docker

# CI sets this, so that a missing engine fails the run instead of skipping the container tests.
REQUIRE_DOCKER = os.environ.get("FASTAPI_APP_REQUIRE_DOCKER") == "1"


def require_engine() -> None:
    """Skip (or, in CI, fail) when no Docker engine answers."""
    reason = None
    if shutil.which("docker") is None:
        reason = "no docker client on PATH"
    elif docker("version", "--format", "{{.Server.Version}}", check=False, timeout=30).returncode:
        reason = "no Docker engine answers (start one with .ci/engine start)"
    if reason is not None:
        unavailable(reason)


def require_tools(*names: str) -> None:
    """Skip (or, in CI, fail) when a tool the test runs on the host is not on PATH."""
    missing = [name for name in names if shutil.which(name) is None]
    if missing:
        unavailable(f"not on PATH: {', '.join(missing)} (docs/testing.md)")


def unavailable(reason: str) -> NoReturn:
    """What a test does without something it needs: skip with the reason, or in CI (where
    everything must run) fail with it."""
    if REQUIRE_DOCKER:
        pytest.fail(f"FASTAPI_APP_REQUIRE_DOCKER=1 but {reason}", pytrace=False)
    pytest.skip(reason)
