"""The faults the server can be told to answer with, the ways networks fail.

Latency before every answer; the next N answered with a 4xx or 5xx error
page (and ``Retry-After``); the next N reset in the middle of the body; the
next N never answered (until the server stops). :class:`Faults` keeps the
queue and hands each request its :class:`Fault`, hangs first, then resets,
then failures.
"""

from __future__ import annotations

import http
from typing import final

import attrs

from ._answers import Answer

__all__ = ["Fault", "Faults"]


def _check_count(count: int) -> None:
    if isinstance(count, bool) or not isinstance(count, int) or count < 0:
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


def _error_page(status: int, retry_after: int | None) -> Answer:
    headers = () if retry_after is None else (("Retry-After", str(retry_after)),)
    text = f"{status} {http.HTTPStatus(status).phrase}\n".encode()
    return Answer(status=status, body=text, headers=headers, content_type="text/plain")


@final
class Faults:
    """The faults queued for the next answers, and the latency of all.

    Not locked: its owner holds a lock around every call, so that a request
    takes its fault and is recorded in one step.
    """

    def __init__(self) -> None:
        self._fail: list[tuple[int, int | None]] = []
        self._resets = 0
        self._hangs = 0
        self._latency = 0.0

    def fail_next(self, count: int, status: int, retry_after: int | None) -> None:
        """Fail the next *count* answers with *status* and *retry_after*.

        Raises:
          ValueError: for a negative *count* or a *status* not 4xx or 5xx.
        """
        _check_count(count)
        if not 400 <= status <= 599:
            raise ValueError(f"status must be a 4xx or 5xx, got {status!r}")
        self._fail.extend([(status, retry_after)] * count)

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

    def take(self) -> Fault:
        """The fault of the next answer, taken off the queue."""
        if self._hangs:
            self._hangs -= 1
            return Fault(kind="hang", latency=self._latency)
        if self._resets:
            self._resets -= 1
            return Fault(kind="reset", latency=self._latency)
        if self._fail:
            status, retry_after = self._fail.pop(0)
            return Fault(
                kind="fail",
                latency=self._latency,
                failure=_error_page(status, retry_after),
            )
        return Fault(kind=None, latency=self._latency)
