"""Put a new certificate in use in the running HAProxy, through its runtime API.

`set ssl cert` then `commit ssl cert` swap it for new handshakes; connections already open keep
theirs. No reload: nothing is dropped. The socket is in the shared volume (haproxy.cfg's
`stats socket`). HAProxy reads the file itself when it starts.
"""

import socket
import time
from pathlib import Path


class HAProxyError(Exception):
    """HAProxy did not take the certificate."""


def command(sock_path: Path, line: str, timeout: float = 10) -> str:
    """One command on its own connection (the runtime API's non-interactive mode)."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
        conn.settimeout(timeout)
        conn.connect(str(sock_path))
        conn.sendall(line.encode())
        chunks = []
        while chunk := conn.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks).decode(errors="replace")


def wait_running(sock_path: Path, timeout: float) -> bool:
    """Whether HAProxy answers on its runtime API within `timeout` seconds."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            if "Name: HAProxy" in command(sock_path, "show info\n", timeout=2):
                return True
        except OSError:
            pass
        time.sleep(0.2)
    return False


def install(sock_path: Path, crt_path: Path, pem: bytes) -> None:
    """Swap the certificate HAProxy loaded from `crt_path` for `pem`."""
    # The payload follows `<<` and ends at the first empty line.
    payload = "\n".join(line for line in pem.decode().splitlines() if line.strip())
    answer = command(sock_path, f"set ssl cert {crt_path} <<\n{payload}\n\n")
    if "Transaction" not in answer:
        raise HAProxyError(f"set ssl cert {crt_path}: {' '.join(answer.split())}")
    answer = command(sock_path, f"commit ssl cert {crt_path}\n")
    if "Success" not in answer:
        raise HAProxyError(f"commit ssl cert {crt_path}: {' '.join(answer.split())}")
