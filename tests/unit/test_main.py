"""app.main: the app built from its routers, as a user extends and tests it: dependency overrides,
a 405's Allow header, a route's own body limit."""

import httpx
import pytest
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

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


def client_for(app: FastAPI) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver")


async def test_a_405_allows_every_method_of_the_path_not_only_its_first_route() -> None:
    # A resource's GET and PUT are two routes; Starlette's 405 would list the first one's alone.
    app = create_app(make_settings())

    @app.put("/things/{thing_id}")
    async def put_thing(thing_id: int) -> int:
        return thing_id

    @app.get("/things/{thing_id}")
    async def get_thing(thing_id: int) -> int:
        return thing_id

    async with client_for(app) as client:
        response = await client.delete("/things/1")
        root = await client.post("/")
    assert response.status_code == 405
    assert response.headers["allow"] == "GET, PUT"
    assert (root.status_code, root.headers["allow"]) == (405, "GET")


async def test_a_route_may_take_larger_bodies_and_its_own_413_is_kept() -> None:
    app = create_app(make_settings(max_body_size=10))

    @app.post("/test-only/upload", max_body_size=100)
    async def upload(request: Request) -> int:
        return len(await request.body())

    @app.post("/test-only/refuse")
    async def refuse() -> JSONResponse:
        return JSONResponse({"detail": "one file at a time"}, status_code=413)

    async with client_for(app) as client:
        larger = await client.post("/test-only/upload", content=b"x" * 100)
        too_large = await client.post("/test-only/upload", content=b"x" * 101)
        own = await client.post("/test-only/refuse")
    assert (larger.status_code, larger.json()) == (200, 100)
    assert (too_large.status_code, too_large.json()) == (413, {"detail": "Content Too Large"})
    assert own.json() == {"detail": "one file at a time"}
    assert too_large.headers["connection"] == own.headers["connection"] == "close"
