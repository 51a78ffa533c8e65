"""TeamSystem Smart Services: a multipart token request and a JSON refresh.

The token request is ``POST /api/v1/auth/token`` as ``multipart/form-data``
with the fields ``username``, ``scope`` and ``token`` (the API key, sent as
``Bearer <key>``), and the headers ``Accept: application/json`` and
``Accept-Language``. Access tokens live an hour; the refresh is a JSON
``POST /oauth/token`` of ``{"grant_type": "refresh_token", "refresh_token":
...}``, and the server may rotate the refresh token.
"""

from __future__ import annotations

from typing import final

import attrs

from sansio_auth._encoding import encode_json, encode_multipart
from sansio_auth._errors import TokenError
from sansio_auth._flows import (
    USER_AGENT,
    check_credential,
    validate_credential,
    validate_url,
)
from sansio_auth._http import (
    HttpRequest,
    HttpResponse,
    check_header_value,
    trusted_request,
)
from sansio_auth._parse import parse_token_response
from sansio_auth._token import Token

from ._base import join_url

__all__ = ["TeamSystemFlow", "teamsystem"]

_BEARER = "bearer "


def _language(instance: object, attribute: attrs.Attribute[str], value: object) -> None:
    check_credential("language", value)
    check_header_value("language", value)  # type: ignore[arg-type]


def _token(instance: object, attribute: attrs.Attribute[str], value: object) -> None:
    check_credential("token", value)
    if not value[len(_BEARER) :].strip():  # type: ignore[index]
        raise ValueError("token must hold an API key after 'Bearer '")


def _bearer(value: str) -> str:
    # The vendor wants the key as "Bearer <key>"; callers copy it either way.
    # "Bearer" alone is left as it is for the validator to refuse, not sent
    # as "Bearer Bearer".
    if isinstance(value, str) and not (value + " ").lower().startswith(_BEARER):
        return "Bearer " + value
    return value


@final
@attrs.frozen(kw_only=True)
class TeamSystemFlow:
    """The TeamSystem Smart Services flow; build it with :func:`teamsystem`."""

    token_url: str = attrs.field(validator=validate_url)
    """Where the multipart token request goes."""
    refresh_url: str = attrs.field(validator=validate_url)
    """Where the JSON refresh goes."""
    username: str = attrs.field(validator=validate_credential)
    """The ``username`` field."""
    scope: str = attrs.field(validator=validate_credential)
    """The ``scope`` field."""
    token: str = attrs.field(repr=lambda _: "***", converter=_bearer, validator=_token)
    """The API key as sent, ``Bearer <key>``; never shown."""
    language: str = attrs.field(default="it-IT", validator=_language)
    """The ``Accept-Language`` header."""

    def __attrs_post_init__(self) -> None:
        # After the validators, so that a bad argument is reported by name:
        # build the request once, so that anything it refuses is refused now.
        self.token_request()

    def token_request(self) -> HttpRequest:
        """The multipart request that acquires a token (the same each time)."""
        # Built afresh rather than kept, so that a flow stays small. The URL
        # passed check_token_url, the language check_header_value, and the
        # boundary in the content type is a checked RFC 2046 boundary.
        content_type, body = encode_multipart(
            (("username", self.username), ("scope", self.scope), ("token", self.token))
        )
        headers = (
            ("Accept", "application/json"),
            ("Accept-Language", self.language),
            ("Content-Type", content_type),
            ("User-Agent", USER_AGENT),
        )
        return trusted_request(self.token_url, headers, body)

    def refresh_request(self, refresh_token: str) -> HttpRequest:
        """The JSON refresh request.

        Raises:
          ValueError: if *refresh_token* is empty or holds a lone surrogate.
        """
        check_credential("refresh_token", refresh_token)
        body = encode_json(
            {"grant_type": "refresh_token", "refresh_token": refresh_token}
        )
        headers = (
            ("Accept", "application/json"),
            ("Content-Type", "application/json"),
            ("User-Agent", USER_AGENT),
        )
        return trusted_request(self.refresh_url, headers, body)

    def cache_identity(self) -> tuple[tuple[str, str], ...]:
        """What decides which token the server issues, for a shared store's key.

        The token and refresh URLs (the refresh URL issues the next token),
        the username, the scope field, the language (sent with the request,
        the server may keep it in what it issues) and the API key, which is
        the identity here, as the SHA-256 of the key without ``Bearer ``.
        """
        import hashlib  # only a shared store asks: not at package import

        key = self.token[len(_BEARER) :].encode("utf-8")
        return (
            ("grant", "teamsystem"),
            ("token_url", self.token_url),
            ("refresh_url", self.refresh_url),
            ("username", self.username),
            ("scope", self.scope),
            ("language", self.language),
            ("api_key_sha256", hashlib.sha256(key).hexdigest()),
        )

    def parse(self, response: HttpResponse, *, now: float) -> Token | TokenError:
        """The token or error in *response*, the API key masked."""
        key = self.token[len(_BEARER) :]
        return parse_token_response(response, now=now, secrets=(self.token, key))


def teamsystem(
    *,
    username: str,
    scope: str,
    token: str,
    language: str = "it-IT",
    base_url: str = "https://tse.smart-api.teamsystem.cloud",
) -> TeamSystemFlow:
    """The TeamSystem Smart Services token flow.

    Args:
      username: the ``username`` field (e.g. ``admin_webapicorso``).
      scope: the ``scope`` field (e.g. ``webapicorso_alywebapicorso``).
      token: the API key; ``Bearer `` is prefixed unless it is already there.
      language: the ``Accept-Language`` header.
      base_url: the Smart Services origin.

    Returns:
      A :class:`TeamSystemFlow`.

    Raises:
      ValueError: if a field is empty, the language holds a control character,
        or the URL is not https (loopback excepted).
    """
    return TeamSystemFlow(
        token_url=join_url(base_url, "/api/v1/auth/token"),
        refresh_url=join_url(base_url, "/oauth/token"),
        username=username,
        scope=scope,
        token=token,
        language=language,
    )
