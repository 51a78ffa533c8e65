"""The value a shared store keeps under a flow's key: a token, as bytes.

Theory of operation: a token is stored as what a process needs to use and
renew it (RFC 6749 §5.1: the access token, its type, its expiry and scopes,
the refresh token of §6) and when it was received; not the raw response,
which may hold anything the server added. The bytes are compact JSON with
sorted keys, so the same token is the same bytes, and a format version
``"v": 1`` inside. Encryption at rest wraps these bytes in the store, not
here.

Reading trusts nothing: what a store hands back may be another version,
truncated, written by something else, or tampered with. ``decode_stored``
returns a :class:`Token` only when the bytes are exactly this format and the
token passes its own validators, and None otherwise; it never raises, so a
bad entry is a cache miss, never a failed call.
"""

from __future__ import annotations

import json
import math
from typing import NoReturn

from ._token import Token

__all__ = ["STORED_VERSION", "decode_stored", "encode_stored", "stored_ttl"]

STORED_VERSION = 1
"""The format version inside every stored value."""

_FIELDS = frozenset(
    {
        "v",
        "access_token",
        "token_type",
        "received_at",
        "expires_at",
        "scopes",
        "refresh_token",
    }
)


def encode_stored(token: Token) -> bytes:
    """The bytes a store keeps for *token* (the same token, the same bytes).

    Raises:
      TypeError: if *token* is not a :class:`Token`.
    """
    if not isinstance(token, Token):
        raise TypeError(f"token must be a Token, got {type(token).__name__}")
    scopes = token.scopes
    document = {
        "v": STORED_VERSION,
        "access_token": token.access_token,
        "token_type": token.token_type,
        "received_at": token.received_at,
        "expires_at": token.expires_at,
        "scopes": None if scopes is None else sorted(scopes),
        "refresh_token": token.refresh_token,
    }
    # Every float of a Token is finite, so the JSON is strict; ensure_ascii
    # escapes any lone surrogate the server's JSON may have put in a string.
    return json.dumps(
        document, ensure_ascii=True, sort_keys=True, separators=(",", ":")
    ).encode("ascii")


def _refuse_constant(name: str) -> NoReturn:
    # NaN and Infinity are not JSON, and not what encode_stored writes.
    raise ValueError("not JSON")


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _optional(value: object, kind: type) -> bool:
    return value is None or isinstance(value, kind)


def decode_stored(data: bytes | bytearray) -> Token | None:
    """The token in *data*, or None if it is not one this version wrote.

    Never raises: anything malformed, of another version, or refused by
    :class:`Token`'s validators is None, a cache miss.
    """
    if not isinstance(data, bytes | bytearray):
        return None
    try:
        document = json.loads(data, parse_constant=_refuse_constant)
    except (ValueError, RecursionError):
        # ValueError covers bad JSON, bad UTF-8 and integers too long to read.
        return None
    if not (
        type(document) is dict
        and document.keys() == _FIELDS
        and type(document["v"]) is int
        and document["v"] == STORED_VERSION
        and isinstance(document["access_token"], str)
        and isinstance(document["token_type"], str)
        and _is_number(document["received_at"])
        and (document["expires_at"] is None or _is_number(document["expires_at"]))
        and _optional(document["scopes"], list)
        and all(isinstance(scope, str) for scope in document["scopes"] or ())
        and _optional(document["refresh_token"], str)
    ):
        return None
    scopes = document["scopes"]
    try:
        return Token(
            access_token=document["access_token"],
            token_type=document["token_type"],
            received_at=document["received_at"],
            expires_at=document["expires_at"],
            scopes=None if scopes is None else frozenset(scopes),
            refresh_token=document["refresh_token"],
        )
    except (TypeError, ValueError):
        # An empty token, a number too large to be finite: not a token.
        return None


def stored_ttl(token: Token, now: float) -> float | None:
    """How long a store should keep *token* from *now*: until it expires.

    Args:
      token: the token to store.
      now: the current time in UNIX seconds.

    Returns:
      The seconds left until ``expires_at``, 0.0 when it has passed (nothing
      to store), or None when the expiry is unknown (keep it until replaced).

    Raises:
      TypeError: if *now* is not a number.
      ValueError: if *now* is not finite.
    """
    if not _is_number(now):
        raise TypeError(f"now must be a number, got {type(now).__name__}")
    if not math.isfinite(now):
        raise ValueError("now must be finite")
    if token.expires_at is None:
        return None
    return max(0.0, token.expires_at - now)
