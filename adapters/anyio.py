"""The anyio adapter: ``send`` over anyio's TCP and TLS streams, through h11.

Runs on anyio's asyncio and trio backends alike. Proxies: the async adapters
connect directly and ignore the proxy environment variables (use the urllib
adapter behind a proxy).
"""

from __future__ import annotations

import contextlib
import ssl
import sys
from functools import partial

import attrs

from ._extras import missing_extra

try:
    import anyio
    import anyio.abc
    import anyio.to_thread

    from ._async_send import World, sender
except ImportError as exc:
    raise missing_extra(__name__, "anyio", ("anyio", "h11"), exc) from None

from ._async import AsyncClientBase, trio_run_is_over
from ._target import Target

__all__ = ["TokenClient", "send"]


@attrs.frozen
class _Stream:
    """An anyio byte stream, read as trio reads: empty at the end."""

    stream: anyio.abc.ByteStream

    async def send_all(self, data: bytes) -> None:
        await self.stream.send(data)

    async def receive_some(self, max_bytes: int) -> bytes:
        try:
            return await self.stream.receive(max_bytes)
        except anyio.EndOfStream:
            return b""


async def _connect(where: Target, context: ssl.SSLContext | None) -> _Stream:
    if context is None:
        return _Stream(await anyio.connect_tcp(where.host, where.port))
    # Not "standard compatible": servers that close an HTTP/1.1 connection
    # without a TLS close_notify are the norm.
    stream = await anyio.connect_tcp(
        where.host,
        where.port,
        ssl_context=context,
        tls_hostname=where.host,
        tls_standard_compatible=False,
    )
    return _Stream(stream)


async def _close(stream: _Stream) -> None:
    await stream.stream.aclose()


_ANYIO = World(
    connect=_connect,
    close=_close,  # type: ignore[arg-type]
    move_on_after=anyio.move_on_after,
    broken=(anyio.BrokenResourceError, anyio.ClosedResourceError),
)


send = sender(_ANYIO, __name__)


# The running loop's identity: the asyncio loop, or the trio run's token on
# anyio's trio backend. Not anyio.lowlevel.current_token(), which needs anyio
# 4.11 and makes a new object on each call. Each backend's module is taken
# from sys.modules: one that is not imported runs no loop, and importing it
# here would cost the other backend's users (asyncio alone: about 24 ms).


def _running_loop() -> object:
    asyncio = sys.modules.get("asyncio")
    if asyncio is not None:
        with contextlib.suppress(RuntimeError):  # none in this thread
            return asyncio.get_running_loop()
    import trio  # imported already by anyio's trio backend

    return trio.lowlevel.current_trio_token()


def _loop_closed(loop: object) -> bool:
    asyncio = sys.modules.get("asyncio")
    if asyncio is not None and isinstance(loop, asyncio.AbstractEventLoop):
        return bool(loop.is_closed())
    return trio_run_is_over(loop)


class TokenClient(AsyncClientBase):
    """Tokens for one flow, shared safely between tasks (asyncio or trio).

    Concurrent callers make one request; the others wait on an event. A
    fetching task that is cancelled reports it, so that the others go on.
    Building one needs no running event loop.

    One event loop at a time: a call that needs the session while tasks of
    another loop (another thread, or asyncio in one and trio in another) are
    on it raises ``RuntimeError`` at once; once they are done (or their loop
    is closed), another loop may use the client, so ``asyncio.run()`` after
    ``asyncio.run()`` works. Without *ssl_context*, requests share one
    default context, which the first https request builds in a worker thread
    (``anyio.to_thread``), off the loop. After ``os.fork()`` the child's
    first call that needs the session sets the client up afresh and fetches
    at once.

    Args:
      flow: how to get a token.
      timeout: seconds each request may take.
      ssl_context: for a private CA.
      max_response_bytes: the largest token response read.
      session: a :class:`~sansio_auth.TokenSession` of *flow* to use. The
        client claims it: one session, one client.
      clock: returns UNIX seconds; tests pass a fake one.
      store: a shared store (:mod:`sansio_auth.adapters.stores`: memory,
        file or Redis) through which processes and hosts share one token
        (see docs/fleet.md); None keeps the token to this client.
      dpop_key: DPoP (RFC 9449): True for a fresh ES256 key held in
        memory, or a :class:`~sansio_auth.DPoPKey`, a PEM private key or a
        ``cryptography`` private key (the same one in every process sharing
        *store*). Token requests carry a proof, the server's
        ``use_dpop_nonce`` is answered at once within the fetch, and a
        DPoP-bound token is sent to APIs through :meth:`auth_headers` (with
        :meth:`learn_dpop_nonce` for a resource server's nonce). Needs the
        ``jwt`` extra.
      client_cert: the TLS client certificate (RFC 8705) for
        ``tls_client_auth`` and ``self_signed_tls_client_auth``, or for
        certificate-bound tokens with any method: a PEM file holding the
        certificate and key, ``(cert_path, key_path)`` or ``(cert_path,
        key_path, password)``; loaded into *ssl_context* when one is given.

    Raises:
      ValueError: *session* already drives another client, or is of another
        flow; or *timeout* or *max_response_bytes* is out of range; or
        *client_cert* cannot be loaded (naming the file), or the flow
        authenticates with a certificate and none is given; or *dpop_key*
        is not a key that signs (never showing it).
      TypeError: *store* is not a store.
      ImportError: *dpop_key* without ``cryptography`` (the ``jwt`` extra).
    """

    __slots__ = ()

    _driver = "an anyio TokenClient"
    _send = staticmethod(send)
    _new_event = staticmethod(anyio.Event)
    _sleep = staticmethod(anyio.sleep)
    _in_thread = staticmethod(anyio.to_thread.run_sync)
    _shielded = staticmethod(partial(anyio.CancelScope, shield=True))
    _current_loop = staticmethod(_running_loop)
    _loop_is_over = staticmethod(_loop_closed)
