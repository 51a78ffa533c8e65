"""What a signed request needs from outside the core: the time and a fresh
unique value (a JWT's ``jti``)."""

from __future__ import annotations

import math
from typing import final

import attrs

__all__ = ["Stamp"]


def _now(instance: object, attribute: attrs.Attribute[float], value: object) -> None:
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or value < 0
    ):
        raise ValueError("now must be a finite, non-negative number of UNIX seconds")


def _jti(instance: object, attribute: attrs.Attribute[str], value: object) -> None:
    if not isinstance(value, str) or not value:
        raise ValueError("jti must be a non-empty string")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("jti is not valid text (it holds a lone surrogate)") from None


@final
@attrs.frozen
class Stamp:
    """When a signed request is made, and the unique id of its JWT.

    :class:`~sansio_auth.TokenSession` makes one per request from its ``now``
    and its ``jti`` function; the same stamp gives the same bytes.
    """

    now: float = attrs.field(validator=_now)
    """UNIX seconds: a JWT's ``iat`` is its whole part."""
    jti: str = attrs.field(validator=_jti)
    """A value never used before by this client (RFC 7519 §4.1.7)."""
