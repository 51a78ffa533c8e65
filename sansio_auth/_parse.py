"""Token endpoint responses to values (RFC 6749 §5.1 success, §5.2 error).

Theory of operation: whatever the bytes, the parser returns a value and
never raises, because the bytes come from the world. It is lenient where real
servers are sloppy and strict where a mistake would bite later:

* the body is JSON when the content type says JSON, says nothing, or says
  ``text/plain`` and the body starts with ``{``; it is a form when the type is
  ``application/x-www-form-urlencoded``, or the body of a ``text/plain`` (or
  untyped) answer is shaped like ``a=b&c=d`` (Facebook's legacy endpoint);
  a UTF-8 BOM is skipped;
* an ``error`` member makes an :class:`OAuthError` under any status, 200
  included, since some servers report errors with 200;
* ``token_type`` in any case of ``bearer``, or none, is ``"Bearer"``;
  ``scope`` may be a string or a list; ``expires_in`` may be a numeric string,
  and ``expires`` stands in for it when it is absent;
* but an ``expires_in`` that is negative, NaN, infinite, a boolean or over ten
  years is a :class:`MalformedResponse` naming the field: guessing a lifetime
  would make the session hand out a dead token or never refresh a live one.

Every error carries at most 200 characters of the body, and only after
masking: the values of ``access_token``, ``refresh_token`` and ``id_token``,
anything shaped like a JWT, and the secrets the caller names.
"""

from __future__ import annotations

import json
import math
import re
import sys
from collections.abc import Iterable, Mapping
from types import MappingProxyType

from ._errors import TokenError
from ._http import HttpResponse, check_header_value
from ._jwt import jwt_claims
from ._token import Token, checked_token

__all__ = ["MalformedError", "check_sendable", "parse_token_response"]

MAX_EXPIRES_IN = 315_360_000.0
"""Ten years, in seconds: no real token lives longer."""
_FLOAT_MAX = sys.float_info.max
_INF = math.inf
_FORM_SHAPED = r"[^=&\s]+=[^&\s]*(?:&[^=&\s]+=[^&\s]*)*"
_NUMBER = r"(?a)-?(?:\d+(?:\.\d*)?|\.\d+)"
_JSON_TYPES = frozenset(
    {"application/json", "text/json", "text/javascript", "application/javascript"}
)
_FORM_TYPE = "application/x-www-form-urlencoded"
# What most token endpoints send, mapped ahead to its media type.
_COMMON_MEDIA: dict[str | None, str] = dict.fromkeys(
    (
        "application/json",
        "application/json; charset=utf-8",
        "application/json; charset=UTF-8",
        "application/json;charset=utf-8",
        "application/json;charset=UTF-8",
    ),
    "application/json",
)
_DECODER = json.JSONDecoder()


def _media_type(content_type: str | None) -> str | None:
    if content_type is None:
        return None
    return content_type.partition(";")[0].strip().lower() or None


def _load_object(
    media: str | None, body: bytes
) -> tuple[dict[str, object] | None, bool]:
    """The response object, from a JSON or form body, or None; and whether
    its strings are known to be free of control characters and lone
    surrogates (see below)."""
    try:
        text = body.decode().removeprefix("\ufeff").strip()  # UTF-8, strict
    except UnicodeDecodeError:
        return None, False
    json_like = media is None or media in _JSON_TYPES or media.endswith("+json")
    if text[:1] == "{" and (json_like or media == "text/plain"):
        try:
            # raw_decode skips json.loads's two whitespace regexes (the text
            # is stripped already); the end check refuses trailing data.
            obj, end = _DECODER.raw_decode(text)
        except (ValueError, RecursionError):
            return None, False
        if end != len(text):
            return None, False
        # Valid JSON that starts with "{" is an object. json refuses raw C0
        # controls inside strings, and strict UTF-8 decoding lets no lone
        # surrogate through; so in ASCII JSON without a backslash (no
        # escape) or a DEL, no string can hold a control character or a
        # lone surrogate ("plain": _token need not check).
        return obj, text.isascii() and "\\" not in text and "\x7f" not in text
    if media == _FORM_TYPE or (
        media in (None, "text/plain") and re.fullmatch(_FORM_SHAPED, text)
    ):
        from urllib.parse import parse_qsl  # rare: not imported up front

        # The first of repeated fields wins, as it does in most servers.
        fields: dict[str, object] = {}
        for name, value in parse_qsl(text, keep_blank_values=True):
            fields.setdefault(name, value)
        return fields, False
    return None, False


class _Malformed(Exception):
    """A field that makes a 2xx answer unusable; becomes a MalformedResponse."""


MalformedError = _Malformed
"""What :func:`check_sendable` raises (for a stored token, read back)."""


def _kind(value: object) -> str:
    return "a boolean" if isinstance(value, bool) else type(value).__name__


def _seconds(field: str, value: object) -> float:
    if isinstance(value, bool):
        raise _Malformed(f"{field} must be a number of seconds, got a boolean")
    if isinstance(value, str):
        text = value.strip()
        if not re.fullmatch(_NUMBER, text):
            raise _Malformed(
                f"{field} must be a number of seconds, got a non-numeric string"
            )
        value = float(text)
    if not isinstance(value, int | float):
        raise _Malformed(f"{field} must be a number of seconds, got {_kind(value)}")
    if isinstance(value, float) and not math.isfinite(value):
        raise _Malformed(f"{field} must be a finite number of seconds")
    if value < 0:
        raise _Malformed(f"{field} must not be negative")
    # Compared before float(): a JSON integer may be too big for a float.
    if value > MAX_EXPIRES_IN:
        raise _Malformed(f"{field} must be at most ten years (315360000 s)")
    return float(value)


def _expires_at(
    obj: Mapping[str, object], access_token: str, now: float
) -> float | None:
    for field in ("expires_in", "expires"):
        value = obj.get(field)
        if value is not None:
            return now + _seconds(field, value)
    claims = jwt_claims(access_token)
    exp = None if claims is None else claims.get("exp")
    if isinstance(exp, bool) or not isinstance(exp, int | float):
        return None
    # NaN, infinities and integers too big for a float are no usable expiry.
    return float(exp) if -_FLOAT_MAX < exp < _FLOAT_MAX else None


def _listed_scopes(value: object) -> frozenset[str]:
    # A string is kept as it is (Token splits it when read); this is the rest.
    if isinstance(value, list) and all(isinstance(item, str) for item in value):
        return frozenset(value)
    raise _Malformed(f"scope must be a string or a list of strings, got {_kind(value)}")


def check_sendable(field: str, value: str) -> None:
    """Refuse a token field that cannot go into a header or a request.

    Raises:
      MalformedError: naming *field* (never showing the value).
    """
    _check_sendable(field, value)


def _check_sendable(field: str, value: str) -> None:
    # The access token goes into an Authorization header and the refresh
    # token into a later request: a CR or LF would inject a header, and a
    # lone surrogate (JSON's "\ud800") cannot be encoded at all.
    if value.isascii() and value.isprintable():
        return  # the usual case, without the regex: nothing to refuse
    try:
        check_header_value(field, value, ascii=False).encode("utf-8")
    except ValueError:  # UnicodeEncodeError is one too
        raise _Malformed(f"{field} holds a control character or invalid text") from None


def _token(obj: dict[str, object], now: float, plain: bool) -> Token:
    # *plain*: no string in obj can hold a control character (_load_object).
    access_token = obj.get("access_token")
    if access_token is None:
        raise _Malformed("access_token is missing")
    if not isinstance(access_token, str) or not access_token:
        raise _Malformed("access_token must be a non-empty string")
    if not plain:
        _check_sendable("access_token", access_token)
    token_type = obj.get("token_type")
    if token_type == "Bearer":
        # raw keeps the one "Bearer" all tokens share, not the copy json made:
        # 56 bytes a token, for a gateway holding thousands.
        obj["token_type"] = token_type = "Bearer"
    elif token_type is None:
        token_type = "Bearer"
    elif not isinstance(token_type, str) or not token_type:
        raise _Malformed("token_type must be a non-empty string")
    else:
        if not plain:
            _check_sendable("token_type", token_type)
        if token_type.lower() == "bearer":
            token_type = "Bearer"
    refresh_token = obj.get("refresh_token")
    if refresh_token is not None:
        if not isinstance(refresh_token, str):
            raise _Malformed(
                f"refresh_token must be a string, got {_kind(refresh_token)}"
            )
        if not refresh_token:
            refresh_token = None
        elif not plain:
            _check_sendable("refresh_token", refresh_token)
    # The usual expires_in and scope inline, each call being a tenth of the
    # time the parser may take beyond json's own.
    expires_in = obj.get("expires_in")
    if type(expires_in) is int and 0 <= expires_in <= MAX_EXPIRES_IN:
        expires_at: float | None = now + expires_in
    else:
        expires_at = _expires_at(obj, access_token, now)
    scopes = obj.get("scope")
    if scopes is not None and type(scopes) is not str:
        scopes = _listed_scopes(scopes)
    if type(now) is float and -_INF < now < _INF:
        # Every field is checked above (expires_at is finite: a finite now
        # plus at most ten years rounds, it cannot overflow), so Token's
        # validators are skipped: they would cost the parser half its time
        # again.
        # obj is ours alone: Token.raw's read-only view needs no copy.
        return checked_token(
            access_token, token_type, now, expires_at, scopes, refresh_token, obj
        )
    # An odd *now* (an int, or not finite): Token converts it or names it.
    return Token(
        access_token=access_token,
        token_type=token_type,
        received_at=now,
        expires_at=expires_at,
        scopes=scopes.split() if type(scopes) is str else scopes,
        refresh_token=refresh_token,
        raw=MappingProxyType(obj),  # ours alone: no copy needed
    )


def parse_token_response(
    response: HttpResponse, *, now: float, secrets: Iterable[str] = ()
) -> Token | TokenError:
    """Turn a token endpoint's response into a :class:`Token` or an error value.

    Never raises, whatever the status, headers and body.

    Args:
      response: the response as received.
      now: the time it was received, in UNIX seconds; ``received_at`` of the
        token and the origin of ``expires_at`` and ``retry_after``.
      secrets: credentials of the request (a client secret, a password, an API
        key) to mask wherever the server echoes them.

    Returns:
      A :class:`Token`, or an :class:`OAuthError`, :class:`HttpError` or
      :class:`MalformedResponse`.
    """
    content_type = None
    for name, value in response.headers:
        if name.lower() == "content-type":
            content_type = value.strip() or None
            break
    media = _COMMON_MEDIA.get(content_type) or _media_type(content_type)
    obj, plain = _load_object(media, response.body)
    status = response.status
    error = None
    if obj is not None:
        error = obj.get("error")
        if isinstance(error, str) and error:
            from ._answers import oauth_error  # errors only: not at import

            return oauth_error(error, obj, response, now, secrets)
    if not 200 <= status <= 299:
        from ._answers import http_error

        return http_error(obj, response, content_type, now, secrets)
    try:
        if obj is None:
            raise _Malformed(
                "body is not a JSON object or a form-encoded token response"
            )
        if error:
            raise _Malformed(f"error must be a string, got {_kind(error)}")
        return _token(obj, now, plain)
    except _Malformed as exc:
        from ._answers import malformed

        return malformed(str(exc), obj, response, content_type, secrets)
