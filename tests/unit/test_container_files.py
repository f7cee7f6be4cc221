"""Static checks of the container files: no engine needed."""

import subprocess

from tests.support.servers import ROOT


def test_hadolint_finds_nothing_in_the_dockerfile() -> None:
    result = subprocess.run(
        ["hadolint", "--no-color", "Dockerfile"], cwd=ROOT, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_dockerignore_is_an_allowlist() -> None:
    lines = [
        line
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line and not line.startswith("#")
    ]
    assert lines[0] == "*"
    assert {"!app/", "!pyproject.toml", "!uv.lock"} <= set(lines)
