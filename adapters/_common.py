"""What every adapter shares: defaults, argument checks, the URL split, logs.

No protocol decision is made here or anywhere in the adapters: what to send
and when is the session's business (``sansio_auth.TokenSession``).
"""

from __future__ import annotations

import logging
import math
import socket
import ssl
from urllib.parse import urlsplit

import attrs

from sansio_auth import HttpRequest, SendRequest, Step, TokenError, TransportError

DEFAULT_TIMEOUT = 30.0
"""Seconds one whole exchange (connect, TLS, send, headers, body) may take."""
DEFAULT_MAX_RESPONSE_BYTES = 1_048_576
"""The largest response body read (1 MiB); a token answer is a few KB."""
FETCH_MARGIN = 5.0
"""Added to the timeout for the session's lost-request deadline."""

logger = logging.getLogger("sansio_auth")


def check_send_args(timeout: float, max_response_bytes: int) -> None:
    """Refuse a timeout or size cap that cannot work, naming the argument."""
    if isinstance(timeout, bool) or not isinstance(timeout, int | float):
        raise TypeError("timeout must be a number of seconds")
    if not 0 < timeout < math.inf:
        raise ValueError(f"timeout must be a finite number > 0, got {timeout!r}")
    if isinstance(max_response_bytes, bool) or not isinstance(max_response_bytes, int):
        raise TypeError("max_response_bytes must be an int")
    if max_response_bytes < 0:
        raise ValueError("max_response_bytes must be >= 0")


def default_ssl_context() -> ssl.SSLContext:
    """Verified TLS with the system trust store."""
    return ssl.create_default_context()


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
      ValueError: if the scheme is not http(s) or there is no host.
    """
    parts = urlsplit(request.url)
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("request url must be an absolute http or https URL")
    https = scheme == "https"
    port = parts.port or (443 if https else 80)
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
        logger.debug("sending %s to %s", kind, step.request.url)
    else:
        logger.debug("session step: %s", type(step).__name__)


def log_response(url: str, status: int) -> None:
    """Log the status a token request got back."""
    logger.debug("received HTTP %d from %s", status, url)


def log_result(url: str, result: object) -> None:
    """Log the outcome of a request, by kind and status only."""
    if not logger.isEnabledFor(logging.DEBUG):
        return
    if isinstance(result, TokenError):
        logger.debug("token request to %s failed: %s", url, result)
    elif result is not None:
        logger.debug("token received from %s", url)


def transport_error(exc: BaseException, where: str) -> TransportError:
    """Say what went wrong below HTTP, as a ``TransportError``.

    The reason names the host and the kind of failure; exception texts from
    the OS and the TLS library carry no credential.
    """
    for cause in _causes(exc):
        if isinstance(cause, ssl.SSLCertVerificationError):
            detail = cause.verify_message or "certificate not trusted"
            return TransportError(
                reason=f"TLS certificate verification failed for {where}: {detail}",
                retryable=False,
            )
        if isinstance(cause, ssl.SSLError):
            return TransportError(
                reason=f"TLS failed with {where}: {cause.reason or cause}",
                retryable=False,
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
    return TransportError(reason=f"network error with {where}: {exc}", retryable=True)


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
