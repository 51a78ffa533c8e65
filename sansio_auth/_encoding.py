"""Body and credential encoders: same inputs, same bytes.

* Form bodies follow RFC 6749 Appendix B: UTF-8, then the
  ``application/x-www-form-urlencoded`` algorithm, a space becoming ``+`` and
  every byte outside ``A-Z a-z 0-9 - . _ ~`` becoming ``%HH``.
* ``client_secret_basic`` follows RFC 6749 §2.3.1: the client id and secret
  are form-encoded *before* they are joined with ``:`` and base64-encoded, so a
  ``:`` in the id cannot shift the split. We write a space as ``%20``, not
  ``+``: servers decode this part with ``unquote`` (authlib) or
  ``unquote_plus`` (oauthlib), and only ``%20`` means a space to both.
* Multipart bodies follow RFC 7578: CRLF line ends, one ``form-data`` part per
  field, its name a quoted-string (RFC 2045 escaping of ``"`` and ``\\``).
  The boundary travels in ``Content-Type``, which access logs record, so it
  carries nothing of the content (a hash of it would let anyone who can
  guess a credential check the guess against the log): it is a constant,
  the same for every request, made unique only when the content holds it
  (``-1``, ``-2``, ... appended). The same fields give the same bytes, with
  no randomness in the core.
* JSON bodies are compact UTF-8.
"""

from __future__ import annotations

import binascii
import json
import re
from collections.abc import Iterable, Mapping

__all__ = [
    "basic_authorization",
    "encode_form",
    "encode_json",
    "encode_multipart",
]

BOUNDARY = "sansio-auth-form-boundary-7c0e1f9a4b2d"
"""The multipart boundary, unless the content holds it: a constant."""
# RFC 2046 §5.1.1 bchars, without the space (a boundary with a space would
# have to be quoted in Content-Type), 1 to 70 of them.
_BOUNDARY = re.compile(r"[0-9A-Za-z'()+_,\-./:=?]{1,70}")
# The boundaries that are also RFC 2045 tokens, and so need no quotes.
_TOKEN_BOUNDARY = re.compile(r"[0-9A-Za-z'+_\-.]+")
# CR, LF and NUL end or corrupt a part header; nothing can escape them.
_NAME_BREAKERS = re.compile(r"[\r\n\x00]")
# What form encoding changes, other than a space: text without any of these
# is its own encoding once each space becomes "+".
_FORM_UNSAFE = re.compile(r"[^A-Za-z0-9_.~ \-]")
# The percent-encoding of each byte, for str.translate over the UTF-8 bytes
# read as Latin-1 (one character per byte): what urllib's quote(text,
# safe="") gives, with a space as "%20", or as "+" for forms (quote_plus).
_UNRESERVED = frozenset(
    b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-~"
)
_PERCENT = {
    byte: chr(byte) if byte in _UNRESERVED else f"%{byte:02X}" for byte in range(256)
}
_FORM = {**_PERCENT, ord(" "): "+"}


def _percent_encode(text: str, *, plus: bool) -> str:
    # Our own encoder, not urllib.parse's: urllib.parse was a fifth of the
    # library's import time.
    table = _FORM if plus else _PERCENT
    if type(text) is str:
        if text.isascii():
            return text.translate(table)
        try:
            return text.encode("utf-8").decode("latin-1").translate(table)
        except UnicodeEncodeError:
            pass
    # Bytes (quote_plus takes them, so encode_form does), other types and
    # text UTF-8 cannot encode: urllib's own answer, and its own errors.
    from urllib.parse import quote, quote_plus

    return (quote_plus if plus else quote)(text, safe="")


def _form_quote(text: str) -> str:
    # quote_plus(text, safe=""), byte for byte. The usual identifiers,
    # secrets and scopes need nothing but each space made "+".
    if type(text) is str and _FORM_UNSAFE.search(text) is None:
        return text.replace(" ", "+")
    return _percent_encode(text, plus=True)


def encode_form(fields: Iterable[tuple[str, str]]) -> bytes:
    """Encode *fields* as an ``application/x-www-form-urlencoded`` body.

    Args:
      fields: ``(name, value)`` pairs, in order. Any text is allowed.

    Returns:
      The body bytes (ASCII).
    """
    return "&".join(
        [f"{_form_quote(name)}={_form_quote(value)}" for name, value in fields]
    ).encode("ascii")


def basic_authorization(client_id: str, client_secret: str) -> str:
    """The ``Authorization`` value for ``client_secret_basic`` (RFC 6749 §2.3.1).

    Args:
      client_id: the client identifier; any text.
      client_secret: the client secret; any text.

    Returns:
      ``"Basic " + base64(enc(client_id) + ":" + enc(client_secret))``.
    """
    userpass = (
        f"{_percent_encode(client_id, plus=False)}:"
        f"{_percent_encode(client_secret, plus=False)}"
    )
    encoded = binascii.b2a_base64(userpass.encode("ascii"), newline=False)
    return "Basic " + encoded.decode("ascii")


def _quoted(name: str) -> str:
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


def encode_multipart(
    fields: Iterable[tuple[str, str]], *, boundary: str | None = None
) -> tuple[str, bytes]:
    """Encode *fields* as a ``multipart/form-data`` body (RFC 7578).

    Args:
      fields: ``(name, value)`` pairs, in order. Values may hold anything;
        names may not hold CR, LF or NUL.
      boundary: a boundary to use instead of :data:`BOUNDARY`.

    Returns:
      ``(content_type, body)``, where *content_type* carries the boundary.

    Raises:
      ValueError: if a field name holds CR, LF or NUL, or if the boundary is
        not a valid RFC 2046 boundary or occurs in the content.
    """
    parts = []
    for index, (name, value) in enumerate(fields):
        if _NAME_BREAKERS.search(name):
            raise ValueError(
                f"multipart field name #{index} contains CR, LF or NUL, "
                "which cannot be sent in a part header"
            )
        head = f"Content-Disposition: form-data; name={_quoted(name)}\r\n\r\n"
        parts.append(head.encode("utf-8") + value.encode("utf-8"))
    if boundary is None:
        boundary = _free_boundary(parts)
    if not _BOUNDARY.fullmatch(boundary):
        raise ValueError("multipart boundary must be 1 to 70 RFC 2046 characters")
    delimiter = b"--" + boundary.encode("ascii")
    # A caller-given boundary must not end a part early either.
    if any(delimiter in part for part in parts):
        raise ValueError("multipart boundary occurs in the content")
    body = b"".join(delimiter + b"\r\n" + part + b"\r\n" for part in parts)
    body += delimiter + b"--\r\n"
    # RFC 2045 §5.1: a parameter value holding a tspecial must be quoted.
    if not _TOKEN_BOUNDARY.fullmatch(boundary):
        boundary = f'"{boundary}"'
    return f"multipart/form-data; boundary={boundary}", body


def _free_boundary(parts: list[bytes]) -> str:
    # Which suffix it takes says only that the content holds the constant
    # (which no real credential does); finite content ends the loop.
    boundary = BOUNDARY
    suffix = 0
    while any(b"--" + boundary.encode("ascii") in part for part in parts):
        suffix += 1
        boundary = f"{BOUNDARY}-{suffix}"
    return boundary


def encode_json(value: Mapping[str, object]) -> bytes:
    """Encode *value* as compact UTF-8 JSON (no spaces after separators).

    Args:
      value: a JSON-serialisable mapping.

    Returns:
      The body bytes.

    Raises:
      ValueError: if *value* holds NaN or an infinity.
    """
    # NaN and Infinity are not JSON (RFC 8259 §6): refuse rather than emit them.
    return json.dumps(
        value, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode("utf-8")
