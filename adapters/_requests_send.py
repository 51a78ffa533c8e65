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

The whole exchange is bounded by *timeout*, whatever the Session's
settings and however the server trickles its answer. The transport
adapter's send (name resolution, connect, request, the response's head)
runs in a worker thread the caller waits for until the deadline and no
longer (``_Head`` says why a thread: nothing outside requests reaches the
socket while the head comes); requests is given *timeout* as its connect
and read timeouts too, so that an abandoned worker ends once the server
stalls that long (one that keeps trickling holds the worker, never the
caller, until http.client's limits on a head end it). Once the head
has come, a watchdog shuts the connection down at the deadline while the
body is read as it comes (``read1``), with a deadline check before each
read.
"""

from __future__ import annotations

import contextvars
import functools
import http.client
import threading
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
from ._watchdog import Watchdog, shut_down_fd

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
    """Send *request* through *session*'s transport and return the response,
    whatever its status.

    Of *session*, what applies is what ``session.post(url)`` would merge in
    for the transport: its proxies (with ``trust_env``, the environment's
    too, ``no_proxy`` included; a loopback URL takes none), its TLS
    verification (``verify``; with ``trust_env``, ``REQUESTS_CA_BUNDLE`` as
    requests reads it), its client
    certificate, and the transport adapter it has mounted for the URL (a
    test's ``responses`` or ``requests-mock``). Never its default headers,
    ``params``, cookies (none sent, none stored in its jar), ``auth`` (nor
    a ``.netrc`` entry), hooks or redirect following: the request carries
    the core's method, URL, headers and body exactly (module notes).

    Args:
      request: what to send, exactly.
      session: the ``requests.Session`` whose transport to use.
      timeout: seconds the whole exchange may take, a trickled head or
        body included (module notes).
      max_response_bytes: the largest body read; a larger one is an error.

    Returns:
      The response; a 3xx is returned, never followed.

    Raises:
      TransportError: the exchange failed (refused, DNS, TLS verification,
        timeout, reset, body too large), in our own words.
      TypeError: *session* is not a ``requests.Session``, or *timeout* or
        *max_response_bytes* is not a number.
      ValueError: *timeout* or *max_response_bytes* is out of range.
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
        response = _Head(
            functools.partial(
                adapter.send,
                prepared,
                stream=True,
                timeout=(timeout, timeout),
                verify=verify,
                cert=settings["cert"],
                proxies=settings["proxies"],
            )
        ).by(deadline)
    except _FAILURES as exc:
        raise _failure(exc, name, timeout) from None
    if response is None:
        raise timeout_error(timeout, name)
    watchdog = _watchdog(response, deadline)
    try:
        body = _read_body(response, max_response_bytes, deadline, timeout, name)
        if watchdog is not None and watchdog.fired:  # ended at the cut
            raise timeout_error(timeout, name)
        return HttpResponse(
            status=response.status_code, headers=_headers(response), body=body
        )
    except _FAILURES as exc:
        if watchdog is not None and watchdog.fired:
            raise timeout_error(timeout, name) from None
        raise _failure(exc, name, timeout) from None
    finally:
        if watchdog is not None:
            watchdog.cancel()
        response.close()


class _Head:
    """The transport adapter's send (connect, request, the response's head)
    in a worker thread, so that the caller waits for it no longer than the
    deadline, however the server trickles the head.

    A thread, because nothing outside requests reaches the socket while the
    head comes: a kept-alive connection leaves the user's pool with no
    connect (no connect hook, socket option or audit event sees it), the
    pool does not track the connections in use, and a mounted adapter (a
    mock, a custom transport) may have no socket at all; patching urllib3's
    classes would change every other request of the process. The worker
    runs in a copy of the caller's context (instrumentation, context-local
    settings). Abandoned at the deadline, it keeps the connection until
    requests' own timeouts or the server end the head, then closes the
    response it got; its failure goes nowhere. A token request is rare: one
    thread each costs nothing that counts.
    """

    def __init__(self, call: Callable[[], requests.Response]) -> None:
        self._call = call
        self._lock = threading.Lock()
        self._done = threading.Event()
        self._abandoned = False
        self._response: requests.Response | None = None
        self._error: BaseException | None = None
        context = contextvars.copy_context()
        threading.Thread(
            target=context.run,
            args=(self._run,),
            name="sansio-auth requests send",
            daemon=True,
        ).start()

    def _run(self) -> None:
        try:
            response = self._call()
        except BaseException as exc:  # the caller's, unless abandoned
            with self._lock:
                if not self._abandoned:
                    self._error = exc
                    self._done.set()
            return
        with self._lock:
            if not self._abandoned:
                self._response = response
                self._done.set()
                return
        response.close()

    def by(self, deadline: float) -> requests.Response | None:
        """The response, with its head, if it came by *deadline*; else None
        (and the worker abandoned). Raises what the send raised."""
        try:
            self._done.wait(max(0.0, deadline - time.monotonic()))
        finally:
            with self._lock:
                self._abandoned = not self._done.is_set()
        if self._error is not None:
            error, self._error = self._error, None
            raise error
        return self._response


def _watchdog(response: requests.Response, deadline: float) -> Watchdog | None:
    """A watchdog that shuts the response's connection down at the deadline,
    so that no read of the body outlasts it: a read waits up to the read
    timeout for each piece of a line (a chunk-size line trickled a byte at a
    time never ends), and the deadline check between reads comes only once
    a read returns.

    The connection is reached through the response's ``fileno()``: once a
    response that closes its connection has its head, http.client hands the
    socket to the response and the connection no longer holds it. None for
    anything but urllib3's responses on a real socket: a mounted adapter of
    another kind has the checks between reads only.
    """
    raw = response.raw
    if not isinstance(raw, urllib3.response.HTTPResponse):
        return None
    try:
        fd = raw.fileno()
    except OSError:  # a mock's body, already read, or no socket
        return None

    def cut() -> bool:
        # Run under the watchdog's lock, and only until it is cancelled,
        # before the response closes: a descriptor closed and reused by
        # another socket is never touched.
        shut_down_fd(fd)
        return True

    return Watchdog(deadline, cut)


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
        if time.monotonic() >= deadline:
            raise timeout_error(timeout, name)
        piece = read(min(_PIECE, max_response_bytes + 1 - len(body)))
        if not piece:
            return bytes(body)
        body += piece
    raise over_limit(max_response_bytes)


def _reader(response: requests.Response) -> Callable[[int], bytes]:
    """A function reading at most so many bytes of the body; b"" at its end.

    urllib3's ``read1`` returns what one read of the socket brings, decoded.
    ``iter_content`` (urllib3's ``stream``) waits for a whole chunk of the
    size asked, so that a body trickled a byte at a time would never reach
    the check between reads. A ``raw`` without ``read1`` (urllib3 1.26's, a
    custom adapter's) is read with ``iter_content`` in small pieces.
    """
    raw = response.raw
    read1 = getattr(raw, "read1", None)
    if isinstance(raw, urllib3.response.HTTPResponse) and read1 is not None:

        def read(most: int) -> bytes:
            data: bytes = read1(most, decode_content=True)
            return data

        return read
    pieces = response.iter_content(chunk_size=4096)
    return lambda most: next(pieces, b"")


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
    if any(_is_timeout(c) for c in causes):
        return timeout_error(timeout, name)
    # RemoteDisconnected is a ConnectionResetError: said before the OS's.
    if any(isinstance(c, http.client.RemoteDisconnected) for c in causes):
        return closed_before_response(name)
    if any(isinstance(c, _INCOMPLETE) for c in causes):
        return truncated(name)
    for cause in causes:
        # The OS's or OpenSSL's (requests' own exceptions are OSErrors too).
        if isinstance(cause, OSError) and not isinstance(
            cause, requests.RequestException
        ):
            return transport_error(cause, name)
    if any(isinstance(c, urllib3.exceptions.DecodeError) for c in causes):
        return malformed(name, Malformation.BODY)
    if any(isinstance(c, _MALFORMED_HEAD) for c in causes):
        return malformed(name, Malformation.HEAD)
    return transport_error(exc, name)


def _is_timeout(exc: BaseException) -> bool:
    # urllib3's NewConnectionError (a refused or unreachable connect) is a
    # ConnectTimeoutError for compatibility's sake, not a timeout.
    if isinstance(exc, urllib3.exceptions.NewConnectionError):
        return False
    return isinstance(exc, _TIMEOUTS)


_FAILURES = (
    requests.RequestException,
    urllib3.exceptions.HTTPError,
    http.client.HTTPException,
    OSError,
)
"""What requests, urllib3 and http.client raise for a failed exchange (a
mocking tool's refusal included). Anything else is a bug, raised as it is."""
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
