"""DPoP proofs (RFC 9449), checked as §4.3 lists, at the token endpoint and
at the resource.

A proof is one ``DPoP`` header (§4.3 items 1-2) holding a JWS whose ``typ``
is ``dpop+jwt`` (a media type: in any case, ``application/`` optional),
whose ``alg`` is asymmetric (RS256, PS256, ES256, EdDSA) and whose ``jwk``
is a public key of that algorithm's type with no private member, the
signature verifying under it (items 3-7). Its claims: a ``jti`` not seen
before for that key (§11.1), ``htm`` the request's method, ``htu`` the
request's URL (item 9: only RFC 3986 characters, without query and fragment,
compared after RFC 3986 §6.2.2 and §6.2.3 normalisation: scheme and host
case, percent-encoding case, unreserved characters decoded, the default port
dropped, an empty path as ``/``), ``iat`` within :data:`WINDOW` seconds of
now either way (item 11), and, at the resource, ``ath`` the base64url
SHA-256 of the access token (item 12). The URL is the server's scheme, the
request's ``Host`` and its path, and that ``Host`` must name the server
itself: the host and port it listens on, or for a loopback or wildcard
address the loopback names that reach it (``localhost``, ``127.0.0.1`` or
``[::1]``), with its port. A ``Host`` naming another authority refuses the
proof (``htu``): otherwise a proof made for another server would pass
whenever the request said that server's name. A proof made for another host,
port or path is refused.

When the server wants nonces, ``nonce`` must be its current one (item 10),
checked last, so that a client learns it needs one only with an otherwise
good proof; its ``jti`` is then used all the same, and the proof that
carries the nonce must be a new one. The key's RFC 7638 thumbprint is what a
bound token's ``cnf.jkt`` holds (§6.1).
"""

from __future__ import annotations

import hashlib
import ipaddress
import re
import urllib.parse
from collections.abc import Sequence
from typing import Final, final

import attrs

from ._guard import Guard
from ._jose import (
    ASYMMETRIC,
    Invalid,
    b64url,
    jwk_thumbprint,
    media_type,
    number,
    parse,
    text,
)

__all__ = [
    "PROOF_TYPE",
    "WINDOW",
    "NonceNeeded",
    "Proof",
    "ath",
    "check",
    "request_url",
]

PROOF_TYPE: Final = "dpop+jwt"
"""The ``typ`` of a proof, as :func:`~._jose.media_type` spells it
(``DPoP+JWT`` and ``application/dpop+jwt`` are it too)."""
WINDOW: Final = 60
"""The seconds a proof's ``iat`` may be from now, either way."""

_PERCENT: Final = re.compile(r"%([0-9A-Fa-f]{2})")
_UNRESERVED: Final = frozenset(
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~"
)
_DEFAULT_PORTS: Final = {"http": 80, "https": 443}
# RFC 3986 §2: a URI is unreserved, reserved (gen-delims and sub-delims)
# characters and well-formed percent-encodings, nothing else.
_URI: Final = re.compile(r"(?:[A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=]|%[0-9A-Fa-f]{2})*")


class NonceNeeded(Invalid):
    """A proof good but for its ``nonce``: answered with ``use_dpop_nonce``."""


@final
@attrs.frozen(kw_only=True)
class Proof:
    """An accepted proof."""

    jkt: str
    """The RFC 7638 SHA-256 thumbprint of its key, base64url."""


def _percent(match: re.Match[str]) -> str:
    char = chr(int(match.group(1), 16))
    return char if char in _UNRESERVED else f"%{match.group(1).upper()}"


def normalized(url: str) -> str | None:
    """*url* as RFC 3986 §6.2.2-6.2.3 normalise it, or None if it is not an
    http(s) URL without user info, query and fragment."""
    # Checked before urlsplit, which deletes tab, CR and LF anywhere and
    # strips leading spaces and control characters (WHATWG's URL parsing):
    # an htu with them is no URI, and no normalisation drops a character.
    if not _URI.fullmatch(url) or "?" in url or "#" in url:
        return None
    try:
        parts = urllib.parse.urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    host = parts.hostname
    if scheme not in _DEFAULT_PORTS or not host or "@" in parts.netloc:
        return None
    authority = f"[{host}]" if ":" in host else host
    if port is not None and port != _DEFAULT_PORTS[scheme]:
        authority = f"{authority}:{port}"
    path = _PERCENT.sub(_percent, parts.path) or "/"
    return f"{scheme}://{authority}{path}"


def _names(host: str) -> frozenset[str]:
    """The host names (lowercase, IPv6 without brackets) that reach a server
    listening on *host*."""
    host = host.lower()
    if host == "localhost":
        return frozenset({host, "127.0.0.1"})
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return frozenset({host})
    if not (address.is_loopback or address.is_unspecified):
        return frozenset({host})
    loopback = "127.0.0.1" if address.version == 4 else "::1"
    return frozenset({host, "localhost", loopback})


def _port(parts: urllib.parse.SplitResult) -> int | None:
    """The port of *parts*, its scheme's default if it names none; None for
    a bad one."""
    try:
        port = parts.port
    except ValueError:
        return None
    return _DEFAULT_PORTS.get(parts.scheme) if port is None else port


def own_path(issuer: str, url: str) -> str | None:
    """The path of *url* if it is an absolute URL of the server at *issuer*
    (its scheme, a name that reaches its host, its port; no query, fragment
    or user info), else None."""
    own = urllib.parse.urlsplit(issuer)
    try:
        parts = urllib.parse.urlsplit(url)
    except ValueError:
        return None
    if (
        parts.scheme.lower() != own.scheme
        or parts.query
        or parts.fragment
        or "@" in parts.netloc
        or (parts.hostname or "") not in _names(own.hostname or "")
        or _port(parts) is None
        or _port(parts) != _port(own)
    ):
        return None
    return parts.path


def request_url(issuer: str, host: str | None, target: str) -> str | None:
    """The URL a request for *target* was sent to a server at *issuer*: its
    scheme, the request's ``Host`` header (the issuer's authority when it
    has none), and the target's path; None when that ``Host`` names another
    authority than the server's own."""
    own = urllib.parse.urlsplit(issuer)
    authority = own.netloc if host is None else host.strip()
    named = urllib.parse.urlsplit(f"{own.scheme}://{authority}/")
    if (
        named.netloc != authority  # a path, query or fragment in the Host
        or "@" in authority
        or named.hostname not in _names(own.hostname or "")
        or _port(named) != _port(own)
    ):
        return None
    path = urllib.parse.urlsplit(target).path
    return f"{own.scheme}://{authority}{path}"


def ath(access_token: str) -> str:
    """The ``ath`` a proof for *access_token* carries (RFC 9449 §4.2)."""
    return b64url(hashlib.sha256(access_token.encode("ascii", "replace")).digest())


def check(
    headers: Sequence[tuple[str, str]],
    *,
    method: str,
    url: str | None,
    now: float,
    guard: Guard,
    access_token: str | None = None,
) -> Proof:
    """The proof in *headers* for a *method* request to *url* (with
    *access_token*, at a resource), checked as RFC 9449 §4.3 says; *url*
    None when the request was addressed to another server (see
    :func:`request_url`): its ``htu`` is then refused.

    Raises:
      NonceNeeded: when it lacks the current nonce the server wants.
      Invalid: naming the rule it breaks otherwise (``"missing"`` when there
        is no ``DPoP`` header, ``"header"`` when there are several).
    """
    what = "DPoP proof"
    values = [value for name, value in headers if name.lower() == "dpop"]
    if not values:
        raise Invalid("missing", "a DPoP proof is required")
    if len(values) > 1:
        raise Invalid("header", "one DPoP header is allowed, got several")
    jws = parse(values[0].strip(), what)
    if media_type(jws.header.get("typ")) != PROOF_TYPE:
        raise Invalid("typ", f"the {what}'s typ is not {PROOF_TYPE}")
    alg = jws.alg
    if not isinstance(alg, str) or alg not in ASYMMETRIC:
        raise Invalid("alg", f"the {what}'s alg is not one of {', '.join(ASYMMETRIC)}")
    from . import _signatures  # cryptography, for the proof's key

    jwk = jws.header.get("jwk")
    if not isinstance(jwk, dict):
        raise Invalid("jwk", f"the {what} has no jwk object")
    key = _signatures.jwk_public_key(jwk, alg)
    if not _signatures.verify(alg, key, jws.signing_input, jws.signature):
        raise Invalid("signature", f"the {what}'s signature does not verify")
    claims = jws.claims
    jti = text(claims, "jti", what)
    if text(claims, "htm", what) != method:
        raise Invalid("htm", f"the {what}'s htm is not the request's method")
    htu = normalized(text(claims, "htu", what))
    if url is None:
        raise Invalid("htu", "the request's Host names another server than this")
    if htu is None or htu != normalized(url):
        raise Invalid("htu", f"the {what}'s htu is not the request's URL")
    iat = number(claims, "iat", what)
    if abs(now - iat) > WINDOW:
        raise Invalid("iat", f"the {what}'s iat is more than {WINDOW} s from now")
    if access_token is not None and claims.get("ath") != ath(access_token):
        raise Invalid("ath", f"the {what}'s ath is not the access token's hash")
    jkt = jwk_thumbprint(jwk)
    if not guard.first_use(f"dpop {jkt}", jti, max(now, iat) + WINDOW + 1):
        raise Invalid("replay", f"the {what}'s jti was used before")
    if guard.dpop_nonce and claims.get("nonce") != guard.nonce:
        raise NonceNeeded("nonce", "a DPoP proof must carry the server's current nonce")
    return Proof(jkt=jkt)
