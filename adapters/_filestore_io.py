"""The file store's files: the on-disk format and how every file is touched.

``filestore.FileStore`` keeps the Store contract (who may write, what a wait
waits for, what is sealed); this module is how that lands in one directory.
The promises are stated in ``filestore``'s module docstring; here is how
they are kept.

Theory of operation.

Names. A key becomes one file name: ``:`` turns into ``+`` and any other
character outside ``[A-Za-z0-9-_.]`` (``+`` and ``%`` included) into ``%XX``
per UTF-8 byte, so two keys never share a name and none holds a ``/``. A key
*name* has the state file ``<name>.json``, the lock file ``<name>.lock`` and,
for the length of one replace, a temporary file
``.<name>.json.<16 random hex>.tmp``.

The state file is one JSON object with exactly these members, written
compact with sorted keys::

    {"v": 1,
     "token":   null | {"value": base64, "tag": str, "since": num, "ttl": num | null},
     "failure": null | {"value": base64, "since": num, "ttl": num},
     "lease":   null | {"owner": str, "since": num, "ttl": num}}

``since`` is the wall clock at the write; ``value`` the bytes as the store
was given them (sealed or clear: this module never opens them). Reading is
strict: another version, a member more or less, a bool or a NaN for a
number, bad base64, bad JSON or UTF-8, or a file over 1 MiB reads as empty,
never as an error. Entries whose time has run out are dropped as they are
read (:func:`left`: a clock set back by up to a second counts as no time
passed, further as run out). A state left empty is deleted, not written.

A change holds the key's lock file (``flock(LOCK_EX)``, tried without
blocking, sleeping 0.5 ms doubling to 5 ms between tries, TimeoutError at
the store's timeout), reads the state, decides, and when the state changed
replaces it: a temporary file created anew in the same directory, written
whole, fsynced, then renamed over the state file; on any failure the
temporary file is removed. The lock is released before its descriptor is
closed: a child forked meanwhile shares the open file, and its copy would
hold the lock. A wait holds the version it read open (so its inode cannot
be reused) and calls ``stat`` on the name every 5 ms: another inode there,
or none, is a change.

The file safety rules:

* The directory is created (0700) if missing, resolved once
  (``realpath``), opened ``O_DIRECTORY | O_NOFOLLOW`` and checked through
  that descriptor (``fstat``): it must belong to the effective user and be
  writable by neither group nor others, or the store refuses it, naming the
  path. Every file is then opened, created, renamed, stat'ed and deleted
  relative to the descriptor (``dir_fd``), never through the path.
* Every file is opened ``O_NONBLOCK | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY``
  (a FIFO does not block the open, a symlink is refused by the kernel). A
  state or lock file is then checked with ``fstat``: a regular file of the
  effective user, or a PermissionError naming the path and what is there;
  only then is it made blocking. A temporary file is created anew
  (``O_EXCL``), so nothing planted is written through. New files are mode
  0600.
* The directory's descriptor is held by each call for its length
  (:meth:`Directory.use`). ``close()`` marks the directory closed, and the
  descriptor is closed by whichever ends last, ``close()`` or the last call
  under way, never while a call uses it: a number reused by another open
  would lead that call into another directory. A directory collected without
  ``close()`` closes it then. A forked child gets a fresh guard (a thread
  of the parent may have held it at the fork) and shares the descriptor: the
  same directory.

POSIX only (``fcntl.flock``): :func:`require_flock` refuses any other
platform before anything is opened.
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
from typing import Any, Final

import attrs

try:
    import fcntl
except ImportError:  # not POSIX: require_flock refuses
    fcntl = None  # type: ignore[assignment]

__all__ = [
    "Directory",
    "Failure",
    "Lease",
    "State",
    "Token",
    "file_name",
    "left",
    "parse",
    "require_flock",
]

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


def require_flock() -> None:
    """Refuse a platform without ``fcntl`` before anything else is checked.

    Raises:
      RuntimeError: on a platform without ``fcntl`` (not POSIX).
    """
    if fcntl is None:
        raise RuntimeError(
            "FileStore needs fcntl.flock, which this platform does not have "
            "(POSIX only): use another store"
        )


def file_name(key: str) -> str:
    """The file name for *key*: one name per key, no separator in it.

    ``:`` becomes ``+``; any other character outside ``[A-Za-z0-9-_.]``
    (``+`` and ``%`` included) becomes ``%XX`` per UTF-8 byte, so two keys
    never share a name and no key climbs out of the directory.

    Raises:
      TypeError: if *key* is not a str.
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
class Token:
    """A stored token, as the state file holds it."""

    value: bytes = attrs.field(repr=False)
    """The token's bytes, sealed or clear: never shown."""
    tag: str
    since: float
    ttl: float | None


@attrs.frozen
class Failure:
    """A stored failure marker, as the state file holds it."""

    value: bytes = attrs.field(repr=False)
    """The failure's bytes, sealed or clear: never shown."""
    since: float
    ttl: float


@attrs.frozen
class Lease:
    """A lease, as the state file holds it."""

    owner: str
    since: float
    ttl: float


@attrs.define
class State:
    """What one state file holds; a change edits it in place."""

    token: Token | None = None
    failure: Failure | None = None
    lease: Lease | None = None

    def empty(self) -> bool:
        return self.token is None and self.failure is None and self.lease is None


def left(since: float, ttl: float, now: float) -> float:
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


def parse(data: bytes, now: float) -> State:
    """The live parts of a state file; empty for anything not ours."""
    try:
        document = _fields(json.loads(data), {"v", "token", "failure", "lease"})
        if document["v"] != _FORMAT or type(document["v"]) is not int:
            raise _Foreign
        state = State()
        if (part := document["token"]) is not None:
            token = _fields(part, {"value", "tag", "since", "ttl"})
            state.token = Token(
                value=_blob(token["value"]),
                tag=_text(token["tag"]),
                since=_number(token["since"]),
                ttl=None if token["ttl"] is None else _number(token["ttl"]),
            )
        if (part := document["failure"]) is not None:
            failure = _fields(part, {"value", "since", "ttl"})
            state.failure = Failure(
                value=_blob(failure["value"]),
                since=_number(failure["since"]),
                ttl=_number(failure["ttl"]),
            )
        if (part := document["lease"]) is not None:
            lease = _fields(part, {"owner", "since", "ttl"})
            state.lease = Lease(
                owner=_text(lease["owner"]),
                since=_number(lease["since"]),
                ttl=_number(lease["ttl"]),
            )
    except (_Foreign, ValueError, TypeError, binascii.Error, RecursionError):
        # ValueError covers bad JSON, bad UTF-8 and bad base64 alike.
        return State()
    return _live(state, now)


def _live(state: State, now: float) -> State:
    token = state.token
    if token and token.ttl is not None and left(token.since, token.ttl, now) <= 0:
        state.token = None
    if state.failure and left(state.failure.since, state.failure.ttl, now) <= 0:
        state.failure = None
    if state.lease and left(state.lease.since, state.lease.ttl, now) <= 0:
        state.lease = None
    return state


def _dump(state: State) -> bytes:
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


_DIRECTORIES: weakref.WeakSet[Directory] = weakref.WeakSet()


def _after_fork() -> None:
    # A thread of the parent may have held a directory's guard at the fork;
    # the child has no such thread, and would wait for it forever. The
    # descriptor is the child's own copy, of the same directory.
    for directory in list(_DIRECTORIES):
        directory._guard = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork)


class Directory:
    """A store's directory, held open, and the key's files in it.

    Args:
      path: the directory, absolute (created with mode 0700 if missing).
      timeout: the longest :meth:`locked` waits for a key's lock, in seconds.

    Raises:
      PermissionError: if the directory belongs to another user or is
        writable by its group or others (the message names the path).
      NotADirectoryError: if the path is not a directory.
      OSError: if the directory cannot be created, or changed while it was
        being opened.
    """

    def __init__(self, path: str, timeout: float) -> None:
        # The path is the directory's real one (symlinks resolved), for
        # messages alone: every file is reached through the descriptor.
        self._fd, self.path = _open_directory(path)
        self._timeout = timeout
        # Closes the directory once: at close(), or when it is collected
        # without one.
        self._let_go = weakref.finalize(self, os.close, self._fd)
        # Guards _users and _closed: the descriptor is closed only when no
        # call uses it, lest its number, reused by another open, lead a call
        # into another directory.
        self._guard = threading.Lock()
        self._users = 0
        self._closed = False
        _DIRECTORIES.add(self)

    @contextlib.contextmanager
    def use(self) -> Iterator[None]:
        """Hold the directory's descriptor open for one call.

        Raises:
          ValueError: after :meth:`close`.
        """
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

    def close(self) -> None:
        """Refuse further use; close the descriptor once no call uses it."""
        with self._guard:
            self._closed = True
            last = self._users == 0
        if last:
            self._let_go()

    def _shown(self, name: str) -> str:
        return repr(os.path.join(self.path, name))

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
    def locked(self, key: str) -> Iterator[None]:
        """Hold the lock of *key* (its lock file's ``flock``) for one change.

        Raises:
          TimeoutError: if the lock stays busy for the timeout.
          PermissionError: if the lock file is not a regular file of ours.
        """
        fd = self._open(file_name(key) + ".lock", os.O_RDONLY | os.O_CREAT)
        try:
            deadline = time.monotonic() + self._timeout
            pause = _LOCK_POLL[0]
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        raise TimeoutError(
                            f"FileStore: a key's lock in {self.path!r} stayed "
                            f"busy for {self._timeout} s"
                        ) from None
                    time.sleep(min(pause, remaining))
                    pause = min(pause * 2, _LOCK_POLL[1])
            try:
                yield
            finally:
                # Unlocked before closing: a child forked meanwhile shares this
                # open file, and its copy of the descriptor would hold the lock.
                fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)

    def load(self, key: str, now: float) -> State:
        """The live state of *key* at *now*.

        Raises:
          PermissionError: if the state file is not a regular file of ours.
        """
        try:
            fd = self._open(file_name(key) + ".json", os.O_RDONLY)
        except FileNotFoundError:
            return State()
        try:
            return parse(_read_fd(fd), now)
        finally:
            os.close(fd)

    def save(self, key: str, state: State) -> None:
        """Replace the state file of *key* whole (delete it if *state* is empty).

        Raises:
          OSError: if it cannot be written; the state file is then unchanged.
        """
        target = file_name(key) + ".json"
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

    def wait(self, key: str, deadline: float, clock: Callable[[], float]) -> None:
        """Return when the state file of *key* changes, when its lease runs
        out (on *clock*), at *deadline* (``time.monotonic``) or at
        :meth:`close`; at once if it holds no lease or is not ours."""
        path = file_name(key) + ".json"
        try:
            fd = self._open(path, os.O_RDONLY)
        except (FileNotFoundError, PermissionError):
            return  # no lease to wait for: the caller reads, or changes
        try:
            # The version read stays open, so its inode cannot be reused:
            # any change, which replaces or deletes the file, shows as another
            # inode at the name (or none).
            held = os.fstat(fd)
            now = clock()
            lease = parse(_read_fd(fd), now).lease
            if lease is None:
                return
            deadline = min(
                deadline, time.monotonic() + left(lease.since, lease.ttl, now)
            )
            while (remaining := deadline - time.monotonic()) > 0 and not self._closed:
                time.sleep(min(_POLL, remaining))
                try:
                    current = os.stat(path, dir_fd=self._fd, follow_symlinks=False)
                except FileNotFoundError:
                    return
                if (current.st_ino, current.st_dev) != (held.st_ino, held.st_dev):
                    return
        finally:
            os.close(fd)
