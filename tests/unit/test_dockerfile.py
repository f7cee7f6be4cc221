"""Static checks of the container files: no engine needed."""

import re
import subprocess

import pytest

from testbed.host import ROOT


@pytest.mark.delivery
@pytest.mark.parametrize("dockerfile", ["Dockerfile", "certs/Dockerfile"])
def test_hadolint_finds_nothing_in_the_dockerfiles(dockerfile: str) -> None:
    result = subprocess.run(
        ["hadolint", "--no-color", dockerfile], cwd=ROOT, capture_output=True, text=True
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


# What the container and stack tests run inside an image: commands that the official Alpine images
# (busybox) and the Debian stand-ins have alike, at the same name on PATH. Everything else (wrk,
# nsenter, schemathesis) runs on the host, in the container's network namespace at most. promtool
# is in the official Prometheus image (/bin) and its stand-in (/usr/bin) alike, and run only there.
COMMANDS_IN_IMAGES = {"python", "id", "sleep", "promtool"}


def test_tests_run_only_commands_alpine_and_debian_images_share() -> None:
    sources = "\n".join(path.read_text() for path in (ROOT / "tests").rglob("*.py"))
    used = set(re.findall(r"\.exec\(\s*\"([^\"]+)\"", sources))
    used |= set(re.findall(r"command=\(\"([^\"]+)\"", sources))
    used |= set(re.findall(r"\"--entrypoint\", \"([^\"]+)\"", sources))
    assert used and used <= COMMANDS_IN_IMAGES, used - COMMANDS_IN_IMAGES


def test_the_testing_page_names_every_command_run_in_an_image() -> None:
    page = (ROOT / "docs" / "testing.md").read_text()
    sentence = page.split("A test\nthat runs something inside an image runs only", 1)[1].split(
        ";", 1
    )[0]
    assert set(re.findall(r"`(\w+)`", sentence)) == COMMANDS_IN_IMAGES, sentence


def test_the_base_image_is_pinned_once_and_quoted_the_same() -> None:
    # The Dockerfiles' defaults and the docs that quote them name one base.
    files = ["Dockerfile", "certs/Dockerfile", "bench/tutorial/Dockerfile", "README.md"]
    texts = [(ROOT / name).read_text() for name in files]
    texts += [page.read_text() for page in sorted((ROOT / "docs").glob("*.md"))]
    pins = {pin for text in texts for pin in re.findall(r"python:\d+\.\d+\.\d+-alpine[\d.]+", text)}
    [default] = re.findall(r"^ARG PYTHON_IMAGE=(\S+)$", texts[0], re.M)
    assert pins == {default}
