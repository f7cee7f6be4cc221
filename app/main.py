"""The application factory: `uvicorn app.main:create_app --factory`."""

from fastapi import FastAPI

from app.middleware import HeadAsGet
from app.routes import docs, info, root
from app.settings import Settings, load_settings


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the app from explicit settings, or from the environment when none are given."""
    if settings is None:
        settings = load_settings()
    app = FastAPI(
        title="fastapi-app",
        version=settings.version,
        # The default docs pages load their scripts from a CDN; ours are served from the image.
        docs_url=None,
        redoc_url=None,
        openapi_url="/openapi.json" if settings.docs_enabled else None,
    )
    app.state.settings = settings
    app.include_router(root.router)
    app.include_router(info.router)
    if settings.docs_enabled:
        app.include_router(docs.router)
        app.mount(docs.ASSETS_PATH, docs.assets(), name="docs-assets")
    app.add_middleware(HeadAsGet)
    return app
