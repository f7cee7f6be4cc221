"""The routes behind the API key (app/routes/private.py), in process: the pattern to copy for
your own protected routes. Deleted with the router if you need none (docs/your-own-api.md).
"""

from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI

from app.deps import require_api_key
from app.main import create_app
from app.routes import private
from tests.support.settings import make_settings

pytestmark = pytest.mark.anyio

KEY = "k" * 24


def client_for(app: FastAPI) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver")


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with client_for(create_app(make_settings(api_key=KEY))) as client:
        yield client


async def test_private_routes_need_the_api_key(client: httpx.AsyncClient) -> None:
    ok = await client.get("/private/hello", headers={"Authorization": f"Bearer {KEY}"})
    wrong = await client.get("/private/hello", headers={"Authorization": "Bearer nope"})
    missing = await client.get("/private/hello")
    assert (ok.status_code, ok.json()) == (200, "Hello World")
    assert wrong.status_code == missing.status_code == 401
    assert wrong.headers["www-authenticate"] == "Bearer"
    assert KEY not in wrong.text


async def test_private_routes_exist_only_with_a_configured_key() -> None:
    async with client_for(create_app(make_settings())) as client:
        response = await client.get("/private/hello", headers={"Authorization": "Bearer x"})
        paths = (await client.get("/openapi.json")).json()["paths"]
    assert response.status_code == 404
    assert "/private/hello" not in paths
    async with client_for(create_app(make_settings(api_key=KEY))) as client:
        assert "/private/hello" in (await client.get("/openapi.json")).json()["paths"]


async def test_the_api_key_dependency_fails_closed_without_a_key() -> None:
    app = create_app(make_settings())
    app.include_router(private.router)  # included without a key, by mistake
    async with client_for(app) as client:
        response = await client.get("/private/hello", headers={"Authorization": "Bearer x"})
    assert (response.status_code, response.json()) == (503, {"detail": "no API key is configured"})


async def test_a_test_can_override_the_key_check() -> None:
    app = create_app(make_settings(api_key=KEY))
    app.dependency_overrides[require_api_key] = lambda: None
    async with client_for(app) as client:
        response = await client.get("/private/hello")  # no key
    assert (response.status_code, response.json()) == (200, "Hello World")
