"""`python -m certs`: put a certificate in the shared volume, then keep it current.

Exits at once, with one line naming the setting, when a setting cannot be used (`certs.settings`,
certificate files that do not fit). An ACME order that fails is said in one line and tried again,
1 minute later and then less and less often (Let's Encrypt limits failed validations); HAProxy
meanwhile refuses TLS handshakes (`strict-sni`), it never serves another certificate instead.
SIGHUP renews now: `docker compose kill -s HUP certs`.
"""

import datetime
import signal
import sys
import threading
import time
from types import FrameType

from certs import certificates, haproxy
from certs.acme import AcmeError, obtain
from certs.certificates import PLACEHOLDER_NAME, SELF_SIGNED_NAMES, Served, read_served
from certs.challenges import ChallengeResponder
from certs.files import write_private
from certs.settings import SettingError, Settings, load_settings

# How often the certificate's dates are looked at again, however far its renewal.
CHECK_EVERY = datetime.timedelta(hours=12)
# A failed ACME order is tried again after 1, 2, 4 ... minutes, at most hourly.
RETRY_FIRST = 60.0
RETRY_MAX = 3600.0
# How long the first order waits for the proxy to start (it starts once this service is healthy).
PROXY_PATIENCE = 60.0


def log(message: str) -> None:
    print(f"certs: {message}", file=sys.stderr, flush=True)


def put_in_use(settings: Settings, pem: bytes, deadline: float = 30) -> None:
    """Write the certificate and hand it to the running HAProxy, if one runs yet."""
    write_private(settings.site_pem, pem)
    end = time.monotonic() + deadline
    while True:
        try:
            haproxy.install(settings.haproxy_socket, settings.site_pem, pem)
            return
        except (FileNotFoundError, ConnectionRefusedError):
            return  # No HAProxy runs: it reads the file when it starts.
        except (OSError, haproxy.HAProxyError) as error:
            if time.monotonic() > end:
                log(f"HAProxy did not take the new certificate: {error}")
                return
            time.sleep(1)


def served(settings: Settings) -> Served | None:
    try:
        return read_served(settings.site_pem.read_bytes())
    except FileNotFoundError:
        return None


def wanted(settings: Settings) -> frozenset[str]:
    return frozenset(settings.domains if settings.mode == "acme" else SELF_SIGNED_NAMES)


def describe(current: Served | None) -> str:
    if current is None:
        return "none"
    names = ", ".join(sorted(current.names))
    return f"{names} (until {current.not_after:%Y-%m-%d %H:%M}Z)"


def make(settings: Settings, responder: ChallengeResponder) -> bytes:
    if settings.mode == "acme":
        return obtain(settings, responder)
    return certificates.self_signed(SELF_SIGNED_NAMES)


def keep_current(
    settings: Settings, responder: ChallengeResponder, renew_now: threading.Event
) -> None:
    """ACME or self-signed: obtain when missing or for other names, renew when due."""
    if settings.mode == "acme":
        if served(settings) is None:
            # HAProxy needs a certificate to start, and must start to pass the challenge.
            put_in_use(settings, certificates.self_signed((PLACEHOLDER_NAME,)))
        # The CA validates through the proxy: order once it runs (its runtime API answers).
        if not haproxy.wait_running(settings.haproxy_socket, PROXY_PATIENCE):
            log(f"the proxy is not running after {PROXY_PATIENCE:.0f} s: ordering anyway")
    retry = RETRY_FIRST
    while True:
        current = served(settings)
        now = datetime.datetime.now(datetime.UTC)
        due = current is None or current.names != wanted(settings) or now >= current.renew_at
        if due or renew_now.is_set():
            renew_now.clear()
            try:
                put_in_use(settings, make(settings, responder))
            except AcmeError as error:
                log(f"{error} (trying again in {retry:.0f} s)")
                renew_now.wait(retry)
                retry = min(retry * 2, RETRY_MAX)
                continue
            retry = RETRY_FIRST
            current = served(settings)
            log(f"{settings.mode} certificate in use: {describe(current)}")
        assert current is not None  # noqa: S101 - written just above
        wait = min(current.renew_at - now, CHECK_EVERY).total_seconds()
        renew_now.wait(max(wait, 1.0))


def main() -> int:
    renew_now = threading.Event()

    def on_hup(signum: int, frame: FrameType | None) -> None:
        renew_now.set()

    def on_term(signum: int, frame: FrameType | None) -> None:
        sys.exit(0)

    signal.signal(signal.SIGHUP, on_hup)
    signal.signal(signal.SIGTERM, on_term)
    try:
        settings = load_settings()
        if settings.mode == "files":
            pem = certificates.from_files(
                settings.cert_pem, settings.key_pem, settings.cert_source, settings.key_source
            )
    except SettingError as error:
        log(str(error))
        return 2
    # Always on, so the challenge path answers the same in every mode (404 without an order).
    responder = ChallengeResponder()
    responder.start()
    if settings.mode == "files":
        put_in_use(settings, pem)
        log(f"certificate from TLS_CERT_FILE in use: {describe(served(settings))}")
        while True:
            signal.pause()
    keep_current(settings, responder, renew_now)
    return 0


if __name__ == "__main__":
    sys.exit(main())
