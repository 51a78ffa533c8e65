"""TeamSystem: the multipart request, and the JSON refresh with rotation.

``POST /teamsystem/api/v1/auth/token`` takes a multipart/form-data body with
``username``, ``scope`` and ``token`` (``Bearer <API key>``), and wants
``Accept: application/json``; ``POST /teamsystem/oauth/token`` takes a JSON
``refresh_token`` grant. Both answer an access token and a refresh token;
each refresh token works once.
"""

from __future__ import annotations

import json
from typing import Final

from ._base import (
    Answer,
    Context,
    Persona,
    RecordedRequest,
    Refused,
    Route,
    json_answer,
    media_type,
    multipart_pairs,
    require,
    same,
    single,
    token_answer,
)

__all__ = ["BASE", "PERSONA"]

BASE: Final = "/teamsystem"
"""TeamSystem's ``base_url`` on the server."""


def _token(context: Context, request: RecordedRequest) -> Answer:
    creds = context.credentials
    content_type = request.header("Content-Type")
    if media_type(content_type) != "multipart/form-data" or content_type is None:
        raise Refused(
            "invalid_request",
            "the content type must be multipart/form-data, "
            f"got {media_type(content_type)!r}",
        )
    accept = (request.header("Accept") or "").lower()
    if "application/json" not in accept:
        return json_answer(
            406,
            {
                "error": "not_acceptable",
                "error_description": "send Accept: application/json",
            },
        )
    fields = single(multipart_pairs(content_type, request.body))
    require(fields, "username", "scope", "token")
    scheme, _, key = fields["token"].partition(" ")
    if scheme != "Bearer" or not same(key, creds.teamsystem_api_key):
        raise Refused(
            "invalid_client",
            "the token field must be 'Bearer <API key>' with a valid key",
            status=401,
        )
    if not same(fields["username"], creds.teamsystem_username):
        raise Refused("invalid_grant", "unknown username")
    if not same(fields["scope"], creds.teamsystem_scope):
        raise Refused("invalid_scope", "the scope is not granted to this user")
    return _tokens(context, fields["username"], fields["scope"])


def _tokens(
    context: Context, username: str, scope: str, chain: str | None = None
) -> Answer:
    access = context.issue("teamsystem", username, context.token_lifetime, scope=scope)
    refresh = context.new_refresh_token(
        family="teamsystem", client_id=None, subject=username, scope=scope, chain=chain
    )
    return token_answer(
        {
            "access_token": access,
            "token_type": "Bearer",
            "expires_in": context.token_lifetime,
            "refresh_token": refresh,
        }
    )


def _refresh(context: Context, request: RecordedRequest) -> Answer:
    if media_type(request.header("Content-Type")) != "application/json":
        raise Refused("invalid_request", "the content type must be application/json")
    try:
        data = json.loads(request.body)
    except ValueError:
        raise Refused("invalid_request", "the body is not JSON") from None
    if not isinstance(data, dict):
        raise Refused("invalid_request", "the body must be a JSON object")
    fields = {k: v for k, v in data.items() if isinstance(v, str)}
    require(fields, "grant_type")
    if fields["grant_type"] != "refresh_token":
        raise Refused("unsupported_grant_type", "the grant type must be refresh_token")
    require(fields, "refresh_token")
    grant = context.take_refresh_token(fields["refresh_token"], "teamsystem")
    if grant is None:
        raise Refused("invalid_grant", "the refresh token is invalid or revoked")
    return _tokens(context, grant.subject, grant.scope or "", grant.chain)


def _summary(url: str) -> str:
    return f"base_url={url}{BASE}"


PERSONA: Final = Persona(
    name="teamsystem",
    summary=_summary,
    routes=(
        Route(
            endpoint="teamsystem",
            paths=frozenset({f"{BASE}/api/v1/auth/token"}),
            answer=_token,
        ),
        Route(
            endpoint="teamsystem-refresh",
            paths=frozenset({f"{BASE}/oauth/token"}),
            answer=_refresh,
        ),
    ),
)
