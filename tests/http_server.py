"""A real HTTP/1.1 server on 127.0.0.1 for adapter tests, with scripted faults.

Each connection gets the next scripted :class:`Reply` (the last one repeats).
The server parses requests with h11 (as a server), records them, and can
misbehave the ways networks do: reset mid-body, promise a longer body than
it sends, never answer, answer slowly, trickle the body, stream a body that
never ends, or send raw bytes that are not HTTP. TLS uses certificates from a
``trustme`` CA. Threads, so it serves sync and async clients alike.

A :class:`Server` is also a plain HTTP proxy for ``http://`` URLs: a client
sends it the absolute-form request (``POST http://host/path``), which it
records and answers like any other. :class:`TunnelProxy` is the proxy for
``https://`` URLs: it records each ``CONNECT`` and relays the bytes, so TLS
runs end to end between the client and the server behind it; it can route a
name that does not resolve to a local server, or answer ``CONNECT`` with
scripted bytes, as a refusing or broken proxy does.
"""

from __future__ import annotations

import contextlib
import socket
import ssl
import struct
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Literal, Self

import attrs
import h11
import trustme

Fault = Literal[
    "reset_mid_body",
    "short_body",
    "hang",
    "close_without_answer",
    "garbage",
    "trickle_body",
    "endless_body",
    "raw",
]
"""How a reply misbehaves.

- ``reset_mid_body``: half the body, then a TCP RST.
- ``short_body``: a ``Content-Length`` 100 bytes longer than the body sent.
- ``hang``: read the request, never answer (until the server stops).
- ``close_without_answer``: read the request, close the connection.
- ``garbage``: bytes that are not an HTTP response.
- ``trickle_body``: the head at once, then the body one byte every 0.1 s.
- ``endless_body``: the head, then body bytes until the client goes away
  (chunked if ``chunked``, else under a 1 TiB ``Content-Length``).
- ``raw``: ``body`` is sent verbatim as the whole response, head included.
"""


@attrs.frozen(kw_only=True)
class Reply:
    """What the server answers one request with."""

    status: int = 200
    headers: Sequence[tuple[str, str]] = (("Content-Type", "application/json"),)
    body: bytes = b""
    chunked: bool = False
    """Send the body with chunked transfer coding instead of Content-Length."""
    chunk_size: int = 7
    """Bytes per chunk when ``chunked`` (small, to exercise buffering)."""
    delay: float = 0.0
    """Seconds to wait before answering."""
    fault: Fault | None = None


def token_reply(
    access_token: str = "tok-1",
    *,
    expires_in: int | None = 3600,
    refresh_token: str | None = None,
    status: int = 200,
    delay: float = 0.0,
) -> Reply:
    """A JSON token answer."""
    import json

    data: dict[str, object] = {"access_token": access_token, "token_type": "Bearer"}
    if expires_in is not None:
        data["expires_in"] = expires_in
    if refresh_token is not None:
        data["refresh_token"] = refresh_token
    return Reply(status=status, body=json.dumps(data).encode(), delay=delay)


@attrs.frozen(kw_only=True)
class Received:
    """A request as the server got it."""

    method: str
    target: str
    headers: tuple[tuple[str, str], ...]
    body: bytes

    def header(self, name: str) -> str | None:
        for key, value in self.headers:
            if key.lower() == name.lower():
                return value
        return None


class Server:
    """A scripted HTTP server on 127.0.0.1; use as a context manager."""

    def __init__(
        self,
        replies: Sequence[Reply] | Callable[[Received], Reply] = (Reply(),),
        *,
        ca: trustme.CA | None = None,
        host: str = "127.0.0.1",
        names: Sequence[str] = (),
    ) -> None:
        """Listen on *host* (an IPv4 or IPv6 address), with a certificate
        from *ca* (if given) for it, ``localhost`` and *names*."""
        self._script = replies
        self._index = 0
        self.requests: list[Received] = []
        self.connections = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self._sock = socket.create_server((host, 0), family=family)
        self._sock.settimeout(0.2)
        self.port: int = self._sock.getsockname()[1]
        self.host = host
        self._tls: ssl.SSLContext | None = None
        if ca is not None:
            self._tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ca.issue_cert(host, "localhost", *names).configure_cert(self._tls)
        self.scheme = "https" if ca is not None else "http"

    def url(self, path: str = "/token", host: str | None = None) -> str:
        """This server's URL, naming it *host* (default: its address)."""
        if host is None:
            host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.scheme}://{host}:{self.port}{path}"

    def __enter__(self) -> Self:
        thread = threading.Thread(target=self._accept, daemon=True)
        thread.start()
        self._threads.append(thread)
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        # Wakes the accept loop at once (accept fails) instead of at its
        # next poll, so a test does not wait for it.
        with contextlib.suppress(OSError):
            self._sock.shutdown(socket.SHUT_RDWR)
        for thread in self._threads:
            thread.join(timeout=5)
        self._sock.close()

    def _next_reply(self, received: Received) -> Reply:
        with self._lock:
            self.requests.append(received)
            if callable(self._script):
                return self._script(received)
            replies = self._script
            reply = replies[min(self._index, len(replies) - 1)]
            self._index += 1
            return reply

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with self._lock:
                self.connections += 1
            thread = threading.Thread(target=self._serve, args=(conn,), daemon=True)
            thread.start()
            self._threads.append(thread)

    def _serve(self, raw: socket.socket) -> None:
        raw.settimeout(5)
        conn: socket.socket = raw
        try:
            if self._tls is not None:
                try:
                    conn = self._tls.wrap_socket(raw, server_side=True)
                except (ssl.SSLError, OSError):
                    return  # the client refused our certificate
            received = self._read_request(conn)
            if received is None:
                return
            reply = self._next_reply(received)
            self._answer(conn, reply)
        except OSError:
            pass
        finally:
            with contextlib.suppress(OSError):
                conn.close()

    def _read_request(self, conn: socket.socket) -> Received | None:
        h11_conn = h11.Connection(h11.SERVER)
        request: h11.Request | None = None
        body = b""
        while True:
            event = h11_conn.next_event()
            if event is h11.NEED_DATA:
                data = conn.recv(65536)
                h11_conn.receive_data(data)
                if not data and request is None:
                    return None
                continue
            if isinstance(event, h11.Request):
                request = event
            elif isinstance(event, h11.Data):
                body += event.data
            elif isinstance(event, h11.EndOfMessage):
                assert request is not None
                return Received(
                    method=request.method.decode(),
                    target=request.target.decode(),
                    headers=tuple(
                        (k.decode("latin-1"), v.decode("latin-1"))
                        for k, v in request.headers.raw_items()
                    ),
                    body=body,
                )
            else:  # ConnectionClosed and the like
                return None

    def _answer(self, conn: socket.socket, reply: Reply) -> None:
        if reply.delay and self._stop.wait(reply.delay):
            return
        if reply.fault == "hang":
            self._stop.wait(60)
            return
        if reply.fault == "close_without_answer":
            return
        if reply.fault == "garbage":
            conn.sendall(b"NOT HTTP AT ALL\r\n\r\n")
            return
        if reply.fault == "raw":
            conn.sendall(reply.body)
            return
        head = f"HTTP/1.1 {reply.status} Whatever\r\n"
        for name, value in reply.headers:
            head += f"{name}: {value}\r\n"
        body = reply.body
        if reply.chunked:
            head += "Transfer-Encoding: chunked\r\n"
        elif reply.fault == "endless_body":
            head += f"Content-Length: {1 << 40}\r\n"
        elif reply.fault == "short_body":
            head += f"Content-Length: {len(body) + 100}\r\n"
        else:
            head += f"Content-Length: {len(body)}\r\n"
        head += "Connection: close\r\n\r\n"
        conn.sendall(head.encode("latin-1"))
        if reply.fault == "reset_mid_body":
            conn.sendall(body[: len(body) // 2])
            time.sleep(0.05)
            # SO_LINGER with a zero timeout makes close() send a RST.
            conn.setsockopt(
                socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)
            )
            conn.close()
            return
        if reply.fault == "trickle_body":
            for i in range(len(body)):
                if self._stop.wait(0.1):
                    return
                conn.sendall(body[i : i + 1])
            return
        if reply.fault == "endless_body":
            self._send_endlessly(conn, chunked=reply.chunked)
            return
        if reply.chunked:
            size = max(1, reply.chunk_size)
            for i in range(0, len(body), size):
                piece = body[i : i + size]
                conn.sendall(f"{len(piece):x}\r\n".encode() + piece + b"\r\n")
            conn.sendall(b"0\r\n\r\n")
        else:
            conn.sendall(body)

    def _send_endlessly(self, conn: socket.socket, *, chunked: bool) -> None:
        # Until the client closes (sendall raises) or the server stops.
        piece = b"x" * 65536
        frame = f"{len(piece):x}\r\n".encode() + piece + b"\r\n" if chunked else piece
        while not self._stop.is_set():
            conn.sendall(frame)


class TunnelProxy:
    """An HTTP proxy on 127.0.0.1 for ``https_proxy``: ``CONNECT`` tunnels only.

    Records each ``CONNECT`` target (``host:port``) in :attr:`targets`, opens
    a TCP connection there (or where *routes* maps that target: a name that
    does not resolve can stand for a local server), answers ``200`` and
    relays bytes both ways until either side closes. With :attr:`answer`
    set, it answers ``CONNECT`` with those bytes instead and closes. Any
    other method gets a ``405``. Use as a context manager.
    """

    def __init__(self, routes: dict[str, tuple[str, int]] | None = None) -> None:
        self.targets: list[str] = []
        self.routes = dict(routes or {})
        self.answer: bytes | None = None
        """Sent verbatim to each ``CONNECT`` (then the connection closes)."""
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._sock = socket.create_server(("127.0.0.1", 0))
        self._sock.settimeout(0.2)
        self.port: int = self._sock.getsockname()[1]

    def url(self) -> str:
        """The proxy URL, for ``https_proxy``."""
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> Self:
        self._spawn(self._accept)
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        with contextlib.suppress(OSError):
            self._sock.shutdown(socket.SHUT_RDWR)
        for thread in list(self._threads):
            thread.join(timeout=5)
        self._sock.close()

    def _spawn(self, target: Callable[..., None], *args: object) -> None:
        thread = threading.Thread(target=target, args=args, daemon=True)
        thread.start()
        with self._lock:
            self._threads.append(thread)

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self._spawn(self._serve, conn)

    def _serve(self, client: socket.socket) -> None:
        client.settimeout(5)
        upstream: socket.socket | None = None
        try:
            head = b""
            while b"\r\n\r\n" not in head and len(head) < 65536:
                data = client.recv(65536)
                if not data:
                    return
                head += data
            head, _, rest = head.partition(b"\r\n\r\n")
            method, _, remainder = head.split(b"\r\n", 1)[0].partition(b" ")
            authority = remainder.partition(b" ")[0].decode("latin-1")
            if method != b"CONNECT":
                client.sendall(
                    b"HTTP/1.1 405 Method Not Allowed\r\n"
                    b"Content-Length: 0\r\nConnection: close\r\n\r\n"
                )
                return
            with self._lock:
                self.targets.append(authority)
                answer = self.answer
            if answer is not None:
                client.sendall(answer)
                return
            if authority in self.routes:
                upstream = socket.create_connection(self.routes[authority], 5)
            else:
                host, _, port = authority.rpartition(":")
                upstream = socket.create_connection((host.strip("[]"), int(port)), 5)
            client.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
            if rest:
                upstream.sendall(rest)
            done = threading.Event()
            self._spawn(self._pipe, upstream, client, done)
            self._pipe(client, upstream, threading.Event())
            done.wait(5)
        except (OSError, ValueError):
            pass
        finally:
            for sock in (client, upstream):
                if sock is not None:
                    with contextlib.suppress(OSError):
                        sock.close()

    def _pipe(
        self, source: socket.socket, sink: socket.socket, done: threading.Event
    ) -> None:
        try:
            while not self._stop.is_set():
                data = source.recv(65536)
                if not data:
                    break
                sink.sendall(data)
        except OSError:
            pass
        finally:
            with contextlib.suppress(OSError):
                sink.shutdown(socket.SHUT_WR)
            done.set()


@contextmanager
def serving(
    replies: Sequence[Reply] | Callable[[Received], Reply] = (Reply(),),
    *,
    ca: trustme.CA | None = None,
    host: str = "127.0.0.1",
    names: Sequence[str] = (),
) -> Iterator[Server]:
    """A :class:`Server`, started and stopped around the block."""
    with Server(replies, ca=ca, host=host, names=names) as server:
        yield server
