"""The Redis store: a fleet of processes and hosts shares tokens in Redis.

:class:`RedisStore` keeps the :class:`~sansio_auth.adapters.stores.Store`
contract over a ``redis.Redis`` client, :class:`AsyncRedisStore` the
:class:`~sansio_auth.adapters.stores.AsyncStore` one over a
``redis.asyncio.Redis`` client. Make either from a URL
(``RedisStore.from_url("redis://...")``, ``AsyncRedisStore.from_url(...)``),
or from a client of yours.

Theory of operation. A flow's key (``<prefix>:v1:{<sha256>}``) names four
things in Redis; all of them hold the key's ``{...}`` hash tag, so in a Redis
Cluster they live in one slot and one script may touch them together:

* ``<key>``: a hash of the token (field ``token``: the bytes of
  ``encode_stored``, sealed when there is an encryption key) and its tag
  (field ``tag``), expiring with the access token (``PEXPIRE``; no expiry
  when the token has none). Token and tag in one hash: a 401's
  compare-and-delete reads the tag and deletes the token in one key.
* ``<key>:failed``: the failure marker the fleet waits out (sealed too).
* ``<key>:lease``: the owner string of the process fetching, ``SET NX PX``.
* ``<key>:events``: the channel a write, a failure or a release is
  published on, to wake the waiters.

Every operation that reads and then writes is one Lua script (the constants
below say why each must be atomic): Redis runs a script to its end before any
other command, so no other process sees or changes the keys between its
check and its write. A read is one script too: one round trip gives the token,
the failure and both times to live as one instant saw them. Times to live
travel in milliseconds (``PX``, ``PTTL``) and come back as float seconds; a
``PTTL`` of -1 (no expiry) is None.

A waiter subscribes to the channel first, and waits for the server's
confirmation, then looks whether the lease is still held: a release or a
write between the look and the subscription would otherwise be missed, and
the waiter would sleep to its timeout. Each wait uses a pubsub connection of
its own, closed before it returns.

Encryption at rest (``encryption_key``): the token and failure bytes are
sealed with AES-GCM, the Redis key name as associated data (``_sealing.py``):
a value copied under another key, or one written in clear, reads as nothing
stored. Tags and leases are not secret and stay clear.

Least privilege: the store needs only the keys and channels of its prefix,
and the commands it sends or its scripts run (Redis checks both)::

    ACL SETUSER sansio-auth on >PASSWORD resetkeys ~sansio-auth:*
        resetchannels &sansio-auth:* -@all +evalsha +script|load +hget +hset
        +get +set +del +pttl +pexpire +exists +publish +subscribe +unsubscribe

(one line; ``tests/test_redis_store.py`` runs the store under it).

Bounds: ``from_url`` makes the client with ``socket_timeout`` and
``socket_connect_timeout`` set to ``timeout`` and no retries, so every call
returns or raises within about ``timeout``. A client of yours must have a
``socket_timeout`` (its calls are bounded by it; its retries multiply it).
Whatever redis raises propagates: the token clients catch it and go on
in-process. Its messages name the host and port, never the password; our own
errors never repeat the URL.
"""

from __future__ import annotations

import asyncio
import math
import time
import weakref
from collections.abc import Sequence
from typing import Any, ClassVar, Final, Self

from sansio_auth import StoredEntry, check_store_prefix

from ._extras import missing_extra

try:
    import redis
    import redis.asyncio
    from redis.asyncio.retry import Retry as AsyncRetry
    from redis.backoff import NoBackoff
    from redis.retry import Retry
except ImportError as exc:
    raise missing_extra(__name__, "redis", ("redis",), exc) from None

from ._sealing import Sealer, open_clear, seal_clear, sealer

__all__ = ["AsyncRedisStore", "RedisStore"]

DEFAULT_TIMEOUT: Final = 0.5
"""Seconds each Redis call may take before it raises (a fleet falls back to
fetching in-process rather than wait on a slow store)."""

# The longest time to live sent: Redis refuses a PX that overflows its clock
# (now + ttl beyond 2**63 ms); 2**46 ms is over two thousand years.
_MAX_MS: Final = 2**46

# Read: one round trip for the token, the failure and both PTTLs, as one
# instant saw them (a script runs alone). A key holding something not ours
# (another type: WRONGTYPE) reads as nothing stored rather than as an error
# that would keep the store "down" until someone deletes it: pcall returns
# the error as a table.
#   KEYS: token hash, failure.  Returns {token|nil, pttl, failure|nil, pttl}.
READ_SCRIPT: Final = """
local token = redis.pcall('HGET', KEYS[1], 'token')
if type(token) == 'table' then token = false end
local failure = redis.pcall('GET', KEYS[2])
if type(failure) == 'table' then failure = false end
return {token, redis.call('PTTL', KEYS[1]), failure, redis.call('PTTL', KEYS[2])}
"""

# Acquire: SET NX PX takes the lease only if nobody holds it; in the same
# script, the PTTL of the holder's lease when it is taken (two commands
# outside a script would race with its expiry and answer -2). A lease key
# without an expiry is none of ours (set by hand, or another program's): it
# is given one lease's time, so the fleet is not stopped for good by it.
#   KEYS: lease.  ARGV: owner, ttl ms.  Returns nil when taken, else ms left.
ACQUIRE_SCRIPT: Final = """
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then
  return false
end
local left = redis.call('PTTL', KEYS[1])
if left == -1 then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return tonumber(ARGV[2])
end
return left
"""

# Write: the lease check and the write are one step, so a process whose
# lease expired and was taken by another cannot overwrite the newer token
# between the check and the write. Replacing the hash (DEL, HSET) drops a
# previous expiry and any field not ours; the failure goes with it (a token
# ends the failure); the publish wakes the waiters once the token is there.
#   KEYS: token hash, failure, lease.  ARGV: owner, token, tag, ttl ms or '',
#   channel.  Returns 1 when written, 0 when another owner holds the lease.
WRITE_SCRIPT: Final = """
local holder = redis.call('GET', KEYS[3])
if holder and holder ~= ARGV[1] then return 0 end
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], 'token', ARGV[2], 'tag', ARGV[3])
if ARGV[4] ~= '' then redis.call('PEXPIRE', KEYS[1], ARGV[4]) end
redis.call('DEL', KEYS[2])
redis.call('PUBLISH', ARGV[5], 'written')
return 1
"""

# Fail: the same lease check as a write, for the same reason.
#   KEYS: failure, lease.  ARGV: owner, failure, ttl ms, channel.
FAIL_SCRIPT: Final = """
local holder = redis.call('GET', KEYS[2])
if holder and holder ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
redis.call('PUBLISH', ARGV[4], 'failed')
return 1
"""

# Release: compare-and-delete. A GET then a DEL from the client would delete
# the lease another process took after ours expired.
#   KEYS: lease.  ARGV: owner, channel.  Returns 1 when released.
RELEASE_SCRIPT: Final = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('DEL', KEYS[1])
  redis.call('PUBLISH', ARGV[2], 'released')
  return 1
end
return 0
"""

# Discard (a 401): delete the token only if it is still the refused one. A
# check then a delete from the client would delete the fresh token another
# process wrote in between, and send the fleet fetching again.
#   KEYS: token hash.  ARGV: tag.  Returns 1 when deleted.
DISCARD_SCRIPT: Final = """
if redis.pcall('HGET', KEYS[1], 'tag') == ARGV[1] then
  redis.call('DEL', KEYS[1])
  return 1
end
return 0
"""

_URL_ERROR: Final = (
    "the Redis URL could not be read: expected redis://[[username]:password@]"
    "host[:port][/db], rediss://... or unix://path (percent-encode reserved "
    "characters of a password)"
)  # never the URL itself, which holds the password


def _milliseconds(ttl: float) -> int:
    if not isinstance(ttl, int | float) or not math.isfinite(ttl):
        raise ValueError("ttl must be a finite number of seconds")
    return min(_MAX_MS, max(1, math.ceil(ttl * 1000)))


def _seconds(milliseconds: object) -> float | None:
    # PTTL: -1 no expiry, -2 no key.
    if not isinstance(milliseconds, int) or milliseconds < 0:
        return None
    return milliseconds / 1000


def _client_options(client: object) -> dict[str, Any]:
    pool = getattr(client, "connection_pool", None)
    options = getattr(pool, "connection_kwargs", None)
    return options if isinstance(options, dict) else {}


class _StoreBase:
    """What the sync and async stores share: names, arguments, replies."""

    prefix: str
    _sealer: Sealer | None
    _timeout: float
    _owns_client: bool
    _where: str

    def _setup(
        self,
        client: object,
        *,
        prefix: str,
        encryption_key: bytes | None,
        timeout: float,
    ) -> None:
        self.prefix = check_store_prefix(prefix)
        if (
            isinstance(timeout, bool)
            or not isinstance(timeout, int | float)
            or not math.isfinite(timeout)
            or timeout <= 0
        ):
            raise ValueError("timeout must be a positive number of seconds")
        options = _client_options(client)
        if options.get("decode_responses"):
            raise ValueError(
                "the redis client must return bytes: make it with "
                "decode_responses=False (the default)"
            )
        if options and options.get("socket_timeout") is None:
            raise ValueError(
                "the redis client must have a socket_timeout, or a stalled "
                f"server stalls every call: make it with socket_timeout={timeout} "
                f"(and socket_connect_timeout), or use {type(self).__name__}.from_url"
            )
        self._sealer = sealer(encryption_key)
        self._timeout = float(timeout)
        self._owns_client = False  # from_url's own client: closed by close()
        # Where, for repr: host and port or socket path and db, never who
        # connects or with what password.
        if options.get("path"):
            where = f"unix:{options['path']}"
        else:
            where = f"{options.get('host', '?')}:{options.get('port', '?')}"
        self._where = f"{where}/{options.get('db', 0)}" if options else "?"

    def __repr__(self) -> str:
        return (
            f"<{type(self).__name__} prefix={self.prefix!r} server={self._where} "
            f"encrypted={'yes' if self._sealer else 'no'}>"
        )

    def _read_keys(self, key: str) -> list[str]:
        return [key, f"{key}:failed"]

    def _entry(self, key: str, reply: Sequence[object]) -> StoredEntry:
        raw_token, token_ms, raw_failure, failure_ms = reply
        token = open_clear(self._sealer, key, _as_bytes(raw_token))
        failure = open_clear(self._sealer, f"{key}:failed", _as_bytes(raw_failure))
        return StoredEntry(
            token=token,
            token_ttl=None if token is None else _seconds(token_ms),
            failure=failure,
            failure_ttl=None if failure is None else _seconds(failure_ms),
        )

    def _acquire_args(
        self, key: str, owner: str, ttl: float
    ) -> tuple[list[str], list[str | int]]:
        return [f"{key}:lease"], [owner, _milliseconds(ttl)]

    def _write_args(
        self, key: str, owner: str, token: bytes, tag: str, ttl: float | None
    ) -> tuple[list[str], list[str | int | bytes]]:
        return (
            [key, f"{key}:failed", f"{key}:lease"],
            [
                owner,
                seal_clear(self._sealer, key, bytes(token)),
                tag,
                "" if ttl is None else _milliseconds(ttl),
                f"{key}:events",
            ],
        )

    def _fail_args(
        self, key: str, owner: str, failure: bytes, ttl: float
    ) -> tuple[list[str], list[str | int | bytes]]:
        return (
            [f"{key}:failed", f"{key}:lease"],
            [
                owner,
                seal_clear(self._sealer, f"{key}:failed", bytes(failure)),
                _milliseconds(ttl),
                f"{key}:events",
            ],
        )

    def _release_args(self, key: str, owner: str) -> tuple[list[str], list[str]]:
        return [f"{key}:lease"], [owner, f"{key}:events"]


def _as_bytes(value: object) -> bytes | None:
    return bytes(value) if isinstance(value, bytes | bytearray) else None


def _left(reply: object) -> float | None:
    if reply is None:
        return None
    return max(0.0, _seconds(reply) or 0.0)


def _is_subscribed(message: object) -> bool:
    return isinstance(message, dict) and message.get("type") == "subscribe"


def _is_event(message: object) -> bool:
    return isinstance(message, dict) and message.get("type") == "message"


def _subscription_timeout() -> TimeoutError:
    return TimeoutError("redis did not confirm the subscription in time")


class RedisStore(_StoreBase):
    """A :class:`~sansio_auth.adapters.stores.Store` on a ``redis.Redis``.

    Args:
      client: a ``redis.Redis`` made with a ``socket_timeout`` (each call is
        bounded by it) and ``decode_responses=False``. It stays yours:
        :meth:`close` leaves it open. :meth:`from_url` makes one for you.
      prefix: the start of every key (``store_key(flow, prefix=...)``); a
        Redis ACL can confine the store to it (``~<prefix>:*``,
        ``&<prefix>:*``).
      encryption_key: 16, 24 or 32 bytes: seal the tokens and failures with
        AES-GCM (needs the ``encryption`` extra). Every process of the fleet
        needs the same key.
      timeout: seconds; bounds the wait for a subscription's confirmation
        (and, through :meth:`from_url`, every call).

    Given a ``redis.asyncio.Redis``, ``RedisStore(client, ...)`` makes an
    :class:`AsyncRedisStore` of it: one name for the store whatever the
    client (the shared-stores contract), the right class for each.

    Raises:
      TypeError: if *client* is not a ``redis.Redis`` or
        ``redis.asyncio.Redis``, or *encryption_key* not bytes.
      ValueError: for a bad prefix, timeout or key length, or a client
        without a socket timeout or decoding responses.
    """

    def __new__(cls, client: redis.Redis | redis.asyncio.Redis, **options: Any) -> Any:
        if cls is RedisStore and isinstance(client, redis.asyncio.Redis):
            return AsyncRedisStore(client, **options)
        return super().__new__(cls)

    def __init__(
        self,
        client: redis.Redis,
        *,
        prefix: str = "sansio-auth",
        encryption_key: bytes | None = None,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> None:
        if isinstance(client, redis.asyncio.Redis):
            raise TypeError(
                "RedisStore takes a redis.Redis; for a redis.asyncio.Redis, "
                "use AsyncRedisStore"
            )
        if not isinstance(client, redis.Redis):
            raise TypeError(
                f"client must be a redis.Redis, got {type(client).__name__}"
            )
        self._setup(
            client,
            prefix=prefix,
            encryption_key=encryption_key,
            timeout=timeout,
        )
        self._client = client
        self._read = client.register_script(READ_SCRIPT)
        self._acquire = client.register_script(ACQUIRE_SCRIPT)
        self._write = client.register_script(WRITE_SCRIPT)
        self._fail = client.register_script(FAIL_SCRIPT)
        self._release = client.register_script(RELEASE_SCRIPT)
        self._discard = client.register_script(DISCARD_SCRIPT)

    @classmethod
    def from_url(
        cls,
        url: str,
        *,
        prefix: str = "sansio-auth",
        encryption_key: bytes | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        **options: Any,
    ) -> Self:
        """A store on a client made from *url*, closed by :meth:`close`.

        Args:
          url: ``redis://[[username]:password@]host[:port][/db]``,
            ``rediss://...`` (TLS) or ``unix://path``.
          prefix, encryption_key, timeout: as for the constructor; the
            client's socket and connect timeouts are *timeout*, without
            retries.
          options: more arguments for ``redis.Redis.from_url``
            (``ssl_ca_certs=...``).

        Raises:
          TypeError: if *url* is not a str, or as for the constructor.
          ValueError: if *url* cannot be read (the message does not show
            it), or as for the constructor.
        """
        if not isinstance(url, str):
            raise TypeError(f"url must be a str, got {type(url).__name__}")
        options.setdefault("socket_timeout", timeout)
        options.setdefault("socket_connect_timeout", timeout)
        options.setdefault("retry", Retry(NoBackoff(), 0))
        try:
            client = redis.Redis.from_url(url, **options)
        except ValueError:
            client = None  # raised below, outside: not even as __context__
        if client is None:
            raise ValueError(_URL_ERROR)
        try:
            store = cls(
                client, prefix=prefix, encryption_key=encryption_key, timeout=timeout
            )
        except BaseException:
            client.close()
            raise
        store._owns_client = True
        return store

    def read(self, key: str) -> StoredEntry:
        """The token and failure stored under *key*, with their times to live."""
        return self._entry(key, self._read(keys=self._read_keys(key)))

    def acquire(self, key: str, owner: str, ttl: float) -> float | None:
        """Take the lease for *ttl* seconds; None if taken, else seconds left."""
        keys, args = self._acquire_args(key, owner, ttl)
        return _left(self._acquire(keys=keys, args=args))

    def write(
        self, key: str, owner: str, token: bytes, tag: str, ttl: float | None
    ) -> bool:
        """Store the token unless another owner holds the lease; wake waiters."""
        keys, args = self._write_args(key, owner, token, tag, ttl)
        return bool(self._write(keys=keys, args=args))

    def fail(self, key: str, owner: str, failure: bytes, ttl: float) -> bool:
        """Store the failure unless another owner holds the lease; wake waiters."""
        keys, args = self._fail_args(key, owner, failure, ttl)
        return bool(self._fail(keys=keys, args=args))

    def release(self, key: str, owner: str) -> None:
        """Delete the lease if *owner* holds it; wake the waiters."""
        keys, args = self._release_args(key, owner)
        self._release(keys=keys, args=args)

    def discard(self, key: str, tag: str) -> bool:
        """Delete the token if it is still the one tagged *tag*."""
        return bool(self._discard(keys=[key], args=[tag]))

    def wait(self, key: str, timeout: float) -> None:
        """Return on a write, failure or release of *key*, at *timeout* at the
        latest, at once if no lease is held.

        Raises:
          TimeoutError: if the server does not confirm the subscription
            within the store's timeout (or what redis raises).
        """
        if timeout <= 0:
            return
        deadline = time.monotonic() + timeout
        pubsub = self._client.pubsub()
        try:
            pubsub.subscribe(f"{key}:events")
            confirm_by = time.monotonic() + self._timeout
            while not _is_subscribed(
                pubsub.get_message(timeout=max(0.0, confirm_by - time.monotonic()))
            ):
                if time.monotonic() >= confirm_by:
                    raise _subscription_timeout()
            if not self._client.exists(f"{key}:lease"):
                return
            while (left := deadline - time.monotonic()) > 0:
                if _is_event(pubsub.get_message(timeout=left)):
                    return
        finally:
            pubsub.close()

    def close(self) -> None:
        """Close the client if :meth:`from_url` made it; one of yours stays
        open (close it yourself)."""
        if self._owns_client:
            self._client.close()


class AsyncRedisStore(_StoreBase):
    """An :class:`~sansio_auth.adapters.stores.AsyncStore` on a
    ``redis.asyncio.Redis``: the same as :class:`RedisStore`, in coroutines
    (asyncio only, as ``redis.asyncio`` is). It serves the event loop of its
    first call: for ``asyncio.run()`` after ``asyncio.run()``, make one per
    loop, or share a :class:`RedisStore` (async clients call a sync store in
    a worker thread).

    Args:
      client: a ``redis.asyncio.Redis`` with a ``socket_timeout`` and
        ``decode_responses=False``; it stays yours (:meth:`close` leaves it
        open). :meth:`from_url` makes one for you.
      prefix, encryption_key, timeout: as for :class:`RedisStore`.

    Raises:
      TypeError, ValueError: as for :class:`RedisStore`.
      RuntimeError: from a call on another event loop than the first call's.
    """

    async_library: ClassVar[str] = "asyncio"
    """``redis.asyncio`` runs on asyncio only: a trio client refuses it."""

    def __init__(
        self,
        client: redis.asyncio.Redis,
        *,
        prefix: str = "sansio-auth",
        encryption_key: bytes | None = None,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> None:
        if isinstance(client, redis.Redis):
            raise TypeError(
                "AsyncRedisStore takes a redis.asyncio.Redis; for a redis.Redis, "
                "use RedisStore"
            )
        if not isinstance(client, redis.asyncio.Redis):
            raise TypeError(
                f"client must be a redis.asyncio.Redis, got {type(client).__name__}"
            )
        self._setup(
            client,
            prefix=prefix,
            encryption_key=encryption_key,
            timeout=timeout,
        )
        self._client = client
        self._loop: weakref.ref[asyncio.AbstractEventLoop] | None = None
        self._read = client.register_script(READ_SCRIPT)
        self._acquire = client.register_script(ACQUIRE_SCRIPT)
        self._write = client.register_script(WRITE_SCRIPT)
        self._fail = client.register_script(FAIL_SCRIPT)
        self._release = client.register_script(RELEASE_SCRIPT)
        self._discard = client.register_script(DISCARD_SCRIPT)

    def _on_its_loop(self) -> None:
        # redis.asyncio's connections belong to the loop that opened them:
        # from another one they fail with "Event loop is closed" or worse.
        # Say so plainly (the clients log it and go on in-process).
        loop = asyncio.get_running_loop()
        if self._loop is None:
            self._loop = weakref.ref(loop)
        elif self._loop() is not loop:
            raise RuntimeError(
                "an AsyncRedisStore serves the event loop of its first call "
                "only (redis.asyncio connections belong to one loop): make a "
                "store per loop, or share a RedisStore, which async clients "
                "call in a worker thread"
            )

    @classmethod
    def from_url(
        cls,
        url: str,
        *,
        prefix: str = "sansio-auth",
        encryption_key: bytes | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        **options: Any,
    ) -> Self:
        """A store on a ``redis.asyncio.Redis`` made from *url*, closed by
        :meth:`close`; as :meth:`RedisStore.from_url`. No connection is made
        before the first call, so this needs no running loop."""
        if not isinstance(url, str):
            raise TypeError(f"url must be a str, got {type(url).__name__}")
        options.setdefault("socket_timeout", timeout)
        options.setdefault("socket_connect_timeout", timeout)
        options.setdefault("retry", AsyncRetry(NoBackoff(), 0))
        try:
            client = redis.asyncio.Redis.from_url(url, **options)
        except ValueError:
            client = None  # raised below, outside: not even as __context__
        if client is None:
            raise ValueError(_URL_ERROR)
        # A failed constructor leaves a client that never connected: nothing
        # to close (and closing it would need a loop).
        store = cls(
            client, prefix=prefix, encryption_key=encryption_key, timeout=timeout
        )
        store._owns_client = True
        return store

    async def read(self, key: str) -> StoredEntry:
        """The token and failure stored under *key*, with their times to live."""
        self._on_its_loop()
        return self._entry(key, await self._read(keys=self._read_keys(key)))

    async def acquire(self, key: str, owner: str, ttl: float) -> float | None:
        """Take the lease for *ttl* seconds; None if taken, else seconds left."""
        self._on_its_loop()
        keys, args = self._acquire_args(key, owner, ttl)
        return _left(await self._acquire(keys=keys, args=args))

    async def write(
        self, key: str, owner: str, token: bytes, tag: str, ttl: float | None
    ) -> bool:
        """Store the token unless another owner holds the lease; wake waiters."""
        self._on_its_loop()
        keys, args = self._write_args(key, owner, token, tag, ttl)
        return bool(await self._write(keys=keys, args=args))

    async def fail(self, key: str, owner: str, failure: bytes, ttl: float) -> bool:
        """Store the failure unless another owner holds the lease; wake waiters."""
        self._on_its_loop()
        keys, args = self._fail_args(key, owner, failure, ttl)
        return bool(await self._fail(keys=keys, args=args))

    async def release(self, key: str, owner: str) -> None:
        """Delete the lease if *owner* holds it; wake the waiters."""
        self._on_its_loop()
        keys, args = self._release_args(key, owner)
        await self._release(keys=keys, args=args)

    async def discard(self, key: str, tag: str) -> bool:
        """Delete the token if it is still the one tagged *tag*."""
        self._on_its_loop()
        return bool(await self._discard(keys=[key], args=[tag]))

    async def wait(self, key: str, timeout: float) -> None:
        """As :meth:`RedisStore.wait`, in a coroutine."""
        self._on_its_loop()
        if timeout <= 0:
            return
        deadline = time.monotonic() + timeout
        pubsub = self._client.pubsub()
        try:
            await pubsub.subscribe(f"{key}:events")
            confirm_by = time.monotonic() + self._timeout
            while not _is_subscribed(
                await pubsub.get_message(
                    timeout=max(0.0, confirm_by - time.monotonic())
                )
            ):
                if time.monotonic() >= confirm_by:
                    raise _subscription_timeout()
            if not await self._client.exists(f"{key}:lease"):
                return
            while (left := deadline - time.monotonic()) > 0:
                if _is_event(await pubsub.get_message(timeout=left)):
                    return
        finally:
            await pubsub.aclose()

    async def close(self) -> None:
        """Close the client if :meth:`from_url` made it; one of yours stays
        open (close it yourself)."""
        if self._owns_client:
            await self._client.aclose()
