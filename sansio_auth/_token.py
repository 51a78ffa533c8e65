"""The access token value (RFC 6749 §5.1) that every flow produces."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from types import MappingProxyType
from typing import Any, final

import attrs

from ._jwt import jwt_claims

__all__ = ["Token"]


def _token_type(value: object) -> str:
    # RFC 6750 §4 registers "Bearer", but servers send any case; SmartConnect
    # sends "bearer". Other types (DPoP, MAC) are kept exactly as sent.
    if value is None or (isinstance(value, str) and value.lower() == "bearer"):
        return "Bearer"
    if not isinstance(value, str) or not value:
        raise ValueError("token_type must be a non-empty string")
    return value


def _scopes(value: Iterable[str] | None) -> frozenset[str] | None:
    if value is None:
        return None
    if isinstance(value, str):
        raise TypeError("scopes must be an iterable of strings, not a string")
    scopes = frozenset(value)
    if not all(isinstance(s, str) for s in scopes):
        raise TypeError("scopes must be strings")
    return scopes


def _raw(value: Mapping[str, object]) -> Mapping[str, object]:
    # A read-only view is kept as it is; anything else is copied, so that
    # the caller's later changes cannot reach the token. (The copy is kept
    # as a dict: Token.raw hands out a read-only view of it.)
    if isinstance(value, MappingProxyType):
        return value
    return dict(value)


def _non_empty(
    instance: object, attribute: attrs.Attribute[str], value: object
) -> None:
    if not isinstance(value, str) or not value:
        raise ValueError(f"{attribute.name} must be a non-empty string")


def _optional_token(
    instance: object, attribute: attrs.Attribute[str | None], value: object
) -> None:
    if value is not None:
        _non_empty(instance, attribute, value)  # type: ignore[arg-type]


def _float(value: object) -> object:
    # Integers are accepted and stored as floats; anything else is left for
    # the validator to refuse by name.
    if isinstance(value, int) and not isinstance(value, bool):
        try:
            return float(value)
        except OverflowError:
            return math.inf if value > 0 else -math.inf  # refused: not finite
    return value


def _optional_float(value: object) -> object:
    return None if value is None else _float(value)


def _finite(instance: object, attribute: attrs.Attribute[float], value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"{attribute.name} must be a number")
    if not math.isfinite(value):
        raise ValueError(f"{attribute.name} must be finite")


def _optional_finite(
    instance: object, attribute: attrs.Attribute[float | None], value: object
) -> None:
    if value is not None:
        _finite(instance, attribute, value)  # type: ignore[arg-type]


@final
@attrs.frozen(kw_only=True)
class Token:
    """An access token and what the server said about it.

    Its ``repr`` and ``str`` never show the access token, the refresh token or
    the raw response (the tokens appear as ``***``). Equality ignores
    ``raw``, so two parses that differ only in extra members give equal tokens.
    """

    access_token: str = attrs.field(repr=lambda _: "***", validator=_non_empty)
    """The token to send to the resource server."""
    token_type: str = attrs.field(default="Bearer", converter=_token_type)
    """``"Bearer"`` for any case of bearer or none given; others as sent."""
    received_at: float = attrs.field(converter=_float, validator=_finite)
    """The ``now`` the response was parsed at, in UNIX seconds."""
    expires_at: float | None = attrs.field(
        default=None, converter=_optional_float, validator=_optional_finite
    )
    """When the server says it expires, in UNIX seconds; None if unknown."""
    scopes: frozenset[str] | None = attrs.field(default=None, converter=_scopes)
    """Granted scopes; None when the server said nothing. (A parsed token
    splits the server's ``scope`` string when this is first read.)"""
    refresh_token: str | None = attrs.field(
        default=None,
        repr=lambda value: "None" if value is None else "***",
        validator=_optional_token,
    )
    """The refresh token, if one was issued."""
    raw: Mapping[str, object] = attrs.field(
        factory=dict, converter=_raw, repr=False, eq=False
    )
    """The whole response object, read-only. A mapping is copied; a
    ``MappingProxyType`` is kept as given."""

    def __reduce__(self) -> tuple[Callable[..., Token], tuple[object, ...]]:
        # raw is a read-only view, which neither pickle nor deepcopy take:
        # a token goes as its fields with raw as a dict, and comes back
        # through Token(), checked like any other.
        return _rebuild, (
            self.access_token,
            self.token_type,
            self.received_at,
            self.expires_at,
            self.scopes,
            self.refresh_token,
            dict(self.raw),  # a read-only view pickles as nothing: a dict
        )

    @property
    def lifetime(self) -> float | None:
        """``expires_at - received_at``, or None when the expiry is unknown."""
        if self.expires_at is None:
            return None
        return self.expires_at - self.received_at

    def is_expired(self, now: float, leeway: float = 0.0) -> bool:
        """Whether the token is expired at *now*, counting *leeway* seconds early.

        Args:
          now: the current time in UNIX seconds.
          leeway: how many seconds before ``expires_at`` to count as expired.

        Returns:
          ``now >= expires_at - leeway``; never True when the expiry is unknown.
        """
        return self.expires_at is not None and now >= self.expires_at - leeway

    def authorization(self) -> str:
        """The ``Authorization`` header value, e.g. ``"Bearer eyJ..."``."""
        return f"{self.token_type} {self.access_token}"

    def claims(self) -> Mapping[str, object] | None:
        """The unverified JWT payload of the access token, or None if not a JWT."""
        return jwt_claims(self.access_token)


def _rebuild(
    access_token: str,
    token_type: str,
    received_at: float,
    expires_at: float | None,
    scopes: frozenset[str] | None,
    refresh_token: str | None,
    raw: dict[str, object],
) -> Token:
    return Token(
        access_token=access_token,
        token_type=token_type,
        received_at=received_at,
        expires_at=expires_at,
        scopes=scopes,
        refresh_token=refresh_token,
        raw=raw,
    )


# attrs makes Token slotted: each field is a slot, and its descriptor's
# __set__ stores a value the way the generated __init__ does.
_slots = vars(Token)
_set_access_token = _slots["access_token"].__set__
_set_token_type = _slots["token_type"].__set__
_set_received_at = _slots["received_at"].__set__
_set_expires_at = _slots["expires_at"].__set__
_set_scopes = _slots["scopes"].__set__
_set_refresh_token = _slots["refresh_token"].__set__
_set_raw = _slots["raw"].__set__


class _OverSlot:
    """A field's descriptor in place of attrs' slot, storing through it:
    Token's generated __init__ and setstate write as before, and a
    subclass decides what a read hands out."""

    def __init__(self, slot: Any, doc: str) -> None:
        self._slot = slot
        self.__doc__ = doc

    def __set__(self, instance: Token, value: object) -> None:
        self._slot.__set__(instance, value)


@final
class _SplitOnRead(_OverSlot):
    """``Token.scopes``: attrs' slot, except that a ``str`` stored in it by
    :func:`checked_token` is split into the frozenset on first read.

    Splitting and hashing seven scopes was a quarter of a parse, and the
    frozenset of seven weighs about a kilobyte that most tokens never need.
    Every read returns the frozenset, so nothing outside can tell; ``Token()``
    still refuses a string for ``scopes``.
    """

    def __get__(self, instance: Token | None, owner: type | None = None) -> Any:
        if instance is None:
            return self
        value = self._slot.__get__(instance, owner)
        if type(value) is str:
            value = frozenset(value.split())
            # Kept, so the split happens once. A race splits twice into
            # equal sets: harmless.
            self._slot.__set__(instance, value)
        return value


@final
class _ReadOnlyOnRead(_OverSlot):
    """``Token.raw``: attrs' slot holds the response object as a dict (the
    parser's, or Token()'s copy), and each read hands out a read-only view
    of it: 64 bytes a token less than keeping the view, and the parser
    makes none. A view given to Token() is kept and handed out as it is.
    """

    def __get__(self, instance: Token | None, owner: type | None = None) -> Any:
        if instance is None:
            return self
        value = self._slot.__get__(instance, owner)
        return MappingProxyType(value) if type(value) is dict else value


# Not assignments: to mypy, these are the fields they are.
setattr(  # noqa: B010
    Token,
    "scopes",
    _SplitOnRead(
        _slots["scopes"], "Granted scopes; None when the server said nothing."
    ),
)
setattr(  # noqa: B010
    Token,
    "raw",
    _ReadOnlyOnRead(_slots["raw"], "The whole response object, read-only."),
)
_new = object.__new__


def checked_token(
    access_token: str,
    token_type: str,
    received_at: float,
    expires_at: float | None,
    scopes: frozenset[str] | str | None,
    refresh_token: str | None,
    raw: dict[str, object],
) -> Token:
    """A Token from values already in their final, valid form, except that
    *scopes* may be the server's ``scope`` string (split when first read).

    For the parser, which has checked every field itself: the validators and
    converters of ``Token()`` would double its cost. Whatever this is given
    must be what ``Token()`` would have stored (the tests hold the two to
    that with hypothesis).
    """
    token = _new(Token)
    _set_access_token(token, access_token)
    _set_token_type(token, token_type)
    _set_received_at(token, received_at)
    _set_expires_at(token, expires_at)
    _set_scopes(token, scopes)
    _set_refresh_token(token, refresh_token)
    _set_raw(token, raw)
    return token
