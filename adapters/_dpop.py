"""DPoP for the adapters: the key option, fresh ``jti`` values, and the
proofs of API requests with each resource server's nonce.

The core signs (:class:`sansio_auth.DPoPKey`); what needs the world is here:
generating a key (randomness), the clock and the ``jti`` of each proof, and
remembering the nonce each resource server last sent (RFC 9449 §9), per
origin, since a token may serve several APIs.
"""

from __future__ import annotations

import itertools
import os
import secrets
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import TYPE_CHECKING, Final
from urllib.parse import urlsplit

if TYPE_CHECKING:
    from sansio_auth import DPoPKey, Token

from sansio_auth._dpop import access_token_hash

from ._fork_locks import fork_safe_lock

__all__ = ["ApiProofs", "dpop_option", "new_jti"]

_MAX_ORIGINS: Final = 64
"""Resource servers whose nonce is remembered: an SDK talks to a few; a
hostile redirect chain must not grow the map without bound."""


class _Unique:
    """``jti`` values: 128 random bits drawn once per process, then a count.

    Unique as 128 random bits per value are (RFC 9449 §4.2 asks for a
    negligible chance of reuse, not unpredictability: a proof is bound by
    its signature, its time and the server's nonce), at a sixth of the cost
    of drawing them per proof, which is on every API request. A forked child
    draws its own: it would otherwise count the parent's values again.
    """

    __slots__ = ("count", "prefix")

    def __init__(self) -> None:
        self.prefix = secrets.token_urlsafe(16)
        self.count = itertools.count()

    def __call__(self) -> str:
        # next() on a count is atomic under the GIL: threads get distinct values.
        return f"{self.prefix}.{next(self.count):x}"


_unique = _Unique()


def _reseed() -> None:
    global _unique
    _unique = _Unique()


if hasattr(os, "register_at_fork"):  # not on Windows, which cannot fork
    os.register_at_fork(after_in_child=_reseed)


def new_jti() -> str:
    """A ``jti`` never used before, in any process: a random per-process
    prefix and a count."""
    return _unique()


def dpop_option(value: object) -> DPoPKey | None:
    """The ``dpop_key=`` option of a client or integration.

    None: no DPoP. True: a fresh ES256 key, held in memory only (tokens it
    binds are this client's alone). A :class:`~sansio_auth.DPoPKey`, a PEM
    private key or a ``cryptography`` private key: that key (give the same
    one to every process that shares tokens through a store).

    Raises:
      ImportError: without ``cryptography`` (the ``jwt`` extra).
      TypeError, ValueError: naming ``dpop_key``, never showing the key.
    """
    if value is None or value is False:
        return None
    from sansio_auth import DPoPKey

    if isinstance(value, DPoPKey):
        return value
    if value is True:
        try:
            from cryptography.hazmat.primitives.asymmetric import ec
        except ImportError:
            raise ImportError(
                "dpop_key=True generates a key with the 'cryptography' package: "
                "pip install 'sansio-auth[jwt]'"
            ) from None
        return DPoPKey(ec.generate_private_key(ec.SECP256R1()))
    return DPoPKey(value)


def _origin(url: str) -> str:
    # Without user info: one resource server, whoever the URL logs in as.
    parts = urlsplit(url)
    authority = parts.netloc.rpartition("@")[2]
    return f"{parts.scheme.lower()}://{authority.lower()}"


class ApiProofs:
    """The ``Authorization`` and ``DPoP`` headers of API requests for a DPoP
    key; safe to share between threads and tasks (the nonce map is the only
    state, changed under a lock held for a few bytecodes)."""

    __slots__ = ("__weakref__", "_ath", "_clock", "_jti", "_lock", "_nonces", "key")

    def __init__(
        self,
        key: DPoPKey,
        *,
        clock: Callable[[], float] = time.time,
        jti: Callable[[], str] = new_jti,
    ) -> None:
        self.key: Final = key
        self._clock = clock
        self._jti = jti
        self._nonces: OrderedDict[str, str] = OrderedDict()
        self._lock = fork_safe_lock(self)
        # The last token's ath: a token serves many requests, hashed once.
        self._ath: tuple[str, str] = ("", "")

    def headers(self, token: Token, method: str, url: str) -> tuple[str, str | None]:
        """``(authorization, proof)`` for a *method* request to *url* with
        *token*: a DPoP-bound token (``token_type`` DPoP, any case) gets the
        ``DPoP`` scheme and a fresh proof with ``ath``; any other token its
        own ``Authorization`` and no proof."""
        token_type = token.token_type
        if token_type != "DPoP" and token_type.lower() != "dpop":
            return token.authorization(), None
        access_token = token.access_token
        last = self._ath
        if last[0] is access_token:
            ath = last[1]
        else:
            ath = access_token_hash(access_token)
            self._ath = (access_token, ath)
        # Most resource servers send no nonce: no URL parsing for them.
        nonce = self._nonces.get(_origin(url)) if self._nonces else None
        proof = self.key.signed(
            method.upper(),
            url,
            now=self._clock(),
            jti=self._jti(),
            nonce=nonce,
            ath=ath,
        )
        return f"DPoP {access_token}", proof

    def learn(self, url: str, nonce: str | None) -> bool:
        """Keep the ``DPoP-Nonce`` a response from *url* carried, if it is a
        valid nonce; True if it is new."""
        from sansio_auth._dpop import check_nonce

        if check_nonce(nonce) is None:
            return False
        assert nonce is not None
        origin = _origin(url)
        with self._lock:
            if self._nonces.get(origin) == nonce:
                return False
            self._nonces[origin] = nonce
            self._nonces.move_to_end(origin)
            while len(self._nonces) > _MAX_ORIGINS:
                self._nonces.popitem(last=False)
        return True
