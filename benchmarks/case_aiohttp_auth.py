"""aiohttp: what ``TokenMiddleware`` adds to a request, against a static header.

Three measurements, in one run, on one event loop:

- The auth step with a valid cached token: each candidate middleware called
  as aiohttp calls it (``await middleware(request, handler)``), on a fresh
  ``ClientRequest`` each time (built before the clock starts), with a
  handler that returns a response at once. Baseline: a middleware that sets
  a fixed ``Authorization``. No peer: none of the installed OAuth libraries
  has an aiohttp client (authlib's integrations are httpx, requests and the
  web frameworks; httpx-auth is httpx only; requests-oauth2client requests
  only).
- A whole GET through one ``ClientSession`` (keep-alive) to a minimal
  loopback API served by the same loop, with ``TokenMiddleware`` and with
  the static header given per request (``middlewares=``) and alternated
  request by request.
- The 401 path: a burst of 100 concurrent requests whose token was revoked
  (``TokenServer.revoke``), counting the token requests (one).

Targets (issue 12): ours at most 0.5 µs over the static header; the GET
within 1.01x; one token request for the burst.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from _fixtures import (
    Burst,
    burst_counts,
    fast_api_on_loop,
    generic_flow,
    revoke_last_token,
)
from _integrations import (
    STATIC,
    add_auth_steps,
    add_burst,
    concurrent_burst_note,
    integration_row,
    targets_met,
)
from _timing import (
    Candidate,
    Row,
    Settings,
    fmt_time,
    interleaved_async,
    per_round_ratios_async,
    rotations,
)

if TYPE_CHECKING:
    import aiohttp

    from sansio_auth.adapters.server import TokenServer

Middleware = Callable[[Any, Any], Awaitable[Any]]


class _Answered:
    """What the auth-step handler returns: a response as far as a
    middleware looks at one on the way back (its status)."""

    status = 200


def run(settings: Settings) -> Row:
    from sansio_auth.adapters.aiohttp import TokenMiddleware
    from sansio_auth.adapters.server import TokenServer

    loop = asyncio.new_event_loop()
    try:
        with TokenServer() as server:
            flow = generic_flow(server)
            ours = TokenMiddleware(flow, timeout=10)
            steps, whole = loop.run_until_complete(_timed(server, ours, settings))
            burst = loop.run_until_complete(
                _burst_of_401s(server, TokenMiddleware(flow, timeout=10))
            )
    finally:
        loop.run_until_complete(loop.shutdown_default_executor())
        loop.close()
    return _row(steps, whole, burst)


async def _timed(
    server: TokenServer, ours: Any, settings: Settings
) -> tuple[dict[str, float], dict[str, float]]:
    import aiohttp

    async with fast_api_on_loop() as api_url:
        async with (
            aiohttp.ClientSession(middlewares=(ours,)) as warm,
            warm.get(server.resource_url) as response,
        ):
            await response.read()  # a token fetched and cached
        token = ours.client.session.token
        value = token.authorization()

        async def static(
            request: aiohttp.ClientRequest, handler: aiohttp.ClientHandlerType
        ) -> aiohttp.ClientResponse:
            request.headers["Authorization"] = value
            return await handler(request)

        steps = await _auth_steps(
            {STATIC: static, "sansio_auth TokenMiddleware": ours},
            api_url,
            settings,
        )
        async with aiohttp.ClientSession() as session:

            async def get(middleware: Middleware) -> None:
                async with session.get(api_url, middlewares=(middleware,)) as got:
                    await got.read()

            await get(static)  # connected before timing
            # The two given per request, alternated (in turn first).
            gets = {
                "GET, static header": static,
                "GET, sansio_auth TokenMiddleware": ours,
            }
            whole = await per_round_ratios_async(
                get, gets, rotations(list(gets)), settings.pick(3_000, 30)
            )
    return steps, whole


async def _auth_steps(
    middlewares: dict[str, Middleware], api_url: str, settings: Settings
) -> dict[str, float]:
    """Seconds per auth step of each middleware: interleaved samples of
    *number* calls each, on fresh requests built before the clock starts."""
    import aiohttp
    from yarl import URL

    loop = asyncio.get_running_loop()
    url = URL(api_url)
    number = settings.pick(5_000, 200)
    answered = _Answered()

    async def handler(request: aiohttp.ClientRequest) -> Any:
        return answered

    def fresh() -> aiohttp.ClientRequest:
        return aiohttp.ClientRequest("GET", url, loop=loop)

    def sampler(middleware: Middleware) -> Callable[[], Awaitable[float]]:
        async def sample() -> float:
            requests = [fresh() for _ in range(number)]
            start = time.perf_counter()
            for request in requests:
                await middleware(request, handler)
            return (time.perf_counter() - start) / number

        return sample

    samplers = {name: sampler(mw) for name, mw in middlewares.items()}
    return await interleaved_async(samplers, settings.pick(41, 3))


async def _burst_of_401s(server: TokenServer, ours: Any) -> Burst:
    """A burst of 100 concurrent requests whose token was revoked."""
    import aiohttp

    async def get(session: aiohttp.ClientSession) -> None:
        async with session.get(server.resource_url) as response:
            await response.read()

    async with aiohttp.ClientSession(middlewares=(ours,)) as session:
        await get(session)
        revoked = revoke_last_token(server)
        await asyncio.gather(*(get(session) for _ in range(100)))
    return burst_counts(server, revoked)


def _row(steps: dict[str, float], whole: dict[str, float], burst: Burst) -> Row:
    row = integration_row("aiohttp TokenMiddleware", "static header (a middleware)")
    add_auth_steps(
        row,
        steps,
        ["sansio_auth TokenMiddleware"],
        detail=" (each called with a fresh ClientRequest and a handler that "
        "answers at once)",
    )
    row.candidates.append(Candidate("peers with an aiohttp client", "none", "-"))
    row.notes.append(
        "no peer: authlib, httpx-auth and requests-oauth2client have no aiohttp client"
    )
    get_base = whole["GET, static header"]
    get_ours = whole["GET, sansio_auth TokenMiddleware"]
    get_ratio = whole["GET, sansio_auth TokenMiddleware ratio"]
    row.candidates.append(Candidate("GET, static header", fmt_time(get_base), "1.00"))
    row.candidates.append(
        Candidate(
            "GET, sansio_auth TokenMiddleware", fmt_time(get_ours), f"{get_ratio:.3f}"
        )
    )
    row.notes.append(
        "GET: one keep-alive session to a minimal API on the same loop, the two "
        "middlewares given per request and alternated request by request; the "
        "ratio is the median of the pairs' ratios, about "
        f"{get_base * (get_ratio - 1) * 1e6:+.2f} µs per GET (the auth step's "
        "work costs more inside a whole request than in a tight loop)"
    )
    add_burst(row, burst)
    row.notes.append(concurrent_burst_note(burst))
    row.met = targets_met(steps, "sansio_auth TokenMiddleware", get_ratio, burst)
    return row
