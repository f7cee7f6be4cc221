"""Typed dependencies shared by the routes."""

import secrets
from typing import Annotated

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from app.settings import Settings


def get_settings(request: Request) -> Settings:
    """The settings the app was created with (never read from the environment by a route)."""
    settings: Settings = request.app.state.settings
    return settings


SettingsDep = Annotated[Settings, Depends(get_settings)]


bearer = HTTPBearer(auto_error=False)


def require_api_key(
    settings: SettingsDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> None:
    """Let the request through only with `Authorization: Bearer <APP_API_KEY>`."""
    if settings.api_key is None:  # a router of yours using this without a key: closed, not open
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, "no API key is configured")
    expected = settings.api_key.get_secret_value().encode()
    given = credentials.credentials.encode() if credentials else b""
    if not secrets.compare_digest(given, expected):
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "a valid bearer token is required",
            headers={"WWW-Authenticate": "Bearer"},
        )
