"""A real image in a real engine: build once, run containers that are always removed."""

import json
import os
import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, NoReturn

import pytest

from tests.support.servers import ROOT, wait_until

# CI sets this, so that a missing engine fails the run instead of skipping the container tests.
REQUIRE_DOCKER = os.environ.get("FASTAPI_APP_REQUIRE_DOCKER") == "1"


def docker(
    *args: str, check: bool = True, timeout: float = 600, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run the docker CLI, in `env` when given (the whole environment), else in this process's."""
    result = subprocess.run(
        ["docker", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
    )
    if check and result.returncode:
        raise RuntimeError(f"docker {' '.join(args)} failed:\n{result.stderr.strip()}")
    return result


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


def build_image(tag: str, dockerfile: str = "Dockerfile", context: str = ".", **args: str) -> str:
    """Build `tag` from the repository; build arguments from the environment when not given."""
    build_args = {"PYTHON_IMAGE": os.environ.get("PYTHON_IMAGE", ""), **args}
    command = ["build", "-q", "-f", str(ROOT / dockerfile), "-t", tag]
    for name, value in build_args.items():
        if value:
            command += ["--build-arg", f"{name}={value}"]
    docker(*command, str(ROOT / context))
    return tag


@dataclass
class Container:
    id: str

    def inspect(self) -> dict[str, Any]:
        state: dict[str, Any] = json.loads(docker("inspect", self.id).stdout)[0]
        return state

    def health(self) -> str:
        return str(self.inspect()["State"].get("Health", {}).get("Status", "none"))

    def url(self, port: int = 8000) -> str:
        host_port = docker("port", self.id, str(port)).stdout.splitlines()[0]
        return f"http://{host_port.replace('0.0.0.0', '127.0.0.1')}"

    def logs(self) -> str:
        result = docker("logs", self.id, check=False)
        return result.stdout + result.stderr

    def exec(self, *command: str) -> subprocess.CompletedProcess[str]:
        return docker("exec", self.id, *command, check=False)

    def wait_healthy(self, timeout: float) -> float:
        """Poll until healthy; return the seconds it took from now."""
        start = time.monotonic()
        wait_until(lambda: self.health() == "healthy", timeout, f"container {self.id[:12]} healthy")
        return time.monotonic() - start


def in_netns(container: Container, *command: str) -> list[str]:
    """`command` run inside the container's network namespace (nsenter: root only)."""
    pid = str(container.inspect()["State"]["Pid"])
    return ["nsenter", "--target", pid, "--net", *command]


@contextmanager
def run_container(image: str, *options: str, command: tuple[str, ...] = ()) -> Iterator[Container]:
    """`docker run -d` with a unique name and a random host port; removed in every case."""
    name = f"fastapi-app-test-{uuid.uuid4().hex[:8]}"
    result = docker("run", "-d", "--name", name, "-p", "127.0.0.1::8000", *options, image, *command)
    container = Container(id=result.stdout.strip())
    try:
        yield container
    finally:
        docker("rm", "-f", "-v", name, check=False)
