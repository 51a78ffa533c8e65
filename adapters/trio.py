"""The trio adapter: ``send`` over trio's own TCP and TLS streams, through h11.

``send`` and :class:`TokenClient` are coroutines to call from trio. Proxies:
the async adapters connect directly and ignore the proxy environment
variables (use the urllib adapter behind a proxy).
"""

from __future__ import annotations

import ssl
from functools import partial

from ._extras import missing_extra

try:
    import trio

    from ._async_send import Stream, World, sender
except ImportError as exc:
    raise missing_extra(__name__, "trio", ("trio", "h11"), exc) from None

from ._async import AsyncClientBase, trio_run_is_over
from ._target import Target

__all__ = ["TokenClient", "send"]


async def _connect(where: Target, context: ssl.SSLContext | None) -> Stream:
    stream: trio.abc.Stream = await trio.open_tcp_stream(where.host, where.port)
    if context is None:
        return stream
    tls = trio.SSLStream(
        stream, context, server_hostname=where.host, https_compatible=True
    )
    try:
        await tls.do_handshake()
    except BaseException:
        await trio.aclose_forcefully(tls)
        raise
    return tls


_TRIO = World(
    connect=_connect,
    close=trio.aclose_forcefully,  # type: ignore[arg-type]
    move_on_after=trio.move_on_after,
    broken=(trio.BrokenResourceError, trio.ClosedResourceError),
)


send = sender(_TRIO, __name__)


class TokenClient(AsyncClientBase):
    """Tokens for one flow, shared safely between trio tasks.

    Concurrent callers make one request; the others wait on an event. A
    fetching task that is cancelled reports it, so that the others go on.
    Building one needs no running event loop.

    One trio run at a time: a call that needs the session while tasks of
    another run (another thread) are on it raises ``RuntimeError`` at once;
    once they are done, another run may use the client. Without
    *ssl_context*, requests share one default context, which the first https
    request builds in a worker thread (``trio.to_thread``), off the loop.
    After ``os.fork()`` the child's first call that needs the session sets
    the client up afresh and fetches at once.

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

    _driver = "a trio TokenClient"
    _library = "trio"
    _send = staticmethod(send)
    _new_event = staticmethod(trio.Event)
    _sleep = staticmethod(trio.sleep)
    _in_thread = staticmethod(trio.to_thread.run_sync)
    _shielded = staticmethod(partial(trio.CancelScope, shield=True))
    _current_loop = staticmethod(trio.lowlevel.current_trio_token)
    _loop_is_over = staticmethod(trio_run_is_over)
