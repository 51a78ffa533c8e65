"""Compact JWS (RFC 7515 §7.1) of the JWTs we sign: client assertions, JWT
bearer grant assertions and DPoP proofs.

The same header, claims and key give the same bytes: JSON with no whitespace
in the order the claims were given, base64url without padding. (An RS256 or
EdDSA signature is deterministic too; ES256 and PS256 are not, by design.)
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Protocol

from ._b64 import b64url

__all__ = ["Signer", "compact_jws", "json_segment"]


class Signer(Protocol):
    """What signs a JWS: a :class:`~sansio_auth._keys.SigningKey` or a
    :class:`~sansio_auth._keys.SecretKey`."""

    @property
    def algorithm(self) -> str: ...

    @property
    def key_id(self) -> str | None: ...

    def sign(self, data: bytes) -> bytes: ...


def json_segment(value: Mapping[str, object]) -> str:
    """*value* as compact JSON (ASCII, ``\\u`` escapes beyond), base64url."""
    # allow_nan=False: NaN and Infinity are not JSON (RFC 8259 §6), and a
    # verifier would refuse the whole JWT.
    text = json.dumps(value, separators=(",", ":"), allow_nan=False)
    return b64url(text.encode("ascii"))


def compact_jws(header: str, claims: Mapping[str, object], key: Signer) -> str:
    """The compact serialisation of *claims* under the encoded *header*
    (a :func:`json_segment`), signed by *key*."""
    signing_input = f"{header}.{json_segment(claims)}"
    signature = b64url(key.sign(signing_input.encode("ascii")))
    return f"{signing_input}.{signature}"
