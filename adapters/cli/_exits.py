"""The command line's exit codes and its usage error."""

from __future__ import annotations

from typing import Final

__all__ = [
    "EXIT_BROKEN_PIPE",
    "EXIT_ERROR",
    "EXIT_INTERRUPTED",
    "EXIT_NETWORK",
    "EXIT_OK",
    "EXIT_REJECTED",
    "EXIT_USAGE",
    "PROG",
    "UsageError",
]

PROG: Final = "sansio-auth"

EXIT_OK: Final = 0
"""The command did its job."""
EXIT_ERROR: Final = 1
"""Anything else: an unusable answer, an unexpected status, a crash."""
EXIT_USAGE: Final = 2
"""A bad or missing option or secret (argparse's own code too)."""
EXIT_REJECTED: Final = 3
"""The token endpoint refused the credentials (an OAuth error, or 400/401/403)."""
EXIT_NETWORK: Final = 4
"""The endpoint could not be reached, or stayed unavailable through the retries."""
EXIT_INTERRUPTED: Final = 130
"""Ctrl-C: 128 + SIGINT, as a shell reports a command that SIGINT ended."""
EXIT_BROKEN_PIPE: Final = 141
"""stdout was closed before the output was written (the reader went away):
128 + SIGPIPE, the status a shell reports for a tool that SIGPIPE ended."""


class UsageError(Exception):
    """A bad or missing option or secret: exit code 2."""
