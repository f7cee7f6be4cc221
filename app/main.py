"""The application factory: `uvicorn app.main:create_app --factory`."""

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress

from fastapi import FastAPI
from starlette.types import ASGIApp

from app import NAME, lifecycle
from app.logs import AccessLog
from app.metrics import Recorder
from app.middleware import RequestContext, internal_error
from app.routes import docs, info, metrics, private, root
from app.settings import Settings, load_settings
from app.worker_metrics import sample_worker

HTTP_METHODS = {"GET", "PUT", "POST", "DELETE", "OPTIONS", "HEAD", "PATCH", "TRACE"}


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    lifecycle.watch_for_shutdown(app.state.settings.drain_seconds)
    # Several workers write their process figures to their shared files (app.metrics).
    if app.recorder is None or not app.recorder.shared:  # type: ignore[attr-defined]
        yield
        return
    sampler = asyncio.create_task(sample_worker())
    try:
        yield
    finally:
        sampler.cancel()
        with suppress(asyncio.CancelledError):
            await sampler


class App(FastAPI):
    """FastAPI, with our request context (app.middleware) around all of Starlette's layers.

    Starlette answers an unhandled error in its outermost layer, with the app's handler for
    `Exception`: ours (a generic 500) or one a user adds with `@app.exception_handler(Exception)`.
    Around that layer, the answer carries the request id like any other, and the error is logged
    once, with that id.
    """

    access_log: AccessLog | None = None
    recorder: Recorder | None = None
    allowed: dict[str, str] | None = None

    def build_middleware_stack(self) -> ASGIApp:
        return RequestContext(
            super().build_middleware_stack(), self.access_log, self.recorder, self.allowed_methods
        )

    def allowed_methods(self, path: str) -> str | None:
        """The methods served at a route's path, for the `Allow` header of a 405. Starlette lists
        those of the first route that matched the path, and a resource's GET and PUT are two
        routes: the app's OpenAPI paths list them all (read once, at the first 405)."""
        if self.allowed is None:
            self.allowed = {}
            for template, item in self.openapi().get("paths", {}).items():
                methods = {name.upper() for name in item} & HTTP_METHODS
                self.allowed[template] = ", ".join(sorted(methods))
        return self.allowed.get(path)


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the app from explicit settings, or from the environment when none are given."""
    if settings is None:
        settings = load_settings()
    app = App(
        title=NAME,
        version=settings.version,
        # The default docs pages load their scripts from a CDN; ours are served from the image.
        docs_url=None,
        redoc_url=None,
        openapi_url="/openapi.json" if settings.docs_enabled else None,
        lifespan=lifespan,
        exception_handlers={Exception: internal_error},
        # Every body, whatever its framing, counted as it is read; a route that takes uploads
        # may set a larger one (`@router.post(..., max_body_size=...)`).
        max_body_size=settings.max_body_size,
    )
    app.state.settings = settings
    # What /info/ready checks besides the drain: your routers add theirs (app.readiness).
    app.state.readiness_checks = {}
    # Each router is included as FastAPI documents it, so that `app.dependency_overrides` applies
    # to its routes (tests/unit/test_main.py overrides a dependency of every router that has one).
    routers = [root.router, info.router]
    # Routes that need the API key exist only when one is configured: without it they could only
    # ever refuse, and look broken (a 503 to every caller, a server error to schema fuzzers).
    if settings.api_key is not None:
        routers.append(private.router)
    if settings.docs_enabled:
        routers.append(docs.router)
        app.mount(docs.ASSETS_PATH, docs.assets(), name="docs-assets")
    if settings.metrics:
        routers.append(metrics.router)
        app.recorder = Recorder(mounts=[docs.ASSETS_PATH] if settings.docs_enabled else [])
    for router in routers:
        app.include_router(router)
    # Access lines are at level info: a higher APP_LOG_LEVEL silences them too.
    if settings.access_log and settings.log_level in ("debug", "info"):
        app.access_log = AccessLog(settings.log_format)
    return app
