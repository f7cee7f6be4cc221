"""app/routes/ (root, info, docs) in process: the tutorial's contract, which every later layer must
keep, and the build's version."""

import re
from collections.abc import AsyncIterator

import httpx
import pytest

from app.main import create_app
from tests.support.settings import make_settings

pytestmark = pytest.mark.anyio


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(make_settings(version="1.2.3"))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client


async def test_root_says_hello_world(client: httpx.AsyncClient) -> None:
    response = await client.get("/")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.content == b'"Hello World"'


async def test_status_is_exactly_the_tutorial_bytes(client: httpx.AsyncClient) -> None:
    response = await client.get("/info/status")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.content == b'{"status":"ok"}'


@pytest.mark.parametrize("path", ["/", "/info/status"])
async def test_head_is_answered_where_get_is(client: httpx.AsyncClient, path: str) -> None:
    # That no body follows is for a real socket to show (httpx's in-process transport drops a
    # HEAD's body whatever the app sends): tests/server/test_real_server.py.
    response = await client.head(path)
    get = await client.get(path)
    assert response.status_code == 200
    assert response.headers["content-length"] == str(len(get.content))


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "PATCH"])
async def test_other_methods_get_405_with_allow(client: httpx.AsyncClient, method: str) -> None:
    response = await client.request(method, "/info/status")
    assert response.status_code == 405
    assert response.headers["allow"] == "GET"
    assert response.json() == {"detail": "Method Not Allowed"}


async def test_unknown_path_is_a_json_404(client: httpx.AsyncClient) -> None:
    response = await client.get("/no/such/path")
    assert response.status_code == 404
    assert response.json() == {"detail": "Not Found"}


async def test_openapi_documents_the_routes(client: httpx.AsyncClient) -> None:
    schema = (await client.get("/openapi.json")).json()
    # The contract's routes (yours join them: docs/your-own-api.md); /private/hello only once an
    # API key is set (tests/unit/test_private.py).
    assert {"/", "/info/status", "/info/ready", "/info/version"} <= set(schema["paths"])
    assert "/private/hello" not in schema["paths"]
    status = schema["paths"]["/info/status"]["get"]
    assert status["responses"]["200"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/StatusOut"
    }


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
async def test_docs_pages_load_nothing_from_outside(client: httpx.AsyncClient, page: str) -> None:
    response = await client.get(page)
    assert response.status_code == 200
    urls = re.findall(r"""(?:src|href|url)\s*[=:]\s*["']([^"']+)""", response.text)
    assert urls, "the page loads its scripts from somewhere"
    outside = [url for url in urls if not url.startswith("/") or url.startswith("//")]
    assert outside == []
    assert "fonts.googleapis.com" not in response.text


@pytest.mark.parametrize(
    "asset", ["swagger-ui-bundle.js", "swagger-ui.css", "redoc.standalone.js", "favicon.png"]
)
async def test_docs_assets_are_served_from_the_app(client: httpx.AsyncClient, asset: str) -> None:
    response = await client.get(f"/static/docs/{asset}")
    assert response.status_code == 200
    assert len(response.content) > 1000


async def test_docs_can_be_switched_off() -> None:
    app = create_app(make_settings(docs_enabled=False))
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://testserver"
    ) as client:
        for path in ("/docs", "/redoc", "/openapi.json", "/static/docs/swagger-ui.css"):
            assert (await client.get(path)).status_code == 404, path
        assert (await client.get("/")).status_code == 200


async def test_version_comes_from_the_settings(client: httpx.AsyncClient) -> None:
    response = await client.get("/info/version")
    assert response.json() == {"version": "1.2.3", "revision": "unknown", "build_date": "unknown"}
