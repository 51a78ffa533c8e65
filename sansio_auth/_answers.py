"""Answers that are not a token, as error values with no secret in them.

The parser hands each refusal here: an RFC 6749 §5.2 error body becomes an
:class:`OAuthError`, any other non-2xx an :class:`HttpError`, a 2xx we cannot
use a :class:`MalformedResponse`. Every text a server sent is masked (see
``_mask``) of the caller's secrets and of the tokens found in the body itself,
before it is cut to a snippet's length. Only errors need any of this, so the
parser imports it when it meets one, not at start-up.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence

import attrs

from ._errors import HttpError, MalformedResponse, OAuthError, TokenError
from ._http import HttpResponse
from ._mask import (
    READ_FOR_ERRORS,
    SNIPPET_LENGTH,
    body_text,
    excerpt,
    holds_secret,
    mask_code,
    mask_secrets,
    printable,
)
from ._retry_after import parse_retry_after
from ._shape import shape
from ._token import Token

__all__ = ["echoed", "http_error", "malformed", "oauth_error", "redact", "retold"]

_SECRET_MEMBERS = ("access_token", "refresh_token", "id_token")


def oauth_error(
    error: str,
    obj: Mapping[str, object],
    response: HttpResponse,
    now: float,
    secrets: Iterable[str],
) -> OAuthError:
    """The RFC 6749 §5.2 error in *obj*, its server texts masked."""
    masked = _masked(secrets, obj)
    return OAuthError(
        error=mask_code(error, masked),
        description=_optional_str(obj, "error_description", masked),
        uri=_optional_str(obj, "error_uri", masked),
        status=response.status,
        retry_after=parse_retry_after(response.header("retry-after"), now=now),
    )


def http_error(
    obj: Mapping[str, object] | None,
    response: HttpResponse,
    content_type: str | None,
    now: float,
    secrets: Iterable[str],
) -> HttpError:
    """A non-2xx answer that is no OAuth error; a 3xx says where it points."""
    masked = _masked(secrets, obj)
    location = None
    if 300 <= response.status <= 399:
        location = _server_text(_without_userinfo(response.header("location")), masked)
    return HttpError(
        status=response.status,
        content_type=_server_text(content_type, masked),
        snippet=_snippet(response.body, content_type, masked),
        retry_after=parse_retry_after(response.header("retry-after"), now=now),
        location=location,
    )


def malformed(
    reason: str,
    obj: Mapping[str, object] | None,
    response: HttpResponse,
    content_type: str | None,
    secrets: Iterable[str],
) -> MalformedResponse:
    """A 2xx answer that is not a usable token, for *reason* (our words).

    A 2xx body is presumed to hold a token, in a shape we did not expect:
    its snippet shows the shape and never a string value.
    """
    masked = _masked(secrets, obj)
    return MalformedResponse(
        reason=reason,
        status=response.status,
        content_type=_server_text(content_type, masked),
        snippet=shape(obj, response.body, content_type, masked),
    )


def _snippet(body: bytes, content_type: str | None, secrets: Iterable[str]) -> str:
    text, cut = body_text(body, content_type)
    return excerpt(text, secrets, SNIPPET_LENGTH, flatten=True, truncated=cut)


def _masked(secrets: Iterable[str], obj: Mapping[str, object] | None) -> list[str]:
    # The caller's secrets and the tokens found in the body: masked in every
    # error made from it (only errors need the list).
    masked = list(secrets)
    if obj is not None:
        masked += [v for k in _SECRET_MEMBERS if isinstance(v := obj.get(k), str)]
    return masked


def _server_text(value: str | None, secrets: list[str]) -> str | None:
    # A server could echo anything, even in a header; only errors carry it.
    if value is None:
        return None
    cut = len(value) > READ_FOR_ERRORS
    return excerpt(
        value[:READ_FOR_ERRORS], secrets, SNIPPET_LENGTH, flatten=False, truncated=cut
    )


def _optional_str(
    obj: Mapping[str, object], key: str, secrets: list[str]
) -> str | None:
    value = obj.get(key)
    if not isinstance(value, str) or not value:
        return None
    return _server_text(value, secrets)


def _without_userinfo(location: str | None) -> str | None:
    # "https://user:pass@host/": a credential, whoever put it there.
    if location is None:
        return None
    # Spelled the ways clients read it too: "https:u:p@h", "https:\\\\u:p@h",
    # with leading whitespace; up to the authority's last "@", as urlsplit
    # splits it ("u:p@ss@host").
    return re.sub(
        r"^(\s*(?:[A-Za-z][A-Za-z0-9+.-]*:)?[/\\]*)[^/\\?#]*@", r"\1***@", location
    )


def echoed(token: Token, secrets: Sequence[str]) -> MalformedResponse | None:
    """A refusal of *token* if the server put a secret of the request in a
    field we show (its ``token_type`` or a scope): a hostile or broken
    server, whose token we do not hand out, rather than print the secret in
    every ``repr`` of it and every ``sansio-auth token`` output."""
    scopes = sorted(token.scopes or ())
    # One look at them all (the usual answer: none), then at each.
    if not holds_secret(" ".join([token.token_type, *scopes]), secrets):
        return None
    field = "token_type" if holds_secret(token.token_type, secrets) else "scope"
    return MalformedResponse(
        reason=f"{field} holds a credential of the request",
        status=200,
        content_type=None,
        snippet="",
    )


def retold(
    error: TokenError, again: Token | TokenError, secrets: Sequence[str]
) -> TokenError | None:
    """*error* with its server texts taken from *again*, the same answer
    parsed anew with every secret known, so masked before any cut.

    A flow masks what it knows (its own credentials) and cuts each text to a
    snippet's length; the refresh token and the other secrets of the request
    are known only to the session, which parses the answer again with them
    all. The flow's decision stands (its type, status, reason and error
    code: a vendor's flow may read a code its own way); only the server's
    words are taken from the new parse. None when the two parses disagree on
    the kind of error (a flow that parses its own way): then :func:`redact`
    does.
    """
    # The same response: the same status; the type says the parses agree.
    if type(again) is not type(error):
        return None
    if isinstance(error, OAuthError) and isinstance(again, OAuthError):
        return attrs.evolve(
            error,
            error=mask_code(error.error, secrets),
            description=again.description,
            uri=again.uri,
        )
    if isinstance(error, HttpError) and isinstance(again, HttpError):
        return attrs.evolve(
            error,
            content_type=again.content_type,
            snippet=again.snippet,
            location=again.location,
        )
    assert isinstance(error, MalformedResponse)
    assert isinstance(again, MalformedResponse)
    return attrs.evolve(error, content_type=again.content_type, snippet=again.snippet)


def redact(error: TokenError, secrets: Sequence[str]) -> TokenError:
    """*error* with the text its server sent masked of *secrets*.

    For an error :func:`retold` cannot retell (a flow that parses its own
    way). The library's error types are known field by field: the server's
    words (an OAuth error's code, description and URI; a snippet; a content
    type; a redirect's location) are masked, our own (a reason) are not. A
    text a snippet's length long is taken as cut, so a secret it ends in the
    middle of is masked too. Other errors are returned as they are.
    """
    limit = SNIPPET_LENGTH
    if not secrets:
        return error
    if isinstance(error, OAuthError):
        return attrs.evolve(
            error,
            error=mask_code(error.error, secrets),
            description=_remasked_optional(error.description, secrets, limit),
            uri=_remasked_optional(error.uri, secrets, limit),
        )
    if isinstance(error, HttpError):
        return attrs.evolve(
            error,
            content_type=_remasked_optional(error.content_type, secrets, limit),
            snippet=_remasked(error.snippet, secrets, limit),
            location=_remasked_optional(error.location, secrets, limit),
        )
    if isinstance(error, MalformedResponse):
        return attrs.evolve(
            error,
            content_type=_remasked_optional(error.content_type, secrets, limit),
            snippet=_remasked(error.snippet, secrets, limit),
        )
    return error


def _remasked(text: str, secrets: Sequence[str], limit: int) -> str:
    return printable(mask_secrets(text, secrets, truncated=len(text) >= limit))


def _remasked_optional(
    text: str | None, secrets: Sequence[str], limit: int
) -> str | None:
    return None if text is None else _remasked(text, secrets, limit)
