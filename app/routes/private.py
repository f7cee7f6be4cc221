"""Routes for callers holding the API key: the pattern to copy for your own protected routes."""

from fastapi import APIRouter, Depends

from app.deps import require_api_key

router = APIRouter(prefix="/private", tags=["private"], dependencies=[Depends(require_api_key)])


@router.get("/hello")
async def hello() -> str:
    """Say hello to a caller that sent the API key."""
    return "Hello World"
