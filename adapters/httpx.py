"""The httpx integration: :class:`TokenAuth`, an ``httpx.Auth`` of tokens, and
:func:`send` / :func:`send_async`, one token request over the user's own
``httpx.Client`` / ``httpx.AsyncClient``.

Theory of operation. httpx drives an ``Auth`` as a generator: it takes the
request the flow yields, sends it, and sends the response back in; when the
flow ends, the last response goes to the caller. ``httpx.Client`` runs
:meth:`TokenAuth.sync_auth_flow` and ``httpx.AsyncClient`` runs
:meth:`TokenAuth.async_auth_flow`, and each has a token client of its own
world, made on its first use: a thread-safe one (a lock and an event) for the
sync flow, an anyio one (an event of the running loop, asyncio or trio; no
thread lock) for the async flow. Each does the single flight, backoff,
refresh and hot cache (``_sync.py``, ``_async.py``); the two do not share a
session.

Per request: a request whose caller set ``Authorization`` is left alone (no
token, no 401 handling). Otherwise it gets the ``Authorization`` of a usable
token, from the hot cache without a lock or a checkpoint when there is one.
A 401 is about our token only if it answers the request we authorised:
httpx follows redirects inside one step of the flow, and a 401 from another
origin (which never got the token: httpx drops ``Authorization`` there) is
given back untouched, the token kept. One that came back through a redirect
to the same host, carrying our value, is ours. Such a 401 is handed to the
core (``sansio_auth.api_action``), which says whether
it is about our token and whether to send again; the flow only maps its
answer: KEEP gives the response back, DROP invalidates the token (if it is
still the current one) and gives it back, RETRY invalidates it, gets a token
again (one token request however many requests saw the 401: the single
flight) and sends the request once more, whose response goes back whatever
it is. A body httpx can send twice is a ``ByteStream`` (bytes, text, JSON, a
form); a generator, an async iterator, a file or a multipart upload being
streamed is not replayed. A token that cannot be had raises the session's
``TokenError`` (already masked) from ``client.get(...)``.

The hot path, a usable cached token: one look for a caller's
``Authorization`` and one header set, on httpx's own list of header triples
when this httpx keeps them as we know (``_httpx_headers.py``), with the
header's bytes made once per token. It costs less than a static header set
through ``httpx.Auth``'s default flow (``benchmarks/case_httpx_auth.py``).

Token requests go through the user's ``client`` / ``async_client`` when
given, by :func:`send` / :func:`send_async` (``_httpx_send.py``: its
transport only, never its headers, cookies, auth, hooks or redirects), else
through our own adapters' ``send`` (urllib's for the sync flow, anyio's for
the async one).
"""

from __future__ import annotations

import time
from collections.abc import AsyncGenerator, Callable, Generator
from typing import TYPE_CHECKING, Final

from sansio_auth import (
    ApiAction,
    Flow,
    Token,
    api_action,
)

from ._extras import missing_extra

try:
    import httpx

    from . import anyio as anyio_adapter
    from ._httpx_clients import AsyncOverHttpx, Options, SyncOverHttpx
    from ._httpx_headers import NOTHING_SENT, has_authorization, put, sendable
    from ._httpx_send import check_client, send, send_async
except ImportError as exc:
    raise missing_extra(__name__, "httpx", ("httpx", "anyio", "h11"), exc) from None

from . import urllib as urllib_adapter
from ._limits import DEFAULT_MAX_RESPONSE_BYTES, DEFAULT_TIMEOUT, check_send_args
from ._store_link import check_store
from ._sync import SyncClientBase

if TYPE_CHECKING:
    from .stores import AsyncStore, Store

__all__ = ["TokenAuth", "send", "send_async"]


class TokenAuth(httpx.Auth):
    """Bearer tokens for every request of an ``httpx.Client`` or
    ``httpx.AsyncClient`` (asyncio or trio), with one retry on a 401.

    ``client = httpx.Client(auth=TokenAuth(flow))``, or ``auth=`` per
    request. Concurrent requests on a cold ``TokenAuth`` make one token
    request. A 401 about the token invalidates it and sends the request once
    more with a fresh one (when its body can be sent again); a 403, another
    scheme's 401 and the retry's own 401 go back to the caller. A request
    that sets ``Authorization`` itself is left alone.

    The sync and async sides each make their token client on first use and
    keep their own token. One ``TokenAuth`` may serve many clients; its async
    side serves one event loop at a time (see
    :class:`sansio_auth.adapters.anyio.TokenClient`).

    Args:
      flow: how to get a token.
      timeout: seconds a token request may take.
      max_response_bytes: the largest token response read.
      client: an ``httpx.Client`` whose transport the sync side's token
        requests take (its proxies, ``verify``, mounts, mocking tools), never
        its headers, cookies, auth, event hooks or redirects. By default, the
        urllib adapter's ``send``.
      async_client: the same for the async side (``httpx.AsyncClient``). By
        default, the anyio adapter's ``send``.
      clock: returns UNIX seconds; tests pass a fake one.
      store: a shared store (:mod:`sansio_auth.adapters.stores`: memory,
        file or Redis) through which processes and hosts share one token
        (see docs/fleet.md); the sync and async sides share
        it too. None keeps each side's token to itself.

    Raises:
      TypeError: *flow* is not a flow, a client is not of its kind, or
        *clock* is not callable, or *store* is not a store.
      ValueError: *timeout* or *max_response_bytes* is out of range.
      RuntimeError: a client is closed.
    """

    __slots__ = (
        "_async",
        "_async_http",
        "_async_sent",
        "_made",
        "_options",
        "_sync",
        "_sync_http",
        "_sync_sent",
    )

    def __init__(
        self,
        flow: Flow,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
        client: httpx.Client | None = None,
        async_client: httpx.AsyncClient | None = None,
        clock: Callable[[], float] = time.time,
        store: Store | AsyncStore | None = None,
    ) -> None:
        # Checked here, not on first use: the token clients are made later.
        if not isinstance(flow, Flow):
            raise TypeError(
                "flow must be a Flow (token_request, refresh_request, parse)"
            )
        check_send_args(timeout, max_response_bytes)
        if client is not None:
            check_client(client, httpx.Client, "client")
        if async_client is not None:
            check_client(async_client, httpx.AsyncClient, "async_client")
        if not callable(clock):
            raise TypeError("clock must be a function returning UNIX seconds")
        if store is not None:
            check_store(store)
        self._options: Final = Options(
            flow=flow,
            timeout=timeout,
            max_response_bytes=max_response_bytes,
            clock=clock,
            store=store,
        )
        self._sync_http = client
        self._async_http = async_client
        self._sync: SyncClientBase | None = None
        self._async: anyio_adapter.TokenClient | None = None
        # The last token each side sent, with its header value: a tuple,
        # replaced whole (threads read it without a lock).
        self._sync_sent = NOTHING_SENT
        self._async_sent = NOTHING_SENT
        # Where a token client is put once made: setdefault is atomic, so
        # two threads (or two loops' threads) that both found none agree on
        # one, without a lock (none may be taken in async code).
        self._made: Final[dict[str, object]] = {}

    def _sync_tokens(self) -> SyncClientBase:
        http = self._sync_http
        made: SyncClientBase = (
            urllib_adapter.TokenClient(**self._options)
            if http is None
            else SyncOverHttpx(http, **self._options)
        )
        kept = self._made.setdefault("sync", made)
        assert isinstance(kept, SyncClientBase)
        self._sync = kept
        return kept

    def _async_tokens(self) -> anyio_adapter.TokenClient:
        http = self._async_http
        made: anyio_adapter.TokenClient = (
            anyio_adapter.TokenClient(**self._options)
            if http is None
            else AsyncOverHttpx(http, **self._options)
        )
        kept = self._made.setdefault("async", made)
        assert isinstance(kept, anyio_adapter.TokenClient)
        self._async = kept
        return kept

    def sync_auth_flow(
        self, request: httpx.Request
    ) -> Generator[httpx.Request, httpx.Response, None]:
        """The flow ``httpx.Client`` runs: see the class notes.

        Raises:
          TokenError: no token could be had (the session's error).
        """
        headers = request.headers
        if has_authorization(headers):
            yield request  # the caller's own: neither ours to set nor to judge
            return
        tokens = self._sync or self._sync_tokens()
        token = tokens.token()
        sent = self._sync_sent
        if sent[0] is not token:
            sent = self._sync_sent = sendable(token)
        put(headers, sent)
        response = yield request
        # api_action keeps anything but a 401: asking it about a 401 only
        # spares every other response the header lookup.
        if response.status_code == 401 and _refused(
            tokens, token, sent[1], request, response
        ):
            headers["Authorization"] = tokens.token().authorization()
            yield request

    async def async_auth_flow(
        self, request: httpx.Request
    ) -> AsyncGenerator[httpx.Request, httpx.Response]:
        """The flow ``httpx.AsyncClient`` runs: see the class notes.

        Raises:
          TokenError: no token could be had (the session's error).
          RuntimeError: the async side is in use by another event loop.
        """
        headers = request.headers
        if has_authorization(headers):
            yield request
            return
        tokens = self._async or self._async_tokens()
        token = await tokens.token()
        sent = self._async_sent
        if sent[0] is not token:
            sent = self._async_sent = sendable(token)
        put(headers, sent)
        response = yield request
        if response.status_code == 401 and _refused(
            tokens, token, sent[1], request, response
        ):
            headers["Authorization"] = (await tokens.token()).authorization()
            yield request


def _refused(
    tokens: SyncClientBase | anyio_adapter.TokenClient,
    token: Token,
    value: str,
    request: httpx.Request,
    response: httpx.Response,
) -> bool:
    """Map the core's answer to a 401: invalidate *token* unless the 401 is
    not about it; True when the request is to be sent once more."""
    answered = response.request
    if answered is not request and not (
        # A redirect httpx followed: the token went only where it kept it.
        answered.url.host == request.url.host
        and answered.headers.get("authorization") == value
    ):
        return False  # another host's 401: the token never went there
    action = api_action(
        response.status_code,
        response.headers.get_list("www-authenticate"),
        scheme=value.partition(" ")[0],
        retried=False,
        # What httpx can send twice: bytes, text, JSON and forms are all a
        # ByteStream (so is any body once read).
        replayable=isinstance(request.stream, httpx.ByteStream),
    )
    if action is ApiAction.KEEP:
        return False
    tokens.invalidate(token)
    return action is ApiAction.RETRY
