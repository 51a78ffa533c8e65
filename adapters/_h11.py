"""HTTP/1.1 for the async adapters, through h11: pure, no I/O.

:class:`Exchange` turns an :class:`~sansio_auth.HttpRequest` into the bytes
to write and the bytes read back into an :class:`~sansio_auth.HttpResponse`.
The trio and anyio adapters differ only in how they open a stream, move the
bytes and time out. It adds what framing needs (``Host``,
``Content-Length``, ``Connection: close``), enforces the response size cap
while reading, and turns every protocol failure into a ``TransportError``.
"""

from __future__ import annotations

import re

import h11

from sansio_auth import HttpRequest, HttpResponse, TransportError

from ._failures import (
    Malformation,
    cannot_frame,
    closed_before_response,
    malformed,
    over_limit,
    truncated,
    where,
)
from ._target import Target

# Headers bigger than this are not a token endpoint's answer.
MAX_HEADER_BYTES = 64 * 1024

# h11's protocol errors, by the fixed words their messages open with. What
# follows those words may quote the bytes the server sent, so only the
# opening is matched and the reason is ours (_failures.py). h11 0.14 to 0.16;
# a message not listed is still a malformation, of the head or of the body.
_H11_MESSAGES = (
    ("illegal status line", Malformation.STATUS_LINE),
    ("no response line", Malformation.STATUS_LINE),
    # h11 reads a first byte below "!" as a bad start line (it says
    # "request line" on either side).
    ("illegal request line", Malformation.STATUS_LINE),
    ("InformationalResponse status_code", Malformation.STATUS_LINE),
    ("illegal header line", Malformation.HEADER_LINE),
    ("continuation line at start", Malformation.HEADER_LINE),
    ("conflicting Content-Length", Malformation.CONFLICTING_CONTENT_LENGTH),
    ("bad Content-Length", Malformation.CONTENT_LENGTH),
    ("multiple Transfer-Encoding", Malformation.TRANSFER_ENCODING),
    ("Only Transfer-Encoding", Malformation.TRANSFER_ENCODING),
    ("illegal chunk header", Malformation.CHUNKED),
    ("malformed chunk footer", Malformation.CHUNKED),
    ("Received server _SWITCH_UPGRADE", Malformation.SWITCHING_PROTOCOLS),
)


def _check_head(head: bytearray, name: str) -> None:
    # Each block of the head (an interim answer's, the final one's) up to
    # and with its blank line, as the urllib adapter reads them: none may
    # be over the limit. Body bytes after the final head are no block.
    start = 0
    while True:
        found = re.search(rb"\r?\n\r?\n", head[start:])
        end = len(head) if found is None else start + found.end()
        if end - start > MAX_HEADER_BYTES:
            raise malformed(name, Malformation.HEAD_TOO_LARGE)
        if found is None or _is_final(head[start:end]):
            return
        start = end


def _is_final(block: bytes | bytearray) -> bool:
    # A block whose status is not 1xx ends the head.
    return re.match(rb"HTTP/\d\.\d 1\d\d", block) is None


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
        self._name = where(target)
        self._max = max_response_bytes
        self._response: h11.Response | None = None
        self._body = bytearray()
        # The bytes of the head read so far (interim heads and the final
        # one): h11 checks its size limit only while a head is incomplete in
        # its buffer, so a head over it that arrives in one read would pass;
        # the urllib adapter refuses it whatever the reads. So do we.
        self._head = bytearray()

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
        except h11.LocalProtocolError:
            # Its message may quote our header values: credentials.
            raise cannot_frame(self._name) from None
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
        if self._response is None:
            self._head += data
            _check_head(self._head, self._name)
        try:
            self._conn.receive_data(bytes(data))
            while True:
                event = self._conn.next_event()
                if event is h11.NEED_DATA:
                    if not data:  # h11 raises first; never wait on a closed stream
                        raise self._closed()
                    return None
                if isinstance(event, h11.InformationalResponse):
                    # 100 Continue, 102, 103 Early Hints: the answer follows.
                    # h11 refuses a 101, since we proposed no upgrade.
                    continue
                if isinstance(event, h11.Response):
                    self._response = event
                elif isinstance(event, h11.Data):
                    self._body += event.data
                    if len(self._body) > self._max:
                        raise over_limit(self._max)
                elif isinstance(event, h11.EndOfMessage):
                    return self._finish()
                else:  # ConnectionClosed before the message ended
                    raise self._closed()
        except h11.RemoteProtocolError as exc:
            if not data:  # at the end of the stream, only an ending is wrong
                raise self._closed() from None
            raise malformed(self._name, self._kind(exc)) from None

    def _closed(self) -> TransportError:
        if self._response is None:
            return closed_before_response(self._name)
        return truncated(self._name)

    def _kind(self, exc: h11.RemoteProtocolError) -> Malformation:
        # str(exc) is read, never shown: only its opening words are matched.
        message = str(exc)
        for opening, kind in _H11_MESSAGES:
            if message.startswith(opening):
                return kind
        if message.startswith("Receive buffer too long"):
            # A head, or a chunk-size line or trailer, that never ends.
            if self._response is None:
                return Malformation.HEAD_TOO_LARGE
            return Malformation.CHUNKED
        return Malformation.HEAD if self._response is None else Malformation.BODY

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
