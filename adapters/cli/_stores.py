"""The shared store a command's token goes through: from a URL.

``redis://``, ``rediss://`` and ``unix://`` URLs open a Redis store;
``file:///dir`` (or a bare absolute path) a file store. A URL with a password
is a secret, and secrets never come from the command line (``argv`` is
visible to every user of the machine): such a URL comes from
``SANSIO_AUTH_STORE``, and ``--store`` refuses one. The key that encrypts the
stored tokens comes from ``SANSIO_AUTH_STORE_KEY`` only (hex or base64 of 16,
24 or 32 bytes).
"""

from __future__ import annotations

import base64
import binascii
import urllib.parse
from collections.abc import Mapping
from typing import Final

from ._exits import UsageError

__all__ = ["STORE_ENV", "STORE_KEY_ENV", "open_store"]

STORE_ENV: Final = "SANSIO_AUTH_STORE"
STORE_KEY_ENV: Final = "SANSIO_AUTH_STORE_KEY"
_REDIS_SCHEMES: Final = ("redis", "rediss", "unix")


def _key(environ: Mapping[str, str]) -> bytes | None:
    text = environ.get(STORE_KEY_ENV, "").strip()
    if not text:
        return None
    for decode in (bytes.fromhex, base64.b64decode):
        try:
            key = decode(text)
        except (ValueError, binascii.Error):
            continue
        if len(key) in (16, 24, 32):
            return key
    # The value is not repeated: it is a key.
    raise UsageError(
        f"{STORE_KEY_ENV} must be 16, 24 or 32 bytes in hex or base64 "
        "(e.g. from: python -c 'import os; print(os.urandom(32).hex())')"
    )


def _split(url: str) -> urllib.parse.SplitResult:
    try:
        parts = urllib.parse.urlsplit(url)
        parts.port  # noqa: B018 - read to have a bad port refused here
    except ValueError:
        # The URL is not repeated: it may hold a password.
        raise UsageError("--store: not a URL that can be read") from None
    return parts


def _has_password(url: str) -> bool:
    parts = _split(url)
    query = urllib.parse.parse_qs(parts.query)
    return bool(parts.password) or "password" in query


def open_store(option: str | None, environ: Mapping[str, str]) -> object:
    """The store *option* (``--store``) or ``SANSIO_AUTH_STORE`` names, or None.

    Raises:
      UsageError: a URL with a password on the command line, a scheme we do
        not know, a bad key, or a store whose extra is not installed.
    """
    url = option
    if url is not None and _has_password(url):
        raise UsageError(
            f"--store: a URL with a password is a secret; put it in {STORE_ENV}"
        )
    if url is None:
        url = environ.get(STORE_ENV) or None
    if url is None:
        return None
    key = _key(environ)
    scheme = _split(url).scheme.lower()
    try:
        if scheme in _REDIS_SCHEMES:
            from .. import redis as redis_store

            try:
                return redis_store.RedisStore.from_url(url, encryption_key=key)
            except (OSError, ValueError, TypeError) as exc:
                # redis-py's own words may quote the URL, and its password.
                raise UsageError(
                    f"--store: not a Redis URL we can use ({type(exc).__name__})"
                ) from None
        if scheme == "file" or (not scheme and url.startswith("/")):
            from .. import filestore

            path = urllib.parse.unquote(_split(url).path)
            try:
                return filestore.FileStore(path, encryption_key=key)
            except (OSError, ValueError, TypeError) as exc:
                raise UsageError(f"--store: {exc}") from None
    except ImportError as exc:
        raise UsageError(f"--store: {exc}") from None
    raise UsageError(
        "--store must be a redis://, rediss://, unix:// or file:// URL "
        "(or an absolute path)"
    )
