"""The oidc-provider harness, proven by hand: each feature the library will
use, spoken to the real server with httpx and JWTs signed by ``cryptography``
alone, none of the library's code. When these pass and a test through the
library fails, the library is wrong, not the harness.

Each feature is shown working and refused: a wrong secret, a replayed or
misaddressed assertion, a missing or foreign certificate, a proof without the
server's nonce, a second ``resource`` (oidc-provider issues one resource per
client_credentials token), so that a server that accepted anything would
fail here.
"""

from __future__ import annotations

import base64
import hashlib
import json
import time
import uuid
from collections.abc import Mapping
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes
from oidc_provider import (
    JWT_BEARER,
    TOKEN_EXCHANGE,
    OidcClient,
    OidcProvider,
    b64url,
    jwk_thumbprint,
    public_jwk,
    sign_jwt,
)

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
ACCESS_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:access_token"
JWT_TYPE = "urn:ietf:params:oauth:token-type:jwt"
PRIVATE_KEY_JWT = [
    "private-key-jwt-rs256",
    "private-key-jwt-ps256",
    "private-key-jwt-es256",
    "private-key-jwt-eddsa",
]


# Helpers: the wire, by hand.


def claims_of(jwt: str) -> dict[str, Any]:
    payload = jwt.split(".")[1]
    decoded: dict[str, Any] = json.loads(
        base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
    )
    return decoded


def post(
    provider: OidcProvider,
    data: Mapping[str, str | list[str]],
    *,
    client: OidcClient | None = None,
    headers: Mapping[str, str] | None = None,
    auth: tuple[str, str] | None = None,
) -> httpx.Response:
    """One POST to the token endpoint, on a fresh connection carrying
    ``client``'s certificate when it has one (client_secret_basic: ``auth``)."""
    with httpx.Client(verify=provider.ssl_context(client), timeout=30) as http:
        return http.post(
            provider.token_url,
            data=data,
            headers=headers,
            auth=httpx.BasicAuth(*auth) if auth else httpx.USE_CLIENT_DEFAULT,
        )


def client_assertion(
    client: OidcClient,
    audience: str,
    key: PrivateKeyTypes | bytes,
    alg: str,
    *,
    jti: str | None = None,
    lifetime: int = 60,
) -> str:
    """The assertion as the core will make it (ctx14's wire format)."""
    header: dict[str, str] = {"alg": alg, "typ": "JWT"}
    if client.kid is not None:
        header["kid"] = client.kid
    now = int(time.time())
    claims = {
        "iss": client.client_id,
        "sub": client.client_id,
        "aud": audience,
        "jti": jti or str(uuid.uuid4()),
        "iat": now,
        "exp": now + lifetime,
    }
    return sign_jwt(header, claims, key)


def assertion_form(client: OidcClient, assertion: str) -> dict[str, str | list[str]]:
    return {
        "grant_type": "client_credentials",
        "client_assertion_type": ASSERTION_TYPE,
        "client_assertion": assertion,
        "client_id": client.client_id,
    }


def dpop_proof(
    key: PrivateKeyTypes,
    alg: str,
    method: str,
    url: str,
    *,
    nonce: str | None = None,
    access_token: str | None = None,
) -> str:
    header = {"typ": "dpop+jwt", "alg": alg, "jwk": public_jwk(key)}
    claims: dict[str, Any] = {
        "jti": str(uuid.uuid4()),
        "htm": method,
        "htu": url,
        "iat": int(time.time()),
    }
    if nonce is not None:
        claims["nonce"] = nonce
    if access_token is not None:
        claims["ath"] = b64url(hashlib.sha256(access_token.encode("ascii")).digest())
    return sign_jwt(header, claims, key)


def secret_post(
    client: OidcClient, **extra: str | list[str]
) -> dict[str, str | list[str]]:
    assert client.secret is not None
    return {
        "grant_type": "client_credentials",
        "client_id": client.client_id,
        "client_secret": client.secret,
        **extra,
    }


def token_of(response: httpx.Response, provider: OidcProvider) -> dict[str, Any]:
    assert response.status_code == 200, f"{response.text}\n{provider.log}"
    body: dict[str, Any] = response.json()
    return body


@pytest.fixture
def op(oidc_provider: OidcProvider) -> OidcProvider:
    return oidc_provider


# client_secret_basic and client_secret_post.


def test_client_secret_post(op: OidcProvider) -> None:
    client = op.client("client-secret-post")
    body = token_of(post(op, secret_post(client, scope="read")), op)
    assert body["token_type"] == "Bearer"
    claims = claims_of(body["access_token"])
    assert claims["client_id"] == claims["sub"] == client.client_id
    assert claims["aud"] == op.resources[op.default_resource]
    assert claims["iss"] == op.issuer
    assert body["scope"] == claims["scope"] == "read"


def test_client_secret_basic(op: OidcProvider) -> None:
    client = op.client("client-secret-basic")
    assert client.secret is not None
    response = post(
        op, {"grant_type": "client_credentials"}, auth=(client.client_id, client.secret)
    )
    assert claims_of(token_of(response, op)["access_token"])["sub"] == client.client_id


def test_a_wrong_secret_is_refused(op: OidcProvider) -> None:
    client = op.client("client-secret-post")
    data = {**secret_post(client), "client_secret": "not-the-secret"}
    response = post(op, data)
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"


def test_the_registered_method_family_is_enforced(op: OidcProvider) -> None:
    # client-secret-jwt's secret, sent in the body: the right secret by the
    # wrong method is refused.
    client = op.client("client-secret-jwt")
    response = post(op, secret_post(client))
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"
    assert "does not match the registered client authentication method" in op.log


def test_basic_and_post_are_interchangeable_here(op: OidcProvider) -> None:
    # oidc-provider takes either of client_secret_basic and client_secret_post
    # from a client registered with one: this server cannot tell a test
    # which of the two the library sent (the byte-exact tests do).
    client = op.client("client-secret-basic")
    token_of(post(op, secret_post(client)), op)


# client_secret_jwt and private_key_jwt.


@pytest.mark.parametrize("audience", ["token_url", "issuer"])
def test_client_secret_jwt(op: OidcProvider, audience: str) -> None:
    client = op.client("client-secret-jwt")
    assert client.secret is not None
    aud = op.token_url if audience == "token_url" else op.issuer
    assertion = client_assertion(client, aud, client.secret.encode(), "HS256")
    body = token_of(post(op, assertion_form(client, assertion)), op)
    assert claims_of(body["access_token"])["sub"] == client.client_id


@pytest.mark.parametrize("name", PRIVATE_KEY_JWT)
def test_private_key_jwt(op: OidcProvider, name: str) -> None:
    client = op.client(name)
    assert client.alg is not None
    assertion = client_assertion(client, op.token_url, client.private_key(), client.alg)
    body = token_of(post(op, assertion_form(client, assertion)), op)
    assert claims_of(body["access_token"])["sub"] == client.client_id


def test_private_key_jwt_with_the_issuer_as_audience(op: OidcProvider) -> None:
    client = op.client("private-key-jwt-eddsa")
    assertion = client_assertion(client, op.issuer, client.private_key(), "EdDSA")
    token_of(post(op, assertion_form(client, assertion)), op)


def test_a_replayed_assertion_is_refused(op: OidcProvider) -> None:
    client = op.client("private-key-jwt-rs256")
    assertion = client_assertion(client, op.token_url, client.private_key(), "RS256")
    token_of(post(op, assertion_form(client, assertion)), op)
    again = post(op, assertion_form(client, assertion))
    assert again.status_code == 401
    assert again.json()["error"] == "invalid_client"
    assert "only be used once" in op.log


@pytest.mark.parametrize(
    ("aud", "reason"),
    [
        ("https://elsewhere.example.test/token", "audience (aud) must equal"),
        ("token_url", "alg mismatch"),  # signed PS256, registered ES256
    ],
)
def test_a_misaddressed_or_missigned_assertion_is_refused(
    op: OidcProvider, aud: str, reason: str
) -> None:
    client = op.client("private-key-jwt-es256")
    if aud == "token_url":
        other = op.client("private-key-jwt-ps256")
        assertion = client_assertion(client, op.token_url, other.private_key(), "PS256")
    else:
        assertion = client_assertion(client, aud, client.private_key(), "ES256")
    response = post(op, assertion_form(client, assertion))
    assert response.status_code == 401
    assert reason in op.log


def test_a_key_not_registered_is_refused(op: OidcProvider) -> None:
    client = op.client("private-key-jwt-es256")
    stranger = ec.generate_private_key(ec.SECP256R1())
    assertion = client_assertion(client, op.token_url, stranger, "ES256")
    response = post(op, assertion_form(client, assertion))
    assert response.status_code == 401


def test_an_expired_assertion_is_refused(op: OidcProvider) -> None:
    client = op.client("private-key-jwt-eddsa")
    assertion = client_assertion(
        client, op.token_url, client.private_key(), "EdDSA", lifetime=-60
    )
    response = post(op, assertion_form(client, assertion))
    assert response.status_code == 401


# tls_client_auth and self_signed_tls_client_auth (RFC 8705).


@pytest.mark.parametrize(
    "name", ["tls-client-auth", "tls-client-auth-san", "self-signed-tls-client-auth"]
)
def test_mtls_client_auth_binds_the_token_to_the_certificate(
    op: OidcProvider, name: str
) -> None:
    client = op.client(name)
    data = {"grant_type": "client_credentials", "client_id": client.client_id}
    body = token_of(post(op, data, client=client), op)
    assert body["token_type"] == "Bearer"
    claims = claims_of(body["access_token"])
    assert claims["sub"] == client.client_id
    assert claims["cnf"] == {"x5t#S256": client.certificate_thumbprint}

    # The bound token works at the resource over a connection with the
    # certificate, and not over one without.
    bearer = {"Authorization": f"Bearer {body['access_token']}"}
    with httpx.Client(verify=op.ssl_context(client), timeout=30) as http:
        ok = http.get(op.resource_url, headers=bearer)
    assert ok.status_code == 200, ok.text
    assert ok.json()["claims"]["client_id"] == client.client_id
    with httpx.Client(verify=op.ssl_context(), timeout=30) as http:
        refused = http.get(op.resource_url, headers=bearer)
    assert refused.status_code == 401
    assert 'error="invalid_token"' in refused.headers["WWW-Authenticate"]


@pytest.mark.parametrize(
    ("name", "cert_of"),
    [
        ("tls-client-auth", None),
        ("tls-client-auth", "self-signed-tls-client-auth"),  # not from the CA
        ("tls-client-auth", "tls-client-auth-san"),  # the CA's, another subject
        ("self-signed-tls-client-auth", None),
        ("self-signed-tls-client-auth", "tls-client-auth"),  # not registered
    ],
)
def test_mtls_client_auth_without_the_right_certificate_is_refused(
    op: OidcProvider, name: str, cert_of: str | None
) -> None:
    data = {"grant_type": "client_credentials", "client_id": name}
    response = post(op, data, client=op.client(cert_of) if cert_of else None)
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"


# DPoP (RFC 9449): the server always wants its nonce.


@pytest.mark.parametrize("alg", ["ES256", "EdDSA"])
def test_dpop_nonce_dance_then_a_dpop_bound_token(op: OidcProvider, alg: str) -> None:
    client = op.client("dpop-bound")
    key: PrivateKeyTypes = (
        ec.generate_private_key(ec.SECP256R1())
        if alg == "ES256"
        else ed25519.Ed25519PrivateKey.generate()
    )
    first = post(
        op,
        secret_post(client),
        headers={"DPoP": dpop_proof(key, alg, "POST", op.token_url)},
    )
    assert first.status_code == 400
    assert first.json()["error"] == "use_dpop_nonce"
    nonce = first.headers["DPoP-Nonce"]

    proof = dpop_proof(key, alg, "POST", op.token_url, nonce=nonce)
    body = token_of(post(op, secret_post(client), headers={"DPoP": proof}), op)
    assert body["token_type"] == "DPoP"
    token = body["access_token"]
    assert claims_of(token)["cnf"] == {"jkt": jwk_thumbprint(public_jwk(key))}

    # The resource has a nonce of its own: a 401 with use_dpop_nonce first,
    # then the same request with its nonce and ath goes through.
    headers = {"Authorization": f"DPoP {token}"}
    with httpx.Client(verify=op.ssl_context(), timeout=30) as http:
        proof = dpop_proof(key, alg, "GET", op.resource_url, access_token=token)
        challenged = http.get(op.resource_url, headers={**headers, "DPoP": proof})
        assert challenged.status_code == 401
        challenge = challenged.headers["WWW-Authenticate"]
        assert challenge.startswith("DPoP ")
        assert 'error="use_dpop_nonce"' in challenge
        resource_nonce = challenged.headers["DPoP-Nonce"]
        proof = dpop_proof(
            key,
            alg,
            "GET",
            op.resource_url + "?q=1",  # htu: the URL without its query
            nonce=resource_nonce,
            access_token=token,
        )
        ok = http.get(
            op.resource_url, params={"q": "1"}, headers={**headers, "DPoP": proof}
        )
        assert ok.status_code == 200, f"{ok.text}\n{op.log}"
        assert ok.json()["token_type"] == "DPoP"

        # As a bearer token, a DPoP-bound token is refused.
        as_bearer = http.get(
            op.resource_url, headers={"Authorization": f"Bearer {token}"}
        )
        assert as_bearer.status_code == 401


def test_dpop_proof_refusals(op: OidcProvider) -> None:
    client = op.client("dpop-bound")
    key = ec.generate_private_key(ec.SECP256R1())
    # dpop_bound_access_tokens: no proof, no token.
    without = post(op, secret_post(client))
    assert without.status_code == 400
    assert without.json()["error"] == "invalid_grant"

    nonce = post(
        op,
        secret_post(client),
        headers={"DPoP": dpop_proof(key, "ES256", "POST", op.token_url)},
    ).headers["DPoP-Nonce"]
    for proof in (
        dpop_proof(key, "ES256", "POST", op.issuer + "/other", nonce=nonce),
        dpop_proof(key, "ES256", "GET", op.token_url, nonce=nonce),
    ):
        refused = post(op, secret_post(client), headers={"DPoP": proof})
        assert refused.status_code == 400
        assert refused.json()["error"] == "invalid_dpop_proof"
    assert "htu mismatch" in op.log
    assert "htm mismatch" in op.log


def test_any_client_may_ask_for_a_dpop_token(op: OidcProvider) -> None:
    client = op.client("private-key-jwt-es256")
    key = ec.generate_private_key(ec.SECP256R1())

    def attempt(nonce: str | None) -> httpx.Response:
        assertion = client_assertion(
            client, op.token_url, client.private_key(), "ES256"
        )
        proof = dpop_proof(key, "ES256", "POST", op.token_url, nonce=nonce)
        return post(op, assertion_form(client, assertion), headers={"DPoP": proof})

    first = attempt(None)
    assert first.json()["error"] == "use_dpop_nonce"
    body = token_of(attempt(first.headers["DPoP-Nonce"]), op)
    assert body["token_type"] == "DPoP"


def test_after_a_nonce_challenge_the_client_assertion_must_be_new(
    op: OidcProvider,
) -> None:
    # The client is authenticated (and the assertion's jti used up) before
    # the DPoP proof is checked: the same assertion sent again with the nonce
    # is a replay. The request sent again must carry a fresh assertion.
    client = op.client("private-key-jwt-eddsa")
    key = ec.generate_private_key(ec.SECP256R1())
    assertion = client_assertion(client, op.token_url, client.private_key(), "EdDSA")
    form = assertion_form(client, assertion)
    proof = dpop_proof(key, "ES256", "POST", op.token_url)
    first = post(op, form, headers={"DPoP": proof})
    assert first.json()["error"] == "use_dpop_nonce"
    nonce = first.headers["DPoP-Nonce"]
    proof = dpop_proof(key, "ES256", "POST", op.token_url, nonce=nonce)
    again = post(op, form, headers={"DPoP": proof})
    assert again.status_code == 401
    assert again.json()["error"] == "invalid_client"


# Resource indicators (RFC 8707).


def test_one_token_per_resource(op: OidcProvider) -> None:
    client = op.client("client-secret-post")
    a, b = (uri for uri in op.resources if uri != op.default_resource)
    token_a = token_of(
        post(op, secret_post(client, resource=a, scope="read write")), op
    )
    token_b = token_of(
        post(op, secret_post(client, resource=b, scope="read write")), op
    )
    assert claims_of(token_a["access_token"])["aud"] == op.resources[a] == "api-a"
    assert claims_of(token_b["access_token"])["aud"] == op.resources[b] == "api-b"
    # Each resource's scopes: b takes only read.
    assert token_a["scope"] == "read write"
    assert token_b["scope"] == "read"


def test_two_resources_on_one_request_are_refused(op: OidcProvider) -> None:
    # oidc-provider issues one audience per client_credentials token: two
    # resource values are invalid_target (RFC 8707 §2 lets a server do so).
    client = op.client("client-secret-post")
    response = post(op, secret_post(client, resource=list(op.resources)[:2]))
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_target"


def test_an_unknown_resource_is_refused(op: OidcProvider) -> None:
    client = op.client("client-secret-post")
    response = post(op, secret_post(client, resource="https://unknown.example.test/"))
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_target"


# The JWT bearer grant and token exchange (registered in server.mjs).


def workload_jwt(op: OidcProvider, subject: str, *, jti: str | None = None) -> str:
    issuer = op.trusted_issuer
    now = int(time.time())
    claims = {
        "iss": issuer.issuer,
        "sub": subject,
        "aud": op.token_url,
        "jti": jti or str(uuid.uuid4()),
        "iat": now,
        "exp": now + 300,
    }
    header = {"alg": issuer.alg, "typ": "JWT", "kid": issuer.kid}
    return sign_jwt(header, claims, issuer.private_key())


def test_jwt_bearer_grant(op: OidcProvider) -> None:
    client = op.client("client-secret-basic")
    assert client.secret is not None
    auth = (client.client_id, client.secret)
    assertion = workload_jwt(op, "service-account-7")
    data = {"grant_type": JWT_BEARER, "assertion": assertion, "scope": "read"}
    body = token_of(post(op, data, auth=auth), op)
    claims = claims_of(body["access_token"])
    assert claims["sub"] == "service-account-7"
    assert claims["client_id"] == client.client_id
    assert claims["assertion_iss"] == op.trusted_issuer.issuer
    assert body["scope"] == "read"

    replayed = post(op, data, auth=auth)
    assert replayed.status_code == 400
    assert replayed.json()["error"] == "invalid_grant"
    assert "replayed" in op.log


def test_jwt_bearer_grant_with_dpop(op: OidcProvider) -> None:
    client = op.client("client-secret-post")
    key = ed25519.Ed25519PrivateKey.generate()
    data = {**secret_post(client), "grant_type": JWT_BEARER}

    def attempt(assertion: str, nonce: str | None) -> httpx.Response:
        proof = dpop_proof(key, "EdDSA", "POST", op.token_url, nonce=nonce)
        form = {**data, "assertion": assertion}
        return post(op, form, headers={"DPoP": proof})

    # Unlike a client assertion, the grant's assertion survives the nonce
    # challenge: server.mjs checks the proof before using up its jti.
    assertion = workload_jwt(op, "service-account-8")
    first = attempt(assertion, None)
    assert first.json()["error"] == "use_dpop_nonce"
    body = token_of(attempt(assertion, first.headers["DPoP-Nonce"]), op)
    assert body["token_type"] == "DPoP"
    assert claims_of(body["access_token"])["cnf"] == {
        "jkt": jwk_thumbprint(public_jwk(key))
    }


def test_token_exchange(op: OidcProvider) -> None:
    client = op.client("client-secret-post")
    a = next(uri for uri in op.resources if op.resources[uri] == "api-a")
    subject_token = token_of(
        post(op, secret_post(op.client("client-secret-post"))), op
    )["access_token"]
    data: dict[str, str | list[str]] = {
        **secret_post(client),
        "grant_type": TOKEN_EXCHANGE,
        "subject_token": subject_token,
        "subject_token_type": ACCESS_TOKEN_TYPE,
        "actor_token": workload_jwt(op, "actor-1"),
        "actor_token_type": JWT_TYPE,
        "audience": ["first-audience", "second-audience"],
        "resource": a,
        "scope": "write",
    }
    body = token_of(post(op, data), op)
    assert body["issued_token_type"] == ACCESS_TOKEN_TYPE
    claims = claims_of(body["access_token"])
    assert claims["aud"] == "api-a"
    assert claims["sub"] == client.client_id  # the subject token's subject
    assert claims["act"] == {"sub": "actor-1"}
    assert claims["requested_audience"] == ["first-audience", "second-audience"]
    assert claims["subject_token_type"] == ACCESS_TOKEN_TYPE
    assert body["scope"] == "write"

    header_and_claims = subject_token.rsplit(".", 1)[0]
    forged = {**data, "subject_token": f"{header_and_claims}.{b64url(bytes(256))}"}
    forged.pop("actor_token")
    forged.pop("actor_token_type")
    refused = post(op, forged)
    assert refused.status_code == 400
    assert refused.json()["error"] == "invalid_grant"


# The password grant (registered in server.mjs) and oidc-provider's own
# refresh_token grant, with each way of authenticating.


def password_form(op: OidcProvider, **extra: str) -> dict[str, str | list[str]]:
    return {
        "grant_type": "password",
        "username": op.username,
        "password": op.password,
        **extra,
    }


@pytest.mark.parametrize("name", ["private-key-jwt-es256", "client-secret-jwt"])
def test_password_then_refresh_with_jwt_client_auth(
    op: OidcProvider, name: str
) -> None:
    client = op.client(name)

    def authenticated(data: dict[str, str | list[str]]) -> httpx.Response:
        if client.auth == "private_key_jwt":
            assert client.alg is not None
            key: PrivateKeyTypes | bytes = client.private_key()
            alg = client.alg
        else:
            assert client.secret is not None
            key, alg = client.secret.encode(), "HS256"
        assertion = client_assertion(client, op.token_url, key, alg)
        form = assertion_form(client, assertion)
        return post(op, {**form, **data})

    first = token_of(authenticated(password_form(op, scope="read")), op)
    assert claims_of(first["access_token"])["sub"] == op.username
    refresh = first["refresh_token"]

    second = token_of(
        authenticated({"grant_type": "refresh_token", "refresh_token": refresh}), op
    )
    assert claims_of(second["access_token"])["sub"] == op.username
    assert second["scope"] == "read"
    assert second["refresh_token"] != refresh  # rotated

    reused = authenticated({"grant_type": "refresh_token", "refresh_token": refresh})
    assert reused.status_code == 400
    assert reused.json()["error"] == "invalid_grant"


def test_a_wrong_password_is_refused(op: OidcProvider) -> None:
    client = op.client("client-secret-post")
    data = {**secret_post(client), **password_form(op), "password": "wrong"}
    response = post(op, data)
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_grant"


def test_refresh_over_mtls_keeps_the_certificate_binding(op: OidcProvider) -> None:
    client = op.client("tls-client-auth")
    data = {"client_id": client.client_id}
    first = token_of(post(op, {**data, **password_form(op)}, client=client), op)
    refresh = {
        **data,
        "grant_type": "refresh_token",
        "refresh_token": first["refresh_token"],
    }
    second = token_of(post(op, refresh, client=client), op)
    assert claims_of(second["access_token"])["cnf"] == {
        "x5t#S256": client.certificate_thumbprint
    }


def test_refresh_with_dpop(op: OidcProvider) -> None:
    client = op.client("dpop-bound")
    key = ec.generate_private_key(ec.SECP256R1())

    def with_proof(data: dict[str, str | list[str]]) -> httpx.Response:
        nonce: str | None = None
        for _ in range(2):
            proof = dpop_proof(key, "ES256", "POST", op.token_url, nonce=nonce)
            response = post(
                op, {**secret_post(client), **data}, headers={"DPoP": proof}
            )
            if (
                response.status_code != 400
                or response.json()["error"] != "use_dpop_nonce"
            ):
                return response
            nonce = response.headers["DPoP-Nonce"]
        return response

    first = token_of(with_proof(password_form(op)), op)
    assert first["token_type"] == "DPoP"
    refresh = {"grant_type": "refresh_token", "refresh_token": first["refresh_token"]}
    second = token_of(with_proof(refresh), op)
    assert second["token_type"] == "DPoP"
    jkt = jwk_thumbprint(public_jwk(key))
    assert claims_of(second["access_token"])["cnf"] == {"jkt": jkt}


def test_an_assertion_without_client_id_in_the_body_is_accepted(
    op: OidcProvider,
) -> None:
    # oidc-provider reads the client from the assertion's sub; a client_id in
    # the body must match it.
    client = op.client("private-key-jwt-rs256")
    assertion = client_assertion(client, op.token_url, client.private_key(), "RS256")
    form = assertion_form(client, assertion)
    del form["client_id"]
    token_of(post(op, form), op)

    assertion = client_assertion(client, op.token_url, client.private_key(), "RS256")
    mismatched = {
        **assertion_form(client, assertion),
        "client_id": "client-secret-post",
    }
    response = post(op, mismatched)
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"
