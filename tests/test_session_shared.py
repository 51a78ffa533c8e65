"""A session's inputs for a shared store: ``times``, ``adopt``, ``reissue``,
``extend`` and ``hold_off`` (``sansio_auth._session``).

The fleet protocol (``tests/test_fleet.py``) tells a client what to do; these
are what the client then tells its session. Sessions here use ``leeway=0``
and ``refresh_ahead=0.1`` unless a test says otherwise, so a token of
lifetime 100 s received at ``T`` has ``P = T + 90`` and ``D = T + 100``.
"""

from __future__ import annotations

import math
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sansio_auth import (
    ApiKeyExchange,
    AwaitInFlight,
    Backoff,
    Failed,
    RetryPolicy,
    SendRequest,
    SessionEvent,
    SessionState,
    Token,
    TokenSession,
    UseToken,
)

from session_driver import (
    client_credentials,
    form,
    html_502,
    oauth_error,
    token_response,
    transport_error,
)

T = 1000.0
LIFETIME = 100.0


def new_session(**kwargs: Any) -> TokenSession:
    kwargs.setdefault("leeway", 0.0)
    kwargs.setdefault("refresh_ahead", 0.1)
    flow = kwargs.pop("flow", None) or client_credentials()
    return TokenSession(flow, **kwargs)


def shared(
    access_token: str = "shared-1",
    *,
    at: float = T,
    lifetime: float | None = LIFETIME,
    refresh_token: str | None = None,
) -> Token:
    """A token another process fetched, received at *at* (our clock)."""
    return Token(
        access_token=access_token,
        received_at=at,
        expires_at=None if lifetime is None else at + lifetime,
        refresh_token=refresh_token,
    )


def send(session: TokenSession, now: float = T) -> SendRequest:
    step = session.next_step(now)
    assert isinstance(step, SendRequest), step
    return step


def with_token(
    session: TokenSession, *, refresh_token: str | None = "rt-own", now: float = T
) -> Token:
    """Fetch ``own-1`` (lifetime 100 s) at *now* with the session alone."""
    step = send(session, now)
    token = session.receive(
        token_response("own-1", expires_in=100, refresh_token=refresh_token),
        now=now,
        step=step,
    )
    assert isinstance(token, Token)
    return token


# -- times ----------------------------------------------------------------------


def test_times_are_the_refresh_point_and_the_deadline() -> None:
    session = TokenSession(client_credentials(), leeway=30.0, refresh_ahead=0.1)
    token = shared(lifetime=3600.0)
    assert session.times(token, T) == (T + 3210.0, T + 3570.0)


def test_times_bound_the_leeway_by_a_quarter_of_the_lifetime() -> None:
    session = TokenSession(client_credentials(), leeway=30.0, refresh_ahead=0.1)
    assert session.times(shared(lifetime=40.0), T) == (T + 26.0, T + 30.0)


def test_a_token_that_does_not_expire_has_no_times() -> None:
    session = new_session()
    assert session.times(shared(lifetime=None), T) == (math.inf, math.inf)


def test_times_use_the_default_lifetime_for_a_token_without_expiry() -> None:
    session = TokenSession(
        client_credentials(), leeway=30.0, refresh_ahead=0.1, default_lifetime=60.0
    )
    # L = 60: D = T + 60 - min(30, 15), P = D - 6.
    assert session.times(shared(lifetime=None), T) == (T + 39.0, T + 45.0)


def test_a_token_expired_before_it_was_received_is_due_and_done_at_expiry() -> None:
    session = new_session(leeway=30.0)
    token = Token(access_token="a", received_at=T, expires_at=T - 5.0)
    assert session.times(token, T) == (T - 5.0, T - 5.0)


def test_times_read_nothing_and_change_nothing() -> None:
    session = new_session()
    token = with_token(session)
    before = (session.state, session.stats, session.fresh_until(T))
    session.times(shared(at=T + 5000.0), T + 5000.0)
    assert (session.state, session.stats, session.fresh_until(T)) == before
    assert session.next_step(T) == UseToken(token=token)


# -- adopt ------------------------------------------------------------------------


def test_an_adopted_token_is_handed_out_and_no_request_is_counted() -> None:
    session = new_session()
    step = send(session)
    token = shared()
    assert session.adopt(token, now=T, step=step) is token
    assert session.state is SessionState.IDLE
    assert session.in_flight is None
    assert session.token is token
    assert session.last_event is SessionEvent.TOKEN
    stats = session.stats
    assert (stats.requests_sent, stats.refreshes, stats.adopted) == (0, 0, 1)
    assert (stats.failures, stats.abandoned) == (0, 0)
    assert session.fresh_until(T) == T + 90.0
    assert session.next_step(T + 89.0) == UseToken(token=token)


def test_adopting_in_place_of_a_refresh_counts_neither() -> None:
    session = new_session()
    with_token(session)  # one request sent
    step = send(session, T + 90.0)  # at P: a refresh
    assert step.refresh
    assert session.stats.refreshes == 1
    session.adopt(shared(at=T + 80.0), now=T + 90.0, step=step)
    stats = session.stats
    assert (stats.requests_sent, stats.refreshes, stats.adopted) == (1, 0, 1)


def test_the_adopted_refresh_token_is_the_sessions_now() -> None:
    session = new_session()
    with_token(session, refresh_token="rt-own")
    step = send(session, T + 90.0)
    session.adopt(
        shared(at=T + 90.0, refresh_token="rt-shared"), now=T + 90.0, step=step
    )
    again = send(session, T + 180.0)
    assert again.refresh
    assert form(again.request)["refresh_token"] == "rt-shared"


def test_a_spent_token_adopted_leaves_no_refresh_token() -> None:
    session = new_session()
    with_token(session, refresh_token="rt-own")
    step = send(session, T + 90.0)
    session.adopt(shared(at=T + 90.0), now=T + 90.0, step=step)
    assert not send(session, T + 180.0).refresh


def test_a_recheck_holds_the_refresh_point_back() -> None:
    # A due token adopted while another process refreshes: P = T - 5.
    session = new_session()
    step = send(session)
    token = shared(at=T - 95.0)
    session.adopt(token, now=T, step=step, recheck_at=T + 1.0)
    assert session.fresh_until(T) == T + 1.0
    assert session.next_step(T + 0.5) == UseToken(token=token)
    refresh = session.next_step(T + 1.0)
    assert isinstance(refresh, SendRequest)
    # Still usable until D while the refresh is in flight.
    assert session.next_step(T + 4.0) == UseToken(token=token)
    assert isinstance(session.next_step(T + 5.0), AwaitInFlight)


def test_a_recheck_is_never_past_the_deadline() -> None:
    session = new_session()
    step = send(session)
    token = shared()
    session.adopt(token, now=T, step=step, recheck_at=T + 500.0)
    assert session.fresh_until(T) == T + 100.0
    assert session.next_step(T + 99.0) == UseToken(token=token)
    assert isinstance(session.next_step(T + 100.0), SendRequest)


def test_a_recheck_before_the_refresh_point_changes_nothing() -> None:
    session = new_session()
    step = send(session)
    session.adopt(shared(), now=T, step=step, recheck_at=T + 10.0)
    assert session.fresh_until(T) == T + 90.0


def test_a_stale_adoption_is_ignored() -> None:
    session = new_session(fetch_timeout=5.0)
    stale = send(session)
    lost = session.next_step(T + 6.0)  # the first is lost: a new fetch
    assert isinstance(lost, SendRequest)
    before = session.stats
    assert session.adopt(shared(), now=T + 6.0, step=stale) is None
    assert session.in_flight is lost
    assert session.token is None
    assert session.stats == before


def test_an_adoption_without_a_fetch_is_ignored() -> None:
    session = new_session()
    token = with_token(session)
    step = SendRequest(
        request=client_credentials().token_request(), refresh=False, fetch_id=1
    )
    assert session.adopt(shared("other"), now=T, step=step) is None
    assert session.token is token
    assert session.stats.adopted == 0


def test_only_a_token_is_adopted() -> None:
    session = new_session()
    step = send(session)
    with pytest.raises(TypeError, match="token must be a Token"):
        session.adopt("shared-1", now=T, step=step)  # type: ignore[arg-type]
    assert session.in_flight is step


def test_an_adopted_token_is_placed_in_session_time_after_a_clock_step_back() -> None:
    session = new_session()
    step = send(session, T + 100.0)
    # The wall clock is set back 100 s; the token's times are in that clock.
    token = shared()  # P = T + 90, D = T + 100 in the caller's clock
    session.adopt(token, now=T, step=step)
    assert session.next_step(T + 50.0) == UseToken(token=token)
    assert session.next_step(T + 89.0) == UseToken(token=token)
    assert isinstance(session.next_step(T + 90.0), SendRequest)
    assert isinstance(session.next_step(T + 100.0), AwaitInFlight)


def test_adopting_ends_a_failure_and_its_attempts() -> None:
    session = new_session(
        retry=RetryPolicy(max_attempts=2, base_delay=1.0), jitter=None
    )
    step = send(session)
    session.receive(html_502(), now=T, step=step)
    assert session.hold_off(T) == 1.0  # a backoff: one attempt of two spent
    step = send(session, T + 1.0)
    session.adopt(shared(at=T + 1.0), now=T + 1.0, step=step)
    assert session.state is SessionState.IDLE
    # The next failure is a first attempt again: a backoff, not a give-up.
    step = send(session, T + 91.0)
    session.receive(html_502(), now=T + 91.0, step=step)
    assert session.hold_off(T + 91.0) == 1.0  # not the cooldown


def test_an_adopted_token_past_its_deadline_is_not_handed_out() -> None:
    session = new_session()
    step = send(session)
    token = shared(at=T - 150.0)
    assert session.adopt(token, now=T, step=step) is token
    assert isinstance(session.next_step(T), SendRequest)


# -- reissue ----------------------------------------------------------------------


def test_reissue_turns_an_acquisition_into_a_refresh_with_the_stores_token() -> None:
    session = new_session()
    step = send(session)
    assert not step.refresh
    again = session.reissue(step, refresh_token="rt-store", now=T)
    assert again is not None
    assert again.refresh
    assert again.fetch_id == step.fetch_id + 1
    assert again.request == client_credentials().refresh_request("rt-store")
    assert session.in_flight is again
    stats = session.stats
    assert (stats.requests_sent, stats.refreshes) == (1, 1)


def test_reissue_turns_a_refresh_into_an_acquisition() -> None:
    session = new_session()
    with_token(session, refresh_token="rt-own")
    step = send(session, T + 90.0)
    assert step.refresh
    again = session.reissue(step, refresh_token=None, now=T + 90.0)
    assert again is not None
    assert not again.refresh
    assert again.request == client_credentials().token_request()
    stats = session.stats
    assert (stats.requests_sent, stats.refreshes) == (2, 0)


def test_reissue_refreshes_with_the_given_token_not_the_sessions() -> None:
    session = new_session()
    with_token(session, refresh_token="rt-own")
    step = send(session, T + 90.0)
    again = session.reissue(step, refresh_token="rt-store", now=T + 90.0)
    assert again is not None
    assert form(again.request)["refresh_token"] == "rt-store"
    assert session.stats.refreshes == 1


def test_a_flow_without_refresh_reissues_an_acquisition() -> None:
    flow = ApiKeyExchange(token_url="https://auth.example.test/token", api_key="k" * 20)
    session = new_session(flow=flow)
    step = send(session)
    again = session.reissue(step, refresh_token="rt-store", now=T)
    assert again is not None
    assert not again.refresh
    assert again.request == flow.token_request()
    assert session.stats.refreshes == 0


def test_the_old_step_is_stale_after_a_reissue() -> None:
    session = new_session()
    step = send(session)
    again = session.reissue(step, refresh_token=None, now=T)
    assert again is not None
    assert session.receive(token_response(), now=T, step=step) is None
    assert session.in_flight is again
    assert session.reissue(step, refresh_token=None, now=T) is None
    token = session.receive(token_response(), now=T, step=again)
    assert isinstance(token, Token)


def test_a_stale_reissue_changes_nothing() -> None:
    session = new_session(fetch_timeout=5.0)
    stale = send(session)
    current = send(session, T + 6.0)  # the first was lost
    before = session.stats
    assert session.reissue(stale, refresh_token="rt", now=T + 6.0) is None
    assert session.in_flight is current
    assert session.stats == before


def test_a_refresh_answer_without_a_refresh_token_keeps_the_one_sent() -> None:
    session = new_session()
    step = send(session)
    again = session.reissue(step, refresh_token="rt-store", now=T)
    assert again is not None
    token = session.receive(token_response("new-1"), now=T, step=again)
    assert isinstance(token, Token)
    assert token.refresh_token == "rt-store"


def test_a_failed_reissued_refresh_drops_its_refresh_token() -> None:
    session = new_session(retry=RetryPolicy(base_delay=0.0))
    step = send(session)
    again = session.reissue(step, refresh_token="rt-store", now=T)
    assert again is not None
    session.receive(html_502(), now=T, step=again)
    assert not send(session, T).refresh


def test_invalid_grant_on_a_reissued_refresh_acquires_at_once() -> None:
    session = new_session()
    step = send(session)
    again = session.reissue(step, refresh_token="rt-store", now=T)
    assert again is not None
    session.receive(oauth_error("invalid_grant"), now=T, step=again)
    assert session.last_event is SessionEvent.REFRESH_REJECTED
    assert session.hold_off(T) == 0.0
    assert not send(session, T).refresh


def test_a_reissue_restarts_the_lost_request_deadline() -> None:
    session = new_session(fetch_timeout=10.0)
    step = send(session)
    assert session.reissue(step, refresh_token=None, now=T + 8.0) is not None
    assert session.next_step(T + 12.0) == AwaitInFlight(until=T + 18.0)
    assert isinstance(session.next_step(T + 18.0), Backoff)  # lost at last


# -- extend -----------------------------------------------------------------------


def test_extend_restarts_the_lost_request_deadline() -> None:
    session = new_session(fetch_timeout=10.0)
    step = send(session)
    assert session.extend(step, now=T + 9.0)
    assert session.next_step(T + 15.0) == AwaitInFlight(until=T + 19.0)
    assert session.in_flight is step
    assert session.stats.requests_sent == 1


def test_extend_of_a_stale_step_is_refused() -> None:
    session = new_session(fetch_timeout=10.0)
    step = send(session)
    again = session.reissue(step, refresh_token=None, now=T)
    assert again is not None
    assert not session.extend(step, now=T + 9.0)
    assert session.next_step(T + 9.5) == AwaitInFlight(until=T + 10.0)


def test_extend_without_a_fetch_is_refused() -> None:
    session = new_session()
    step = send(session)
    session.receive(token_response(), now=T, step=step)
    assert not session.extend(step, now=T)


# -- hold_off ---------------------------------------------------------------------


def test_no_hold_off_when_idle_or_fetching() -> None:
    session = new_session()
    assert session.hold_off(T) == 0.0
    step = send(session)
    assert session.hold_off(T) == 0.0
    session.receive(token_response(), now=T, step=step)
    assert session.hold_off(T) == 0.0


def test_hold_off_after_a_retryable_failure_is_the_backoff_left() -> None:
    session = new_session(retry=RetryPolicy(base_delay=0.5), jitter=None)
    step = send(session)
    error = transport_error()
    session.receive_failure(error, now=T, step=step)
    assert session.hold_off(T) == 0.5
    assert session.hold_off(T + 0.2) == pytest.approx(0.3)
    assert session.hold_off(T + 2.0) == 0.0
    assert session.next_step(T) == Backoff(until=T + 0.5, error=error)


def test_hold_off_honours_retry_after() -> None:
    session = new_session()
    step = send(session)
    session.receive(
        oauth_error("temporarily_unavailable", status=503, retry_after=3),
        now=T,
        step=step,
    )
    assert session.state is SessionState.BACKOFF
    assert session.hold_off(T) == 3.0


def test_hold_off_after_a_fatal_failure_is_the_cooldown() -> None:
    session = new_session(retry=RetryPolicy(cooldown=30.0))
    step = send(session)
    session.receive(oauth_error("invalid_client", status=401), now=T, step=step)
    assert session.state is SessionState.FAILED
    assert session.hold_off(T) == 30.0
    assert session.hold_off(T + 10.0) == 20.0
    assert isinstance(session.next_step(T + 10.0), Failed)


def test_hold_off_after_a_retry_after_past_the_longest_backoff() -> None:
    session = new_session(retry=RetryPolicy(max_delay=30.0, cooldown=30.0))
    step = send(session)
    session.receive(html_502(retry_after=120), now=T, step=step)
    assert session.state is SessionState.FAILED
    assert session.hold_off(T) == 120.0


def test_hold_off_does_not_move_the_session_clock() -> None:
    session = new_session(retry=RetryPolicy(base_delay=0.5), jitter=None)
    step = send(session)
    session.receive_failure(transport_error(), now=T, step=step)
    assert session.hold_off(T + 100.0) == 0.0
    assert isinstance(session.next_step(T + 0.25), Backoff)


@given(offset=st.floats(-1000.0, 1000.0))
def test_hold_off_is_the_wait_a_caller_is_told_at_the_same_now(offset: float) -> None:
    # Whatever the wall clock did since the failure, the store keeps it for
    # as long as this session's own callers are told to wait.
    session = new_session(retry=RetryPolicy(base_delay=5.0), jitter=None)
    step = send(session)
    session.receive_failure(transport_error(), now=T, step=step)
    now = T + offset
    hold = session.hold_off(now)
    told = session.next_step(now)
    if isinstance(told, Backoff):
        assert hold == pytest.approx(told.until - now)
    else:
        assert hold == 0.0


# -- share_failure ---------------------------------------------------------------


def test_a_shared_failure_is_a_failure_but_not_a_request() -> None:
    session = new_session(retry=RetryPolicy(cooldown=30.0))
    step = send(session)
    error = transport_error()
    session.share_failure(error, now=T, step=step)
    stats = session.stats
    assert (stats.requests_sent, stats.failures) == (0, 1)
    assert session.state is SessionState.BACKOFF


def test_a_shared_failure_is_waited_out_at_least_for_its_wait() -> None:
    session = new_session(jitter=lambda: 0.0)  # its own backoff would be 0
    step = send(session)
    error = transport_error()
    session.share_failure(error, now=T, step=step, wait=2.5)
    assert session.next_step(T + 2.0) == Backoff(until=T + 2.5, error=error)
    assert isinstance(session.next_step(T + 2.5), SendRequest)


def test_a_shared_rejection_fails_for_the_cooldown() -> None:
    session = new_session(retry=RetryPolicy(cooldown=30.0))
    step = send(session)
    session.share_failure(
        oauth_error_value("invalid_client"), now=T, step=step, wait=10.0
    )
    assert isinstance(session.next_step(T + 29.0), Failed)
    assert session.stats.requests_sent == 0


def test_a_stale_shared_failure_is_ignored() -> None:
    session = new_session()
    step = send(session)
    session.abandon(step)
    session.share_failure(transport_error(), now=T, step=step)
    assert session.stats.failures == 0
    assert session.state is SessionState.IDLE


@pytest.mark.parametrize("wait", [-1.0, math.nan, math.inf, "1"])
def test_a_shared_failures_wait_must_be_seconds(wait: object) -> None:
    session = new_session()
    step = send(session)
    with pytest.raises((TypeError, ValueError), match="wait"):
        session.share_failure(transport_error(), now=T, step=step, wait=wait)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="TokenError"):
        session.share_failure("no", now=T, step=step)  # type: ignore[arg-type]


def oauth_error_value(code: str) -> Any:
    from sansio_auth import OAuthError

    return OAuthError(error=code, description=None, uri=None, status=401)
