"""Health and build information: what probes, monitors and operators ask."""

from typing import Literal

from fastapi import APIRouter, Request, Response, status
from pydantic import BaseModel

from app import lifecycle, readiness
from app.deps import SettingsDep

router = APIRouter(prefix="/info", tags=["info"])


class StatusOut(BaseModel):
    status: Literal["ok"] = "ok"


class ReadyOut(BaseModel):
    status: Literal["ready", "draining", "unavailable"]
    # With "unavailable": the readiness checks that fail (app.readiness).
    failing: list[str] | None = None


class VersionOut(BaseModel):
    version: str
    revision: str
    build_date: str


@router.get("/status")
async def status_() -> StatusOut:
    """Liveness: the process answers. No I/O, so it stays cheap under load."""
    return StatusOut()


@router.get(
    "/ready",
    responses={status.HTTP_503_SERVICE_UNAVAILABLE: {"model": ReadyOut}},
    response_model_exclude_none=True,
)
async def ready(request: Request, response: Response) -> ReadyOut:
    """Readiness: 503 from the moment shutdown begins, or while a dependency the app cannot serve
    without fails its check, so no new traffic is sent here."""
    if lifecycle.draining.is_set():
        response.status_code = status.HTTP_503_SERVICE_UNAVAILABLE
        return ReadyOut(status="draining")
    if failing := await readiness.failing(request.app):
        response.status_code = status.HTTP_503_SERVICE_UNAVAILABLE
        return ReadyOut(status="unavailable", failing=failing)
    return ReadyOut(status="ready")


@router.get("/version")
async def version(settings: SettingsDep) -> VersionOut:
    """The version, git revision and build date baked into the image."""
    return VersionOut(
        version=settings.version, revision=settings.revision, build_date=settings.build_date
    )
