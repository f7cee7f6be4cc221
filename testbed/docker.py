"""A real engine: the docker CLI, images built from the repository, containers always removed."""

import json
import os
import subprocess
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from testbed.host import ROOT, wait_until


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


def lost_snapshot(stderr: str) -> bool:
    """Whether a build failed on the engine's own race with the containerd image store: "failed to
    prepare extraction snapshot ...: parent snapshot ... does not exist" (moby/buildkit#6521, open
    and intermittent). Such a build is worth one more try; any other failure is the build's."""
    return "failed to prepare extraction snapshot" in stderr and "does not exist" in stderr


def build(*args: str, timeout: float = 600) -> float:
    """`docker build ARGS`, tried once more after a lost snapshot; the seconds its last try took."""
    for attempt in (1, 2):
        started = time.monotonic()
        result = docker("build", *args, check=False, timeout=timeout)
        if result.returncode == 0:
            return time.monotonic() - started
        if attempt == 2 or not lost_snapshot(result.stderr):
            break
    raise RuntimeError(f"docker build {' '.join(args)} failed:\n{result.stderr.strip()[-3000:]}")


def build_image(tag: str, dockerfile: str = "Dockerfile", context: str = ".", **args: str) -> str:
    """Build `tag` from the repository; build arguments from the environment when not given."""
    build_args = {"PYTHON_IMAGE": os.environ.get("PYTHON_IMAGE", ""), **args}
    command = ["-q", "-f", str(ROOT / dockerfile), "-t", tag]
    for name, value in build_args.items():
        if value:
            command += ["--build-arg", f"{name}={value}"]
    build(*command, str(ROOT / context))
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
