"""``send`` for the async adapters: one exchange over any event loop's stream.

The trio and anyio adapters speak HTTP/1.1 the same way (``_h11.Exchange``)
and differ only in how a stream is opened, how its bytes move and closed,
and how a deadline is set. Each fills in a :class:`World` with those; this
module owns the rest, so that a fix to the exchange (a timeout, an error's
wording, the size cap) is made once for both.
"""

from __future__ import annotations

import ssl
from collections.abc import Awaitable, Callable
from contextlib import AbstractContextManager
from typing import Protocol, final

import attrs

from sansio_auth import HttpRequest, HttpResponse, TransportError

from ._failures import detached_async, timeout_error, transport_error
from ._h11 import Exchange
from ._limits import DEFAULT_MAX_RESPONSE_BYTES, DEFAULT_TIMEOUT, check_send_args
from ._target import Target, target
from ._tls import default_ssl_context

__all__ = ["Send", "Stream", "World", "send_in", "sender"]

# Enough for a token response in one or two reads; the size cap is the
# Exchange's to enforce, not the read size's.
READ_SIZE = 65536


class Stream(Protocol):
    """A connected byte stream, as trio names its methods."""

    async def send_all(self, data: bytes) -> None: ...

    async def receive_some(self, max_bytes: int) -> bytes | bytearray:
        """The next bytes; empty at the end of the stream."""
        ...


def _with_oserror(
    extra: tuple[type[BaseException], ...],
) -> tuple[type[BaseException], ...]:
    return (OSError, *extra)


@final
@attrs.frozen(kw_only=True)
class World:
    """What one event loop library does for an exchange."""

    connect: Callable[[Target, ssl.SSLContext | None], Awaitable[Stream]]
    """Opens a stream to the target: TLS with the context when there is one
    (https), its handshake done."""
    close: Callable[[Stream], Awaitable[object]]
    """Closes a stream without waiting on the peer."""
    move_on_after: Callable[[float], AbstractContextManager[object]]
    """A cancel scope that ends its block quietly at the deadline."""
    broken: tuple[type[BaseException], ...] = attrs.field(converter=_with_oserror)
    """What is raised for a stream that failed or closed under us: ``OSError``
    and what the library adds."""


class Send(Protocol):
    """An async adapter's ``send``."""

    async def __call__(
        self,
        request: HttpRequest,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        ssl_context: ssl.SSLContext | None = None,
        max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
    ) -> HttpResponse: ...


def sender(world: World, module: str) -> Send:
    """The public ``send`` of the adapter *module*, over *world*."""

    @detached_async
    async def send(
        request: HttpRequest,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        ssl_context: ssl.SSLContext | None = None,
        max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
    ) -> HttpResponse:
        """Send *request* and return the response, whatever its status.

        Args:
          request: what to send.
          timeout: seconds the whole exchange may take.
          ssl_context: for a private CA; the default verifies against the
            system trust store.
          max_response_bytes: the largest body read; a larger one is an error.

        Returns:
          The response; a 3xx is returned, never followed.

        Raises:
          TransportError: the exchange failed (refused, DNS, TLS verification,
            timeout, reset, body too large, malformed HTTP).
        """
        return await send_in(
            world,
            request,
            timeout=timeout,
            ssl_context=ssl_context,
            max_response_bytes=max_response_bytes,
        )

    # Named as what it is to its callers: sansio_auth.adapters.trio.send.
    send.__module__ = module
    send.__qualname__ = "send"
    return send


async def send_in(
    world: World,
    request: HttpRequest,
    *,
    timeout: float,
    ssl_context: ssl.SSLContext | None,
    max_response_bytes: int,
) -> HttpResponse:
    """Send *request* over a stream of *world*; the adapters' ``send``."""
    check_send_args(timeout, max_response_bytes, ssl_context)
    where = target(request)
    name = f"{where.host}:{where.port}"
    exchange = Exchange(request, where, max_response_bytes=max_response_bytes)
    with world.move_on_after(timeout):
        try:
            context = (ssl_context or default_ssl_context()) if where.https else None
            stream = await world.connect(where, context)
            try:
                await stream.send_all(exchange.bytes_to_send())
                while True:
                    data = await stream.receive_some(READ_SIZE)
                    response = exchange.receive(data)
                    if response is not None:
                        return response
            finally:
                await world.close(stream)
        except TransportError:
            raise
        except world.broken as exc:
            raise transport_error(exc, name) from None
    raise timeout_error(timeout, name)
