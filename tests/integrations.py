"""What the integrations' tests (httpx, requests, aiohttp) share.

A flow for the local token server's generic endpoint, the API requests its
record holds, a burst of calls in threads or in tasks, a ticker that sees a
blocked event loop, a loopback port nothing listens on, and servers that
drip their answers slower than any timeout allows. Each library's
own helpers (its sessions, its retries, its error checks) stay in its tests.

And :class:`Driver`: each integration (httpx's ``TokenAuth`` on a
``Client``, on an ``AsyncClient`` under asyncio and under trio, requests'
``TokenAuth`` on a ``Session``, aiohttp's ``TokenMiddleware`` on a
``ClientSession``) behind one synchronous face, so that one test body runs
against all five (:func:`open_driver`, :data:`KINDS`). The async ones run
their client in an event loop of a blocking portal's thread
(``anyio.from_thread``), made, used and closed there.
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import json
import socket
import ssl
import threading
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal, Self, TypeVar

import anyio
import anyio.from_thread
import attrs

from sansio_auth import ClientAuth, ClientCredentials
from sansio_auth.adapters.server import RecordedRequest, TokenServer

__all__ = [
    "KINDS",
    "Answer",
    "ApiTls",
    "Dripping",
    "Driver",
    "Kind",
    "Ticker",
    "api_requests",
    "closed_port",
    "dripping",
    "driving",
    "flow_for",
    "in_tasks",
    "in_threads",
    "open_driver",
]

T = TypeVar("T")


def flow_for(
    server: TokenServer,
    *,
    secret: str | None = None,
    auth: ClientAuth = "client_secret_post",
) -> ClientCredentials:
    """The client credentials flow of *server*'s generic endpoint, with
    another *secret* (one it refuses) if given."""
    creds = server.credentials
    return ClientCredentials(
        token_url=server.generic_token_url,
        client_id=creds.generic_client_id,
        client_secret=creds.generic_client_secret if secret is None else secret,
        auth=auth,
    )


def api_requests(server: TokenServer) -> list[RecordedRequest]:
    """The requests *server*'s protected resource (the API) got, in order."""
    return [r for r in server.requests if r.endpoint == "resource"]


def in_threads(count: int, call: Callable[[int], T]) -> list[T]:
    """*call(i)* in *count* threads started together; their results in order
    (an exception is raised here, in the test)."""
    barrier = threading.Barrier(count)
    results: dict[int, T] = {}
    errors: list[BaseException] = []

    def run(i: int) -> None:
        try:
            barrier.wait(timeout=30)
            results[i] = call(i)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads)
    if errors:
        raise errors[0]
    return [results[i] for i in range(count)]


async def in_tasks(count: int, call: Callable[[], Awaitable[T]]) -> list[T]:
    """*call()* in *count* concurrent tasks (asyncio or trio); their results
    in order, within 60 s."""
    results: dict[int, T] = {}

    async def one(i: int) -> None:
        results[i] = await call()

    with anyio.fail_after(60):
        async with anyio.create_task_group() as group:
            for i in range(count):
                group.start_soon(one, i)
    return [results[i] for i in range(count)]


SLOW_TOKEN = 2.0
"""Seconds a slow token endpoint takes in the loop-blocking tests: a fetch
that blocked the loop would stop a :class:`Ticker` for at least as long."""

BLOCKED = SLOW_TOKEN / 2
"""A :class:`Ticker` gap this long means the loop was blocked by the fetch.
Half the token's latency, not a tighter figure: 50 to 500 answers handled
in one turn of the loop under coverage on two loaded CPUs have shown gaps
of 0.25 s without anything blocking (CI, with a 0.5 s token and a 0.25 s
bound)."""


class Ticker:
    """A task sleeping 5 ms a time, and the gaps between its wake-ups: a
    loop blocked for a while shows as a long gap."""

    def __init__(self) -> None:
        self.gaps: list[float] = []
        self.done = anyio.Event()
        """Set it to end :meth:`run`."""

    @property
    def max_gap(self) -> float:
        """The longest gap seen (0 before any)."""
        return max(self.gaps, default=0.0)

    async def run(self) -> None:
        last = time.perf_counter()
        while not self.done.is_set():
            await anyio.sleep(0.005)
            now = time.perf_counter()
            self.gaps.append(now - last)
            last = now


def closed_port() -> int:
    """A loopback port that nothing listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


class Dripping:
    """A loopback server answering every request with *pieces*, *gap*
    seconds apart (a head or a body trickled in, slower than any timeout
    allows, each piece well within a read timeout); a context manager."""

    def __init__(self, pieces: Sequence[bytes], *, gap: float = 0.1) -> None:
        self._pieces = tuple(pieces)
        self._gap = gap
        self._stop = threading.Event()
        self._sock = socket.create_server(("127.0.0.1", 0))
        self.address = f"127.0.0.1:{self._sock.getsockname()[1]}"
        self._threads: list[threading.Thread] = []

    def __enter__(self) -> Self:
        self._spawn(self._accept)
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        with contextlib.suppress(OSError):
            self._sock.shutdown(socket.SHUT_RDWR)
        self._sock.close()
        for thread in self._threads:
            thread.join(timeout=5)

    def _spawn(self, target: Callable[..., None], *args: object) -> None:
        thread = threading.Thread(target=target, args=args, daemon=True)
        thread.start()
        self._threads.append(thread)

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return
            self._spawn(self._drip, conn)

    def _drip(self, conn: socket.socket) -> None:
        with conn, contextlib.suppress(OSError):  # the client cutting it
            head = b""
            while b"\r\n\r\n" not in head:
                got = conn.recv(65536)
                if not got:
                    return
                head += got
            for piece in self._pieces:
                conn.sendall(piece)
                if self._stop.wait(self._gap):
                    return


@contextmanager
def dripping(head: bytes, drip: bytes, *, seconds: float = 6.0) -> Iterator[str]:
    """A loopback server that answers each request with *head* at once, then
    *drip* over and over, one byte every 0.05 s, for *seconds*; yields its
    token URL. Every read of such an answer is short: only a bound on the
    whole exchange ends it before the drip does."""
    count = int(seconds / 0.05)
    pieces = [
        head,
        *(bytes([byte]) for byte in itertools.islice(itertools.cycle(drip), count)),
    ]
    with Dripping(pieces, gap=0.05) as server:
        yield f"http://{server.address}/token"


# -- one face for every integration ------------------------------------------

Kind = Literal["httpx-sync", "httpx-asyncio", "httpx-trio", "requests", "aiohttp"]
KINDS: tuple[Kind, ...] = (
    "httpx-sync",
    "httpx-asyncio",
    "httpx-trio",
    "requests",
    "aiohttp",
)
"""Every integration, as :func:`open_driver` names them."""


@attrs.frozen(kw_only=True)
class ApiTls:
    """How the user's own client speaks TLS: the CA it trusts, and the
    client certificate it presents, if any (``(cert_path, key_path)``)."""

    ca: Path
    cert: tuple[str, str] | None = None

    def context(self, *, bare: bool = False) -> ssl.SSLContext:
        """A client context trusting :attr:`ca`, with :attr:`cert` unless
        *bare*."""
        context = ssl.create_default_context(cafile=str(self.ca))
        if self.cert is not None and not bare:
            context.load_cert_chain(*self.cert)
        return context


@attrs.frozen(kw_only=True)
class Answer:
    """An API response, read whole."""

    status: int
    body: bytes
    history: tuple[int, ...] = ()
    """The statuses of the responses before it (a refused first try, the
    redirects followed), as the library keeps them (aiohttp: redirects only)."""

    def json(self) -> Any:
        return json.loads(self.body)


class Driver:
    """An integration behind a synchronous face (module notes): its API
    client, with the integration in it, and a second client of the same
    integration without the client certificate (``bare``)."""

    kind: Kind

    def request(
        self,
        method: str,
        url: str,
        *,
        params: Mapping[str, str] | None = None,
        content: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        follow: bool = False,
        bare: bool = False,
    ) -> Answer:
        """Send one request through the integration (*bare*: through the
        client that presents no certificate); *follow* redirects."""
        raise NotImplementedError

    def burst(self, count: int, url: str) -> list[int]:
        """GET *url* *count* times at once (threads or tasks); the statuses."""
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError


def open_driver(
    kind: Kind,
    flow: Any,
    *,
    tls: ApiTls | None = None,
    through_user: bool = False,
    **options: Any,
) -> Driver:
    """The integration *kind* for *flow*, with *options* (``dpop_key=``,
    ``client_cert=``, ``timeout=``...), its API client speaking *tls*; token
    requests through the user's own client when *through_user* (the API
    client itself for httpx and requests, a second ``ClientSession`` like it
    for aiohttp), else through the integration's own transport."""
    options.setdefault("timeout", 10.0)
    if kind == "httpx-sync":
        return _HttpxSync(flow, tls, through_user, options)
    if kind == "requests":
        return _Requests(flow, tls, through_user, options)
    if kind == "aiohttp":
        return _Aiohttp(flow, tls, through_user, options)
    backend = kind.partition("-")[2]
    return _HttpxAsync(flow, tls, through_user, options, backend)


@contextmanager
def driving(kind: Kind, flow: Any, **arguments: Any) -> Iterator[Driver]:
    """:func:`open_driver`, closed on the way out."""
    driver = open_driver(kind, flow, **arguments)
    try:
        yield driver
    finally:
        driver.close()


class _HttpxSync(Driver):
    kind: Kind = "httpx-sync"

    def __init__(
        self,
        flow: Any,
        tls: ApiTls | None,
        through_user: bool,
        options: dict[str, Any],
    ) -> None:
        import httpx

        from sansio_auth.adapters.httpx import TokenAuth

        verify: ssl.SSLContext | bool = True if tls is None else tls.context()
        bare: ssl.SSLContext | bool = True if tls is None else tls.context(bare=True)
        self.client = httpx.Client(verify=verify, timeout=30)
        self.auth = TokenAuth(
            flow, client=self.client if through_user else None, **options
        )
        self.client.auth = self.auth
        self.bare = httpx.Client(verify=bare, timeout=30, auth=self.auth)

    def request(
        self,
        method: str,
        url: str,
        *,
        params: Mapping[str, str] | None = None,
        content: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        follow: bool = False,
        bare: bool = False,
    ) -> Answer:
        client = self.bare if bare else self.client
        response = client.request(
            method,
            url,
            params=params,
            content=content,
            headers=headers,
            follow_redirects=follow,
        )
        return Answer(
            status=response.status_code,
            body=response.content,
            history=tuple(r.status_code for r in response.history),
        )

    def burst(self, count: int, url: str) -> list[int]:
        return in_threads(count, lambda _: self.client.get(url).status_code)

    def close(self) -> None:
        self.client.close()
        self.bare.close()


class _Portal(Driver):
    """An async integration run in a blocking portal's event loop."""

    def __init__(self, backend: str) -> None:
        self._portal_cm = anyio.from_thread.start_blocking_portal(backend)
        self.portal = self._portal_cm.__enter__()

    def call(self, function: Callable[[], Awaitable[T]]) -> T:
        return self.portal.call(function)

    def _stop(self) -> None:
        self._portal_cm.__exit__(None, None, None)


class _HttpxAsync(_Portal):
    def __init__(
        self,
        flow: Any,
        tls: ApiTls | None,
        through_user: bool,
        options: dict[str, Any],
        backend: str,
    ) -> None:
        import httpx

        from sansio_auth.adapters.httpx import TokenAuth

        super().__init__(backend)
        self.kind = "httpx-trio" if backend == "trio" else "httpx-asyncio"
        verify: ssl.SSLContext | bool = True if tls is None else tls.context()
        bare: ssl.SSLContext | bool = True if tls is None else tls.context(bare=True)
        self.client = httpx.AsyncClient(verify=verify, timeout=30)
        self.auth = TokenAuth(
            flow, async_client=self.client if through_user else None, **options
        )
        self.client.auth = self.auth
        self.bare = httpx.AsyncClient(verify=bare, timeout=30, auth=self.auth)

    def request(
        self,
        method: str,
        url: str,
        *,
        params: Mapping[str, str] | None = None,
        content: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        follow: bool = False,
        bare: bool = False,
    ) -> Answer:
        client = self.bare if bare else self.client

        async def send() -> Answer:
            response = await client.request(
                method,
                url,
                params=params,
                content=content,
                headers=headers,
                follow_redirects=follow,
            )
            return Answer(
                status=response.status_code,
                body=response.content,
                history=tuple(r.status_code for r in response.history),
            )

        return self.call(send)

    def burst(self, count: int, url: str) -> list[int]:
        async def run() -> list[int]:
            responses = await in_tasks(count, lambda: self.client.get(url))
            return [r.status_code for r in responses]

        return self.call(run)

    def close(self) -> None:
        async def close() -> None:
            await self.client.aclose()
            await self.bare.aclose()

        try:
            self.call(close)
        finally:
            self._stop()


class _Requests(Driver):
    kind: Kind = "requests"

    def __init__(
        self,
        flow: Any,
        tls: ApiTls | None,
        through_user: bool,
        options: dict[str, Any],
    ) -> None:
        import requests
        import requests.adapters

        from sansio_auth.adapters.requests import TokenAuth

        def session(cert: tuple[str, str] | None) -> requests.Session:
            made = requests.Session()
            for prefix in ("http://", "https://"):
                made.mount(prefix, requests.adapters.HTTPAdapter(pool_maxsize=64))
            if tls is not None:
                # Else REQUESTS_CA_BUNDLE, when set, wins over verify.
                made.trust_env = False
                made.verify = str(tls.ca)
                made.cert = cert
            return made

        self.client = session(None if tls is None else tls.cert)
        self.auth = TokenAuth(
            flow, session=self.client if through_user else None, **options
        )
        self.client.auth = self.auth
        self.bare = session(None)
        self.bare.auth = self.auth

    def request(
        self,
        method: str,
        url: str,
        *,
        params: Mapping[str, str] | None = None,
        content: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        follow: bool = False,
        bare: bool = False,
    ) -> Answer:
        client = self.bare if bare else self.client
        response = client.request(
            method,
            url,
            params=params,
            data=content,
            headers=headers,
            allow_redirects=follow,
            timeout=30,
        )
        return Answer(
            status=response.status_code,
            body=response.content,
            history=tuple(r.status_code for r in response.history),
        )

    def burst(self, count: int, url: str) -> list[int]:
        return in_threads(count, lambda _: self.client.get(url, timeout=30).status_code)

    def close(self) -> None:
        self.client.close()
        self.bare.close()


class _Aiohttp(_Portal):
    kind: Kind = "aiohttp"

    def __init__(
        self,
        flow: Any,
        tls: ApiTls | None,
        through_user: bool,
        options: dict[str, Any],
    ) -> None:
        super().__init__("asyncio")
        self._tls = tls
        self._flow = flow
        self._through_user = through_user
        self._options = options
        try:
            self.call(self._open)
        except BaseException:
            self._stop()
            raise

    async def _open(self) -> None:
        import aiohttp

        from sansio_auth.adapters.aiohttp import TokenMiddleware

        tls = self._tls

        def session(*, bare: bool = False, **more: Any) -> aiohttp.ClientSession:
            ssl_option: ssl.SSLContext | bool = True
            if tls is not None:
                ssl_option = tls.context(bare=bare)
            return aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(ssl=ssl_option, limit=0), **more
            )

        self.tokens = session() if self._through_user else None
        self.auth = TokenMiddleware(self._flow, session=self.tokens, **self._options)
        self.client = session(middlewares=(self.auth,))
        self.bare = session(middlewares=(self.auth,), bare=True)

    def request(
        self,
        method: str,
        url: str,
        *,
        params: Mapping[str, str] | None = None,
        content: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        follow: bool = False,
        bare: bool = False,
    ) -> Answer:
        client = self.bare if bare else self.client

        async def send() -> Answer:
            async with client.request(
                method,
                url,
                params=params,
                data=content,
                headers=headers,
                allow_redirects=follow,
            ) as response:
                body = await response.read()
                return Answer(
                    status=response.status,
                    body=body,
                    history=tuple(r.status for r in response.history),
                )

        return self.call(send)

    def burst(self, count: int, url: str) -> list[int]:
        async def one() -> int:
            async with self.client.get(url) as response:
                await response.read()
                return response.status

        return self.call(functools.partial(in_tasks, count, one))

    def close(self) -> None:
        async def close() -> None:
            await self.client.close()
            await self.bare.close()
            if self.tokens is not None:
                await self.tokens.close()

        try:
            self.call(close)
        finally:
            self._stop()
