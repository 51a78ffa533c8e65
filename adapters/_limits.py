"""The adapters' defaults and bounds, and the check of send's arguments."""

from __future__ import annotations

import ssl

__all__ = [
    "DEFAULT_MAX_RESPONSE_BYTES",
    "DEFAULT_TIMEOUT",
    "FETCH_MARGIN",
    "MAX_RESPONSE_BYTES",
    "MAX_TIMEOUT",
    "check_send_args",
]

DEFAULT_TIMEOUT = 30.0
"""Seconds one whole exchange (connect, TLS, send, headers, body) may take."""
DEFAULT_MAX_RESPONSE_BYTES = 1_048_576
"""The largest response body read (1 MiB); a token answer is a few KB."""
FETCH_MARGIN = 5.0
"""Added to the timeout for the session's lost-request deadline."""


MAX_TIMEOUT = 86_400
"""The longest ``timeout`` taken: a day. A token request still running after
that is hung, not slow; and far larger values break the transports (urllib's
watchdog timer raises OverflowError past ``threading.TIMEOUT_MAX``)."""
MAX_RESPONSE_BYTES = 64 * 1_048_576
"""The largest ``max_response_bytes`` taken: 64 MiB, 64 times the default. A
token answer is a few KB (tens with a large id_token); the cap bounds what a
broken or hostile server can make a caller hold, and a limit beyond what fits
in memory bounds nothing. Bodies are read in pieces, so a high limit costs
nothing until the bytes come."""


def check_send_args(
    timeout: float,
    max_response_bytes: int,
    ssl_context: ssl.SSLContext | None = None,
) -> None:
    """Refuse a timeout, size cap or TLS context that cannot work, at once.

    Messages name the argument and never show its value: a careless caller
    may have put a secret in the wrong one.

    Raises:
      TypeError: an argument of the wrong type (a bool is not a number).
      ValueError: ``timeout`` not in (0, 86400] (nan and inf are not), or
        ``max_response_bytes`` not in [0, 64 MiB].
    """
    if isinstance(timeout, bool) or not isinstance(timeout, int | float):
        raise TypeError(
            f"timeout must be a number of seconds, got {type(timeout).__name__}"
        )
    # Comparisons, not math.isfinite: an int too large for a float is a valid
    # operand here and refused as too long, where isfinite would overflow.
    if not 0 < timeout <= MAX_TIMEOUT:
        raise ValueError(
            f"timeout must be a finite number of seconds > 0 and at most "
            f"{MAX_TIMEOUT} (a day)"
        )
    if ssl_context is not None and not isinstance(ssl_context, ssl.SSLContext):
        raise TypeError(
            "ssl_context must be an ssl.SSLContext or None, got "
            f"{type(ssl_context).__name__}"
        )
    if isinstance(max_response_bytes, bool) or not isinstance(max_response_bytes, int):
        kind = type(max_response_bytes).__name__
        raise TypeError(f"max_response_bytes must be an int, got {kind}")
    if not 0 <= max_response_bytes <= MAX_RESPONSE_BYTES:
        raise ValueError(
            f"max_response_bytes must be from 0 to {MAX_RESPONSE_BYTES} (64 MiB)"
        )
