"""A shared token store in a directory: one host, many processes.

Theory of operation: each key has two files in the store's directory, named
after the key (``sansio-auth+v1+%7B<sha256>%7D.json`` and ``.lock``):

* the *state file*, one small JSON document holding the token (its bytes in
  base64, sealed when there is an encryption key), its tag, the failure
  marker and the lease, each with the time it was written on the wall clock
  (``time.time()``: every process on the host shares it) and its time to
  live. It is only ever replaced whole (a temporary file in the same
  directory, fsynced, then ``os.replace``), so a reader sees one complete
  version or the one before, never a torn write, and reads take no lock;
* the *lock file*, empty, which ``fcntl.flock`` locks for the length of one
  change (read, decide, replace), never across a wait. It is never deleted:
  a process could hold the lock of a deleted file while another locks a new
  one of the same name.

Followers wait by polling ``stat`` of the state file every few milliseconds
while holding open the version they read: every change replaces or deletes
the file, so its inode changes (the held one cannot be reused meanwhile).

The clock: what is left of an entry is its time to live less the time since
it was written. A clock set back by up to a second counts as no time passed;
set back further, before the write, the entry counts as run out, since its
age is unknown (so a lease never outlives its time to live by more than a
second, and a token is fetched again). A clock set forward ends entries
early (a token fetched again, a lease another process may take: at worst
one more token request).

A state file that is not exactly this format (corrupt, truncated, another
version) reads as empty and is overwritten by the next change: never an
error, never a token. The directory is not fsynced after a rename: a crash
may lose the last change, which costs one token request.

Security: whoever can write to the directory can plant a token or take a
lease, so the store trusts the directory and what it created there, and
nothing else:

* the directory is opened once, at construction (a symlink on the path is
  resolved there, once), and checked through that descriptor: it must belong
  to the effective user and be writable by nobody else, or the store refuses
  it, naming the path. The descriptor is held until ``close()`` and every
  file is opened, created, renamed and deleted relative to it, so moving the
  directory or repointing a symlink on its path afterwards changes nothing.
  A forked child shares the descriptor: the same directory. After
  ``close()`` every call raises ValueError;
* every file is opened without following a symlink and without blocking
  (``O_NOFOLLOW | O_NONBLOCK``), then must be a regular file of the effective
  user. Anything else at a key's name (a FIFO, a socket, a symlink, a
  directory, a device, another user's file) is a miss to ``read`` and
  ``wait``, never a token and never a hang, and a PermissionError naming
  the path to every change (which the clients take as an outage: each
  process fetches its own tokens) until it is removed;
* every file is created with mode 0600, a temporary one under a random name
  and only if nothing is there (``O_EXCL``);
* with an encryption key, the token and failure bytes are sealed with
  AES-GCM under the key (``name`` is the key, and the key plus ``:failed``
  for the failure), so a value copied under another key does not open there
  and a clear value reads as no token. Without a key they lie in clear in
  files only the user (and root) can read;
* no repr shows the token or failure bytes, sealed or clear.

Root and the user's other processes are trusted: they can do to the files
what the store does (without the key, a sealed value neither opens nor can
be forged).

POSIX only (``fcntl.flock``), and local file systems only: ``flock`` over
NFS is emulated or ignored, depending on the client.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable
from typing import TypeVar

import attrs

from sansio_auth import StoredEntry

from ._filestore_io import (
    Directory,
    Failure,
    Lease,
    State,
    Token,
    left,
    require_flock,
)
from ._sealing import open_clear, seal_clear, sealer

__all__ = ["FileStore"]

_T = TypeVar("_T")


def _ttl(ttl: object, what: str = "ttl") -> float:
    if isinstance(ttl, bool) or not isinstance(ttl, int | float):
        raise TypeError(f"{what} must be a number of seconds, got {type(ttl).__name__}")
    if not math.isfinite(ttl):
        raise ValueError(f"{what} must be a finite number of seconds")
    return float(ttl)


def _text_arg(value: object) -> str:
    if not isinstance(value, str):
        raise TypeError(f"owner and tag must be str, got {type(value).__name__}")
    return value


class FileStore:
    """A store in files of one directory, for the processes of one host.

    Each change to a key takes the key's lock file (``fcntl.flock``) for that
    change alone and replaces the key's state file whole; reads take no lock.
    The directory is opened once, here, and held until :meth:`close`; no lock
    is held between calls, so a forked child may use the store straight away
    (its copy of the descriptor names the same directory); threads share one
    store safely (each call opens its own lock file). See the module
    docstring for the files, the clock and what the store trusts.

    Args:
      path: the directory (created with mode 0700 if missing). It must belong
        to the current user and be writable by nobody else. A symlink is
        resolved once, here: the directory it named is the one used.
      prefix: the start of every key.
      encryption_key: 16, 24 or 32 bytes to seal the token and failure bytes
        with AES-GCM (needs the ``encryption`` extra); None keeps them clear.
        A store with a key reads no clear value and one without reads no
        sealed value: either is a cache miss.
      timeout: the longest a call waits for a key's lock, in seconds.
      clock: the wall clock every process of the host shares, in seconds
        (``time.time``); tests replace it.

    Raises:
      RuntimeError: on a platform without ``fcntl`` (not POSIX).
      PermissionError: if the directory belongs to another user or is
        writable by its group or others (the message names the path).
      NotADirectoryError: if the path is not a directory.
      OSError: if the directory cannot be created.
      TypeError, ValueError: for a bad prefix, key or timeout.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        prefix: str = "sansio-auth",
        encryption_key: bytes | None = None,
        timeout: float = 0.5,
        clock: Callable[[], float] = time.time,
    ) -> None:
        from sansio_auth import check_store_prefix

        require_flock()
        self.prefix = check_store_prefix(prefix)
        lock_timeout = _ttl(timeout, "timeout")
        if lock_timeout <= 0:
            raise ValueError("timeout must be a positive number of seconds")
        self._sealer = sealer(encryption_key)
        self._clock = clock
        # The directory, held open until close(): the files' format and the
        # rules of every file access live there (_filestore_io).
        self._directory = Directory(os.path.abspath(os.fspath(path)), lock_timeout)

    def __repr__(self) -> str:
        return f"<FileStore path={self.path!r} prefix={self.prefix!r}>"

    @property
    def path(self) -> str:
        """The store's directory (absolute, symlinks resolved)."""
        return self._directory.path

    def _change(self, key: str, change: Callable[[State, float], _T]) -> _T:
        """Run *change* on the key's state under its lock; save what it left."""
        directory = self._directory
        with directory.use(), directory.locked(key):
            now = self._clock()
            state = directory.load(key, now)
            before = attrs.evolve(state)
            result = change(state, now)
            if state != before:
                directory.save(key, state)
            return result

    def _free_for(self, state: State, owner: str) -> bool:
        return state.lease is None or state.lease.owner == owner

    def read(self, key: str) -> StoredEntry:
        """The token and failure stored under *key*, with their times to live."""
        with self._directory.use():
            now = self._clock()
            try:
                state = self._directory.load(key, now)
            except PermissionError:
                state = State()  # not a token: a miss, never an error
        token = failure = None
        token_ttl = failure_ttl = None
        if state.token is not None:
            token = open_clear(self._sealer, key, state.token.value)
            if token is not None and state.token.ttl is not None:
                token_ttl = left(state.token.since, state.token.ttl, now)
        if state.failure is not None:
            failure = open_clear(self._sealer, f"{key}:failed", state.failure.value)
            if failure is not None:
                failure_ttl = left(state.failure.since, state.failure.ttl, now)
        return StoredEntry(
            token=token, token_ttl=token_ttl, failure=failure, failure_ttl=failure_ttl
        )

    def acquire(self, key: str, owner: str, ttl: float) -> float | None:
        """Take the lease of *key* for *owner* for *ttl* seconds, if nobody
        holds it. Returns None when taken; otherwise the seconds left of the
        holder's lease."""
        owner, ttl = _text_arg(owner), _ttl(ttl)

        def change(state: State, now: float) -> float | None:
            if state.lease is not None:
                return max(0.0, left(state.lease.since, state.lease.ttl, now))
            state.lease = Lease(owner=owner, since=now, ttl=ttl)
            return None

        return self._change(key, change)

    def write(
        self, key: str, owner: str, token: bytes, tag: str, ttl: float | None
    ) -> bool:
        """Store *token* (tagged *tag*) for *ttl* seconds (None: no expiry),
        clearing any failure, unless another owner holds the lease. Returns
        whether it was written."""
        owner, tag = _text_arg(owner), _text_arg(tag)
        life = None if ttl is None else _ttl(ttl)
        sealed = seal_clear(self._sealer, key, bytes(token))

        def change(state: State, now: float) -> bool:
            if not self._free_for(state, owner):
                return False
            state.token = Token(
                value=sealed,
                tag=tag,
                since=now,
                ttl=life,
            )
            state.failure = None
            return True

        return self._change(key, change)

    def fail(self, key: str, owner: str, failure: bytes, ttl: float) -> bool:
        """Store the failure marker for *ttl* seconds, unless another owner
        holds the lease. Returns whether it was written."""
        owner, life = _text_arg(owner), _ttl(ttl)
        sealed = seal_clear(self._sealer, f"{key}:failed", bytes(failure))

        def change(state: State, now: float) -> bool:
            if not self._free_for(state, owner):
                return False
            state.failure = Failure(value=sealed, since=now, ttl=life)
            return True

        return self._change(key, change)

    def release(self, key: str, owner: str) -> None:
        """Delete the lease if *owner* holds it."""

        def change(state: State, now: float) -> None:
            if state.lease is not None and state.lease.owner == owner:
                state.lease = None

        self._change(key, change)

    def discard(self, key: str, tag: str) -> bool:
        """Delete the token if it is still the one tagged *tag*. Returns
        whether it was deleted."""

        def change(state: State, now: float) -> bool:
            if state.token is None or state.token.tag != tag:
                return False
            state.token = None
            return True

        return self._change(key, change)

    def wait(self, key: str, timeout: float) -> None:
        """Return when the state of *key* changes (token or failure written,
        lease released), when the lease runs out, or after *timeout* seconds;
        at once if no lease is held."""
        deadline = time.monotonic() + timeout
        with self._directory.use():
            self._directory.wait(key, deadline, self._clock)

    def close(self) -> None:
        """Let go of the directory; the store is not used after (a call
        raises ValueError). A wait under way returns early; the directory
        is closed when the last call under way ends. Twice is fine."""
        self._directory.close()
