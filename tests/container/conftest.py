import pytest

from tests.support.docker import build_image, require_engine


@pytest.fixture(scope="session")
def image() -> str:
    """The product image, built once per test session (on PYTHON_IMAGE when set)."""
    require_engine()
    return build_image("fastapi-app:test")
