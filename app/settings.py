"""The one place configuration comes from: environment, a `.env` file, and secrets files."""

import os
import sys
from pathlib import Path
from typing import Annotated, Literal

import pydantic_settings
from pydantic import (
    AliasChoices,
    Field,
    PositiveInt,
    SecretStr,
    ValidationError,
    field_validator,
)
from pydantic_settings import BaseSettings, SettingsConfigDict

# Where Docker (`secrets:`) and Kubernetes (a Secret volume) mount secrets, one file per setting.
DEFAULT_SECRETS_DIR = Path("/run/secrets")


class SettingsError(Exception):
    """A setting is missing or invalid; the message is one line that names it."""


class Settings(BaseSettings):
    """Every setting of the service. Environment variables take the `APP_` prefix."""

    model_config = SettingsConfigDict(
        env_prefix="APP_",
        env_file=".env",
        extra="ignore",
        frozen=True,
        validate_by_name=True,  # Settings(workers=2) in code, WEB_CONCURRENCY in the environment
    )

    host: str = Field("0.0.0.0", description="Address uvicorn binds.")
    port: Annotated[int, Field(ge=1, le=65535)] = Field(8000, description="Port uvicorn binds.")
    workers: PositiveInt | None = Field(
        None,
        # The conventional name, also read by uvicorn, gunicorn and the tiangolo images.
        validation_alias=AliasChoices("WEB_CONCURRENCY", "APP_WORKERS"),
        description="Worker processes. Default: one per CPU of the container's CPU quota, "
        "1 without a quota.",
    )
    log_level: Literal["debug", "info", "warning", "error", "critical"] = Field(
        "info", description="Minimum level of the logs."
    )
    log_format: Literal["json", "text"] = Field(
        "json", description="`json`: one JSON object per line; `text`: for a terminal."
    )
    access_log: bool = Field(
        False,
        description="One log line per request (at level info). Off by default: in a container it "
        "costs a third to a half of a worker's requests/s (see the README); the proxy logs every "
        "request.",
    )
    docs_enabled: bool = Field(True, description="Serve `/docs`, `/redoc` and `/openapi.json`.")
    forwarded_allow_ips: str = Field(
        "127.0.0.1",
        description="Comma-separated addresses or networks whose `X-Forwarded-*` headers are "
        "trusted. Never `*` where anyone but the proxy reaches the app port.",
    )
    drain_seconds: Annotated[float, Field(ge=0, le=300)] = Field(
        3,
        description="Seconds between SIGTERM and the graceful shutdown: requests are still "
        "served, `/info/ready` answers 503 and every response closes its connection, so proxies "
        "and kept-alive clients move away. Drain plus graceful shutdown stays under Docker's 10 s "
        "stop timeout.",
    )
    timeout_graceful_shutdown: PositiveInt = Field(
        6,
        description="Seconds to let requests in flight finish once the drain ends.",
    )
    timeout_keep_alive: PositiveInt = Field(
        5,
        description="Seconds an idle keep-alive connection stays open. A proxy that keeps "
        "connections to the app must close idle ones sooner.",
    )
    max_body_size: Annotated[int, Field(ge=0)] = Field(
        1024 * 1024,
        description="Largest request body in bytes, whatever its framing (`Content-Length`, "
        "chunked, HTTP/2): a larger one is answered 413 and never held whole in memory. The "
        "proxy refuses a declared length above 1 MiB itself; this bounds the rest, and the lone "
        "container. A route that takes uploads sets its own (FastAPI's `max_body_size`).",
    )
    metrics: bool = Field(
        True,
        description="Serve `/metrics` (Prometheus), added up over all workers. The proxy keeps it "
        "from the outside; scrapers reach the replicas on the internal network.",
    )
    metrics_dir: Path = Field(
        # A directory of our own (app.server checks its owner); the container's /tmp is its own.
        Path("/tmp/metrics"),  # noqa: S108
        description="With several workers, where they write their metrics, emptied at start: a "
        "writable directory of the app's user (Compose's /tmp tmpfs, a Kubernetes emptyDir). One "
        "worker counts in memory.",
    )
    api_key: Annotated[SecretStr, Field(min_length=16)] | None = Field(
        None,
        description="Bearer token for `/private/*`, at least 16 characters (a secret: mount it "
        "as the file `app_api_key`). Unset or empty, those routes do not exist.",
    )

    @field_validator("api_key", mode="before")
    @classmethod
    def empty_means_unset(cls, value: object) -> object:
        # A blank secret file (compose.yml mounts one when API_KEY_FILE is unset) is no key.
        return None if isinstance(value, str) and not value.strip() else value

    version: str = Field("dev", description="Version, baked into the image at build time.")
    revision: str = Field("unknown", description="Git revision, baked into the image.")
    build_date: str = Field("unknown", description="Build date (RFC 3339), baked into the image.")


def load_settings() -> Settings:
    """Read the settings, or raise SettingsError with one line naming what is wrong."""
    secrets_dir = Path(os.environ.get("APP_SECRETS_DIR", DEFAULT_SECRETS_DIR))
    if "APP_SECRETS_DIR" in os.environ and not secrets_dir.is_dir():
        raise SettingsError(f"APP_SECRETS_DIR: {secrets_dir} is not a directory")
    try:
        # The default directory is optional: it only exists where secrets are mounted.
        return Settings(_secrets_dir=secrets_dir if secrets_dir.is_dir() else None)
    except ValidationError as exc:
        raise SettingsError(describe(exc)) from None
    except (pydantic_settings.SettingsError, OSError) as exc:
        # A source could not be read: a secret file mounted from the host with mode 0600 and
        # another owner than the container's UID (10001), most often; or the `.env` file.
        cause = exc if isinstance(exc, OSError) else exc.__cause__
        if not isinstance(cause, OSError):
            raise SettingsError(str(exc)) from None
        path = Path(str(cause.filename))
        field = path.name.lower().removeprefix("app_")
        setting = f"{variable(field)}: " if field in Settings.model_fields else ""
        raise SettingsError(f"{setting}cannot read {path}: {cause.strerror}") from None


def variable(field: str) -> str:
    """The environment variable a field is read from (secrets files take the same name)."""
    alias = Settings.model_fields[field].validation_alias
    if isinstance(alias, AliasChoices):
        return str(alias.choices[0])
    return f"APP_{field.upper()}"


def describe(exc: ValidationError) -> str:
    """One line per invalid setting, naming its environment variable and never its value."""
    lines = []
    for error in exc.errors():
        where = str(error["loc"][0]) if error["loc"] else "settings"
        # The location is the field's name, or the alias it was read from (WEB_CONCURRENCY).
        name = variable(where) if where in Settings.model_fields else where
        lines.append(f"{name}: {error['msg']}")
    return "; ".join(lines)


if __name__ == "__main__":
    # `python -m app.settings`: read the settings as the server will, and say whether they hold
    # (the Job before a Kubernetes rollout runs it: deploy/k8s/before-rollout/).
    try:
        load_settings()
    except SettingsError as exc:
        sys.exit(f"invalid configuration: {exc}")
    print("the settings are valid")
