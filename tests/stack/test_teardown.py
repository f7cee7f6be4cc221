"""`docker compose down` leaves nothing behind."""

import pytest

from testbed.compose import compose_up, get
from testbed.host import free_port

pytestmark = pytest.mark.stack


def test_compose_down_leaves_no_container_network_or_volume() -> None:
    port = free_port()
    env = {
        "PROXY_PORT": str(port),
        "API_IMAGE": "fastapi-app:stack-test",
        "BACKEND_SUBNET": "10.231.253.0/24",
    }
    with compose_up(env) as stack:
        assert get(f"{stack.url}/info/status").status_code == 200
    assert stack.leftovers() == []
