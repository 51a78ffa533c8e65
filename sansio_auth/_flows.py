"""The generic flows: credentials in, request descriptions out.

A flow is a frozen value that knows one way to get a token from one server:
``token_request()`` describes the request that acquires a token,
``refresh_request(refresh_token)`` the RFC 6749 §6 refresh (or None when the
flow cannot refresh), and ``parse(response, now=...)`` reads the answer with
the flow's own credentials masked in any error.

Everything a flow needs is checked when it is built, so a bad URL or a header
value with a line break fails at construction, naming the argument. A flow
keeps only its arguments: each call builds its request afresh from them, the
same bytes every time, through a constructor that does not check again what
construction checked (``trusted_request``). A flow is small, so a process
holding one per tenant does not hold a second copy of every request.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Literal, Protocol, final, runtime_checkable

import attrs

from ._encoding import basic_authorization, encode_form
from ._errors import TokenError
from ._http import (
    HttpRequest,
    HttpResponse,
    check_header_name,
    check_header_value,
    trusted_request,
)
from ._parse import parse_token_response
from ._token import Token
from ._urls import check_token_url
from ._version import __version__

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

USER_AGENT = f"sansio-auth/{__version__}"
"""The ``User-Agent`` of every request the library builds."""

ClientAuth = Literal["client_secret_post", "client_secret_basic"]
_CLIENT_AUTHS = ("client_secret_post", "client_secret_basic")
_FORM_HEADERS = (
    ("Accept", "application/json"),
    ("Content-Type", "application/x-www-form-urlencoded"),
    ("User-Agent", USER_AGENT),
)
# The form fields a flow sets itself, which extra may not set again.
_OAUTH_FIELDS = frozenset(
    {"grant_type", "refresh_token", "scope", "client_id", "client_secret"}
)
_PASSWORD_FIELDS = _OAUTH_FIELDS | {"username", "password"}


@runtime_checkable
class Flow(Protocol):
    """What :class:`TokenSession` and the adapters need of a flow."""

    def token_request(self) -> HttpRequest:
        """The request that acquires a new token."""
        ...

    def refresh_request(self, refresh_token: str) -> HttpRequest | None:
        """The request that refreshes with *refresh_token*, or None if it cannot."""
        ...

    def parse(self, response: HttpResponse, *, now: float) -> Token | TokenError:
        """The token or error in *response*, received at *now*."""
        ...


def _masked(value: object) -> str:
    return "***"


def check_credential(field: str, value: object, *, optional: bool = False) -> None:
    """Refuse a credential that is not a non-empty string UTF-8 can encode.

    Args:
      field: the argument's name, for the message (never its value).
      value: the candidate.
      optional: whether None is allowed.

    Raises:
      TypeError: if it is not a string (or None, when optional).
      ValueError: if it is empty or holds a lone surrogate.
    """
    if value is None and optional:
        return
    check_text(field, value)
    if not value:
        raise ValueError(f"{field} must not be empty")


def check_text(field: str, value: object) -> None:
    """Refuse a value that is not a string UTF-8 can encode (empty is fine).

    Raises:
      TypeError: if it is not a string.
      ValueError: if it holds a lone surrogate.
    """
    if not isinstance(value, str):
        raise TypeError(f"{field} must be a str, got {type(value).__name__}")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError(
            f"{field} is not valid text (it holds a lone surrogate)"
        ) from None


def validate_credential(
    instance: object, attribute: attrs.Attribute[str], value: object
) -> None:
    """An attrs validator: :func:`check_credential` under the field's name."""
    check_credential(attribute.name, value)


def _optional_credential(
    instance: object, attribute: attrs.Attribute[str | None], value: object
) -> None:
    check_credential(attribute.name, value, optional=True)


def validate_url(
    instance: object, attribute: attrs.Attribute[str], value: object
) -> None:
    """An attrs validator: the token URL rule under the field's name."""
    check_token_url(value, attribute.name)


def _scope(value: str | Iterable[str]) -> tuple[str, ...]:
    if isinstance(value, str):
        # Split on whitespace, the items are non-empty and hold none; a lone
        # surrogate, the one thing left to refuse, is in the string if it is
        # in an item.
        check_text("scope", value)
        return tuple(value.split())
    if isinstance(value, bytes) or not hasattr(value, "__iter__"):
        raise TypeError("scope must be a string or an iterable of strings")
    items = tuple(value)
    for item in items:
        if not isinstance(item, str) or not item or any(c.isspace() for c in item):
            raise ValueError("scope must be strings without whitespace")
        check_credential("scope", item)
    return items


def _extra(
    value: Mapping[str, str] | Iterable[tuple[str, str]],
) -> tuple[tuple[str, str], ...]:
    if type(value) is tuple:  # the usual case, () included: skip the ABC check
        pairs = value
    elif isinstance(value, Mapping):
        pairs = tuple(value.items())
    elif isinstance(value, str | bytes) or not hasattr(value, "__iter__"):
        raise TypeError("extra must be (name, value) pairs")
    else:
        pairs = tuple(value)
    for index, pair in enumerate(pairs):
        if not (isinstance(pair, tuple) and len(pair) == 2):
            raise TypeError("extra must be (name, value) pairs")
        # By position, not by name: a careless caller may have swapped them.
        check_credential(f"extra parameter #{index} name", pair[0])
        check_text(f"extra parameter #{index} value", pair[1])
    return pairs


def _auth(instance: object, attribute: attrs.Attribute[str], value: object) -> None:
    if value not in _CLIENT_AUTHS:
        # What came is not echoed: a careless caller may have put a secret here.
        raise ValueError("auth must be 'client_secret_post' or 'client_secret_basic'")


def _check_extra(extra: tuple[tuple[str, str], ...], taken: frozenset[str]) -> None:
    for name, _ in extra:
        if name in taken:
            raise ValueError(
                f"extra must not set {name!r}: the flow sets it from its own arguments"
            )


def _form_request(
    url: str,
    fields: list[tuple[str, str]],
    extra: tuple[tuple[str, str], ...],
    client_id: str | None,
    client_secret: str | None,
    auth: str,
) -> HttpRequest:
    # RFC 6749 §2.3.1: the credentials go in either the body or the
    # Authorization header, never both. The URL passed check_token_url when
    # the flow was built, and the headers are ours (a Basic value is base64),
    # so the request need not check them again; form values may hold anything.
    if extra:
        fields.extend(extra)
    headers: tuple[tuple[str, str], ...] = _FORM_HEADERS
    if auth == "client_secret_basic":
        assert client_id is not None  # checked at construction
        headers += (
            ("Authorization", basic_authorization(client_id, client_secret or "")),
        )
    else:
        if client_id is not None:
            fields.append(("client_id", client_id))
        if client_secret is not None:
            fields.append(("client_secret", client_secret))
    return trusted_request(url, headers, encode_form(fields))


@final
@attrs.frozen(kw_only=True)
class ClientCredentials:
    """The client credentials grant (RFC 6749 §4.4)."""

    token_url: str = attrs.field(validator=validate_url)
    """The token endpoint: https, or http to loopback."""
    client_id: str = attrs.field(validator=validate_credential)
    """The client identifier."""
    client_secret: str = attrs.field(repr=_masked, validator=validate_credential)
    """The client secret; never shown."""
    scope: tuple[str, ...] = attrs.field(default=(), converter=_scope)
    """Scopes to ask for; a space-separated string is split."""
    auth: ClientAuth = attrs.field(default="client_secret_post", validator=_auth)
    """Where the client credentials go: the body or a Basic header."""
    extra: tuple[tuple[str, str], ...] = attrs.field(default=(), converter=_extra)
    """Further form fields (e.g. ``audience``), sent on every request."""

    def __attrs_post_init__(self) -> None:
        # After the validators, so that a bad argument is reported by name.
        _check_extra(self.extra, _OAUTH_FIELDS)

    def token_request(self) -> HttpRequest:
        """The request that acquires a token (built afresh, the same each time)."""
        fields = [("grant_type", "client_credentials")]
        if self.scope:
            fields.append(("scope", " ".join(self.scope)))
        return _form_request(
            self.token_url,
            fields,
            self.extra,
            self.client_id,
            self.client_secret,
            self.auth,
        )

    def refresh_request(self, refresh_token: str) -> HttpRequest:
        """The RFC 6749 §6 refresh request, with the same client authentication.

        Raises:
          ValueError: if *refresh_token* is empty or holds a lone surrogate.
        """
        return _refresh(self, refresh_token, self.client_id, self.client_secret)

    def cache_identity(self) -> tuple[tuple[str, str], ...]:
        """What decides which token the server issues, for a shared store's key.

        The grant, the token URL, the client id, the scopes (sorted, once
        each) and the extra fields; never the client secret, and not ``auth``
        (where the credentials travel does not change whose token it is).
        """
        return (
            ("grant", "client_credentials"),
            ("token_url", self.token_url),
            ("client_id", self.client_id),
            ("scope", " ".join(sorted(set(self.scope)))),
            *((f"extra:{name}", value) for name, value in self.extra),
        )

    def parse(self, response: HttpResponse, *, now: float) -> Token | TokenError:
        """The token or error in *response*, the client secret masked."""
        return parse_token_response(response, now=now, secrets=(self.client_secret,))


@final
@attrs.frozen(kw_only=True)
class PasswordGrant:
    """The resource owner password credentials grant (RFC 6749 §4.3)."""

    token_url: str = attrs.field(validator=validate_url)
    """The token endpoint: https, or http to loopback."""
    username: str = attrs.field(validator=validate_credential)
    """The resource owner's user name."""
    password: str = attrs.field(repr=_masked, validator=validate_credential)
    """The resource owner's password; never shown."""
    client_id: str | None = attrs.field(default=None, validator=_optional_credential)
    """The client identifier, if the server wants one."""
    client_secret: str | None = attrs.field(
        default=None,
        repr=lambda value: "None" if value is None else "***",
        validator=_optional_credential,
    )
    """The client secret, if the client has one; never shown."""
    scope: tuple[str, ...] = attrs.field(default=(), converter=_scope)
    """Scopes to ask for; a space-separated string is split."""
    auth: ClientAuth = attrs.field(default="client_secret_post", validator=_auth)
    """Where the client credentials go: the body or a Basic header."""
    extra: tuple[tuple[str, str], ...] = attrs.field(default=(), converter=_extra)
    """Further form fields (e.g. ``audience``), sent on every request."""

    def __attrs_post_init__(self) -> None:
        # After the validators, so that a bad argument is reported by name.
        if self.client_id is None and self.client_secret is not None:
            raise ValueError("client_secret needs a client_id")
        if self.client_id is None and self.auth == "client_secret_basic":
            raise ValueError("auth='client_secret_basic' needs a client_id")
        _check_extra(self.extra, _PASSWORD_FIELDS)

    def token_request(self) -> HttpRequest:
        """The request that acquires a token (built afresh, the same each time)."""
        fields = [
            ("grant_type", "password"),
            ("username", self.username),
            ("password", self.password),
        ]
        if self.scope:
            fields.append(("scope", " ".join(self.scope)))
        return _form_request(
            self.token_url,
            fields,
            self.extra,
            self.client_id,
            self.client_secret,
            self.auth,
        )

    def refresh_request(self, refresh_token: str) -> HttpRequest:
        """The RFC 6749 §6 refresh request, with the same client authentication.

        Raises:
          ValueError: if *refresh_token* is empty or holds a lone surrogate.
        """
        return _refresh(self, refresh_token, self.client_id, self.client_secret)

    def cache_identity(self) -> tuple[tuple[str, str], ...]:
        """What decides which token the server issues, for a shared store's key.

        The grant, the token URL, the client id (when there is one), the
        username, the scopes (sorted, once each) and the extra fields; never
        the password or the client secret, and not ``auth``.
        """
        client = () if self.client_id is None else (("client_id", self.client_id),)
        return (
            ("grant", "password"),
            ("token_url", self.token_url),
            *client,
            ("username", self.username),
            ("scope", " ".join(sorted(set(self.scope)))),
            *((f"extra:{name}", value) for name, value in self.extra),
        )

    def parse(self, response: HttpResponse, *, now: float) -> Token | TokenError:
        """The token or error in *response*, password and secret masked."""
        secrets = (
            (self.password,)
            if self.client_secret is None
            else (
                self.password,
                self.client_secret,
            )
        )
        return parse_token_response(response, now=now, secrets=secrets)


def _refresh(
    flow: ClientCredentials | PasswordGrant,
    refresh_token: str,
    client_id: str | None,
    client_secret: str | None,
) -> HttpRequest:
    check_credential("refresh_token", refresh_token)
    fields = [("grant_type", "refresh_token"), ("refresh_token", refresh_token)]
    return _form_request(
        flow.token_url, fields, flow.extra, client_id, client_secret, flow.auth
    )


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
    api_key: str = attrs.field(repr=_masked, validator=_api_key)
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
