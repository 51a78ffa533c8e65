"""The fleet protocol: one token request for many processes, over a store.

Theory of operation. A :class:`TokenSession` keeps single flight inside a
process: when it says :class:`SendRequest`, one caller of the process is its
fetcher and the others wait. With a shared store, that fetcher does not send
at once. It runs :class:`SharedFetch`, which says, one step at a time, what
to do with the store (read, take the lease, write, release, wait) and when to
send; the client carries the steps out and reports each result with
:meth:`SharedFetch.advance`. The protocol ends in an :class:`Outcome` the
client gives to its session. Every decision is here, and the tests run it
for simulated processes against a model store; the clients only do I/O.

The rules, in the order the protocol meets them:

1. Read first. A stored token before its refresh point ``P`` is adopted,
   with nothing sent. A stored token the API refused here (a 401, its tag
   is in ``refused``) is deleted, by tag, so a token another process wrote
   since is never deleted, and never adopted.
2. A stored failure (no usable token beside it) is the fleet's: the
   session takes it as its own and waits it out, sending nothing. So a
   rejected credential costs one request per cooldown for the whole fleet.
3. Take the lease (``SET NX PX`` with an owner of ours). If another holds
   it: a stored token still before its deadline ``D`` is adopted meanwhile,
   or the session's own, and neither is asked about again before the lease
   ends; without one, wait to be woken (or for the lease's end, or the poll
   bound), then read again.
4. With the lease, read again: another process may have just written.
5. Send. A refresh token is only ever the store's, read under the lease,
   and it is taken out of the store before it is sent: if this process dies
   with the request in flight, the next owner acquires anew rather than
   send it a second time (a refresh token replayed can revoke the grant).
6. Write the token before releasing the lease; write a failure for as long
   as the session will wait it out. ``invalid_grant`` on a refresh writes
   nothing: the session acquires anew at once, and its next fetch reads the
   store again first.
7. The store failing is never the caller's failure: the fetch goes on
   alone, an acquisition with the flow's own credentials (never a refresh
   token that another process may have used), and the client logs it. A
   lease that may have been taken before the store failed is released
   after (a compare-and-delete: only if it is ours).

Clocks. Times to live come from the store, so a token read is placed in the
reader's clock by when its read began plus its time to live, not by the
writer's clock: processes whose wall clocks disagree still agree on when a
token ends, and none hands one out past ``D``.
"""

from __future__ import annotations

import math
from collections.abc import Container, Generator
from typing import Final, final

import attrs

from ._errors import TokenError
from ._session import TokenSession
from ._stored import (
    StoredEntry,
    decode_failure,
    decode_stored,
    encode_failure,
    encode_stored,
    stored_ttl,
    token_tag,
)
from ._token import Token

__all__ = [
    "MAX_SKEW",
    "STORE_DOWN",
    "Adopt",
    "DiscardToken",
    "Finished",
    "Outcome",
    "ReadStore",
    "ReleaseLease",
    "SendToken",
    "Sent",
    "ShareFailure",
    "SharedFetch",
    "StoreOp",
    "TakeLease",
    "WaitForStore",
    "WriteFailure",
    "WriteToken",
]

# The lease ends this much (at most a tenth of it) before the store says,
# for us: the store's clock started it after we asked.
_LEASE_MARGIN: Final = 0.5
# The least wait before reading again: never a busy loop.
_MIN_WAIT: Final = 0.01

MAX_SKEW: Final = 300.0
"""How far a stored token's own expiry may be from the one its time to live
in the store gives, in seconds, for it to be adopted: the clocks of a
fleet's hosts may disagree by this much and still share tokens."""


# -- what to do with the store ---------------------------------------------


@final
@attrs.frozen
class ReadStore:
    """Read the entry (:meth:`Store.read`); reply with a ``StoredEntry``."""


@final
@attrs.frozen(kw_only=True)
class TakeLease:
    """Take the lease for ``ttl`` seconds; reply with None when taken, else
    the seconds left of the holder's lease."""

    ttl: float


@final
@attrs.frozen(kw_only=True, repr=False)
class WriteToken:
    """Write the token, if the lease is ours or free; reply with a bool.

    The store keeps it until ``expires_at`` (in the client's clock): the
    client turns that into a time to live when it writes, with
    :meth:`ttl_at`, so a write made late still ends with the token. A token
    that has expired by then is not written (reply False).
    """

    token: bytes
    tag: str
    expires_at: float | None
    """When the token expires (None: never), in the client's clock."""

    def ttl_at(self, now: float) -> float | None:
        """The time to live to write at *now*: None for no expiry, and 0.0
        or less when there is nothing left to write."""
        return None if self.expires_at is None else self.expires_at - now

    def __repr__(self) -> str:
        return f"WriteToken(expires_at={self.expires_at!r})"


@final
@attrs.frozen(kw_only=True)
class WriteFailure:
    """Write the failure for ``ttl`` seconds; reply with a bool."""

    failure: bytes
    ttl: float


@final
@attrs.frozen
class ReleaseLease:
    """Release the lease if it is still ours; reply with None."""


@final
@attrs.frozen(kw_only=True)
class DiscardToken:
    """Delete the stored token if its tag is ``tag``; reply with a bool."""

    tag: str


@final
@attrs.frozen(kw_only=True)
class WaitForStore:
    """Wait at most ``timeout`` seconds to be woken; reply with None.

    Before waiting, the client tells its session the fetch is alive
    (``session.extend(step)``): its own waiters must not take it for lost
    while it waits for another process."""

    timeout: float


@final
@attrs.frozen(kw_only=True, repr=False)
class SendToken:
    """Send the token request now: ``session.reissue(step,
    refresh_token=refresh_token)``, send it, report it to the session, and
    reply with :class:`Sent`. ``shared`` is False when the store failed and
    the fetch goes on alone. ``until`` is when the lease ends for us: the
    request must be over by then (None when alone)."""

    refresh_token: str | None
    shared: bool = True
    until: float | None = None

    def __repr__(self) -> str:
        refresh = "yes" if self.refresh_token is not None else "no"
        return (
            f"SendToken(refresh_token={refresh}, shared={self.shared}, "
            f"until={self.until!r})"
        )


StoreOp = (
    ReadStore
    | TakeLease
    | WriteToken
    | WriteFailure
    | ReleaseLease
    | DiscardToken
    | WaitForStore
    | SendToken
)
"""A step of the protocol: what the client does next."""


@final
class _StoreDown:
    __slots__ = ()

    def __repr__(self) -> str:
        return "STORE_DOWN"


STORE_DOWN: Final = _StoreDown()
"""The reply to any store step that raised or timed out."""


@final
@attrs.frozen(kw_only=True)
class Sent:
    """The reply to :class:`SendToken`: what the session made of the answer.

    ``result`` is what ``receive`` returned (None if the report was ignored
    or the sender gave up), ``rejected`` whether it was ``invalid_grant`` on
    a refresh, ``hold`` the session's :meth:`~TokenSession.hold_off` after
    a failure.
    """

    result: Token | TokenError | None
    at: float
    """When the answer came (or the send gave up), in the client's clock."""
    rejected: bool = False
    hold: float = 0.0


# -- how it ends -----------------------------------------------------------


@final
@attrs.frozen(kw_only=True)
class Adopt:
    """``session.adopt(token, step=..., recheck_at=recheck_at)``."""

    token: Token
    recheck_at: float | None = None


@final
@attrs.frozen(kw_only=True)
class ShareFailure:
    """``session.share_failure(error, step=..., wait=wait)``: the fleet's
    failure, waited out for at least ``wait`` seconds."""

    error: TokenError
    wait: float = 0.0


@final
@attrs.frozen
class Finished:
    """The send was reported to the session already: nothing more to do."""


Outcome = Adopt | ShareFailure | Finished
"""How a :class:`SharedFetch` ends."""


# -- the protocol ----------------------------------------------------------


@final
@attrs.frozen(kw_only=True)
class _Reply:
    started: float
    value: object


_Protocol = Generator[StoreOp, _Reply, Outcome]


@final
@attrs.frozen(kw_only=True)
class _Read:
    token: Token | None  # decoded, in the reader's clock
    tag: str | None
    due: bool  # at or past its refresh point
    usable: bool  # before its deadline
    failure: TokenError | None
    failure_left: float  # seconds the failure is still waited out
    refused: bool  # its tag is one the API refused here


def _rebased(token: Token, ttl: float | None, started: float) -> Token | None:
    # The store's time to live places the token in this process's clock.
    if ttl is None or token.expires_at is None:
        return token
    shift = (started + ttl) - token.expires_at
    if shift == 0:
        return token
    if abs(shift) > MAX_SKEW:
        # Clocks this far apart are not skew: a value put back in the store
        # with a fresh time to live (its seal still opens), or a writer
        # whose clock is broken. Not adopted: this process fetches its own.
        return None
    try:
        return attrs.evolve(
            token,
            received_at=token.received_at + shift,
            expires_at=token.expires_at + shift,
        )
    except (TypeError, ValueError):  # pragma: no cover - a shift to infinity
        return token


def _is_seconds(value: object, *, zero: bool = False) -> bool:
    return (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and (value >= 0 if zero else value > 0)
        and value < math.inf
    )


class SharedFetch:
    """The fleet protocol for one fetch of a session, step by step.

    Start it when the session says :class:`SendRequest` and the client has a
    store; then carry out each step and :meth:`advance` with its result
    until an :class:`Outcome` comes back.

    Args:
      session: the session whose fetch this is; only read, never changed
        (the client reports to it).
      lease: seconds the lease lasts: the session's ``fetch_timeout``, which
        is the transport's timeout plus a margin, so that the lease outlives
        the request.
      refused: tags (:func:`token_tag`) of tokens the API refused here: a
        container the client may add to while the fetch runs (a 401 that
        comes while it waits for another process), read at each step.
      poll: the longest wait before reading again when no wake-up comes.
      patience: after waiting this long for others in all, send alone.
    """

    __slots__ = ("_protocol", "_step")

    def __init__(
        self,
        session: TokenSession,
        *,
        lease: float,
        refused: Container[str] = frozenset(),
        poll: float = 1.0,
        patience: float | None = None,
    ) -> None:
        if patience is None and _is_seconds(lease):
            patience = 3 * lease
        for name, value in (("lease", lease), ("poll", poll)):
            if not _is_seconds(value):
                raise ValueError(f"{name} must be a finite number of seconds > 0")
        if not _is_seconds(patience, zero=True):
            raise ValueError("patience must be a finite number of seconds >= 0")
        assert patience is not None
        self._protocol = _protocol(session, lease, refused, poll, patience)
        self._step: StoreOp | None = None

    def start(self) -> StoreOp:
        """The first step: always :class:`ReadStore`."""
        self._step = next(self._protocol)
        return self._step

    def advance(self, value: object, *, started: float) -> StoreOp | Outcome:
        """Report the result of the last step and get the next one.

        Args:
          value: the step's result, or :data:`STORE_DOWN` if the store
            raised or timed out.
          started: when the step began (UNIX seconds, the client's clock).

        Returns:
          The next step, or the :class:`Outcome` once the protocol is over.
        """
        try:
            self._step = self._protocol.send(_Reply(started=started, value=value))
        except StopIteration as stop:
            self._step = None
            outcome: Outcome = stop.value
            return outcome
        return self._step


def _read(
    session: TokenSession, entry: object, started: float, refused: Container[str]
) -> _Read:
    token = tag = failure = None
    due = usable = False
    left = 0.0
    if isinstance(entry, StoredEntry):
        if entry.token is not None:
            token = decode_stored(entry.token)
        if token is not None:
            token = _rebased(token, entry.token_ttl, started)
        if token is not None:
            tag = token_tag(token)
            refresh_at, deadline = session.times(token, started)
            due, usable = started >= refresh_at, started < deadline
        if entry.failure is not None and entry.failure_ttl is not None:
            # A failure is waited out for what is left of it, but never for
            # longer than this session would wait one out itself: whoever can
            # write to the store cannot stop the fleet for good.
            retry = session.retry
            left = min(entry.failure_ttl, max(retry.cooldown, retry.max_delay))
            failure = decode_failure(entry.failure, retry_after=left)
    return _Read(
        token=token,
        tag=tag,
        due=due,
        usable=usable,
        failure=failure,
        failure_left=left if failure is not None else 0.0,
        refused=tag is not None and tag in refused,
    )


def _own_usable(
    session: TokenSession, now: float, refused: Container[str]
) -> Token | None:
    token = session.token
    if token is None or now >= session.times(token, now)[1]:
        return None
    # One the API refused here is not handed out again, from the store or
    # from the session (which may have adopted it before the 401 came).
    return None if token_tag(token) in refused else token


def _alone() -> _Protocol:
    # The store failed: an acquisition with the flow's own credentials.
    yield SendToken(refresh_token=None, shared=False)
    return Finished()


def _protocol(
    session: TokenSession,
    lease: float,
    refused: Container[str],
    poll: float,
    patience: float,
) -> _Protocol:
    holding = False
    waited = 0.0
    until = 0.0
    while True:
        reply = yield ReadStore()
        if reply.value is STORE_DOWN:
            return (yield from _alone())
        read = _read(session, reply.value, reply.started, refused)
        if read.refused:
            assert read.tag is not None
            yield DiscardToken(tag=read.tag)  # whatever it says: not adopted
            read = attrs.evolve(read, token=None, due=False, usable=False)
        if read.token is not None and read.usable and not read.due:
            if holding:
                yield ReleaseLease()
            return Adopt(token=read.token)
        if read.failure is not None:
            if holding:
                yield ReleaseLease()
            if read.token is not None and read.usable:
                # Due, but the fleet's last try failed: used until the
                # failure is waited out (or its deadline), not fetched again.
                recheck_at = reply.started + read.failure_left
                return Adopt(token=read.token, recheck_at=recheck_at)
            return ShareFailure(error=read.failure, wait=read.failure_left)
        if not holding:
            reply = yield TakeLease(ttl=lease)
            if reply.value is STORE_DOWN:
                # The store may have taken the lease and lost its reply:
                # released (if it is ours) once the fetch alone is done, or
                # the fleet would wait out a lease nobody holds.
                outcome = yield from _alone()
                yield ReleaseLease()
                return outcome
            if reply.value is not None:
                left = reply.value if isinstance(reply.value, float | int) else 0.0
                # Nothing left, or not a number: the store cannot say when
                # the lease ends (one set by hand, without a time to live).
                wake = poll if left <= 0 else min(max(float(left), _MIN_WAIT), poll)
                usable = read.token if read.usable else None
                if usable is None:
                    usable = _own_usable(session, reply.started, refused)
                if usable is not None:
                    # Another process is refreshing: this token serves until
                    # it has written, and is not asked about before then.
                    return Adopt(token=usable, recheck_at=reply.started + wake)
                if waited >= patience:
                    return (yield from _alone())
                yield WaitForStore(timeout=wake)
                waited += wake
                continue
            holding = True
            until = reply.started + lease - min(_LEASE_MARGIN, lease / 10)
            continue  # read again under the lease
        refresh_token = None
        token = read.token
        ttl = None if token is None else stored_ttl(token, reply.started)
        if token is not None and token.refresh_token is not None and ttl != 0:
            refresh_token = token.refresh_token
            # Taken out of the store before it is sent (rule 5).
            spent = attrs.evolve(token, refresh_token=None)
            reply = yield WriteToken(
                token=encode_stored(spent),
                tag=token_tag(spent),
                expires_at=spent.expires_at,
            )
            if reply.value is STORE_DOWN:
                return (yield from _alone())
            if reply.value is not True:
                # Our lease ran out and another owner holds it: start over.
                holding = False
                continue
        reply = yield SendToken(refresh_token=refresh_token, until=until)
        sent = reply.value
        assert isinstance(sent, Sent)
        result = sent.result
        if isinstance(result, Token):
            ttl = stored_ttl(result, sent.at)
            if ttl is None or ttl > 0:
                yield WriteToken(
                    token=encode_stored(result),
                    tag=token_tag(result),
                    expires_at=result.expires_at,
                )
        elif isinstance(result, TokenError) and not sent.rejected and sent.hold > 0:
            yield WriteFailure(failure=encode_failure(result), ttl=sent.hold)
        yield ReleaseLease()
        return Finished()
