"""app.readiness: /info/ready reports what the app cannot serve without; liveness never does."""

import asyncio
import time

import httpx
import pytest

from app import readiness
from app.main import create_app
from tests.support.settings import make_settings

pytestmark = pytest.mark.anyio


async def answers(app: object, path: str) -> httpx.Response:
    transport = httpx.ASGITransport(app=app)  # type: ignore[arg-type]
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        return await client.get(path)


async def test_a_failing_check_makes_the_replica_unready_but_still_alive() -> None:
    app = create_app(make_settings())
    healthy = {"db": True}

    async def ping() -> None:
        if not healthy["db"]:
            raise ConnectionError("no database")

    async def fine() -> None:
        return None

    readiness.add_check(app, "db", ping)
    readiness.add_check(app, "cache", fine)
    assert (await answers(app, "/info/ready")).json() == {"status": "ready"}
    healthy["db"] = False
    unready = await answers(app, "/info/ready")
    alive = await answers(app, "/info/status")
    assert (unready.status_code, unready.json()) == (
        503,
        {"status": "unavailable", "failing": ["db"]},
    )
    assert (alive.status_code, alive.json()) == (200, {"status": "ok"})


async def test_a_check_that_hangs_fails_within_its_timeout() -> None:
    app = create_app(make_settings())

    async def hangs() -> None:
        await asyncio.sleep(60)

    readiness.add_check(app, "slow", hangs)
    started = time.monotonic()
    response = await answers(app, "/info/ready")
    assert (response.status_code, response.json()["failing"]) == (503, ["slow"])
    assert time.monotonic() - started < readiness.CHECK_TIMEOUT + 2
