"""http.client's response for the urllib adapter, read by h11's rules.

The adapters must end the same way on the same bytes (a response, or the same
``TransportError``), and http.client is lenient where h11, which reads for
the trio and anyio adapters, is strict. Left to itself, http.client takes a
102 or a 103 Early Hints for the final answer (it skips only 100), reads to
the close past an invalid, negative or conflicting ``Content-Length`` (RFC
9112 §6.3 makes those an unrecoverable error), honours the first of two
``Transfer-Encoding`` headers, lets a line that is no header end the head
(the email parser files a "defect" and drops the rest), parses a chunk size
with ``int()`` and skips whatever two bytes follow a chunk.

:class:`StrictResponse` reads the head and the chunked framing as h11 0.16
does, rule for rule (the regexes are h11's ``_abnf.py``; the line splitting
its ``_receivebuffer.py``; the header checks its ``_headers.py``); a body
framed by ``Content-Length`` or by the close is still read by http.client.
What is wrong is raised as :class:`Malformed`, with one of our own words
(``_failures.Malformation``), never with the bytes that were wrong.
"""

from __future__ import annotations

import http.client
import io
import re
import socket

from ._failures import Malformation

MAX_HEAD_BYTES = 64 * 1024
"""The largest head (or trailer, or chunk-size line) read, as in _h11.py."""

# h11's _abnf.py, compiled the same way (str patterns encoded to bytes).
_OWS = r"[ \t]*"
_TOKEN = r"[-!#$%&'*+.^_`|~0-9a-zA-Z]+"
_FIELD_VCHAR = r"[^\x00\s]"
_FIELD_CONTENT = rf"{_FIELD_VCHAR}+(?:[ \t]+{_FIELD_VCHAR}+)*"
_HEADER_FIELD = re.compile(
    rf"(?P<name>{_TOKEN}):{_OWS}(?P<value>({_FIELD_CONTENT})?){_OWS}".encode()
)
_STATUS_LINE = re.compile(
    rf"HTTP/[0-9]\.[0-9] (?P<status>[0-9]{{3}})(?: ([ \t]|{_FIELD_VCHAR})*)?".encode()
)
_CHUNK_HEADER = re.compile(rf"(?P<size>[0-9A-Fa-f]{{1,20}})(;.*)?{_OWS}\r\n".encode())
_OBS_FOLD = re.compile(rb"[ \t]+")
_DIGITS = re.compile(rb"[0-9]+")
_MAX_LENGTH_DIGITS = 20  # h11's CONTENT_LENGTH_MAX_DIGITS

_PIECE = 65536
"""The most read at once from a chunk: never as much as a server claims."""


class Malformed(http.client.HTTPException):
    """The response broke HTTP/1.1 as *kind* says; the text is ours."""

    def __init__(self, kind: Malformation) -> None:
        super().__init__(kind.value)
        self.kind = kind


Fields = list[tuple[bytes, bytes]]


def _lines(fp: io.BufferedReader, too_long: Malformation) -> list[bytes] | None:
    """The lines up to a blank one, split as h11 splits them (at LF, less one
    CR): an empty list if the block starts with a blank line, None if the
    stream ends first."""
    lines: list[bytes] = []
    size = 0
    while True:
        line = fp.readline(MAX_HEAD_BYTES + 1 - size)
        size += len(line)
        if size > MAX_HEAD_BYTES:
            raise Malformed(too_long)
        if not line.endswith(b"\n"):  # short of the limit: the stream ended
            return None
        if line in (b"\n", b"\r\n"):
            return lines
        line = line[:-1]
        lines.append(line[:-1] if line.endswith(b"\r") else line)


def _fields(lines: list[bytes]) -> Fields:
    """Header (or trailer) lines as (name, value), h11's _decode_header_lines:
    obsolete line folding joined with one space, each line a field or an
    error."""
    joined: list[bytes] = []
    for line in lines:
        fold = _OBS_FOLD.match(line)
        if fold is None:
            joined.append(line)
        elif not joined:
            raise Malformed(Malformation.HEADER_LINE)  # continuation at start
        else:
            joined[-1] += b" " + line[fold.end() :]
    fields = []
    for line in joined:
        match = _HEADER_FIELD.fullmatch(line)
        if match is None:
            raise Malformed(Malformation.HEADER_LINE)
        fields.append((match["name"], match["value"]))
    return fields


def _normalized(fields: Fields) -> Fields:
    """h11's normalize_and_validate on parsed fields: one Content-Length value
    kept (a list of equal ones is that one, RFC 9110 §8.6), a Transfer-Encoding
    that is exactly ``chunked`` (lowercased), once; anything else an error."""
    out: Fields = []
    length: bytes | None = None
    chunked = False
    for name, value in fields:
        lower = name.lower()
        if lower == b"content-length":
            values = {each.strip() for each in value.split(b",")}
            if len(values) != 1:
                raise Malformed(Malformation.CONFLICTING_CONTENT_LENGTH)
            value = values.pop()
            if not _DIGITS.fullmatch(value) or len(value) > _MAX_LENGTH_DIGITS:
                raise Malformed(Malformation.CONTENT_LENGTH)
            if length is None:
                length = value
                out.append((name, value))
            elif value != length:
                raise Malformed(Malformation.CONFLICTING_CONTENT_LENGTH)
        elif lower == b"transfer-encoding":
            value = value.lower()
            if chunked or value != b"chunked":
                raise Malformed(Malformation.TRANSFER_ENCODING)
            chunked = True
            out.append((name, value))
        else:
            out.append((name, value))
    return out


def _value(fields: Fields, name: bytes) -> bytes | None:
    for key, value in fields:
        if key.lower() == name:
            return value
    return None


class StrictResponse(http.client.HTTPResponse):
    """An ``http.client.HTTPResponse`` whose head and chunked body are read by
    h11's rules (module docstring). Set as a connection's ``response_class``.
    """

    fields: tuple[tuple[str, str], ...]
    """The final head's header fields, as h11 gives them: values without
    surrounding whitespace, ``Content-Length`` once, ``Transfer-Encoding``
    lowercased."""

    def __init__(
        self,
        sock: socket.socket,
        debuglevel: int = 0,
        method: str | None = None,
        url: str | None = None,
    ) -> None:
        super().__init__(sock, debuglevel, method, url)
        self._request_method = method
        self.fields = ()
        # Bytes left in the current chunk: None before a chunk-size line, 0
        # when the chunk's CRLF is due.
        self._left: int | None = None

    def begin(self) -> None:
        if self.headers is not None:  # http.client's guard: read once
            return
        while True:
            status, fields = self._head()
            if status == 101:  # we never ask to switch protocols
                raise Malformed(Malformation.SWITCHING_PROTOCOLS)
            if status >= 200:
                break
            # 100 Continue, 102 Processing, 103 Early Hints: the answer
            # follows (RFC 9110 §15.2), as h11 and every browser read it.
        self.status = status
        self.reason = ""
        self.version = 11
        self.fields = tuple(
            (name.decode("latin-1"), value.decode("latin-1")) for name, value in fields
        )
        message = http.client.HTTPMessage()
        for name_text, value_text in self.fields:
            message[name_text] = value_text
        self.headers = self.msg = message
        self.will_close = True  # we always send Connection: close
        self.chunk_left = None
        length = _value(fields, b"content-length")
        # RFC 9112 §6.3, in h11's order: no body for 204, 304 and HEAD;
        # chunked beats Content-Length; without either, read to the close.
        if status in (204, 304) or self._request_method == "HEAD":
            self.chunked, self.length = False, 0
        elif _value(fields, b"transfer-encoding") is not None:
            self.chunked, self.length = True, None
        else:
            self.chunked = False
            self.length = None if length is None else int(length)

    def _head(self) -> tuple[int, Fields]:
        fp = self.fp
        first = fp.peek(1)[:1]
        if not first:
            raise http.client.RemoteDisconnected("closed before a response")
        if first < b"!":  # h11 refuses this start at once, head complete or not
            raise Malformed(Malformation.STATUS_LINE)
        lines = _lines(fp, Malformation.HEAD_TOO_LARGE)
        if lines is None:
            raise http.client.RemoteDisconnected("closed before a response")
        match = _STATUS_LINE.fullmatch(lines[0])
        if match is None:
            raise Malformed(Malformation.STATUS_LINE)
        # h11's order: the status line, every header line, then the framing
        # headers, then the status code's range.
        fields = _normalized(_fields(lines[1:]))
        status = int(match["status"])
        if status < 100:
            raise Malformed(Malformation.STATUS_LINE)
        return status, fields

    def read(self, amt: int | None = None) -> bytes:
        if not self.chunked or self.fp is None:
            return super().read(amt)
        return self._read_chunked_strictly(amt)

    def _read_chunked_strictly(self, amt: int | None) -> bytes:
        # h11's ChunkedReader. A short read is the stream's end: truncated,
        # as IncompleteRead says for the other framings.
        fp = self.fp
        out = bytearray()
        while amt is None or len(out) < amt:
            left = self._left
            if left == 0:
                end = fp.read(2)
                if end != b"\r\n"[: len(end)]:
                    raise Malformed(Malformation.CHUNKED)
                if len(end) < 2:
                    raise http.client.IncompleteRead(bytes(out))
                left = None
            if left is None:
                left = self._chunk_size()
                if left == 0:
                    trailer = _lines(fp, Malformation.CHUNKED)
                    if trailer is None:
                        raise http.client.IncompleteRead(bytes(out))
                    _normalized(_fields(trailer))  # checked, then dropped
                    self._end()
                    break
            want = min(left, _PIECE if amt is None else amt - len(out))
            data = fp.read(want)
            out += data
            self._left = left - len(data)
            if len(data) < want:
                raise http.client.IncompleteRead(bytes(out))
        return bytes(out)

    def _chunk_size(self) -> int:
        # A line ends at CRLF, as h11 reads it: a bare LF is part of the line.
        line = b""
        while not line.endswith(b"\r\n"):
            piece = self.fp.readline(MAX_HEAD_BYTES + 1 - len(line))
            line += piece
            if len(line) > MAX_HEAD_BYTES:
                raise Malformed(Malformation.CHUNKED)
            if not piece.endswith(b"\n"):
                raise http.client.IncompleteRead(b"")
        match = _CHUNK_HEADER.fullmatch(line)
        if match is None:
            raise Malformed(Malformation.CHUNKED)
        return int(match["size"], 16)

    def _end(self) -> None:
        # What http.client's _close_conn does once a body is read: the socket
        # file goes, so that read() returns b"" from now on.
        fp, self.fp = self.fp, None  # type: ignore[assignment]
        fp.close()
