"""The generic flows: credentials in, request descriptions out.

A flow is a frozen value that knows one way to get a token from one server:
``token_request()`` describes the request that acquires a token,
``refresh_request(refresh_token)`` the RFC 6749 §6 refresh (or None when the
flow cannot refresh), and ``parse(response, now=...)`` reads the answer with
the flow's own credentials masked in any error. A flow whose client signs an
assertion takes a :class:`~sansio_auth.Stamp` in both request methods.

Everything a flow needs is checked when it is built, so a bad URL or a header
value with a line break fails at construction, naming the argument. A flow
keeps only its arguments: each call builds its request afresh from them, the
same bytes every time, through a constructor that does not check again what
construction checked (``trusted_request``). A flow is small, so a process
holding one per tenant does not hold a second copy of every request.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar, Protocol, final, runtime_checkable

import attrs

from ._client_auth import ClientAuth
from ._client_flow import OAUTH_FIELDS, ClientFlow
from ._errors import TokenError
from ._fields import (
    USER_AGENT,
    check_credential,
    check_text,
    masked,
    validate_credential,
    validate_url,
)
from ._http import (
    HttpRequest,
    HttpResponse,
    check_header_name,
    check_header_value,
    trusted_request,
)
from ._parse import parse_token_response
from ._token import Token

if TYPE_CHECKING:
    from ._stamp import Stamp

__all__ = [
    "USER_AGENT",
    "ApiKeyExchange",
    "ClientAuth",
    "ClientCredentials",
    "Flow",
    "PasswordGrant",
    "check_credential",
    "check_text",
    "validate_credential",
    "validate_url",
]


@runtime_checkable
class Flow(Protocol):
    """What :class:`TokenSession` and the adapters need of a flow.

    A flow whose ``needs_stamp`` is true also takes a
    :class:`~sansio_auth.Stamp` as the last argument of both request methods.
    """

    def token_request(self) -> HttpRequest:
        """The request that acquires a new token."""
        ...

    def refresh_request(self, refresh_token: str) -> HttpRequest | None:
        """The request that refreshes with *refresh_token*, or None if it cannot."""
        ...

    def parse(self, response: HttpResponse, *, now: float) -> Token | TokenError:
        """The token or error in *response*, received at *now*."""
        ...


@final
@attrs.frozen(kw_only=True, repr=False)
class ClientCredentials(ClientFlow):
    """The client credentials grant (RFC 6749 §4.4).

    The client authenticates as ``auth`` says (see
    :class:`~sansio_auth.ClientAuth`); ``client_secret`` is needed by the
    ``client_secret_*`` methods only.
    """

    client_id: str = attrs.field(validator=validate_credential)
    """The client identifier."""

    def token_request(self, stamp: Stamp | None = None) -> HttpRequest:
        """The request that acquires a token (built afresh, the same each time
        for the same *stamp*)."""
        return self._post(
            self._scope_fields([("grant_type", "client_credentials")]), stamp
        )

    def refresh_request(
        self, refresh_token: str, stamp: Stamp | None = None
    ) -> HttpRequest:
        """The RFC 6749 §6 refresh request, with the same client authentication.

        Raises:
          ValueError: if *refresh_token* is empty or holds a lone surrogate.
        """
        request = super().refresh_request(refresh_token, stamp)
        assert request is not None
        return request

    def cache_identity(self) -> tuple[tuple[str, str], ...]:
        """What decides which token the server issues, for a shared store's key.

        The grant, the token URL, the client id, the scopes (sorted, once
        each), the resources and the extra fields; never a secret, and not
        ``auth`` (how the client proves itself does not change whose token
        it is).
        """
        return self._identity("client_credentials")

    def parse(self, response: HttpResponse, *, now: float) -> Token | TokenError:
        """The token or error in *response*, the client secret masked."""
        return parse_token_response(response, now=now, secrets=self.masking_secrets())


@final
@attrs.frozen(kw_only=True, repr=False)
class PasswordGrant(ClientFlow):
    """The resource owner password credentials grant (RFC 6749 §4.3)."""

    _TAKEN: ClassVar[frozenset[str]] = OAUTH_FIELDS | {"username", "password"}

    username: str = attrs.field(validator=validate_credential)
    """The resource owner's user name."""
    password: str = attrs.field(repr=masked, validator=validate_credential)
    """The resource owner's password; never shown."""

    def token_request(self, stamp: Stamp | None = None) -> HttpRequest:
        """The request that acquires a token (built afresh, the same each time
        for the same *stamp*)."""
        fields = [
            ("grant_type", "password"),
            ("username", self.username),
            ("password", self.password),
        ]
        return self._post(self._scope_fields(fields), stamp)

    def refresh_request(
        self, refresh_token: str, stamp: Stamp | None = None
    ) -> HttpRequest:
        """The RFC 6749 §6 refresh request, with the same client authentication.

        Raises:
          ValueError: if *refresh_token* is empty or holds a lone surrogate.
        """
        request = super().refresh_request(refresh_token, stamp)
        assert request is not None
        return request

    def cache_identity(self) -> tuple[tuple[str, str], ...]:
        """What decides which token the server issues, for a shared store's key.

        The grant, the token URL, the client id (when there is one), the
        username, the scopes (sorted, once each), the resources and the extra
        fields; never the password or a client secret, and not ``auth``.
        """
        return self._identity("password", ("username", self.username))

    def parse(self, response: HttpResponse, *, now: float) -> Token | TokenError:
        """The token or error in *response*, password and secret masked."""
        return parse_token_response(response, now=now, secrets=self.masking_secrets())

    def masking_secrets(self) -> tuple[str, ...]:
        """The password and the client secret, for masking answers."""
        return (self.password, *super().masking_secrets())


def _header_name(
    instance: object, attribute: attrs.Attribute[str], value: object
) -> None:
    check_header_name("header", value)


def _api_key(instance: object, attribute: attrs.Attribute[str], value: object) -> None:
    check_credential("api_key", value)
    check_header_value("api_key", value)  # type: ignore[arg-type]


@final
@attrs.frozen(kw_only=True)
class ApiKeyExchange:
    """Exchange an API key sent in a header for a short-lived token.

    A POST with an empty body; it cannot refresh (the key itself gets the
    next token).
    """

    token_url: str = attrs.field(validator=validate_url)
    """The token endpoint: https, or http to loopback."""
    api_key: str = attrs.field(repr=masked, validator=_api_key)
    """The API key; never shown."""
    header: str = attrs.field(default="X-API-Key", validator=_header_name)
    """The header the key is sent in."""

    def token_request(self) -> HttpRequest:
        """The request that acquires a token (built afresh, the same each time)."""
        # The header name and the key were checked as header name and value
        # when the flow was built.
        headers = (
            ("Accept", "application/json"),
            ("User-Agent", USER_AGENT),
            (self.header, self.api_key),
        )
        return trusted_request(self.token_url, headers, b"")

    def refresh_request(self, refresh_token: str) -> None:
        """None: an API key exchange has no refresh; the key gets a new token."""

    def cache_identity(self) -> tuple[tuple[str, str], ...]:
        """What decides which token the server issues, for a shared store's key.

        The grant, the token URL and the API key, which is the identity here,
        as its SHA-256 only; not the header it travels in.
        """
        import hashlib  # only a shared store asks: not at package import

        key = hashlib.sha256(self.api_key.encode("utf-8")).hexdigest()
        return (
            ("grant", "api_key_exchange"),
            ("token_url", self.token_url),
            ("api_key_sha256", key),
        )

    def parse(self, response: HttpResponse, *, now: float) -> Token | TokenError:
        """The token or error in *response*, the API key masked."""
        return parse_token_response(response, now=now, secrets=(self.api_key,))
