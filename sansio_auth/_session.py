"""The token lifecycle: what the caller should do next.

Rule 1: everything that decides when to fetch, refresh, retry, wait or give
up lives in this module. Adapters only carry out the steps.

Theory of operation. A :class:`TokenSession` is in one of four states:

* ``IDLE``: nothing in flight and nothing to wait out;
* ``FETCHING``: exactly one request is in flight (single flight);
* ``BACKOFF``: the last attempt failed in a way that may pass; the next one
  waits until a retry time (exponential backoff with full jitter,
  ``Retry-After`` honoured, RFC 9110 §10.2.3);
* ``FAILED``: attempts ran out or the failure will not pass (bad
  credentials); every caller gets the same failure until the cooldown ends.

The inputs are the events of :class:`SessionEvent`, and :data:`TRANSITIONS`
is the one table of which event moves which state where. Whether the current
token may be handed out is a question of time, not of state: a token is
usable until ``D = expires_at - min(leeway, L / 4)`` (``L`` its lifetime),
and from ``P = D - refresh_ahead * L`` the first caller is sent to refresh
while the others keep using it. A failed refresh never takes a still-usable
token away.

Time. Callers pass ``now`` (UNIX seconds) and may read it from a wall clock
that jumps. The session keeps its own clock, which moves forward by the
difference between successive ``now`` values and ignores a step backwards:
so a wall clock set back neither revives an expired token nor stalls a
backoff, and one set forward only makes tokens look older (an early
refresh). Every ``until`` it returns is in the caller's clock.

Refresh tokens (RFC 6749 §6, and §10.4 on rotation). A refresh answer without
a ``refresh_token`` keeps the old one; one with a new ``refresh_token``
replaces it. A refresh token is never sent twice unless its previous refresh
succeeded: if a refresh fails, is cancelled or is lost, the server may have
rotated the token without our hearing of it, and re-sending the old one
could trip its reuse detection and revoke the whole grant. So the refresh
token is dropped and the next attempt acquires anew with the flow's own
credentials. ``invalid_grant`` on a refresh does that at once, without
counting as a failure.

Signed requests. A flow whose client signs an assertion (``needs_stamp``)
and a session with a DPoP key need the time and a fresh ``jti`` per request:
the time is the ``now`` of the call that sends, and the ``jti`` comes from
the function given as ``jti=`` (the adapters pass one drawing 128 random
bits). DPoP (RFC 9449): each token request carries a proof; the server's
``DPoP-Nonce`` is kept for the next proofs, and an answer ``use_dpop_nonce``
with a new nonce is not a failure: :meth:`TokenSession.receive` returns the
same request again, with a proof carrying the nonce, to be sent within the
same fetch (once per fetch: a second one is the server's failure). The
refresh token is kept for that resend, since the server refused the request
before it looked at the grant (RFC 9449 §8).
"""

from __future__ import annotations

import enum
import math
from collections.abc import Callable
from types import MappingProxyType
from typing import TYPE_CHECKING, Final, final

import attrs

from ._errors import (
    HttpError,
    MalformedResponse,
    OAuthError,
    TokenError,
    TransportError,
)
from ._flows import Flow
from ._http import HttpRequest, HttpResponse
from ._parse import parse_token_response
from ._token import Token

if TYPE_CHECKING:
    from ._dpop import DPoPKey

__all__ = [
    "TRANSITIONS",
    "AwaitInFlight",
    "Backoff",
    "Failed",
    "RetryPolicy",
    "SendRequest",
    "SessionEvent",
    "SessionState",
    "SessionStats",
    "Step",
    "TokenSession",
    "UseToken",
]

_INF: Final = math.inf
# A wait counts as over this close to its end: a caller that sleeps until an
# `until` computed in floating point may wake a rounding error short of it,
# and must not be told to wait again.
_SLACK: Final = 1e-6


class SessionState(enum.Enum):
    """Where a :class:`TokenSession` is; the token's freshness is apart."""

    IDLE = "idle"
    """Nothing in flight, nothing to wait out."""
    FETCHING = "fetching"
    """One request is in flight."""
    BACKOFF = "backoff"
    """A retryable failure; the next attempt waits for its retry time."""
    FAILED = "failed"
    """Gave up; callers get the same failure until the cooldown ends."""


class SessionEvent(enum.Enum):
    """The inputs of the state machine."""

    SEND = "send"
    """A caller is told to send a request (the first, a due retry, or after the
    cooldown)."""
    TOKEN = "token"
    """The request in flight brought a token."""
    RETRYABLE_FAILURE = "retryable failure"
    """It failed in a way that may pass, with attempts left."""
    FATAL_FAILURE = "fatal failure"
    """It failed for good, or the attempts ran out."""
    REFRESH_REJECTED = "refresh rejected"
    """A refresh got ``invalid_grant``: acquire anew at once."""
    ABANDONED = "abandoned"
    """The caller sending it was cancelled; another may send at once."""
    INVALIDATE = "invalidate"
    """The current access token was refused by the API (a 401)."""
    DPOP_NONCE = "dpop nonce"
    """The server asked for a DPoP nonce: the same fetch sends again."""


_S = SessionState
_E = SessionEvent

TRANSITIONS: Final = MappingProxyType(
    {
        (_S.IDLE, _E.SEND): _S.FETCHING,
        (_S.IDLE, _E.INVALIDATE): _S.IDLE,
        (_S.FETCHING, _E.TOKEN): _S.IDLE,
        (_S.FETCHING, _E.RETRYABLE_FAILURE): _S.BACKOFF,
        (_S.FETCHING, _E.FATAL_FAILURE): _S.FAILED,
        (_S.FETCHING, _E.REFRESH_REJECTED): _S.IDLE,
        (_S.FETCHING, _E.ABANDONED): _S.IDLE,
        (_S.FETCHING, _E.INVALIDATE): _S.FETCHING,
        (_S.FETCHING, _E.DPOP_NONCE): _S.FETCHING,
        (_S.BACKOFF, _E.SEND): _S.FETCHING,
        (_S.BACKOFF, _E.INVALIDATE): _S.BACKOFF,
        (_S.FAILED, _E.SEND): _S.FETCHING,
        (_S.FAILED, _E.INVALIDATE): _S.FAILED,
    }
)
"""Every legal (state, event) pair and the state it leads to.

A pair that is not here cannot happen: reports for a request that is not in
flight are ignored before they reach the table, and ``SEND`` from
``BACKOFF`` or ``FAILED`` is guarded by time.
"""


# -- the steps --------------------------------------------------------------


@final
@attrs.frozen(kw_only=True)
class UseToken:
    """Use this token."""

    token: Token
    """The current token, usable at the ``now`` it was given for."""


@final
@attrs.frozen(kw_only=True)
class SendRequest:
    """Send this request, then report with ``receive`` or ``receive_failure``.

    Pass the step itself back (``step=``) so that a late report for a request
    the session already gave up on is recognised and ignored.
    """

    request: HttpRequest
    """What to send."""
    refresh: bool
    """Whether it is a refresh (RFC 6749 §6) rather than an acquisition."""
    fetch_id: int
    """Which fetch this is, for matching the report to it."""


@final
@attrs.frozen(kw_only=True)
class AwaitInFlight:
    """Another caller is fetching and there is no usable token: wait for it.

    Wake up when it reports (any ``receive``, ``receive_failure`` or
    ``abandon``), or at ``until`` at the latest, then ask again: by then the
    fetch is treated as lost.
    """

    until: float = _INF
    """The latest time to ask again, in the caller's clock."""


@final
@attrs.frozen(kw_only=True)
class Backoff:
    """Wait until ``until``, then ask again."""

    until: float
    """When to ask again, in the caller's clock."""
    error: TokenError
    """The failure being waited out."""


@final
@attrs.frozen(kw_only=True)
class Failed:
    """Give up: raise ``error``."""

    error: TokenError
    """Why; the same error until the cooldown ends."""


Step = UseToken | SendRequest | AwaitInFlight | Backoff | Failed
"""What :meth:`TokenSession.next_step` returns."""


# -- the policy values ------------------------------------------------------


def _check_seconds(name: str, value: object, *, positive: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"{name} must be a number of seconds")
    if not (0 < value < _INF if positive else 0 <= value < _INF):
        kind = "> 0" if positive else ">= 0"
        raise ValueError(f"{name} must be a finite number {kind}, got {value!r}")
    return float(value)


def _non_negative(
    instance: object, attribute: attrs.Attribute[float], value: object
) -> None:
    _check_seconds(attribute.name, value)


@final
@attrs.frozen(kw_only=True)
class RetryPolicy:
    """How failures are retried and how long a final failure is remembered.

    Defaults, and why:

    * ``max_attempts=4``: the first attempt and three retries ride out a
      gateway restart or a brief overload (about 0.5 + 1 + 2 s of backoff)
      without making a caller wait for long.
    * ``base_delay=0.5``: long enough to take a hot retry off an overloaded
      server, short enough not to be noticed.
    * ``max_delay=30.0``: the cap on any one wait. A server whose
      ``Retry-After`` asks for more gets a ``Failed`` at once instead of a
      caller blocked for minutes, and that ``Failed`` lasts until its
      ``Retry-After`` has passed (or the cooldown, if that is longer):
      nothing is sent before the server said.
    * ``cooldown=30.0``: after a final failure callers get the same error for
      30 s without a request, so a fleet with a wrong secret sends one
      request per instance every 30 s and cannot get the account locked.
    """

    max_attempts: int = attrs.field(default=4)
    """Attempts in all, the first one included; at least 1."""
    base_delay: float = attrs.field(default=0.5, validator=_non_negative)
    """The backoff before the first retry, doubled for each further one."""
    max_delay: float = attrs.field(default=30.0, validator=_non_negative)
    """The most any one backoff lasts; a longer ``Retry-After`` fails at once."""
    cooldown: float = attrs.field(default=30.0, validator=_non_negative)
    """How long a ``Failed`` is repeated before a new attempt (at least the
    failure's ``Retry-After``)."""

    @max_attempts.validator
    def _check_attempts(self, attribute: attrs.Attribute[int], value: object) -> None:
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError("max_attempts must be an integer >= 1")
        if value < 1:
            raise ValueError(f"max_attempts must be an integer >= 1, got {value}")

    def delay(
        self,
        attempt: int,
        retry_after: float | None,
        jitter: Callable[[], float] | None,
    ) -> float:
        """The backoff after failed attempt number *attempt* (1-based).

        Full jitter (a uniform draw from zero to the exponential cap) when a
        *jitter* source is given; the cap itself without one. ``Retry-After``
        raises the delay to what the server asked, up to ``max_delay`` (the
        session fails at once on a longer one rather than ask for this).
        """
        cap = min(self.max_delay, self.base_delay * 2.0 ** min(attempt - 1, 64))
        delay = cap if jitter is None else min(cap, max(0.0, cap * jitter()))
        if retry_after is not None:
            delay = max(delay, min(retry_after, self.max_delay))
        return delay


# One for every session that takes the defaults: a frozen value, shared.
_DEFAULT_RETRY = RetryPolicy()


@final
@attrs.frozen(kw_only=True)
class SessionStats:
    """What a session has done, for observability."""

    requests_sent: int
    """Token requests sent (acquisitions and refreshes)."""
    refreshes: int
    """Of those, refresh requests."""
    failures: int
    """Failed requests (error answers, transport failures, lost requests)."""
    abandoned: int
    """Requests whose sender was cancelled before it could report."""
    last_error: TokenError | None
    """The most recent failure, if any."""
    adopted: int = 0
    """Fetches settled with a token another process shared through a store
    (:meth:`TokenSession.adopt`): no request was sent for them, and they are
    not counted in ``requests_sent``."""
    refresh_rejected: int = 0
    """Refreshes refused with ``invalid_grant`` (not counted in ``failures``):
    the refresh token had expired or been revoked, or had been used already,
    which may mean that a stolen copy was replayed. The adapters log each at
    WARNING."""
    dpop_nonces: int = 0
    """Token requests sent again at once because the server asked for a DPoP
    nonce (``use_dpop_nonce``); counted in ``requests_sent``, not in
    ``failures``."""


# -- the session ------------------------------------------------------------


class TokenSession:
    """The token lifecycle state machine for one flow.

    Call :meth:`next_step` with the current time and do what it says; report
    what a :class:`SendRequest` brought with :meth:`receive` or
    :meth:`receive_failure`, or :meth:`abandon` it if the sender is
    cancelled. Not thread-safe by itself: adapters serialise calls (the hot
    path, a usable token, allocates nothing and takes microseconds).

    Args:
      flow: how to get a token (any :class:`~sansio_auth.Flow`).
      leeway: seconds before expiry from which a token is not handed out,
        bounded by a quarter of its lifetime.
      refresh_ahead: the fraction of the lifetime before that point from
        which the first caller is sent to refresh (0 turns it off; at most
        0.5).
      retry: the :class:`RetryPolicy`.
      default_lifetime: the lifetime to assume for a token whose expiry is
        unknown; None to use such a token until it is invalidated.
      jitter: a function returning a float in [0, 1) (``random.random``) for
        full-jitter backoff; None for deterministic delays.
      fetch_timeout: seconds after which a request that has not been reported
        is treated as lost (a failure), so that another caller may fetch;
        give it the transport's timeout plus a margin.
      dpop_key: a :class:`~sansio_auth.DPoPKey`: every token request then
        carries a DPoP proof (RFC 9449), and the tokens are bound to the key.
      jti: a function returning a value never returned before (the adapters
        pass 128 random bits, base64url), for the ``jti`` of each JWT the
        session has signed: needed by a flow whose ``needs_stamp`` is true
        and with *dpop_key*.

    Raises:
      TypeError, ValueError: naming the argument that is out of range.
    """

    __slots__ = (
        "_abandoned",
        "_adopted",
        "_attempts",
        "_clock",
        "_deadline",
        "_dpop",
        "_dpop_nonce",
        "_dpop_nonces",
        "_driver",
        "_error",
        "_failed",
        "_failures",
        "_fetch_id",
        "_in_flight",
        "_jitter",
        "_jti",
        "_last_error",
        "_last_event",
        "_last_now",
        "_nonce_resent",
        "_refresh_at",
        "_refresh_rejected",
        "_refresh_token",
        "_refreshes",
        "_requests",
        "_retry_at",
        "_sent_at",
        "_signs",
        "_state",
        "_token",
        "_use",
        "default_lifetime",
        "fetch_timeout",
        "flow",
        "leeway",
        "refresh_ahead",
        "retry",
    )

    def __init__(
        self,
        flow: Flow,
        *,
        leeway: float = 30.0,
        refresh_ahead: float = 0.1,
        retry: RetryPolicy | None = None,
        default_lifetime: float | None = None,
        jitter: Callable[[], float] | None = None,
        fetch_timeout: float = 60.0,
        dpop_key: DPoPKey | None = None,
        jti: Callable[[], str] | None = None,
    ) -> None:
        if not isinstance(flow, Flow):
            raise TypeError(
                "flow must be a Flow (token_request, refresh_request, parse)"
            )
        self.flow: Final = flow
        self.leeway: Final = _check_seconds("leeway", leeway)
        ahead = _check_seconds("refresh_ahead", refresh_ahead)
        if ahead > 0.5:
            # With the leeway (up to L/4) on top, more would put the refresh
            # point at the token's arrival: a refresh on every call.
            raise ValueError(
                f"refresh_ahead must be a fraction in [0, 0.5], got {ahead!r}"
            )
        self.refresh_ahead: Final = ahead
        if retry is not None and not isinstance(retry, RetryPolicy):
            raise TypeError("retry must be a RetryPolicy")
        self.retry: Final = _DEFAULT_RETRY if retry is None else retry
        self.default_lifetime: Final = (
            None
            if default_lifetime is None
            else _check_seconds("default_lifetime", default_lifetime, positive=True)
        )
        if jitter is not None and not callable(jitter):
            raise TypeError("jitter must be a function returning a float in [0, 1)")
        self._jitter = jitter
        self.fetch_timeout: Final = _check_seconds(
            "fetch_timeout", fetch_timeout, positive=True
        )
        if dpop_key is not None:
            from ._dpop import DPoPKey

            if not isinstance(dpop_key, DPoPKey):
                raise TypeError("dpop_key must be a DPoPKey")
        self._dpop = dpop_key
        self._signs = bool(getattr(flow, "needs_stamp", False))
        if jti is not None and not callable(jti):
            raise TypeError("jti must be a function returning a fresh unique string")
        if jti is None and (self._signs or dpop_key is not None):
            why = "dpop_key" if dpop_key is not None else f"{type(flow).__name__}"
            raise ValueError(
                f"{why} signs each request: give jti= a function returning a "
                "fresh unique string (the adapters pass one)"
            )
        self._jti = jti
        self._dpop_nonce: str | None = None
        self._nonce_resent = False
        self._dpop_nonces = 0

        self._state = SessionState.IDLE
        self._clock = 0.0  # the session's own clock: forward steps of `now` only
        self._last_now: float | None = None
        self._token: Token | None = None
        self._use: UseToken | None = None  # allocated once per token
        self._deadline = -_INF  # session time from which the token is not handed out
        self._refresh_at = -_INF  # session time from which the first caller refreshes
        self._refresh_token: str | None = None
        self._in_flight: SendRequest | None = None
        self._sent_at = 0.0
        self._fetch_id = 0
        self._attempts = 0
        self._retry_at = 0.0
        self._error: TokenError | None = None  # the failure being waited out
        self._failed: Failed | None = None  # the same step for every caller
        self._requests = 0
        self._refreshes = 0
        self._failures = 0
        self._abandoned = 0
        self._last_error: TokenError | None = None
        self._refresh_rejected = 0
        self._adopted = 0
        self._last_event: SessionEvent | None = None
        self._driver: str | None = None

    # -- observability ---------------------------------------------------

    @property
    def state(self) -> SessionState:
        """The current state."""
        return self._state

    @property
    def token(self) -> Token | None:
        """The current token, whatever its freshness; None if there is none."""
        return self._token

    @property
    def last_event(self) -> SessionEvent | None:
        """The event the state machine took last (None before the first):
        after a report, what it made of it; ``REFRESH_REJECTED`` is the one
        an adapter warns about (see :attr:`SessionStats.refresh_rejected`)."""
        return self._last_event

    @property
    def in_flight(self) -> SendRequest | None:
        """The request in flight, if any."""
        return self._in_flight

    @property
    def stats(self) -> SessionStats:
        """A snapshot of what the session has done."""
        return SessionStats(
            requests_sent=self._requests,
            refreshes=self._refreshes,
            failures=self._failures,
            abandoned=self._abandoned,
            last_error=self._last_error,
            refresh_rejected=self._refresh_rejected,
            adopted=self._adopted,
            dpop_nonces=self._dpop_nonces,
        )

    @property
    def dpop_key(self) -> DPoPKey | None:
        """The key that proves the session's requests, if any: its tokens of
        type ``DPoP`` are sent to an API with a proof by the same key."""
        return self._dpop

    @property
    def dpop_nonce(self) -> str | None:
        """The token endpoint's last DPoP nonce, if it sent one."""
        return self._dpop_nonce

    def __repr__(self) -> str:
        return (
            f"<TokenSession {self._state.value} flow={type(self.flow).__name__} "
            f"token={'yes' if self._token else 'no'} "
            f"refresh_token={'yes' if self._refresh_token else 'no'}>"
        )

    def fresh_until(self, now: float) -> float:
        """Until when the current token needs no decision, in the caller's clock.

        Before its refresh point, :meth:`next_step` hands the current token
        out with nothing to decide; adapters cache it until this time and skip
        the session (and its lock) on the hot path. Read-only: it does not
        move the session clock. Use it right after :meth:`next_step` returned
        :class:`UseToken`, or :meth:`receive` returned a token, for the same
        *now*, and only while *now* has not gone backwards since (a cache that
        sees the clock go back must ask the session again).

        Returns:
          A time in the caller's clock; ``-inf`` without a token.
        """
        if self._use is None:
            return -_INF
        return now + (self._refresh_at - self._clock)

    def claim(self, driver: str) -> None:
        """Mark the session as driven by one driver (an adapter's client).

        A driver wakes its own waiters when its fetch reports and caches the
        session's token on its hot path; a second driver of the same session
        would neither be woken by the first one's fetch nor see its
        decisions in time. So a session is driven by one driver for its
        whole life: share that driver instead (clients are safe to share
        between threads or tasks).

        Args:
          driver: what claims it, for the error message (``"a urllib
            TokenClient"``).

        Raises:
          ValueError: if the session is already claimed.
        """
        if self._driver is not None:
            raise ValueError(
                f"session is already driven by {self._driver}: share that client "
                "(it is safe to share) or give each client its own TokenSession"
            )
        self._driver = driver

    # -- inputs -----------------------------------------------------------

    def next_step(self, now: float) -> Step:
        """What the caller should do at *now* (UNIX seconds).

        Returns:
          :class:`UseToken`, :class:`SendRequest`, :class:`AwaitInFlight`,
          :class:`Backoff` or :class:`Failed`.
        """
        t = self._tick(now)
        use = self._use
        if use is not None and t < self._refresh_at:
            return use  # the hot path: a token well before its refresh point
        if t >= self._deadline:
            use = None  # at or past D: never handed out
        state = self._state
        if state is SessionState.FETCHING:
            if t + _SLACK < self._sent_at + self.fetch_timeout:
                if use is not None:
                    return use
                return AwaitInFlight(
                    until=now + (self._sent_at + self.fetch_timeout - t)
                )
            lost = TransportError(
                reason=(
                    "the token request got no report within "
                    f"{self.fetch_timeout:g} s and is treated as lost"
                ),
                retryable=True,
            )
            # Lost at its deadline, however late a caller noticed: the
            # backoff that follows counts from there.
            self._settle(lost, self._sent_at + self.fetch_timeout)
            state = self._state
            if use is not None:
                use = self._use  # a lost refresh dropped the refresh token
        if state is not SessionState.IDLE and t + _SLACK < self._retry_at:
            # BACKOFF or FAILED, with time left to wait out; a still-usable
            # token is not taken away by a failed proactive refresh.
            if use is not None:
                return use
            if self._failed is not None:
                return self._failed
            assert self._error is not None  # set with BACKOFF
            return Backoff(until=now + (self._retry_at - t), error=self._error)
        return self._send(t)

    def receive(
        self, response: HttpResponse, *, now: float, step: SendRequest | None = None
    ) -> Token | TokenError | SendRequest | None:
        """Report the response to the request in flight.

        Args:
          response: what the server answered.
          now: when it arrived (UNIX seconds).
          step: the :class:`SendRequest` it answers; a report for a request
            that is no longer in flight is ignored. Without it, the report
            applies to whatever is in flight.

        Returns:
          What the flow parsed from it (a token as the session keeps it:
          after a refresh answer without a ``refresh_token``, with the old
          one), or None if the report was ignored. With a DPoP key, the
          server's first ``use_dpop_nonce`` of a fetch gives a
          :class:`SendRequest` instead: send it and report it in turn, as part
          of the same fetch.

        Raises:
          Exception: what the flow or the ``jti`` function raised while
            building that resend; the fetch has then ended on the server's
            ``use_dpop_nonce`` error, as a failure.
        """
        t = self._tick(now)
        if not self._is_current(step):
            return None
        fresh_nonce = False
        if self._dpop is not None:
            from ._dpop import check_nonce

            nonce = check_nonce(response.header("dpop-nonce"))
            if nonce is not None:
                fresh_nonce = nonce != self._dpop_nonce
                self._dpop_nonce = nonce
        result = self.flow.parse(response, now=now)
        if (
            fresh_nonce
            and not self._nonce_resent
            and isinstance(result, OAuthError)
            and result.error == "use_dpop_nonce"
        ):
            try:
                return self._resend(t)
            except Exception:
                # The flow or the jti function failed to build the resend:
                # the fetch ends on the server's answer, as it would have
                # without one, so that nothing stays in flight for nobody.
                self._settle(self._redacted(result, response, now), t)
                raise
        if isinstance(result, Token) and self._lifetime_end(result, now, t) <= t:
            # Handing it out is impossible and fetching again would storm
            # the server; most likely our clock or the server's is off.
            result = MalformedResponse(
                reason="the token expired before it arrived (is a clock off?)",
                status=response.status,
                content_type=response.header("content-type"),
                snippet="",
            )
        if isinstance(result, Token):
            result = self._checked(result, response)
        if isinstance(result, TokenError):
            result = self._redacted(result, response, now)
        self._settle(result, t)
        # A token as the session keeps it: a refresh answer without a
        # refresh_token carries the old one.
        return self._token if isinstance(result, Token) else result

    def receive_failure(
        self, error: TokenError, *, now: float, step: SendRequest | None = None
    ) -> None:
        """Report that the request in flight failed without a response.

        Args:
          error: typically a :class:`~sansio_auth.TransportError`.
          now: when it failed (UNIX seconds).
          step: the :class:`SendRequest` that failed (see :meth:`receive`).
        """
        if not isinstance(error, TokenError):
            raise TypeError("error must be a TokenError")
        t = self._tick(now)
        if self._is_current(step):
            self._settle(self._redacted(error), t)

    def abandon(self, step: SendRequest) -> None:
        """Report that the sender of *step* was cancelled before it reported.

        Adapters call this in a ``finally`` around every send; it does nothing
        if the step was already reported. Another caller may fetch at once; a
        refresh token sent in an abandoned refresh is dropped (see the module
        notes on rotation).
        """
        if self._in_flight is None or step is not self._in_flight:
            return
        self._end_flight()
        self._abandoned += 1
        self._apply(SessionEvent.ABANDONED)

    def invalidate(self, token: Token | str) -> bool:
        """The API refused *token* (a 401): drop it if it is still current.

        Many callers refused with the same old token cause one new fetch, not
        one each. The refresh token is kept.

        Args:
          token: the :class:`~sansio_auth.Token`, or its access token string.

        Returns:
          Whether the current token was dropped.
        """
        access_token = token.access_token if isinstance(token, Token) else token
        if self._token is None or access_token != self._token.access_token:
            return False
        self._token = self._use = None
        self._deadline = self._refresh_at = -_INF
        self._apply(SessionEvent.INVALIDATE)
        return True

    # -- a shared store's inputs (see sansio_auth.shared_fetch) ------------

    def times(self, token: Token, now: float) -> tuple[float, float]:
        """*token*'s refresh point and deadline ``(P, D)`` in the caller's clock.

        Read-only, and the same rule the session applies to its own tokens:
        ``D = expires_at - min(leeway, L / 4)``, ``P = D - refresh_ahead * L``,
        both infinite for a token that does not expire. The fleet protocol
        judges a token read from a store with it.
        """
        expires_at = token.expires_at
        if expires_at is None and self.default_lifetime is not None:
            expires_at = token.received_at + self.default_lifetime
        if expires_at is None:
            return _INF, _INF
        lifetime = max(0.0, expires_at - token.received_at)
        deadline = expires_at - min(self.leeway, lifetime / 4)
        return deadline - self.refresh_ahead * lifetime, deadline

    def adopt(
        self,
        token: Token,
        *,
        now: float,
        step: SendRequest,
        recheck_at: float | None = None,
    ) -> Token | None:
        """Settle the fetch in flight with *token*, from a shared store.

        Another process fetched it (or this session's own token is kept
        while another process refreshes): no request was sent, so the fetch
        is not counted in ``requests_sent``. The token is handed out until
        its deadline ``D`` as any other, never after.

        Args:
          token: the token, its times in the caller's clock.
          now: the current time (UNIX seconds).
          step: the :class:`SendRequest` it settles; a stale step is ignored.
          recheck_at: no refresh is asked for before this time (while another
            process is refreshing), though never past ``D``.

        Returns:
          The token now current, or None if the step was not in flight.
        """
        if not isinstance(token, Token):
            raise TypeError("token must be a Token")
        t = self._tick(now)
        if not self._is_current(step):
            return None
        self._in_flight = None
        self._requests -= 1
        self._refreshes -= step.refresh
        self._adopted += 1
        self._keep(token)
        self._refresh_token = token.refresh_token
        refresh_at, deadline = self.times(token, now)
        if recheck_at is not None:
            refresh_at = min(deadline, max(refresh_at, recheck_at))
        # Into session time: the caller's clock may have stepped back.
        self._deadline = t + (deadline - now)
        self._refresh_at = t + (refresh_at - now)
        self._attempts = 0
        self._error = self._failed = None
        self._apply(SessionEvent.TOKEN)
        return token

    def reissue(
        self, step: SendRequest, *, refresh_token: str | None, now: float
    ) -> SendRequest | None:
        """Replace the request in flight with a refresh with *refresh_token*
        (read from a shared store under its lease), or with an acquisition.

        With a store, the refresh token to send is the store's, not this
        session's: another process may have used this session's copy. The
        new request's lost-request deadline counts from *now*.

        Returns:
          The step to send and report, or None if *step* is not in flight.
        """
        t = self._tick(now)
        if not self._is_current(step):
            return None
        request, refresh = self._build(refresh_token)
        self._refresh_token = refresh_token
        self._fetch_id += 1
        again = SendRequest(request=request, refresh=refresh, fetch_id=self._fetch_id)
        self._refreshes += again.refresh - step.refresh
        self._in_flight = again
        self._sent_at = t
        return again

    def extend(self, step: SendRequest, *, now: float) -> bool:
        """The fetch in flight is still alive (waiting for another process's
        lease): its lost-request deadline counts from *now*.

        Returns:
          Whether *step* was in flight.
        """
        t = self._tick(now)
        if not self._is_current(step):
            return False
        self._sent_at = t
        return True

    def share_failure(
        self, error: TokenError, *, now: float, step: SendRequest, wait: float = 0.0
    ) -> None:
        """Settle the fetch in flight with the fleet's failure, from a
        shared store: another process was refused, and this one waits it out
        with the rest, sending nothing. It counts as a failure (backoff,
        attempts, cooldown) but not as a request sent.

        Args:
          error: the failure, as the store told it.
          now: the current time (UNIX seconds).
          step: the :class:`SendRequest` it settles; a stale step is ignored.
          wait: the least time before this session sends again: what is left
            of the fleet's wait.
        """
        if not isinstance(error, TokenError):
            raise TypeError("error must be a TokenError")
        wait = _check_seconds("wait", wait)
        t = self._tick(now)
        if not self._is_current(step):
            return
        self._requests -= 1
        self._refreshes -= step.refresh
        self._settle(self._redacted(error), t, wait=wait)

    def hold_off(self, now: float) -> float:
        """Seconds from *now* until the session would send again after the
        failure just reported (0 when it is not waiting one out): how long a
        shared store keeps the failure for the fleet. Read-only."""
        if self._state is SessionState.IDLE or self._state is SessionState.FETCHING:
            return 0.0
        # As _tick would place *now*, without moving the clock: a step back
        # counts as no time passed.
        t = (
            now
            if self._last_now is None
            else self._clock + max(0.0, now - self._last_now)
        )
        return max(0.0, self._retry_at - t)

    # -- the machinery ----------------------------------------------------

    def _tick(self, now: float) -> float:
        # The session clock moves by the forward steps of `now` only.
        if not -_INF < now < _INF:
            raise ValueError(
                f"now must be a finite number of UNIX seconds, got {now!r}"
            )
        last = self._last_now
        self._last_now = now
        if last is None:
            # Start at the caller's clock: until it steps back, the two are
            # equal, and every `until` handed out is exactly a session time.
            self._clock = now
        elif now > last:
            self._clock += now - last
        return self._clock

    def _apply(self, event: SessionEvent) -> None:
        # A pair the table lacks is a bug in this module: the KeyError names
        # the state and the event.
        self._state = TRANSITIONS[self._state, event]
        self._last_event = event

    def _is_current(self, step: SendRequest | None) -> bool:
        return self._in_flight is not None and (step is None or step is self._in_flight)

    def _redacted(
        self,
        error: TokenError,
        response: HttpResponse | None = None,
        now: float = 0.0,
    ) -> TokenError:
        # Whatever the flow masked, the error is masked here of every secret
        # of the request it answers, the refresh token sent included: only
        # the request knows them all, and every error a caller, the stats or
        # a log sees passes through here. With the response at hand, its
        # server texts are taken from a parse that knew every secret before
        # it cut them to a snippet's length.
        assert self._in_flight is not None
        # Imported here: errors only, not at start-up.
        from ._answers import redact, retold

        secrets = self._request_secrets()
        if response is not None:
            again = parse_token_response(response, now=now, secrets=secrets)
            told = retold(error, again, secrets)
            if told is not None:
                return told
        return redact(error, secrets)

    def _request_secrets(self) -> tuple[str, ...]:
        # What the request carried, and the flow's own secrets it need not
        # carry: client_secret_jwt signs with the secret and never sends it,
        # yet a server may echo it back.
        from ._secrets import request_secrets

        assert self._in_flight is not None
        secrets = request_secrets(self._in_flight.request)
        own = getattr(self.flow, "masking_secrets", None)
        if callable(own):
            # A flow of the user's may give any iterable: its strings count.
            extra = tuple(s for s in own() if isinstance(s, str) and s)
            secrets = (*secrets, *extra)
        return secrets

    def _checked(self, token: Token, response: HttpResponse) -> Token | TokenError:
        # A token whose type or scope holds a secret of the request is not
        # handed out: its repr (and the command line's output) would show it.
        assert self._in_flight is not None
        from ._answers import echoed

        refusal = echoed(token, self._request_secrets())
        if refusal is None:
            return token
        return attrs.evolve(
            refusal,
            status=response.status,
            content_type=response.header("content-type"),
        )

    def _send(self, t: float) -> SendRequest:
        # Built first: a flow or a jti function that raises leaves the
        # session as it was, nothing in flight.
        request, refresh = self._build(self._refresh_token)
        self._fetch_id += 1
        step = SendRequest(request=request, refresh=refresh, fetch_id=self._fetch_id)
        self._in_flight = step
        self._sent_at = t
        self._requests += 1
        self._refreshes += refresh
        self._nonce_resent = False
        self._apply(SessionEvent.SEND)
        return step

    def _resend(self, t: float) -> SendRequest:
        # The same fetch, sent again with the server's new DPoP nonce; the
        # refresh token too, which the server did not look at.
        request, refresh = self._build(self._refresh_token)
        self._fetch_id += 1
        again = SendRequest(request=request, refresh=refresh, fetch_id=self._fetch_id)
        self._in_flight = again
        self._sent_at = t
        self._requests += 1
        self._refreshes += refresh
        self._nonce_resent = True
        self._dpop_nonces += 1
        self._apply(SessionEvent.DPOP_NONCE)
        return again

    def _fresh_jti(self) -> str:
        assert self._jti is not None  # checked at construction
        value = self._jti()
        if not isinstance(value, str) or not value:
            raise ValueError("the jti function must return a non-empty string")
        return value

    def _build(self, refresh_token: str | None) -> tuple[HttpRequest, bool]:
        # The request of a fetch: a refresh when there is a refresh token and
        # the flow can refresh, else an acquisition; stamped and proved as
        # the flow and the DPoP key need, at the caller's own `now`.
        flow = self.flow
        now = self._last_now
        assert now is not None  # a tick came first
        stamp = None
        if self._signs:
            from ._stamp import Stamp

            stamp = Stamp(now=now, jti=self._fresh_jti())
        refresh = None
        if refresh_token is not None:
            refresh = (
                flow.refresh_request(refresh_token)
                if stamp is None
                else flow.refresh_request(refresh_token, stamp)  # type: ignore[call-arg]
            )
        request = refresh
        if request is None:
            request = (
                flow.token_request() if stamp is None else flow.token_request(stamp)  # type: ignore[call-arg]
            )
        if self._dpop is not None:
            proof = self._dpop.proof(
                request.method,
                request.url,
                now=now,
                jti=self._fresh_jti(),
                nonce=self._dpop_nonce,
            )
            request = attrs.evolve(request, headers=(*request.headers, ("DPoP", proof)))
        return request, refresh is not None

    def _end_flight(self) -> bool:
        # Returns whether it was a refresh; a refresh token whose refresh did
        # not succeed is never sent again (the server may have rotated it).
        step = self._in_flight
        assert step is not None  # callers check _is_current first
        self._in_flight = None
        if step.refresh:
            self._refresh_token = None
            if self._token is not None and self._token.refresh_token is not None:
                self._keep(attrs.evolve(self._token, refresh_token=None))
        return step.refresh

    def _lifetime_end(self, token: Token, now: float, t: float) -> float:
        # The token's expiry in session time.
        expires_at = token.expires_at
        if expires_at is None and self.default_lifetime is not None:
            expires_at = token.received_at + self.default_lifetime
        return _INF if expires_at is None else t + (expires_at - now)

    def _keep(self, token: Token) -> None:
        self._token = token
        self._use = UseToken(token=token)

    def _settle(self, result: Token | TokenError, t: float, wait: float = 0.0) -> None:
        if isinstance(result, Token):
            assert self._in_flight is not None
            was_refresh = self._in_flight.refresh
            self._in_flight = None
            if was_refresh and result.refresh_token is None:
                result = attrs.evolve(result, refresh_token=self._refresh_token)
            self._keep(result)
            self._refresh_token = result.refresh_token
            self._schedule(result, t)
            self._attempts = 0
            self._error = self._failed = None
            self._apply(SessionEvent.TOKEN)
            return
        was_refresh = self._end_flight()
        if (
            was_refresh
            and isinstance(result, OAuthError)
            and result.error == "invalid_grant"
        ):
            # Expired or revoked, or already used: by us on a request whose
            # answer was lost, or by a thief replaying it (RFC 9700 §4.14.2).
            # Not a failure for the caller: it acquires anew at once.
            self._refresh_rejected += 1
            self._apply(SessionEvent.REFRESH_REJECTED)
            return
        self._failures += 1
        self._last_error = result
        self._attempts += 1
        retry_after = (
            result.retry_after if isinstance(result, OAuthError | HttpError) else None
        )
        if wait > 0:
            retry_after = max(retry_after or 0.0, wait)
        # A server still asking for a DPoP nonce after the one resend of a
        # fetch (a nonce that rotated meanwhile, a cluster whose nodes each
        # keep their own) may well take the next fetch: backed off, not
        # failed for a cooldown.
        retryable = result.retryable or (
            isinstance(result, OAuthError) and result.error == "use_dpop_nonce"
        )
        if (
            retryable
            and self._attempts < self.retry.max_attempts
            and (retry_after is None or retry_after <= self.retry.max_delay)
        ):
            self._retry_at = t + self.retry.delay(
                self._attempts, retry_after, self._jitter
            )
            self._error = result
            self._failed = None
            self._apply(SessionEvent.RETRYABLE_FAILURE)
        else:
            # Also a server asking to wait longer than any one backoff may
            # last: callers get the failure at once rather than block, and
            # nothing is sent before the server's Retry-After.
            self._attempts = 0
            self._retry_at = t + max(self.retry.cooldown, retry_after or 0.0)
            self._error = result
            self._failed = Failed(error=result)
            self._apply(SessionEvent.FATAL_FAILURE)

    def _schedule(self, token: Token, t: float) -> None:
        end = self._lifetime_end(token, token.received_at, t)
        if end == _INF:
            self._deadline = self._refresh_at = _INF
            return
        lifetime = end - t  # expires_at - received_at; positive (receive checks)
        self._deadline = end - min(self.leeway, lifetime / 4)
        self._refresh_at = self._deadline - self.refresh_ahead * lifetime
