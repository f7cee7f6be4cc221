"""The linux/arm64 image the workflow publishes, built and run here under emulation (QEMU user mode
registered with binfmt_misc, as Docker Desktop and `docker/setup-qemu-action` do).

Built once per session by scripts/build-reproducible (tests/container/conftest.py), which the
reproducible-build test builds a second time to compare, on PYTHON_ARM64_IMAGE when set (CI's
arm64 stand-in), else on the Dockerfile's default pulled for arm64; or, when FASTAPI_APP_IMAGE
names a pushed image (the workflow's test-image job), its arm64 image, pulled by its own digest.
Timings under emulation are not targets: the image's own probe runs with a longer timeout than its
3 s (QEMU can take longer than that to start a Python), and the health wait is generous. What is
checked is that it runs and serves on arm64, not how fast this machine emulates one.
"""

import json
import os
from collections.abc import Iterator

import httpx
import pytest

from testbed.docker import docker, run_container
from tests.support.builds import BUILD_TIMEOUT, Build, require_arm64_emulation
from tests.support.needs import require_engine

# The first test waits for the session's arm64 build, under emulation.
pytestmark = [pytest.mark.container, pytest.mark.timeout(BUILD_TIMEOUT + 300)]

HARDENED = ("--read-only", "--cap-drop", "ALL", "--security-opt", "no-new-privileges")
# The image's HEALTHCHECK command, with time for it under emulation (its own timeout is 3 s).
EMULATED_PROBE = ("--health-timeout", "60s")


def pushed_arm64(pushed: str) -> str:
    """The arm64 image of a pushed multi-platform image, by its own digest: pulling the index's
    reference for arm64 would retag it over the amd64 image the other tests run."""
    index = json.loads(docker("buildx", "imagetools", "inspect", "--raw", pushed).stdout)
    [digest] = [
        m["digest"]
        for m in index["manifests"]
        if m.get("platform", {}).get("architecture") == "arm64"
    ]
    reference = f"{pushed.split('@')[0]}@{digest}"
    docker("pull", "-q", "--platform", "linux/arm64", reference)
    return reference


@pytest.fixture(scope="module")
def arm64_image(request: pytest.FixtureRequest) -> Iterator[str]:
    require_engine()
    require_arm64_emulation()
    if pushed := os.environ.get("FASTAPI_APP_IMAGE"):
        yield pushed_arm64(pushed)
        return
    # The session's reproducible arm64 build, loaded as its manifest digest: one build under
    # emulation serves this module and the reproducible-build test.
    arm64_build: Build = request.getfixturevalue("arm64_build")
    image = arm64_build.digests["linux/arm64"]
    existed = docker("image", "inspect", image, check=False).returncode == 0
    docker("load", "--quiet", "--input", str(arm64_build.archive), timeout=600)
    try:
        yield image
    finally:
        if not existed:
            docker("image", "rm", image, check=False)


def run_python(image: str, code: str) -> str:
    result = docker(
        "run", "--rm", "--platform", "linux/arm64", *HARDENED,
        "--entrypoint", "python", image, "-c", code,
        timeout=120,
    )  # fmt: skip
    return result.stdout.strip()


def test_the_image_is_arm64_and_runs_arm64_code(arm64_image: str) -> None:
    config = json.loads(docker("image", "inspect", arm64_image).stdout)[0]
    assert config["Architecture"] == "arm64"
    assert run_python(arm64_image, "import platform; print(platform.machine())") == "aarch64"


def test_it_becomes_healthy_and_serves_the_contract_as_non_root_read_only(
    arm64_image: str,
) -> None:
    options = ("--platform", "linux/arm64", *HARDENED, *EMULATED_PROBE)
    with run_container(arm64_image, *options) as container:
        took = container.wait_healthy(timeout=300)
        print(f"arm64 under emulation: healthy {took:.1f} s after start")
        url = container.url()
        assert httpx.get(f"{url}/").content == b'"Hello World"'
        assert httpx.get(f"{url}/info/status").content == b'{"status":"ok"}'
        assert container.exec("id", "-u").stdout.strip() == "10001"
        assert container.inspect()["HostConfig"]["ReadonlyRootfs"] is True
        # The probe that passed is the image's own command, only given more time.
        probe = container.inspect()["Config"]["Healthcheck"]
        assert probe["Test"] == ["CMD", "python", "-m", "app.healthcheck"], probe


def test_the_compiled_modules_are_aarch64_stripped_and_load(arm64_image: str) -> None:
    # docker/strip_debug.py ran on aarch64 ELF files in the builder: no section headers are left,
    # and each module still loads (uvicorn would fall back to asyncio silently without uvloop).
    probe = (
        "import json, pathlib, struct, uvloop, httptools.parser.parser, pydantic_core\n"
        "mods = (uvloop.loop, httptools.parser.parser, pydantic_core._pydantic_core)\n"
        "out = []\n"
        "for path in [m.__file__ for m in mods]:\n"
        "    head = pathlib.Path(path).read_bytes()[:64]\n"
        "    machine, = struct.unpack_from('<H', head, 0x12)\n"
        "    shnum, = struct.unpack_from('<H', head, 0x3C)\n"
        "    out.append([machine, shnum])\n"
        "print(json.dumps({'loop': type(uvloop.new_event_loop()).__name__, 'modules': out}))"
    )
    found = json.loads(run_python(arm64_image, probe))
    assert found["loop"] == "Loop"
    # EM_AARCH64 is 183; a stripped module has no section header table.
    assert found["modules"] == [[183, 0]] * 3, found
