"""The token lifecycle, TokenSession, against DESIGN.md "The lifecycle".

Every test drives a session through its public API with a fake clock and a
scripted server (``tests/session_driver.py``), so each is deterministic and
none reads a clock. Times are written as ``T0 + seconds``; for the usual
token (``expires_in=3600``, ``leeway=30``, ``refresh_ahead=0.1``) the
deadline is ``D = 3600 - 30 = 3570`` and the proactive point
``P = D - 0.1 * 3600 = 3210``.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from typing import Any

import attrs
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

import sansio_auth
from sansio_auth import (
    TRANSITIONS,
    ApiKeyExchange,
    AwaitInFlight,
    Backoff,
    DPoPKey,
    Failed,
    Flow,
    HttpError,
    HttpResponse,
    MalformedResponse,
    OAuthError,
    RetryPolicy,
    SendRequest,
    SessionEvent,
    SessionState,
    SessionStats,
    Step,
    Token,
    TokenError,
    TokenSession,
    TransportError,
    UseToken,
)

from session_driver import (
    CLIENT_SECRET,
    T0,
    TOKEN_URL,
    Answer,
    Driver,
    client_credentials,
    count_jti,
    form,
    html_502,
    http_error,
    jwt,
    oauth_error,
    token_response,
    transport_error,
)

S = SessionState
E = SessionEvent

LIFETIME = 3600.0
D = 3570.0  # expires_at - min(30, 3600 / 4)
P = 3210.0  # D - 0.1 * 3600
API_KEY = "Ak9-api-KEY-value-zz"


def at(seconds: float) -> float:
    """The caller's clock, *seconds* after T0."""
    return T0 + seconds


def new(flow: Flow | None = None, **kwargs: Any) -> Driver:
    """A driver around a fresh session (ClientCredentials by default)."""
    return Driver(TokenSession(flow or client_credentials(), **kwargs))


def with_token(
    flow: Flow | None = None,
    *,
    refresh_token: str | None = "refresh-1",
    expires_in: float | None = LIFETIME,
    **kwargs: Any,
) -> tuple[Driver, Token]:
    """A session that got ``access-1`` at T0."""
    driver = new(flow, **kwargs)
    token = driver.fetch(
        token_response("access-1", expires_in=expires_in, refresh_token=refresh_token)
    )
    assert isinstance(token, Token)
    return driver, token


def access(step: Step) -> str | None:
    """The access token *step* hands out; None for any other step."""
    return step.token.access_token if isinstance(step, UseToken) else None


def accesses(steps: list[Step]) -> list[str | None]:
    return [access(step) for step in steps]


def stats(
    requests_sent: int = 0,
    refreshes: int = 0,
    failures: int = 0,
    abandoned: int = 0,
    last_error: TokenError | None = None,
    refresh_rejected: int = 0,
) -> SessionStats:
    return SessionStats(
        requests_sent=requests_sent,
        refreshes=refreshes,
        failures=failures,
        abandoned=abandoned,
        last_error=last_error,
        refresh_rejected=refresh_rejected,
    )


# -- the steps ----------------------------------------------------------------


def test_a_cold_session_sends_the_token_request() -> None:
    driver = new()
    step = driver.step()
    assert step == SendRequest(
        request=client_credentials().token_request(), refresh=False, fetch_id=1
    )
    assert driver.session.state is S.FETCHING
    assert driver.session.in_flight is step
    assert driver.session.token is None


def test_a_received_token_is_handed_out() -> None:
    driver = new()
    step = driver.send()
    token = driver.report(step, token_response("access-1", scope="read write"))
    assert isinstance(token, Token)
    assert token.access_token == "access-1"
    assert token.received_at == T0
    assert token.expires_at == T0 + LIFETIME
    assert token.scopes == frozenset({"read", "write"})
    assert driver.session.state is S.IDLE
    assert driver.session.token == token
    assert driver.session.in_flight is None
    first = driver.step()
    assert first == UseToken(token=token)
    assert driver.step() is first  # allocated once per token


def test_receive_returns_the_parsed_error() -> None:
    driver = new()
    result = driver.fetch(oauth_error("invalid_client", status=401))
    assert isinstance(result, OAuthError)
    assert result.error == "invalid_client"
    assert result.status == 401


def test_receive_without_step_applies_to_the_request_in_flight() -> None:
    driver = new()
    driver.send()
    token = driver.session.receive(token_response(), now=T0)
    assert isinstance(token, Token)
    assert driver.session.token == token


def test_receive_failure_without_step_applies_to_the_request_in_flight() -> None:
    driver = new()
    driver.send()
    error = transport_error()
    driver.session.receive_failure(error, now=T0)
    assert driver.session.state is S.BACKOFF
    assert driver.session.stats.last_error is error


def test_receive_failure_refuses_what_is_not_a_token_error() -> None:
    driver = new()
    step = driver.send()
    with pytest.raises(TypeError, match="error must be a TokenError"):
        driver.session.receive_failure(
            ValueError("boom"),  # type: ignore[arg-type]
            now=T0,
            step=step,
        )
    assert driver.session.state is S.FETCHING
    assert driver.session.in_flight is step


def test_the_caller_loop_gets_a_token() -> None:
    driver = new()
    driver.server.script(html_502(), token_response("access-2"))
    token = driver.token()
    assert token.access_token == "access-2"
    assert [type(step) for step in driver.trace] == [
        SendRequest,
        Backoff,
        SendRequest,
        UseToken,
    ]
    assert len(driver.server.requests) == 2


# -- single flight --------------------------------------------------------------


def test_a_hundred_callers_on_a_cold_session_send_one_request() -> None:
    driver = new(fetch_timeout=60)
    steps = driver.callers(100)
    assert isinstance(steps[0], SendRequest)
    assert steps[1:] == [AwaitInFlight(until=at(60))] * 99
    assert len(driver.sent()) == 1
    assert driver.session.stats.requests_sent == 1


def test_waiting_callers_get_the_new_token_after_the_report() -> None:
    driver = new()
    step = driver.send()
    assert all(isinstance(s, AwaitInFlight) for s in driver.callers(10))
    driver.clock.advance(1)
    token = driver.report(step, token_response("access-1"))
    assert isinstance(token, Token)
    assert driver.callers(10) == [UseToken(token=token)] * 10


def test_waiting_callers_get_the_backoff_after_a_retryable_failure() -> None:
    driver = new(retry=RetryPolicy(base_delay=2))
    step = driver.send()
    assert all(isinstance(s, AwaitInFlight) for s in driver.callers(10))
    driver.report(step, html_502())
    steps = driver.callers(10)
    assert all(isinstance(s, Backoff) and s.until == at(2) for s in steps)
    error = driver.session.stats.last_error
    assert isinstance(error, HttpError)
    assert error.status == 502
    assert all(isinstance(s, Backoff) and s.error is error for s in steps)
    assert len(driver.sent()) == 1


def test_waiting_callers_get_the_failure_after_a_fatal_failure() -> None:
    driver = new()
    step = driver.send()
    driver.callers(10)
    error = driver.report(step, oauth_error("invalid_client", status=401))
    steps = driver.callers(10)
    assert isinstance(steps[0], Failed)
    assert steps[0].error is error
    assert all(s is steps[0] for s in steps)
    assert len(driver.sent()) == 1


def test_await_in_flight_until_is_the_lost_deadline_in_the_callers_clock() -> None:
    driver = new(fetch_timeout=20)
    driver.send()
    driver.clock.advance(5)
    assert driver.step() == AwaitInFlight(until=at(20))
    driver.clock.advance(14.5)
    assert driver.step() == AwaitInFlight(until=at(20))


# -- a fetch that never reports -------------------------------------------------


def test_abandon_lets_the_next_caller_fetch_at_once() -> None:
    driver = new()
    first = driver.send()
    assert isinstance(driver.step(), AwaitInFlight)
    driver.session.abandon(first)
    assert driver.session.state is S.IDLE
    assert driver.session.in_flight is None
    second = driver.step()  # same `now`: no backoff
    assert isinstance(second, SendRequest)
    assert second.fetch_id == first.fetch_id + 1
    assert second.refresh is False
    assert isinstance(driver.step(), AwaitInFlight)
    assert driver.session.stats == stats(requests_sent=2, abandoned=1)


def test_abandon_of_a_step_not_in_flight_does_nothing() -> None:
    driver = new()
    first = driver.send()
    driver.report(first, token_response())
    driver.session.abandon(first)  # already reported
    assert driver.session.token is not None
    assert driver.session.stats.abandoned == 0

    assert driver.session.invalidate("access-1")
    second = driver.send()
    driver.session.abandon(first)  # an older fetch
    assert driver.session.in_flight is second
    assert driver.session.state is S.FETCHING
    driver.session.abandon(second)
    driver.session.abandon(second)  # twice
    assert driver.session.stats.abandoned == 1


def test_a_request_older_than_fetch_timeout_is_lost_and_retried() -> None:
    driver = new(fetch_timeout=10, retry=RetryPolicy(base_delay=0.5))
    first = driver.send()
    driver.clock.set(at(9.75))
    assert driver.step() == AwaitInFlight(until=at(10))
    driver.clock.set(at(10))
    step = driver.step()
    assert isinstance(step, Backoff)
    assert step.until == at(10.5)
    assert isinstance(step.error, TransportError)
    assert step.error.retryable
    assert "lost" in step.error.reason
    assert driver.session.state is S.BACKOFF
    assert driver.session.in_flight is None
    assert driver.session.stats == stats(
        requests_sent=1, failures=1, last_error=step.error
    )
    driver.clock.set(at(10.5))
    second = driver.send()
    assert second.fetch_id == first.fetch_id + 1


def test_the_backoff_after_a_lost_request_counts_from_its_deadline() -> None:
    # Issue 10.18: nobody asks until long after the deadline; the backoff
    # that follows the loss is over by then, and the next caller sends.
    driver = new(fetch_timeout=10, retry=RetryPolicy(base_delay=5, max_delay=5))
    driver.send()
    driver.clock.set(at(14))  # lost at 10, backoff until 15
    step = driver.step()
    assert isinstance(step, Backoff)
    assert step.until == at(15)
    driver.clock.set(at(100))
    assert isinstance(driver.step(), SendRequest)


def test_the_cooldown_after_a_lost_last_attempt_counts_from_its_deadline() -> None:
    driver = new(fetch_timeout=10, retry=RetryPolicy(max_attempts=1, cooldown=30))
    driver.send()
    driver.clock.set(at(25))
    step = driver.step()
    assert isinstance(step, Failed)
    driver.clock.set(at(39.9))  # 30 s after the deadline at 10, not after 25
    assert isinstance(driver.step(), Failed)
    driver.clock.set(at(40))
    assert isinstance(driver.step(), SendRequest)


def test_a_lost_request_on_the_last_attempt_fails() -> None:
    driver = new(fetch_timeout=10, retry=RetryPolicy(max_attempts=1))
    driver.send()
    driver.clock.set(at(10))
    step = driver.step()
    assert isinstance(step, Failed)
    assert isinstance(step.error, TransportError)
    assert driver.session.state is S.FAILED


def test_a_late_report_of_a_lost_request_is_ignored() -> None:
    driver = new(fetch_timeout=10, retry=RetryPolicy(base_delay=0.5))
    lost = driver.send()
    driver.clock.set(at(10))
    assert isinstance(driver.step(), Backoff)
    driver.clock.set(at(10.5))
    newer = driver.send()
    # The lost request answers while the newer one is in flight...
    late = token_response("access-old")
    assert driver.session.receive(late, now=at(11), step=lost) is None
    driver.session.receive_failure(transport_error(), now=at(11), step=lost)
    assert driver.session.in_flight is newer
    assert driver.session.token is None
    assert driver.session.state is S.FETCHING
    # ... and after it brought its token.
    token = driver.report(newer, token_response("access-new"))
    assert isinstance(token, Token)
    assert driver.session.receive(late, now=at(12), step=lost) is None
    assert driver.session.receive(html_502(), now=at(12), step=lost) is None
    driver.session.receive_failure(transport_error(), now=at(12), step=lost)
    assert driver.session.token == token
    assert driver.session.state is S.IDLE
    assert driver.step() == UseToken(token=token)
    assert driver.session.stats.failures == 1  # the loss, nothing else


def test_a_late_report_of_an_abandoned_request_is_ignored() -> None:
    driver = new()
    abandoned = driver.send()
    driver.session.abandon(abandoned)
    assert driver.session.receive(token_response(), now=T0, step=abandoned) is None
    assert driver.session.token is None
    assert driver.session.state is S.IDLE
    assert isinstance(driver.step(), SendRequest)


# -- the expiry policy ----------------------------------------------------------


@pytest.mark.parametrize(
    ("leeway", "expires_in", "deadline"),
    [
        (30.0, 60, 45.0),  # e = L / 4 = 15: not refreshed on every call
        (30.0, 3600, 3570.0),  # e = leeway
        (30.0, 120, 90.0),  # e = L / 4 = 30 = leeway
        (10.0, 20, 15.0),
        (0.0, 100, 100.0),
    ],
)
def test_a_token_is_handed_out_until_d_and_never_at_or_after(
    leeway: float, expires_in: int, deadline: float
) -> None:
    driver, token = with_token(leeway=leeway, refresh_ahead=0.0, expires_in=expires_in)
    for second in range(math.ceil(deadline)):
        driver.clock.set(at(second))
        assert driver.step() == UseToken(token=token), second
    driver.clock.set(at(deadline - 0.001))
    assert driver.step() == UseToken(token=token)
    driver.clock.set(at(deadline))
    assert isinstance(driver.step(), SendRequest)
    assert all(isinstance(s, AwaitInFlight) for s in driver.callers(5))


def test_a_60_second_token_is_used_for_45_seconds_with_the_defaults() -> None:
    # leeway=30 would leave 30 s; e = 15 s, and refresh-ahead starts at
    # 45 - 0.1 * 60 = 39 with the other callers still using the token.
    driver, token = with_token(expires_in=60)
    for second in range(39):
        driver.clock.set(at(second))
        assert driver.step() == UseToken(token=token)
    driver.clock.set(at(39))
    assert isinstance(driver.step(), SendRequest)
    driver.clock.set(at(44.9))
    assert driver.step() == UseToken(token=token)
    driver.clock.set(at(45))
    assert isinstance(driver.step(), AwaitInFlight)


def test_proactive_refresh_sends_once_and_nobody_waits() -> None:
    driver, token = with_token(fetch_timeout=1000)
    driver.clock.set(at(P - 0.001))
    assert driver.step() == UseToken(token=token)
    driver.clock.set(at(P))
    steps = driver.callers(100)
    assert isinstance(steps[0], SendRequest)
    assert steps[0].refresh
    assert steps[1:] == [UseToken(token=token)] * 99
    driver.clock.set(at(D - 0.001))
    assert driver.callers(10) == [UseToken(token=token)] * 10
    driver.clock.set(at(D))  # at D, with the refresh still in flight
    assert driver.callers(10) == [AwaitInFlight(until=at(P + 1000))] * 10
    assert len(driver.sent()) == 2  # the acquisition and one refresh
    driver.report(steps[0], token_response("access-2"))
    assert accesses(driver.callers(10)) == ["access-2"] * 10


def test_refresh_ahead_zero_turns_proactive_refresh_off() -> None:
    driver, token = with_token(refresh_ahead=0.0)
    driver.clock.set(at(P))
    assert driver.step() == UseToken(token=token)
    driver.clock.set(at(D - 0.001))
    assert driver.step() == UseToken(token=token)
    driver.clock.set(at(D))
    assert isinstance(driver.step(), SendRequest)


def test_a_token_without_expiry_is_used_until_invalidated() -> None:
    driver, token = with_token(expires_in=None)
    assert token.expires_at is None
    for seconds in (0.0, LIFETIME, 10 * 365 * 86400.0):
        driver.clock.set(at(seconds))
        assert driver.step() == UseToken(token=token)
    assert driver.session.invalidate(token)
    assert isinstance(driver.step(), SendRequest)


def test_default_lifetime_applies_leeway_and_refresh_ahead() -> None:
    # As if expires_in=600: D = 600 - 30 = 570, P = 570 - 60 = 510.
    driver, token = with_token(
        expires_in=None, default_lifetime=600, fetch_timeout=1000
    )
    assert token.expires_at is None
    driver.clock.set(at(509.9))
    assert driver.step() == UseToken(token=token)
    driver.clock.set(at(510))
    assert isinstance(driver.step(), SendRequest)
    assert driver.callers(3) == [UseToken(token=token)] * 3
    driver.clock.set(at(569.9))
    assert driver.step() == UseToken(token=token)
    driver.clock.set(at(570))
    assert isinstance(driver.step(), AwaitInFlight)


def test_default_lifetime_does_not_override_a_known_expiry() -> None:
    driver, token = with_token(expires_in=60, default_lifetime=600, refresh_ahead=0.0)
    driver.clock.set(at(44.9))
    assert driver.step() == UseToken(token=token)
    driver.clock.set(at(45))
    assert isinstance(driver.step(), SendRequest)


def test_a_jwt_exp_without_expires_in_is_the_expiry() -> None:
    driver = new(refresh_ahead=0.0)
    token = driver.fetch(
        token_response(jwt({"sub": "svc", "exp": int(at(600))}), expires_in=None)
    )
    assert isinstance(token, Token)
    assert token.expires_at == at(600)
    driver.clock.set(at(569.9))  # D = 600 - 30
    assert driver.step() == UseToken(token=token)
    driver.clock.set(at(570))
    assert isinstance(driver.step(), SendRequest)


def test_a_failed_proactive_refresh_keeps_the_token_until_d_then_backs_off() -> None:
    driver, _ = with_token(retry=RetryPolicy(base_delay=1000, max_delay=1000))
    driver.clock.set(at(P))
    error = driver.fetch(http_error(503))
    assert isinstance(error, HttpError)
    assert driver.session.state is S.BACKOFF
    for seconds in (P, P + 100, D - 0.001):
        driver.clock.set(at(seconds))
        assert accesses(driver.callers(5)) == ["access-1"] * 5
    driver.clock.set(at(D))
    assert driver.callers(5) == [Backoff(until=at(P + 1000), error=error)] * 5
    driver.clock.set(at(P + 1000))
    assert isinstance(driver.step(), SendRequest)
    assert len(driver.sent()) == 3  # acquisition, refresh, retry


def test_a_failed_proactive_refresh_is_retried_after_the_backoff() -> None:
    driver, _ = with_token(retry=RetryPolicy(base_delay=0.5))
    driver.clock.set(at(P))
    driver.fetch(transport_error())
    driver.clock.set(at(P + 0.25))
    assert access(driver.step()) == "access-1"
    driver.clock.set(at(P + 0.5))
    steps = driver.callers(5)
    assert isinstance(steps[0], SendRequest)
    assert accesses(steps[1:]) == ["access-1"] * 4


def test_a_fatal_proactive_refresh_keeps_the_token_until_d_then_fails() -> None:
    driver, _ = with_token(retry=RetryPolicy(cooldown=1000))
    driver.clock.set(at(P))
    error = driver.fetch(oauth_error("invalid_client", status=401))
    assert isinstance(error, OAuthError)
    assert driver.session.state is S.FAILED
    driver.clock.set(at(D - 0.001))
    assert accesses(driver.callers(5)) == ["access-1"] * 5
    driver.clock.set(at(D))
    failed = driver.step()
    assert failed == Failed(error=error)
    assert driver.callers(5) == [failed] * 5
    assert all(s is failed for s in driver.callers(5))
    driver.clock.set(at(P + 1000))
    assert isinstance(driver.step(), SendRequest)


# -- refresh ------------------------------------------------------------------


def test_a_refresh_token_is_used_to_refresh() -> None:
    flow = client_credentials()
    driver, _ = with_token(flow)
    driver.clock.set(at(P))
    step = driver.send()
    assert step.refresh
    assert step.request == flow.refresh_request("refresh-1")
    fields = form(step.request)
    assert fields["grant_type"] == "refresh_token"
    assert fields["refresh_token"] == "refresh-1"
    assert driver.session.stats.refreshes == 1


def test_a_refresh_answer_without_refresh_token_keeps_the_old_one() -> None:
    driver, _ = with_token()
    driver.clock.set(at(P))
    token = driver.fetch(token_response("access-2"))
    assert isinstance(token, Token)
    # receive() returns the token as the session keeps it, the old refresh
    # token carried over.
    assert token.refresh_token == "refresh-1"
    session_token = driver.session.token
    assert session_token is not None
    assert session_token.access_token == "access-2"
    assert session_token.refresh_token == "refresh-1"
    driver.clock.set(at(2 * P))
    step = driver.send()
    assert step.refresh
    assert form(step.request)["refresh_token"] == "refresh-1"


def test_a_refresh_answer_with_refresh_token_replaces_it() -> None:
    driver, _ = with_token()
    driver.clock.set(at(P))
    token = driver.fetch(token_response("access-2", refresh_token="refresh-2"))
    assert isinstance(token, Token)
    assert token.refresh_token == "refresh-2"
    session_token = driver.session.token
    assert session_token is not None
    assert session_token.refresh_token == "refresh-2"
    driver.clock.set(at(2 * P))
    step = driver.send()
    assert form(step.request)["refresh_token"] == "refresh-2"


def test_invalid_grant_on_a_refresh_acquires_anew_at_once() -> None:
    flow = client_credentials()
    driver, _ = with_token(flow)
    driver.clock.set(at(P))
    rejection = driver.fetch(oauth_error("invalid_grant"))
    assert isinstance(rejection, OAuthError)
    assert driver.session.state is S.IDLE
    steps = driver.callers(5)
    assert steps[0] == SendRequest(
        request=flow.token_request(), refresh=False, fetch_id=3
    )
    assert all(isinstance(s, UseToken) for s in steps[1:])  # still valid
    # Not a failure, but counted: a refresh token refused may have been
    # stolen and replayed.
    assert driver.session.stats == stats(
        requests_sent=3, refreshes=1, refresh_rejected=1
    )


def test_invalid_grant_on_a_refresh_without_a_usable_token_acquires() -> None:
    flow = client_credentials()
    driver, token = with_token(flow)
    assert driver.session.invalidate(token)
    assert driver.send().refresh
    driver.report(driver.sent()[-1], oauth_error("invalid_grant"))
    step = driver.step()
    assert isinstance(step, SendRequest)
    assert step.request == flow.token_request()
    assert not step.refresh
    assert driver.session.stats.failures == 0
    assert driver.session.stats.last_error is None


def _fail_by_response(driver: Driver, step: SendRequest, answer: Answer) -> None:
    driver.report(step, answer)


FAILED_REFRESHES: dict[str, Callable[[Driver, SendRequest], None]] = {
    "retryable": lambda d, s: _fail_by_response(d, s, http_error(503)),
    "fatal": lambda d, s: _fail_by_response(d, s, oauth_error("invalid_client")),
    "transport": lambda d, s: _fail_by_response(d, s, transport_error()),
    "abandoned": lambda d, s: d.session.abandon(s),
    "lost": lambda d, s: None,  # never reported: lost by D
}


@pytest.mark.parametrize("how", sorted(FAILED_REFRESHES))
@pytest.mark.parametrize("usable", [True, False], ids=["proactive", "invalidated"])
def test_a_refresh_token_is_never_sent_again_after_its_refresh_failed(
    how: str, usable: bool
) -> None:
    flow = client_credentials()
    driver, token = with_token(flow)
    if usable:
        driver.clock.set(at(P))
    else:
        driver.session.invalidate(token)
    refresh = driver.send()
    assert refresh.refresh
    FAILED_REFRESHES[how](driver, refresh)
    driver.clock.set(at(D))  # whatever the token, the session must fetch
    retry = driver.until_send()
    assert "refresh_token=no" in repr(driver.session)
    if driver.session.token is not None:
        assert driver.session.token.refresh_token is None
    assert not retry.refresh
    assert retry.request == flow.token_request()
    sent = driver.sent()
    assert [s for s in sent if s.refresh] == [refresh]
    assert sum(b"refresh-1" in s.request.body for s in sent) == 1


def test_an_api_key_exchange_always_acquires() -> None:
    flow = ApiKeyExchange(token_url=TOKEN_URL, api_key=API_KEY)
    driver, _ = with_token(flow, refresh_token="refresh-1")
    driver.clock.set(at(P))
    step = driver.send()
    assert step == SendRequest(request=flow.token_request(), refresh=False, fetch_id=2)
    driver.report(step, token_response("access-2", refresh_token="refresh-2"))
    new_token = driver.session.token
    assert new_token is not None
    assert driver.session.invalidate(new_token)
    step = driver.send()
    assert step.request == flow.token_request()
    assert not step.refresh
    assert driver.session.stats.refreshes == 0


# -- retries --------------------------------------------------------------------


def backoff_schedule(driver: Driver, answer: Callable[[], Answer]) -> list[float]:
    """Fail every attempt with *answer*; the delays of the Backoffs until Failed.

    After each failure the clock moves to the Backoff's ``until``. Should the
    session still say Backoff there, the clock moves on by a microsecond at a
    time, as a real one would, so that this measures the schedule alone;
    test_sleeping_until_backoff_until_is_enough checks the sleep itself.
    """
    delays: list[float] = []
    step = driver.step()
    for _ in range(100):
        if isinstance(step, Failed):
            return delays
        if isinstance(step, SendRequest):
            driver.report(step, answer())
            step = driver.step()
            if isinstance(step, Backoff):
                delays.append(step.until - driver.clock.now)
                driver.clock.set(step.until)
                step = driver.step()
            continue
        assert isinstance(step, Backoff)
        driver.clock.set(max(step.until, driver.clock.now + 1e-6))
        step = driver.step()
    raise AssertionError("never failed")


def test_backoff_without_jitter_doubles_up_to_max_delay() -> None:
    policy = RetryPolicy(max_attempts=7, base_delay=0.5, max_delay=5)
    driver = new(retry=policy)
    delays = backoff_schedule(driver, html_502)
    assert delays == [0.5, 1.0, 2.0, 4.0, 5.0, 5.0]
    assert len(driver.sent()) == 7
    assert driver.session.state is S.FAILED


def test_backoff_with_the_same_jitter_seed_gives_the_same_schedule() -> None:
    policy = RetryPolicy(max_attempts=6, base_delay=1, max_delay=10)
    schedules = []
    untils = []
    for _ in range(2):
        driver = new(retry=policy, jitter=random.Random(1234).random)
        schedules.append(backoff_schedule(driver, html_502))
        untils.append([s.until for s in driver.trace if isinstance(s, Backoff)])
    assert schedules[0] == schedules[1]
    assert untils[0] == untils[1]
    draws = random.Random(1234)
    expected = [cap * draws.random() for cap in (1, 2, 4, 8, 10)]
    assert schedules[0] == pytest.approx(expected, abs=1e-6)


def test_another_jitter_seed_gives_another_schedule() -> None:
    policy = RetryPolicy(max_attempts=6, base_delay=1, max_delay=10)
    one = backoff_schedule(new(retry=policy, jitter=random.Random(1).random), html_502)
    two = backoff_schedule(new(retry=policy, jitter=random.Random(2).random), html_502)
    assert one != two


@pytest.mark.parametrize(
    ("answer", "policy", "delay"),
    [
        (http_error(503, retry_after=7), RetryPolicy(base_delay=0.5), 7.0),
        (
            oauth_error("temporarily_unavailable", status=503, retry_after=3),
            RetryPolicy(base_delay=0.5),
            3.0,
        ),
        (html_502(retry_after=0), RetryPolicy(base_delay=0.5), 0.5),
        (
            oauth_error("slow_down", retry_after="Tue, 14 Nov 2023 22:13:40 GMT"),
            RetryPolicy(base_delay=0.5),
            20.0,  # T0 is 22:13:20 GMT
        ),
    ],
    ids=["503", "oauth", "zero", "http-date"],
)
def test_retry_after_is_honoured_and_capped(
    answer: HttpResponse, policy: RetryPolicy, delay: float
) -> None:
    driver = new(retry=policy)
    driver.fetch(answer)
    step = driver.step()
    assert isinstance(step, Backoff)
    assert step.until == at(delay)


def test_retry_after_is_a_floor_under_jitter() -> None:
    driver = new(retry=RetryPolicy(base_delay=4), jitter=lambda: 0.0)
    driver.fetch(http_error(503, retry_after=3))
    step = driver.step()
    assert isinstance(step, Backoff)
    assert step.until == at(3)


@pytest.mark.parametrize(
    "answer",
    [
        http_error(429, retry_after=3600),
        oauth_error("temporarily_unavailable", status=503, retry_after=31),
        oauth_error("slow_down", retry_after="Wed, 15 Nov 2023 22:13:20 GMT"),
    ],
    ids=["429-an-hour", "oauth-just-over", "http-date-a-day"],
)
def test_a_retry_after_beyond_max_delay_fails_at_once_until_it_passes(
    answer: HttpResponse,
) -> None:
    # RetryPolicy's docstring: a server asking for more than max_delay gets a
    # Failed at once (no caller blocks through backoffs), and nothing is sent
    # before its Retry-After, even when that is longer than the cooldown.
    policy = RetryPolicy(max_delay=30, cooldown=10)
    driver = new(retry=policy)
    error = driver.fetch(answer)
    assert isinstance(error, OAuthError | HttpError)
    assert error.retry_after is not None
    assert error.retry_after > policy.max_delay
    assert driver.session.state is S.FAILED
    step = driver.step()
    assert isinstance(step, Failed)
    assert step.error is error
    assert driver.session.stats.requests_sent == 1
    driver.clock.set(at(error.retry_after) - 0.001)
    assert isinstance(driver.step(), Failed)
    driver.clock.set(at(error.retry_after))
    assert isinstance(driver.step(), SendRequest)


def test_a_retry_after_longer_than_the_cooldown_holds_a_final_failure() -> None:
    # Attempts ran out on a 503 asking for 20 s, with a 5 s cooldown: the
    # next request waits for the server's 20 s.
    driver = new(retry=RetryPolicy(max_attempts=1, cooldown=5))
    driver.fetch(http_error(503, retry_after=20))
    driver.clock.set(at(19.9))
    assert isinstance(driver.step(), Failed)
    driver.clock.set(at(20))
    assert isinstance(driver.step(), SendRequest)


def test_zero_jitter_retries_at_once() -> None:
    driver = new(jitter=lambda: 0.0)
    driver.fetch(html_502())
    assert driver.session.state is S.BACKOFF
    assert isinstance(driver.step(), SendRequest)


@pytest.mark.parametrize(
    "answer",
    [
        html_502(),
        http_error(503),
        http_error(429),
        http_error(500),
        http_error(504),
        http_error(408),
        oauth_error("temporarily_unavailable", status=503),
        oauth_error("server_error", status=500),
        oauth_error("slow_down"),
        transport_error("connection refused"),
        transport_error("timed out"),
    ],
)
def test_retryable_failures_back_off_then_fail_after_max_attempts(
    answer: Answer,
) -> None:
    driver = new(retry=RetryPolicy(max_attempts=3))
    steps: list[Step] = []
    for _ in range(2):
        driver.fetch(answer)
        steps.append(step := driver.step())
        assert isinstance(step, Backoff)
        driver.clock.set(step.until)
    driver.fetch(answer)
    failed = driver.step()
    assert isinstance(failed, Failed)
    assert len(driver.sent()) == 3
    assert driver.session.stats.failures == 3
    assert driver.session.stats.last_error is failed.error


def test_max_attempts_one_fails_on_the_first_retryable_failure() -> None:
    driver = new(retry=RetryPolicy(max_attempts=1))
    driver.fetch(html_502())
    assert isinstance(driver.step(), Failed)
    assert len(driver.sent()) == 1


@pytest.mark.parametrize(
    "answer",
    [
        oauth_error("invalid_client", status=401),
        oauth_error("unauthorized_client"),
        oauth_error("invalid_scope"),
        oauth_error("invalid_grant"),  # on an acquisition
        oauth_error("invalid_request"),
        http_error(401, content_type="text/plain", body=b"Unauthorized"),
        http_error(403),
        http_error(404),
        token_response(status=200, extra={"access_token": ""}),
        HttpResponse(status=200, headers=(), body=b"<html>login</html>"),
        transport_error("certificate verify failed", retryable=False),
    ],
)
def test_non_retryable_failures_fail_at_once(answer: Answer) -> None:
    driver = new()
    driver.fetch(answer)
    steps = driver.callers(10)
    assert isinstance(steps[0], Failed)
    assert not steps[0].error.retryable
    assert all(s is steps[0] for s in steps)
    assert len(driver.sent()) == 1
    assert driver.session.state is S.FAILED
    assert driver.session.stats == stats(
        requests_sent=1, failures=1, last_error=steps[0].error
    )


@pytest.mark.parametrize("kind", ["fatal", "exhausted"])
def test_failed_is_repeated_without_a_request_until_the_cooldown(kind: str) -> None:
    driver = new(retry=RetryPolicy(max_attempts=2, base_delay=1, cooldown=30))
    if kind == "fatal":
        driver.fetch(oauth_error("invalid_client", status=401))
    else:
        driver.fetch(html_502())
        driver.clock.advance(1)
        driver.fetch(html_502())
    failed_at = driver.clock.now
    failed = driver.step()
    assert isinstance(failed, Failed)
    for seconds in (0.0, 10.0, 29.9):
        driver.clock.set(failed_at + seconds)
        assert all(s is failed for s in driver.callers(20))
    requests = len(driver.sent())
    driver.clock.set(failed_at + 30)
    steps = driver.callers(5)
    assert isinstance(steps[0], SendRequest)
    assert all(isinstance(s, AwaitInFlight) for s in steps[1:])
    assert len(driver.sent()) == requests + 1


def test_attempts_start_again_after_the_cooldown() -> None:
    driver = new(retry=RetryPolicy(max_attempts=2, base_delay=1, cooldown=30))
    driver.fetch(html_502())
    driver.clock.advance(1)
    driver.fetch(html_502())
    assert isinstance(driver.step(), Failed)
    driver.clock.advance(30)
    driver.fetch(html_502())
    assert isinstance(driver.step(), Backoff)


def test_attempts_start_again_after_a_token() -> None:
    driver = new(retry=RetryPolicy(max_attempts=2, base_delay=1), refresh_ahead=0.0)
    driver.fetch(html_502())
    driver.clock.advance(1)
    driver.fetch(token_response())
    driver.clock.advance(D)
    driver.fetch(html_502())  # the refresh
    assert isinstance(driver.step(), Backoff)


def test_retry_policy_delay() -> None:
    policy = RetryPolicy(base_delay=1, max_delay=16)
    assert [policy.delay(n, None, None) for n in range(1, 8)] == [
        1,
        2,
        4,
        8,
        16,
        16,
        16,
    ]
    assert policy.delay(10_000, None, None) == 16
    assert policy.delay(3, 6, None) == 6
    assert policy.delay(3, 100, None) == 16
    assert policy.delay(3, None, lambda: 0.25) == 1
    assert policy.delay(3, 2, lambda: 0.25) == 2
    assert policy.delay(3, None, lambda: 1.5) == 4  # a bad source is clamped
    assert policy.delay(3, None, lambda: -1.0) == 0


# -- invalidate -----------------------------------------------------------------


def test_invalidate_drops_only_the_current_token() -> None:
    driver = new()
    assert driver.session.invalidate("access-1") is False
    assert driver.session.state is S.IDLE
    token = driver.fetch(token_response("access-1", refresh_token="refresh-1"))
    assert isinstance(token, Token)
    assert driver.session.invalidate("access-0") is False
    assert driver.session.invalidate(attrs.evolve(token, access_token="x")) is False
    assert driver.session.token == token
    assert driver.session.invalidate(token) is True
    assert driver.session.token is None
    assert driver.session.invalidate(token) is False
    assert driver.session.state is S.IDLE
    step = driver.send()
    assert step.refresh  # the refresh token was kept
    driver.report(step, token_response("access-2"))
    assert driver.session.invalidate("access-1") is False
    assert driver.session.invalidate("access-2") is True


def test_a_hundred_callers_refused_with_the_old_token_cause_one_refresh() -> None:
    driver, token = with_token(fetch_timeout=60)
    uses = driver.callers(100)
    assert uses == [UseToken(token=token)] * 100
    dropped = [
        driver.session.invalidate(u.token) for u in uses if isinstance(u, UseToken)
    ]
    assert dropped.count(True) == 1
    steps = driver.callers(100)
    assert isinstance(steps[0], SendRequest)
    assert steps[0].refresh
    assert form(steps[0].request)["refresh_token"] == "refresh-1"
    assert steps[1:] == [AwaitInFlight(until=at(60))] * 99
    driver.report(steps[0], token_response("access-2"))
    assert accesses(driver.callers(100)) == ["access-2"] * 100
    assert driver.session.invalidate(token) is False
    assert len(driver.sent()) == 2


def test_invalidate_during_a_proactive_refresh_makes_callers_wait() -> None:
    driver, token = with_token(fetch_timeout=60)
    driver.clock.set(at(P))
    step = driver.send()
    assert driver.step() == UseToken(token=token)
    assert driver.session.invalidate(token)
    assert driver.session.state is S.FETCHING
    assert driver.callers(3) == [AwaitInFlight(until=at(P + 60))] * 3
    assert driver.session.in_flight is step


# -- clocks ---------------------------------------------------------------------


def test_a_clock_set_back_does_not_stretch_the_token() -> None:
    driver, token = with_token(refresh_ahead=0.0)
    driver.clock.set(at(1800))
    assert driver.step() == UseToken(token=token)
    driver.clock.advance(-3600)  # an hour back: the wall clock reads T0 - 1800
    assert driver.step() == UseToken(token=token)
    driver.clock.advance(D - 1800 - 1)  # 3569 s elapsed since the token came
    assert driver.step() == UseToken(token=token)
    driver.clock.advance(1)  # 3570 s elapsed, though the wall clock says T0 - 30
    assert driver.clock.now == at(-30)
    assert isinstance(driver.step(), SendRequest)


def test_a_backoff_is_in_the_callers_clock_after_it_was_set_back() -> None:
    driver = new(retry=RetryPolicy(base_delay=10, max_delay=10))
    driver.fetch(html_502())
    driver.clock.advance(4)
    assert isinstance(step := driver.step(), Backoff)
    assert step.until == at(10)
    driver.clock.advance(-3600)
    step = driver.step()
    assert isinstance(step, Backoff)
    assert step.until == at(10 - 3600)
    driver.clock.set(step.until)  # sleeping until it works
    assert isinstance(driver.step(), SendRequest)


def test_await_in_flight_is_in_the_callers_clock_after_it_was_set_back() -> None:
    driver = new(fetch_timeout=60)
    driver.send()
    driver.clock.advance(-3600)
    step = driver.step()
    assert step == AwaitInFlight(until=at(60 - 3600))
    driver.clock.set(step.until)
    assert isinstance(driver.step(), Backoff)  # the fetch is lost, not waited on


def test_a_failed_cooldown_is_in_the_callers_clock() -> None:
    driver = new(retry=RetryPolicy(cooldown=30))
    driver.fetch(oauth_error("invalid_client"))
    driver.clock.advance(-3600)
    assert isinstance(driver.step(), Failed)
    driver.clock.advance(30)
    assert isinstance(driver.step(), SendRequest)


def test_a_clock_set_forward_makes_the_token_look_older() -> None:
    driver, token = with_token(fetch_timeout=60)
    driver.clock.set(at(100))
    assert driver.step() == UseToken(token=token)
    driver.clock.advance(10 * 3600)
    step = driver.step()
    assert isinstance(step, SendRequest)
    assert step.refresh
    assert isinstance(driver.step(), AwaitInFlight)


# A caller that sleeps until ``until`` (a fake clock, trio's MockClock, an
# event loop whose timer fires on the dot) asks again at exactly that time:
# it must then be let through, not told to wait until that same time again.


@pytest.mark.parametrize("seed", range(10))
def test_sleeping_until_backoff_until_is_enough(seed: int) -> None:
    driver = new(
        retry=RetryPolicy(max_attempts=2, base_delay=1, max_delay=10),
        jitter=random.Random(seed).random,
    )
    driver.fetch(html_502())
    wait = driver.step()
    assert isinstance(wait, Backoff)
    assert wait.until > driver.clock.now
    driver.clock.set(wait.until)
    step = driver.step()
    assert isinstance(step, SendRequest), (
        f"asked again at Backoff.until={wait.until!r}, got {step!r}"
    )


@pytest.mark.parametrize("fetch_timeout", [7.3, 9.7, 12.345, 30.3, 60.1, 61.7])
def test_sleeping_until_await_in_flight_until_is_enough(fetch_timeout: float) -> None:
    driver = new(fetch_timeout=fetch_timeout)
    driver.session.abandon(driver.send())
    driver.clock.set(at(0.3))
    driver.send()
    driver.clock.set(at(0.6))
    wait = driver.step()
    assert isinstance(wait, AwaitInFlight)
    assert wait.until > driver.clock.now
    driver.clock.set(wait.until)
    step = driver.step()
    assert isinstance(step, Backoff), (  # lost by then, not waited on again
        f"asked again at AwaitInFlight.until={wait.until!r}, got {step!r}"
    )


@pytest.mark.parametrize("now", [math.nan, math.inf, -math.inf])
def test_a_non_finite_now_is_a_value_error(now: float) -> None:
    driver = new()
    with pytest.raises(ValueError, match="now must be a finite number"):
        driver.session.next_step(now)
    step = driver.send()
    with pytest.raises(ValueError, match="now must be a finite number"):
        driver.session.receive(token_response(), now=now, step=step)
    with pytest.raises(ValueError, match="now must be a finite number"):
        driver.session.receive_failure(transport_error(), now=now, step=step)
    assert driver.session.state is S.FETCHING
    assert driver.session.in_flight is step
    assert driver.session.token is None
    assert driver.session.stats == stats(requests_sent=1)


# -- tokens that arrive expired --------------------------------------------------


@pytest.mark.parametrize(
    "response",
    [
        token_response(expires_in=0),
        token_response(expires_in="0"),
        token_response(jwt({"exp": int(at(-10))}), expires_in=None),
        token_response(jwt({"exp": int(T0)}), expires_in=None),
    ],
    ids=["expires_in-0", "expires_in-string-0", "jwt-past", "jwt-now"],
)
@pytest.mark.parametrize("default_lifetime", [None, 600.0])
def test_a_token_that_arrives_expired_is_a_malformed_response(
    response: HttpResponse, default_lifetime: float | None
) -> None:
    driver = new(default_lifetime=default_lifetime)
    result = driver.fetch(response)
    assert isinstance(result, MalformedResponse)
    assert result.status == 200
    assert "expired" in result.reason
    assert driver.session.token is None
    steps = driver.callers(100)
    assert steps == [Failed(error=result)] * 100
    assert len(driver.sent()) == 1
    assert driver.session.stats == stats(requests_sent=1, failures=1, last_error=result)


# -- state, stats, repr, validation -----------------------------------------------


def test_stats_count_what_the_session_did() -> None:
    driver = new(retry=RetryPolicy(base_delay=1))
    assert driver.session.stats == stats()
    driver.fetch(token_response("access-1", refresh_token="refresh-1"))
    assert driver.session.stats == stats(requests_sent=1)
    driver.clock.set(at(P))
    error = driver.fetch(http_error(503))  # the refresh fails
    assert isinstance(error, HttpError)
    assert driver.session.stats == stats(
        requests_sent=2, refreshes=1, failures=1, last_error=error
    )
    driver.clock.advance(1)
    driver.session.abandon(driver.send())  # the retry is cancelled
    assert driver.session.stats == stats(
        requests_sent=3, refreshes=1, failures=1, abandoned=1, last_error=error
    )
    driver.fetch(token_response("access-2", refresh_token="refresh-2"))
    driver.clock.advance(P)
    driver.fetch(oauth_error("invalid_grant"))  # not a failure, but counted
    assert driver.session.last_event is SessionEvent.REFRESH_REJECTED
    assert driver.session.stats == stats(
        requests_sent=5,
        refreshes=2,
        failures=1,
        abandoned=1,
        last_error=error,
        refresh_rejected=1,
    )
    fatal = driver.fetch(oauth_error("invalid_client", status=401))
    assert isinstance(fatal, OAuthError)
    assert driver.session.last_event is SessionEvent.FATAL_FAILURE  # type: ignore[comparison-overlap]
    assert driver.session.stats == stats(
        requests_sent=6,
        refreshes=2,
        failures=2,
        abandoned=1,
        last_error=fatal,
        refresh_rejected=1,
    )
    driver.callers(10)  # Failed, without requests
    assert driver.session.stats.requests_sent == 6


def test_the_repr_shows_no_secret() -> None:
    driver = new()
    assert repr(driver.session) == (
        "<TokenSession idle flow=ClientCredentials token=no refresh_token=no>"
    )
    step = driver.send()
    driver.report(
        step, token_response("Ax7-access-SECRET", refresh_token="Rf3-refresh-SECRET")
    )
    text = repr(driver.session)
    assert text == (
        "<TokenSession idle flow=ClientCredentials token=yes refresh_token=yes>"
    )
    for shown in (text, repr(driver.step()), repr(step), repr(driver.session.stats)):
        for secret in ("Ax7-access-SECRET", "Rf3-refresh-SECRET", CLIENT_SECRET):
            assert secret not in shown


def test_the_defaults() -> None:
    session = TokenSession(client_credentials())
    assert session.leeway == 30.0
    assert session.refresh_ahead == 0.1
    assert session.retry == RetryPolicy()
    # One frozen default for all sessions: a gateway holds thousands.
    assert TokenSession(client_credentials()).retry is session.retry
    assert session.default_lifetime is None
    assert session.fetch_timeout > 0
    policy = RetryPolicy()
    assert policy.max_attempts >= 1
    assert policy.base_delay >= 0
    assert policy.max_delay >= policy.base_delay
    assert policy.cooldown >= 0


def test_valid_edge_arguments_are_accepted() -> None:
    session = TokenSession(
        client_credentials(),
        leeway=0,
        refresh_ahead=0.5,
        default_lifetime=0.001,
        fetch_timeout=0.001,
        jitter=random.Random(0).random,
        retry=RetryPolicy(max_attempts=1, base_delay=0, max_delay=0, cooldown=0),
    )
    assert session.leeway == 0.0
    assert isinstance(session.leeway, float)
    assert session.default_lifetime == 0.001


@pytest.mark.parametrize(
    ("kwargs", "exception", "name"),
    [
        ({"flow": object()}, TypeError, "flow"),
        ({"flow": "https://auth.example.test/token"}, TypeError, "flow"),
        ({"leeway": -1}, ValueError, "leeway"),
        ({"leeway": math.nan}, ValueError, "leeway"),
        ({"leeway": math.inf}, ValueError, "leeway"),
        ({"leeway": "30"}, TypeError, "leeway"),
        ({"leeway": True}, TypeError, "leeway"),
        ({"refresh_ahead": 0.51}, ValueError, "refresh_ahead"),
        ({"refresh_ahead": 1}, ValueError, "refresh_ahead"),
        ({"refresh_ahead": 1.5}, ValueError, "refresh_ahead"),
        ({"refresh_ahead": -0.1}, ValueError, "refresh_ahead"),
        ({"refresh_ahead": math.nan}, ValueError, "refresh_ahead"),
        ({"refresh_ahead": None}, TypeError, "refresh_ahead"),
        ({"default_lifetime": 0}, ValueError, "default_lifetime"),
        ({"default_lifetime": -60}, ValueError, "default_lifetime"),
        ({"default_lifetime": math.inf}, ValueError, "default_lifetime"),
        ({"default_lifetime": "60"}, TypeError, "default_lifetime"),
        ({"fetch_timeout": 0}, ValueError, "fetch_timeout"),
        ({"fetch_timeout": -1}, ValueError, "fetch_timeout"),
        ({"fetch_timeout": math.nan}, ValueError, "fetch_timeout"),
        ({"jitter": 0.5}, TypeError, "jitter"),
        ({"jitter": "random"}, TypeError, "jitter"),
        ({"retry": {"max_attempts": 3}}, TypeError, "retry"),
        ({"retry": 3}, TypeError, "retry"),
    ],
)
def test_the_constructor_names_a_bad_argument(
    kwargs: dict[str, Any], exception: type[Exception], name: str
) -> None:
    args: dict[str, Any] = {"flow": client_credentials()}
    args.update(kwargs)
    flow = args.pop("flow")
    with pytest.raises(exception, match=rf"^{name} must"):
        TokenSession(flow, **args)


@pytest.mark.parametrize(
    ("kwargs", "exception", "name"),
    [
        ({"max_attempts": 0}, ValueError, "max_attempts"),
        ({"max_attempts": -1}, ValueError, "max_attempts"),
        ({"max_attempts": 1.5}, TypeError, "max_attempts"),
        ({"max_attempts": True}, TypeError, "max_attempts"),
        ({"max_attempts": "3"}, TypeError, "max_attempts"),
        ({"base_delay": -1}, ValueError, "base_delay"),
        ({"base_delay": math.nan}, ValueError, "base_delay"),
        ({"base_delay": math.inf}, ValueError, "base_delay"),
        ({"base_delay": "1"}, TypeError, "base_delay"),
        ({"max_delay": -0.5}, ValueError, "max_delay"),
        ({"max_delay": math.inf}, ValueError, "max_delay"),
        ({"cooldown": -1}, ValueError, "cooldown"),
        ({"cooldown": False}, TypeError, "cooldown"),
    ],
)
def test_retry_policy_names_a_bad_argument(
    kwargs: dict[str, Any], exception: type[Exception], name: str
) -> None:
    with pytest.raises(exception, match=rf"^{name} must"):
        RetryPolicy(**kwargs)


# -- the transition table ----------------------------------------------------------


def test_the_transition_table_is_exactly_the_documented_one() -> None:
    assert set(TRANSITIONS.items()) == {
        ((S.IDLE, E.SEND), S.FETCHING),
        ((S.IDLE, E.INVALIDATE), S.IDLE),
        ((S.FETCHING, E.TOKEN), S.IDLE),
        ((S.FETCHING, E.RETRYABLE_FAILURE), S.BACKOFF),
        ((S.FETCHING, E.FATAL_FAILURE), S.FAILED),
        ((S.FETCHING, E.REFRESH_REJECTED), S.IDLE),
        ((S.FETCHING, E.DPOP_NONCE), S.FETCHING),
        ((S.FETCHING, E.ABANDONED), S.IDLE),
        ((S.FETCHING, E.INVALIDATE), S.FETCHING),
        ((S.BACKOFF, E.SEND), S.FETCHING),
        ((S.BACKOFF, E.INVALIDATE), S.BACKOFF),
        ((S.FAILED, E.SEND), S.FETCHING),
        ((S.FAILED, E.INVALIDATE), S.FAILED),
    }
    assert len(TRANSITIONS) == 13
    assert set(S) == {S.IDLE, S.FETCHING, S.BACKOFF, S.FAILED}
    assert set(E) == {
        E.SEND,
        E.TOKEN,
        E.RETRYABLE_FAILURE,
        E.FATAL_FAILURE,
        E.REFRESH_REJECTED,
        E.ABANDONED,
        E.INVALIDATE,
        E.DPOP_NONCE,
    }
    with pytest.raises(TypeError):
        TRANSITIONS[S.IDLE, E.TOKEN] = S.IDLE  # type: ignore[index]


# Into each state with a current token `access-1` (refresh token `refresh-1`)
# that is usable until D: from IDLE at P, the first caller refreshes; FETCHING
# is that refresh in flight; BACKOFF and FAILED are its failures.
TABLE_RETRY = RetryPolicy(base_delay=10, max_delay=10, cooldown=100)


def into(state: SessionState, **kwargs: Any) -> tuple[Driver, Token]:
    driver, token = with_token(retry=TABLE_RETRY, fetch_timeout=1000, **kwargs)
    driver.clock.set(at(P))
    if state is not S.IDLE:
        step = driver.send()
        assert step.refresh
        if state is S.BACKOFF:
            driver.report(step, http_error(503))
        elif state is S.FAILED:
            driver.report(step, oauth_error("invalid_client", status=401))
    assert driver.session.state is state
    current = driver.session.token
    assert current is not None
    assert current.access_token == token.access_token
    return driver, token


def in_flight(driver: Driver) -> SendRequest:
    step = driver.session.in_flight
    assert step is not None
    return step


def trigger(event: SessionEvent, driver: Driver, token: Token) -> None:
    """Make *event* happen through public calls only."""
    if event is E.SEND:
        driver.clock.set(at(P + 100))  # past any backoff and cooldown, before D
        assert isinstance(driver.step(), SendRequest)
    elif event is E.TOKEN:
        assert isinstance(driver.report(in_flight(driver), token_response()), Token)
    elif event is E.RETRYABLE_FAILURE:
        driver.report(in_flight(driver), http_error(503))
        assert driver.session.retry.max_attempts > 1
    elif event is E.FATAL_FAILURE:
        driver.report(in_flight(driver), oauth_error("invalid_client", status=401))
    elif event is E.REFRESH_REJECTED:
        step = in_flight(driver)
        assert step.refresh
        driver.report(step, oauth_error("invalid_grant"))
    elif event is E.ABANDONED:
        driver.session.abandon(in_flight(driver))
    elif event is E.DPOP_NONCE:
        nonce = HttpResponse(
            status=400,
            headers=(("Content-Type", "application/json"), ("DPoP-Nonce", "n-1")),
            body=b'{"error": "use_dpop_nonce"}',
        )
        assert isinstance(driver.report(in_flight(driver), nonce), SendRequest)
    else:
        assert event is E.INVALIDATE
        assert driver.session.invalidate(token) is True


@pytest.mark.parametrize(
    ("source", "event", "destination"),
    [(source, event, dest) for (source, event), dest in TRANSITIONS.items()],
    ids=[f"{s.name}-{e.name}" for s, e in TRANSITIONS],
)
def test_every_transition_is_reachable_through_the_public_api(
    source: SessionState, event: SessionEvent, destination: SessionState
) -> None:
    # The nonce is asked of a session with a DPoP key only.
    dpop = (
        {"dpop_key": DPoPKey(Ed25519PrivateKey.generate()), "jti": count_jti()}
        if event is E.DPOP_NONCE
        else {}
    )
    driver, token = into(source, **dpop)
    trigger(event, driver, token)
    assert driver.session.state is destination


STRAY_REPORTS: dict[str, Answer] = {
    "token": token_response("access-stray"),
    "retryable": http_error(503),
    "fatal": oauth_error("invalid_client", status=401),
    "invalid_grant": oauth_error("invalid_grant"),
    "transport": transport_error(),
}


@pytest.mark.parametrize("report", sorted(STRAY_REPORTS))
@pytest.mark.parametrize("state", [S.IDLE, S.BACKOFF, S.FAILED], ids=str)
@pytest.mark.parametrize("with_step", [True, False], ids=["old-step", "no-step"])
def test_a_report_when_not_fetching_is_ignored(
    state: SessionState, report: str, with_step: bool
) -> None:
    driver, _ = into(state)
    old = driver.sent()[-1]
    before = (driver.session.token, driver.session.stats, repr(driver.session))
    answer = STRAY_REPORTS[report]
    step = old if with_step else None
    if isinstance(answer, HttpResponse):
        assert driver.session.receive(answer, now=at(P + 1), step=step) is None
    else:
        driver.session.receive_failure(answer, now=at(P + 1), step=step)
    driver.session.abandon(old)
    assert driver.session.state is state
    assert (driver.session.token, driver.session.stats, repr(driver.session)) == before


@pytest.mark.parametrize("state", [S.FETCHING, S.BACKOFF, S.FAILED], ids=str)
def test_no_send_while_fetching_or_before_the_retry_time(state: SessionState) -> None:
    driver, _ = into(state)
    requests = len(driver.sent())
    driver.clock.set(at(P + 5))  # before the backoff (10) and the cooldown (100)
    assert accesses(driver.callers(10)) == ["access-1"] * 10
    assert len(driver.sent()) == requests
    assert driver.session.state is state


@pytest.mark.parametrize("state", list(S), ids=str)
def test_invalidating_a_token_that_is_not_current_changes_nothing(
    state: SessionState,
) -> None:
    driver, token = into(state)
    assert driver.session.invalidate("access-0") is False
    other = attrs.evolve(token, access_token="other")
    assert driver.session.invalidate(other) is False
    assert driver.session.state is state
    current = driver.session.token
    assert current is not None
    assert current.access_token == "access-1"


def test_the_public_names_of_the_lifecycle() -> None:
    for name in (
        "TokenSession",
        "RetryPolicy",
        "UseToken",
        "SendRequest",
        "AwaitInFlight",
        "Backoff",
        "Failed",
        "SessionState",
        "SessionEvent",
        "SessionStats",
        "TRANSITIONS",
        "Step",
    ):
        assert name in sansio_auth.__all__
    assert AwaitInFlight().until == math.inf


def test_fresh_until_is_the_refresh_point_in_the_callers_clock() -> None:
    session = TokenSession(client_credentials(), leeway=30.0, refresh_ahead=0.1)
    assert session.fresh_until(at(0)) == -math.inf  # no token yet
    send = session.next_step(at(0))
    assert isinstance(send, SendRequest)
    session.receive(token_response("t1", expires_in=3600), now=at(0), step=send)
    step = session.next_step(at(10))
    assert isinstance(step, UseToken)
    assert session.fresh_until(at(10)) == at(P)
    # Up to that time the session hands the token out with nothing to decide.
    assert session.next_step(at(P) - 0.001) is step
    assert isinstance(session.next_step(at(P)), SendRequest)


def test_fresh_until_right_after_receive_is_the_refresh_point() -> None:
    # The adapters cache the token a fetch brought before they wake the
    # callers waiting for it: the answer must be the one next_step implies.
    session = TokenSession(client_credentials(), leeway=30.0, refresh_ahead=0.1)
    send = session.next_step(at(0))
    assert isinstance(send, SendRequest)
    token = session.receive(token_response("t1", expires_in=3600), now=at(2), step=send)
    assert isinstance(token, Token)
    assert session.fresh_until(at(2)) == at(2 + P)
    step = session.next_step(at(2 + P) - 0.001)
    assert isinstance(step, UseToken)
    assert step.token is token
    assert isinstance(session.next_step(at(2 + P)), SendRequest)


def test_a_session_is_claimed_by_one_driver() -> None:
    session = TokenSession(
        ApiKeyExchange(token_url="https://auth.example.com/token", api_key="k")
    )
    session.claim("a urllib TokenClient")
    with pytest.raises(ValueError, match="already driven by a urllib TokenClient"):
        session.claim("an anyio TokenClient")
