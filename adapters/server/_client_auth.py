"""Client authentication at the generic token endpoint.

One method per request (RFC 6749 §2.3): HTTP Basic (§2.3.1), the secret in
the body, a JWT assertion (RFC 7523 §2.2: ``private_key_jwt`` or
``client_secret_jwt``), or a TLS client certificate (RFC 8705 §2:
``tls_client_auth``, ``self_signed_tls_client_auth``: ``client_id`` alone in
the body). Credentials of two methods in one request are refused with
``invalid_request``, as §5.2 says. A client uses only a method whose
material it registered (see :class:`~._clients.RegisteredClient`).

The refusals keep the answers this endpoint always gave: 401 with a
``Basic`` challenge for HTTP Basic and for no authentication at all, 400 for
a wrong secret in the body. A refused assertion or certificate is 401
``invalid_client`` (with the challenge RFC 9110 §15.5.2 asks of every 401),
its description naming the rule broken, never the credential; each refusal
is recorded in the guard with its reason.
"""

from __future__ import annotations

import base64
import binascii
import time
import urllib.parse
from typing import Final, NoReturn, final

import attrs

from . import _assertions, _mtls
from ._answers import REALM, Refused
from ._clients import RegisteredClient
from ._context import Context
from ._credentials import same
from ._jose import Invalid
from ._request import RecordedRequest

__all__ = ["CLIENT_ASSERTION_TYPE", "Client", "authenticate"]

CLIENT_ASSERTION_TYPE: Final = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
"""The one ``client_assertion_type`` taken (RFC 7523 §2.2)."""

_CHALLENGE: Final = (("WWW-Authenticate", f'Basic realm="{REALM}"'),)
_ENDPOINT: Final = "generic"


@final
@attrs.frozen(kw_only=True)
class Client:
    """An authenticated client."""

    client_id: str
    """Its id."""
    method: str
    """How it authenticated: ``client_secret_basic``, ``client_secret_post``,
    ``client_secret_jwt``, ``private_key_jwt``, ``tls_client_auth`` or
    ``self_signed_tls_client_auth``."""
    registered: RegisteredClient = attrs.field(repr=False)
    """What it registered."""
    certificate: bytes | None = attrs.field(default=None, repr=False)
    """The DER certificate it authenticated with (the mTLS methods): the
    tokens it gets are bound to it (RFC 8705 §3)."""


def _refuse(
    context: Context, kind: str, reason: str, description: str, *, status: int = 401
) -> NoReturn:
    context.guard.reject(_ENDPOINT, kind, reason)
    if status == 401:
        raise Refused("invalid_client", description, status=401, headers=_CHALLENGE)
    raise Refused("invalid_client", description)


def authenticate(
    context: Context,
    request: RecordedRequest,
    fields: dict[str, str],
    *,
    token_url: str,
    required: bool = True,
) -> Client | None:
    """The client *request* authenticates as, its credentials taken out of
    *fields*; None when it sends none and none is *required*.

    Raises:
      Refused: ``invalid_client`` when it fails, ``invalid_request`` for two
        methods at once.
    """
    authorization = request.header("Authorization")
    secret_given = "client_secret" in fields
    assertion_given = "client_assertion" in fields or "client_assertion_type" in fields
    kind = "client_assertion" if assertion_given else "client_secret"
    if authorization is not None and (
        "client_id" in fields or secret_given or assertion_given
    ):
        context.guard.reject(_ENDPOINT, kind, "methods")
        raise Refused("invalid_request", "client credentials in both header and body")
    if secret_given and assertion_given:
        context.guard.reject(_ENDPOINT, kind, "methods")
        raise Refused(
            "invalid_request", "a client secret and a client assertion: one method only"
        )
    if authorization is not None:
        return _basic(context, authorization)
    if assertion_given:
        return _jwt(context, fields, token_url)
    client_id = fields.pop("client_id", "")
    secret = fields.pop("client_secret", None)
    if not client_id and (required or secret is not None):
        _refuse(
            context, "client_secret", "missing", "client authentication is required"
        )
    if not client_id:
        return None
    client = context.credentials.client(client_id)
    if secret is None and client is not None and _has_certificate(client):
        return _certificate(context, request, client)
    if client is None or client.client_secret is None:
        _refuse(
            context,
            "client_secret",
            "unknown",
            "client authentication failed",
            status=400,
        )
    if not same(secret or "", client.client_secret):
        _refuse(
            context,
            "client_secret",
            "mismatch",
            "client authentication failed",
            status=400,
        )
    return Client(client_id=client_id, method="client_secret_post", registered=client)


def _basic(context: Context, authorization: str) -> Client:
    """RFC 6749 §2.3.1: ``Basic`` with the id and secret form-encoded."""
    scheme, _, encoded = authorization.partition(" ")
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode()
    except (ValueError, binascii.Error):
        decoded = ""
    raw_id, colon, raw_secret = decoded.partition(":")
    if scheme.lower() != "basic" or not colon:
        _refuse(context, "client_secret", "malformed", "malformed Basic credentials")
    client_id = urllib.parse.unquote_plus(raw_id)
    client = context.credentials.client(client_id)
    if client is None or client.client_secret is None:
        _refuse(context, "client_secret", "unknown", "client authentication failed")
    if not same(urllib.parse.unquote_plus(raw_secret), client.client_secret):
        _refuse(context, "client_secret", "mismatch", "client authentication failed")
    return Client(client_id=client_id, method="client_secret_basic", registered=client)


def _jwt(context: Context, fields: dict[str, str], token_url: str) -> Client:
    """RFC 7523 §2.2: a signed JWT stands for the client."""
    assertion_type = fields.pop("client_assertion_type", "")
    assertion = fields.pop("client_assertion", "")
    client_id = fields.pop("client_id", None)
    if assertion_type != CLIENT_ASSERTION_TYPE:
        _refuse(
            context,
            "client_assertion",
            "type",
            f"client_assertion_type must be {CLIENT_ASSERTION_TYPE}",
        )
    if not assertion:
        _refuse(context, "client_assertion", "missing", "client_assertion is missing")
    try:
        client, method = _assertions.client_assertion(
            assertion,
            client_id=client_id,
            credentials=context.credentials,
            audiences=(context.issuer, token_url),
            now=time.time(),
            guard=context.guard,
        )
    except Invalid as invalid:
        _refuse(context, "client_assertion", invalid.reason, invalid.description)
    return Client(client_id=client.client_id, method=method, registered=client)


def _has_certificate(client: RegisteredClient) -> bool:
    return client.tls_client_auth is not None or bool(client.thumbprints)


def _certificate(
    context: Context, request: RecordedRequest, client: RegisteredClient
) -> Client:
    """RFC 8705 §2: the connection's certificate stands for the client."""
    certificate = request.client_cert
    if certificate is None:
        _refuse(
            context,
            "client_certificate",
            "missing",
            "the connection carries no client certificate",
        )
    failure = Invalid("method", "the client registered no certificate")
    if client.thumbprints:  # comparing a hash first: it needs no parsing
        try:
            _mtls.check_self_signed(certificate, client)
        except Invalid as invalid:
            failure = invalid
        else:
            return Client(
                client_id=client.client_id,
                method="self_signed_tls_client_auth",
                registered=client,
                certificate=certificate,
            )
    if client.tls_client_auth is not None:
        try:
            if not context.client_cas:
                raise Invalid("issuer", "the server has no client CA (client_ca=)")
            _mtls.check_tls_client_auth(certificate, client, context.client_cas)
        except Invalid as invalid:
            failure = invalid
        else:
            return Client(
                client_id=client.client_id,
                method="tls_client_auth",
                registered=client,
                certificate=certificate,
            )
    _refuse(context, "client_certificate", failure.reason, failure.description)
