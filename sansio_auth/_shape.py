"""The shape of a 2xx answer we could not use: names, types and lengths.

A 2xx answer is presumed to hold a live token: when it is not one we can use
(the token under ``accessToken``, or in ``{"data": {"token": ...}}``, or in
XML), the snippet of its :class:`~sansio_auth.MalformedResponse` must say
enough to see what went wrong and nothing that could be the token. So it
shows the body's shape and never a string value: JSON as its member names
with each value's type (``str(43)`` for a string of 43 characters), markup as
its tag names, anything else as its punctuation with each run of other
characters as its length. Names are a server's text: each is masked, so a
name that is a token shows as ``***``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping

from ._mask import SNIPPET_LENGTH, body_text, excerpt

__all__ = ["shape"]

_NAME_LENGTH = 32
_DEPTH = 6
# Markup: a tag keeps its name and loses its attributes, which may hold
# values; comments, doctypes and processing instructions show as their kind.
# Each alternative runs to the end of the text when its close is missing, so
# a text of unclosed "<?" is one match, not a rescan from every "<".
_TAG = r"<(/?)([A-Za-z_][\w:.-]*)[^>]*>?|<!--.*?(?:-->|\Z)|<![^>]*>?|<\?.*?(?:\?>|\Z)"
# A name shown as it is: a word, perhaps with a short number ("expires_in",
# "accessToken", "x1"). Anything else (a hex or base64 run could be the
# token itself, used as a key) shows as its length.
_WORD = r"[A-Za-z_][A-Za-z_.:-]*[0-9]{0,3}"
# Anything else keeps these characters and shows every run of others as its
# length.
_PUNCTUATION = r"[^\s{}\[\]()<>:;,=&\"'/]+"


def shape(
    obj: Mapping[str, object] | None,
    body: bytes,
    content_type: str | None,
    secrets: Iterable[str],
) -> str:
    """At most :data:`SNIPPET_LENGTH` characters showing the shape of a body.

    Args:
      obj: the body's object, if it was a JSON object or a form.
      body: the body.
      content_type: its ``Content-Type``, for its charset.
      secrets: what to mask in the names shown.
    """
    wanted = list(secrets)
    text = body_text(body, content_type)[0].strip()
    if obj is not None and text[:1] != "{":
        return _form(obj, wanted)[:SNIPPET_LENGTH]
    if obj is not None:
        return _of(obj, wanted, 0)[:SNIPPET_LENGTH]
    try:
        value = json.loads(text)
    except (ValueError, RecursionError):
        pass
    else:
        return _of(value, wanted, 0)[:SNIPPET_LENGTH]
    if text[:1] == "<":
        return _markup(text, wanted)[:SNIPPET_LENGTH]
    return _skeleton(text)[:SNIPPET_LENGTH]


def _form(obj: Mapping[str, object], secrets: list[str]) -> str:
    # A form's values are all strings: its names and their lengths.
    return "&".join(
        f"{_name(name, secrets)}={_of(value, secrets, 0)}"
        for name, value in obj.items()
    )


def _name(name: str, secrets: list[str]) -> str:
    if len(name) > _NAME_LENGTH or not re.fullmatch(_WORD, name):
        return f"name({len(name)})"
    return excerpt(name, secrets, _NAME_LENGTH, flatten=True)


def _of(value: object, secrets: list[str], depth: int) -> str:
    if isinstance(value, str):
        return f"str({len(value)})"
    if isinstance(value, bool) or value is None:
        return json.dumps(value)
    if isinstance(value, int | float):
        return type(value).__name__
    if depth >= _DEPTH:
        return "..."
    if isinstance(value, Mapping):
        items: list[str] = []
        for key, item in value.items():
            items.append(f"{json.dumps(_name(str(key), secrets))}: ")
            items[-1] += _of(item, secrets, depth + 1)
            if sum(map(len, items)) > SNIPPET_LENGTH:
                break  # the rest would be cut anyway
        return "{" + ", ".join(items) + "}"
    assert isinstance(value, list)  # all that JSON and forms make
    shown: list[str] = []
    for item in value:
        shown.append(_of(item, secrets, depth + 1))
        if sum(map(len, shown)) > SNIPPET_LENGTH:
            break
    return "[" + ", ".join(shown) + "]"


def _markup(text: str, secrets: list[str]) -> str:
    pieces = []
    position = 0
    for match in re.finditer(_TAG, text, re.DOTALL):
        pieces.append(_length(text[position : match.start()]))
        if match.group(2) is not None:
            pieces.append(f"<{match.group(1)}{_name(match.group(2), secrets)}>")
        else:
            pieces.append("<!...>" if match.group(0)[1] == "!" else "<?...?>")
        position = match.end()
        if sum(map(len, pieces)) > SNIPPET_LENGTH:
            break
    else:
        pieces.append(_length(text[position:]))
    return "".join(pieces)


def _length(text: str) -> str:
    return f"str({len(text)})" if text.strip() else ""


def _skeleton(text: str) -> str:
    flat = " ".join(text[: 4 * SNIPPET_LENGTH].split())
    return re.sub(_PUNCTUATION, lambda match: f"str({len(match.group())})", flat)
