"""``python -m sansio_auth demo``: each vendor's request and a parsed answer.

Pure: it builds the text and returns it. The recorded answers are the ones
the vendors document, with made-up tokens; the time is fixed so that the
output is the same on every run.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable

from ._errors import TokenError
from ._flows import Flow
from ._http import HttpRequest, HttpResponse
from ._parse import mask_secrets
from .providers import (
    smartconnect,
    smartdocumentor,
    smartway,
    smartway_identity,
    teamsystem,
)

__all__ = ["demo"]

NOW = 1_790_000_000.0
"""The fixed "now" of the demo (2026-09-21 UTC)."""
_SECRET_HEADERS = frozenset({"authorization", "x-api-key"})


def _b64(data: dict[str, object]) -> str:
    raw = json.dumps(data, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def fake_jwt(claims: dict[str, object]) -> str:
    """An unsigned-looking JWT with *claims*: for demos and tests only."""
    return f"{_b64({'alg': 'HS256', 'typ': 'JWT'})}.{_b64(claims)}.c2lnbmF0dXJl"


def render_request(request: HttpRequest, secrets: Iterable[str]) -> str:
    """*request* as HTTP/1.1 text, with credentials and tokens masked."""
    secrets = tuple(secrets)
    lines = [f"{request.method} {request.url}"]
    for name, value in request.headers:
        shown = (
            "***" if name.lower() in _SECRET_HEADERS else mask_secrets(value, secrets)
        )
        lines.append(f"{name}: {shown}")
    if request.body:
        lines += ["", mask_secrets(request.body.decode("utf-8"), secrets)]
    return "\n".join(lines)


def _json(status: int, data: dict[str, object]) -> HttpResponse:
    return HttpResponse(
        status=status,
        headers=(("Content-Type", "application/json; charset=utf-8"),),
        body=json.dumps(data).encode(),
    )


def _section(
    title: str, flow: Flow, secrets: Iterable[str], response: HttpResponse
) -> list[str]:
    result = flow.parse(response, now=NOW)
    lines = [
        f"== {title}",
        render_request(flow.token_request(), secrets),
        "",
        f"-> {result!r}",
    ]
    if not isinstance(result, TokenError):
        lifetime = result.lifetime
        lines.append(
            "   no known expiry" if lifetime is None else f"   lives {lifetime:.0f} s"
        )
    return lines


def demo() -> str:
    """The demo's whole output."""
    out: list[str] = []
    jwt = fake_jwt(
        {"companyId": "c-1042", "hrEmail": "hr@example.com", "exp": NOW + 900}
    )
    flow = smartway("demo-company-api-key")
    out += _section(
        "SmartWay (API key exchange)",
        flow,
        ["demo-company-api-key"],
        _json(
            200,
            {
                "access_token": jwt,
                "token_type": "Bearer",
                "expires_in": 900,
                "scope": "employees.read employees.write",
            },
        ),
    )
    company, hr_email = smartway_identity(jwt)
    out += [f"   companyId={company} hrEmail={hr_email}", ""]
    out += _section(
        "SmartConnect (password grant, region EU)",
        smartconnect(
            region="EU",
            username="user@example.com",
            password="demo-password",
            client_id="demo-client",
            client_secret="demo-secret",
        ),
        ["demo-password", "demo-secret"],
        _json(
            200, {"access_token": fake_jwt({"exp": NOW + 1200}), "token_type": "bearer"}
        ),
    )
    out.append("")
    out += _section(
        "TeamSystem Smart Services (multipart token request)",
        teamsystem(
            username="admin_webapicorso",
            scope="webapicorso_alywebapicorso",
            token="demo-api-key",
        ),
        ["demo-api-key"],
        _json(
            200,
            {
                "access_token": "opaque-demo-access",
                "token_type": "Bearer",
                "expires_in": 3600,
                "refresh_token": "opaque-demo-refresh",
            },
        ),
    )
    out.append("")
    documentor = smartdocumentor(client_id="demo-client", client_secret="demo-secret")
    out += _section(
        "SmartDocumentor (client credentials)",
        documentor,
        ["demo-secret"],
        _json(
            200,
            {
                "access_token": "opaque-demo-access",
                "expires_in": 3600,
                "token_type": "Bearer",
                "scope": "WebAPI",
            },
        ),
    )
    out += ["", "== SmartDocumentor, wrong secret"]
    out += _section("", documentor, [], _json(400, {"error": "invalid_client"}))[-1:]
    return "\n".join(out) + "\n"
