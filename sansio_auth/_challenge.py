"""An API's answer to a request that carried our token: keep, drop or retry.

Theory of operation. A resource server refuses a token it will not take with
401 and a ``WWW-Authenticate`` challenge (RFC 9110 §11.6.1, §15.5.2); for a
Bearer token, RFC 6750 §3 says which error the challenge carries:
``invalid_token`` (expired, revoked, malformed: a fresh token may do),
``insufficient_scope`` (which belongs with a 403; a fresh token of the same
scopes will not do) and ``invalid_request`` (the request is wrong, not the
token). A 403 is a refusal of the request whatever the token (§15.5.4).

So, for a 401 whose challenges name our scheme with ``invalid_token`` or no
error, or that carries no challenge at all (many APIs send none), the token
is dropped from the session (if it is still the current one) and, when the
request can be sent again and has not been already, it is sent once more
with a fresh token. Never twice: a second 401 goes back to the caller. A 401
that challenges another scheme only (``Basic``, ``Negotiate``) is not about
our token and goes back untouched.

The challenge grammar (RFC 9110 §11.6.1)::

    WWW-Authenticate = #challenge
    challenge   = auth-scheme [ 1*SP ( token68 / #auth-param ) ]
    auth-param  = token BWS "=" BWS ( token / quoted-string )
    token68     = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="

The parser reads what a server sends and never raises. It is lenient where
servers are sloppy, so that a challenge's scheme is never lost to a slip in
its params (it is the scheme that says whether a 401 is about our token): a
param it cannot read ends that challenge's params, with those read so far
kept, and reading goes on from the next comma; params separated by spaces
instead of commas are read as params. Only the first 8 KiB of the header's
values are read: a hostile server's megabyte of challenges must not stall an
event loop, and no real challenge comes near it.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable
from typing import Final, final

import attrs

__all__ = ["ApiAction", "Challenge", "api_action", "parse_challenges"]

_TOKEN: Final = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_TOKEN68: Final = re.compile(r"[A-Za-z0-9\-._~+/]+=*")
_OWS: Final = re.compile(r"[ \t]*")
# A quoted-string's body: qdtext or a quoted pair (RFC 9110 §5.6.4).
_QUOTED: Final = re.compile(r'"((?:[^"\\]|\\.)*)"', re.S)
_UNQUOTE: Final = re.compile(r"\\(.)", re.S)
MAX_CHALLENGE_TEXT: Final = 8192
"""The characters of ``WWW-Authenticate`` values read, in all."""
# Errors of RFC 6750 §3.1 that a fresh token does not cure.
_NOT_THE_TOKEN: Final = frozenset({"insufficient_scope", "invalid_request"})


def _lower(value: str) -> str:
    return value.lower()


def _lower_names(
    params: Iterable[tuple[str, str]],
) -> tuple[tuple[str, str], ...]:
    return tuple((name.lower(), value) for name, value in params)


@final
@attrs.frozen(kw_only=True)
class Challenge:
    """One challenge of a ``WWW-Authenticate`` header."""

    scheme: str = attrs.field(converter=_lower)
    """The auth scheme, lowercased (schemes are case-insensitive)."""
    params: tuple[tuple[str, str], ...] = attrs.field(
        default=(), converter=_lower_names
    )
    """Its auth-params in order, names lowercased, values unquoted."""
    token68: str | None = None
    """Its token68, for a scheme that sends one instead of params."""

    def param(self, name: str) -> str | None:
        """The first value of the auth-param *name* (any case), or None."""
        wanted = name.lower()
        for key, value in self.params:
            if key == wanted:
                return value
        return None


class ApiAction(enum.Enum):
    """What to do with an API's response to a request carrying our token."""

    KEEP = "keep"
    """Not about the token: give the response back, keep the token."""
    DROP = "drop"
    """The token was refused: drop it, and give the response back (the
    request cannot be sent again, or has been already)."""
    RETRY = "retry"
    """The token was refused: drop it, and send the request once more with a
    fresh one."""
    NONCE = "nonce"
    """The resource server asks for a DPoP nonce (RFC 9449 §9): keep the
    token, and send the request once more with a proof carrying the nonce of
    the response's ``DPoP-Nonce``."""
    PROOF = "proof"
    """The resource server refused the DPoP proof, not the token
    (``invalid_dpop_proof``): keep the token, and send the request once more
    with a fresh proof (one a retrying transport replayed, or one a redirect
    carried for the first URL)."""


def parse_challenges(values: str | Iterable[str]) -> tuple[Challenge, ...]:
    """The challenges of one or more ``WWW-Authenticate`` header values.

    Never raises: what cannot be read is skipped.

    Args:
      values: a header value, or each value of the header (a response may
        send several lines).
    """
    if isinstance(values, str):
        values = (values,)
    found: list[Challenge] = []
    budget = MAX_CHALLENGE_TEXT
    for value in values:
        if budget <= 0:
            break
        if isinstance(value, str):
            found.extend(_parse(value[:budget]))
            budget -= len(value)
    return tuple(found)


def _parse(text: str) -> list[Challenge]:
    found: list[Challenge] = []
    pos = 0
    end = len(text)
    while pos < end:
        # Empty list elements and whitespace between challenges.
        while pos < end and text[pos] in " \t,":
            pos += 1
        scheme = _TOKEN.match(text, pos)
        if scheme is None or text.startswith("=", scheme.end()):
            # Not a scheme: a stray byte, or a param (name=value) left over
            # from a challenge that could not be read to its end.
            pos = _next_comma(text, pos)
            continue
        pos = scheme.end()
        spaces = _OWS.match(text, pos)
        assert spaces is not None  # matches the empty string
        if spaces.end() == pos or spaces.end() == end or text[spaces.end()] == ",":
            # A scheme alone (no 1*SP, or nothing after it).
            found.append(Challenge(scheme=scheme[0]))
            pos = spaces.end()
            continue
        pos = spaces.end()
        token68 = _TOKEN68.match(text, pos)
        if token68 is not None:
            after = _OWS.match(text, token68.end())
            assert after is not None
            if after.end() == end or text[after.end()] == ",":
                found.append(Challenge(scheme=scheme[0], token68=token68[0]))
                pos = after.end()
                continue
        params, pos, whole = _params(text, pos)
        found.append(Challenge(scheme=scheme[0], params=params))
        if not whole:
            pos = _next_comma(text, pos)
    return found


def _is_param(text: str, pos: int) -> bool:
    """Whether an auth-param (``token BWS "="``) starts at *pos*."""
    name = _TOKEN.match(text, pos)
    if name is None:
        return False
    equals = _OWS.match(text, name.end())
    assert equals is not None
    return text.startswith("=", equals.end())


def _params(text: str, pos: int) -> tuple[list[tuple[str, str]], int, bool]:
    """The auth-params from *pos* on, up to the next challenge; and whether
    they were read to their end (False: stopped at what could not be
    read, the params before it kept)."""
    params: list[tuple[str, str]] = []
    end = len(text)
    while True:
        if not _is_param(text, pos):
            return params, pos, False
        name = _TOKEN.match(text, pos)
        assert name is not None
        equals = _OWS.match(text, name.end())
        assert equals is not None
        start = _OWS.match(text, equals.end() + 1)
        assert start is not None
        quoted = _QUOTED.match(text, start.end())
        if quoted is not None:
            value = _UNQUOTE.sub(r"\1", quoted[1])
            pos = quoted.end()
        else:
            token = _TOKEN.match(text, start.end())
            if token is None:
                return params, start.end(), False
            value = token[0]
            pos = token.end()
        params.append((name[0], value))
        after = _OWS.match(text, pos)
        assert after is not None
        if after.end() >= end:
            return params, after.end(), True
        if text[after.end()] != ",":
            # Params separated by spaces, not commas: read on if another
            # param follows.
            if after.end() > pos and _is_param(text, after.end()):
                pos = after.end()
                continue
            return params, after.end(), False
        pos = after.end()
        # After a comma: another param of this challenge (token "="), or the
        # next challenge (a scheme), or empty elements.
        following = pos + 1
        while following < end and text[following] in " \t,":
            following += 1
        if _is_param(text, following):
            pos = following
            continue
        return params, following, True


def _next_comma(text: str, pos: int) -> int:
    """Past the next comma outside a quoted-string (or the end)."""
    end = len(text)
    while pos < end:
        char = text[pos]
        if char == ",":
            return pos + 1
        if char == '"':
            quoted = _QUOTED.match(text, pos)
            pos = quoted.end() if quoted is not None else end
        else:
            pos += 1
    return end


def api_action(
    status: int,
    www_authenticate: str | Iterable[str],
    *,
    scheme: str,
    retried: bool,
    replayable: bool,
    dpop_nonce: str | None = None,
) -> ApiAction:
    """What to do with an API's response to a request that carried our token.

    Args:
      status: the response's status.
      www_authenticate: its ``WWW-Authenticate`` value or values (none: an
        empty tuple).
      scheme: the scheme of the ``Authorization`` we sent (``Bearer``).
      retried: whether this was already the one retry.
      replayable: whether the request's body can be sent again (not a
        generator or a stream being read).
      dpop_nonce: the response's ``DPoP-Nonce`` value, if any.

    Returns:
      ``KEEP`` for anything but a 401 about our token (a 403 included);
      ``RETRY`` for such a 401 on a first attempt that can be sent again;
      ``DROP`` for one that cannot; ``KEEP`` on the retry's own 401, which
      goes back to the caller with the fresh token kept. ``NONCE`` for a
      ``DPoP`` challenge ``use_dpop_nonce`` with a valid nonce, on a first
      attempt that can be sent again (without one: ``KEEP``, since the token
      is not at fault).
    """
    if status != 401 or retried:
        return ApiAction.KEEP
    challenges = parse_challenges(www_authenticate)
    wanted = scheme.lower()
    ours = [c for c in challenges if c.scheme == wanted]
    if challenges and not ours:
        return ApiAction.KEEP  # another scheme's challenge, untouched
    if ours and all(c.param("error") in _NOT_THE_TOKEN for c in ours):
        return ApiAction.KEEP
    if wanted == "dpop" and any(c.param("error") == "invalid_dpop_proof" for c in ours):
        # The proof was refused, not the token (RFC 9449 §7.1): a new token
        # cures no clock skew, algorithm or replayed jti, and fetching one on
        # every such answer would hammer the token endpoint. A fresh proof
        # may do, once.
        return ApiAction.PROOF if replayable else ApiAction.KEEP
    if any(c.param("error") == "use_dpop_nonce" for c in ours):
        from ._dpop import check_nonce

        if wanted == "dpop" and replayable and check_nonce(dpop_nonce) is not None:
            return ApiAction.NONCE
        return ApiAction.KEEP
    return ApiAction.RETRY if replayable else ApiAction.DROP
