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

import base64
import binascii
import contextlib
import errno
import json
import math
import os
import secrets
import stat
import threading
import time
import weakref
from collections.abc import Callable, Iterator
from typing import Any, Final, TypeVar

import attrs

from sansio_auth import StoredEntry

from ._sealing import open_clear, seal_clear, sealer

try:
    import fcntl
except ImportError:  # not POSIX: FileStore refuses to start
    fcntl = None  # type: ignore[assignment]

__all__ = ["FileStore"]

_T = TypeVar("_T")

_FORMAT: Final = 1
_MAX_STATE: Final = 1 << 20
"""The largest state file read: anything bigger is not ours."""
_CLOCK_SLACK: Final = 1.0
"""How far the wall clock may step back before entries count as run out."""
_POLL: Final = 0.005
"""How often a waiter looks at the state file: followers wake within this."""
_LOCK_POLL: Final = (0.0005, 0.005)
"""The first and the longest sleep between two tries of a busy lock."""
_SAFE: Final = frozenset(
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_."
)


def _file_name(key: str) -> str:
    """The file name for *key*: one name per key, no separator in it.

    ``:`` becomes ``+``; any other character outside ``[A-Za-z0-9-_.]``
    (``+`` and ``%`` included) becomes ``%XX`` per UTF-8 byte, so two keys
    never share a name and no key climbs out of the directory.
    """
    if not isinstance(key, str):
        raise TypeError(f"key must be a str, got {type(key).__name__}")
    out = []
    for char in key:
        if char in _SAFE:
            out.append(char)
        elif char == ":":
            out.append("+")
        else:
            out.extend(f"%{byte:02X}" for byte in char.encode("utf-8", "replace"))
    return "".join(out)


@attrs.frozen
class _Token:
    value: bytes = attrs.field(repr=False)
    """The token's bytes, sealed or clear: never shown."""
    tag: str
    since: float
    ttl: float | None


@attrs.frozen
class _Failure:
    value: bytes = attrs.field(repr=False)
    """The failure's bytes, sealed or clear: never shown."""
    since: float
    ttl: float


@attrs.frozen
class _Lease:
    owner: str
    since: float
    ttl: float


@attrs.define
class _State:
    token: _Token | None = None
    failure: _Failure | None = None
    lease: _Lease | None = None

    def empty(self) -> bool:
        return self.token is None and self.failure is None and self.lease is None


def _left(since: float, ttl: float, now: float) -> float:
    """What is left at *now* of *ttl* seconds given at *since*."""
    elapsed = now - since
    if elapsed < -_CLOCK_SLACK:
        # The clock was set back past the write: how long ago that was is
        # unknown, so the entry has run out.
        return 0.0
    return ttl - max(elapsed, 0.0)


class _Foreign(Exception):
    """A state file that is not ours."""


def _number(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _Foreign
    if not math.isfinite(value):
        raise _Foreign
    return float(value)


def _text(value: object) -> str:
    if not isinstance(value, str):
        raise _Foreign
    return value


def _blob(value: object) -> bytes:
    return base64.b64decode(_text(value).encode("ascii"), validate=True)


def _fields(part: object, names: set[str]) -> dict[str, Any]:
    if not isinstance(part, dict) or set(part) != names:
        raise _Foreign
    return part


def _parse(data: bytes, now: float) -> _State:
    """The live parts of a state file; empty for anything not ours."""
    try:
        document = _fields(json.loads(data), {"v", "token", "failure", "lease"})
        if document["v"] != _FORMAT or type(document["v"]) is not int:
            raise _Foreign
        state = _State()
        if (part := document["token"]) is not None:
            token = _fields(part, {"value", "tag", "since", "ttl"})
            state.token = _Token(
                value=_blob(token["value"]),
                tag=_text(token["tag"]),
                since=_number(token["since"]),
                ttl=None if token["ttl"] is None else _number(token["ttl"]),
            )
        if (part := document["failure"]) is not None:
            failure = _fields(part, {"value", "since", "ttl"})
            state.failure = _Failure(
                value=_blob(failure["value"]),
                since=_number(failure["since"]),
                ttl=_number(failure["ttl"]),
            )
        if (part := document["lease"]) is not None:
            lease = _fields(part, {"owner", "since", "ttl"})
            state.lease = _Lease(
                owner=_text(lease["owner"]),
                since=_number(lease["since"]),
                ttl=_number(lease["ttl"]),
            )
    except (_Foreign, ValueError, TypeError, binascii.Error, RecursionError):
        # ValueError covers bad JSON, bad UTF-8 and bad base64 alike.
        return _State()
    return _live(state, now)


def _live(state: _State, now: float) -> _State:
    token = state.token
    if token and token.ttl is not None and _left(token.since, token.ttl, now) <= 0:
        state.token = None
    if state.failure and _left(state.failure.since, state.failure.ttl, now) <= 0:
        state.failure = None
    if state.lease and _left(state.lease.since, state.lease.ttl, now) <= 0:
        state.lease = None
    return state


def _dump(state: _State) -> bytes:
    def blob(value: bytes) -> str:
        return base64.b64encode(value).decode("ascii")

    token, failure, lease = state.token, state.failure, state.lease
    document = {
        "v": _FORMAT,
        "token": None
        if token is None
        else {
            "value": blob(token.value),
            "tag": token.tag,
            "since": token.since,
            "ttl": token.ttl,
        },
        "failure": None
        if failure is None
        else {
            "value": blob(failure.value),
            "since": failure.since,
            "ttl": failure.ttl,
        },
        "lease": None
        if lease is None
        else {"owner": lease.owner, "since": lease.since, "ttl": lease.ttl},
    }
    return json.dumps(
        document, separators=(",", ":"), sort_keys=True, allow_nan=False
    ).encode("utf-8")


def _read_fd(fd: int) -> bytes:
    chunks = []
    size = 0
    while size <= _MAX_STATE:
        chunk = os.read(fd, 65536)
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    return b"" if size > _MAX_STATE else b"".join(chunks)


def _ttl(ttl: object, what: str = "ttl") -> float:
    if isinstance(ttl, bool) or not isinstance(ttl, int | float):
        raise TypeError(f"{what} must be a number of seconds, got {type(ttl).__name__}")
    if not math.isfinite(ttl):
        raise ValueError(f"{what} must be a finite number of seconds")
    return float(ttl)


_OPEN: Final = os.O_NONBLOCK | os.O_NOFOLLOW | os.O_CLOEXEC | getattr(os, "O_NOCTTY", 0)
"""How every file of the directory is opened: a FIFO does not block the
open, a symlink is not followed."""
_NOT_A_FILE: Final = {
    errno.ELOOP: "a symbolic link",
    errno.EMLINK: "a symbolic link",  # the BSDs' word for it
    errno.ENXIO: "a socket",
    errno.EISDIR: "a directory",  # opened to be created
}
"""What ``open`` refuses to open, by what it says."""
_KINDS: Final = {
    stat.S_IFDIR: "a directory",
    stat.S_IFIFO: "a FIFO",
    stat.S_IFCHR: "a device",
    stat.S_IFBLK: "a device",
}
"""What ``open`` opens that is not a regular file."""


def _open_directory(path: str) -> tuple[int, str]:
    """Create *path* (0700) if missing and open it; refuse one another user
    could write to. Returns the descriptor and the directory's real path."""
    os.makedirs(path, mode=0o700, exist_ok=True)
    # A symlinked path is resolved here, once: the directory is then held
    # open, so repointing the link (or moving the directory) changes nothing.
    real = os.path.realpath(path)
    named = repr(path) if real == path else f"{path!r} (that is, {real!r})"
    try:
        fd = os.open(real, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError as exc:
        # makedirs saw a directory there: something changed it since (a
        # symlink now: ELOOP). OSError(errno, ...) is the errno's subclass.
        raise OSError(
            exc.errno,
            f"FileStore path {named} changed while it was being opened: {exc.strerror}",
        ) from None
    try:
        info = os.fstat(fd)
        if info.st_uid != os.geteuid():
            raise PermissionError(
                f"FileStore directory {named} belongs to another user (uid "
                f"{info.st_uid}): they could plant a token there; use a directory "
                "of your own"
            )
        if info.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
            raise PermissionError(
                f"FileStore directory {named} is writable by its group or by "
                f"others (mode {stat.S_IMODE(info.st_mode):o}): they could plant "
                "a token there; chmod 700 it, or use a directory of your own"
            )
    except BaseException:
        os.close(fd)
        raise
    return fd, real


_FILE_STORES: weakref.WeakSet[FileStore] = weakref.WeakSet()


def _after_fork() -> None:
    # A thread of the parent may have held a store's guard at the fork; the
    # child has no such thread, and would wait for it forever. The directory's
    # descriptor is the child's own copy, of the same directory.
    for store in list(_FILE_STORES):
        store._guard = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork)


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

        if fcntl is None:
            raise RuntimeError(
                "FileStore needs fcntl.flock, which this platform does not have "
                "(POSIX only): use another store"
            )
        self.prefix = check_store_prefix(prefix)
        self._timeout = _ttl(timeout, "timeout")
        if self._timeout <= 0:
            raise ValueError("timeout must be a positive number of seconds")
        self._sealer = sealer(encryption_key)
        self._clock = clock
        self._fd, self._path = _open_directory(os.path.abspath(os.fspath(path)))
        # Closes the directory once: at close(), or when the store is
        # collected without one.
        self._let_go = weakref.finalize(self, os.close, self._fd)
        # Guards _users and _closed: the descriptor is closed only when no
        # call uses it, lest its number, reused by another open, lead a call
        # into another directory.
        self._guard = threading.Lock()
        self._users = 0
        self._closed = False
        _FILE_STORES.add(self)

    def __repr__(self) -> str:
        return f"<FileStore path={self._path!r} prefix={self.prefix!r}>"

    @property
    def path(self) -> str:
        """The store's directory (absolute, symlinks resolved)."""
        return self._path

    @contextlib.contextmanager
    def _directory(self) -> Iterator[None]:
        """Hold the directory's descriptor open for one call."""
        with self._guard:
            if self._closed:
                raise ValueError("FileStore is closed: make a new one")
            self._users += 1
        try:
            yield
        finally:
            with self._guard:
                self._users -= 1
                last = self._closed and self._users == 0
            if last:
                self._let_go()

    def _shown(self, name: str) -> str:
        return repr(os.path.join(self._path, name))

    def _open(self, name: str, flags: int) -> int:
        """Open *name* in the directory; it must be a regular file of ours.

        Raises:
          PermissionError: for anything else (a FIFO, a symlink, a socket, a
            directory, a device, another user's file), naming the path.
          FileNotFoundError: if there is nothing at *name*.
        """
        try:
            fd = os.open(name, flags | _OPEN, 0o600, dir_fd=self._fd)
        except OSError as exc:
            if exc.errno not in _NOT_A_FILE:
                raise
            raise self._not_ours(name, _NOT_A_FILE[exc.errno]) from None
        try:
            info = os.fstat(fd)
            if not stat.S_ISREG(info.st_mode):
                kind = _KINDS.get(stat.S_IFMT(info.st_mode), "not a regular file")
                raise self._not_ours(name, kind)
            if info.st_uid != os.geteuid():
                raise self._not_ours(
                    name, f"a file of another user (uid {info.st_uid})"
                )
            # A regular file does not block; blocking calls are what is meant.
            os.set_blocking(fd, True)
        except BaseException:
            os.close(fd)
            raise
        return fd

    def _not_ours(self, name: str, kind: str) -> PermissionError:
        # PermissionError by name: the clients log only the type of a store's
        # error, and this one says what to look at.
        return PermissionError(
            f"FileStore: {self._shown(name)} is {kind}, not a file of this store: "
            "someone who can write to the directory put it there; remove it"
        )

    @contextlib.contextmanager
    def _locked(self, key: str) -> Iterator[None]:
        fd = self._open(_file_name(key) + ".lock", os.O_RDONLY | os.O_CREAT)
        try:
            deadline = time.monotonic() + self._timeout
            pause = _LOCK_POLL[0]
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    left = deadline - time.monotonic()
                    if left <= 0:
                        raise TimeoutError(
                            f"FileStore: a key's lock in {self._path!r} stayed "
                            f"busy for {self._timeout} s"
                        ) from None
                    time.sleep(min(pause, left))
                    pause = min(pause * 2, _LOCK_POLL[1])
            try:
                yield
            finally:
                # Unlocked before closing: a child forked meanwhile shares this
                # open file, and its copy of the descriptor would hold the lock.
                fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)

    def _load(self, key: str, now: float) -> _State:
        """The live state of *key*.

        Raises:
          PermissionError: if the state file is not a regular file of ours.
        """
        try:
            fd = self._open(_file_name(key) + ".json", os.O_RDONLY)
        except FileNotFoundError:
            return _State()
        try:
            return _parse(_read_fd(fd), now)
        finally:
            os.close(fd)

    def _save(self, key: str, state: _State) -> None:
        target = _file_name(key) + ".json"
        if state.empty():
            with contextlib.suppress(FileNotFoundError):
                os.unlink(target, dir_fd=self._fd)
            return
        data = _dump(state)
        # In the same directory, so that the replace is a rename on one file
        # system; a random name, created anew (O_EXCL), so that nothing
        # planted is written through.
        temporary = f".{target}.{secrets.token_hex(8)}.tmp"
        fd = os.open(
            temporary,
            os.O_WRONLY | os.O_CREAT | os.O_EXCL | _OPEN,
            0o600,
            dir_fd=self._fd,
        )
        try:
            try:
                view = memoryview(data)
                while view:
                    view = view[os.write(fd, view) :]
                os.fsync(fd)
            finally:
                os.close(fd)
            os.replace(temporary, target, src_dir_fd=self._fd, dst_dir_fd=self._fd)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(temporary, dir_fd=self._fd)
            raise

    def _change(self, key: str, change: Callable[[_State, float], _T]) -> _T:
        """Run *change* on the key's state under its lock; save what it left."""
        with self._directory(), self._locked(key):
            now = self._clock()
            state = self._load(key, now)
            before = attrs.evolve(state)
            result = change(state, now)
            if state != before:
                self._save(key, state)
            return result

    def _free_for(self, state: _State, owner: str) -> bool:
        return state.lease is None or state.lease.owner == owner

    def read(self, key: str) -> StoredEntry:
        """The token and failure stored under *key*, with their times to live."""
        with self._directory():
            now = self._clock()
            try:
                state = self._load(key, now)
            except PermissionError:
                state = _State()  # not a token: a miss, never an error
        token = failure = None
        token_ttl = failure_ttl = None
        if state.token is not None:
            token = open_clear(self._sealer, key, state.token.value)
            if token is not None and state.token.ttl is not None:
                token_ttl = _left(state.token.since, state.token.ttl, now)
        if state.failure is not None:
            failure = open_clear(self._sealer, f"{key}:failed", state.failure.value)
            if failure is not None:
                failure_ttl = _left(state.failure.since, state.failure.ttl, now)
        return StoredEntry(
            token=token, token_ttl=token_ttl, failure=failure, failure_ttl=failure_ttl
        )

    def acquire(self, key: str, owner: str, ttl: float) -> float | None:
        """Take the lease of *key* for *owner* for *ttl* seconds, if nobody
        holds it. Returns None when taken; otherwise the seconds left of the
        holder's lease."""
        owner, ttl = _text_arg(owner), _ttl(ttl)

        def change(state: _State, now: float) -> float | None:
            if state.lease is not None:
                return max(0.0, _left(state.lease.since, state.lease.ttl, now))
            state.lease = _Lease(owner=owner, since=now, ttl=ttl)
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

        def change(state: _State, now: float) -> bool:
            if not self._free_for(state, owner):
                return False
            state.token = _Token(
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

        def change(state: _State, now: float) -> bool:
            if not self._free_for(state, owner):
                return False
            state.failure = _Failure(value=sealed, since=now, ttl=life)
            return True

        return self._change(key, change)

    def release(self, key: str, owner: str) -> None:
        """Delete the lease if *owner* holds it."""

        def change(state: _State, now: float) -> None:
            if state.lease is not None and state.lease.owner == owner:
                state.lease = None

        self._change(key, change)

    def discard(self, key: str, tag: str) -> bool:
        """Delete the token if it is still the one tagged *tag*. Returns
        whether it was deleted."""

        def change(state: _State, now: float) -> bool:
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
        with self._directory():
            self._wait(key, deadline)

    def _wait(self, key: str, deadline: float) -> None:
        path = _file_name(key) + ".json"
        try:
            fd = self._open(path, os.O_RDONLY)
        except (FileNotFoundError, PermissionError):
            return  # no lease to wait for: the caller reads, or changes
        try:
            # The version read stays open, so its inode cannot be reused:
            # any change, which replaces or deletes the file, shows as another
            # inode at the name (or none).
            held = os.fstat(fd)
            now = self._clock()
            lease = _parse(_read_fd(fd), now).lease
            if lease is None:
                return
            deadline = min(
                deadline, time.monotonic() + _left(lease.since, lease.ttl, now)
            )
            while (left := deadline - time.monotonic()) > 0 and not self._closed:
                time.sleep(min(_POLL, left))
                try:
                    current = os.stat(path, dir_fd=self._fd, follow_symlinks=False)
                except FileNotFoundError:
                    return
                if (current.st_ino, current.st_dev) != (held.st_ino, held.st_dev):
                    return
        finally:
            os.close(fd)

    def close(self) -> None:
        """Let go of the directory; the store is not used after (a call
        raises ValueError). A wait under way returns early; the directory
        is closed when the last call under way ends. Twice is fine."""
        with self._guard:
            self._closed = True
            last = self._users == 0
        if last:
            self._let_go()


def _text_arg(value: object) -> str:
    if not isinstance(value, str):
        raise TypeError(f"owner and tag must be str, got {type(value).__name__}")
    return value
