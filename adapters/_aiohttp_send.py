"""``send`` over the user's ``aiohttp.ClientSession``: one token request.

A token request goes through the session so that it takes the session's
connector (its TLS settings, its CA bundle, its proxy) and its mocking tools
(aioresponses); and nothing else of the session's. ``session.request`` merges
the session's default headers, its cookie jar's cookies and its default
``auth`` (or a ``.netrc`` entry under ``trust_env``) into every request: the
API's credentials, which must not reach the token endpoint. No argument of
``request`` turns those off, so the request is given a middleware of its own
(``middlewares=``, which replaces the session's, our ``TokenMiddleware``
included: no recursion) that runs last, on the request as built, and sets its
headers to exactly the core's, keeping only what aiohttp computed from the
URL and the body (``Host``, ``Content-Length``, ``Transfer-Encoding``). The
core's ``Authorization`` (``client_secret_basic``) is set there only, never
passed as ``headers=``: aiohttp refuses an ``Authorization`` header beside a
default ``auth`` of its own.

A request to this machine (``resolves_to_loopback``) goes through no proxy,
the session's (``proxy=``) or the environment's (``trust_env``): a proxy
would take it, and the client secret in it, off the machine. ``proxy=None``
cannot say so (it means the session's default, then the environment's), so
the same middleware takes the proxy aiohttp chose off the request
(``ClientRequest.update_proxy``) before the connector reads it.

The rest is per request: ``allow_redirects=False`` (a 3xx comes back, with
its ``Location``), ``raise_for_status=False`` (whatever the session's
default), ``auto_decompress=False`` (the body as sent; no ``Accept-Encoding``
is sent, as our other adapters send none), ``timeout=`` the whole exchange,
also bounded by ``asyncio.timeout``. The body is read in pieces and given up
past ``max_response_bytes``. aiohttp's exceptions become a ``TransportError``
in our own words: their messages quote what a server sent.

What cannot be kept from the session: a ``Set-Cookie`` of the token endpoint
goes into its cookie jar, as any response's does (aiohttp stores it after the
middlewares have returned), and its trace hooks see the request as sent.
"""

from __future__ import annotations

import asyncio

import aiohttp
from aiohttp import hdrs

from sansio_auth import HttpRequest, HttpResponse, TransportError

from ._failures import (
    Malformation,
    cannot_frame,
    closed_before_response,
    detached_async,
    malformed,
    over_limit,
    timeout_error,
    transport_error,
    truncated,
    where,
)
from ._limits import DEFAULT_MAX_RESPONSE_BYTES, DEFAULT_TIMEOUT, check_send_args
from ._target import resolves_to_loopback, target

__all__ = ["send"]

_PIECE = 65536
"""Bytes asked for per read of a body."""

_COMPUTED = (hdrs.HOST, hdrs.CONTENT_LENGTH, hdrs.TRANSFER_ENCODING)
"""What aiohttp works out from the URL and the body: kept as it made them."""


class _ExactHeaders:
    """A per-request middleware: the request's headers become exactly
    *headers*, plus what aiohttp computed for the framing; and if *direct*,
    the request goes through no proxy (module notes)."""

    __slots__ = ("direct", "headers")

    def __init__(self, headers: tuple[tuple[str, str], ...], *, direct: bool) -> None:
        self.headers = headers
        self.direct = direct

    async def __call__(
        self, request: aiohttp.ClientRequest, handler: aiohttp.ClientHandlerType
    ) -> aiohttp.ClientResponse:
        sent = request.headers
        computed = [(name, sent[name]) for name in _COMPUTED if name in sent]
        sent.clear()
        sent.extend(computed)
        sent.extend(self.headers)
        if self.direct:
            request.update_proxy(None, None, None)
        return await handler(request)


@detached_async
async def send(
    request: HttpRequest,
    *,
    session: aiohttp.ClientSession,
    timeout: float = DEFAULT_TIMEOUT,
    max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
) -> HttpResponse:
    """Send *request* through *session* and return the response, whatever
    its status.

    Of *session*, what applies is its connector (TLS settings and CA
    bundle, connection pool), its proxy (``proxy=``, or the environment's
    under ``trust_env``; never for a request to this machine, which goes
    direct) and the mocking tools that replace its requests
    (aioresponses). Never its default headers, cookies, ``auth`` (nor a
    ``.netrc`` entry), middlewares, ``raise_for_status``, redirect following,
    decompression or ``timeout``: the request carries the core's headers
    exactly, and *timeout* is this call's. Two things of the session's
    cannot be kept out (module notes): a ``Set-Cookie`` of the answer goes
    into its cookie jar, and its trace hooks see the request.

    Args:
      request: what to send, exactly.
      session: the open ``aiohttp.ClientSession`` to send it through.
      timeout: seconds the whole exchange may take.
      max_response_bytes: the largest body read; a larger one is an error.

    Returns:
      The response; a 3xx is returned, never followed. The body is as sent
      (no ``Accept-Encoding`` is asked for, nothing is decoded).

    Raises:
      TransportError: the exchange failed (refused, DNS, TLS verification,
        timeout, reset, body too large, malformed HTTP), in our own words.
      TypeError: *session* is not a ``ClientSession``, or *timeout* or
        *max_response_bytes* is not a number.
      ValueError: *timeout* or *max_response_bytes* is out of range.
      RuntimeError: *session* is closed.
    """
    check_send_args(timeout, max_response_bytes)
    if not isinstance(session, aiohttp.ClientSession):
        raise TypeError(
            f"session must be an aiohttp.ClientSession, got {type(session).__name__}"
        )
    if session.closed:
        raise RuntimeError("the aiohttp.ClientSession for token requests is closed")
    place = target(request)  # refuses any scheme but http and https
    name = where(place)
    # Given as headers= too (not Authorization, see the module notes): a
    # mocking tool that replaces the session's request method sees them.
    shown = [(k, v) for k, v in request.headers if k.lower() != "authorization"]
    try:
        async with (
            asyncio.timeout(timeout),
            session.request(
                request.method,
                request.url,
                headers=shown,
                data=request.body or None,
                allow_redirects=False,
                raise_for_status=False,
                auto_decompress=False,
                timeout=aiohttp.ClientTimeout(total=timeout),
                middlewares=(
                    _ExactHeaders(
                        request.headers, direct=resolves_to_loopback(place.host)
                    ),
                ),
            ) as response,
        ):
            body = bytearray()
            async for piece in response.content.iter_chunked(_PIECE):
                body += piece
                if len(body) > max_response_bytes:
                    raise over_limit(max_response_bytes)
            headers = tuple(
                (key.decode("latin-1"), value.decode("latin-1"))
                for key, value in response.raw_headers
            )
            return HttpResponse(
                status=response.status, headers=headers, body=bytes(body)
            )
    except TransportError:
        raise
    except TimeoutError:  # ours, or aiohttp's own (a subclass)
        raise timeout_error(timeout, name) from None
    except aiohttp.ServerDisconnectedError:
        raise closed_before_response(name) from None
    except aiohttp.ClientPayloadError:
        raise truncated(name) from None
    except aiohttp.ClientResponseError:
        # A response head aiohttp could not parse; its message quotes it.
        raise malformed(name, Malformation.HEAD) from None
    except aiohttp.InvalidURL:
        raise cannot_frame(name) from None
    except (aiohttp.ClientError, OSError) as exc:
        raise transport_error(exc, name) from None
