"""requests' TokenAuth against the local token server, over real sockets.

Issue 12, for requests: every request carries a usable token's
``Authorization`` and one set by the caller is left alone; concurrent threads
on a cold ``requests.Session`` make one token request; a 401 that refuses
our token invalidates it and the request is sent once more (never a third
time) when its body can be replayed; a 403 and another scheme's challenge go
back untouched; a failing token endpoint raises the session's ``TokenError``
from the API call. Token requests through the user's own Session are in
``test_requests_send.py``.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from typing import Any

import pytest
import requests
import requests.adapters
from forking import fork_children
from http_server import Received, Reply, serving
from integrations import api_requests, flow_for, in_threads

from sansio_auth import (
    ClientCredentials,
    HttpError,
    OAuthError,
    TokenError,
    TransportError,
)
from sansio_auth.adapters.requests import TokenAuth
from sansio_auth.adapters.server import TokenServer


def api_session(auth: TokenAuth, *, pool: int = 10) -> requests.Session:
    """A Session sending every request with *auth*, its pool sized for *pool*
    threads (urllib3 logs a warning when a pool overflows)."""
    session = requests.Session()
    session.auth = auth
    adapter = requests.adapters.HTTPAdapter(pool_maxsize=pool)
    session.mount("http://", adapter)
    return session


@pytest.fixture
def auth(token_server: TokenServer) -> TokenAuth:
    return TokenAuth(flow_for(token_server), timeout=10)


@pytest.fixture
def session(auth: TokenAuth) -> Iterator[requests.Session]:
    with api_session(auth) as session:
        yield session


def warm(session: requests.Session, server: TokenServer) -> str:
    """One request, so that the auth holds a token; that token."""
    response = session.get(server.resource_url, timeout=10)
    assert response.status_code == 200
    sent = response.request.headers["Authorization"]
    assert isinstance(sent, str)
    return sent.partition(" ")[2]


def refuse_next(server: TokenServer, challenge: str) -> None:
    """The API's next answer: a 401 with *challenge* as its WWW-Authenticate."""
    server.fail_next(
        1,
        status=401,
        retry_after=None,
        endpoint="resource",
        headers=[("WWW-Authenticate", challenge)],
    )


# -- the header -------------------------------------------------------------


def test_every_request_carries_the_token(
    token_server: TokenServer, session: requests.Session
) -> None:
    first = session.get(token_server.resource_url, timeout=10)
    second = session.put(token_server.resource_url, data=b"abc", timeout=10)

    assert (first.status_code, second.status_code) == (200, 200)
    assert second.json()["body_bytes"] == 3
    assert len(token_server.token_requests()) == 1
    calls = api_requests(token_server)
    assert len(calls) == 2
    for call in calls:
        scheme, _, token = (call.header("Authorization") or "").partition(" ")
        assert scheme == "Bearer"
        assert token_server.verify(token) is not None


def test_an_authorization_the_caller_set_is_left_alone(
    token_server: TokenServer, session: requests.Session
) -> None:
    response = session.get(
        token_server.resource_url,
        headers={"Authorization": "Bearer mine"},
        timeout=10,
    )

    # Refused (the server never issued it), and not retried: not our token.
    assert response.status_code == 401
    assert response.history == []
    assert token_server.token_requests() == []
    (call,) = api_requests(token_server)
    assert call.header("Authorization") == "Bearer mine"


def test_an_authorization_in_the_sessions_headers_is_left_alone(
    token_server: TokenServer, session: requests.Session
) -> None:
    session.headers["authorization"] = "Basic dXNlcjpwYXNz"

    response = session.get(token_server.resource_url, timeout=10)

    assert response.status_code == 401
    assert token_server.token_requests() == []
    (call,) = api_requests(token_server)
    assert call.header("Authorization") == "Basic dXNlcjpwYXNz"


# -- concurrency ------------------------------------------------------------


def test_32_threads_on_a_cold_session_make_one_token_request(
    token_server: TokenServer, auth: TokenAuth
) -> None:
    # Slow answers, so that the threads pile up behind the one token request.
    token_server.set_latency(0.2)
    with api_session(auth, pool=32) as session:
        statuses = in_threads(
            32,
            lambda _: session.get(token_server.resource_url, timeout=30).status_code,
        )

    assert statuses == [200] * 32
    assert len(token_server.token_requests()) == 1
    assert len(api_requests(token_server)) == 32


def test_100_concurrent_401s_make_one_token_request_and_one_retry_each(
    token_server: TokenServer, auth: TokenAuth
) -> None:
    with api_session(auth, pool=100) as session:
        old = warm(session, token_server)
        # Each request is prepared (our header on it) before the token is
        # revoked, so that all of them are refused, however they interleave.
        prepared = [
            session.prepare_request(requests.Request("GET", token_server.resource_url))
            for _ in range(100)
        ]
        token_server.revoke(old)
        responses = in_threads(100, lambda i: session.send(prepared[i], timeout=30))

    assert [r.status_code for r in responses] == [200] * 100
    assert [[h.status_code for h in r.history] for r in responses] == [[401]] * 100
    assert len(token_server.token_requests()) == 2  # the first, and one new
    calls = api_requests(token_server)
    assert len(calls) == 1 + 100 + 100
    fresh = {r.request.headers["Authorization"] for r in responses}
    assert len(fresh) == 1
    assert fresh != {f"Bearer {old}"}


# -- 401s ------------------------------------------------------------------


def test_a_revoked_token_is_replaced_and_the_request_sent_once_more(
    token_server: TokenServer, session: requests.Session
) -> None:
    old = warm(session, token_server)
    token_server.revoke(old)

    response = session.post(token_server.resource_url, data=b"payload", timeout=10)

    assert response.status_code == 200
    assert response.json()["body_bytes"] == len(b"payload")
    (refused,) = response.history
    assert refused.status_code == 401
    assert refused.request.headers["Authorization"] == f"Bearer {old}"
    assert response.request.headers["Authorization"] != f"Bearer {old}"
    assert len(token_server.token_requests()) == 2
    assert len(api_requests(token_server)) == 3


def test_a_bearer_invalid_token_challenge_is_retried(
    token_server: TokenServer, session: requests.Session
) -> None:
    warm(session, token_server)
    refuse_next(token_server, 'Bearer error="invalid_token"')

    response = session.get(token_server.resource_url, timeout=10)

    assert response.status_code == 200
    assert [h.status_code for h in response.history] == [401]
    assert len(token_server.token_requests()) == 2


def test_a_401_on_the_retry_goes_back_and_is_never_sent_a_third_time(
    token_server: TokenServer, session: requests.Session
) -> None:
    warm(session, token_server)
    token_server.fail_next(2, status=401, endpoint="resource", retry_after=None)

    response = session.get(token_server.resource_url, timeout=10)

    assert response.status_code == 401
    assert [h.status_code for h in response.history] == [401]
    assert len(api_requests(token_server)) == 1 + 2
    assert len(token_server.token_requests()) == 2


def test_the_retry_sent_again_by_the_caller_is_not_retried_again(
    token_server: TokenServer, session: requests.Session
) -> None:
    warm(session, token_server)
    token_server.fail_next(3, status=401, endpoint="resource", retry_after=None)
    retried = session.get(token_server.resource_url, timeout=10)

    again = session.send(retried.request, timeout=10)

    assert again.status_code == 401
    assert again.history == []
    assert len(api_requests(token_server)) == 1 + 3


def test_a_redirect_after_the_retry_carries_the_fresh_token(
    token_server: TokenServer, session: requests.Session
) -> None:
    # requests follows the retry's redirect with a copy of the request the
    # caller sent, not of the retry: that one must carry the fresh token
    # too, or the refused token goes out again (and a third send follows).
    refused: set[str] = set()

    def script(received: Received) -> Reply:
        sent = received.header("Authorization") or ""
        if not refused:
            refused.add(sent)
        if sent in refused:
            return Reply(
                status=401,
                headers=[("WWW-Authenticate", 'Bearer error="invalid_token"')],
            )
        if received.target == "/a":
            return Reply(status=302, headers=[("Location", "/b")])
        return Reply(body=b"{}")

    with serving(script) as api:
        response = session.get(api.url("/a"), timeout=10)

        assert response.status_code == 200
        sent = [(r.target, r.header("Authorization") in refused) for r in api.requests]
    assert sent == [("/a", True), ("/a", False), ("/b", False)]
    assert [h.status_code for h in response.history] == [302]
    assert len(token_server.token_requests()) == 2


REFUSED = Reply(
    status=401,
    headers=[("WWW-Authenticate", 'Bearer realm="api", error="invalid_token"')],
)
"""A scripted API's refusal of a token (the token server's resource takes no
chunked body, which is how requests sends a generator or a pipe)."""


def test_a_generator_body_is_not_sent_again_and_the_token_is_dropped(
    token_server: TokenServer, session: requests.Session
) -> None:
    def chunks() -> Iterator[bytes]:
        yield b"one "
        yield b"two"

    with serving([REFUSED, Reply()]) as api:
        response = session.post(api.url("/items"), data=chunks(), timeout=10)

        assert response.status_code == 401
        assert response.history == []
        (sent,) = api.requests
        assert sent.body == b"one two"
        assert len(token_server.token_requests()) == 1
        # Invalidated: the next request fetches a new token rather than send
        # the refused one again.
        assert session.get(api.url("/items"), timeout=10).status_code == 200
        assert len(token_server.token_requests()) == 2
        assert api.requests[1].header("Authorization") != sent.header("Authorization")


def test_a_file_that_can_seek_back_is_rewound_and_sent_again(
    token_server: TokenServer, session: requests.Session, tmp_path: Any
) -> None:
    old = warm(session, token_server)
    token_server.revoke(old)
    path = tmp_path / "upload.bin"
    path.write_bytes(b"head" + b"x" * 10_000)

    with path.open("rb") as body:
        body.seek(4)  # requests sends from where the file stands
        response = session.put(token_server.resource_url, data=body, timeout=10)

    assert response.status_code == 200
    assert response.json()["body_bytes"] == 10_000
    (refused,) = response.history
    assert refused.status_code == 401
    first, second = api_requests(token_server)[1:]
    assert first.body == second.body == b"x" * 10_000


def test_a_stream_that_cannot_seek_is_not_sent_again(
    token_server: TokenServer, session: requests.Session
) -> None:
    read_end, write_end = os.pipe()
    os.write(write_end, b"streamed")
    os.close(write_end)

    with serving([REFUSED, Reply()]) as api, open(read_end, "rb") as pipe:
        response = session.post(api.url("/items"), data=pipe, timeout=10)

        assert response.status_code == 401
        assert response.history == []
        assert [r.body for r in api.requests] == [b"streamed"]


def test_a_403_is_not_retried_and_keeps_the_token(
    token_server: TokenServer, session: requests.Session
) -> None:
    warm(session, token_server)
    token_server.fail_next(1, status=403, endpoint="resource", retry_after=None)

    response = session.get(token_server.resource_url, timeout=10)

    assert response.status_code == 403
    assert response.history == []
    assert len(api_requests(token_server)) == 2
    assert session.get(token_server.resource_url, timeout=10).status_code == 200
    assert len(token_server.token_requests()) == 1


def test_another_schemes_challenge_is_passed_back_untouched(
    token_server: TokenServer, session: requests.Session
) -> None:
    warm(session, token_server)
    refuse_next(token_server, 'Basic realm="x"')

    response = session.get(token_server.resource_url, timeout=10)

    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == 'Basic realm="x"'
    assert response.history == []
    assert len(api_requests(token_server)) == 2
    # The token is kept: the next request uses it without a token request.
    assert session.get(token_server.resource_url, timeout=10).status_code == 200
    assert len(token_server.token_requests()) == 1


def test_a_401_after_a_redirect_to_another_host_is_not_ours(
    token_server: TokenServer, session: requests.Session
) -> None:
    # requests drops Authorization on a redirect to another host (here,
    # another port); the 401 there is about what that host wants, and is
    # never answered with our token.
    refusing = Reply(status=401, headers=[("WWW-Authenticate", "Bearer")])
    with serving([refusing]) as other:
        with serving(
            [Reply(status=302, headers=[("Location", other.url("/x"))])]
        ) as api:
            response = session.get(api.url("/start"), timeout=10)

        assert response.status_code == 401
        assert [h.status_code for h in response.history] == [302]
        (sent,) = other.requests
    assert sent.header("Authorization") is None
    assert api.requests[0].header("Authorization") is not None
    assert len(token_server.token_requests()) == 1


def test_another_hosts_netrc_credentials_on_a_redirect_never_get_our_token(
    token_server: TokenServer,
    session: requests.Session,
    tmp_path: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # On a redirect to another host requests drops our Authorization and
    # puts in that host's netrc credentials; a bare 401 there (no challenge,
    # which for our own value would be retried) is not about our token.
    netrc = tmp_path / "netrc"
    netrc.write_text("machine 127.0.0.1 login someone password their-password\n")
    netrc.chmod(0o600)
    monkeypatch.setenv("NETRC", str(netrc))
    with serving([Reply(status=401)]) as other:
        moved = Reply(status=302, headers=[("Location", other.url("/x"))])
        with serving([moved]) as api:
            response = session.get(api.url("/start"), timeout=10)

        assert response.status_code == 401
        (sent,) = other.requests
    assert (sent.header("Authorization") or "").startswith("Basic ")
    assert len(token_server.token_requests()) == 1


# -- fork ------------------------------------------------------------------


def test_fork_while_a_thread_holds_the_auths_lock(token_server: TokenServer) -> None:
    # A parent thread is inside the TokenAuth's lock at the fork (held on
    # purpose, for as long as the children live): in a child nothing will
    # release it, so the child's 401 and new token must not wait for it.
    auth = TokenAuth(flow_for(token_server), timeout=10)
    with api_session(auth) as session:
        old = warm(session, token_server)
    token_server.revoke(old)
    holding, release = threading.Event(), threading.Event()

    def hold() -> None:
        with auth._lock:
            holding.set()
            release.wait(30)

    def in_child() -> str:
        # Its own Session: the parent's pooled connection is not the child's.
        with api_session(auth) as session:
            response = session.get(token_server.resource_url, timeout=10)
        return f"{response.status_code} {len(response.history)}"

    holder = threading.Thread(target=hold, daemon=True)
    holder.start()
    try:
        assert holding.wait(10)
        children = fork_children(3, in_child, bound=5)
    finally:
        release.set()
        holder.join(timeout=10)
    for child in children:
        assert child.ok, child
        assert child.report == "200 1", child  # the 401, then the retry


# -- a failing token endpoint ----------------------------------------------


def test_a_refused_secret_raises_the_oauth_error_from_the_api_call(
    token_server: TokenServer,
) -> None:
    auth = TokenAuth(flow_for(token_server, secret="wrong-secret-4417"), timeout=10)
    with api_session(auth) as session, pytest.raises(OAuthError) as caught:
        session.get(token_server.resource_url, timeout=10)

    assert caught.value.error == "invalid_client"
    assert api_requests(token_server) == []
    assert_no_secret(caught.value, "wrong-secret-4417")


def test_a_token_endpoint_failing_through_its_retries_raises_http_error(
    token_server: TokenServer,
) -> None:
    token_server.fail_next(10, status=503, retry_after=0, endpoint="generic")
    auth = TokenAuth(flow_for(token_server), timeout=10)
    with api_session(auth) as session, pytest.raises(HttpError) as caught:
        session.get(token_server.resource_url, timeout=10)

    assert caught.value.status == 503
    assert len(token_server.token_requests()) > 1  # retried first
    assert api_requests(token_server) == []
    assert_no_secret(caught.value, token_server.credentials.generic_client_secret)


def test_a_refused_token_port_raises_transport_error(
    token_server: TokenServer,
) -> None:
    closed = TokenServer()
    with closed:
        url = closed.generic_token_url
    flow = ClientCredentials(
        token_url=url, client_id="client-1", client_secret="secret-refused-8812"
    )
    auth = TokenAuth(flow, timeout=10)
    with api_session(auth) as session, pytest.raises(TransportError) as caught:
        session.get(token_server.resource_url, timeout=10)

    assert "connection refused" in caught.value.reason
    assert api_requests(token_server) == []
    assert_no_secret(caught.value, "secret-refused-8812")


def test_a_token_error_on_the_retry_is_raised_from_the_api_call(
    token_server: TokenServer, session: requests.Session
) -> None:
    old = warm(session, token_server)
    token_server.revoke(old)
    token_server.fail_next(1, status=400, retry_after=None, endpoint="generic")

    with pytest.raises(TokenError):
        session.get(token_server.resource_url, timeout=10)
    assert len(api_requests(token_server)) == 2


def assert_no_secret(error: BaseException, *secrets: str) -> None:
    shown = [str(error), repr(error), repr(error.args)]
    for secret in secrets:
        assert all(secret not in text for text in shown)
    # Raised as it is: nothing of requests' underneath it.
    assert error.__cause__ is None
    assert error.__context__ is None or isinstance(error.__context__, TokenError)


# -- arguments --------------------------------------------------------------


def test_arguments_are_checked_at_construction(token_server: TokenServer) -> None:
    flow = flow_for(token_server)
    with pytest.raises(TypeError, match=r"session must be a requests\.Session"):
        TokenAuth(flow, session="https://example.com")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="timeout"):
        TokenAuth(flow, timeout=0)
    with pytest.raises(ValueError, match="max_response_bytes"):
        TokenAuth(flow, max_response_bytes=-1)
    with pytest.raises(TypeError, match="clock"):
        TokenAuth(flow, clock=1.0)  # type: ignore[arg-type]


def test_the_repr_names_the_flow_and_no_secret(token_server: TokenServer) -> None:
    auth = TokenAuth(flow_for(token_server))
    with api_session(auth) as session:
        token = warm(session, token_server)
    shown = repr(auth)
    assert "ClientCredentials" in shown
    assert token not in shown
    assert token_server.credentials.generic_client_secret not in shown
