import os

import pytest

from testbed.docker import build_image, docker
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
