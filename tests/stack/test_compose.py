"""The README's run command, `docker compose up --build`, for real."""

import httpx
import pytest

from tests.support.compose import compose_up
from tests.support.servers import free_port

pytestmark = pytest.mark.stack


def test_compose_up_serves_the_contract_and_down_leaves_nothing() -> None:
    port = free_port()
    with compose_up({"API_PORT": str(port), "API_IMAGE": "fastapi-app:stack-test"}) as stack:
        url = f"http://127.0.0.1:{port}"
        assert httpx.get(f"{url}/").content == b'"Hello World"'
        assert httpx.get(f"{url}/info/status").content == b'{"status":"ok"}'
        assert httpx.get(f"{url}/docs").status_code == 200
    assert stack.leftovers() == []
