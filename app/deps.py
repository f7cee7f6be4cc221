"""Typed dependencies shared by the routes."""

from typing import Annotated

from fastapi import Depends, Request

from app.settings import Settings


def get_settings(request: Request) -> Settings:
    """The settings the app was created with (never read from the environment by a route)."""
    settings: Settings = request.app.state.settings
    return settings


SettingsDep = Annotated[Settings, Depends(get_settings)]
