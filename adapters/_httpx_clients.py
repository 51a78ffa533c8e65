"""The token clients of a ``TokenAuth`` whose token requests go through the
user's httpx client: the sync one over ``httpx.Client`` (threads), the async
one over ``httpx.AsyncClient`` (anyio's primitives, asyncio or trio). Each
only says how to send; the loop, single flight and hot cache are their
bases'.

TLS is the user's client's as it was configured: its CA bundle and its
client certificate (``cert=``). The ``ssl_context`` the base builds from
``client_cert=`` (for mutual TLS) is for our own transports and is not used
here: the base takes ``client_cert`` all the same, as the name of the
certificate the user's client presents (a ``tls_client_auth`` flow needs
one, and a store keys certificate-bound tokens by it).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypedDict, Unpack

import httpx

from sansio_auth import Flow, HttpRequest, HttpResponse

from . import anyio as anyio_adapter
from ._httpx_send import check_client, send, send_async
from ._sync import SyncClientBase

__all__ = ["AsyncOverHttpx", "Options", "SyncOverHttpx"]


class Options(TypedDict):
    """What each token client is made with."""

    flow: Flow
    timeout: float
    max_response_bytes: int
    clock: Callable[[], float]
    store: object
    dpop_key: object
    client_cert: object


class SyncOverHttpx(SyncClientBase):
    """The sync flow's token client when token requests go through the
    user's ``httpx.Client``."""

    __slots__ = ("_http",)

    _driver = "an httpx TokenAuth"

    def __init__(self, http: httpx.Client, **options: Unpack[Options]) -> None:
        self._http = http
        super().__init__(**options)

    def _send(
        self,
        request: HttpRequest,
        *,
        timeout: float,
        ssl_context: object,
        max_response_bytes: int,
    ) -> HttpResponse:
        # ssl_context is ours, for our own transports: the user's client
        # verifies TLS, and presents its certificate, as it was configured.
        return send(
            request,
            client=self._http,
            timeout=timeout,
            max_response_bytes=max_response_bytes,
        )


class AsyncOverHttpx(anyio_adapter.TokenClient):
    """The async flow's token client when token requests go through the
    user's ``httpx.AsyncClient``."""

    __slots__ = ("_http",)

    _driver = "an httpx TokenAuth"
    _own_tls = True  # the user's client verifies TLS as it was configured

    def __init__(self, http: httpx.AsyncClient, **options: Unpack[Options]) -> None:
        self._http = http
        super().__init__(**options)

    async def _send(  # type: ignore[override]
        self,
        request: HttpRequest,
        *,
        timeout: float,
        ssl_context: object,
        max_response_bytes: int,
    ) -> HttpResponse:
        # Checked here first, so that a closed client is named as TokenAuth
        # took it (send_async would call it "client").
        check_client(self._http, httpx.AsyncClient, "async_client")
        return await send_async(
            request,
            client=self._http,
            timeout=timeout,
            max_response_bytes=max_response_bytes,
        )
