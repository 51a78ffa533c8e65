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
    TokenError,
    TransportError,
    UseToken,
)

from ._client import LEAST_TIMEOUT as _LEAST_TIMEOUT
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
                result, rejected, _ = self._exchange(flight, None)
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
                    with self._lock:
                        again = self._session.reissue(
                            flight[0], refresh_token=op.refresh_token, now=started
                        )
                    if again is None:  # given up on meanwhile: send nothing
                        value = Sent(result=None, at=started)
                    else:
                        flight[0] = again
                        result, rejected, hold = self._exchange(flight, op.until)
                        value = Sent(
                            result=result,
                            at=self._clock(),
                            rejected=rejected,
                            hold=hold,
                        )
                else:
                    if isinstance(op, WaitForStore):
                        with self._lock:
                            self._session.extend(flight[0], now=started)
                    if isinstance(op, TakeLease):
                        # Held from the moment it is asked for: an interrupt
                        # during the call must still release it (the release
                        # only deletes a lease that is ours).
                        holding = True
                    value = link.call(op, owner)  # type: ignore[arg-type]
                    if isinstance(op, TakeLease):
                        holding = not isinstance(value, float | int)
                    elif isinstance(op, ReleaseLease):
                        holding = False
                op = fetch.advance(value, started=started)
            with self._lock:
                result = self._settle_outcome(flight[0], op)
        finally:
            if holding and link is not None:
                # Interrupted with the lease: let the fleet go on at once
                # rather than wait out its time to live.
                from sansio_auth import ReleaseLease

                link.call(ReleaseLease(), owner)
            with self._lock:
                self._session.abandon(flight[0])  # a no-op once reported
                event, self._event = self._event, None
            if event is not None:
                event.set()
            log_result(flight[0].request, result, rejected=rejected)

    def _exchange(
        self, flight: list[SendRequest], until: float | None
    ) -> tuple[Token | TokenError | None, bool, float]:
        """Send ``flight[0]`` and report it: (result, rejected, hold_off).
        The server's ask for a DPoP nonce is answered here, within the fetch:
        the session hands back the request to send again, which becomes
        ``flight[0]`` before it is sent, so that an interrupt abandons it."""
        while True:
            result, rejected, hold = self._exchange_once(flight[0], until)
            if not isinstance(result, SendRequest):
                return result, rejected, hold
            flight[0] = result

    def _exchange_once(
        self, step: SendRequest, until: float | None
    ) -> tuple[Token | TokenError | SendRequest | None, bool, float]:
        timeout = self._fetch_timeout()
        if until is not None:
            # The lease ends at *until*: the request must be over by then.
            timeout = max(min(timeout, until - self._clock()), _LEAST_TIMEOUT)
        try:
            response = self._send(
                step.request,
                timeout=timeout,
                ssl_context=self.ssl_context,
                max_response_bytes=self.max_response_bytes,
            )
        except TransportError as exc:
            with self._lock:
                now = self._clock()
                self._session.receive_failure(exc, now=now, step=step)
                return exc, False, self._session.hold_off(now)
        log_response(step.request, response.status)
        with self._lock:
            now = self._clock()
            result = self._session.receive(response, now=now, step=step)
            rejected = self._session.last_event is SessionEvent.REFRESH_REJECTED
            if isinstance(result, Token):
                self._cache(result, now)  # before the waiters wake
            return result, rejected, self._session.hold_off(now)

    def authorization(self) -> str:
        """The ``Authorization`` header value for a usable token."""
        return self.token().authorization()

    def auth_headers(self, method: str, url: str) -> dict[str, str]:
        """The headers that authorize one API request, with a usable token.

        For callers that send API requests themselves (the integrations do
        this for you). A bearer token gives ``Authorization`` alone; a
        DPoP-bound token (``token_type`` DPoP) gives ``Authorization: DPoP
        ...`` and a fresh ``DPoP`` proof for this request (RFC 9449 §7:
        ``htm``, ``htu``, ``ath``, and the resource server's last nonce from
        :meth:`learn_dpop_nonce`). Make new headers for every request,
        retries included: a proof is good for one request only.

        Args:
          method: the request's method (``GET``).
          url: the request's URL; the proof names it without query and
            fragment.

        Returns:
          The headers to add, by name.

        Raises:
          TokenError: no token could be had (see :meth:`token`).
        """
        return self._auth_headers(self.token(), method, url)

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
