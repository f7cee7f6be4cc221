"""A stand-in for the API replicas that answers every request with the headers it received, as
JSON: what the proxy passes on, seen from behind it (tests/support/echo_api.yml puts it in the
stack); and `/info/status` as the API does, for the image's HEALTHCHECK. The standard library
only: it runs on the API's image, as its user."""

import json
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Echo(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        headers = {name.lower(): value for name, value in self.headers.items()}
        body = b'{"status":"ok"}' if self.path == "/info/status" else json.dumps(headers).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


if __name__ == "__main__":
    ThreadingHTTPServer(("0.0.0.0", 8000), Echo).serve_forever()
