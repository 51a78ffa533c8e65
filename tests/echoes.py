"""The shapes a server echoes a secret in, for the masking property tests.

Each encoder is written here from the standard library's own encoders, apart
from the masking code it tests: a server echoes what it got as raw text, as
JSON with any escape, percent-encoded in either case and with ``+`` for a
space, HTML-escaped, as UTF-16 read as 8-bit text, or in layers of these.
:func:`mixed` encodes each character its own way, as a hand-rolled encoder
might. A test generates a secret and an encoding, has the server echo it, and
checks that neither the secret nor that echo reaches anything we show.
"""

from __future__ import annotations

import base64
import html
import json
import quopri
import re
import unicodedata
from collections.abc import Callable
from urllib.parse import quote, quote_plus

from hypothesis import strategies as st

__all__ = [
    "ENCODINGS",
    "SECRETS",
    "echoes",
    "mixed",
]


def _json_ascii(secret: str) -> str:
    return json.dumps(secret)[1:-1]


def _json_unicode(secret: str) -> str:
    return json.dumps(secret, ensure_ascii=False)[1:-1]


def _json_slashes(secret: str) -> str:
    # PHP's json_encode escapes "/" by default.
    return json.dumps(secret)[1:-1].replace("/", "\\/")


def _json_every_character(secret: str) -> str:
    # \uXXXX for every character, astral ones as surrogate pairs.
    units = secret.encode("utf-16-be", "surrogatepass")
    return "".join(
        f"\\u{int.from_bytes(units[i : i + 2], 'big'):04x}"
        for i in range(0, len(units), 2)
    )


def _json_every_character_upper(secret: str) -> str:
    return _json_every_character(secret).upper().replace("\\U", "\\u")


def _percent_upper(secret: str) -> str:
    return quote(secret, safe="")


def _percent_lower(secret: str) -> str:
    return re.sub("%[0-9A-F]{2}", lambda m: m.group().lower(), quote(secret, safe=""))


def _percent_plus(secret: str) -> str:
    return quote_plus(secret, safe="")


def _percent_latin_1(secret: str) -> str:
    # An older server percent-encodes Latin-1 bytes.
    try:
        return quote(secret, safe="", encoding="latin-1")
    except UnicodeEncodeError:
        return quote(secret, safe="")


def _percent_every_byte(secret: str) -> str:
    return "".join(f"%{byte:02x}" for byte in secret.encode("utf-8"))


def _html(secret: str) -> str:
    return html.escape(secret)


def _html_decimal(secret: str) -> str:
    return "".join(f"&#{ord(c)};" for c in secret)


def _html_hex(secret: str) -> str:
    return "".join(f"&#x{ord(c):X};" for c in secret)


def _utf_16(secret: str) -> str:
    # UTF-16 bytes read as 8-bit text: a NUL after each ASCII letter.
    return secret.encode("utf-16-le").decode("latin-1")


def _percent_twice(secret: str) -> str:
    return quote(quote(secret, safe=""), safe="")


def _json_of_percent(secret: str) -> str:
    return _json_every_character(quote_plus(secret, safe=""))


def _html_of_json(secret: str) -> str:
    return html.escape(json.dumps(secret)[1:-1])


def _base64(secret: str) -> str:
    return base64.b64encode(secret.encode("utf-8", "surrogatepass")).decode()


def _base64_of_a_body(secret: str) -> str:
    # A server dumping the whole request it got, base64-encoded.
    body = "grant_type=client_credentials&client_secret=" + quote_plus(secret)
    return base64.urlsafe_b64encode(body.encode()).decode().rstrip("=")


def _hex(secret: str) -> str:
    return secret.encode("utf-8", "surrogatepass").hex()


def _upper(secret: str) -> str:
    return secret.upper()


def _lower(secret: str) -> str:
    return secret.lower()


def _nfd(secret: str) -> str:
    return unicodedata.normalize("NFD", secret)


def _full_width(secret: str) -> str:
    return "".join(
        chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else "\u3000" if c == " " else c
        for c in secret
    )


def _zero_width(secret: str) -> str:
    return "\u200b".join(secret)


def _quoted_printable(secret: str) -> str:
    return quopri.encodestring(secret.encode("utf-8", "surrogatepass")).decode()


def _percent_four_times(secret: str) -> str:
    for _ in range(4):
        secret = quote(secret, safe="")
    return secret


def _wrapped(secret: str) -> str:
    # Folded over lines, as a log or an HTML page wraps it.
    middle = len(secret) // 2
    return secret[:middle] + "\n    " + secret[middle:]


def _first_part(secret: str) -> str:
    # A server that shows only the start of what it got: 8 characters of a
    # secret or more are masked wherever they are.
    return secret[: max(8, len(secret) // 2)]


def _last_part(secret: str) -> str:
    return secret[-max(8, len(secret) // 2) :]


def _base64_wrapped(secret: str) -> str:
    # The request dumped as base64 in lines of 76, as encodebytes writes it.
    body = "grant_type=password&username=alice&password=" + quote_plus(secret)
    return base64.encodebytes(body.encode()).decode()


def _hex_spaced(secret: str) -> str:
    return secret.encode("utf-8", "surrogatepass").hex(" ")


def _hex_colons(secret: str) -> str:
    return secret.encode("utf-8", "surrogatepass").hex(":")


def _python_bytes(secret: str) -> str:
    return repr(secret.encode("utf-8", "surrogatepass"))


def _x_escapes(secret: str) -> str:
    return "".join(f"\\x{byte:02x}" for byte in secret.encode("utf-8", "surrogatepass"))


ENCODINGS: dict[str, Callable[[str], str]] = {
    "raw": str,
    "json-ascii": _json_ascii,
    "json-unicode": _json_unicode,
    "json-slashes": _json_slashes,
    "json-every-character": _json_every_character,
    "json-every-character-upper": _json_every_character_upper,
    "percent-upper": _percent_upper,
    "percent-lower": _percent_lower,
    "percent-plus": _percent_plus,
    "percent-latin-1": _percent_latin_1,
    "percent-every-byte": _percent_every_byte,
    "html": _html,
    "html-decimal": _html_decimal,
    "html-hex": _html_hex,
    "utf-16-as-8-bit": _utf_16,
    "percent-twice": _percent_twice,
    "json-of-percent": _json_of_percent,
    "html-of-json": _html_of_json,
    "base64": _base64,
    "base64-of-the-request-body": _base64_of_a_body,
    "hex": _hex,
    "upper-case": _upper,
    "lower-case": _lower,
    "nfd": _nfd,
    "full-width": _full_width,
    "zero-width-joined": _zero_width,
    "quoted-printable": _quoted_printable,
    "percent-four-times": _percent_four_times,
    "wrapped-over-lines": _wrapped,
    "base64-wrapped-request": _base64_wrapped,
    "hex-spaced": _hex_spaced,
    "hex-colons": _hex_colons,
    "python-bytes-repr": _python_bytes,
    "x-escapes": _x_escapes,
    "first-part": _first_part,
    "last-part": _last_part,
}
"""Name to encoder: each gives the text a server would echo."""

_CHARACTER_ENCODINGS: tuple[Callable[[str], str], ...] = (
    str,
    _json_every_character,
    _percent_upper,
    _percent_lower,
    _html_decimal,
    _html_hex,
)


@st.composite
def mixed(draw: st.DrawFn, secret: str) -> str:
    """*secret* with each character encoded its own way."""
    return "".join(draw(st.sampled_from(_CHARACTER_ENCODINGS))(c) for c in secret)


SECRETS = st.text(
    st.characters(
        exclude_categories=["Cs", "Cc"],
        include_characters="/&<>\"'%+ \\=?#:;@~",
    ),
    min_size=8,
    max_size=40,
)
"""Secrets long enough to be masked in place (8 characters or more), of any
printable text, the characters encodings treat specially drawn often."""


@st.composite
def echoes(draw: st.DrawFn, secret: str) -> tuple[str, str]:
    """A way to echo *secret*: ``(name, text)``."""
    name = draw(st.sampled_from([*ENCODINGS, "mixed"]))
    if name == "mixed":
        return name, draw(mixed(secret))
    return name, ENCODINGS[name](secret)
