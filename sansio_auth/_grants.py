"""Grants that trade one token for another: the JWT bearer grant (RFC 7523
§2.1) and token exchange (RFC 8693).

Both take the client arguments of every flow (``auth`` and what it needs,
``scope``, ``resource``, ``extra``); the client may also send no
authentication at all (a service account's own assertion is its proof).
Neither refreshes: the assertion or the subject token gets the next token.

A token handed to us (an assertion, a subject or actor token) is a string or
a callable returning one, called on every request: a workload identity token
that rotates on disk is read again each time
(``sansio_auth.adapters.assertions.AssertionFile``).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable
from typing import Any, ClassVar, Final, final

import attrs

from ._claims import claim_pairs
from ._client_auth import signed_assertion, supplied
from ._client_flow import OAUTH_FIELDS, ClientFlow
from ._errors import MalformedResponse, TokenError
from ._fields import check_credential, text_items
from ._http import HttpRequest, HttpResponse
from ._parse import parse_token_response
from ._stamp import Stamp
from ._token import Token

__all__ = [
    "JWT_BEARER",
    "TOKEN_EXCHANGE",
    "TOKEN_TYPE_ACCESS_TOKEN",
    "TOKEN_TYPE_ID_TOKEN",
    "TOKEN_TYPE_JWT",
    "TOKEN_TYPE_REFRESH_TOKEN",
    "TOKEN_TYPE_SAML1",
    "TOKEN_TYPE_SAML2",
    "JwtBearerGrant",
    "TokenExchange",
]

JWT_BEARER: Final = "urn:ietf:params:oauth:grant-type:jwt-bearer"
TOKEN_EXCHANGE: Final = "urn:ietf:params:oauth:grant-type:token-exchange"
# RFC 8693 §3: the token type identifiers.
TOKEN_TYPE_ACCESS_TOKEN: Final = "urn:ietf:params:oauth:token-type:access_token"
TOKEN_TYPE_REFRESH_TOKEN: Final = "urn:ietf:params:oauth:token-type:refresh_token"
TOKEN_TYPE_ID_TOKEN: Final = "urn:ietf:params:oauth:token-type:id_token"
TOKEN_TYPE_JWT: Final = "urn:ietf:params:oauth:token-type:jwt"
TOKEN_TYPE_SAML1: Final = "urn:ietf:params:oauth:token-type:saml1"
TOKEN_TYPE_SAML2: Final = "urn:ietf:params:oauth:token-type:saml2"
_BEARER_LIFETIME = 300
_MAX_BEARER_LIFETIME = 3600

Source = str | Callable[[], str]
"""A token given as it is, or a callable returning it on each request."""


def _hidden(value: object) -> str:
    return "None" if value is None else "***"


def _source(field: str) -> Callable[[object, attrs.Attribute[Any], object], None]:
    def check(instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
        if value is None or callable(value):
            return
        check_credential(field, value)

    return check


def _read(source: Source, field: str) -> str:
    return source if isinstance(source, str) else supplied(source, field)


def _source_identity(source: Source, field: str) -> str:
    # A shared store's key names the token we trade, by its hash; a callable
    # has no value until it is called, so it must name itself (an
    # AssertionFile names its path).
    if isinstance(source, str):
        return "sha256:" + hashlib.sha256(source.encode("utf-8")).hexdigest()
    identity = getattr(source, "cache_identity", None)
    if isinstance(identity, str) and identity:
        return identity
    raise TypeError(
        f"{field} is a callable without a cache_identity string: a store "
        "cannot tell which token it stands for (give it an attribute "
        "cache_identity, as AssertionFile has)"
    )


def _lifetime(instance: object, attribute: attrs.Attribute[int], value: object) -> None:
    if (
        isinstance(value, bool)
        or not isinstance(value, int)
        or not 1 <= value <= _MAX_BEARER_LIFETIME
    ):
        raise ValueError(
            f"lifetime must be whole seconds in [1, {_MAX_BEARER_LIFETIME}]"
        )


# The arguments of an assertion the flow signs, None when not given.
_SIGNING = (
    "signing_key",
    "issuer",
    "subject",
    "audience",
    "signing_key_id",
    "signing_algorithm",
)


def _audiences(value: str | Iterable[str]) -> tuple[str, ...]:
    return text_items("audience", value)


@final
@attrs.frozen(kw_only=True, repr=False)
class JwtBearerGrant(ClientFlow):
    """The JWT bearer grant (RFC 7523 §2.1): a signed JWT for a token.

    Either the assertion is given (``assertion``: a string, or a callable
    returning one per request), or the flow signs one per request from
    ``issuer``, ``subject``, ``signing_key`` and ``audience`` (the token URL
    by default), with ``claims`` added (Google service accounts put their
    ``scope`` there). A client may authenticate too (``auth``), or send
    nothing of its own.
    """

    _TAKEN: ClassVar[frozenset[str]] = OAUTH_FIELDS | {"assertion"}

    assertion: Source | None = attrs.field(
        default=None, repr=_hidden, validator=_source("assertion")
    )
    """The assertion, made elsewhere; never shown."""
    issuer: str | None = None
    """The ``iss`` of the assertion we sign (a service account's email)."""
    subject: str | None = None
    """The ``sub``: whom the token acts for (the issuer when None)."""
    audience: str | None = None
    """The ``aud``: the token URL when None."""
    signing_key: object = attrs.field(default=None, repr=_hidden)
    """The private key that signs the assertion: PEM or ``cryptography`` key."""
    signing_key_id: str | None = None
    """Its ``kid``."""
    signing_algorithm: str | None = None
    """RS256, PS256, ES256 or EdDSA; None for the key's default."""
    claims: tuple[tuple[str, object], ...] = attrs.field(
        default=(), converter=claim_pairs
    )
    """Further claims of the assertion we sign (JSON values)."""
    lifetime: int = attrs.field(default=_BEARER_LIFETIME, validator=_lifetime)
    """Seconds the assertion we sign is valid."""
    _signer: object = attrs.field(init=False, repr=False, eq=False)

    def __attrs_post_init__(self) -> None:
        super().__attrs_post_init__()
        for name in ("issuer", "subject", "audience", "signing_key_id"):
            check_credential(name, getattr(self, name), optional=True)
        signer = None
        if self.assertion is None:
            if self.signing_key is None or self.issuer is None:
                raise ValueError(
                    "JwtBearerGrant needs an assertion, or an issuer and a "
                    "signing_key to sign one"
                )
            from ._keys import load_signing_key

            signer = load_signing_key(
                self.signing_key,
                algorithm=self.signing_algorithm,
                key_id=self.signing_key_id,
                field="signing_key",
                key_id_field="signing_key_id",
            )
        else:
            # What signs an assertion would go unused beside a given one: a
            # caller who gave it expects it to count.
            given = [name for name in _SIGNING if getattr(self, name) is not None]
            if self.claims:
                given.append("claims")
            if self.lifetime != _BEARER_LIFETIME:
                given.append("lifetime")
            if given:
                raise ValueError(
                    "give JwtBearerGrant an assertion or what signs one, not "
                    f"both ({', '.join(given)} with an assertion)"
                )
        object.__setattr__(self, "_signer", signer)

    def _loaded_keys(self) -> tuple[tuple[str, object], ...]:
        return (*super()._loaded_keys(), ("signing_key", self._signer))

    @property
    def needs_stamp(self) -> bool:
        """Whether each request needs a :class:`~sansio_auth.Stamp`: the flow
        signs the assertion, or the client signs its own."""
        return self._signer is not None or super().needs_stamp

    def token_request(self, stamp: Stamp | None = None) -> HttpRequest:
        """The grant request, with a fresh assertion (the same for the same
        *stamp*).

        Raises:
          ValueError: if an assertion must be signed and *stamp* is None.
        """
        fields = [("grant_type", JWT_BEARER), ("assertion", self._assertion(stamp))]
        if stamp is not None and self._signer is not None and self._client.needs_stamp:
            # Two JWTs we sign in one request: each needs its own jti, since
            # a server may keep one replay cache for both (and the issuer
            # may be the client). Derived, as the core draws no randomness:
            # unique while the stamp's jti is.
            stamp = Stamp(now=stamp.now, jti=f"{stamp.jti}.client")
        return self._post(self._scope_fields(fields), stamp)

    def refresh_request(self, refresh_token: str, stamp: Stamp | None = None) -> None:
        """None: a new assertion gets the next token."""

    def _assertion(self, stamp: Stamp | None) -> str:
        if self.assertion is not None:
            return _read(self.assertion, "assertion")
        if stamp is None:
            raise ValueError(
                "JwtBearerGrant signs each request: pass a Stamp(now=..., jti=...)"
            )
        assert self.issuer is not None
        return signed_assertion(
            self._signer,  # type: ignore[arg-type]
            issuer=self.issuer,
            subject=self.subject or self.issuer,
            audience=self.audience or self.token_url,
            stamp=stamp,
            lifetime=self.lifetime,
            claims=self.claims,
        )

    def cache_identity(self) -> tuple[tuple[str, str], ...]:
        """What decides which token the server issues, for a shared store's key:
        the issuer, subject and audience of the assertion we sign (or the
        given assertion, hashed), the client id, scopes, resources and extra
        fields; never a key or a secret.

        Raises:
          TypeError: if the assertion comes from a callable that does not
            name itself (``cache_identity``).
        """
        if self.assertion is not None:
            about: tuple[tuple[str, str], ...] = (
                ("assertion", _source_identity(self.assertion, "assertion")),
            )
        else:
            assert self.issuer is not None
            about = (
                ("issuer", self.issuer),
                ("subject", self.subject or self.issuer),
                ("audience", self.audience or self.token_url),
                *(
                    (f"claim:{name}", json.dumps(value, sort_keys=True))
                    for name, value in self.claims
                ),
            )
        return self._identity("jwt_bearer", *about)

    def parse(self, response: HttpResponse, *, now: float) -> Token | TokenError:
        """The token or error in *response*, the client secret and a given
        assertion masked."""
        return parse_token_response(response, now=now, secrets=self.masking_secrets())

    def masking_secrets(self) -> tuple[str, ...]:
        """The client secret and a given assertion, for masking answers."""
        given = (self.assertion,) if isinstance(self.assertion, str) else ()
        return (*super().masking_secrets(), *given)


@final
@attrs.frozen(kw_only=True, repr=False)
class TokenExchange(ClientFlow):
    """Token exchange (RFC 8693): a subject token (and an actor's) for a new
    token, for an ``audience`` or ``resource``.

    The token types are RFC 8693 §3's URIs (``TOKEN_TYPE_ACCESS_TOKEN``,
    ``TOKEN_TYPE_JWT``, ...). The answer's ``issued_token_type`` is in the
    token's ``raw``; its ``token_type`` may be ``N_A`` when what was issued is
    not an access token.
    """

    _TAKEN: ClassVar[frozenset[str]] = OAUTH_FIELDS | {
        "subject_token",
        "subject_token_type",
        "actor_token",
        "actor_token_type",
        "audience",
        "requested_token_type",
    }

    subject_token: Source = attrs.field(
        repr=_hidden, validator=_source("subject_token")
    )
    """Whom the new token is about: a token, or a callable returning one."""
    subject_token_type: str = attrs.field(default=TOKEN_TYPE_ACCESS_TOKEN)
    """What kind of token the subject token is."""
    actor_token: Source | None = attrs.field(
        default=None, repr=_hidden, validator=_source("actor_token")
    )
    """Who acts for the subject (delegation), if anyone."""
    actor_token_type: str | None = None
    """What kind of token the actor token is; needed with one."""
    audience: tuple[str, ...] = attrs.field(default=(), converter=_audiences)
    """Logical names of the services the token is for (repeated)."""
    requested_token_type: str | None = None
    """The kind of token wanted, if not the server's default."""

    def __attrs_post_init__(self) -> None:
        super().__attrs_post_init__()
        check_credential("subject_token_type", self.subject_token_type)
        check_credential("actor_token_type", self.actor_token_type, optional=True)
        check_credential(
            "requested_token_type", self.requested_token_type, optional=True
        )
        if (self.actor_token is None) != (self.actor_token_type is None):
            # RFC 8693 §2.1: the type is required with the token, and only then.
            raise ValueError("actor_token and actor_token_type go together")

    def token_request(self, stamp: Stamp | None = None) -> HttpRequest:
        """The exchange request, reading the subject and actor tokens afresh."""
        fields = [
            ("grant_type", TOKEN_EXCHANGE),
            *(("audience", name) for name in self.audience),
            ("subject_token", _read(self.subject_token, "subject_token")),
            ("subject_token_type", self.subject_token_type),
        ]
        if self.actor_token is not None:
            assert self.actor_token_type is not None
            fields.append(("actor_token", _read(self.actor_token, "actor_token")))
            fields.append(("actor_token_type", self.actor_token_type))
        if self.requested_token_type is not None:
            fields.append(("requested_token_type", self.requested_token_type))
        return self._post(self._scope_fields(fields), stamp)

    def refresh_request(self, refresh_token: str, stamp: Stamp | None = None) -> None:
        """None: the subject token gets the next token."""

    def masking_secrets(self) -> tuple[str, ...]:
        """The client secret and the subject and actor tokens given as
        strings, for masking answers."""
        given = tuple(
            source
            for source in (self.subject_token, self.actor_token)
            if isinstance(source, str)
        )
        return (*super().masking_secrets(), *given)

    def cache_identity(self) -> tuple[tuple[str, str], ...]:
        """What decides which token the server issues, for a shared store's key:
        the subject (and actor) token, hashed, their types, the audiences,
        requested type, scopes, resources and extra fields.

        Raises:
          TypeError: if a token comes from a callable that does not name
            itself (``cache_identity``).
        """
        about = [
            ("subject", _source_identity(self.subject_token, "subject_token")),
            ("subject_token_type", self.subject_token_type),
        ]
        if self.actor_token is not None:
            assert self.actor_token_type is not None
            about.append(("actor", _source_identity(self.actor_token, "actor_token")))
            about.append(("actor_token_type", self.actor_token_type))
        # One pair per audience: a logical name may hold a space, so joined
        # with spaces ("a b") it would name the same key as ("a", "b").
        about.extend(("audience", name) for name in sorted(set(self.audience)))
        if self.requested_token_type is not None:
            about.append(("requested_token_type", self.requested_token_type))
        return self._identity("token_exchange", *about)

    def parse(self, response: HttpResponse, *, now: float) -> Token | TokenError:
        """The token or error in *response*; a token answer must say its
        ``issued_token_type``, a string (REQUIRED by RFC 8693 §2.2.1)."""
        result = parse_token_response(response, now=now, secrets=self.masking_secrets())
        if isinstance(result, Token):
            issued = result.raw.get("issued_token_type")
            if not isinstance(issued, str) or not issued:
                # REQUIRED (RFC 8693 §2.2.1): without it, nobody can tell an
                # access token from an ID token or a SAML assertion.
                return MalformedResponse(
                    reason=(
                        "the answer has no issued_token_type (RFC 8693 §2.2.1)"
                        if issued is None
                        else "issued_token_type is not a string"
                    ),
                    status=response.status,
                    content_type=response.header("content-type"),
                    snippet="",
                )
        return result
