"""Development mode: `docker compose -f compose.yml -f compose.dev.yml watch` reloads edits, and the
production stack and image stay as they are."""

import json
import os
import shutil
import signal
import subprocess
from pathlib import Path

import httpx
import pytest

from testbed.compose import compose_env
from testbed.docker import docker
from testbed.host import ROOT, free_port, wait_until

pytestmark = pytest.mark.stack


def copy_of_the_repository(into: Path) -> Path:
    files = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.splitlines()
    for name in files:
        if (ROOT / name).is_file():
            (into / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, into / name)
    return into


def says(url: str, text: bytes) -> bool:
    try:
        return httpx.get(url, timeout=2, verify=False).content == text
    except httpx.HTTPError:
        return False


def test_the_production_stack_does_not_load_dev_mode() -> None:
    assert not (ROOT / "compose.override.yml").exists()
    config = docker(
        "compose",
        "--project-directory",
        str(ROOT),
        "--env-file",
        os.devnull,
        "config",
        "--format",
        "json",
        env=compose_env({}),
    )
    api = json.loads(config.stdout)["services"]["api"]
    assert api.get("command") is None  # the image's CMD
    assert api["read_only"] is True


def test_watch_reloads_an_edit(tmp_path: Path) -> None:
    repo = copy_of_the_repository(tmp_path)
    port = free_port()
    env = compose_env(
        {
            "PROXY_PORT": str(free_port()),
            "PROXY_TLS_PORT": str(port),
            "API_IMAGE": "fastapi-app:dev-test",
            "CERTS_IMAGE": "fastapi-app-certs:dev-test",
            "BACKEND_SUBNET": "10.231.247.0/24",
        }
    )
    command = [
        "docker",
        "compose",
        "-p",
        f"fastapi-app-dev-{port}",
        "-f",
        "compose.yml",
        "-f",
        "compose.dev.yml",
    ]
    url = f"https://127.0.0.1:{port}/"
    watch = subprocess.Popen(
        [*command, "watch"],
        cwd=repo,
        env=env,
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_until(lambda: says(url, b'"Hello World"'), 180, "the dev stack")
        root = repo / "app" / "routes" / "root.py"
        root.write_text(root.read_text().replace('return "Hello World"', 'return "Hello Dev"'))
        wait_until(lambda: says(url, b'"Hello Dev"'), 30, "the edit to be served")
    finally:
        os.killpg(watch.pid, signal.SIGTERM)
        watch.wait(timeout=30)
        subprocess.run(
            [*command, "down", "--volumes", "--timeout", "5"],
            cwd=repo,
            env=env,
            capture_output=True,
            timeout=120,
        )
    cmd = json.loads(docker("image", "inspect", "fastapi-app:dev-test").stdout)[0]["Config"]["Cmd"]
    assert cmd == ["python", "-m", "app.server"]
