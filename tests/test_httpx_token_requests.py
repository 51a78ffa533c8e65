"""Token requests through the user's httpx client, and what they never do.

``TokenAuth(flow, client=..., async_client=...)`` sends token requests
through the user's client's transport: ``httpx.MockTransport`` and respx
answer them, its ``verify=`` decides TLS. Whatever the client's settings, a
token request carries none of its headers, cookies, auth or event hooks,
stores no cookie in it, follows no redirect, reads no more than the cap and
ends by the timeout; and no secret shows in what is raised. Real servers on
loopback (``tests/http_server.py`` for the odd answers, the token server
for the rest); the mocking tools only where the point is that they see the
token requests.
"""

from __future__ import annotations

import json
import ssl
import time
import traceback
from collections.abc import Iterator

import httpx
import pytest
import respx
import trustme
from http_server import Received, Reply, Server, serving, token_reply
from integrations import dripping, flow_for

from sansio_auth import (
    ClientCredentials,
    HttpError,
    HttpRequest,
    OAuthError,
    TokenError,
    TransportError,
)
from sansio_auth.adapters.httpx import TokenAuth, send, send_async
from sansio_auth.adapters.server import TokenServer

CLIENT_ID = "client-4Qm"
CLIENT_SECRET = "cs-Vb93-never-shown-anywhere"
MOCK_TOKEN = "at-mock-Hq71-secret-access-token"
TOKEN_URL = "https://auth.example/oauth/token"
API_URL = "https://api.example/v1/things"
API_KEY = "api-key-Zr05-for-the-api-only"


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    backend: str = request.param
    return backend


def flow_to(token_url: str) -> ClientCredentials:
    return ClientCredentials(
        token_url=token_url, client_id=CLIENT_ID, client_secret=CLIENT_SECRET
    )


def token_body(access_token: str = MOCK_TOKEN) -> dict[str, object]:
    return {"access_token": access_token, "token_type": "Bearer", "expires_in": 3600}


# -- the user's mocked client answers the token requests -----------------------


class MockedVendor:
    """A ``MockTransport`` handler playing the token endpoint and the API,
    recording what each got."""

    def __init__(self) -> None:
        self.token_requests: list[httpx.Request] = []
        self.api_requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if str(request.url) == TOKEN_URL:
            self.token_requests.append(request)
            # A cookie holding the token: it must not land in the user's jar.
            return httpx.Response(
                200,
                json=token_body(),
                headers={"Set-Cookie": f"sid={MOCK_TOKEN}; Path=/"},
            )
        self.api_requests.append(request)
        ok = request.headers.get("authorization") == f"Bearer {MOCK_TOKEN}"
        return httpx.Response(200 if ok else 401, json={})


def user_client_options(vendor: MockedVendor, hooked: list[str]) -> dict[str, object]:
    """Everything a client may add to a request, which a token request must
    not get; and a client that follows redirects."""

    def hook(request: httpx.Request) -> None:
        hooked.append(str(request.url))
        request.headers["X-Hooked"] = API_KEY

    return {
        "transport": httpx.MockTransport(vendor),
        "base_url": "https://api.example/v1/",
        "headers": {"X-Api-Key": API_KEY},
        "cookies": {"api_session": API_KEY},
        "event_hooks": {"request": [hook]},
        "follow_redirects": True,
    }


def check_mocked_exchange(
    vendor: MockedVendor, hooked: list[str], client: httpx.Client | httpx.AsyncClient
) -> None:
    (token_request,) = vendor.token_requests
    assert token_request.method == "POST"
    assert token_request.content == flow_to(TOKEN_URL).token_request().body
    sent = {name.lower() for name in token_request.headers}
    assert not sent & {"x-api-key", "cookie", "x-hooked", "authorization"}
    (api_request,) = vendor.api_requests
    assert api_request.headers["x-api-key"] == API_KEY
    assert api_request.headers["x-hooked"] == API_KEY
    assert "api_session" in api_request.headers["cookie"]
    assert hooked == [API_URL]  # the client's hooks never saw the token request
    # Nothing of the token endpoint's answer stays in the user's client.
    assert "sid" not in client.cookies
    assert MOCK_TOKEN not in repr(client.cookies.jar)
    assert "authorization" not in client.headers


def test_token_requests_through_the_users_mock_transport_sync() -> None:
    vendor, hooked = MockedVendor(), list[str]()
    with httpx.Client(**user_client_options(vendor, hooked)) as client:  # type: ignore[arg-type]
        # The client's own auth is this TokenAuth, whose token requests go
        # through the same client: no recursion.
        client.auth = TokenAuth(flow_to(TOKEN_URL), client=client)
        assert client.get("things").status_code == 200
        check_mocked_exchange(vendor, hooked, client)


@pytest.mark.anyio
async def test_token_requests_through_the_users_mock_transport_async() -> None:
    vendor, hooked = MockedVendor(), list[str]()
    options = user_client_options(vendor, hooked)
    sync_hook = options.pop("event_hooks")["request"][0]  # type: ignore[index]

    async def hook(request: httpx.Request) -> None:
        sync_hook(request)

    async with httpx.AsyncClient(event_hooks={"request": [hook]}, **options) as client:  # type: ignore[arg-type]
        client.auth = TokenAuth(flow_to(TOKEN_URL), async_client=client)
        assert (await client.get("things")).status_code == 200
        check_mocked_exchange(vendor, hooked, client)


def mocked_api(request: httpx.Request) -> httpx.Response:
    ok = request.headers.get("authorization") == f"Bearer {MOCK_TOKEN}"
    return httpx.Response(200 if ok else 401)


@pytest.fixture
def mocked() -> Iterator[respx.MockRouter]:
    with respx.mock(assert_all_called=True) as router:
        router.post(TOKEN_URL).respond(json=token_body())
        router.get(API_URL).mock(side_effect=mocked_api)
        yield router


def test_token_requests_through_respx_sync(mocked: respx.MockRouter) -> None:
    with httpx.Client() as client:
        client.auth = TokenAuth(flow_to(TOKEN_URL), client=client)
        assert client.get(API_URL).status_code == 200
        assert client.get(API_URL).status_code == 200
    assert mocked.calls.call_count == 3  # one token request, two API calls
    assert mocked.calls[0].request.url == TOKEN_URL


@pytest.mark.anyio
async def test_token_requests_through_respx_async(mocked: respx.MockRouter) -> None:
    async with httpx.AsyncClient() as client:
        client.auth = TokenAuth(flow_to(TOKEN_URL), async_client=client)
        assert (await client.get(API_URL)).status_code == 200
        assert (await client.get(API_URL)).status_code == 200
    assert mocked.calls.call_count == 3
    assert mocked.calls[0].request.url == TOKEN_URL


def test_users_client_default_headers_not_sent_to_the_token_endpoint(
    token_server: TokenServer,
) -> None:
    with httpx.Client(headers={"X-Api-Key": API_KEY}) as client:
        client.auth = TokenAuth(flow_for(token_server), timeout=2, client=client)
        assert client.get(token_server.resource_url).status_code == 200
    token_request, api_request = token_server.requests
    assert token_request.endpoint == "generic"
    assert token_request.header("X-Api-Key") is None
    assert api_request.header("X-Api-Key") == API_KEY


# -- whatever the client's settings -----------------------------------------------


def test_redirect_not_followed_by_a_following_client_sync() -> None:
    with serving([Reply()]) as elsewhere, serving([redirect_to(elsewhere)]) as server:
        auth = TokenAuth(
            flow_to(server.url()), client=httpx.Client(follow_redirects=True)
        )
        with httpx.Client(auth=auth) as client, pytest.raises(HttpError) as raised:
            client.get(elsewhere.url("/api"))
    check_not_followed(raised.value, elsewhere)


@pytest.mark.anyio
async def test_redirect_not_followed_by_a_following_client_async() -> None:
    with serving([Reply()]) as elsewhere, serving([redirect_to(elsewhere)]) as server:
        users = httpx.AsyncClient(follow_redirects=True)
        auth = TokenAuth(flow_to(server.url()), async_client=users)
        async with users, httpx.AsyncClient(auth=auth) as client:
            with pytest.raises(HttpError) as raised:
                await client.get(elsewhere.url("/api"))
    check_not_followed(raised.value, elsewhere)


def redirect_to(server: Server) -> Reply:
    return Reply(status=302, headers=(("Location", server.url("/moved")),))


def check_not_followed(error: HttpError, elsewhere: Server) -> None:
    assert error.status == 302
    assert error.location == elsewhere.url("/moved")
    assert elsewhere.requests == []  # neither the token request nor the API call


def oversized() -> Reply:
    body = json.dumps({**token_body(), "padding": "x" * 5000}).encode()
    return Reply(body=body)


def test_body_over_the_cap_sync() -> None:
    with serving([oversized()]) as server, httpx.Client() as users:
        auth = TokenAuth(flow_to(server.url()), max_response_bytes=1000, client=users)
        with httpx.Client(auth=auth) as client, pytest.raises(TransportError) as raised:
            client.get(server.url("/api"))
    assert "over the 1000-byte limit" in raised.value.reason
    assert len(server.requests) == 1  # not retried: it would be as big again


@pytest.mark.anyio
async def test_body_over_the_cap_async() -> None:
    with serving([oversized()]) as server:
        async with httpx.AsyncClient() as users:
            auth = TokenAuth(
                flow_to(server.url()), max_response_bytes=1000, async_client=users
            )
            async with httpx.AsyncClient(auth=auth) as client:
                with pytest.raises(TransportError) as raised:
                    await client.get(server.url("/api"))
    assert "over the 1000-byte limit" in raised.value.reason
    assert len(server.requests) == 1


ENDLESS = Reply(fault="endless_body", chunked=True)


def test_endless_body_cut_at_the_cap_sync() -> None:
    with serving([ENDLESS]) as server, httpx.Client() as client:
        request = flow_to(server.url()).token_request()
        with pytest.raises(TransportError, match="over the 100000-byte limit"):
            send(request, client=client, timeout=10, max_response_bytes=100_000)


@pytest.mark.anyio
async def test_endless_body_cut_at_the_cap_async() -> None:
    with serving([ENDLESS]) as server:
        async with httpx.AsyncClient() as client:
            request = flow_to(server.url()).token_request()
            with pytest.raises(TransportError, match="over the 100000-byte limit"):
                await send_async(
                    request, client=client, timeout=10, max_response_bytes=100_000
                )


SLOW = [
    pytest.param(Reply(fault="hang"), id="no answer"),
    pytest.param(token_reply(delay=5), id="a late answer"),
    # The head at once, then a byte every 0.1 s: no read ever times out.
    pytest.param(Reply(body=b"x" * 100, fault="trickle_body"), id="a trickled body"),
]


@pytest.mark.parametrize("reply", SLOW)
def test_slow_token_endpoint_ends_by_the_timeout_sync(reply: Reply) -> None:
    with serving([reply]) as server, httpx.Client(timeout=60) as client:
        request = flow_to(server.url()).token_request()
        started = time.monotonic()
        with pytest.raises(TransportError, match=r"timed out after 0\.5 s") as raised:
            send(request, client=client, timeout=0.5, max_response_bytes=100_000)
        elapsed = time.monotonic() - started
    assert elapsed < 2.0  # about the timeout; sync phases may overrun it once
    assert raised.value.retryable


@pytest.mark.anyio
@pytest.mark.parametrize("reply", SLOW)
async def test_slow_token_endpoint_ends_by_the_timeout_async(reply: Reply) -> None:
    with serving([reply]) as server:
        async with httpx.AsyncClient(timeout=60) as client:
            request = flow_to(server.url()).token_request()
            started = time.monotonic()
            with pytest.raises(TransportError, match=r"timed out after 0\.5 s"):
                await send_async(
                    request, client=client, timeout=0.5, max_response_bytes=100_000
                )
            elapsed = time.monotonic() - started
    assert elapsed < 1.5


DRIPS = [
    # A head that never ends: a header line after another.
    pytest.param(b"HTTP/1.1 200 OK\r\n", b"X-Slow: a\r\n", id="a dripped head"),
    pytest.param(
        b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n", b"a", id="a dripped body"
    ),
    # A chunk-size line that never ends.
    pytest.param(
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
        b"0",
        id="a dripped chunk-size line",
    ),
]


@pytest.mark.parametrize(("head", "drip"), DRIPS)
def test_dripped_answer_cut_at_the_timeout_sync(head: bytes, drip: bytes) -> None:
    # A byte every 0.05 s for 6 s: no read ever waits long, whatever the
    # client's own timeout.
    with dripping(head, drip) as url, httpx.Client(timeout=60) as client:
        request = flow_to(url).token_request()
        started = time.monotonic()
        with pytest.raises(TransportError, match=r"timed out after 1 s"):
            send(request, client=client, timeout=1, max_response_bytes=100_000)
        elapsed = time.monotonic() - started
    assert elapsed < 2.5  # the timeout, and a margin for a loaded machine


@pytest.mark.anyio
@pytest.mark.parametrize(("head", "drip"), DRIPS)
async def test_dripped_answer_cut_at_the_timeout_async(
    head: bytes, drip: bytes
) -> None:
    with dripping(head, drip) as url:
        async with httpx.AsyncClient(timeout=60) as client:
            request = flow_to(url).token_request()
            started = time.monotonic()
            with pytest.raises(TransportError, match=r"timed out after 1 s"):
                await send_async(
                    request, client=client, timeout=1, max_response_bytes=100_000
                )
            elapsed = time.monotonic() - started
    assert elapsed < 2.5


def test_slow_token_endpoint_raised_from_the_api_call() -> None:
    with serving([Reply(fault="hang")]) as server, httpx.Client() as users:
        auth = TokenAuth(flow_to(server.url()), timeout=0.3, client=users)
        with httpx.Client(auth=auth) as client, pytest.raises(TransportError) as raised:
            client.get(server.url("/api"))
    assert "timed out" in raised.value.reason


# -- loopback never through a proxy -------------------------------------------------

PROXIES = ["proxy=", "HTTP_PROXY"]


def unset_proxies(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("NO_PROXY", "ALL_PROXY", "HTTPS_PROXY", "HTTP_PROXY"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)


def proxied(
    how: str, proxy: Server, monkeypatch: pytest.MonkeyPatch
) -> dict[str, object]:
    """The options of a client whose http:// requests take *proxy*: given
    to it, or from the environment."""
    unset_proxies(monkeypatch)
    if how == "proxy=":
        return {"proxy": proxy.url(""), "trust_env": False}
    monkeypatch.setenv("HTTP_PROXY", proxy.url(""))
    return {"trust_env": True}


ELSEWHERE = HttpRequest(
    method="POST", url="http://auth.example/t", headers=(), body=b"x"
)


def access_token(body: bytes) -> object:
    return json.loads(body)["access_token"]


@pytest.mark.parametrize("how", PROXIES)
def test_loopback_token_request_never_through_the_proxy_sync(
    how: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    with (
        serving([token_reply("from-the-proxy")]) as proxy,
        serving([token_reply("direct")]) as server,
    ):
        with httpx.Client(**proxied(how, proxy, monkeypatch)) as client:  # type: ignore[arg-type]
            loopback = send(flow_to(server.url()).token_request(), client=client)
            # Anywhere else, the proxy as the client says.
            elsewhere = send(ELSEWHERE, client=client)
        assert access_token(loopback.body) == "direct"
        assert len(server.requests) == 1
        assert access_token(elsewhere.body) == "from-the-proxy"
        assert [r.target for r in proxy.requests] == ["http://auth.example/t"]


@pytest.mark.anyio
@pytest.mark.parametrize("how", PROXIES)
async def test_loopback_token_request_never_through_the_proxy_async(
    how: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    with (
        serving([token_reply("from-the-proxy")]) as proxy,
        serving([token_reply("direct")]) as server,
    ):
        options = proxied(how, proxy, monkeypatch)
        async with httpx.AsyncClient(**options) as client:  # type: ignore[arg-type]
            loopback = await send_async(
                flow_to(server.url()).token_request(), client=client
            )
            elsewhere = await send_async(ELSEWHERE, client=client)
        assert access_token(loopback.body) == "direct"
        assert len(server.requests) == 1
        assert access_token(elsewhere.body) == "from-the-proxy"
        assert [r.target for r in proxy.requests] == ["http://auth.example/t"]


def test_loopback_token_request_through_a_proxy_transport_given_as_transport() -> None:
    # The client's own transport is the proxy's: a direct one of ours.
    with (
        serving([token_reply("from-the-proxy")]) as proxy,
        serving([token_reply("direct")]) as server,
    ):
        transport = httpx.HTTPTransport(proxy=proxy.url(""))
        with httpx.Client(transport=transport, trust_env=False) as client:
            response = send(flow_to(server.url()).token_request(), client=client)
        assert access_token(response.body) == "direct"
        assert proxy.requests == []


LOOPBACK_TOKEN_URL = "http://127.0.0.1:8/oauth/token"


def test_loopback_token_requests_still_seen_by_the_users_mocks(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A mocking tool is no proxy: a loopback token request still reaches
    # it, whether a mount, the client's transport under a proxy, or respx.
    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(str(request.url))
        return httpx.Response(200, json=token_body())

    seen: list[str] = []
    request = flow_to(LOOPBACK_TOKEN_URL).token_request()
    with serving() as proxy:
        mounted = {"http://127.0.0.1": httpx.MockTransport(answer)}
        with httpx.Client(proxy=proxy.url(""), mounts=mounted) as client:
            assert send(request, client=client).status == 200
        with httpx.Client(
            proxy=proxy.url(""), transport=httpx.MockTransport(answer)
        ) as client:
            assert send(request, client=client).status == 200
        assert seen == [LOOPBACK_TOKEN_URL] * 2
        unset_proxies(monkeypatch)
        monkeypatch.setenv("HTTP_PROXY", proxy.url(""))
        with respx.mock(assert_all_called=True) as router:
            route = router.post(LOOPBACK_TOKEN_URL).respond(200, json=token_body())
            with httpx.Client() as client:
                assert send(request, client=client).status == 200
            assert route.call_count == 1
        assert proxy.requests == []


# -- TLS as the user's client verifies it ------------------------------------------


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def tls_server(ca: trustme.CA) -> Iterator[TokenServer]:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ca.issue_cert("127.0.0.1", "localhost").configure_cert(context)
    with TokenServer(ssl_context=context) as server:
        yield server


def trusting(ca: trustme.CA) -> ssl.SSLContext:
    context = ssl.create_default_context()
    ca.configure_trust(context)
    return context


def test_tls_verified_as_the_users_client_says_sync(
    tls_server: TokenServer, ca: trustme.CA
) -> None:
    with httpx.Client(verify=trusting(ca)) as client:
        client.auth = TokenAuth(flow_for(tls_server), timeout=5, client=client)
        assert client.get(tls_server.resource_url).status_code == 200
    assert len(tls_server.token_requests()) == 1


@pytest.mark.anyio
async def test_tls_verified_as_the_users_client_says_async(
    tls_server: TokenServer, ca: trustme.CA
) -> None:
    async with httpx.AsyncClient(verify=trusting(ca)) as client:
        client.auth = TokenAuth(flow_for(tls_server), timeout=5, async_client=client)
        assert (await client.get(tls_server.resource_url)).status_code == 200
    assert len(tls_server.token_requests()) == 1


def check_untrusted(error: TransportError, server: TokenServer) -> None:
    assert "certificate verification failed" in error.reason
    assert not error.retryable
    assert server.requests == []


def test_untrusted_certificate_refused_by_default_sync(
    tls_server: TokenServer, ca: trustme.CA
) -> None:
    # The API client trusts the CA; our own token transport does not.
    auth = TokenAuth(flow_for(tls_server), timeout=5)
    with (
        httpx.Client(auth=auth, verify=trusting(ca)) as client,
        pytest.raises(TransportError) as raised,
    ):
        client.get(tls_server.resource_url)
    check_untrusted(raised.value, tls_server)


@pytest.mark.anyio
async def test_untrusted_certificate_refused_by_default_async(
    tls_server: TokenServer, ca: trustme.CA
) -> None:
    auth = TokenAuth(flow_for(tls_server), timeout=5)
    async with httpx.AsyncClient(auth=auth, verify=trusting(ca)) as client:
        with pytest.raises(TransportError) as raised:
            await client.get(tls_server.resource_url)
    check_untrusted(raised.value, tls_server)


def test_untrusted_certificate_refused_by_a_verifying_users_client(
    tls_server: TokenServer,
) -> None:
    with httpx.Client() as users:  # httpx's own default: certifi's roots
        auth = TokenAuth(flow_for(tls_server), timeout=5, client=users)
        with httpx.Client(auth=auth) as client, pytest.raises(TransportError) as raised:
            client.get(tls_server.resource_url)
    check_untrusted(raised.value, tls_server)


# -- no secret in what is raised ---------------------------------------------------


def echoing(received: Received) -> Reply:
    """A hostile token endpoint: the request's body (the client secret in it)
    in its error, its Location and a header."""
    echoed = received.body.decode()
    if received.target.endswith("/redirect"):
        return Reply(
            status=302, headers=(("Location", f"https://x.example/?{echoed}"),)
        )
    body = json.dumps({"error": "invalid_client", "error_description": echoed})
    return Reply(status=400, headers=(("X-Echo", echoed),), body=body.encode())


def shown(error: BaseException) -> str:
    """Everything a log shipper could read of *error*."""
    return "".join(
        [str(error), repr(error), *traceback.format_exception(error)]
        + [repr(getattr(error, name, "")) for name in ("__context__", "__cause__")]
    )


@pytest.mark.parametrize(
    ("path", "expected"), [("/token", OAuthError), ("/redirect", HttpError)]
)
def test_no_secret_in_what_is_raised_sync(
    path: str, expected: type[TokenError]
) -> None:
    with serving(echoing) as server, httpx.Client() as users:
        auth = TokenAuth(flow_to(server.url(path)), client=users)
        with httpx.Client(auth=auth) as client, pytest.raises(expected) as raised:
            client.get(server.url("/api"))
        assert CLIENT_SECRET in server.requests[0].body.decode()  # it was echoed
    assert CLIENT_SECRET not in shown(raised.value)


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("path", "expected"), [("/token", OAuthError), ("/redirect", HttpError)]
)
async def test_no_secret_in_what_is_raised_async(
    path: str, expected: type[TokenError]
) -> None:
    with serving(echoing) as server:
        async with httpx.AsyncClient() as users:
            auth = TokenAuth(flow_to(server.url(path)), async_client=users)
            async with httpx.AsyncClient(auth=auth) as client:
                with pytest.raises(expected) as raised:
                    await client.get(server.url("/api"))
    assert CLIENT_SECRET not in shown(raised.value)


def test_transport_error_detached_from_httpx_exceptions() -> None:
    # httpx's exceptions may quote what a server sent: none is kept.
    with serving([Reply(fault="garbage")]) as server, httpx.Client() as client:
        request = flow_to(server.url()).token_request()
        with pytest.raises(TransportError) as raised:
            send(request, client=client, timeout=5, max_response_bytes=1000)
    check_detached(raised.value)


@pytest.mark.anyio
async def test_transport_error_detached_from_httpx_exceptions_async() -> None:
    with serving([Reply(fault="garbage")]) as server:
        async with httpx.AsyncClient() as client:
            request = flow_to(server.url()).token_request()
            with pytest.raises(TransportError) as raised:
                await send_async(
                    request, client=client, timeout=5, max_response_bytes=1000
                )
    check_detached(raised.value)


def check_detached(error: TransportError) -> None:
    assert error.__context__ is None
    assert error.__cause__ is None
    assert "NOT HTTP" not in shown(error)
    assert error.reason.startswith("network error with 127.0.0.1:")


# -- arguments -------------------------------------------------------------------


def test_arguments_checked_at_construction() -> None:
    flow = flow_to(TOKEN_URL)
    with pytest.raises(TypeError, match="flow must be a Flow"):
        TokenAuth(object())  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="timeout must be"):
        TokenAuth(flow, timeout=0)
    with pytest.raises(TypeError, match="max_response_bytes must be an int"):
        TokenAuth(flow, max_response_bytes=CLIENT_SECRET)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="clock must be"):
        TokenAuth(flow, clock=CLIENT_SECRET)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"^client must be an httpx\.Client, got As"):
        TokenAuth(flow, client=httpx.AsyncClient())  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"async_client must be an httpx\.AsyncClient"):
        TokenAuth(flow, async_client=httpx.Client())  # type: ignore[arg-type]
    closed = httpx.Client()
    closed.close()
    with pytest.raises(RuntimeError, match=r"client \(.*\) is closed"):
        TokenAuth(flow, client=closed)


def test_messages_never_show_a_value() -> None:
    flow = flow_to(TOKEN_URL)
    for bad in ({"timeout": CLIENT_SECRET}, {"max_response_bytes": CLIENT_SECRET}):
        with pytest.raises((TypeError, ValueError)) as raised:
            TokenAuth(flow, **bad)  # type: ignore[arg-type]
        assert CLIENT_SECRET not in str(raised.value)


def test_closed_users_client_raises_at_the_token_request() -> None:
    users = httpx.Client(transport=httpx.MockTransport(MockedVendor()))
    auth = TokenAuth(flow_to(TOKEN_URL), client=users)
    users.close()
    api = httpx.MockTransport(MockedVendor())
    with (
        httpx.Client(auth=auth, transport=api) as client,
        pytest.raises(RuntimeError, match="is closed"),
    ):
        client.get(API_URL)


def test_token_outside_ascii_set_as_httpx_would() -> None:
    # Not one a server should issue (RFC 6750's b64token is ASCII), but the
    # core takes it: httpx's own header setting encodes it.
    seen: list[httpx.Headers] = []

    def vendor(request: httpx.Request) -> httpx.Response:
        if str(request.url) == TOKEN_URL:
            return httpx.Response(200, json=token_body("at-tök"))
        seen.append(request.headers)
        return httpx.Response(200)

    with httpx.Client(transport=httpx.MockTransport(vendor)) as client:
        client.auth = TokenAuth(flow_to(TOKEN_URL), client=client)
        assert client.get(API_URL).status_code == 200
    (headers,) = seen
    assert (b"Authorization", "Bearer at-tök".encode()) in headers.raw


@pytest.mark.parametrize("package", ["httpx", "anyio"])
def test_without_a_package_of_the_extra_the_import_names_it(package: str) -> None:
    from test_extras import IMPORT_ERROR, run_without

    done = run_without((package,), IMPORT_ERROR.format(module="httpx"))
    assert done.returncode == 0, done.stderr
    error = json.loads(done.stdout)
    assert error is not None
    assert error["name"] == package
    assert f"needs the {package!r} package" in error["message"]
    assert "pip install 'sansio-auth[httpx]'" in error["message"]
