"""Token requests through a user's ``requests.Session``: what of it applies.

A user passes their Session so that token requests go where theirs go: the
same proxies, the same CA bundle or ``verify=False``, the same client
certificate, the same mounted transport adapters (and the ``responses`` or
``requests-mock`` mocking their tests put there). Everything else a Session
adds to a request belongs to the API it was made for, and is left out:

- its default ``headers`` (an ``X-Api-Key``), ``cookies``, ``auth`` (our own
  ``TokenAuth``: a token request would recurse into itself) and netrc
  credentials, and its ``params`` (a key in the query): the request is
  prepared on its own (``requests.Request(...).prepare()``), never through
  ``Session.prepare_request``, so it carries the core's method, URL, headers
  and body exactly;
- its ``hooks``: a logging or ``raise_for_status`` hook would see the token
  response, whose body is a secret;
- its redirect handling and cookie jar. The request goes straight to the
  transport adapter the Session has mounted for the URL
  (``session.get_adapter(url).send``), not through ``Session.send``, which
  even with ``allow_redirects=False`` reads a 3xx's whole body, uncapped
  (``resolve_redirects(..., yield_requests=True)`` consumes it), and stores
  the token endpoint's ``Set-Cookie`` in the jar the API requests send.

So the settings that still apply are exactly those of
``Session.merge_environment_settings``, as ``session.post(url)`` would merge
them: ``proxies`` (the Session's and, with ``trust_env``, the environment's,
``no_proxy`` included), ``verify`` (the Session's, or ``REQUESTS_CA_BUNDLE``
as requests reads it) and ``cert``; plus the mounted adapters. One
exception: a loopback URL goes through no proxy, as with the default
transport, since plain http to loopback is allowed only because nothing
leaves the machine.

The whole exchange is bounded by *timeout*: it is both the connect and the
read timeout, the body is read as it comes (``read1``) with a deadline check
before each read, and the socket's timeout is cut to the time left. What is
left unbounded is what requests and urllib3 do not bound: name resolution,
and one connect timeout per address tried; a head trickled a byte per read
timeout can run past the deadline before the body starts (each wait is at
most *timeout*), and is refused as a timeout once it has come.
"""

from __future__ import annotations

import http.client
import socket
import time
from collections.abc import Callable
from typing import Any

import requests
import urllib3

from sansio_auth import HttpRequest, HttpResponse, TransportError

from ._failures import (
    Malformation,
    _causes,
    closed_before_response,
    detached,
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
"""The most asked of one read of the body."""


@detached
def send(
    request: HttpRequest,
    *,
    session: requests.Session,
    timeout: float = DEFAULT_TIMEOUT,
    max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
) -> HttpResponse:
    """Send *request* through *session*'s transport and return the response.

    Only the session's proxies, TLS verification, client certificate and
    mounted adapters apply (see the module notes); never its headers,
    cookies, auth, hooks or params.

    Args:
      request: what to send, exactly.
      session: the ``requests.Session`` whose transport to use.
      timeout: seconds the whole exchange may take.
      max_response_bytes: the largest body read; a larger one is an error.

    Returns:
      The response; a 3xx is returned, never followed.

    Raises:
      TransportError: the exchange failed (refused, DNS, TLS verification,
        timeout, reset, body too large), in our own words.
    """
    check_send_args(timeout, max_response_bytes)
    if not isinstance(session, requests.Session):
        raise TypeError(
            f"session must be a requests.Session, got {type(session).__name__}"
        )
    dest = target(request)  # refuses any scheme but http and https
    name = where(dest)
    deadline = time.monotonic() + timeout
    prepared = requests.Request(
        request.method,
        request.url,
        headers=dict(request.headers),
        data=request.body or None,
    ).prepare()
    url = prepared.url
    assert url is not None  # prepare() set it
    try:
        adapter = session.get_adapter(url)
        settings = session.merge_environment_settings(url, {}, True, None, None)
        if resolves_to_loopback(dest.host):
            settings["proxies"] = {}
        # None is no setting at all (requests would then skip verification):
        # verified, as by default.
        verify = True if settings["verify"] is None else settings["verify"]
        response = adapter.send(
            prepared,
            stream=True,
            timeout=(timeout, timeout),
            verify=verify,
            cert=settings["cert"],
            proxies=settings["proxies"],
        )
    except Exception as exc:  # a mounted adapter may raise anything
        raise _failure(exc, name, timeout) from None
    try:
        body = _read_body(response, max_response_bytes, deadline, timeout, name)
        return HttpResponse(
            status=response.status_code, headers=_headers(response), body=body
        )
    except TransportError:
        raise
    except Exception as exc:
        raise _failure(exc, name, timeout) from None
    finally:
        response.close()


def _read_body(
    response: requests.Response,
    max_response_bytes: int,
    deadline: float,
    timeout: float,
    name: str,
) -> bytes:
    """The body, up to one byte past the cap, as it comes, by the deadline."""
    read = _reader(response)
    body = bytearray()
    while len(body) <= max_response_bytes:
        left = deadline - time.monotonic()
        if left <= 0:
            raise timeout_error(timeout, name)
        piece = read(min(_PIECE, max_response_bytes + 1 - len(body)), left)
        if not piece:
            return bytes(body)
        body += piece
    raise over_limit(max_response_bytes)


def _reader(response: requests.Response) -> Callable[[int, float], bytes]:
    """A function reading at most so many bytes of the body within so many
    seconds; b"" at its end.

    urllib3's ``read1`` returns what one read of the socket brings, and the
    socket's timeout is cut to the time left first (urllib3 sets it again
    before the connection's next request). ``iter_content`` (urllib3's
    ``stream``) would wait for a whole chunk, which a body trickled a byte at
    a time does not complete before any deadline. A ``raw`` without
    ``read1`` (urllib3 1.26's, a custom adapter's) is read with
    ``iter_content`` in small pieces, the deadline checked between them.
    """
    raw = response.raw
    read1 = getattr(raw, "read1", None)
    if isinstance(raw, urllib3.response.HTTPResponse) and read1 is not None:

        def read(most: int, left: float) -> bytes:
            sock = getattr(raw.connection, "sock", None)
            if isinstance(sock, socket.socket):
                sock.settimeout(left)
            data: bytes = read1(most, decode_content=True)
            return data

        return read
    pieces = response.iter_content(chunk_size=4096)
    return lambda most, left: next(pieces, b"")


def _headers(response: requests.Response) -> tuple[tuple[str, str], ...]:
    # urllib3's header dict gives a repeated field once per value (two
    # WWW-Authenticate lines stay two); requests' own joins them.
    lines = getattr(getattr(response.raw, "headers", None), "iteritems", None)
    if lines is not None:
        return tuple((str(k), str(v)) for k, v in lines())
    return tuple((str(k), str(v)) for k, v in response.headers.items())


def _failure(exc: BaseException, name: str, timeout: float) -> TransportError:
    """*exc*, raised by requests, urllib3 or a mounted adapter, in our words.

    Never its text: requests and urllib3 quote what a server or a proxy sent
    (a status line, a header), and a mock's message is anyone's.
    """
    causes = _chain(exc)
    if any(isinstance(c, _TIMEOUTS) for c in causes):
        return timeout_error(timeout, name)
    # RemoteDisconnected is a ConnectionResetError: said before the OS's.
    if any(isinstance(c, http.client.RemoteDisconnected) for c in causes):
        return closed_before_response(name)
    if any(isinstance(c, _INCOMPLETE) for c in causes):
        return truncated(name)
    if any(isinstance(c, OSError) for c in causes):
        return transport_error(exc, name)
    if any(isinstance(c, urllib3.exceptions.DecodeError) for c in causes):
        return malformed(name, Malformation.BODY)
    if any(isinstance(c, _MALFORMED_HEAD) for c in causes):
        return malformed(name, Malformation.HEAD)
    return transport_error(exc, name)


_TIMEOUTS = (requests.Timeout, urllib3.exceptions.TimeoutError, TimeoutError)
_INCOMPLETE = (http.client.IncompleteRead, urllib3.exceptions.IncompleteRead)
_MALFORMED_HEAD = (http.client.HTTPException, urllib3.exceptions.HeaderParsingError)


def _chain(exc: BaseException) -> list[BaseException]:
    # What _failures walks (causes, contexts, urllib's reason) plus the
    # exceptions requests and urllib3 wrap as arguments:
    # ConnectionError(ProtocolError("Connection aborted.", RemoteDisconnected)).
    found: list[BaseException] = []
    todo: list[BaseException] = [exc]
    while todo:
        for item in _causes(todo.pop()):
            if item in found:
                continue
            found.append(item)
            todo.extend(arg for arg in _args(item) if arg not in found)
    return found


def _args(exc: BaseException) -> list[BaseException]:
    args: tuple[Any, ...] = getattr(exc, "args", ())
    return [arg for arg in args if isinstance(arg, BaseException)]
