"""What every adapter shares: defaults, argument checks, the URL split, logs.

No protocol decision is made here or anywhere in the adapters: what to send
and when is the session's business (``sansio_auth.TokenSession``).
"""

from __future__ import annotations

import functools
import logging
import os
import re
import socket
import ssl
import threading
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, ParamSpec, TypeVar
from urllib.parse import urlsplit

import attrs

from sansio_auth import HttpRequest, SendRequest, Step, TokenError, TransportError
from sansio_auth._urls import is_loopback

DEFAULT_TIMEOUT = 30.0
"""Seconds one whole exchange (connect, TLS, send, headers, body) may take."""
DEFAULT_MAX_RESPONSE_BYTES = 1_048_576
"""The largest response body read (1 MiB); a token answer is a few KB."""
FETCH_MARGIN = 5.0
"""Added to the timeout for the session's lost-request deadline."""

logger = logging.getLogger("sansio_auth")
P = ParamSpec("P")
R = TypeVar("R")


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


# The shared default context, built on first use: building one reads the whole
# system trust store (set_default_verify_paths: about 15 ms and a few MB), far
# more than the exchange it serves. The lock keeps two threads from both
# building it, and a fork from happening while one does (below); a forked
# child gets a fresh lock.
_default_context: ssl.SSLContext | None = None
_default_context_lock = threading.Lock()


def _hold_for_fork() -> None:
    # A fork waits for a build under way to end: a child forked while a
    # thread was inside OpenSSL building the context could hang forever on
    # OpenSSL's own locks, which nothing in the child would release.
    _default_context_lock.acquire()


def _release_after_fork() -> None:
    _default_context_lock.release()


def _fresh_lock_in_child() -> None:
    global _default_context_lock
    _default_context_lock = threading.Lock()


if hasattr(os, "register_at_fork"):  # not on Windows, which cannot fork
    os.register_at_fork(
        before=_hold_for_fork,
        after_in_parent=_release_after_fork,
        after_in_child=_fresh_lock_in_child,
    )


def default_ssl_context() -> ssl.SSLContext:
    """Verified TLS with the system trust store: one context for the process.

    Built on the first call (the trust store is read then: a later change of
    ``SSL_CERT_FILE`` is not seen), then shared by every send given no
    context. A forked child keeps its parent's, once built.
    """
    global _default_context
    context = _default_context
    if context is None:
        with _default_context_lock:
            context = _default_context
            if context is None:
                context = _default_context = ssl.create_default_context()
    return context


def built_default_ssl_context() -> ssl.SSLContext | None:
    """The shared default context if it is built, else None.

    For a caller that must not build it where it runs (an event loop's
    thread): it builds it elsewhere, in a worker thread, when this is None.
    """
    return _default_context


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


def resolves_to_loopback(host: str) -> bool:
    """Whether *host* names this machine the way the resolver reads it.

    The core's rule for plain http (``localhost``, dotted 127.0.0.0/8,
    ``::1``), and the spellings ``getaddrinfo`` also takes to this machine:
    a final dot (``localhost.``), the short and numeric IPv4 forms
    (``127.1``, ``2130706433``, ``0x7f.1``) and IPv4-mapped IPv6
    (``::ffff:127.0.0.1``). A request to any of them never goes through a
    proxy, which would take it off the machine.
    """
    name = host.lower().removesuffix(".")
    if name == "localhost" or is_loopback(name):
        return True
    try:
        return socket.inet_aton(name)[0] == 127
    except OSError:
        pass
    import ipaddress

    try:
        address = ipaddress.ip_address(name.partition("%")[0])
    except ValueError:
        return False
    mapped = getattr(address, "ipv4_mapped", None)
    return address.is_loopback or (mapped is not None and mapped.is_loopback)


@attrs.frozen(kw_only=True)
class Target:
    """Where a request goes, split for a transport."""

    https: bool
    host: str
    port: int
    path: str
    """The request target: path and query."""
    host_header: str
    """The ``Host`` header value (RFC 9110 §7.2)."""


def target(request: HttpRequest) -> Target:
    """Split the request's URL for a transport.

    Raises:
      TypeError: if *request* is not an ``HttpRequest``.
      ValueError: if the URL is not ASCII, its scheme is not http(s), it has
        no host, user info, or a port outside 1 to 65535. The message never
        quotes the URL, which may hold a credential in its query.
    """
    if not isinstance(request, HttpRequest):
        raise TypeError(f"request must be an HttpRequest, got {type(request).__name__}")
    url = request.url
    # Each transport would fail on it deep in a send (UnicodeEncodeError),
    # or encode the host differently from the others.
    if not url.isascii():
        raise ValueError(
            "request url must be ASCII: percent-encode the path and query, and "
            "write an international host name in its xn-- (IDNA) form"
        )
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:  # its message quotes the port text
        raise ValueError("request url must have a valid host and port") from None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("request url must be an absolute http or https URL")
    if parts.username is not None:
        # urllib would send it on in the Host header, the others drop it.
        raise ValueError("request url must not hold user info")
    if port == 0:
        raise ValueError("request url must have a port from 1 to 65535")
    https = scheme == "https"
    port = port or (443 if https else 80)
    host = parts.hostname
    shown = f"[{host}]" if ":" in host else host
    default = 443 if https else 80
    return Target(
        https=https,
        host=host,
        port=port,
        path=(parts.path or "/") + (f"?{parts.query}" if parts.query else ""),
        host_header=shown if port == default else f"{shown}:{port}",
    )


def log_step(step: Step) -> None:
    """Log what the session said, with no credential or token in the record."""
    if not logger.isEnabledFor(logging.DEBUG):
        return
    if isinstance(step, SendRequest):
        kind = "refresh" if step.refresh else "token request"
        logger.debug("sending %s to %s", kind, step.request.redacted_url())
    else:
        logger.debug("session step: %s", type(step).__name__)


def log_response(request: HttpRequest, status: int) -> None:
    """Log the status a token request got back."""
    logger.debug("received HTTP %d from %s", status, request.redacted_url())


def log_result(request: HttpRequest, result: object, *, rejected: bool = False) -> None:
    """Log the outcome of a request, by kind and status only.

    Args:
      request: the request it answers (its URL is logged without query
        values, which may hold a key).
      result: what the session made of it (an error already masked).
      rejected: the session took it as a refresh token refused
        (``SessionEvent.REFRESH_REJECTED``): a WARNING, since a refresh token
        used twice may have been stolen and replayed. Not a failure for the
        caller: the session acquires anew.
    """
    url = request.redacted_url()
    if rejected:
        logger.warning(
            "refresh token refused by %s (invalid_grant): it had expired or been "
            "revoked, or was used already, possibly by someone who stole it; "
            "acquiring a new token",
            url,
        )
    if not logger.isEnabledFor(logging.DEBUG):
        return
    if isinstance(result, TokenError):
        logger.debug("token request to %s failed: %s", url, result)
    elif result is not None:
        logger.debug("token received from %s", url)


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
