"""Reading signed JWTs that come in: compact JWS (RFC 7515 §7.1), strictly.

The server verifies what clients sign (client assertions, grant assertions,
subject tokens, DPoP proofs) with its own reader, not the core's writer: a
test server that shared the client's code would pass the client's mistakes.
:func:`parse` splits a compact JWS into its header, claims, signing input and
signature, refusing anything a strict verifier would: not three parts,
padding or any character outside base64url, octets that are not UTF-8
(another encoding, an encoded surrogate, a byte order mark), JSON that is
not an object, a member named twice (RFC 7515 §5.2 lets a verifier refuse
it; two ``aud`` would let a verifier and a client disagree), ``NaN``, a
``crit`` header (we understand no extension, §4.1.11), or more than
:data:`MAX_JWS` characters.

Whatever is wrong is an :class:`Invalid`, with a short machine-readable
*reason* (the records a test asserts on) and a description for the answer.
Neither ever holds a part of the token.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Mapping
from types import MappingProxyType
from typing import Final, final

import attrs

__all__ = [
    "ASYMMETRIC",
    "MAX_JWS",
    "Invalid",
    "Jws",
    "b64url",
    "jwk_bytes",
    "jwk_thumbprint",
    "media_type",
    "number",
    "parse",
    "text",
    "unb64url",
]

ASYMMETRIC: Final = ("RS256", "PS256", "ES256", "EdDSA")
"""The asymmetric algorithms accepted (RFC 7518 §3, RFC 8037), in the order
answers list them."""
MAX_JWS: Final = 65_536
"""The longest JWS read, in characters: far more than any assertion, proof
or token of a test carries."""

_B64URL: Final = frozenset(
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
)


class Invalid(Exception):
    """Why a JWS, a claim or a certificate is refused.

    Attributes:
      reason: a short code for the records (``"aud"``, ``"replay"``, ...).
      description: the ``error_description`` to answer with.
    """

    def __init__(self, reason: str, description: str) -> None:
        super().__init__(reason)
        self.reason = reason
        self.description = description


def b64url(data: bytes) -> str:
    """*data* in base64url, without padding (RFC 7515 §2)."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def unb64url(value: str, what: str) -> bytes:
    """The bytes of base64url *value* (no padding), or :class:`Invalid`
    naming *what* it was."""
    if any(c not in _B64URL for c in value) or len(value) % 4 == 1:
        raise Invalid("malformed", f"the {what} is not base64url")
    # Only the alphabet, and a length a base64 text can have: it decodes.
    return base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))


def _no_duplicates(pairs: list[tuple[str, object]]) -> dict[str, object]:
    found: dict[str, object] = {}
    for name, value in pairs:
        if name in found:
            raise ValueError("a member is named twice")
        found[name] = value
    return found


def _no_constant(name: str) -> object:
    raise ValueError(f"{name} is not JSON")


def _json_object(value: str, what: str) -> Mapping[str, object]:
    # RFC 7515 §5.2 and RFC 7519 §7.2: the octets are UTF-8 (RFC 3629: no
    # encoded surrogates). Decoded here, not by json.loads: given bytes, it
    # guesses UTF-16 or UTF-32 and lets surrogates through, so a JWS no
    # strict verifier reads would pass. Given a str, json.loads refuses a
    # leading byte order mark (RFC 8259 §8.1: none is sent).
    try:
        decoded = unb64url(value, what).decode("utf-8")
        data = json.loads(
            decoded,
            object_pairs_hook=_no_duplicates,
            parse_constant=_no_constant,
        )
    except (ValueError, RecursionError):  # UnicodeDecodeError is a ValueError
        raise Invalid("malformed", f"the {what} is not a JSON object") from None
    if not isinstance(data, dict):
        raise Invalid("malformed", f"the {what} is not a JSON object")
    return MappingProxyType(data)


@final
@attrs.frozen(kw_only=True)
class Jws:
    """A compact JWS, split and decoded; its signature not yet checked."""

    header: Mapping[str, object]
    """The protected header."""
    claims: Mapping[str, object] = attrs.field(repr=False)
    """The payload, a JSON object (a JWT's claims)."""
    signing_input: bytes = attrs.field(repr=False)
    """``BASE64URL(header) "." BASE64URL(payload)``, what is signed."""
    signature: bytes = attrs.field(repr=False)
    """The signature's bytes."""

    @property
    def alg(self) -> object:
        """The header's ``alg``, as sent."""
        return self.header.get("alg")


def parse(token: str, what: str) -> Jws:
    """*token* (a compact JWS of a JSON object) split and decoded, *what* it
    is (``"client assertion"``) naming it in refusals.

    Raises:
      Invalid: ``"malformed"`` for anything but a well-formed compact JWS,
        ``"crit"`` for a ``crit`` header.
    """
    if len(token) > MAX_JWS:
        raise Invalid("malformed", f"the {what} is longer than {MAX_JWS} characters")
    parts = token.split(".")
    if len(parts) != 3 or not all(parts):
        raise Invalid("malformed", f"the {what} is not a compact JWS")
    header = _json_object(parts[0], f"{what}'s header")
    claims = _json_object(parts[1], f"{what}'s payload")
    signature = unb64url(parts[2], f"{what}'s signature")
    if "crit" in header:
        raise Invalid("crit", f"the {what} has a crit header, understood by none")
    return Jws(
        header=header,
        claims=claims,
        signing_input=f"{parts[0]}.{parts[1]}".encode("ascii"),
        signature=signature,
    )


def media_type(typ: object) -> str | None:
    """The ``typ`` header *typ* in one spelling, or None if it is no string.

    RFC 7515 §4.1.9 makes it a media type, whose case does not count
    (RFC 2045), and has a value without ``/`` stand for ``application/``
    and it: so lowercased, without a leading ``application/``
    (``application/DPoP+JWT`` is ``dpop+jwt``), as a strict verifier that
    follows the RFC reads it.
    """
    if not isinstance(typ, str):
        return None
    return typ.lower().removeprefix("application/")


def text(claims: Mapping[str, object], name: str, what: str) -> str:
    """The non-empty string claim *name* of *claims*, or :class:`Invalid`
    whose reason is *name*."""
    value = claims.get(name)
    if not isinstance(value, str) or not value:
        raise Invalid(name, f"the {what} has no {name} string")
    return value


def number(claims: Mapping[str, object], name: str, what: str) -> float:
    """The numeric claim *name* of *claims* (a NumericDate, RFC 7519 §2),
    or :class:`Invalid` whose reason is *name*."""
    value = claims.get(name)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise Invalid(name, f"the {what} has no numeric {name}")
    return value


def jwk_bytes(jwk: Mapping[str, object], name: str, size: int | None = None) -> bytes:
    """The bytes of member *name* of *jwk*, written one way only: *size*
    bytes exactly (a coordinate, RFC 7518 §6.2.1.2, RFC 8037 §2), or with
    *size* None a Base64urlUInt (RFC 7518 §2: the fewest octets, so no
    leading zero octet, and zero is no RSA modulus or exponent); and
    base64url without padding or stray bits (RFC 4648 §3.5).

    A key written two ways has two RFC 7638 thumbprints: a token bound to
    the one this server computed would not be the key's at a server that
    reads the key and writes it back canonically.

    Raises:
      Invalid: ``"jwk"`` for a member missing, not a string or not so.
    """
    value = jwk.get(name)
    if not isinstance(value, str):
        raise Invalid("jwk", f"the jwk has no {name} string")
    try:
        data = unb64url(value, f"jwk's {name}")
    except Invalid as invalid:
        raise Invalid("jwk", invalid.description) from None
    if b64url(data) != value:  # stray bits in its last character
        raise Invalid("jwk", f"the jwk's {name} is not canonical base64url")
    if size is not None and len(data) != size:
        raise Invalid("jwk", f"the jwk's {name} must be {size} bytes")
    if size is None and (not data or data[0] == 0):
        raise Invalid(
            "jwk", f"the jwk's {name} must be a positive integer in its fewest octets"
        )
    return data


# RFC 7638 §3.2: the required members of each key type, in lexicographic
# order, are what is hashed.
_THUMBPRINT_MEMBERS: Final = MappingProxyType(
    {
        "RSA": ("e", "kty", "n"),
        "EC": ("crv", "kty", "x", "y"),
        "OKP": ("crv", "kty", "x"),
    }
)
# The keys taken, by kty and crv, and how each number is written: so many
# bytes, or a Base64urlUInt (None).
_NUMBERS: Final[Mapping[tuple[str, str | None], Mapping[str, int | None]]] = (
    MappingProxyType(
        {
            ("RSA", None): MappingProxyType({"e": None, "n": None}),
            ("EC", "P-256"): MappingProxyType({"x": 32, "y": 32}),
            ("OKP", "Ed25519"): MappingProxyType({"x": 32}),
        }
    )
)


def jwk_thumbprint(jwk: Mapping[str, object]) -> str:
    """The RFC 7638 SHA-256 thumbprint of public *jwk*, base64url.

    Raises:
      Invalid: ``"jwk"`` for a key not RSA, EC P-256 or Ed25519, or a
        required member missing, not a string, or not written the one way
        RFC 7518 allows (see :func:`jwk_bytes`).
    """
    kty = str(jwk.get("kty"))
    members = _THUMBPRINT_MEMBERS.get(kty)
    if members is None:
        raise Invalid("jwk", "the jwk's kty is not RSA, EC or OKP")
    crv = str(jwk.get("crv")) if "crv" in members else None
    numbers = _NUMBERS.get((kty, crv))
    if numbers is None:
        raise Invalid("jwk", "the jwk is not an RSA, EC P-256 or Ed25519 key")
    for name, size in numbers.items():
        jwk_bytes(jwk, name, size)
    required = {name: str(jwk[name]) for name in members}
    canonical = json.dumps(required, separators=(",", ":"), ensure_ascii=False)
    return b64url(hashlib.sha256(canonical.encode()).digest())
