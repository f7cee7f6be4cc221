"""The HTTP-01 responder: answers the ACME directory's validation requests for an order's tokens.

The proxy sends `/.well-known/acme-challenge/` on its HTTP port here (port 8402). Those requests
come from anyone who can reach the proxy, so the server is bounded (time, connections) and quiet.
"""

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

CHALLENGE_PORT = 8402
CHALLENGE_PREFIX = "/.well-known/acme-challenge/"


class ChallengeResponder:
    """Answers HTTP-01 challenges: GET /.well-known/acme-challenge/<token>. The CA's validation
    requests come through the proxy, from anyone who can reach it: a request must come within
    `timeout` seconds, at most `connections` are served at once (the rest are closed as they
    come), and the answers say nothing of the server."""

    def __init__(
        self,
        host: str = "0.0.0.0",  # noqa: S104
        port: int = CHALLENGE_PORT,
        timeout: float = 5,
        connections: int = 16,
    ) -> None:
        self.tokens: dict[str, str] = {}
        tokens = self.tokens

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                token = self.path.removeprefix(CHALLENGE_PREFIX)
                body = tokens.get(token) if self.path.startswith(CHALLENGE_PREFIX) else None
                self.send_response(200 if body else 404)
                self.send_header("Content-Type", "text/plain")
                self.end_headers()
                self.wfile.write((body or "not found").encode())

            def send_response(self, code: int, message: str | None = None) -> None:
                # http.server's, without its Server header (Python's version).
                self.send_response_only(code, message)
                self.send_header("Date", self.date_time_string())

            def log_message(self, format: str, *args: Any) -> None:
                pass  # The proxy's access log has these requests.

        Handler.timeout = timeout
        self.server = BoundedServer((host, port), Handler, connections)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class BoundedServer(ThreadingHTTPServer):
    """A thread a connection, at most `connections` at once: one more is closed at once."""

    def __init__(
        self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler], connections: int
    ) -> None:
        super().__init__(address, handler)
        self.slots = threading.BoundedSemaphore(connections)

    def process_request(self, request: Any, client_address: Any) -> None:
        if not self.slots.acquire(blocking=False):
            self.shutdown_request(request)
            return
        super().process_request(request, client_address)

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self.slots.release()
