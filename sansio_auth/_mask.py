"""Masking: server text with every secret we sent it taken out.

A token endpoint may echo what it got: the refresh token in an
``error_description``, the client secret in an HTML error page, the
``Authorization`` value in a debug dump. Whatever it echoes must not reach a
``str``, ``repr``, snippet, log record or stats of ours. Theory of operation:

* **A secret is found however it is echoed.** :func:`mask_secrets` searches
  the text as it is and each view ``_views`` gives of it (decoded through
  layers of JSON, percent, plus, HTML and quoted-printable escapes, and
  folded: case, Unicode form, zero-width characters, line wrapping), for the
  secret and for its bytes in other character encodings read as 8-bit text
  (UTF-16, UTF-32, UTF-8 read as Latin-1). A run of base64 or hex that decodes
  to text holding a secret is masked whole. A match in a view masks the
  characters of the original text it came from.
* **So is a piece of one.** Any run of 8 or more characters of a secret is
  masked, so a server that echoes half a key, or a cut that halves one,
  shows none of it; at the end of a text that was cut, a start of 4 to 7
  characters is masked too.
* **A short secret withholds, it does not mask.** Masking ``k`` in
  ``network`` gives ``networ***``, which shows the secret as surely as
  printing it. A secret shorter than :data:`MIN_MASKED` characters found in a
  text (whole, or its start at a cut) makes the whole text :data:`WITHHELD`.
* Beyond the named secrets, the value of an ``access_token``,
  ``refresh_token`` or ``id_token`` member in any syntax (JSON, a form, a
  query or fragment, a Python dict, XML, YAML) and anything shaped like a JWT
  are masked in every view.
* **The work is bounded.** Every text is looked at through at most
  :data:`MASK_WINDOW` characters (an excerpt needs far fewer), and a secret
  that matches implausibly often withholds the text rather than cost more.

Masking is for text a server sent. Our own messages hold no secret by
construction and are never masked: masking them could only garble them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator

from ._views import View, fold, unwrapped, views

__all__ = [
    "MASK",
    "MASK_WINDOW",
    "MIN_MASKED",
    "READ_FOR_ERRORS",
    "SNIPPET_LENGTH",
    "WITHHELD",
    "body_text",
    "excerpt",
    "holds_secret",
    "mask_code",
    "mask_secrets",
    "printable",
]

MASK = "***"
"""What a secret is replaced with."""
WITHHELD = "[withheld: it may hold a credential]"
"""What a text holding a short secret is replaced with, whole."""
MIN_MASKED = 8
"""Secrets shorter than this withhold the text they are found in."""
SNIPPET_LENGTH = 200
"""The most characters of server text an error carries in one field."""
READ_FOR_ERRORS = 65_536
"""How much of a body an error reads: enough for any snippet, bounded
however large the body (masking looks through every encoding, so it costs
more than a read)."""
MASK_WINDOW = 8192
"""The most characters of one text that masking looks at; an excerpt of it
keeps the first :data:`SNIPPET_LENGTH` after masking."""
_MIN_PARTIAL = 4
_FRAGMENT = 8  # the shortest run of a secret masked on its own
_MAX_MATCHES = 1000  # more matches of one needle: a hostile text, withheld
_LONGEST = 4096  # the most characters of one secret looked for
_MAX_RUNS = 256  # base64 or hex runs decoded for one text, in all its views
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
# Token members and JWT shapes: masked wherever they appear. A member in
# JSON, whose value may hold escapes, and in any other syntax: a form, a
# query or fragment, a Python dict, XML, YAML, PHP.
_TOKEN_MEMBER_JSON = (
    r'"(?:access_token|refresh_token|id_token)"\s*:\s*"(?P<v>(?:[^"\\]|\\.)*)'
)
_TOKEN_MEMBER = (
    r"(?i)(?:access|refresh|id)_?token[\"']?\s*(?:=>|[:=>])\s*[\"']?"
    r"(?P<v>[^\s\"'&<>,;}\]#]+)"
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
# Runs that may be a secret encoded whole: base64 (either alphabet) and hex.
_BASE64_RUN = r"(?<![A-Za-z0-9+/_-])[A-Za-z0-9+/_-]{11,}+={0,2}"
# Hex, its bytes perhaps apart ("c3 a9", "c3:a9", "c3-a9"); a run of 16
# digits or more is decoded.
_HEX_RUN = r"(?<![0-9A-Fa-f])[0-9A-Fa-f]++(?:[\s:.-][0-9A-Fa-f]++)*+"
# An escape cut short at the end of a text: "%7", "\u00", "&#x4".
_CUT_ESCAPE = r"(?:%[0-9A-Fa-f]?|\\(?:u[0-9A-Fa-f]{0,3})?|&#?[xX]?[0-9A-Za-z]{0,7})$"


class _Withhold(Exception):
    """The text must be withheld whole."""


class _Secret:
    """A secret and what to look for to find it in each kind of view.

    Only its first :data:`_LONGEST` characters: no real credential is longer,
    and a window of text could hold no more of one anyway.
    """

    __slots__ = ("folded", "short", "spellings", "text")

    def __init__(self, text: str) -> None:
        text = text[:_LONGEST]
        self.text = text
        self.short = len(text) < MIN_MASKED
        # Its bytes in other encodings, read as 8-bit text.
        spellings = {text}
        for codec in ("utf-8", "utf-16-le", "utf-16-be", "utf-32-le", "utf-32-be"):
            spellings.add(text.encode(codec, "surrogatepass").decode("latin-1"))
        self.spellings = spellings
        self.folded = fold(text)


class _Wanted:
    """The secrets to look for, and every run of 8 characters of the ones
    long enough to mask in place (as they are, and folded), in a set: a
    text is scanned once for all of them, in time linear in its length."""

    __slots__ = ("folded_grams", "grams", "secrets")

    def __init__(self, secrets: Iterable[str]) -> None:
        self.secrets = [_Secret(secret) for secret in secrets if secret]
        long = [secret for secret in self.secrets if not secret.short]
        self.grams = _grams(secret.text for secret in long)
        self.folded_grams = _grams(secret.folded for secret in long)

    def long(self) -> _Wanted:
        """These secrets without the short ones (which turn up by chance)."""
        wanted = _Wanted(())
        wanted.secrets = [secret for secret in self.secrets if not secret.short]
        wanted.grams, wanted.folded_grams = self.grams, self.folded_grams
        return wanted


def _grams(texts: Iterable[str]) -> frozenset[str]:
    return frozenset(
        text[i : i + _FRAGMENT]
        for text in texts
        for i in range(len(text) - _FRAGMENT + 1)
    )


def _prepare(secrets: Iterable[str]) -> _Wanted:
    return _Wanted(secrets)


def mask_secrets(
    text: str, secrets: Iterable[str] = (), *, truncated: bool = False
) -> str:
    """*text*, a server's, with every secret and token in it masked.

    Args:
      text: what the server sent (a body, a description, a header). Only its
        first :data:`MASK_WINDOW` characters are kept.
      secrets: the credentials of the request it answers (see
        :func:`~sansio_auth.request_secrets`), found however the module notes
        say a server echoes them.
      truncated: whether *text* was cut from a longer one, so that its end
        may be the start of a secret.

    Returns:
      The text with each secret (or run of 8 characters of one), token
      member value and JWT-shaped run replaced by ``***``; or
      :data:`WITHHELD` if it holds a secret shorter than :data:`MIN_MASKED`
      characters, or matches one implausibly often.
    """
    return _mask(text, _prepare(secrets), truncated)


def _mask(text: str, wanted: _Wanted, truncated: bool) -> str:
    if len(text) > MASK_WINDOW:
        text, truncated = text[:MASK_WINDOW], True
    try:
        spans = _spans(text, wanted, truncated)
    except _Withhold:
        return WITHHELD
    return _replace(text, spans)


def _spans(text: str, wanted: _Wanted, truncated: bool) -> list[tuple[int, int]]:
    spans: list[tuple[int, int]] = []
    budget = [_MAX_RUNS]  # encoded runs to decode, in all the views
    for view in views(text):
        shown = view.text
        for begin, end, short in _found(view, wanted):
            if short:
                raise _Withhold
            # A run of a secret that begins or ends with a space leaves the
            # space beside the echo ("bad token ***", not "bad token***").
            while begin < end and shown[begin].isspace():
                begin += 1
            while begin < end and shown[end - 1].isspace():
                end -= 1
            if begin < end:
                spans.append(view.span(begin, end))
        if truncated:
            for secret in wanted.secrets:
                spans.extend(_cut_secret(view, secret))
        if not view.folded:
            for pattern in (_TOKEN_MEMBER_JSON, _TOKEN_MEMBER, _JWT_SHAPED):
                for match in re.finditer(pattern, shown):
                    named = "(?P<v>" in pattern
                    begin, end = match.span("v") if named else match.span()
                    if end > begin:
                        spans.append(view.span(begin, end))
            spans.extend(_encoded_runs(view, wanted, budget))
    return spans


def _found(view: View, wanted: _Wanted) -> Iterator[tuple[int, int, bool]]:
    """Where a secret (whole, in any spelling) or a run of 8 characters of
    one is in *view*: ``(begin, end, short)``, *short* for a secret too
    short to mask in place."""
    shown = view.text
    count = 0
    for secret in wanted.secrets:
        needles = [secret.folded] if view.folded else secret.spellings
        for needle in needles:
            index = shown.find(needle)
            while index >= 0:
                count += 1
                if count > _MAX_MATCHES:
                    raise _Withhold
                yield index, index + len(needle), secret.short
                index = shown.find(needle, index + 1)
    grams = wanted.folded_grams if view.folded else wanted.grams
    if grams:
        for index in range(len(shown) - _FRAGMENT + 1):
            if shown[index : index + _FRAGMENT] in grams:
                count += 1
                if count > _MAX_MATCHES:
                    raise _Withhold
                yield index, index + _FRAGMENT, False


def holds_secret(text: str, secrets: Iterable[str]) -> bool:
    """Whether *text* holds one of *secrets* of 8 characters or more, in any
    form :func:`mask_secrets` finds one (a shorter one turns up by chance)."""
    wanted = _prepare(secrets).long()
    window = text[:MASK_WINDOW]
    budget = [_MAX_RUNS]
    try:
        return _holds(window, wanted) or any(
            _encoded_runs(view, wanted, budget)
            for view in views(window)
            if not view.folded
        )
    except _Withhold:
        return True


def _cut_secret(view: View, secret: _Secret) -> list[tuple[int, int]]:
    # The start of a secret, 4 to 7 characters, that a cut left at the end of
    # the text (longer starts are runs of it, found already); an escape the
    # cut halved is dropped before looking, and masked with it.
    shown = view.text
    tail = re.sub(_CUT_ESCAPE, "", shown)
    target = secret.folded if view.folded else secret.text
    for length in range(min(len(target) - 1, _FRAGMENT - 1), _MIN_PARTIAL - 1, -1):
        if tail.endswith(target[:length]):
            if secret.short:
                raise _Withhold
            return [(view.starts[len(tail) - length], view.ends[len(shown) - 1])]
    return []


def _encoded_runs(
    view: View, wanted: _Wanted, budget: list[int]
) -> list[tuple[int, int]]:
    """Runs of base64 or hex that decode to text holding a secret (in any
    view of it: a base64 dump of the form we sent holds it percent-encoded).
    Looked for in the view and in it unwrapped (base64 is written in lines
    of 76). A run may start in the middle of the encoding of what it echoes,
    or run on past it, so each alignment is tried, whole and cut to full
    quanta; hex may have separators between its bytes."""
    long = wanted.long()
    if not long.secrets:
        return []
    import binascii

    spans = []
    for seen in (view, unwrapped(view)):
        text = seen.text
        for match in re.finditer(_BASE64_RUN, text):
            _spend(budget)
            bare = match.group().rstrip("=").translate(str.maketrans("-_", "+/"))
            decoded = []
            for skip in range(4):
                piece = bare[skip:]
                for part in (piece, piece[: len(piece) // 4 * 4]):
                    if len(part) % 4 != 1:  # a length base64 cannot have
                        decoded.append(
                            binascii.a2b_base64(part + "=" * (-len(part) % 4))
                        )
            # One layer of base64 or hex is looked through, as it was
            # written (not in another case: that is no encoding of ours).
            if any(
                _holds(data.decode("latin-1"), long, folded=False) for data in decoded
            ):
                spans.append(seen.span(*match.span()))
        for match in re.finditer(_HEX_RUN, text):
            run = re.sub(r"[^0-9A-Fa-f]", "", match.group())
            if len(run) < 16:
                continue
            _spend(budget)
            pieces = (run[: len(run) // 2 * 2], run[1:][: (len(run) - 1) // 2 * 2])
            if any(
                _holds(bytes.fromhex(p).decode("latin-1"), long, folded=False)
                for p in pieces
            ):
                spans.append(seen.span(*match.span()))
    return spans


def _spend(budget: list[int]) -> None:
    # A text that makes us decode this many runs is built to cost: withheld.
    budget[0] -= 1
    if budget[0] < 0:
        raise _Withhold


def _holds(plain: str, wanted: _Wanted, *, folded: bool = True) -> bool:
    return any(
        next(_found(view, wanted), None) is not None
        for view in views(plain[:MASK_WINDOW], folded=folded)
    )


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


def excerpt(
    text: str,
    secrets: Iterable[str],
    limit: int,
    *,
    flatten: bool,
    truncated: bool = False,
) -> str:
    """At most *limit* characters of server *text*, masked before and after
    the cut (so that the cut cannot leave the start of a secret), and made
    printable.

    Args:
      text: the server's text.
      secrets: what to mask (see :func:`mask_secrets`).
      limit: the most characters kept.
      flatten: whether to fold every run of whitespace into one space.
      truncated: whether *text* itself was cut from a longer one.
    """
    wanted = _prepare(secrets)
    masked = _mask(text, wanted, truncated)
    if flatten:
        masked = " ".join(masked.split())
    masked = printable(masked)
    if len(masked) <= limit:
        return masked
    return _mask(masked[:limit], wanted, True)


def printable(text: str) -> str:
    """*text* with every character a terminal or a log would act on written
    as an escape: controls (an escape sequence that rewrites the screen or
    the clipboard, a line break that forges a log line), format characters
    (a right-to-left override) and line separators, as ``\\x1b`` or
    ``\\u202e``. A server's words are shown, never obeyed."""
    if text.isprintable():
        return text
    return "".join(
        char
        if char.isprintable() or char == " "
        else f"\\x{ord(char):02x}"
        if ord(char) < 0x100
        else f"\\u{ord(char):04x}"
        if ord(char) < 0x10000
        else f"\\U{ord(char):08x}"
        for char in text
    )


def body_text(body: bytes, content_type: str | None) -> tuple[str, bool]:
    """What a server's body says, as text, and whether it was cut (at
    :data:`READ_FOR_ERRORS` bytes).

    In the charset its BOM names, or the one it declares (if it is one text
    is sent in: the server does not get to choose any codec Python has), or
    UTF-8, or failing that Latin-1: a secret echoed in the server's own
    encoding must read as itself to be masked, not as a run of replacement
    characters around its ASCII letters. A character the cut halved is left
    out, not read as Latin-1.
    """
    cut = len(body) > READ_FOR_ERRORS
    data = body[:READ_FOR_ERRORS]
    for bom, codec in _BOMS:
        if data.startswith(bom):
            return data[len(bom) :].decode(codec, "replace"), cut
    declared = re.search(r"(?i);\s*charset=\"?([\w.:-]+)", content_type or "")
    charset = None if declared is None else declared.group(1).lower()
    codecs = ["utf-8", "latin-1"]
    if charset in _CHARSETS:
        codecs.insert(0, _CHARSETS[charset])
    for codec in codecs:
        try:
            return data.decode(codec), cut
        except UnicodeDecodeError as exc:
            if cut and codec == "utf-8" and exc.start >= len(data) - 3:
                return data[: exc.start].decode(codec, "replace"), cut
    raise AssertionError("Latin-1 decodes any bytes")  # pragma: no cover


# The charsets text is sent in, by the names servers give them.
_CHARSETS = {
    "utf-8": "utf-8",
    "utf8": "utf-8",
    "us-ascii": "ascii",
    "ascii": "ascii",
    "iso-8859-1": "latin-1",
    "iso8859-1": "latin-1",
    "latin-1": "latin-1",
    "latin1": "latin-1",
    "windows-1252": "cp1252",
    "cp1252": "cp1252",
    "utf-16": "utf-16",
    "utf-16le": "utf-16-le",
    "utf-16be": "utf-16-be",
    "utf-32": "utf-32",
    "utf-32le": "utf-32-le",
    "utf-32be": "utf-32-be",
}
_BOMS = (
    (b"\xef\xbb\xbf", "utf-8"),
    (b"\xff\xfe\x00\x00", "utf-32-le"),
    (b"\x00\x00\xfe\xff", "utf-32-be"),
    (b"\xff\xfe", "utf-16-le"),
    (b"\xfe\xff", "utf-16-be"),
)
