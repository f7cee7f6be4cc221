"""Pure ASGI middleware: no BaseHTTPMiddleware, so no extra task or body copy per request."""

import logging
import os
import re
import time
from collections.abc import Callable

from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.lifecycle import draining
from app.logs import AccessLog, request_id
from app.metrics import Recorder, route_template

logger = logging.getLogger("app.errors")

# A caller's X-Request-ID is kept when it is this sane; otherwise (absent, too long, or with
# characters that could forge log lines or headers) a new id replaces it.
SANE_REQUEST_ID = re.compile(r"[A-Za-z0-9._:/+=-]{1,128}")


class RequestContext:
    """Per request: an id (kept from X-Request-ID or made), echoed in the response and set for every
    log line; `Connection: close` while the process drains; one access log line; its metrics
    (app.metrics); and the traceback of an unhandled error, logged with the id (the answer is the
    app's handler's: internal_error unless the user has one). It wraps all of Starlette's layers
    (app.main.App).

    A 413 (a body over FastAPI's `max_body_size`, app.main) closes its connection, so that the
    rest of the body is not read, and is JSON like every other error: Starlette answers a declared
    length over the limit in text, where FastAPI answers a body counted past it in JSON.

    It also answers HEAD wherever GET is served (uptime monitors use HEAD), as Starlette's own
    routes do: FastAPI routes list only the methods they declare, and declaring HEAD beside GET
    duplicates each OpenAPI operation. The app sees GET; the server still sees HEAD and sends no
    body. One middleware rather than two: each layer costs every request.
    """

    def __init__(
        self,
        app: ASGIApp,
        access_log: AccessLog | None,
        metrics: Recorder | None = None,
        allowed_methods: Callable[[str], str | None] | None = None,
    ) -> None:
        self.app = app
        self.access_log = access_log
        self.metrics = metrics
        self.allowed_methods = allowed_methods

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        method = scope["method"]
        if method == "HEAD":
            scope = {**scope, "method": "GET"}
        rid = incoming_request_id(scope) or os.urandom(16).hex()
        token = request_id.set(rid)
        started = time.perf_counter()
        status = 500
        text_413 = False
        if self.metrics is not None:
            self.metrics.started()

        async def send_with_id(message: Message) -> None:
            nonlocal status, text_413
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = [*message.get("headers", []), (b"x-request-id", rid.encode())]
                if status == 405 and self.allowed_methods is not None:
                    # Every method the route's path serves, not only its first route's.
                    allowed = self.allowed_methods(route_template(scope))
                    if allowed is not None:
                        headers = [h for h in headers if h[0].lower() != b"allow"]
                        headers.append((b"allow", allowed.encode()))
                if status == 413 and TEXT in headers:
                    text_413 = True
                    headers = [h for h in headers if h[0] not in TOO_LARGE_HEADERS]
                    headers += TOO_LARGE_HEADERS.items()
                if draining.is_set() or status == 413:
                    # The drain (app.lifecycle): this client leaves after this answer, cleanly.
                    headers.append((b"connection", b"close"))
                message["headers"] = headers
            elif text_413:
                message = {"type": "http.response.body", "body": TOO_LARGE}
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except ClientDisconnect:
            status = 499  # the client left before its request was read: nothing went wrong here
        except Exception:
            # Starlette has answered, unless the response had started, and raised the error again
            # for the server to log: it is logged here, with the id. uvicorn closes a connection
            # whose response was cut short, so that the client cannot take it for a whole one.
            logger.exception("unhandled error in %s %s", method, scope["path"])
        finally:
            seconds = time.perf_counter() - started
            if self.metrics is not None:
                self.metrics.finished(method, scope, status, seconds)
            if self.access_log is not None:
                client = scope.get("client")
                self.access_log.write(
                    method,
                    scope["path"],
                    status,
                    round(seconds * 1000, 3),
                    client[0] if client else None,
                    rid,
                )
            request_id.reset(token)


TEXT = (b"content-type", b"text/plain; charset=utf-8")
TOO_LARGE = b'{"detail":"Content Too Large"}'
TOO_LARGE_HEADERS = {
    b"content-type": b"application/json",
    b"content-length": b"%d" % len(TOO_LARGE),
}


def incoming_request_id(scope: Scope) -> str | None:
    for name, value in scope["headers"]:
        if name == b"x-request-id":
            candidate = value.decode("latin-1")
            return candidate if SANE_REQUEST_ID.fullmatch(candidate) else None
    return None


async def internal_error(request: Request, exc: Exception) -> Response:
    """The app's answer to an unhandled error: a 500 that says nothing of the cause, with the id to
    find its traceback in the logs (RequestContext logs it)."""
    body = {"detail": "Internal Server Error", "request_id": request_id.get()}
    return JSONResponse(body, status_code=500)
