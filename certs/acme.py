"""Certificates from an ACME directory (Let's Encrypt by default), proven by HTTP-01.

An order's tokens are answered by the responder (certs.challenges), to which the proxy sends the
directory's validation requests. The account key and its URL are kept in the shared volume, so a
restart does not register a new account.
"""

import datetime
import json
import time
from pathlib import Path

import requests
from acme import challenges, client, crypto_util, errors, messages
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from josepy.jwk import JWKRSA

from certs.certificates import key_pem, new_key, unusable
from certs.challenges import ChallengeResponder
from certs.files import write_private
from certs.settings import Settings

USER_AGENT = "fastapi-app-certs"
# How long an unreachable directory is tried again before the order is said to fail.
DIRECTORY_PATIENCE = 10.0


class AcmeError(Exception):
    """An order that failed; its message is one line naming the setting and the URL or name."""


def reason(error: BaseException) -> str:
    """The innermost cause of a network error, on one line."""
    while True:
        inner = getattr(error, "reason", None) or error.__cause__ or error.__context__
        if not isinstance(inner, BaseException):
            break
        error = inner
    text = " ".join(str(error).split()) or type(error).__name__
    return text[:200]


def _account(settings: Settings, account_file: Path) -> client.ClientV2:
    """A client signed in to the directory's account for this key, registered on first use."""
    saved = json.loads(account_file.read_text()) if account_file.exists() else {}
    if saved.get("directory") != settings.acme_directory:
        saved = {}
    if saved:
        private = serialization.load_pem_private_key(saved["key"].encode(), password=None)
        assert isinstance(private, rsa.RSAPrivateKey)  # noqa: S101 - written below
    else:
        private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    key = JWKRSA(key=private)
    net = client.ClientNetwork(key, user_agent=USER_AGENT)
    # A network that is not up yet (the container just started) is waited for, briefly.
    end = time.monotonic() + DIRECTORY_PATIENCE
    while True:
        try:
            directory = client.ClientV2.get_directory(settings.acme_directory, net)
            break
        except (requests.RequestException, ValueError) as error:
            if time.monotonic() > end:
                raise AcmeError(
                    f"ACME_DIRECTORY ({settings.acme_directory}): unreachable: {reason(error)}"
                ) from None
            time.sleep(1)
    acme = client.ClientV2(directory, net)
    contact = (f"mailto:{settings.acme_email}",) if settings.acme_email else ()
    registration = messages.NewRegistration(contact=contact, terms_of_service_agreed=True)
    try:
        acme.new_account(registration)
    except errors.ConflictError as existing:
        # This key has an account already: use it.
        net.account = messages.RegistrationResource(body=registration, uri=existing.location)
    if not saved:
        account = {"directory": settings.acme_directory, "key": key_pem(private).decode()}
        write_private(account_file, json.dumps(account).encode())
    return acme


def obtain(settings: Settings, responder: ChallengeResponder, timeout: float = 120) -> bytes:
    """A certificate for `settings.domains`, as HAProxy's PEM (chain, then a new key)."""
    try:
        acme = _account(settings, settings.tls_dir / "acme" / "account.json")
        key = key_pem(new_key())
        order = acme.new_order(crypto_util.make_csr(key, list(settings.domains)))
        for authorization in order.authorizations:
            # A name proven recently is not proven again (Let's Encrypt reuses a valid
            # authorization for up to 30 days): its challenge is answered already.
            if authorization.body.status == messages.STATUS_VALID:
                continue
            http01 = [
                c for c in authorization.body.challenges if isinstance(c.chall, challenges.HTTP01)
            ]
            if not http01:
                name = authorization.body.identifier.value
                raise AcmeError(f"TLS_DOMAINS: no HTTP-01 challenge offered for {name}")
            challenge = http01[0]
            response, validation = challenge.response_and_validation(acme.net.key)
            responder.tokens[challenge.chall.encode("token")] = validation
            acme.answer_challenge(challenge, response)
        deadline = datetime.datetime.now() + datetime.timedelta(seconds=timeout)
        order = acme.poll_and_finalize(order, deadline)
    except AcmeError:
        raise
    except errors.ValidationError as error:
        failed = [
            f"{a.body.identifier.value}: {c.error.detail}"
            for a in error.failed_authzrs
            for c in a.body.challenges
            if c.error is not None
        ]
        raise AcmeError(f"TLS_DOMAINS: validation failed: {'; '.join(failed)}"[:300]) from None
    except messages.Error as error:
        raise AcmeError(
            f"ACME_DIRECTORY ({settings.acme_directory}): {error.detail or error.typ}"[:300]
        ) from None
    except (requests.RequestException, errors.Error) as error:
        raise AcmeError(f"ACME_DIRECTORY ({settings.acme_directory}): {reason(error)}") from None
    finally:
        responder.tokens.clear()
    chain = order.fullchain_pem.encode()
    problem = unusable(chain, key, frozenset(settings.domains))
    if problem is not None:
        # The certificate in use stays (certs.__main__ tries again later).
        raise AcmeError(
            f"ACME_DIRECTORY ({settings.acme_directory}): issued a certificate {problem}"
        )
    return chain + key
