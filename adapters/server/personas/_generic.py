"""A generic RFC 6749 token endpoint: ``POST /oauth/token``.

It takes the ``client_credentials``, ``password`` and ``refresh_token``
grants (§4.4, §4.3, §6) from a client that authenticates with HTTP Basic or
in the body (§2.3.1), never both. Refresh tokens rotate, and none is issued
for the client credentials grant (§4.4.3). A client that fails HTTP Basic
authentication gets 401 with ``WWW-Authenticate`` (§5.2).
"""

from __future__ import annotations

import base64
import binascii
import urllib.parse
from typing import Final

from ._base import (
    REALM,
    Answer,
    Context,
    Persona,
    RecordedRequest,
    Refused,
    Route,
    form_fields,
    require,
    same,
    token_answer,
)

__all__ = ["PATH", "PERSONA"]

PATH: Final = "/oauth/token"
"""The token endpoint's path."""


def _client(context: Context, request: RecordedRequest, fields: dict[str, str]) -> str:
    """The authenticated client id (RFC 6749 §2.3.1), or a refusal."""
    creds = context.credentials
    authorization = request.header("Authorization")
    basic = authorization is not None
    challenge = (("WWW-Authenticate", f'Basic realm="{REALM}"'),)
    if basic and ("client_id" in fields or "client_secret" in fields):
        # §2.3: a client must not use more than one method.
        raise Refused("invalid_request", "client credentials in both header and body")
    if authorization is not None:
        scheme, _, encoded = authorization.partition(" ")
        try:
            decoded = base64.b64decode(encoded.strip(), validate=True).decode()
        except (ValueError, binascii.Error):
            decoded = ""
        raw_id, colon, raw_secret = decoded.partition(":")
        if scheme.lower() != "basic" or not colon:
            raise Refused(
                "invalid_client",
                "malformed Basic credentials",
                status=401,
                headers=challenge,
            )
        client_id = urllib.parse.unquote_plus(raw_id)
        secret = urllib.parse.unquote_plus(raw_secret)
    else:
        client_id = fields.pop("client_id", "")
        secret = fields.pop("client_secret", "")
        if not client_id:
            raise Refused(
                "invalid_client",
                "client authentication is required",
                status=401,
                headers=challenge,
            )
    if not (
        same(client_id, creds.generic_client_id)
        and same(secret, creds.generic_client_secret)
    ):
        if basic:
            raise Refused(
                "invalid_client",
                "client authentication failed",
                status=401,
                headers=challenge,
            )
        raise Refused("invalid_client", "client authentication failed")
    return client_id


def _token(context: Context, request: RecordedRequest) -> Answer:
    creds = context.credentials
    fields = form_fields(request)
    require(fields, "grant_type")
    grant_type = fields["grant_type"]
    if grant_type not in ("client_credentials", "password", "refresh_token"):
        raise Refused(
            "unsupported_grant_type",
            f"the grant type {grant_type} is not supported",
        )
    client_id = _client(context, request, fields)
    scope = fields.get("scope") or None
    refresh: str | None = None
    chain: str | None = None
    if grant_type == "client_credentials":
        subject = client_id
    elif grant_type == "password":
        require(fields, "username", "password")
        if not (
            same(fields["username"], creds.generic_username)
            and same(fields["password"], creds.generic_password)
        ):
            raise Refused("invalid_grant", "the username or password is incorrect")
        subject = fields["username"]
    else:
        require(fields, "refresh_token")
        grant = context.take_refresh_token(fields["refresh_token"], "generic")
        if grant is None or grant.client_id != client_id:
            raise Refused("invalid_grant", "the refresh token is invalid or revoked")
        subject = grant.subject
        scope = scope or grant.scope
        chain = grant.chain
    if grant_type != "client_credentials":  # §4.4.3: none for this grant
        refresh = context.new_refresh_token(
            family="generic",
            client_id=client_id,
            subject=subject,
            scope=scope,
            chain=chain,
        )
    claims: dict[str, object] = {"client_id": client_id}
    if scope is not None:
        claims["scope"] = scope
    data: dict[str, object] = {
        "access_token": context.issue(
            "generic", subject, context.token_lifetime, **claims
        ),
        "token_type": "Bearer",
        "expires_in": context.token_lifetime,
    }
    if scope is not None:
        data["scope"] = scope
    if refresh is not None:
        data["refresh_token"] = refresh
    return token_answer(data)


def _summary(url: str) -> str:
    return f"{url}{PATH}"


PERSONA: Final = Persona(
    name="generic",
    summary=_summary,
    routes=(Route(endpoint="generic", paths=frozenset({PATH}), answer=_token),),
)
