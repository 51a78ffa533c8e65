"""Memory: the bytes a client holding a token keeps, per tenant.

``tracemalloc``: the bytes still allocated after building 10,000 clients that
each hold an 800-character JWT, per client, against the bare token strings.
Ours is a ``ClientCredentials`` flow, a ``TokenSession`` that received the
token and an anyio ``TokenClient`` whose hot cache holds it. authlib is an
``AsyncOAuth2Client`` given the token, httpx-auth an ``OAuth2ClientCredentials``
with the token in its cache (2,000 of each).

Target: at most 1 KB over the bare string per client, session and client
included. Issue 6.
"""

from __future__ import annotations

import gc
import json
import time
import tracemalloc
from collections.abc import Callable

from _fixtures import load_peer, make_jwt
from _timing import NOT_INSTALLED, Candidate, Row, Settings


def _retained(build: Callable[[], object]) -> tuple[int, object]:
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        kept = build()
        gc.collect()
        after = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    return after - before, kept


def run(settings: Settings) -> Row:
    import anyio

    from sansio_auth import ClientCredentials, HttpResponse, SendRequest, TokenSession
    from sansio_auth.adapters import anyio as anyio_adapter

    n = settings.pick(10_000, 200)
    n_peer = settings.pick(2_000, 50)
    url = "https://auth.example.com/oauth/token"
    # The same token the peers hold: an access token, its type and expiry.
    bodies = [
        json.dumps(
            {"access_token": make_jwt(i), "token_type": "Bearer", "expires_in": 3600}
        ).encode()
        for i in range(n)
    ]
    now = time.time()

    strings_size, strings = _retained(lambda: [make_jwt(i) for i in range(n)])
    del strings
    per_string = strings_size / n

    def build_ours() -> object:
        clients = []
        for i, body in enumerate(bodies):
            flow = ClientCredentials(
                token_url=url, client_id=f"tenant-{i}", client_secret=f"secret-{i}"
            )
            session = TokenSession(flow)
            step = session.next_step(now)
            assert isinstance(step, SendRequest)
            session.receive(
                HttpResponse(
                    status=200,
                    headers=(("Content-Type", "application/json"),),
                    body=body,
                ),
                now=now,
                step=step,
            )
            clients.append(anyio_adapter.TokenClient(flow, session=session))

        async def warm() -> None:
            for client in clients:
                await client.authorization()

        anyio.run(warm)
        return clients

    async def nothing() -> None:
        pass

    anyio.run(nothing)  # import the backend before measuring: not per client
    ours, kept = _retained(build_ours)
    del kept
    row = Row(
        case=f"memory per client holding a token ({n:,} tenants)",
        baseline=f"the bare 800-character token strings ({per_string:.0f} B each)",
        target="overhead ≤ 1 KB per client, session and client included",
    )
    row.candidates.append(Candidate("bare token string", f"{per_string:.0f} B", "-"))

    ours_over = ours / n - per_string
    row.candidates.append(
        Candidate(
            "sansio_auth (anyio TokenClient + session + flow)",
            f"{ours / n:.0f} B",
            f"+{ours_over / 1024:.2f} KB",
        )
    )
    authlib_httpx = load_peer("authlib.integrations.httpx_client")
    if authlib_httpx is None:
        row.candidates.append(
            Candidate("authlib AsyncOAuth2Client", NOT_INSTALLED, "-")
        )
    else:

        def build_authlib() -> object:
            return [
                authlib_httpx.AsyncOAuth2Client(
                    f"tenant-{i}",
                    f"secret-{i}",
                    token_endpoint=url,
                    token={
                        "access_token": make_jwt(i),
                        "token_type": "Bearer",
                        "expires_at": int(now) + 3600,
                    },
                )
                for i in range(n_peer)
            ]

        authlib_httpx.AsyncOAuth2Client("warm", "up")  # its imports: not per client
        size, kept = _retained(build_authlib)
        del kept
        row.candidates.append(
            Candidate(
                "authlib AsyncOAuth2Client",
                f"{size / n_peer:.0f} B",
                f"+{(size / n_peer - per_string) / 1024:.2f} KB",
            )
        )
    httpx_auth = load_peer("httpx_auth")
    if httpx_auth is None:
        row.candidates.append(Candidate("httpx-auth", NOT_INSTALLED, "-"))
    else:
        httpx_auth.OAuth2.token_cache.clear()

        def build_httpx_auth() -> object:
            auths = []
            for i in range(n_peer):
                auth = httpx_auth.OAuth2ClientCredentials(
                    url, f"tenant-{i}", f"secret-{i}"
                )
                httpx_auth.OAuth2.token_cache._add_access_token(
                    auth.state, make_jwt(i), 3600
                )
                auths.append(auth)
            return auths

        httpx_auth.OAuth2ClientCredentials(url, "warm", "up")
        size, kept = _retained(build_httpx_auth)
        del kept
        httpx_auth.OAuth2.token_cache.clear()
        row.candidates.append(
            Candidate(
                "httpx-auth OAuth2ClientCredentials",
                f"{size / n_peer:.0f} B",
                f"+{(size / n_peer - per_string) / 1024:.2f} KB",
            )
        )
    row.met = ours_over <= 1024
    row.notes.append(
        "tracemalloc: bytes still allocated after building the clients, per client, "
        "minus the bare string; each sansio_auth client has its own flow, session "
        "and parsed token (the token's raw mapping included)"
    )
    return row
