"""Hot path: the ``Authorization`` value from a client holding a valid token.

Against a local ``TokenServer``: the urllib ``TokenClient`` against a dict
lookup and a clock read, and the anyio ``TokenClient`` against an awaited
coroutine doing the same. httpx-auth is its ``auth_flow`` on a request;
authlib is what its ``OAuth2Client`` does before each send.

Target: sansio_auth at most 5x its baseline, sync and async. Issue 6.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

from _fixtures import authlib_peer, generic_flow, httpx_auth_peer, load_peer
from _timing import (
    Candidate,
    Row,
    Settings,
    fmt_time,
    interleaved_async,
    ratios,
    timed,
)


def _async_per_call(
    func: Callable[[], Awaitable[object]], number: int
) -> Callable[[], Awaitable[float]]:
    async def sample() -> float:
        start = time.perf_counter()
        for _ in range(number):
            await func()
        return (time.perf_counter() - start) / number

    return sample


def run(settings: Settings) -> Row:
    import anyio

    from sansio_auth.adapters import anyio as anyio_adapter
    from sansio_auth.adapters import urllib as urllib_adapter
    from sansio_auth.adapters.server import TokenServer

    clock = time.time
    cache = {"authorization": "Bearer abc", "fresh_until": clock() + 3600}

    def baseline() -> object:
        return cache["authorization"] if clock() < 4e9 else None

    async def async_baseline() -> object:
        return cache["authorization"] if clock() < 4e9 else None

    repeat = settings.pick(41, 3)
    number = settings.pick(20_000, 500)
    with TokenServer() as server:
        flow = generic_flow(server)
        sync_client = urllib_adapter.TokenClient(flow, timeout=10)
        sync_client.authorization()
        funcs: dict[str, Callable[[], object]] = {
            "dict lookup + clock read": baseline,
            "sansio_auth (urllib)": sync_client.authorization,
        }
        httpx = load_peer("httpx")
        auth = httpx_auth_peer(server)
        if httpx is not None and auth is not None:
            request = httpx.Request("GET", server.resource_url)
            next(auth.auth_flow(request))  # fetch once

            def httpx_auth_hot() -> object:
                return next(auth.auth_flow(request))

            funcs["httpx-auth"] = httpx_auth_hot
        a_client = authlib_peer("httpx_client", "OAuth2Client", server)
        if httpx is not None and a_client is not None:
            a_request = httpx.Request("GET", server.resource_url)

            def authlib_hot() -> object:
                # What OAuth2Client.send does before sending: check, then sign.
                a_client.ensure_active_token(a_client.token)
                return next(a_client.token_auth.auth_flow(a_request))

            funcs["authlib"] = authlib_hot
        medians = timed(funcs, settings)

        async def async_medians() -> dict[str, float]:
            client = anyio_adapter.TokenClient(flow, timeout=10)
            await client.authorization()
            samples = {
                "async baseline": _async_per_call(async_baseline, number),
                "sansio_auth (anyio)": _async_per_call(client.authorization, number),
            }
            return await interleaved_async(samples, repeat)

        medians.update(anyio.run(async_medians))
    base = medians["dict lookup + clock read"]
    row = Row(
        case="hot path: Authorization value",
        baseline="dict lookup + clock read",
        target="sansio_auth ≤ 5 (sync and async)",
        candidates=ratios(
            medians,
            "dict lookup + clock read",
            ["httpx-auth", "authlib", "sansio_auth (urllib)"],
        ),
    )
    abase = medians["async baseline"]
    row.candidates.append(
        Candidate("async baseline (awaited coroutine)", fmt_time(abase), "1.00")
    )
    ours_async = medians["sansio_auth (anyio)"]
    row.candidates.append(
        Candidate(
            "sansio_auth (anyio)", fmt_time(ours_async), f"{ours_async / abase:.2f}"
        )
    )
    row.met = medians["sansio_auth (urllib)"] / base <= 5 and ours_async / abase <= 5
    row.notes.append(
        "the async client is compared with an awaited coroutine doing the same "
        f"dict lookup and clock read ({abase / base:.1f}x the sync baseline)"
    )
    return row
