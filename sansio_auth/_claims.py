"""The further claims of an assertion a flow signs (``JwtBearerGrant``'s
``claims=``): checked to be JSON, kept from the registered claims the flow
sets itself, and frozen, so that the flow stays a value."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import NoReturn, final

__all__ = ["claim_pairs"]

_REGISTERED = frozenset({"iss", "sub", "aud", "jti", "iat", "exp"})


def claim_pairs(
    value: Mapping[str, object] | Iterable[tuple[str, object]] | None,
) -> tuple[tuple[str, object], ...]:
    """*value* as (name, value) pairs in its order, each value frozen.

    Raises:
      TypeError: for a value JSON cannot hold (or NaN, or an object with
        keys that are not str).
      ValueError: for a claim the flow sets itself.
    """
    if value is None:
        return ()
    if isinstance(value, Mapping):
        pairs = tuple(value.items())
    elif isinstance(value, str | bytes) or not hasattr(value, "__iter__"):
        raise TypeError("claims must be a mapping of claim names to values")
    else:
        pairs = tuple(value)
    for pair in pairs:
        if not (
            isinstance(pair, tuple) and len(pair) == 2 and isinstance(pair[0], str)
        ):
            raise TypeError("claims must be a mapping of claim names to values")
        if pair[0] in _REGISTERED:
            raise ValueError(
                f"claims must not set {pair[0]!r}: the flow sets it itself"
            )
    try:
        # Checked now, so that a flow that exists can build its request: a
        # value JSON cannot hold, or NaN (which it may not), fails here.
        json.dumps(dict(pairs), allow_nan=False)
        # Copied and frozen: a list the caller changes later must change
        # neither the assertions nor the store key, and a flow hashes.
        return tuple((name, _frozen(value)) for name, value in pairs)
    except (TypeError, ValueError):
        raise TypeError(
            "claims must be JSON values (str, int, float, bool, None, lists "
            "and mappings of them with str keys; no NaN or infinity)"
        ) from None


@final
class _FrozenObject(dict[str, object]):
    """A JSON object in a claim that nobody can change: json.dumps writes it
    as the dict it is, and it hashes."""

    def __hash__(self) -> int:  # type: ignore[override]
        return hash(frozenset(self.items()))

    def __reduce__(self) -> tuple[type[_FrozenObject], tuple[dict[str, object]]]:
        return _FrozenObject, (dict(self),)

    def _refuse(self, *args: object, **kwargs: object) -> NoReturn:
        raise TypeError("a claim of a flow cannot be changed")

    __setitem__ = __delitem__ = _refuse
    clear = pop = popitem = setdefault = update = __ior__ = _refuse


def _frozen(value: object) -> object:
    # A JSON value as immutable types that json.dumps writes the same way:
    # a list as a tuple, an object as a _FrozenObject.
    if isinstance(value, list | tuple):
        return tuple(_frozen(item) for item in value)
    if isinstance(value, dict):
        if not all(isinstance(key, str) for key in value):
            # json.dumps would write 1 as "1": not what was given.
            raise TypeError("a JSON object's keys are str")
        return _FrozenObject((key, _frozen(item)) for key, item in value.items())
    return value
