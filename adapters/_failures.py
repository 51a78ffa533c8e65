"""What a ``TransportError`` says: about a response that went wrong, and
about an exchange that failed below HTTP (refused, reset, DNS, TLS, timeout).

Every adapter words its failures here, so that the same bytes from a server
end the same way whichever adapter read them (``tests/test_transport_rules.py``
holds them to it). A reason is made of our own words, the ``host:port`` we
asked for and numbers: never of text a server or a proxy sent, which could be
anything (a reflected credential, terminal escapes, a forged log line), nor
of an exception message that may quote it (h11's and http.client's do).
"""

from __future__ import annotations

import enum
import functools
import os
import re
import socket
import ssl
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, ParamSpec, TypeVar

from sansio_auth import TransportError

from ._target import Target

P = ParamSpec("P")
R = TypeVar("R")


class Malformation(enum.Enum):
    """What was wrong with a response that is not HTTP/1.1 as we read it.

    The rules are h11's, which the urllib adapter applies too: RFC 9112 §4
    for the status line, §5 for header lines, §6.3 and RFC 9110 §8.6 for
    ``Content-Length`` (an invalid or conflicting one is an unrecoverable
    error in a response), §7.1 for chunked framing.
    """

    STATUS_LINE = "bad status line"
    HEADER_LINE = "bad header line"
    HEAD_TOO_LARGE = "response head too large"
    CONTENT_LENGTH = "bad Content-Length"
    CONFLICTING_CONTENT_LENGTH = "conflicting Content-Length"
    TRANSFER_ENCODING = "unsupported Transfer-Encoding (only chunked, once)"
    CHUNKED = "bad chunked framing"
    SWITCHING_PROTOCOLS = "unexpected 101 Switching Protocols"
    """We never ask for an upgrade, so what follows a 101 is not HTTP."""
    HEAD = "malformed response head"
    """Anything else wrong before the body."""
    BODY = "malformed response body"
    """Anything else wrong in the body."""


def where(target: Target) -> str:
    """The ``host:port`` a reason names: what we asked for, nothing sent to us."""
    return f"{target.host}:{target.port}"


def malformed(name: str, kind: Malformation) -> TransportError:
    """The response from *name* broke HTTP/1.1 the way *kind* says.

    Retryable, as a glitch of a proxy or a server being redeployed often is;
    the session's cooldown keeps a server that always does it from being
    hammered.
    """
    return TransportError(
        reason=f"malformed HTTP response from {name}: {kind.value}", retryable=True
    )


def closed_before_response(name: str) -> TransportError:
    """The connection ended before a whole response head came."""
    return TransportError(
        reason=f"connection to {name} closed before a response", retryable=True
    )


def truncated(name: str) -> TransportError:
    """The connection ended inside the body its framing promised."""
    return TransportError(
        reason=f"connection to {name} closed before the response was complete "
        "(truncated body)",
        retryable=True,
    )


def over_limit(max_response_bytes: int) -> TransportError:
    """The body passed the size cap: not retried, it would be as big again."""
    return TransportError(
        reason=f"response body over the {max_response_bytes}-byte limit",
        retryable=False,
    )


def cannot_frame(name: str) -> TransportError:
    """Our own request could not be put on the wire (not the server's doing)."""
    return TransportError(reason=f"cannot frame the request to {name}", retryable=False)


# -- below HTTP --------------------------------------------------------------


def transport_error(exc: BaseException, where: str) -> TransportError:
    """Say what went wrong below HTTP, as a ``TransportError``.

    The reason is our own words, *where* (the ``host:port`` we asked for) and
    what the OS and OpenSSL name from their fixed tables (an errno through
    ``os.strerror``, an OpenSSL reason code, a certificate verification
    message). It never quotes an exception's text: http.client's, urllib's
    and h11's quote what a server or a proxy sent (a reason phrase, a header
    line), which could be anything.
    """
    for cause in _causes(exc):
        if isinstance(cause, ssl.SSLCertVerificationError):
            # OpenSSL's table, or CPython's "mismatch" message naming the host
            # we asked for: nothing from the certificate.
            detail = cause.verify_message or "certificate not trusted"
            return TransportError(
                reason=f"TLS certificate verification failed for {where}: {detail}",
                retryable=False,
            )
        if isinstance(cause, ssl.SSLError):
            code = cause.reason
            detail = f": {code}" if code and _OPENSSL_CODE.fullmatch(code) else ""
            return TransportError(
                reason=f"TLS failed with {where}{detail}", retryable=False
            )
        if isinstance(cause, socket.gaierror):
            return TransportError(
                reason=f"DNS lookup failed for {where}", retryable=True
            )
        if isinstance(cause, ConnectionRefusedError):
            return TransportError(
                reason=f"connection refused by {where}", retryable=True
            )
        if isinstance(cause, ConnectionResetError | BrokenPipeError):
            return TransportError(reason=f"connection reset by {where}", retryable=True)
    for cause in _causes(exc):
        errno = cause.errno if isinstance(cause, OSError) else None
        if isinstance(errno, int) and errno > 0:
            return TransportError(
                reason=f"network error with {where}: {os.strerror(errno)}",
                retryable=True,
            )
    return TransportError(
        reason=f"network error with {where} ({type(exc).__name__})", retryable=True
    )


# An OpenSSL reason code (WRONG_VERSION_NUMBER, TLSV1_ALERT_UNKNOWN_CA): a
# name from OpenSSL's table, never the peer's bytes.
_OPENSSL_CODE = re.compile(r"[A-Z0-9_]{1,80}")


def _causes(exc: BaseException) -> list[BaseException]:
    # The exception and what it wraps: urllib's URLError.reason, __cause__,
    # __context__, and the members of an exception group.
    seen: list[BaseException] = []
    todo = [exc]
    while todo:
        item = todo.pop(0)
        if item in seen:
            continue
        seen.append(item)
        reason = getattr(item, "reason", None)
        if isinstance(reason, BaseException):
            todo.append(reason)
        if isinstance(item, BaseExceptionGroup):
            todo.extend(item.exceptions)
        for linked in (item.__cause__, item.__context__):
            if linked is not None:
                todo.append(linked)
    return seen


def timeout_error(timeout: float, where: str) -> TransportError:
    """The exchange with *where* did not finish within *timeout* seconds."""
    return TransportError(
        reason=f"timed out after {timeout:g} s waiting for {where}", retryable=True
    )


def detached(send: Callable[P, R]) -> Callable[P, R]:
    """*send* (a sync one) raising its ``TransportError`` without the
    exceptions it came from: h11's error, http.client's, a proxy's answer
    may hold what a server sent (a header line with a key in it), and
    ``raise ... from None`` only hides them from a traceback, where a log
    shipper or the stats would still reach them through ``__context__``."""

    @functools.wraps(send)
    def sending(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return send(*args, **kwargs)
        except TransportError as exc:
            _detach(exc)
            raise

    return sending


def detached_async(
    send: Callable[P, Awaitable[R]],
) -> Callable[P, Coroutine[Any, Any, R]]:
    """:func:`detached` for a coroutine function."""

    @functools.wraps(send)
    async def sending(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return await send(*args, **kwargs)
        except TransportError as exc:
            _detach(exc)
            raise

    return sending


def _detach(exc: BaseException) -> None:
    exc.__cause__ = None
    exc.__context__ = None
    exc.__suppress_context__ = False
