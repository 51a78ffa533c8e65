"""Single flight: a cold client under many concurrent callers.

A local ``TokenServer`` with 50 ms latency: 32 threads (urllib client) making
about 1000 calls in all, and 1000 tasks on anyio over asyncio and on trio.
Counted: the token requests the server received. Timed: the wall time
against the ideal, the same client kind making one cold call and then the
rest one after another; a ticker task records the loop's longest gap. The
"floor" rows run ``EventOnlyClient``, the least any client can score here;
httpx-auth and authlib are measured the same way.

Target: one request in every world, the loop never blocked, wall time at
most 1.1x the ideal. Issue 6.
"""

from __future__ import annotations

import statistics
import threading
import time
from collections.abc import Callable
from typing import Any

import attrs
from _fixtures import generic_flow, load_peer
from _timing import NOT_INSTALLED, Candidate, Row, Settings, Ticker

LATENCY = 0.05
CALLS = 1000
THREADS = 32


def _threads_run(make_call: Callable[[], Callable[[], object]]) -> float:
    """Wall time of THREADS threads making CALLS calls in all, cold."""
    call = make_call()
    per_thread = CALLS // THREADS + 1
    barrier = threading.Barrier(THREADS + 1)

    def worker() -> None:
        barrier.wait()
        for _ in range(per_thread):
            call()

    threads = [threading.Thread(target=worker) for _ in range(THREADS)]
    for t in threads:
        t.start()
    barrier.wait()
    start = time.perf_counter()
    for t in threads:
        t.join()
    return time.perf_counter() - start


def _sequential(make_call: Callable[[], Callable[[], object]]) -> float:
    call = make_call()
    start = time.perf_counter()
    for _ in range(CALLS + 1):
        call()
    return time.perf_counter() - start


@attrs.define
class Flight:
    requests: list[int] = attrs.Factory(list)
    ratios: list[float] = attrs.Factory(list)
    gaps: list[float] = attrs.Factory(list)

    def summary(self) -> tuple[str, str]:
        reqs = sorted(set(self.requests))
        value = f"requests {'/'.join(map(str, reqs))}"
        if self.gaps:
            value += f", max loop gap {max(self.gaps) * 1e3:.0f} ms"
        return value, f"{statistics.median(self.ratios):.2f}x ideal"


def _async_world(
    backend: str, client_factory: Callable[[], Any], repeat: int, server: Any
) -> Flight:
    """Cold client, CALLS tasks at once; and the ideal, one after another."""
    import anyio

    flight = Flight()

    async def concurrent() -> None:
        client = client_factory()
        ticker = Ticker()
        before = len(server.token_requests())
        gate = anyio.Event()

        async def caller() -> None:
            await gate.wait()
            await client.authorization()

        async with anyio.create_task_group() as tg:
            # The callers are spawned first and wait at a gate: spawning a
            # thousand tasks is the caller's cost, not the client's.
            async with anyio.create_task_group() as callers:
                for _ in range(CALLS):
                    callers.start_soon(caller)
                await anyio.sleep(0.01)
                tg.start_soon(ticker.run, anyio.sleep)
                await anyio.sleep(0.01)
                start = time.perf_counter()
                gate.set()
            wall = time.perf_counter() - start
            ticker.done = True
        flight.requests.append(len(server.token_requests()) - before)
        flight.gaps.append(ticker.max_gap)
        flight.ratios.append(wall)

    async def ideal() -> float:
        client = client_factory()
        start = time.perf_counter()
        for _ in range(CALLS + 1):
            await client.authorization()
        return time.perf_counter() - start

    async def main() -> None:
        walls: list[float] = []
        ideals: list[float] = []
        for _ in range(repeat):
            ideals.append(await ideal())
            await concurrent()
            walls.append(flight.ratios.pop())
        flight.ratios = [w / i for w, i in zip(walls, ideals, strict=True)]

    anyio.run(main, backend=backend)
    return flight


def _thread_world(
    make_call: Callable[[], Callable[[], object]], repeat: int, server: Any
) -> Flight:
    flight = Flight()
    for _ in range(repeat):
        ideal = _sequential(make_call)
        before = len(server.token_requests())
        wall = _threads_run(make_call)
        flight.requests.append(len(server.token_requests()) - before)
        flight.ratios.append(wall / ideal)
    return flight


class EventOnlyClient:
    """The least a single-flight client can do, as a reference: the first
    caller sends the request, every other caller waits on one event. No
    session, no retry, no deadline, no checks. What it scores is the floor
    the benchmark's own shape (its gate, a thousand tasks woken twice, the
    task group's exit) leaves on this machine: no client can beat it.
    """

    def __init__(self, flow: Any) -> None:
        self.flow = flow
        self.value: str | None = None
        self.event: Any = None
        self.fetching = False

    async def authorization(self) -> str:
        import anyio

        from sansio_auth import Token
        from sansio_auth.adapters import anyio as anyio_adapter

        if self.value is not None:
            return self.value
        if self.fetching:
            if self.event is None:
                self.event = anyio.Event()
            await self.event.wait()
            assert self.value is not None
            return self.value
        self.fetching = True
        response = await anyio_adapter.send(self.flow.token_request(), timeout=10)
        token = self.flow.parse(response, now=time.time())
        assert isinstance(token, Token)
        self.value = token.authorization()
        if self.event is not None:
            self.event.set()
        return self.value


def run(settings: Settings) -> Row:
    from sansio_auth.adapters import anyio as anyio_adapter
    from sansio_auth.adapters import trio as trio_adapter
    from sansio_auth.adapters import urllib as urllib_adapter
    from sansio_auth.adapters.server import TokenServer

    repeat = settings.pick(7, 1)
    row = Row(
        case=f"single flight: {CALLS} async callers, {THREADS} threads, cold",
        baseline=f"one request ({LATENCY * 1e3:.0f} ms latency), then {CALLS} calls",
        target="1 request everywhere, loop never blocked, wall ≤ 1.1x ideal",
    )
    met = True
    with TokenServer() as server:
        server.set_latency(LATENCY)
        flow = generic_flow(server)
        worlds: list[tuple[str, Flight]] = [
            (
                f"sansio_auth urllib, {THREADS} threads",
                _thread_world(
                    lambda: urllib_adapter.TokenClient(flow, timeout=10).authorization,
                    repeat,
                    server,
                ),
            ),
            (
                f"sansio_auth anyio/asyncio, {CALLS} tasks",
                _async_world(
                    "asyncio",
                    lambda: anyio_adapter.TokenClient(flow, timeout=10),
                    repeat,
                    server,
                ),
            ),
            (
                f"sansio_auth trio, {CALLS} tasks",
                _async_world(
                    "trio",
                    lambda: trio_adapter.TokenClient(flow, timeout=10),
                    repeat,
                    server,
                ),
            ),
        ]
        for name, flight in worlds:
            value, ratio = flight.summary()
            row.candidates.append(Candidate(name, value, ratio))
            ok = (
                set(flight.requests) == {1}
                and statistics.median(flight.ratios) <= 1.1
                and all(gap < LATENCY / 2 for gap in flight.gaps)
            )
            met = met and ok
        for backend in ("asyncio", "trio"):
            name = f"floor: one request + one event, {backend}, {CALLS} tasks"
            flight = _async_world(
                backend, lambda: EventOnlyClient(flow), repeat, server
            )
            value, ratio = flight.summary()
            row.candidates.append(Candidate(name, value, ratio))
        row.candidates.extend(_single_flight_peers(server, settings))
    row.met = met
    row.notes.append(
        "ideal: the same client kind, one cold call then the rest, sequential; "
        "max loop gap: longest wake-up gap of a task sleeping 5 ms (blocked if "
        f">= {LATENCY / 2 * 1e3:.0f} ms); floor: a reference client that only "
        "sends one request and parks the other callers on one event (no "
        "session, no retry, no deadline), the least any client can score here"
    )
    return row


def _single_flight_peers(server: Any, settings: Settings) -> list[Candidate]:
    out: list[Candidate] = []
    repeat = settings.pick(3, 1)
    httpx = load_peer("httpx")
    httpx_auth = load_peer("httpx_auth")
    creds = server.credentials
    if httpx is None or httpx_auth is None:
        out.append(Candidate("httpx-auth", NOT_INSTALLED, "-"))
    else:
        resource = server.resource_url

        def make_httpx_auth() -> Callable[[], object]:
            httpx_auth.OAuth2.token_cache.clear()
            auth = httpx_auth.OAuth2ClientCredentials(
                server.generic_token_url,
                creds.generic_client_id,
                creds.generic_client_secret,
            )

            def call() -> object:
                return next(auth.auth_flow(httpx.Request("GET", resource)))

            return call

        flight = _thread_world(make_httpx_auth, repeat, server)
        value, ratio = flight.summary()
        out.append(Candidate(f"httpx-auth, {THREADS} threads", value, ratio))

        class HttpxAuthClient:
            def __init__(self) -> None:
                self.call = make_httpx_auth()

            async def authorization(self) -> object:
                return self.call()  # what httpx's async_auth_flow does: sync

        flight = _async_world("asyncio", HttpxAuthClient, repeat, server)
        value, ratio = flight.summary()
        out.append(Candidate(f"httpx-auth, asyncio, {CALLS} tasks", value, ratio))
    authlib_httpx = load_peer("authlib.integrations.httpx_client")
    if httpx is None or authlib_httpx is None:
        out.append(Candidate("authlib", NOT_INSTALLED, "-"))
    else:
        expired = {"access_token": "x", "token_type": "Bearer", "expires_at": 1}

        def make_authlib() -> Callable[[], object]:
            client = authlib_httpx.OAuth2Client(
                creds.generic_client_id,
                creds.generic_client_secret,
                token_endpoint=server.generic_token_url,
                grant_type="client_credentials",
                token=dict(expired),
            )

            def call() -> object:
                client.ensure_active_token(client.token)
                return client.token["access_token"]

            return call

        flight = _thread_world(make_authlib, repeat, server)
        value, ratio = flight.summary()
        out.append(Candidate(f"authlib sync, {THREADS} threads", value, ratio))
    return out
