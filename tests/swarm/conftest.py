"""One three-node swarm for every swarm test, the stack deployed on it from the registry."""

import os
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from testbed.docker import build_image
from testbed.swarm import Cluster, swarm_cluster
from tests.support.needs import require_engine

STACK = "app"
# The nodes' bridge network; the stack's internal overlay (BACKEND_SUBNET) lives inside the nodes.
NODE_SUBNET = "10.231.230.0/24"
BACKEND_SUBNET = "10.231.231.0/24"
# The edge's ports on each edge node.
HTTP_PORT, HTTPS_PORT = 8080, 8443


def pytest_runtest_setup() -> None:
    require_engine()


@dataclass
class Deployment:
    """The stack as deployed, and what a test may change to deploy it again."""

    cluster: Cluster
    env: dict[str, str]
    api_key_file: Path

    def deploy(self, **changes: str) -> "DeployResult":
        result = self.cluster.deploy(STACK, {**self.env, **changes})
        return DeployResult(result.returncode, result.stderr)

    def edge_url(self, node: int, path: str = "", scheme: str = "https") -> str:
        """The edge on that node (0, 1 or 2): HTTPS, where HTTP redirects to (docs/https.md)."""
        port = HTTPS_PORT if scheme == "https" else HTTP_PORT
        return f"{scheme}://{self.cluster.nodes[node].address}:{port}{path}"


@dataclass
class DeployResult:
    returncode: int
    stderr: str


@pytest.fixture(scope="package")
def deployment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    api = build_image("fastapi-app:swarm-test")
    certs = build_image("fastapi-app-certs:swarm-test", "certs/Dockerfile")
    # The official image by default; CI's stand-in (PROXY_IMAGE) where no registry is reachable.
    proxy = os.environ.get("PROXY_IMAGE", "haproxy:3.0.11-alpine")
    api_key_file = tmp_path_factory.mktemp("swarm-secrets") / "api_key"
    api_key_file.write_text(secrets.token_hex(16) + "\n")
    with swarm_cluster(NODE_SUBNET) as cluster:
        env = {
            "API_IMAGE": cluster.push(api),
            "CERTS_IMAGE": cluster.push(certs),
            "PROXY_IMAGE": cluster.push(proxy),
            "API_KEY_FILE": str(api_key_file),
            "BACKEND_SUBNET": BACKEND_SUBNET,
            "PROXY_PORT": str(HTTP_PORT),
            "PROXY_TLS_PORT": str(HTTPS_PORT),
            # All the load comes from one address, the host's (docs/stack.md).
            "CLIENT_MAX_RATE": "1000000",
        }
        deployment = Deployment(cluster, env, api_key_file)
        result = deployment.deploy()
        assert result.returncode == 0, result.stderr
        yield deployment
