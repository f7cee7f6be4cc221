"""The container's HEALTHCHECK, `python -m app.healthcheck`: standard library only, no curl needed.

Exits 0 when GET /info/status answers 200 with `"status":"ok"` (the tutorial's check), 1 otherwise.
"""

import http.client
import os
import sys


def main() -> int:
    port = int(os.environ.get("APP_PORT", "8000"))
    try:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
        connection.request("GET", "/info/status")
        response = connection.getresponse()
        body = response.read()
    except OSError as exc:
        print(f"unhealthy: {exc}", file=sys.stderr)
        return 1
    if response.status == 200 and b'"status":"ok"' in body:
        return 0
    print(f"unhealthy: HTTP {response.status} {body[:100]!r}", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
