"""``sansio_auth.adapters.aiohttp``: TokenMiddleware against real servers.

Every test starts its servers on loopback: the local ``TokenServer`` (token
endpoints and a protected resource that refuses unknown, expired and revoked
tokens with a 401 and a ``Bearer`` challenge), and ``tests/http_server.py``
where a test needs an answer the token server does not give (a redirect, a
huge body, a hang) or an API that records what reached it. aiohttp runs on
asyncio only: the async tests run under anyio's pytest plugin on its asyncio
backend. Token requests go through the default transport (the urllib adapter
in a worker thread) or through a ``ClientSession`` of the test's; the tests
about the token endpoint run both ways.
"""

from __future__ import annotations

import asyncio
import json
import ssl
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from types import SimpleNamespace
from typing import Any

import aiohttp
import attrs
import pytest
import trustme
from aioresponses import aioresponses
from http_server import Reply, serving, token_reply
from integrations import (
    BLOCKED,
    SLOW_TOKEN,
    Ticker,
    api_requests,
    closed_port,
    flow_for,
    in_tasks,
)
from yarl import URL

from sansio_auth import (
    ClientAuth,
    ClientCredentials,
    HttpError,
    HttpRequest,
    OAuthError,
    Token,
    TokenError,
    TransportError,
)
from sansio_auth.adapters import aiohttp as aiohttp_adapter
from sansio_auth.adapters.aiohttp import TokenMiddleware, send
from sansio_auth.adapters.server import TokenServer

pytestmark = pytest.mark.anyio

WRONG_SECRET = "cs-wrong-Qx81-secret-value"
API_KEY = "ak-Vb27-the-apis-own-key"
API_COOKIE = "ck-Lm40-the-apis-session-cookie"
API_PASSWORD = "pw-Hd93-the-apis-basic-password"
MOCKED_TOKEN = "at-Mk55-mocked-access-token"
API_BASIC = "YXBpLXVzZXI6cHctSGQ5My10aGUtYXBpcy1iYXNpYy1wYXNzd29yZA=="
"""base64 of ``api-user:<API_PASSWORD>``: the API's Basic credentials."""


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(params=["default", "session"])
def through(request: pytest.FixtureRequest) -> str:
    """How token requests go: the default transport, or a ClientSession."""
    kind: str = request.param
    return kind


# -- helpers ----------------------------------------------------------------


def flow_at(url: str) -> ClientCredentials:
    """A flow whose token endpoint is *url* (a scripted server)."""
    return ClientCredentials(
        token_url=url, client_id="client-7f3a", client_secret="cs-9Zq4-very-secret"
    )


@asynccontextmanager
async def token_session(
    through: str, **options: Any
) -> AsyncIterator[aiohttp.ClientSession | None]:
    """None for the default transport, or a ClientSession for token requests."""
    if through == "default":
        yield None
        return
    async with aiohttp.ClientSession(**options) as session:
        yield session


@asynccontextmanager
async def api(
    middleware: TokenMiddleware, **options: Any
) -> AsyncIterator[aiohttp.ClientSession]:
    """The API's session, with *middleware*."""
    async with aiohttp.ClientSession(middlewares=(middleware,), **options) as session:
        yield session


async def get(session: aiohttp.ClientSession, url: str, **kwargs: Any) -> int:
    """The status of a GET (the body read, the response released)."""
    async with session.get(url, **kwargs) as response:
        await response.read()
        return response.status


def bearer(request: Any) -> str:
    """The bearer token a recorded request carried ("" for none)."""
    scheme, _, token = (request.header("Authorization") or "").partition(" ")
    return token if scheme == "Bearer" else ""


def secrets_of(server: TokenServer) -> list[str]:
    """Every credential and token the server knows of or issued."""
    creds = server.credentials
    found = [creds.generic_client_secret, WRONG_SECRET, creds.generic_password]
    for request in server.requests:
        token = bearer(request)
        if token:
            found.append(token)
    return found


def assert_clean(error: BaseException, secrets: list[str]) -> None:
    """No secret in the error's str or repr, nor in anything chained to it."""
    seen: BaseException | None = error
    while seen is not None:
        for text in (str(seen), repr(seen)):
            for secret in secrets:
                assert secret not in text
        seen = seen.__cause__ or seen.__context__


class MockedResponse(aiohttp.ClientResponse):
    """A response aioresponses can build on aiohttp 3.14: aioresponses 0.7.9
    leaves out the ``stream_writer`` aiohttp 3.14 requires
    (pnuckowski/aioresponses#289), so it is given one that sent nothing."""

    def __init__(self, method: str, url: URL, **kwargs: Any) -> None:
        kwargs.setdefault("stream_writer", SimpleNamespace(output_size=0))
        super().__init__(method, url, **kwargs)


def tls_pair(ca: trustme.CA) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    """A server context with a certificate from *ca* for 127.0.0.1, and a
    client context trusting *ca*."""
    server_side = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1", "localhost").configure_cert(server_side)
    client_side = ssl.create_default_context()
    ca.configure_trust(client_side)
    return server_side, client_side


# -- the header --------------------------------------------------------------


async def test_each_request_carries_the_token() -> None:
    async with TokenServer() as server:
        middleware = TokenMiddleware(flow_for(server), timeout=10)
        async with api(middleware) as session:
            assert await get(session, server.resource_url) == 200
            assert await get(session, server.resource_url) == 200
        token = middleware.client.session.token
        assert token is not None
        sent = api_requests(server)
        assert [bearer(r) for r in sent] == [token.access_token] * 2
        assert len(server.token_requests()) == 1  # the second used the cache


async def test_an_explicit_authorization_is_left_alone() -> None:
    async with TokenServer() as server:
        middleware = TokenMiddleware(flow_for(server), timeout=10)
        async with api(middleware) as session:
            status = await get(
                session, server.resource_url, headers={"Authorization": "Bearer mine"}
            )
        assert status == 401  # the caller's token, refused, and passed back
        assert server.token_requests() == []
        assert [r.header("Authorization") for r in server.requests] == ["Bearer mine"]


async def test_the_token_is_taken_off_the_request_once_sent() -> None:
    # aiohttp puts request_info (a live view of the request's headers) in the
    # repr of ClientResponseError: a log line of it must not show the token.
    async with TokenServer() as server:
        server.fail_next(1, status=403, retry_after=None, endpoint="resource")
        middleware = TokenMiddleware(flow_for(server), timeout=10)
        async with api(middleware, raise_for_status=True) as session:
            with pytest.raises(aiohttp.ClientResponseError) as caught:
                await get(session, server.resource_url)
        assert caught.value.status == 403
        assert_clean(caught.value, secrets_of(server))
        assert "Authorization" not in caught.value.request_info.headers


def test_the_middleware_repr_names_no_credential() -> None:
    flow = ClientCredentials(
        token_url="https://auth.example.com/token",
        client_id="client-7f3a",
        client_secret=WRONG_SECRET,
    )
    shown = repr(TokenMiddleware(flow))
    assert WRONG_SECRET not in shown
    assert shown == "<TokenMiddleware of ClientCredentials>"


# -- concurrency -------------------------------------------------------------


async def test_500_tasks_on_a_cold_session_make_one_token_request() -> None:
    async with TokenServer() as server:
        middleware = TokenMiddleware(flow_for(server), timeout=10)
        async with api(middleware) as session:
            statuses = await in_tasks(500, lambda: get(session, server.resource_url))
        assert statuses == [200] * 500
        assert len(server.token_requests()) == 1
        token = middleware.client.session.token
        assert token is not None
        assert {bearer(r) for r in api_requests(server)} == {token.access_token}


async def test_the_loop_is_never_blocked_during_the_burst() -> None:
    ticker = Ticker()
    # A token endpoint that takes SLOW_TOKEN seconds: a fetch that blocked
    # the loop would stop the ticker for as long.
    with (
        serving([token_reply("at-burst", delay=SLOW_TOKEN)]) as token_server,
        serving([Reply(body=b"{}")]) as api_server,
    ):
        middleware = TokenMiddleware(flow_at(token_server.url()), timeout=10)
        async with api(middleware) as session:
            ticking = asyncio.create_task(ticker.run())
            try:
                statuses = await in_tasks(500, lambda: get(session, api_server.url()))
            finally:
                ticker.done.set()
                await ticking
    assert statuses == [200] * 500
    assert len(token_server.requests) == 1
    assert {r.header("Authorization") for r in api_server.requests} == {
        "Bearer at-burst"
    }
    assert len(ticker.gaps) > 50
    assert ticker.max_gap < BLOCKED


# -- 401 ----------------------------------------------------------------------


@attrs.frozen
class Warm:
    """A middleware holding a token, its API session, and the servers'."""

    server: TokenServer
    middleware: TokenMiddleware
    session: aiohttp.ClientSession
    token: Token
    """The token the first request carried."""

    def current(self) -> Token | None:
        return self.middleware.client.session.token


@asynccontextmanager
async def warm(*, revoke: bool = False) -> AsyncIterator[Warm]:
    """A TokenServer and a middleware that has made one request (its token
    cached), the server's records cleared; the token revoked if *revoke*."""
    async with TokenServer() as server:
        middleware = TokenMiddleware(flow_for(server), timeout=10)
        async with api(middleware) as session:
            assert await get(session, server.resource_url) == 200
            token = middleware.client.session.token
            assert token is not None
            server.clear()
            if revoke:
                server.revoke(token.access_token)
            yield Warm(server, middleware, session, token)


def fail_resource(server: TokenServer, count: int, status: int, *headers: str) -> None:
    """The resource answers the next *count* requests *status*, with these
    ``WWW-Authenticate`` values."""
    server.fail_next(
        count,
        status=status,
        endpoint="resource",
        retry_after=None,
        headers=tuple(("WWW-Authenticate", value) for value in headers),
    )


async def test_a_revoked_token_is_replaced_once_for_100_concurrent_401s() -> None:
    async with warm(revoke=True) as w:
        url = w.server.resource_url
        statuses = await in_tasks(100, lambda: get(w.session, url))
        assert statuses == [200] * 100
        assert len(w.server.token_requests()) == 1
        new = w.current()
        assert new is not None
        assert new is not w.token
        sent = [bearer(r) for r in api_requests(w.server)]
    # Each was sent with the revoked token, refused, and sent once more with
    # the new one.
    assert sent.count(w.token.access_token) == 100
    assert sent.count(new.access_token) == 100
    assert len(sent) == 200


async def test_a_401_on_the_retry_goes_back_to_the_caller() -> None:
    async with warm() as w:
        fail_resource(w.server, 2, 401)
        assert await get(w.session, w.server.resource_url) == 401
        assert len(api_requests(w.server)) == 2  # never a third send
        assert len(w.server.token_requests()) == 1  # for the one retry


async def test_a_body_that_cannot_be_replayed_is_not_sent_again() -> None:
    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"a": '
        yield b"1}"

    refused = Reply(
        status=401,
        headers=(("WWW-Authenticate", 'Bearer error="invalid_token"'),),
    )
    # A scripted API: the token server's resource takes no chunked body.
    with serving([refused, Reply(body=b"{}")]) as api_server:
        async with warm() as w:
            async with w.session.post(api_server.url(), data=chunks()) as response:
                assert response.status == 401
            assert len(api_server.requests) == 1
            assert api_server.requests[0].body == b'{"a": 1}'
            # Invalidated: the next request fetches a new token.
            assert w.current() is None
            assert await get(w.session, api_server.url()) == 200
            assert len(w.server.token_requests()) == 1
    first, second = (bearer(r) for r in api_server.requests)
    assert first == w.token.access_token
    assert second
    assert second != first


async def test_a_bytes_body_is_sent_again_whole() -> None:
    async with warm(revoke=True) as w:
        async with w.session.put(w.server.resource_url, data=b"x" * 1000) as response:
            assert response.status == 200
            answer = json.loads(await response.read())
        sent = api_requests(w.server)
    assert answer["method"] == "PUT"
    assert answer["body_bytes"] == 1000
    assert [len(r.body) for r in sent] == [1000, 1000]


async def test_a_403_is_not_retried() -> None:
    async with warm() as w:
        fail_resource(w.server, 1, 403)
        assert await get(w.session, w.server.resource_url) == 403
        assert len(api_requests(w.server)) == 1
        assert w.server.token_requests() == []
        assert w.current() is w.token  # kept


async def test_a_bearer_invalid_token_challenge_is_retried() -> None:
    async with warm() as w:
        fail_resource(w.server, 1, 401, 'Bearer realm="api", error="invalid_token"')
        assert await get(w.session, w.server.resource_url) == 200
        assert len(api_requests(w.server)) == 2
        assert len(w.server.token_requests()) == 1
        assert w.current() is not w.token


async def test_another_schemes_challenge_goes_back_untouched() -> None:
    async with warm() as w:
        fail_resource(w.server, 1, 401, 'Basic realm="x"')
        async with w.session.get(w.server.resource_url) as response:
            assert response.status == 401
            assert response.headers.getall("WWW-Authenticate") == ['Basic realm="x"']
        assert len(api_requests(w.server)) == 1
        assert w.server.token_requests() == []
        assert w.current() is w.token  # kept


# -- the token endpoint failing ----------------------------------------------


async def test_a_wrong_secret_raises_the_oauth_error(through: str) -> None:
    async with TokenServer() as server:
        flow = flow_for(server, secret=WRONG_SECRET)
        async with token_session(through) as tokens:
            middleware = TokenMiddleware(flow, timeout=10, session=tokens)
            async with api(middleware) as session:
                with pytest.raises(OAuthError) as caught:
                    await get(session, server.resource_url)
        assert caught.value.error == "invalid_client"
        assert api_requests(server) == []
        assert_clean(caught.value, secrets_of(server))


async def test_a_5xx_through_the_retries_raises_the_http_error(through: str) -> None:
    async with TokenServer() as server:
        server.fail_next(10, status=503, retry_after=0, endpoint="generic")
        async with token_session(through) as tokens:
            middleware = TokenMiddleware(flow_for(server), timeout=10, session=tokens)
            async with api(middleware) as session:
                with pytest.raises(HttpError) as caught:
                    await get(session, server.resource_url)
        assert caught.value.status == 503
        assert len(server.token_requests()) == 4  # the default policy's attempts
        assert api_requests(server) == []
        assert_clean(caught.value, secrets_of(server))


async def test_a_refused_port_raises_the_transport_error(through: str) -> None:
    flow = flow_at(f"http://127.0.0.1:{closed_port()}/token")
    async with TokenServer() as server, token_session(through) as tokens:
        middleware = TokenMiddleware(flow, timeout=10, session=tokens)
        async with api(middleware) as session:
            with pytest.raises(TransportError) as caught:
                await get(session, server.resource_url)
        assert api_requests(server) == []
    assert "connection refused by 127.0.0.1" in str(caught.value)
    assert_clean(caught.value, ["cs-9Zq4-very-secret"])


async def test_a_redirect_from_the_token_endpoint_is_not_followed(
    through: str,
) -> None:
    with serving([token_reply("at-elsewhere")]) as elsewhere:
        moved = Reply(status=302, headers=(("Location", elsewhere.url()),))
        with serving([moved]) as token_server:
            flow = flow_at(token_server.url())
            async with TokenServer() as server, token_session(through) as tokens:
                middleware = TokenMiddleware(flow, timeout=10, session=tokens)
                async with api(middleware) as session:
                    with pytest.raises(HttpError) as caught:
                        await get(session, server.resource_url)
        assert caught.value.status == 302
        assert caught.value.location == elsewhere.url()
        assert len(token_server.requests) == 1
        assert elsewhere.requests == []


async def test_a_body_over_the_cap_is_a_transport_error(through: str) -> None:
    with serving([Reply(body=b"x" * 5000)]) as token_server:
        flow = flow_at(token_server.url())
        async with TokenServer() as server, token_session(through) as tokens:
            middleware = TokenMiddleware(
                flow, timeout=10, max_response_bytes=1000, session=tokens
            )
            async with api(middleware) as session:
                with pytest.raises(TransportError) as caught:
                    await get(session, server.resource_url)
    assert str(caught.value) == "response body over the 1000-byte limit"
    assert len(token_server.requests) == 1  # not retried: it would be as big


async def test_a_slow_token_endpoint_times_out() -> None:
    with serving([Reply(fault="hang")]) as token_server:
        flow = flow_at(token_server.url())
        async with TokenServer() as server, aiohttp.ClientSession() as tokens:
            middleware = TokenMiddleware(flow, timeout=0.3, session=tokens)
            async with api(middleware) as session:
                started = time.monotonic()
                with pytest.raises(TransportError) as caught:
                    await get(session, server.resource_url)
                elapsed = time.monotonic() - started
    assert str(caught.value).startswith("timed out after 0.3 s")
    # Four attempts of 0.3 s and the default backoff between them (at most
    # 0.5 + 1 + 2 s): each attempt was cut at its timeout.
    assert len(token_server.requests) == 4
    assert elapsed < 4 * 0.3 + 3.5 + 2.0


async def test_send_bounds_the_whole_exchange_by_the_timeout() -> None:
    # A trickled body: every read makes progress, only the whole is late.
    slow = Reply(
        body=b'{"access_token": "a", "token_type": "Bearer"}', fault="trickle_body"
    )
    with serving([slow]) as token_server:
        request = HttpRequest(method="POST", url=token_server.url(), headers=())
        async with aiohttp.ClientSession() as session:
            started = time.monotonic()
            with pytest.raises(TransportError) as caught:
                await send(request, session=session, timeout=0.5)
            elapsed = time.monotonic() - started
    assert str(caught.value).startswith("timed out after 0.5 s")
    assert elapsed < 0.5 + 1.0


async def test_send_is_bounded_whatever_the_session_does() -> None:
    # A mocking tool replaces the session's request method, and aiohttp's
    # own timeout with it: the exchange is still cut at the timeout.
    async def never(url: URL, **kwargs: Any) -> None:
        await asyncio.sleep(60)

    token_url = "https://auth.example.test/oauth/token"
    request = HttpRequest(method="POST", url=token_url, headers=())
    with aioresponses() as mocked:
        mocked.post(token_url, callback=never)
        async with aiohttp.ClientSession() as session:
            started = time.monotonic()
            with pytest.raises(TransportError) as caught:
                await send(request, session=session, timeout=0.5)
            elapsed = time.monotonic() - started
    assert (
        str(caught.value) == "timed out after 0.5 s waiting for auth.example.test:443"
    )
    assert elapsed < 0.5 + 1.0


# -- token requests through the user's session -------------------------------


async def test_token_requests_go_through_a_session_mocked_with_aioresponses() -> None:
    token_url = "https://auth.example.test/oauth/token"
    answer = {"access_token": MOCKED_TOKEN, "token_type": "Bearer", "expires_in": 60}
    with serving([Reply(body=b"{}")]) as api_server:
        # The API is real (passed through); the token endpoint is mocked.
        with aioresponses(passthrough=[api_server.url("")]) as mocked:
            mocked.post(token_url, payload=answer, response_class=MockedResponse)
            async with aiohttp.ClientSession() as tokens:
                middleware = TokenMiddleware(flow_at(token_url), session=tokens)
                async with api(middleware) as session:
                    assert await get(session, api_server.url("/v1/things")) == 200
        calls = mocked.requests[("POST", URL(token_url))]
    assert len(calls) == 1
    assert b"client_id=client-7f3a" in calls[0].kwargs["data"]
    assert calls[0].kwargs["allow_redirects"] is False
    assert [r.header("Authorization") for r in api_server.requests] == [
        f"Bearer {MOCKED_TOKEN}"
    ]


def assert_only_ours(sent: Any, auth: str, client_id: str) -> None:
    """The token request *sent* carried none of the API session's defaults."""
    names = {name.lower() for name, _ in sent.headers}
    assert "x-api-key" not in names
    assert "cookie" not in names
    for _, value in sent.headers:
        for api_secret in (API_KEY, API_COOKIE, API_BASIC):
            assert api_secret not in value
    authorization = sent.header("Authorization")
    if auth == "client_secret_basic":
        assert authorization is not None
        assert authorization.startswith("Basic ")
        assert "client_id" not in sent.fields
    else:
        assert authorization is None
        assert sent.fields["client_id"] == client_id


async def fetch_through(
    tokens: aiohttp.ClientSession, server: TokenServer, auth: ClientAuth
) -> None:
    """An API request whose token request goes through *tokens*."""
    middleware = TokenMiddleware(
        flow_for(server, auth=auth), timeout=10, session=tokens
    )
    async with api(middleware) as session:
        assert await get(session, server.resource_url) == 200


@pytest.mark.parametrize("auth", ["client_secret_post", "client_secret_basic"])
async def test_the_sessions_defaults_are_not_sent_to_the_token_endpoint(
    auth: ClientAuth,
) -> None:
    async with TokenServer() as server:
        jar = aiohttp.CookieJar(unsafe=True)  # unsafe: it holds 127.0.0.1's
        jar.update_cookies({"sid": API_COOKIE}, URL(server.url))
        defaults = {"X-Api-Key": API_KEY, "Authorization": f"Basic {API_BASIC}"}
        async with aiohttp.ClientSession(
            headers=defaults, cookie_jar=jar, raise_for_status=True
        ) as tokens:
            await fetch_through(tokens, server, auth)
        (sent,) = server.token_requests()
    assert_only_ours(sent, auth, server.credentials.generic_client_id)


# A session's default auth= (a BasicAuth) is deprecated by aiohttp 3.14, which
# warns of both on construction; sessions made with it still work, and must
# be tested.
@pytest.mark.filterwarnings("ignore:BasicAuth is deprecated:DeprecationWarning")
@pytest.mark.filterwarnings(
    "ignore:The 'auth' parameter is deprecated:DeprecationWarning"
)
@pytest.mark.parametrize("auth", ["client_secret_post", "client_secret_basic"])
async def test_the_sessions_default_auth_is_not_sent_to_the_token_endpoint(
    auth: ClientAuth,
) -> None:
    async with TokenServer() as server:
        async with aiohttp.ClientSession(
            auth=aiohttp.BasicAuth("api-user", API_PASSWORD)
        ) as tokens:
            await fetch_through(tokens, server, auth)
        (sent,) = server.token_requests()
    assert_only_ours(sent, auth, server.credentials.generic_client_id)
    assert "api-user" not in repr(sent.headers)


@pytest.mark.parametrize("proxied", ["trust_env", "session_proxy"])
async def test_a_loopback_token_request_never_goes_through_a_proxy(
    proxied: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The session's proxy, its own or the environment's, would take the
    # client secret off the machine: a loopback request goes direct.
    with serving([token_reply("at-via-proxy")]) as proxy:
        for name in ("NO_PROXY", "no_proxy"):
            monkeypatch.delenv(name, raising=False)
        for name in ("HTTP_PROXY", "http_proxy"):
            monkeypatch.setenv(name, proxy.url(""))
        options: dict[str, Any] = (
            {"trust_env": True} if proxied == "trust_env" else {"proxy": proxy.url("")}
        )
        with serving([token_reply("at-direct")]) as token_server:
            flow = flow_at(token_server.url())
            async with aiohttp.ClientSession(**options) as tokens:
                middleware = TokenMiddleware(flow, timeout=10, session=tokens)
                assert (await middleware.client.token()).access_token == "at-direct"
                # Another host than this machine still goes through it.
                away = HttpRequest(
                    method="POST", url="http://auth.example.test/token", headers=()
                )
                assert (await send(away, session=tokens, timeout=10)).status == 200
    assert len(token_server.requests) == 1
    assert [r.target for r in proxy.requests] == ["http://auth.example.test/token"]


async def test_a_session_raising_for_status_still_gives_the_oauth_error() -> None:
    async with (
        TokenServer() as server,
        aiohttp.ClientSession(raise_for_status=True) as tokens,
    ):
        middleware = TokenMiddleware(
            flow_for(server, secret=WRONG_SECRET), timeout=10, session=tokens
        )
        async with api(middleware) as session:
            with pytest.raises(OAuthError):
                await get(session, server.resource_url)


async def test_a_users_session_trusting_a_private_ca_reaches_an_https_server() -> None:
    server_side, client_side = tls_pair(trustme.CA())
    async with TokenServer(ssl_context=server_side) as server:
        connector = aiohttp.TCPConnector(ssl=client_side)
        async with aiohttp.ClientSession(connector=connector) as tokens:
            middleware = TokenMiddleware(flow_for(server), timeout=10, session=tokens)
            trusted = aiohttp.TCPConnector(ssl=client_side)
            async with api(middleware, connector=trusted) as session:
                assert await get(session, server.resource_url) == 200
        assert len(server.token_requests()) == 1


async def test_the_default_refuses_an_untrusted_certificate() -> None:
    server_side, client_side = tls_pair(trustme.CA())
    async with TokenServer(ssl_context=server_side) as server:
        middleware = TokenMiddleware(flow_for(server), timeout=10)
        trusted = aiohttp.TCPConnector(ssl=client_side)
        async with api(middleware, connector=trusted) as session:
            with pytest.raises(TransportError) as caught:
                await get(session, server.resource_url)
        assert server.requests == []  # the handshake failed: nothing was read
    assert "certificate verification failed for 127.0.0.1" in str(caught.value)
    assert not caught.value.retryable


# -- redirects of API requests -----------------------------------------------


async def test_a_redirect_to_another_origin_carries_no_token() -> None:
    with serving([Reply(body=b"{}")]) as there:
        moved = Reply(status=302, headers=(("Location", there.url("/landing")),))
        with serving([moved]) as here:
            async with TokenServer() as server:
                middleware = TokenMiddleware(flow_for(server), timeout=10)
                async with api(middleware) as session:
                    assert await get(session, here.url("/start")) == 200
                    # The next request to the first origin has its token.
                    status = await get(
                        session, here.url("/again"), allow_redirects=False
                    )
                    assert status == 302
    assert [r.target for r in there.requests] == ["/landing"]
    assert there.requests[0].header("Authorization") is None
    assert [r.target for r in here.requests] == ["/start", "/again"]
    assert all(r.header("Authorization") for r in here.requests)


async def test_a_redirect_within_the_origin_keeps_the_token() -> None:
    moved = Reply(status=302, headers=(("Location", "/landing"),))
    with serving([moved, Reply(body=b"{}")]) as here:
        async with TokenServer() as server:
            middleware = TokenMiddleware(flow_for(server), timeout=10)
            async with api(middleware) as session:
                assert await get(session, here.url("/start")) == 200
    assert [r.target for r in here.requests] == ["/start", "/landing"]
    tokens = {r.header("Authorization") for r in here.requests}
    assert len(tokens) == 1
    assert None not in tokens


def moved_to(url: str, status: int = 302) -> Reply:
    """A redirect to *url*."""
    return Reply(status=status, headers=(("Location", url),))


async def test_a_hop_sent_again_after_a_disconnect_carries_no_token() -> None:
    # aiohttp sends an idempotent request again, as a new request through
    # the middlewares, when the server closes without an answer: that second
    # attempt of the hop is still a hop away from the first origin.
    dropped = Reply(fault="close_without_answer")
    with serving([dropped, Reply(body=b"{}")]) as there:
        moved = moved_to(there.url("/landing"))
        with serving([moved]) as here:
            async with TokenServer() as server:
                middleware = TokenMiddleware(flow_for(server), timeout=10)
                async with api(middleware) as session:
                    assert await get(session, here.url("/start")) == 200
    assert [r.target for r in there.requests] == ["/landing", "/landing"]
    assert [r.header("Authorization") for r in there.requests] == [None, None]
    assert here.requests[0].header("Authorization")


async def test_a_redirect_of_the_callers_own_authorization_gets_no_token() -> None:
    # aiohttp drops the caller's Authorization on a hop to another origin;
    # the middleware must not put its token there instead.
    with serving([Reply(body=b"{}")]) as there:
        moved = moved_to(there.url("/landing"))
        with serving([moved]) as here:
            async with TokenServer() as server:
                middleware = TokenMiddleware(flow_for(server), timeout=10)
                async with api(middleware) as session:
                    own = {"Authorization": f"Bearer {API_KEY}"}
                    assert await get(session, here.url("/x"), headers=own) == 200
        assert server.token_requests() == []
    assert here.requests[0].header("Authorization") == f"Bearer {API_KEY}"
    assert there.requests[0].header("Authorization") is None


@pytest.mark.parametrize("requote", [True, False])
@pytest.mark.parametrize("host", ["localhost", "LOCALHOST", "LocalHost"])
async def test_a_location_spelled_any_way_gets_no_token(
    requote: bool, host: str
) -> None:
    # Without requoting, aiohttp follows the Location's host as written.
    with serving([Reply(body=b"{}")]) as there:
        moved = moved_to(there.url("/steal", host=host))
        with serving([moved]) as here:
            async with TokenServer() as server:
                middleware = TokenMiddleware(flow_for(server), timeout=10)
                async with api(middleware, requote_redirect_url=requote) as session:
                    assert await get(session, here.url("/start")) == 200
    assert [r.target for r in there.requests] == ["/steal"]
    assert there.requests[0].header("Authorization") is None
    assert here.requests[0].header("Authorization")


async def test_a_chain_back_at_its_first_origin_has_the_token_again() -> None:
    homes: list[str] = []
    with (
        serving(lambda r: moved_to(homes[0])) as there,
        serving(
            lambda r: (
                moved_to(there.url("/away"))
                if r.target == "/start"
                else Reply(body=b"{}")
            )
        ) as here,
    ):
        homes.append(here.url("/back"))
        async with TokenServer() as server:
            middleware = TokenMiddleware(flow_for(server), timeout=10)
            async with api(middleware) as session:
                assert await get(session, here.url("/start")) == 200
    assert [r.target for r in here.requests] == ["/start", "/back"]
    assert all(r.header("Authorization") for r in here.requests)
    assert there.requests[0].header("Authorization") is None


async def test_the_next_call_to_the_other_origin_has_its_token() -> None:
    # A redirect the caller does not follow ends its chain: the caller's
    # next request, wherever it goes, is a request of its own.
    with serving([Reply(body=b"{}")]) as there:
        moved = moved_to(there.url("/landing"))
        with serving([moved]) as here:
            async with TokenServer() as server:
                middleware = TokenMiddleware(flow_for(server), timeout=10)
                async with api(middleware) as session:
                    first = await get(session, here.url("/a"), allow_redirects=False)
                    assert first == 302
                    assert await get(session, there.url("/b")) == 200
    assert [r.target for r in there.requests] == ["/b"]
    assert there.requests[0].header("Authorization")


async def test_chains_in_concurrent_tasks_are_apart() -> None:
    with serving([Reply(body=b"{}")]) as there:
        moved = moved_to(there.url("/landing"))
        with serving([moved]) as here:
            async with TokenServer() as server:
                middleware = TokenMiddleware(flow_for(server), timeout=10)
                async with api(middleware) as session:
                    calls = [get(session, here.url("/start")) for _ in range(10)]
                    calls += [get(session, there.url("/own")) for _ in range(10)]
                    assert await asyncio.gather(*calls) == [200] * 20
    for request in there.requests:
        carried = request.header("Authorization") is not None
        assert carried == (request.target == "/own")
    assert len(there.requests) == 20


async def test_a_request_nested_in_a_hop_does_not_end_its_chain() -> None:
    # A middleware of the caller's sends a request of its own (to the first
    # origin, answered 200) before each hop to the other origin: that
    # request ends nothing of the chain it is sent within.
    with (
        serving([Reply(body=b"{}")]) as there,
        serving(
            lambda r: (
                moved_to(there.url("/landing"))
                if r.target == "/start"
                else Reply(body=b"{}")
            )
        ) as here,
    ):
        sessions: list[aiohttp.ClientSession] = []

        async def side_request(
            request: aiohttp.ClientRequest, handler: aiohttp.ClientHandlerType
        ) -> aiohttp.ClientResponse:
            if request.url.path == "/landing":
                assert await get(sessions[0], here.url("/side")) == 200
            return await handler(request)

        async with TokenServer() as server:
            middleware = TokenMiddleware(flow_for(server), timeout=10)
            async with aiohttp.ClientSession(
                middlewares=(side_request, middleware)
            ) as session:
                sessions.append(session)
                assert await get(session, here.url("/start")) == 200
    assert [r.target for r in here.requests] == ["/start", "/side"]
    assert all(r.header("Authorization") for r in here.requests)
    assert there.requests[0].header("Authorization") is None


async def test_without_aiohttps_chain_mark_a_task_is_one_chain(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Should aiohttp no longer give its hops a mark in common, the task's
    # requests are taken for one chain: a hop away gets no token (nor the
    # next request to that origin, failing closed), same-origin use is as
    # ever.
    monkeypatch.setattr(aiohttp_adapter, "_chain_key", lambda request: None)
    dropped = Reply(fault="close_without_answer")
    with (
        serving([dropped, Reply(body=b"{}")]) as there,
        serving(
            lambda r: (
                moved_to(there.url("/landing"))
                if r.target == "/away"
                else moved_to("/landing")
                if r.target == "/start"
                else Reply(body=b"{}")
            )
        ) as here,
    ):
        async with TokenServer() as server:
            middleware = TokenMiddleware(flow_for(server), timeout=10)
            async with api(middleware) as session:
                assert await get(session, here.url("/start")) == 200
                assert await get(session, here.url("/again")) == 200
                assert await get(session, here.url("/away")) == 200
                assert await get(session, here.url("/later")) == 200
                away = await get(session, here.url("/away"), allow_redirects=False)
                assert away == 302
                assert await get(session, there.url("/own")) == 200
                assert await get(session, there.url("/own")) == 200
    targets = ["/start", "/landing", "/again", "/away", "/later", "/away"]
    assert [r.target for r in here.requests] == targets
    assert all(r.header("Authorization") for r in here.requests)
    assert [r.target for r in there.requests] == ["/landing", "/landing"] + ["/own"] * 2
    carried = [r.header("Authorization") is not None for r in there.requests]
    assert carried == [False, False, False, True]


def test_one_middleware_serves_one_event_loop_after_another() -> None:
    async def call(middleware: TokenMiddleware, url: str) -> int:
        async with api(middleware) as session:
            return await get(session, url)

    with TokenServer() as server:
        middleware = TokenMiddleware(flow_for(server), timeout=10)
        assert asyncio.run(call(middleware, server.resource_url)) == 200
        middleware.client.invalidate(middleware.client.session.token or "")
        # The next loop fetches (the first one's event is not reused).
        assert asyncio.run(call(middleware, server.resource_url)) == 200
        assert len(server.token_requests()) == 2


# -- construction --------------------------------------------------------------


def test_a_session_that_is_no_client_session_is_refused() -> None:
    flow = flow_at("https://auth.example.com/token")
    with pytest.raises(TypeError, match=r"session must be an aiohttp\.ClientSession"):
        TokenMiddleware(flow, session=object())  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("options", "error"),
    [
        ({"timeout": -7.25}, ValueError),
        ({"timeout": "31.5"}, TypeError),
        ({"max_response_bytes": -12345}, ValueError),
    ],
)
def test_bad_options_are_refused_without_their_value(
    options: dict[str, Any], error: type[Exception]
) -> None:
    flow = flow_at("https://auth.example.com/token")
    with pytest.raises(error) as caught:
        TokenMiddleware(flow, **options)
    (value,) = options.values()
    assert str(value) not in str(caught.value)


async def test_token_errors_are_token_errors_not_aiohttp_exceptions() -> None:
    # What a caller catches: TokenError, from the request call itself.
    flow = flow_at(f"http://127.0.0.1:{closed_port()}/token")
    async with TokenServer() as server:
        middleware = TokenMiddleware(flow, timeout=10)
        async with api(middleware) as session:
            with pytest.raises(TokenError) as caught:
                await get(session, server.resource_url)
    assert not isinstance(caught.value, aiohttp.ClientError)


async def test_a_closed_token_session_is_a_caller_mistake() -> None:
    flow = flow_at("https://auth.example.test/oauth/token")
    async with aiohttp.ClientSession() as tokens:
        pass
    request = HttpRequest(method="POST", url=flow.token_url, headers=())
    with pytest.raises(
        RuntimeError, match="ClientSession for token requests is closed"
    ):
        await send(request, session=tokens)
