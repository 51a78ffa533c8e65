"""The key under which a fleet shares the token of a flow.

Theory of operation: two flows get the same key exactly when the server would
issue them the same token, so the key names everything that decides it (the
grant, the token URL, the client id, the username, the scopes, the extra
fields, a vendor's own fields) and nothing that does not (a client secret or
a password proves an identity, it is not one). Each flow says its own
identity through ``cache_identity()``: ``(name, value)`` pairs of text, an
API key among them only as its SHA-256.

The key is ``<prefix>:v1:{<digest>}``: the readable prefix a Redis ACL or a
``SCAN`` pattern selects (``~sansio-auth:*``), the format version, and the
SHA-256 (hex) of a canonical encoding of the identity. A digest keeps the
key short whatever the flow, and keeps usernames, client ids and URLs out of
the key names an administrator lists. The canonical encoding is JSON (every
string escaped, so no value can forge a separator) of a tag, the version and
the pairs in order of name (a stable sort: repeated extra fields keep their
order). The braces make the digest a Redis Cluster hash tag, so that a store
naming a lease ``<key>:lease`` keeps it in the token's slot; for that, a
prefix may not hold a brace. A change of the encoding is a new version: the
tests hold one key per flow kind byte for byte.
"""

from __future__ import annotations

import hashlib
import json
import string
from operator import itemgetter

__all__ = ["STORE_KEY_VERSION", "check_store_prefix", "store_key"]

STORE_KEY_VERSION = 1
"""The version in every key (``v1``); a new encoding bumps it."""

_TAG = "sansio-auth store key"
# Letters, digits and "-_.:": nothing a Redis glob (ACL key patterns, SCAN
# MATCH), a Cluster hash tag or a file name would read specially.
_PREFIX_CHARACTERS = frozenset(string.ascii_letters + string.digits + "-_.:")


def check_store_prefix(prefix: object) -> str:
    """*prefix*, if it can start a store key; for stores that take one.

    Raises:
      TypeError: if it is not a str.
      ValueError: if it is empty or holds a character other than ASCII
        letters, digits and ``-_.:`` (the message does not repeat it).
    """
    if not isinstance(prefix, str):
        raise TypeError(f"prefix must be a str, got {type(prefix).__name__}")
    if not prefix or not _PREFIX_CHARACTERS.issuperset(prefix):
        # What came is not echoed: a careless caller may have put a secret here.
        raise ValueError(
            "prefix must be a non-empty string of ASCII letters, digits and -_.:"
        )
    return prefix


def _identity(flow: object) -> list[tuple[str, str]]:
    method = getattr(flow, "cache_identity", None)
    kind = type(flow).__name__
    if not callable(method):
        raise TypeError(
            f"{kind} has no cache_identity(): its token cannot be shared in a store"
        )
    pairs = method()
    if not isinstance(pairs, tuple) or not all(
        isinstance(pair, tuple)
        and len(pair) == 2
        and isinstance(pair[0], str)
        and isinstance(pair[1], str)
        for pair in pairs
    ):
        raise TypeError(f"{kind}.cache_identity() must return (name, value) strings")
    if not pairs:
        # Every such flow would share one key, and one token.
        raise ValueError(f"{kind}.cache_identity() must name at least one field")
    return sorted(pairs, key=itemgetter(0))


def store_key(
    flow: object,
    *,
    prefix: str = "sansio-auth",
    binding: tuple[tuple[str, str], ...] = (),
) -> str:
    """The key under which a fleet shares the token of *flow*.

    Args:
      flow: a flow with a ``cache_identity()`` method (every flow of ours).
      prefix: the start of every key, e.g. for a Redis ACL key pattern.
      binding: what the tokens are bound to besides the flow, as
        ``(name, value)`` pairs: a DPoP key's thumbprint, a client
        certificate's. Tokens bound to different keys are not shared.

    Returns:
      ``f"{prefix}:v1:{{{sha256}}}"``: the digest of what decides the token,
      with no credential, username or URL readable in it.

    Raises:
      TypeError: if *flow* has no ``cache_identity()`` or it or *binding*
        gives something else than ``(name, value)`` strings, or *prefix* is
        not a str.
      ValueError: if the identity is empty, or *prefix* is empty or holds a
        character other than ASCII letters, digits and ``-_.:``.
    """
    prefix = check_store_prefix(prefix)
    pairs = _identity(flow)
    if binding:
        extra = [(f"binding:{name}", value) for name, value in _binding(binding)]
        pairs = sorted([*pairs, *extra], key=itemgetter(0))
    encoding = json.dumps(
        [_TAG, STORE_KEY_VERSION, pairs], ensure_ascii=True, separators=(",", ":")
    )
    # ASCII: ensure_ascii escaped every other character, lone surrogates too.
    digest = hashlib.sha256(encoding.encode("ascii")).hexdigest()
    return f"{prefix}:v{STORE_KEY_VERSION}:{{{digest}}}"


def _binding(binding: object) -> tuple[tuple[str, str], ...]:
    # A str would be taken apart character by character.
    if isinstance(binding, str | bytes) or not isinstance(binding, tuple | list):
        raise TypeError("binding must be a tuple of (name, value) string pairs")
    for pair in binding:
        if not (
            isinstance(pair, tuple | list)
            and len(pair) == 2
            and all(isinstance(part, str) and part for part in pair)
        ):
            raise TypeError(
                "binding must be a tuple of (name, value) pairs of non-empty strings"
            )
    return tuple((name, value) for name, value in binding)
