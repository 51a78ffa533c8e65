"""What the adapters log (issue 10, points 17 and the review that followed).

* A refresh refused with ``invalid_grant`` may mean a stolen refresh token was
  replayed: every adapter logs it at WARNING, with no secret, counts it in
  ``session.stats.refresh_rejected``, and the caller still gets a token.
* A key in the token URL's query (Azure Functions' ``?code=``) never reaches
  a log record, a repr or an error: URLs are logged with their query values
  masked, and the query is among the secrets of the request.

Real servers on loopback, every adapter: urllib, trio, anyio on asyncio and
on trio.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import anyio
import attrs
import pytest
import trio
from http_server import Received, Reply, Server
from log_records import records

from sansio_auth import ClientCredentials, RetryPolicy, Token, TokenError, TokenSession
from sansio_auth.adapters import anyio as anyio_adapter
from sansio_auth.adapters import trio as trio_adapter
from sansio_auth.adapters import urllib as urllib_adapter

WORLDS = ("urllib", "trio", "anyio-asyncio", "anyio-trio")
T0 = 1_700_000_000.0
REFRESH_TOKEN = "rt-STOLEN-maybe-7f3a9c2e"
SECRET = "cs-SECRET-0a1b2c3d"
QUERY_KEY = "FUNCKEY-9f8e7d6c5b4a3928"


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> float:
        return self.now


def run(world: str, client: Any, calls: int, clock: Clock) -> list[Any]:
    """*calls* calls of ``token()``, 200 s apart: each result or error."""

    def sync() -> list[Any]:
        out: list[Any] = []
        for _ in range(calls):
            try:
                out.append(client.token())
            except TokenError as exc:
                out.append(exc)
            clock.now += 200
        return out

    async def asynchronous() -> list[Any]:
        out: list[Any] = []
        for _ in range(calls):
            try:
                out.append(await client.token())
            except TokenError as exc:
                out.append(exc)
            clock.now += 200
        return out

    if world == "urllib":
        return sync()
    if world == "trio":
        return trio.run(asynchronous)
    backend = "asyncio" if world == "anyio-asyncio" else "trio"
    return anyio.run(asynchronous, backend=backend)


def client_for(world: str, flow: ClientCredentials, clock: Clock) -> Any:
    session = TokenSession(flow, retry=RetryPolicy(max_attempts=1))
    module: Any = {
        "urllib": urllib_adapter,
        "trio": trio_adapter,
        "anyio-asyncio": anyio_adapter,
        "anyio-trio": anyio_adapter,
    }[world]
    return module.TokenClient(flow, timeout=5, session=session, clock=clock)


@attrs.define
class RefusesRefresh:
    """A token with a refresh token, then ``invalid_grant`` for the refresh,
    then a token again for the new acquisition."""

    def __call__(self, received: Received) -> Reply:
        if b"grant_type=refresh_token" in received.body:
            body = {"error": "invalid_grant", "error_description": "already used"}
            return Reply(status=400, body=json.dumps(body).encode())
        token: dict[str, object] = {
            "access_token": "at-0123456789",
            "expires_in": 100,
            "refresh_token": REFRESH_TOKEN,
        }
        return Reply(body=json.dumps(token).encode())


@pytest.mark.parametrize("world", WORLDS)
def test_a_refused_refresh_is_a_warning_and_not_a_failure(world: str) -> None:
    clock = Clock()
    with Server(RefusesRefresh()) as server:
        flow = ClientCredentials(
            token_url=server.url(), client_id="app-id", client_secret=SECRET
        )
        client = client_for(world, flow, clock)
        with records() as logs:
            first, second = run(world, client, 2, clock)
        grants = [r.body.split(b"&")[0] for r in server.requests]
    assert isinstance(first, Token)
    assert isinstance(second, Token)  # acquired anew at once
    assert grants == [
        b"grant_type=client_credentials",
        b"grant_type=refresh_token",
        b"grant_type=client_credentials",
    ]
    stats = client.session.stats
    assert stats.refresh_rejected == 1
    assert stats.failures == 0
    warnings = [r for r in logs if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "refresh token refused" in warnings[0].getMessage()
    assert server.url() in warnings[0].getMessage()
    for record in logs:
        assert REFRESH_TOKEN not in record.getMessage()
        assert SECRET not in record.getMessage()


@pytest.mark.parametrize("world", WORLDS)
def test_a_key_in_the_token_url_query_is_logged_masked(world: str) -> None:
    # A server that says what it could not route, path and query.
    def not_found(received: Received) -> Reply:
        page = f"<pre>Cannot POST {received.target}</pre>"
        return Reply(
            status=404, headers=(("Content-Type", "text/html"),), body=page.encode()
        )

    with Server(not_found) as server:
        url = server.url(f"/api/token?code={QUERY_KEY}")
        flow = ClientCredentials(
            token_url=url, client_id="app-id", client_secret=SECRET
        )
        clock = Clock()
        client = client_for(world, flow, clock)
        with records() as logs:
            (error,) = run(world, client, 1, clock)
    assert isinstance(error, TokenError)
    shown = [record.getMessage() for record in logs]
    shown += [str(error), repr(error), repr(client.session.stats)]
    shown += [str(v) for v in attrs.asdict(error).values()]  # type: ignore[arg-type]
    assert any("?code=***" in text for text in shown)
    for text in shown:
        assert QUERY_KEY not in text
