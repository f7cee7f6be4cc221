"""The container's HEALTHCHECK, `python -m app.healthcheck`: no curl needed.

Exits 0 when GET /info/status answers 200 with `"status":"ok"` (the tutorial's check), 1 otherwise.
It probes where the server listens, read from the same configuration (app.settings): environment,
`.env` file and secret files. Reading it takes pydantic-settings, about 140 ms of imports, too
slow for a probe every 0.2 s while the container starts: where no `.env` file or secret file could
set the host or port, the environment is all there is to read, with the standard library alone.
"""

import http.client
import os
import sys
from pathlib import Path

# app.settings' defaults (tests/unit/test_settings.py keeps them equal).
DEFAULT_HOST = "0.0.0.0"
DEFAULT_PORT = 8000
DEFAULT_SECRETS_DIR = "/run/secrets"


def address() -> tuple[str, int]:
    """The host and port the server listens on, as it reads them."""
    secrets_dir = Path(os.environ.get("APP_SECRETS_DIR", DEFAULT_SECRETS_DIR))
    secrets = {p.name.lower() for p in secrets_dir.iterdir()} if secrets_dir.is_dir() else set()
    if Path(".env").exists() or secrets & {"app_host", "app_port"}:
        from app.settings import load_settings

        settings = load_settings()
        return settings.host, settings.port
    return os.environ.get("APP_HOST", DEFAULT_HOST), int(os.environ.get("APP_PORT", DEFAULT_PORT))


def probe_host(host: str) -> str:
    """Where to connect for a server bound to `host`: loopback for every address."""
    return {"0.0.0.0": "127.0.0.1", "": "127.0.0.1", "::": "::1"}.get(host, host)


def main() -> int:
    try:
        host, port = address()
        connection = http.client.HTTPConnection(probe_host(host), port, timeout=2)
        connection.request("GET", "/info/status")
        response = connection.getresponse()
        body = response.read()
    except Exception as exc:  # the probe's one line, whatever went wrong
        print(f"unhealthy: {exc}", file=sys.stderr)
        return 1
    if response.status == 200 and b'"status":"ok"' in body:
        return 0
    print(f"unhealthy: HTTP {response.status} {body[:100]!r}", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
