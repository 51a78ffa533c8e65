"""The HTTP plumbing: ``http.server`` on a background thread, one exchange a
connection.

:class:`Listener` binds a threading HTTP server (IPv4 or IPv6, TLS when given
a context) and serves it from a thread of its own. Each connection's thread
reads one request (no chunked bodies, at most :data:`MAX_BODY` bytes), hands
it to the ``respond`` function it was given with the TLS client certificate
the connection carries, if any, and writes the :class:`Reply`:
the whole answer, or the head and half the body followed by a TCP reset.
``respond`` returning None sends nothing. The open connections are tracked so
that stopping can shut them all, and every thread is joined on stop.
"""

from __future__ import annotations

import contextlib
import http.server
import socket
import socketserver
import ssl
import struct
import threading
import time
from collections.abc import Callable
from typing import Any, Final, TypeAlias, final

import attrs

from ._answers import Answer

__all__ = ["MAX_BODY", "Headers", "Listener", "Reply", "Respond"]

MAX_BODY: Final = 1_048_576

Headers: TypeAlias = tuple[tuple[str, str], ...]


@final
@attrs.frozen(kw_only=True)
class Reply:
    """How to answer a request."""

    answer: Answer
    """What to send."""
    reset: bool = False
    """Send the head and half the body, then reset the connection."""


Respond: TypeAlias = Callable[[str, str, Headers, bytes, bytes | None], Reply | None]
"""``respond(method, target, headers, body, client_cert)``: the reply, or
None for none. ``client_cert`` is the DER of the TLS client certificate the
connection carries (None on plain HTTP, or without one)."""


@final
class _Connections:
    """The connections open now, so that stopping can shut them down."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._open: set[socket.socket] = set()

    def add(self, conn: socket.socket) -> None:
        with self._lock:
            self._open.add(conn)

    def discard(self, conn: socket.socket) -> None:
        with self._lock:
            self._open.discard(conn)

    def shut_down(self) -> None:
        """Shut each open connection down, both ways."""
        with self._lock:
            open_connections = list(self._open)
        for conn in open_connections:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)


class _HTTPServer(http.server.ThreadingHTTPServer):
    daemon_threads = False  # joined on server_close: no thread outlives stop()
    request_queue_size = 128  # a burst of 100 clients connects at once
    block_on_close = True
    ssl_context: ssl.SSLContext | None
    connections: _Connections
    respond: Respond

    def server_bind(self) -> None:
        # Not HTTPServer's: it looks the host's name up (getfqdn), which can
        # take seconds on a machine with slow DNS.
        socketserver.TCPServer.server_bind(self)
        self.server_name = str(self.server_address[0])
        self.server_port = int(self.server_address[1])

    def get_request(self) -> tuple[socket.socket, Any]:
        conn, address = super().get_request()
        context = self.ssl_context
        if context is not None:
            # The handshake runs in the connection's thread, on first read.
            conn = context.wrap_socket(
                conn, server_side=True, do_handshake_on_connect=False
            )
        return conn, address

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Clients that go away, bad TLS, resets: none of the test's business.
        return None


class _HTTPServer6(_HTTPServer):
    address_family = socket.AF_INET6


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "sansio-auth-test-server"
    sys_version = ""
    timeout = 10.0  # a client that connects and says nothing
    disable_nagle_algorithm = True  # head and body go in separate writes
    server: _HTTPServer

    def log_message(self, format: str, *args: Any) -> None:
        return None

    def setup(self) -> None:
        super().setup()
        self.server.connections.add(self.connection)
        if isinstance(self.connection, ssl.SSLSocket):
            try:
                self.connection.do_handshake()
            except BaseException:
                self.server.connections.discard(self.connection)
                raise

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.connections.discard(self.connection)

    def do_GET(self) -> None:
        self.close_connection = True  # one exchange per connection
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            _send(self, Answer(status=411, body=b"", content_type=""))
            return
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = -1
        if not 0 <= length <= MAX_BODY:
            _send(self, Answer(status=413, body=b"", content_type=""))
            return
        body = self.rfile.read(length) if length else b""
        if len(body) < length:
            return  # the client went away
        client_cert = None
        if isinstance(self.connection, ssl.SSLSocket):
            # Only a certificate the context's trust verified is here: an
            # untrusted one ended the handshake.
            client_cert = self.connection.getpeercert(binary_form=True)
        reply = self.server.respond(
            self.command, self.path, tuple(self.headers.items()), body, client_cert
        )
        if reply is None:
            return
        if reply.reset:
            _send_and_reset(self, reply.answer)
        else:
            _send(self, reply.answer)

    do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_GET


def _head(handler: _Handler, answer: Answer, length: int) -> None:
    handler.send_response(answer.status)
    if answer.content_type:
        handler.send_header("Content-Type", answer.content_type)
    for name, value in answer.headers:
        handler.send_header(name, value)
    handler.send_header("Content-Length", str(length))
    handler.send_header("Connection", "close")
    handler.end_headers()


def _send(handler: _Handler, answer: Answer) -> None:
    with contextlib.suppress(OSError):
        _head(handler, answer, len(answer.body))
        if handler.command != "HEAD":
            handler.wfile.write(answer.body)
        handler.wfile.flush()


def _send_and_reset(handler: _Handler, answer: Answer) -> None:
    body = answer.body or b"{}"
    with contextlib.suppress(OSError):
        _head(handler, answer, len(body))
        handler.wfile.write(body[: len(body) // 2])
        handler.wfile.flush()
        time.sleep(0.05)  # let the client read the head
        # SO_LINGER with a zero timeout makes close() send a RST.
        handler.connection.setsockopt(
            socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)
        )
        handler.rfile.close()
        handler.connection.close()


@final
class Listener:
    """An HTTP server bound to *host* and *port*, answering with *respond*.

    Args:
      host: the address to listen on; one with a colon is IPv6.
      port: the port; 0 picks a free one (see :attr:`port`).
      ssl_context: a server-side TLS context, or None for plain HTTP.
      respond: what answers each request.
    """

    def __init__(
        self,
        host: str,
        port: int,
        ssl_context: ssl.SSLContext | None,
        respond: Respond,
    ) -> None:
        server_class = _HTTPServer6 if ":" in host else _HTTPServer
        httpd = server_class((host, port), _Handler)
        httpd.ssl_context = ssl_context
        httpd.connections = _Connections()
        httpd.respond = respond
        self.port: Final[int] = httpd.server_address[1]
        self._httpd = httpd
        self._thread: threading.Thread | None = None

    def start(self, name: str) -> None:
        """Serve in a background thread called *name*."""
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=name,
            daemon=True,
        )
        self._thread.start()

    def stop(self) -> None:
        """Stop accepting, shut the open connections down and join every
        thread."""
        self._httpd.shutdown()
        self._httpd.connections.shut_down()
        self._httpd.server_close()  # joins the connection threads
        if self._thread is not None:
            self._thread.join()
