"""A client's tie to a shared store: carrying out the fleet protocol's steps.

The protocol (``sansio_auth.SharedFetch``) decides; this module only maps
its store steps onto a store's methods, and turns anything a store raises
into ``STORE_DOWN``. A store that fails is logged once per outage, as a
WARNING naming the exception's type only (a store's own message may hold a
URL with its password), and once more, at INFO, when it answers again. The
outage is the store's, not the client's: clients of several flows on one
store warn once between them.
"""

from __future__ import annotations

import inspect
import os
import secrets
import socket
import threading
import weakref
from collections.abc import Awaitable, Callable
from typing import Any, Final

from sansio_auth import (
    STORE_DOWN,
    Adopt,
    DiscardToken,
    Finished,
    ReadStore,
    ReleaseLease,
    SharedFetch,
    ShareFailure,
    StoreOp,
    TakeLease,
    Token,
    TokenSession,
    WaitForStore,
    WriteFailure,
    WriteToken,
    store_key,
    token_tag,
)

from ._logs import logger

__all__ = ["StoreLink", "check_store", "is_outcome"]

_METHODS: Final = ("read", "acquire", "write", "fail", "release", "discard", "wait")
# How many refused tokens a client remembers: a 401 burst refuses one or
# two tokens, and the next fetch deletes the stored one if it is among them.
_REFUSED: Final = 8
# The host and process in an owner: an administrator reading a lease sees
# who holds it. The random part tells apart fetches of one process.
_HOST: Final = socket.gethostname()[:64]


def check_store(store: object) -> None:
    """Refuse at once what cannot be a store.

    Raises:
      TypeError: naming what is missing.
    """
    missing = [name for name in _METHODS if not callable(getattr(store, name, None))]
    prefix = getattr(store, "prefix", None)
    if missing or not isinstance(prefix, str):
        what = ", ".join(missing) if missing else "a str prefix"
        raise TypeError(
            f"store must be a Store or AsyncStore (see sansio_auth.adapters.stores); "
            f"{type(store).__name__} has no {what}"
        )


class _Health:
    __slots__ = ("down", "lock")

    def __init__(self) -> None:
        self.down = False
        self.lock = threading.Lock()


_HEALTH: weakref.WeakKeyDictionary[object, _Health] = weakref.WeakKeyDictionary()
_HEALTH_LOCK = threading.Lock()


def _after_fork() -> None:
    # A parent thread may have held one of these locks at the fork.
    global _HEALTH_LOCK
    _HEALTH_LOCK = threading.Lock()
    for health in list(_HEALTH.values()):
        health.lock = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork)


def _health(store: object) -> _Health:
    with _HEALTH_LOCK:
        try:
            health = _HEALTH.get(store)
            if health is None:
                health = _HEALTH[store] = _Health()
        except TypeError:  # not weakly referable: its own, per link
            health = _Health()
        return health


class StoreLink:
    """What a client keeps for its store: the key, the refused tokens, and
    the store's health."""

    __slots__ = ("_clock", "_health", "_refused", "is_async", "key", "library", "store")

    def __init__(
        self,
        store: object,
        flow: object,
        *,
        takes_async: bool,
        clock: Callable[[], float],
        binding: tuple[tuple[str, str], ...] = (),
    ) -> None:
        check_store(store)
        self.store: Final[Any] = store
        self._clock = clock
        self.key: Final = store_key(flow, prefix=store.prefix, binding=binding)  # type: ignore[attr-defined]
        self.is_async: Final = inspect.iscoroutinefunction(store.read)  # type: ignore[attr-defined]
        if self.is_async and not takes_async:
            raise TypeError(
                f"{type(store).__name__} is an AsyncStore, which a sync client "
                "cannot await: give it a sync store (RedisStore, FileStore, "
                "MemoryStore)"
            )
        library = getattr(store, "async_library", None) if self.is_async else None
        self.library: Final[str | None] = library if isinstance(library, str) else None
        """The one event loop library an async store runs on, if it says."""
        self._refused: tuple[str, ...] = ()
        self._health = _health(store)

    def check_library(self, running: str) -> None:
        """Refuse at once an async store of another event loop library than
        the one *running* (``redis.asyncio`` under trio): it would fail every
        call, and the fleet would never share.

        Raises:
          TypeError: naming the store and both libraries.
        """
        if self.library is not None and self.library != running:
            raise TypeError(
                f"{type(self.store).__name__} runs on {self.library}, not "
                f"{running}: give this client a sync store (it runs in a "
                "worker thread), e.g. RedisStore"
            )

    def refuse(self, token: Token | str) -> None:
        """Remember that the API refused *token*: the next fetch deletes it
        from the store if it is still there, and never adopts it."""
        self._refused = (*self._refused, token_tag(token))[-_REFUSED:]

    def protocol(self, session: TokenSession) -> SharedFetch:
        """The protocol for a fetch of *session*: its lease lasts the
        session's lost-request deadline (the transport's timeout plus a
        margin), which outlives the request."""
        return SharedFetch(session, lease=session.fetch_timeout, refused=_Refused(self))

    @staticmethod
    def owner() -> str:
        """A new lease owner: host, process and a random part."""
        return f"{_HOST}:{os.getpid()}:{secrets.token_hex(8)}"

    def _call(self, op: StoreOp, owner: str) -> Any:
        store, key = self.store, self.key
        if isinstance(op, ReadStore):
            return store.read(key)
        if isinstance(op, TakeLease):
            return store.acquire(key, owner, op.ttl)
        if isinstance(op, WriteToken):
            # The time to live counted now, at the write: however long ago
            # the answer came, the stored token ends when it does.
            ttl = op.ttl_at(self._clock())
            if ttl is not None and ttl <= 0:
                return False
            return store.write(key, owner, op.token, op.tag, ttl)
        if isinstance(op, WriteFailure):
            return store.fail(key, owner, op.failure, op.ttl)
        if isinstance(op, ReleaseLease):
            return store.release(key, owner)
        if isinstance(op, DiscardToken):
            return store.discard(key, op.tag)
        assert isinstance(op, WaitForStore)
        return store.wait(key, op.timeout)

    def call(self, op: StoreOp, owner: str) -> object:
        """Carry out *op* on a sync store: its result, or ``STORE_DOWN``."""
        try:
            value = self._call(op, owner)
        except Exception as exc:  # any failure of the store is an outage
            self.failed(exc)
            return STORE_DOWN
        self.answered()
        return value

    async def acall(self, op: StoreOp, owner: str) -> object:
        """Carry out *op* on an async store: its result, or ``STORE_DOWN``."""
        try:
            waiting: Awaitable[object] = self._call(op, owner)
            value = await waiting
        except Exception as exc:  # any failure of the store is an outage
            self.failed(exc)
            return STORE_DOWN
        self.answered()
        return value

    def failed(self, exc: BaseException) -> None:
        """The store failed: one WARNING per outage. (A store that flaps
        warns once per flap; a flap needs a fetch to see it, and a process
        fetches about once per token lifetime.)"""
        health = self._health
        with health.lock:
            if health.down:
                return
            health.down = True
        logger.warning(
            "shared token store failed (%s); fetching tokens in each process "
            "until it answers again",
            type(exc).__name__,
        )

    def answered(self) -> None:
        """The store answered: the outage, if any, is over."""
        health = self._health
        if not health.down:  # the usual case, without the lock
            return
        with health.lock:
            if not health.down:
                return
            health.down = False
        logger.info("shared token store answers again; sharing tokens")


class _Refused:
    """The refused tags of a link as they are at each look: a 401 that comes
    while a fetch waits for another process counts for that fetch too."""

    __slots__ = ("_link",)

    def __init__(self, link: StoreLink) -> None:
        self._link = link

    def __contains__(self, tag: object) -> bool:
        return tag in self._link._refused


def is_outcome(value: object) -> bool:
    """Whether the protocol is over (its value is an ``Outcome``)."""
    return isinstance(value, Adopt | ShareFailure | Finished)
