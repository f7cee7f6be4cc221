"""What the certificate manager is asked to do, read from its environment and secret files.

Every problem is a `SettingError`: one line that names the setting and the file or URL.
"""

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

LETS_ENCRYPT = "https://acme-v02.api.letsencrypt.org/directory"
# A DNS name as ACME certificates take it (no wildcard: HTTP-01 cannot prove one).
DOMAIN = re.compile(r"^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")

Mode = Literal["acme", "files", "self-signed"]


class SettingError(Exception):
    """A setting that cannot be used; its message is the one line to print."""


@dataclass(frozen=True)
class Settings:
    mode: Mode
    # Where the certificate HAProxy serves, the ACME account and the runtime socket live.
    tls_dir: Path
    domains: tuple[str, ...] = ()
    acme_directory: str = LETS_ENCRYPT
    acme_email: str = ""
    # The certificate and key given as files (mode "files"): their PEM text.
    cert_pem: bytes = b""
    key_pem: bytes = b""
    # How messages name them: the host's path when compose passed it, else the secret's.
    cert_source: str = ""
    key_source: str = ""

    @property
    def site_pem(self) -> Path:
        """What HAProxy serves (deploy/haproxy/haproxy.cfg): the chain, then the key."""
        return self.tls_dir / "site.pem"

    @property
    def haproxy_socket(self) -> Path:
        return self.tls_dir / "haproxy.sock"


def read_secret(setting: str, path: Path, shown_as: str) -> bytes:
    """A secret file's bytes; empty when it was not given (the stacks mount a blank file)."""
    try:
        return path.read_bytes().strip()
    except FileNotFoundError:
        return b""
    except OSError as error:
        raise SettingError(f"{setting} ({shown_as}): cannot read it: {error.strerror}") from None


def load_settings(environ: dict[str, str] | None = None) -> Settings:
    env = dict(os.environ if environ is None else environ)
    tls_dir = Path(env.get("TLS_DIR", "/tls"))
    secrets = Path(env.get("TLS_SECRETS_DIR", "/run/secrets"))
    # Shown in messages as the user gave them (the host's path), else as mounted here.
    cert_name = env.get("TLS_CERT_FILE") or str(secrets / "tls_cert")
    key_name = env.get("TLS_KEY_FILE") or str(secrets / "tls_key")
    cert_pem = read_secret("TLS_CERT_FILE", secrets / "tls_cert", cert_name)
    key_pem = read_secret("TLS_KEY_FILE", secrets / "tls_key", key_name)
    domains = tuple(d for d in re.split(r"[\s,]+", env.get("TLS_DOMAINS", "").lower()) if d)

    if domains:
        if cert_pem or key_pem:
            raise SettingError(
                "TLS_DOMAINS and TLS_CERT_FILE/TLS_KEY_FILE are both set: give one or the other"
            )
        for domain in domains:
            if not DOMAIN.match(domain):
                raise SettingError(f"TLS_DOMAINS: {domain!r} is not a DNS name ACME can certify")
        directory = env.get("ACME_DIRECTORY") or LETS_ENCRYPT
        if not directory.startswith("https://"):
            raise SettingError(f"ACME_DIRECTORY ({directory}): must be an https:// URL")
        email = env.get("ACME_EMAIL", "")
        if email and not re.match(r"^[^@\s]+@[^@\s]+\.[^@\s]+$", email):
            raise SettingError(f"ACME_EMAIL ({email}): not an email address")
        return Settings("acme", tls_dir, domains, directory, email)
    if cert_pem or key_pem:
        if not cert_pem:
            raise SettingError(f"TLS_CERT_FILE ({cert_name}): empty, but TLS_KEY_FILE is given")
        if not key_pem:
            raise SettingError(f"TLS_KEY_FILE ({key_name}): empty, but TLS_CERT_FILE is given")
        return Settings(
            "files",
            tls_dir,
            cert_pem=cert_pem,
            key_pem=key_pem,
            cert_source=cert_name,
            key_source=key_name,
        )
    return Settings("self-signed", tls_dir)
