"""The public face of the server: :class:`TokenServer` composes the parts.

It owns the lifecycle (start once, stop once, sync and async context
manager), the URLs, the record of requests and the fault queue, and answers
each request the listener hands it: route it, take its fault and record it
(one step, under the lock), wait as the fault says, then let the persona
answer. Tokens (issuing, checking, revoking) are the minter's, and the used
ids, DPoP nonce and records of refusals the guard's; each locks its own
state.
"""

from __future__ import annotations

import ssl
import sys
import threading
import time
from collections.abc import Callable, Mapping
from types import TracebackType
from typing import Final, Self

from . import _mtls
from ._context import Context
from ._credentials import Credentials
from ._faults import FaultControls, Faults
from ._guard import Guard, GuardControls
from ._http import Headers, Listener, Reply
from ._minting import Minter
from ._request import RecordedRequest, header_value, recorded_fields
from .personas import (
    TOKEN_ENDPOINTS,
    _generic,
    _resource,
    _smartconnect,
    _smartdocumentor,
    _smartway,
    _teamsystem,
    check_endpoint,
    dispatch,
    find_route,
)

__all__ = ["TokenServer"]


class TokenServer(FaultControls, GuardControls):
    """The local token server; a context manager, sync (``with``) and async
    (``async with``, under asyncio or trio). Its fault methods
    (``fail_next``, ``reset_next``, ``hang_next``, ``set_latency``) live in
    ``_faults.FaultControls``, and what it says of signed requests
    (``rejections``, ``dpop_nonce``, ``rotate_dpop_nonce``,
    ``dpop_nonce_challenges``) in ``_guard.GuardControls``.

    Args:
      host: the address to listen on (loopback by default).
      port: the port; 0 picks a free one.
      token_lifetime: seconds the access tokens of SmartConnect, TeamSystem,
        SmartDocumentor and the generic endpoint live (their ``expires_in``).
      smartway_lifetime: seconds SmartWay's tokens live.
      credentials: the credentials accepted; :class:`Credentials` defaults.
        Its ``clients`` and ``issuers`` register keys and certificates for
        the generic endpoint.
      ssl_context: a server-side TLS context to serve ``https``. When a
        client CA is given or a client registers a self-signed certificate,
        the server changes this context: it asks clients for a certificate
        (``CERT_OPTIONAL``, unless it is ``CERT_REQUIRED`` already) and
        trusts the client CA and each such certificate (Python's ``ssl`` has
        no verify callback: a certificate the context does not trust ends
        the handshake). Which client a certificate authenticates is decided
        per request, as RFC 8705 says.
      client_ca: the CA (PEM text as ``str`` or ``bytes``, or the path of a
        PEM file as a :class:`~pathlib.Path`) that issues the certificates of
        ``tls_client_auth`` clients; needs *ssl_context*.
      dpop_nonce: whether DPoP proofs must carry the server's nonce (RFC 9449
        §8, §9): a proof without the current one gets ``use_dpop_nonce`` and
        a ``DPoP-Nonce`` header. See :meth:`rotate_dpop_nonce`.

    Raises:
      ValueError: for a lifetime that is not an integer >= 1, a
        *client_ca* without certificates, or without *ssl_context*.
    """

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        token_lifetime: int = 3600,
        smartway_lifetime: int = 900,
        credentials: Credentials | None = None,
        ssl_context: ssl.SSLContext | None = None,
        client_ca: _mtls.ClientCa | None = None,
        dpop_nonce: bool = False,
    ) -> None:
        for name, value in (
            ("token_lifetime", token_lifetime),
            ("smartway_lifetime", smartway_lifetime),
        ):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
        self.host: Final = host
        self.token_lifetime: Final = token_lifetime
        self.smartway_lifetime: Final = smartway_lifetime
        self.credentials: Final = credentials or Credentials()
        self.ssl_context: Final = ssl_context
        self.client_cas: Final = (
            () if client_ca is None else _mtls.read_certificates(client_ca)
        )
        """The DER certificates of the client CAs (``client_ca``)."""
        self_signed = tuple(
            client.self_signed_certificate
            for client in self.credentials.clients
            if client.self_signed_certificate is not None
        )
        if self.client_cas or self_signed:
            if ssl_context is None:
                raise ValueError("client certificates need ssl_context (https)")
            _mtls.configure(ssl_context, (*self.client_cas, *self_signed))
        self._port = port
        self._minter = Minter()
        self._guard = Guard(dpop_nonce=bool(dpop_nonce))
        self._lock = threading.Lock()  # the records and the faults
        self._stopping = threading.Event()
        self._requests: list[RecordedRequest] = []
        self._faults = Faults()
        self._listener: Listener | None = None

    # -- lifecycle -------------------------------------------------------

    def start(self) -> Self:
        """Listen and serve in a background thread; returns the server.

        Raises:
          RuntimeError: if it is already running or was stopped.
        """
        if self._listener is not None or self._stopping.is_set():
            raise RuntimeError("a TokenServer starts once")
        listener = Listener(self.host, self._port, self.ssl_context, self._respond)
        self._port = listener.port
        self._listener = listener
        listener.start(name=f"sansio-auth TokenServer {self.url}")
        return self

    def stop(self) -> None:
        """Stop serving: hanging answers end, open connections are closed, and
        every thread is joined. Safe to call twice."""
        self._stopping.set()
        listener, self._listener = self._listener, None
        if listener is not None:
            listener.stop()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    async def __aenter__(self) -> Self:
        return self.start()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        # Joining threads blocks; do it off the event loop (asyncio or trio).
        await _run_in_thread(self.stop)

    # -- where things are --------------------------------------------------

    @property
    def running(self) -> bool:
        """Whether it has been started and not stopped."""
        return self._listener is not None

    @property
    def port(self) -> int:
        """The port listened on (known once started when 0 was asked)."""
        return self._port

    @property
    def url(self) -> str:
        """The base URL, e.g. ``http://127.0.0.1:54321``."""
        scheme = "https" if self.ssl_context is not None else "http"
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{scheme}://{host}:{self._port}"

    @property
    def issuer(self) -> str:
        """The server's issuer identifier: its base URL, the ``iss`` of its
        tokens, and an ``aud`` assertions may name (as the token endpoint's
        URL may)."""
        return self.url

    @property
    def smartway_base_url(self) -> str:
        """``base_url=`` for :func:`sansio_auth.providers.smartway`."""
        return f"{self.url}{_smartway.BASE}"

    @property
    def teamsystem_base_url(self) -> str:
        """``base_url=`` for :func:`sansio_auth.providers.teamsystem`."""
        return f"{self.url}{_teamsystem.BASE}"

    @property
    def smartdocumentor_base_url(self) -> str:
        """``base_url=`` for :func:`sansio_auth.providers.smartdocumentor`."""
        return f"{self.url}{_smartdocumentor.BASE}"

    def smartconnect_token_url(self, region: str = "NA") -> str:
        """SmartConnect's token URL for *region* (``NA NA2 NA3 UK EU EU2 AU``).

        Raises:
          ValueError: for another region.
        """
        key = region.upper()
        if key not in _smartconnect.SMARTCONNECT_REGIONS:
            valid = ", ".join(_smartconnect.SMARTCONNECT_REGIONS)
            raise ValueError(
                f"unknown SmartConnect region {region!r}; valid regions: {valid}"
            )
        return f"{self.url}{_smartconnect.token_path(key)}"

    @property
    def generic_token_url(self) -> str:
        """The generic RFC 6749 token endpoint."""
        return f"{self.url}{_generic.PATH}"

    @property
    def resource_url(self) -> str:
        """The protected resource (``GET``, ``POST`` or ``PUT`` with
        ``Authorization: Bearer``)."""
        return f"{self.url}{_resource.PATH}"

    # -- records ---------------------------------------------------------

    @property
    def requests(self) -> list[RecordedRequest]:
        """Every request received, oldest first (a copy)."""
        with self._lock:
            return list(self._requests)

    @property
    def refresh_replays(self) -> int:
        """How many refresh tokens came back after their one use. Each such
        replay revoked its whole grant, as servers with reuse detection do
        (RFC 9700 §4.14.2): a client that rotates correctly makes none."""
        return self._minter.replays

    def token_requests(self, endpoint: str | None = None) -> list[RecordedRequest]:
        """The requests to token endpoints, or to *endpoint* only.

        Raises:
          ValueError: if *endpoint* is not one of :data:`ENDPOINTS`.
        """
        if endpoint is not None:
            check_endpoint(endpoint)
        wanted = TOKEN_ENDPOINTS if endpoint is None else {endpoint}
        return [r for r in self.requests if r.endpoint in wanted]

    def clear(self) -> None:
        """Forget the recorded requests, the rejections, the count of nonce
        challenges and any pending fault and latency. Tokens are left as
        they are (issued ones stay valid, revoked ones revoked), and so are
        the ids of signed requests: one replayed after ``clear()`` is still
        refused."""
        with self._lock:
            self._requests.clear()
            self._faults.clear()
        self._guard.clear()

    # -- tokens ----------------------------------------------------------

    def verify(self, token: str) -> Mapping[str, object] | None:
        """The claims of *token* if this server issued it (HS256 under its key),
        it has not expired and it was not revoked; None otherwise."""
        if not isinstance(token, str):
            return None
        return self._minter.verify(token)

    def revoke(self, token: str) -> None:
        """Refuse *token* from now on (thread-safe; :meth:`clear` keeps it
        refused). An access token: the resource answers 401 ``invalid_token``,
        "the access token was revoked", and :meth:`verify` None. A refresh
        token: the endpoint that handed it out refuses it (``invalid_grant``).
        A token this server did not issue is ignored.

        Raises:
          TypeError: if *token* is not a string.
        """
        if not isinstance(token, str):
            raise TypeError(f"token must be a string, got {type(token).__name__}")
        self._minter.revoke(token)

    # -- serving ---------------------------------------------------------

    def _respond(
        self,
        method: str,
        target: str,
        headers: Headers,
        body: bytes,
        client_cert: bytes | None,
    ) -> Reply | None:
        """The reply to one request (None: send nothing), in its connection's
        thread."""
        route = find_route(target)
        with self._lock:
            endpoint = "unknown" if route is None else route.endpoint
            fault = self._faults.take(endpoint)
            request = RecordedRequest(
                method=method,
                path=target,
                headers=headers,
                body=body,
                fields=recorded_fields(header_value(headers, "Content-Type"), body),
                endpoint=endpoint,
                fault=fault.kind,
                received_at=time.time(),
                client_cert=client_cert,
            )
            self._requests.append(request)
        if fault.kind == "hang":
            self._stopping.wait()
            return None
        if fault.latency and self._stopping.wait(fault.latency):
            return None
        if fault.failure is not None:
            return Reply(answer=fault.failure, reset=False)
        context = Context(
            credentials=self.credentials,
            token_lifetime=self.token_lifetime,
            smartway_lifetime=self.smartway_lifetime,
            issuer=self.url,
            minter=self._minter,
            guard=self._guard,
            client_cas=self.client_cas,
        )
        answer = dispatch(route, context, request)
        return Reply(answer=answer, reset=fault.kind == "reset")


async def _run_in_thread(function: Callable[[], None]) -> None:
    """Call *function* in a worker thread of the running event loop's library,
    trio's or asyncio's, and wait for it."""
    if "trio" in sys.modules:
        import trio

        try:
            trio.lowlevel.current_trio_token()
        except RuntimeError:
            pass  # trio is imported, but this is not its event loop
        else:
            await trio.to_thread.run_sync(function)
            return
    import asyncio

    # As trio's does, wait for the thread even when the task is cancelled:
    # `async with` must not end with the server still listening.
    stopping = asyncio.ensure_future(asyncio.to_thread(function))
    cancelled: asyncio.CancelledError | None = None
    while not stopping.done():
        try:
            await asyncio.shield(stopping)
        except asyncio.CancelledError as exc:
            cancelled = exc
    stopping.result()
    if cancelled is not None:
        raise cancelled
