"""A protected resource (RFC 6750): ``GET /api/resource``.

It answers who the bearer token was issued to and by which endpoint, if this
server issued it and it is still valid; otherwise 401 with a ``Bearer``
challenge (RFC 6750 §3).
"""

from __future__ import annotations

from typing import Final

from ._base import REALM, Answer, Context, Persona, RecordedRequest, Route, json_answer

__all__ = ["PATH", "PERSONA"]

PATH: Final = "/api/resource"
"""The resource's path."""


def _resource(context: Context, request: RecordedRequest) -> Answer:
    authorization = request.header("Authorization") or ""
    scheme, _, token = authorization.partition(" ")
    claims = context.verify(token.strip()) if scheme.lower() == "bearer" else None
    if claims is None:
        return json_answer(
            401,
            {
                "error": "invalid_token",
                "error_description": "a valid bearer token is required",
            },
            (
                "WWW-Authenticate",
                f'Bearer realm="{REALM}", error="invalid_token"',
            ),
        )
    return json_answer(
        200,
        {"subject": claims.get("sub"), "endpoint": claims.get("endpoint")},
    )


def _summary(url: str) -> str:
    return f"GET {url}{PATH}"


PERSONA: Final = Persona(
    name="resource",
    summary=_summary,
    routes=(
        Route(
            endpoint="resource",
            paths=frozenset({PATH}),
            answer=_resource,
            method="GET",
            issues_tokens=False,
        ),
    ),
)
