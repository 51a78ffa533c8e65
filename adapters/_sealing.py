"""Encryption at rest for a store's values: AES-GCM with the user's key.

A sealed value is ``b"sa-gcm1:" + nonce (12 bytes) + ciphertext and tag``.
The associated data is the name the value is stored under, so a value
copied to another key (another flow's) does not open there. A store with a
key opens only sealed values and one without opens only clear ones: a
value that does not open is a cache miss, never an error and never a token,
so someone who can write to the store cannot slip a token of theirs in
clear past the encryption.

The nonce is 96 random bits per value (NIST SP 800-38D §8.2.2): a key may
seal about 2**32 values before the chance of a repeated nonce matters, and
a token is sealed once per lifetime.
"""

from __future__ import annotations

import os
from typing import Final

from ._extras import missing_extra

__all__ = ["Sealer", "open_clear", "seal_clear", "sealer"]

_MAGIC: Final = b"sa-gcm1:"
_NONCE: Final = 12


class Sealer:
    """Seals and opens values with one AES-GCM key."""

    __slots__ = ("_aead",)

    def __init__(self, key: bytes) -> None:
        try:
            from cryptography.hazmat.primitives.ciphers.aead import AESGCM
        except ImportError as exc:
            raise missing_extra(
                "encryption_key", "encryption", ("cryptography",), exc
            ) from None
        self._aead = AESGCM(key)

    def __repr__(self) -> str:
        return "<Sealer AES-GCM>"  # never the key

    def seal(self, name: str, value: bytes) -> bytes:
        """*value* sealed for the store name *name*."""
        nonce = os.urandom(_NONCE)
        return _MAGIC + nonce + self._aead.encrypt(nonce, value, name.encode())

    def open(self, name: str, sealed: bytes) -> bytes | None:
        """The value sealed for *name*, or None if it does not open."""
        if not sealed.startswith(_MAGIC) or len(sealed) < len(_MAGIC) + _NONCE + 16:
            return None
        from cryptography.exceptions import InvalidTag

        start = len(_MAGIC)
        nonce = sealed[start : start + _NONCE]
        try:
            return self._aead.decrypt(nonce, sealed[start + _NONCE :], name.encode())
        except InvalidTag:
            return None


def sealer(key: object) -> Sealer | None:
    """A :class:`Sealer` for *key* (16, 24 or 32 bytes), or None for None.

    Raises:
      TypeError: if *key* is not bytes.
      ValueError: if it is not 16, 24 or 32 bytes long (never shown).
      ImportError: naming the ``encryption`` extra when cryptography is
        missing.
    """
    if key is None:
        return None
    if not isinstance(key, bytes | bytearray):
        raise TypeError(
            "encryption_key must be bytes (16, 24 or 32 of them, e.g. os.urandom(32))"
        )
    if len(key) not in (16, 24, 32):
        raise ValueError("encryption_key must be 16, 24 or 32 bytes long (AES-GCM)")
    return Sealer(bytes(key))


def open_clear(sealer: Sealer | None, name: str, stored: bytes | None) -> bytes | None:
    """What a store hands the protocol for *stored*: opened with *sealer*, or
    as it is when there is none; None for a value that does not belong."""
    if stored is None:
        return None
    if sealer is None:
        return None if stored.startswith(_MAGIC) else stored
    return sealer.open(name, stored)


def seal_clear(sealer: Sealer | None, name: str, value: bytes) -> bytes:
    """What a store writes for *value*: sealed for *name* when there is a key."""
    return value if sealer is None else sealer.seal(name, value)
