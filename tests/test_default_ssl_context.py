"""The shared default TLS context (``adapters/_tls.py``).

Building a verified context reads the whole system trust store
(``set_default_verify_paths``): about 15 ms, a few MB, and, in an event
loop, a stall of the loop. So the adapters build one, on first use, and
share it: two threads racing to build it build it once, a fork waits for
a build under way (a child forked inside OpenSSL could hang), and
the trio and anyio TokenClients build it in a worker thread, off the loop.

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

import anyio
import attrs
import pytest
import trio
import trustme
from forking import fork_children
from http_server import serving, token_reply

from sansio_auth import ClientCredentials
from sansio_auth.adapters import _tls
from sansio_auth.adapters import anyio as anyio_adapter
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
