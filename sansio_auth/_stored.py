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

import hashlib
import json
import math
from typing import NoReturn, final

import attrs

from ._errors import (
    HttpError,
    MalformedResponse,
    OAuthError,
    TokenError,
    TransportError,
)
from ._parse import MalformedError, check_sendable
from ._token import Token

__all__ = [
    "MAX_STORED_BYTES",
    "STORED_VERSION",
    "StoredEntry",
    "decode_failure",
    "decode_stored",
    "encode_failure",
    "encode_stored",
    "stored_ttl",
    "token_tag",
]

STORED_VERSION = 1
"""The format version inside every stored value."""

MAX_STORED_BYTES = 1_048_576
"""The largest value read as a token or failure (1 MiB, the response cap):
a store that hands back more holds something else."""

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
    if not isinstance(data, bytes | bytearray) or len(data) > MAX_STORED_BYTES:
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
    try:
        # Checked as a server's answer is: a stored value is no more trusted
        # (whoever can write to the store wrote it), and the access token
        # goes into a header, the refresh token into a request.
        for field in ("access_token", "token_type", "refresh_token"):
            if document[field] is not None:
                check_sendable(field, document[field])
    except MalformedError:
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


def token_tag(token: Token | str) -> str:
    """The name a store keeps beside a token: its access token's SHA-256 (hex).

    A 401 deletes the stored token only if its tag is still the refused
    one's, and the tag says nothing of the token itself.
    """
    access_token = token.access_token if isinstance(token, Token) else token
    return hashlib.sha256(access_token.encode("utf-8", "surrogatepass")).hexdigest()


def _is_ttl(value: object) -> bool:
    return value is None or (_is_number(value) and math.isfinite(value))  # type: ignore[arg-type]


@final
@attrs.frozen(kw_only=True)
class StoredEntry:
    """What a store holds under a key, as one read returned it.

    Times to live are seconds from the read, measured by the store: a token's
    expiry in the reader's clock is the time the read began plus
    ``token_ttl``, whatever the writer's clock said.
    """

    token: bytes | None = None
    """The bytes of :func:`encode_stored`, or None."""
    token_ttl: float | None = attrs.field(default=None)
    """Seconds the token has left; None when it does not expire (or is absent)."""
    failure: bytes | None = None
    """The bytes of :func:`encode_failure`, or None."""
    failure_ttl: float | None = attrs.field(default=None)
    """Seconds the failure is still waited out; None when absent."""

    def __repr__(self) -> str:
        # The token bytes hold the access and refresh tokens: never shown.
        return (
            f"StoredEntry(token={'yes' if self.token else 'no'}, "
            f"token_ttl={self.token_ttl!r}, "
            f"failure={'yes' if self.failure else 'no'}, "
            f"failure_ttl={self.failure_ttl!r})"
        )

    @token_ttl.validator
    @failure_ttl.validator
    def _check_ttl(
        self, attribute: attrs.Attribute[float | None], value: object
    ) -> None:
        if not _is_ttl(value):
            raise ValueError(f"{attribute.name} must be a finite number or None")


# The error codes of RFC 6749 §5.2 and §4.1.2.1, RFC 8628 §3.5, RFC 8693
# §2.2.2 and RFC 9449 §7: a store keeps only one of these. Anything else a
# server sent is its own text, which every process of the fleet would show.
_ERROR_CODES = frozenset(
    {
        "access_denied",
        "authorization_pending",
        "expired_token",
        "invalid_client",
        "invalid_dpop_proof",
        "invalid_grant",
        "invalid_request",
        "invalid_scope",
        "invalid_target",
        "server_error",
        "slow_down",
        "temporarily_unavailable",
        "unauthorized_client",
        "unsupported_grant_type",
        "use_dpop_nonce",
    }
)
_OTHER_CODE = "unregistered_error"
_SHARED = "another process of the fleet was refused; waiting it out together"


def encode_failure(error: TokenError) -> bytes:
    """The bytes a store keeps for a failure the whole fleet waits out.

    Only its kind, OAuth error code and HTTP status: nothing a server wrote
    in free text, and no secret (a code that is not a registered one is
    kept as ``unregistered_error``).

    Raises:
      TypeError: if *error* is not a :class:`TokenError`.
    """
    if not isinstance(error, TokenError):
        raise TypeError(f"error must be a TokenError, got {type(error).__name__}")
    document: dict[str, object] = {"v": STORED_VERSION}
    if isinstance(error, OAuthError):
        code = error.error if error.error in _ERROR_CODES else _OTHER_CODE
        document.update(kind="oauth", error=code, status=error.status)
    elif isinstance(error, HttpError):
        document.update(kind="http", status=error.status)
    elif isinstance(error, MalformedResponse):
        document.update(kind="malformed", status=error.status)
    else:
        document.update(kind="transport", retryable=error.retryable)
    return json.dumps(document, sort_keys=True, separators=(",", ":")).encode("ascii")


def decode_failure(
    data: bytes | bytearray, *, retry_after: float | None
) -> TokenError | None:
    """The failure in *data*, told in our words, or None if it is not one.

    Never raises. The error's ``retry_after`` is *retry_after* (what the
    store says is left of the fleet's wait), so that a session waits at
    least that long before it tries again.
    """
    if not isinstance(data, bytes | bytearray) or len(data) > MAX_STORED_BYTES:
        return None
    try:
        document = json.loads(data, parse_constant=_refuse_constant)
    except (ValueError, RecursionError):
        return None
    if type(document) is not dict or document.get("v") != STORED_VERSION:
        return None
    if retry_after is not None and not (
        _is_number(retry_after) and 0 <= retry_after < math.inf
    ):
        retry_after = None
    kind = document.get("kind")
    raw_status: object = document.get("status")
    status = raw_status if type(raw_status) is int else 0
    status_ok = 100 <= status <= 599
    # Every field is checked above: the errors' constructors cannot refuse.
    if kind == "oauth" and status_ok and isinstance(document.get("error"), str):
        code = document["error"]
        if code not in _ERROR_CODES and code != _OTHER_CODE:
            return None
        return OAuthError(
            error=code,
            description=_SHARED,
            uri=None,
            status=status,
            retry_after=retry_after,
        )
    if kind == "http" and status_ok:
        return HttpError(
            status=status,
            content_type=None,
            snippet=_SHARED,
            retry_after=retry_after,
        )
    if kind == "malformed" and status_ok:
        return MalformedResponse(
            reason=_SHARED, status=status, content_type=None, snippet=""
        )
    if kind == "transport" and type(document.get("retryable")) is bool:
        return TransportError(reason=_SHARED, retryable=document["retryable"])
    return None
