"""What the integrations' tests (httpx, requests, aiohttp) share.

A flow for the local token server's generic endpoint, the API requests its
record holds, a burst of calls in threads or in tasks, a ticker that sees a
blocked event loop, a loopback port nothing listens on, and servers that
drip their answers slower than any timeout allows. Each library's
own helpers (its sessions, its retries, its error checks) stay in its tests.
"""

from __future__ import annotations

import contextlib
import itertools
import socket
import threading
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Self, TypeVar

import anyio

from sansio_auth import ClientAuth, ClientCredentials
from sansio_auth.adapters.server import RecordedRequest, TokenServer

__all__ = [
    "Dripping",
    "Ticker",
    "api_requests",
    "closed_port",
    "dripping",
    "flow_for",
    "in_tasks",
    "in_threads",
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
