"""A normal client beside an attack, from an address of its own: a container on the stack's
frontend network, where the attacks come from the host.

As a script (the standard library only: it runs on the API's image), `python normal_client.py
HOST SECONDS` asks `GET /info/status` of HOST's port 8443 five times a second, each time on a new
HTTPS connection as a new visitor would, and prints how many of each outcome it got as one JSON
object: `{"200": 75}`, or a status, or the name of an error.
"""

import http.client
import json
import ssl
import subprocess
import sys
import time
import uuid
from collections import Counter
from pathlib import Path
from types import TracebackType


def ask(host: str, seconds: float) -> Counter[str]:
    context = ssl.create_default_context()
    context.check_hostname = False  # the stack's self-signed certificate
    context.verify_mode = ssl.CERT_NONE
    outcomes: Counter[str] = Counter()
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        started = time.monotonic()
        connection = http.client.HTTPSConnection(host, 8443, timeout=5, context=context)
        try:
            connection.request("GET", "/info/status")
            response = connection.getresponse()
            response.read()
            outcomes[str(response.status)] += 1
        except (OSError, http.client.HTTPException) as exc:
            outcomes[type(exc).__name__] += 1
        finally:
            connection.close()
        time.sleep(max(0.0, 0.2 - (time.monotonic() - started)))
    return outcomes


class NormalClient:
    """`with NormalClient(project, image, seconds) as client: ...`, then `client.outcomes()`."""

    def __init__(self, project: str, image: str, seconds: float) -> None:
        self.seconds = seconds
        self.name = f"{project}-normal-client-{uuid.uuid4().hex[:8]}"
        self.command = [
            "docker", "run", "--rm", "--name", self.name, "--network", f"{project}_frontend",
            "--entrypoint", "python", image,
            "-c", Path(__file__).read_text(), "proxy", str(seconds),
        ]  # fmt: skip
        self.process: subprocess.Popen[str] | None = None

    def __enter__(self) -> "NormalClient":
        self.process = subprocess.Popen(self.command, stdout=subprocess.PIPE, text=True)
        return self

    def outcomes(self) -> dict[str, int]:
        """What it got, once its time is up."""
        assert self.process is not None
        out, _ = self.process.communicate(timeout=self.seconds + 60)
        assert self.process.returncode == 0, out
        result: dict[str, int] = json.loads(out)
        return result

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self.process is not None and self.process.poll() is None:
            subprocess.run(["docker", "rm", "-f", self.name], capture_output=True, timeout=60)
            self.process.kill()
            self.process.wait(timeout=30)


if __name__ == "__main__":
    print(json.dumps(ask(sys.argv[1], float(sys.argv[2]))))
