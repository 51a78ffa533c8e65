"""Client certificates: mutual TLS client authentication and certificate-bound
tokens (RFC 8705).

The TLS layer and the server split the work. Python's ``ssl`` has no verify
callback: a server context that asks for a client certificate
(``CERT_OPTIONAL``) accepts only one that chains to what it trusts, and a
self-signed certificate trusted by nobody ends the handshake. So
:func:`configure` makes the server's context ask for a certificate and trust
the client CA (``client_ca=``) and each registered self-signed certificate,
and the server then decides, knowing which client claims it, what the
handshake alone cannot:

- ``tls_client_auth`` (§2.1): the certificate must be issued directly by a
  client CA (the ``ssl`` module of Python 3.11 does not give the chain the
  client sent, so intermediates are not followed) and hold the registered
  subject DN (compared as a distinguished name: the same attribute types in
  the same order, values without regard to case or repeated spaces) or
  subjectAltName entry;
- ``self_signed_tls_client_auth`` (§2.2): its SHA-256 thumbprint must be
  one the client registered. A certificate trusted at the TLS layer for one
  client authenticates no other.

A client without a certificate connects all the same (``CERT_OPTIONAL``):
it may authenticate another way. A certificate nothing trusts is refused by
the handshake, before any request.
"""

from __future__ import annotations

import ipaddress
import os
import re
import ssl
from pathlib import Path
from typing import TYPE_CHECKING, Final

from ._clients import RegisteredClient, thumbprint
from ._jose import Invalid

if TYPE_CHECKING:
    from cryptography.x509 import Certificate, Name

__all__ = [
    "ClientCa",
    "check_self_signed",
    "check_tls_client_auth",
    "configure",
    "read_certificates",
]

ClientCa = str | bytes | os.PathLike[str]
"""PEM text of one or more CA certificates, or the path of a PEM file."""

_PEM: Final = re.compile(
    rb"-----BEGIN CERTIFICATE-----\r?\n.+?\r?\n-----END CERTIFICATE-----", re.S
)


def read_certificates(material: ClientCa) -> tuple[bytes, ...]:
    """The DER bytes of each certificate in *material*.

    Raises:
      ValueError: when it holds no PEM certificate (a ``str`` is PEM text,
        not a path: give a path as a :class:`~pathlib.Path`).
      OSError: when the file cannot be read.
    """
    if isinstance(material, os.PathLike):
        data = Path(material).read_bytes()
    elif isinstance(material, str):
        data = material.encode()
    else:
        data = material
    found = tuple(
        ssl.PEM_cert_to_DER_cert(block.decode("ascii") + "\n")
        for block in _PEM.findall(data)
    )
    if not found:
        raise ValueError("client_ca holds no PEM certificate")
    return found


def configure(context: ssl.SSLContext, trusted: tuple[bytes, ...]) -> None:
    """Make the server-side *context* ask clients for a certificate and trust
    the *trusted* DER certificates (the client CAs and the registered
    self-signed certificates). A context that requires one already keeps
    ``CERT_REQUIRED``."""
    if context.verify_mode == ssl.CERT_NONE:
        context.verify_mode = ssl.CERT_OPTIONAL
    for der in trusted:
        context.load_verify_locations(cadata=der)


def check_self_signed(certificate: bytes, client: RegisteredClient) -> None:
    """Refuse unless *certificate* (DER) is one *client* registered.

    Raises:
      Invalid: ``"mismatch"``.
    """
    if thumbprint(certificate) not in client.thumbprints:
        raise Invalid("mismatch", "the client certificate is not the registered one")


def check_tls_client_auth(
    certificate: bytes, client: RegisteredClient, cas: tuple[bytes, ...]
) -> None:
    """Refuse unless *certificate* (DER) was issued by one of *cas* and holds
    what *client* registered.

    Raises:
      Invalid: ``"issuer"`` for a certificate no client CA issued,
        ``"mismatch"`` for one without the registered subject or name.
    """
    from . import _signatures  # cryptography, to read and check certificates

    x509 = _signatures.x509
    cert = _signatures.load_certificate(certificate)
    for der in cas:
        try:
            cert.verify_directly_issued_by(x509.load_der_x509_certificate(der))
        except (ValueError, TypeError, _signatures.InvalidSignature):
            continue  # another CA's, or not a signature of this one
        break
    else:
        raise Invalid("issuer", "the client certificate is not issued by the client CA")
    registered = client.tls_client_auth
    assert registered is not None  # the caller chose this method for it
    if not _holds(cert, *registered):
        raise Invalid("mismatch", "the client certificate is not the registered one")


def _folded(value: str | bytes) -> str | bytes:
    """An attribute value as caseIgnoreMatch compares it (RFC 4517 §4.2.11,
    RFC 4518 §2.3 and §2.6.1): case-folded, its runs of spaces one space,
    none at either end. A value that is no string (a BIT STRING) is
    compared as it is."""
    if isinstance(value, bytes):
        return value
    return " ".join(value.casefold().split())


def _dn_match(name: Name) -> tuple[frozenset[tuple[str, str | bytes]], ...]:
    """*name* as RFC 4517 distinguishedNameMatch (§4.2.15) compares it, in a
    simple form: its RDNs in order, each the set of its attribute types and
    values, every value compared as :func:`_folded` makes it. Exact value
    strings (``cryptography``'s ``Name`` equality) would refuse
    ``CN=client-dn`` for a certificate of ``CN=Client-DN``, which servers
    comparing distinguished names (Keycloak) accept."""
    return tuple(
        frozenset((attr.oid.dotted_string, _folded(attr.value)) for attr in rdn)
        for rdn in name.rdns
    )


def _holds(cert: Certificate, field: str, value: str) -> bool:
    """Whether *cert* holds *value* in the RFC 8705 §2.1.2 *field*."""
    from . import _signatures

    x509 = _signatures.x509
    if field == "tls_client_auth_subject_dn":
        try:
            registered = x509.Name.from_rfc4514_string(value)
        except ValueError:
            return False
        return _dn_match(registered) == _dn_match(cert.subject)
    try:
        names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    except x509.ExtensionNotFound:
        return False
    san = names.value
    if field == "tls_client_auth_san_dns":  # DNS names have no case
        return value.lower() in {
            n.lower() for n in san.get_values_for_type(x509.DNSName)
        }
    if field == "tls_client_auth_san_uri":
        return value in san.get_values_for_type(x509.UniformResourceIdentifier)
    if field == "tls_client_auth_san_email":
        return value in san.get_values_for_type(x509.RFC822Name)
    try:  # one address however spelled: ::1 is 0:0::1
        return ipaddress.ip_address(value) in san.get_values_for_type(x509.IPAddress)
    except ValueError:
        return False
