"""The clients on a shared store, in one process: the in-memory store.

The store is real (``MemoryStore`` keeps every rule a shared store keeps);
several clients of one flow stand for several processes, each with its own
session, as a fleet's workers are. The server is the local token server.
What only separate processes and a real Redis can show (a killed owner, a
stopped Redis) is in ``test_fleet_redis.py``.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator

import anyio
import pytest
import trio
from integrations import flow_for, in_tasks, in_threads

from sansio_auth import OAuthError, PasswordGrant, StoredEntry, store_key
from sansio_auth.adapters import anyio as anyio_adapter
from sansio_auth.adapters import trio as trio_adapter
from sansio_auth.adapters import urllib as urllib_adapter
from sansio_auth.adapters.server import TokenServer
from sansio_auth.adapters.stores import MemoryStore


@pytest.fixture
def server() -> Iterator[TokenServer]:
    with TokenServer(token_lifetime=3600) as running:
        yield running


class Switchable(MemoryStore):
    """A memory store that can be made to fail, as a store that is down does:
    every call raises while ``down`` is set."""

    def __init__(self) -> None:
        super().__init__()
        self.down = False

    def _check(self) -> None:
        if self.down:
            raise ConnectionError("store unreachable")

    def read(self, key: str) -> StoredEntry:
        self._check()
        return super().read(key)

    def acquire(self, key: str, owner: str, ttl: float) -> float | None:
        self._check()
        return super().acquire(key, owner, ttl)

    def write(
        self, key: str, owner: str, token: bytes, tag: str, ttl: float | None
    ) -> bool:
        self._check()
        return super().write(key, owner, token, tag, ttl)

    def release(self, key: str, owner: str) -> None:
        self._check()
        super().release(key, owner)


def password_flow(server: TokenServer) -> PasswordGrant:
    creds = server.credentials
    return PasswordGrant(
        token_url=server.generic_token_url,
        username=creds.generic_username,
        password=creds.generic_password,
        client_id=creds.generic_client_id,
        client_secret=creds.generic_client_secret,
    )


def grants(server: TokenServer) -> list[str]:
    return [str(r.fields.get("grant_type", "")) for r in server.token_requests()]


def test_clients_on_one_store_make_one_token_request(server: TokenServer) -> None:
    server.set_latency(0.1)
    store = MemoryStore()
    flow = flow_for(server)
    clients = [urllib_adapter.TokenClient(flow, store=store) for _ in range(4)]
    tokens = in_threads(32, lambda i: clients[i % 4].token())
    assert len(server.token_requests()) == 1
    assert len({t.access_token for t in tokens}) == 1
    stats = [c.session.stats for c in clients]
    assert sum(s.requests_sent for s in stats) == 1
    assert sum(s.adopted for s in stats) == 3


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_async_clients_on_one_store_make_one_token_request(
    server: TokenServer, backend: str
) -> None:
    server.set_latency(0.1)
    store = MemoryStore()
    flow = flow_for(server)

    async def main() -> set[str]:
        clients = [anyio_adapter.TokenClient(flow, store=store) for _ in range(4)]
        count = iter(range(10**6))
        tokens = await in_tasks(200, lambda: clients[next(count) % 4].token())
        return {t.access_token for t in tokens}

    assert len(anyio.run(main, backend=backend)) == 1
    assert len(server.token_requests()) == 1


def test_trio_clients_on_one_store_make_one_token_request(server: TokenServer) -> None:
    server.set_latency(0.1)
    store = MemoryStore()
    flow = flow_for(server)

    async def main() -> set[str]:
        clients = [trio_adapter.TokenClient(flow, store=store) for _ in range(3)]
        tokens: list[str] = []

        async def one(i: int) -> None:
            tokens.append((await clients[i % 3].token()).access_token)

        async with trio.open_nursery() as nursery:
            for i in range(90):
                nursery.start_soon(one, i)
        return set(tokens)

    assert len(trio.run(main)) == 1
    assert len(server.token_requests()) == 1


def test_a_client_adopts_the_stored_token_without_a_request(
    server: TokenServer,
) -> None:
    store = MemoryStore()
    flow = flow_for(server)
    first = urllib_adapter.TokenClient(flow, store=store).token()
    later = urllib_adapter.TokenClient(flow, store=store)
    assert later.token().access_token == first.access_token
    assert len(server.token_requests()) == 1
    assert later.session.stats.requests_sent == 0
    assert later.session.stats.adopted == 1


def test_flows_differing_in_scope_or_user_never_share(server: TokenServer) -> None:
    store = MemoryStore()
    creds = server.credentials
    base = flow_for(server)
    scoped = type(base)(
        token_url=base.token_url,
        client_id=base.client_id,
        client_secret=base.client_secret,
        scope=("read",),
    )
    user = password_flow(server)
    keys = {store_key(f) for f in (base, scoped, user)}
    assert len(keys) == 3
    tokens = {
        urllib_adapter.TokenClient(f, store=store).token().access_token
        for f in (base, scoped, user, base, scoped, user)
    }
    assert len(tokens) == 3
    assert len(server.token_requests()) == 3
    assert creds.generic_username == user.username


def test_a_store_down_never_fails_a_call_and_warns_once(
    server: TokenServer, caplog: pytest.LogCaptureFixture
) -> None:
    store = Switchable()
    store.down = True
    flow = flow_for(server)
    with caplog.at_level(logging.INFO, logger="sansio_auth"):
        for _ in range(3):
            client = urllib_adapter.TokenClient(flow, store=store)
            assert client.token().access_token
        warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
        assert len(warnings) == 1
        assert "ConnectionError" in warnings[0].getMessage()
        assert "unreachable" not in warnings[0].getMessage()  # not its words
        assert len(server.token_requests()) == 3  # each alone
        store.down = False
        shared = urllib_adapter.TokenClient(flow, store=store).token()
        again = urllib_adapter.TokenClient(flow, store=store).token()
    assert shared.access_token == again.access_token  # sharing resumed
    assert len(server.token_requests()) == 4
    infos = [r for r in caplog.records if r.levelno == logging.INFO]
    assert len(infos) == 1


def test_alone_a_client_acquires_anew_and_never_sends_a_stored_refresh_token(
    server: TokenServer,
) -> None:
    store = Switchable()
    flow = password_flow(server)
    now = [time.time()]
    client = urllib_adapter.TokenClient(flow, store=store, clock=lambda: now[0])
    first = client.token()
    assert first.refresh_token
    now[0] += 7200  # expired
    store.down = True
    client.token()
    assert grants(server) == ["password", "password"]


def test_the_fleet_refreshes_under_the_lease_and_never_replays(
    server: TokenServer,
) -> None:
    now = [time.time()]
    store = MemoryStore(clock=lambda: now[0])  # the store's clock is the fleet's
    flow = password_flow(server)
    clients = [
        urllib_adapter.TokenClient(flow, store=store, clock=lambda: now[0])
        for _ in range(4)
    ]
    for _ in range(6):
        in_threads(16, lambda i: clients[i % 4].token())
        now[0] += 3300  # past the refresh point of a one-hour token
    assert server.refresh_replays == 0
    assert all(c.session.stats.refresh_rejected == 0 for c in clients)
    kinds = grants(server)
    assert kinds[0] == "password"
    assert kinds[1:] == ["refresh_token"] * (len(kinds) - 1)
    assert len(kinds) == 6


def test_a_401_for_an_old_token_leaves_the_new_one_stored(
    server: TokenServer,
) -> None:
    store = MemoryStore()
    flow = flow_for(server)
    a = urllib_adapter.TokenClient(flow, store=store)
    b = urllib_adapter.TokenClient(flow, store=store)
    old = a.token()
    assert b.token().access_token == old.access_token
    a.invalidate(old)
    new = a.token()  # deletes the refused one, fetches
    assert new.access_token != old.access_token
    # b saw a 401 for the old token only now: the new one survives.
    b.invalidate(old)
    assert b.token().access_token == new.access_token
    assert len(server.token_requests()) == 2
    later = urllib_adapter.TokenClient(flow, store=store).token()
    assert later.access_token == new.access_token


def test_a_rejected_credential_costs_one_request_for_all(
    server: TokenServer,
) -> None:
    store = MemoryStore()
    flow = flow_for(server, secret="wrong")
    clients = [urllib_adapter.TokenClient(flow, store=store) for _ in range(4)]
    for client in clients * 2:
        with pytest.raises(OAuthError) as caught:
            client.token()
        assert caught.value.error == "invalid_client"
        assert "wrong" not in str(caught.value)
    assert len(server.token_requests()) == 1


def test_a_store_that_is_not_one_is_refused_at_once(server: TokenServer) -> None:
    with pytest.raises(TypeError, match="has no read, acquire"):
        urllib_adapter.TokenClient(flow_for(server), store=object())


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_a_cancelled_owner_releases_its_lease(
    server: TokenServer, backend: str
) -> None:
    store = MemoryStore()
    flow = flow_for(server)
    server.set_latency(5)

    async def main() -> None:
        client = anyio_adapter.TokenClient(flow, store=store)
        with anyio.move_on_after(0.5):
            await client.token()
        assert client.session.stats.abandoned == 1

    anyio.run(main, backend=backend)
    # Released on the way out: another takes the lease at once, not after
    # its time to live (the timeout plus a margin).
    assert store.acquire(store_key(flow), "someone", 10) is None


def test_waiters_of_another_process_wake_when_the_token_is_written(
    server: TokenServer,
) -> None:
    server.set_latency(0.3)
    store = MemoryStore()
    flow = flow_for(server)
    owner = urllib_adapter.TokenClient(flow, store=store)
    follower = urllib_adapter.TokenClient(flow, store=store)
    done: dict[str, float] = {}

    def run(name: str, client: urllib_adapter.TokenClient) -> None:
        client.token()
        done[name] = time.monotonic()

    first = threading.Thread(target=run, args=("owner", owner))
    first.start()
    time.sleep(0.1)  # the owner holds the lease
    run("follower", follower)
    first.join()
    assert len(server.token_requests()) == 1
    # Woken by the write, not by its poll (a second): half of it is the
    # bound, as a thread woken on two loaded CPUs may take a while to run.
    assert done["follower"] - done["owner"] < 0.5


def test_integrations_share_through_one_store(server: TokenServer) -> None:
    import aiohttp
    import httpx
    import requests

    from sansio_auth.adapters.aiohttp import TokenMiddleware
    from sansio_auth.adapters.httpx import TokenAuth as HttpxAuth
    from sansio_auth.adapters.requests import TokenAuth as RequestsAuth

    store = MemoryStore()
    flow = flow_for(server)
    url = server.resource_url
    with httpx.Client(auth=HttpxAuth(flow, store=store)) as client:
        assert client.get(url).status_code == 200
    with requests.Session() as session:
        session.auth = RequestsAuth(flow, store=store)
        assert session.get(url).status_code == 200

    async def with_httpx_async() -> int:
        async with httpx.AsyncClient(auth=HttpxAuth(flow, store=store)) as client:
            return (await client.get(url)).status_code

    async def with_aiohttp() -> int:
        middleware = TokenMiddleware(flow, store=store)
        async with (
            aiohttp.ClientSession(middlewares=(middleware,)) as session,
            session.get(url) as response,
        ):
            return response.status

    assert anyio.run(with_httpx_async) == 200
    assert anyio.run(with_aiohttp) == 200
    assert len(server.token_requests()) == 1
    tokens = {
        r.header("Authorization") for r in server.requests if r.endpoint == "resource"
    }
    assert len(tokens) == 1


def test_integrations_refuse_a_store_that_is_not_one(server: TokenServer) -> None:
    from sansio_auth.adapters.httpx import TokenAuth as HttpxAuth

    with pytest.raises(TypeError, match="store must be a Store"):
        HttpxAuth(flow_for(server), store="redis://localhost")  # type: ignore[arg-type]


def test_a_memory_store_works_in_a_child_forked_while_its_lock_was_held() -> None:
    # Neither the lock a parent thread held nor the lease of a fetch the
    # child will never finish is the child's.
    import os

    store = MemoryStore()
    assert store.acquire("k", "a fetch of the parent's", 60) is None
    held = threading.Event()
    release = threading.Event()

    def hold() -> None:
        with store._changed:
            held.set()
            release.wait(5)

    holder = threading.Thread(target=hold)
    holder.start()
    held.wait(5)
    try:
        pid = os.fork()
        if pid == 0:  # the child: the parent's holder thread is not here
            code = 0
            try:
                import signal

                signal.alarm(5)
                code = 0 if store.acquire("k", "child", 1) is None else 1
            finally:
                os._exit(code)
        _, status = os.waitpid(pid, 0)
    finally:
        release.set()
        holder.join()
    assert os.waitstatus_to_exitcode(status) == 0


def test_a_failure_beside_a_due_token_is_waited_out_by_the_fleet(
    server: TokenServer,
) -> None:
    now = [time.time()]
    store = MemoryStore(clock=lambda: now[0])
    flow = flow_for(server)
    clients = [
        urllib_adapter.TokenClient(flow, store=store, clock=lambda: now[0])
        for _ in range(8)
    ]
    first = clients[0].token()
    now[0] += 3400  # past the refresh point, before the deadline
    server.fail_next(20, 503, 120)
    for client in clients * 2:
        assert client.token().access_token == first.access_token
    # One refresh attempt for the fleet; the others use the token meanwhile.
    assert len(server.token_requests()) == 2


class SlowAsyncStore:
    """An AsyncStore over a MemoryStore whose acquire takes its time after
    taking the lease, as a store whose reply is slow to come back."""

    def __init__(self) -> None:
        self.inner = MemoryStore()
        self.prefix = self.inner.prefix

    async def read(self, key: str) -> StoredEntry:
        return self.inner.read(key)

    async def acquire(self, key: str, owner: str, ttl: float) -> float | None:
        left = self.inner.acquire(key, owner, ttl)
        await anyio.sleep(1)
        return left

    async def write(
        self, key: str, owner: str, token: bytes, tag: str, ttl: float | None
    ) -> bool:
        return self.inner.write(key, owner, token, tag, ttl)

    async def fail(self, key: str, owner: str, failure: bytes, ttl: float) -> bool:
        return self.inner.fail(key, owner, failure, ttl)

    async def release(self, key: str, owner: str) -> None:
        self.inner.release(key, owner)

    async def discard(self, key: str, tag: str) -> bool:
        return self.inner.discard(key, tag)

    async def wait(self, key: str, timeout: float) -> None:
        await anyio.sleep(min(timeout, 0.01))

    async def close(self) -> None:
        pass


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_a_task_cancelled_while_taking_the_lease_releases_it(
    server: TokenServer, backend: str
) -> None:
    store = SlowAsyncStore()
    flow = flow_for(server)

    async def main() -> None:
        client = anyio_adapter.TokenClient(flow, store=store)
        with anyio.move_on_after(0.2):
            await client.token()

    anyio.run(main, backend=backend)
    assert store.inner.acquire(store_key(flow), "someone", 10) is None


def test_a_sync_client_refuses_an_async_store(server: TokenServer) -> None:
    with pytest.raises(TypeError, match="a sync client cannot await"):
        urllib_adapter.TokenClient(flow_for(server), store=SlowAsyncStore())


def test_an_asyncio_store_is_refused_under_trio(server: TokenServer) -> None:
    from sansio_auth.adapters.redis import AsyncRedisStore

    flow = flow_for(server)
    store = AsyncRedisStore.from_url("redis://127.0.0.1:1/0")  # never reached
    with pytest.raises(TypeError, match="runs on asyncio, not trio"):
        trio_adapter.TokenClient(flow, store=store)

    async def main() -> None:
        client = anyio_adapter.TokenClient(flow, store=store)
        with pytest.raises(TypeError, match="runs on asyncio, not trio"):
            await client.token()

    anyio.run(main, backend="trio")
    assert server.token_requests() == []


def test_a_401_that_comes_while_a_fetch_waits_is_not_adopted_after(
    server: TokenServer,
) -> None:
    from sansio_auth import Token, encode_stored, token_tag

    store = MemoryStore()
    flow = flow_for(server)
    key = store_key(flow)
    assert store.acquire(key, "another process", 10) is None
    client = urllib_adapter.TokenClient(flow, store=store)
    got: list[Token] = []
    waiting = threading.Thread(target=lambda: got.append(client.token()))
    waiting.start()
    time.sleep(0.2)  # it waits for the other process's lease
    refused = flow.parse(
        urllib_adapter.send(flow.token_request(), timeout=5), now=time.time()
    )
    assert isinstance(refused, Token)
    client.invalidate(refused)  # an API call of this client got a 401 for it
    assert store.write(
        key, "another process", encode_stored(refused), token_tag(refused), 3600
    )
    store.release(key, "another process")
    waiting.join(10)
    assert got
    assert got[0].access_token != refused.access_token
    assert len(server.token_requests()) == 2  # the refused one, and ours
