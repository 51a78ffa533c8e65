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

A DPoP-bound token (RFC 9449 §7) sends ``Authorization: DPoP <token>`` and a
``DPoP`` proof made for each request: its bytes are appended the same way,
after any ``DPoP`` header already there is taken off (httpx copies every
header but ``Authorization`` onto a redirect's request, so a
``response.next_request`` carries the proof of the request it follows).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

import httpx

from sansio_auth import Token

if TYPE_CHECKING:
    from ._dpop import ApiProofs

__all__ = [
    "NOTHING_SENT",
    "Sent",
    "drop_proof",
    "has_authorization",
    "put",
    "put_proof",
    "response_header",
    "sendable",
]


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

Sent = tuple[Token | None, str, bytes | None, bool]
"""A token, its ``Authorization`` value, that value's bytes for
``Headers._list`` (None where the public spelling is used), and whether each
request needs a DPoP proof with it: made once per token, not per request."""

NOTHING_SENT: Final[Sent] = (None, "", None, False)


def sendable(token: Token, proofs: ApiProofs | None = None) -> Sent:
    """What :func:`put` sets for *token*; with *proofs* (a client with a DPoP
    key), a DPoP-bound token (``token_type`` DPoP, any case) goes with the
    ``DPoP`` scheme and needs a proof per request."""
    proved = proofs is not None and token.token_type.lower() == "dpop"
    value = f"DPoP {token.access_token}" if proved else token.authorization()
    # ASCII, as token values are: the same bytes whatever encoding httpx
    # would pick for the request's headers. Anything else is httpx's to
    # encode (or refuse).
    raw = value.encode("ascii") if _HEADER_LIST and value.isascii() else None
    return (token, value, raw, proved)


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


def put_proof(headers: httpx.Headers, proof: str) -> None:
    """Set *proof* as the request's one ``DPoP`` header (module notes)."""
    if _HEADER_LIST:
        items = headers._list
        # Nearly always none there: a look, not a new list.
        for item in items:
            if item[1] == b"dpop":
                items[:] = [i for i in items if i[1] != b"dpop"]
                break
        # A proof is base64url and dots: ASCII.
        items.append((b"DPoP", b"dpop", proof.encode("ascii")))
    else:
        headers["DPoP"] = proof


def drop_proof(headers: httpx.Headers) -> None:
    """Take any ``DPoP`` header off."""
    headers.pop("DPoP", None)


def response_header(headers: httpx.Headers, name: bytes) -> str | None:
    """The first value of the header *name* (lowercase bytes), or None."""
    if _HEADER_LIST:
        for item in headers._list:
            if item[1] == name:
                return item[2].decode("latin-1")
        return None
    value: str | None = headers.get(name.decode("ascii"))
    return value
