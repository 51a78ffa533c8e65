"""Masking: server text with every secret we sent it taken out.

A token endpoint may echo what it got: the refresh token in an
``error_description``, the client secret in an HTML error page, the
``Authorization`` value in a debug dump. Whatever it echoes must not reach a
``str``, ``repr``, snippet, log record or stats of ours. Theory of operation:

* **A secret is found in any encoding a server may echo it in.**
  :func:`mask_secrets` searches the text as it is and as seen through up to three
  layers of decoding, each layer undoing, in any mix, JSON escapes
  (``\\/``, ``\\uXXXX`` for any character), percent-encoding in either case
  (UTF-8, or Latin-1 bytes that are not UTF-8), ``+`` for a space, and HTML
  character references. A match in a decoded view masks the characters of
  the original text it came from. In each view it looks for the secret in
  other character encodings too: its UTF-16 and UTF-32 bytes, and its UTF-8
  bytes, each read as 8-bit text (what a server that decodes or re-encodes
  in the wrong charset echoes).
* **A short secret withholds, it does not mask.** Masking ``k`` in
  ``network`` gives ``networ***``, which shows the secret as surely as
  printing it. A secret shorter than :data:`MIN_MASKED` characters found in a
  text makes the whole text :data:`WITHHELD`.
* **A cut text masks the secret it cut.** A text cut to a snippet's length may
  end with the start of a secret; when a text is marked ``truncated``, an end
  that is the first four or more characters of a secret is masked too.
* Beyond the named secrets, the values of ``access_token``,
  ``refresh_token`` and ``id_token`` members and anything shaped like a JWT
  are masked in every view.

Masking is for text a server sent. Our own messages hold no secret by
construction and are never masked: masking them could only garble them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Sequence

import attrs

from ._errors import HttpError, MalformedResponse, OAuthError, TokenError

__all__ = [
    "MASK",
    "MIN_MASKED",
    "READ_FOR_ERRORS",
    "SNIPPET_LENGTH",
    "WITHHELD",
    "body_text",
    "excerpt",
    "mask_code",
    "mask_secrets",
    "redact",
]

MASK = "***"
"""What a secret is replaced with."""
WITHHELD = "[withheld: it held a credential too short to mask]"
"""What a text holding a short secret is replaced with, whole."""
MIN_MASKED = 8
"""Secrets shorter than this withhold the text they are found in."""
SNIPPET_LENGTH = 200
"""The most characters of server text an error carries in one field."""
READ_FOR_ERRORS = 65_536
"""How much of a body an error reads: enough for any snippet, bounded
however large the body (masking looks through every encoding, so it costs
more than a read)."""
_MIN_PARTIAL = 4
# The RFC 6749 §5.2 codes and their registered kin, kept as they are: the
# session decides on them (invalid_grant, the retryable ones), and a code is
# our protocol's word, not a server's echo.
_KNOWN_CODES = frozenset(
    {
        "invalid_request",
        "invalid_client",
        "invalid_grant",
        "unauthorized_client",
        "unsupported_grant_type",
        "invalid_scope",
        "access_denied",
        "server_error",
        "temporarily_unavailable",
        "slow_down",
        "authorization_pending",
        "expired_token",
        "invalid_target",
        "invalid_dpop_proof",
        "use_dpop_nonce",
        "invalid_token",
        "insufficient_scope",
    }
)
# One layer of the encodings a server may echo text in; group names say which.
_ESCAPE = (
    r"\\u(?P<u>[0-9A-Fa-f]{4})(?:\\u(?P<low>[dD][c-fC-F][0-9A-Fa-f]{2}))?"
    r"|\\(?P<short>[\"\\/bfnrt'])"
    r"|(?P<pct>(?:%[0-9A-Fa-f]{2})+)"
    r"|&#[xX](?P<hex>[0-9A-Fa-f]{1,6});?"
    r"|&#(?P<dec>[0-9]{1,7});?"
    r"|&(?P<name>[A-Za-z][A-Za-z0-9]{1,31};?)"
    r"|(?P<plus>\+)"
)
_SHORT_ESCAPES = {
    '"': '"',
    "\\": "\\",
    "/": "/",
    "b": "\b",
    "f": "\f",
    "n": "\n",
    "r": "\r",
    "t": "\t",
    "'": "'",
}
_LAYERS = 3
# Token members and JWT shapes: masked wherever they appear.
_TOKEN_MEMBER_JSON = (
    r'"(?:access_token|refresh_token|id_token)"\s*:\s*"(?P<v>(?:[^"\\]|\\.)*)'
)
_TOKEN_MEMBER_FORM = (
    r"(?:^|[&?\s])(?:access_token|refresh_token|id_token)=(?P<v>[^&\s]*)"
)
_B64 = r"[A-Za-z0-9_-]"
# A match starts only where a base64url run starts, and the possessive
# quantifiers never give back: linear time, even on a megabyte of base64.
_SEGMENT = rf"{_B64}*+={{0,2}}"
_LONG_SEGMENT = rf"{_B64}{{10,}}+={{0,2}}"
_JWT_SHAPED = (
    rf"(?<!{_B64})(?:eyJ{_SEGMENT}(?:\.{_SEGMENT}){{2,4}}"
    rf"|{_LONG_SEGMENT}\.{_LONG_SEGMENT}\.{_LONG_SEGMENT})"
)


# -- finding them in what a server sent ---------------------------------------


class _View:
    """The text as seen through some layers of decoding.

    ``starts[i]`` is where the character ``i`` of ``text`` begins in the
    original text; ``starts[len(text)]`` is the original's length. A
    character of the view covers the original from its start to the next
    one's.
    """

    __slots__ = ("starts", "text")

    def __init__(self, text: str, starts: Sequence[int]) -> None:
        self.text = text
        self.starts = starts


def _decode(view: _View, *, plus: bool) -> _View | None:
    """*view* with one more layer decoded, or None if it has nothing to decode."""
    text = view.text
    out: list[str] = []
    starts: list[int] = []
    position = 0
    changed = False
    for match in re.finditer(_ESCAPE, text):
        # lastgroup names the last group that matched: a surrogate pair's
        # second half, rather than the \u escape it belongs to.
        kind = "u" if match.group("u") is not None else match.lastgroup
        if kind == "plus" and not plus:
            continue
        begin, end = match.span()
        out.extend(text[position:begin])
        starts.extend(range(position, begin))
        position = end
        decoded = _unescape(match, kind)
        if decoded is None:  # not an escape after all: keep it literally
            out.extend(text[begin:end])
            starts.extend(range(begin, end))
            continue
        changed = True
        for offset, chars in decoded:
            for char in chars:  # an HTML entity may stand for two
                out.append(char)
                starts.append(begin + offset)
    if not changed:
        return None
    out.extend(text[position:])
    starts.extend(range(position, len(text) + 1))
    # Back to the original text's positions through the layers below.
    below = view.starts
    return _View(text="".join(out), starts=[below[start] for start in starts])


def _unescape(match: re.Match[str], kind: str | None) -> list[tuple[int, str]] | None:
    """The characters an escape stands for, each with its offset in it."""
    if kind == "u":
        code = int(match.group("u"), 16)
        low = match.group("low")
        if low is None:
            return [(0, chr(code))]
        if 0xD800 <= code <= 0xDBFF:  # a surrogate pair: one character
            pair = 0x10000 + ((code - 0xD800) << 10) + (int(low, 16) - 0xDC00)
            return [(0, chr(pair))]
        return [(0, chr(code)), (6, chr(int(low, 16)))]
    if kind == "short":
        return [(0, _SHORT_ESCAPES[match.group("short")])]
    if kind == "pct":
        return _percent(match.group("pct"))
    if kind == "hex" or kind == "dec":
        code = int(match.group(kind), 16 if kind == "hex" else 10)
        return [(0, chr(code))] if code <= 0x10FFFF else None
    if kind == "name":
        from html.entities import html5

        # With its ";", or one of the legacy names HTML reads without.
        char = html5.get(match.group("name"))
        return None if char is None else [(0, char)]
    assert kind == "plus"
    return [(0, " ")]


def _percent(run: str) -> list[tuple[int, str]]:
    # A run of %HH: UTF-8 where the bytes are UTF-8, else one character per
    # byte (Latin-1, as older servers encode).
    data = bytes(int(run[i + 1 : i + 3], 16) for i in range(0, len(run), 3))
    chars: list[tuple[int, str]] = []
    index = 0
    while index < len(data):
        lead = data[index]
        size = 1 if lead < 0x80 else 2 if lead < 0xE0 else 3 if lead < 0xF0 else 4
        try:
            char = data[index : index + size].decode("utf-8")
        except UnicodeDecodeError:
            size, char = 1, chr(lead)
        chars.append((3 * index, char))
        index += size
    return chars


def _views(text: str) -> list[_View]:
    plain = _View(text=text, starts=range(len(text) + 1))
    views = [plain]
    if re.search(_ESCAPE, text) is None:
        return views
    for plus in (False, True):
        view: _View | None = plain
        for _ in range(_LAYERS):
            assert view is not None
            view = _decode(view, plus=plus)
            if view is None:
                break
            views.append(view)
    return views


def _occurrences(haystack: str, needle: str) -> Iterator[int]:
    index = haystack.find(needle)
    while index >= 0:
        yield index
        index = haystack.find(needle, index + 1)


def _patterns() -> list[re.Pattern[str]]:
    return [
        re.compile(_TOKEN_MEMBER_JSON),
        re.compile(_TOKEN_MEMBER_FORM),
        re.compile(_JWT_SHAPED),
    ]


def mask_secrets(
    text: str, secrets: Iterable[str] = (), *, truncated: bool = False
) -> str:
    """*text*, a server's, with every secret and token in it masked.

    Args:
      text: what the server sent (a body, a description, a header).
      secrets: the credentials of the request it answers (see
        :func:`request_secrets`), found in any encoding the module notes list.
      truncated: whether *text* was cut from a longer one, so that its end
        may be the start of a secret.

    Returns:
      The text with each secret, token member value and JWT-shaped run
      replaced by ``***``; or :data:`WITHHELD` if it holds a secret shorter
      than :data:`MIN_MASKED` characters.
    """
    wanted = [(secret, _spellings(secret)) for secret in secrets if secret]
    spans: list[tuple[int, int]] = []
    for view in _views(text):
        shown, starts = view.text, view.starts
        for secret, spellings in wanted:
            for spelling in spellings:
                for index in _occurrences(shown, spelling):
                    if len(secret) < MIN_MASKED:
                        return WITHHELD
                    spans.append((starts[index], starts[index + len(spelling)]))
            if truncated:
                spans.extend(_cut_secret(view, secret))
        for pattern in _patterns():
            for match in pattern.finditer(shown):
                begin, end = (
                    match.span("v") if "v" in pattern.groupindex else match.span()
                )
                if end > begin:
                    spans.append((starts[begin], starts[end]))
    return _replace(text, spans)


def _spellings(secret: str) -> set[str]:
    # The secret, and its bytes in other encodings read as 8-bit text.
    spellings = {secret}
    for codec in ("utf-8", "utf-16-le", "utf-16-be", "utf-32-le", "utf-32-be"):
        spellings.add(secret.encode(codec, "surrogatepass").decode("latin-1"))
    return spellings


def _cut_secret(view: _View, secret: str) -> list[tuple[int, int]]:
    # The longest start of *secret* the text ends with, from four characters.
    shown = view.text
    for length in range(len(secret) - 1, min(_MIN_PARTIAL, len(secret)) - 1, -1):
        if shown.endswith(secret[:length]):
            return [(view.starts[len(shown) - length], view.starts[len(shown)])]
    return []


def _replace(text: str, spans: list[tuple[int, int]]) -> str:
    if not spans:
        return text
    pieces = []
    position = 0
    for begin, end in sorted(spans):
        if end <= position:
            continue
        if begin > position:
            pieces.append(text[position:begin])
            pieces.append(MASK)
        elif not pieces or pieces[-1] != MASK:
            pieces.append(MASK)
        position = end
    pieces.append(text[position:])
    return "".join(pieces)


def mask_code(code: str, secrets: Iterable[str]) -> str:
    """An OAuth ``error`` code: a registered one as it is, else masked.

    A registered code that is itself one of the secrets (an API key that
    happens to read ``slow_down``) is masked like any text: the session then
    takes it for an unknown, final error, the safe reading.
    """
    wanted = list(secrets)
    if code in _KNOWN_CODES and code not in wanted:
        return code
    return excerpt(code, wanted, SNIPPET_LENGTH, flatten=False)


# -- errors -------------------------------------------------------------------


def redact(error: TokenError, secrets: Sequence[str]) -> TokenError:
    """*error* with the text its server sent masked of *secrets*.

    The library's error types are known field by field: the server's words
    (an OAuth error's code, description and URI; a snippet; a content type;
    a redirect's location) are masked, our own (a reason) are not. A text
    *limit* characters long is taken as cut, so a secret it ends in the
    middle of is masked too. Other errors are returned as they are.
    """
    limit = SNIPPET_LENGTH
    if not secrets:
        return error
    if isinstance(error, OAuthError):
        return attrs.evolve(
            error,
            error=mask_code(error.error, secrets),
            description=_optional(error.description, secrets, limit),
            uri=_optional(error.uri, secrets, limit),
        )
    if isinstance(error, HttpError):
        return attrs.evolve(
            error,
            content_type=_optional(error.content_type, secrets, limit),
            snippet=_masked(error.snippet, secrets, limit),
            location=_optional(error.location, secrets, limit),
        )
    if isinstance(error, MalformedResponse):
        return attrs.evolve(
            error,
            content_type=_optional(error.content_type, secrets, limit),
            snippet=_masked(error.snippet, secrets, limit),
        )
    return error


def _masked(text: str, secrets: Sequence[str], limit: int) -> str:
    return mask_secrets(text, secrets, truncated=len(text) >= limit)


def _optional(text: str | None, secrets: Sequence[str], limit: int) -> str | None:
    return None if text is None else _masked(text, secrets, limit)


def excerpt(
    text: str,
    secrets: Iterable[str],
    limit: int,
    *,
    flatten: bool,
    truncated: bool = False,
) -> str:
    """At most *limit* characters of server *text*, masked before and after
    the cut (so that the cut cannot leave the start of a secret).

    Args:
      text: the server's text.
      secrets: what to mask (see :func:`mask_secrets`).
      limit: the most characters kept.
      flatten: whether to fold every run of whitespace into one space.
      truncated: whether *text* itself was cut from a longer one.
    """
    wanted = list(secrets)
    masked = mask_secrets(text, wanted, truncated=truncated)
    if flatten:
        masked = " ".join(masked.split())
    if len(masked) <= limit:
        return masked
    return mask_secrets(masked[:limit], wanted, truncated=True)


def body_text(body: bytes, content_type: str | None) -> tuple[str, bool]:
    """What a server's body says, as text, and whether it was cut (at
    :data:`READ_FOR_ERRORS` bytes).

    In its declared charset, or the one its BOM names, or UTF-8, or failing
    that Latin-1: a secret echoed in the server's own encoding must read as
    itself to be masked, not as a run of replacement characters around its
    ASCII letters.
    """
    cut = len(body) > READ_FOR_ERRORS
    data = body[:READ_FOR_ERRORS]
    for bom, codec in _BOMS:
        if data.startswith(bom):
            return data[len(bom) :].decode(codec, "replace"), cut
    charset = re.search(r"(?i);\s*charset=\"?([\w.:-]+)", content_type or "")
    codecs = ("utf-8", "latin-1") if charset is None else (charset.group(1), "utf-8")
    for codec in codecs:
        try:
            return data.decode(codec), cut
        except (LookupError, UnicodeDecodeError):
            pass
    return data.decode("latin-1"), cut


_BOMS = (
    (b"\xef\xbb\xbf", "utf-8"),
    (b"\xff\xfe\x00\x00", "utf-32-le"),
    (b"\x00\x00\xfe\xff", "utf-32-be"),
    (b"\xff\xfe", "utf-16-le"),
    (b"\xfe\xff", "utf-16-be"),
)
