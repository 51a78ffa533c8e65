"""The async TokenClient loop, for trio and anyio alike.

The two differ only in their primitives (event, sleep, worker thread, the
running loop's identity) and in ``send``; each adapter module fills them in.

One event loop at a time. A client's waiters park on an event of the loop
they run in, and its fetch wakes them with it: none of that works from
another loop (another thread, or asyncio in one and trio in another), where
they would wait forever. So the slow path binds the client to the loop using
it, counting the tasks on it, and a call from another loop while any is
there raises ``RuntimeError`` at once. Once they have all left, the next
loop may bind it (``asyncio.run()`` after ``asyncio.run()``), as may one
coming after a loop that closed with a call still on the slow path: that
call's fetch is given up. The hot path touches nothing bound to a loop and
works from any of them.
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable
from functools import partial
from types import TracebackType
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, Self

from sansio_auth import (
    AwaitInFlight,
    Backoff,
    Failed,
    HttpResponse,
    SendRequest,
    SessionEvent,
    Token,
    TokenError,
    TransportError,
    UseToken,
)

from . import _client
from ._client import LEAST_TIMEOUT, ClientBase, failure
from ._logs import log_response, log_result, log_step

if TYPE_CHECKING:
    from ._store_link import StoreLink
from ._tls import built_default_ssl_context, default_ssl_context


class Event(Protocol):
    def set(self) -> None: ...
    async def wait(self) -> Any: ...


class AsyncClientBase(ClientBase):
    """Runs the session's steps with async primitives given by a subclass."""

    __slots__ = ("_busy", "_event", "_loop")

    # Filled in by each adapter.
    _send: Callable[..., Awaitable[HttpResponse]]
    _new_event: Callable[[], Event]
    _sleep: Callable[[float], Awaitable[None]]
    _in_thread: Callable[[Callable[[], Any]], Awaitable[Any]]
    """Runs a blocking function in a worker thread, off the loop (the default
    context's build, a sync store's calls)."""
    _shielded: Callable[[], contextlib.AbstractContextManager[object]] = (
        contextlib.nullcontext
    )
    """A scope in which a cancelled task may still await (trio's and anyio's
    shielded cancel scopes): the release of a lease on the way out. asyncio
    needs none: a task cancelled once may await in its ``finally``."""
    _current_loop: Callable[[], object]
    """The running loop's identity: the same object for the whole run."""
    _loop_is_over: Callable[[object], bool]
    """Whether that loop has closed (its run ended) and will run no more."""
    _takes_async_store: ClassVar[bool] = True
    _own_tls: ClassVar[bool] = False
    """Whether ``_send`` brings its own TLS: it goes through a client that
    verifies as it was configured (a user's ``httpx.AsyncClient`` or
    ``aiohttp.ClientSession``), or builds what it needs off the loop itself.
    Then ``_fetch`` passes ``ssl_context`` as it was given (None by default)
    and builds no default context for an https URL: about 15 ms of a worker
    thread and a few MB, for a context nothing would use."""

    def _setup(self) -> None:
        # Created when first needed: anyio's Event wants a running loop, and
        # building a client must not.
        self._event: Event | None = None
        # The loop the slow path is bound to, and how many of its tasks are
        # on it (see the module notes).
        self._loop: object = None
        self._busy = 0

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
          RuntimeError: the client is in use by another event loop.
        """
        hot = self._hot  # _cached(), inlined: this is the hot path
        if (
            hot is not None
            and hot[1] <= self._clock() < hot[2]
            and hot[0] is self._session.token
        ):
            return hot[0]
        self._check_fork()
        loop = self._bind()
        forks = self._forks
        try:
            while True:
                now = self._clock()
                step = self._session.next_step(now)
                log_step(step)
                if isinstance(step, AwaitInFlight):
                    # The fetch in flight is one of ours, in this loop: the
                    # session drives no other client (claim), and a fetch
                    # inherited through a fork or from a loop that closed is
                    # given up before anyone waits for it. It sets the event
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
                    await self._fetch(step, loop, forks)
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
        finally:
            self._unbind(loop, forks)

    def _bind(self) -> object:
        """Bind the slow path to the running loop, or refuse at once."""
        loop = self._current_loop()
        # A lock, held for these few lines, because another loop's thread may
        # run the same lines at the same time: without it both could see the
        # client idle and both bind it. Never held across an await.
        with _client.PROCESS.lock:
            if self._busy and self._loop is not loop:
                if not self._loop_is_over(self._loop):
                    raise RuntimeError(
                        "this TokenClient is in use by another event loop; a "
                        "client serves one event loop at a time: give each "
                        "event loop (each thread) its own TokenClient"
                    )
                # Closed with calls still on the slow path: they will never
                # report, so their fetch is given up (a refresh token it
                # carried is dropped: it may have been rotated).
                in_flight = self._session.in_flight
                if in_flight is not None:
                    self._session.abandon(in_flight)
                self._event = None
                self._busy = 0
            self._loop = loop
            self._busy += 1
        return loop

    def _unbind(self, loop: object, forks: int) -> None:
        with _client.PROCESS.lock:
            if self._owns(loop, forks):
                self._busy -= 1

    def _owns(self, loop: object, forks: int) -> bool:
        # False for a call of a loop that another took over after it closed,
        # or inherited through a fork: it must leave the new owner's count
        # and event alone (it may even run in another thread, finalised by
        # the garbage collector).
        return self._loop is loop and self._forks == forks

    async def _fetch(self, step: SendRequest, loop: object, forks: int) -> None:
        # The step in flight: reissued by the fleet protocol, or sent again
        # for a DPoP nonce, it is the one to abandon if this fetch is cut.
        flight = [step]
        result: Token | TokenError | None = None
        rejected = False
        link = self._link
        owner = ""
        holding = False
        try:
            if link is None:
                result, rejected = await self._exchange(flight, None)
                return
            # The fleet's names, only for a client with a store: not a
            # cost at import for the others.
            from sansio_auth import (
                ReleaseLease,
                SendToken,
                Sent,
                TakeLease,
                WaitForStore,
            )

            from ._store_link import is_outcome

            owner = link.owner()
            fetch = link.protocol(self._session)
            op: object = fetch.start()
            while not is_outcome(op):
                started = self._clock()
                value: object
                if isinstance(op, SendToken):
                    again = self._session.reissue(
                        flight[0], refresh_token=op.refresh_token, now=started
                    )
                    if again is None:  # given up on meanwhile: send nothing
                        value = Sent(result=None, at=started)
                    else:
                        flight[0] = again
                        result, rejected = await self._exchange(flight, op.until)
                        now = self._clock()
                        value = Sent(
                            result=result,
                            at=now,
                            rejected=rejected,
                            hold=self._session.hold_off(now),
                        )
                else:
                    if isinstance(op, WaitForStore):
                        self._session.extend(flight[0], now=started)
                    if isinstance(op, TakeLease):
                        # Held from the moment it is asked for: a cancel
                        # during the call must still release it (the release
                        # only deletes a lease that is ours).
                        holding = True
                    value = await self._store_call(link, op, owner)
                    if isinstance(op, TakeLease):
                        holding = not isinstance(value, float | int)
                    elif isinstance(op, ReleaseLease):
                        holding = False
                op = fetch.advance(value, started=started)
            result = self._settle_outcome(flight[0], op)
        finally:
            if holding and link is not None:
                # Cancelled with the lease: let the fleet go on at once
                # rather than wait out its time to live.
                from sansio_auth import ReleaseLease

                with self._shielded():
                    await self._store_call(link, ReleaseLease(), owner)
            # Cancelled or crashed: say so, so that the others go on.
            self._session.abandon(flight[0])
            if self._owns(loop, forks):
                event, self._event = self._event, None
                if event is not None:
                    event.set()
            log_result(flight[0].request, result, rejected=rejected)

    async def _store_call(self, link: StoreLink, op: object, owner: str) -> object:
        if link.is_async:
            if link.library is not None:
                import sniffio

                link.check_library(sniffio.current_async_library())
            return await link.acall(op, owner)  # type: ignore[arg-type]
        # A sync store blocks (for its short timeout at most): off the loop.
        return await self._in_thread(partial(link.call, op, owner))  # type: ignore[arg-type]

    async def _exchange(
        self, flight: list[SendRequest], until: float | None
    ) -> tuple[Token | TokenError | None, bool]:
        """Send ``flight[0]`` and report it: (result, rejected). The server's
        ask for a DPoP nonce is answered here, within the fetch: the session
        hands back the request to send again, which becomes ``flight[0]``
        before it is sent, so that a cancel abandons it."""
        while True:
            result, rejected = await self._exchange_once(flight[0], until)
            if not isinstance(result, SendRequest):
                return result, rejected
            flight[0] = result

    async def _exchange_once(
        self, step: SendRequest, until: float | None
    ) -> tuple[Token | TokenError | SendRequest | None, bool]:
        timeout = self._fetch_timeout()
        if until is not None:
            # The lease ends at *until*: the request must be over by then.
            timeout = max(min(timeout, until - self._clock()), LEAST_TIMEOUT)
        context = self.ssl_context
        if (
            context is None
            and not self._own_tls
            and step.request.url[:6].lower() == "https:"
        ):
            # The shared default context, built off the loop the first
            # time: reading the trust store would stall it.
            context = built_default_ssl_context() or await self._in_thread(
                default_ssl_context
            )
        try:
            response = await self._send(
                step.request,
                timeout=timeout,
                ssl_context=context,
                max_response_bytes=self.max_response_bytes,
            )
        except TransportError as exc:
            self._session.receive_failure(exc, now=self._clock(), step=step)
            return exc, False
        log_response(step.request, response.status)
        now = self._clock()
        result = self._session.receive(response, now=now, step=step)
        rejected = self._session.last_event is SessionEvent.REFRESH_REJECTED
        if isinstance(result, Token):
            self._cache(result, now)  # before the waiters wake
        return result, rejected

    async def authorization(self) -> str:
        """The ``Authorization`` header value for a usable token."""
        return (await self.token()).authorization()

    async def auth_headers(self, method: str, url: str) -> dict[str, str]:
        """The headers that authorize one API request, with a usable token.

        For callers that send API requests themselves (the integrations do
        this for you). A bearer token gives ``Authorization`` alone; a
        DPoP-bound token (``token_type`` DPoP) gives ``Authorization: DPoP
        ...`` and a fresh ``DPoP`` proof for this request (RFC 9449 §7:
        ``htm``, ``htu``, ``ath``, and the resource server's last nonce from
        :meth:`learn_dpop_nonce`). Make new headers for every request,
        retries included: a proof is good for one request only. With a
        usable token cached, no checkpoint (as :meth:`token`).

        Args:
          method: the request's method (``GET``).
          url: the request's URL; the proof names it without query and
            fragment.

        Returns:
          The headers to add, by name.

        Raises:
          TokenError: no token could be had (see :meth:`token`).
          RuntimeError: the client is in use by another event loop.
        """
        return self._auth_headers(await self.token(), method, url)

    def invalidate(self, token: Token | str) -> None:
        """The API refused *token* (a 401): the next call fetches a new one,
        unless another caller already did. Never blocks."""
        self._drop(token)


def trio_run_is_over(token: object) -> bool:
    """Whether the trio run of *token* (a ``TrioToken``) has ended."""
    import trio

    assert isinstance(token, trio.lowlevel.TrioToken)
    try:
        # Thread-safe, and a no-op callback if the run is alive.
        token.run_sync_soon(_nothing)
    except trio.RunFinishedError:
        return True
    return False


def _nothing() -> None:
    pass


__all__ = ["AsyncClientBase", "trio_run_is_over"]
