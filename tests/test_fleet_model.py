"""The fleet protocol run by several processes at once (hypothesis).

Two to five processes of one flow, each with its own :class:`TokenSession`
and a wall clock up to 20 s off the real one, share a MODEL store and a
MODEL token server, and interleave freely: one asks for a token; one carries
out the next step of its :class:`SharedFetch` (each store step is a rule of
its own, so others act between any two); a request in flight is answered
with a token, an error or a transport failure, or is cut at the end of its
lease (``SendToken.until``); a process is killed (its lease stays until its
time to live, its request may still reach the server, the answer is lost);
the API refuses a process's token (a 401); real time passes.

The store keeps times to live in real time, exactly: a token's entry dies
when its access token expires, a lease when its time is up, and waiting is
time passing until the store changes. The server issues 100 s access tokens
with a refresh token each time, ROTATES refresh tokens on refresh, records
every refresh token it receives, and revokes the grant when one comes twice
(as RFC 9700 §4.14.2 lets it).

The clients are carried out as ``adapters/_sync.py`` does: ``reissue`` for
``SendToken``, ``receive`` or ``receive_failure`` for the answer, ``Sent``
with ``hold_off``; ``adopt`` and ``share_failure`` for the outcomes;
``extend`` before a wait. Invariants, after every rule:

(a) at most one token request is in flight under a lease at any real time
    (a request counts until its answer or its cut; a killed process's until
    its lease ends);
(b) the server never got the same refresh token twice, and so never revoked
    the grant;
(c) no process hands out a token (``UseToken``) at or after its deadline
    ``D``, counted in REAL time from when the server issued it, whatever the
    process's clock says;
(d) with a healthy server, everyone gets a token (the ``settle`` rule runs
    every process to completion and fails if one does not; every run ends
    with it);
(e) a fetch never adopts a token its process's API had refused;
(f) a request under the lease is sent only when the store holds no token the
    sender could have adopted instead (read again under the lease);
(g) no process fetches in a loop (more than a handful of fetches at one
    instant).

The server takes a request in when it is sent (it records the refresh token
and rotates it then, so a request whose answer is lost has still used it)
and issues the access token when it answers: ``D`` counts from the answer.
Rules jump time to the points that matter (a stored token's P, D and expiry,
the lease's end, a request's cut), and ``target`` steers runs toward many
refreshes and refreshes lost. Below the machine, the hard cases are replayed
step by step: each fails for a broken rule of the protocol (a refresh token
not taken out before it is sent, no second read under the lease, no cut at
``until``, no rebasing, a due token adopted, a refused token adopted, a wait
turned into a loop), so that no run depends on hypothesis finding them.
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass, field
from typing import Final, Literal

from hypothesis import HealthCheck, Phase, settings, target
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)

from sansio_auth import (
    STORE_DOWN,
    Adopt,
    AwaitInFlight,
    DiscardToken,
    Finished,
    HttpRequest,
    HttpResponse,
    ReadStore,
    ReleaseLease,
    SendRequest,
    SendToken,
    Sent,
    SessionEvent,
    SharedFetch,
    ShareFailure,
    StoredEntry,
    TakeLease,
    Token,
    TokenSession,
    TransportError,
    UseToken,
    WaitForStore,
    WriteFailure,
    WriteToken,
    token_tag,
)
from sansio_auth._fleet import Outcome, StoreOp
from sansio_auth._stored import decode_stored

from session_driver import client_credentials, form, oauth_error, token_response

REAL0: Final = 1_700_000_000.0
LIFETIME: Final = 100.0
LEEWAY: Final = 10.0
LEASE: Final = 10.0  # the sessions' fetch_timeout
POLL: Final = 1.0
# D in real time, from the server's issue time: L - min(leeway, L / 4).
USABLE_FOR: Final = LIFETIME - min(LEEWAY, LIFETIME / 4)
# Float slack for two sums of the same instant at 1.7e9 s (an ulp is 2e-7).
EPS: Final = 1e-5
PROCESSES: Final = 5
PICK: Final = st.integers(0, 64)

# -- the model token server -------------------------------------------------


@dataclass
class Pending:
    """What the server made of a request when it arrived."""

    grant: Literal["token", "invalid_grant"]
    refresh_token: str | None = None


@dataclass
class ModelServer:
    issued: dict[str, float] = field(default_factory=dict)
    """Access token -> the real time it was issued (handed to its sender)."""
    received: list[str] = field(default_factory=list)
    """Every refresh token received, in order."""
    replays: list[str] = field(default_factory=list)
    valid: set[str] = field(default_factory=set)
    """Refresh tokens issued and not yet used."""
    requests: int = 0
    serial: int = 0

    def arrive(self, request: HttpRequest) -> Pending:
        self.requests += 1
        fields = form(request)
        if fields["grant_type"] == "refresh_token":
            refresh_token = fields["refresh_token"]
            if refresh_token in self.received:
                # Reuse detection: the whole grant is revoked.
                self.replays.append(refresh_token)
                self.valid.clear()
            self.received.append(refresh_token)
            if refresh_token not in self.valid:
                return Pending(grant="invalid_grant")
            self.valid.discard(refresh_token)  # rotated
        self.serial += 1
        rotated = f"rt-{self.serial}"
        self.valid.add(rotated)
        return Pending(grant="token", refresh_token=rotated)

    def answer(self, pending: Pending, real: float) -> HttpResponse:
        if pending.grant == "invalid_grant":
            return oauth_error("invalid_grant")
        self.serial += 1
        access_token = f"at-{self.serial}"
        self.issued[access_token] = real
        return token_response(
            access_token, expires_in=LIFETIME, refresh_token=pending.refresh_token
        )


# -- the model store ----------------------------------------------------------


@dataclass
class ModelStore:
    """One key of a store, with times to live in real time."""

    token: bytes | None = None
    tag: str | None = None
    token_expires: float = math.inf
    failure: bytes | None = None
    failure_expires: float = -math.inf
    owner: str | None = None
    lease_expires: float = -math.inf
    changes: int = 0
    """One more for every write, failure and release: what wakes waiters."""

    def at(self, real: float) -> ModelStore:
        if self.token is not None and self.token_expires <= real:
            self.token = self.tag = None
        if self.failure is not None and self.failure_expires <= real:
            self.failure = None
        if self.owner is not None and self.lease_expires <= real:
            self.owner = None
        return self

    def carry_out(
        self, op: StoreOp, owner: str, real: float, ttl: float | None = None
    ) -> object:
        # *ttl*: a WriteToken's time to live, as the client counts it when
        # it writes (WriteToken.ttl_at, in the writer's own clock).
        self.at(real)
        if isinstance(op, ReadStore):
            return StoredEntry(
                token=self.token,
                token_ttl=None
                if self.token is None or self.token_expires == math.inf
                else self.token_expires - real,
                failure=self.failure,
                failure_ttl=None
                if self.failure is None
                else self.failure_expires - real,
            )
        if isinstance(op, TakeLease):
            if self.owner is not None:
                return self.lease_expires - real
            self.owner, self.lease_expires = owner, real + op.ttl
            return None
        if isinstance(op, WriteToken | WriteFailure):
            if self.owner not in (None, owner):
                return False
            if isinstance(op, WriteToken):
                self.token, self.tag = op.token, op.tag
                self.token_expires = math.inf if ttl is None else real + ttl
                self.failure = None
            else:
                self.failure, self.failure_expires = op.failure, real + op.ttl
            self.changes += 1
            return True
        if isinstance(op, ReleaseLease):
            if self.owner == owner:
                self.owner = None
                self.changes += 1
            return None
        assert isinstance(op, DiscardToken)
        if self.token is None or self.tag != op.tag:
            return False
        self.token = self.tag = None
        return True


# -- the processes ------------------------------------------------------------


@dataclass
class Flight:
    """A token request at the server, its answer not yet back."""

    step: SendRequest
    pending: Pending
    shared: bool
    until: float | None
    """The cut, in the process's clock (None when alone)."""
    lease_ends: float
    """When the lease it was sent under ends, in real time."""
    started: float


@dataclass(eq=False)
class Fetch:
    """One fetch of a process: its protocol and what it is doing."""

    protocol: SharedFetch
    step: SendRequest
    owner: str
    op: StoreOp
    lease_ends: float = -math.inf
    waiting_until: float | None = None
    """Real time a wait ends at the latest (None: not waiting)."""
    woken_by: int = 0
    wait_started: float = 0.0
    flight: Flight | None = None
    refused: frozenset[str] = frozenset()
    """The tags the process's API had refused when the fetch began."""


@dataclass(eq=False)
class Process:
    skew: float
    session: TokenSession
    refused: set[str] = field(default_factory=set)
    fetches: list[Fetch] = field(default_factory=list)
    last_fetch: float = -math.inf
    """The real time its last fetch began, and how many began then."""
    fetches_now: int = 0


def new_session() -> TokenSession:
    return TokenSession(
        client_credentials(),
        leeway=LEEWAY,
        refresh_ahead=0.1,
        fetch_timeout=LEASE,
        jitter=None,
    )


Answer = Literal["token", "503", "401", "transport"]
ANSWERS: Final[tuple[Answer, ...]] = ("token", "503", "401", "transport")


class FleetMachine(RuleBasedStateMachine):
    """N processes, one store, one server."""

    def __init__(self) -> None:
        super().__init__()
        self.real = REAL0
        self.store = ModelStore()
        self.server = ModelServer()
        self.processes: list[Process] = []
        self.orphans: list[float] = []
        """When the leases of killed processes' requests end (real time)."""
        self.owners = 0
        self.handed_out = 0
        self.turns = 0
        self.refreshes_lost = 0

    @initialize(
        skews=st.lists(
            st.sampled_from([0.0, -20.0, 20.0]) | st.floats(-20.0, 20.0),
            min_size=2,
            max_size=PROCESSES,
        )
    )
    def start(self, skews: list[float]) -> None:
        self.processes = [Process(skew=skew, session=new_session()) for skew in skews]

    # -- helpers ----------------------------------------------------------------

    def local(self, process: Process) -> float:
        return self.real + process.skew

    def _use(self, process: Process, token: Token) -> None:
        # Invariant (c): never at or after D, counted in real time.
        issued = self.server.issued.get(token.access_token)
        assert issued is not None, "handed out a token the server never issued"
        deadline = issued + USABLE_FOR
        assert self.real < deadline + EPS, (
            f"handed out {self.real - deadline:+.6f} s after D (skew {process.skew})"
        )
        self.handed_out += 1

    def _ask(self, process: Process) -> object:
        step = process.session.next_step(self.local(process))
        if isinstance(step, UseToken):
            self._use(process, step.token)
        elif isinstance(step, SendRequest):
            # (g): no busy loop: a handful of fetches at one instant at most.
            if process.last_fetch == self.real:
                process.fetches_now += 1
                assert process.fetches_now <= 5, "a process fetches in a loop"
            else:
                process.last_fetch, process.fetches_now = self.real, 1
            self.owners += 1
            refused = frozenset(process.refused)
            protocol = SharedFetch(
                process.session, lease=LEASE, refused=refused, poll=POLL
            )
            process.fetches.append(
                Fetch(
                    protocol=protocol,
                    step=step,
                    owner=f"owner-{self.owners}",
                    op=protocol.start(),
                    refused=refused,
                )
            )
        return step

    def _next(
        self, process: Process, fetch: Fetch, value: object, started: float
    ) -> None:
        # Reply to the step carried out; an outcome goes to the session.
        nxt: StoreOp | Outcome = fetch.protocol.advance(value, started=started)
        if isinstance(nxt, Adopt | ShareFailure | Finished):
            process.fetches.remove(fetch)
            now = self.local(process)
            if isinstance(nxt, Adopt):
                # (e): a token the API refused here is never adopted again.
                assert token_tag(nxt.token) not in fetch.refused, "adopted a 401"
                process.session.adopt(
                    nxt.token, now=now, step=fetch.step, recheck_at=nxt.recheck_at
                )
            elif isinstance(nxt, ShareFailure):
                process.session.share_failure(
                    nxt.error, now=now, step=fetch.step, wait=nxt.wait
                )
            return
        fetch.op = nxt

    def _send(self, process: Process, fetch: Fetch, op: SendToken) -> None:
        now = self.local(process)
        session = process.session
        again = session.reissue(fetch.step, refresh_token=op.refresh_token, now=now)
        if again is None:  # given up on meanwhile: send nothing
            self._next(process, fetch, Sent(result=None, at=now), now)
            return
        fetch.step = again
        if op.until is not None and now >= op.until:
            # The lease has ended for us: cut before it is sent.
            self._failed(process, fetch, again, now)
            return
        if op.shared:
            self._nothing_fresher(fetch)
        pending = self.server.arrive(again.request)
        self.no_refresh_token_twice()  # at once, not after the rule
        fetch.flight = Flight(
            step=again,
            pending=pending,
            shared=op.shared,
            until=op.until,
            lease_ends=fetch.lease_ends,
            started=now,
        )

    def _nothing_fresher(self, fetch: Fetch) -> None:
        # (f): a request under the lease is sent only when the store holds
        # no token the sender could have adopted instead (one before its
        # refresh point, not refused here): reading again under the lease
        # sees what another process wrote.
        store = self.store.at(self.real)
        if store.token is None or store.tag in fetch.refused:
            return
        token = decode_stored(store.token)
        assert token is not None
        lifetime = token.lifetime
        assert lifetime is not None
        refresh_at = store.token_expires - min(LEEWAY, lifetime / 4) - 0.1 * lifetime
        assert self.real >= refresh_at - EPS, (
            f"sent {refresh_at - self.real:.3f} s before the stored token was due"
        )

    def _failed(
        self, process: Process, fetch: Fetch, step: SendRequest, started: float
    ) -> None:
        now = self.local(process)
        error = TransportError(reason="timed out", retryable=True)
        process.session.receive_failure(error, now=now, step=step)
        hold = process.session.hold_off(now)
        self._next(process, fetch, Sent(result=error, at=now, hold=hold), started)

    def _answer(self, process: Process, fetch: Fetch, answer: Answer) -> None:
        flight = fetch.flight
        assert flight is not None
        fetch.flight = None
        now = self.local(process)
        if flight.until is not None and now >= flight.until:
            answer = "transport"  # cut at the end of the lease: a timeout
        self.refreshes_lost += flight.step.refresh and answer != "token"
        if answer == "transport":
            self._failed(process, fetch, flight.step, flight.started)
            return
        if answer == "token":
            response = self.server.answer(flight.pending, self.real)
        elif answer == "503":
            response = oauth_error("temporarily_unavailable", status=503)
        else:
            response = oauth_error("invalid_client", status=401)
        session = process.session
        result = session.receive(response, now=now, step=flight.step)
        assert not isinstance(result, SendRequest)  # no DPoP key, no nonce resend
        sent = Sent(
            result=result,
            at=now,
            rejected=session.last_event is SessionEvent.REFRESH_REJECTED,
            hold=session.hold_off(now),
        )
        self._next(process, fetch, sent, flight.started)

    def _wakes(self, fetch: Fetch) -> bool:
        assert fetch.waiting_until is not None
        store = self.store.at(self.real)
        return (
            store.changes != fetch.woken_by
            or self.real >= fetch.waiting_until
            or store.owner is None
        )

    def _step(self, process: Process, fetch: Fetch) -> None:
        """Carry out the fetch's next store step (not a wait in progress)."""
        op = fetch.op
        now = self.local(process)
        if isinstance(op, SendToken):
            self._send(process, fetch, op)
            return
        if isinstance(op, WaitForStore):
            process.session.extend(fetch.step, now=now)
            if self.store.at(self.real).owner is not None:
                fetch.waiting_until = self.real + op.timeout
                fetch.woken_by = self.store.changes
                fetch.wait_started = now
                return
            self._next(process, fetch, None, now)  # no lease held: at once
            return
        ttl = None
        if isinstance(op, WriteToken):
            # As adapters/_store_link.py does: the time to live counted at
            # the write, in the writer's clock; nothing left, nothing written.
            ttl = op.ttl_at(now)
            if ttl is not None and ttl <= 0:
                self._next(process, fetch, False, now)
                return
        value = self.store.carry_out(op, fetch.owner, self.real, ttl)
        if isinstance(op, TakeLease) and value is None:
            fetch.lease_ends = self.real + op.ttl
        self._next(process, fetch, value, now)

    def _ready(self) -> list[tuple[Process, Fetch]]:
        return [
            (p, f)
            for p in self.processes
            for f in p.fetches
            if f.flight is None and f.waiting_until is None
        ]

    def _waiting(self) -> list[tuple[Process, Fetch]]:
        return [
            (p, f)
            for p in self.processes
            for f in p.fetches
            if f.waiting_until is not None and self._wakes(f)
        ]

    def _in_flight(self) -> list[tuple[Process, Fetch]]:
        return [
            (p, f) for p in self.processes for f in p.fetches if f.flight is not None
        ]

    def _wake(self, process: Process, fetch: Fetch) -> None:
        fetch.waiting_until = None
        self._next(process, fetch, None, fetch.wait_started)

    # -- rules --------------------------------------------------------------------
    # The usual events (asking, store steps, answers, time) are always there;
    # the rare ones (a store outage, a kill, a 401, settling) every fourth
    # turn, so that most runs have fetches in progress to interleave.

    def _turn(self) -> None:
        self.turns += 1

    def _rare(self) -> bool:
        return self.turns % 4 == 3

    @rule(pick=PICK)
    def ask(self, pick: int) -> None:
        self._turn()
        self._ask(self.processes[pick % len(self.processes)])

    @rule()
    def everyone_asks(self) -> None:
        self._turn()
        for process in self.processes:
            self._ask(process)

    @precondition(lambda self: bool(self._ready()))
    @rule(pick=PICK)
    def store_step(self, pick: int) -> None:
        self._turn()
        ready = self._ready()
        self._step(*ready[pick % len(ready)])

    @precondition(lambda self: bool(self._ready()))
    @rule(pick=PICK, count=st.integers(2, 8))
    def store_steps(self, pick: int, count: int) -> None:
        """One fetch carries out up to *count* steps in a row, until it
        sends, waits or ends."""
        self._turn()
        ready = self._ready()
        process, fetch = ready[pick % len(ready)]
        for _ in range(count):
            self._step(process, fetch)
            if (
                fetch not in process.fetches
                or fetch.flight is not None
                or fetch.waiting_until is not None
            ):
                break

    @precondition(lambda self: bool(self._waiting()))
    @rule(pick=PICK)
    def woken(self, pick: int) -> None:
        self._turn()
        waiting = self._waiting()
        self._wake(*waiting[pick % len(waiting)])

    @precondition(lambda self: bool(self._in_flight()))
    @rule(pick=PICK, answer=st.sampled_from(ANSWERS))
    def answered(self, pick: int, answer: Answer) -> None:
        self._turn()
        flying = self._in_flight()
        self._answer(*flying[pick % len(flying)], answer)

    @rule(
        dt=st.sampled_from([0.001, 0.5, 1.0, 5.0, 9.6, 10.0, 80.0, 90.0])
        | st.floats(0.0, 20.0)
    )
    def time_passes(self, dt: float) -> None:
        self._turn()
        self.real += dt

    @rule(
        which=st.sampled_from(["P", "D", "expiry", "lease", "cut", "failure"]),
        offset=st.sampled_from([0.0, -0.001, 0.001]),
    )
    def time_to_a_boundary(self, which: str, offset: float) -> None:
        """Move real time to the stored token's refresh point, deadline or
        expiry, the lease's end, a request's cut or the failure's end."""
        self._turn()
        store = self.store.at(self.real)
        points: list[float] = []
        if which in ("P", "D", "expiry") and store.token is not None:
            expires = store.token_expires
            points.append(
                {"P": expires - 2 * LEEWAY, "D": expires - LEEWAY}.get(which, expires)
            )
        elif which == "lease" and store.owner is not None:
            points.append(store.lease_expires)
        elif which == "failure" and store.failure is not None:
            points.append(store.failure_expires)
        elif which == "cut":
            points.extend(
                f.flight.until - p.skew
                for p, f in self._in_flight()
                if f.flight is not None and f.flight.until is not None
            )
        ahead = [point + offset for point in points if point + offset > self.real]
        if ahead:
            self.real = min(ahead)

    @precondition(lambda self: self._rare() and bool(self._ready()))
    @rule(pick=PICK)
    def store_down(self, pick: int) -> None:
        self._turn()
        ready = [(p, f) for p, f in self._ready() if not isinstance(f.op, SendToken)]
        if ready:
            process, fetch = ready[pick % len(ready)]
            self._next(process, fetch, STORE_DOWN, self.local(process))

    @precondition(lambda self: self._rare())
    @rule(pick=PICK)
    def killed(self, pick: int) -> None:
        self._turn()
        index = pick % len(self.processes)
        process = self.processes[index]
        for fetch in process.fetches:
            if fetch.flight is not None and fetch.flight.shared:
                self.orphans.append(fetch.flight.lease_ends)
                self.refreshes_lost += fetch.flight.step.refresh
        # Restarted: a new session, nothing remembered.
        self.processes[index] = Process(skew=process.skew, session=new_session())

    @precondition(lambda self: self._rare())
    @rule(pick=PICK)
    def refused_by_the_api(self, pick: int) -> None:
        self._turn()
        process = self.processes[pick % len(self.processes)]
        token = process.session.token
        if token is not None:
            process.session.invalidate(token)
            process.refused.add(token_tag(token))
            process.fetches_now = 0  # a new reason to fetch: not a loop

    @precondition(lambda self: self._rare())
    @rule()
    def settle(self) -> None:
        """Invariant (d): with a healthy server and store, every process
        gets a token, in bounded time."""
        self._turn()
        done: set[int] = set()
        began = self.real
        for _ in range(5000):
            progress = False
            for process in self.processes:
                for fetch in list(process.fetches):
                    if fetch.flight is not None:
                        self._answer(process, fetch, "token")
                    elif fetch.waiting_until is not None:
                        if not self._wakes(fetch):
                            continue
                        self._wake(process, fetch)
                    else:
                        self._step(process, fetch)
                    progress = True
            for index, process in enumerate(self.processes):
                if index not in done and not process.fetches:
                    step = self._ask(process)
                    if isinstance(step, UseToken):
                        done.add(index)
                    progress = progress or isinstance(step, SendRequest)
            if len(done) == len(self.processes):
                # A failure's cooldown, a marker and a lease at most.
                assert self.real - began <= 3 * 30.0 + LEASE, self.real - began
                return
            if not progress:
                self.real += 0.25
        missing = set(range(len(self.processes))) - done
        raise AssertionError(f"no token for processes {missing}")

    def teardown(self) -> None:
        # Every run ends settled, unless it failed already (then this would
        # only hide why).
        # Toward runs that refresh often, and have requests cut or orphaned.
        target(float(len(self.server.received)), label="refreshes")
        target(float(self.refreshes_lost), label="refreshes failed or lost")
        if sys.exc_info()[1] is None and self.processes:
            self.settle()
            self.one_request_under_a_lease()
            self.no_refresh_token_twice()

    # -- invariants ---------------------------------------------------------------

    @invariant()
    def one_request_under_a_lease(self) -> None:
        # (a): a request counts until it is answered or cut; a killed
        # process's until its lease ends, as the server may still be at it.
        live = [
            f.flight
            for p in self.processes
            for f in p.fetches
            if f.flight is not None
            and f.flight.shared
            and (f.flight.until is None or self.local(p) < f.flight.until)
        ]
        orphans = [ends for ends in self.orphans if self.real < ends]
        assert len(live) + len(orphans) <= 1, (live, orphans)

    @invariant()
    def no_refresh_token_twice(self) -> None:
        # (b)
        assert not self.server.replays, self.server.replays
        assert len(self.server.received) == len(set(self.server.received))


FleetMachine.TestCase.settings = settings(
    max_examples=200,
    stateful_step_count=50,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    phases=[Phase.explicit, Phase.reuse, Phase.generate, Phase.target, Phase.shrink],
)
TestFleet = FleetMachine.TestCase


# -- the hard cases, replayed -------------------------------------------------
# Interleavings a random run reaches only now and then, played step by step
# with every invariant checked after each: each is one a broken rule of the
# protocol would fail (see each docstring), so derandomized runs see them too.


class Replay:
    """A FleetMachine driven by hand, its invariants checked at each step."""

    def __init__(self, *skews: float) -> None:
        self.state = FleetMachine()
        self.state.start(skews=list(skews))
        self.check()

    def check(self) -> None:
        self.state.one_request_under_a_lease()
        self.state.no_refresh_token_twice()

    def process(self, index: int) -> Process:
        return self.state.processes[index]

    def fetch(self, index: int) -> Fetch:
        return self.process(index).fetches[-1]

    def ask(self, index: int) -> object:
        step = self.state._ask(self.process(index))
        self.check()
        return step

    def steps(self, index: int, count: int = 20) -> None:
        """Carry out the fetch's steps until it sends, waits or ends."""
        process, fetch = self.process(index), self.fetch(index)
        assert fetch.flight is None, "its request is in flight"
        assert fetch.waiting_until is None, "it is waiting"
        for _ in range(count):
            self.state._step(process, fetch)
            self.check()
            if (
                fetch not in process.fetches
                or fetch.flight is not None
                or fetch.waiting_until is not None
            ):
                return

    def step(self, index: int) -> None:
        self.state._step(self.process(index), self.fetch(index))
        self.check()

    def answer(self, index: int, answer: Answer = "token") -> None:
        self.state._answer(self.process(index), self.fetch(index), answer)
        self.check()

    def at(self, real: float) -> None:
        assert real >= self.state.real
        self.state.real = real
        self.check()

    def settle(self) -> None:
        self.state.settle()
        self.check()

    @property
    def stored_expiry(self) -> float:
        return self.state.store.token_expires


def test_a_refresh_lost_with_its_sender_is_not_sent_again() -> None:
    """Rule 5. Process 0 refreshes and is killed with the request in
    flight: the server rotated the refresh token, the answer is lost.
    Process 1 must not send it again (without the spend before the send,
    it reads it from the store and the server sees it twice: (b))."""
    replay = Replay(0.0, 7.0)
    replay.settle()
    replay.at(replay.stored_expiry - 20.0)  # P
    assert isinstance(replay.ask(0), SendRequest)
    replay.steps(0)
    flight = replay.fetch(0).flight
    assert flight is not None
    assert flight.step.refresh
    replay.state.killed(0)
    replay.at(replay.state.real + LEASE)  # its lease ends
    assert isinstance(replay.ask(1), SendRequest)
    replay.steps(1)
    flight = replay.fetch(1).flight
    assert flight is not None
    assert not flight.step.refresh  # an acquisition: the refresh token died
    replay.answer(1)
    replay.settle()


def test_a_token_written_while_waiting_for_the_lease_is_read_under_it() -> None:
    """Rule 4. Process 1 reads an unusable token, then process 0 takes the
    lease, refreshes, writes and releases; process 1 takes the free lease:
    it must read again and adopt, not spend the old refresh token again ((b);
    and (f): nothing is sent while a fresh token is stored)."""
    replay = Replay(0.0, -3.0)
    replay.settle()
    replay.at(replay.stored_expiry - 5.0)  # past D, before expiry
    replay.ask(0)
    replay.ask(1)
    replay.step(1)  # process 1 reads the old token
    replay.steps(0)
    replay.answer(0)
    replay.steps(0)  # written, released
    assert not replay.process(0).fetches
    replay.steps(1)  # takes the lease, reads again, releases, adopts
    assert not replay.process(1).fetches
    assert replay.state.server.requests == 2


def test_a_slow_owners_request_is_cut_before_the_next_owner_sends() -> None:
    """(a). Process 0's request is still unanswered when its lease ends and
    process 1 takes the lease: process 0 must have cut it at ``until``."""
    replay = Replay(20.0, -20.0)
    replay.settle()
    replay.at(replay.stored_expiry - 20.0)
    replay.ask(0)
    replay.steps(0)
    assert replay.fetch(0).flight is not None
    replay.at(replay.state.real + LEASE)
    replay.ask(1)
    replay.steps(1)
    assert replay.fetch(1).flight is not None  # sent, under its own lease
    replay.answer(0)  # too late: a timeout
    replay.answer(1)
    replay.settle()


def test_a_fetch_waits_for_a_lease_a_killed_process_holds() -> None:
    """Rule 3. The holder was killed after taking the lease; the stored
    token is past D: process 1 waits (no busy loop, (g)), then takes the
    lease when it ends."""
    replay = Replay(0.0, 0.0)
    replay.settle()
    replay.at(replay.stored_expiry - 5.0)
    replay.ask(0)
    replay.step(0)  # read
    replay.step(0)  # lease taken
    replay.state.killed(0)
    for _ in range(8):
        replay.ask(1)
        if replay.fetch(1).waiting_until is None:
            replay.steps(1)
    assert replay.fetch(1).waiting_until is not None
    replay.settle()


def test_a_due_token_is_refreshed_not_adopted() -> None:
    """Rule 1. At P the stored token is due: the fetch refreshes it, once,
    rather than adopt it and ask again at once ((g))."""
    replay = Replay(0.0, 0.0)
    replay.settle()
    replay.at(replay.stored_expiry - 20.0)
    for _ in range(8):
        replay.ask(0)
        if replay.process(0).fetches and replay.fetch(0).flight is None:
            replay.steps(0)
    flight = replay.fetch(0).flight
    assert flight is not None
    assert flight.step.refresh


def test_a_token_read_is_rebased_into_the_readers_clock() -> None:
    """Clocks. Process 0's clock is 20 s ahead, process 1's 20 s behind:
    process 1 adopts the token process 0 wrote and must not hand it out
    past D in real time ((c))."""
    replay = Replay(20.0, -20.0)
    replay.ask(0)
    replay.steps(0)
    replay.answer(0)
    replay.steps(0)
    replay.ask(1)
    replay.steps(1)
    assert not replay.process(1).fetches  # adopted
    replay.at(replay.stored_expiry - LEEWAY + 1.0)  # D + 1 s
    assert isinstance(replay.ask(1), SendRequest)
    assert isinstance(replay.ask(1), AwaitInFlight)


def test_a_token_the_api_refused_is_not_adopted_again() -> None:
    """Rule 1 ((e)). Process 1's API refused the token both share."""
    replay = Replay(0.0, 0.0)
    replay.settle()
    replay.state.refused_by_the_api(1)
    replay.ask(1)
    replay.steps(1)
    assert replay.fetch(1).flight is not None  # a new token, not the refused one
    replay.answer(1)
    replay.settle()


def test_a_token_adopted_back_after_a_401_is_not_adopted_again() -> None:
    """Rule 1 ((e)), found by the model. Process 1's fetch began before its
    API refused the shared token X, so it adopts X back (it could not know).
    Its next fetch knows: it discards X from the store, finds the lease held
    by process 0, and must not then adopt X as "the session's own" token."""
    replay = Replay(0.0, 0.0)
    replay.settle()
    replay.at(replay.stored_expiry - 20.0)  # P: both refresh
    replay.ask(0)
    replay.ask(1)
    replay.state.refused_by_the_api(1)
    replay.steps(0)  # process 0 holds the lease, its refresh in flight
    replay.steps(1)  # the fetch from before the 401 adopts X back
    assert not replay.process(1).fetches
    replay.at(replay.state.real + POLL)  # its recheck
    assert isinstance(replay.ask(1), SendRequest)
    replay.steps(1)


def test_a_write_made_long_after_the_answer_keeps_the_tokens_expiry() -> None:
    """Clocks, found by the model. Process 0's token came at real time r,
    then its write waited 80 s (a paused process). Had the time to live been
    counted from the answer (100 s) rather than at the write (20 s), the
    store would keep it 80 s too long, and the fleet would hand the token
    out past D ((c))."""
    replay = Replay(0.0)
    replay.ask(0)
    replay.steps(0)
    replay.answer(0)  # issued now
    issued = replay.state.real
    replay.at(issued + 80.0)
    replay.step(0)  # the write
    replay.steps(0)
    replay.ask(0)  # P: due, so a fetch, which reads the store
    replay.steps(0)
    replay.at(issued + USABLE_FOR + 1.0)
    replay.ask(0)  # (c): must not hand it out past D


def test_the_model_fetches_through_the_fleet() -> None:
    """The model is not vacuous: three processes, one request between them,
    every token handed out, and the refresh token rotated under the lease."""
    state = FleetMachine()
    state.start(skews=[0.0, -20.0, 20.0])
    state.settle()
    assert state.server.requests == 1
    assert state.handed_out == 3
    state.real += LIFETIME - LEEWAY - 10.0  # at P
    state.settle()
    assert state.server.requests == 2
    assert len(state.server.received) == 1  # a refresh, with the stored token
    state.one_request_under_a_lease()
    state.no_refresh_token_twice()
