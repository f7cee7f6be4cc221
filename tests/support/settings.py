"""Settings for tests: only what the test passes, never the test process's environment or .env."""

from typing import Any

from pydantic_settings import BaseSettings, PydanticBaseSettingsSource

from app.settings import Settings


class IsolatedSettings(Settings):
    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings,)


def make_settings(**values: Any) -> Settings:
    return IsolatedSettings(**values)
