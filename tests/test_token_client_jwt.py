"""Every TokenClient against oidc-provider: JWT client authentication, mutual
TLS, DPoP, resource indicators, the JWT bearer grant and token exchange.

oidc-provider (npm, started on loopback by the ``oidc_provider`` fixture) is
an authorization server by others, strict where it matters here: each client
assertion's ``jti`` once (so a nonce resend must sign a new one), a DPoP
nonce always required at the token endpoint and a nonce of its own at the
protected resource, ``htu`` exactly the URL, bound tokens honoured only with
their key or certificate. ``tests/test_oidc_interop_raw.py`` proves each of
these by hand, without the library; here the same features go through the
library's clients, one test body for urllib, trio, anyio on asyncio and anyio
on trio (``token_worlds``).
"""

from __future__ import annotations

import time
import uuid
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from oidc_provider import OidcClient, OidcProvider
from token_worlds import WORLD_IDS, WORLDS, World, chosen

from sansio_auth import (
    TOKEN_TYPE_ACCESS_TOKEN,
    TOKEN_TYPE_JWT,
    ApiAction,
    ClientCredentials,
    DPoPKey,
    JwtBearerGrant,
    OAuthError,
    PasswordGrant,
    Token,
    TokenExchange,
    api_action,
)

PRIVATE_KEY_JWT = [
    "private-key-jwt-rs256",
    "private-key-jwt-ps256",
    "private-key-jwt-es256",
    "private-key-jwt-eddsa",
]


@pytest.fixture
def op(oidc_provider: OidcProvider) -> OidcProvider:
    return oidc_provider


@pytest.fixture(params=WORLDS, ids=WORLD_IDS)
def world(request: pytest.FixtureRequest) -> World:
    """Each TokenClient's world in turn: urllib, trio, anyio on asyncio and
    on trio."""
    return chosen(request)


def claims_of(token: Token | str) -> dict[str, Any]:
    """The claims of an access token oidc-provider issued (a JWT)."""
    text = token.access_token if isinstance(token, Token) else token
    claims: dict[str, Any] = jwt.decode(text, options={"verify_signature": False})
    return claims


def assert_clean(stats: Any) -> None:
    assert stats.failures == 0, stats.last_error
    assert stats.refresh_rejected == 0


def secret_of(client: OidcClient) -> str:
    assert client.secret is not None
    return client.secret


# -- client_secret_jwt and private_key_jwt ----------------------------------------


@pytest.mark.parametrize("audience", ["token_url", "issuer"])
def test_client_secret_jwt(op: OidcProvider, world: World, audience: str) -> None:
    c = op.client("client-secret-jwt")
    flow = ClientCredentials(
        token_url=op.token_url,
        client_id=c.client_id,
        client_secret=secret_of(c),
        auth="client_secret_jwt",
        assertion_audience=op.issuer if audience == "issuer" else None,
    )
    client = world.client(flow, ssl_context=op.ssl_context())
    token = client.token()
    assert token.token_type == "Bearer"
    assert claims_of(token)["client_id"] == c.client_id
    assert_clean(client.session.stats)


@pytest.mark.parametrize("name", PRIVATE_KEY_JWT)
@pytest.mark.parametrize("form", ["pem", "object"])
@pytest.mark.parametrize("audience", ["token_url", "issuer"])
def test_private_key_jwt(
    op: OidcProvider, world: World, name: str, form: str, audience: str
) -> None:
    c = op.client(name)
    assert c.private_key_pem is not None
    flow = ClientCredentials(
        token_url=op.token_url,
        client_id=c.client_id,
        auth="private_key_jwt",
        private_key=c.private_key_pem if form == "pem" else c.private_key(),
        key_id=c.kid,
        # RS256, ES256 and EdDSA are their keys' defaults; an RSA key signs
        # PS256 only when asked.
        algorithm="PS256" if c.alg == "PS256" else None,
        assertion_audience=op.issuer if audience == "issuer" else None,
    )
    client = world.client(flow, ssl_context=op.ssl_context())
    token = client.token()
    claims = claims_of(token)
    assert claims["client_id"] == claims["sub"] == c.client_id
    assert claims["aud"] == op.resources[op.default_resource]
    # Each request a new assertion: a second fetch is not refused as a replay.
    client.invalidate(token)
    assert client.token().access_token != token.access_token
    assert client.session.stats.requests_sent == 2
    assert_clean(client.session.stats)


def test_private_key_jwt_with_another_key_is_refused(
    op: OidcProvider, world: World
) -> None:
    c = op.client("private-key-jwt-es256")
    flow = ClientCredentials(
        token_url=op.token_url,
        client_id=c.client_id,
        auth="private_key_jwt",
        private_key=ec.generate_private_key(ec.SECP256R1()),
        key_id=c.kid,
    )
    client = world.client(flow, ssl_context=op.ssl_context())
    with pytest.raises(OAuthError, match="invalid_client") as caught:
        client.token()
    assert caught.value.status == 401


@pytest.mark.parametrize("name", ["client-secret-jwt", "private-key-jwt-es256"])
def test_password_then_refresh_with_jwt_client_auth(
    op: OidcProvider, world: World, name: str
) -> None:
    c = op.client(name)
    auth: dict[str, Any] = (
        {"auth": "client_secret_jwt", "client_secret": secret_of(c)}
        if c.auth == "client_secret_jwt"
        else {"auth": "private_key_jwt", "private_key": c.private_key_pem}
    )
    flow = PasswordGrant(
        token_url=op.token_url,
        username=op.username,
        password=op.password,
        client_id=c.client_id,
        scope="read",
        **auth,
    )
    client = world.client(flow, ssl_context=op.ssl_context())
    first = client.token()
    assert first.refresh_token is not None
    client.invalidate(first)
    second = client.token()
    assert claims_of(second)["sub"] == op.username
    assert second.refresh_token not in (None, first.refresh_token)  # rotated
    stats = client.session.stats
    assert (stats.requests_sent, stats.refreshes) == (2, 1)
    assert_clean(stats)


# -- mutual TLS (RFC 8705) --------------------------------------------------------


def cert_form(c: OidcClient, form: str) -> object:
    if form == "one file":
        return str(c.cert_key_path)
    return c.client_cert


@pytest.mark.parametrize(
    ("name", "form"),
    [
        ("tls-client-auth", "one file"),
        ("tls-client-auth-san", "cert and key"),
        ("self-signed-tls-client-auth", "cert and key"),
        ("self-signed-tls-client-auth", "one file"),
    ],
)
def test_mtls_client_auth_with_client_cert(
    op: OidcProvider, world: World, name: str, form: str
) -> None:
    c = op.client(name)
    flow = ClientCredentials(token_url=op.token_url, client_id=c.client_id, auth=c.auth)  # type: ignore[arg-type]
    client = world.client(
        flow, ssl_context=op.ssl_context(), client_cert=cert_form(c, form)
    )
    token = client.token()
    assert token.token_type == "Bearer"
    claims = claims_of(token)
    assert claims["client_id"] == c.client_id
    assert claims["cnf"] == {"x5t#S256": c.certificate_thumbprint}
    # Bound to the certificate: the resource takes it over a connection that
    # presents it (the client's own context), not over one that does not.
    ok = client.call_api("GET", op.resource_url)
    assert ok.status == 200, ok.body
    refused = client.call_api("GET", op.resource_url, ssl_context=op.ssl_context())
    assert refused.status == 401
    assert_clean(client.session.stats)


@pytest.mark.parametrize("name", ["tls-client-auth", "self-signed-tls-client-auth"])
def test_mtls_client_auth_without_a_certificate_is_refused_when_built(
    op: OidcProvider, world: World, name: str
) -> None:
    c = op.client(name)
    flow = ClientCredentials(token_url=op.token_url, client_id=c.client_id, auth=c.auth)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="needs the client certificate"):
        world.client(flow)
    # With a certificate that is not the registered one, the server says no.
    other = op.client(
        "tls-client-auth" if name != "tls-client-auth" else "tls-client-auth-san"
    )
    client = world.client(
        flow, ssl_context=op.ssl_context(), client_cert=other.client_cert
    )
    with pytest.raises(OAuthError, match="invalid_client"):
        client.token()


def test_a_missing_certificate_file_is_named_when_built(
    op: OidcProvider, world: World, tmp_path: Any
) -> None:
    c = op.client("tls-client-auth")
    flow = ClientCredentials(token_url=op.token_url, client_id=c.client_id, auth=c.auth)  # type: ignore[arg-type]
    missing = str(tmp_path / "nowhere.pem")
    with pytest.raises(ValueError, match="could not be loaded from") as caught:
        world.client(flow, client_cert=(missing, str(c.key_path)))
    assert missing in str(caught.value)


# -- DPoP (RFC 9449) ------------------------------------------------------------------


def test_dpop_nonce_dance_with_a_fresh_client_assertion(
    op: OidcProvider, world: World
) -> None:
    # oidc-provider authenticates the client before it checks the proof: the
    # assertion of the challenged request is used up, and the resend must
    # carry a new one (tests/test_oidc_interop_raw.py proves it by hand).
    c = op.client("private-key-jwt-eddsa")
    flow = ClientCredentials(
        token_url=op.token_url,
        client_id=c.client_id,
        auth="private_key_jwt",
        private_key=c.private_key(),
        key_id=c.kid,
    )
    client = world.client(flow, ssl_context=op.ssl_context(), dpop_key=True)
    token = client.token()
    assert token.token_type == "DPoP"
    assert claims_of(token)["cnf"] == {"jkt": client.proofs.key.jkt}
    stats = client.session.stats
    assert (stats.requests_sent, stats.dpop_nonces) == (2, 1)
    assert_clean(stats)
    assert client.session.dpop_nonce is not None


@pytest.mark.parametrize("key", ["ES256 PEM", "EdDSA object", "DPoPKey"])
def test_dpop_bound_client_with_the_users_key(
    op: OidcProvider, world: World, key: str
) -> None:
    c = op.client("dpop-bound")
    dpop_key: object
    if key == "ES256 PEM":
        dpop_key = (
            ec.generate_private_key(ec.SECP256R1())
            .private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
            .decode()
        )
    elif key == "EdDSA object":
        dpop_key = ed25519.Ed25519PrivateKey.generate()
    else:
        dpop_key = DPoPKey(ec.generate_private_key(ec.SECP256R1()))
    flow = ClientCredentials(
        token_url=op.token_url, client_id=c.client_id, client_secret=secret_of(c)
    )
    client = world.client(flow, ssl_context=op.ssl_context(), dpop_key=dpop_key)
    token = client.token()
    assert token.token_type == "DPoP"
    expected = dpop_key if isinstance(dpop_key, DPoPKey) else DPoPKey(dpop_key)
    assert client.proofs.key == expected
    assert claims_of(token)["cnf"] == {"jkt": expected.jkt}
    assert client.session.stats.dpop_nonces == 1
    assert_clean(client.session.stats)


def test_a_dpop_bound_client_without_a_key_is_refused(
    op: OidcProvider, world: World
) -> None:
    c = op.client("dpop-bound")
    flow = ClientCredentials(
        token_url=op.token_url, client_id=c.client_id, client_secret=secret_of(c)
    )
    client = world.client(flow, ssl_context=op.ssl_context())
    with pytest.raises(OAuthError, match="invalid_grant"):
        client.token()


def test_dpop_refresh_keeps_the_binding(op: OidcProvider, world: World) -> None:
    c = op.client("dpop-bound")
    flow = PasswordGrant(
        token_url=op.token_url,
        username=op.username,
        password=op.password,
        client_id=c.client_id,
        client_secret=secret_of(c),
    )
    client = world.client(flow, ssl_context=op.ssl_context(), dpop_key=True)
    first = client.token()
    assert first.token_type == "DPoP"
    assert first.refresh_token is not None
    client.invalidate(first)
    second = client.token()
    assert second.token_type == "DPoP"
    assert second.refresh_token not in (None, first.refresh_token)  # rotated
    jkt = client.proofs.key.jkt
    assert claims_of(first)["cnf"] == claims_of(second)["cnf"] == {"jkt": jkt}
    stats = client.session.stats
    assert stats.refreshes == 1
    assert stats.requests_sent == 2 + stats.dpop_nonces
    assert_clean(stats)


def test_auth_headers_answer_the_resource_servers_nonce(
    op: OidcProvider, world: World
) -> None:
    c = op.client("dpop-bound")
    flow = ClientCredentials(
        token_url=op.token_url, client_id=c.client_id, client_secret=secret_of(c)
    )
    client = world.client(flow, ssl_context=op.ssl_context(), dpop_key=True)
    url = op.resource_url
    headers = client.auth_headers("GET", url)
    token = client.token()
    assert headers["Authorization"] == f"DPoP {token.access_token}"
    proof = jwt.decode(headers["DPoP"], options={"verify_signature": False})
    assert (proof["htm"], proof["htu"]) == ("GET", url)
    assert "nonce" not in proof

    # The resource has a nonce of its own, asked for with a 401.
    challenged = client.call_api("GET", url)
    assert challenged.status == 401
    nonce = challenged.header("DPoP-Nonce")
    www_authenticate = challenged.header("WWW-Authenticate") or ""
    action = api_action(
        challenged.status,
        www_authenticate,
        scheme="DPoP",
        retried=False,
        replayable=True,
        dpop_nonce=nonce,
    )
    assert action is ApiAction.NONCE
    assert client.learn_dpop_nonce(url, nonce) is True
    assert client.learn_dpop_nonce(url, nonce) is False  # not new

    answered = client.call_api("GET", url)
    assert answered.status == 200, answered.body
    # Another request, a fresh proof with the same nonce; a query is left
    # out of htu, and the resource agrees.
    again = client.call_api("GET", f"{url}?page=2")
    assert again.status == 200, again.body
    assert client.session.stats.requests_sent == 2  # one fetch, one nonce
    assert_clean(client.session.stats)


def test_auth_headers_of_a_bearer_token_carry_no_proof(
    op: OidcProvider, world: World
) -> None:
    c = op.client("client-secret-post")
    flow = ClientCredentials(
        token_url=op.token_url, client_id=c.client_id, client_secret=secret_of(c)
    )
    client = world.client(flow, ssl_context=op.ssl_context())
    headers = client.auth_headers("GET", op.resource_url)
    assert headers == {"Authorization": f"Bearer {client.token().access_token}"}
    assert client.proofs is None
    assert client.learn_dpop_nonce(op.resource_url, "abc") is False
    assert client.call_api("GET", op.resource_url).status == 200


def test_a_bearer_token_asked_for_with_dpop_is_dpop_bound_anyway(
    op: OidcProvider, world: World
) -> None:
    # Any client may ask for a DPoP token; a client with a key always does.
    c = op.client("client-secret-basic")
    flow = ClientCredentials(
        token_url=op.token_url,
        client_id=c.client_id,
        client_secret=secret_of(c),
        auth="client_secret_basic",
    )
    client = world.client(flow, ssl_context=op.ssl_context(), dpop_key=True)
    assert client.token().token_type == "DPoP"


# -- resource indicators (RFC 8707) -------------------------------------------------


def test_one_flow_per_resource_gives_a_token_per_audience(
    op: OidcProvider, world: World
) -> None:
    c = op.client("client-secret-post")
    a, b = (uri for uri in op.resources if uri != op.default_resource)
    tokens = {}
    for uri in (a, b):
        flow = ClientCredentials(
            token_url=op.token_url,
            client_id=c.client_id,
            client_secret=secret_of(c),
            scope="read write",
            resource=uri,
        )
        tokens[uri] = world.client(flow, ssl_context=op.ssl_context()).token()
    assert claims_of(tokens[a])["aud"] == op.resources[a]
    assert claims_of(tokens[b])["aud"] == op.resources[b]
    assert tokens[a].scopes == frozenset({"read", "write"})
    assert tokens[b].scopes == frozenset({"read"})  # all that b takes


def test_two_resources_on_one_request_are_refused_here(
    op: OidcProvider, world: World
) -> None:
    # oidc-provider issues one audience per token (RFC 8707 §2 lets it):
    # the flow sends both, and the refusal comes back as such.
    c = op.client("client-secret-post")
    flow = ClientCredentials(
        token_url=op.token_url,
        client_id=c.client_id,
        client_secret=secret_of(c),
        resource=[uri for uri in op.resources if uri != op.default_resource],
    )
    with pytest.raises(OAuthError, match="invalid_target"):
        world.client(flow, ssl_context=op.ssl_context()).token()


# -- the JWT bearer grant and token exchange ----------------------------------------


def workload_jwt(op: OidcProvider, subject: str) -> str:
    issuer = op.trusted_issuer
    now = int(time.time())
    claims = {
        "iss": issuer.issuer,
        "sub": subject,
        "aud": op.token_url,
        "jti": str(uuid.uuid4()),
        "iat": now,
        "exp": now + 300,
    }
    return jwt.encode(
        claims,
        issuer.private_key_pem,
        algorithm=issuer.alg,
        headers={"kid": issuer.kid},
    )


@pytest.mark.parametrize("client_auth", ["client_secret_basic", "private_key_jwt"])
def test_jwt_bearer_grant_signed_by_the_flow(
    op: OidcProvider, world: World, client_auth: str
) -> None:
    issuer = op.trusted_issuer
    if client_auth == "private_key_jwt":
        # Two JWTs signed per request: each must have its own jti, or the
        # server's one replay cache refuses the second.
        c = op.client("private-key-jwt-rs256")
        auth: dict[str, Any] = {"auth": client_auth, "private_key": c.private_key()}
    else:
        c = op.client("client-secret-basic")
        auth = {"auth": client_auth, "client_secret": secret_of(c)}
    flow = JwtBearerGrant(
        token_url=op.token_url,
        issuer=issuer.issuer,
        subject="service-account-7",
        signing_key=issuer.private_key_pem,
        signing_key_id=issuer.kid,
        scope="read",
        client_id=c.client_id,
        **auth,
    )
    client = world.client(flow, ssl_context=op.ssl_context())
    token = client.token()
    claims = claims_of(token)
    assert claims["sub"] == "service-account-7"
    assert claims["client_id"] == c.client_id
    assert claims["assertion_iss"] == issuer.issuer
    assert token.scopes == frozenset({"read"})
    assert token.refresh_token is None
    client.invalidate(token)
    client.token()  # a new assertion: no replay
    assert_clean(client.session.stats)


def test_jwt_bearer_grant_given_an_assertion_with_dpop(
    op: OidcProvider, world: World
) -> None:
    c = op.client("client-secret-post")
    flow = JwtBearerGrant(
        token_url=op.token_url,
        assertion=workload_jwt(op, "service-account-8"),
        client_id=c.client_id,
        client_secret=secret_of(c),
    )
    client = world.client(flow, ssl_context=op.ssl_context(), dpop_key=True)
    token = client.token()
    assert token.token_type == "DPoP"
    assert claims_of(token)["sub"] == "service-account-8"
    assert claims_of(token)["cnf"] == {"jkt": client.proofs.key.jkt}
    assert client.session.stats.dpop_nonces == 1
    assert_clean(client.session.stats)


@pytest.mark.parametrize("client_auth", ["client_secret_post", "private_key_jwt"])
def test_token_exchange(op: OidcProvider, world: World, client_auth: str) -> None:
    subject_client = op.client("client-secret-post")
    subject_flow = ClientCredentials(
        token_url=op.token_url,
        client_id=subject_client.client_id,
        client_secret=secret_of(subject_client),
    )
    subject = world.client(subject_flow, ssl_context=op.ssl_context()).token()
    if client_auth == "private_key_jwt":
        c = op.client("private-key-jwt-ps256")
        auth: dict[str, Any] = {
            "auth": client_auth,
            "private_key": c.private_key_pem,
            "algorithm": "PS256",
            "key_id": c.kid,
        }
    else:
        c = op.client("client-secret-post")
        auth = {"client_secret": secret_of(c)}
    a = next(uri for uri in op.resources if op.resources[uri] == "api-a")
    flow = TokenExchange(
        token_url=op.token_url,
        subject_token=subject.access_token,
        subject_token_type=TOKEN_TYPE_ACCESS_TOKEN,
        actor_token=workload_jwt(op, "actor-1"),
        actor_token_type=TOKEN_TYPE_JWT,
        audience=["first-audience", "second-audience"],
        resource=a,
        scope="write",
        client_id=c.client_id,
        **auth,
    )
    client = world.client(flow, ssl_context=op.ssl_context())
    token = client.token()
    assert token.raw["issued_token_type"] == TOKEN_TYPE_ACCESS_TOKEN
    claims = claims_of(token)
    assert claims["aud"] == "api-a"
    assert claims["sub"] == subject_client.client_id  # whom the subject is
    assert claims["client_id"] == c.client_id
    assert claims["act"] == {"sub": "actor-1"}
    assert claims["requested_audience"] == ["first-audience", "second-audience"]
    assert token.scopes == frozenset({"write"})
    assert_clean(client.session.stats)
