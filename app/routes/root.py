"""The tutorial's greeting."""

from fastapi import APIRouter

router = APIRouter(tags=["root"])


@router.get("/")
async def hello() -> str:
    """Say hello."""
    return "Hello World"
