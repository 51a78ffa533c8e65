"""The ``Authorization`` header on an httpx request, found and set fast.

A request's auth step costs what finding a caller's ``Authorization`` and
setting ours cost, as the token comes from a lock-free cache. Through the
public ``Headers`` methods that is about 3 µs: ``"authorization" in
headers`` decodes every header of a fresh request (to learn their
encoding) before it searches, and ``headers[...] = value`` encodes the name
and the value and searches again. httpx keeps the headers as a list of
(raw name, lowercased name, value) triples; reading and appending to that
list directly costs a fraction of it. It is httpx's internal, so this module
checks once, at import, that this httpx keeps them so and reads them back
as it should, and otherwise uses the public methods.
"""

from __future__ import annotations

from typing import Final

import httpx

from sansio_auth import Token

__all__ = ["NOTHING_SENT", "Sent", "has_authorization", "put", "sendable"]


def _reads_header_list() -> bool:
    # Whether Headers._list is what we read and append to (module notes).
    try:
        headers = httpx.Headers({"Accept": "*/*"})
        names = [item[1] for item in headers._list]
        headers._list.append((b"Authorization", b"authorization", b"Bearer x"))
        return (
            names == [b"accept"]
            and headers.raw == [(b"Accept", b"*/*"), (b"Authorization", b"Bearer x")]
            and headers.get("authorization") == "Bearer x"
            and "Authorization" in headers
        )
    except Exception:  # any change of that internal: the public spelling
        return False


_HEADER_LIST: Final = _reads_header_list()

Sent = tuple[Token | None, str, bytes | None]
"""A token, its ``Authorization`` value, and that value's bytes for
``Headers._list`` (None where the public spelling is used): made once per
token, not per request."""

NOTHING_SENT: Final[Sent] = (None, "", None)


def sendable(token: Token) -> Sent:
    """What :func:`put` sets for *token*."""
    value = token.authorization()
    # ASCII, as token values are: the same bytes whatever encoding httpx
    # would pick for the request's headers. Anything else is httpx's to
    # encode (or refuse).
    raw = value.encode("ascii") if _HEADER_LIST and value.isascii() else None
    return (token, value, raw)


def has_authorization(headers: httpx.Headers) -> bool:
    """Whether the caller set ``Authorization`` (any case) on the request."""
    if _HEADER_LIST:
        # A loop, not any(): half the cost on this path.
        for item in headers._list:  # noqa: SIM110
            if item[1] == b"authorization":
                return True
        return False
    return "authorization" in headers


def put(headers: httpx.Headers, sent: Sent) -> None:
    """Set ``Authorization`` on *headers*, which have none."""
    raw = sent[2]
    if raw is not None:
        # What headers["Authorization"] = value does for a name it lacks.
        headers._list.append((b"Authorization", b"authorization", raw))
    else:
        headers["Authorization"] = sent[1]
