"""The async TokenClient loop, for trio and anyio alike.

The two differ only in their primitives (event, sleep, timeout scope) and in
``send``; each adapter module fills them in.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from contextlib import AbstractContextManager
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
    _move_on_after: Callable[[float], AbstractContextManager[Any]]

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
        cached = self._cached()
        if cached is not None:
            return cached
        while True:
            now = self._clock()
            step = self._session.next_step(now)
            log_step(step)
            if isinstance(step, UseToken):
                self._cache(step.token, now)
                return step.token
            if isinstance(step, SendRequest):
                await self._fetch(step)
            elif isinstance(step, AwaitInFlight):
                if self._event is None:
                    self._event = self._new_event()
                with self._move_on_after(max(0.0, step.until - now)):
                    await self._event.wait()
            elif isinstance(step, Backoff):
                await self._sleep(max(0.0, step.until - now))
            else:
                assert isinstance(step, Failed)
                raise failure(step.error)

    async def _fetch(self, step: SendRequest) -> None:
        result: object = None
        try:
            try:
                response = await self._send(
                    step.request,
                    timeout=self.timeout,
                    ssl_context=self.ssl_context,
                    max_response_bytes=self.max_response_bytes,
                )
            except TransportError as exc:
                self._session.receive_failure(exc, now=self._clock(), step=step)
                result = exc
            else:
                log_response(step.request.url, response.status)
                result = self._session.receive(response, now=self._clock(), step=step)
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
