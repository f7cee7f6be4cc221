"""Schema-driven fuzzing of the OpenAPI document (the schemathesis CLI), against the real server."""

import subprocess
from pathlib import Path

import pytest

from tests.support.servers import run_server

pytestmark = pytest.mark.server

API_KEY = "fuzzing-key-0123456789"


@pytest.mark.parametrize(
    "auth", [[], ["-H", f"Authorization: Bearer {API_KEY}"]], ids=["anonymous", "with-key"]
)
def test_every_operation_conforms_to_the_schema(auth: list[str], tmp_path: Path) -> None:
    with run_server(env={"APP_API_KEY": API_KEY}) as server:
        result = subprocess.run(
            [
                "schemathesis",
                "run",
                f"{server.url}/openapi.json",
                "--checks",
                "all",
                "--max-examples",
                "50",
                "--no-color",
                *auth,
            ],
            capture_output=True,
            text=True,
            timeout=300,
            cwd=str(tmp_path),  # its example database stays out of the repository
        )
    assert result.returncode == 0, result.stdout[-4000:]
    assert "passed" in result.stdout
