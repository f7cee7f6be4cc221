"""HTTPS at the edge: the certificate's three sources (ACME, files, self-signed), the redirect from
HTTP, HSTS, HTTP/2, a renewal under load, the TLS configuration (testssl.sh), and bad input.

ACME runs end to end against pebble, Let's Encrypt's test CA, in a container on the stack's network:
a Compose file of the test's adds it, and gives the proxy a DNS name there (NAME) for pebble to
validate. Every stack here is a fresh one, taken down with its volumes.
"""

import json
import os
import shutil
import ssl
import threading
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from cryptography.hazmat.primitives.serialization import Encoding

from testbed.compose import Stack, compose_up, get, stack_env
from testbed.docker import Container, docker
from testbed.host import ROOT, wait_until
from tests.support.loadgen import Load
from tests.support.tls import ThrowawayCA, handshake, names, status_over_a_new_connection

pytestmark = pytest.mark.stack

# The tools these tests run beside the stack: the official images, or CI's local stand-ins.
PEBBLE_IMAGE = os.environ.get("PEBBLE_IMAGE", "ghcr.io/letsencrypt/pebble:2.8.0")
TESTSSL_IMAGE = os.environ.get("TESTSSL_IMAGE", "ghcr.io/testssl/testssl.sh:3.2")
# The name the proxy has on the stack's network, certified by pebble or by the test CA.
NAME = "edge.fastapi-app.test"
# testssl.sh's report, kept for CI to publish (.github/workflows/ci.yml).
ARTIFACTS = ROOT / "build" / "test-artifacts"


def tls_port(stack: Stack) -> int:
    return int(stack.env["PROXY_TLS_PORT"])


def certs_log(stack: Stack) -> str:
    return "\n".join(stack.logs("certs"))


def read_in(container: Container, path: str) -> str:
    """A file's text in a container, read with its own python (Alpine and Debian alike)."""
    result = container.exec("python", "-c", f"print(open({path!r}).read(), end='')")
    assert result.returncode == 0, result.stderr
    return result.stdout


# --- None given: self-signed for localhost ----------------------------------------------------


@pytest.fixture(scope="module")
def default_stack() -> Iterator[Stack]:
    with compose_up(stack_env("10.231.243.0/24")) as stack:
        yield stack


def test_a_fresh_clone_serves_https_with_a_self_signed_localhost_certificate(
    default_stack: Stack,
) -> None:
    shown = handshake(tls_port(default_stack), "localhost")
    assert {"localhost", "127.0.0.1", "::1"} <= names(shown.certificate)
    assert shown.certificate.issuer == shown.certificate.subject
    # HTTP/2 where the client offers it; TLS 1.3 where it can.
    assert shown.alpn == "h2" and shown.version == "TLSv1.3"
    assert get(f"{default_stack.url}/").content == b'"Hello World"'
    assert get(f"{default_stack.url}/info/status").content == b'{"status":"ok"}'
    # A client that offers no ALPN still gets HTTP/1.1.
    assert get(f"{default_stack.url}/").http_version == "HTTP/1.1"


def test_plain_http_redirects_to_https_on_the_published_port(default_stack: Stack) -> None:
    https = f"https://127.0.0.1:{tls_port(default_stack)}"
    read = httpx.get(f"{default_stack.http_url}/info/status?x=1")
    assert (read.status_code, read.headers["location"]) == (301, f"{https}/info/status?x=1")
    # Other methods keep their method and body.
    write = httpx.post(f"{default_stack.http_url}/items", content=b"{}")
    assert (write.status_code, write.headers["location"]) == (308, f"{https}/items")
    # The name the client used is kept, its port replaced.
    named = httpx.get(f"{default_stack.http_url}/", headers={"Host": "api.example.com:8080"})
    assert named.headers["location"] == f"https://api.example.com:{tls_port(default_stack)}/"
    # Nothing is served over plain HTTP but the redirect.
    assert read.content == b"" and "strict-transport-security" not in read.headers


def test_acme_challenges_are_not_redirected(default_stack: Stack) -> None:
    response = httpx.get(f"{default_stack.http_url}/.well-known/acme-challenge/unknown-token")
    # The certificate manager's responder answers: no such token.
    assert response.status_code == 404 and response.text == "not found"


def test_https_answers_carry_hsts(default_stack: Stack) -> None:
    for path in ("/", "/nothing-here", "/docs"):
        response = get(f"{default_stack.url}{path}")
        assert response.headers["strict-transport-security"] == "max-age=63072000", path


def test_redirects_the_app_builds_point_at_https(default_stack: Stack) -> None:
    # FastAPI's trailing-slash redirect, built from X-Forwarded-Proto.
    response = get(f"{default_stack.url}/info/status/")
    assert response.status_code == 307
    assert response.headers["location"] == f"{default_stack.url}/info/status"


def test_the_certificate_manager_is_hardened(default_stack: Stack) -> None:
    [certs] = default_stack.containers("certs")
    config = certs.inspect()
    host = config["HostConfig"]
    assert host["ReadonlyRootfs"] is True and host["CapDrop"] == ["ALL"]
    assert config["Config"]["User"] not in ("", "0", "root")
    # Nothing of it is published: the proxy reaches its challenge responder on the network.
    assert not any((host["PortBindings"] or {}).values())


# --- From files --------------------------------------------------------------------------------


@dataclass
class Files:
    ca: ThrowawayCA
    directory: Path
    cert: Path
    key: Path


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> Files:
    ca = ThrowawayCA()
    directory = tmp_path_factory.mktemp("tls-files")
    cert_pem, key_pem = ca.issue(NAME)
    cert, key = directory / "tls.crt", directory / "tls.key"
    cert.write_bytes(cert_pem + ca.pem)  # the chain, the server's first
    key.write_bytes(key_pem)
    # Readable by the certificate manager's UID (99); here only the test's files.
    cert.chmod(0o644)
    key.chmod(0o644)
    return Files(ca, directory, cert, key)


def test_a_certificate_from_files_is_served(files: Files, tmp_path: Path) -> None:
    cafile = tmp_path / "ca.pem"
    cafile.write_bytes(files.ca.pem)
    env = {
        **stack_env("10.231.242.0/24"),
        "TLS_CERT_FILE": str(files.cert),
        "TLS_KEY_FILE": str(files.key),
    }
    with compose_up(env) as stack:
        # Verified: the chain up to the test CA, and the name.
        shown = handshake(tls_port(stack), NAME, cafile=str(cafile))
        assert names(shown.certificate) == {NAME}
        assert files.cert.read_bytes().startswith(shown.certificate.public_bytes(Encoding.PEM))
        assert shown.alpn == "h2"


def failed_start(env: dict[str, str], project: str) -> tuple[str, str]:
    """`up --wait` that must fail: compose's error, and the certificate manager's log. The proxy
    must not be running: never plain HTTP only, never another certificate."""
    stack = Stack(project=project, env=env)
    try:
        result = stack.run("up", "--build", "--detach", "--wait", check=False, timeout=300)
        assert result.returncode != 0, result.stdout
        running = [c for c in stack.containers("proxy") if c.inspect()["State"]["Running"]]
        assert running == []
        return result.stderr, "\n".join(stack.logs("certs"))
    finally:
        stack.compose("down", "--volumes", "--timeout", "5", check=False)


@pytest.mark.parametrize("case", ["other key", "unreadable key", "not a certificate", "missing"])
def test_certificate_files_that_cannot_be_used_stop_the_start_in_one_line(
    files: Files, tmp_path: Path, case: str
) -> None:
    cert, key = files.cert, files.key
    if case == "other key":
        key = tmp_path / "other.key"
        key.write_bytes(files.ca.issue(NAME)[1])
        key.chmod(0o644)
        expected = f"TLS_KEY_FILE ({key}): not the key of the certificate in TLS_CERT_FILE ({cert})"
    elif case == "unreadable key":
        key = tmp_path / "private.key"
        shutil.copy(files.key, key)
        key.chmod(0o600)  # the test's user only: not the manager's UID
        expected = f"TLS_KEY_FILE ({key}): cannot read it: Permission denied"
    elif case == "not a certificate":
        cert = tmp_path / "tls.crt"
        cert.write_text("not a certificate\n")
        cert.chmod(0o644)
        expected = f"TLS_CERT_FILE ({cert}): not a PEM certificate"
    else:
        cert = tmp_path / "not-there.crt"
        expected = str(cert)
    env = {
        **stack_env("10.231.241.0/24"),
        "TLS_CERT_FILE": str(cert),
        "TLS_KEY_FILE": str(key),
    }
    error, logs = failed_start(env, f"fastapi-app-test-tls-{case.replace(' ', '-')}")
    if case == "missing":
        assert expected in error  # Compose refuses to mount it, naming the file
    else:
        lines = [line for line in logs.splitlines() if "certs:" in line]
        assert lines and set(lines) == {f"certs: {expected}"}, logs


# --- ACME, against pebble ----------------------------------------------------------------------


@dataclass
class Pebble:
    override: Path
    directory: Path


@pytest.fixture(scope="module")
def pebble(tmp_path_factory: pytest.TempPathFactory) -> Pebble:
    """pebble's configuration, its HTTPS certificate (from a test CA the certificate manager is
    told to trust), and the Compose file that adds it to the stack."""
    directory = tmp_path_factory.mktemp("pebble")
    directory.chmod(0o755)
    ca = ThrowawayCA("pebble's HTTPS test CA")
    cert, key = ca.issue("pebble")
    (directory / "cert.pem").write_bytes(cert)
    (directory / "key.pem").write_bytes(key)
    (directory / "ca.pem").write_bytes(ca.pem)
    config = {
        "pebble": {
            "listenAddress": "0.0.0.0:14000",
            "managementListenAddress": "0.0.0.0:15000",
            "certificate": "/pebble/cert.pem",
            "privateKey": "/pebble/key.pem",
            # Where it validates HTTP-01: the proxy's plain HTTP port, inside the network.
            "httpPort": 8080,
            "tlsPort": 8443,
            # Certificates like Let's Encrypt's: valid 90 days, with a revocation URL (theirs
            # carry a CRL's; pebble can give an OCSP one). Without it, testssl.sh says HIGH.
            "certificateValidityPeriod": 90 * 24 * 3600,
            "ocspResponderURL": "http://pebble:4002",
            "externalAccountBindingRequired": False,
        }
    }
    (directory / "pebble.json").write_text(json.dumps(config))
    for path in directory.iterdir():
        path.chmod(0o644)
    override = directory / "compose.pebble.yml"
    override.write_text(
        f"""
services:
  pebble:
    image: {PEBBLE_IMAGE}
    entrypoint: ["/app"]
    # Docker's DNS, where the proxy has the name it validates.
    command: ["-config", "/pebble/pebble.json", "-dnsserver", "127.0.0.11:53"]
    environment:
      # No random waits before validating, no random nonce rejections: a run as fast as can be.
      PEBBLE_VA_NOSLEEP: "1"
      PEBBLE_WFE_NONCEREJECT: "0"
      # A name proven once stays proven, as Let's Encrypt does for 30 days: the first order
      # answers a challenge, a renewal finds its authorization valid already.
      PEBBLE_AUTHZREUSE: "100"
    volumes: ["{directory}:/pebble:ro"]
    ports: ["127.0.0.1::15000"]
    networks: [frontend]
  certs:
    environment:
      REQUESTS_CA_BUNDLE: /pebble/ca.pem
    volumes: ["{directory}:/pebble:ro"]
    depends_on: [pebble]
  proxy:
    networks:
      frontend:
        aliases: ["{NAME}"]
      backend: {{}}
"""
    )
    return Pebble(override, directory)


def pebble_root(stack: Stack, into: Path) -> Path:
    """pebble's root CA (made at its start), from its management API."""
    [container] = stack.containers("pebble")
    port = docker("port", container.id, "15000").stdout.split(":")[-1].strip()
    root = httpx.get(f"https://127.0.0.1:{port}/roots/0", verify=False).content
    into.write_bytes(root)
    return into


def acme_env(subnet: str, **extra: str) -> dict[str, str]:
    return {
        **stack_env(subnet),
        "TLS_DOMAINS": NAME,
        "ACME_DIRECTORY": "https://pebble:14000/dir",
        # The renewal test's load comes from one address, the host's: past 1,000 requests a
        # second (a fast machine) it would get 429s (docs/stack.md).
        "CLIENT_MAX_RATE": "1000000",
        **extra,
    }


@pytest.fixture(scope="module")
def acme_stack(pebble: Pebble) -> Iterator[Stack]:
    with compose_up(acme_env("10.231.240.0/24"), overrides=(pebble.override,)) as stack:
        yield stack


def serial(stack: Stack, cafile: Path) -> int | None:
    """The serial of the certificate served for NAME, verified; None while none verifies."""
    try:
        return handshake(tls_port(stack), NAME, cafile=str(cafile)).certificate.serial_number
    except (ssl.SSLError, OSError):
        return None


@pytest.fixture(scope="module")
def root(acme_stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """pebble's root, once the stack serves a certificate for NAME that verifies against it:
    obtained at first start, within a minute."""
    path = pebble_root(acme_stack, tmp_path_factory.mktemp("pebble-root") / "root.pem")
    wait_until(lambda: serial(acme_stack, path) is not None, 60, "a certificate from pebble")
    return path


def test_acme_obtains_a_certificate_at_first_start(acme_stack: Stack, root: Path) -> None:
    shown = handshake(tls_port(acme_stack), NAME, cafile=str(root))
    assert names(shown.certificate) == {NAME} and shown.alpn == "h2"
    assert "acme certificate in use: " + NAME in certs_log(acme_stack)
    # The account and the certificate are in the volume, readable by their owner only.
    [certs] = acme_stack.containers("certs")
    assert json.loads(read_in(certs, "/tls/acme/account.json"))["key"]
    for path in ("/tls/acme/account.json", "/tls/site.pem"):
        mode = certs.exec(
            "python", "-c", f"import os; print(oct(os.stat({path!r}).st_mode & 0o777))"
        )
        assert mode.stdout.strip() == "0o600", (path, mode.stdout, mode.stderr)


def test_acme_mode_answers_only_for_the_names_certified(acme_stack: Stack) -> None:
    # The name's TLS handshake, then another Host: 421, and a plain HTTP redirect never leads there.
    def ask(url: str, host: str) -> httpx.Response:
        with httpx.Client(verify=False) as client:
            return client.get(url, headers={"Host": host}, extensions={"sni_hostname": NAME})

    served = ask(f"{acme_stack.url}/", NAME)
    other = ask(f"{acme_stack.url}/", "evil.example")
    assert served.status_code == 200
    assert other.status_code == 421
    assert other.json() == {"detail": "This server does not serve that host."}
    redirect = ask(f"{acme_stack.http_url}/", f"{NAME}:80")
    refused = ask(f"{acme_stack.http_url}/", "evil.example")
    assert redirect.status_code == 301 and redirect.headers["location"].startswith(
        f"https://{NAME}:"
    )
    assert refused.status_code == 421 and "location" not in refused.headers


def test_acme_mode_serves_only_the_names_certified(acme_stack: Stack, root: Path) -> None:
    for server_name in (None, "other.example.com"):
        with pytest.raises(ssl.SSLError):
            handshake(tls_port(acme_stack), server_name)


def test_a_forced_renewal_under_load_fails_no_request(acme_stack: Stack, root: Path) -> None:
    first = serial(acme_stack, root)
    # New connections, each verified against pebble's root, beside kept-alive ones.
    handshakes: Counter[str] = Counter()
    stop = threading.Event()

    def connect() -> None:
        while not stop.is_set():
            try:
                status = status_over_a_new_connection(tls_port(acme_stack), NAME, str(root))
                handshakes[str(status)] += 1
            except (ssl.SSLError, OSError) as error:
                handshakes[type(error).__name__] += 1

    threads = [threading.Thread(target=connect) for _ in range(4)]
    with Load(f"{acme_stack.url}/", connections=8, server_name=NAME) as load:
        for thread in threads:
            thread.start()
        try:
            load.wait_flowing()
            docker("kill", "--signal", "HUP", acme_stack.containers("certs")[0].id)
            try:
                wait_until(lambda: serial(acme_stack, root) not in (first, None), 60, "renewal")
            except TimeoutError:
                raise AssertionError(certs_log(acme_stack)) from None
            load.wait_flowing(len(load.outcomes) + 200)
        finally:
            stop.set()
            for thread in threads:
                thread.join()
    assert load.summary() == {"200": len(load.outcomes)}, load.summary()
    assert set(handshakes) == {"200"} and handshakes["200"] > 0, handshakes


def test_a_restart_keeps_the_account_and_the_certificate(acme_stack: Stack, root: Path) -> None:
    [certs] = acme_stack.containers("certs")
    account = read_in(certs, "/tls/acme/account.json")
    before = serial(acme_stack, root)
    acme_stack.compose("restart", "certs")
    certs.wait_healthy(timeout=30)
    assert read_in(certs, "/tls/acme/account.json") == account
    assert serial(acme_stack, root) == before


def test_testssl_finds_nothing_high_or_critical(
    acme_stack: Stack, root: Path, tmp_path: Path
) -> None:
    out = tmp_path / "testssl"
    out.mkdir(mode=0o777)
    out.chmod(0o777)  # its official image runs as a user of its own
    root.chmod(0o644)
    result = docker(
        "run", "--rm",
        "--network", f"{acme_stack.project}_frontend",
        "-v", f"{out}:/out",
        "-v", f"{root}:/ca/root.pem:ro",
        TESTSSL_IMAGE,
        "--jsonfile", "/out/testssl.json",
        "--add-ca", "/ca/root.pem",
        "--color", "0",
        "--warnings", "batch",
        f"{NAME}:8443",
        check=False,
        timeout=290,
    )  # fmt: skip
    report = out / "testssl.json"
    assert report.exists(), result.stdout[-2000:] + result.stderr[-2000:]
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    shutil.copy(report, ARTIFACTS / "testssl.json")
    findings = json.loads(report.read_text())
    by_id = {f["id"]: f for f in findings}
    severe = [f for f in findings if f["severity"] in ("HIGH", "CRITICAL")]
    assert severe == [], severe
    for protocol in ("SSLv2", "SSLv3", "TLS1", "TLS1_1"):
        assert by_id[protocol]["finding"] == "not offered", by_id[protocol]
    for protocol in ("TLS1_2", "TLS1_3"):
        assert by_id[protocol]["finding"].startswith("offered"), by_id[protocol]
    assert not [f for f in findings if f["id"] == "scanProblem"], findings


def test_an_unreachable_acme_directory_is_said_in_one_line_and_nothing_else_is_served(
    pebble: Pebble,
) -> None:
    directory = "https://acme.invalid/directory"
    env = acme_env("10.231.239.0/24", ACME_DIRECTORY=directory)
    with compose_up(env, overrides=(pebble.override,)) as stack:
        wait_until(lambda: "ACME_DIRECTORY" in certs_log(stack), 60, "the certificate manager")
        [line] = [line for line in certs_log(stack).splitlines() if "ACME_DIRECTORY" in line]
        assert line.startswith(f"certs: ACME_DIRECTORY ({directory}): unreachable: "), line
        # No certificate for the name: the handshake is refused, and plain HTTP only redirects.
        with pytest.raises(ssl.SSLError):
            handshake(tls_port(stack), NAME)
        response = httpx.get(f"{stack.http_url}/", headers={"Host": NAME})
        assert response.status_code == 301 and response.content == b""
