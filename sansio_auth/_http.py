"""Request and response descriptions: what an adapter sends and what it got back.

These are plain values. A request never carries ``Host`` or ``Content-Length``
(framing is the transport's job), and its ``repr`` shows header *names* only,
so a request can be logged or printed in a traceback without leaking the
credentials it carries in headers and body.
"""

from __future__ import annotations

import re
from typing import final

import attrs

__all__ = [
    "HttpRequest",
    "HttpResponse",
    "check_header_name",
    "check_header_value",
    "header_value",
    "trusted_request",
]

# RFC 9110 §5.6.2: a header name is a token.
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
# Every control character except horizontal tab: C0, DEL and C1 (RFC 9110 §5.5).
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f-\x9f]")
# A request target holds no space and no control character, tab included.
_URL_FORBIDDEN = re.compile(r"[\x00-\x20\x7f-\x9f]")
# Framing is the transport's job: a request description never sets these.
FRAMING_HEADERS = frozenset(
    {"host", "content-length", "transfer-encoding", "connection"}
)


def check_header_name(field: str, value: object) -> str:
    """Refuse a header name that is not an RFC 9110 token.

    Raises:
      ValueError: naming *field*, if *value* is not a non-empty token, or is
        one of the framing headers the transport sets (``Host``,
        ``Content-Length``, ``Transfer-Encoding``, ``Connection``).
    """
    if not isinstance(value, str) or not _TOKEN.fullmatch(value):
        raise ValueError(f"{field} must be an HTTP header name such as 'X-API-Key'")
    if value.lower() in FRAMING_HEADERS:
        raise ValueError(
            f"{field} must not be {value!r}: framing headers are the transport's job"
        )
    return value


def check_header_value(field: str, value: str, *, ascii: bool = True) -> str:
    """Refuse a header value that could split or smuggle headers, or that
    adapters would send differently.

    Args:
      field: what the value is, for the error message (never the value).
      value: the candidate header value.
      ascii: whether to refuse characters outside ASCII too. RFC 9110 §5.5
        has senders send ASCII; beyond it, one HTTP stack sends UTF-8, another
        Latin-1, and a third refuses, so a request we build never holds any.

    Returns:
      The value, unchanged.

    Raises:
      ValueError: if it holds CR, LF, NUL or another control character, or
        (with *ascii*) a character outside ASCII.
    """
    if _CONTROL.search(value):
        raise ValueError(
            f"{field} contains a control character (CR, LF, NUL or similar), "
            "which is not allowed in a header value"
        )
    if ascii and not value.isascii():
        raise ValueError(
            f"{field} contains a character outside ASCII, which HTTP clients "
            "send in different encodings or refuse in a header value"
        )
    return value


def _pairs(value: object) -> tuple[tuple[str, str], ...]:
    if isinstance(value, str | bytes) or not hasattr(value, "__iter__"):
        raise TypeError("headers must be a sequence of (name, value) pairs")
    out = []
    for pair in value:
        if not (isinstance(pair, tuple | list) and len(pair) == 2):
            raise TypeError("headers must be a sequence of (name, value) pairs")
        name, val = pair
        if not (isinstance(name, str) and isinstance(val, str)):
            raise TypeError("header names and values must be str")
        out.append((name, val))
    return tuple(out)


def _request_headers(value: object) -> tuple[tuple[str, str], ...]:
    # What we send is checked strictly: a CR or LF here is header injection.
    pairs = _pairs(value)
    seen = set()
    for name, val in pairs:
        check_header_name("header name", name)
        check_header_value(f"header {name!r}", val)
        # One HTTP stack sends a repeated field twice, another the last one
        # only (urllib keeps headers in a dict): no request repeats one.
        if name.lower() in seen:
            raise ValueError(f"headers must not repeat {name!r}")
        seen.add(name.lower())
    return pairs


def _check_body(
    instance: object, attribute: attrs.Attribute[bytes], value: object
) -> None:
    if not isinstance(value, bytes):
        raise TypeError(f"body must be bytes, got {type(value).__name__}")


def _check_method(
    instance: object, attribute: attrs.Attribute[str], value: object
) -> None:
    if not isinstance(value, str) or not _TOKEN.fullmatch(value):
        raise ValueError("method must be an RFC 9110 token such as 'POST'")


def _check_url(
    instance: object, attribute: attrs.Attribute[str], value: object
) -> None:
    if not isinstance(value, str) or not value or _URL_FORBIDDEN.search(value):
        raise ValueError(
            "url must be a non-empty string without spaces or control characters"
        )


def _check_status(
    instance: object, attribute: attrs.Attribute[int], value: object
) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not 100 <= value <= 999:
        raise ValueError("status must be an integer from 100 to 999")


def header_value(headers: tuple[tuple[str, str], ...], name: str) -> str | None:
    """The first value of header *name*, matched case-insensitively, or None."""
    name = name.lower()
    for key, value in headers:
        if key.lower() == name:
            return value
    return None


@final
@attrs.frozen(kw_only=True, repr=False)
class HttpRequest:
    """A request an adapter should send, exactly as described."""

    method: str = attrs.field(validator=_check_method)
    """The HTTP method, e.g. ``"POST"``."""
    url: str = attrs.field(validator=_check_url)
    """The absolute URL, query included."""
    headers: tuple[tuple[str, str], ...] = attrs.field(converter=_request_headers)
    """Headers in send order, without ``Host`` and ``Content-Length``."""
    body: bytes = attrs.field(default=b"", validator=_check_body)
    """The exact body bytes; ``b""`` for none."""

    def header(self, name: str) -> str | None:
        """The first value of header *name* (case-insensitive), or None."""
        return header_value(self.headers, name)

    def redacted_url(self) -> str:
        """The URL with each query value shown as ``***``, for logs and reprs.

        A key may travel in the query (Azure Functions' ``?code=``), and a
        URL is what every log line names.
        """
        base, question, query = self.url.partition("?")
        if not question:
            return self.url
        # A name is shown, a value never; an item without "=" may be a bare
        # key, so it is masked whole.
        shown = [
            f"{item.partition('=')[0]}=***" if "=" in item else "***" if item else ""
            for item in query.split("&")
        ]
        return f"{base}?{'&'.join(shown)}"

    def __repr__(self) -> str:
        # Header values, query values and the body carry credentials: names
        # only.
        names = ", ".join(repr(name) for name, _ in self.headers)
        return (
            f"HttpRequest(method={self.method!r}, url={self.redacted_url()!r}, "
            f"headers=({names}), body=<{len(self.body)} bytes>)"
        )


_new = object.__new__
_set = object.__setattr__


def trusted_request(
    url: str, headers: tuple[tuple[str, str], ...], body: bytes
) -> HttpRequest:
    """A POST :class:`HttpRequest` built without re-running its checks.

    For the library's own flows, which build the same request on every call
    from values they checked once, when they were built: *url* passed
    :func:`~sansio_auth.check_token_url` (stricter than the request's URL
    rule), each header name and value is a constant of ours or passed
    :func:`check_header_name` and :func:`check_header_value`, and *headers*
    is a tuple of ``(str, str)`` tuples. Anything else goes through
    ``HttpRequest(...)``. With attrs validators turned off
    (``attrs.validators.set_disabled``) the flows were not checked either, so
    this falls back to the full constructor, whose header check always runs.
    """
    if not attrs.validators.get_disabled():
        request = _new(HttpRequest)
        _set(request, "method", "POST")
        _set(request, "url", url)
        _set(request, "headers", headers)
        _set(request, "body", body)
        return request
    return HttpRequest(method="POST", url=url, headers=headers, body=body)


@final
@attrs.frozen(kw_only=True, repr=False)
class HttpResponse:
    """A response as the adapter received it."""

    status: int = attrs.field(validator=_check_status)
    """The status code."""
    headers: tuple[tuple[str, str], ...] = attrs.field(default=(), converter=_pairs)
    """Headers as received; names are matched case-insensitively."""
    body: bytes = attrs.field(default=b"", validator=_check_body)
    """The body, already de-chunked by the transport."""

    def header(self, name: str) -> str | None:
        """The first value of header *name* (case-insensitive), or None."""
        return header_value(self.headers, name)

    def __repr__(self) -> str:
        # A token response body is a secret: show its size only. Header names
        # are the server's words: a name that is not a plain word (one that
        # could echo a credential) shows as its length.
        names = ", ".join(_shown_name(name) for name, _ in self.headers)
        return (
            f"HttpResponse(status={self.status}, headers=({names}), "
            f"body=<{len(self.body)} bytes>)"
        )


def _shown_name(name: str) -> str:
    if len(name) <= 32 and re.fullmatch(r"[A-Za-z][A-Za-z-]*[0-9]{0,3}", name):
        return repr(name)
    return f"<name of {len(name)} characters>"
