"""The app plus slow routes, to hold requests in flight while a test signals the server, a route
that fails once its response has started, and one that reads its whole body."""

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
from fastapi import FastAPI, Request
from fastapi.responses import StreamingResponse

from app.main import create_app as create_base_app


def create_app() -> FastAPI:
    app = create_base_app()
    app.state.in_flight = 0

    @app.get("/slow")
    async def slow(seconds: float = 1.0) -> str:
        app.state.in_flight += 1
        try:
            await asyncio.sleep(seconds)
        finally:
            app.state.in_flight -= 1
        return "done"

    @app.get("/busy")
    async def busy(marker: str, seconds: float = 1.0) -> str:
        """Create the file `marker`, then hold the event loop: a signal sent once the file exists
        lands inside this request's own context."""
        Path(marker).touch()
        time.sleep(seconds)
        return "done"

    @app.get("/fails-midway")
    async def fails_midway() -> StreamingResponse:
        """A streamed answer whose generator fails after its first chunk has been sent."""

        async def chunks() -> AsyncIterator[bytes]:
            yield b"first chunk\n"
            raise RuntimeError("failed after the response started")

        return StreamingResponse(chunks())

    @app.post("/upload")
    async def upload(request: Request) -> int:
        """The size of the body, read whole (as a route with a Pydantic body reads it)."""
        return len(await request.body())

    @app.get("/in-flight")
    async def in_flight_count() -> int:
        return int(app.state.in_flight)

    return app


def in_flight(url: str) -> int:
    """How many /slow requests the server at `url` is handling now."""
    return int(httpx.get(f"{url}/in-flight").json())
