"""TLS for the HTTPS tests: a throwaway CA that issues certificates, and what a handshake shows."""

import datetime
import socket
import ssl
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from certs.certificates import key_pem


class ThrowawayCA:
    """A certificate authority made for one test run."""

    def __init__(self, name: str = "fastapi-app test CA") -> None:
        self.key = ec.generate_private_key(ec.SECP256R1())
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
        now = datetime.datetime.now(datetime.UTC)
        self.cert = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(subject)
            .public_key(self.key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=2))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(
                x509.SubjectKeyIdentifier.from_public_key(self.key.public_key()), critical=False
            )
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    key_cert_sign=True,
                    crl_sign=True,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .sign(self.key, hashes.SHA256())
        )

    @property
    def pem(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.PEM)

    def issue_later(self, *names: str, days_ahead: int) -> tuple[bytes, bytes]:
        """A certificate that is valid only from `days_ahead` days from now (a CA's clock)."""
        return self.issue(
            *names, now=datetime.datetime.now(datetime.UTC) + datetime.timedelta(days=days_ahead)
        )

    def issue(
        self, *names: str, days: int = 2, now: datetime.datetime | None = None
    ) -> tuple[bytes, bytes]:
        """A server certificate for DNS `names`, and its key, both PEM."""
        key = ec.generate_private_key(ec.SECP256R1())
        now = now or datetime.datetime.now(datetime.UTC)
        cert = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])]))
            .issuer_name(self.cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            # A negative `days` gives one that expired that long ago.
            .not_valid_before(now - datetime.timedelta(days=max(0, -2 * days), minutes=5))
            .not_valid_after(now + datetime.timedelta(days=days))
            .add_extension(
                x509.SubjectAlternativeName([x509.DNSName(n) for n in names]), critical=False
            )
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            # Python 3.13 verifies strictly (VERIFY_X509_STRICT): the issuer's key id is required.
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(self.key.public_key()),
                critical=False,
            )
            .sign(self.key, hashes.SHA256())
        )
        return cert.public_bytes(serialization.Encoding.PEM), key_pem(key)


@dataclass(frozen=True)
class Handshake:
    certificate: x509.Certificate
    alpn: str | None
    version: str | None


def unverified_connection(port: int, alpn: str, timeout: float = 10) -> ssl.SSLSocket:
    """A TLS connection to the proxy on the host's loopback for `localhost`, offering one protocol
    (`h2`, `http/1.1`), its certificate not checked (the stack's self-signed one)."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    context.set_alpn_protocols([alpn])
    raw = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    try:
        return context.wrap_socket(raw, server_hostname="localhost")
    except BaseException:
        raw.close()
        raise


def handshake(
    port: int, server_name: str | None, cafile: str | None = None, host: str = "127.0.0.1"
) -> Handshake:
    """A TLS handshake with the proxy on the host's loopback, verified against `cafile` when
    given (the chain and `server_name`), offering h2 and http/1.1 as browsers do."""
    context = ssl.create_default_context(cafile=cafile)
    if cafile is None:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    context.set_alpn_protocols(["h2", "http/1.1"])
    with socket.create_connection((host, port), timeout=10) as raw:
        with context.wrap_socket(raw, server_hostname=server_name) as tls:
            der = tls.getpeercert(binary_form=True)
            assert der is not None
            return Handshake(
                x509.load_der_x509_certificate(der), tls.selected_alpn_protocol(), tls.version()
            )


def names(certificate: x509.Certificate) -> set[str]:
    alt = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    return set(alt.get_values_for_type(x509.DNSName)) | {
        str(ip) for ip in alt.get_values_for_type(x509.IPAddress)
    }


def status_over_a_new_connection(port: int, server_name: str, cafile: str) -> int:
    """GET /info/status on a connection of its own, verified against `cafile` for
    `server_name` (which need not resolve: the proxy is on the host's loopback)."""
    context = ssl.create_default_context(cafile=cafile)
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
        with context.wrap_socket(raw, server_hostname=server_name) as tls:
            head = f"GET /info/status HTTP/1.1\r\nHost: {server_name}\r\nConnection: close\r\n"
            tls.sendall(head.encode() + b"\r\n")
            answer = b""
            while chunk := tls.recv(65536):
                answer += chunk
    return int(answer.split(b" ", 2)[1])
