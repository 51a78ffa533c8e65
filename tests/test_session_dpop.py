"""The session's signed requests and DPoP (issue 14), driven by hand.

* ``jti=``: required when the flow signs or a DPoP key is given, checked at
  construction; a ``jti`` function that fails leaves the session as it was;
  every JWT of every request gets a fresh jti (the client assertion's and the
  proof's differ); the stamp's time is the caller's ``now``.
* DPoP: every token and refresh request carries a proof for its method and
  URL; a ``use_dpop_nonce`` answer with a new valid nonce is answered by a
  new :class:`SendRequest` of the same fetch (not a failure, counted in
  ``requests_sent`` and ``dpop_nonces``, the refresh token kept); a second
  one in the fetch, one with the same nonce or no nonce, or a nonce that
  breaks RFC 9449 §8.1, is a failure; a nonce from any answer is used next;
  a late report for the replaced step is ignored.
* A hostile server echoing the client assertion, a subject token or the
  DPoP proof, in any shape of ``echoes.py``, never gets it shown.
* A rule-based model: with DPoP, a fetch never sends more than twice, the
  second only after a fresh nonce, and a nonce answer never counts as a
  failure.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import parse_qsl

import attrs
import pytest
from echoes import SECRETS, echoes
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)
from jose_check import (
    generated,
    parts,
    public_of,
    verified,
    verified_proof,
)

from sansio_auth import (
    Backoff,
    ClientCredentials,
    DPoPKey,
    Failed,
    HttpRequest,
    HttpResponse,
    OAuthError,
    SendRequest,
    SessionEvent,
    SessionState,
    Token,
    TokenError,
    TokenExchange,
    TokenSession,
    TransportError,
)

from session_driver import count_jti

URL = "https://auth.example.com/oauth2/token?tenant=t1"
HTU = "https://auth.example.com/oauth2/token"
CLIENT_ID = "client-1"
SECRET = "Cs5-client-SECRET-qq-0123456789abcdef"
NOW = 1_700_000_000.5
NONCE = "eyJ7S_zG.eyJH0-Z.HX4w-7v"
PROPERTY = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
JSON = (("Content-Type", "application/json"),)
ASSERTION = "client_assertion"


def dpop_key() -> DPoPKey:
    return DPoPKey(generated("ed25519"))


def signing_flow(**kwargs: Any) -> ClientCredentials:
    return ClientCredentials(
        token_url=URL,
        client_id=CLIENT_ID,
        auth="private_key_jwt",
        private_key=generated("ec"),
        **kwargs,
    )


def secret_flow() -> ClientCredentials:
    return ClientCredentials(token_url=URL, client_id=CLIENT_ID, client_secret=SECRET)


def token(
    access_token: str = "at-1",
    *,
    refresh_token: str | None = None,
    nonce: str | None = None,
    expires_in: int = 600,
) -> HttpResponse:
    body: dict[str, object] = {
        "access_token": access_token,
        "token_type": "DPoP",
        "expires_in": expires_in,
    }
    if refresh_token is not None:
        body["refresh_token"] = refresh_token
    headers = JSON if nonce is None else (*JSON, ("DPoP-Nonce", nonce))
    return HttpResponse(status=200, headers=headers, body=json.dumps(body).encode())


def use_nonce(nonce: str | None, *, error: str = "use_dpop_nonce") -> HttpResponse:
    headers = JSON if nonce is None else (*JSON, ("DPoP-Nonce", nonce))
    body = json.dumps({"error": error, "error_description": "a nonce, please"})
    return HttpResponse(status=400, headers=headers, body=body.encode())


def form(request: HttpRequest) -> dict[str, str]:
    return dict(parse_qsl(request.body.decode("ascii"), keep_blank_values=True))


def proof_of(request: HttpRequest) -> dict[str, Any]:
    """The request's one DPoP proof, verified by PyJWT; its claims."""
    proofs = [value for name, value in request.headers if name == "DPoP"]
    assert len(proofs) == 1
    header, claims = verified_proof(proofs[0])
    assert header["typ"] == "dpop+jwt"
    return claims


def assertion_of(request: HttpRequest) -> dict[str, Any]:
    key = generated("ec")
    return verified(form(request)["client_assertion"], public_of(key), "ES256")


def send(session: TokenSession, now: float = NOW) -> SendRequest:
    step = session.next_step(now)
    assert isinstance(step, SendRequest), step
    return step


# -- jti= ------------------------------------------------------------------------


def test_a_signing_flow_without_jti_is_refused_at_construction() -> None:
    with pytest.raises(
        ValueError, match=r"^ClientCredentials signs each request: give jti="
    ):
        TokenSession(signing_flow())
    with pytest.raises(ValueError, match=r"^dpop_key signs each request: give jti="):
        TokenSession(secret_flow(), dpop_key=dpop_key())
    # A flow that signs nothing needs none.
    assert TokenSession(secret_flow()).next_step(NOW) is not None


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"jti": "jti-1"}, r"^jti must be a function returning a fresh unique string$"),
        (
            {"dpop_key": generated("ed25519"), "jti": count_jti()},
            r"^dpop_key must be a DPoPKey$",
        ),
        ({"dpop_key": "a PEM", "jti": count_jti()}, r"^dpop_key must be a DPoPKey$"),
    ],
)
def test_the_session_arguments_of_signing_are_checked(
    kwargs: dict[str, Any], message: str
) -> None:
    with pytest.raises(TypeError, match=message):
        TokenSession(secret_flow(), **kwargs)


@pytest.mark.parametrize("value", [None, 7, b"jti", ""])
@pytest.mark.parametrize("dpop", [False, True])
def test_a_jti_function_returning_no_string_fails_clearly_and_sends_nothing(
    value: object, dpop: bool
) -> None:
    session = TokenSession(
        secret_flow() if dpop else signing_flow(),
        dpop_key=dpop_key() if dpop else None,
        jti=lambda: value,  # type: ignore[arg-type,return-value]
    )
    with pytest.raises(
        ValueError, match=r"^the jti function must return a non-empty string$"
    ):
        session.next_step(NOW)
    assert session.state is SessionState.IDLE
    assert session.in_flight is None
    assert session.stats.requests_sent == 0
    assert session.last_event is None


def test_a_jti_function_that_raises_leaves_the_session_as_it_was() -> None:
    def broken() -> str:
        raise RuntimeError("entropy ran out")

    session = TokenSession(signing_flow(), jti=broken)
    with pytest.raises(RuntimeError, match="entropy"):
        session.next_step(NOW)
    assert session.state is SessionState.IDLE
    assert session.in_flight is None
    assert session.stats.requests_sent == 0


def test_a_jti_with_a_lone_surrogate_is_refused_by_the_stamp() -> None:
    session = TokenSession(signing_flow(), jti=lambda: "j\ud800")
    with pytest.raises(ValueError, match="lone surrogate"):
        session.next_step(NOW)
    assert session.in_flight is None


def test_every_jwt_of_every_request_gets_a_fresh_jti_in_order() -> None:
    drawn: list[str] = []
    numbers = iter(range(1, 100))

    def jti() -> str:
        drawn.append(f"j-{next(numbers)}")
        return drawn[-1]

    session = TokenSession(signing_flow(), dpop_key=dpop_key(), jti=jti)
    used: list[str] = []
    now = NOW
    for _ in range(3):
        step = send(session, now)
        assertion, proof = assertion_of(step.request), proof_of(step.request)
        assert assertion["jti"] != proof["jti"]
        used += [assertion["jti"], proof["jti"]]
        session.receive(token(expires_in=60), now=now, step=step)
        now += 100  # expired: the next call fetches anew
    # The flow's stamp first, then the proof; nothing drawn unused.
    assert used == drawn == [f"j-{i}" for i in range(1, 7)]


def test_the_stamp_is_the_callers_now_even_after_a_step_back() -> None:
    session = TokenSession(signing_flow(), dpop_key=dpop_key(), jti=count_jti())
    step = send(session, NOW)
    assert assertion_of(step.request)["iat"] == int(NOW)
    assert proof_of(step.request)["iat"] == int(NOW)
    session.receive(token(expires_in=60), now=NOW, step=step)
    # The wall clock goes forward 200 s, then back 150 s: the session's own
    # clock has passed the expiry, the caller's is 50 s on. The JWTs carry
    # the caller's time: what a server compares with its own clock.
    assert isinstance(session.next_step(NOW + 200), SendRequest)
    session.abandon(session.in_flight)  # type: ignore[arg-type]
    later = send(session, NOW + 50)
    assert assertion_of(later.request)["iat"] == int(NOW + 50)
    assert proof_of(later.request)["iat"] == int(NOW + 50)
    # A resend takes the time of the report that asked for it.
    again = session.receive(use_nonce(NONCE), now=NOW + 51.9, step=later)
    assert isinstance(again, SendRequest)
    assert assertion_of(again.request)["iat"] == int(NOW + 51.9)
    assert proof_of(again.request)["iat"] == int(NOW + 51.9)


# -- DPoP on token and refresh requests ------------------------------------------


def test_every_token_and_refresh_request_carries_a_proof_for_it() -> None:
    key = dpop_key()
    session = TokenSession(secret_flow(), dpop_key=key, jti=count_jti())
    assert session.dpop_key is key
    assert session.dpop_nonce is None
    step = send(session)
    assert not step.refresh
    claims = proof_of(step.request)
    assert (claims["htm"], claims["htu"]) == ("POST", HTU)  # no query
    assert "nonce" not in claims
    assert "ath" not in claims  # no token at a token endpoint
    # The DPoP header after the flow's own.
    assert [name for name, _ in step.request.headers][-1] == "DPoP"
    session.receive(token(refresh_token="rt-1"), now=NOW, step=step)
    refresh = send(session, NOW + 550)  # past the refresh point
    assert refresh.refresh
    assert form(refresh.request)["refresh_token"] == "rt-1"
    claims = proof_of(refresh.request)
    assert (claims["htm"], claims["htu"], claims["iat"]) == (
        "POST",
        HTU,
        int(NOW + 550),
    )


def test_without_a_dpop_key_there_is_no_proof_and_no_nonce() -> None:
    session = TokenSession(secret_flow())
    step = send(session)
    assert step.request.header("DPoP") is None
    result = session.receive(use_nonce(NONCE), now=NOW, step=step)
    assert isinstance(result, OAuthError)
    assert result.error == "use_dpop_nonce"
    assert session.dpop_nonce is None
    assert session.stats.failures == 1
    assert session.stats.dpop_nonces == 0


def test_use_dpop_nonce_with_a_new_nonce_sends_again_at_once() -> None:
    session = TokenSession(signing_flow(), dpop_key=dpop_key(), jti=count_jti())
    first = send(session)
    before = session.stats
    again = session.receive(use_nonce(NONCE), now=NOW, step=first)
    assert isinstance(again, SendRequest)
    assert again is session.in_flight
    assert again.fetch_id != first.fetch_id
    assert session.state is SessionState.FETCHING
    assert session.last_event is SessionEvent.DPOP_NONCE
    assert session.dpop_nonce == NONCE
    stats = session.stats
    assert stats.failures == before.failures == 0
    assert stats.requests_sent == before.requests_sent + 1 == 2
    assert stats.dpop_nonces == 1
    assert stats.last_error is None
    # The same request, newly signed: a proof with the nonce, a fresh
    # assertion and proof jti.
    claims = proof_of(again.request)
    assert claims["nonce"] == NONCE
    assert claims["jti"] != proof_of(first.request)["jti"]
    assert assertion_of(again.request)["jti"] != assertion_of(first.request)["jti"]
    assert form(again.request).keys() == form(first.request).keys()
    # Others wait for it; its answer settles the fetch.
    result = session.receive(token(), now=NOW, step=again)
    assert isinstance(result, Token)
    assert session.in_flight is None
    assert session.last_event is SessionEvent.TOKEN
    assert session.stats.failures == 0


def test_a_late_report_for_the_replaced_step_is_ignored() -> None:
    session = TokenSession(secret_flow(), dpop_key=dpop_key(), jti=count_jti())
    first = send(session)
    again = session.receive(use_nonce(NONCE), now=NOW, step=first)
    assert isinstance(again, SendRequest)
    stats = session.stats
    assert session.receive(token("late"), now=NOW, step=first) is None
    assert session.receive(use_nonce("other-nonce"), now=NOW, step=first) is None
    session.receive_failure(
        TransportError(reason="late", retryable=True), now=NOW, step=first
    )
    session.abandon(first)
    assert session.in_flight is again
    assert session.stats == stats
    assert session.token is None
    assert session.dpop_nonce == NONCE  # a stale answer's nonce is not read


def test_a_refresh_resent_for_a_nonce_keeps_its_refresh_token() -> None:
    session = TokenSession(secret_flow(), dpop_key=dpop_key(), jti=count_jti())
    session.receive(token(refresh_token="rt-1"), now=NOW, step=send(session))
    refresh = send(session, NOW + 550)
    assert refresh.refresh
    again = session.receive(use_nonce(NONCE), now=NOW + 550, step=refresh)
    assert isinstance(again, SendRequest)
    assert again.refresh
    assert form(again.request)["refresh_token"] == "rt-1"
    assert form(again.request)["grant_type"] == "refresh_token"
    assert session.stats.refreshes == 2
    result = session.receive(token("at-2"), now=NOW + 550, step=again)
    assert isinstance(result, Token)
    assert result.refresh_token == "rt-1"  # kept: the answer had none


def failure_after(
    session: TokenSession, step: SendRequest, answer: HttpResponse
) -> TokenError:
    stats = session.stats
    result = session.receive(answer, now=NOW, step=step)
    assert isinstance(result, OAuthError), result
    assert result.error == "use_dpop_nonce"
    assert session.stats.failures == stats.failures + 1
    assert session.stats.requests_sent == stats.requests_sent
    assert session.stats.dpop_nonces == stats.dpop_nonces
    assert session.in_flight is None
    assert session.state is not SessionState.FETCHING
    return result


def test_a_second_use_dpop_nonce_in_a_fetch_is_a_failure_backed_off() -> None:
    session = TokenSession(secret_flow(), dpop_key=dpop_key(), jti=count_jti())
    again = session.receive(use_nonce("n-1"), now=NOW, step=send(session))
    assert isinstance(again, SendRequest)
    failure_after(session, again, use_nonce("n-2"))
    # Its nonce is still the latest the server gave: the next fetch uses it.
    assert session.dpop_nonce == "n-2"
    step = session.next_step(NOW)
    # Retryable: a nonce that rotated meanwhile (or a cluster's nodes each
    # with their own) may well do on the next fetch; no cooldown's wait.
    assert isinstance(step, Backoff)
    assert step.until <= NOW + session.retry.max_delay
    later = send(session, step.until)
    assert proof_of(later.request)["nonce"] == "n-2"
    # A new fetch may be asked for a nonce once again.
    assert isinstance(
        session.receive(use_nonce("n-3"), now=NOW + 30, step=later), SendRequest
    )


@pytest.mark.parametrize(
    "nonce",
    [
        None,  # no DPoP-Nonce header
        "",  # empty
        "has space",
        'quote"d',
        "back\\slash",
        "ünïcode",
        "n" * 1025,  # absurdly long
    ],
)
def test_use_dpop_nonce_without_a_nonce_that_can_be_taken_is_a_failure(
    nonce: str | None,
) -> None:
    session = TokenSession(secret_flow(), dpop_key=dpop_key(), jti=count_jti())
    failure_after(session, send(session), use_nonce(nonce))
    assert session.dpop_nonce is None


def test_use_dpop_nonce_with_the_nonce_already_sent_is_a_failure() -> None:
    session = TokenSession(secret_flow(), dpop_key=dpop_key(), jti=count_jti())
    session.receive(token(nonce=NONCE, expires_in=60), now=NOW, step=send(session))
    assert session.dpop_nonce == NONCE
    step = send(session, NOW + 100)
    assert proof_of(step.request)["nonce"] == NONCE
    failure_after(session, step, use_nonce(NONCE))


def test_a_nonce_from_any_answer_is_used_in_the_next_proof() -> None:
    session = TokenSession(secret_flow(), dpop_key=dpop_key(), jti=count_jti())
    session.receive(token(nonce="n-ok", expires_in=60), now=NOW, step=send(session))
    assert session.dpop_nonce == "n-ok"
    step = send(session, NOW + 100)
    assert proof_of(step.request)["nonce"] == "n-ok"
    # An error's nonce too (the server may rotate it on any answer), and a
    # longest valid one.
    error = HttpResponse(
        status=503,
        headers=(*JSON, ("DPoP-Nonce", "n" * 1024)),
        body=b'{"error":"temporarily_unavailable"}',
    )
    session.receive(error, now=NOW + 100, step=step)
    assert session.dpop_nonce == "n" * 1024
    retry = send(session, NOW + 200)
    assert proof_of(retry.request)["nonce"] == "n" * 1024
    # A nonce that cannot be taken leaves the last one in place.
    session.receive(token(nonce="bad nonce"), now=NOW + 200, step=retry)
    assert session.dpop_nonce == "n" * 1024


def test_a_resend_that_cannot_be_built_ends_the_fetch_on_the_nonce_error() -> None:
    # A jti function (or an assertion callable) that fails while the resend
    # is built: the exception reaches the caller, and the fetch ends on the
    # server's use_dpop_nonce as a failure. Nothing is left in flight, so a
    # sans-I/O caller that does not abandon is not stuck until the
    # lost-request deadline.
    values = iter(["j-1"])
    session = TokenSession(secret_flow(), dpop_key=dpop_key(), jti=lambda: next(values))
    first = send(session)
    with pytest.raises(StopIteration):
        session.receive(use_nonce(NONCE), now=NOW, step=first)
    assert session.in_flight is None
    assert session.state is SessionState.BACKOFF
    assert session.stats.dpop_nonces == 0
    assert session.stats.requests_sent == 1
    step = session.next_step(now=NOW)
    assert isinstance(step, Backoff)
    assert isinstance(step.error, OAuthError)
    assert step.error.error == "use_dpop_nonce"
    session.abandon(first)  # too late: nothing to give up
    assert session.state is SessionState.BACKOFF


def test_the_session_repr_shows_no_proof_or_nonce() -> None:
    session = TokenSession(secret_flow(), dpop_key=dpop_key(), jti=count_jti())
    step = send(session)
    again = session.receive(use_nonce(NONCE), now=NOW, step=step)
    assert isinstance(again, SendRequest)
    proof = again.request.header("DPoP")
    assert proof is not None
    for text in (repr(session), repr(session.stats), repr(again), repr(again.request)):
        assert proof not in text
        assert proof.split(".")[2] not in text
        assert NONCE not in text


# -- a hostile server's echoes --------------------------------------------------


def echo_answers(echo: str) -> list[HttpResponse]:
    """The places a server puts what it echoes (as test_masking.py does)."""
    line = f"credential {echo} refused"
    encoded = ("x" * 150 + " " + line).encode("utf-8", "surrogatepass")
    return [
        HttpResponse(
            status=400,
            headers=JSON,
            body=json.dumps(
                {"error": "invalid_client", "error_description": line}
            ).encode(),
        ),
        HttpResponse(
            status=401,
            headers=JSON,
            body=json.dumps(
                {"error": echo, "error_uri": f"https://e/?c={echo}"}
            ).encode("utf-8", "surrogatepass"),
        ),
        HttpResponse(
            status=500,
            headers=(("Content-Type", "text/html"),),
            body=f"<html><body><pre>{line}</pre></body></html>".encode(
                "utf-8", "surrogatepass"
            ),
        ),
        HttpResponse(
            status=500, headers=(("Content-Type", "text/plain"),), body=encoded
        ),
        HttpResponse(
            status=302, headers=(("Location", f"https://a.example/?e={echo}"),)
        ),
    ]


def everything_shown(session: TokenSession, result: object) -> Iterator[str]:
    stats = session.stats
    errors = [result, stats.last_error]
    step = session.next_step(NOW + 1)
    if isinstance(step, Failed):
        errors.append(step.error)
    for error in errors:
        if isinstance(error, TokenError):
            yield str(error)
            yield repr(error)
            yield from (str(value) for value in attrs.asdict(error).values())  # type: ignore[arg-type]
    yield repr(stats)
    yield repr(session)


SessionMaker = Callable[[str], tuple[TokenSession, str]]


def with_client_assertion(subject: str) -> tuple[TokenSession, str]:
    # EdDSA: the same assertion for the same stamp, each time.
    flow = ClientCredentials(
        token_url=URL,
        client_id=CLIENT_ID,
        auth="private_key_jwt",
        private_key=generated("ed25519"),
    )
    session = TokenSession(flow, jti=count_jti())
    step = send(session)
    return session, form(step.request)["client_assertion"]


def with_subject_token(subject: str) -> tuple[TokenSession, str]:
    flow = TokenExchange(token_url=URL, subject_token=lambda: subject)
    session = TokenSession(flow)
    send(session)
    return session, subject


def with_proof(subject: str) -> tuple[TokenSession, str]:
    session = TokenSession(secret_flow(), dpop_key=dpop_key(), jti=count_jti())
    proof = send(session).request.header("DPoP")
    assert proof is not None
    return session, proof


@PROPERTY
@given(
    data=st.data(),
    subject=SECRETS,
    make=st.sampled_from([with_client_assertion, with_subject_token, with_proof]),
)
def test_property_an_echoed_assertion_token_or_proof_never_shows(
    data: st.DataObject, subject: str, make: SessionMaker
) -> None:
    _, secret = make(subject)
    name, echo = data.draw(echoes(secret))
    for answer in echo_answers(echo):
        session, again = make(subject)
        assert again == secret  # the same request each time
        result = session.receive(answer, now=NOW)
        assert isinstance(result, TokenError)
        for text in everything_shown(session, result):
            assert secret not in text, (name, text[:80])
            assert echo not in text, (name, text[:80])


def test_an_echoed_proof_in_a_nonce_answer_never_shows_on_the_resend() -> None:
    session = TokenSession(signing_flow(), dpop_key=dpop_key(), jti=count_jti())
    first = send(session)
    first_proof = first.request.header("DPoP")
    assertion = form(first.request)["client_assertion"]
    assert first_proof is not None
    answer = HttpResponse(
        status=400,
        headers=(*JSON, ("DPoP-Nonce", NONCE)),
        body=json.dumps(
            {
                "error": "use_dpop_nonce",
                "error_description": f"{first_proof} {assertion}",
            }
        ).encode(),
    )
    again = session.receive(answer, now=NOW, step=first)
    assert isinstance(again, SendRequest)
    proof = again.request.header("DPoP")
    assert proof is not None
    # The server echoes the second proof and assertion, and refuses.
    refusal = HttpResponse(
        status=400,
        headers=JSON,
        body=json.dumps(
            {
                "error": "invalid_dpop_proof",
                "error_description": f"{proof} / {form(again.request)[ASSERTION]}",
            }
        ).encode(),
    )
    result = session.receive(refusal, now=NOW, step=again)
    assert isinstance(result, OAuthError)
    assert result.description == "*** / ***"
    for text in everything_shown(session, result):
        assert proof not in text
        assert first_proof not in text


# -- a model: DPoP nonces never cost a failure, never more than one resend ----


@attrs.define
class Fetch:
    """What the model knows of the fetch in flight."""

    sends: int = 0
    nonce_resent: bool = False


class DPoPSessionMachine(RuleBasedStateMachine):
    """One session with a DPoP key (and a signing client, sometimes) against
    a server that answers with tokens, nonce demands of every kind, errors
    and transport failures, with late reports of replaced steps."""

    def __init__(self) -> None:
        super().__init__()
        self.session: TokenSession
        self.now = NOW
        self.step: SendRequest | None = None
        self.stale: list[SendRequest] = []
        self.fetch: Fetch | None = None
        self.nonce: str | None = None  # the last valid nonce the server sent
        self.failures = 0
        self.sent = 0
        self.resends = 0
        self.jtis: set[str] = set()
        self.nonces = iter(f"n-{i}" for i in range(10_000))

    @initialize(signs=st.booleans())
    def start(self, signs: bool) -> None:
        flow = signing_flow() if signs else secret_flow()
        self.session = TokenSession(
            flow, dpop_key=dpop_key(), jti=count_jti(), fetch_timeout=1e9
        )

    def _check_request(self, step: SendRequest) -> None:
        claims = proof_of(step.request)
        assert (claims["htm"], claims["htu"]) == ("POST", HTU)
        assert claims.get("nonce") == self.nonce
        assert claims["iat"] == int(self.now)
        fields = form(step.request)
        jtis = [claims["jti"]]
        if "client_assertion" in fields:
            jtis.append(parts(fields["client_assertion"])[1]["jti"])
        for jti in jtis:
            assert jti not in self.jtis, "a jti used twice"
            self.jtis.add(jti)

    @rule()
    def ask(self) -> None:
        step = self.session.next_step(self.now)
        if isinstance(step, SendRequest):
            assert self.fetch is None, "a second request while one is in flight"
            self._check_request(step)
            self.step = step
            self.fetch = Fetch(sends=1)
            self.sent += 1

    def _answered(self, answer: HttpResponse, *, nonce: str | None) -> None:
        assert self.step is not None
        assert self.fetch is not None
        if (
            nonce is not None
            and len(nonce) <= 1024
            and nonce.isascii()
            and " " not in nonce
        ):
            fresh = nonce != self.nonce
            self.nonce = nonce
        else:
            fresh = False
        stats = self.session.stats
        result = self.session.receive(answer, now=self.now, step=self.step)
        self.stale.append(self.step)
        demands = b"use_dpop_nonce" in answer.body
        if demands and fresh and not self.fetch.nonce_resent:
            # Not a failure: the same fetch sends again, once.
            assert isinstance(result, SendRequest)
            assert self.session.stats.failures == stats.failures
            assert self.session.stats.dpop_nonces == stats.dpop_nonces + 1
            self._check_request(result)
            assert proof_of(result.request)["nonce"] == nonce
            self.step = result
            self.fetch.sends += 1
            self.fetch.nonce_resent = True
            self.sent += 1
            self.resends += 1
            return
        assert not isinstance(result, SendRequest)
        self.step = None
        self.fetch = None
        if isinstance(result, Token):
            assert self.session.stats.failures == stats.failures
        else:
            self.failures += 1
            assert self.session.stats.failures == stats.failures + 1

    @precondition(lambda self: self.step is not None)
    @rule(
        header=st.sampled_from(["none", "same", "new", "bad"]),
        lifetime=st.sampled_from([30, 600]),
    )
    def answer_token(self, header: str, lifetime: int) -> None:
        nonce = self._nonce(header)
        self._answered(token(nonce=nonce, expires_in=lifetime), nonce=nonce)

    @precondition(lambda self: self.step is not None)
    @rule(header=st.sampled_from(["none", "same", "new", "bad", "long"]))
    def demand_a_nonce(self, header: str) -> None:
        nonce = self._nonce(header)
        self._answered(use_nonce(nonce), nonce=nonce)

    @precondition(lambda self: self.step is not None)
    @rule()
    def demand_a_fresh_nonce(self) -> None:
        # The common case, drawn often: a server rotating its nonce.
        self.demand_a_nonce("new")

    @precondition(lambda self: self.step is not None)
    @rule(
        error=st.sampled_from(
            ["invalid_client", "temporarily_unavailable", "invalid_dpop_proof"]
        ),
        header=st.sampled_from(["none", "new"]),
    )
    def refuse(self, error: str, header: str) -> None:
        nonce = self._nonce(header)
        self._answered(use_nonce(nonce, error=error), nonce=nonce)

    @precondition(lambda self: self.step is not None)
    @rule()
    def transport_failure(self) -> None:
        assert self.step is not None
        stats = self.session.stats
        self.session.receive_failure(
            TransportError(reason="reset", retryable=True), now=self.now, step=self.step
        )
        assert self.session.stats.failures == stats.failures + 1
        self.failures += 1
        self.stale.append(self.step)
        self.step = None
        self.fetch = None

    @precondition(lambda self: bool(self.stale))
    @rule(data=st.data())
    def late_report(self, data: st.DataObject) -> None:
        old = data.draw(st.sampled_from(self.stale))
        stats = self.session.stats
        answer = data.draw(
            st.sampled_from([token("late"), use_nonce(next(self.nonces))])
        )
        assert self.session.receive(answer, now=self.now, step=old) is None
        assert self.session.stats == stats
        assert self.session.in_flight is self.step

    @rule(dt=st.sampled_from([0.0, 1.0, 40.0, 700.0]))
    def time_passes(self, dt: float) -> None:
        self.now += dt

    def _nonce(self, header: str) -> str | None:
        if header == "none":
            return None
        if header == "same":
            return self.nonce
        if header == "bad":
            return "bad nonce"
        if header == "long":
            return "n" * 1025
        return next(self.nonces)

    @invariant()
    def counts_agree(self) -> None:
        if not hasattr(self, "session"):
            return
        stats = self.session.stats
        assert stats.failures == self.failures
        assert stats.requests_sent == self.sent
        assert stats.dpop_nonces == self.resends
        assert stats.abandoned == 0
        assert self.session.dpop_nonce == self.nonce
        assert (self.session.state is SessionState.FETCHING) == (self.step is not None)
        if self.fetch is not None:
            assert self.fetch.sends <= 2


TestDPoPSessionMachine = DPoPSessionMachine.TestCase
TestDPoPSessionMachine.settings = settings(
    max_examples=150,
    stateful_step_count=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)


def test_a_users_flow_may_name_secrets_its_requests_do_not_carry() -> None:
    # The session masks what a flow's masking_secrets() names (any iterable;
    # its strings count), besides what the request carried.
    from sansio_auth import ClientCredentials, TokenError

    hidden = "not-in-any-request-0123456789"

    class Signing:
        def __init__(self) -> None:
            self.inner = ClientCredentials(
                token_url="https://as.example/token", client_id="c", client_secret="s"
            )

        def token_request(self) -> HttpRequest:
            return self.inner.token_request()

        def refresh_request(self, refresh_token: str) -> None:
            return None

        def parse(self, response: HttpResponse, *, now: float) -> Token | TokenError:
            return self.inner.parse(response, now=now)

        def masking_secrets(self) -> list[object]:
            return [hidden, 7, ""]

    session = TokenSession(Signing())
    step = session.next_step(NOW)
    assert isinstance(step, SendRequest)
    echo = HttpResponse(
        status=400,
        headers=JSON,
        body=f'{{"error": "invalid_client", "error_description": "{hidden}"}}'.encode(),
    )
    error = session.receive(echo, now=NOW, step=step)
    assert isinstance(error, TokenError)
    assert hidden not in str(error)
    assert hidden[:12] not in repr(error)
