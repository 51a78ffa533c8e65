"""HTTP/1.1 for the async adapters, through h11: pure, no I/O.

:class:`Exchange` turns an :class:`~sansio_auth.HttpRequest` into the bytes
to write and the bytes read back into an :class:`~sansio_auth.HttpResponse`.
The trio and anyio adapters differ only in how they open a stream, move the
bytes and time out. It adds what framing needs (``Host``,
``Content-Length``, ``Connection: close``), enforces the response size cap
while reading, and turns every protocol failure into a ``TransportError``.
"""

from __future__ import annotations

import h11

from sansio_auth import HttpRequest, HttpResponse, TransportError

from ._common import Target

# Headers bigger than this are not a token endpoint's answer.
MAX_HEADER_BYTES = 64 * 1024


class Exchange:
    """One request and its response over one connection."""

    def __init__(
        self, request: HttpRequest, target: Target, *, max_response_bytes: int
    ):
        self._conn = h11.Connection(
            h11.CLIENT, max_incomplete_event_size=MAX_HEADER_BYTES
        )
        self._request = request
        self._target = target
        self._max = max_response_bytes
        self._response: h11.Response | None = None
        self._body = bytearray()

    def bytes_to_send(self) -> bytes:
        """The whole request, framed."""
        request = self._request
        headers = [
            ("Host", self._target.host_header),
            *request.headers,
            ("Content-Length", str(len(request.body))),
            ("Connection", "close"),
        ]
        try:
            data = self._conn.send(
                h11.Request(
                    method=request.method,
                    target=self._target.path,
                    headers=[
                        (k.encode("latin-1"), v.encode("utf-8")) for k, v in headers
                    ],
                )
            )
        except h11.LocalProtocolError as exc:
            raise TransportError(
                reason=f"cannot frame the request: {exc}", retryable=False
            ) from None
        data = data or b""
        if request.body:
            data += self._conn.send(h11.Data(data=request.body)) or b""
        return data + (self._conn.send(h11.EndOfMessage()) or b"")

    def receive(self, data: bytes | bytearray) -> HttpResponse | None:
        """Feed bytes read (``b""`` at end of stream).

        Returns:
          The response once it is complete; None while more is needed.

        Raises:
          TransportError: on malformed HTTP, a body over the cap, or a
            connection closed before the response was complete.
        """
        try:
            self._conn.receive_data(bytes(data))
            while True:
                event = self._conn.next_event()
                if event is h11.NEED_DATA:
                    if not data:  # h11 raises first; never wait on a closed stream
                        raise TransportError(
                            reason="connection closed early", retryable=True
                        )
                    return None
                if isinstance(event, h11.InformationalResponse):
                    continue  # 100 Continue and friends: the answer follows
                if isinstance(event, h11.Response):
                    self._response = event
                elif isinstance(event, h11.Data):
                    self._body += event.data
                    if len(self._body) > self._max:
                        raise TransportError(
                            reason=f"response body over the {self._max}-byte limit",
                            retryable=False,
                        )
                elif isinstance(event, h11.EndOfMessage):
                    return self._finish()
                else:  # ConnectionClosed before the message ended
                    raise TransportError(
                        reason="connection closed before the response was complete",
                        retryable=True,
                    )
        except h11.RemoteProtocolError as exc:
            if self._response is not None and not data:
                raise TransportError(
                    reason="connection closed before the response was complete "
                    "(truncated body)",
                    retryable=True,
                ) from None
            if self._response is None and not data:
                raise TransportError(
                    reason="connection closed before a response", retryable=True
                ) from None
            raise TransportError(
                reason=f"malformed HTTP response: {exc}", retryable=True
            ) from None

    def _finish(self) -> HttpResponse:
        response = self._response
        assert response is not None
        return HttpResponse(
            status=response.status_code,
            headers=tuple(
                (name.decode("latin-1"), value.decode("latin-1"))
                for name, value in response.headers.raw_items()
            ),
            body=bytes(self._body),
        )
