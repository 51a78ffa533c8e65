"""One async TokenClient and several event loops, each in its own thread.

A client's waiters park on an event of their loop, and its fetch wakes them
with it: from another loop they would wait forever. So a call that needs
the session while another loop's calls are on it raises ``RuntimeError`` at
once; the hot path (a cached token) works from any loop; once a loop's calls
are done, the next loop may use the client (``asyncio.run()`` after
``asyncio.run()``), and so may one that comes after a loop closed with a
call still fetching.

Real threads, each running a real loop (asyncio or trio), against a scripted
server on loopback whose first answer is slow: the second loop's error
comes before that answer does.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Awaitable, Callable
from typing import Any

import anyio
import pytest
import trio
from http_server import serving, token_reply

from sansio_auth import ClientCredentials, SessionState, Step, Token, TokenSession
from sansio_auth.adapters import anyio as anyio_adapter
from sansio_auth.adapters import trio as trio_adapter
from sansio_auth.adapters._async import trio_run_is_over

SLOW = 2.0
"""Seconds the server takes over the first answer."""

AsyncClient = trio_adapter.TokenClient | anyio_adapter.TokenClient


def flow_for(url: str) -> ClientCredentials:
    return ClientCredentials(token_url=url, client_id="client", client_secret="s")


def run_in(loop: str, main: Callable[[], Awaitable[Any]]) -> Any:
    """Run *main* in a new event loop: ``trio``, or anyio on ``asyncio`` or
    ``anyio-trio``."""
    if loop == "trio":
        return trio.run(main)
    return anyio.run(main, backend=loop.removeprefix("anyio-"))


class InThread:
    """A new event loop in a new thread, running one coroutine function."""

    def __init__(self, loop: str, main: Callable[[], Awaitable[Any]]) -> None:
        self.outcome: list[object] = []
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._run, args=(loop, main), daemon=True)
        self.thread.start()

    def _run(self, loop: str, main: Callable[[], Awaitable[Any]]) -> None:
        try:
            self.outcome.append(run_in(loop, main))
        except BaseException as exc:
            self.outcome.append(exc)
        finally:
            self.done.set()

    def result(self) -> object:
        self.thread.join(timeout=10)
        assert not self.thread.is_alive(), "a loop is stuck"
        return self.outcome[0]


def wait_until(condition: Callable[[], bool]) -> None:
    deadline = time.monotonic() + 10
    while not condition():
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.005)


def state_of(session: TokenSession) -> SessionState:
    return session.state


PAIRS = [
    ("trio", "trio"),
    ("asyncio", "asyncio"),
    ("asyncio", "anyio-trio"),
    ("anyio-trio", "asyncio"),
]


def client_for(first: str, url: str) -> AsyncClient:
    if first == "trio":
        return trio_adapter.TokenClient(flow_for(url), timeout=10)
    return anyio_adapter.TokenClient(flow_for(url), timeout=10)


@pytest.mark.parametrize(("first", "second"), PAIRS)
def test_a_second_loop_is_refused_at_once(first: str, second: str) -> None:
    replies = [token_reply("tok-1", delay=SLOW), token_reply("tok-2")]
    with serving(replies) as server:
        client = client_for(first, server.url())

        async def two_callers() -> list[Token]:
            # One fetching, one waiting on the event of this loop.
            got: list[Token] = []

            async def one() -> None:
                got.append(await client.token())

            async with anyio.create_task_group() as group:
                group.start_soon(one)
                group.start_soon(one)
            return got

        owner = InThread(first, two_callers)
        wait_until(lambda: len(server.requests) == 1)
        intruder = InThread(second, client.token)
        refused = intruder.result()
        # At once: the first loop's answer has not come yet.
        assert not owner.done.is_set()
        assert isinstance(refused, RuntimeError), refused
        assert "in use by another event loop" in str(refused)
        tokens = owner.result()
        # Once the first loop is done with it, the second may use it: here
        # from the hot path.
        again = InThread(second, client.token).result()
    assert isinstance(tokens, list)
    assert [t.access_token for t in tokens] == ["tok-1", "tok-1"]
    assert again is tokens[0]
    assert len(server.requests) == 1
    assert state_of(client.session) is SessionState.IDLE


def test_sequential_runs() -> None:
    # Each run takes the slow path (the token was invalidated) and binds the
    # client to its own loop, one after another, in this thread and others.
    replies = [token_reply(f"tok-{i}") for i in range(1, 6)]
    with serving(replies) as server:
        client = anyio_adapter.TokenClient(flow_for(server.url()), timeout=10)
        got = []
        for loop in ("asyncio", "asyncio", "anyio-trio"):
            token = run_in(loop, client.token)
            got.append(token.access_token)
            client.invalidate(token)
        for loop in ("anyio-trio", "asyncio"):
            token = InThread(loop, client.token).result()
            assert isinstance(token, Token)
            got.append(token.access_token)
            client.invalidate(token)
    assert got == [f"tok-{i}" for i in range(1, 6)]


class CountingSession(TokenSession):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.next_steps = 0

    def next_step(self, now: float) -> Step:
        self.next_steps += 1
        return super().next_step(now)


def test_the_hot_path_works_from_any_loop() -> None:
    with serving([token_reply("tok-1"), token_reply("tok-2")]) as server:
        flow = flow_for(server.url())
        session = CountingSession(flow, fetch_timeout=30.0)
        client = anyio_adapter.TokenClient(flow, timeout=10, session=session)
        release = threading.Event()

        async def fetch_and_stay() -> Token:
            token = await client.token()
            await anyio.to_thread.run_sync(release.wait, 10)
            return token

        owner = InThread("asyncio", fetch_and_stay)
        wait_until(lambda: session.token is not None)
        steps = session.next_steps
        from_trio = run_in("anyio-trio", client.token)
        from_asyncio = InThread("asyncio", client.token).result()
        release.set()
        assert owner.result() is from_trio is from_asyncio
    assert session.next_steps == steps
    assert len(server.requests) == 1


# Tasks of loops closed in mid-fetch: kept, so that the garbage collector does
# not finalise them (and their sockets) in the middle of another test.
_ABANDONED: list[object] = []


def test_a_loop_closed_in_mid_fetch() -> None:
    # An asyncio loop closed with a call still fetching: that call will never
    # report, so the next loop gives its fetch up and fetches at once.
    replies = [token_reply("tok-1", delay=30.0), token_reply("tok-2")]
    with serving(replies) as server:
        client = anyio_adapter.TokenClient(flow_for(server.url()), timeout=10)

        async def until_sent() -> None:
            while not server.requests:
                await asyncio.sleep(0.005)

        loop = asyncio.new_event_loop()
        _ABANDONED.append(loop.create_task(client.token()))
        loop.run_until_complete(until_sent())
        loop.close()
        assert state_of(client.session) is SessionState.FETCHING

        async def bounded() -> Token:
            with anyio.fail_after(10):  # far under the 30 s of the lost call
                return await client.token()

        token = run_in("asyncio", bounded)
        assert run_in("trio", client.token) is token
    assert token.access_token == "tok-2"
    assert client.session.stats.abandoned == 1
    assert len(server.requests) == 2


def test_the_end_of_a_trio_run_is_seen_from_another_thread() -> None:
    # trio ends no run with a call still inside it, so a client bound to a
    # trio run is always freed by its calls; the check that the run is over
    # is there all the same, and is asked from the other loop's thread.
    tokens: list[trio.lowlevel.TrioToken] = []
    running: list[bool] = []

    async def main() -> None:
        tokens.append(trio.lowlevel.current_trio_token())
        await trio.to_thread.run_sync(
            lambda: running.append(trio_run_is_over(tokens[0]))
        )

    InThread("trio", main).result()
    assert running == [False]
    assert trio_run_is_over(tokens[0])
