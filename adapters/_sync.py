"""The sync TokenClient loop: the session's steps over threads.

Each sync client (the urllib adapter's, and the integrations' over another
HTTP library's client) fills in only ``_send``; what to do next is the
session's, and the single flight, backoff and hot cache are here once.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from types import TracebackType
from typing import Self

from sansio_auth import (
    AwaitInFlight,
    Backoff,
    Failed,
    HttpResponse,
    SendRequest,
    SessionEvent,
    Token,
    TransportError,
    UseToken,
)

from ._client import ClientBase, failure
from ._logs import log_response, log_result, log_step

__all__ = ["SyncClientBase"]


class SyncClientBase(ClientBase):
    """A TokenClient for threads, over the ``_send`` of its world."""

    __slots__ = ("_event", "_lock")

    _send: Callable[..., HttpResponse]
    """The world's ``send``: filled in by each adapter or integration."""

    def _setup(self) -> None:
        self._lock = threading.Lock()
        # Set when the fetch in flight reports; the callers waiting for it
        # wait on it outside the lock. None while nobody waits.
        self._event: threading.Event | None = None

    def token(self) -> Token:
        """A usable token, fetching one if needed.

        Raises:
          TokenError: the session gave up (see its retry policy).
        """
        hot = self._hot  # _cached(), inlined: this is the hot path
        if (
            hot is not None
            and hot[1] <= self._clock() < hot[2]
            and hot[0] is self._session.token
        ):
            return hot[0]
        self._check_fork()  # before self._lock: a parent thread may hold it
        while True:
            with self._lock:
                now = self._clock()
                step = self._session.next_step(now)
                log_step(step)
                if isinstance(step, UseToken):
                    self._cache(step.token, now)
                    return step.token
                if isinstance(step, Failed):
                    raise failure(step.error)
                if isinstance(step, AwaitInFlight):
                    if self._event is None:
                        self._event = threading.Event()
                    event = self._event
            if isinstance(step, AwaitInFlight):
                # Outside the lock: woken callers read the cache without
                # queueing for it one by one.
                event.wait(max(0.0, step.until - now))
            elif isinstance(step, Backoff):
                time.sleep(max(0.0, step.until - self._clock()))
            else:
                self._fetch(step)
            cached = self._cached()  # the fetch brought one, and cached it
            if cached is not None:
                return cached

    def _fetch(self, step: SendRequest) -> None:
        result: object = None
        rejected = False
        try:
            try:
                response = self._send(
                    step.request,
                    timeout=self._fetch_timeout(),
                    ssl_context=self.ssl_context,
                    max_response_bytes=self.max_response_bytes,
                )
            except TransportError as exc:
                with self._lock:
                    self._session.receive_failure(exc, now=self._clock(), step=step)
                result = exc
            else:
                log_response(step.request, response.status)
                with self._lock:
                    now = self._clock()
                    result = self._session.receive(response, now=now, step=step)
                    last = self._session.last_event
                    rejected = last is SessionEvent.REFRESH_REJECTED
                    if isinstance(result, Token):
                        self._cache(result, now)  # before the waiters wake
        finally:
            with self._lock:
                self._session.abandon(step)  # a no-op once reported
                event, self._event = self._event, None
            if event is not None:
                event.set()
            log_result(step.request, result, rejected=rejected)

    def authorization(self) -> str:
        """The ``Authorization`` header value for a usable token."""
        return self.token().authorization()

    def invalidate(self, token: Token | str) -> None:
        """The API refused *token* (a 401): the next call fetches a new one,
        unless another caller already did. Never blocks for long."""
        self._check_fork()
        with self._lock:
            self._drop(token)

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        return None
