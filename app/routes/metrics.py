"""`/metrics` for Prometheus, on the app's own port (app.metrics; the proxy keeps it inside)."""

import asyncio

from fastapi import APIRouter, Request
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST

from app import metrics
from app.deps import SettingsDep

router = APIRouter(include_in_schema=False)


@router.get("/metrics")
async def metrics_(request: Request, settings: SettingsDep) -> Response:
    """Every worker's counts, added up. Reading their files is blocking: off the event loop."""
    recorder: metrics.Recorder = request.app.recorder
    body = await asyncio.to_thread(metrics.render, recorder, settings.version, settings.revision)
    return Response(body, media_type=CONTENT_TYPE_LATEST)
