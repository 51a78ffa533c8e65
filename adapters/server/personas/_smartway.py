"""SmartWay: ``X-API-Key`` for a JWT with ``companyId`` and ``hrEmail``.

``POST /smartway/api/v1/auth/token`` with the company API key in the
``X-API-Key`` header and no body; the answer is a token that lives
``smartway_lifetime`` seconds. No refresh token: the key gets the next one.
"""

from __future__ import annotations

from typing import Final

from ._base import (
    Answer,
    Context,
    Persona,
    RecordedRequest,
    Route,
    json_answer,
    same,
    token_answer,
)

__all__ = ["BASE", "PERSONA", "SMARTWAY_SCOPE"]

SMARTWAY_SCOPE: Final = (
    "academy.read academy.write employees.read employees.write "
    "tests.read tests.write files.read"
)
"""The scopes SmartWay's document shows in its token answer."""
BASE: Final = "/smartway"
"""SmartWay's ``base_url`` on the server."""


def _token(context: Context, request: RecordedRequest) -> Answer:
    creds = context.credentials
    key = request.header("X-API-Key")
    if not key or not same(key, creds.smartway_api_key):
        return json_answer(
            401,
            {
                "error": "unauthorized",
                "error_description": "a valid company API key is required "
                "in the X-API-Key header",
            },
        )
    token = context.issue(
        "smartway",
        creds.smartway_company_id,
        context.smartway_lifetime,
        companyId=creds.smartway_company_id,
        hrEmail=creds.smartway_hr_email,
        scope=SMARTWAY_SCOPE,
    )
    return token_answer(
        {
            "access_token": token,
            "token_type": "Bearer",
            "expires_in": context.smartway_lifetime,
            "scope": SMARTWAY_SCOPE,
        }
    )


def _summary(url: str) -> str:
    return f"base_url={url}{BASE}"


PERSONA: Final = Persona(
    name="smartway",
    summary=_summary,
    routes=(
        Route(
            endpoint="smartway",
            paths=frozenset({f"{BASE}/api/v1/auth/token"}),
            answer=_token,
        ),
    ),
)
