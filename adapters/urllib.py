"""The sync adapter: ``send`` over ``urllib.request``, and a thread-safe TokenClient.

``send`` builds its own opener with only the handlers a token POST wants:
proxies from the standard environment variables (``https_proxy``,
``no_proxy``; HTTPS goes through a CONNECT tunnel) except for loopback hosts,
HTTP and verified HTTPS. There is no redirect handler, so a 3xx comes back as
a response and the secret is never re-posted to wherever it points, and no
error processor, so a 4xx or 5xx is a response too. A watchdog bounds the
whole exchange by ``timeout``, since urllib's own timeout bounds each socket
operation only. Responses are read by h11's rules (``_http_client.py``), so
that this adapter ends as the trio and anyio ones do on the same bytes.
"""

from __future__ import annotations

import contextlib
import http.client
import re
import socket
import ssl
import threading
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import Any

from sansio_auth import (
    HttpRequest,
    HttpResponse,
    TransportError,
)

from ._failures import (
    Malformation,
    closed_before_response,
    detached,
    malformed,
    over_limit,
    timeout_error,
    transport_error,
    truncated,
    where,
)
from ._http_client import Malformed, StrictResponse
from ._limits import DEFAULT_MAX_RESPONSE_BYTES, DEFAULT_TIMEOUT, check_send_args
from ._sync import SyncClientBase
from ._target import resolves_to_loopback, target
from ._tls import default_ssl_context

__all__ = ["TokenClient", "send"]


class _Connections:
    """The connections an opener made, so the watchdog can cut them."""

    def __init__(self) -> None:
        self.made: list[http.client.HTTPConnection] = []
        # The sockets connected, kept: urllib drops the connection's reference
        # (conn.sock = None) once the head is read, but the body is read from
        # the same socket and the watchdog must be able to cut it too.
        self.sockets: list[socket.socket] = []
        self.expired = threading.Event()

    def factory(self, cls: type[http.client.HTTPConnection]) -> Callable[..., Any]:
        def make(host: str, **kwargs: Any) -> http.client.HTTPConnection:
            conn = cls(host, **kwargs)
            # Read responses by h11's rules, as the other adapters do.
            conn.response_class = StrictResponse
            self.made.append(conn)
            connect = conn.connect

            def connect_and_keep() -> None:
                try:
                    connect()
                except (OSError, http.client.HTTPException) as exc:
                    if self.expired.is_set():
                        raise  # the watchdog's cut: a timeout, said as one
                    refusal = _ProxyFailed.of(exc)
                    if refusal is None:
                        raise
                    raise refusal from None
                self.sockets.append(conn.sock)
                if self.expired.is_set():
                    self.cut()

            conn.connect = connect_and_keep  # type: ignore[method-assign]
            return conn

        return make

    def cut(self) -> None:
        self.expired.set()
        for sock in [conn.sock for conn in self.made] + self.sockets:
            if sock is not None:
                with contextlib.suppress(OSError):  # already closed
                    sock.shutdown(socket.SHUT_RDWR)


class _HTTPHandler(urllib.request.HTTPHandler):
    def __init__(self, connections: _Connections) -> None:
        super().__init__()
        self._connections = connections

    def http_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        return self.do_open(self._connections.factory(http.client.HTTPConnection), req)


class _HTTPSHandler(urllib.request.HTTPSHandler):
    def __init__(self, connections: _Connections, context: ssl.SSLContext) -> None:
        super().__init__(context=context)
        self._connections = connections
        self._ctx = context

    def https_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        return self.do_open(
            self._connections.factory(http.client.HTTPSConnection),
            req,
            context=self._ctx,
        )


class _ProxyFailed(Exception):
    """The proxy did not open the tunnel (raised through urllib unwrapped).

    Only its status code is kept: the rest of its answer (the reason phrase
    http.client puts in its OSError, a status line it calls bad) is the
    proxy's text, never ours to show.
    """

    def __init__(self, status: int | None, *, closed: bool = False) -> None:
        super().__init__("the proxy did not open the tunnel")
        self.status = status
        self.closed = closed

    @classmethod
    def of(cls, exc: BaseException) -> _ProxyFailed | None:
        """What *exc*, raised by a connection's ``connect()``, says of the
        proxy; None if it is not about the proxy's answer."""
        if isinstance(exc, http.client.RemoteDisconnected):
            return cls(None, closed=True)
        if isinstance(exc, http.client.HTTPException):
            # Only a CONNECT's answer is read while connecting.
            return cls(None)
        # http.client's words, then the status it parsed as an int.
        match = _TUNNEL_FAILED.match(str(exc))
        return None if match is None else cls(int(match[1]))

    def error(self, name: str) -> TransportError:
        if self.closed:
            return TransportError(
                reason=f"the proxy closed the connection before opening the "
                f"tunnel to {name}",
                retryable=True,
            )
        if self.status is None:
            return TransportError(
                reason=f"malformed answer from the proxy to the tunnel request "
                f"for {name}",
                retryable=True,
            )
        # 407 (proxy credentials wanted) or 403 will not change by retrying.
        return TransportError(
            reason=f"the proxy refused the tunnel to {name} with HTTP {self.status}",
            retryable=self.status in _RETRYABLE_PROXY_STATUS,
        )


_TUNNEL_FAILED = re.compile(r"Tunnel connection failed: ([0-9]{3})(?![0-9])")
_RETRYABLE_PROXY_STATUS = frozenset({408, 425, 429, 500, 502, 503, 504})


def _opener(
    connections: _Connections, context: ssl.SSLContext | None, *, proxies: bool
) -> urllib.request.OpenerDirector:
    opener = urllib.request.OpenerDirector()
    # No HTTPRedirectHandler and no HTTPErrorProcessor: every status is a
    # response, and nothing is followed. Without proxies, an empty mapping:
    # ProxyHandler() would read the environment. Without a context (a plain
    # http request), no https handler: nothing builds the default one.
    handlers: list[urllib.request.BaseHandler] = [
        urllib.request.ProxyHandler(None if proxies else {}),
        _HTTPHandler(connections),
    ]
    if context is not None:
        handlers.append(_HTTPSHandler(connections, context))
    for handler in handlers:
        opener.add_handler(handler)
    return opener


@detached
def send(
    request: HttpRequest,
    *,
    timeout: float = DEFAULT_TIMEOUT,
    ssl_context: ssl.SSLContext | None = None,
    max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
) -> HttpResponse:
    """Send *request* and return the response, whatever its status.

    Args:
      request: what to send.
      timeout: seconds the whole exchange may take.
      ssl_context: for a private CA; the default verifies against the
        system trust store.
      max_response_bytes: the largest body read; a larger one is an error.

    Returns:
      The response; a 3xx is returned, never followed.

    Raises:
      TransportError: the exchange failed (refused, DNS, TLS verification,
        timeout, reset, body too large, malformed HTTP).
    """
    check_send_args(timeout, max_response_bytes, ssl_context)
    dest = target(request)  # refuses any scheme but http and https
    name = where(dest)
    connections = _Connections()
    # Loopback is exempt from https because nothing leaves the machine; a
    # proxy would take the request (and the secret in it, in clear over
    # http) off it. So loopback never goes through one, whatever the
    # environment says.
    # The default context is built (once per process) only for https: a
    # plain http request, loopback's, needs none.
    context = ssl_context or (default_ssl_context() if dest.https else None)
    opener = _opener(connections, context, proxies=not resolves_to_loopback(dest.host))
    # An empty body goes as None: urllib would add a form Content-Type. The
    # Host header is the one the other adapters send (the host as the URL
    # parser gives it, lower case), not urllib's copy of the URL's spelling.
    req = urllib.request.Request(  # noqa: S310
        request.url,
        data=request.body or None,
        headers={"Host": dest.host_header, **dict(request.headers)},
        method=request.method,
    )
    watchdog = threading.Timer(timeout, connections.cut)
    watchdog.daemon = True
    watchdog.start()
    try:
        with opener.open(req, timeout=timeout) as raw:
            assert isinstance(raw, StrictResponse)  # our connections make them
            body = _read_body(raw, max_response_bytes)
            if len(body) > max_response_bytes:
                raise over_limit(max_response_bytes)
            if connections.expired.is_set():  # the watchdog ended the body
                raise timeout_error(timeout, name)
            if raw.length:  # read(amt) returns short, silently, at EOF
                raise truncated(name)
            return HttpResponse(status=raw.status, headers=raw.fields, body=body)
    except TransportError:
        raise
    except _ProxyFailed as exc:
        raise exc.error(name) from None
    except Malformed as exc:
        raise malformed(name, exc.kind) from None
    except http.client.IncompleteRead:
        if connections.expired.is_set():
            raise timeout_error(timeout, name) from None
        raise truncated(name) from None
    except (OSError, http.client.HTTPException, urllib.error.URLError) as exc:
        if connections.expired.is_set() or _is_timeout(exc):
            raise timeout_error(timeout, name) from None
        if isinstance(exc, http.client.RemoteDisconnected):
            raise closed_before_response(name) from None
        if isinstance(exc, http.client.HTTPException):
            # http.client's own checks (a head past its limits); its text
            # quotes the line.
            raise malformed(name, Malformation.HEAD) from None
        raise transport_error(exc, name) from None
    finally:
        watchdog.cancel()


_PIECE = 65536
"""Bytes asked for per read of a body."""


def _read_body(raw: StrictResponse, max_response_bytes: int) -> bytes:
    """The body, up to one byte past the cap, read in pieces.

    Not one ``read(max_response_bytes + 1)``: a BufferedReader allocates what
    it is asked for before reading (a megabyte for a 100-byte token answer,
    and a MemoryError for a large enough cap).
    """
    body = bytearray()
    while len(body) <= max_response_bytes:
        piece = raw.read(min(_PIECE, max_response_bytes + 1 - len(body)))
        if not piece:
            break
        body += piece
    return bytes(body)


def _is_timeout(exc: BaseException) -> bool:
    reason = getattr(exc, "reason", None)
    return isinstance(exc, TimeoutError) or isinstance(reason, TimeoutError)


class TokenClient(SyncClientBase):
    """Tokens for one flow, shared safely between threads.

    Concurrent callers make one request (the session's single flight); the
    others wait on an event. A caller interrupted while fetching
    (``KeyboardInterrupt``) reports it, so that the others go on. A usable
    token is returned without taking the lock.

    After ``os.fork()`` the child's first call that needs the session sets
    the client up afresh and fetches at once, rather than wait for a fetch
    the parent had in flight; a usable token the parent held is still used.
    Without *ssl_context*, every request shares one default context, built
    by the first one that needs it.

    Args:
      flow: how to get a token.
      timeout: seconds each request may take.
      ssl_context: for a private CA.
      max_response_bytes: the largest token response read.
      session: a :class:`~sansio_auth.TokenSession` of *flow* to use (its
        policy); by default one with jittered backoff. The client claims it:
        one session, one client.
      clock: returns UNIX seconds; tests pass a fake one.
      store: a shared store (:mod:`sansio_auth.adapters.stores`: memory,
        file or Redis) through which processes and hosts share one token
        (see docs/fleet.md); None keeps the token to this client.
      dpop_key: DPoP (RFC 9449): True for a fresh ES256 key held in
        memory, or a :class:`~sansio_auth.DPoPKey`, a PEM private key or a
        ``cryptography`` private key (the same one in every process sharing
        *store*). Token requests carry a proof, the server's
        ``use_dpop_nonce`` is answered at once within the fetch, and a
        DPoP-bound token is sent to APIs through :meth:`auth_headers` (with
        :meth:`learn_dpop_nonce` for a resource server's nonce). Needs the
        ``jwt`` extra.
      client_cert: the TLS client certificate (RFC 8705) for
        ``tls_client_auth`` and ``self_signed_tls_client_auth``, or for
        certificate-bound tokens with any method: a PEM file holding the
        certificate and key, ``(cert_path, key_path)`` or ``(cert_path,
        key_path, password)``; loaded into *ssl_context* when one is given.

    Raises:
      ValueError: *session* already drives another client, or is of another
        flow; or *timeout* or *max_response_bytes* is out of range; or
        *client_cert* cannot be loaded (naming the file), or the flow
        authenticates with a certificate and none is given; or *dpop_key*
        is not a key that signs (never showing it).
      TypeError: *store* is not a store.
      ImportError: *dpop_key* without ``cryptography`` (the ``jwt`` extra).
    """

    __slots__ = ()

    _driver = "a urllib TokenClient"
    _send = staticmethod(send)
