"""A bare FastAPI app: the same routes as fastapi-app, none of its middleware or settings."""

from fastapi import FastAPI
from pydantic import BaseModel

app = FastAPI()


class StatusOut(BaseModel):
    status: str = "ok"


@app.get("/")
async def hello() -> str:
    return "Hello World"


@app.get("/info/status")
async def status() -> StatusOut:
    return StatusOut()
