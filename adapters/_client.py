"""The TokenClient loop shared by the adapters: run the session's steps.

Every decision is the session's. The clients only map its steps onto their
world's primitives (a lock and an event for threads, an event for tasks),
send, report, and cache the token until the session's refresh point so that
the hot path takes no lock and allocates nothing.

A client is its session's one driver (``TokenSession.claim``): its waiters
are woken by its own fetches only, and its hot cache follows only the
decisions it sees. Its hot cache still checks, by identity, that the token
is the session's current one, so that a call on the session itself
(``client.session.invalidate(token)``) is followed at once.
"""

from __future__ import annotations

import copy
import random
import ssl
import time
from collections.abc import Callable
from typing import ClassVar

from sansio_auth import Flow, Token, TokenSession

from ._common import (
    DEFAULT_MAX_RESPONSE_BYTES,
    DEFAULT_TIMEOUT,
    FETCH_MARGIN,
    check_send_args,
)

Clock = Callable[[], float]


class ClientBase:
    """What the sync and async clients share: the session and the hot cache."""

    __slots__ = (
        "_clock",
        "_hot",
        "_session",
        "max_response_bytes",
        "ssl_context",
        "timeout",
    )

    _driver: ClassVar[str]
    """What claims the session, for the error a second client gets."""

    def __init__(
        self,
        flow: Flow,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        ssl_context: ssl.SSLContext | None = None,
        max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
        session: TokenSession | None = None,
        clock: Clock = time.time,
    ) -> None:
        check_send_args(timeout, max_response_bytes)
        if session is None:
            session = TokenSession(
                flow, jitter=random.random, fetch_timeout=timeout + FETCH_MARGIN
            )
        elif session.flow is not flow:
            raise ValueError("session must be a TokenSession of the same flow")
        if not callable(clock):
            raise TypeError("clock must be a function returning UNIX seconds")
        # Last: a client refused for a bad argument leaves the session free.
        session.claim(self._driver)
        self.timeout = timeout
        self.ssl_context = ssl_context
        self.max_response_bytes = max_response_bytes
        self._session = session
        self._clock = clock
        # (token, cached at, fresh until), in the client's clock: valid while
        # the clock is between the two, so a clock set back asks the session,
        # and while the token is still the session's.
        self._hot: tuple[Token, float, float] | None = None
        self._setup()

    def _setup(self) -> None:
        """Make the world's own primitives (a lock, an event slot)."""

    @property
    def session(self) -> TokenSession:
        """The session deciding for this client."""
        return self._session

    def _cached(self) -> Token | None:
        hot = self._hot
        if (
            hot is not None
            and hot[1] <= self._clock() < hot[2]
            and hot[0] is self._session.token  # not dropped or replaced since
        ):
            return hot[0]
        return None

    def _cache(self, token: Token, now: float) -> None:
        # Right after the session handed out or received *token* at *now*:
        # fresh_until says how long it needs no decision (possibly not at all).
        self._hot = (token, now, self._session.fresh_until(now))

    def _fetch_timeout(self) -> float:
        """Seconds one token request may take: ``timeout``, or the session's
        lost-request deadline when that is shorter. A request the session
        would give up on is cut off rather than left running beside the next
        one, and the callers waiting for it can count on its report."""
        return min(self.timeout, self._session.fetch_timeout)

    def _drop(self, token: Token | str) -> None:
        # The hot cache sees it: its token is no longer the session's.
        self._session.invalidate(token)


def failure(error: BaseException) -> BaseException:
    """A copy of the session's error to raise: one per caller, so that the
    tracebacks of concurrent callers do not pile onto one object."""
    return copy.copy(error)


def wall_clock() -> float:
    """The default clock: UNIX seconds."""
    return time.time()
