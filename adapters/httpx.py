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
    from ._httpx_headers import (
        NOTHING_SENT,
        Sent,
        drop_proof,
        has_authorization,
        put,
        put_proof,
        response_header,
        sendable,
    )
    from ._httpx_send import check_client, send, send_async
except ImportError as exc:
    raise missing_extra(__name__, "httpx", ("httpx", "anyio", "h11"), exc) from None

from . import urllib as urllib_adapter
from ._limits import DEFAULT_MAX_RESPONSE_BYTES, DEFAULT_TIMEOUT, check_send_args
from ._store_link import check_store
from ._sync import SyncClientBase
from ._tls import LoadedCert, load_client_cert, require_client_cert

if TYPE_CHECKING:
    from .stores import AsyncStore, Store

__all__ = ["TokenAuth", "send", "send_async"]


class TokenAuth(httpx.Auth):
    """Bearer or DPoP-bound tokens for every request of an ``httpx.Client``
    or ``httpx.AsyncClient`` (asyncio or trio), with one retry on a 401.

    ``client = httpx.Client(auth=TokenAuth(flow))``, or ``auth=`` per
    request. Concurrent requests on a cold ``TokenAuth`` make one token
    request. A 401 about the token invalidates it and sends the request once
    more with a fresh one (when its body can be sent again); a 403, another
    scheme's 401 and the retry's own 401 go back to the caller. A request
    that sets ``Authorization`` itself is left alone.

    DPoP (RFC 9449): with *dpop_key*, token requests carry a proof of the
    key, and a token the server bound to it (``token_type`` DPoP) goes to
    the API as ``Authorization: DPoP <token>`` with a fresh ``DPoP`` proof
    for each request, made for the URL httpx sends (``base_url`` and
    ``params`` merged in) and carrying the token's hash and the resource
    server's last ``DPoP-Nonce``. A 401 asking for a nonce
    (``use_dpop_nonce``) sends the request once more with it, the token
    kept; that is the request's one retry. httpx follows redirects inside
    one step of an auth flow, copying every header but ``Authorization``
    onto the next hop, where no flow can reach: with a DPoP-bound token,
    leave ``follow_redirects`` off (httpx's default) for a request that may
    be redirected to another origin, which would get the proof made for the
    first URL (the access token itself stays behind, so the proof is of no
    use there). A 401 from a same-origin hop httpx followed, whose copied
    proof names the first URL, sends that hop once more with a proof of its
    own. A ``response.next_request`` sent by the caller carries our
    ``Authorization`` to the same origin (httpx copies it): it is ours, and
    gets a proof of its own; to another origin httpx drops it, and the
    request is authorized as any other.

    Mutual TLS (RFC 8705): *client_cert* is presented by our own token
    transports (urllib's for the sync side, anyio's for the async one). A
    side whose token requests go through your client (*client* or
    *async_client*) presents that client's certificate (``cert=``, or
    ``verify=`` a context that loaded it): give it the same one; there
    *client_cert* only names it (a ``tls_client_auth`` flow needs it, and a
    store keys tokens by it). API requests go through your client too, and
    a certificate-bound token is taken only over a connection carrying its
    certificate: give your API client the same ``cert=`` (or ``verify=``
    context); TokenAuth cannot change a client's TLS, nor see it.

    The sync and async sides each make their token client on first use and
    keep their own token. One ``TokenAuth`` may serve many clients; its async
    side serves one event loop at a time (see
    :class:`sansio_auth.adapters.anyio.TokenClient`).

    Args:
      flow: how to get a token.
      timeout: seconds a token request may take.
      max_response_bytes: the largest token response read.
      client: an ``httpx.Client`` whose transport the sync side's token
        requests take (its proxies, ``verify``, client certificate, mounts,
        mocking tools), never its headers, cookies, auth, event hooks or
        redirects. By default, the urllib adapter's ``send``.
      async_client: the same for the async side (``httpx.AsyncClient``). By
        default, the anyio adapter's ``send``.
      clock: returns UNIX seconds; tests pass a fake one.
      store: a shared store (:mod:`sansio_auth.adapters.stores`: memory,
        file or Redis) through which processes and hosts share one token
        (see docs/fleet.md); the sync and async sides share
        it too. None keeps each side's token to itself.
      dpop_key: None for no DPoP; True for a fresh ES256 key kept in memory
        (both sides share it); or a :class:`~sansio_auth.DPoPKey`, a PEM
        private key or a ``cryptography`` private key (give every process
        sharing a store the same one).
      client_cert: the TLS client certificate of token requests: a PEM file
        holding the certificate and its key, or ``(cert_path, key_path)``,
        or ``(cert_path, key_path, password)`` (see above for your own
        clients).

    Raises:
      TypeError: *flow* is not a flow, a client is not of its kind, or
        *clock* is not callable, or *store* is not a store, or *dpop_key* or
        *client_cert* is of no kind they take.
      ValueError: *timeout* or *max_response_bytes* is out of range, the
        key in *dpop_key* cannot be used, *client_cert* cannot be loaded, or
        the flow authenticates with a certificate and there is none.
      ImportError: *dpop_key* without ``cryptography`` (the ``jwt`` extra).
      RuntimeError: a client is closed.
    """

    __slots__ = (
        "_async",
        "_async_http",
        "_async_sent",
        "_heard",
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
        dpop_key: object = None,
        client_cert: object = None,
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
        dpop = None
        if dpop_key is not None:
            from ._dpop import dpop_option

            # One key for both sides: True draws it once, here.
            dpop = dpop_option(dpop_key)
        # Loaded once, here: the async side's token client is made on the
        # event loop, which reading the trust store and the files would stall.
        client_cert = check_cert_option(flow, client_cert)
        self._options: Final = Options(
            flow=flow,
            timeout=timeout,
            max_response_bytes=max_response_bytes,
            clock=clock,
            store=store,
            dpop_key=dpop,
            client_cert=client_cert,
        )
        self._sync_http = client
        self._async_http = async_client
        self._sync: SyncClientBase | None = None
        self._async: anyio_adapter.TokenClient | None = None
        # The last token each side sent, with its header value: a tuple,
        # replaced whole (threads read it without a lock).
        self._sync_sent = NOTHING_SENT
        self._async_sent = NOTHING_SENT
        # The last DPoP-Nonce each side heard (sync, async): a resource
        # server that sends the same one on every answer is not looked up
        # by its origin every time.
        self._heard: Final[list[str | None]] = [None, None]
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
            sent = self._sync_sent
            if self._sync is None or not _copied(headers, sent):
                yield request  # the caller's own: neither ours to set nor to judge
                return
            # Our own, copied by httpx onto a redirect's request: a proof of
            # its own.
            assert sent[0] is not None
            yield from self._proven_sync(self._sync, sent[0], sent, request)
            return
        tokens = self._sync or self._sync_tokens()
        token = tokens.token()
        sent = self._sync_sent
        if sent[0] is not token:
            sent = self._sync_sent = sendable(token, tokens.proofs)
        put(headers, sent)
        if sent[3]:
            yield from self._proven_sync(tokens, token, sent, request)
            return
        response = yield request
        # api_action keeps anything but a 401: asking it about a 401 only
        # spares every other response the header lookup.
        if response.status_code == 401 and _refused(
            tokens, token, sent[1], request, response
        ):
            _authorize(request, tokens.token(), tokens)
            yield request

    def _proven_sync(
        self,
        tokens: SyncClientBase,
        token: Token,
        sent: Sent,
        request: httpx.Request,
    ) -> Generator[httpx.Request, httpx.Response, None]:
        """The rest of the sync flow for a DPoP-bound token."""
        _prove(request, tokens, token)
        response = yield request
        nonce = self._hear(0, tokens, response)
        if response.status_code != 401:
            return
        again = _again(tokens, token, sent[1], request, response, nonce)
        if again is None:
            return
        resend, refused = again
        if refused:  # a fresh token
            _authorize(resend, tokens.token(), tokens)
        else:  # the token kept, a proof of the request's own (with the nonce)
            _prove(resend, tokens, token)
        response = yield resend
        self._hear(0, tokens, response)

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
            sent = self._async_sent
            if self._async is None or not _copied(headers, sent):
                yield request
                return
            tokens = self._async
            assert sent[0] is not None
            token = sent[0]
        else:
            tokens = self._async or self._async_tokens()
            token = await tokens.token()
            sent = self._async_sent
            if sent[0] is not token:
                sent = self._async_sent = sendable(token, tokens.proofs)
            put(headers, sent)
        if sent[3]:
            # The DPoP path (an async generator cannot delegate to another).
            _prove(request, tokens, token)
            response = yield request
            nonce = self._hear(1, tokens, response)
            if response.status_code != 401:
                return
            again = _again(tokens, token, sent[1], request, response, nonce)
            if again is None:
                return
            resend, refused = again
            if refused:
                _authorize(resend, await tokens.token(), tokens)
            else:
                _prove(resend, tokens, token)
            response = yield resend
            self._hear(1, tokens, response)
            return
        response = yield request
        if response.status_code == 401 and _refused(
            tokens, token, sent[1], request, response
        ):
            _authorize(request, await tokens.token(), tokens)
            yield request

    def _hear(
        self,
        side: int,
        tokens: SyncClientBase | anyio_adapter.TokenClient,
        response: httpx.Response,
    ) -> str | None:
        """The ``DPoP-Nonce`` of *response*, learnt for the origin that sent
        it (the last hop, if httpx followed redirects) when it is new."""
        nonce = response_header(response.headers, b"dpop-nonce")
        if nonce is not None and nonce != self._heard[side]:
            self._heard[side] = nonce
            tokens.learn_dpop_nonce(str(response.request.url), nonce)
        return nonce


def check_cert_option(flow: Flow, client_cert: object) -> LoadedCert | None:
    """*client_cert* loaded, for both sides' token clients; a certificate
    that does not load, or a flow that authenticates with a certificate
    without one, refused now rather than on the first request (the token
    clients are made then)."""
    if client_cert is not None:
        return load_client_cert(client_cert)
    require_client_cert(flow, client_cert, "client= or async_client=")
    return None


_PROVE_AGAIN = frozenset({ApiAction.NONCE, ApiAction.PROOF})
"""The 401s answered with one more send, the token kept: a new proof."""


def _copied(headers: httpx.Headers, sent: Sent) -> bool:
    """Whether *headers* carry the ``Authorization`` of the DPoP-bound token
    a side sent last: httpx copies it, with its proof, onto a redirect's
    request to the same origin (``response.next_request``), which is then
    ours to prove again, not the caller's own."""
    return sent[3] and headers.get("authorization") == sent[1]


def _prove(
    request: httpx.Request,
    tokens: SyncClientBase | anyio_adapter.TokenClient,
    token: Token,
) -> None:
    """Give *request* a fresh DPoP proof of *token*."""
    proofs = tokens.proofs
    assert proofs is not None  # a DPoP-bound token is sent only with a key
    # The URL httpx sends (base_url and params merged in): the core cuts
    # its query, fragment and user info off.
    proof = proofs.headers(token, request.method, str(request.url))[1]
    assert proof is not None
    put_proof(request.headers, proof)


def _authorize(
    request: httpx.Request,
    token: Token,
    tokens: SyncClientBase | anyio_adapter.TokenClient,
) -> None:
    """Set *token* on a request that carried a refused one: its
    ``Authorization``, and a proof if it is DPoP-bound (none otherwise)."""
    sent = sendable(token, tokens.proofs)
    request.headers["Authorization"] = sent[1]
    if sent[3]:
        _prove(request, tokens, token)
    else:
        drop_proof(request.headers)


def _ours(request: httpx.Request, value: str, response: httpx.Response) -> bool:
    """Whether *response* answers our request, or a redirect of it httpx
    followed to the same host carrying our *value*."""
    answered = response.request
    return answered is request or (
        # A redirect httpx followed: the token went only where it kept it.
        answered.url.host == request.url.host
        and answered.headers.get("authorization") == value
    )


def _refused(
    tokens: SyncClientBase | anyio_adapter.TokenClient,
    token: Token,
    value: str,
    request: httpx.Request,
    response: httpx.Response,
) -> bool:
    """Map the core's answer to a 401: invalidate *token* unless the 401 is
    not about it; True when the request is to be sent once more."""
    if not _ours(request, value, response):
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
    if action is ApiAction.KEEP or action in _PROVE_AGAIN:
        # NONCE: a nonce asked of a proof we did not send (no DPoP key, or a
        # token not bound to it): none to give, and not the token's fault.
        return False
    tokens.invalidate(token)
    return action is ApiAction.RETRY


def _again(
    tokens: SyncClientBase | anyio_adapter.TokenClient,
    token: Token,
    value: str,
    request: httpx.Request,
    response: httpx.Response,
    nonce: str | None,
) -> tuple[httpx.Request, bool] | None:
    """Map the core's answer to a 401 for a DPoP-bound *token*: the request
    to send once more and whether *token* was refused (then invalidated: the
    request goes with a fresh one), or None to give the 401 back. The new
    proof is the caller's to make."""
    if not _ours(request, value, response):
        return None
    answered = response.request
    replayable = isinstance(answered.stream, httpx.ByteStream)
    action = api_action(
        401,
        response.headers.get_list("www-authenticate"),
        scheme="DPoP",
        retried=False,
        replayable=replayable,
        dpop_nonce=nonce,
    )
    if action is ApiAction.KEEP:
        return None
    if action in _PROVE_AGAIN:
        # A proof with the nonce (or a fresh one), the same token. Learnt
        # here whatever was heard before: the nonce may be another origin's.
        tokens.learn_dpop_nonce(str(answered.url), nonce)
        return answered, False
    if answered is not request:
        # A hop httpx followed, which carried the first request's proof (it
        # names the first URL): the proof was refused, not the token.
        return (answered, False) if replayable else None
    tokens.invalidate(token)
    return (request, True) if action is ApiAction.RETRY else None
