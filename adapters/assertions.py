"""Assertions that live in a file: a workload identity token on disk.

Kubernetes projects a service account token into a pod as a file
(``/var/run/secrets/tokens/...``) and replaces it before it expires; Azure
workload identity points ``AZURE_FEDERATED_TOKEN_FILE`` at such a file; other
platforms do the same. :class:`AssertionFile` is the callable the flows take
for such a token (``client_assertion=``, ``JwtBearerGrant(assertion=...)``,
``TokenExchange(subject_token=...)``), read again whenever the file changes.

Theory of operation: each call ``stat``\\ s the path (following symlinks:
Kubernetes swaps a ``..data`` symlink to a new directory, so a rotated token
is a new inode behind the same path) and compares the file's inode,
modification time and size with those of the version it last read. When
they are the same it returns what it read then; otherwise it opens the file
without blocking (``O_NONBLOCK``: a FIFO put at the path must not hang the
caller), checks through the open descriptor that it is a regular file of at
most :data:`MAX_BYTES`, reads it, and remembers it under the descriptor's own
identity (so a file replaced between the ``stat`` and the ``open`` is read
again at the next call rather than remembered under the wrong name).

A file rewritten in place within one tick of the file system's clock, to the
same size, is not seen as changed: rotation by rename, as every platform
named above does it, always is. The kubelet removes the old version right
after the swap, so a read may find the version it looked up gone before it
opens it; the path is then looked up again (a few times: a file that stays
missing is the ``FileNotFoundError`` it is).

The content is a credential: no message, error or repr shows a byte of it.
A file that cannot be an assertion (empty, not UTF-8 text, a control
character, a line break inside, too large, not a regular file) is refused
with a ValueError naming the path and the rule; an ``OSError`` (a missing
file, no permission) passes through as it is, naming the path.
"""

from __future__ import annotations

import os
import stat
from typing import Final, final

from ._fork_locks import fork_safe_lock

__all__ = ["MAX_BYTES", "AssertionFile"]

MAX_BYTES: Final = 64 * 1024
"""The largest assertion file read, in bytes. A service account JWT is one
or two kilobytes; a file far larger is not an assertion (and reading it all
on each rotation would be a cost for nothing)."""

_FLAGS: Final = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)

_ATTEMPTS: Final = 3
"""Lookups of the path when what it led to vanished meanwhile (a rotation
removing the old version); a file that stays missing is an error."""

_Identity = tuple[int, int, int]
"""(st_ino, st_mtime_ns, st_size): which version of the file was read."""


def _identity(status: os.stat_result) -> _Identity:
    return (status.st_ino, status.st_mtime_ns, status.st_size)


@final
class AssertionFile:
    """A callable returning the assertion held in the file at *path*.

    Args:
      path: the file (a Kubernetes projected service account token, an
        Azure workload identity token file); made absolute when the object
        is made, so a later ``chdir`` changes nothing.
      max_bytes: the largest file accepted (default :data:`MAX_BYTES`).

    Calling it returns the file's content with surrounding whitespace
    stripped, reading the file only when it changed since the last call.
    Safe to call from several threads.

    Raises (on a call):
      ValueError: the file is not a regular file, is larger than
        *max_bytes*, or does not hold one line of text (empty, not UTF-8, a
        control character or a line break inside); the message names the
        path, never the content.
      OSError: the file cannot be opened or read (missing, no permission).
    """

    __slots__ = (
        "__weakref__",
        "_lock",
        "_max_bytes",
        "_read",
        "cache_identity",
        "path",
    )

    def __init__(self, path: str | os.PathLike[str], *, max_bytes: int = MAX_BYTES):
        if isinstance(max_bytes, bool) or not isinstance(max_bytes, int):
            raise TypeError("max_bytes must be an int")
        if max_bytes < 1:
            raise ValueError("max_bytes must be at least 1")
        text = os.fspath(path)
        if not isinstance(text, str):
            raise TypeError("path must be a str or an os.PathLike of str")
        if not text:
            raise ValueError("path must not be empty")
        from ._paths import check_path_text

        # A token given where its file's path belongs would show in the
        # repr, the store key and every error.
        check_path_text("path", text)
        self.path: Final = os.path.abspath(text)
        """The file, as an absolute path."""
        self.cache_identity: Final = f"file:{self.path}"
        """What a shared store's key names for this assertion: its path.
        Tokens got with whatever the file holds over time share one key,
        since a rotated token stands for the same workload."""
        self._max_bytes = max_bytes
        self._lock = fork_safe_lock(self)
        # The version read last and its content; replaced whole, so a
        # caller that reads it without the lock sees one or the other.
        self._read: tuple[_Identity, str] | None = None

    def __call__(self) -> str:
        """The assertion: the file's content, whitespace stripped."""
        for attempt in range(_ATTEMPTS):
            try:
                return self._current()
            except FileNotFoundError:
                # A rotation under way: the version the path led to was
                # removed between the lookup and the open. Look again.
                if attempt == _ATTEMPTS - 1:
                    raise
        raise AssertionError("unreachable")  # pragma: no cover

    def _current(self) -> str:
        status = os.stat(self.path)
        self._check(status)
        read = self._read
        if read is not None and read[0] == _identity(status):
            return read[1]
        with self._lock:  # one thread reads a changed file; the others wait
            read = self._read
            if read is not None and read[0] == _identity(status):
                return read[1]
            read = self._read_file()
            self._read = read
            return read[1]

    def _check(self, status: os.stat_result) -> None:
        if not stat.S_ISREG(status.st_mode):
            raise ValueError(
                f"assertion file {self.path!r} is not a regular file "
                f"(a {_kind(status.st_mode)})"
            )
        if status.st_size > self._max_bytes:
            raise ValueError(
                f"assertion file {self.path!r} is larger than {self._max_bytes} "
                "bytes: not an assertion"
            )

    def _read_file(self) -> tuple[_Identity, str]:
        fd = os.open(self.path, _FLAGS)
        try:
            status = os.fstat(fd)
            self._check(status)  # what was opened, which may not be what was stat'ed
            data = _read_all(fd, self._max_bytes + 1)
        finally:
            os.close(fd)
        if len(data) > self._max_bytes:  # it grew after the fstat
            raise ValueError(
                f"assertion file {self.path!r} is larger than {self._max_bytes} "
                "bytes: not an assertion"
            )
        return _identity(status), self._text(data)

    def _text(self, data: bytes) -> str:
        try:
            # utf-8-sig: a file written on Windows may start with a BOM.
            text = data.decode("utf-8-sig").strip()
        except UnicodeDecodeError:
            raise ValueError(
                f"assertion file {self.path!r} is not UTF-8 text"
            ) from None
        if not text:
            raise ValueError(f"assertion file {self.path!r} is empty")
        if "\n" in text or "\r" in text:
            # Two lines are two things, or a format we do not read (a PEM):
            # sent as they are, they would be one invalid assertion.
            raise ValueError(
                f"assertion file {self.path!r} holds a line break inside: an "
                "assertion is one line"
            )
        if not text.isprintable():
            raise ValueError(
                f"assertion file {self.path!r} holds a control character: not text"
            )
        return text

    def __repr__(self) -> str:
        return f"AssertionFile({self.path!r})"

    def __reduce__(self) -> tuple[object, tuple[str, int]]:
        # A flow goes to a process pool's workers by pickle: the path goes,
        # and the worker reads the file itself (the lock stays behind).
        return _rebuilt, (self.path, self._max_bytes)


def _rebuilt(path: str, max_bytes: int) -> AssertionFile:
    return AssertionFile(path, max_bytes=max_bytes)


def _read_all(fd: int, limit: int) -> bytes:
    chunks = []
    left = limit
    while left > 0:
        chunk = os.read(fd, min(left, 65536))
        if not chunk:
            break
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def _kind(mode: int) -> str:
    for test, name in (
        (stat.S_ISDIR, "directory"),
        (stat.S_ISFIFO, "FIFO"),
        (stat.S_ISSOCK, "socket"),
        (stat.S_ISCHR, "character device"),
        (stat.S_ISBLK, "block device"),
    ):
        if test(mode):
            return name
    return "special file"
