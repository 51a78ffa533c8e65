"""The rules for signed JWTs that stand for a client or a grant.

Three kinds come to the token endpoint, each checked here, signature first
(claims nobody signed are anyone's), then the claims:

- a client assertion (RFC 7523 §2.2 and §3, OpenID Connect Core §9): ``iss``
  and ``sub`` both the client id; signed with the client's registered key
  (``private_key_jwt``: RS256, PS256, ES256 or EdDSA, as the key's type
  allows) or HMAC-SHA256 under its secret (``client_secret_jwt``);
- a grant assertion (RFC 7523 §2.1): ``iss`` a trusted issuer, signed with
  its key, ``sub`` the subject the token is for;
- a subject or actor JWT of a token exchange (RFC 8693 §3): from a trusted
  issuer, with a ``sub``, not expired. Its ``aud`` is not ours to check (it
  was made for whoever exchanges it), nor is a ``jti`` required: the same
  token may be exchanged more than once.

The first two must name this server in ``aud`` (its issuer URL or the token
endpoint's, as a string or in an array), carry a ``jti`` not used before,
an ``exp`` in the future and at most :data:`MAX_LIFETIME` seconds ahead (of
now and of ``iat``); ``iat`` and ``nbf``, when present, must not be more than
:data:`SKEW` seconds ahead. ``alg`` ``none`` and any algorithm the key does
not verify are refused (RFC 8725 §3.1), as is a header whose ``typ`` says it
is another kind of JWT (a DPoP proof is no client assertion).

A client assertion is held to more than RFC 7523 §3 asks:

- its ``aud`` names this server and no other party: an array with another
  member is refused. draft-ietf-oauth-rfc7523bis, the fix of the audience
  injection in private_key_jwt, has the server refuse an assertion that is
  not for it alone, and servers following it do; a grant assertion, made by
  an issuer for whoever it serves, need only name this server among others;
- ``client_secret_jwt`` needs a secret of :data:`MIN_HS256_SECRET` bytes or
  more (RFC 7518 §3.2: an HS256 key MUST be at least 256 bits), else the
  assertion is refused (``secret_length``), as Nimbus-based servers refuse
  it; HTTP Basic and ``client_secret_post`` take any secret.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from typing import TYPE_CHECKING, Final

from ._clients import RegisteredClient, TrustedIssuer
from ._credentials import Credentials
from ._guard import Guard
from ._jose import ASYMMETRIC, Invalid, Jws, media_type, number, parse, text

if TYPE_CHECKING:
    from ._signatures import PublicKey

__all__ = [
    "ASSERTION_TYPES",
    "MAX_LIFETIME",
    "MIN_HS256_SECRET",
    "SKEW",
    "client_assertion",
    "grant_assertion",
    "subject_jwt",
]

MAX_LIFETIME: Final = 300
"""The most seconds an assertion may be valid ahead (its ``exp`` after now
and after its ``iat``)."""
SKEW: Final = 30
"""The seconds an ``iat`` or ``nbf`` may be ahead of the server's clock."""
MIN_HS256_SECRET: Final = 32
"""The fewest bytes (UTF-8) of a secret that ``client_secret_jwt`` signs
with: 256 bits (RFC 7518 §3.2)."""
ASSERTION_TYPES: Final = frozenset({"jwt", "client-authentication+jwt"})
"""The ``typ`` values an assertion may declare, if any, as
:func:`~._jose.media_type` spells them (``JWT`` and ``application/jwt`` are
``jwt``)."""


def _check_typ(jws: Jws, what: str) -> None:
    typ = jws.header.get("typ")
    if typ is not None and media_type(typ) not in ASSERTION_TYPES:
        raise Invalid("typ", f"the {what}'s typ is not JWT")


def _check_key_signature(
    jws: Jws, key: PublicKey, key_id: str | None, what: str
) -> None:
    """*jws* signed by *key* (registered with *key_id*) with an asymmetric
    algorithm of its type."""
    from . import _signatures  # cryptography: imported once a key is

    alg = jws.alg
    if not isinstance(alg, str) or alg not in ASYMMETRIC:
        raise Invalid("alg", f"the {what}'s alg is not one of {', '.join(ASYMMETRIC)}")
    if alg not in _signatures.algorithms_for(key):
        raise Invalid("alg", f"the registered key does not verify {alg}")
    kid = jws.header.get("kid")
    if key_id is not None and kid is not None and kid != key_id:
        raise Invalid("kid", f"the {what}'s kid is not the registered key's")
    if not _signatures.verify(alg, key, jws.signing_input, jws.signature):
        raise Invalid("signature", f"the {what}'s signature does not verify")


def _check_hs256(jws: Jws, secret: str, what: str) -> None:
    key = secret.encode()
    if len(key) < MIN_HS256_SECRET:
        raise Invalid(
            "secret_length",
            f"the client's secret is shorter than the {MIN_HS256_SECRET} bytes "
            "an HS256 key must have (RFC 7518 §3.2)",
        )
    mac = hmac.new(key, jws.signing_input, hashlib.sha256).digest()
    if not hmac.compare_digest(mac, jws.signature):
        raise Invalid("signature", f"the {what}'s signature does not verify")


def _check_times(
    claims: Mapping[str, object], now: float, what: str, *, max_lifetime: int | None
) -> float:
    """The ``exp`` of *claims*, checked with ``iat`` and ``nbf``."""
    exp = number(claims, "exp", what)
    if now >= exp:
        raise Invalid("exp", f"the {what} has expired")
    for name, late in (("iat", "issued in the future"), ("nbf", "not valid yet")):
        if name in claims and number(claims, name, what) > now + SKEW:
            raise Invalid(name, f"the {what} is {late}")
    if max_lifetime is not None:
        since = [now]
        if "iat" in claims:
            since.append(number(claims, "iat", what))
        if any(exp - start > max_lifetime for start in since):
            raise Invalid(
                "lifetime", f"the {what} is valid for more than {max_lifetime} s"
            )
    return exp


def _check_audience(
    claims: Mapping[str, object],
    audiences: tuple[str, ...],
    what: str,
    *,
    only: bool = False,
) -> None:
    """The ``aud`` of *claims* names one of *audiences*; with *only*, it
    names nothing else either."""
    aud = claims.get("aud")
    values = [aud] if isinstance(aud, str) else aud
    if not isinstance(values, list) or not any(
        isinstance(value, str) and value in audiences for value in values
    ):
        raise Invalid("aud", f"the {what}'s aud does not name this server")
    if only and not all(value in audiences for value in values):
        raise Invalid("aud", f"the {what}'s aud names another party than this server")


def _check_once(
    claims: Mapping[str, object], exp: float, scope: str, guard: Guard, what: str
) -> None:
    jti = text(claims, "jti", what)
    if not guard.first_use(scope, jti, exp):
        raise Invalid("replay", f"the {what}'s jti was used before")


def client_assertion(
    token: str,
    *,
    client_id: str | None,
    credentials: Credentials,
    audiences: tuple[str, ...],
    now: float,
    guard: Guard,
) -> tuple[RegisteredClient, str]:
    """The client *token* authenticates, and how (``"private_key_jwt"`` or
    ``"client_secret_jwt"``); *client_id* is the request's ``client_id``
    field, if it has one.

    Raises:
      Invalid: naming the rule the assertion breaks.
    """
    what = "client assertion"
    jws = parse(token, what)
    _check_typ(jws, what)
    issuer = text(jws.claims, "iss", what)
    if text(jws.claims, "sub", what) != issuer:
        raise Invalid("sub", f"the {what}'s sub is not its iss")
    if client_id is not None and client_id != issuer:
        raise Invalid("iss", f"the {what}'s iss is not the client_id")
    client = credentials.client(issuer)
    if client is None:
        raise Invalid("unknown", f"the {what}'s iss is no registered client")
    if jws.alg == "HS256":
        if client.client_secret is None:
            raise Invalid("method", "the client has no secret for client_secret_jwt")
        _check_hs256(jws, client.client_secret, what)
        method = "client_secret_jwt"
    else:
        if client.public_key is None:
            raise Invalid("method", "the client registered no key for private_key_jwt")
        _check_key_signature(jws, client.public_key, client.key_id, what)
        method = "private_key_jwt"
    _check_audience(jws.claims, audiences, what, only=True)
    exp = _check_times(jws.claims, now, what, max_lifetime=MAX_LIFETIME)
    _check_once(jws.claims, exp, f"client {issuer}", guard, what)
    return client, method


def _trusted(jws: Jws, credentials: Credentials, what: str) -> TrustedIssuer:
    issuer = credentials.issuer(text(jws.claims, "iss", what))
    if issuer is None:
        raise Invalid("unknown", f"the {what}'s iss is not a trusted issuer")
    _check_key_signature(jws, issuer.public_key, issuer.key_id, what)
    text(jws.claims, "sub", what)
    return issuer


def grant_assertion(
    token: str,
    *,
    credentials: Credentials,
    audiences: tuple[str, ...],
    now: float,
    guard: Guard,
) -> Mapping[str, object]:
    """The claims of the JWT bearer grant's assertion *token* (RFC 7523 §2.1).

    Raises:
      Invalid: naming the rule it breaks.
    """
    what = "assertion"
    jws = parse(token, what)
    _check_typ(jws, what)
    issuer = _trusted(jws, credentials, what)
    _check_audience(jws.claims, audiences, what)
    exp = _check_times(jws.claims, now, what, max_lifetime=MAX_LIFETIME)
    _check_once(jws.claims, exp, f"issuer {issuer.issuer}", guard, what)
    return jws.claims


def subject_jwt(
    token: str, *, credentials: Credentials, now: float, what: str
) -> Mapping[str, object]:
    """The claims of a token exchange's JWT *token* (*what*: ``"subject
    token"`` or ``"actor token"``).

    Raises:
      Invalid: naming the rule it breaks.
    """
    jws = parse(token, what)
    _trusted(jws, credentials, what)
    _check_times(jws.claims, now, what, max_lifetime=None)
    return jws.claims
