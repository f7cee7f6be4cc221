"""A Docker Swarm of three nodes on this one machine, and the registry its nodes pull from.

Each node is a Docker Engine in a privileged container (SWARM_NODE_IMAGE, the official
docker:dind by default) on a bridge network of its own, every one a manager. The registry
(REGISTRY_IMAGE, the official registry:2 by default) is on that network as `registry:5000`; the
host pushes to it through a port on its loopback. Each node's engine socket is bound into a
directory on the host, so the host's docker CLI drives it as a user's drives a remote manager
(DOCKER_HOST). Everything is removed on the way out: containers, their volumes, the network, the
tags pushed.
"""

import ipaddress
import os
import re
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from testbed.docker import docker
from testbed.host import ROOT, wait_until

NODE_IMAGE = os.environ.get("SWARM_NODE_IMAGE", "docker:28-dind")
REGISTRY_IMAGE = os.environ.get("REGISTRY_IMAGE", "registry:2")
STACK_FILE = ROOT / "deploy" / "swarm" / "stack.yml"
DEPLOY = ROOT / "deploy" / "swarm" / "deploy"
# What the nodes call the registry, and what they are told to pull from over plain HTTP.
REGISTRY = "registry:5000"
# What a manager answers while the swarm has no leader.
NO_LEADER = ("context deadline exceeded", "does not have a leader")


@dataclass
class Node:
    container: str
    hostname: str
    socket: Path
    address: str = ""

    @property
    def environ(self) -> dict[str, str]:
        """This process's environment with the docker CLI pointed at this node's engine."""
        inherited = {k: v for k, v in os.environ.items() if k not in {"DOCKER_CONTEXT"}}
        return {**inherited, "DOCKER_HOST": f"unix://{self.socket}"}

    def docker(
        self, *args: str, check: bool = True, timeout: float = 300
    ) -> subprocess.CompletedProcess[str]:
        return docker(*args, check=check, timeout=timeout, env=self.environ)

    def answers(self) -> bool:
        return self.docker("version", check=False, timeout=10).returncode == 0


@dataclass
class Cluster:
    name: str
    nodes: list[Node]
    registry_port: int
    # The host's own address on the nodes' network: what the nodes see as the tests' client.
    gateway: str = ""
    pushed: list[str] = field(default_factory=list)
    killed: set[str] = field(default_factory=set)

    @property
    def manager(self) -> Node:
        """The node the tests drive the swarm through: the first one alive (all are managers)."""
        return next(node for node in self.nodes if node.hostname not in self.killed)

    def push(self, image: str) -> str:
        """Push a local image to the registry; the reference the nodes pull it by (its digest)."""
        repository = image.rsplit(":", 1)[0].rsplit("/", 1)[-1]
        tag = f"127.0.0.1:{self.registry_port}/{repository}:{self.name}"
        docker("tag", image, tag)
        self.pushed.append(tag)
        output = docker("push", tag).stdout
        [digest] = re.findall(r"digest: (sha256:[0-9a-f]{64})", output)
        return f"{REGISTRY}/{repository}@{digest}"

    def deploy(self, stack: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
        """deploy/swarm/deploy STACK through the manager, in an environment of the stack's
        variables from `env` only (a developer's own API_IMAGE or API_KEY_FILE are left out)."""
        variables = set(re.findall(r"\$\{(\w+)", STACK_FILE.read_text()))
        base = {k: v for k, v in self.manager.environ.items() if k not in variables}
        return subprocess.run(
            [str(DEPLOY), stack],
            capture_output=True,
            text=True,
            timeout=600,
            env={**base, **env},
        )

    def kill(self, node: Node) -> None:
        """The node's machine gone at once: its engine and every container on it (SIGKILL)."""
        docker("kill", node.container)
        self.killed.add(node.hostname)

    def leader(self) -> str:
        """The hostname of the manager that leads the swarm now."""
        output = self.manager.docker(
            "node", "ls", "--format", "{{.Hostname}} {{.ManagerStatus}}"
        ).stdout
        return next(line.split()[0] for line in output.splitlines() if line.endswith(" Leader"))

    def service_tasks(self, service: str) -> list[tuple[str, str]]:
        """(node, state) of the service's tasks that should be running; none while the managers
        elect a leader (they answer nothing meanwhile)."""
        template = "{{.Node}} {{.CurrentState}}"
        command = ("service", "ps", service, "-f", "desired-state=running", "--format", template)
        result = self.manager.docker(*command, check=False)
        if result.returncode and any(reason in result.stderr for reason in NO_LEADER):
            return []
        if result.returncode:
            raise RuntimeError(f"docker service ps {service} failed:\n{result.stderr.strip()}")
        return [(line.split()[0], line.split()[1]) for line in result.stdout.splitlines()]

    def running(self, service: str) -> list[str]:
        """The nodes of the service's running tasks."""
        return [node for node, state in self.service_tasks(service) if state == "Running"]


def node_address(container: str, network: str) -> str:
    template = f'{{{{(index .NetworkSettings.Networks "{network}").IPAddress}}}}'
    return docker("inspect", "-f", template, container).stdout.strip()


@contextmanager
def swarm_cluster(subnet: str, size: int = 3, edge_nodes: int = 2) -> Iterator[Cluster]:
    """`size` managers; the first `edge_nodes` labelled `fastapi-app.edge=true` (the proxy's)."""
    name = f"fastapi-app-swarm-{uuid.uuid4().hex[:8]}"
    sockets = Path(tempfile.mkdtemp(prefix=f"{name}-"))
    containers: list[str] = []
    cluster = Cluster(name=name, nodes=[], registry_port=0)
    try:
        cluster.gateway = str(ipaddress.ip_network(subnet)[1])
        docker("network", "create", "--subnet", subnet, "--gateway", cluster.gateway, name)
        registry = f"{name}-registry"
        docker(
            "run",
            "-d",
            "--name",
            registry,
            "--network",
            name,
            "--network-alias",
            "registry",
            "-p",
            "127.0.0.1::5000",
            REGISTRY_IMAGE,
        )
        containers.append(registry)
        cluster.registry_port = int(docker("port", registry, "5000").stdout.split(":")[-1])
        for index in range(1, size + 1):
            hostname = f"node{index}"
            node = Node(f"{name}-{hostname}", hostname, sockets / hostname / "docker.sock")
            node.socket.parent.mkdir()
            docker(
                "run",
                "-d",
                "--privileged",
                "--name",
                node.container,
                "--hostname",
                node.hostname,
                "--network",
                name,
                "-v",
                f"{node.socket.parent}:/run/host",
                "-v",
                "/var/lib/docker",
                NODE_IMAGE,
                "dockerd",
                "--insecure-registry",
                REGISTRY,
                "-H",
                "unix:///var/run/docker.sock",
                "-H",
                "unix:///run/host/docker.sock",
            )
            containers.append(node.container)
            node.address = node_address(node.container, name)
            cluster.nodes.append(node)
        for node in cluster.nodes:
            wait_until(node.answers, 60, f"the engine of {node.hostname}")
        first, *others = cluster.nodes
        first.docker("swarm", "init", "--advertise-addr", first.address)
        token = first.docker("swarm", "join-token", "-q", "manager").stdout.strip()
        for node in others:
            node.docker("swarm", "join", "--token", token, f"{first.address}:2377")
        for node in cluster.nodes[:edge_nodes]:
            first.docker("node", "update", "--label-add", "fastapi-app.edge=true", node.hostname)
        yield cluster
    finally:
        if containers:
            docker("rm", "-f", "-v", *containers, check=False, timeout=120)
        docker("network", "rm", name, check=False)
        for tag in cluster.pushed:
            docker("rmi", tag, check=False)
        shutil.rmtree(sockets, ignore_errors=True)
