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
from collections.abc import Iterable, Mapping

from ._errors import HttpError, MalformedResponse, OAuthError
from ._http import HttpResponse
from ._mask import READ_FOR_ERRORS, SNIPPET_LENGTH, body_text, excerpt, mask_code
from ._retry_after import parse_retry_after
from ._shape import shape

__all__ = ["http_error", "malformed", "oauth_error"]

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
    return re.sub(r"^([A-Za-z][A-Za-z0-9+.-]*:)?//[^/?#@]*@", r"\1//***@", location)
