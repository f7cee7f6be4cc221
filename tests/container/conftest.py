import os

import pytest

from testbed.docker import build_image, docker
from tests.support.builds import (
    Build,
    build,
    clone,
    require_arm64_emulation,
    require_containerd_store,
)
from tests.support.needs import require_engine


@pytest.fixture(scope="session")
def image() -> str:
    """The product image: FASTAPI_APP_IMAGE when set (the workflow tests the image it pushed, by
    digest), else built once per test session (on PYTHON_IMAGE when set)."""
    require_engine()
    if pushed := os.environ.get("FASTAPI_APP_IMAGE"):
        if docker("image", "inspect", pushed, check=False).returncode != 0:
            docker("pull", "-q", pushed)
        return pushed
    return build_image("fastapi-app:test")


@pytest.fixture(scope="session")
def arm64_build(tmp_path_factory: pytest.TempPathFactory) -> Build:
    """The linux/arm64 image of HEAD, built once under emulation by scripts/build-reproducible
    from a fresh clone with no build cache (on PYTHON_ARM64_IMAGE when set): the arm64 tests run
    it, and the reproducible-build test builds it a second time to compare."""
    require_engine()
    require_arm64_emulation()
    require_containerd_store()
    root = tmp_path_factory.mktemp("arm64")
    return build(clone(root / "a", "022"), "linux/arm64", os.environ.get("PYTHON_ARM64_IMAGE"))
