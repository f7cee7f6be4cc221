"""The Compose stack under a unique project name; always taken down with networks and volumes."""

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from tests.support.docker import Container, docker
from tests.support.servers import ROOT


@dataclass
class Stack:
    project: str
    env: dict[str, str] = field(default_factory=dict)

    def compose(self, *args: str, check: bool = True, timeout: float = 600) -> str:
        command = ["compose", "--project-directory", str(ROOT), "-p", self.project, *args]
        return docker(*command, check=check, timeout=timeout, env=self.env).stdout

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
        """Where the proxy listens on the host (PROXY_PORT)."""
        return f"http://127.0.0.1:{self.env['PROXY_PORT']}"

    def containers(self, service: str) -> list[Container]:
        return [Container(id) for id in self.compose("ps", "-q", service).split()]

    def logs(self, service: str) -> list[str]:
        """The raw log lines of the service's containers (compose's own adds terminal codes)."""
        return [line for c in self.containers(service) for line in c.logs().splitlines()]


@contextmanager
def compose_up(env: dict[str, str], timeout: float = 300) -> Iterator[Stack]:
    """`docker compose up --build --wait`; `down --volumes` in every case."""
    stack = Stack(project=f"fastapi-app-test-{uuid.uuid4().hex[:8]}", env=env)
    try:
        stack.compose("up", "--build", "--detach", "--wait", "--wait-timeout", str(timeout))
        yield stack
    finally:
        stack.compose("down", "--volumes", "--remove-orphans", "--timeout", "15", check=False)
