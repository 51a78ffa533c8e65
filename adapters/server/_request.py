"""Requests as received: the record the server keeps, and their bodies' fields.

The endpoints read form bodies (``application/x-www-form-urlencoded``) and
multipart ones (RFC 7578) strictly, refusing what a vendor would refuse
(RFC 6749 §3.2: no parameter twice). The record's fields are read the lenient
way, for the test's eyes only, and never refuse.
"""

from __future__ import annotations

import email.parser
import email.policy
import json
import urllib.parse
from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import Final, final

import attrs

from ._answers import Refused

__all__ = [
    "FORM",
    "RecordedRequest",
    "form_fields",
    "form_pairs",
    "header_value",
    "media_type",
    "multipart_pairs",
    "recorded_fields",
    "require",
    "single",
]

FORM: Final = "application/x-www-form-urlencoded"


def _frozen_fields(value: Mapping[str, object]) -> Mapping[str, object]:
    return MappingProxyType(dict(value))


@final
@attrs.frozen(kw_only=True)
class RecordedRequest:
    """A request as the server received it."""

    method: str
    """The request method."""
    path: str
    """The request target as sent (path and query)."""
    headers: tuple[tuple[str, str], ...]
    """The headers, in the order received."""
    body: bytes
    """The body (empty when there was none)."""
    fields: Mapping[str, object] = attrs.field(
        factory=dict, converter=_frozen_fields, hash=False
    )
    """The body's fields: a form or multipart body's values (strings; the last
    one of a repeated name), or a JSON object's members. Empty otherwise."""
    endpoint: str
    """Which endpoint it reached: one of :data:`ENDPOINTS`, or ``"unknown"``."""
    fault: str | None = None
    """The fault it was answered with: ``"fail"``, ``"reset"``, ``"hang"``,
    or None for a normal answer."""
    received_at: float = 0.0
    """UNIX seconds when it was read."""
    client_cert: bytes | None = attrs.field(default=None, repr=False)
    """The DER bytes of the TLS client certificate the connection carried,
    or None (plain HTTP, or no certificate)."""

    def header(self, name: str) -> str | None:
        """The value of header *name* (any case), or None."""
        return header_value(self.headers, name)


def header_value(headers: Sequence[tuple[str, str]], name: str) -> str | None:
    """The value of the first header *name* (any case) in *headers*, or None."""
    wanted = name.lower()
    for key, value in headers:
        if key.lower() == wanted:
            return value
    return None


def media_type(content_type: str | None) -> str:
    """The media type of a ``Content-Type`` value, lowercased, no parameters."""
    return (content_type or "").split(";", 1)[0].strip().lower()


def _form_pairs(body: bytes) -> list[tuple[str, str]]:
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise Refused("invalid_request", "the form body is not UTF-8") from None
    return urllib.parse.parse_qsl(text, keep_blank_values=True)


def multipart_pairs(content_type: str, body: bytes) -> list[tuple[str, str]]:
    """The fields of a multipart/form-data body (RFC 7578), by the email parser."""
    head = f"Content-Type: {content_type}\r\nMIME-Version: 1.0\r\n\r\n".encode(
        "latin-1", "replace"
    )
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + body)
    if not message.is_multipart() or message.defects:
        raise Refused("invalid_request", "the multipart body is malformed")
    pairs = []
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        payload = part.get_payload(decode=True)
        if not isinstance(name, str) or not isinstance(payload, bytes):
            raise Refused("invalid_request", "a multipart part has no field name")
        try:
            pairs.append((name, payload.decode("utf-8")))
        except UnicodeDecodeError:
            raise Refused(
                "invalid_request", f"the multipart field {name} is not UTF-8"
            ) from None
    return pairs


def single(
    pairs: Sequence[tuple[str, str]], repeatable: frozenset[str] = frozenset()
) -> dict[str, str]:
    """RFC 6749 §3.2: parameters must not be included more than once, but
    for those an extension lets repeat (*repeatable*, whose last value is
    kept here)."""
    fields: dict[str, str] = {}
    for name, value in pairs:
        if name in fields and name not in repeatable:
            raise Refused("invalid_request", f"the parameter {name} is repeated")
        fields[name] = value
    return fields


def form_pairs(request: RecordedRequest) -> list[tuple[str, str]]:
    """The (name, value) pairs of *request*'s form body in order, or a
    refusal if it has none."""
    content_type = request.header("Content-Type")
    if media_type(content_type) != FORM:
        raise Refused(
            "invalid_request",
            f"the content type must be {FORM}, got {media_type(content_type)!r}",
        )
    return _form_pairs(request.body)


def form_fields(request: RecordedRequest) -> dict[str, str]:
    """The fields of *request*'s form body, or a refusal if it has none."""
    return single(form_pairs(request))


def recorded_fields(content_type: str | None, body: bytes) -> dict[str, object]:
    """Best-effort fields for the record; never raises."""
    media = media_type(content_type)
    try:
        if media == FORM:
            return dict(_form_pairs(body))
        if media == "multipart/form-data" and content_type is not None:
            return dict(multipart_pairs(content_type, body))
        if media == "application/json" or (not media and body[:1] == b"{"):
            data = json.loads(body)
            if isinstance(data, dict):
                return data
    except (Refused, ValueError):
        pass
    return {}


def require(fields: Mapping[str, str], *names: str) -> None:
    """Refuse unless each of *names* is in *fields*, not empty."""
    for name in names:
        if not fields.get(name):
            raise Refused("invalid_request", f"the parameter {name} is missing")
