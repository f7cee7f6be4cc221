"""The image in a real engine: healthy fast, hardened, small, and stops cleanly."""

import json
import os
import re
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from app import NAME
from app.settings import Settings
from testbed.docker import build_image, docker, run_container
from testbed.host import ROOT

pytestmark = pytest.mark.container

# What production runs with; every container in these tests runs with it.
HARDENED = ("--read-only", "--cap-drop", "ALL", "--security-opt", "no-new-privileges")


def test_healthy_within_2s_and_serves_the_contract(image: str) -> None:
    started = time.monotonic()
    with run_container(image, *HARDENED) as container:
        container.wait_healthy(timeout=10)
        took = time.monotonic() - started
        root = httpx.get(f"{container.url()}/")
        status = httpx.get(f"{container.url()}/info/status")
    assert took < 2, f"healthy {took:.2f} s after docker run"
    assert (root.status_code, root.content) == (200, b'"Hello World"')
    assert (status.status_code, status.content) == (200, b'{"status":"ok"}')


def test_runs_as_a_fixed_non_root_uid(image: str) -> None:
    config = json.loads(docker("image", "inspect", image).stdout)[0]["Config"]
    assert config["User"] == "10001"
    with run_container(image, *HARDENED) as container:
        container.wait_healthy(timeout=10)
        assert container.exec("id", "-u").stdout.strip() == "10001"


@pytest.mark.parametrize("user", ["123456789", "4242:4242"])
def test_runs_under_any_uid(image: str, user: str) -> None:
    with run_container(image, *HARDENED, "--user", user) as container:
        container.wait_healthy(timeout=10)
        assert httpx.get(f"{container.url()}/info/status").content == b'{"status":"ok"}'


def test_docker_stop_exits_0_once_the_drain_ends(image: str) -> None:
    with run_container(image, *HARDENED) as container:
        container.wait_healthy(timeout=10)
        started = time.monotonic()
        docker("stop", container.id)
        took = time.monotonic() - started
        state = container.inspect()["State"]
    assert state["ExitCode"] == 0
    # With nothing in flight, the process ends soon after its drain period.
    drain = Settings.model_fields["drain_seconds"].default
    assert drain <= took < drain + 1.5, f"docker stop took {took:.2f} s"


def test_healthcheck_probes_status_without_curl(image: str) -> None:
    health = json.loads(docker("image", "inspect", image).stdout)[0]["Config"]["Healthcheck"]
    assert health["Test"] == ["CMD", "python", "-m", "app.healthcheck"]
    assert health["StartInterval"] <= 1_000_000_000  # nanoseconds
    assert health["Interval"] >= 30_000_000_000


def test_healthcheck_fails_when_the_app_does_not_answer(image: str) -> None:
    # The probe must be able to say "unhealthy": run it with nothing listening on its port.
    with run_container(image, *HARDENED, command=("sleep", "30")) as container:
        result = container.exec("python", "-m", "app.healthcheck")
    assert result.returncode == 1
    assert "unhealthy" in result.stderr


TOOLS = ("gcc", "cc", "make", "uv", "pip", "pip3", "apk", "apt-get")


def tools_in(image: str) -> set[str]:
    """The build and package tools on the image's PATH, as root."""
    probe = f"import json, shutil; print(json.dumps([t for t in {TOOLS!r} if shutil.which(t)]))"
    result = docker("run", "--rm", "--user", "0", "--entrypoint", "python", image, "-c", probe)
    return set(json.loads(result.stdout))


def base_image() -> str:
    """The base the image was built on: PYTHON_IMAGE, else the Dockerfile's default."""
    default = re.search(r"^ARG PYTHON_IMAGE=(\S+)", (ROOT / "Dockerfile").read_text(), re.M)
    assert default is not None
    return os.environ.get("PYTHON_IMAGE") or default.group(1)


def test_our_build_adds_no_build_tool_and_leaves_no_cache(image: str) -> None:
    # What the base image brings (apk on Alpine, apt-get on Debian) is the base's: the test is on
    # what our build adds or leaves, so that it holds on Alpine and on Debian alike.
    assert tools_in(image) - tools_in(base_image()) == set()
    probe = (
        "import importlib.util, json, os;"
        "print(json.dumps({"
        "'pip': importlib.util.find_spec('pip') is not None,"
        "'app_dir': sorted(os.listdir('/app')),"
        "'uv_cache': os.path.exists('/root/.cache/uv')}))"
    )
    # As root, who can read /root: UID 10001 cannot, and the cache check could not fail.
    result = docker("run", "--rm", "--user", "0", "--entrypoint", "python", image, "-c", probe)
    found = json.loads(result.stdout)
    assert found == {"pip": False, "app_dir": [".venv", "app"], "uv_cache": False}


def test_the_stripped_compiled_modules_still_load(image: str) -> None:
    # docker/strip_debug.py cut them in the builder; uvicorn falls back to asyncio silently if
    # uvloop fails to import, so ask for each one by name.
    probe = "import uvloop, httptools.parser.parser, pydantic_core; print(uvloop.new_event_loop())"
    result = docker("run", "--rm", "--entrypoint", "python", image, "-c", probe)
    assert "uvloop.Loop" in result.stdout


def test_start_up_imports_hash_based_bytecode_and_compiles_nothing(image: str) -> None:
    # PEP 552 flags of a .pyc: 1 is hash-based and unchecked (the dependencies: valid whatever the
    # files' times), 3 hash-based and checked against its source (the app: dev mode edits it).
    probe = (
        "import importlib.util, json, fastapi, uvicorn, app.main\n"
        "def flags(m):\n"
        "    with open(importlib.util.cache_from_source(m.__file__), 'rb') as pyc:\n"
        "        return int.from_bytes(pyc.read()[4:8], 'little')\n"
        "print(json.dumps([flags(fastapi), flags(uvicorn), flags(app.main)]))"
    )
    result = docker("run", "--rm", *HARDENED, "--entrypoint", "python", image, "-c", probe)
    assert json.loads(result.stdout) == [1, 1, 3]
    assert_start_up_imports_its_bytecode(image, *HARDENED)


def assert_start_up_imports_its_bytecode(image: str, *options: str) -> None:
    """What the server and the probe import at start comes from the image's .pyc files, none of
    them stale, the standard library's included (the official bases ship it without bytecode)."""
    verbose = docker(
        "run", "--rm", *options, "--entrypoint", "python", image,
        "-v", "-c", "import app.main, app.server, app.healthcheck",
    ).stderr  # fmt: skip
    assert "# /app/app/__pycache__/main.cpython-" in verbose
    assert "bytecode is stale" not in verbose and "code object from '/app" in verbose
    # `python -v` names where each module's code came from: a .py is compiled at this start.
    loaded = re.findall(r"^# code object from '?([^'\n]+)'?$", verbose, re.M)
    compiled = [path for path in loaded if not path.endswith(".pyc")]
    assert loaded and not compiled, compiled


def test_oci_labels_and_version_come_from_build_arguments(image: str) -> None:
    # The build arguments come last in the Dockerfile: this build reuses every layer of `image`.
    metadata = {"VERSION": "9.8.7", "REVISION": "0123abc", "CREATED": "2026-11-28T00:00:00Z"}
    tag = build_image("fastapi-app:test-labels", **metadata)
    try:
        labels = json.loads(docker("image", "inspect", tag).stdout)[0]["Config"]["Labels"]
        with run_container(tag, *HARDENED) as container:
            container.wait_healthy(timeout=10)
            version = httpx.get(f"{container.url()}/info/version").json()
    finally:
        docker("rmi", tag, check=False)
    oci = "org.opencontainers.image"
    assert labels[f"{oci}.title"] == NAME
    assert (labels[f"{oci}.version"], labels[f"{oci}.revision"], labels[f"{oci}.created"]) == (
        "9.8.7",
        "0123abc",
        "2026-11-28T00:00:00Z",
    )
    assert version == {
        "version": "9.8.7",
        "revision": "0123abc",
        "build_date": "2026-11-28T00:00:00Z",
    }


def test_an_unreadable_secret_file_stops_the_start_with_one_line(
    image: str, tmp_path: Path
) -> None:
    # A host file mounted as a secret, mode 0600, owned by another UID than the container's.
    key = tmp_path / "app_api_key"
    key.write_text("k" * 24)
    key.chmod(0o600)
    mount = f"{key}:/run/secrets/app_api_key:ro"
    user = "10002" if os.getuid() == 10001 else "10001"  # never the file's owner
    result = docker("run", "--rm", "--user", user, "-v", mount, image, check=False)
    assert result.returncode != 0
    assert result.stderr.strip().splitlines() == [
        f"{NAME}: invalid configuration: APP_API_KEY: cannot read /run/secrets/app_api_key: "
        "Permission denied"
    ]


def test_the_image_as_shipped_passes_schema_fuzzing(image: str, tmp_path: Path) -> None:
    # No setting at all: every route the schema lists works without configuration.
    with run_container(image, *HARDENED) as container:
        container.wait_healthy(timeout=10)
        result = subprocess.run(
            ["schemathesis", "run", f"{container.url()}/openapi.json", "--no-color"],
            capture_output=True,
            text=True,
            timeout=300,
            cwd=tmp_path,  # its example database stays out of the repository
        )
    assert result.returncode == 0, result.stdout[-4000:]
    assert "passed" in result.stdout
