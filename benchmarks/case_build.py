"""Build: a client-credentials token request (method, URL, headers, body).

The baseline is a hand-written ``urllib.parse.urlencode`` and a header tuple.
sansio_auth builds the ``ClientCredentials`` flow (validating every argument)
and takes its request; the "held flow" line takes the request of a flow built
once. oauthlib is ``prepare_token_request`` on a held client; authlib is
``prepare_token_request`` plus ``ClientAuth.prepare``.

Target: sansio_auth (flow built per request) at most 1.30x the baseline.
Issue 6.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Callable

from _fixtures import load_peer
from _timing import Row, Settings, ratios, timed


def run(settings: Settings) -> Row:
    from sansio_auth import ClientCredentials

    url = "https://auth.example.com/oauth/token"
    cid, secret, scope = "my-client", "s3cr3t-value", "read write"
    form_headers = (
        ("Content-Type", "application/x-www-form-urlencoded"),
        ("Accept", "application/json"),
    )

    def baseline() -> object:
        body = urllib.parse.urlencode(
            {
                "grant_type": "client_credentials",
                "scope": scope,
                "client_id": cid,
                "client_secret": secret,
            }
        ).encode()
        return ("POST", url, form_headers, body)

    held = ClientCredentials(
        token_url=url, client_id=cid, client_secret=secret, scope=scope
    )
    funcs: dict[str, Callable[[], object]] = {
        "urlencode + header tuple": baseline,
        "sansio_auth": lambda: ClientCredentials(
            token_url=url, client_id=cid, client_secret=secret, scope=scope
        ).token_request(),
        "sansio_auth (held flow)": held.token_request,
    }
    oauthlib = load_peer("oauthlib.oauth2")
    if oauthlib is not None:
        client = oauthlib.BackendApplicationClient(cid)
        funcs["oauthlib"] = lambda: client.prepare_token_request(
            url, scope=scope, include_client_id=True, client_secret=secret
        )
    authlib_params = load_peer("authlib.oauth2.rfc6749.parameters")
    authlib_auth = load_peer("authlib.oauth2.auth")
    if authlib_params is not None and authlib_auth is not None:
        auth = authlib_auth.ClientAuth(cid, secret, "client_secret_post")

        def authlib_build() -> object:
            body = authlib_params.prepare_token_request(
                "client_credentials", scope=scope
            )
            headers = {
                "Content-Type": "application/x-www-form-urlencoded",
                "Accept": "application/json",
            }
            return auth.prepare("POST", url, headers, body)

        funcs["authlib"] = authlib_build
    medians = timed(funcs, settings)
    row = Row(
        case="build a client-credentials request",
        baseline="urlencode + header tuple",
        target="sansio_auth ≤ 1.30",
        candidates=ratios(
            medians,
            "urlencode + header tuple",
            ["oauthlib", "authlib", "sansio_auth", "sansio_auth (held flow)"],
        ),
    )
    row.met = medians["sansio_auth"] / medians["urlencode + header tuple"] <= 1.30
    row.notes.append(
        "sansio_auth builds the flow (validating every argument) and takes its "
        "request; a held flow builds its request from arguments it checked when "
        "it was built"
    )
    return row
