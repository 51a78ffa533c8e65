"""SmartDocumentor: the client credentials grant, ``scope=WebAPI``.

``POST /smartdocumentor/connect/token`` with a form body; wrong client
credentials are answered the vendor's way, ``{"error": "invalid_client"}``
alone.
"""

from __future__ import annotations

from typing import Final

from ._base import (
    Answer,
    Context,
    Persona,
    RecordedRequest,
    Refused,
    Route,
    form_fields,
    json_answer,
    require,
    same,
    token_answer,
)

__all__ = ["BASE", "PERSONA"]

BASE: Final = "/smartdocumentor"
"""SmartDocumentor's ``base_url`` on the server."""


def _token(context: Context, request: RecordedRequest) -> Answer:
    creds = context.credentials
    fields = form_fields(request)
    require(fields, "grant_type")
    if fields["grant_type"] != "client_credentials":
        raise Refused(
            "unsupported_grant_type", "the grant type must be client_credentials"
        )
    require(fields, "client_id", "client_secret")
    if not (
        same(fields["client_id"], creds.smartdocumentor_client_id)
        and same(fields["client_secret"], creds.smartdocumentor_client_secret)
    ):
        # As the vendor documents it: {"error": "invalid_client"} alone.
        return json_answer(400, {"error": "invalid_client"})
    if fields.get("scope") != "WebAPI":
        raise Refused("invalid_scope", "the scope must be WebAPI")
    token = context.issue(
        "smartdocumentor",
        fields["client_id"],
        context.token_lifetime,
        client_id=fields["client_id"],
        scope="WebAPI",
    )
    return token_answer(
        {
            "access_token": token,
            "expires_in": context.token_lifetime,
            "token_type": "Bearer",
            "scope": "WebAPI",
        }
    )


def _summary(url: str) -> str:
    return f"base_url={url}{BASE}"


PERSONA: Final = Persona(
    name="smartdocumentor",
    summary=_summary,
    routes=(
        Route(
            endpoint="smartdocumentor",
            paths=frozenset({f"{BASE}/connect/token"}),
            answer=_token,
        ),
    ),
)
