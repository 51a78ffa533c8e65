"""The world the commands see: streams, environment, prompt; and the one
line a failure prints."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Mapping
from typing import IO

import attrs

from ._exits import PROG

__all__ = ["CommandIO", "discard", "say"]


@attrs.define(kw_only=True)
class CommandIO:
    """The world the commands see; tests swap parts of it."""

    stdout: IO[str]
    stderr: IO[str] | None
    """None when the process started with it closed (``2>&-``)."""
    stdin: IO[str] | None
    """None when the process started with it closed (``<&-``)."""
    environ: Mapping[str, str]
    prompt: Callable[[str], str]
    stop: threading.Event | None = None

    def fail(self, message: str) -> None:
        say(self.stderr, message)


def say(stderr: IO[str] | None, message: str) -> None:
    """*message* as one line on *stderr*, if anyone can read it."""
    if stderr is None:
        return
    line = " ".join(message.split())  # one line, whatever the cause held
    try:
        stderr.write(f"{PROG}: {line}\n")
        stderr.flush()
    except BrokenPipeError:
        # Nobody reads stderr (`2>&1 | true`): the exit code still tells.
        discard(stderr)


def discard(stream: IO[str]) -> None:
    """Point *stream*'s file descriptor at the null device.

    After a BrokenPipeError the stream's buffer still holds what it could not
    write, and the interpreter flushes the standard streams at exit: that
    flush would fail again, print "Exception ignored" and exit 120. This is
    the recipe of the ``signal`` module's docs (the note on SIGPIPE).
    """
    try:
        fd = stream.fileno()
    except (AttributeError, OSError, ValueError):
        return  # not a file (a test's StringIO): nothing flushes it at exit
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, fd)
    finally:
        os.close(devnull)
