"""deploy/swarm/ on a real three-node swarm: the contract on every edge node, rollouts, secret
rotation, node maintenance and failures, under load through the edge.

The tests share one cluster and run in this order; the last one kills the leader's node.
"""

import json
import os
import time
import uuid
from typing import Any

import httpx
import pytest

from testbed.compose import get
from testbed.host import wait_until
from testbed.swarm import REGISTRY
from tests.support.loadgen import Load
from tests.swarm.conftest import STACK, Deployment

pytestmark = [pytest.mark.swarm, pytest.mark.timeout(900)]

API = f"{STACK}_api"
PROXY = f"{STACK}_proxy"
# The edge's check of a replica (deploy/haproxy/haproxy.cfg: `inter 1s fall 1`, a connect timeout
# of 500 ms) marks a dead one down within about two seconds; the margin is for a busy machine.
MARKED_DOWN_WITHIN = 5.0
# Once the leader is lost, the managers left elect another, which sees the node gone once its
# heartbeats stop (5 s period, a few missed) and starts its tasks elsewhere.
RESCHEDULED_WITHIN = 180.0


def inspect(deployment: Deployment, service: str) -> dict[str, Any]:
    output = deployment.cluster.manager.docker("service", "inspect", service).stdout
    spec: dict[str, Any] = json.loads(output)[0]
    return spec


def task_ids(deployment: Deployment, service: str) -> set[str]:
    output = deployment.cluster.manager.docker(
        "service", "ps", "-q", "-f", "desired-state=running", service
    ).stdout
    return set(output.split())


def converged(deployment: Deployment, service: str = API, replicas: int = 3) -> bool:
    return len(deployment.cluster.running(service)) == replicas


def assert_no_failures(load: Load) -> None:
    summary = load.summary()
    assert summary["200"] > 100, summary
    assert set(summary) == {"200"}, summary


def test_the_contract_on_every_edge_node(deployment: Deployment) -> None:
    for node in (0, 1):
        assert get(deployment.edge_url(node, "/")).content == b'"Hello World"'
        assert get(deployment.edge_url(node, "/info/status")).content == b'{"status":"ok"}'
        assert get(deployment.edge_url(node, "/docs")).status_code == 200
        assert get(deployment.edge_url(node, "/redoc")).status_code == 200
        plain = httpx.get(deployment.edge_url(node, "/info/status", scheme="http"))
        assert plain.status_code in (301, 308)
        assert plain.headers["Location"].startswith("https://")
    # The third node is no edge: nothing listens on its ports.
    for scheme in ("http", "https"):
        with pytest.raises(httpx.ConnectError):
            get(deployment.edge_url(2, "/", scheme=scheme))


def test_the_edge_sees_the_clients_own_address(deployment: Deployment) -> None:
    # Host mode: the peer is the client (here the host, on the nodes' network), where the routing
    # mesh would show a node's address.
    rid = uuid.uuid4().hex
    assert get(deployment.edge_url(0, "/"), headers={"X-Request-ID": rid}).status_code == 200
    host = deployment.cluster.gateway

    def logged() -> list[dict[str, Any]]:
        output = deployment.cluster.manager.docker("service", "logs", "--raw", PROXY).stdout
        return [json.loads(line) for line in output.splitlines() if rid in line]

    wait_until(lambda: bool(logged()), 30, "the request's access line")
    [line] = logged()
    assert line["client"] == host


def test_every_service_is_hardened(deployment: Deployment) -> None:
    for service in (API, PROXY, f"{STACK}_certs"):
        spec = inspect(deployment, service)["Spec"]["TaskTemplate"]
        container = spec["ContainerSpec"]
        assert container["ReadOnly"] is True, service
        assert container["CapabilityDrop"] == ["ALL"], service
        assert spec["Resources"]["Limits"]["Pids"] > 0, service
        assert spec["Resources"]["Limits"]["MemoryBytes"] > 0, service
    api = inspect(deployment, API)["Spec"]
    assert api["EndpointSpec"]["Mode"] == "dnsrr"
    assert api["UpdateConfig"]["Order"] == "start-first"
    assert api["UpdateConfig"]["FailureAction"] == "rollback"
    [secret] = api["TaskTemplate"]["ContainerSpec"]["Secrets"]
    assert secret["File"]["Name"] == "app_api_key"
    assert inspect(deployment, PROXY)["Spec"]["TaskTemplate"]["ContainerSpec"]["User"] == "99:99"


def test_a_deploy_with_nothing_changed_replaces_nothing(deployment: Deployment) -> None:
    before = task_ids(deployment, API) | task_ids(deployment, PROXY)
    result = deployment.deploy()
    assert result.returncode == 0, result.stderr
    assert result.stderr.strip().splitlines()[-1] == f"deploy: {STACK} is up to date"
    assert task_ids(deployment, API) | task_ids(deployment, PROXY) == before


def test_a_rolling_update_loses_no_request(deployment: Deployment) -> None:
    before = task_ids(deployment, API)
    with Load(deployment.edge_url(0, "/info/status"), connections=4) as load:
        load.wait_flowing()
        result = deployment.deploy(API_ACCESS_LOG="true")
    assert result.returncode == 0, result.stderr
    assert task_ids(deployment, API).isdisjoint(before)
    assert_no_failures(load)


def test_a_rotated_secret_loses_no_request(deployment: Deployment) -> None:
    url = deployment.edge_url(1, "/private/hello")
    old_key = deployment.api_key_file.read_text().strip()
    assert get(url, headers={"Authorization": f"Bearer {old_key}"}).status_code == 200
    new_key = uuid.uuid4().hex
    deployment.api_key_file.write_text(new_key + "\n")
    with Load(deployment.edge_url(1, "/info/status"), connections=4) as load:
        load.wait_flowing()
        result = deployment.deploy()
    assert result.returncode == 0, result.stderr
    assert_no_failures(load)
    assert get(url, headers={"Authorization": f"Bearer {new_key}"}).status_code == 200
    assert get(url, headers={"Authorization": f"Bearer {old_key}"}).status_code == 401
    # The old version, in use by no task, was removed with the deploy.
    names = deployment.cluster.manager.docker("secret", "ls", "--format", "{{.Name}}").stdout
    assert len([name for name in names.split() if name.startswith(f"{STACK}_api_key_")]) == 1


def test_a_drained_node_loses_no_request(deployment: Deployment) -> None:
    # A node with an API replica, other than the first, whose edge carries the load (a drained
    # node stops its proxy too). Rollouts need not leave one replica on each node.
    manager, running = deployment.cluster.manager, deployment.cluster.running(API)
    others = [node.hostname for node in deployment.cluster.nodes[1:]]
    node = next(hostname for hostname in reversed(others) if hostname in running)
    with Load(deployment.edge_url(0, "/info/status"), connections=4) as load:
        load.wait_flowing()
        try:
            manager.docker("node", "update", "--availability", "drain", node)
            wait_until(
                lambda: node not in deployment.cluster.running(API) and converged(deployment),
                120,
                f"the API's tasks to leave {node}",
            )
        finally:
            manager.docker("node", "update", "--availability", "active", node)
        load.wait_flowing(len(load.outcomes) + 100)
    assert_no_failures(load)


def test_a_missing_secret_stops_the_deploy_before_anything_changes(
    deployment: Deployment,
) -> None:
    before = inspect(deployment, API)["Version"]["Index"]
    result = deployment.deploy(API_KEY_FILE="/nonexistent/api_key")
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        "deploy: API_KEY_FILE: /nonexistent/api_key is not a readable file"
    ]
    assert inspect(deployment, API)["Version"]["Index"] == before


def test_an_image_the_nodes_cannot_pull_is_rolled_back(deployment: Deployment) -> None:
    image = inspect(deployment, API)["Spec"]["TaskTemplate"]["ContainerSpec"]["Image"]
    missing = f"{REGISTRY}/fastapi-app@sha256:{'0' * 64}"
    with Load(deployment.edge_url(0, "/info/status"), connections=4) as load:
        load.wait_flowing()
        result = deployment.deploy(API_IMAGE=missing)
    assert result.returncode == 1
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith(f"deploy: {API}: the new version was rolled back, the running one kept:")
    assert inspect(deployment, API)["Spec"]["TaskTemplate"]["ContainerSpec"]["Image"] == image
    assert converged(deployment)
    assert_no_failures(load)
    # The next deploy of the running version is no rollback of its own.
    result = deployment.deploy()
    assert result.returncode == 0, result.stderr


def test_a_relative_secret_path_is_the_callers(deployment: Deployment) -> None:
    # `docker stack deploy` alone would look for it beside stack.yml.
    relative = os.path.relpath(deployment.api_key_file)
    result = deployment.deploy(API_KEY_FILE=relative)
    assert result.returncode == 0, result.stderr
    assert result.stderr.strip().splitlines()[-1] == f"deploy: {STACK} is up to date"


def test_the_leader_killed_loses_only_the_requests_in_flight_on_it(
    deployment: Deployment,
) -> None:
    cluster = deployment.cluster
    # The node that leads the swarm, an edge node with API tasks (the drain above moved tasks to
    # the nodes with the fewest, this one among them): its machine gone at once. The two managers
    # left keep the quorum, elect a leader, and schedule its tasks on the nodes left; the load
    # comes through the other edge node.
    victim = cluster.nodes[0]
    assert cluster.leader() == victim.hostname
    assert victim.hostname in cluster.running(API)
    connections = 8
    with Load(deployment.edge_url(1, "/info/status"), connections=connections) as load:
        load.wait_flowing()
        cluster.kill(victim)
        killed = time.monotonic()
        wait_until(
            lambda: converged(deployment) and victim.hostname not in cluster.running(API),
            RESCHEDULED_WITHIN,
            "the API's replicas back to 3 on the nodes left",
        )
        rescheduled = time.monotonic() - killed
        load.wait_flowing(len(load.outcomes) + 100)
    print(f"replicas back to 3 in {rescheduled:.1f} s; outcomes {load.summary()}")
    failed = {outcome: n for outcome, n in load.summary().items() if outcome != "200"}
    # At most one request lost a connection: the one each had in flight on the dead node.
    assert sum(failed.values()) <= connections, failed
    late = load.failed_sent_after(killed + MARKED_DOWN_WITHIN)
    assert not late, late
    assert cluster.leader() != victim.hostname
    nodes = cluster.manager.docker("node", "ls", "--format", "{{.Hostname}} {{.Status}}").stdout
    assert f"{victim.hostname} Down" in nodes.splitlines()
