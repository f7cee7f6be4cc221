"""The Compose stack under a unique project name; always taken down with networks and volumes."""

import os
import re
import subprocess
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from testbed.docker import Container, docker
from testbed.host import ROOT, free_port

# What a developer may set on purpose for the tests (docs/testing.md): the images to build on.
KNOBS = {"PYTHON_IMAGE", "PROXY_IMAGE", "PROMETHEUS_IMAGE"}


def compose_env(env: dict[str, str]) -> dict[str, str]:
    """The environment of a `docker compose` a test runs: this process's without the stack's own
    variables (a developer's API_REPLICAS or PROXY_PORT), the images kept; then `env`."""
    variables = set(re.findall(r"\$\{(\w+)", (ROOT / "compose.yml").read_text())) - KNOBS
    inherited = {name: value for name, value in os.environ.items() if name not in variables}
    return {**inherited, **env}


@dataclass
class Stack:
    project: str
    env: dict[str, str] = field(default_factory=dict)
    # Compose profiles to enable (`monitoring` adds Prometheus).
    profiles: tuple[str, ...] = ()
    # Compose files added to compose.yml (`-f`), for what only a test runs beside the stack.
    overrides: tuple[Path, ...] = ()

    def __post_init__(self) -> None:
        # The HTTPS port (published too) and the certificate manager's image, unless given: a
        # free port, and a tag of the tests' own (never a developer's fastapi-app-certs:latest).
        self.env = {
            "PROXY_TLS_PORT": str(free_port()),
            "CERTS_IMAGE": "fastapi-app-certs:stack-test",
            **self.env,
        }

    def run(
        self, *args: str, check: bool = True, timeout: float = 600
    ) -> subprocess.CompletedProcess[str]:
        """`docker compose` on this project; a developer's .env is not read (`--env-file`)."""
        command = ["compose", "--project-directory", str(ROOT), "--env-file", os.devnull]
        if self.overrides:
            command += ["-f", str(ROOT / "compose.yml")]
            for override in self.overrides:
                command += ["-f", str(override)]
        for profile in self.profiles:
            command += ["--profile", profile]
        return docker(
            *command, "-p", self.project, *args, check=check, timeout=timeout, env=self.environ
        )

    def compose(self, *args: str, check: bool = True, timeout: float = 600) -> str:
        return self.run(*args, check=check, timeout=timeout).stdout

    @property
    def environ(self) -> dict[str, str]:
        """The whole environment of this stack's commands (compose, deploy/rollout)."""
        return compose_env(self.env)

    def leftovers(self) -> list[str]:
        """Containers, networks and volumes still labelled with this project."""
        label = f"label=com.docker.compose.project={self.project}"
        found = []
        for kind in ("container", "network", "volume"):
            listing = ["ls", "-q", "--filter", label] + (["-a"] if kind == "container" else [])
            found += docker(kind, *listing).stdout.split()
        return found

    @property
    def url(self) -> str:
        """Where clients reach the stack: the proxy's HTTPS port on the host (PROXY_TLS_PORT).
        Its certificate is the self-signed one unless a test configures another: clients that
        are not about TLS use `verify=False` (tests/stack/test_https.py checks the certificate)."""
        return f"https://127.0.0.1:{self.env['PROXY_TLS_PORT']}"

    @property
    def http_url(self) -> str:
        """The proxy's plain HTTP port on the host (PROXY_PORT): it redirects to HTTPS."""
        return f"http://127.0.0.1:{self.env['PROXY_PORT']}"

    def containers(self, service: str) -> list[Container]:
        return [Container(id) for id in self.compose("ps", "-q", service).split()]

    def logs(self, service: str) -> list[str]:
        """The raw log lines of the service's containers (compose's own adds terminal codes)."""
        return [line for c in self.containers(service) for line in c.logs().splitlines()]


def stack_env(subnet: str, **values: str) -> dict[str, str]:
    """What a test's stack takes: a free port for plain HTTP, the tests' image tag (never a
    developer's fastapi-app:latest), its own internal network (docs/testing.md), then `values`."""
    return {
        "PROXY_PORT": str(free_port()),
        "API_IMAGE": "fastapi-app:stack-test",
        "BACKEND_SUBNET": subnet,
        **values,
    }


def get(url: str, **kwargs: Any) -> httpx.Response:
    """`httpx.get` to the stack's HTTPS port (see `Stack.url`)."""
    return httpx.get(url, verify=False, **kwargs)


def post(url: str, **kwargs: Any) -> httpx.Response:
    return httpx.post(url, verify=False, **kwargs)


@contextmanager
def compose_up(
    env: dict[str, str],
    timeout: float = 300,
    profiles: tuple[str, ...] = (),
    overrides: tuple[Path, ...] = (),
) -> Iterator[Stack]:
    """`docker compose up --build --wait`; `down --volumes` in every case, which must leave no
    container, network or volume of the project behind (checked unless the body failed)."""
    stack = Stack(
        project=f"fastapi-app-test-{uuid.uuid4().hex[:8]}",
        env=env,
        profiles=profiles,
        overrides=overrides,
    )
    try:
        stack.compose("up", "--build", "--detach", "--wait", "--wait-timeout", str(timeout))
        yield stack
    finally:
        stack.compose("down", "--volumes", "--remove-orphans", "--timeout", "15", check=False)
    left = stack.leftovers()
    if left:
        raise AssertionError(f"`docker compose down` left {left} of {stack.project}")
