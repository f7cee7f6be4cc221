"""app.middleware in process: request ids, the access line, a generic 500 with the request id, a
client gone before its request was read."""

import json
import logging
import re
from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.requests import ClientDisconnect

from app.logs import JsonFormatter
from app.main import create_app
from app.middleware import SANE_REQUEST_ID
from testbed.host import ROOT
from tests.support.settings import make_settings

pytestmark = pytest.mark.anyio


def client_for(app: FastAPI) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver")


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    settings = make_settings(version="1.2.3", access_log=True)
    async with client_for(create_app(settings)) as client:
        yield client


async def test_a_request_id_is_made_and_returned(client: httpx.AsyncClient) -> None:
    first = (await client.get("/")).headers["x-request-id"]
    second = (await client.get("/")).headers["x-request-id"]
    assert len(first) == 32 and first != second


async def test_a_sane_request_id_is_kept(client: httpx.AsyncClient) -> None:
    response = await client.get("/", headers={"X-Request-ID": "req-42.abc:DEF"})
    assert response.headers["x-request-id"] == "req-42.abc:DEF"


@pytest.mark.parametrize("bad", ["x" * 129, "two words", 'quote"d', "", "semi;colon"])
async def test_an_insane_request_id_is_replaced(client: httpx.AsyncClient, bad: str) -> None:
    response = await client.get("/", headers={"X-Request-ID": bad})
    assert response.headers["x-request-id"] != bad
    assert len(response.headers["x-request-id"]) == 32


async def test_access_log_line_has_the_request_fields(
    client: httpx.AsyncClient, capsys: pytest.CaptureFixture[str]
) -> None:
    response = await client.get("/info/status", headers={"X-Request-ID": "abc"})
    [line] = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert response.status_code == 200
    assert line["logger"] == "app.access" and line["level"] == "info"
    assert (line["method"], line["path"], line["status"]) == ("GET", "/info/status", 200)
    assert (line["request_id"], line["client"]) == ("abc", "127.0.0.1")
    assert line["message"] == "GET /info/status 200"
    assert isinstance(line["duration_ms"], float) and line["time"].endswith("+00:00")


@pytest.mark.parametrize(
    "settings",
    [{}, {"access_log": True, "log_level": "warning"}],
    ids=["off-by-default", "level-warning"],
)
async def test_access_log_can_be_silenced(
    capsys: pytest.CaptureFixture[str], settings: dict[str, object]
) -> None:
    async with client_for(create_app(make_settings(**settings))) as client:
        assert (await client.get("/")).status_code == 200
    assert capsys.readouterr().out == ""


async def test_an_unhandled_error_is_a_generic_500_logged_with_its_traceback(
    caplog: pytest.LogCaptureFixture,
) -> None:
    app = create_app(make_settings())

    @app.get("/boom")
    async def boom() -> str:
        raise RuntimeError("secret internals: db password in here")

    async with client_for(app) as client:
        with caplog.at_level(logging.ERROR, logger="app.errors"):
            response = await client.get("/boom", headers={"X-Request-ID": "boom-1"})
    assert response.status_code == 500
    assert response.json() == {"detail": "Internal Server Error", "request_id": "boom-1"}
    assert "internals" not in response.text
    [record] = [r for r in caplog.records if r.name == "app.errors"]
    assert record.exc_info is not None
    assert "secret internals" in JsonFormatter().format(record)


async def test_a_users_handler_for_exception_answers_with_the_request_id(
    caplog: pytest.LogCaptureFixture,
) -> None:
    app = create_app(make_settings())

    @app.get("/boom")
    async def boom() -> str:
        raise RuntimeError("broken")

    @app.exception_handler(Exception)
    async def users_handler(request: Request, exc: Exception) -> JSONResponse:
        return JSONResponse({"error": "ours, not the template's"}, status_code=502)

    async with client_for(app) as client:
        with caplog.at_level(logging.ERROR, logger="app.errors"):
            response = await client.get("/boom", headers={"X-Request-ID": "boom-2"})
    assert (response.status_code, response.json()) == (502, {"error": "ours, not the template's"})
    assert response.headers["x-request-id"] == "boom-2"
    [record] = [r for r in caplog.records if r.name == "app.errors"]
    assert record.exc_info is not None


async def test_a_client_gone_before_its_request_was_read_is_a_499_not_an_error(
    capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    app = create_app(make_settings(access_log=True))

    @app.post("/upload")
    async def upload() -> str:
        raise ClientDisconnect()  # what reading the body raises once the client has gone

    async with client_for(app) as client:
        with caplog.at_level(logging.ERROR, logger="app.errors"):
            await client.post("/upload", content=b"x")
    [line] = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert (line["path"], line["status"]) == ("/upload", 499)
    assert not [r for r in caplog.records if r.name == "app.errors"]


def test_the_edge_keeps_the_request_ids_the_app_keeps() -> None:
    # The proxy passes a caller's X-Request-ID on only when the app would keep it (haproxy.cfg).
    config = (ROOT / "deploy" / "haproxy" / "haproxy.cfg").read_text()
    [edge] = re.findall(r"req\.fhdr\(x-request-id\) -m reg \^(\S+)\$ \}", config)
    assert edge == SANE_REQUEST_ID.pattern
