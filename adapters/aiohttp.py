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
follows, with a new request (and again for a hop it sends once more after the
server closed without an answer); for a redirect to another origin it drops
the caller's ``Authorization`` and cookies, and a middleware that set a token
on every request would send the token there (an open redirect on the API
would hand it to anyone). So after any redirect answer, to a request with
our token or with the caller's own ``Authorization``, the middleware
remembers the chain's first origin (its home), and no later hop of that
chain whose origin is not home gets a token, until an answer that is no
redirect ends the chain. It fails closed rather than guess how aiohttp reads
a ``Location`` (requoted or not, relative, odd): it compares the origin each
hop is actually sent to, its scheme and host lowercased and its default port
filled in; a host aiohttp keeps percent-encoded or not ASCII is compared as
written, never decoded (the resolver would read it its own way), so such a
hop is home only if home was spelt the same. A hop is told from a request of
its own by what aiohttp gives every request of one ``session.request`` call
(its timer: ``_chain_key``); the note lives in a context variable of the
task, so concurrent tasks, and a request a middleware sends within a hop,
are chains apart. It is updated only once a hop's handler has returned:
a hop that raises (aiohttp then sends it again) leaves it as it was. Should
aiohttp give no such mark, the task's requests are taken for one chain: a
hop away gets no token, nor a request of the caller's own to another origin
after a redirect it did not follow (it fails closed) until an answer that
is no redirect.

DPoP (RFC 9449). With a DPoP key, a token the server bound to it
(``token_type`` DPoP) is set as ``Authorization: DPoP <token>`` with a
``DPoP`` proof made for this request: its method and its URL as aiohttp
sends it (``params`` merged in, the query cut off). Every hop of a redirect
chain comes through the middleware as a request of its own, so each gets
its own proof, and one away from home gets neither token nor proof; the
proof is taken off with the token once the request is sent. The
``DPoP-Nonce`` of every answer is kept for the next proofs to its origin,
and a 401 asking for one (``use_dpop_nonce``, the core's ``NONCE``) sends
the request once more with a proof carrying it, the token kept: that is
its one retry, as ``RETRY`` is.

Mutual TLS (RFC 8705): ``client_cert=`` is presented by our own token
requests (the urllib road); through *session*, the session's connector
presents its own (``ssl=`` a context that loaded it: give it the same
one). API requests are the ``ClientSession``'s that holds the middleware:
a certificate-bound token is taken only over a connection carrying its
certificate, so that session's connector must present it
(``TCPConnector(ssl=context)``); a middleware cannot change, nor see, the
TLS of the connection a request goes over.

Token requests go through *session* when one is given (its connector, TLS
settings, proxy and mocking tools; not its default headers, cookies, auth
or middlewares: see ``_aiohttp_send``), and otherwise through the urllib
adapter's ``send`` in a worker thread (``_aiohttp_client`` says why).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from contextvars import ContextVar
from typing import TYPE_CHECKING, Final

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
from ._tls import require_client_cert

if TYPE_CHECKING:
    from .stores import AsyncStore, Store

__all__ = ["TokenMiddleware", "send"]

_REDIRECTS: Final = frozenset({301, 302, 303, 307, 308})
"""The statuses aiohttp follows."""

_DEFAULT_PORTS: Final = {"http": 80, "https": 443}

_DPOP: Final = "DPoP"
_DPOP_NONCE: Final = "DPoP-Nonce"

_MAX_CHAINS: Final = 16
"""Chains a task keeps notes of: one per redirect not followed (its chain
ends without an answer that is no redirect), the oldest dropped first. A
chain's note moves to the newest place at each of its hops."""

_Origin = tuple[str, str, "int | None"]
_Chain = tuple["TokenMiddleware", object, _Origin]

_CHAINS: Final[ContextVar[tuple[_Chain, ...]]] = ContextVar(
    "sansio_auth_aiohttp_chains", default=()
)
"""The redirect chains of the task under way: (the middleware, the chain's
mark, its home origin), newest last (module notes). Immutable: a task
started within a hop copies the context, and must not change the caller's."""


def _chain_key(request: aiohttp.ClientRequest) -> object:
    """What every hop of *request*'s chain, and every attempt of each, has in
    common and no other request has: the timer aiohttp makes for one
    ``session.request`` call and gives each request it builds for it. None
    when aiohttp has none: the task's requests are then one chain."""
    return getattr(request, "_timer", None)


def _origin(url: URL) -> _Origin:
    """Where *url* is sent: its scheme and host, lowercased, and its port,
    the default one filled in. A host that is not ASCII, or percent-encoded,
    is kept as written (module notes)."""
    scheme = url.scheme.lower()
    host = url.raw_host or ""
    if host.isascii():
        host = host.lower()
    return (scheme, host, url.explicit_port or _DEFAULT_PORTS.get(scheme))


def _sendable(token: Token, client: TokenClient) -> tuple[Token, str, bool]:
    """*token*, its ``Authorization`` value, and whether it needs a DPoP
    proof per request: a DPoP-bound token (``token_type`` DPoP, any case)
    of a client with a DPoP key."""
    if client.proofs is not None and token.token_type.lower() == "dpop":
        return token, f"DPoP {token.access_token}", True
    return token, token.authorization(), False


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
      store: a shared store (:mod:`sansio_auth.adapters.stores`: memory,
        file or Redis) through which processes and hosts share one token
        (see docs/fleet.md); None keeps the token to this client.
      dpop_key: None for no DPoP; True for a fresh ES256 key kept in memory;
        or a :class:`~sansio_auth.DPoPKey`, a PEM private key or a
        ``cryptography`` private key (give every process sharing a store
        the same one). A token bound to it goes with a fresh proof per
        request (module notes).
      client_cert: the TLS client certificate of token requests: a PEM file
        holding the certificate and its key, or ``(cert_path, key_path)``,
        or ``(cert_path, key_path, password)``. Through *session*, its
        connector's certificate is presented: give it the same one. The
        API's session must present it too, for a token bound to it.

    Raises:
      TypeError: *flow* is not a flow, *session* not a ``ClientSession``,
        *store* not a store, or *dpop_key* or *client_cert* of no kind they
        take.
      ValueError: *timeout* or *max_response_bytes* is out of range, the
        key in *dpop_key* cannot be used, *client_cert* cannot be loaded,
        or the flow authenticates with a certificate and there is none.
      ImportError: *dpop_key* without ``cryptography`` (the ``jwt`` extra).
    """

    __slots__ = ("_client", "_header", "_heard")

    def __init__(
        self,
        flow: Flow,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
        session: aiohttp.ClientSession | None = None,
        clock: Callable[[], float] = time.time,
        store: Store | AsyncStore | None = None,
        dpop_key: object = None,
        client_cert: object = None,
    ) -> None:
        # Said here, for this integration's options (no ssl_context).
        require_client_cert(flow, client_cert, "session=")
        self._client: Final = TokenClient(
            flow,
            http=session,
            timeout=timeout,
            max_response_bytes=max_response_bytes,
            clock=clock,
            store=store,
            dpop_key=dpop_key,
            client_cert=client_cert,
        )
        # The last token's header value and whether it needs a DPoP proof
        # per request, so that the hot path does not work them out again.
        self._header: tuple[Token | None, str, bool] = (None, "", False)
        # The DPoP-Nonce heard last: one a server sends on every answer is
        # not looked up by its origin every time.
        self._heard: str | None = None

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
        chains = _CHAINS.get()
        chain = self._chain_of(request, chains) if chains else None
        headers = request.headers
        if hdrs.AUTHORIZATION in headers or (
            chain is not None and _origin(request.url) != chain[2]
        ):
            # The caller's own Authorization, left alone; or a hop of a
            # redirect chain away from its home, sent without a token.
            response = await handler(request)
            self._chain_goes_on(request, chain, response.status)
            return response
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
            header = self._header = _sendable(token, client)
        headers[hdrs.AUTHORIZATION] = header[1]
        proved = header[2]
        try:
            nonce = None
            if proved:
                headers[_DPOP] = self._proof(token, request)
                response = await handler(request)
                nonce = self._hear(response, request)
            else:
                response = await handler(request)
            status = response.status
            if status == 401:
                response = await self._refused(
                    request, handler, response, token, header[1], nonce
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
            if proved:  # the proof with it (a retry's is taken off there)
                headers.popall(_DPOP, None)
        if chain is not None or status in _REDIRECTS:
            self._chain_goes_on(request, chain, status)
        return response

    def _proof(self, token: Token, request: aiohttp.ClientRequest) -> str:
        """A fresh DPoP proof of *token* for *request* as aiohttp sends it."""
        proofs = self._client.proofs
        assert proofs is not None  # a token needs proofs only with a key
        proof = proofs.headers(token, request.method, str(request.url))[1]
        assert proof is not None
        return proof

    def _hear(
        self, response: aiohttp.ClientResponse, request: aiohttp.ClientRequest
    ) -> str | None:
        """The ``DPoP-Nonce`` of *response*, kept for its origin when new."""
        nonce = response.headers.get(_DPOP_NONCE)
        if nonce is not None and nonce != self._heard:
            self._heard = nonce
            self._client.learn_dpop_nonce(str(request.url), nonce)
        return nonce

    async def _refused(
        self,
        request: aiohttp.ClientRequest,
        handler: aiohttp.ClientHandlerType,
        response: aiohttp.ClientResponse,
        token: Token,
        value: str,
        nonce: str | None,
    ) -> aiohttp.ClientResponse:
        """Map the core's answer to a 401 that carried *token* (as the
        ``Authorization`` *value*; its ``DPoP-Nonce`` *nonce*)."""
        action = api_action(
            401,
            response.headers.getall(hdrs.WWW_AUTHENTICATE, ()),
            scheme=value.partition(" ")[0],
            retried=False,
            replayable=_replayable(request),
            dpop_nonce=nonce,
        )
        client = self._client
        prove_again = action is ApiAction.NONCE or action is ApiAction.PROOF
        if action is ApiAction.KEEP or (prove_again and client.proofs is None):
            return response
        if prove_again:
            # Learnt here whatever was heard before: it may be the nonce of
            # another origin too. The token is kept.
            client.learn_dpop_nonce(str(request.url), nonce)
            response.release()
            proved = True
        else:
            client.invalidate(token)
            if action is ApiAction.DROP:
                return response
            # Released before a token request that may take a while.
            response.release()
            token = await client.token()
            value, proved = _sendable(token, client)[1:]
            request.headers[hdrs.AUTHORIZATION] = value
        headers = request.headers
        try:
            if proved:
                headers[_DPOP] = self._proof(token, request)
            else:
                headers.popall(_DPOP, None)
            # The one retry: its answer goes back, whatever it is.
            response = await handler(request)
            if proved:
                self._hear(response, request)
        finally:
            headers.popall(_DPOP, None)
        return response

    def _chain_of(
        self, request: aiohttp.ClientRequest, chains: tuple[_Chain, ...]
    ) -> _Chain | None:
        """The redirect chain of this middleware's that *request* is a hop
        of, if any (module notes)."""
        key = _chain_key(request)
        for chain in chains:
            if chain[0] is self and chain[1] is key:
                return chain
        return None

    def _chain_goes_on(
        self, request: aiohttp.ClientRequest, chain: _Chain | None, status: int
    ) -> None:
        """After *request* (a hop of *chain*, or the first request of a
        chain if None) was answered with *status*: note the chain, from its
        home, if aiohttp may follow the answer; forget it if the answer ends
        it. Called once the handler has returned, never before (module
        notes)."""
        if status not in _REDIRECTS:
            if chain is not None:
                _CHAINS.set(tuple(c for c in _CHAINS.get() if c is not chain))
            return
        home = _origin(request.url) if chain is None else chain[2]
        key = _chain_key(request)
        kept = tuple(c for c in _CHAINS.get() if not (c[0] is self and c[1] is key))
        _CHAINS.set((*kept[-(_MAX_CHAINS - 1) :], (self, key, home)))
