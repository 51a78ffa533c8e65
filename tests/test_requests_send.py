"""Token requests through the user's ``requests.Session``.

Issue 12: a token request goes through the SDK's Session so that its
proxies, CA bundle, client certificate, mounted adapters and its tests'
``responses`` mock apply; whatever the Session's settings, it never follows a
redirect, is bounded by the timeout, verifies TLS as the Session is
configured, is size-capped, and never carries the Session's headers,
cookies, auth, hooks or params. Failures are ``TransportError`` in our own
words, with no secret and nothing of requests' underneath.

Real servers on loopback (``tests/http_server.py``, the token server), and
``responses`` where the point is that token requests go through the user's
mocked Session.
"""

from __future__ import annotations

import io
import json
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
import requests
import requests.adapters
import responses
import trustme
from http_server import Reply, Server, TunnelProxy, serving, token_reply
from integrations import Dripping

from sansio_auth import (
    USER_AGENT,
    ClientCredentials,
    HttpError,
    HttpRequest,
    OAuthError,
    TransportError,
)
from sansio_auth.adapters.requests import TokenAuth, send
from sansio_auth.adapters.server import TokenServer

CLIENT_SECRET = "cs-5Rt2-very-secret-value"


def flow_to(
    url: str, client_id: str = "client-9", secret: str = CLIENT_SECRET
) -> ClientCredentials:
    return ClientCredentials(token_url=url, client_id=client_id, client_secret=secret)


def token_request(url: str) -> HttpRequest:
    return flow_to(url).token_request()


@pytest.fixture(autouse=True)
def no_ca_bundle_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    # requests lets these win over a Session's verify (psf/requests#3829),
    # for its own requests and so for ours; the tests set verify themselves.
    monkeypatch.delenv("REQUESTS_CA_BUNDLE", raising=False)
    monkeypatch.delenv("CURL_CA_BUNDLE", raising=False)


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def ca_file(ca: trustme.CA, tmp_path: Path) -> str:
    path = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return str(path)


@pytest.fixture
def api() -> Iterator[Server]:
    """An API that answers 200 to anything."""
    with serving([Reply(body=b"{}")]) as server:
        yield server


def assert_detached(error: BaseException) -> None:
    """Raised as it is: nothing of requests' or urllib3's reachable from it,
    and no secret in what it shows."""
    assert error.__cause__ is None
    assert error.__context__ is None
    for text in (str(error), repr(error)):
        assert CLIENT_SECRET not in text


# -- the user's Session is used ----------------------------------------------


def test_token_requests_go_through_a_sessions_responses_mock() -> None:
    token_url = "https://auth.example.com/oauth/token"
    api_url = "https://api.example.com/v1/things"
    with responses.RequestsMock() as mock:
        mock.post(
            token_url,
            json={"access_token": "mocked-at", "token_type": "Bearer"},
        )
        mock.get(api_url, json={"things": []})
        auth = TokenAuth(flow_to(token_url), session=requests.Session())

        response = requests.get(api_url, auth=auth, timeout=10)

        assert response.json() == {"things": []}
        posted, called = mock.calls
    assert posted.request.method == "POST"
    assert isinstance(posted.request.body, str | bytes)
    body = posted.request.body
    fields = body.decode() if isinstance(body, bytes) else body
    assert "grant_type=client_credentials" in fields
    assert called.request.headers["Authorization"] == "Bearer mocked-at"


def test_a_mounted_adapter_answers_token_requests() -> None:
    class Canned(requests.adapters.BaseAdapter):
        """A transport adapter of the user's: no sockets, no urllib3."""

        def __init__(self) -> None:
            super().__init__()
            self.sent: list[requests.PreparedRequest] = []

        def send(
            self,
            request: requests.PreparedRequest,
            stream: bool = False,
            timeout: float | tuple[float, float] | tuple[float, None] | None = None,
            verify: bool | str = True,
            cert: Any = None,
            proxies: Mapping[str, str] | None = None,
        ) -> requests.Response:
            self.sent.append(request)
            response = requests.Response()
            response.status_code = 200
            response.headers["Content-Type"] = "application/json"
            response.raw = io.BytesIO(b'{"access_token": "canned", "token_type": "x"}')
            response.request = request
            return response

        def close(self) -> None:
            return None

    canned = Canned()
    session = requests.Session()
    session.mount("https://tokens.example/", canned)

    got = send(token_request("https://tokens.example/token"), session=session)

    assert got.status == 200
    assert json.loads(got.body)["access_token"] == "canned"
    (sent,) = canned.sent
    assert sent.url == "https://tokens.example/token"


def test_the_sessions_proxies_carry_token_requests(
    ca: trustme.CA, ca_file: str
) -> None:
    with (
        serving([token_reply()], ca=ca, names=["tokens.example"]) as tokens,
        TunnelProxy(routes={"tokens.example:443": ("127.0.0.1", tokens.port)}) as proxy,
    ):
        session = requests.Session()
        session.proxies = {"https": proxy.url()}
        session.verify = ca_file

        got = send(token_request("https://tokens.example/token"), session=session)

    assert got.status == 200
    assert proxy.targets == ["tokens.example:443"]


def test_the_environments_proxies_carry_token_requests(
    ca: trustme.CA, ca_file: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    with (
        serving([token_reply()], ca=ca, names=["tokens.example"]) as tokens,
        TunnelProxy(routes={"tokens.example:443": ("127.0.0.1", tokens.port)}) as proxy,
    ):
        monkeypatch.setenv("HTTPS_PROXY", proxy.url())
        monkeypatch.delenv("NO_PROXY", raising=False)
        monkeypatch.delenv("no_proxy", raising=False)
        session = requests.Session()  # trust_env, as by default
        session.verify = ca_file

        got = send(token_request("https://tokens.example/token"), session=session)

    assert got.status == 200
    assert proxy.targets == ["tokens.example:443"]


def test_loopback_token_requests_go_through_no_proxy() -> None:
    with serving([token_reply()]) as tokens:
        session = requests.Session()
        # Nothing listens there: used, the proxy would fail the request.
        session.proxies = {"http": "http://127.0.0.1:9", "https": "http://127.0.0.1:9"}

        got = send(token_request(tokens.url()), session=session)

    assert got.status == 200


# -- what of the Session does not apply -------------------------------------


def test_the_sessions_headers_cookies_auth_params_and_hooks_stay_off_token_requests(
    token_server: TokenServer,
) -> None:
    creds = token_server.credentials
    flow = flow_to(
        token_server.generic_token_url,
        creds.generic_client_id,
        creds.generic_client_secret,
    )
    seen: list[str] = []
    session = requests.Session()
    session.headers["X-Api-Key"] = "api-key-123"
    session.cookies.set("sid", "cookie-456", domain="127.0.0.1", path="/")
    session.params = {"api_key": "query-789"}
    session.hooks["response"].append(lambda r, **_: seen.append(r.url))
    # The Session's own auth is the TokenAuth whose token requests go
    # through it: applied to them, it would recurse.
    session.auth = TokenAuth(flow, session=session, timeout=10)

    response = session.get(token_server.resource_url, timeout=10)

    assert response.status_code == 200
    posted, called = token_server.requests
    assert posted.endpoint == "generic"
    assert posted.path == "/oauth2/token" or "?" not in posted.path
    assert posted.header("X-Api-Key") is None
    assert posted.header("Cookie") is None
    assert posted.header("Authorization") is None  # client_secret_post
    assert posted.header("User-Agent") == USER_AGENT
    # The API request did get them: the Session was set up for real.
    assert called.header("X-Api-Key") == "api-key-123"
    assert called.header("Cookie") == "sid=cookie-456"
    assert "api_key=query-789" in called.path
    assert seen == [response.url]


def test_a_cookie_the_token_endpoint_sets_stays_out_of_the_sessions_jar() -> None:
    reply = token_reply()
    setting = Reply(
        body=reply.body,
        headers=(*reply.headers, ("Set-Cookie", "tracker=t1; Path=/")),
    )
    with serving([setting]) as tokens:
        session = requests.Session()
        got = send(token_request(tokens.url()), session=session)

    assert got.header("Set-Cookie") == "tracker=t1; Path=/"
    assert len(session.cookies) == 0


def test_a_redirect_from_the_token_endpoint_is_not_followed(api: Server) -> None:
    elsewhere = "http://127.0.0.1:9/stolen"
    with serving([Reply(status=302, headers=[("Location", elsewhere)])]) as tokens:
        session = requests.Session()
        session.max_redirects = 30
        auth = TokenAuth(flow_to(tokens.url()), session=session, timeout=10)

        with pytest.raises(HttpError) as caught:
            session.get(api.url("/v1"), auth=auth, timeout=10)

        assert len(tokens.requests) == 1
    assert caught.value.status == 302
    assert caught.value.location == elsewhere
    assert api.requests == []
    assert_detached(caught.value)


def test_a_redirects_body_is_capped_too() -> None:
    # Session.send reads a 3xx's whole body even with allow_redirects=False;
    # going straight to the transport adapter, the cap holds.
    endless = Reply(status=302, headers=[("Location", "/x")], fault="endless_body")
    with serving([endless]) as tokens:
        started = time.monotonic()
        with pytest.raises(TransportError) as caught:
            send(
                token_request(tokens.url()),
                session=requests.Session(),
                timeout=5,
                max_response_bytes=100_000,
            )

    assert caught.value.reason == "response body over the 100000-byte limit"
    assert time.monotonic() - started < 4


# -- bounds ------------------------------------------------------------------


@pytest.mark.parametrize("chunked", [False, True])
def test_a_body_over_the_cap_is_a_transport_error(chunked: bool, api: Server) -> None:
    big = json.dumps({"access_token": "a" * 5000, "token_type": "Bearer"})
    with serving([Reply(body=big.encode(), chunked=chunked)]) as tokens:
        session = requests.Session()
        auth = TokenAuth(
            flow_to(tokens.url()),
            session=session,
            timeout=10,
            max_response_bytes=1000,
        )

        with pytest.raises(TransportError) as caught:
            session.get(api.url("/v1"), auth=auth, timeout=10)

    assert caught.value.reason == "response body over the 1000-byte limit"
    assert not caught.value.retryable
    assert_detached(caught.value)


@pytest.mark.parametrize(
    "reply",
    [
        Reply(fault="hang"),
        Reply(delay=5, body=token_reply().body),
        Reply(fault="trickle_body", body=b"x" * 100),
        Reply(fault="trickle_body", body=b"x" * 100, chunked=True),
    ],
    ids=["no answer", "slow answer", "trickled body", "trickled chunks"],
)
def test_a_slow_token_endpoint_times_out_within_about_the_timeout(
    reply: Reply,
) -> None:
    with serving([reply]) as tokens:
        started = time.monotonic()
        with pytest.raises(TransportError) as caught:
            send(token_request(tokens.url()), session=requests.Session(), timeout=0.5)
        elapsed = time.monotonic() - started

    assert (
        caught.value.reason
        == f"timed out after 0.5 s waiting for 127.0.0.1:{tokens.port}"
    )
    assert caught.value.retryable
    assert elapsed < 2.5  # a generous bound on a shared machine
    assert_detached(caught.value)


_OK = b"HTTP/1.1 200 OK\r\n"
_DRIPS = {
    "head, a line at a time": [_OK, *[b"X-Slow: a\r\n"] * 80, b"\r\n"],
    "head, a byte at a time": [bytes([b]) for b in _OK + b"X-Slow: " + b"a" * 80],
    "body": [_OK + b"Content-Length: 100\r\n\r\n", *[b"x"] * 100],
    "chunks": [
        _OK + b"Transfer-Encoding: chunked\r\n\r\n",
        *[b"1\r\nx\r\n"] * 80,
        b"0\r\n\r\n",
    ],
    "a chunk-size line": [
        _OK + b"Transfer-Encoding: chunked\r\n\r\n",
        *[b"0"] * 80,
        b"1\r\nx\r\n0\r\n\r\n",
    ],
}


@pytest.mark.parametrize("pieces", _DRIPS.values(), ids=_DRIPS.keys())
def test_a_dripping_token_endpoint_is_cut_at_the_timeout(
    pieces: list[bytes],
) -> None:
    # Each piece 0.1 s after the last, far within a read timeout: only a
    # bound on the whole exchange, the head's wait included, ends it.
    with Dripping(pieces, gap=0.1) as tokens:
        started = time.monotonic()
        with pytest.raises(TransportError) as caught:
            send(
                token_request(f"http://{tokens.address}/token"),
                session=requests.Session(),
                timeout=1,
            )
        elapsed = time.monotonic() - started

    assert caught.value.reason == f"timed out after 1 s waiting for {tokens.address}"
    assert elapsed < 2.5  # a generous bound on a loaded 2-CPU machine
    assert_detached(caught.value)


def test_a_trickled_body_over_tls_times_out_within_about_the_timeout(
    ca: trustme.CA, ca_file: str
) -> None:
    trickle = Reply(fault="trickle_body", body=b"x" * 100, chunked=True)
    with serving([trickle], ca=ca) as tokens:
        session = requests.Session()
        session.verify = ca_file
        started = time.monotonic()
        with pytest.raises(TransportError) as caught:
            send(token_request(tokens.url()), session=session, timeout=0.5)
        elapsed = time.monotonic() - started

    assert caught.value.reason.startswith("timed out after 0.5 s")
    assert elapsed < 2.5


# -- TLS ---------------------------------------------------------------------


def test_a_session_trusting_a_ca_bundle_gets_tokens_over_https(
    ca: trustme.CA, ca_file: str, api: Server
) -> None:
    with serving([token_reply("tls-token")], ca=ca) as tokens:
        session = requests.Session()
        session.verify = ca_file
        auth = TokenAuth(flow_to(tokens.url()), session=session, timeout=10)

        response = session.get(api.url("/v1"), auth=auth, timeout=10)

    assert response.status_code == 200
    assert api.requests[0].header("Authorization") == "Bearer tls-token"


def test_a_session_without_the_ca_refuses_the_certificate(ca: trustme.CA) -> None:
    with (
        serving([token_reply()], ca=ca) as tokens,
        pytest.raises(TransportError) as caught,
    ):
        send(token_request(tokens.url()), session=requests.Session(), timeout=10)

    assert caught.value.reason.startswith(
        f"TLS certificate verification failed for 127.0.0.1:{tokens.port}"
    )
    assert not caught.value.retryable
    assert_detached(caught.value)


def test_the_environments_ca_bundle_applies_as_for_the_sessions_requests(
    ca: trustme.CA, ca_file: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", ca_file)
    with serving([token_reply()], ca=ca) as tokens:
        got = send(token_request(tokens.url()), session=requests.Session(), timeout=10)

    assert got.status == 200


def test_a_session_that_does_not_verify_is_not_overridden(ca: trustme.CA) -> None:
    # The user's choice (a test setup), as for their own requests.
    with serving([token_reply()], ca=ca) as tokens:
        session = requests.Session()
        session.verify = False
        with pytest.warns(Warning, match="Unverified HTTPS request"):
            got = send(token_request(tokens.url()), session=session, timeout=10)

    assert got.status == 200


# -- failures, in our words --------------------------------------------------


@pytest.mark.parametrize(
    ("reply", "words"),
    [
        (Reply(fault="close_without_answer"), "closed before a response"),
        (Reply(fault="garbage"), "malformed HTTP response"),
        (Reply(fault="short_body", body=b"{}"), "truncated body"),
        (Reply(fault="reset_mid_body", body=b"x" * 5000), "connection"),
    ],
    ids=["closed", "garbage", "short body", "reset"],
)
def test_a_broken_exchange_is_a_transport_error_in_our_words(
    reply: Reply, words: str
) -> None:
    with serving([reply]) as tokens, pytest.raises(TransportError) as caught:
        send(token_request(tokens.url()), session=requests.Session(), timeout=10)

    assert words in caught.value.reason
    assert f"127.0.0.1:{tokens.port}" in caught.value.reason
    assert_detached(caught.value)


def test_a_refused_connection_is_a_transport_error() -> None:
    with serving() as gone:
        url = gone.url()
    with pytest.raises(TransportError) as caught:
        send(token_request(url), session=requests.Session(), timeout=10)

    assert caught.value.reason == f"connection refused by 127.0.0.1:{gone.port}"
    assert_detached(caught.value)


def test_a_mocks_words_never_reach_the_error() -> None:
    token_url = "https://auth.example.com/token"
    with responses.RequestsMock() as mock:
        mock.post(
            token_url,
            body=requests.ConnectionError(f"refused, and here is {CLIENT_SECRET}"),
        )
        with pytest.raises(TransportError) as caught:
            send(token_request(token_url), session=requests.Session(), timeout=10)

    assert (
        caught.value.reason
        == "network error with auth.example.com:443 (ConnectionError)"
    )
    assert_detached(caught.value)


def test_a_server_echoing_the_secret_does_not_get_it_into_the_error(
    api: Server,
) -> None:
    def echo(received: Any) -> Reply:
        answer = {
            "error": "invalid_client",
            "error_description": received.body.decode(),
        }
        return Reply(status=401, body=json.dumps(answer).encode())

    with serving(echo) as tokens:
        session = requests.Session()
        auth = TokenAuth(flow_to(tokens.url()), session=session, timeout=10)
        with pytest.raises(OAuthError) as caught:
            session.get(api.url("/v1"), auth=auth, timeout=10)

    assert_detached(caught.value)


def test_repeated_header_fields_stay_apart() -> None:
    reply = Reply(
        status=401,
        headers=[
            ("WWW-Authenticate", 'Basic realm="a"'),
            ("WWW-Authenticate", 'Bearer realm="b"'),
        ],
    )
    with serving([reply]) as tokens:
        got = send(token_request(tokens.url()), session=requests.Session())

    assert [v for k, v in got.headers if k.lower() == "www-authenticate"] == [
        'Basic realm="a"',
        'Bearer realm="b"',
    ]


@pytest.mark.parametrize(
    ("kwargs", "error", "words"),
    [
        ({"session": "https://example.com"}, TypeError, "session must be"),
        ({"timeout": 0}, ValueError, "timeout must be"),
        ({"max_response_bytes": -1}, ValueError, "max_response_bytes must be"),
    ],
)
def test_send_checks_its_arguments(
    kwargs: Mapping[str, Any], error: type[Exception], words: str
) -> None:
    options: dict[str, Any] = {"session": requests.Session(), **kwargs}
    with pytest.raises(error, match=words):
        send(token_request("https://auth.example.com/token"), **options)
