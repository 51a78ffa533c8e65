"""``main``: run a command, and turn what went wrong into an exit code."""

from __future__ import annotations

import getpass
import os
import sys
from collections.abc import Sequence
from typing import IO

from ._exits import (
    EXIT_BROKEN_PIPE,
    EXIT_ERROR,
    EXIT_INTERRUPTED,
    EXIT_USAGE,
    UsageError,
)
from ._io import CommandIO, discard, say
from ._parser import parser

__all__ = ["main"]


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``sansio-auth`` with *argv* (default ``sys.argv[1:]``).

    Returns:
      The exit code (see the module's docstring).
    """
    stdout: IO[str] | None = sys.stdout
    if stdout is None:  # started with fd 1 closed (`>&-`): nowhere to print
        say(sys.stderr, "stdout is closed (file descriptor 1 is not open)")
        return EXIT_ERROR
    io = CommandIO(
        stdout=stdout,
        stderr=sys.stderr,
        stdin=sys.stdin,
        environ=os.environ,
        prompt=getpass.getpass,
    )
    try:
        code = _run(argv, io)
        # A closed stdout is found here rather than by the interpreter's
        # flush at exit, which can only print "Exception ignored".
        io.stdout.flush()
    except BrokenPipeError:
        # stdout's: the adapters turn a socket's into a TransportError.
        discard(io.stdout)
        io.fail("stdout was closed before the output was written (broken pipe)")
        return EXIT_BROKEN_PIPE
    return code


def _run(argv: Sequence[str] | None, io: CommandIO) -> int:
    try:
        args = parser().parse_args(argv)
    except SystemExit as exc:  # --help, --version, or a usage error
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    try:
        code: int = args.run(args, io)
    except UsageError as exc:
        io.fail(f"usage error: {exc}")
        return EXIT_USAGE
    except KeyboardInterrupt:
        io.fail("interrupted")
        return EXIT_INTERRUPTED
    except UnicodeEncodeError:
        # A token with a character stdout's encoding has not (a server may
        # send one): one line, not a traceback that would print the token.
        io.fail(
            "the output holds a character stdout's encoding cannot write; "
            "set PYTHONIOENCODING=utf-8"
        )
        return EXIT_ERROR
    return code
