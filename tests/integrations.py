"""What the integrations' tests (httpx, requests, aiohttp) share.

A flow for the local token server's generic endpoint, the API requests its
record holds, a burst of calls in threads or in tasks, a ticker that sees a
blocked event loop, and a loopback port nothing listens on. Each library's
own helpers (its sessions, its retries, its error checks) stay in its tests.
"""

from __future__ import annotations

import contextlib
import itertools
import socket
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

import anyio

from sansio_auth import ClientAuth, ClientCredentials
from sansio_auth.adapters.server import RecordedRequest, TokenServer

__all__ = [
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


@contextmanager
def dripping(head: bytes, drip: bytes, *, seconds: float = 6.0) -> Iterator[str]:
    """A loopback server that answers each request with *head* at once, then
    *drip* over and over, one byte every 0.05 s, for *seconds*; yields its
    URL. Every read of such an answer is short: only a bound on the whole
    exchange ends it before the drip does."""
    stop = threading.Event()
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.1)

    def answer(conn: socket.socket) -> None:
        with conn:
            received = b""
            while b"\r\n\r\n" not in received:
                piece = conn.recv(65536)
                if not piece:
                    return
                received += piece
            conn.sendall(head)
            end = time.monotonic() + seconds
            for byte in itertools.cycle(drip):
                if time.monotonic() > end or stop.wait(0.05):
                    return
                conn.sendall(bytes([byte]))

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            threading.Thread(target=_quietly, args=(answer, conn), daemon=True).start()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}/token"
    finally:
        stop.set()
        thread.join(timeout=5)
        listener.close()


def _quietly(answer: Callable[[socket.socket], None], conn: socket.socket) -> None:
    # The client cutting the connection is the point: not an error here.
    with contextlib.suppress(OSError):
        answer(conn)
