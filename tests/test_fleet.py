"""The fleet protocol, rule by rule (``sansio_auth._fleet``).

Each test drives :class:`SharedFetch` by hand: it plays the client, replying
to every step with a value it builds (a :class:`StoredEntry`, a lease
answer, a :class:`Sent`), and checks the next step against the rule of the
module docstring it is named after. The sessions use ``leeway=0`` and
``refresh_ahead=0.1``, so that for a stored token of lifetime 100 s the
deadline ``D`` is its expiry and the refresh point ``P`` is 10 s before it.
The protocol only reads its session; where a step needs the session's
answer (``reissue``, ``receive``), the test calls it as a client would.
"""

from __future__ import annotations

import math
from typing import Any

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from sansio_auth import (
    STORE_DOWN,
    Adopt,
    ApiKeyExchange,
    DiscardToken,
    Failed,
    Finished,
    HttpError,
    OAuthError,
    ReadStore,
    ReleaseLease,
    RetryPolicy,
    SendRequest,
    SendToken,
    Sent,
    SessionEvent,
    SharedFetch,
    ShareFailure,
    StoredEntry,
    TakeLease,
    Token,
    TokenError,
    TokenSession,
    TransportError,
    UseToken,
    WaitForStore,
    WriteFailure,
    WriteToken,
    token_tag,
)
from sansio_auth._fleet import MAX_SKEW, Outcome, StoreOp
from sansio_auth._stored import decode_stored, encode_failure, encode_stored

from session_driver import client_credentials, form, oauth_error, token_response

T = 1000.0
"""When the fetch under test starts, in its process's clock."""
LEASE = 10.0
MARGIN = 0.5  # min(0.5, LEASE / 10): the lease ends this much early for us
LIFETIME = 100.0


def new_session(**kwargs: Any) -> TokenSession:
    kwargs.setdefault("leeway", 0.0)
    kwargs.setdefault("refresh_ahead", 0.1)
    kwargs.setdefault("fetch_timeout", LEASE)
    flow = kwargs.pop("flow", None) or client_credentials()
    return TokenSession(flow, **kwargs)


def stored_token(
    access_token: str = "stored-1",
    *,
    left: float,
    refresh_token: str | None = None,
    writer_offset: float = 0.0,
) -> Token:
    """A token of lifetime 100 s with *left* seconds to live at T, in the
    clock of a writer *writer_offset* seconds ahead of ours."""
    expires_at = T + left + writer_offset
    return Token(
        access_token=access_token,
        received_at=expires_at - LIFETIME,
        expires_at=expires_at,
        refresh_token=refresh_token,
    )


def entry(
    token: Token | None = None,
    *,
    failure: TokenError | None = None,
    failure_ttl: float | None = None,
    at: float = T,
) -> StoredEntry:
    """What a store returns for *token*, read at *at*: its TTL is what is
    left of it then."""
    ttl = None
    if token is not None and token.expires_at is not None:
        ttl = max(0.0, token.expires_at - at)
    return StoredEntry(
        token=None if token is None else encode_stored(token),
        token_ttl=ttl,
        failure=None if failure is None else encode_failure(failure),
        failure_ttl=failure_ttl,
    )


FRESH = stored_token("fresh-1", left=50.0)  # P = T + 40: not due
DUE = stored_token("due-1", left=5.0, refresh_token="rt-due")  # P = T - 5, D = T + 5
SPENT = stored_token("due-1", left=5.0)  # DUE, its refresh token taken out
GONE = stored_token("gone-1", left=0.0)  # at D: not usable


def started(
    session: TokenSession | None = None,
    *,
    refused: frozenset[str] = frozenset(),
    poll: float = 1.0,
    patience: float | None = None,
) -> tuple[SharedFetch, TokenSession]:
    """A fetch that has asked for its first step (a ReadStore)."""
    session = session or new_session()
    fetch = SharedFetch(
        session, lease=LEASE, refused=refused, poll=poll, patience=patience
    )
    assert fetch.start() == ReadStore()
    return fetch, session


def run(fetch: SharedFetch, *replies: object, at: float = T) -> list[StoreOp | Outcome]:
    """Reply to the steps in order; every step that follows, in order."""
    return [fetch.advance(reply, started=at) for reply in replies]


EMPTY = StoredEntry()


def under_lease(fetch: SharedFetch, stored: StoredEntry = EMPTY) -> StoreOp:
    """Read nothing usable, take the lease, read *stored* again: the step
    that follows."""
    assert run(fetch, StoredEntry(), None) == [TakeLease(ttl=LEASE), ReadStore()]
    op = fetch.advance(stored, started=T)
    assert not isinstance(op, Adopt | ShareFailure | Finished)
    return op


def sent_token(access_token: str = "new-1", *, at: float = T) -> Token:
    return Token(access_token=access_token, received_at=at, expires_at=at + LIFETIME)


UNTIL = T + LEASE - MARGIN


# -- rule 1: read first -----------------------------------------------------


def test_a_stored_token_before_its_refresh_point_is_adopted_without_a_lease() -> None:
    fetch, _ = started()
    outcome = fetch.advance(entry(FRESH), started=T)
    assert outcome == Adopt(token=FRESH)
    assert isinstance(outcome, Adopt)
    assert outcome.recheck_at is None


def test_a_token_read_at_its_refresh_point_is_due_not_adopted() -> None:
    fetch, _ = started()
    at_p = stored_token(left=10.0)  # P = T exactly
    assert fetch.advance(entry(at_p), started=T) == TakeLease(ttl=LEASE)


@pytest.mark.parametrize("found", [True, False])
def test_a_refused_token_is_discarded_by_its_tag_and_never_adopted(
    found: bool,
) -> None:
    fetch, _ = started(refused=frozenset({token_tag(FRESH)}))
    assert fetch.advance(entry(FRESH), started=T) == DiscardToken(tag=token_tag(FRESH))
    # Whether the store still had it or another process replaced it: fetch.
    assert fetch.advance(found, started=T) == TakeLease(ttl=LEASE)


def test_a_refused_token_read_again_under_the_lease_is_discarded_again() -> None:
    refused = stored_token("refused-1", left=50.0, refresh_token="rt-refused")
    fetch, _ = started(refused=frozenset({token_tag(refused)}))
    assert run(fetch, entry(refused), True, None, entry(refused), False) == [
        DiscardToken(tag=token_tag(refused)),
        TakeLease(ttl=LEASE),
        ReadStore(),
        DiscardToken(tag=token_tag(refused)),
        # Its refresh token is not used either: an acquisition.
        SendToken(refresh_token=None, until=UNTIL),
    ]


def test_a_token_refused_as_a_string_tag_is_the_same_tag() -> None:
    fetch, _ = started(refused=frozenset({token_tag(FRESH.access_token)}))
    assert fetch.advance(entry(FRESH), started=T) == DiscardToken(tag=token_tag(FRESH))


@pytest.mark.parametrize("refresh_token", ["\ud800", "rt-\udfff-1"])
def test_a_tampered_stored_refresh_token_never_fails_the_call(
    refresh_token: str,
) -> None:
    """Reading trusts nothing (``_stored.py``): a stored value the flow
    cannot send is a cache miss, never a failed call (``reissue`` would
    raise the flow's ValueError for a lone surrogate)."""
    session = new_session()
    step = session.next_step(T)
    assert isinstance(step, SendRequest)
    fetch, _ = started(session)
    tampered = stored_token("due-1", left=5.0, refresh_token=refresh_token)
    op: StoreOp | Outcome = under_lease(fetch, entry(tampered))
    if isinstance(op, WriteToken):
        op = fetch.advance(True, started=T)
    assert isinstance(op, SendToken)
    again = session.reissue(step, refresh_token=op.refresh_token, now=T)
    assert again is not None


def test_a_tampered_access_token_is_never_adopted() -> None:
    """A CR or LF in an access token would inject a header: refused from a
    store as from a server (``_parse.py``)."""
    tampered = Token(
        access_token="at\r\nX-Injected: 1",
        received_at=T - 50.0,
        expires_at=T + 50.0,
    )
    fetch, _ = started()
    outcome = fetch.advance(entry(tampered), started=T)
    assert not isinstance(outcome, Adopt)


# -- rule 2: a stored failure is the fleet's ----------------------------------

FAILURES: list[TokenError] = [
    OAuthError(error="invalid_client", status=401),
    OAuthError(error="temporarily_unavailable", status=503, retry_after=3.0),
    HttpError(status=502, content_type="text/html", snippet="bad gateway"),
    TransportError(reason="reset", retryable=True),
]


@pytest.mark.parametrize("error", FAILURES, ids=lambda error: type(error).__name__)
def test_a_stored_failure_is_shared_with_its_time_to_live(error: TokenError) -> None:
    fetch, _ = started()
    outcome = fetch.advance(entry(failure=error, failure_ttl=7.5), started=T)
    assert isinstance(outcome, ShareFailure)
    assert type(outcome.error) is type(error)
    if isinstance(outcome.error, OAuthError | HttpError):
        # The session waits it out at least as long as the store keeps it.
        assert outcome.error.retry_after == 7.5


def test_a_stored_failure_beside_an_unusable_token_is_shared() -> None:
    fetch, _ = started()
    error = OAuthError(error="invalid_client", status=401)
    outcome = fetch.advance(entry(GONE, failure=error, failure_ttl=30.0), started=T)
    assert isinstance(outcome, ShareFailure)


def test_a_fresh_token_beside_a_failure_is_adopted() -> None:
    fetch, _ = started()
    error = OAuthError(error="invalid_client", status=401)
    outcome = fetch.advance(entry(FRESH, failure=error, failure_ttl=30.0), started=T)
    assert outcome == Adopt(token=FRESH)


def test_a_failure_beside_a_due_token_is_waited_out_with_the_token() -> None:
    """Rule 2 with a usable token: the fleet's last try failed, so the due
    token serves until the failure is waited out (or D), and nothing is
    sent meanwhile: one request per failure for the fleet, not one per
    process whose copy came due."""
    fetch, _ = started()
    usable = stored_token("due-1", left=8.0)  # P = T - 2 (due), D = T + 8
    error = OAuthError(error="temporarily_unavailable", status=503)
    outcome = fetch.advance(entry(usable, failure=error, failure_ttl=5.0), started=T)
    assert outcome == Adopt(token=usable, recheck_at=T + 5.0)


def test_a_failure_found_under_the_lease_beside_a_due_token_releases_it() -> None:
    fetch, _ = started()
    run(fetch, StoredEntry(), None)
    error = HttpError(status=503, content_type=None, snippet="")
    assert fetch.advance(entry(DUE, failure=error, failure_ttl=3.0), started=T) == (
        ReleaseLease()
    )
    assert fetch.advance(None, started=T) == Adopt(token=DUE, recheck_at=T + 3.0)


def test_the_adopted_token_is_still_handed_out_until_d_only() -> None:
    session = new_session()
    step = session.next_step(T)
    assert isinstance(step, SendRequest)
    fetch, _ = started(session)
    usable = stored_token("due-1", left=8.0)
    error = OAuthError(error="temporarily_unavailable", status=503)
    outcome = fetch.advance(entry(usable, failure=error, failure_ttl=20.0), started=T)
    assert isinstance(outcome, Adopt)
    session.adopt(outcome.token, now=T, step=step, recheck_at=outcome.recheck_at)
    assert session.next_step(T + 7.0) == UseToken(token=usable)
    assert isinstance(session.next_step(T + 8.0), SendRequest)


@pytest.mark.parametrize("stored_for", [1e6, 31.0, 1e300])
def test_a_failure_is_waited_out_no_longer_than_the_session_would(
    stored_for: float,
) -> None:
    # Whoever can write to the store cannot stop the fleet for good.
    session = new_session(retry=RetryPolicy(cooldown=20.0, max_delay=30.0))
    fetch, _ = started(session)
    error = OAuthError(error="invalid_client", status=401)
    outcome = fetch.advance(entry(failure=error, failure_ttl=stored_for), started=T)
    assert isinstance(outcome, ShareFailure)
    assert isinstance(outcome.error, OAuthError)
    assert outcome.error.retry_after == 30.0


def test_a_failure_without_a_time_to_live_is_no_failure() -> None:
    fetch, _ = started()
    error = OAuthError(error="invalid_client", status=401)
    assert fetch.advance(entry(failure=error), started=T) == TakeLease(ttl=LEASE)


def test_a_failure_that_does_not_decode_is_no_failure() -> None:
    fetch, _ = started()
    garbage = StoredEntry(failure=b"not a failure", failure_ttl=30.0)
    assert fetch.advance(garbage, started=T) == TakeLease(ttl=LEASE)


# -- rule 3: the lease, or wait -------------------------------------------------


def test_lease_held_by_another_and_a_due_token_adopts_it_until_a_recheck() -> None:
    fetch, _ = started()
    assert fetch.advance(entry(DUE), started=T) == TakeLease(ttl=LEASE)
    outcome = fetch.advance(4.0, started=T + 0.25)
    # Another process is refreshing: no asking again for min(left, poll).
    assert outcome == Adopt(token=DUE, recheck_at=T + 0.25 + 1.0)


def test_the_recheck_comes_when_the_holders_lease_ends_if_sooner() -> None:
    fetch, _ = started(poll=5.0)
    run(fetch, entry(DUE))
    assert fetch.advance(2, started=T) == Adopt(token=DUE, recheck_at=T + 2.0)


@pytest.mark.parametrize("left", [0.0, 0, -3.0, "unknown", b"5"])
def test_a_lease_whose_end_is_unknown_rechecks_after_the_poll(
    left: object,
) -> None:
    # A lease set by hand, without a time to live: never a 10 ms loop.
    fetch, _ = started(poll=2.0)
    run(fetch, entry(DUE))
    outcome = fetch.advance(left, started=T)
    assert isinstance(outcome, Adopt)
    assert outcome.recheck_at == T + 2.0


def test_a_lease_about_to_end_rechecks_after_the_least_wait() -> None:
    fetch, _ = started()
    run(fetch, entry(DUE))
    outcome = fetch.advance(0.001, started=T)
    assert isinstance(outcome, Adopt)
    assert outcome.recheck_at == T + 0.01


def test_lease_held_and_the_sessions_own_token_usable_adopts_its_own() -> None:
    session = new_session()
    step = session.next_step(T - 90.0)
    assert isinstance(step, SendRequest)
    own = session.receive(token_response("own-1", expires_in=100), now=T - 90.0)
    assert isinstance(own, Token)  # P = T, D = T + 10
    fetch, _ = started(session)
    assert run(fetch, StoredEntry(), 3.0) == [
        TakeLease(ttl=LEASE),
        Adopt(token=own, recheck_at=T + 1.0),
    ]


def test_a_usable_stored_token_is_preferred_to_the_sessions_own() -> None:
    session = new_session()
    session.next_step(T - 90.0)
    session.receive(token_response("own-1", expires_in=100), now=T - 90.0)
    fetch, _ = started(session)
    assert run(fetch, entry(DUE), 3.0) == [
        TakeLease(ttl=LEASE),
        Adopt(token=DUE, recheck_at=T + 1.0),
    ]


def test_lease_held_and_nothing_usable_waits_then_reads_again() -> None:
    session = new_session()
    session.next_step(T - 200.0)
    session.receive(token_response("old-1", expires_in=100), now=T - 200.0)
    fetch, _ = started(session, poll=2.0)
    # Its own token and the stored one are past D: nothing to adopt.
    assert run(fetch, entry(GONE), 0.5, None) == [
        TakeLease(ttl=LEASE),
        WaitForStore(timeout=0.5),
        ReadStore(),
    ]
    assert run(fetch, StoredEntry(), 9.0, None) == [
        TakeLease(ttl=LEASE),
        WaitForStore(timeout=2.0),  # the poll bound
        ReadStore(),
    ]
    # Written meanwhile: adopted, no lease needed.
    assert fetch.advance(entry(FRESH), started=T) == Adopt(token=FRESH)


def test_out_of_patience_the_fetch_sends_alone() -> None:
    fetch, _ = started(poll=1.0, patience=2.0)
    assert run(fetch, StoredEntry(), 5.0, None, StoredEntry(), 4.0, None) == [
        TakeLease(ttl=LEASE),
        WaitForStore(timeout=1.0),
        ReadStore(),
        TakeLease(ttl=LEASE),
        WaitForStore(timeout=1.0),
        ReadStore(),
    ]
    assert run(fetch, StoredEntry(), 3.0) == [
        TakeLease(ttl=LEASE),
        SendToken(refresh_token=None, shared=False, until=None),
    ]
    assert fetch.advance(Sent(result=sent_token(), at=T), started=T) == Finished()


def test_without_patience_the_fetch_sends_alone_at_once() -> None:
    fetch, _ = started(patience=0.0)
    assert run(fetch, StoredEntry(), 3.0) == [
        TakeLease(ttl=LEASE),
        SendToken(refresh_token=None, shared=False),
    ]


def test_patience_is_three_leases_by_default() -> None:
    fetch, _ = started(poll=LEASE)
    waits = 0
    op = fetch.advance(StoredEntry(), started=T)
    while not isinstance(op, SendToken):
        assert op == TakeLease(ttl=LEASE)
        op = fetch.advance(LEASE, started=T)
        if isinstance(op, WaitForStore):
            waits += 1
            assert fetch.advance(None, started=T) == ReadStore()
            op = fetch.advance(StoredEntry(), started=T)
    assert waits == 3
    assert op == SendToken(refresh_token=None, shared=False)


# -- rule 4: read again under the lease ---------------------------------------


def test_a_token_written_before_the_lease_was_ours_is_adopted_and_released() -> None:
    fetch, _ = started()
    assert fetch.advance(entry(DUE), started=T) == TakeLease(ttl=LEASE)
    assert fetch.advance(None, started=T) == ReadStore()
    assert fetch.advance(entry(FRESH), started=T) == ReleaseLease()
    assert fetch.advance(None, started=T) == Adopt(token=FRESH)


def test_a_failure_written_before_the_lease_was_ours_is_shared_and_released() -> None:
    fetch, _ = started()
    run(fetch, StoredEntry(), None)
    error = OAuthError(error="invalid_client", status=401)
    assert fetch.advance(entry(failure=error, failure_ttl=30.0), started=T) == (
        ReleaseLease()
    )
    outcome = fetch.advance(None, started=T)
    assert isinstance(outcome, ShareFailure)
    assert isinstance(outcome.error, OAuthError)
    assert outcome.error.error == "invalid_client"


# -- rule 5: a refresh token is spent before it is sent -----------------------


def test_a_stored_refresh_token_is_taken_out_of_the_store_before_it_is_sent() -> None:
    fetch, _ = started()
    spend = under_lease(fetch, entry(DUE))
    assert isinstance(spend, WriteToken)
    written = decode_stored(spend.token)
    assert written == SPENT  # the same token, its refresh token taken out
    assert written is not None
    assert written.refresh_token is None
    assert spend.tag == token_tag(DUE)
    assert spend.ttl_at(T) == 5.0  # what the store said was left of it
    assert fetch.advance(True, started=T) == SendToken(
        refresh_token="rt-due", until=UNTIL
    )


def test_a_spent_token_is_read_as_one_without_a_refresh_token() -> None:
    fetch, _ = started()
    assert under_lease(fetch, entry(SPENT)) == SendToken(
        refresh_token=None, until=UNTIL
    )


@pytest.mark.parametrize("refused", [False, None, STORE_DOWN])
def test_a_spend_the_store_refused_sends_nothing_with_the_refresh_token(
    refused: object,
) -> None:
    fetch, _ = started()
    assert isinstance(under_lease(fetch, entry(DUE)), WriteToken)
    op = fetch.advance(refused, started=T)
    if refused is STORE_DOWN:
        # Maybe written, maybe not: alone, with the flow's own credentials.
        assert op == SendToken(refresh_token=None, shared=False)
    else:
        # Another owner has the lease now: start over, as a reader.
        assert op == ReadStore()
        assert fetch.advance(entry(SPENT), started=T) == TakeLease(ttl=LEASE)


def test_a_stored_token_without_expiry_is_spent_without_a_time_to_live() -> None:
    session = new_session(default_lifetime=100.0)
    eternal = Token(access_token="eternal-1", received_at=T - 95.0, refresh_token="rt")
    fetch, _ = started(session)
    stored = StoredEntry(token=encode_stored(eternal))
    assert fetch.advance(stored, started=T) == TakeLease(ttl=LEASE)
    assert fetch.advance(None, started=T) == ReadStore()
    spend = fetch.advance(stored, started=T)
    assert isinstance(spend, WriteToken)
    assert spend.expires_at is None
    assert fetch.advance(True, started=T) == SendToken(refresh_token="rt", until=UNTIL)


def test_an_expired_stored_token_is_not_refreshed() -> None:
    # Its entry dies with it: the refresh token is not sent past it.
    fetch, _ = started()
    expired = stored_token("expired-1", left=0.0, refresh_token="rt-expired")
    assert under_lease(fetch, entry(expired)) == SendToken(
        refresh_token=None, until=UNTIL
    )


# -- rule 6: write, then release ------------------------------------------------


def test_a_token_is_written_for_its_life_then_the_lease_released() -> None:
    session = new_session()
    step = session.next_step(T)
    assert isinstance(step, SendRequest)
    fetch, _ = started(session)
    op = under_lease(fetch)
    assert op == SendToken(refresh_token=None, until=UNTIL)
    sent = session.reissue(step, refresh_token=None, now=T + 1.0)
    assert sent is not None
    token = session.receive(token_response("new-1", expires_in=100), now=T + 2.0)
    assert isinstance(token, Token)
    write = fetch.advance(Sent(result=token, at=T + 3.0), started=T + 1.0)
    assert isinstance(write, WriteToken)
    assert decode_stored(write.token) == token
    assert write.tag == token_tag(token)
    assert write.expires_at == token.expires_at
    assert write.ttl_at(T + 3.0) == 99.0  # counted at the write
    assert fetch.advance(True, started=T + 3.0) == ReleaseLease()
    assert fetch.advance(None, started=T + 3.0) == Finished()


@pytest.mark.parametrize("written", [True, False, STORE_DOWN])
def test_whatever_the_write_says_the_lease_is_released(written: object) -> None:
    fetch, _ = started()
    under_lease(fetch)
    assert isinstance(
        fetch.advance(Sent(result=sent_token(), at=T), started=T), WriteToken
    )
    assert run(fetch, written, STORE_DOWN) == [ReleaseLease(), Finished()]


def test_a_token_without_expiry_is_written_without_a_time_to_live() -> None:
    fetch, _ = started()
    under_lease(fetch)
    eternal = Token(access_token="eternal-1", received_at=T)
    write = fetch.advance(Sent(result=eternal, at=T), started=T)
    assert isinstance(write, WriteToken)
    assert write.expires_at is None


def test_a_token_expired_on_arrival_is_not_written() -> None:
    fetch, _ = started()
    under_lease(fetch)
    stale = Token(access_token="stale-1", received_at=T - 200, expires_at=T - 100)
    assert run(fetch, Sent(result=stale, at=T), None) == [ReleaseLease(), Finished()]


def test_a_rejected_refresh_writes_nothing() -> None:
    fetch, _ = started()
    assert isinstance(under_lease(fetch, entry(DUE)), WriteToken)
    assert fetch.advance(True, started=T) == SendToken(
        refresh_token="rt-due", until=UNTIL
    )
    rejected = OAuthError(error="invalid_grant", status=400)
    assert run(fetch, Sent(result=rejected, at=T, rejected=True, hold=30.0), None) == [
        ReleaseLease(),
        Finished(),
    ]


def test_a_failure_is_written_for_as_long_as_the_session_holds_off() -> None:
    fetch, _ = started()
    under_lease(fetch)
    error = OAuthError(error="invalid_client", status=401, description="no such")
    assert run(fetch, Sent(result=error, at=T, hold=30.0), True, None) == [
        WriteFailure(failure=encode_failure(error), ttl=30.0),
        ReleaseLease(),
        Finished(),
    ]


@pytest.mark.parametrize(
    "sent",
    [
        Sent(result=TransportError(reason="reset", retryable=True), at=T, hold=0.0),
        Sent(result=None, at=T),
    ],
    ids=["failure without hold-off", "no result"],
)
def test_nothing_to_write_only_releases(sent: Sent) -> None:
    fetch, _ = started()
    under_lease(fetch)
    assert run(fetch, sent, None) == [ReleaseLease(), Finished()]


def test_the_failure_written_is_the_one_the_session_holds_off_for() -> None:
    session = new_session()
    step = session.next_step(T)
    assert isinstance(step, SendRequest)
    fetch, _ = started(session)
    assert under_lease(fetch) == SendToken(refresh_token=None, until=UNTIL)
    again = session.reissue(step, refresh_token=None, now=T)
    assert again is not None
    result = session.receive(
        oauth_error("invalid_client", status=401), now=T, step=again
    )
    assert isinstance(result, OAuthError)
    hold = session.hold_off(T)
    assert hold == session.retry.cooldown
    sent = Sent(
        result=result,
        at=T,
        rejected=session.last_event is SessionEvent.REFRESH_REJECTED,
        hold=hold,
    )
    assert fetch.advance(sent, started=T) == WriteFailure(
        failure=encode_failure(result), ttl=hold
    )


# -- rule 7: the store failing ------------------------------------------------

# Replies that lead to each store step, then STORE_DOWN in its place.
TO_EACH_STORE_STEP: dict[str, list[object]] = {
    "first read": [],
    "take lease": [StoredEntry()],
    "read under the lease": [StoredEntry(), None],
    "read after a wait": [StoredEntry(), 3.0, None],
    "spend": [StoredEntry(), None, entry(DUE)],
}


@pytest.mark.parametrize("path", TO_EACH_STORE_STEP)
def test_the_store_failing_sends_alone_an_acquisition(path: str) -> None:
    fetch, _ = started()
    run(fetch, *TO_EACH_STORE_STEP[path])
    op = fetch.advance(STORE_DOWN, started=T)
    # Never a refresh token another process may have used.
    assert op == SendToken(refresh_token=None, shared=False, until=None)
    # The send is reported to the session; nothing is written to the store.
    after = run(fetch, Sent(result=sent_token(), at=T), STORE_DOWN)
    if path == "take lease":
        # The store may have taken the lease before failing: released after
        # (compare-and-delete, only if it is ours).
        assert after == [ReleaseLease(), Finished()]
    else:
        assert after[0] == Finished()


def test_the_store_failing_on_a_discard_or_wait_goes_on() -> None:
    fetch, _ = started(refused=frozenset({token_tag(FRESH)}))
    assert run(fetch, entry(FRESH), STORE_DOWN, 3.0, STORE_DOWN) == [
        DiscardToken(tag=token_tag(FRESH)),
        TakeLease(ttl=LEASE),
        WaitForStore(timeout=1.0),
        ReadStore(),
    ]


def test_the_store_failing_on_a_failure_write_still_releases() -> None:
    fetch, _ = started()
    under_lease(fetch)
    error = HttpError(status=503, content_type=None, snippet="")
    assert run(fetch, Sent(result=error, at=T, hold=2.0), STORE_DOWN, STORE_DOWN) == [
        WriteFailure(failure=encode_failure(error), ttl=2.0),
        ReleaseLease(),
        Finished(),
    ]


@pytest.mark.parametrize(
    "value", [None, "garbage", b"bytes", 42], ids=["none", "str", "bytes", "int"]
)
def test_a_read_that_is_no_entry_is_an_empty_store(value: object) -> None:
    fetch, _ = started()
    assert fetch.advance(value, started=T) == TakeLease(ttl=LEASE)


def test_token_bytes_that_do_not_decode_are_an_empty_store() -> None:
    fetch, _ = started()
    garbage = StoredEntry(token=b'{"v": 2}', token_ttl=50.0)
    assert fetch.advance(garbage, started=T) == TakeLease(ttl=LEASE)


# -- clocks -------------------------------------------------------------------


@given(
    offset=st.floats(-MAX_SKEW, MAX_SKEW),
    ttl=st.floats(0.5, 1e5),
)
def test_a_token_read_is_placed_in_the_readers_clock_by_its_ttl(
    offset: float, ttl: float
) -> None:
    # Written by a process whose clock is *offset* seconds off ours.
    lifetime = 4 * ttl
    written = Token(
        access_token="skewed-1",
        received_at=T + offset + ttl - lifetime,
        expires_at=T + offset + ttl,
    )
    fetch, _ = started(new_session())
    stored = StoredEntry(token=encode_stored(written), token_ttl=ttl)
    outcome = fetch.advance(stored, started=T)
    assert isinstance(outcome, Adopt)
    assert outcome.token.expires_at == pytest.approx(T + ttl, abs=1e-6)
    assert outcome.token.lifetime == pytest.approx(lifetime, rel=1e-9, abs=1e-6)


# A millisecond past the bound: nearer, the float sums may round onto it.
FAR = MAX_SKEW + 0.001


@given(
    offset=st.floats(FAR, 1e9) | st.floats(-1e9, -FAR),
    ttl=st.floats(0.5, 1e5),
)
def test_a_token_whose_clock_is_further_off_than_skew_is_not_adopted(
    offset: float, ttl: float
) -> None:
    # A value put back in the store with a fresh time to live, or a writer
    # whose clock is broken: this process fetches its own.
    written = Token(
        access_token="skewed-1", received_at=T + offset, expires_at=T + offset + ttl
    )
    fetch, _ = started(new_session())
    stored = StoredEntry(token=encode_stored(written), token_ttl=ttl)
    assert fetch.advance(stored, started=T) == TakeLease(ttl=LEASE)
    assert fetch.advance(None, started=T) == ReadStore()
    assert fetch.advance(stored, started=T) == SendToken(
        refresh_token=None, until=UNTIL
    )


def test_a_skewed_token_is_rebased_exactly() -> None:
    written = Token(access_token="skewed-1", received_at=1110.0, expires_at=1210.0)
    fetch, _ = started()
    stored = StoredEntry(token=encode_stored(written), token_ttl=10.0)
    assert fetch.advance(stored, started=T) == TakeLease(ttl=LEASE)  # due
    outcome = fetch.advance(3.0, started=T)
    assert isinstance(outcome, Adopt)
    assert (outcome.token.received_at, outcome.token.expires_at) == (910.0, 1010.0)
    assert outcome.token.access_token == "skewed-1"


def test_a_token_in_our_clock_already_is_kept_as_it_is() -> None:
    fetch, _ = started()
    outcome = fetch.advance(entry(FRESH), started=T)
    assert isinstance(outcome, Adopt)
    assert outcome.token == FRESH
    assert outcome.token.received_at == FRESH.received_at


def test_a_token_without_expiry_is_not_rebased() -> None:
    eternal = Token(access_token="eternal-1", received_at=5.0)
    fetch, _ = started()
    stored = StoredEntry(token=encode_stored(eternal), token_ttl=10.0)
    outcome = fetch.advance(stored, started=T)
    assert outcome == Adopt(token=eternal)
    assert isinstance(outcome, Adopt)
    assert outcome.token.received_at == 5.0


def test_a_ttl_the_store_does_not_give_leaves_the_writers_times() -> None:
    skewed = stored_token("skewed-1", left=50.0, writer_offset=1000.0)
    fetch, _ = started()
    stored = StoredEntry(token=encode_stored(skewed), token_ttl=None)
    assert fetch.advance(stored, started=T) == Adopt(token=skewed)


@pytest.mark.parametrize(("lease", "margin"), [(10.0, 0.5), (2.0, 0.2), (60, 0.5)])
def test_the_send_is_over_a_margin_before_the_lease_ends(
    lease: float, margin: float
) -> None:
    fetch = SharedFetch(new_session(), lease=lease)
    fetch.start()
    assert run(fetch, StoredEntry(), None) == [TakeLease(ttl=lease), ReadStore()]
    op = fetch.advance(StoredEntry(), started=T + 7.0)
    assert isinstance(op, SendToken)
    assert op.until == pytest.approx(T + lease - margin)
    assert op.shared


def test_the_until_is_from_when_the_lease_was_asked_for() -> None:
    fetch, _ = started()
    fetch.advance(StoredEntry(), started=T)
    assert fetch.advance(None, started=T + 3.0) == ReadStore()
    assert fetch.advance(StoredEntry(), started=T + 4.0) == SendToken(
        refresh_token=None, until=T + 3.0 + LEASE - MARGIN
    )


# -- a whole fetch, carried out as a client would --------------------------------


def test_a_refresh_under_the_lease_is_the_stores_refresh_token() -> None:
    session = new_session()
    step = session.next_step(T)
    assert isinstance(step, SendRequest)
    assert not step.refresh
    fetch, _ = started(session)
    run(fetch, entry(DUE), None, entry(DUE))
    op = fetch.advance(True, started=T)
    assert isinstance(op, SendToken)
    again = session.reissue(step, refresh_token=op.refresh_token, now=T)
    assert again is not None
    assert again.refresh
    assert form(again.request)["refresh_token"] == "rt-due"
    token = session.receive(
        token_response("new-1", expires_in=100, refresh_token="rt-2"),
        now=T + 1,
        step=again,
    )
    assert isinstance(token, Token)
    write = fetch.advance(Sent(result=token, at=T + 1), started=T)
    assert isinstance(write, WriteToken)
    # The rotated refresh token is written before the lease is released.
    written = decode_stored(write.token)
    assert written is not None
    assert written.refresh_token == "rt-2"
    assert fetch.advance(True, started=T + 1) == ReleaseLease()


# -- what the store steps show ------------------------------------------------

SECRET_TEXT = st.text(min_size=1)


@given(
    access_token=SECRET_TEXT,
    refresh_token=SECRET_TEXT,
    ttl=st.none() | st.floats(allow_nan=False, allow_infinity=False),
)
def test_no_step_shows_a_token(
    access_token: str, refresh_token: str, ttl: float | None
) -> None:
    token = Token(access_token=access_token, received_at=T, refresh_token=refresh_token)
    data = encode_stored(token)
    write = WriteToken(token=data, tag=token_tag(token), expires_at=ttl)
    blank = WriteToken(token=b"", tag="", expires_at=ttl)
    # Nothing of the token, not even its tag, changes what is shown.
    assert repr(write) == str(write) == repr(blank)
    send = SendToken(refresh_token=refresh_token, until=ttl)
    assert repr(send) == str(send) == repr(SendToken(refresh_token="x", until=ttl))
    assert "refresh_token=yes" in repr(send)
    assert repr(SendToken(refresh_token=None)) == (
        "SendToken(refresh_token=no, shared=True, until=None)"
    )
    stored = StoredEntry(token=data, token_ttl=ttl)
    assert repr(stored) == str(stored) == repr(StoredEntry(token=b"x", token_ttl=ttl))
    assert repr(Adopt(token=token)) == repr(
        Adopt(token=Token(access_token="x", received_at=T, refresh_token="x"))
    )


def test_the_reprs_say_what_they_hide() -> None:
    assert repr(WriteToken(token=b"secret", tag="t", expires_at=1.5)) == (
        "WriteToken(expires_at=1.5)"
    )
    assert (
        repr(SendToken(refresh_token="secret", shared=False, until=None))
        == "SendToken(refresh_token=yes, shared=False, until=None)"
    )
    assert repr(STORE_DOWN) == "STORE_DOWN"


# -- arguments ------------------------------------------------------------------


@pytest.mark.parametrize("name", ["lease", "poll"])
@pytest.mark.parametrize("value", [0, 0.0, -1.0, math.inf, math.nan, "10", None, True])
def test_lease_and_poll_must_be_finite_positive_seconds(
    name: str, value: object
) -> None:
    kwargs: dict[str, Any] = {"lease": LEASE, "poll": 1.0, name: value}
    with pytest.raises((TypeError, ValueError), match=name):
        SharedFetch(new_session(), **kwargs)


@pytest.mark.parametrize("value", [-1.0, math.nan, "10", True])
def test_patience_must_be_seconds(value: object) -> None:
    # An unchecked patience fails later, inside a fetch (a str), or never
    # lets a fetch go on alone (NaN).
    with pytest.raises((TypeError, ValueError), match="patience"):
        SharedFetch(new_session(), lease=LEASE, patience=value)  # type: ignore[arg-type]


def test_integers_are_seconds() -> None:
    fetch = SharedFetch(new_session(), lease=10, poll=2, patience=0)
    assert fetch.start() == ReadStore()


# -- found by the model and the review, and fixed ---------------------------------


def test_a_shared_transport_failure_is_waited_out_for_its_time_to_live() -> None:
    """Rule 2: "the session takes it as its own and waits it out".

    A transient failure another process stored for 0.5 s: a session whose
    jittered backoff is shorter (here 0) comes back at once, reads the
    marker again, and counts an attempt each time: four in the same instant
    and its callers get ``Failed`` for the whole cooldown, for a failure
    the fleet waits out for half a second. A TransportError has no
    ``retry_after`` to carry the marker's time to live.
    """
    session = new_session(jitter=lambda: 0.0)
    marker = entry(
        failure=TransportError(reason="reset", retryable=True), failure_ttl=0.5
    )
    for _ in range(session.retry.max_attempts):
        step = session.next_step(T)
        if not isinstance(step, SendRequest):
            break
        fetch, _ = started(session)
        outcome = fetch.advance(marker, started=T)
        assert isinstance(outcome, ShareFailure)
        session.share_failure(outcome.error, now=T, step=step, wait=outcome.wait)
    step = session.next_step(T)
    assert not isinstance(step, Failed)
    assert not isinstance(step, SendRequest)  # the marker still lives


def test_the_sessions_own_token_is_not_adopted_if_the_api_refused_it() -> None:
    """Rule 1: a refused token is "never adopted". The session may hold it
    again (a fetch that began before the 401 adopted it back from the
    store); while another process holds the lease, the fetch must wait, not
    adopt the session's own refused token (found by the fleet model)."""
    session = new_session()
    session.next_step(T - 50.0)
    own = session.receive(token_response("own-1", expires_in=100), now=T - 50.0)
    assert isinstance(own, Token)  # P = T + 40: usable
    fetch, _ = started(session, refused=frozenset({token_tag(own)}))
    assert fetch.advance(StoredEntry(), started=T) == TakeLease(ttl=LEASE)
    assert fetch.advance(3.0, started=T) == WaitForStore(timeout=1.0)


def test_an_adopted_token_is_handed_out_by_the_session_until_d_only() -> None:
    session = new_session()
    step = session.next_step(T)
    assert isinstance(step, SendRequest)
    fetch, _ = started(session)
    outcome = fetch.advance(entry(FRESH), started=T)
    assert isinstance(outcome, Adopt)
    assert (
        session.adopt(outcome.token, now=T, step=step, recheck_at=outcome.recheck_at)
        == FRESH
    )
    assert session.next_step(T + 39.0) == UseToken(token=FRESH)
    assert isinstance(session.next_step(T + 50.0), SendRequest)


def test_an_api_key_exchange_acquires_under_the_lease() -> None:
    flow = ApiKeyExchange(token_url="https://auth.example.test/token", api_key="k" * 20)
    session = new_session(flow=flow)
    step = session.next_step(T)
    assert isinstance(step, SendRequest)
    fetch, _ = started(session)
    assert isinstance(under_lease(fetch, entry(DUE)), WriteToken)
    assert fetch.advance(True, started=T) == SendToken(
        refresh_token="rt-due", until=UNTIL
    )
    again = session.reissue(step, refresh_token="rt-due", now=T)
    assert again is not None
    assert not again.refresh  # no refresh in this flow: the key again
    assert ("X-API-Key", "k" * 20) in again.request.headers


def test_attrs_evolve_keeps_the_repr_hidden() -> None:
    write = WriteToken(token=b"secret-bytes", tag="tag", expires_at=1.0)
    assert "secret" not in repr(attrs.evolve(write, expires_at=2.0))


def test_a_401_that_comes_while_a_fetch_waits_counts_for_that_fetch() -> None:
    # The client adds a refused tag while the fetch waits for another
    # process's lease: the next read sees it, so the refused token, written
    # meanwhile, is deleted and not adopted.
    refused: set[str] = set()
    fetch = SharedFetch(new_session(), lease=LEASE, refused=refused, poll=1.0)
    assert fetch.start() == ReadStore()
    assert run(fetch, EMPTY, 4.0) == [TakeLease(ttl=LEASE), WaitForStore(timeout=1.0)]
    refused.add(token_tag(FRESH))
    assert run(fetch, None, entry(FRESH)) == [
        ReadStore(),
        DiscardToken(tag=token_tag(FRESH)),
    ]
    assert fetch.advance(True, started=T) == TakeLease(ttl=LEASE)
