"""Token requests over a user's httpx client: ``send`` and ``send_async``.

Theory of operation. An SDK passes its own ``httpx.Client`` (or
``AsyncClient``) so that token requests take the same road as its API calls:
its proxies, CA bundle and client certificate (``verify=``, ``cert=``), its
mounted transports, HTTP/2, and the mocking tools its tests install
(``httpx.MockTransport``, respx). All of that lives in the client's
*transport* for the URL. What lives above it, in the client's request
building and sending, belongs to the API and must not touch a token request:

- ``base_url``, default headers, cookies and ``params``: an ``X-Api-Key``
  or a session cookie meant for the API would go to the token endpoint;
- ``auth``: the client's auth may be this very ``TokenAuth``, which would
  fetch a token to fetch a token (``send(auth=None)`` is no way out: httpx
  then applies ``BasicAuth`` from a URL's user info);
- event hooks: a request hook that adds a header would add it here too, and
  a logging hook would log the client secret;
- the cookie jar: ``send`` stores every ``Set-Cookie`` of the token
  endpoint's answer in it, and the client would then send them to the API;
- redirects: a token request never follows one, whatever the client's
  ``follow_redirects`` (the 3xx goes back to the session, which words it as
  an ``HttpError`` with its ``Location``).

So a token request is built from the core's ``HttpRequest`` as it is
(method, URL, headers, body) and handed to the client's transport for its
URL, as ``Client.send`` would after all of the above. A transport never
follows redirects and never touches cookies. The body is read raw (no
``Accept-Encoding`` is sent, and the other adapters read bytes as they come
too) in pieces, up to the cap.

Loopback. A loopback URL is allowed plain http because nothing leaves the
machine; a proxy would take the request (and the secret in it) off it. So
when the transport httpx picks for a loopback URL is a proxy's (the
client's ``proxy=``, or the environment's with ``trust_env``), the request
goes through the client's direct transport instead, as requests' ``send``
drops the proxies for it; any other transport (a mount, a mocking tool) is
used as picked.

Timeouts. Async: one cancel scope (anyio's, on asyncio and trio alike)
bounds the whole exchange. Sync: httpx has no such scope, so each phase
(pool, connect, write, each read) is bounded by ``timeout`` through the
request's ``timeout`` extension, and a watchdog (``_watchdog.py``) shuts the
request's connection down at the deadline: a server that drips its head, a
chunk-size line or its body keeps every read short, and only the cut ends
the read loop. The connection is found in the transport's pool by the
request (httpcore's internals, read only at the deadline) before the head
is in, and from the response's ``network_stream`` after. An HTTP/2
connection (shared with the API's requests) is never cut, nor is anything
under a transport other than httpx's own; there the deadline is checked
once the head is in and between the body's pieces only.

Errors are ours: an httpx exception's text may quote what a server or a
proxy sent, so it is worded by ``_failures`` (from its ``__cause__``: the
OS error, the TLS verification message) and detached.
"""

from __future__ import annotations

import contextlib
import socket
import ssl
import time
from typing import Any, Final

import anyio
import httpcore
import httpx

from sansio_auth import HttpRequest, HttpResponse

from ._failures import (
    detached,
    detached_async,
    over_limit,
    timeout_error,
    transport_error,
    where,
)
from ._limits import DEFAULT_MAX_RESPONSE_BYTES, DEFAULT_TIMEOUT, check_send_args
from ._target import Target, resolves_to_loopback, target
from ._watchdog import Watchdog, shut_down

__all__ = ["check_client", "send", "send_async"]

_CLOSE_BOUND = 1.0
"""Seconds a response's close may take once the exchange is over (shielded
from the cancellation that ended it, so that the connection is released)."""


def _request(request: HttpRequest, timeout: float) -> httpx.Request:
    # Host and Content-Length come from httpx, as the core never sets them.
    return httpx.Request(
        request.method,
        request.url,
        headers=list(request.headers),
        content=request.body,
        extensions={
            "timeout": {
                "connect": timeout,
                "read": timeout,
                "write": timeout,
                "pool": timeout,
            }
        },
    )


def check_client(client: object, kind: type[Any], argument: str) -> None:
    """Refuse a client that is not a *kind* (``httpx.Client`` or
    ``httpx.AsyncClient``), or that is closed; *argument* names it."""
    if not isinstance(client, kind):
        raise TypeError(
            f"{argument} must be an httpx.{kind.__name__}, got {type(client).__name__}"
        )
    if client.is_closed:
        raise RuntimeError(
            f"{argument} (the httpx client for token requests) is closed; keep "
            "it open while token requests go through it"
        )


def _response(response: httpx.Response, body: bytes) -> HttpResponse:
    headers = tuple(
        (name.decode("latin-1"), value.decode("latin-1"))
        for name, value in response.headers.raw
    )
    return HttpResponse(status=response.status_code, headers=headers, body=body)


@detached
def send(
    request: HttpRequest,
    *,
    client: httpx.Client,
    timeout: float = DEFAULT_TIMEOUT,
    max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
) -> HttpResponse:
    """Send *request* through *client*'s transport and return the response,
    whatever its status.

    Of *client*, only the transport it picks for the URL applies: its
    proxies (and, with ``trust_env``, the environment's), its TLS
    verification and client certificate (``verify=``, ``cert=``), its
    mounted transports, HTTP/2, and the mocking tools installed there
    (``httpx.MockTransport``, respx); a loopback URL takes no proxy.
    Never its ``base_url``, default
    headers, ``params``, cookies (none sent, none stored in its jar),
    ``auth``, event hooks, redirect following or ``timeout``: the request
    goes as the core built it, and *timeout* is this call's.

    Args:
      request: what to send, exactly.
      client: the ``httpx.Client`` whose transport to use; open.
      timeout: seconds the whole exchange may take: each phase (pool,
        connect, write, each read) is bounded by it, and the connection is
        cut at the deadline (module notes for what is not cut).
      max_response_bytes: the largest body read; a larger one is an error.

    Returns:
      The response; a 3xx is returned, never followed. The body is as sent
      (no ``Accept-Encoding`` is asked for, nothing is decoded).

    Raises:
      TransportError: the exchange failed (refused, DNS, TLS verification,
        timeout, body too large, a broken answer), in our own words.
      TypeError: *client* is not an ``httpx.Client``, or *timeout* or
        *max_response_bytes* is not a number.
      ValueError: *timeout* or *max_response_bytes* is out of range.
      RuntimeError: *client* is closed.
    """
    check_send_args(timeout, max_response_bytes)
    check_client(client, httpx.Client, "client")
    dest = target(request)
    name = where(dest)
    deadline = time.monotonic() + timeout
    outgoing = _request(request, timeout)
    transport, owned = _transport(client, outgoing.url, dest)
    cut = _Cut(transport, outgoing)
    watchdog = Watchdog(deadline, cut)
    try:
        response = transport.handle_request(outgoing)
        cut.response = response
        try:
            if watchdog.fired or time.monotonic() > deadline:
                raise timeout_error(timeout, name)
            body = _read(response, max_response_bytes, deadline, timeout, name)
            if watchdog.fired:  # the body may have ended at the cut
                raise timeout_error(timeout, name)
        finally:
            watchdog.cancel()  # before the close: no cut of a reused socket
            response.close()
    except httpx.TimeoutException:
        raise timeout_error(timeout, name) from None
    except (httpx.TransportError, OSError) as exc:
        if watchdog.fired:
            raise timeout_error(timeout, name) from None
        raise transport_error(exc, name) from None
    finally:
        watchdog.cancel()
        if owned:
            transport.close()
    return _response(response, body)


_PROXIES: Final = (
    httpcore.HTTPProxy,
    httpcore.SOCKSProxy,
    httpcore.AsyncHTTPProxy,
    httpcore.AsyncSOCKSProxy,
)


def _is_proxy(transport: object) -> bool:
    """Whether *transport* is httpx's own, sending through a proxy."""
    return isinstance(
        transport, (httpx.HTTPTransport, httpx.AsyncHTTPTransport)
    ) and isinstance(transport._pool, _PROXIES)


def _verify(proxy: httpx.HTTPTransport | httpx.AsyncHTTPTransport) -> ssl.SSLContext:
    # The proxy transport's context for the remote end: the client's verify=.
    context = getattr(proxy._pool, "_ssl_context", None)
    return (
        context if isinstance(context, ssl.SSLContext) else httpx.create_ssl_context()
    )


def _transport(
    client: httpx.Client, url: httpx.URL, dest: Target
) -> tuple[httpx.BaseTransport, bool]:
    """The transport for *url* as httpx picks it, but never a proxy's for a
    loopback URL (module notes); True when it is ours to close."""
    # Private, and the one way to the transport httpx itself would pick
    # (mounts, proxies): see the module notes for why not Client.send.
    transport = client._transport_for_url(url)
    if not (_is_proxy(transport) and resolves_to_loopback(dest.host)):
        return transport, False
    direct = client._transport
    if not _is_proxy(direct):
        return direct, False
    assert isinstance(transport, httpx.HTTPTransport)
    return httpx.HTTPTransport(verify=_verify(transport)), True


def _transport_async(
    client: httpx.AsyncClient, url: httpx.URL, dest: Target
) -> tuple[httpx.AsyncBaseTransport, bool]:
    """:func:`_transport` for an ``AsyncClient``."""
    transport = client._transport_for_url(url)
    if not (_is_proxy(transport) and resolves_to_loopback(dest.host)):
        return transport, False
    direct = client._transport
    if not _is_proxy(direct):
        return direct, False
    assert isinstance(transport, httpx.AsyncHTTPTransport)
    return httpx.AsyncHTTPTransport(verify=_verify(transport)), True


class _Cut:
    """What the watchdog does at the deadline: shut down the connection
    *request* is on (module notes); True once done, or once nothing of ours
    can be cut, False to be tried again (not connected yet)."""

    __slots__ = ("_extensions", "_pool", "response")

    def __init__(self, transport: httpx.BaseTransport, request: httpx.Request) -> None:
        self._pool = (
            transport._pool if isinstance(transport, httpx.HTTPTransport) else None
        )
        self._extensions = request.extensions
        self.response: httpx.Response | None = None
        """The response once its head is in."""

    def __call__(self) -> bool:
        if self._pool is None:
            return True  # another transport: the checks between reads only
        response = self.response
        if response is not None:
            if response.extensions.get("http_version") != b"HTTP/1.1":
                return True
            stream = response.extensions.get("network_stream")
            if stream is None:
                return True
            sock = stream.get_extra_info("socket")
        else:
            found = self._socket()
            if found is _NOT_YET:
                return False
            sock = found
        if isinstance(sock, socket.socket):
            shut_down(sock)
        return True

    def _socket(self) -> object:
        """The socket of the connection the pool gave our request: _NOT_YET
        if none yet, None if it is not ours to cut (HTTP/2)."""
        for pending in list(getattr(self._pool, "_requests", ())):
            if getattr(pending.request, "extensions", None) is not self._extensions:
                continue
            # A proxy's connection wraps the one to the proxy (or, once
            # tunnelled, the one through it).
            connection = getattr(pending, "connection", None)
            for _ in range(4):
                if isinstance(connection, httpcore.HTTP11Connection):
                    stream = getattr(connection, "_network_stream", None)
                    return (
                        _NOT_YET if stream is None else stream.get_extra_info("socket")
                    )
                if isinstance(connection, httpcore.HTTP2Connection):
                    return None
                connection = getattr(connection, "_connection", None)
            return _NOT_YET
        return _NOT_YET


_NOT_YET: Final = object()


def _read(
    response: httpx.Response,
    max_response_bytes: int,
    deadline: float,
    timeout: float,
    name: str,
) -> bytes:
    if response.is_stream_consumed:  # a mocking tool's answer, made whole
        body = response.content
    else:
        pieces = bytearray()
        for piece in response.iter_raw():
            pieces += piece
            if len(pieces) > max_response_bytes:
                break
            if time.monotonic() > deadline:
                raise timeout_error(timeout, name)
        body = bytes(pieces)
    if len(body) > max_response_bytes:
        raise over_limit(max_response_bytes)
    return body


@detached_async
async def send_async(
    request: HttpRequest,
    *,
    client: httpx.AsyncClient,
    timeout: float = DEFAULT_TIMEOUT,
    max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
) -> HttpResponse:
    """Send *request* through *client*'s transport and return the response,
    whatever its status; on asyncio or trio.

    Of *client*, only the transport it picks for the URL applies: its
    proxies (and, with ``trust_env``, the environment's), its TLS
    verification and client certificate (``verify=``, ``cert=``), its
    mounted transports, HTTP/2, and the mocking tools installed there
    (``httpx.MockTransport``, respx); a loopback URL takes no proxy.
    Never its ``base_url``, default
    headers, ``params``, cookies (none sent, none stored in its jar),
    ``auth``, event hooks, redirect following or ``timeout``: the request
    goes as the core built it, and *timeout* is this call's.

    Args:
      request: what to send, exactly.
      client: the ``httpx.AsyncClient`` whose transport to use; open.
      timeout: seconds the whole exchange may take (one cancel scope).
      max_response_bytes: the largest body read; a larger one is an error.

    Returns:
      The response; a 3xx is returned, never followed. The body is as sent
      (no ``Accept-Encoding`` is asked for, nothing is decoded).

    Raises:
      TransportError: the exchange failed (refused, DNS, TLS verification,
        timeout, body too large, a broken answer), in our own words.
      TypeError: *client* is not an ``httpx.AsyncClient``, or *timeout* or
        *max_response_bytes* is not a number.
      ValueError: *timeout* or *max_response_bytes* is out of range.
      RuntimeError: *client* is closed.
    """
    check_send_args(timeout, max_response_bytes)
    check_client(client, httpx.AsyncClient, "client")
    dest = target(request)
    name = where(dest)
    outgoing = _request(request, timeout)
    transport, owned = _transport_async(client, outgoing.url, dest)
    try:
        with anyio.move_on_after(timeout):
            try:
                response = await transport.handle_async_request(outgoing)
                try:
                    body = await _read_async(response, max_response_bytes)
                finally:
                    # Shielded: a close cut by the scope's cancellation could
                    # leave the connection in the client's pool half-read.
                    with anyio.move_on_after(_CLOSE_BOUND, shield=True):
                        await response.aclose()
            except httpx.TimeoutException:
                raise timeout_error(timeout, name) from None
            except (httpx.TransportError, OSError) as exc:
                raise transport_error(exc, name) from None
            return _response(response, body)
        raise timeout_error(timeout, name)
    finally:
        if owned:
            with anyio.move_on_after(_CLOSE_BOUND, shield=True):
                await transport.aclose()


async def _read_async(response: httpx.Response, max_response_bytes: int) -> bytes:
    if response.is_stream_consumed:  # a mocking tool's answer, made whole
        body = response.content
    else:
        pieces = response.aiter_raw()
        read = bytearray()
        async for piece in pieces:
            read += piece
            if len(read) > max_response_bytes:
                break
        else:
            return bytes(read)
        # The pieces come up a chain of async generators (httpx's and
        # httpcore's), which the break leaves suspended; the garbage
        # collector would finalise them unexhausted, and trio reports that
        # as a ResourceWarning. Closed with the connection, they end when
        # next resumed: the read from the closed stream fails in each.
        await response.aclose()
        with contextlib.suppress(httpx.HTTPError):
            async for _ in pieces:
                pass
        body = bytes(read)
    if len(body) > max_response_bytes:
        raise over_limit(max_response_bytes)
    return body
