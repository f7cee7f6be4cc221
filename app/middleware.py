"""Pure ASGI middleware: no BaseHTTPMiddleware, so no extra task or body copy per request."""

from starlette.types import ASGIApp, Receive, Scope, Send


class HeadAsGet:
    """Answer HEAD wherever GET is served (uptime monitors use HEAD), as Starlette's own routes do.

    FastAPI routes list only the methods they declare, and declaring HEAD beside GET on each route
    duplicates its OpenAPI operation. The server sees the original HEAD and sends no body.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "HEAD":
            scope = {**scope, "method": "GET"}
        await self.app(scope, receive, send)
