"""Parse: a ~1 KB token response turned into a token value.

The body is a 1,023-byte JSON token response (an 800-character JWT, seven
scopes, a refresh token, ``expires_in``); the baseline is ``json.loads`` of the
same bytes, what any parser has to do at least. authlib is
``OAuth2Token.from_dict(json.loads(body))``, oauthlib
``BackendApplicationClient.parse_request_body_response``.

Target: sansio_auth at most 1.20x the baseline. Issue 6.
"""

from __future__ import annotations

import json
from collections.abc import Callable

from _fixtures import load_peer, make_jwt
from _timing import Row, Settings, ratios, timed

SCOPES = "read write profile email offline_access api.read api.write"


def token_body(seed: int = 0) -> bytes:
    """A ~1 KB token response: a JWT, 7 scopes, a refresh token."""
    return json.dumps(
        {
            "access_token": make_jwt(seed),
            "token_type": "Bearer",
            "expires_in": 3600,
            "scope": SCOPES,
            "refresh_token": "rt-" + "8f3b2a9c" * 8,
        }
    ).encode()


def run(settings: Settings) -> Row:
    from sansio_auth import HttpResponse, Token, parse_token_response

    body = token_body()
    response = HttpResponse(
        status=200, headers=(("Content-Type", "application/json"),), body=body
    )
    check = parse_token_response(response, now=1_800_000_000.0)
    assert isinstance(check, Token)
    assert len(check.scopes or ()) == 7
    funcs: dict[str, Callable[[], object]] = {
        "json.loads": lambda: json.loads(body),
        "sansio_auth": lambda: parse_token_response(response, now=1_800_000_000.0),
    }
    authlib = load_peer("authlib.oauth2.rfc6749")
    if authlib is not None:
        funcs["authlib"] = lambda: authlib.OAuth2Token.from_dict(json.loads(body))
    oauthlib = load_peer("oauthlib.oauth2")
    if oauthlib is not None:
        client = oauthlib.BackendApplicationClient("app")
        funcs["oauthlib"] = lambda: client.parse_request_body_response(
            body.decode(), scope=SCOPES.split()
        )
    medians = timed(funcs, settings)
    row = Row(
        case="parse a ~1 KB token response",
        baseline="json.loads of the same bytes",
        target="sansio_auth ≤ 1.20",
        candidates=ratios(
            medians, "json.loads", ["authlib", "oauthlib", "sansio_auth"]
        ),
    )
    row.met = medians["sansio_auth"] / medians["json.loads"] <= 1.20
    row.notes.append(f"body is {len(body)} bytes; authlib: OAuth2Token.from_dict")
    return row
