"""DPoP for the adapters: the key option, fresh ``jti`` values, and the
proofs of API requests with each resource server's nonce.

The core signs (:class:`sansio_auth.DPoPKey`); what needs the world is here:
generating a key (randomness), the clock and the ``jti`` of each proof, and
remembering the nonce each resource server last sent (RFC 9449 §9), per
origin, since a token may serve several APIs.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import TYPE_CHECKING, Final
from urllib.parse import urlsplit

if TYPE_CHECKING:
    from sansio_auth import DPoPKey, Token

__all__ = ["ApiProofs", "dpop_option", "new_jti"]

_MAX_ORIGINS: Final = 64
"""Resource servers whose nonce is remembered: an SDK talks to a few; a
hostile redirect chain must not grow the map without bound."""


def new_jti() -> str:
    """128 random bits, base64url: a ``jti`` never used before."""
    return secrets.token_urlsafe(16)


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
    parts = urlsplit(url)
    return f"{parts.scheme.lower()}://{parts.netloc.lower()}"


class ApiProofs:
    """The ``Authorization`` and ``DPoP`` headers of API requests for a DPoP
    key; safe to share between threads and tasks (the nonce map is the only
    state, changed under a lock held for a few bytecodes)."""

    __slots__ = ("_clock", "_jti", "_lock", "_nonces", "key")

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
        self._lock = threading.Lock()

    def headers(self, token: Token, method: str, url: str) -> tuple[str, str | None]:
        """``(authorization, proof)`` for a *method* request to *url* with
        *token*: a DPoP-bound token (``token_type`` DPoP, any case) gets the
        ``DPoP`` scheme and a fresh proof with ``ath``; any other token its
        own ``Authorization`` and no proof."""
        if token.token_type.lower() != "dpop":
            return token.authorization(), None
        proof = self.key.proof(
            method.upper(),
            url,
            now=self._clock(),
            jti=self._jti(),
            nonce=self._nonces.get(_origin(url)),
            access_token=token.access_token,
        )
        return f"DPoP {token.access_token}", proof

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
