"""What every flow that authenticates a client shares: its arguments and how
they make a form POST to the token endpoint.

:class:`ClientCredentials`, :class:`PasswordGrant`, :class:`JwtBearerGrant`
and :class:`TokenExchange` take the same client arguments (``auth`` and what
it needs, ``scope``, ``resource``, ``extra``), checked together when the flow
is built, so a flow that exists can always build its request. Each request
is built afresh from the arguments; one whose client signs an assertion
takes a :class:`~sansio_auth.Stamp` (the time and a fresh ``jti``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ClassVar

import attrs

from ._client_auth import (
    ASSERTION_LIFETIME,
    ClientAuth,
    ClientAuthentication,
    client_authentication,
)
from ._encoding import encode_form
from ._fields import (
    FORM_HEADERS,
    check_credential,
    check_extra,
    extra_fields,
    optional_credential,
    resource_uris,
    scope_items,
    validate_url,
)
from ._http import HttpRequest, trusted_request

if TYPE_CHECKING:
    from ._stamp import Stamp

__all__ = ["OAUTH_FIELDS", "ClientFlow"]

OAUTH_FIELDS = frozenset(
    {
        "grant_type",
        "refresh_token",
        "scope",
        "client_id",
        "client_secret",
        "client_assertion",
        "client_assertion_type",
    }
)
"""The form fields a flow sets itself, which ``extra`` may not set again."""


_FIRST = ("token_url", "client_id")


def _repr_order(field: attrs.Attribute[object]) -> int:
    return _FIRST.index(field.name) if field.name in _FIRST else len(_FIRST)


def _hidden(value: object) -> str:
    return "None" if value is None else "***"


# No __init__, __eq__ or __hash__ of its own: each flow's class makes its
# own from these fields and its own, and making them twice costs the import.
@attrs.frozen(kw_only=True, repr=False, init=False, eq=False)
class ClientFlow:
    """The client arguments and form requests of the flows that take them;
    not a flow by itself."""

    _TAKEN: ClassVar[frozenset[str]] = OAUTH_FIELDS

    token_url: str = attrs.field(validator=validate_url)
    """The token endpoint: https, or http to loopback."""
    client_id: str | None = attrs.field(default=None, validator=optional_credential)
    """The client identifier."""
    client_secret: str | None = attrs.field(
        default=None, repr=_hidden, validator=optional_credential
    )
    """The client secret, for the ``client_secret_*`` methods; never shown."""
    scope: tuple[str, ...] = attrs.field(default=(), converter=scope_items)
    """Scopes to ask for; a space-separated string is split."""
    auth: ClientAuth = "client_secret_post"
    """How the client authenticates: ``client_secret_post``,
    ``client_secret_basic``, ``client_secret_jwt``, ``private_key_jwt``,
    ``tls_client_auth`` or ``self_signed_tls_client_auth``."""
    private_key: object = attrs.field(default=None, repr=_hidden)
    """For ``private_key_jwt``: a PEM private key (str or bytes) or a
    ``cryptography`` private key; never shown."""
    key_id: str | None = None
    """The ``kid`` of *private_key*, put in the assertion's header."""
    algorithm: str | None = None
    """RS256, PS256, ES256 or EdDSA; None for the key's own default."""
    client_assertion: Callable[[], str] | None = attrs.field(default=None, repr=_hidden)
    """For ``private_key_jwt`` without a key: a callable returning a client
    assertion made elsewhere (a workload identity token), called per request."""
    assertion_audience: str | None = None
    """The ``aud`` of the assertions we sign: the token URL when None; the
    authorization server's issuer identifier for servers that ask for it."""
    assertion_lifetime: int = ASSERTION_LIFETIME
    """Seconds an assertion we sign is valid (``exp`` - ``iat``)."""
    resource: tuple[str, ...] = attrs.field(default=(), converter=resource_uris)
    """RFC 8707 resource indicators: absolute URIs, each sent as a
    ``resource`` field on every request, token and refresh."""
    extra: tuple[tuple[str, str], ...] = attrs.field(default=(), converter=extra_fields)
    """Further form fields (e.g. ``audience``), sent on every request."""
    _client: ClientAuthentication = attrs.field(init=False, repr=False, eq=False)

    def __attrs_post_init__(self) -> None:
        # After the validators, so that a bad argument is reported by name.
        client = client_authentication(
            auth=self.auth,
            client_id=self.client_id,
            client_secret=self.client_secret,
            private_key=self.private_key,
            key_id=self.key_id,
            algorithm=self.algorithm,
            client_assertion=self.client_assertion,
            assertion_audience=self.assertion_audience,
            assertion_lifetime=self.assertion_lifetime,
            token_url=self.token_url,
        )
        object.__setattr__(self, "_client", client)
        check_extra(self.extra, self._TAKEN)
        if self.resource and any(name == "resource" for name, _ in self.extra):
            # Resources given as extra fields came before resource= did; both
            # at once would send some twice, or not the ones meant.
            raise ValueError("give the resources in resource=, not also in extra")

    @property
    def needs_stamp(self) -> bool:
        """Whether each request needs a :class:`~sansio_auth.Stamp`: the
        client signs an assertion (``client_secret_jwt``, ``private_key_jwt``
        with a key). :class:`~sansio_auth.TokenSession` passes one."""
        return self._client.needs_stamp

    def refresh_request(
        self, refresh_token: str, stamp: Stamp | None = None
    ) -> HttpRequest | None:
        """The RFC 6749 §6 refresh request, with the same client authentication
        and resource indicators.

        Raises:
          ValueError: if *refresh_token* is empty or holds a lone surrogate,
            or the client signs assertions and *stamp* is None.
        """
        check_credential("refresh_token", refresh_token)
        fields = [("grant_type", "refresh_token"), ("refresh_token", refresh_token)]
        return self._post(fields, stamp)

    def _post(self, fields: list[tuple[str, str]], stamp: Stamp | None) -> HttpRequest:
        # RFC 6749 §2.3: one client authentication per request. The URL passed
        # check_token_url when the flow was built and the headers are ours (a
        # Basic value is base64), so the request is not checked again; form
        # values may hold anything.
        if self.resource:
            fields.extend(("resource", uri) for uri in self.resource)
        if self.extra:
            fields.extend(self.extra)
        headers = FORM_HEADERS + self._client.apply(fields, stamp)
        return trusted_request(self.token_url, headers, encode_form(fields))

    def _scope_fields(self, fields: list[tuple[str, str]]) -> list[tuple[str, str]]:
        if self.scope:
            fields.append(("scope", " ".join(self.scope)))
        return fields

    def _identity(
        self, grant: str, *middle: tuple[str, str]
    ) -> tuple[tuple[str, str], ...]:
        # A shared store's key: what decides which token the server issues.
        # Never a secret, and not how the client authenticates.
        client = () if self.client_id is None else (("client_id", self.client_id),)
        resource = (
            (("resource", " ".join(sorted(set(self.resource)))),)
            if self.resource
            else ()
        )
        return (
            ("grant", grant),
            ("token_url", self.token_url),
            *client,
            *middle,
            ("scope", " ".join(sorted(set(self.scope)))),
            *resource,
            *((f"extra:{name}", value) for name, value in self.extra),
        )

    def __repr__(self) -> str:
        # The arguments given, not every default: a flow of the old two-method
        # kind reads as it did before the JWT methods came. Secrets masked.
        shown = []
        for field in sorted(attrs.fields(type(self)), key=_repr_order):
            if not field.init:
                continue
            value = getattr(self, field.name)
            if field.default is not attrs.NOTHING and value == field.default:
                continue
            text = field.repr(value) if callable(field.repr) else repr(value)
            shown.append(f"{field.alias}={text}")
        return f"{type(self).__name__}({', '.join(shown)})"

    def __copy__(self) -> ClientFlow:
        # A flow is immutable: a copy is the flow itself, equal to it, and
        # costs no key loaded again (__reduce__ is for pickling only).
        return self

    def __deepcopy__(self, memo: dict[int, object]) -> ClientFlow:
        return self

    def __reduce__(self) -> tuple[object, tuple[type[ClientFlow], dict[str, object]]]:
        # A flow goes to a process pool's workers by pickle, rebuilt from its
        # arguments. A cryptography key object does not pickle: it goes as
        # the key loaded from it, which does, as unencrypted PKCS #8 (as a
        # PEM given as text goes; docs/security.md says what that means).
        args = {
            field.alias: getattr(self, field.name)
            for field in attrs.fields(type(self))
            if field.init
        }
        for name, loaded in self._loaded_keys():
            if args[name] is not None and not isinstance(args[name], str | bytes):
                args[name] = loaded
        return _rebuilt, (type(self), args)

    def _loaded_keys(self) -> tuple[tuple[str, object], ...]:
        # (argument, the key loaded from it) of each key argument.
        return (("private_key", self._client.key),)

    def masking_secrets(self) -> tuple[str, ...]:
        """The flow's own secrets, for masking what a server answers: those a
        request need not carry (``client_secret_jwt`` signs with the secret
        and never sends it), so that the session masks them too."""
        return () if self.client_secret is None else (self.client_secret,)


def _rebuilt(cls: type[ClientFlow], args: dict[str, Any]) -> ClientFlow:
    return cls(**args)
