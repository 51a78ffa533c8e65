"""TokenClient of every adapter, against real servers on loopback.

DESIGN.md "Adapters" and "The lifecycle": each client runs its session's
steps, maps ``AwaitInFlight`` to its world's wait and ``Backoff`` to its
world's sleep, makes one request for many concurrent callers, lets the others
go on when the fetching caller is cancelled or crashes, caches a usable token
until the session's refresh point (no lock, no session call), and logs each
step on the ``sansio_auth`` logger with no secret in any record.

Every test starts its own scripted server (``tests/http_server.py``). The
async behaviours are written once, as ``check_*`` coroutines taking an
:class:`AsyncWorld`, and run for the trio adapter under pytest-trio and for
the anyio adapter under both of anyio's backends; the urllib client has its
own tests with threads. Nothing asserts on elapsed time except where the rule
is about time (``Retry-After``, a loop that keeps running), with wide margins.
"""

from __future__ import annotations

import asyncio
import json
import logging
import ssl
import threading
import time
from collections.abc import (
    AsyncIterator,
    Awaitable,
    Callable,
    Mapping,
    Sequence,
)
from contextlib import (
    AbstractAsyncContextManager,
    AbstractContextManager,
    asynccontextmanager,
)
from types import TracebackType
from typing import Any, Protocol, Self, TypeVar

import anyio
import attrs
import pytest
import trio
import trustme
from http_server import Received, Reply, Server, serving, token_reply

from sansio_auth import (
    ClientCredentials,
    Flow,
    HttpRequest,
    HttpResponse,
    OAuthError,
    RetryPolicy,
    SessionState,
    Step,
    Token,
    TokenError,
    TokenSession,
    TransportError,
)
from sansio_auth.adapters import anyio as anyio_adapter
from sansio_auth.adapters import trio as trio_adapter
from sansio_auth.adapters import urllib as urllib_adapter

T = TypeVar("T")

CLIENT_ID = "client-7f3a"
CLIENT_SECRET = "cs-9Zq4-very-secret-value"
ACCESS_TOKEN = "at-Jx81-secret-access-token"
REFRESH_TOKEN = "rt-Kp27-secret-refresh-token"
T0 = 1_700_000_000.0
"""A fixed start for fake clocks (UNIX seconds)."""


# -- helpers ----------------------------------------------------------------


def flow_for(server: Server) -> ClientCredentials:
    return ClientCredentials(
        token_url=server.url(), client_id=CLIENT_ID, client_secret=CLIENT_SECRET
    )


def quick_session(flow: Flow, **kwargs: Any) -> TokenSession:
    """A session whose retries are quick and whose lost-request deadline is
    far: a client that wedged would show it instead of being rescued by it."""
    kwargs.setdefault(
        "retry", RetryPolicy(max_attempts=3, base_delay=0.01, max_delay=5.0)
    )
    kwargs.setdefault("fetch_timeout", 30.0)
    return TokenSession(flow, **kwargs)


class CountingSession(TokenSession):
    """A session that counts the calls of ``next_step`` (the hot path makes
    none: the client caches the token until ``fresh_until``)."""

    def __init__(self, flow: Flow, **kwargs: Any) -> None:
        super().__init__(flow, **kwargs)
        self.next_steps = 0

    def next_step(self, now: float) -> Step:
        self.next_steps += 1
        return super().next_step(now)


def state_of(session: TokenSession) -> SessionState:
    """The session's state, read afresh (no narrowing from an earlier read)."""
    return session.state


class FakeClock:
    """A clock the test sets by hand."""

    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class TimedScript:
    """Scripted replies (the last one repeats) that note when each request
    arrived, in ``time.monotonic()`` seconds."""

    def __init__(self, *replies: Reply) -> None:
        self.replies = replies
        self.times: list[float] = []

    def __call__(self, received: Received) -> Reply:
        self.times.append(time.monotonic())
        return self.replies[min(len(self.times), len(self.replies)) - 1]


def busy(retry_after: int) -> Reply:
    """A 503 page asking to come back after *retry_after* seconds."""
    return Reply(
        status=503,
        headers=(("Content-Type", "text/html"), ("Retry-After", str(retry_after))),
        body=b"<html><body>overloaded</body></html>",
    )


def invalid_client() -> Reply:
    """A 401 ``invalid_client`` whose description echoes the client secret,
    as careless servers do."""
    body = {
        "error": "invalid_client",
        "error_description": f"client_secret {CLIENT_SECRET} is not valid",
    }
    return Reply(status=401, body=json.dumps(body).encode())


def record_texts(records: Sequence[logging.LogRecord]) -> list[str]:
    """Each record's formatted message, and each of its args as str and repr."""
    texts = []
    for record in records:
        texts.append(record.getMessage())
        args: object = record.args
        if isinstance(args, Mapping):
            args = tuple(args.values())
        for arg in args if isinstance(args, tuple) else ():
            texts.append(f"{arg!s} {arg!r}")
    return texts


def ours(records: Sequence[logging.LogRecord]) -> list[logging.LogRecord]:
    return [r for r in records if r.name.split(".")[0] == "sansio_auth"]


def assert_nothing_secret(records: Sequence[logging.LogRecord]) -> None:
    for text in record_texts(records):
        for secret in (CLIENT_SECRET, ACCESS_TOKEN, REFRESH_TOKEN):
            assert secret not in text


def assert_logged_fetch(records: Sequence[logging.LogRecord], url: str) -> None:
    """A request sent to *url*, a 503 and its backoff, then a token."""
    messages = [r.getMessage() for r in ours(records)]
    assert all(r.levelno == logging.DEBUG for r in ours(records))
    sends = [i for i, m in enumerate(messages) if url in m and "send" in m.lower()]
    assert len(sends) == 2, messages
    assert any("503" in m for m in messages), messages
    assert any("backoff" in m.lower() for m in messages), messages
    after = messages[sends[-1] + 1 :]
    assert any(url in m and "received" in m.lower() for m in after), messages
    assert_nothing_secret(records)


def assert_logged_failure(records: Sequence[logging.LogRecord], url: str) -> None:
    messages = [r.getMessage() for r in ours(records)]
    assert any(url in m and "send" in m.lower() for m in messages), messages
    assert any("invalid_client" in m for m in messages), messages
    assert_nothing_secret(records)


def assert_logged_refresh(records: Sequence[logging.LogRecord], url: str) -> None:
    messages = [r.getMessage() for r in ours(records)]
    assert any(url in m and "refresh" in m.lower() for m in messages), messages
    assert_nothing_secret(records)


def assert_logged_status(records: Sequence[logging.LogRecord], url: str) -> None:
    """DESIGN.md: the adapters log the status received (here a 200)."""
    messages = [r.getMessage().replace(url, "<url>") for r in ours(records)]
    assert any("200" in m for m in messages), messages


def tls_pair() -> tuple[trustme.CA, ssl.SSLContext]:
    ca = trustme.CA()
    context = ssl.create_default_context()
    ca.configure_trust(context)
    return ca, context


# -- the async worlds -------------------------------------------------------


class AsyncClient(Protocol):
    """What the trio and anyio TokenClients offer."""

    @property
    def session(self) -> TokenSession: ...
    async def token(self) -> Token: ...
    async def authorization(self) -> str: ...
    def invalidate(self, token: Token | str) -> None: ...
    async def __aenter__(self) -> Self: ...
    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...


Spawn = Callable[[Callable[[], Awaitable[object]]], None]


async def _call(fn: Callable[[], Awaitable[object]]) -> None:
    await fn()


@asynccontextmanager
async def trio_tasks() -> AsyncIterator[Spawn]:
    async with trio.open_nursery() as nursery:

        def spawn(fn: Callable[[], Awaitable[object]]) -> None:
            nursery.start_soon(_call, fn)

        yield spawn


@asynccontextmanager
async def anyio_tasks() -> AsyncIterator[Spawn]:
    async with anyio.create_task_group() as group:

        def spawn(fn: Callable[[], Awaitable[object]]) -> None:
            group.start_soon(_call, fn)

        yield spawn


@attrs.frozen(kw_only=True)
class AsyncWorld:
    """One async adapter's client with its event loop's primitives."""

    client: Callable[..., AsyncClient]
    sleep: Callable[[float], Awaitable[None]]
    move_on_after: Callable[[float], AbstractContextManager[object]]
    fail_after: Callable[[float], AbstractContextManager[object]]
    tasks: Callable[[], AbstractAsyncContextManager[Spawn]]


TRIO = AsyncWorld(
    client=trio_adapter.TokenClient,
    sleep=trio.sleep,
    move_on_after=trio.move_on_after,
    fail_after=trio.fail_after,
    tasks=trio_tasks,
)
ANYIO = AsyncWorld(
    client=anyio_adapter.TokenClient,
    sleep=anyio.sleep,
    move_on_after=anyio.move_on_after,
    fail_after=anyio.fail_after,
    tasks=anyio_tasks,
)


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    backend: str = request.param
    return backend


async def gather(world: AsyncWorld, n: int, fn: Callable[[], Awaitable[T]]) -> list[T]:
    """Run *fn* in *n* concurrent tasks; their results.

    Within 10 s: callers waiting for a fetch are woken when it reports, not
    by the session's lost-request deadline (30 s or more here).
    """
    results: list[T] = []

    async def one() -> None:
        results.append(await fn())

    with world.fail_after(10):
        async with world.tasks() as spawn:
            for _ in range(n):
                spawn(one)
    return results


async def wait_until(world: AsyncWorld, condition: Callable[[], bool]) -> None:
    with world.fail_after(5):
        while not condition():
            await world.sleep(0.005)


class Ticker:
    """Counts 10 ms sleeps: it stops counting when the loop is blocked."""

    def __init__(self) -> None:
        self.ticks = 0
        self.done = False

    async def run(self, world: AsyncWorld) -> None:
        while not self.done:
            await world.sleep(0.01)
            self.ticks += 1


@asynccontextmanager
async def ticking(world: AsyncWorld) -> AsyncIterator[Ticker]:
    ticker = Ticker()
    async with world.tasks() as spawn:
        spawn(lambda: ticker.run(world))
        try:
            yield ticker
        finally:
            ticker.done = True


# -- async behaviours, each run for trio and anyio (asyncio and trio) --------


async def check_token(world: AsyncWorld) -> None:
    with serving([token_reply(ACCESS_TOKEN)]) as server:
        client = world.client(flow_for(server))
        token = await client.token()
    assert token.access_token == ACCESS_TOKEN
    assert token.token_type == "Bearer"
    assert [r.method for r in server.requests] == ["POST"]
    assert b"grant_type=client_credentials" in server.requests[0].body
    assert client.session.stats.requests_sent == 1


async def check_token_over_tls(world: AsyncWorld) -> None:
    ca, context = tls_pair()
    with serving([token_reply(ACCESS_TOKEN)], ca=ca) as server:
        client = world.client(flow_for(server), ssl_context=context)
        token = await client.token()
    assert token.access_token == ACCESS_TOKEN


async def check_timeout_per_request(world: AsyncWorld) -> None:
    with serving([Reply(fault="hang")]) as server:
        flow = flow_for(server)
        session = quick_session(flow, retry=RetryPolicy(max_attempts=1))
        client = world.client(flow, timeout=0.3, session=session)
        with world.fail_after(10), pytest.raises(TransportError) as caught:
            await client.token()
    assert "timed out" in str(caught.value)
    assert len(server.requests) == 1


async def check_retry_after(world: AsyncWorld) -> None:
    script = TimedScript(busy(retry_after=1), token_reply(ACCESS_TOKEN))
    with serving(script) as server:
        flow = flow_for(server)
        client = world.client(flow, session=quick_session(flow))
        async with ticking(world) as ticker:
            token = await client.token()
            ticks = ticker.ticks
    assert token.access_token == ACCESS_TOKEN
    assert len(server.requests) == 2
    assert script.times[1] - script.times[0] >= 0.8  # Retry-After: 1 honoured
    assert ticks >= 10  # the backoff slept without blocking the loop
    assert client.session.stats.failures == 1


async def check_single_flight(world: AsyncWorld) -> None:
    with serving([token_reply(ACCESS_TOKEN, delay=0.2), token_reply("other")]) as srv:
        client = world.client(flow_for(srv))
        tokens = await gather(world, 500, client.token)
    assert len(srv.requests) == 1
    assert len(tokens) == 500
    assert {t.access_token for t in tokens} == {ACCESS_TOKEN}
    assert len({id(t) for t in tokens}) == 1


async def check_woken_waiters_read_the_cache(world: AsyncWorld) -> None:
    # The fetcher caches the token before it wakes the waiters: each caller
    # asks the session once (the fetcher for the request, the others for
    # the wait), and none asks again when woken.
    with serving([token_reply(ACCESS_TOKEN, delay=0.2), token_reply("other")]) as srv:
        flow = flow_for(srv)
        session = CountingSession(flow, fetch_timeout=30.0)
        client = world.client(flow, session=session)
        tokens = await gather(world, 200, client.token)
    assert len(tokens) == 200
    assert {id(t) for t in tokens} == {id(tokens[0])}
    assert session.next_steps <= 200
    assert len(srv.requests) == 1


async def check_cancelled_waiters(world: AsyncWorld) -> None:
    # Waiters cancelled while they wait leave nothing behind: the others get
    # the token when the fetch reports.
    got: list[Token] = []
    with serving([token_reply(ACCESS_TOKEN, delay=0.5)]) as server:
        flow = flow_for(server)
        client = world.client(flow, session=quick_session(flow))

        async def impatient() -> None:
            with world.move_on_after(0.1):
                await client.token()

        async def patient() -> None:
            with world.fail_after(5):
                got.append(await client.token())

        async with world.tasks() as spawn:
            spawn(patient)  # the fetcher
            await wait_until(world, lambda: len(server.requests) == 1)
            for _ in range(10):
                spawn(impatient)
                spawn(patient)
    assert len(got) == 11
    assert {t.access_token for t in got} == {ACCESS_TOKEN}
    assert len(server.requests) == 1
    assert state_of(client.session) is SessionState.IDLE


async def check_request_bounded_by_session_deadline(world: AsyncWorld) -> None:
    # A session that treats a request as lost sooner than the client's
    # timeout: the request is cut off at its deadline and every caller
    # waiting for it hears of it then.
    errors: list[BaseException] = []
    with serving([Reply(fault="hang")]) as server:
        flow = flow_for(server)
        session = quick_session(
            flow, fetch_timeout=0.3, retry=RetryPolicy(max_attempts=1)
        )
        client = world.client(flow, timeout=30, session=session)

        async def caller() -> None:
            try:
                await client.token()
            except TransportError as exc:
                errors.append(exc)

        with world.fail_after(5):
            async with world.tasks() as spawn:
                for _ in range(10):
                    spawn(caller)
    assert len(errors) == 10
    # Cut off by the fetching task, which reports the timeout; on a machine
    # stalled past the deadline before a caller's first step, that caller
    # finds the request lost in the session instead.
    assert all(
        "timed out after 0.3 s" in str(e) or "treated as lost" in str(e) for e in errors
    ), errors
    assert len(server.requests) == 1


async def check_shared_session(world: AsyncWorld, driver: str) -> None:
    # A session drives one client for its life (TokenSession.claim): a
    # second client would neither be woken by the first one's fetch nor see
    # its invalidations, so it is refused when it is built, and the first
    # one goes on undisturbed.
    with serving([token_reply(ACCESS_TOKEN), token_reply("other")]) as srv:
        flow = flow_for(srv)
        session = quick_session(flow)
        first = world.client(flow, session=session)
        for client in (world.client, urllib_adapter.TokenClient):
            with pytest.raises(ValueError, match=f"already driven by {driver}"):
                client(flow, session=session)
        token = await first.token()
    assert token.access_token == ACCESS_TOKEN
    assert len(srv.requests) == 1


async def check_session_invalidate_reaches_the_hot_path(world: AsyncWorld) -> None:
    # The hot cache follows the session: a token the session dropped (here
    # through the session itself, not the client) is not handed out again.
    with serving([token_reply("tok-1"), token_reply("tok-2")]) as server:
        client = world.client(flow_for(server))
        first = await client.token()
        assert await client.token() is first
        assert client.session.invalidate(first)
        second = await client.token()
    assert second.access_token == "tok-2"
    assert len(server.requests) == 2


async def check_late_report_of_a_lost_fetch(world: AsyncWorld) -> None:
    # The session gives a fetch up (here: the clock jumps past its deadline)
    # and another caller starts the next one; the first fetch then reports
    # late, is ignored, and its caller waits for the second like the others.
    clock = FakeClock()
    replies = [token_reply("tok-1", delay=0.6), token_reply("tok-2", delay=1.0)]
    got: dict[str, Token] = {}
    with serving(replies) as server:
        flow = flow_for(server)
        session = quick_session(
            flow, fetch_timeout=10.0, retry=RetryPolicy(base_delay=0.01)
        )
        client = world.client(flow, session=session, clock=clock)

        async def use(name: str) -> None:
            got[name] = await client.token()

        with world.fail_after(5):
            async with world.tasks() as spawn:
                spawn(lambda: use("first"))
                await wait_until(world, lambda: len(server.requests) == 1)
                clock.now += 11.0  # the first fetch is lost for the session
                spawn(lambda: use("second"))
                # A backoff counted from the lost fetch's deadline may be
                # over already: then the second one fetches at once.
                await wait_until(
                    world,
                    lambda: (
                        state_of(session) is SessionState.BACKOFF
                        or len(server.requests) == 2
                    ),
                )
                clock.now += 1.0  # the backoff is over: the second fetches
                await wait_until(world, lambda: len(server.requests) == 2)
                spawn(lambda: use("third"))
    assert got["first"].access_token == "tok-2"
    assert got["first"] is got["second"] is got["third"]
    assert session.stats.failures == 1
    assert len(server.requests) == 2


async def check_cancelled_fetcher(world: AsyncWorld) -> None:
    replies = [token_reply("slow", delay=2.0), token_reply("tok-2")]
    got: dict[str, Token] = {}
    with serving(replies) as server:
        flow = flow_for(server)
        client = world.client(flow, session=quick_session(flow))

        async def fetcher() -> None:
            with world.move_on_after(0.3):
                got["fetcher"] = await client.token()

        async def waiter() -> None:
            with world.fail_after(5):
                got["waiter"] = await client.token()

        async with world.tasks() as spawn:
            spawn(fetcher)
            await wait_until(world, lambda: len(server.requests) == 1)
            assert state_of(client.session) is SessionState.FETCHING
            for _ in range(20):
                spawn(waiter)  # they wait for the fetch in flight
        after = await client.token()
    assert "fetcher" not in got
    assert got["waiter"].access_token == "tok-2"
    assert after is got["waiter"]
    assert len(server.requests) == 2
    assert client.session.stats.abandoned == 1
    assert state_of(client.session) is SessionState.IDLE


async def check_cancelled_alone(world: AsyncWorld) -> None:
    replies = [token_reply("slow", delay=2.0), token_reply("tok-2")]
    with serving(replies) as server:
        flow = flow_for(server)
        client = world.client(flow, session=quick_session(flow))
        with world.move_on_after(0.2):
            await client.token()
            pytest.fail("the slow fetch was not cancelled")
        assert state_of(client.session) is SessionState.IDLE
        with world.fail_after(5):
            token = await client.token()
    assert token.access_token == "tok-2"
    assert len(server.requests) == 2


async def check_loop_not_blocked(world: AsyncWorld) -> None:
    with serving([token_reply(ACCESS_TOKEN, delay=0.5)]) as server:
        client = world.client(flow_for(server))
        async with ticking(world) as ticker:
            token = await client.token()
            ticks = ticker.ticks
    assert token.access_token == ACCESS_TOKEN
    assert ticks >= 10  # about 50 if nothing blocks


async def check_invalidate(world: AsyncWorld) -> None:
    replies = [
        token_reply("tok-1"),
        token_reply("tok-2", delay=0.2),
        token_reply("tok-3"),
    ]
    with serving(replies) as server:
        client = world.client(flow_for(server))
        first = await client.token()
        client.invalidate(first)
        tokens = await gather(world, 100, client.token)
        assert {t.access_token for t in tokens} == {"tok-2"}
        assert len(server.requests) == 2
        # Refused with the old token after another caller replaced it: no fetch.
        client.invalidate(first)
        client.invalidate("tok-1")
        assert (await client.token()).access_token == "tok-2"
        assert len(server.requests) == 2
        # The current one, by its string.
        client.invalidate("tok-2")
        assert (await client.token()).access_token == "tok-3"
        assert len(server.requests) == 3


async def check_authorization(world: AsyncWorld) -> None:
    with serving([token_reply(ACCESS_TOKEN)]) as server:
        client = world.client(flow_for(server))
        assert await client.authorization() == f"Bearer {ACCESS_TOKEN}"
        assert await client.authorization() == f"Bearer {ACCESS_TOKEN}"
    assert len(server.requests) == 1


async def check_failed_with_cooldown(world: AsyncWorld) -> None:
    clock = FakeClock()
    with serving([invalid_client(), token_reply(ACCESS_TOKEN)]) as server:
        flow = flow_for(server)
        session = quick_session(flow, retry=RetryPolicy(cooldown=30.0))
        client = world.client(flow, session=session, clock=clock)
        with pytest.raises(OAuthError) as first:
            await client.token()
        assert first.value.error == "invalid_client"
        assert isinstance(first.value, TokenError)
        assert CLIENT_SECRET not in str(first.value)
        clock.now += 29.0
        with pytest.raises(OAuthError) as again:
            await client.authorization()
        assert again.value.error == "invalid_client"
        assert len(server.requests) == 1
        assert state_of(client.session) is SessionState.FAILED
        clock.now += 2.0  # the cooldown is over
        token = await client.token()
    assert token.access_token == ACCESS_TOKEN
    assert len(server.requests) == 2


async def check_context_manager(world: AsyncWorld) -> None:
    with serving([token_reply(ACCESS_TOKEN)]) as server:
        client = world.client(flow_for(server))
        async with client as entered:
            assert entered is client
            assert (await entered.token()).access_token == ACCESS_TOKEN


async def check_hot_path(world: AsyncWorld) -> None:
    with serving([token_reply(ACCESS_TOKEN), token_reply("other")]) as server:
        flow = flow_for(server)
        session = CountingSession(flow, fetch_timeout=30.0)
        client = world.client(flow, session=session)
        first = await client.token()
        calls = session.next_steps
        for _ in range(200):
            assert await client.token() is first
        assert await client.authorization() == f"Bearer {ACCESS_TOKEN}"
        # Not a checkpoint (docs/adapters.md): it runs even in a cancelled scope.
        hot: list[Token] = []
        with world.move_on_after(0):
            hot.append(await client.token())
        assert hot == [first]
    assert session.next_steps == calls
    assert session.stats.requests_sent == 1
    assert len(server.requests) == 1


async def check_cache_until_refresh_point(
    world: AsyncWorld, caplog: pytest.LogCaptureFixture
) -> None:
    # expires_in=3600, leeway 30, refresh_ahead 0.1: D = 3570, P = 3210.
    caplog.set_level(logging.DEBUG, logger="sansio_auth")
    clock = FakeClock()
    replies = [
        token_reply("tok-1", refresh_token=REFRESH_TOKEN),
        token_reply("tok-2"),
    ]
    with serving(replies) as server:
        flow = flow_for(server)
        session = CountingSession(flow, fetch_timeout=30.0)
        client = world.client(flow, session=session, clock=clock)
        first = await client.token()
        calls = session.next_steps
        clock.now = T0 + 3209.0
        assert await client.token() is first
        assert session.next_steps == calls
        clock.now = T0 + 3211.0  # past P: the session sends a refresh
        second = await client.token()
    assert second.access_token == "tok-2"
    assert session.next_steps > calls
    assert session.stats.refreshes == 1
    assert b"grant_type=refresh_token" in server.requests[1].body
    assert_logged_refresh(caplog.records, server.url())


async def check_clock_backwards(world: AsyncWorld) -> None:
    clock = FakeClock()
    with serving([token_reply(ACCESS_TOKEN), token_reply("other")]) as server:
        flow = flow_for(server)
        session = CountingSession(flow, fetch_timeout=30.0)
        client = world.client(flow, session=session, clock=clock)
        first = await client.token()
        calls = session.next_steps
        clock.now = T0 - 600.0  # set back: the cache cannot vouch for this time
        assert await client.token() is first
        assert session.next_steps == calls + 1
        clock.now = T0 - 500.0  # cached again from T0 - 600
        assert await client.token() is first
        assert session.next_steps == calls + 1
    assert len(server.requests) == 1


async def check_logging(world: AsyncWorld, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="sansio_auth")
    replies = [
        busy(retry_after=0),
        token_reply(ACCESS_TOKEN, refresh_token=REFRESH_TOKEN),
    ]
    with serving(replies) as server:
        flow = flow_for(server)
        client = world.client(flow, session=quick_session(flow))
        await client.token()
    assert_logged_fetch(caplog.records, server.url())


async def check_logging_failure(
    world: AsyncWorld, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="sansio_auth")
    with serving([invalid_client()]) as server:
        flow = flow_for(server)
        client = world.client(flow, session=quick_session(flow))
        with pytest.raises(OAuthError):
            await client.token()
    assert_logged_failure(caplog.records, server.url())


async def check_logging_status(
    world: AsyncWorld, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="sansio_auth")
    with serving([token_reply(ACCESS_TOKEN)]) as server:
        client = world.client(flow_for(server))
        await client.token()
    assert_logged_status(caplog.records, server.url())


# -- the async tests: each behaviour for trio, and anyio on both backends ----


@pytest.mark.trio
async def test_token_trio() -> None:
    await check_token(TRIO)


@pytest.mark.anyio
async def test_token_anyio() -> None:
    await check_token(ANYIO)


@pytest.mark.trio
async def test_token_over_tls_trio() -> None:
    await check_token_over_tls(TRIO)


@pytest.mark.anyio
async def test_token_over_tls_anyio() -> None:
    await check_token_over_tls(ANYIO)


@pytest.mark.trio
async def test_timeout_per_request_trio() -> None:
    await check_timeout_per_request(TRIO)


@pytest.mark.anyio
async def test_timeout_per_request_anyio() -> None:
    await check_timeout_per_request(ANYIO)


@pytest.mark.trio
async def test_retry_after_trio() -> None:
    await check_retry_after(TRIO)


@pytest.mark.anyio
async def test_retry_after_anyio() -> None:
    await check_retry_after(ANYIO)


@pytest.mark.trio
async def test_single_flight_trio() -> None:
    await check_single_flight(TRIO)


@pytest.mark.anyio
async def test_single_flight_anyio() -> None:
    await check_single_flight(ANYIO)


@pytest.mark.trio
async def test_woken_waiters_read_the_cache_trio() -> None:
    await check_woken_waiters_read_the_cache(TRIO)


@pytest.mark.anyio
async def test_woken_waiters_read_the_cache_anyio() -> None:
    await check_woken_waiters_read_the_cache(ANYIO)


@pytest.mark.trio
async def test_cancelled_waiters_trio() -> None:
    await check_cancelled_waiters(TRIO)


@pytest.mark.anyio
async def test_cancelled_waiters_anyio() -> None:
    await check_cancelled_waiters(ANYIO)


@pytest.mark.trio
async def test_request_bounded_by_session_deadline_trio() -> None:
    await check_request_bounded_by_session_deadline(TRIO)


@pytest.mark.anyio
async def test_request_bounded_by_session_deadline_anyio() -> None:
    await check_request_bounded_by_session_deadline(ANYIO)


@pytest.mark.trio
async def test_shared_session_trio() -> None:
    await check_shared_session(TRIO, "a trio TokenClient")


@pytest.mark.anyio
async def test_shared_session_anyio() -> None:
    await check_shared_session(ANYIO, "an anyio TokenClient")


@pytest.mark.trio
async def test_session_invalidate_reaches_the_hot_path_trio() -> None:
    await check_session_invalidate_reaches_the_hot_path(TRIO)


@pytest.mark.anyio
async def test_session_invalidate_reaches_the_hot_path_anyio() -> None:
    await check_session_invalidate_reaches_the_hot_path(ANYIO)


@pytest.mark.trio
async def test_late_report_of_a_lost_fetch_trio() -> None:
    await check_late_report_of_a_lost_fetch(TRIO)


@pytest.mark.anyio
async def test_late_report_of_a_lost_fetch_anyio() -> None:
    await check_late_report_of_a_lost_fetch(ANYIO)


@pytest.mark.trio
async def test_cancelled_fetcher_trio() -> None:
    await check_cancelled_fetcher(TRIO)


@pytest.mark.anyio
async def test_cancelled_fetcher_anyio() -> None:
    await check_cancelled_fetcher(ANYIO)


@pytest.mark.trio
async def test_cancelled_alone_trio() -> None:
    await check_cancelled_alone(TRIO)


@pytest.mark.anyio
async def test_cancelled_alone_anyio() -> None:
    await check_cancelled_alone(ANYIO)


@pytest.mark.trio
async def test_loop_not_blocked_trio() -> None:
    await check_loop_not_blocked(TRIO)


@pytest.mark.anyio
async def test_loop_not_blocked_anyio() -> None:
    await check_loop_not_blocked(ANYIO)


@pytest.mark.trio
async def test_invalidate_trio() -> None:
    await check_invalidate(TRIO)


@pytest.mark.anyio
async def test_invalidate_anyio() -> None:
    await check_invalidate(ANYIO)


@pytest.mark.trio
async def test_authorization_trio() -> None:
    await check_authorization(TRIO)


@pytest.mark.anyio
async def test_authorization_anyio() -> None:
    await check_authorization(ANYIO)


@pytest.mark.trio
async def test_failed_with_cooldown_trio() -> None:
    await check_failed_with_cooldown(TRIO)


@pytest.mark.anyio
async def test_failed_with_cooldown_anyio() -> None:
    await check_failed_with_cooldown(ANYIO)


@pytest.mark.trio
async def test_context_manager_trio() -> None:
    await check_context_manager(TRIO)


@pytest.mark.anyio
async def test_context_manager_anyio() -> None:
    await check_context_manager(ANYIO)


@pytest.mark.trio
async def test_hot_path_trio() -> None:
    await check_hot_path(TRIO)


@pytest.mark.anyio
async def test_hot_path_anyio() -> None:
    await check_hot_path(ANYIO)


@pytest.mark.trio
async def test_cache_until_refresh_point_trio(
    caplog: pytest.LogCaptureFixture,
) -> None:
    await check_cache_until_refresh_point(TRIO, caplog)


@pytest.mark.anyio
async def test_cache_until_refresh_point_anyio(
    caplog: pytest.LogCaptureFixture,
) -> None:
    await check_cache_until_refresh_point(ANYIO, caplog)


@pytest.mark.trio
async def test_clock_backwards_trio() -> None:
    await check_clock_backwards(TRIO)


@pytest.mark.anyio
async def test_clock_backwards_anyio() -> None:
    await check_clock_backwards(ANYIO)


@pytest.mark.trio
async def test_logging_trio(caplog: pytest.LogCaptureFixture) -> None:
    await check_logging(TRIO, caplog)


@pytest.mark.anyio
async def test_logging_anyio(caplog: pytest.LogCaptureFixture) -> None:
    await check_logging(ANYIO, caplog)


@pytest.mark.trio
async def test_logging_failure_trio(caplog: pytest.LogCaptureFixture) -> None:
    await check_logging_failure(TRIO, caplog)


@pytest.mark.anyio
async def test_logging_failure_anyio(caplog: pytest.LogCaptureFixture) -> None:
    await check_logging_failure(ANYIO, caplog)


@pytest.mark.trio
async def test_logging_status_trio(caplog: pytest.LogCaptureFixture) -> None:
    await check_logging_status(TRIO, caplog)


@pytest.mark.anyio
async def test_logging_status_anyio(caplog: pytest.LogCaptureFixture) -> None:
    await check_logging_status(ANYIO, caplog)


# -- the urllib client, with threads -----------------------------------------


def in_threads(n: int, fn: Callable[[], T]) -> list[T | BaseException]:
    """Run *fn* in *n* threads released together; each one's result or
    exception (KeyboardInterrupt included), in no particular order."""
    barrier = threading.Barrier(n)
    results: list[T | BaseException] = []
    lock = threading.Lock()

    def run() -> None:
        barrier.wait()
        try:
            result: T | BaseException = fn()
        except BaseException as exc:
            result = exc
        with lock:
            results.append(result)

    threads = [threading.Thread(target=run, daemon=True) for _ in range(n)]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + 10  # well before any session deadline
    for thread in threads:
        thread.join(timeout=max(0.0, deadline - time.monotonic()))
    assert not any(thread.is_alive() for thread in threads), "a caller is stuck"
    return results


def sync_client(server: Server, **kwargs: Any) -> urllib_adapter.TokenClient:
    return urllib_adapter.TokenClient(flow_for(server), **kwargs)


def test_token_urllib() -> None:
    with serving([token_reply(ACCESS_TOKEN)]) as server:
        client = sync_client(server)
        token = client.token()
    assert token.access_token == ACCESS_TOKEN
    assert token.token_type == "Bearer"
    assert [r.method for r in server.requests] == ["POST"]
    assert b"grant_type=client_credentials" in server.requests[0].body
    assert client.session.stats.requests_sent == 1


def test_token_over_tls_urllib() -> None:
    ca, context = tls_pair()
    with serving([token_reply(ACCESS_TOKEN)], ca=ca) as server:
        token = sync_client(server, ssl_context=context).token()
    assert token.access_token == ACCESS_TOKEN


def test_timeout_per_request_urllib() -> None:
    with serving([Reply(fault="hang")]) as server:
        flow = flow_for(server)
        session = quick_session(flow, retry=RetryPolicy(max_attempts=1))
        client = urllib_adapter.TokenClient(flow, timeout=0.3, session=session)
        with pytest.raises(TransportError) as caught:
            client.token()
    assert "timed out" in str(caught.value)
    assert len(server.requests) == 1


def test_retry_after_urllib() -> None:
    script = TimedScript(busy(retry_after=1), token_reply(ACCESS_TOKEN))
    with serving(script) as server:
        flow = flow_for(server)
        client = urllib_adapter.TokenClient(flow, session=quick_session(flow))
        token = client.token()
    assert token.access_token == ACCESS_TOKEN
    assert len(server.requests) == 2
    assert script.times[1] - script.times[0] >= 0.8  # Retry-After: 1 honoured
    assert client.session.stats.failures == 1


def test_single_flight_urllib() -> None:
    with serving([token_reply(ACCESS_TOKEN, delay=0.2), token_reply("other")]) as srv:
        client = sync_client(srv)
        tokens = in_threads(32, client.token)
    assert len(srv.requests) == 1
    assert all(isinstance(t, Token) for t in tokens)
    assert {t.access_token for t in tokens if isinstance(t, Token)} == {ACCESS_TOKEN}


def test_woken_waiters_read_the_cache_urllib() -> None:
    # The fetcher caches the token before it wakes the waiters, who read it
    # without the lock and without asking the session again.
    with serving([token_reply(ACCESS_TOKEN, delay=0.2), token_reply("other")]) as srv:
        flow = flow_for(srv)
        session = CountingSession(flow, fetch_timeout=30.0)
        client = urllib_adapter.TokenClient(flow, session=session)
        tokens = in_threads(32, client.token)
    assert all(isinstance(t, Token) for t in tokens)
    assert {id(t) for t in tokens} == {id(tokens[0])}
    assert session.next_steps <= 32
    assert len(srv.requests) == 1


def test_request_bounded_by_session_deadline_urllib() -> None:
    # A session that treats a request as lost sooner than the client's
    # timeout: the request is cut off at its deadline, not left running (the
    # fetching thread would be stuck for 30 s). The waiting threads keep
    # their own timers (a thread may hang where no timeout reaches, in a DNS
    # lookup), so they may hear first that the session gave it up.
    with serving([Reply(fault="hang")]) as server:
        flow = flow_for(server)
        session = quick_session(
            flow, fetch_timeout=0.3, retry=RetryPolicy(max_attempts=1)
        )
        client = urllib_adapter.TokenClient(flow, timeout=30, session=session)
        outcomes = in_threads(8, client.token)
    assert all(isinstance(o, TransportError) for o in outcomes), outcomes
    assert all(
        "timed out after 0.3 s" in str(o) or "treated as lost" in str(o)
        for o in outcomes
    ), outcomes
    assert len(server.requests) == 1


def test_crash_in_send_urllib(monkeypatch: pytest.MonkeyPatch) -> None:
    # Not a TransportError: the fetching caller's exception propagates, and
    # the session is left IDLE (abandoned) for the next caller to fetch.
    real_send = urllib_adapter.send
    calls = 0

    def send_once_crashing(request: HttpRequest, **kwargs: Any) -> HttpResponse:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise RuntimeError("boom")
        return real_send(request, **kwargs)

    monkeypatch.setattr(
        urllib_adapter.TokenClient, "_send", staticmethod(send_once_crashing)
    )
    with serving([token_reply(ACCESS_TOKEN)]) as server:
        client = sync_client(server)
        with pytest.raises(RuntimeError, match="boom"):
            client.token()
        assert state_of(client.session) is SessionState.IDLE
        assert client.session.stats.abandoned == 1
        assert server.requests == []
        token = client.token()
    assert token.access_token == ACCESS_TOKEN
    assert len(server.requests) == 1


@pytest.mark.parametrize("crash", [RuntimeError, KeyboardInterrupt])
def test_interrupted_fetcher_does_not_wedge_urllib(
    monkeypatch: pytest.MonkeyPatch, crash: type[BaseException]
) -> None:
    # The fetching thread is interrupted inside send while others wait on
    # the condition: they must go on, and one of them fetches.
    real_send = urllib_adapter.send
    entered = threading.Event()
    release = threading.Event()
    calls = 0

    def send_interrupted_once(request: HttpRequest, **kwargs: Any) -> HttpResponse:
        nonlocal calls
        calls += 1
        if calls == 1:
            entered.set()
            release.wait(10)
            raise crash()
        return real_send(request, **kwargs)

    monkeypatch.setattr(
        urllib_adapter.TokenClient, "_send", staticmethod(send_interrupted_once)
    )
    outcome: list[BaseException | Token] = []
    with serving([token_reply(ACCESS_TOKEN, delay=0.1)]) as server:
        client = sync_client(server, session=None)

        def fetch() -> None:
            try:
                outcome.append(client.token())
            except BaseException as exc:
                outcome.append(exc)

        fetcher = threading.Thread(target=fetch, daemon=True)
        fetcher.start()
        assert entered.wait(10)
        assert state_of(client.session) is SessionState.FETCHING
        threading.Timer(0.2, release.set).start()  # once the others wait
        tokens = in_threads(8, client.token)
        fetcher.join(timeout=10)
    assert not fetcher.is_alive()
    assert len(outcome) == 1
    assert isinstance(outcome[0], crash)
    assert all(isinstance(t, Token) for t in tokens), tokens
    assert {t.access_token for t in tokens if isinstance(t, Token)} == {ACCESS_TOKEN}
    assert len(server.requests) == 1
    assert client.session.stats.abandoned == 1
    assert state_of(client.session) is SessionState.IDLE


def test_invalidate_urllib() -> None:
    replies = [
        token_reply("tok-1"),
        token_reply("tok-2", delay=0.2),
        token_reply("tok-3"),
    ]
    with serving(replies) as server:
        client = sync_client(server)
        first = client.token()
        client.invalidate(first)
        tokens = in_threads(16, client.token)
        assert {t.access_token for t in tokens if isinstance(t, Token)} == {"tok-2"}
        assert len(tokens) == 16
        assert len(server.requests) == 2
        # Refused with the old token after another caller replaced it: no fetch.
        client.invalidate(first)
        client.invalidate("tok-1")
        assert client.token().access_token == "tok-2"
        assert len(server.requests) == 2
        # The current one, by its string.
        client.invalidate("tok-2")
        assert client.token().access_token == "tok-3"
        assert len(server.requests) == 3


def test_shared_session_urllib() -> None:
    with serving([token_reply(ACCESS_TOKEN), token_reply("other")]) as server:
        flow = flow_for(server)
        session = quick_session(flow)
        first = urllib_adapter.TokenClient(flow, session=session)
        for client in (
            urllib_adapter.TokenClient,
            trio_adapter.TokenClient,
            anyio_adapter.TokenClient,
        ):
            with pytest.raises(
                ValueError, match="already driven by a urllib TokenClient"
            ):
                client(flow, session=session)
        assert first.token().access_token == ACCESS_TOKEN
    assert len(server.requests) == 1


def test_a_refused_client_leaves_the_session_free() -> None:
    # Refused for a bad argument before it claimed the session: the session
    # may still be given to a client built right.
    flow = ClientCredentials(
        token_url="http://127.0.0.1:9/token", client_id="a", client_secret="b"
    )
    session = TokenSession(flow)
    with pytest.raises(ValueError, match="timeout"):
        urllib_adapter.TokenClient(flow, timeout=0, session=session)
    anyio_client: Callable[..., object] = anyio_adapter.TokenClient
    with pytest.raises(TypeError, match="clock"):
        anyio_client(flow, session=session, clock=T0)
    assert trio_adapter.TokenClient(flow, session=session).session is session


def test_session_invalidate_reaches_the_hot_path_urllib() -> None:
    with serving([token_reply("tok-1"), token_reply("tok-2")]) as server:
        client = sync_client(server)
        first = client.token()
        assert client.token() is first
        assert client.session.invalidate(first)
        second = client.token()
    assert second.access_token == "tok-2"
    assert len(server.requests) == 2


def test_authorization_urllib() -> None:
    with serving([token_reply(ACCESS_TOKEN)]) as server:
        client = sync_client(server)
        assert client.authorization() == f"Bearer {ACCESS_TOKEN}"
        assert client.authorization() == f"Bearer {ACCESS_TOKEN}"
    assert len(server.requests) == 1


def test_failed_with_cooldown_urllib() -> None:
    clock = FakeClock()
    with serving([invalid_client(), token_reply(ACCESS_TOKEN)]) as server:
        flow = flow_for(server)
        session = quick_session(flow, retry=RetryPolicy(cooldown=30.0))
        client = urllib_adapter.TokenClient(flow, session=session, clock=clock)
        with pytest.raises(OAuthError) as first:
            client.token()
        assert first.value.error == "invalid_client"
        assert CLIENT_SECRET not in str(first.value)
        clock.now += 29.0
        with pytest.raises(OAuthError) as again:
            client.authorization()
        assert again.value.error == "invalid_client"
        assert len(server.requests) == 1
        assert state_of(client.session) is SessionState.FAILED
        clock.now += 2.0  # the cooldown is over
        token = client.token()
    assert token.access_token == ACCESS_TOKEN
    assert len(server.requests) == 2


def test_context_manager_urllib() -> None:
    with serving([token_reply(ACCESS_TOKEN)]) as server:
        client = sync_client(server)
        with client as entered:
            assert entered is client
            assert entered.token().access_token == ACCESS_TOKEN


def test_hot_path_urllib() -> None:
    with serving([token_reply(ACCESS_TOKEN), token_reply("other")]) as server:
        flow = flow_for(server)
        session = CountingSession(flow, fetch_timeout=30.0)
        client = urllib_adapter.TokenClient(flow, session=session)
        first = client.token()
        calls = session.next_steps
        for _ in range(200):
            assert client.token() is first
        assert client.authorization() == f"Bearer {ACCESS_TOKEN}"
        tokens = in_threads(8, client.token)
    assert all(t is first for t in tokens)
    assert session.next_steps == calls
    assert session.stats.requests_sent == 1
    assert len(server.requests) == 1


def test_hot_path_takes_no_lock_urllib() -> None:
    with serving([token_reply(ACCESS_TOKEN)]) as server:
        client = sync_client(server)
        first = client.token()
        got: list[Token] = []
        with client._lock:  # held: a caller that needs it would block
            reader = threading.Thread(target=lambda: got.append(client.token()))
            reader.start()
            reader.join(timeout=5)
            blocked = reader.is_alive()
        reader.join(timeout=5)
    assert not blocked
    assert got == [first]


def test_cache_until_refresh_point_urllib(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="sansio_auth")
    clock = FakeClock()
    replies = [
        token_reply("tok-1", refresh_token=REFRESH_TOKEN),
        token_reply("tok-2"),
    ]
    with serving(replies) as server:
        flow = flow_for(server)
        session = CountingSession(flow, fetch_timeout=30.0)
        client = urllib_adapter.TokenClient(flow, session=session, clock=clock)
        first = client.token()
        calls = session.next_steps
        clock.now = T0 + 3209.0
        assert client.token() is first
        assert session.next_steps == calls
        clock.now = T0 + 3211.0  # past P: the session sends a refresh
        second = client.token()
    assert second.access_token == "tok-2"
    assert session.next_steps > calls
    assert session.stats.refreshes == 1
    assert b"grant_type=refresh_token" in server.requests[1].body
    assert_logged_refresh(caplog.records, server.url())


def test_clock_backwards_urllib() -> None:
    clock = FakeClock()
    with serving([token_reply(ACCESS_TOKEN), token_reply("other")]) as server:
        flow = flow_for(server)
        session = CountingSession(flow, fetch_timeout=30.0)
        client = urllib_adapter.TokenClient(flow, session=session, clock=clock)
        first = client.token()
        calls = session.next_steps
        clock.now = T0 - 600.0  # set back: the cache cannot vouch for this time
        assert client.token() is first
        assert session.next_steps == calls + 1
        clock.now = T0 - 500.0  # cached again from T0 - 600
        assert client.token() is first
        assert session.next_steps == calls + 1
    assert len(server.requests) == 1


def test_logging_urllib(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="sansio_auth")
    replies = [
        busy(retry_after=0),
        token_reply(ACCESS_TOKEN, refresh_token=REFRESH_TOKEN),
    ]
    with serving(replies) as server:
        flow = flow_for(server)
        urllib_adapter.TokenClient(flow, session=quick_session(flow)).token()
    assert_logged_fetch(caplog.records, server.url())


def test_logging_failure_urllib(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="sansio_auth")
    with serving([invalid_client()]) as server:
        flow = flow_for(server)
        client = urllib_adapter.TokenClient(flow, session=quick_session(flow))
        with pytest.raises(OAuthError):
            client.token()
    assert_logged_failure(caplog.records, server.url())


def test_logging_status_urllib(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="sansio_auth")
    with serving([token_reply(ACCESS_TOKEN)]) as server:
        sync_client(server).token()
    assert_logged_status(caplog.records, server.url())


# -- construction ------------------------------------------------------------


@pytest.mark.parametrize(
    "client_class",
    [urllib_adapter.TokenClient, trio_adapter.TokenClient, anyio_adapter.TokenClient],
)
def test_bad_arguments_are_refused(client_class: Callable[..., object]) -> None:
    flow = ClientCredentials(
        token_url="http://127.0.0.1:9/token", client_id="a", client_secret="b"
    )
    other = ClientCredentials(
        token_url="http://127.0.0.1:9/token", client_id="c", client_secret="d"
    )
    with pytest.raises(ValueError, match="timeout"):
        client_class(flow, timeout=0)
    with pytest.raises(ValueError, match="max_response_bytes"):
        client_class(flow, max_response_bytes=-1)
    with pytest.raises(ValueError, match="session"):
        client_class(flow, session=TokenSession(other))
    for not_a_session in ("a session", 1, object()):
        with pytest.raises(TypeError, match=r"^session must be a TokenSession$"):
            client_class(flow, session=not_a_session)
    with pytest.raises(TypeError, match="clock"):
        client_class(flow, clock=T0)
    with pytest.raises(TypeError, match="ssl_context"):
        client_class(flow, ssl_context="/etc/ssl/certs/ca.pem")


# -- building an async client needs no running event loop --------------------

_BUILT_AT_IMPORT = (
    trio_adapter.TokenClient(
        ClientCredentials(
            token_url="http://127.0.0.1:9/token", client_id="a", client_secret="b"
        )
    ),
    anyio_adapter.TokenClient(
        ClientCredentials(
            token_url="http://127.0.0.1:9/token", client_id="a", client_secret="b"
        )
    ),
)


def test_async_clients_are_built_outside_any_loop() -> None:
    with pytest.raises(RuntimeError):
        asyncio.get_running_loop()
    assert all(c.session.stats.requests_sent == 0 for c in _BUILT_AT_IMPORT)

    async def use(client: AsyncClient) -> str:
        async with client as entered:
            return await entered.authorization()

    with serving([token_reply(ACCESS_TOKEN)]) as server:
        flow = flow_for(server)
        for_trio = trio_adapter.TokenClient(flow)
        for_asyncio = anyio_adapter.TokenClient(flow)
        for_anyio_trio = anyio_adapter.TokenClient(flow)
        assert trio.run(use, for_trio) == f"Bearer {ACCESS_TOKEN}"
        assert (
            anyio.run(use, for_asyncio, backend="asyncio") == f"Bearer {ACCESS_TOKEN}"
        )
        assert (
            anyio.run(use, for_anyio_trio, backend="trio") == f"Bearer {ACCESS_TOKEN}"
        )
    assert len(server.requests) == 3
