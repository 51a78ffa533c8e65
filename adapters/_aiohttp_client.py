"""The token client behind ``TokenMiddleware``: the async loop on asyncio.

aiohttp runs on asyncio only, so the client's primitives are asyncio's own:
an ``asyncio.Event`` for the callers waiting on the one fetch,
``asyncio.sleep`` for backoff, ``asyncio.to_thread`` for what blocks, the
running loop for the loop binding. No thread lock is held across an await
(the base's few-line lock around the loop binding awaits nothing).

Token requests go through the user's ``ClientSession`` when one is given
(``_aiohttp_send``), and otherwise through the urllib adapter's ``send`` in a
worker thread. Not our own ``ClientSession``: one made per request costs a
connector and a TLS context each time, and one kept would have to be closed
by the user (or be left unclosed, which aiohttp warns of). Not the anyio
adapter: it needs the ``anyio`` extra, which aiohttp does not bring, and it
ignores the proxy variables that urllib's ``send`` honours. A token request
is rare (one per token lifetime for every caller), so its one worker thread
costs nothing that counts, and urllib's ``send`` bounds it by the timeout
with its own watchdog, refuses redirects, caps the body and keeps loopback
off proxies, as the sync clients' token requests do.

Mutual TLS: the urllib road presents ``client_cert=`` (the base builds its
context); through a session, the session's connector presents its own
certificate (``ssl=`` a context that loaded it), and ``client_cert`` only
names it (a ``tls_client_auth`` flow needs one, a store keys tokens by it).
"""

from __future__ import annotations

import asyncio
import ssl
import time
from collections.abc import Callable
from typing import Any

import aiohttp

from sansio_auth import Flow, HttpRequest, HttpResponse, TokenSession

from . import _aiohttp_send
from . import urllib as urllib_adapter
from ._async import AsyncClientBase
from ._limits import DEFAULT_MAX_RESPONSE_BYTES, DEFAULT_TIMEOUT

__all__ = ["TokenClient"]


def _loop_closed(loop: object) -> bool:
    assert isinstance(loop, asyncio.AbstractEventLoop)
    return loop.is_closed()


async def _to_thread(function: Callable[[], Any]) -> Any:
    return await asyncio.to_thread(function)


class TokenClient(AsyncClientBase):
    """Tokens for one flow, shared by an event loop's tasks, for aiohttp.

    Args:
      flow: how to get a token.
      http: the ``ClientSession`` to send token requests through, or None
        for the urllib adapter's ``send`` in a worker thread.
      timeout: seconds each token request may take.
      max_response_bytes: the largest token response read.
      session: the :class:`~sansio_auth.TokenSession` deciding.
      clock: returns UNIX seconds.
      store: a shared store, or None.
      dpop_key: the DPoP key (see :func:`~sansio_auth.adapters._dpop.dpop_option`).
      client_cert: the TLS client certificate of token requests (module
        notes for a session's).
    """

    __slots__ = ("_http",)

    _driver = "an aiohttp TokenMiddleware"
    _library = "asyncio"
    # Neither road wants a context built on the loop's behalf: a session's
    # connector verifies TLS as it was configured, and urllib's send, in its
    # worker thread, builds the shared default context there if need be.
    _own_tls = True
    _new_event = staticmethod(asyncio.Event)
    _sleep = staticmethod(asyncio.sleep)
    _in_thread = staticmethod(_to_thread)
    _current_loop = staticmethod(asyncio.get_running_loop)
    _loop_is_over = staticmethod(_loop_closed)

    def __init__(
        self,
        flow: Flow,
        *,
        http: aiohttp.ClientSession | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
        session: TokenSession | None = None,
        clock: Callable[[], float] = time.time,
        store: object = None,
        dpop_key: object = None,
        client_cert: object = None,
    ) -> None:
        if http is not None and not isinstance(http, aiohttp.ClientSession):
            raise TypeError(
                "session must be an aiohttp.ClientSession or None, got "
                f"{type(http).__name__}"
            )
        super().__init__(
            flow,
            timeout=timeout,
            max_response_bytes=max_response_bytes,
            session=session,
            clock=clock,
            store=store,
            dpop_key=dpop_key,
            client_cert=client_cert,
        )
        self._http = http

    async def _send(
        self,
        request: HttpRequest,
        *,
        timeout: float,
        ssl_context: ssl.SSLContext | None,
        max_response_bytes: int,
    ) -> HttpResponse:
        if self._http is None:
            # Off the loop: the default context, when built, is built here.
            return await asyncio.to_thread(
                urllib_adapter.send,
                request,
                timeout=timeout,
                ssl_context=ssl_context,
                max_response_bytes=max_response_bytes,
            )
        # The session's connector decides TLS (its client certificate
        # too), as the user configured it.
        return await _aiohttp_send.send(
            request,
            session=self._http,
            timeout=timeout,
            max_response_bytes=max_response_bytes,
        )
