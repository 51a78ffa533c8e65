"""The faults the server can be told to answer with, the ways networks fail.

Latency before every answer; the next N answered with a 4xx or 5xx error
page (with ``Retry-After`` and any other headers asked for, such as another
scheme's ``WWW-Authenticate``), to any endpoint or to one only; the next N
reset in the middle of the body; the next N never answered (until the server
stops). :class:`FaultControls` is the server's API for them (its base
class), and :class:`Faults` keeps the queue and hands each request its
:class:`Fault`, hangs first, then resets, then the oldest failure meant for
its endpoint: a failure aimed at one endpoint is left for it by the others.

Extra headers are checked when queued (RFC 9110 §5.1, §5.5): a name is a
token, a value visible ASCII with inner spaces or tabs only, so nothing can
split the answer's head; and the framing headers the server writes itself
are refused.
"""

from __future__ import annotations

import http
import threading
from collections.abc import Sequence
from typing import Final, final

import attrs

from ._answers import Answer
from .personas import check_endpoint

__all__ = ["Fault", "FaultControls", "Faults", "check_headers"]

_TOKEN: Final = frozenset(
    "!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
)
_FRAMING: Final = frozenset(
    {"connection", "content-length", "content-type", "transfer-encoding"}
)


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _check_count(count: int) -> None:
    if not _is_int(count) or count < 0:
        raise ValueError(f"count must be an integer >= 0, got {count!r}")


@final
@attrs.frozen(kw_only=True)
class Fault:
    """What happens to one request's answer."""

    kind: str | None
    """``"fail"``, ``"reset"``, ``"hang"``, or None for a normal answer."""
    latency: float
    """Seconds to wait before answering."""
    failure: Answer | None = None
    """The error page to answer with, for ``"fail"``."""


def _check_value(name: str, value: str) -> None:
    for index, char in enumerate(value):
        if not (" " <= char <= "~" or char == "\t"):
            raise ValueError(
                f"the value of header {name} must be visible ASCII, spaces and "
                f"tabs, got {char!r} at index {index}"
            )
    if value[:1] in (" ", "\t") or value[-1:] in (" ", "\t"):
        raise ValueError(
            f"the value of header {name} must not start or end with white space"
        )


def check_headers(
    headers: Sequence[tuple[str, str]],
) -> tuple[tuple[str, str], ...]:
    """*headers* as a tuple, once each (name, value) pair is checked.

    Raises:
      TypeError: unless *headers* is a sequence of pairs of strings.
      ValueError: for a name that is not a token (RFC 9110 §5.1), a value
        with anything but visible ASCII, inner spaces and tabs (§5.5), or a
        header the server writes itself (Content-Type, Content-Length,
        Transfer-Encoding, Connection).
    """
    if isinstance(headers, str | bytes):
        raise TypeError("headers must be a sequence of (name, value) pairs")
    checked = []
    for pair in headers:
        if not (
            isinstance(pair, tuple)
            and len(pair) == 2
            and all(isinstance(part, str) for part in pair)
        ):
            raise TypeError(
                "headers must be a sequence of (name, value) pairs of strings, "
                f"got a {type(pair).__name__}"
            )
        name, value = pair
        if not name or not set(name) <= _TOKEN:
            raise ValueError(f"a header name must be a token, got {name!r}")
        if name.lower() in _FRAMING:
            raise ValueError(f"the server writes the {name} header itself")
        _check_value(name, value)
        checked.append((name, value))
    return tuple(checked)


def _error_page(
    status: int, retry_after: int | None, headers: tuple[tuple[str, str], ...]
) -> Answer:
    if retry_after is not None:
        headers = (("Retry-After", str(retry_after)), *headers)
    text = f"{status} {_phrase(status)}\n".encode()
    return Answer(status=status, body=text, headers=headers, content_type="text/plain")


def _phrase(status: int) -> str:
    """*status*'s reason phrase; a generic one for a code HTTPStatus does not
    know (420, 499, 509, 529, 599: valid all the same)."""
    try:
        return http.HTTPStatus(status).phrase
    except ValueError:
        return "Client Error" if status < 500 else "Server Error"


@final
class Faults:
    """The faults queued for the next answers, and the latency of all.

    Not locked: its owner holds a lock around every call, so that a request
    takes its fault and is recorded in one step.
    """

    def __init__(self) -> None:
        self._fail: list[tuple[str | None, Answer]] = []  # (endpoint, page)
        self._resets = 0
        self._hangs = 0
        self._latency = 0.0

    def fail_next(
        self,
        count: int,
        status: int,
        retry_after: int | None,
        *,
        endpoint: str | None = None,
        headers: Sequence[tuple[str, str]] = (),
    ) -> None:
        """Fail the next *count* answers (to *endpoint* only, unless None)
        with *status*, *retry_after* and *headers*.

        Raises:
          ValueError: for a negative *count*, a *status* not 4xx or 5xx, a
            *retry_after* neither None nor an integer >= 0, or a header
            :func:`check_headers` refuses.
          TypeError: if *headers* is not a sequence of pairs of strings.
        """
        _check_count(count)
        if not _is_int(status) or not 400 <= status <= 599:
            raise ValueError(f"status must be a 4xx or 5xx, got {status!r}")
        if retry_after is not None and not (_is_int(retry_after) and retry_after >= 0):
            raise ValueError(
                f"retry_after must be None or an integer >= 0, got {retry_after!r}"
            )
        page = _error_page(status, retry_after, check_headers(headers))
        self._fail.extend([(endpoint, page)] * count)

    def set_latency(self, seconds: float) -> None:
        """Wait *seconds* before every answer.

        Raises:
          ValueError: unless *seconds* is finite and >= 0.
        """
        if not 0 <= seconds < float("inf"):
            raise ValueError(f"latency must be a finite number >= 0, got {seconds!r}")
        self._latency = float(seconds)

    def reset_next(self, count: int) -> None:
        """Reset the next *count* answers.

        Raises:
          ValueError: for a negative *count*.
        """
        _check_count(count)
        self._resets += count

    def hang_next(self, count: int) -> None:
        """Never send the next *count* answers.

        Raises:
          ValueError: for a negative *count*.
        """
        _check_count(count)
        self._hangs += count

    def clear(self) -> None:
        """Forget the queued faults and the latency."""
        self._fail.clear()
        self._resets = self._hangs = 0
        self._latency = 0.0

    def take(self, endpoint: str) -> Fault:
        """The fault of the next answer, to *endpoint*, taken off the queue."""
        if self._hangs:
            self._hangs -= 1
            return Fault(kind="hang", latency=self._latency)
        if self._resets:
            self._resets -= 1
            return Fault(kind="reset", latency=self._latency)
        for index, (aimed_at, page) in enumerate(self._fail):
            if aimed_at is None or aimed_at == endpoint:
                del self._fail[index]
                return Fault(kind="fail", latency=self._latency, failure=page)
        return Fault(kind=None, latency=self._latency)


class FaultControls:
    """The fault methods of ``TokenServer``, its base class: each queues
    under the server's lock, the one its requests take their faults under."""

    _lock: threading.Lock
    _faults: Faults

    def fail_next(
        self,
        count: int,
        status: int = 503,
        retry_after: int | None = 1,
        *,
        endpoint: str | None = None,
        headers: Sequence[tuple[str, str]] = (),
    ) -> None:
        """Answer the next *count* requests with *status* (a plain-text error
        page), ``Retry-After: <retry_after>`` unless it is None, and
        *headers*.

        Args:
          count: how many requests fail.
          status: a 4xx or 5xx.
          retry_after: seconds, or None for no ``Retry-After``.
          endpoint: one of :data:`ENDPOINTS`: only requests to it fail (and
            use the fault up); the others are answered as usual. None: any.
          headers: (name, value) pairs added to the answer, such as
            ``("WWW-Authenticate", 'Basic realm="x"')``.

        Raises:
          ValueError: for a negative *count*, a *status* not 4xx or 5xx, a
            *retry_after* neither None nor an integer >= 0, an unknown
            *endpoint*, or a header name or value that is not ASCII, holds a
            CR or LF (see :func:`check_headers`), or is one the server writes
            itself.
          TypeError: if *headers* is not a sequence of pairs of strings.
        """
        if endpoint is not None:
            check_endpoint(endpoint)
        with self._lock:
            self._faults.fail_next(
                count, status, retry_after, endpoint=endpoint, headers=headers
            )

    def set_latency(self, seconds: float) -> None:
        """Wait *seconds* before every answer (0 for none)."""
        with self._lock:
            self._faults.set_latency(seconds)

    def reset_next(self, count: int = 1) -> None:
        """For the next *count* requests, send the head and half the body, then
        reset the connection (TCP RST)."""
        with self._lock:
            self._faults.reset_next(count)

    def hang_next(self, count: int = 1) -> None:
        """Read the next *count* requests and never answer them (until stop)."""
        with self._lock:
            self._faults.hang_next(count)
