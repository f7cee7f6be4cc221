"""The certificate manager (certs/) in process: which mode its settings choose, what it says about
input it cannot use, the certificates it makes, when it renews, and its two small servers' sides
(the HTTP-01 responder, HAProxy's runtime API). ACME end to end: tests/stack/test_https.py."""

import datetime
import os
import socket
import stat
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from certs import haproxy
from certs.acme import reason
from certs.certificates import PLACEHOLDER_NAME, from_files, read_served, self_signed, unusable
from certs.challenges import ChallengeResponder
from certs.files import write_private
from certs.settings import LETS_ENCRYPT, SettingError, load_settings
from testbed.host import free_port
from tests.support.tls import ThrowawayCA


@pytest.fixture
def secrets(tmp_path: Path) -> Path:
    directory = tmp_path / "secrets"
    directory.mkdir()
    # What compose mounts when no file is given: empty ones.
    (directory / "tls_cert").write_bytes(b"")
    (directory / "tls_key").write_bytes(b"")
    return directory


def env(secrets: Path, **values: str) -> dict[str, str]:
    return {"TLS_SECRETS_DIR": str(secrets), "TLS_DIR": str(secrets.parent / "tls"), **values}


def test_nothing_given_is_self_signed(secrets: Path) -> None:
    assert load_settings(env(secrets)).mode == "self-signed"


def test_domains_choose_acme_from_lets_encrypt_by_default(secrets: Path) -> None:
    settings = load_settings(env(secrets, TLS_DOMAINS="API.example.com, www.example.com"))
    assert settings.mode == "acme"
    assert settings.domains == ("api.example.com", "www.example.com")
    assert settings.acme_directory == LETS_ENCRYPT


def test_files_choose_files(secrets: Path) -> None:
    (secrets / "tls_cert").write_bytes(b"cert")
    (secrets / "tls_key").write_bytes(b"key")
    settings = load_settings(env(secrets, TLS_CERT_FILE="/host/tls.crt"))
    assert (settings.mode, settings.cert_source) == ("files", "/host/tls.crt")
    assert settings.key_source == str(secrets / "tls_key")  # no host path given: the mount's


@pytest.mark.parametrize(
    ("values", "files", "message"),
    [
        (
            {"TLS_DOMAINS": "example.com"},
            {"tls_cert": b"x", "tls_key": b"y"},
            "TLS_DOMAINS and TLS_CERT_FILE/TLS_KEY_FILE are both set: give one or the other",
        ),
        ({"TLS_DOMAINS": "*.example.com"}, {}, "TLS_DOMAINS: '*.example.com' is not a DNS name"),
        ({"TLS_DOMAINS": "localhost"}, {}, "TLS_DOMAINS: 'localhost' is not a DNS name"),
        (
            {"TLS_DOMAINS": "example.com", "ACME_DIRECTORY": "http://ca.example/dir"},
            {},
            "ACME_DIRECTORY (http://ca.example/dir): must be an https:// URL",
        ),
        (
            {"TLS_DOMAINS": "example.com", "ACME_EMAIL": "nobody"},
            {},
            "ACME_EMAIL (nobody): not an email address",
        ),
        ({"TLS_KEY_FILE": "/k"}, {"tls_key": b"y"}, "TLS_CERT_FILE ("),
        ({"TLS_CERT_FILE": "/c"}, {"tls_cert": b"x"}, "TLS_KEY_FILE ("),
    ],
)
def test_settings_that_cannot_be_used_are_named_in_one_line(
    secrets: Path, values: dict[str, str], files: dict[str, bytes], message: str
) -> None:
    for name, content in files.items():
        (secrets / name).write_bytes(content)
    with pytest.raises(SettingError) as error:
        load_settings(env(secrets, **values))
    assert str(error.value).startswith(message) and "\n" not in str(error.value)


def test_an_unreadable_secret_is_named_with_its_path(secrets: Path) -> None:
    (secrets / "tls_key").unlink()
    (secrets / "tls_key").mkdir()  # reading a directory fails, for root as for anyone
    with pytest.raises(SettingError, match=r"^TLS_KEY_FILE \(/host/tls.key\): cannot read it: "):
        load_settings(env(secrets, TLS_KEY_FILE="/host/tls.key"))


def test_the_self_signed_certificate_names_localhost_and_its_addresses() -> None:
    served = read_served(self_signed(("localhost", "127.0.0.1", "::1")))
    assert served is not None and served.self_signed
    assert served.names == {"localhost", "127.0.0.1", "::1"}
    assert served.not_after - served.not_before > datetime.timedelta(days=364)


def test_renewal_is_due_a_third_of_the_lifetime_before_expiry() -> None:
    served = read_served(self_signed((PLACEHOLDER_NAME,), days=90))
    assert served is not None
    assert abs(served.not_after - served.renew_at - datetime.timedelta(days=30)) < (
        datetime.timedelta(minutes=5)
    )


def test_files_give_the_chain_then_the_key_once_they_match() -> None:
    ca = ThrowawayCA()
    cert, key = ca.issue("api.example.com")
    pem = from_files(cert + ca.pem, key, "c", "k")
    assert pem.count(b"BEGIN CERTIFICATE") == 2 and pem.endswith(b"-----END PRIVATE KEY-----\n")
    assert pem.index(b"BEGIN CERTIFICATE") < pem.index(b"BEGIN PRIVATE KEY")


@pytest.mark.parametrize("case", ["other key", "not pem", "encrypted key", "expired"])
def test_files_that_do_not_fit_are_named(case: str) -> None:
    ca = ThrowawayCA()
    cert, key = ca.issue("api.example.com", days=-1 if case == "expired" else 2)
    expected = {
        "other key": "TLS_KEY_FILE (k): not the key of the certificate in TLS_CERT_FILE (c)",
        "not pem": "TLS_CERT_FILE (c): not a PEM certificate",
        "encrypted key": "TLS_KEY_FILE (k): not an unencrypted PEM private key",
        "expired": "TLS_CERT_FILE (c): expired on ",
    }[case]
    if case == "other key":
        key = ca.issue("api.example.com")[1]
    elif case == "not pem":
        cert = b"hello"
    elif case == "encrypted key":
        key = b"-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----\n"
    with pytest.raises(SettingError) as error:
        from_files(cert, key, "c", "k")
    assert str(error.value).startswith(expected)


@pytest.fixture
def responder() -> Iterator[tuple[ChallengeResponder, int]]:
    port = free_port()
    server = ChallengeResponder("127.0.0.1", port)
    server.start()
    try:
        yield server, port
    finally:
        server.stop()


def test_the_responder_answers_the_tokens_of_the_order_in_progress(
    responder: tuple[ChallengeResponder, int],
) -> None:
    server, port = responder
    server.tokens["abc"] = "abc.thumbprint"
    base = f"http://127.0.0.1:{port}/.well-known/acme-challenge"
    assert httpx.get(f"{base}/abc").text == "abc.thumbprint"
    assert httpx.get(f"{base}/other").status_code == 404
    assert httpx.get(f"http://127.0.0.1:{port}/abc").status_code == 404


def test_the_responder_says_nothing_of_itself(responder: tuple[ChallengeResponder, int]) -> None:
    _, port = responder
    response = httpx.get(f"http://127.0.0.1:{port}/.well-known/acme-challenge/x")
    assert "server" not in response.headers


def test_the_responder_bounds_silent_clients_in_time_and_count() -> None:
    port = free_port()
    server = ChallengeResponder("127.0.0.1", port, timeout=1, connections=4)
    server.start()
    silent = [socket.create_connection(("127.0.0.1", port), timeout=10) for _ in range(4)]
    try:
        # A fifth is closed at once while four are held; each of those is closed by the timeout.
        with socket.create_connection(("127.0.0.1", port), timeout=10) as fifth:
            fifth.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            assert fifth.recv(1024) == b""
        started = time.monotonic()
        assert all(sock.recv(1024) == b"" for sock in silent)
        assert time.monotonic() - started < 5
        base = f"http://127.0.0.1:{port}/.well-known/acme-challenge"
        assert httpx.get(f"{base}/other").status_code == 404  # and it serves again
    finally:
        for sock in silent:
            sock.close()
        server.stop()


def test_secrets_are_written_whole_and_private_whatever_the_umask(tmp_path: Path) -> None:
    path = tmp_path / "acme" / "account.json"
    # A temporary file left by a crash, readable by all, is not reused.
    path.parent.mkdir()
    (path.parent / ".account.json.new").write_bytes(b"old")
    (path.parent / ".account.json.new").chmod(0o644)
    previous = os.umask(0)
    try:
        write_private(path, b"first")
        write_private(path, b"second")
    finally:
        os.umask(previous)
    assert path.read_bytes() == b"second"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [p.name for p in path.parent.iterdir()] == ["account.json"]


@pytest.mark.parametrize("case", ["usable", "other key", "other name", "expired", "not yet"])
def test_an_issued_certificate_is_checked_before_it_is_used(case: str) -> None:
    ca = ThrowawayCA()
    names = frozenset({"api.example.com", "www.example.com"})
    cert, key = ca.issue(*sorted(names), days=-1 if case == "expired" else 2)
    if case == "other key":
        key = ca.issue(*sorted(names))[1]
    elif case == "other name":
        cert, key = ca.issue("api.example.com")
    elif case == "not yet":
        cert, key = ca.issue_later(*sorted(names), days_ahead=1)
    expected = {
        "usable": None,
        "other key": "for another key",
        "other name": "that does not name www.example.com",
        "expired": "that is not valid now (from ",
        "not yet": "that is not valid now (from ",
    }[case]
    problem = unusable(cert + ca.pem, key, names)
    assert problem == expected if expected is None else (problem or "").startswith(expected)


def test_a_network_error_is_told_by_its_innermost_cause() -> None:
    try:
        try:
            raise ConnectionRefusedError(111, "Connection refused")
        except OSError as inner:
            raise RuntimeError("HTTPSConnectionPool(...): Max retries exceeded") from inner
    except RuntimeError as error:
        assert reason(error) == "[Errno 111] Connection refused"


class FakeRuntimeAPI:
    """A unix socket that answers like HAProxy's runtime API, one command per connection."""

    def __init__(self, path: Path, answers: dict[str, str]) -> None:
        self.path, self.answers = path, answers
        self.received: list[str] = []
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(str(path))
        self.sock.listen()
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn:
                data = b""
                while not (data.endswith(b"\n\n") or data.startswith((b"commit", b"show"))):
                    data += conn.recv(65536)
                    if data.startswith((b"commit", b"show")) and data.endswith(b"\n"):
                        break
                text = data.decode()
                self.received.append(text)
                verb = " ".join(text.split()[:2])
                conn.sendall(self.answers.get(verb, "Unknown command\n").encode())


def test_a_certificate_is_set_then_committed_through_the_runtime_api(tmp_path: Path) -> None:
    api = FakeRuntimeAPI(
        tmp_path / "haproxy.sock",
        {"set ssl": "Transaction created for certificate /tls/site.pem!\n",
         "commit ssl": "Committing /tls/site.pem.\nSuccess!\n",
         "show info": "Name: HAProxy\n"},
    )  # fmt: skip
    pem = self_signed(("localhost",))
    assert haproxy.wait_running(api.path, timeout=5)
    haproxy.install(api.path, Path("/tls/site.pem"), pem)
    _, set_cert, commit = api.received
    assert set_cert.startswith("set ssl cert /tls/site.pem <<\n") and set_cert.endswith("\n\n")
    # The payload is the PEM without blank lines (a blank line would end it early).
    assert "\n\n" not in set_cert[:-2] and "BEGIN PRIVATE KEY" in set_cert
    assert commit == "commit ssl cert /tls/site.pem\n"
    api.sock.close()


def test_a_refused_certificate_is_an_error(tmp_path: Path) -> None:
    api = FakeRuntimeAPI(tmp_path / "haproxy.sock", {"set ssl": "unable to load the payload\n"})
    with pytest.raises(haproxy.HAProxyError, match="unable to load the payload"):
        haproxy.install(api.path, Path("/tls/site.pem"), self_signed(("localhost",)))
    api.sock.close()
