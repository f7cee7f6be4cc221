"""app.main: the app built from its routers, as a user extends and tests it."""

import httpx
import pytest

from app.deps import get_settings
from app.main import create_app
from tests.support.settings import make_settings

pytestmark = pytest.mark.anyio


async def test_dependency_overrides_reach_every_router_that_has_dependencies() -> None:
    # FastAPI's way to replace a dependency in a test (docs/your-own-api.md): it must reach the
    # routes of every router the app includes: info and metrics here, private in test_private.py.
    app = create_app(make_settings(version="1.0.0"))
    app.dependency_overrides[get_settings] = lambda: make_settings(version="9.9.9")
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        version = await client.get("/info/version")
        metrics = await client.get("/metrics")
    assert version.json()["version"] == "9.9.9"
    assert 'version="9.9.9"' in metrics.text
