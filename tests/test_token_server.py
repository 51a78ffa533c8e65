"""The local token server (``sansio_auth.adapters.server``), driven two ways.

With the library: each vendor's flow, built with the server's URLs, through
the adapters' ``send`` and ``TokenClient``, so the server is checked against
the library and the library against a server as strict as the vendors. And
with plain ``urllib.request`` requests, to check that the server refuses what
a vendor would refuse, with the right status and body.
"""

from __future__ import annotations

import base64
import io
import json
import os
import re
import socket
import ssl
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from pathlib import Path

import anyio
import pytest
import trio
import trustme
from hypothesis import given, settings
from hypothesis import strategies as st

from sansio_auth import (
    ClientCredentials,
    Flow,
    HttpError,
    HttpRequest,
    OAuthError,
    PasswordGrant,
    RetryPolicy,
    Token,
    TokenSession,
    TransportError,
)
from sansio_auth.adapters import anyio as anyio_adapter
from sansio_auth.adapters import trio as trio_adapter
from sansio_auth.adapters import urllib as urllib_adapter
from sansio_auth.adapters.server import (
    SMARTWAY_SCOPE,
    Credentials,
    RecordedRequest,
    TokenServer,
    describe,
    serve_forever,
)
from sansio_auth.providers import (
    smartdocumentor,
    smartway,
    smartway_identity,
    teamsystem,
)

FAST_RETRY = RetryPolicy(max_attempts=4, base_delay=0.01, max_delay=0.05, cooldown=0)


@pytest.fixture
def server() -> Iterator[TokenServer]:
    with TokenServer() as running:
        yield running


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    backend: str = request.param
    return backend


# -- flows built with the server's URLs -------------------------------------


def smartway_flow(server: TokenServer) -> Flow:
    return smartway(
        server.credentials.smartway_api_key, base_url=server.smartway_base_url
    )


def smartconnect_flow(server: TokenServer, region: str = "NA") -> Flow:
    # The provider's token URLs are the vendor's; the server's is given here
    # with the same flow the provider builds (see the report: a token_url
    # override on smartconnect() would let this call the provider).
    creds = server.credentials
    return PasswordGrant(
        token_url=server.smartconnect_token_url(region),
        username=creds.smartconnect_username,
        password=creds.smartconnect_password,
        client_id=creds.smartconnect_client_id,
        client_secret=creds.smartconnect_client_secret,
        auth="client_secret_post",
    )


def teamsystem_flow(server: TokenServer) -> Flow:
    creds = server.credentials
    return teamsystem(
        username=creds.teamsystem_username,
        scope=creds.teamsystem_scope,
        token=creds.teamsystem_api_key,
        base_url=server.teamsystem_base_url,
    )


def smartdocumentor_flow(server: TokenServer) -> Flow:
    creds = server.credentials
    return smartdocumentor(
        client_id=creds.smartdocumentor_client_id,
        client_secret=creds.smartdocumentor_client_secret,
        base_url=server.smartdocumentor_base_url,
    )


def generic_flow(
    server: TokenServer, auth: str = "client_secret_post", *, password: bool = False
) -> Flow:
    creds = server.credentials
    if password:
        return PasswordGrant(
            token_url=server.generic_token_url,
            username=creds.generic_username,
            password=creds.generic_password,
            client_id=creds.generic_client_id,
            client_secret=creds.generic_client_secret,
            auth=auth,  # type: ignore[arg-type]
        )
    return ClientCredentials(
        token_url=server.generic_token_url,
        client_id=creds.generic_client_id,
        client_secret=creds.generic_client_secret,
        auth=auth,  # type: ignore[arg-type]
    )


FLOWS = {
    "smartway": smartway_flow,
    "smartconnect": smartconnect_flow,
    "teamsystem": teamsystem_flow,
    "smartdocumentor": smartdocumentor_flow,
    "generic": generic_flow,
}


def fetch(server: TokenServer, flow: Flow) -> Token:
    """One token through ``send`` and the flow's parser."""
    response = urllib_adapter.send(flow.token_request(), timeout=5)
    result = flow.parse(response, now=time.time())
    assert isinstance(result, Token), result
    return result


# -- plain HTTP ----------------------------------------------------------------


def call(
    url: str,
    body: bytes | None = None,
    headers: Mapping[str, str] | None = None,
    method: str = "POST",
) -> tuple[int, Mapping[str, str], dict[str, object]]:
    """A plain urllib request: status, headers, JSON body ({} if none)."""
    request = urllib.request.Request(
        url, data=body, headers=dict(headers or {}), method=method
    )
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            status, head, raw = response.status, response.headers, response.read()
    except urllib.error.HTTPError as error:
        with error:
            status, head, raw = error.code, error.headers, error.read()
    data = json.loads(raw) if raw.startswith(b"{") else {}
    assert isinstance(data, dict)
    return status, dict(head.items()), data


FORM = {"Content-Type": "application/x-www-form-urlencoded"}
JSON = {"Content-Type": "application/json"}


def form(**fields: str) -> bytes:
    return urllib.parse.urlencode(fields).encode()


def multipart(**fields: str) -> tuple[str, bytes]:
    boundary = "test-boundary-7f3a"
    body = b"".join(
        f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'
        f"{value}\r\n".encode()
        for name, value in fields.items()
    )
    return f"multipart/form-data; boundary={boundary}", body + (
        f"--{boundary}--\r\n".encode()
    )


def basic(client_id: str, secret: str) -> str:
    def enc(text: str) -> str:
        return urllib.parse.quote(text, safe="-._~")

    raw = f"{enc(client_id)}:{enc(secret)}".encode()
    return "Basic " + base64.b64encode(raw).decode()


# -- the vendors, through the library ----------------------------------------


@pytest.mark.parametrize("name", sorted(FLOWS))
def test_each_flow_gets_a_verified_token_through_token_client(
    server: TokenServer, name: str
) -> None:
    flow = FLOWS[name](server)
    with urllib_adapter.TokenClient(flow, timeout=5) as client:
        token = client.token()
        status, _, data = call(
            server.resource_url,
            headers={"Authorization": client.authorization()},
            method="GET",
        )
    claims = server.verify(token.access_token)
    assert claims is not None
    assert claims["endpoint"] == name
    assert status == 200
    assert data == {
        "subject": claims["sub"],
        "endpoint": name,
        "method": "GET",
        "body_bytes": 0,
    }
    assert [r.endpoint for r in server.token_requests()] == [name]


def test_smartway_answer_and_identity(server: TokenServer) -> None:
    token = fetch(server, smartway_flow(server))
    assert token.token_type == "Bearer"
    assert token.raw["expires_in"] == 900
    assert token.raw["scope"] == SMARTWAY_SCOPE
    assert len(SMARTWAY_SCOPE.split()) == 7
    assert token.expires_at == pytest.approx(token.received_at + 900)
    assert smartway_identity(token) == (
        server.credentials.smartway_company_id,
        server.credentials.smartway_hr_email,
    )
    claims = server.verify(token.access_token)
    assert claims is not None
    assert claims["exp"] == claims["iat"] + 900  # type: ignore[operator]
    (recorded,) = server.token_requests("smartway")
    assert recorded.header("x-api-key") == server.credentials.smartway_api_key
    assert recorded.body == b""


def test_smartway_identity_follows_the_configured_admin() -> None:
    creds = Credentials(smartway_company_id="42", smartway_hr_email="other@x.test")
    with TokenServer(credentials=creds, smartway_lifetime=60) as server:
        token = fetch(server, smartway_flow(server))
    assert smartway_identity(token) == ("42", "other@x.test")
    assert token.raw["expires_in"] == 60


@pytest.mark.parametrize("region", ["NA", "NA2", "NA3", "UK", "EU", "EU2", "AU"])
def test_smartconnect_regions_answer_bearer_without_expires_in(
    server: TokenServer, region: str
) -> None:
    token = fetch(server, smartconnect_flow(server, region))
    assert set(token.raw) == {"access_token", "token_type"}
    assert token.raw["token_type"] == "bearer"
    assert token.token_type == "Bearer"
    claims = server.verify(token.access_token)
    assert claims is not None
    assert claims["region"] == region
    # No expires_in: the library takes the expiry from the JWT's exp.
    assert token.expires_at == claims["exp"]
    (recorded,) = server.token_requests("smartconnect")
    assert recorded.path == f"/smartconnect/{region}/token"
    assert recorded.fields["grant_type"] == "password"


def test_smartdocumentor_answer(server: TokenServer) -> None:
    token = fetch(server, smartdocumentor_flow(server))
    assert dict(token.raw) == {
        "access_token": token.access_token,
        "expires_in": 3600,
        "token_type": "Bearer",
        "scope": "WebAPI",
    }
    assert token.scopes == frozenset({"WebAPI"})


def test_teamsystem_multipart_request_is_recorded(server: TokenServer) -> None:
    token = fetch(server, teamsystem_flow(server))
    assert token.refresh_token is not None
    assert token.raw["expires_in"] == 3600
    (recorded,) = server.token_requests("teamsystem")
    assert recorded.fields == {
        "username": server.credentials.teamsystem_username,
        "scope": server.credentials.teamsystem_scope,
        "token": f"Bearer {server.credentials.teamsystem_api_key}",
    }
    assert recorded.header("Accept") == "application/json"
    assert recorded.header("Accept-Language") == "it-IT"


class FakeClock:
    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


def test_teamsystem_refresh_rotates_and_revokes_the_old_token(
    server: TokenServer,
) -> None:
    flow = teamsystem_flow(server)
    clock = FakeClock()
    with urllib_adapter.TokenClient(flow, timeout=5, clock=clock) as client:
        first = client.token()
        clock.now += 3600  # expired: the client refreshes
        second = client.token()
    assert first.refresh_token
    assert second.refresh_token
    assert second.refresh_token != first.refresh_token
    assert second.access_token != first.access_token
    assert server.verify(second.access_token) is not None
    (refresh,) = server.token_requests("teamsystem-refresh")
    assert refresh.fields == {
        "grant_type": "refresh_token",
        "refresh_token": first.refresh_token,
    }
    assert len(server.token_requests("teamsystem")) == 1
    # The new one works, once.
    status, _, data = call(
        server.url + "/teamsystem/oauth/token",
        json.dumps(
            {"grant_type": "refresh_token", "refresh_token": second.refresh_token}
        ).encode(),
        JSON,
    )
    assert status == 200
    third = data["refresh_token"]
    assert isinstance(third, str)
    assert third not in (first.refresh_token, second.refresh_token)
    assert server.refresh_replays == 0
    # The old refresh token was revoked when it was used; sent again, it is a
    # replay, which revokes the whole grant (RFC 9700 §4.14.2).
    old = flow.refresh_request(first.refresh_token)
    assert old is not None
    result = flow.parse(urllib_adapter.send(old, timeout=5), now=time.time())
    assert isinstance(result, OAuthError)
    assert (result.error, result.status) == ("invalid_grant", 400)
    assert server.refresh_replays == 1
    latest = flow.refresh_request(third)
    assert latest is not None
    result = flow.parse(urllib_adapter.send(latest, timeout=5), now=time.time())
    assert isinstance(result, OAuthError)
    assert result.error == "invalid_grant"


def test_a_replayed_refresh_token_revokes_only_its_own_grant(
    server: TokenServer,
) -> None:
    flow = teamsystem_flow(server)
    with urllib_adapter.TokenClient(flow, timeout=5) as one:
        mine = one.token()
    with urllib_adapter.TokenClient(flow, timeout=5) as other:
        theirs = other.token()
    assert mine.refresh_token
    assert theirs.refresh_token
    used = flow.refresh_request(mine.refresh_token)
    assert used is not None
    assert urllib_adapter.send(used, timeout=5).status == 200
    assert urllib_adapter.send(used, timeout=5).status == 400  # the replay
    assert server.refresh_replays == 1
    untouched = flow.refresh_request(theirs.refresh_token)
    assert untouched is not None
    assert urllib_adapter.send(untouched, timeout=5).status == 200


@pytest.mark.parametrize("auth", ["client_secret_post", "client_secret_basic"])
def test_generic_password_grant_refreshes_with_rotation(
    server: TokenServer, auth: str
) -> None:
    flow = generic_flow(server, auth, password=True)
    clock = FakeClock()
    with urllib_adapter.TokenClient(flow, timeout=5, clock=clock) as client:
        first = client.token()
        clock.now += 3600
        second = client.token()
    assert first.refresh_token
    assert second.refresh_token
    assert first.refresh_token != second.refresh_token
    claims = server.verify(second.access_token)
    assert claims is not None
    assert claims["sub"] == server.credentials.generic_username
    grants = [r.fields["grant_type"] for r in server.token_requests("generic")]
    assert grants == ["password", "refresh_token"]
    refresh = server.token_requests("generic")[1]
    if auth == "client_secret_basic":
        assert "client_id" not in refresh.fields
        assert (refresh.header("Authorization") or "").startswith("Basic ")
    else:
        assert refresh.fields["client_id"] == server.credentials.generic_client_id
    old = flow.refresh_request(first.refresh_token)
    assert old is not None
    result = flow.parse(urllib_adapter.send(old, timeout=5), now=time.time())
    assert isinstance(result, OAuthError)
    assert result.error == "invalid_grant"


def test_generic_basic_auth_percent_decodes_the_credentials() -> None:
    creds = Credentials(
        generic_client_id="id: with+odd", generic_client_secret="s3 c:r%t"
    )
    with TokenServer(credentials=creds) as server:
        token = fetch(server, generic_flow(server, "client_secret_basic"))
        claims = server.verify(token.access_token)
        assert claims is not None
        assert claims["client_id"] == "id: with+odd"
        assert token.refresh_token is None  # none for client credentials
        status, _, _ = call(
            server.generic_token_url,
            form(grant_type="client_credentials"),
            {**FORM, "Authorization": basic("id: with+odd", "s3 c:r%t")},
        )
        assert status == 200


# -- strictness, with plain requests ---------------------------------------------


def test_smartway_refuses_a_missing_or_wrong_key(server: TokenServer) -> None:
    url = server.smartway_base_url + "/api/v1/auth/token"
    for headers in ({}, {"X-API-Key": "wrong"}):
        status, _, data = call(url, b"", headers)
        assert status == 401
        assert data["error"] == "unauthorized"
    status, head, _ = call(url, method="GET")
    assert (status, head["Allow"]) == (405, "POST")


def test_library_sees_a_wrong_key_as_an_oauth_error(server: TokenServer) -> None:
    flow = smartway("not-the-key", base_url=server.smartway_base_url)
    result = flow.parse(urllib_adapter.send(flow.token_request()), now=time.time())
    assert isinstance(result, OAuthError)
    assert result.status == 401
    assert not result.retryable


def sc_fields(server: TokenServer, **override: str) -> dict[str, str]:
    creds = server.credentials
    fields = {
        "grant_type": "password",
        "username": creds.smartconnect_username,
        "password": creds.smartconnect_password,
        "client_id": creds.smartconnect_client_id,
        "client_secret": creds.smartconnect_client_secret,
    }
    fields.update(override)
    return {k: v for k, v in fields.items() if v != "<drop>"}


@pytest.mark.parametrize(
    ("override", "content_type", "status", "error"),
    [
        ({}, "application/json", 400, "invalid_request"),
        ({"password": "<drop>"}, None, 400, "invalid_request"),
        ({"grant_type": "client_credentials"}, None, 400, "unsupported_grant_type"),
        ({"password": "wrong"}, None, 400, "invalid_grant"),
        ({"username": "someone@else.test"}, None, 400, "invalid_grant"),
        ({"client_secret": "wrong"}, None, 401, "invalid_client"),
        ({"client_id": "wrong"}, None, 401, "invalid_client"),
    ],
)
def test_smartconnect_refusals(
    server: TokenServer,
    override: dict[str, str],
    content_type: str | None,
    status: int,
    error: str,
) -> None:
    headers = {"Content-Type": content_type} if content_type else FORM
    got, head, data = call(
        server.smartconnect_token_url("UK"),
        form(**sc_fields(server, **override)),
        headers,
    )
    assert (got, data["error"]) == (status, error)
    assert head["Content-Type"] == "application/json"


def test_smartconnect_unknown_region_is_not_found(server: TokenServer) -> None:
    status, _, _ = call(server.url + "/smartconnect/XX/token", form(), FORM)
    assert status == 404
    with pytest.raises(ValueError, match="valid regions"):
        server.smartconnect_token_url("XX")


def ts_fields(server: TokenServer, **override: str) -> dict[str, str]:
    creds = server.credentials
    fields = {
        "username": creds.teamsystem_username,
        "scope": creds.teamsystem_scope,
        "token": f"Bearer {creds.teamsystem_api_key}",
    }
    fields.update(override)
    return {k: v for k, v in fields.items() if v != "<drop>"}


@pytest.mark.parametrize(
    ("override", "status", "error"),
    [
        ({}, 200, None),
        ({"scope": "<drop>"}, 400, "invalid_request"),
        ({"token": "test-teamsystem-api-key"}, 401, "invalid_client"),
        ({"token": "Bearer wrong"}, 401, "invalid_client"),
        ({"username": "nobody"}, 400, "invalid_grant"),
        ({"scope": "other"}, 400, "invalid_scope"),
    ],
)
def test_teamsystem_refusals(
    server: TokenServer, override: dict[str, str], status: int, error: str | None
) -> None:
    content_type, body = multipart(**ts_fields(server, **override))
    headers = {"Content-Type": content_type, "Accept": "application/json"}
    got, _, data = call(
        server.teamsystem_base_url + "/api/v1/auth/token", body, headers
    )
    assert (got, data.get("error")) == (status, error)


def test_teamsystem_wants_multipart_and_accept_json(server: TokenServer) -> None:
    url = server.teamsystem_base_url + "/api/v1/auth/token"
    status, _, data = call(url, form(**ts_fields(server)), FORM)
    assert (status, data["error"]) == (400, "invalid_request")
    content_type, body = multipart(**ts_fields(server))
    status, _, _ = call(url, body, {"Content-Type": content_type})
    assert status == 406


def test_teamsystem_refresh_refusals(server: TokenServer) -> None:
    url = server.teamsystem_base_url + "/oauth/token"
    cases = [
        (form(grant_type="refresh_token", refresh_token="x"), FORM, "invalid_request"),
        (b"[1]", JSON, "invalid_request"),
        (json.dumps({"grant_type": "refresh_token"}).encode(), JSON, "invalid_request"),
        (
            json.dumps({"grant_type": "password"}).encode(),
            JSON,
            "unsupported_grant_type",
        ),
        (
            json.dumps({"grant_type": "refresh_token", "refresh_token": "no"}).encode(),
            JSON,
            "invalid_grant",
        ),
    ]
    for body, headers, error in cases:
        status, _, data = call(url, body, headers)
        assert (status, data["error"]) == (400, error)


@pytest.mark.parametrize(
    ("fields", "content_type", "status", "body"),
    [
        (
            {"client_secret": "wrong"},
            None,
            400,
            {"error": "invalid_client"},
        ),
        (
            {"client_id": "wrong"},
            None,
            400,
            {"error": "invalid_client"},
        ),
        ({"scope": "Other"}, None, 400, "invalid_scope"),
        ({"scope": "<drop>"}, None, 400, "invalid_scope"),
        ({"grant_type": "password"}, None, 400, "unsupported_grant_type"),
        ({"client_secret": "<drop>"}, None, 400, "invalid_request"),
        ({}, "text/plain", 400, "invalid_request"),
    ],
)
def test_smartdocumentor_refusals(
    server: TokenServer,
    fields: dict[str, str],
    content_type: str | None,
    status: int,
    body: dict[str, str] | str,
) -> None:
    creds = server.credentials
    sent = {
        "grant_type": "client_credentials",
        "scope": "WebAPI",
        "client_id": creds.smartdocumentor_client_id,
        "client_secret": creds.smartdocumentor_client_secret,
        **fields,
    }
    sent = {k: v for k, v in sent.items() if v != "<drop>"}
    headers = {"Content-Type": content_type} if content_type else FORM
    got, _, data = call(
        server.smartdocumentor_base_url + "/connect/token", form(**sent), headers
    )
    assert got == status
    if isinstance(body, dict):
        assert data == body  # exactly as the vendor documents it
    else:
        assert data["error"] == body


def test_generic_refusals(server: TokenServer) -> None:
    creds = server.credentials
    url = server.generic_token_url
    post = {
        "client_id": creds.generic_client_id,
        "client_secret": creds.generic_client_secret,
    }
    good_basic = basic(creds.generic_client_id, creds.generic_client_secret)

    status, head, data = call(
        url,
        form(grant_type="client_credentials"),
        {**FORM, "Authorization": basic("x", "y")},
    )
    assert (status, data["error"]) == (401, "invalid_client")
    assert head["WWW-Authenticate"].startswith("Basic ")

    status, head, data = call(
        url,
        form(grant_type="client_credentials", client_id="x", client_secret="y"),
        FORM,
    )
    assert (status, data["error"]) == (400, "invalid_client")
    assert "WWW-Authenticate" not in head

    status, head, data = call(url, form(grant_type="client_credentials"), FORM)
    assert (status, data["error"]) == (401, "invalid_client")

    status, _, data = call(
        url,
        form(grant_type="client_credentials", **post),
        {**FORM, "Authorization": good_basic},
    )
    assert (status, data["error"]) == (400, "invalid_request")  # two methods

    for fields, error in [
        ({}, "invalid_request"),
        ({"grant_type": "authorization_code"}, "unsupported_grant_type"),
        (
            {"grant_type": "password", "username": creds.generic_username},
            "invalid_request",
        ),
        ({"grant_type": "password", "username": "x", "password": "y"}, "invalid_grant"),
        ({"grant_type": "refresh_token"}, "invalid_request"),
        ({"grant_type": "refresh_token", "refresh_token": "nope"}, "invalid_grant"),
    ]:
        status, _, data = call(url, form(**fields, **post), FORM)
        assert (status, data["error"]) == (400, error), fields

    status, _, data = call(url, b"grant_type=a&grant_type=b", FORM)
    assert (status, data["error"]) == (400, "invalid_request")
    status, _, data = call(url, json.dumps({"grant_type": "x"}).encode(), JSON)
    assert (status, data["error"]) == (400, "invalid_request")

    status, head, data = call(
        url, form(grant_type="client_credentials", scope="a b", **post), FORM
    )
    assert status == 200
    assert data["scope"] == "a b"
    assert head["Cache-Control"] == "no-store"
    assert "refresh_token" not in data


def test_unknown_path_is_not_found(server: TokenServer) -> None:
    status, _, _ = call(server.url + "/nowhere", b"", {})
    assert status == 404
    assert server.requests[0].endpoint == "unknown"
    assert server.token_requests() == []


# -- JWTs and the resource -------------------------------------------------------


def test_verify_refuses_what_the_server_did_not_issue(server: TokenServer) -> None:
    token = fetch(server, smartway_flow(server)).access_token
    head, payload, signature = token.split(".")
    assert server.verify(token) is not None
    forged = json.loads(base64.urlsafe_b64decode(payload + "=="))
    forged["companyId"] = "someone-else"
    forged_payload = base64.urlsafe_b64encode(json.dumps(forged).encode()).rstrip(b"=")
    for bad in [
        f"{head}.{forged_payload.decode()}.{signature}",
        f"{head}.{payload}.{signature[:-2]}AA",
        f"{head}.{payload}",
        "not a token",
        "",
    ]:
        assert server.verify(bad) is None
    with TokenServer() as other:
        assert other.verify(token) is None  # another key


def test_expired_tokens_are_refused() -> None:
    with TokenServer(token_lifetime=1) as server:
        token = fetch(server, smartdocumentor_flow(server)).access_token
        assert server.verify(token) is not None
        time.sleep(1.1)
        assert server.verify(token) is None
        status, _, _ = call(
            server.resource_url,
            headers={"Authorization": f"Bearer {token}"},
            method="GET",
        )
        assert status == 401


def test_resource_requires_a_valid_bearer_token(server: TokenServer) -> None:
    token = fetch(server, generic_flow(server)).access_token
    status, _, data = call(
        server.resource_url, headers={"Authorization": f"bearer {token}"}, method="GET"
    )
    assert (status, data["subject"]) == (200, server.credentials.generic_client_id)
    for headers, error in [
        ({}, None),
        ({"Authorization": "Bearer nope"}, "invalid_token"),
        ({"Authorization": f"Basic {token}"}, None),  # RFC 6750 §3.1
    ]:
        status, head, data = call(server.resource_url, headers=headers, method="GET")
        assert status == 401
        assert head["WWW-Authenticate"].startswith("Bearer ")
        assert ('error="invalid_token"' in head["WWW-Authenticate"]) == bool(error)
        assert data["error"] == (error or "unauthorized")
    status, _, _ = call(server.resource_url, b"", method="DELETE")
    assert status == 405
    assert [r.endpoint for r in server.requests][-1] == "resource"


# -- faults ----------------------------------------------------------------------


@pytest.mark.parametrize("status", [503, 429])
def test_fail_next_is_seen_with_retry_after(server: TokenServer, status: int) -> None:
    flow = smartdocumentor_flow(server)
    server.fail_next(1, status=status, retry_after=7)
    result = flow.parse(urllib_adapter.send(flow.token_request()), now=time.time())
    assert isinstance(result, HttpError)
    assert (result.status, result.retry_after, result.retryable) == (status, 7, True)
    assert isinstance(
        flow.parse(urllib_adapter.send(flow.token_request()), now=0), Token
    )
    assert [r.fault for r in server.requests] == ["fail", None]


def test_token_client_recovers_from_503s(server: TokenServer) -> None:
    flow = teamsystem_flow(server)
    # No Retry-After: one over FAST_RETRY's max_delay would fail at once
    # (issue 10), where this test is about riding the 503s out.
    server.fail_next(2, status=503, retry_after=None)
    session = TokenSession(flow, retry=FAST_RETRY)
    with urllib_adapter.TokenClient(flow, timeout=5, session=session) as client:
        token = client.token()
    assert server.verify(token.access_token) is not None
    assert [r.fault for r in server.token_requests("teamsystem")] == [
        "fail",
        "fail",
        None,
    ]


def test_fail_next_without_retry_after(server: TokenServer) -> None:
    server.fail_next(1, status=500, retry_after=None)
    flow = smartway_flow(server)
    result = flow.parse(urllib_adapter.send(flow.token_request()), now=0)
    assert isinstance(result, HttpError)
    assert (result.status, result.retry_after) == (500, None)


def test_latency(server: TokenServer) -> None:
    server.set_latency(0.3)
    flow = smartway_flow(server)
    started = time.monotonic()
    fetch(server, flow)
    assert time.monotonic() - started >= 0.3
    with pytest.raises(TransportError, match="timed out") as caught:
        urllib_adapter.send(flow.token_request(), timeout=0.1)
    assert caught.value.retryable
    server.set_latency(0)
    fetch(server, flow)


def test_reset_next_is_a_transport_error(server: TokenServer) -> None:
    server.reset_next(1)
    flow = smartway_flow(server)
    with pytest.raises(TransportError) as caught:
        urllib_adapter.send(flow.token_request(), timeout=5)
    assert caught.value.retryable
    fetch(server, flow)
    assert [r.fault for r in server.requests] == ["reset", None]


@pytest.mark.anyio
async def test_reset_and_hang_with_anyio(
    server: TokenServer, anyio_backend: str
) -> None:
    flow = smartdocumentor_flow(server)
    server.reset_next(1)
    with pytest.raises(TransportError):
        await anyio_adapter.send(flow.token_request(), timeout=5)
    server.hang_next(1)
    with pytest.raises(TransportError, match="timed out"):
        await anyio_adapter.send(flow.token_request(), timeout=0.2)
    response = await anyio_adapter.send(flow.token_request(), timeout=5)
    assert response.status == 200


def test_hang_next_times_out_and_stop_ends_it() -> None:
    server = TokenServer().start()
    try:
        server.hang_next(1)
        with pytest.raises(TransportError, match="timed out"):
            urllib_adapter.send(smartway_flow(server).token_request(), timeout=0.3)
        assert [r.fault for r in server.requests] == ["hang"]
    finally:
        started = time.monotonic()
        server.stop()
        server.stop()  # twice is fine
    assert time.monotonic() - started < 2


def test_fault_arguments_are_checked(server: TokenServer) -> None:
    with pytest.raises(ValueError, match="count"):
        server.fail_next(-1)
    with pytest.raises(ValueError, match="status"):
        server.fail_next(1, status=200)
    with pytest.raises(ValueError, match="latency"):
        server.set_latency(-1)
    with pytest.raises(ValueError, match="endpoint"):
        server.token_requests("nope")
    with pytest.raises(ValueError, match="token_lifetime"):
        TokenServer(token_lifetime=0)


# -- records -------------------------------------------------------------------


def test_requests_are_recorded_and_cleared(server: TokenServer) -> None:
    fetch(server, smartdocumentor_flow(server))
    fetch(server, smartway_flow(server))
    call(server.resource_url, method="GET")
    assert [r.endpoint for r in server.requests] == [
        "smartdocumentor",
        "smartway",
        "resource",
    ]
    assert [r.endpoint for r in server.token_requests()] == [
        "smartdocumentor",
        "smartway",
    ]
    (sd,) = server.token_requests("smartdocumentor")
    assert isinstance(sd, RecordedRequest)
    assert (sd.method, sd.path) == ("POST", "/smartdocumentor/connect/token")
    assert sd.fields["scope"] == "WebAPI"
    assert sd.header("content-type") == "application/x-www-form-urlencoded"
    assert b"grant_type=client_credentials" in sd.body
    server.fail_next(3)
    server.clear()
    assert server.requests == []
    fetch(server, smartway_flow(server))  # the faults went too
    assert len(server.requests) == 1


def test_concurrent_clients_make_one_request(server: TokenServer) -> None:
    server.set_latency(0.2)
    flow = smartway_flow(server)
    tokens: list[Token] = []
    with urllib_adapter.TokenClient(flow, timeout=5) as client:
        threads = [
            threading.Thread(target=lambda: tokens.append(client.token()))
            for _ in range(8)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert len({t.access_token for t in tokens}) == 1
    assert len(server.token_requests("smartway")) == 1


# -- context managers, TLS, the fixture, the command line ------------------------


@pytest.mark.trio
async def test_async_context_manager_under_trio() -> None:
    async with TokenServer() as server:
        flow = teamsystem_flow(server)
        session = TokenSession(flow, retry=FAST_RETRY)
        server.fail_next(1, status=429, retry_after=None)
        async with trio_adapter.TokenClient(flow, timeout=5, session=session) as client:
            token = await client.token()
        assert server.verify(token.access_token) is not None
        assert len(server.token_requests("teamsystem")) == 2
        await trio.sleep(0)


@pytest.mark.anyio
async def test_async_context_manager_under_anyio(anyio_backend: str) -> None:
    async with TokenServer() as server:
        flow = smartconnect_flow(server, "AU")
        async with anyio_adapter.TokenClient(flow, timeout=5) as client:
            token = await client.token()
            again = await client.token()
        assert again is token
        assert server.verify(token.access_token) is not None
        assert len(server.token_requests("smartconnect")) == 1
        await anyio.sleep(0)


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_a_cancelled_async_exit_still_stops_the_server(backend: str) -> None:
    # `async with` stops the server in a worker thread. A task cancelled
    # while it waits must not leave with the server still listening.
    server = TokenServer()
    stop = server.stop
    stopped: list[bool] = []

    def slow_stop() -> None:
        time.sleep(0.3)
        stop()
        stopped.append(True)

    server.stop = slow_stop  # type: ignore[method-assign]

    running_after: list[bool] = []

    async def main() -> None:
        async def use() -> None:
            async with server:
                pass

        async with anyio.create_task_group() as group:
            group.start_soon(use)
            await anyio.sleep(0.1)  # use() is in __aexit__, the thread asleep
            group.cancel_scope.cancel()
        running_after.append(server.running)

    anyio.run(main, backend=backend)
    assert stopped == [True]
    assert running_after == [False]


def test_tls() -> None:
    ca = trustme.CA()
    server_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ca.issue_cert("127.0.0.1").configure_cert(server_context)
    client_context = ssl.create_default_context()
    ca.configure_trust(client_context)
    with TokenServer(ssl_context=server_context) as server:
        assert server.url.startswith("https://127.0.0.1:")
        flow = smartdocumentor_flow(server)
        with urllib_adapter.TokenClient(
            flow, timeout=5, ssl_context=client_context
        ) as c:
            token = c.token()
        assert server.verify(token.access_token) is not None
        # An untrusting client is refused; the server carries on.
        with pytest.raises(TransportError):
            urllib_adapter.send(flow.token_request(), timeout=5)
        assert len(server.requests) == 1


def test_the_token_server_fixture(token_server: TokenServer) -> None:
    token = fetch(token_server, smartway_flow(token_server))
    assert token_server.verify(token.access_token) is not None
    assert token_server.token_lifetime == 3600


@pytest.mark.token_server(token_lifetime=120, smartway_lifetime=60)
def test_the_token_server_marker(token_server: TokenServer) -> None:
    assert fetch(token_server, smartway_flow(token_server)).raw["expires_in"] == 60
    assert fetch(token_server, generic_flow(token_server)).raw["expires_in"] == 120


def test_serve_forever_prints_urls_and_credentials() -> None:
    server = TokenServer()
    out = io.StringIO()
    stop = threading.Event()
    thread = threading.Thread(
        target=serve_forever, args=(server, out), kwargs={"stop": stop}
    )
    thread.start()
    try:
        deadline = time.monotonic() + 5
        while server.url not in out.getvalue() and time.monotonic() < deadline:
            time.sleep(0.01)
        fetch(server, smartway_flow(server))
    finally:
        stop.set()
        thread.join(5)
    text = out.getvalue()
    assert text == describe(server) + "\n"
    assert server.generic_token_url in text
    assert "smartway_api_key = test-smartway-api-key" in text


def test_python_dash_m_serves_until_interrupted(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    with subprocess.Popen(
        [
            sys.executable,
            "-m",
            "sansio_auth.adapters.server",
            "--smartway-lifetime",
            "30",
        ],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
        # Not the repository root, whose sansio_auth/ (no adapters) would
        # shadow the installed package on `python -m`'s sys.path.
        cwd=tmp_path,
    ) as process:
        assert process.stdout is not None
        try:
            first = process.stdout.readline()
            url = first.rsplit(" ", 1)[-1].strip()
            assert url.startswith("http://127.0.0.1:")
            status, _, data = call(
                url + "/smartway/api/v1/auth/token",
                b"",
                {"X-API-Key": Credentials().smartway_api_key},
            )
            assert (status, data["expires_in"]) == (200, 30)
        finally:
            process.send_signal(2)  # SIGINT: Ctrl-C
            rest = process.stdout.read()
        assert process.wait(5) == 0
    assert "smartway_api_key" in rest


# -- the personas: one module per vendor, each registered ------------------------


def test_every_persona_module_is_registered() -> None:
    # Adding a vendor is adding a file and its line in PERSONAS: a file
    # without the line would be a persona that answers nothing.
    import importlib
    import pkgutil

    from sansio_auth.adapters.server import personas

    modules = [
        info.name
        for info in pkgutil.iter_modules(personas.__path__)
        if info.name != "_base"
    ]
    assert len(modules) >= 6
    for name in modules:
        module = importlib.import_module(f"{personas.__name__}.{name}")
        assert module.PERSONA in personas.PERSONAS, f"{name} is not in PERSONAS"
    assert len(personas.PERSONAS) == len(modules)


def test_every_provider_has_a_persona_of_its_name() -> None:
    import pkgutil

    import sansio_auth.providers
    from sansio_auth.adapters.server import personas

    providers = {
        info.name
        for info in pkgutil.iter_modules(sansio_auth.providers.__path__)
        if info.name != "_base"
    }
    played = {info.name for info in pkgutil.iter_modules(personas.__path__)}
    assert providers, "no provider modules found"
    assert providers <= played, f"no persona for {sorted(providers - played)}"


def test_two_personas_cannot_answer_one_path() -> None:
    import attrs

    from sansio_auth.adapters.server.personas import PERSONAS, _routes_by_path

    first = PERSONAS[0]
    renamed = attrs.evolve(first.routes[0], endpoint="another")
    same_path = attrs.evolve(first, name="another", routes=(renamed,))
    with pytest.raises(ValueError, match="two routes answer the path"):
        _routes_by_path((*PERSONAS, same_path))
    with pytest.raises(ValueError, match=r"endpoint name .* is taken"):
        _routes_by_path((*PERSONAS, first))


# -- the 401 path: revocation, the resource's challenges, aimed faults (issue 12) --

REVOKED = "the access token was revoked"
EXPIRED = "the access token has expired"
NOT_ISSUED_HERE = "the access token was not issued here"


def challenge(description: str) -> str:
    return (
        'Bearer realm="sansio-auth", error="invalid_token", '
        f'error_description="{description}"'
    )


def get_resource(
    server: TokenServer, token: str | None
) -> tuple[int, Mapping[str, str], dict[str, object]]:
    headers = {} if token is None else {"Authorization": f"Bearer {token}"}
    return call(server.resource_url, headers=headers, method="GET")


def test_a_revoked_token_gets_the_revoked_challenge(server: TokenServer) -> None:
    kept = fetch(server, smartway_flow(server)).access_token
    revoked = fetch(server, smartway_flow(server)).access_token
    assert get_resource(server, revoked)[0] == 200
    server.revoke(revoked)
    status, head, data = get_resource(server, revoked)
    assert (status, head["WWW-Authenticate"]) == (401, challenge(REVOKED))
    assert data == {"error": "invalid_token", "error_description": REVOKED}
    assert server.verify(revoked) is None
    assert get_resource(server, kept)[0] == 200  # only that one
    server.clear()  # records and faults go; revocations stay
    assert get_resource(server, revoked)[0] == 401
    assert server.verify(kept) is not None


def test_revoking_a_refresh_token_makes_its_endpoint_refuse_it(
    server: TokenServer,
) -> None:
    flow = generic_flow(server, password=True)
    token = fetch(server, flow)
    assert token.refresh_token is not None
    server.revoke(token.refresh_token)
    refresh = flow.refresh_request(token.refresh_token)
    assert refresh is not None
    result = flow.parse(urllib_adapter.send(refresh, timeout=5), now=time.time())
    assert isinstance(result, OAuthError)
    assert result.error == "invalid_grant"
    assert get_resource(server, token.access_token)[0] == 200  # not the access token


def test_revoke_ignores_tokens_it_did_not_issue(server: TokenServer) -> None:
    token = fetch(server, smartway_flow(server)).access_token
    with TokenServer() as other:
        other.revoke(token)  # not its own: nothing to do
        other.revoke("not a token")
    server.revoke("")
    assert get_resource(server, token)[0] == 200
    with pytest.raises(TypeError, match="token must be a string"):
        server.revoke(b"x")  # type: ignore[arg-type]


def test_an_expired_token_gets_the_expired_challenge() -> None:
    with TokenServer(token_lifetime=1) as server:
        token = fetch(server, generic_flow(server)).access_token
        time.sleep(1.1)  # exp is whole seconds: at most a second from now
        status, head, data = get_resource(server, token)
        assert (status, head["WWW-Authenticate"]) == (401, challenge(EXPIRED))
        assert data["error_description"] == EXPIRED
        server.revoke(token)  # revoked says more than expired
        assert get_resource(server, token)[1]["WWW-Authenticate"] == challenge(REVOKED)


def test_a_token_not_issued_here_gets_the_unknown_challenge(
    server: TokenServer,
) -> None:
    with TokenServer() as other:
        foreign = fetch(other, smartway_flow(other)).access_token
    head, payload, signature = fetch(server, smartway_flow(server)).access_token.split(
        "."
    )
    for token in [foreign, f"{head}.{payload}.{signature[:-2]}AA", "nope"]:
        status, headers, _ = get_resource(server, token)
        assert (status, headers["WWW-Authenticate"]) == (
            401,
            challenge(NOT_ISSUED_HERE),
        )


@pytest.mark.parametrize(
    "authorization", [None, "Basic dXNlcjpwYXNz", "Bearer", "Bearer   ", "Token x"]
)
def test_no_bearer_token_gets_a_challenge_without_error(
    server: TokenServer, authorization: str | None
) -> None:
    headers = {} if authorization is None else {"Authorization": authorization}
    status, head, data = call(server.resource_url, headers=headers, method="GET")
    # RFC 6750 §3.1: a request that lacks authentication gets no error code.
    assert (status, head["WWW-Authenticate"]) == (401, 'Bearer realm="sansio-auth"')
    assert data["error"] == "unauthorized"


@pytest.mark.parametrize(
    ("method", "body"), [("GET", None), ("POST", b'{"a": 1}'), ("PUT", b"x" * 1000)]
)
def test_the_resource_answers_get_post_and_put(
    server: TokenServer, method: str, body: bytes | None
) -> None:
    token = fetch(server, smartdocumentor_flow(server)).access_token
    status, _, data = call(
        server.resource_url,
        body,
        {"Authorization": f"Bearer {token}", **JSON},
        method=method,
    )
    assert status == 200
    assert data == {
        "subject": server.credentials.smartdocumentor_client_id,
        "endpoint": "smartdocumentor",
        "method": method,
        "body_bytes": len(body or b""),
    }


@pytest.mark.parametrize("method", ["DELETE", "PATCH", "HEAD"])
def test_another_method_gets_405_listing_get_post_put(
    server: TokenServer, method: str
) -> None:
    status, head, _ = call(server.resource_url, method=method)
    assert (status, head["Allow"]) == (405, "GET, POST, PUT")
    # A token endpoint still allows its one method.
    status, head, _ = call(server.generic_token_url, method="GET")
    assert (status, head["Allow"]) == (405, "POST")


def test_a_route_has_at_least_one_method() -> None:
    from sansio_auth.adapters.server.personas import Route, _resource

    (route,) = _resource.PERSONA.routes
    assert route.methods == ("GET", "POST", "PUT")
    assert Route(endpoint="x", paths=frozenset(), answer=route.answer).methods == (
        "POST",
    )
    with pytest.raises(ValueError, match="methods"):
        Route(endpoint="x", paths=frozenset(), answer=route.answer, methods=())


def test_a_fault_aimed_at_the_resource_leaves_token_requests_alone(
    server: TokenServer,
) -> None:
    basic = ("WWW-Authenticate", 'Basic realm="x"')
    server.fail_next(
        2, status=401, retry_after=None, endpoint="resource", headers=[basic]
    )
    token = fetch(server, smartway_flow(server)).access_token  # not failed
    fetch(server, generic_flow(server))
    for _ in range(2):
        status, head, _ = get_resource(server, token)
        assert (status, head["WWW-Authenticate"]) == (401, 'Basic realm="x"')
        assert "Retry-After" not in head
    assert get_resource(server, token)[0] == 200  # both used up
    assert [(r.endpoint, r.fault) for r in server.requests] == [
        ("smartway", None),
        ("generic", None),
        ("resource", "fail"),
        ("resource", "fail"),
        ("resource", None),
    ]


def test_faults_aimed_and_not_are_taken_oldest_first(server: TokenServer) -> None:
    flow = smartway_flow(server)
    server.fail_next(1, 429, endpoint="smartway")
    server.fail_next(1, 503, 3)  # positional, as before: any endpoint
    server.fail_next(1, 500, endpoint="generic")
    assert get_resource(server, None)[0] == 503  # the untargeted one
    first = flow.parse(urllib_adapter.send(flow.token_request()), now=0)
    assert isinstance(first, HttpError)
    assert first.status == 429
    fetch(server, flow)
    status, head, _ = call(
        server.generic_token_url, form(grant_type="client_credentials"), FORM
    )
    assert (status, head["Retry-After"]) == (500, "1")


def test_fail_next_checks_its_endpoint(server: TokenServer) -> None:
    with pytest.raises(ValueError, match=r"smartway, .*resource.*got 'nope'"):
        server.fail_next(1, endpoint="nope")
    with pytest.raises(ValueError, match="got 'unknown'"):
        server.fail_next(1, endpoint="unknown")
    with pytest.raises(ValueError, match="retry_after"):
        server.fail_next(1, retry_after=-1)
    with pytest.raises(ValueError, match="status"):
        server.fail_next(1, status=True)
    assert get_resource(server, None)[0] == 401  # nothing was queued


@pytest.mark.parametrize(
    ("headers", "match"),
    [
        ([("X-A", "a\r\nX-B: b")], "value of header X-A"),
        ([("X-A", "a\nb")], "value of header X-A"),
        ([("X-A", "caf\u00e9")], "value of header X-A"),
        ([("X-A", " padded")], "white space"),
        ([("X\r\nB", "v")], "token"),
        ([("", "v")], "token"),
        ([("X A", "v")], "token"),
        ([("X:A", "v")], "token"),
        ([("Content-Length", "0")], "writes the Content-Length header itself"),
        ([("connection", "keep-alive")], "itself"),
    ],
)
def test_fail_next_refuses_headers_that_could_break_the_answer(
    server: TokenServer, headers: list[tuple[str, str]], match: str
) -> None:
    with pytest.raises(ValueError, match=match):
        server.fail_next(1, headers=headers)
    assert get_resource(server, None)[0] == 401  # nothing was queued


@pytest.mark.parametrize(
    "headers",
    [
        ("WWW-Authenticate", 'Basic realm="x"'),  # one pair, not a sequence
        "WWW-Authenticate: Basic",
        [("X-A", "v", "w")],
        [("X-A", 1)],
        [["X-A", "v"]],
    ],
)
def test_fail_next_wants_pairs_of_strings(server: TokenServer, headers: object) -> None:
    with pytest.raises(TypeError, match=r"\(name, value\) pairs"):
        server.fail_next(1, headers=headers)  # type: ignore[arg-type]


def test_concurrent_revoke_and_resource_calls_agree(server: TokenServer) -> None:
    flow = generic_flow(server)
    tokens = [fetch(server, flow).access_token for _ in range(8)]
    revoked = [threading.Event() for _ in tokens]
    seen: list[list[tuple[bool, int, str | None]]] = [[] for _ in tokens]

    def poll(index: int) -> None:
        for _ in range(15):
            after_revoke = revoked[index].is_set()
            status, head, _ = get_resource(server, tokens[index])
            seen[index].append((after_revoke, status, head.get("WWW-Authenticate")))

    def revoke(index: int) -> None:
        time.sleep(0.005 * index)
        server.revoke(tokens[index])
        revoked[index].set()

    threads = [threading.Thread(target=poll, args=(i,)) for i in range(len(tokens))]
    threads += [threading.Thread(target=revoke, args=(i,)) for i in range(len(tokens))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for answers in seen:
        statuses = [status for _, status, _ in answers]
        # 200 until revoked, then 401 for good, and revoked is the reason.
        assert statuses == sorted(statuses)
        for after_revoke, status, head in answers:
            assert status in (200, 401)
            if after_revoke or status == 401:
                assert (status, head) == (401, challenge(REVOKED))
    for token in tokens:
        assert server.verify(token) is None


@pytest.mark.token_server(token_lifetime=60)
def test_the_fixture_drives_the_401_path_in_a_few_lines(
    token_server: TokenServer,
) -> None:
    flow = generic_flow(token_server)
    with urllib_adapter.TokenClient(flow, timeout=5) as client:
        token_server.revoke(client.token().access_token)
        api = HttpRequest(
            method="GET",
            url=token_server.resource_url,
            headers=(("Authorization", client.authorization()),),
            body=b"",
        )
        response = urllib_adapter.send(api, timeout=5)
    assert response.status == 401
    assert response.header("WWW-Authenticate") == challenge(REVOKED)


# A server shared by the hypothesis examples (one per example would be slow).
@pytest.fixture(scope="module")
def shared_server() -> Iterator[TokenServer]:
    with TokenServer() as running:
        yield running


_TOKEN_CHARS = (
    "!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
)
_FRAMING = {"connection", "content-length", "content-type", "transfer-encoding"}
_NAMES = st.text(_TOKEN_CHARS, min_size=1, max_size=20).filter(
    lambda name: name.lower() not in _FRAMING
)
_VALUES = st.text(st.sampled_from([chr(c) for c in range(0x20, 0x7F)] + ["\t"])).map(
    lambda value: value.strip(" \t")
)


def _acceptable(name: str, value: str) -> bool:
    """RFC 9110 §5.1, §5.5, written apart from the server's checks."""
    return bool(
        re.fullmatch(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+", name)
        and name.lower() not in _FRAMING
        and re.fullmatch(r"(?:[\x21-\x7e](?:[\x20-\x7e\t]*[\x21-\x7e])?)?", value)
    )


def _raw_answer(server: TokenServer) -> bytes:
    with socket.create_connection((server.host, server.port), timeout=5) as conn:
        conn.sendall(b"GET /api/resource HTTP/1.1\r\nHost: x\r\n\r\n")
        chunks = []
        while chunk := conn.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


@settings(max_examples=40)
@given(name=_NAMES, value=_VALUES)
def test_an_accepted_header_is_on_the_wire_verbatim(
    shared_server: TokenServer, name: str, value: str
) -> None:
    shared_server.fail_next(1, 401, None, endpoint="resource", headers=[(name, value)])
    head = _raw_answer(shared_server).partition(b"\r\n\r\n")[0]
    assert head.startswith(b"HTTP/1.1 401 ")
    assert f"\r\n{name}: {value}\r\n".encode("ascii") in head + b"\r\n"


@given(
    name=_NAMES | st.text(max_size=10),
    value=_VALUES | st.text(max_size=10),
)
def test_a_header_is_refused_exactly_when_it_is_not_a_field(
    name: str, value: str
) -> None:
    server = TokenServer()  # not started: queuing needs no socket
    if _acceptable(name, value):
        server.fail_next(0, headers=[(name, value)])
    else:
        with pytest.raises(ValueError, match="header"):
            server.fail_next(0, headers=[(name, value)])


# -- what an attacker's token or an odd status does (review 12) -------------------


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


@pytest.mark.parametrize(
    "claims",
    [b"[" * 5000 + b"]" * 5000, b'{"a":' * 4000 + b"1" + b"}" * 4000],
    ids=["nested lists", "nested objects"],
)
def test_deeply_nested_claims_get_the_unknown_challenge(
    server: TokenServer, claims: bytes
) -> None:
    # The claims are never parsed before the MAC is checked: no RecursionError
    # closes the connection without an answer.
    header = _b64url(b'{"alg":"HS256","typ":"JWT"}')
    token = f"{header}.{_b64url(claims)}.{_b64url(b'x' * 32)}"
    status, headers, _ = get_resource(server, token)
    assert (status, headers["WWW-Authenticate"]) == (401, challenge(NOT_ISSUED_HERE))
    assert server.verify(token) is None


@settings(max_examples=60)
@given(status=st.integers(400, 599))
def test_fail_next_answers_any_4xx_or_5xx(
    shared_server: TokenServer, status: int
) -> None:
    # HTTPStatus knows few of them (no 420, 499, 509, 529, 599): the others
    # get a generic reason in the page.
    shared_server.fail_next(1, status, None, endpoint="resource")
    head, _, body = _raw_answer(shared_server).partition(b"\r\n\r\n")
    assert head.startswith(f"HTTP/1.1 {status} ".encode())
    assert body.startswith(f"{status} ".encode())
    assert body.endswith(b"\n")
