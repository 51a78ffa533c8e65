"""The aiohttp integration: ``TokenMiddleware``, a client middleware (aiohttp 3.12+).

::

    async with aiohttp.ClientSession(middlewares=(TokenMiddleware(flow),)) as s:
        async with s.get(url) as response: ...

Theory of operation. aiohttp calls a client middleware with each request it
is about to send and a handler that sends it; the middleware may change the
request, call the handler (again, for a retry) and return a response.
``TokenMiddleware`` only maps the core's decisions onto that:

- A request whose caller set ``Authorization`` (in ``headers=``, the
  session's defaults or ``auth=``) is left alone: no token, no 401 handling.
- Every other request gets the ``Authorization`` of a usable token. The
  token comes from an asyncio token client (``_aiohttp_client``): a cached
  token without an await or a lock; otherwise one token request however many
  tasks ask at once, the others waiting on an ``asyncio.Event``.
- A 401 is the core's to judge (``sansio_auth.api_action``): ``KEEP`` gives
  the response back; ``DROP`` invalidates the token it carried (only if it is
  still the current one) and gives it back; ``RETRY`` invalidates it, gets a
  token again (one token request for every request that saw the 401),
  releases the 401 and calls the handler once more with the same request.
  Never a third time: the retry's answer goes back, whatever it is. A body
  can be sent again when it is none or bytes (``bytes``, ``str``, JSON, a
  urlencoded form: aiohttp's ``BytesPayload``); an async iterator, a file or
  a multipart body may be half read or gone, and is not re-sent.
- A token endpoint failure is raised from the ``session.get(...)`` call as
  the session's ``TokenError`` (``OAuthError``, ``HttpError``,
  ``TransportError``), not as an aiohttp exception.

Redirects. aiohttp calls the session's middlewares again for each redirect it
follows, with a new request; for a redirect to another origin it drops the
caller's ``Authorization`` and cookies, and a middleware that set a token on
every request would send the token there (an open redirect on the API would
hand it to anyone). So when a response to a request that carried our token
is a redirect to another origin, the middleware notes that origin in a
context variable of the task, and the task's next request, if it goes to
that origin, gets no token (nor does the rest of the chain until it is back
at the first origin). The note is read and cleared by the next request
through the middleware whatever it is: a caller who does not follow
redirects and sends its next request to that very origin sends it without
a token (a 401 comes back: it fails closed).

Token requests go through *session* when one is given (its connector, TLS
settings, proxy and mocking tools; not its default headers, cookies, auth
or middlewares: see ``_aiohttp_send``), and otherwise through the urllib
adapter's ``send`` in a worker thread (``_aiohttp_client`` says why).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from contextvars import ContextVar
from typing import Final

from sansio_auth import ApiAction, Flow, Token, api_action

from ._extras import missing_extra

try:
    import aiohttp
    from aiohttp import hdrs
    from aiohttp.payload import BytesPayload
    from yarl import URL

    from ._aiohttp_client import TokenClient
    from ._aiohttp_send import send
except ImportError as exc:
    raise missing_extra(__name__, "aiohttp", ("aiohttp",), exc) from None

from ._limits import DEFAULT_MAX_RESPONSE_BYTES, DEFAULT_TIMEOUT

__all__ = ["TokenMiddleware", "send"]

_REDIRECTS: Final = frozenset({301, 302, 303, 307, 308})
"""The statuses aiohttp follows."""

_AWAY: Final[ContextVar[tuple[TokenMiddleware, URL, URL] | None]] = ContextVar(
    "sansio_auth_aiohttp_away", default=None
)
"""In a task whose last request through a middleware was redirected to
another origin: (that middleware, the origin the token was for, the origin
the redirect points to). Read and cleared by the next request."""


def _replayable(request: aiohttp.ClientRequest) -> bool:
    """Whether the request's body can be sent again as it was: none, or
    bytes in memory (module notes)."""
    body = request.body
    return isinstance(body, bytes) or (
        isinstance(body, BytesPayload) and not body.consumed
    )


class TokenMiddleware:
    """An aiohttp client middleware that authenticates each request with a
    token of *flow*, fetched and kept fresh (module notes).

    Give it to a session: ``ClientSession(middlewares=(TokenMiddleware(flow),))``.
    Building one needs no running event loop. It serves one event loop at a
    time, as the token clients do: ``asyncio.run()`` after ``asyncio.run()``
    works; two loops in two threads at once need a middleware each.

    Args:
      flow: how to get a token.
      timeout: seconds each token request may take.
      max_response_bytes: the largest token response read.
      session: the ``aiohttp.ClientSession`` to send token requests through
        (for its connector: TLS settings, proxy, mocking tools); by default
        the urllib adapter's ``send``, in a worker thread. Not the session
        this middleware is in: that one does not exist yet when the
        middleware is made. The caller closes it.
      clock: returns UNIX seconds; tests pass a fake one.

    Raises:
      TypeError: *flow* is not a flow, *session* not a ``ClientSession``.
      ValueError: *timeout* or *max_response_bytes* is out of range.
    """

    __slots__ = ("_client", "_header")

    def __init__(
        self,
        flow: Flow,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
        session: aiohttp.ClientSession | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._client: Final = TokenClient(
            flow,
            http=session,
            timeout=timeout,
            max_response_bytes=max_response_bytes,
            clock=clock,
        )
        # The last token's header value, so that the hot path does not
        # build the string again for each request.
        self._header: tuple[Token | None, str] = (None, "")

    @property
    def client(self) -> TokenClient:
        """The token client: ``await middleware.client.token()``,
        ``.invalidate(token)``, ``.session`` (its state and stats)."""
        return self._client

    def __repr__(self) -> str:
        # The flow's fields hold credentials: its kind only.
        return f"<TokenMiddleware of {type(self._client.session.flow).__name__}>"

    async def __call__(
        self, request: aiohttp.ClientRequest, handler: aiohttp.ClientHandlerType
    ) -> aiohttp.ClientResponse:
        """Authenticate *request*, send it through *handler*, and send it once
        more with a fresh token if the core says a 401 calls for it.

        Raises:
          TokenError: no token could be had (the session's error).
        """
        away = _AWAY.get()
        if away is not None and away[0] is self:
            _AWAY.set(None)
            if request.url.origin() == away[2]:
                return await self._withheld(request, handler, away[1])
        headers = request.headers
        if hdrs.AUTHORIZATION in headers:
            return await handler(request)
        client = self._client
        # The client's hot cache, inlined as its own token() inlines it: a
        # usable token without a call, an await or a lock.
        hot = client._hot
        if (
            hot is not None
            and hot[1] <= client._clock() < hot[2]
            and hot[0] is client._session.token
        ):
            token = hot[0]
        else:
            token = await client.token()
        header = self._header
        if header[0] is not token:
            header = self._header = (token, token.authorization())
        headers[hdrs.AUTHORIZATION] = header[1]
        try:
            response = await handler(request)
            status = response.status
            if status == 401:
                scheme = header[1].partition(" ")[0]
                response = await self._refused(
                    request, handler, response, token, scheme
                )
                status = response.status
        finally:
            # Off the request once it is sent: aiohttp's request_info, a live
            # view of these headers, is in the repr and the args of a
            # ClientResponseError (raise_for_status), which error trackers
            # record; and a middleware around this one that sends the request
            # again must not find an old token there, taken for the caller's.
            try:  # noqa: SIM105 (contextlib.suppress: slower, on the hot path)
                del headers[hdrs.AUTHORIZATION]
            except KeyError:  # an inner middleware took it off already
                pass
        if status in _REDIRECTS:
            self._note_redirect(request, response, request.url.origin())
        return response

    async def _refused(
        self,
        request: aiohttp.ClientRequest,
        handler: aiohttp.ClientHandlerType,
        response: aiohttp.ClientResponse,
        token: Token,
        scheme: str,
    ) -> aiohttp.ClientResponse:
        """Map the core's answer to a 401 that carried *token* (whose
        ``Authorization`` scheme is *scheme*)."""
        replayable = _replayable(request)
        retried = False
        while response.status == 401:
            action = api_action(
                401,
                response.headers.getall(hdrs.WWW_AUTHENTICATE, ()),
                scheme=scheme,
                retried=retried,
                replayable=replayable,
            )
            if action is ApiAction.KEEP:
                break
            self._client.invalidate(token)
            if action is ApiAction.DROP or retried:  # never a third send
                break
            response.release()
            token = await self._client.token()
            value = token.authorization()
            scheme = value.partition(" ")[0]
            request.headers[hdrs.AUTHORIZATION] = value
            response = await handler(request)
            retried = True
        return response

    async def _withheld(
        self,
        request: aiohttp.ClientRequest,
        handler: aiohttp.ClientHandlerType,
        home: URL,
    ) -> aiohttp.ClientResponse:
        """A hop of a redirect chain away from *home*: sent without a token."""
        response = await handler(request)
        if response.status in _REDIRECTS:
            self._note_redirect(request, response, home)
        return response

    def _note_redirect(
        self,
        request: aiohttp.ClientRequest,
        response: aiohttp.ClientResponse,
        home: URL,
    ) -> None:
        """If aiohttp may follow *response* to another origin than *home*,
        note it for the next hop (module notes)."""
        location = response.headers.get(hdrs.LOCATION) or response.headers.get(hdrs.URI)
        if location is None:
            return  # aiohttp follows none
        try:
            there = request.url.join(URL(location)).origin()
        except ValueError:
            return  # aiohttp refuses to follow it
        if there != home:
            _AWAY.set((self, home, there))
