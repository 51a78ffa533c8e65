"""A stateful property test of :class:`TokenSession` (hypothesis).

Up to eight callers share ONE session and interleave freely: they ask for a
token, send what they are told to send and report a token, an OAuth error, an
HTTP 503, a transport failure, or nothing at all (cancelled, or a request the
session has long given up on); a held token gets a 401; time passes in small
and large steps and the wall clock sometimes jumps back.

Beside the session runs a model of DESIGN.md's "The lifecycle: TokenSession"
(with the session clock of ``_session.py``'s notes: it moves by the forward
steps of ``now`` only). The model predicts every answer and every state, and
the properties of the issue are checked on their own, after every step:

* never more than one request in flight;
* no ``UseToken`` hands out a token expired at that ``now``, nor one within
  the effective leeway of its expiry on the session clock;
* a caller that waited on a request learns its outcome when it asks again;
* no caller waits forever: every ``until`` is finite and bounded, and asking
  at or after it gives another answer or a new request;
* requests sent are bounded by elapsed lifetimes plus retries, and the
  ``stats`` counters are consistent;
* a refresh token is never sent again after its refresh failed, was abandoned
  or was lost (nor after the server rotated it away);
* ``state`` is ``FETCHING`` exactly when ``in_flight`` is set.

About 10 s for 400 runs of up to 100 steps on two cores. A wait "counts as
over" a microsecond early (``_SLACK`` in ``_session.py``); the model does the
same. ``test_lost_proactive_refresh_replay`` replays a minimal failure that
hypothesis found, so that derandomized (CI) runs see it too.
"""

from __future__ import annotations

import json
import math
import random
from dataclasses import dataclass, field
from typing import Final, Literal
from urllib.parse import parse_qs

from hypothesis import HealthCheck, Phase, currently_in_test_context, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)

from sansio_auth import (
    AwaitInFlight,
    Backoff,
    ClientCredentials,
    Failed,
    Flow,
    HttpError,
    HttpResponse,
    MalformedResponse,
    OAuthError,
    PasswordGrant,
    RetryPolicy,
    SendRequest,
    SessionState,
    Step,
    Token,
    TokenError,
    TokenSession,
    TransportError,
    UseToken,
)

TOKEN_URL: Final = "https://auth.example/token"
CALLERS: Final = 8
INF: Final = math.inf
# Float slack for comparing two computations of the same instant.
EPS: Final = 1e-6
# _session.py: "a wait counts as over this close to its end", so that a caller
# waking at an `until` computed in floating point is not told to wait again.
SLACK: Final = 1e-6


# -- what the run is made of -------------------------------------------------


@dataclass(frozen=True)
class Config:
    """One session's configuration (drawn once per run)."""

    leeway: float
    refresh_ahead: float
    default_lifetime: float | None
    retry: RetryPolicy
    fetch_timeout: float
    jitter_seed: int | None
    password_flow: bool
    start: float


def _seconds(*common: float, low: float, high: float) -> st.SearchStrategy[float]:
    return st.sampled_from(common) | st.floats(low, high)


CONFIGS: Final = st.builds(
    Config,
    leeway=_seconds(0.0, 5.0, 30.0, 60.0, low=0.0, high=90.0),
    refresh_ahead=st.sampled_from([0.0, 0.1, 0.25, 0.5]) | st.floats(0.0, 0.5),
    default_lifetime=st.none() | _seconds(8.0, 60.0, 600.0, low=0.5, high=900.0),
    retry=st.builds(
        RetryPolicy,
        max_attempts=st.integers(1, 5),
        base_delay=_seconds(0.0, 0.5, 2.0, low=0.0, high=10.0),
        max_delay=_seconds(0.0, 1.0, 30.0, low=0.0, high=60.0),
        cooldown=_seconds(0.0, 5.0, 30.0, low=0.0, high=120.0),
    ),
    fetch_timeout=_seconds(1.0, 10.0, 60.0, low=0.01, high=120.0),
    jitter_seed=st.none() | st.integers(0, 2**32 - 1),
    password_flow=st.booleans(),
    # UNIX seconds, also just under a power of two, where the float grid of
    # the clock gets coarser.
    start=st.sampled_from(
        [0.0, 1000.5, 1_700_000_000.0, 1_700_000_000.123456, 2.0**30 - 3.3]
    )
    | st.floats(0.0, 2.0**31 - 1),
)

RefreshMode = Literal["none", "same", "new"]


@dataclass(frozen=True)
class TokenReply:
    """A 200 token answer."""

    expires_in: int | float | str | None
    refresh: RefreshMode
    token_type: str | None


TOKEN_REPLIES: Final = st.builds(
    TokenReply,
    expires_in=st.none()
    | st.integers(4, 120)
    | st.sampled_from([0, 1, 4, 5, 60, 3600])
    | st.floats(0.5, 300.0)
    | st.integers(4, 600).map(str),
    refresh=st.sampled_from(["none", "same", "new"]),
    token_type=st.sampled_from([None, "Bearer", "bearer"]),
)

ErrorKind = Literal[
    "temporarily_unavailable", "server_error", "invalid_client", "invalid_grant"
]
ERROR_KINDS: Final[tuple[ErrorKind, ...]] = (
    "temporarily_unavailable",  # retryable
    "server_error",  # retryable
    "invalid_client",  # not retryable
    "invalid_grant",  # on a refresh: drop the refresh token, acquire anew
)
OAUTH_STATUS: Final[dict[str, int]] = {
    "temporarily_unavailable": 503,
    "server_error": 500,
    "invalid_client": 401,
    "invalid_grant": 400,
}


@dataclass(frozen=True)
class ErrorReply:
    """An error answer: an RFC 6749 §5.2 body, or an HTML 503 (``error=None``)."""

    error: ErrorKind | None
    retry_after: int | None


ERROR_REPLIES: Final = st.builds(
    ErrorReply,
    error=st.none() | st.sampled_from(ERROR_KINDS),
    retry_after=st.none() | st.sampled_from([0, 1, 3, 10, 120]),
)

Failure = ErrorReply | Literal["transport", "transport, fatal", "abandon"]
FAILURES: Final[st.SearchStrategy[Failure]] = ERROR_REPLIES | st.sampled_from(
    ["transport", "transport, fatal", "abandon"]
)

PICK: Final = st.integers(0, CALLERS - 1)


class Jitter:
    """A seeded ``random.random`` that records what it drew."""

    def __init__(self, seed: int) -> None:
        self._random = random.Random(seed)
        self.draws: list[float] = []

    def __call__(self) -> float:
        value = self._random.random()
        self.draws.append(value)
        return value


# -- the model ------------------------------------------------------------


@dataclass
class Caller:
    """What one caller last got, and what it holds."""

    owns: SendRequest | None = None
    """A request it was told to send and has not reported yet."""
    token: Token | None = None
    """The token it last got (it may still use it, and get a 401)."""
    waiting_on: int | None = None
    """The fetch_id it got AwaitInFlight for."""
    backoff_epoch: int | None = None
    """The failure (model epoch) it got Backoff for."""
    until: float | None = None
    """The ``until`` of that AwaitInFlight or Backoff."""


@dataclass(frozen=True)
class Flight:
    step: SendRequest
    sent_t: float
    """Session time it was sent at."""
    refresh_token: str | None
    """The refresh token it carries (refresh requests only)."""


@dataclass(frozen=True)
class Held:
    """The model's current token."""

    access_token: str
    deadline: float
    """D in session time: never handed out from here on."""
    refresh_at: float
    """P in session time: the first caller refreshes from here on."""


@dataclass(frozen=True)
class Expect:
    kind: Literal["use", "await", "backoff", "failed", "send"]
    until: float = INF
    error: TokenError | None = None
    refresh: bool = False


@dataclass
class Counts:
    sent: int = 0
    refreshes: int = 0
    tokens: int = 0
    failures: int = 0
    lost: int = 0
    abandoned: int = 0
    invalidations: int = 0
    rejections: int = 0
    ignored_reports: int = 0
    elapsed: set[str] = field(default_factory=set)
    """Access tokens whose refresh point P was reached while current."""


def _event(name: str) -> None:
    # For --hypothesis-show-statistics; the replay below runs outside hypothesis.
    if currently_in_test_context():
        event(name)


def _body_fields(body: bytes) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(body.decode("ascii")).items()}


class SessionMachine(RuleBasedStateMachine):
    """Many callers, one TokenSession, and a model of what it must do."""

    session: TokenSession
    cfg: Config
    jitter: Jitter | None

    def __init__(self) -> None:
        super().__init__()
        self.callers = [Caller() for _ in range(CALLERS)]
        self.now = 0.0  # the wall clock the callers read
        # The session clock, as _session.py documents it.
        self.clock = 0.0
        self.last_now: float | None = None
        self.draws_used = 0
        # The lifecycle model.
        self.phase = SessionState.IDLE
        self.held: Held | None = None
        self.refresh_token: str | None = None
        self.flight: Flight | None = None
        self.attempts = 0
        self.retry_at = 0.0
        # Session time before which the server asked for nothing to be sent
        # (its last Retry-After).
        self.not_before = -math.inf
        self.error: TokenError | None = None
        self.failed_error: TokenError | None = None
        self.last_error: TokenError | None = None
        self.epoch = 0  # one more for every failure settled
        self.settled: set[int] = set()  # fetch_ids reported, abandoned or lost
        self.last_fetch_id = 0
        self.burnt: set[str] = set()  # refresh tokens whose refresh did not succeed
        self.retired: set[str] = set()  # refresh tokens rotated away
        self.serial = 0
        self.received_t: dict[str, float] = {}  # session time each token came
        self.counts = Counts()

    # -- set-up -------------------------------------------------------------

    @initialize(cfg=CONFIGS)
    def start(self, cfg: Config) -> None:
        flow: Flow
        if cfg.password_flow:
            flow = PasswordGrant(
                token_url=TOKEN_URL,
                username="alice",
                password="correct horse",
                client_id="app",
            )
        else:
            flow = ClientCredentials(
                token_url=TOKEN_URL, client_id="app", client_secret="s3cret"
            )
        self.cfg = cfg
        self.jitter = None if cfg.jitter_seed is None else Jitter(cfg.jitter_seed)
        self.session = TokenSession(
            flow,
            leeway=cfg.leeway,
            refresh_ahead=cfg.refresh_ahead,
            retry=cfg.retry,
            default_lifetime=cfg.default_lifetime,
            jitter=self.jitter,
            fetch_timeout=cfg.fetch_timeout,
        )
        self.now = cfg.start

    # -- model helpers ------------------------------------------------------

    def _peek(self, now: float) -> float:
        """The session clock a call at *now* would read: it starts at the
        first ``now`` and moves by the forward steps of ``now`` only."""
        last = self.last_now
        if last is None:
            return now
        if now > last:
            return self.clock + (now - last)
        return self.clock

    def _tick(self, now: float) -> float:
        self.clock = self._peek(now)
        self.last_now = now
        return self.clock

    def _draw(self) -> float | None:
        if self.jitter is None:
            return None
        assert self.draws_used < len(self.jitter.draws), "expected a jitter draw"
        value = self.jitter.draws[self.draws_used]
        self.draws_used += 1
        return value

    def _delay(self, attempt: int, retry_after: float | None) -> float:
        # DESIGN.md: exponential backoff with full jitter, Retry-After
        # honoured, everything capped by max_delay.
        policy = self.cfg.retry
        cap = min(policy.max_delay, policy.base_delay * 2.0 ** (attempt - 1))
        draw = self._draw()
        delay = cap if draw is None else cap * draw
        if retry_after is not None:
            delay = max(delay, min(retry_after, policy.max_delay))
        return delay

    def _end_flight(self) -> Flight:
        flight = self.flight
        assert flight is not None
        self.flight = None
        self.settled.add(flight.step.fetch_id)
        if flight.step.refresh:
            # Failed, cancelled or lost: the server may have rotated it.
            assert flight.refresh_token is not None
            self.burnt.add(flight.refresh_token)
            self.refresh_token = None
        return flight

    def _settle_failure(self, error: TokenError, t: float) -> None:
        flight = self._end_flight()
        if (
            flight.step.refresh
            and isinstance(error, OAuthError)
            and error.error == "invalid_grant"
        ):
            self.counts.rejections += 1
            _event("invalid_grant on a refresh")
            self.phase = SessionState.IDLE
            return
        self.counts.failures += 1
        self.last_error = error
        self.attempts += 1
        self.epoch += 1
        self.error = error
        retry_after = (
            error.retry_after if isinstance(error, OAuthError | HttpError) else None
        )
        if retry_after is not None:
            self.not_before = max(self.not_before, t + retry_after)
        # RetryPolicy: a Retry-After beyond max_delay fails at once, and the
        # failure lasts until it has passed, however short the cooldown.
        if (
            error.retryable
            and self.attempts < self.cfg.retry.max_attempts
            and (retry_after is None or retry_after <= self.cfg.retry.max_delay)
        ):
            self.retry_at = t + self._delay(self.attempts, retry_after)
            self.failed_error = None
            self.phase = SessionState.BACKOFF
        else:
            self.attempts = 0
            self.retry_at = t + max(self.cfg.retry.cooldown, retry_after or 0.0)
            self.failed_error = error
            self.phase = SessionState.FAILED

    def _expires_at(self, token: Token) -> float | None:
        if token.expires_at is not None:
            return token.expires_at
        if self.cfg.default_lifetime is not None:
            return token.received_at + self.cfg.default_lifetime
        return None

    def _settle_token(self, token: Token, t: float) -> None:
        flight = self.flight
        assert flight is not None
        self.flight = None
        self.settled.add(flight.step.fetch_id)
        self.counts.tokens += 1
        self.received_t[token.access_token] = t
        if flight.step.refresh and token.refresh_token is None:
            pass  # the answer kept the old refresh token
        else:
            if (
                flight.refresh_token is not None
                and token.refresh_token != flight.refresh_token
            ):
                self.retired.add(flight.refresh_token)
            self.refresh_token = token.refresh_token
        expires_at = self._expires_at(token)
        if expires_at is None:
            deadline = refresh_at = INF
        else:
            end = t + (expires_at - token.received_at)
            lifetime = end - t
            deadline = end - min(self.cfg.leeway, lifetime / 4)
            refresh_at = deadline - self.cfg.refresh_ahead * lifetime
        self.held = Held(
            access_token=token.access_token, deadline=deadline, refresh_at=refresh_at
        )
        self.attempts = 0
        self.error = self.failed_error = None
        self.phase = SessionState.IDLE

    def _expect(self, now: float, t: float) -> Expect:
        """DESIGN.md's answer to next_step(now); settles a lost request."""
        held = self.held
        usable = held is not None and t < held.deadline
        if held is not None and t >= held.refresh_at:
            self.counts.elapsed.add(held.access_token)
        if usable and held is not None and t < held.refresh_at:
            return Expect("use")
        flight = self.flight
        if flight is not None:
            lost_at = flight.sent_t + self.cfg.fetch_timeout
            if t + SLACK < lost_at:
                if usable:
                    return Expect("use")
                return Expect("await", until=now + (lost_at - t))
            lost = self.session.stats.last_error
            assert isinstance(lost, TransportError), "a lost request is a failure"
            assert lost.retryable
            assert "lost" in lost.reason
            self.counts.lost += 1
            _event("a request was lost")
            # Lost at its deadline: the backoff counts from there, not from
            # when a caller next asked.
            self._settle_failure(lost, lost_at)
        if self.phase is not SessionState.IDLE and t + SLACK < self.retry_at:
            if usable:
                return Expect("use")
            if self.phase is SessionState.FAILED:
                return Expect("failed", error=self.failed_error)
            return Expect("backoff", until=now + (self.retry_at - t), error=self.error)
        return Expect("send", refresh=self.refresh_token is not None)

    # -- checks on one answer -------------------------------------------------

    def _check_use(self, step: UseToken, now: float, t: float) -> None:
        token = step.token
        # Never expired at the `now` it is handed out for...
        assert not token.is_expired(now), "handed out an expired token"
        # ... nor within the effective leeway on the session's own clock.
        held = self.held
        assert held is not None
        assert token.access_token == held.access_token
        expires_at = self._expires_at(token)
        if expires_at is not None:
            # D = expires_at - min(leeway, L / 4), measured from the session
            # clock's reading when the token arrived.
            lifetime = expires_at - token.received_at
            leeway = min(self.cfg.leeway, lifetime / 4)
            deadline = self.received_t[token.access_token] + lifetime - leeway
            assert t < deadline + EPS, "handed out within the effective leeway"
            assert t < held.deadline
        assert token.refresh_token == self.refresh_token, (
            "handed out a token carrying a refresh token the session dropped"
            if self.refresh_token is None
            else "handed out a token with a stale refresh token"
        )
        # Adapters cache the token until fresh_until: never past P, so never
        # past D either.
        fresh_until = self.session.fresh_until(now)
        assert fresh_until <= now + (held.refresh_at - t) + EPS
        assert fresh_until <= now + (held.deadline - t) + EPS

    def _check_request(self, step: SendRequest) -> None:
        fields = _body_fields(step.request.body)
        assert step.request.url == TOKEN_URL
        if step.refresh:
            assert fields["grant_type"] == "refresh_token"
            value = fields["refresh_token"]
            assert value not in self.burnt, "re-sent a refresh token that failed"
            assert value not in self.retired, "re-sent a rotated refresh token"
            assert value == self.refresh_token
        else:
            assert fields["grant_type"] in ("client_credentials", "password")
            assert "refresh_token" not in fields

    def _ask(self, caller: Caller) -> Step:
        now = self.now
        waited_on = caller.waiting_on
        step = self.session.next_step(now)
        t = self._tick(now)
        expected = self._expect(now, t)

        # Waiters learn the outcome: never AwaitInFlight for a settled fetch.
        if isinstance(step, AwaitInFlight):
            in_flight = self.session.in_flight
            assert in_flight is not None, "AwaitInFlight with nothing in flight"
            assert in_flight.fetch_id not in self.settled
            assert (
                waited_on is None
                or waited_on not in self.settled
                or (in_flight.fetch_id != waited_on)
            ), "a waiter was told to wait again for a request already reported"

        assert (
            type(step).__name__
            == {
                "use": "UseToken",
                "await": "AwaitInFlight",
                "backoff": "Backoff",
                "failed": "Failed",
                "send": "SendRequest",
            }[expected.kind]
        ), f"expected {expected}, got {step!r}"
        caller.waiting_on = caller.backoff_epoch = caller.until = None
        _event(f"answer: {expected.kind}" + (" (refresh)" if expected.refresh else ""))
        if isinstance(step, UseToken):
            self._check_use(step, now, t)
            caller.token = step.token
        elif isinstance(step, AwaitInFlight):
            assert math.isfinite(step.until), "AwaitInFlight without an end"
            assert step.until - now <= self.cfg.fetch_timeout + EPS
            assert math.isclose(step.until, expected.until, abs_tol=EPS)
            in_flight = self.session.in_flight
            assert in_flight is not None
            caller.waiting_on = in_flight.fetch_id
            caller.until = step.until
        elif isinstance(step, Backoff):
            assert math.isfinite(step.until), "Backoff without an end"
            assert step.until - now <= self.cfg.retry.max_delay + EPS
            assert math.isclose(step.until, expected.until, abs_tol=EPS)
            assert step.error is expected.error
            caller.backoff_epoch = self.epoch
            caller.until = step.until
        elif isinstance(step, Failed):
            assert step.error is expected.error
        else:
            # A second request only once the first is settled (reported,
            # abandoned, or past fetch_timeout and so lost).
            assert self.flight is None
            # Never before the server's Retry-After.
            assert t + SLACK >= self.not_before, (t, self.not_before)
            assert self.session.in_flight is step
            assert step.refresh == expected.refresh
            assert step.fetch_id > self.last_fetch_id
            self._check_request(step)
            self.last_fetch_id = step.fetch_id
            self.flight = Flight(step=step, sent_t=t, refresh_token=self.refresh_token)
            self.phase = SessionState.FETCHING
            self.counts.sent += 1
            self.counts.refreshes += step.refresh
            caller.owns = step
        return step

    def _snapshot(self) -> tuple[object, ...]:
        s = self.session
        stats = s.stats
        return (
            s.state,
            id(s.in_flight),
            id(s.token),
            stats.requests_sent,
            stats.refreshes,
            stats.failures,
            stats.abandoned,
            id(stats.last_error),
        )

    def _ignored(self, step: SendRequest) -> bool:
        return self.flight is None or self.flight.step is not step

    # -- choosing callers -----------------------------------------------------

    def _free(self) -> list[Caller]:
        return [c for c in self.callers if c.owns is None]

    def _owners(self) -> list[Caller]:
        return [c for c in self.callers if c.owns is not None]

    def _stale_owners(self) -> list[Caller]:
        return [c for c in self._owners() if c.owns is not self.session.in_flight]

    def _waiters(self) -> list[Caller]:
        return [c for c in self._free() if c.until is not None]

    def _holders(self) -> list[Caller]:
        return [c for c in self._free() if c.token is not None]

    def _take(self, caller: Caller) -> SendRequest:
        step = caller.owns
        assert step is not None
        caller.owns = None
        return step

    # -- rules: callers ask ---------------------------------------------------

    @precondition(lambda self: bool(self._free()))
    @rule(pick=PICK)
    def ask(self, pick: int) -> None:
        free = self._free()
        self._ask(free[pick % len(free)])

    @precondition(lambda self: bool(self._free()))
    @rule()
    def stampede(self) -> None:
        """Every free caller asks at the same instant: one request at most."""
        sends = [self._ask(c) for c in self._free()]
        assert sum(isinstance(s, SendRequest) for s in sends) <= 1

    @precondition(lambda self: bool(self._waiters()))
    @rule(pick=PICK)
    def wake_at_until(self, pick: int) -> None:
        """A waiter asks again at its ``until``: it must not wait again."""
        waiters = self._waiters()
        caller = waiters[pick % len(waiters)]
        until = caller.until
        waited_on, epoch = caller.waiting_on, caller.backoff_epoch
        assert until is not None
        self.now = max(self.now, until)
        step = self._ask(caller)
        _event(f"woke at until: {type(step).__name__}")
        if waited_on is not None and isinstance(step, AwaitInFlight):
            in_flight = self.session.in_flight
            assert in_flight is not None
            assert in_flight.fetch_id != waited_on, (
                "asked again at until, still told to wait for the same request"
            )
        if epoch is not None and isinstance(step, Backoff):
            assert self.epoch != epoch, (
                "asked again at until, still told to back off from the same failure"
            )

    # -- rules: owners report --------------------------------------------------

    def _token_response(self, reply: TokenReply, step: SendRequest) -> HttpResponse:
        self.serial += 1
        obj: dict[str, object] = {"access_token": f"at-{self.serial}"}
        if reply.token_type is not None:
            obj["token_type"] = reply.token_type
        if reply.expires_in is not None:
            obj["expires_in"] = reply.expires_in
        if reply.refresh == "new" or (reply.refresh == "same" and not step.refresh):
            obj["refresh_token"] = f"rt-{self.serial}"
        elif reply.refresh == "same":
            obj["refresh_token"] = _body_fields(step.request.body)["refresh_token"]
        return HttpResponse(
            status=200,
            headers=(("Content-Type", "application/json"),),
            body=json.dumps(obj).encode(),
        )

    def _report(
        self, caller: Caller, response: HttpResponse
    ) -> Token | TokenError | None:
        step = self._take(caller)
        before = self._snapshot()
        ignored = self._ignored(step)
        result = self.session.receive(response, now=self.now, step=step)
        t = self._tick(self.now)
        if ignored:
            assert result is None, "a report for a superseded request was used"
            assert self._snapshot() == before
            self.counts.ignored_reports += 1
            _event("a late report was ignored")
            return None
        assert result is not None
        # No DPoP key: the session is never asked for a nonce, and never
        # hands back a request to send again.
        assert not isinstance(result, SendRequest)
        if isinstance(result, Token):
            self._settle_token(result, t)
        else:
            self._settle_failure(result, t)
        return result

    @precondition(lambda self: bool(self._owners()))
    @rule(pick=PICK, reply=TOKEN_REPLIES)
    def report_token(self, pick: int, reply: TokenReply) -> None:
        owners = self._owners()
        caller = owners[pick % len(owners)]
        step = caller.owns
        assert step is not None
        result = self._report(caller, self._token_response(reply, step))
        if result is None:
            return
        expires_in = None if reply.expires_in is None else float(reply.expires_in)
        if expires_in == 0:
            # Expired on arrival: an unusable answer, never a token.
            assert isinstance(result, MalformedResponse)
        else:
            # What the flow parsed; the session keeps the old refresh token
            # when a refresh answer brings none (checked by the invariants).
            assert isinstance(result, Token), result
            current = self.session.token
            assert current is not None
            assert current.access_token == result.access_token

    def _report_error(self, caller: Caller, reply: ErrorReply) -> None:
        headers: tuple[tuple[str, str], ...]
        if reply.error is None:
            status = 503
            headers = (("Content-Type", "text/html"),)
            body = b"<html><body>Service Unavailable</body></html>"
        else:
            status = OAUTH_STATUS[reply.error]
            headers = (("Content-Type", "application/json"),)
            body = json.dumps({"error": reply.error}).encode()
        if reply.retry_after is not None:
            headers += (("Retry-After", str(reply.retry_after)),)
        response = HttpResponse(status=status, headers=headers, body=body)
        result = self._report(caller, response)
        if result is None:
            return
        if reply.error is None:
            assert isinstance(result, HttpError)
            assert result.status == 503
        else:
            assert isinstance(result, OAuthError)
            assert result.error == reply.error
        assert result.retry_after == reply.retry_after

    def _report_transport_failure(self, caller: Caller, retryable: bool) -> None:
        step = self._take(caller)
        error = TransportError(
            reason="connection reset" if retryable else "certificate verify failed",
            retryable=retryable,
        )
        before = self._snapshot()
        ignored = self._ignored(step)
        self.session.receive_failure(error, now=self.now, step=step)
        t = self._tick(self.now)
        if ignored:
            assert self._snapshot() == before
            self.counts.ignored_reports += 1
        else:
            self._settle_failure(error, t)

    def _abandon(self, caller: Caller) -> None:
        """The sender was cancelled: it reports that, so the others go on."""
        step = self._take(caller)
        before = self._snapshot()
        ignored = self._ignored(step)
        self.session.abandon(step)
        if ignored:
            assert self._snapshot() == before
            return
        _event("a request was abandoned")
        self._end_flight()
        self.counts.abandoned += 1
        self.phase = SessionState.IDLE

    @precondition(lambda self: bool(self._owners()))
    @rule(pick=PICK, failure=FAILURES)
    def report_failure(self, pick: int, failure: Failure) -> None:
        """An error answer, a transport failure, or the sender is cancelled."""
        owners = self._owners()
        caller = owners[pick % len(owners)]
        if isinstance(failure, ErrorReply):
            self._report_error(caller, failure)
        elif failure == "abandon":
            self._abandon(caller)
        else:
            self._report_transport_failure(caller, failure == "transport")

    @precondition(lambda self: bool(self._stale_owners()))
    @rule(pick=PICK, reply=TOKEN_REPLIES)
    def late_report(self, pick: int, reply: TokenReply) -> None:
        """A request the session gave up on (lost) answers at last: ignored."""
        stale = self._stale_owners()
        caller = stale[pick % len(stale)]
        step = caller.owns
        assert step is not None
        assert self._report(caller, self._token_response(reply, step)) is None

    # -- rules: the API refuses a token -----------------------------------------

    @precondition(lambda self: bool(self._holders()))
    @rule(pick=PICK, as_string=st.booleans())
    def invalidate(self, pick: int, as_string: bool) -> None:
        holders = self._holders()
        caller = holders[pick % len(holders)]
        token = caller.token
        assert token is not None
        caller.token = None
        current = self.held is not None and self.held.access_token == token.access_token
        state = self.session.state
        dropped = self.session.invalidate(token.access_token if as_string else token)
        assert dropped == current
        assert self.session.state is state
        if dropped:
            self.held = None
            self.counts.invalidations += 1
            assert self.session.token is None

    # -- rules: time ------------------------------------------------------------

    @rule(dt=st.sampled_from([0.0, 0.1, 1.0, 4.0]) | st.floats(0.0, 5.0))
    def time_passes_a_little(self, dt: float) -> None:
        self.now += dt

    @rule(dt=st.floats(5.0, 5000.0))
    def time_passes_a_lot(self, dt: float) -> None:
        self.now += dt

    @rule(dt=st.sampled_from([1.0, 3600.0]) | st.floats(0.001, 1000.0))
    def clock_jumps_back(self, dt: float) -> None:
        self.now -= dt

    @rule(
        which=st.sampled_from(["P", "D", "lost", "retry"]),
        offset=st.sampled_from([0.0, 0.0, -0.001, 0.001]),
        then_stampede=st.booleans(),
    )
    def time_to_a_boundary(
        self, which: str, offset: float, then_stampede: bool
    ) -> None:
        """Move the wall clock so the session clock reaches P, D, a request's
        lost deadline or the retry time (or a millisecond either side)."""
        points = {"retry": self.retry_at}
        if self.held is not None:
            points["P"] = self.held.refresh_at
            points["D"] = self.held.deadline
        if self.flight is not None:
            points["lost"] = self.flight.sent_t + self.cfg.fetch_timeout
        ahead = {k: p for k, p in points.items() if self.clock < p + offset < INF}
        if not ahead or self.last_now is None:
            return  # (the first call only starts the session clock)
        target = ahead.get(which, min(ahead.values())) + offset
        # The earliest wall time at which the session clock reads >= target.
        now = max(self.now, self.last_now) + (target - self.clock)
        for _ in range(64):
            if self._peek(now) >= target:
                break
            now = math.nextafter(now, INF)
        for _ in range(64):
            earlier = math.nextafter(now, -INF)
            if self._peek(earlier) < target:
                break
            now = earlier
        self.now = now
        if then_stampede and self._free():
            self.stampede()

    # -- invariants -------------------------------------------------------------

    @invariant()
    def state_matches_in_flight(self) -> None:
        s = self.session
        assert (s.state is SessionState.FETCHING) == (s.in_flight is not None)
        assert s.state is self.phase, f"session {s.state}, model {self.phase}"
        expected = None if self.flight is None else self.flight.step
        assert s.in_flight is expected

    @invariant()
    def one_request_in_flight(self) -> None:
        live = [c.owns for c in self._owners() if c.owns is self.session.in_flight]
        assert len(live) <= 1
        for c in self._owners():
            assert c.owns is not None
            if c.owns is not self.session.in_flight:
                assert c.owns.fetch_id in self.settled

    @invariant()
    def token_matches_model(self) -> None:
        token = self.session.token
        if self.held is None:
            assert token is None
        else:
            assert token is not None
            assert token.access_token == self.held.access_token
            assert token.refresh_token == self.refresh_token

    @invariant()
    def requests_are_bounded(self) -> None:
        stats = self.session.stats
        c = self.counts
        assert stats.requests_sent == c.sent
        assert stats.refreshes == c.refreshes
        assert stats.failures == c.failures
        assert stats.abandoned == c.abandoned
        assert stats.last_error is self.last_error
        # Every request after the first answers for something that ended
        # the previous one or made its token unusable.
        bound = (
            1
            + len(c.elapsed)
            + stats.failures  # lost requests included
            + stats.abandoned
            + c.invalidations
            + c.rejections
        )
        assert stats.requests_sent <= bound, (stats, c)
        assert c.lost <= stats.failures
        assert stats.refreshes <= stats.requests_sent
        settled = c.tokens + stats.failures + stats.abandoned + c.rejections
        assert settled + (self.flight is not None) == stats.requests_sent
        if self.jitter is not None:
            assert self.draws_used == len(self.jitter.draws)

    def check_all(self) -> None:
        """Every invariant, for replaying a sequence by hand."""
        self.state_matches_in_flight()
        self.one_request_in_flight()
        self.token_matches_model()
        self.requests_are_bounded()


SessionMachine.TestCase.settings = settings(
    max_examples=400,
    stateful_step_count=100,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    # No explain phase: it reruns a failure a thousand times for little.
    phases=[Phase.explicit, Phase.reuse, Phase.generate, Phase.target, Phase.shrink],
)
TestSession = SessionMachine.TestCase


def test_lost_proactive_refresh_replay() -> None:
    """Hypothesis's minimal failing example, replayed (derandomized runs too).

    A 4 s token with a refresh token (leeway 0, refresh_ahead 0.5: P = 2,
    D = 4). At P one caller is sent to refresh; at 3 that refresh is lost,
    which drops the refresh token (the server may have rotated it) and, with
    one attempt allowed, fails with a cooldown. The token is still usable, so
    the caller that noticed the loss gets UseToken: it must be the token as
    it now is, without the refresh token the session just dropped.
    """
    state = SessionMachine()
    state.start(
        cfg=Config(
            leeway=0.0,
            refresh_ahead=0.5,
            default_lifetime=None,
            retry=RetryPolicy(
                max_attempts=1, base_delay=0.0, max_delay=0.0, cooldown=5.0
            ),
            fetch_timeout=1.0,
            jitter_seed=None,
            password_flow=False,
            start=0.0,
        )
    )
    state.check_all()
    state.stampede()  # t=0: acquire
    state.check_all()
    state.report_token(
        pick=0, reply=TokenReply(expires_in=4, refresh="same", token_type=None)
    )
    state.check_all()
    state.time_to_a_boundary(which="P", offset=0.0, then_stampede=True)  # t=2
    state.check_all()
    state.time_to_a_boundary(which="lost", offset=0.0, then_stampede=True)  # t=3
    state.check_all()
    state.teardown()
