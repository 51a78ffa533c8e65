"""``sansio_auth.adapters.httpx.TokenAuth`` against the local token server.

Issue 12's behaviours, each for ``httpx.Client`` (threads) and for
``httpx.AsyncClient`` on asyncio and on trio (anyio's pytest plugin runs each
``anyio`` test on both backends): the header, a caller's own
``Authorization``, one token request for a cold burst, a loop that keeps
running, the 401 paths (revoked token, a 401 on the retry, a body that
cannot be sent again, a 403, the challenges) and the token endpoint's
failures raised as the session's ``TokenError``. The server's resource
checks the tokens for real; its record of requests says how many token
requests and API requests were made, and with which token.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import anyio
import httpx
import pytest
from http_server import Received, Reply, Server, serving
from integrations import (
    BLOCKED,
    SLOW_TOKEN,
    Ticker,
    api_requests,
    closed_port,
    flow_for,
    in_tasks,
    in_threads,
)

from sansio_auth import (
    ClientCredentials,
    HttpError,
    OAuthError,
    TokenError,
    TransportError,
)
from sansio_auth.adapters.httpx import TokenAuth
from sansio_auth.adapters.server import TokenServer

TIMEOUT = 10.0


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    backend: str = request.param
    return backend


def auth_for(server: TokenServer) -> TokenAuth:
    return TokenAuth(flow_for(server), timeout=TIMEOUT)


def bearers(server: TokenServer) -> list[str | None]:
    """The Authorization each API request carried, in order."""
    return [r.header("Authorization") for r in api_requests(server)]


def token_count(server: TokenServer) -> int:
    return len(server.token_requests())


def assert_ours(server: TokenServer, value: str | None) -> None:
    """*value* is the Authorization of a token the server issued."""
    assert value is not None
    scheme, _, token = value.partition(" ")
    assert scheme == "Bearer"
    assert server.verify(token) is not None


def revoke_current(server: TokenServer) -> str:
    """Revoke the token the last API request carried; forget the record."""
    value = bearers(server)[-1]
    assert value is not None
    server.revoke(value.partition(" ")[2])
    server.clear()
    return value


# -- every request carries a token's Authorization ---------------------------


def test_header_set_sync(token_server: TokenServer) -> None:
    with httpx.Client(auth=auth_for(token_server)) as client:
        response = client.get(token_server.resource_url)
    assert response.status_code == 200
    assert token_count(token_server) == 1
    assert_ours(token_server, bearers(token_server)[0])


@pytest.mark.anyio
async def test_header_set_async(token_server: TokenServer) -> None:
    async with httpx.AsyncClient(auth=auth_for(token_server)) as client:
        response = await client.get(token_server.resource_url)
    assert response.status_code == 200
    assert token_count(token_server) == 1
    assert_ours(token_server, bearers(token_server)[0])


def test_header_of_the_hot_token_on_later_requests_sync(
    token_server: TokenServer,
) -> None:
    with httpx.Client(auth=auth_for(token_server)) as client:
        for _ in range(3):
            assert client.get(token_server.resource_url).status_code == 200
    assert token_count(token_server) == 1
    assert len(set(bearers(token_server))) == 1


def test_callers_authorization_left_alone_sync(token_server: TokenServer) -> None:
    with httpx.Client(auth=auth_for(token_server)) as client:
        response = client.get(
            token_server.resource_url, headers={"authorization": "Bearer mine"}
        )
    # Refused, and passed back as it came: not ours to judge or retry.
    assert response.status_code == 401
    assert token_count(token_server) == 0
    assert bearers(token_server) == ["Bearer mine"]


@pytest.mark.anyio
async def test_callers_authorization_left_alone_async(
    token_server: TokenServer,
) -> None:
    async with httpx.AsyncClient(auth=auth_for(token_server)) as client:
        response = await client.get(
            token_server.resource_url, headers={"Authorization": "Basic bWU6eA=="}
        )
    assert response.status_code == 401
    assert token_count(token_server) == 0
    assert bearers(token_server) == ["Basic bWU6eA=="]


def test_callers_authorization_found_without_the_header_list(
    token_server: TokenServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The public spelling, for an httpx that keeps its headers otherwise.
    from sansio_auth.adapters import _httpx_headers

    monkeypatch.setattr(_httpx_headers, "_HEADER_LIST", False)
    with httpx.Client(auth=auth_for(token_server)) as client:
        mine = client.get(
            token_server.resource_url, headers={"Authorization": "Bearer mine"}
        )
        ours = client.get(token_server.resource_url)
    assert (mine.status_code, ours.status_code) == (401, 200)
    assert token_count(token_server) == 1


# -- a cold burst makes one token request --------------------------------------


def test_cold_burst_of_32_threads_one_token_request(token_server: TokenServer) -> None:
    with httpx.Client(auth=auth_for(token_server)) as client:
        statuses = in_threads(
            32, lambda _: client.get(token_server.resource_url).status_code
        )
    assert statuses == [200] * 32
    assert token_count(token_server) == 1


@pytest.mark.anyio
async def test_cold_burst_of_500_tasks_one_token_request(
    token_server: TokenServer,
) -> None:
    async with httpx.AsyncClient(auth=auth_for(token_server), timeout=60) as client:
        responses = await in_tasks(500, lambda: client.get(token_server.resource_url))
        statuses = [r.status_code for r in responses]
    assert statuses == [200] * 500
    assert token_count(token_server) == 1


@pytest.mark.anyio
@pytest.mark.parametrize("via", ["our send", "the user's AsyncClient"])
async def test_loop_keeps_running_while_a_burst_waits_for_the_token(
    token_server: TokenServer, via: str
) -> None:
    # Every answer, the token's included, takes SLOW_TOKEN seconds: a fetch
    # that blocked the loop would stop the ticker for that long.
    token_server.set_latency(SLOW_TOKEN)
    ticker = Ticker()
    async with httpx.AsyncClient(timeout=60) as client:
        client.auth = TokenAuth(
            flow_for(token_server),
            timeout=TIMEOUT,
            async_client=client if via != "our send" else None,
        )
        async with anyio.create_task_group() as group:
            group.start_soon(ticker.run)
            responses = await in_tasks(
                50, lambda: client.get(token_server.resource_url)
            )
            ticker.done.set()
    statuses = [r.status_code for r in responses]
    assert statuses == [200] * 50
    assert token_count(token_server) == 1
    assert ticker.max_gap < BLOCKED


# -- a 401: invalidate, one token request, send once more ----------------------


def test_revoked_token_burst_of_100_threads_one_token_request(
    token_server: TokenServer,
) -> None:
    with httpx.Client(auth=auth_for(token_server)) as client:
        assert client.get(token_server.resource_url).status_code == 200
        old = revoke_current(token_server)
        # Held answers: all 100 are sent with the revoked token before the
        # first 401 comes back.
        token_server.set_latency(0.3)
        statuses = in_threads(
            100, lambda _: client.get(token_server.resource_url).status_code
        )
    check_revoked_burst(token_server, old, statuses)


@pytest.mark.anyio
async def test_revoked_token_burst_of_100_tasks_one_token_request(
    token_server: TokenServer,
) -> None:
    async with httpx.AsyncClient(auth=auth_for(token_server), timeout=60) as client:
        assert (await client.get(token_server.resource_url)).status_code == 200
        old = revoke_current(token_server)
        token_server.set_latency(0.3)
        responses = await in_tasks(100, lambda: client.get(token_server.resource_url))
        statuses = [r.status_code for r in responses]
    check_revoked_burst(token_server, old, statuses)


def check_revoked_burst(server: TokenServer, old: str, statuses: list[int]) -> None:
    assert statuses == [200] * 100
    assert token_count(server) == 1
    sent = bearers(server)
    # Each request sent twice: with the revoked token, then with the new one.
    assert len(sent) == 200
    assert sent.count(old) == 100
    (new,) = set(sent) - {old}
    assert_ours(server, new)


def fail_api_twice_with_401(server: TokenServer) -> None:
    server.fail_next(2, status=401, endpoint="resource", retry_after=None)


def test_401_on_the_retry_goes_back_sync(token_server: TokenServer) -> None:
    with httpx.Client(auth=auth_for(token_server)) as client:
        fail_api_twice_with_401(token_server)
        response = client.get(token_server.resource_url)
        assert response.status_code == 401
        assert len(api_requests(token_server)) == 2  # never a third send
        assert token_count(token_server) == 2
        # The retry's token is kept: the next request uses it.
        assert client.get(token_server.resource_url).status_code == 200
    assert token_count(token_server) == 2


@pytest.mark.anyio
async def test_401_on_the_retry_goes_back_async(token_server: TokenServer) -> None:
    async with httpx.AsyncClient(auth=auth_for(token_server)) as client:
        fail_api_twice_with_401(token_server)
        response = await client.get(token_server.resource_url)
        assert response.status_code == 401
        assert len(api_requests(token_server)) == 2
        assert token_count(token_server) == 2
        assert (await client.get(token_server.resource_url)).status_code == 200
    assert token_count(token_server) == 2


def body_pieces() -> Iterator[bytes]:
    yield b"he"
    yield b"llo"


async def async_body_pieces() -> AsyncIterator[bytes]:
    yield b"he"
    yield b"llo"


# A length given, so that the body goes unchunked (the server takes no
# chunked request), still read from the generator as it is sent.
LENGTH = {"Content-Length": "5"}


def test_unreplayable_body_not_sent_again_sync(token_server: TokenServer) -> None:
    with httpx.Client(auth=auth_for(token_server)) as client:
        assert client.get(token_server.resource_url).status_code == 200
        revoke_current(token_server)
        response = client.post(
            token_server.resource_url, content=body_pieces(), headers=LENGTH
        )
        assert response.status_code == 401
        assert [r.method for r in api_requests(token_server)] == ["POST"]
        assert token_count(token_server) == 0
        # Invalidated all the same: the next request fetches a new token.
        assert client.get(token_server.resource_url).status_code == 200
    assert token_count(token_server) == 1


@pytest.mark.anyio
async def test_unreplayable_body_not_sent_again_async(
    token_server: TokenServer,
) -> None:
    async with httpx.AsyncClient(auth=auth_for(token_server)) as client:
        assert (await client.get(token_server.resource_url)).status_code == 200
        revoke_current(token_server)
        response = await client.post(
            token_server.resource_url, content=async_body_pieces(), headers=LENGTH
        )
        assert response.status_code == 401
        assert [r.method for r in api_requests(token_server)] == ["POST"]
        assert token_count(token_server) == 0
        assert (await client.get(token_server.resource_url)).status_code == 200
    assert token_count(token_server) == 1


def test_replayable_body_sent_again_with_the_new_token_sync(
    token_server: TokenServer,
) -> None:
    with httpx.Client(auth=auth_for(token_server)) as client:
        assert client.get(token_server.resource_url).status_code == 200
        revoke_current(token_server)
        response = client.put(token_server.resource_url, json={"a": 1})
    assert response.status_code == 200
    assert response.json()["body_bytes"] == len(b'{"a":1}')
    first, second = api_requests(token_server)
    assert first.body == second.body == b'{"a":1}'


# -- what a response says of the token --------------------------------------


def test_403_not_retried_sync(token_server: TokenServer) -> None:
    with httpx.Client(auth=auth_for(token_server)) as client:
        token_server.fail_next(1, status=403, endpoint="resource", retry_after=None)
        assert client.get(token_server.resource_url).status_code == 403
        assert len(api_requests(token_server)) == 1
        assert client.get(token_server.resource_url).status_code == 200
    assert token_count(token_server) == 1  # kept


@pytest.mark.anyio
async def test_403_not_retried_async(token_server: TokenServer) -> None:
    async with httpx.AsyncClient(auth=auth_for(token_server)) as client:
        token_server.fail_next(1, status=403, endpoint="resource", retry_after=None)
        assert (await client.get(token_server.resource_url)).status_code == 403
        assert len(api_requests(token_server)) == 1
        assert (await client.get(token_server.resource_url)).status_code == 200
    assert token_count(token_server) == 1


INVALID_TOKEN = ("WWW-Authenticate", 'Bearer realm="api", error="invalid_token"')
BASIC_ONLY = ("WWW-Authenticate", 'Basic realm="elsewhere"')


def test_bearer_invalid_token_retried_sync(token_server: TokenServer) -> None:
    token_server.fail_next(
        1, status=401, endpoint="resource", retry_after=None, headers=[INVALID_TOKEN]
    )
    with httpx.Client(auth=auth_for(token_server)) as client:
        assert client.get(token_server.resource_url).status_code == 200
    assert len(api_requests(token_server)) == 2
    assert token_count(token_server) == 2


@pytest.mark.anyio
async def test_bearer_invalid_token_retried_async(token_server: TokenServer) -> None:
    token_server.fail_next(
        1, status=401, endpoint="resource", retry_after=None, headers=[INVALID_TOKEN]
    )
    async with httpx.AsyncClient(auth=auth_for(token_server)) as client:
        assert (await client.get(token_server.resource_url)).status_code == 200
    assert len(api_requests(token_server)) == 2
    assert token_count(token_server) == 2


def test_other_schemes_401_passed_back_untouched_sync(
    token_server: TokenServer,
) -> None:
    with httpx.Client(auth=auth_for(token_server)) as client:
        token_server.fail_next(
            1, status=401, endpoint="resource", retry_after=None, headers=[BASIC_ONLY]
        )
        response = client.get(token_server.resource_url)
        assert response.status_code == 401
        assert response.headers["www-authenticate"] == BASIC_ONLY[1]
        assert len(api_requests(token_server)) == 1
        assert client.get(token_server.resource_url).status_code == 200
    assert token_count(token_server) == 1  # kept


@pytest.mark.anyio
async def test_other_schemes_401_passed_back_untouched_async(
    token_server: TokenServer,
) -> None:
    async with httpx.AsyncClient(auth=auth_for(token_server)) as client:
        token_server.fail_next(
            1, status=401, endpoint="resource", retry_after=None, headers=[BASIC_ONLY]
        )
        response = await client.get(token_server.resource_url)
        assert response.status_code == 401
        assert response.headers["www-authenticate"] == BASIC_ONLY[1]
        assert len(api_requests(token_server)) == 1
        assert (await client.get(token_server.resource_url)).status_code == 200
    assert token_count(token_server) == 1


# -- a 401 reached through a redirect httpx followed ----------------------------

REFUSED_THERE = Reply(
    status=401, headers=(("WWW-Authenticate", 'Bearer error="invalid_token"'),)
)


def redirect(location: str) -> Reply:
    return Reply(status=302, headers=(("Location", location),))


def check_foreign_401(api: Server, other: Server, server: TokenServer) -> None:
    """Each of 3 calls went to the API with our token, was redirected to
    the other origin without it, got its 401 back; one token request."""
    assert len(api.requests) == 3
    assert {r.header("Authorization") for r in api.requests} != {None}
    assert len(other.requests) == 3
    assert all(r.header("Authorization") is None for r in other.requests)
    assert token_count(server) == 1  # the token kept: no request, no resend


def test_another_origins_401_after_a_redirect_keeps_the_token_sync(
    token_server: TokenServer,
) -> None:
    with serving([REFUSED_THERE]) as other, serving([redirect(other.url())]) as api:
        auth = auth_for(token_server)
        with httpx.Client(auth=auth, follow_redirects=True) as client:
            for _ in range(3):
                assert client.get(api.url("/download")).status_code == 401
        check_foreign_401(api, other, token_server)


@pytest.mark.anyio
async def test_another_origins_401_after_a_redirect_keeps_the_token_async(
    token_server: TokenServer,
) -> None:
    with serving([REFUSED_THERE]) as other, serving([redirect(other.url())]) as api:
        auth = auth_for(token_server)
        async with httpx.AsyncClient(auth=auth, follow_redirects=True) as client:
            for _ in range(3):
                assert (await client.get(api.url("/download"))).status_code == 401
        check_foreign_401(api, other, token_server)


def same_origin_redirect(received: Received) -> Reply:
    """/start redirects to /end, which refuses the token."""
    return redirect("/end") if received.target == "/start" else REFUSED_THERE


def check_same_origin_401(api: Server, server: TokenServer) -> None:
    # Our token went to /end with the redirect: its 401 is about it, so the
    # request was sent once more (/start, /end again) with a new token.
    assert [r.target for r in api.requests] == ["/start", "/end"] * 2
    assert token_count(server) == 2
    first, second = api.requests[1], api.requests[3]
    assert first.header("Authorization") != second.header("Authorization")


def test_same_origins_401_after_a_redirect_refreshes_the_token_sync(
    token_server: TokenServer,
) -> None:
    with serving(same_origin_redirect) as api:
        auth = auth_for(token_server)
        with httpx.Client(auth=auth, follow_redirects=True) as client:
            assert client.get(api.url("/start")).status_code == 401
        check_same_origin_401(api, token_server)


@pytest.mark.anyio
async def test_same_origins_401_after_a_redirect_refreshes_the_token_async(
    token_server: TokenServer,
) -> None:
    with serving(same_origin_redirect) as api:
        auth = auth_for(token_server)
        async with httpx.AsyncClient(auth=auth, follow_redirects=True) as client:
            assert (await client.get(api.url("/start"))).status_code == 401
        check_same_origin_401(api, token_server)


# -- a token endpoint that fails raises the session's TokenError ---------------


def failing(server: TokenServer, how: str) -> tuple[TokenAuth, type[TokenError]]:
    """A TokenAuth whose token endpoint fails *how*, and the error expected."""
    if how == "wrong secret":
        return TokenAuth(flow_for(server, secret="not-the-secret")), OAuthError
    if how == "5xx":
        server.fail_next(20, status=503, endpoint="generic", retry_after=0)
        return auth_for(server), HttpError
    refused = ClientCredentials(
        token_url=f"http://127.0.0.1:{closed_port()}/token",
        client_id="id",
        client_secret="secret-of-a-refused-port",
    )
    return TokenAuth(refused, timeout=TIMEOUT), TransportError


HOW = ["wrong secret", "5xx", "refused port"]


def check_raised(error: BaseException, expected: type[TokenError]) -> None:
    assert type(error) is expected
    assert not isinstance(error, httpx.HTTPError)
    if isinstance(error, HttpError):
        assert error.status == 503


@pytest.mark.parametrize("how", HOW)
def test_token_endpoint_failure_raised_as_token_error_sync(
    token_server: TokenServer, how: str
) -> None:
    auth, expected = failing(token_server, how)
    with httpx.Client(auth=auth) as client, pytest.raises(TokenError) as raised:
        client.get(token_server.resource_url)
    check_raised(raised.value, expected)
    assert api_requests(token_server) == []


@pytest.mark.anyio
@pytest.mark.parametrize("how", HOW)
async def test_token_endpoint_failure_raised_as_token_error_async(
    token_server: TokenServer, how: str
) -> None:
    auth, expected = failing(token_server, how)
    async with httpx.AsyncClient(auth=auth) as client:
        with pytest.raises(TokenError) as raised:
            await client.get(token_server.resource_url)
    check_raised(raised.value, expected)
    assert api_requests(token_server) == []
