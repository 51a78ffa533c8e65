"""Shared token stores: what every store does, and the in-process one.

A store keeps, under a flow's key (``sansio_auth.store_key``), four things a
fleet of processes shares:

* the token: the bytes of ``encode_stored`` (never parsed by the store), a
  *tag* naming the access token in it (its SHA-256, so that a 401 can delete
  exactly the refused token), and a time to live;
* the failure: a short marker of a failure the fleet waits out together
  (bytes of the core's ``encode_failure``), with its own time to live;
* the lease: an owner string held for a time to live, taken only if nobody
  holds it, released only by its owner (compare-and-delete);
* a wake-up: waiters return when the token is written, a failure is written
  or the lease is released.

A store decides nothing: which step to take is the core's fleet protocol
(``sansio_auth.shared_fetch``); the clients carry it out on a store. Every
method may raise anything when the store is unreachable or slow: the clients
catch it, log one WARNING per outage and go on in-process. Each store bounds
its own calls with a short timeout.

Names: a store derives from a key the names it needs (``<key>:lease``,
``<key>:failed``, a channel); they keep the key's ``{...}`` hash tag, so in a
Redis Cluster they share its slot.
"""

from __future__ import annotations

import math
import os
import threading
import time
import weakref
from collections.abc import Callable
from typing import Protocol, runtime_checkable

import attrs

from sansio_auth import StoredEntry

__all__ = ["AsyncStore", "MemoryStore", "Store", "StoredEntry"]


@runtime_checkable
class Store(Protocol):
    """What a shared store does, in blocking calls (each bounded by the
    store's own short timeout). Times to live are in seconds."""

    prefix: str
    """The start of every key in this store (``store_key(flow, prefix=...)``)."""

    def read(self, key: str) -> StoredEntry:
        """The token and failure stored under *key*, with their times to live."""

    def acquire(self, key: str, owner: str, ttl: float) -> float | None:
        """Take the lease of *key* for *owner* for *ttl* seconds, if nobody
        holds it. Returns None when taken; otherwise the seconds left of the
        holder's lease (0.0 if unknown)."""

    def write(
        self, key: str, owner: str, token: bytes, tag: str, ttl: float | None
    ) -> bool:
        """Store *token* (tagged *tag*) for *ttl* seconds (None: no expiry),
        clearing any failure, unless another owner holds the lease; wake the
        waiters. Returns whether it was written."""

    def fail(self, key: str, owner: str, failure: bytes, ttl: float) -> bool:
        """Store the failure marker for *ttl* seconds, unless another owner
        holds the lease; wake the waiters. Returns whether it was written."""

    def release(self, key: str, owner: str) -> None:
        """Delete the lease if *owner* holds it; wake the waiters."""

    def discard(self, key: str, tag: str) -> bool:
        """Delete the token if it is still the one tagged *tag* (a 401).
        Returns whether it was deleted."""

    def wait(self, key: str, timeout: float) -> None:
        """Return when the token or failure is written or the lease released,
        at *timeout* seconds at the latest; at once if no lease is held. May
        return early: the caller reads again."""

    def close(self) -> None:
        """Let go of connections and files; the store is not used after."""


@runtime_checkable
class AsyncStore(Protocol):
    """The same as :class:`Store`, in coroutines (e.g. ``redis.asyncio``).

    A sync :class:`Store` also serves async clients: they run its calls in a
    worker thread."""

    prefix: str

    async def read(self, key: str) -> StoredEntry: ...
    async def acquire(self, key: str, owner: str, ttl: float) -> float | None: ...
    async def write(
        self, key: str, owner: str, token: bytes, tag: str, ttl: float | None
    ) -> bool: ...
    async def fail(self, key: str, owner: str, failure: bytes, ttl: float) -> bool: ...
    async def release(self, key: str, owner: str) -> None: ...
    async def discard(self, key: str, tag: str) -> bool: ...
    async def wait(self, key: str, timeout: float) -> None: ...
    async def close(self) -> None: ...


@attrs.define
class _Slot:
    token: bytes | None = None
    tag: str | None = None
    token_expires: float = math.inf
    failure: bytes | None = None
    failure_expires: float = -math.inf
    owner: str | None = None
    lease_expires: float = -math.inf


_MEMORY_STORES: weakref.WeakSet[MemoryStore] = weakref.WeakSet()


def _after_fork() -> None:
    # A thread of the parent may have held a store's lock at the fork; the
    # child has no such thread, and would wait for it forever. Its copy of
    # the entries is its own from now on (a memory store is per process).
    for store in list(_MEMORY_STORES):
        store._changed = threading.Condition()
        for slot in store._slots.values():
            # Held by a fetch of the parent's, which this process will
            # never finish or release.
            slot.owner = None


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork)


class MemoryStore:
    """A store in this process's memory, shared by the clients given it.

    It follows every rule of the shared stores (lease, tag, wake-ups), so
    several clients of one flow in one process make one token request
    between them, as processes do on Redis. Without ``store=`` a client
    keeps its token to itself, as before.

    Args:
      prefix: the start of every key.
      clock: a monotonic clock in seconds (for the times to live).
    """

    def __init__(
        self,
        *,
        prefix: str = "sansio-auth",
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        from sansio_auth import check_store_prefix

        self.prefix = check_store_prefix(prefix)
        self._clock = clock
        self._slots: dict[str, _Slot] = {}
        self._changed = threading.Condition()
        _MEMORY_STORES.add(self)

    def __repr__(self) -> str:
        return f"<MemoryStore prefix={self.prefix!r} keys={len(self._slots)}>"

    def _slot(self, key: str, now: float) -> _Slot:
        slot = self._slots.get(key)
        if slot is None:
            slot = self._slots[key] = _Slot()
        if slot.token is not None and slot.token_expires <= now:
            slot.token = slot.tag = None
        if slot.failure is not None and slot.failure_expires <= now:
            slot.failure = None
        if slot.owner is not None and slot.lease_expires <= now:
            slot.owner = None
        return slot

    def _free_for(self, slot: _Slot, owner: str) -> bool:
        return slot.owner is None or slot.owner == owner

    def read(self, key: str) -> StoredEntry:
        with self._changed:
            now = self._clock()
            slot = self._slot(key, now)
            return StoredEntry(
                token=slot.token,
                token_ttl=None
                if slot.token is None or slot.token_expires == math.inf
                else slot.token_expires - now,
                failure=slot.failure,
                failure_ttl=None
                if slot.failure is None
                else slot.failure_expires - now,
            )

    def acquire(self, key: str, owner: str, ttl: float) -> float | None:
        with self._changed:
            now = self._clock()
            slot = self._slot(key, now)
            if slot.owner is not None:
                return max(0.0, slot.lease_expires - now)
            slot.owner, slot.lease_expires = owner, now + ttl
            return None

    def write(
        self, key: str, owner: str, token: bytes, tag: str, ttl: float | None
    ) -> bool:
        with self._changed:
            now = self._clock()
            slot = self._slot(key, now)
            if not self._free_for(slot, owner):
                return False
            slot.token, slot.tag = token, tag
            slot.token_expires = math.inf if ttl is None else now + ttl
            slot.failure = None
            self._changed.notify_all()
            return True

    def fail(self, key: str, owner: str, failure: bytes, ttl: float) -> bool:
        with self._changed:
            now = self._clock()
            slot = self._slot(key, now)
            if not self._free_for(slot, owner):
                return False
            slot.failure, slot.failure_expires = failure, now + ttl
            self._changed.notify_all()
            return True

    def release(self, key: str, owner: str) -> None:
        with self._changed:
            slot = self._slot(key, self._clock())
            if slot.owner == owner:
                slot.owner = None
                self._changed.notify_all()

    def discard(self, key: str, tag: str) -> bool:
        with self._changed:
            slot = self._slot(key, self._clock())
            if slot.token is None or slot.tag != tag:
                return False
            slot.token = slot.tag = None
            return True

    def wait(self, key: str, timeout: float) -> None:
        with self._changed:
            if self._slot(key, self._clock()).owner is None:
                return
            self._changed.wait(timeout)

    def close(self) -> None:
        pass
