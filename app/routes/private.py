"""Routes for callers holding the API key: the pattern to copy for your own protected routes.

The app includes them only when `APP_API_KEY` is set (app.main).
"""

from fastapi import APIRouter, Depends, status
from pydantic import BaseModel

from app.deps import require_api_key


class ErrorOut(BaseModel):
    detail: str


router = APIRouter(
    prefix="/private",
    tags=["private"],
    dependencies=[Depends(require_api_key)],
    responses={
        status.HTTP_401_UNAUTHORIZED: {"model": ErrorOut, "description": "No or a wrong API key"},
    },
)


@router.get("/hello")
async def hello() -> str:
    """Say hello to a caller that sent the API key."""
    return "Hello World"
