"""Every adapter's TokenClient, driven from plain test code.

A :class:`World` makes a TokenClient of its adapter (urllib; trio; anyio on
asyncio; anyio on trio) and wraps it in a :class:`Driven` client whose
methods are plain calls: for an async client each call runs in a fresh event
loop of the world (``trio.run``, ``anyio.run``), as a TokenClient allows one
loop after another. API requests go through the same world's ``send``.

So one test body, parametrized by world, proves a feature through every
TokenClient, over real connections to a real server.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Final, TypeVar

import anyio
import attrs
import pytest
import trio

from sansio_auth import Flow, HttpRequest, HttpResponse, Token, TokenSession
from sansio_auth.adapters import anyio as anyio_adapter
from sansio_auth.adapters import trio as trio_adapter
from sansio_auth.adapters import urllib as urllib_adapter

__all__ = ["WORLDS", "WORLD_IDS", "Driven", "World", "api_request", "chosen"]

T = TypeVar("T")
TIMEOUT: Final = 20.0


@attrs.frozen
class World:
    """One adapter, and the event loop its client runs in (none: urllib)."""

    name: str
    module: Any
    backend: str | None
    """``trio`` or ``asyncio`` for anyio, ``trio`` for trio, None for urllib."""

    @property
    def is_async(self) -> bool:
        return self.backend is not None

    def run(self, fn: Callable[[], Awaitable[T]]) -> T:
        """Run the coroutine function *fn* in a fresh loop of this world."""
        if self.module is trio_adapter:
            return trio.run(fn)
        assert self.backend is not None
        return anyio.run(fn, backend=self.backend)

    def client(self, flow: Flow, **kwargs: Any) -> Driven:
        """A TokenClient of this world for *flow* (``timeout`` defaulted)."""
        kwargs.setdefault("timeout", TIMEOUT)
        return Driven(self, self.module.TokenClient(flow, **kwargs))

    def send(self, request: HttpRequest, **kwargs: Any) -> HttpResponse:
        """*request* through this world's ``send``."""
        kwargs.setdefault("timeout", TIMEOUT)
        if not self.is_async:
            response: HttpResponse = self.module.send(request, **kwargs)
            return response

        async def go() -> HttpResponse:
            sent: HttpResponse = await self.module.send(request, **kwargs)
            return sent

        return self.run(go)


WORLDS: Final = (
    World("urllib", urllib_adapter, None),
    World("trio", trio_adapter, "trio"),
    World("anyio-asyncio", anyio_adapter, "asyncio"),
    World("anyio-trio", anyio_adapter, "trio"),
)


WORLD_IDS: Final = [w.name for w in WORLDS]


def chosen(request: pytest.FixtureRequest) -> World:
    """The world a fixture parametrized by ``WORLDS`` was given; each test
    module declares the fixture itself (``world``), since pytest takes
    fixtures from conftest files and plugins, not from helper modules."""
    param: World = request.param
    return param


class Driven:
    """A TokenClient of any world, with plain methods."""

    def __init__(self, world: World, client: Any) -> None:
        self.world = world
        self.client = client

    @property
    def session(self) -> TokenSession:
        session: TokenSession = self.client.session
        return session

    @property
    def proofs(self) -> Any:
        return self.client.proofs

    @property
    def ssl_context(self) -> Any:
        return self.client.ssl_context

    def token(self) -> Token:
        if not self.world.is_async:
            token: Token = self.client.token()
            return token

        async def go() -> Token:
            got: Token = await self.client.token()
            return got

        return self.world.run(go)

    def auth_headers(self, method: str, url: str) -> dict[str, str]:
        if not self.world.is_async:
            headers: dict[str, str] = self.client.auth_headers(method, url)
            return headers

        async def go() -> dict[str, str]:
            made: dict[str, str] = await self.client.auth_headers(method, url)
            return made

        return self.world.run(go)

    def learn_dpop_nonce(self, url: str, nonce: str | None) -> bool:
        learnt: bool = self.client.learn_dpop_nonce(url, nonce)
        return learnt

    def invalidate(self, token: Token | str) -> None:
        self.client.invalidate(token)

    def call_api(
        self, method: str, url: str, *, ssl_context: Any = None
    ) -> HttpResponse:
        """One API request with :meth:`auth_headers`, through the world's
        ``send`` (over the client's own TLS context unless given one: the
        one that carries its certificate)."""
        request = api_request(method, url, self.auth_headers(method, url))
        context = self.ssl_context if ssl_context is None else ssl_context
        return self.world.send(request, ssl_context=context)


def api_request(method: str, url: str, headers: dict[str, str]) -> HttpRequest:
    return HttpRequest(method=method, url=url, headers=tuple(headers.items()), body=b"")
