"""The checks and converters of flow arguments, shared by every flow.

Each names the argument it refuses and never shows its value: a careless
caller may have put a secret in the wrong place.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

import attrs

from ._urls import check_token_url
from ._version import __version__

__all__ = [
    "FORM_HEADERS",
    "USER_AGENT",
    "check_credential",
    "check_extra",
    "check_text",
    "extra_fields",
    "masked",
    "optional_credential",
    "resource_uris",
    "scope_items",
    "text_items",
    "validate_credential",
    "validate_url",
]

USER_AGENT = f"sansio-auth/{__version__}"
"""The ``User-Agent`` of every request the library builds."""

FORM_HEADERS = (
    ("Accept", "application/json"),
    ("Content-Type", "application/x-www-form-urlencoded"),
    ("User-Agent", USER_AGENT),
)
"""The headers of every form POST to a token endpoint."""


def masked(value: object) -> str:
    """An attrs ``repr``: a secret shows as ``***``."""
    return "***"


def check_credential(field: str, value: object, *, optional: bool = False) -> None:
    """Refuse a credential that is not a non-empty string UTF-8 can encode.

    Args:
      field: the argument's name, for the message (never its value).
      value: the candidate.
      optional: whether None is allowed.

    Raises:
      TypeError: if it is not a string (or None, when optional).
      ValueError: if it is empty or holds a lone surrogate.
    """
    if value is None and optional:
        return
    check_text(field, value)
    if not value:
        raise ValueError(f"{field} must not be empty")


def check_text(field: str, value: object) -> None:
    """Refuse a value that is not a string UTF-8 can encode (empty is fine).

    Raises:
      TypeError: if it is not a string.
      ValueError: if it holds a lone surrogate.
    """
    if not isinstance(value, str):
        raise TypeError(f"{field} must be a str, got {type(value).__name__}")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError(
            f"{field} is not valid text (it holds a lone surrogate)"
        ) from None


def validate_credential(
    instance: object, attribute: attrs.Attribute[str], value: object
) -> None:
    """An attrs validator: :func:`check_credential` under the field's name."""
    check_credential(attribute.name, value)


def optional_credential(
    instance: object, attribute: attrs.Attribute[str | None], value: object
) -> None:
    """An attrs validator: :func:`check_credential`, None allowed."""
    check_credential(attribute.name, value, optional=True)


def validate_url(
    instance: object, attribute: attrs.Attribute[str], value: object
) -> None:
    """An attrs validator: the token URL rule under the field's name."""
    check_token_url(value, attribute.name)


def scope_items(value: str | Iterable[str]) -> tuple[str, ...]:
    """An attrs converter: scopes from a space-separated string or strings."""
    if isinstance(value, str):
        # Split on whitespace, the items are non-empty and hold none; a lone
        # surrogate, the one thing left to refuse, is in the string if it is
        # in an item.
        check_text("scope", value)
        return tuple(value.split())
    if isinstance(value, bytes) or not hasattr(value, "__iter__"):
        raise TypeError("scope must be a string or an iterable of strings")
    items = tuple(value)
    for item in items:
        if not isinstance(item, str) or not item or any(c.isspace() for c in item):
            raise ValueError("scope must be strings without whitespace")
        check_credential("scope", item)
    return items


def extra_fields(
    value: Mapping[str, str] | Iterable[tuple[str, str]],
) -> tuple[tuple[str, str], ...]:
    """An attrs converter: further form fields as (name, value) pairs."""
    if type(value) is tuple:  # the usual case, () included: skip the ABC check
        pairs = value
    elif isinstance(value, Mapping):
        pairs = tuple(value.items())
    elif isinstance(value, str | bytes) or not hasattr(value, "__iter__"):
        raise TypeError("extra must be (name, value) pairs")
    else:
        pairs = tuple(value)
    for index, pair in enumerate(pairs):
        if not (isinstance(pair, tuple) and len(pair) == 2):
            raise TypeError("extra must be (name, value) pairs")
        # By position, not by name: a careless caller may have swapped them.
        check_credential(f"extra parameter #{index} name", pair[0])
        check_text(f"extra parameter #{index} value", pair[1])
    return pairs


def check_extra(extra: tuple[tuple[str, str], ...], taken: frozenset[str]) -> None:
    """Refuse an extra field that the flow sets from its own arguments."""
    for name, _ in extra:
        if name in taken:
            raise ValueError(
                f"extra must not set {name!r}: the flow sets it from its own arguments"
            )


# RFC 3986 §3.1: an absolute URI begins with a scheme and a colon.
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*:")
_SPACE_OR_CONTROL = re.compile(r"[\x00-\x20\x7f-\x9f]")


def text_items(field: str, value: str | Iterable[str]) -> tuple[str, ...]:
    """One string or several, each a non-empty string UTF-8 can encode.

    Raises:
      TypeError, ValueError: naming *field*.
    """
    if isinstance(value, str):
        items: tuple[object, ...] = (value,)
    elif isinstance(value, bytes) or not hasattr(value, "__iter__"):
        raise TypeError(f"{field} must be a string or an iterable of strings")
    else:
        items = tuple(value)
    for item in items:
        check_credential(field, item)
    return items  # type: ignore[return-value]


def resource_uris(value: str | Iterable[str]) -> tuple[str, ...]:
    """An attrs converter: RFC 8707 resource indicators.

    Each is an absolute URI without a fragment (§2) and, since it travels in
    a form field a server may log or echo, without space or control
    characters.

    Raises:
      TypeError, ValueError: naming ``resource``, never its value.
    """
    items = text_items("resource", value)
    for item in items:
        if (
            not _SCHEME.match(item)
            or "#" in item
            or not item.isascii()
            or _SPACE_OR_CONTROL.search(item) is not None
        ):
            raise ValueError(
                "resource must be absolute URIs without a fragment "
                "(RFC 8707 §2), such as 'https://api.example.com/'"
            )
    return items
