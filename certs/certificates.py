"""Certificates as HAProxy takes them: one PEM file, the chain then the key.

Made here (self-signed, the ACME placeholder), checked here (files), and read back to decide when
one is due for renewal.
"""

import datetime
import ipaddress
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes, PublicKeyTypes
from cryptography.x509.oid import NameOID

from certs.settings import SettingError

# What HAProxy serves while an ACME certificate is being obtained: a name no client asks for, so
# with `strict-sni` every handshake is refused instead of answered with a certificate not asked for.
PLACEHOLDER_NAME = "acme-pending.invalid"
SELF_SIGNED_NAMES = ("localhost", "127.0.0.1", "::1")
SELF_SIGNED_DAYS = 365


@dataclass(frozen=True)
class Served:
    """What a site.pem holds, as far as renewal is concerned."""

    names: frozenset[str]
    not_before: datetime.datetime
    not_after: datetime.datetime
    self_signed: bool

    @property
    def renew_at(self) -> datetime.datetime:
        """A third of the lifetime before expiry, as Let's Encrypt advises (30 days of 90)."""
        return self.not_after - (self.not_after - self.not_before) / 3


def new_key() -> ec.EllipticCurvePrivateKey:
    # P-256: the fastest handshakes, and every client Mozilla's "intermediate" profile supports.
    return ec.generate_private_key(ec.SECP256R1())


def key_pem(key: PrivateKeyTypes) -> bytes:
    """A private key as PEM (PKCS #8, unencrypted), as HAProxy and the account file take it."""
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def self_signed(names: tuple[str, ...], days: int = SELF_SIGNED_DAYS) -> bytes:
    """A self-signed certificate for `names` (DNS names or IP addresses), with its key."""
    key = new_key()
    now = datetime.datetime.now(datetime.UTC)
    alt_names: list[x509.GeneralName] = []
    for name in names:
        try:
            alt_names.append(x509.IPAddress(ipaddress.ip_address(name)))
        except ValueError:
            alt_names.append(x509.DNSName(name))
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])])
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=days))
        .add_extension(x509.SubjectAlternativeName(alt_names), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False
        )
        .sign(key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.PEM) + key_pem(key)


def from_files(cert_pem: bytes, key_pem_: bytes, cert_source: str, key_source: str) -> bytes:
    """The given certificate chain and key as one PEM, once checked that they belong together."""
    try:
        chain = x509.load_pem_x509_certificates(cert_pem)
    except ValueError:
        raise SettingError(f"TLS_CERT_FILE ({cert_source}): not a PEM certificate") from None
    try:
        key = serialization.load_pem_private_key(key_pem_, password=None)
    except (ValueError, TypeError):
        raise SettingError(
            f"TLS_KEY_FILE ({key_source}): not an unencrypted PEM private key"
        ) from None
    if public_pem(key.public_key()) != public_pem(chain[0].public_key()):
        raise SettingError(
            f"TLS_KEY_FILE ({key_source}): not the key of the certificate in TLS_CERT_FILE"
            f" ({cert_source})"
        )
    if chain[0].not_valid_after_utc < datetime.datetime.now(datetime.UTC):
        raise SettingError(
            f"TLS_CERT_FILE ({cert_source}): expired on {chain[0].not_valid_after_utc:%Y-%m-%d}"
        )
    certs = b"".join(c.public_bytes(serialization.Encoding.PEM) for c in chain)
    return certs + key_pem(key)


def unusable(chain_pem: bytes, key_pem_: bytes, names: frozenset[str]) -> str | None:
    """Why a chain issued for our key cannot be served for `names`, or None: it is checked before
    it replaces the certificate in use, whoever issued it."""
    try:
        leaf = x509.load_pem_x509_certificates(chain_pem)[0]
    except ValueError:
        return "that is not a PEM certificate"
    key = serialization.load_pem_private_key(key_pem_, password=None)
    if public_pem(key.public_key()) != public_pem(leaf.public_key()):
        return "for another key"
    missing = names - names_of(leaf)
    if missing:
        return f"that does not name {', '.join(sorted(missing))}"
    now = datetime.datetime.now(datetime.UTC)
    start, end = leaf.not_valid_before_utc, leaf.not_valid_after_utc
    if not start <= now + CLOCK_SKEW or end <= now:
        return f"that is not valid now (from {start:%Y-%m-%d %H:%M}Z to {end:%Y-%m-%d %H:%M}Z)"
    return None


def public_pem(key: PublicKeyTypes) -> bytes:
    public = serialization.PublicFormat.SubjectPublicKeyInfo
    return key.public_bytes(serialization.Encoding.PEM, public)


# How far ahead of our clock a certificate's start may be (a CA's clock, a few minutes off).
CLOCK_SKEW = datetime.timedelta(minutes=10)


def names_of(leaf: x509.Certificate) -> set[str]:
    """The DNS names and addresses a certificate is for."""
    try:
        alt = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return set()
    dns = set(alt.get_values_for_type(x509.DNSName))
    return dns | {str(ip) for ip in alt.get_values_for_type(x509.IPAddress)}


def read_served(pem: bytes) -> Served | None:
    """The names and validity of the certificate in a site.pem; None when there is none."""
    try:
        leaf = x509.load_pem_x509_certificates(pem)[0]
    except ValueError:
        return None
    return Served(
        names=frozenset(names_of(leaf)),
        not_before=leaf.not_valid_before_utc,
        not_after=leaf.not_valid_after_utc,
        self_signed=leaf.issuer == leaf.subject,
    )
