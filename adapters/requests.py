"""The requests integration: :class:`TokenAuth`, a ``requests.auth.AuthBase``.

Theory of operation. requests calls an auth object once per request, as the
last step of preparing it, and runs the request's ``response`` hooks on each
response before redirects are followed. :class:`TokenAuth` uses both:

- ``__call__`` sets ``Authorization`` from its token client (a thread-safe
  :class:`~sansio_auth.adapters._sync.SyncClientBase`: a lock-free cached
  token, and one token request however many threads are waiting) and
  registers its response hook. A request whose caller set
  ``Authorization`` (in the call or in the Session's headers) is left
  alone: no token, no hook. That is all the hot path does: one check of the
  cached token, one header set, one hook appended.
- The hook does nothing to a response that is not a 401. A 401 is ours only
  if its request carries an ``Authorization`` value we set lately (we keep
  the last few): the hook is copied onto each redirect's request, and a
  redirect to another host drops our value (requests strips it) and may
  carry that host's netrc credentials instead, which must never be
  answered with our token. Ours, it is the core's to judge
  (:func:`sansio_auth.api_action`); the hook only maps the answer onto
  requests. ``KEEP``: the response goes back. ``DROP``: the token is
  invalidated (if it is still the current one) and the response goes back.
  ``RETRY``: invalidated, a token got again, and the request sent once more
  as requests' own ``HTTPDigestAuth.handle_401`` resends: the 401 read and
  closed, a copy of the request with the fresh header sent through the same
  transport adapter with the same settings, the 401 kept in ``history``.
  The transport adapter runs no hooks, and the copy is marked as the retry,
  so that no request is sent a third time, even if a caller sends the copy
  again. The request the 401 answered gets the fresh value too (the 401
  keeps a copy of it as it was sent): requests follows a redirect of the
  retry with a copy of that request, which would otherwise send the refused
  token again.

The values set lately are kept under a lock of the TokenAuth's own, built
again in a forked child (as the token clients rebuild theirs): a thread of
the parent holding it at the fork would otherwise hold it in the child
forever.

A body can be sent again when it is ``None``, bytes or str (what ``data=`` a
dict, bytes, str or ``files=`` become), or a file whose start position
requests recorded (``_body_position``) and that can seek back to it: the
file is rewound, as requests rewinds one for a 307 or 308. A generator, an
iterator or a stream without a position is not sent again: its 401 goes
back (the token is still invalidated).

Token requests go through our urllib adapter's ``send`` or, when a
``requests.Session`` is given, through that Session's transport with only
its proxies, TLS verification, client certificate and mounted adapters
(:func:`send`; ``_requests_send.py`` says why exactly those).
"""

from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING, Any, Final

from ._extras import missing_extra

try:
    import requests

    from ._requests_send import send
except ImportError as exc:
    raise missing_extra(__name__, "requests", ("requests", "urllib3"), exc) from None

from sansio_auth import ApiAction, Flow, HttpRequest, HttpResponse, Token, api_action

from . import _client as _process
from . import urllib as _urllib
from ._client import Clock
from ._limits import DEFAULT_MAX_RESPONSE_BYTES, DEFAULT_TIMEOUT
from ._sync import SyncClientBase

if TYPE_CHECKING:
    from .stores import Store

__all__ = ["TokenAuth", "send"]

_KEPT: Final = 8
"""How many of the values it set lately a TokenAuth knows as its own."""
_UNSET: Final = object()
_RETRIED: Final = "_sansio_auth_retried"
"""The attribute marking the one copy of a request sent again after a 401."""


class _Client(SyncClientBase):
    """The token client of a TokenAuth: token requests through our urllib
    ``send``, or through the user's Session."""

    __slots__ = ("_http",)

    _driver = "a requests TokenAuth"

    def __init__(
        self,
        flow: Flow,
        *,
        timeout: float,
        max_response_bytes: int,
        clock: Clock,
        http: requests.Session | None,
        store: object,
    ) -> None:
        self._http = http
        super().__init__(
            flow,
            timeout=timeout,
            max_response_bytes=max_response_bytes,
            clock=clock,
            store=store,
        )

    def _send(
        self,
        request: HttpRequest,
        *,
        timeout: float,
        ssl_context: object,
        max_response_bytes: int,
    ) -> HttpResponse:
        if self._http is None:
            return _urllib.send(
                request, timeout=timeout, max_response_bytes=max_response_bytes
            )
        return send(
            request,
            session=self._http,
            timeout=timeout,
            max_response_bytes=max_response_bytes,
        )


class TokenAuth(requests.auth.AuthBase):
    """``Authorization`` from a token of *flow* on every request, with one
    retry on a 401 that refuses it.

    Use it as ``session.auth = TokenAuth(flow)`` or per request
    (``requests.get(url, auth=auth)``). One instance may be shared by any
    number of threads and sessions: they make one token request between
    them, and reuse its token until the session's refresh point.

    Args:
      flow: how to get a token.
      timeout: seconds each token request may take, all of it.
      max_response_bytes: the largest token response read.
      session: a ``requests.Session`` for token requests (its proxies, CA
        bundle or ``verify``, client certificate and mounted adapters, such
        as a test's ``responses`` mock); never its headers, cookies, auth,
        hooks or params, and never a redirect. By default token requests go
        through :func:`sansio_auth.adapters.urllib.send`.
      clock: returns UNIX seconds; tests pass a fake one.
      store: a shared store (:mod:`sansio_auth.adapters.stores`: memory,
        file or Redis) through which processes and hosts share one token
        (see docs/fleet.md); None keeps the token to this client.

    Raises:
      TypeError: *session* is not a ``requests.Session``, *clock* is not
        callable, or *store* is not a store.
      ValueError: *timeout* or *max_response_bytes* is out of range.

    A token endpoint that fails raises the session's
    :class:`~sansio_auth.TokenError` (``OAuthError``, ``HttpError``,
    ``TransportError``) from the API call, never an exception of requests.
    """

    __slots__ = ("_client", "_forks", "_hook", "_last", "_lock", "_set")

    def __init__(
        self,
        flow: Flow,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
        session: requests.Session | None = None,
        clock: Clock = time.time,
        store: Store | None = None,
    ) -> None:
        if session is not None and not isinstance(session, requests.Session):
            raise TypeError(
                "session must be a requests.Session or None, got "
                f"{type(session).__name__}"
            )
        self._client = _Client(
            flow,
            timeout=timeout,
            max_response_bytes=max_response_bytes,
            clock=clock,
            http=session,
            store=store,
        )
        # One bound method, made once: the hot path only appends it.
        self._hook = self._on_response
        # The token set last and its header value: the hot path compares
        # identities rather than format the value again.
        self._last: tuple[Token | None, str] = (None, "")
        # The values set lately, newest last, and their tokens: a 401's
        # request is ours only if it carries one of them (module notes).
        self._set: dict[str, Token] = {}
        self._lock = threading.Lock()
        self._forks = _process.PROCESS.forks

    def __call__(self, r: requests.PreparedRequest) -> requests.PreparedRequest:
        """Set ``Authorization`` on *r* and register the 401 hook, unless *r*
        carries an ``Authorization`` already.

        Raises:
          TokenError: no token could be got (see the session's retry policy).
        """
        headers = r.headers
        try:
            # The lowercased store of requests' CaseInsensitiveDict: its
            # ``in`` takes three Python calls, a good part of our budget.
            if "authorization" in headers._store:  # type: ignore[attr-defined]
                return r
        except AttributeError:
            if "Authorization" in headers:
                return r
        token = self._client.token()
        last = self._last
        headers["Authorization"] = last[1] if token is last[0] else self._note(token)
        r.hooks["response"].append(self._hook)
        return r

    def _locked(self) -> threading.Lock:
        """The lock of the values set; in a forked child, a new one (the
        parent's may be held by a thread the child does not have), as the
        token clients rebuild theirs. Only on the slow paths."""
        if self._forks != _process.PROCESS.forks:
            process = _process.PROCESS
            with process.lock:  # the child's own: two threads rebuild once
                if self._forks != process.forks:
                    self._lock = threading.Lock()
                    self._forks = process.forks
        return self._lock

    def _note(self, token: Token) -> str:
        value = token.authorization()
        with self._locked():
            self._set[value] = token
            while len(self._set) > _KEPT:
                del self._set[next(iter(self._set))]
            self._last = (token, value)
        return value

    def _on_response(
        self,
        response: requests.Response,
        # Named, not **kwargs: binding the keywords Session.send passes costs
        # less than copying them into a new dict, on every response.
        stream: object = _UNSET,
        timeout: object = _UNSET,
        verify: object = _UNSET,
        cert: object = _UNSET,
        proxies: object = _UNSET,
        **others: object,
    ) -> requests.Response | None:
        # api_action keeps every response but a 401: a 200 costs one
        # comparison, and the core is asked about the rest.
        if response.status_code != 401:
            return None
        given = {
            "stream": stream,
            "timeout": timeout,
            "verify": verify,
            "cert": cert,
            "proxies": proxies,
        }
        # Only what was given: a missing verify sent on as None would turn
        # TLS verification off for the retry.
        send_kwargs = {k: v for k, v in given.items() if v is not _UNSET}
        return self._on_401(response, {**send_kwargs, **others})

    def _on_401(
        self, response: requests.Response, send_kwargs: dict[str, Any]
    ) -> requests.Response | None:
        request = response.request
        sent = request.headers.get("Authorization")
        with self._locked():
            token = self._set.get(sent) if isinstance(sent, str) else None
        if token is None or sent is None:
            # Not a value we set: a redirect's copy of the request, sent to
            # another host without ours (requests drops it) and maybe with
            # that host's netrc credentials; or a header changed since.
            return None
        connection = getattr(response, "connection", None)
        action = api_action(
            response.status_code,
            response.headers.get("WWW-Authenticate") or (),
            scheme=sent.partition(" ")[0],
            retried=bool(request.__dict__.get(_RETRIED)),
            replayable=connection is not None and _replayable(request),
        )
        if action is ApiAction.KEEP:
            return None
        self._client.invalidate(token)
        if action is ApiAction.DROP:
            return None
        # As HTTPDigestAuth.handle_401: read the 401, so that its connection
        # goes back to the pool for the retry, before a token request that
        # may take a while or fail.
        response.content  # noqa: B018
        response.close()
        fresh = self._client.token()
        retry = request.copy()
        value = self._note(fresh)
        retry.headers["Authorization"] = value
        retry.__dict__[_RETRIED] = True
        if not _rewind(retry):
            return None
        # requests follows the retry's redirect with a copy of the request
        # it sent, this one, not of the retry: the refused value would go
        # out again. It gets the fresh one too (not the retry's mark), and
        # the 401 keeps a copy of it as it was sent.
        response.request = request.copy()
        request.headers["Authorization"] = value
        assert connection is not None  # else not replayable, never RETRY
        resent: requests.Response = connection.send(retry, **send_kwargs)
        resent.history.append(response)
        resent.request = retry
        return resent

    def __repr__(self) -> str:
        return f"<TokenAuth for a {type(self._client.session.flow).__name__} flow>"


_BYTES = (bytes, bytearray, memoryview, str)


def _replayable(request: requests.PreparedRequest) -> bool:
    """Whether *request*'s body can be sent again (module notes)."""
    body = request.body
    if body is None or isinstance(body, _BYTES):
        return True
    position = getattr(request, "_body_position", None)
    return type(position) is int and callable(getattr(body, "seek", None))


def _rewind(request: requests.PreparedRequest) -> bool:
    """Put a file body back where the first send started reading it; False
    if it cannot go back (closed, or its stream cannot seek after all)."""
    body = request.body
    if body is None or isinstance(body, _BYTES):
        return True
    try:
        body.seek(request._body_position)
    except (OSError, ValueError):
        return False
    return True
