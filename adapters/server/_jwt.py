"""JSON Web Tokens signed and checked with HS256 (RFC 7519, RFC 7518 §3.2).

The server's access tokens are real JWTs: a fixed ``{"alg": "HS256", "typ":
"JWT"}`` header, the claims, and an HMAC-SHA256 over the two under the
server's key. :func:`decode` accepts only what :func:`sign` made under the
same key, and :func:`expired` tells whether its ``exp`` has passed.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from collections.abc import Mapping
from types import MappingProxyType
from typing import Final

__all__ = ["decode", "expired", "sign"]


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64url(text: str) -> bytes:
    if not text or any(c not in _B64URL for c in text):
        raise ValueError("not base64url")
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


_B64URL: Final = frozenset(
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
)
_JWT_HEADER: Final = _b64url(
    json.dumps({"alg": "HS256", "typ": "JWT"}, separators=(",", ":")).encode()
)


def sign(key: bytes, claims: Mapping[str, object]) -> str:
    """A compact JWT of *claims*, signed with HS256 under *key*."""
    payload = _b64url(json.dumps(claims, separators=(",", ":")).encode())
    signing_input = f"{_JWT_HEADER}.{payload}"
    mac = hmac.new(key, signing_input.encode("ascii"), hashlib.sha256).digest()
    return f"{signing_input}.{_b64url(mac)}"


def decode(key: bytes, token: str) -> Mapping[str, object] | None:
    """The claims of *token* if it is signed under *key*, expired or not;
    None otherwise.

    The MAC is checked before anything of the token is parsed: a header or
    claims not signed here are anyone's bytes (JSON nested deep enough to
    exhaust the parser's recursion). Whatever fails to decode, even signed,
    is not a token issued here."""
    parts = token.split(".")
    if len(parts) != 3:
        return None
    try:
        mac = _unb64url(parts[2])
        signed = f"{parts[0]}.{parts[1]}".encode("ascii")
    except (ValueError, binascii.Error):  # UnicodeEncodeError is a ValueError
        return None
    expected = hmac.new(key, signed, hashlib.sha256).digest()
    if not hmac.compare_digest(mac, expected):
        return None
    try:
        header = json.loads(_unb64url(parts[0]))
        claims = json.loads(_unb64url(parts[1]))
    except (ValueError, binascii.Error, RecursionError):
        return None
    if not isinstance(header, dict) or header.get("alg") != "HS256":
        return None
    if not isinstance(claims, dict):
        return None
    return MappingProxyType(claims)


def expired(claims: Mapping[str, object], now: float) -> bool:
    """Whether *claims* are past their ``exp`` at *now* (or have none)."""
    exp = claims.get("exp")
    return isinstance(exp, bool) or not isinstance(exp, int | float) or now >= exp
