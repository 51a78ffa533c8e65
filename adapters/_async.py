"""The async TokenClient loop, for trio and anyio alike.

The two differ only in their primitives (event, sleep) and in ``send``;
each adapter module fills them in.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from types import TracebackType
from typing import Any, Protocol, Self

from sansio_auth import (
    AwaitInFlight,
    Backoff,
    Failed,
    HttpResponse,
    SendRequest,
    Token,
    TransportError,
    UseToken,
)

from ._client import ClientBase, failure
from ._common import (
    log_response,
    log_result,
    log_step,
)


class Event(Protocol):
    def set(self) -> None: ...
    async def wait(self) -> Any: ...


class AsyncClientBase(ClientBase):
    """Runs the session's steps with async primitives given by a subclass."""

    __slots__ = ("_event",)

    # Filled in by each adapter.
    _send: Callable[..., Awaitable[HttpResponse]]
    _new_event: Callable[[], Event]
    _sleep: Callable[[float], Awaitable[None]]

    def _setup(self) -> None:
        # Created when first needed: anyio's Event wants a running loop, and
        # building a client must not.
        self._event: Event | None = None

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        return None

    async def token(self) -> Token:
        """A usable token, fetching one if needed.

        The hot path (a usable cached token) returns without a checkpoint:
        it does no I/O and takes no lock.

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
        self._check_fork()
        while True:
            now = self._clock()
            step = self._session.next_step(now)
            log_step(step)
            if isinstance(step, AwaitInFlight):
                # The fetch in flight is one of ours: the session drives no
                # other client (claim), and a fetch inherited through a fork
                # is given up before anyone waits for it. It sets the event
                # in a finally, and its exchange ends by the session's
                # deadline (see _fetch_timeout), so the waiters need no
                # timer each and a thousand of them wake for the cost of
                # one event. (If the session has meanwhile moved on to
                # another fetch, we ask again when ours reports.)
                event = self._event
                if event is None:
                    event = self._event = self._new_event()
                await event.wait()
            elif isinstance(step, UseToken):
                self._cache(step.token, now)
                return step.token
            elif isinstance(step, SendRequest):
                await self._fetch(step)
            elif isinstance(step, Backoff):
                await self._sleep(max(0.0, step.until - now))
            else:
                assert isinstance(step, Failed)
                raise failure(step.error)
            # Woken by a fetch that brought a token: the fetcher cached
            # it, so a thousand waiters return without asking the
            # session again.
            cached = self._cached()
            if cached is not None:
                return cached

    async def _fetch(self, step: SendRequest) -> None:
        result: object = None
        try:
            try:
                response = await self._send(
                    step.request,
                    timeout=self._fetch_timeout(),
                    ssl_context=self.ssl_context,
                    max_response_bytes=self.max_response_bytes,
                )
            except TransportError as exc:
                self._session.receive_failure(exc, now=self._clock(), step=step)
                result = exc
            else:
                log_response(step.request.url, response.status)
                now = self._clock()
                result = self._session.receive(response, now=now, step=step)
                if isinstance(result, Token):
                    self._cache(result, now)  # before the waiters wake
        finally:
            # Cancelled or crashed: say so, so that the others go on.
            self._session.abandon(step)
            event, self._event = self._event, None
            if event is not None:
                event.set()
            log_result(step.request.url, result)

    async def authorization(self) -> str:
        """The ``Authorization`` header value for a usable token."""
        return (await self.token()).authorization()

    def invalidate(self, token: Token | str) -> None:
        """The API refused *token* (a 401): the next call fetches a new one,
        unless another caller already did. Never blocks."""
        self._drop(token)


__all__ = ["AsyncClientBase"]
