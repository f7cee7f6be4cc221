"""The container's HEALTHCHECK, `python -m app.healthcheck`: no curl needed.

Exits 0 when GET /info/status answers 200 with `"status":"ok"` (the tutorial's check), 1 otherwise.
It probes where the server listens, read from the same configuration (app.settings): environment,
`.env` file and secret files. Reading it takes pydantic-settings, about 140 ms of imports, too
slow for a probe every 0.2 s while the container starts: where no `.env` file or secret file could
set the host or port, the environment is all there is to read, with the standard library alone.

The probe runs in the container's own CPU quota, so it imports next to nothing beyond the
interpreter's start: one request on a socket, read to its end. `http.client` would import email's
parser and `ssl`, which made each probe cost about five times the CPU of a bare `python -c pass`
(110 against 22 ms, in a replica of the stack), and a replica held to a tenth of a CPU stalled
for a second at every probe. tests/server/test_healthcheck.py keeps those imports out.
"""

import os
import socket
import sys

# app.settings' defaults (tests/unit/test_settings.py keeps them equal).
DEFAULT_HOST = "0.0.0.0"
DEFAULT_PORT = 8000
DEFAULT_SECRETS_DIR = "/run/secrets"


def address() -> tuple[str, int]:
    """The host and port the server listens on, as it reads them."""
    secrets_dir = os.environ.get("APP_SECRETS_DIR", DEFAULT_SECRETS_DIR)
    secrets = (
        {name.lower() for name in os.listdir(secrets_dir)} if os.path.isdir(secrets_dir) else set()
    )
    if os.path.exists(".env") or secrets & {"app_host", "app_port"}:
        from app.settings import load_settings

        settings = load_settings()
        return settings.host, settings.port
    return os.environ.get("APP_HOST", DEFAULT_HOST), int(os.environ.get("APP_PORT", DEFAULT_PORT))


def probe_host(host: str) -> str:
    """Where to connect for a server bound to `host`: loopback for every address."""
    return {"0.0.0.0": "127.0.0.1", "": "127.0.0.1", "::": "::1"}.get(host, host)


def get_status(host: str, port: int, timeout: float = 2) -> tuple[int, bytes]:
    """GET /info/status on a connection of its own: the answer's status code and body."""
    request = b"GET /info/status HTTP/1.1\r\nHost: healthcheck\r\nConnection: close\r\n\r\n"
    answer = b""
    # A bytes host: a str one would be encoded by the idna codec, which imports `re` and more.
    [(family, kind, protocol, _, address), *_] = socket.getaddrinfo(
        host.encode(), port, type=socket.SOCK_STREAM
    )
    with socket.socket(family, kind, protocol) as connection:
        connection.settimeout(timeout)
        connection.connect(address)
        connection.sendall(request)
        # The server closes after its answer (Connection: close); a few KiB is all it sends.
        while len(answer) < 65536 and (chunk := connection.recv(65536)):
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    status_line = head.split(b"\r\n", 1)[0].split()
    if (
        len(status_line) < 2
        or not status_line[0].startswith(b"HTTP/")
        or not status_line[1].isdigit()
    ):
        raise ValueError(f"not an HTTP answer: {answer[:100]!r}")
    return int(status_line[1]), body


def main() -> int:
    try:
        host, port = address()
        status, body = get_status(probe_host(host), port)
    except Exception as exc:  # the probe's one line, whatever went wrong
        print(f"unhealthy: {exc}", file=sys.stderr)
        return 1
    if status == 200 and b'"status":"ok"' in body:
        return 0
    print(f"unhealthy: HTTP {status} {body[:100]!r}", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
