"""Health and build information: what probes, monitors and operators ask."""

from typing import Literal

from fastapi import APIRouter
from pydantic import BaseModel

router = APIRouter(prefix="/info", tags=["info"])


class StatusOut(BaseModel):
    status: Literal["ok"] = "ok"


@router.get("/status")
async def status() -> StatusOut:
    """Liveness: the process answers. No I/O, so it stays cheap under load."""
    return StatusOut()
