"""The shared default TLS context (``adapters/_tls.py``).

Building a verified context reads the whole system trust store
(``set_default_verify_paths``): about 15 ms, a few MB, and, in an event
loop, a stall of the loop. So the adapters build one, on first use, and
share it: two threads racing to build it build it once, a fork waits for
a build under way (a child forked inside OpenSSL could hang), and
the trio and anyio TokenClients build it in a worker thread, off the loop.
A token client whose requests go through the user's own client (httpx's,
requests', aiohttp's) builds none: that client verifies TLS as it was
configured.

Each test builds the context afresh (the module's cached one is put aside,
and restored after), trusting a ``trustme`` CA through ``SSL_CERT_FILE``,
and counts the builds with a spy that calls the real
``ssl.create_default_context``.
"""

from __future__ import annotations

import os
import ssl
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp
import anyio
import attrs
import httpx
import pytest
import requests
import trio
import trustme
from forking import fork_children
from http_server import serving, token_reply

from sansio_auth import ClientCredentials
from sansio_auth.adapters import _tls
from sansio_auth.adapters import aiohttp as aiohttp_adapter
from sansio_auth.adapters import anyio as anyio_adapter
from sansio_auth.adapters import httpx as httpx_adapter
from sansio_auth.adapters import requests as requests_adapter
from sansio_auth.adapters import trio as trio_adapter
from sansio_auth.adapters import urllib as urllib_adapter


@attrs.define
class Builds:
    """The calls of ``ssl.create_default_context``: by which thread, in
    which process."""

    threads: list[int] = attrs.Factory(list)
    pids: list[int] = attrs.Factory(list)
    real: Callable[..., ssl.SSLContext] = ssl.create_default_context
    # Set to block the next build in the parent (see the fork test).
    hold: threading.Event | None = None
    holding: threading.Event = attrs.Factory(threading.Event)
    parent: int = attrs.Factory(os.getpid)

    def __call__(self, *args: Any, **kwargs: Any) -> ssl.SSLContext:
        self.threads.append(threading.get_ident())
        self.pids.append(os.getpid())
        if self.hold is not None and os.getpid() == self.parent:
            self.holding.set()
            self.hold.wait(30)
        time.sleep(0.01)  # widen the window in which a second thread could build
        return self.real(*args, **kwargs)


@pytest.fixture
def ca(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> trustme.CA:
    """A CA that the default context, built afresh, trusts."""
    authority = trustme.CA()
    pem = tmp_path / "ca.pem"
    authority.cert_pem.write_to_path(str(pem))
    monkeypatch.setenv("SSL_CERT_FILE", str(pem))
    return authority


@pytest.fixture
def builds(ca: trustme.CA, monkeypatch: pytest.MonkeyPatch) -> Builds:
    spy = Builds()
    monkeypatch.setattr(_tls, "_default_context", None, raising=False)
    monkeypatch.setattr(ssl, "create_default_context", spy)
    return spy


def flow_for(url: str) -> ClientCredentials:
    return ClientCredentials(token_url=url, client_id="client", client_secret="s")


def test_built_once_by_racing_threads(builds: Builds) -> None:
    barrier = threading.Barrier(8)
    got: list[ssl.SSLContext] = []

    def build() -> None:
        barrier.wait()
        got.append(_tls.default_ssl_context())

    threads = [threading.Thread(target=build) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
    assert len(got) == 8
    assert all(context is got[0] for context in got)
    assert len(builds.threads) == 1
    assert got[0].verify_mode is ssl.CERT_REQUIRED
    assert got[0].check_hostname


def test_plain_http_builds_none(builds: Builds) -> None:
    with serving([token_reply("tok")]) as plain:
        request = flow_for(plain.url()).token_request()
        assert urllib_adapter.send(request, timeout=10).status == 200
    assert builds.threads == []
    assert _tls.built_default_ssl_context() is None


def test_sends_share_it(builds: Builds, ca: trustme.CA) -> None:
    with (
        serving([token_reply("tok")]) as plain,
        serving([token_reply("tok")], ca=ca) as tls,
    ):
        for server in (plain, tls, plain, tls):
            request = flow_for(server.url()).token_request()
            assert urllib_adapter.send(request, timeout=10).status == 200
        client = urllib_adapter.TokenClient(flow_for(tls.url()), timeout=10)
        for _ in range(3):
            client.invalidate(client.token())
    assert len(tls.requests) == 5
    assert len(builds.threads) == 1


def test_a_fork_waits_for_a_build_under_way(builds: Builds) -> None:
    # A parent thread is inside the build when another forks. A child
    # forked then could hang forever on OpenSSL's own locks (seen: 1 child
    # in 12, past its timeout), which nothing in the child would release;
    # so the fork waits for the build to end, and the child inherits the
    # context built.
    builds.hold = threading.Event()
    got: list[ssl.SSLContext] = []
    builder = threading.Thread(target=lambda: got.append(_tls.default_ssl_context()))
    builder.start()
    try:
        assert builds.holding.wait(10)
        release = threading.Timer(0.3, builds.hold.set)
        release.start()

        def in_child() -> str:
            inherited = _tls.built_default_ssl_context()
            if inherited is None or inherited is not _tls.default_ssl_context():
                return "built its own"
            return "inherited"

        children = fork_children(4, in_child, bound=5)
    finally:
        builds.hold.set()
        builder.join(timeout=10)
    for child in children:
        assert child.ok, child
        assert child.report == "inherited", child
    assert len(got) == 1
    assert builds.pids == [os.getpid()]  # no child built one


WORLDS = ["trio", "anyio-asyncio", "anyio-trio"]


def run_in(world: str, main: Callable[[], Any]) -> Any:
    if world == "trio":
        return trio.run(main)
    return anyio.run(main, backend=world.removeprefix("anyio-"))


@pytest.mark.parametrize("world", WORLDS)
def test_async_client_builds_it_off_the_loop(
    world: str, builds: Builds, ca: trustme.CA
) -> None:
    module = trio_adapter if world == "trio" else anyio_adapter
    with serving([token_reply("tok-1"), token_reply("tok-2")], ca=ca) as server:
        client = module.TokenClient(flow_for(server.url()), timeout=10)
        loop_thread = threading.get_ident()

        async def main() -> list[str]:
            first = await client.token()
            client.invalidate(first)
            second = await client.token()  # built already: no thread this time
            return [first.access_token, second.access_token]

        assert run_in(world, main) == ["tok-1", "tok-2"]
    assert len(builds.threads) == 1
    assert builds.threads[0] != loop_thread


# -- token requests through the user's own client ------------------------------

API_URL = "https://api.example.test/v1/things"


def trusting(ca: trustme.CA) -> ssl.SSLContext:
    """A client context trusting *ca*, made without ssl.create_default_context
    (the spy's): only our default context's build is counted."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ca.configure_trust(context)
    return context


async def through_an_httpx_async_client(url: str, ca: trustme.CA) -> str:
    async with httpx.AsyncClient(verify=trusting(ca)) as users:
        auth = httpx_adapter.TokenAuth(flow_for(url), timeout=10, async_client=users)
        flow = auth.async_auth_flow(httpx.Request("GET", API_URL))
        try:
            sent = await flow.__anext__()
        finally:
            await flow.aclose()
    return sent.headers["Authorization"]


def through_an_httpx_client(url: str, ca: trustme.CA) -> str:
    with httpx.Client(verify=trusting(ca)) as users:
        auth = httpx_adapter.TokenAuth(flow_for(url), timeout=10, client=users)
        flow = auth.sync_auth_flow(httpx.Request("GET", API_URL))
        try:
            sent = next(flow)
        finally:
            flow.close()
    return sent.headers["Authorization"]


async def through_an_aiohttp_session(url: str, ca: trustme.CA) -> str:
    connector = aiohttp.TCPConnector(ssl=trusting(ca))
    async with aiohttp.ClientSession(connector=connector) as users:
        middleware = aiohttp_adapter.TokenMiddleware(
            flow_for(url), timeout=10, session=users
        )
        return await middleware.client.authorization()


def through_a_requests_session(url: str, ca: trustme.CA) -> str:
    with requests.Session() as users:
        # Else a REQUESTS_CA_BUNDLE of the environment's would win, as it
        # does for session.post.
        users.trust_env = False
        users.verify = os.environ["SSL_CERT_FILE"]  # the ca fixture's
        auth = requests_adapter.TokenAuth(flow_for(url), timeout=10, session=users)
        sent = auth(requests.Request("GET", API_URL).prepare())
    return str(sent.headers["Authorization"])


USERS_CLIENTS = [
    pytest.param(
        lambda url, ca: anyio.run(through_an_httpx_async_client, url, ca),
        id="httpx.AsyncClient on asyncio",
    ),
    pytest.param(
        lambda url, ca: anyio.run(
            through_an_httpx_async_client, url, ca, backend="trio"
        ),
        id="httpx.AsyncClient on trio",
    ),
    pytest.param(
        lambda url, ca: anyio.run(through_an_aiohttp_session, url, ca),
        id="aiohttp.ClientSession",
    ),
    pytest.param(through_an_httpx_client, id="httpx.Client"),
    pytest.param(through_a_requests_session, id="requests.Session"),
]


@pytest.mark.parametrize("through", USERS_CLIENTS)
def test_a_token_request_through_the_users_client_builds_none(
    through: Callable[[str, trustme.CA], str], builds: Builds, ca: trustme.CA
) -> None:
    # An https token URL, and a client of the user's that verifies it: the
    # token clients' loop would build a default context for nothing.
    with serving([token_reply("tok")], ca=ca) as tls:
        assert through(tls.url(), ca) == "Bearer tok"
        assert len(tls.requests) == 1
    assert _tls.built_default_ssl_context() is None
    assert builds.threads == []


def test_aiohttp_without_a_session_builds_it_off_the_loop(
    builds: Builds, ca: trustme.CA
) -> None:
    # Its token requests take urllib's send, in a worker thread: the one
    # default context is built there, once, not on the loop.
    with serving([token_reply("tok-1"), token_reply("tok-2")], ca=ca) as tls:
        middleware = aiohttp_adapter.TokenMiddleware(flow_for(tls.url()), timeout=10)
        loop_thread = threading.get_ident()

        async def main() -> list[str]:
            first = await middleware.client.token()
            middleware.client.invalidate(first)
            second = await middleware.client.token()
            return [first.access_token, second.access_token]

        assert anyio.run(main) == ["tok-1", "tok-2"]
    assert len(builds.threads) == 1
    assert builds.threads[0] != loop_thread
    assert _tls.built_default_ssl_context() is not None
