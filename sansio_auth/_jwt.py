"""Reading (never verifying) the payload of a JWT (RFC 7519 §3, RFC 7515 §7.1).

A token's claims tell us its expiry when the server leaves ``expires_in`` out
and, for SmartWay, who the token acts as. The signature is the resource
server's business; we only read. Anything that is not three base64url
segments whose first two are JSON objects is "not a JWT": None, never an
exception, since the input is whatever a server sent.
"""

from __future__ import annotations

import binascii
import json
import re
from collections.abc import Mapping
from types import MappingProxyType

__all__ = ["jwt_claims"]

# base64url without padding, or with the padding that makes it a multiple of 4.
_SEGMENT = re.compile(r"[A-Za-z0-9_-]*={0,2}")
_FROM_URLSAFE = str.maketrans("-_", "+/")


def _decode_object(segment: str) -> dict[str, object] | None:
    if not _SEGMENT.fullmatch(segment):
        return None
    data = segment.rstrip("=")
    try:
        # binascii, not base64: base64 costs its import and does no more.
        raw = binascii.a2b_base64(
            (data + "=" * (-len(data) % 4)).translate(_FROM_URLSAFE)
        )
        value = json.loads(raw.decode("utf-8"))
    except (binascii.Error, ValueError, RecursionError):
        # binascii: a length of 4n+1; ValueError: bad UTF-8 or JSON;
        # RecursionError: JSON nested deeper than the interpreter allows.
        return None
    return value if isinstance(value, dict) else None


def jwt_claims(token: str) -> Mapping[str, object] | None:
    """The unverified payload of a JWT, or None if *token* is not one.

    Args:
      token: a compact-serialised JWT (``header.payload.signature``).

    Returns:
      A read-only mapping of the payload's claims, or None when *token* is not
      three dot-separated segments whose first two decode (base64url, padding
      optional) to JSON objects.
    """
    if not isinstance(token, str):
        return None
    parts = token.split(".")
    if len(parts) != 3 or _decode_object(parts[0]) is None:
        return None
    claims = _decode_object(parts[1])
    return None if claims is None else MappingProxyType(claims)
