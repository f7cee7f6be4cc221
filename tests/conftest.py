import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.servers import is_app_setting


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(autouse=True)
def isolated_settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """Every test starts with none of the app's settings in its environment, in a working directory
    with no .env, and an empty secrets directory: a developer's own never change a result."""
    for name in list(os.environ):
        if is_app_setting(name):
            monkeypatch.delenv(name)
    workdir = tmp_path / "cwd"
    (workdir / "secrets").mkdir(parents=True)
    monkeypatch.chdir(workdir)
    monkeypatch.setenv("APP_SECRETS_DIR", str(workdir / "secrets"))
    yield
