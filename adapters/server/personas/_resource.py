"""A protected resource (RFC 6750): ``GET``, ``POST`` or ``PUT /api/resource``.

A request with a bearer token this server issued, not revoked and not
expired, is answered 200 with who the token was issued to, by which
endpoint, and what came (method, body length). Otherwise 401 with a
``Bearer`` challenge (RFC 6750 §3): one without an error code when the
request has no bearer token at all (§3.1: no ``Authorization``, or another
scheme), and ``error="invalid_token"`` with an ``error_description`` saying
which when the token is not one of ours, was revoked, or has expired.
"""

from __future__ import annotations

from types import MappingProxyType
from typing import Final

from ._base import REALM, Answer, Context, Persona, RecordedRequest, Route, json_answer

__all__ = ["DESCRIPTIONS", "METHODS", "PATH", "PERSONA"]

PATH: Final = "/api/resource"
"""The resource's path."""
METHODS: Final = ("GET", "POST", "PUT")
"""The methods it answers."""
DESCRIPTIONS: Final = MappingProxyType(
    {
        "unknown": "the access token was not issued here",
        "revoked": "the access token was revoked",
        "expired": "the access token has expired",
    }
)
"""The ``error_description`` of each refusal of a bearer token."""


def _bearer_token(request: RecordedRequest) -> str:
    """The request's bearer token, or "" if it has none."""
    scheme, _, token = (request.header("Authorization") or "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""


def _resource(context: Context, request: RecordedRequest) -> Answer:
    token = _bearer_token(request)
    if not token:
        return json_answer(
            401,
            {
                "error": "unauthorized",
                "error_description": "a bearer token is required",
            },
            ("WWW-Authenticate", f'Bearer realm="{REALM}"'),
        )
    checked = context.check(token)
    if isinstance(checked, str):
        description = DESCRIPTIONS[checked]
        challenge = (
            f'Bearer realm="{REALM}", error="invalid_token", '
            f'error_description="{description}"'
        )
        return json_answer(
            401,
            {"error": "invalid_token", "error_description": description},
            ("WWW-Authenticate", challenge),
        )
    return json_answer(
        200,
        {
            "subject": checked.get("sub"),
            "endpoint": checked.get("endpoint"),
            "method": request.method,
            "body_bytes": len(request.body),
        },
    )


def _summary(url: str) -> str:
    return f"{'|'.join(METHODS)} {url}{PATH}"


PERSONA: Final = Persona(
    name="resource",
    summary=_summary,
    routes=(
        Route(
            endpoint="resource",
            paths=frozenset({PATH}),
            answer=_resource,
            methods=METHODS,
            issues_tokens=False,
        ),
    ),
)
