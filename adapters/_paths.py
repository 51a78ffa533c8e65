"""Files the caller names: a path that is really content is refused without
being shown, and a file is read only if it is a regular one, of a sane size.

A careless caller may pass a PEM or a token where a path belongs (the
command line refuses that at its door; the library's own arguments are
guarded here): an error that names the "path" would then show the key. And a
FIFO or a device at the path would block the caller forever on ``open``.
"""

from __future__ import annotations

import os
import re
import stat
from typing import Final

__all__ = ["check_path_text", "read_regular_file"]

_MAX_PATH: Final = 4096
# Three base64url runs joined by dots, nothing else: a JWT, not a file name.
_JWT_SHAPED: Final = re.compile(r"[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*")
_FLAGS: Final = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)


def check_path_text(field: str, text: str) -> str:
    """*text* if it may be a path; else a ValueError naming *field* only.

    Refused: a line break or NUL, a PEM armour line, a JWT's shape, or a
    length no path has.
    """
    if (
        len(text) > _MAX_PATH
        or "\n" in text
        or "\r" in text
        or "\0" in text
        or "-----BEGIN" in text
        or _JWT_SHAPED.fullmatch(text) is not None
    ):
        raise ValueError(
            f"{field} looks like the content of a file (a key, a certificate, a "
            "token), not a path to one: give the file's path"
        )
    return text


def read_regular_file(path: str, *, max_bytes: int, field: str) -> bytes:
    """The bytes of the regular file at *path*, at most *max_bytes*.

    Opened without blocking and checked through the descriptor, so a FIFO or
    device swapped in is refused, not waited on.

    Raises:
      OSError: it cannot be opened or read.
      ValueError: it is not a regular file, or larger than *max_bytes*; the
        message names *field* and the path.
    """
    fd = os.open(path, _FLAGS)
    try:
        status = os.fstat(fd)
        if not stat.S_ISREG(status.st_mode):
            raise ValueError(f"{field} {path!r} is not a regular file")
        chunks = []
        left = max_bytes + 1
        while left > 0:
            chunk = os.read(fd, min(left, 65536))
            if not chunk:
                break
            chunks.append(chunk)
            left -= len(chunk)
    finally:
        os.close(fd)
    data = b"".join(chunks)
    if len(data) > max_bytes:
        raise ValueError(f"{field} {path!r} is larger than {max_bytes} bytes")
    return data
