"""The ceiling: a raw ASGI app that answers the same bytes, with no framework at all."""

from typing import Any

BODIES = {"/": b'"Hello World"', "/info/status": b'{"status":"ok"}'}


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    body = BODIES.get(scope["path"], b'{"detail":"Not Found"}')
    await send(
        {
            "type": "http.response.start",
            "status": 200 if scope["path"] in BODIES else 404,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
