"""Server text seen as a reader would see it: decoded, and folded.

A secret echoed by a server is not always echoed as itself. It may come back
JSON-escaped (``\\/``, ``\\uXXXX`` for any character), percent-encoded in
either case (UTF-8 bytes, or Latin-1 ones), with ``+`` for a space, as HTML
character references, quoted-printable, or in layers of these; or in another
case, another Unicode normal form, full-width, with zero-width characters
between its letters, or wrapped over lines. :func:`views` gives the text as
it is and as seen through each of those, so that a search for the secret
finds it in any of them; each character of a view knows where it came from
in the original text, so that what is found there can be masked there.

Decoding is applied layer upon layer until a layer changes nothing (each
one shortens the text, so this ends), at most :data:`LAYERS` deep; then each
view is also *folded*: every character to its compatibility decomposition in
lower case (NFKD, casefold), format characters (zero-width joiners, soft
hyphens) and whitespace dropped, so that a secret wrapped over lines, even
in the middle of a word, reads whole.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

__all__ = ["LAYERS", "View", "fold", "unwrapped", "views"]

LAYERS = 8
"""The deepest layering of encodings decoded."""
# One layer of the encodings a server may echo text in; group names say
# which. (Compiled on first use, which re caches: only error paths look.)
_ESCAPE = (
    r"\\u(?P<u>[0-9A-Fa-f]{4})(?:\\u(?P<low>[dD][c-fC-F][0-9A-Fa-f]{2}))?"
    r"|\\(?P<short>[\"\\/bfnrt'])"
    r"|(?P<pct>(?:%[0-9A-Fa-f]{2})+)"
    r"|(?P<xhex>(?:\\x[0-9A-Fa-f]{2})+)"
    r"|&#[xX](?P<hex>[0-9A-Fa-f]{1,6});?"
    r"|&#(?P<dec>[0-9]{1,7});?"
    r"|&(?P<name>[A-Za-z][A-Za-z0-9]{1,31};?)"
    r"|(?P<plus>\+)"
)
# Quoted-printable, a chain of its own: "=00" in a query is no escape, and
# read as one it would hide the percent-encoding beside it.
_QUOTED_PRINTABLE = r"(?P<qp>(?:=[0-9A-F]{2}|=\r?\n)+)"
_BYTE = r"(?:[%=]|\\x)([0-9A-Fa-f]{2})"
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


class View:
    """The text as seen through some decoding or folding.

    The character ``i`` of ``text`` came from ``original[starts[i]:ends[i]]``
    (an escape, or a character of it). ``folded`` says whether the view was
    folded (a search there looks for the folded secret).
    """

    __slots__ = ("ends", "folded", "starts", "text")

    def __init__(
        self, text: str, starts: Sequence[int], ends: Sequence[int], *, folded: bool
    ) -> None:
        self.text = text
        self.starts = starts
        self.ends = ends
        self.folded = folded

    def span(self, begin: int, end: int) -> tuple[int, int]:
        """Where ``text[begin:end]`` (not empty) came from in the original."""
        return self.starts[begin], self.ends[end - 1]

    def above(self, text: str, spans: list[tuple[int, int]], *, folded: bool) -> View:
        """A view of this one: *text*, whose characters came from *spans* of
        this view's text, taken back to the original's positions."""
        return View(
            text,
            [self.starts[begin] for begin, _ in spans],
            [self.ends[end - 1] for _, end in spans],
            folded=folded,
        )


def _plain(text: str) -> View:
    return View(text, range(len(text)), range(1, len(text) + 1), folded=False)


def views(text: str, *, folded: bool = True) -> list[View]:
    """*text* as it is, through each layering of encodings, and folded.

    Args:
      text: a server's text (bounded by the caller: the work is linear in
        its length times the number of layers).
      folded: whether to add the folded views (case, Unicode form,
        whitespace), the costliest.

    Returns:
      The views, the text as it is first.
    """
    plain = _plain(text)
    found = [plain]
    chains = [(_ESCAPE, False), (_ESCAPE, True), (_QUOTED_PRINTABLE, False)]
    for escape, plus in chains:
        if re.search(escape, text) is None:
            continue
        view = plain
        for _ in range(LAYERS):
            decoded = _decode(view, escape, plus=plus)
            if decoded is None:
                break
            found.append(decoded)
            view = decoded
    if not folded:
        return found
    # A view already folded (all lower case, say) is its own folded view:
    # the folded secret is looked for in it too.
    folded_views = [
        _fold(view) or View(view.text, view.starts, view.ends, folded=True)
        for view in found
    ]
    return found + folded_views


def fold(text: str) -> str:
    """*text* folded as :func:`views` folds (for the secret to look for)."""
    view = _fold(_plain(text))
    return text if view is None else view.text


def unwrapped(view: View) -> View:
    """*view* with its whitespace taken out, case and all else kept: base64
    written in lines reads as one run."""
    text = view.text
    kept = [index for index, char in enumerate(text) if not char.isspace()]
    if len(kept) == len(text):
        return view
    return view.above(
        "".join(text[i] for i in kept), [(i, i + 1) for i in kept], folded=view.folded
    )


def _fold(view: View) -> View | None:
    import unicodedata

    text = view.text
    out: list[str] = []
    spans: list[tuple[int, int]] = []
    for index, char in enumerate(text):
        if char.isspace() or unicodedata.category(char) == "Cf":
            continue  # a line break, a zero-width joiner: not a letter
        for piece in unicodedata.normalize("NFKD", char).casefold():
            out.append(piece)
            spans.append((index, index + 1))
    folded = "".join(out)
    if folded == text:
        return None
    return view.above(folded, spans, folded=True)


def _decode(view: View, escape: str, *, plus: bool) -> View | None:
    """*view* with one more layer of *escape* decoded, or None if it has
    nothing to decode."""
    text = view.text
    out: list[str] = []
    spans: list[tuple[int, int]] = []
    position = 0
    changed = False
    for match in re.finditer(escape, text):
        # lastgroup names the last group that matched: a surrogate pair's
        # second half, rather than the \u escape it belongs to.
        kind = "u" if match.groupdict().get("u") is not None else match.lastgroup
        if kind == "plus" and not plus:
            continue
        begin, end = match.span()
        out.extend(text[position:begin])
        spans.extend((i, i + 1) for i in range(position, begin))
        position = end
        decoded = _unescape(match, kind)
        if decoded is None:  # not an escape after all: keep it literally
            out.extend(text[begin:end])
            spans.extend((i, i + 1) for i in range(begin, end))
            continue
        changed = True
        # Each character covers its escape up to where the next one begins.
        offsets = [offset for offset, _ in decoded[1:]] + [end - begin]
        for (offset, chars), following in zip(decoded, offsets, strict=False):
            for char in chars:  # an HTML entity may stand for two
                out.append(char)
                spans.append((begin + offset, begin + following))
    if not changed:
        return None
    out.extend(text[position:])
    spans.extend((i, i + 1) for i in range(position, len(text)))
    # Back to the original text's positions through the layers below.
    return view.above("".join(out), spans, folded=False)


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
    if kind == "pct" or kind == "qp" or kind == "xhex":
        return _bytes(match.group(kind))
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


def _bytes(run: str) -> list[tuple[int, str]]:
    # A run of %HH (or of =HH, with quoted-printable's soft line breaks "=\n"
    # anywhere in it, even inside a character): UTF-8 where the bytes are
    # UTF-8, else one character per byte (Latin-1, as older servers encode).
    found = [
        (match.start(), int(match.group(1), 16)) for match in re.finditer(_BYTE, run)
    ]
    data = bytes(byte for _, byte in found)
    chars: list[tuple[int, str]] = []
    index = 0
    while index < len(data):
        lead = data[index]
        size = 1 if lead < 0x80 else 2 if lead < 0xE0 else 3 if lead < 0xF0 else 4
        try:
            char = data[index : index + size].decode("utf-8")
        except UnicodeDecodeError:
            size, char = 1, chr(lead)
        chars.append((found[index][0], char))
        index += size
    return chars
