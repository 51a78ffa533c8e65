"""What the server knows of each client, and of each issuer it trusts.

A :class:`RegisteredClient` is a client of the generic endpoint with the
material of each way it may authenticate (RFC 6749 §2.3, RFC 7523 §2.2,
RFC 8705 §2): what it registered is what it may use, nothing else. A
:class:`TrustedIssuer` is a party whose signed JWTs the server takes as
grants (RFC 7523 §2.1) and as subject or actor tokens (RFC 8693).

Keys are read when the value is made, so that a bad key is the caller's
``ValueError`` then, never a refusal the test cannot explain; reading one
needs ``cryptography`` (the ``jwt`` extra). Client secrets are kept out of
the reprs.
"""

from __future__ import annotations

import hashlib
import ssl
from typing import TYPE_CHECKING, Final, final

import attrs

from ._jose import b64url

if TYPE_CHECKING:
    from ._signatures import PublicKey

__all__ = ["TLS_CLIENT_AUTH_FIELDS", "RegisteredClient", "TrustedIssuer", "thumbprint"]

TLS_CLIENT_AUTH_FIELDS: Final = (
    "tls_client_auth_subject_dn",
    "tls_client_auth_san_dns",
    "tls_client_auth_san_uri",
    "tls_client_auth_san_ip",
    "tls_client_auth_san_email",
)
"""The RFC 8705 §2.1.2 registration fields, one of which names the
certificate of a ``tls_client_auth`` client."""


def thumbprint(der: bytes) -> str:
    """The ``x5t#S256`` of a DER certificate: base64url SHA-256 (RFC 8705
    §3.1)."""
    return b64url(hashlib.sha256(der).digest())


def _public_key(material: object) -> PublicKey | None:
    if material is None:
        return None
    from . import _signatures  # cryptography, only for a client with a key

    return _signatures.public_key(material)


def _rfc4514(
    instance: object, attribute: attrs.Attribute[str | None], value: object
) -> None:
    # Parsed when registered: one that does not parse would refuse every
    # certificate later, as a mismatch that says nothing of the cause.
    if value is None:
        return
    from . import _signatures  # cryptography, only for an mTLS client

    try:
        _signatures.x509.Name.from_rfc4514_string(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise ValueError(
            f"tls_client_auth_subject_dn {value!r} is not an RFC 4514 "
            "distinguished name, such as 'CN=client,O=Example' (no space "
            "after a comma; a space at a value's end escaped as '\\ ')"
        ) from None


def _der(certificate: str | bytes | None) -> bytes | None:
    """The DER bytes of a PEM certificate (or DER given as bytes)."""
    if certificate is None:
        return None
    if isinstance(certificate, bytes) and not certificate.lstrip().startswith(b"-----"):
        return certificate
    text = (
        certificate.decode("ascii") if isinstance(certificate, bytes) else certificate
    )
    try:
        return ssl.PEM_cert_to_DER_cert(text.strip() + "\n")
    except ValueError:
        raise ValueError("self_signed_certificate is not a PEM certificate") from None


def _required_key(material: object) -> PublicKey:
    from . import _signatures

    return _signatures.public_key(material)


@final
@attrs.frozen(kw_only=True)
class RegisteredClient:
    """A client of the generic endpoint, with how it may authenticate.

    Each method needs its material: ``client_secret`` for
    ``client_secret_basic``, ``client_secret_post`` and ``client_secret_jwt``
    (HS256 under the secret's UTF-8 bytes); ``public_key`` for
    ``private_key_jwt``; one ``tls_client_auth_*`` field for
    ``tls_client_auth`` (the certificate issued by the server's
    ``client_ca``); ``self_signed_certificate`` or ``self_signed_thumbprint``
    for ``self_signed_tls_client_auth``.
    """

    client_id: str
    """The client's id."""
    client_secret: str | None = attrs.field(default=None, repr=False)
    """Its secret, or None for a client without one."""
    public_key: PublicKey | None = attrs.field(
        default=None, converter=_public_key, repr=False, eq=False
    )
    """Its ``private_key_jwt`` key: PEM (public key, certificate, or a private
    key whose public half is taken) or a ``cryptography`` key object (RSA of
    2048 bits or more, EC P-256, Ed25519 not of small order)."""
    key_id: str | None = None
    """The ``kid`` of ``public_key``: when set, an assertion whose header
    names another ``kid`` is refused (one without is taken)."""
    tls_client_auth_subject_dn: str | None = attrs.field(
        default=None, validator=_rfc4514
    )
    """The certificate's subject, as an RFC 4514 string (``CN=a,O=b``),
    compared as a distinguished name."""
    tls_client_auth_san_dns: str | None = None
    """A dNSName the certificate's subjectAltName must hold."""
    tls_client_auth_san_uri: str | None = None
    """A uniformResourceIdentifier it must hold."""
    tls_client_auth_san_ip: str | None = None
    """An iPAddress it must hold (IPv4 or IPv6 text)."""
    tls_client_auth_san_email: str | None = None
    """An rfc822Name it must hold."""
    self_signed_certificate: bytes | None = attrs.field(
        default=None, converter=_der, repr=False
    )
    """Its self-signed certificate (PEM, or DER bytes): the server adds it to
    what its TLS context trusts, and compares the thumbprint."""
    self_signed_thumbprint: str | None = None
    """Or the certificate's ``x5t#S256`` alone; then the caller's
    ``ssl_context`` must trust the certificate itself."""
    dpop_bound_access_tokens: bool = False
    """RFC 9449 §5.2: every token request must carry a DPoP proof."""

    def __attrs_post_init__(self) -> None:
        given = [name for name in TLS_CLIENT_AUTH_FIELDS if getattr(self, name)]
        if len(given) > 1:
            # RFC 8705 §2.1.2: "A single certificate field MUST be used."
            raise ValueError(
                f"register one tls_client_auth field, got {', '.join(given)}"
            )

    @property
    def thumbprints(self) -> frozenset[str]:
        """The ``x5t#S256`` of each self-signed certificate it may present."""
        found = set()
        if self.self_signed_certificate is not None:
            found.add(thumbprint(self.self_signed_certificate))
        if self.self_signed_thumbprint is not None:
            found.add(self.self_signed_thumbprint)
        return frozenset(found)

    @property
    def tls_client_auth(self) -> tuple[str, str] | None:
        """The registered ``tls_client_auth`` field and its value, or None."""
        for name in TLS_CLIENT_AUTH_FIELDS:
            value = getattr(self, name)
            if value:
                return name, value
        return None


@final
@attrs.frozen(kw_only=True)
class TrustedIssuer:
    """An issuer whose signed JWTs the generic endpoint takes: as the
    ``assertion`` of the JWT bearer grant (RFC 7523 §2.1), and as a
    ``subject_token`` or ``actor_token`` of type
    ``urn:ietf:params:oauth:token-type:jwt`` in a token exchange (RFC 8693)."""

    issuer: str
    """The ``iss`` of its JWTs."""
    public_key: PublicKey = attrs.field(converter=_required_key, repr=False, eq=False)
    """Its key, as :attr:`RegisteredClient.public_key`."""
    key_id: str | None = None
    """Its ``kid``, checked as :attr:`RegisteredClient.key_id` is."""
