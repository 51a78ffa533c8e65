"""TokenClient across ``os.fork()``, with real children and a real server.

A process whose client has a fetch in flight forks (gunicorn ``--preload``,
multiprocessing): the child inherits a session that says a fetch is in
flight, which nobody in the child will ever report, plus the locks and
events of threads and event loops the child does not have. Its first call
must fetch at once, not wait out the session's lost-request deadline
(45 s here: ``timeout=40`` plus the margin) or hang on an inherited lock.

Each test starts a scripted server whose first reply (the parent's) is slow,
waits until that request has arrived, then forks children in a loop; each
child calls ``token()`` once under an alarm and reports through a pipe
(``tests/forking.py``). The parent's own calls wait with its waiter parked
on the client's event, so the child inherits that too.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import anyio
import pytest
import trio
import trustme
from forking import fork_children
from http_server import serving, token_reply

from sansio_auth import (
    ClientCredentials,
    RetryPolicy,
    SessionState,
    Token,
    TokenSession,
    TransportError,
)
from sansio_auth.adapters import _tls
from sansio_auth.adapters import anyio as anyio_adapter
from sansio_auth.adapters import trio as trio_adapter
from sansio_auth.adapters import urllib as urllib_adapter

CHILDREN = 12
"""Forks per test: the issue saw one child in twelve deadlock."""
BOUND = 10
"""Seconds a child's first call may take: generous for one loopback fetch
even with twelve children on two loaded CPUs (at 5 s, a child was cut by its
alarm in 3 of about 8 full runs made while other test runs loaded the
machine, and in none on a quiet one), and well under the 45 s lost-request
deadline the old code waited out."""
PARENT_TIMEOUT = 40
"""Seconds the parent's slow fetch may take (its reply is slower still)."""
CALLERS = 2
"""Calls in the parent: one fetching, one waiting on the client's event."""

WORLDS = ["urllib", "trio", "anyio-asyncio", "anyio-trio"]


def state_of(session: TokenSession) -> SessionState:
    return session.state


@pytest.fixture(params=["http", "https"])
def ca(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[trustme.CA | None]:
    """None for plain HTTP; for HTTPS, a CA that the shared default context
    (built afresh in this test, from ``SSL_CERT_FILE``) trusts: the clients
    get no ``ssl_context``, as in production."""
    if request.param == "http":
        yield None
        return
    authority = trustme.CA()
    pem = tmp_path / "ca.pem"
    authority.cert_pem.write_to_path(str(pem))
    monkeypatch.setenv("SSL_CERT_FILE", str(pem))
    monkeypatch.setattr(_tls, "_default_context", None, raising=False)
    yield authority


def calls_in(
    world: str, flow: ClientCredentials
) -> tuple[
    TokenSession, Callable[[], Token], Callable[[], list[Token | BaseException]]
]:
    """A client of *world* on a session of *flow*; a function making one call
    from a fresh loop (the child's), and one making CALLERS concurrent calls
    (the parent's)."""
    # The parent's fetch must outlive the forks (up to BOUND + 20 s on a
    # loaded machine): at timeout=10 it timed out under load, while twelve
    # children were still starting, and the session was no longer fetching.
    session = TokenSession(flow, retry=RetryPolicy(max_attempts=1), fetch_timeout=45.0)
    if world == "urllib":
        sync = urllib_adapter.TokenClient(flow, timeout=PARENT_TIMEOUT, session=session)

        def parent_sync() -> list[Token | BaseException]:
            results: list[Token | BaseException] = []

            def one() -> None:
                try:
                    results.append(sync.token())
                except BaseException as exc:
                    results.append(exc)

            threads = [threading.Thread(target=one) for _ in range(CALLERS)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            return results

        return session, sync.token, parent_sync

    client: trio_adapter.TokenClient | anyio_adapter.TokenClient
    if world == "trio":
        client = trio_adapter.TokenClient(flow, timeout=PARENT_TIMEOUT, session=session)
    else:
        client = anyio_adapter.TokenClient(
            flow, timeout=PARENT_TIMEOUT, session=session
        )

    async def many() -> list[Token | BaseException]:
        results: list[Token | BaseException] = []

        async def one() -> None:
            try:
                results.append(await client.token())
            except TransportError as exc:
                results.append(exc)

        async with anyio.create_task_group() as group:
            for _ in range(CALLERS):
                group.start_soon(one)
        return results

    if world == "trio":
        return session, lambda: trio.run(client.token), lambda: trio.run(many)
    backend = world.removeprefix("anyio-")
    return (
        session,
        lambda: anyio.run(client.token, backend=backend),
        lambda: anyio.run(many, backend=backend),
    )


def wait_until(condition: Callable[[], bool]) -> None:
    deadline = time.monotonic() + 10
    while not condition():
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.005)


@pytest.mark.parametrize("world", WORLDS)
def test_fork_with_a_fetch_in_flight(world: str, ca: trustme.CA | None) -> None:
    replies = [token_reply("tok-parent", delay=90.0), token_reply("tok-child")]
    parent: list[list[Token | BaseException]] = []
    with serving(replies, ca=ca) as server:
        flow = ClientCredentials(
            token_url=server.url(), client_id="client", client_secret="secret"
        )
        session, child_call, parent_calls = calls_in(world, flow)
        thread = threading.Thread(
            target=lambda: parent.append(parent_calls()), daemon=True
        )
        thread.start()
        wait_until(lambda: len(server.requests) == 1)
        assert state_of(session) is SessionState.FETCHING
        time.sleep(0.05)  # let the parent's second caller park on the event
        children = fork_children(
            CHILDREN, lambda: child_call().access_token, bound=BOUND
        )
        # The parent's fetch is still its own, in flight, untouched.
        assert state_of(session) is SessionState.FETCHING
    # Leaving the server cut the parent's slow request: its callers fail.
    thread.join(timeout=10)
    assert not thread.is_alive()
    assert len(parent) == 1
    assert len(parent[0]) == CALLERS
    assert all(isinstance(r, TransportError) for r in parent[0]), parent
    for child in children:
        assert child.ok, child
        assert child.report == "tok-child", child
        assert child.seconds < BOUND, child
    assert len(server.requests) == 1 + CHILDREN


def test_fork_while_a_thread_holds_the_client_lock() -> None:
    # A parent thread is inside the urllib client's lock at the fork (here
    # held on purpose, for as long as the children live): in a child nothing
    # will release it, so the child's client must not take it.
    replies = [token_reply("tok-parent"), token_reply("tok-child")]
    with serving(replies) as server:
        flow = ClientCredentials(
            token_url=server.url(), client_id="client", client_secret="secret"
        )
        client = urllib_adapter.TokenClient(flow, timeout=10)
        parent = client.token()
        holding, release = threading.Event(), threading.Event()

        def hold() -> None:
            with client._lock:
                holding.set()
                release.wait(30)

        holder = threading.Thread(target=hold, daemon=True)
        holder.start()
        try:
            assert holding.wait(10)

            def in_child() -> str:
                client.invalidate(parent)  # takes the lock too: must not block
                return client.token().access_token

            children = fork_children(CHILDREN, in_child, bound=BOUND)
        finally:
            release.set()
            holder.join(timeout=10)
        assert client.token() is parent  # the parent's client is untouched
    for child in children:
        assert child.ok, child
        assert child.report == "tok-child", child
    assert len(server.requests) == 1 + CHILDREN
