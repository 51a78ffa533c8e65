"""Every TokenClient against the local token server's strict checks: what each
client sends for JWT client authentication, DPoP, mutual TLS, resource
indicators, the JWT bearer grant and token exchange, read back from the
server's records.

Where ``tests/test_token_client_jwt.py`` shows that oidc-provider accepts
what the clients send, this file looks at the requests themselves: the
assertion's header and claims (verified by PyJWT, a JOSE implementation
apart from ours), a fresh ``jti`` on every request (the nonce resend and the
refresh included), the proofs with and without the server's nonce, several
resources on one request, and a shared store that keeps tokens bound to one
DPoP key from the holder of another. The server refuses a replayed ``jti``, a
wrong ``aud``, a proof for another URL or without its nonce, and records why
(``server.rejections``): every test ends with none.
"""

from __future__ import annotations

import base64
import os
import pty
import select
import signal
import ssl
import sys
import time
import urllib.parse
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jwt
import pytest
import trustme
from client_certs import self_signed
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from token_worlds import WORLD_IDS, WORLDS, World, chosen

from sansio_auth import (
    TOKEN_TYPE_ACCESS_TOKEN,
    TOKEN_TYPE_JWT,
    ClientCredentials,
    DPoPKey,
    JwtBearerGrant,
    OAuthError,
    PasswordGrant,
    Token,
    TokenExchange,
)
from sansio_auth.adapters.server import (
    Credentials,
    RecordedRequest,
    RegisteredClient,
    TokenServer,
    TrustedIssuer,
)
from sansio_auth.adapters.stores import MemoryStore

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
RSA_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
EC_KEY = ec.generate_private_key(ec.SECP256R1())
ED_KEY = ed25519.Ed25519PrivateKey.generate()
ISSUER_KEY = ec.generate_private_key(ec.SECP256R1())
ISSUER = "https://idp.example.test"
KEYS: dict[str, Any] = {
    "RS256": RSA_KEY,
    "PS256": RSA_KEY,
    "ES256": EC_KEY,
    "EdDSA": ED_KEY,
}
CLIENT_OF = {
    "RS256": "rsa-client",
    "PS256": "rsa-client",
    "ES256": "ec-client",
    "EdDSA": "ed-client",
}
CLIENTS = (
    RegisteredClient(
        client_id="rsa-client", public_key=RSA_KEY.public_key(), key_id="rsa-1"
    ),
    RegisteredClient(client_id="ec-client", public_key=EC_KEY.public_key()),
    RegisteredClient(client_id="ed-client", public_key=ED_KEY.public_key()),
)
ISSUERS = (
    TrustedIssuer(issuer=ISSUER, public_key=ISSUER_KEY.public_key(), key_id="idp-1"),
)
LONG_SECRET = "generic-client-secret-of-at-least-32-bytes"
"""RFC 7518 §3.2: an HS256 key as long as the hash at least (PyJWT warns
below, and some servers refuse)."""
RESOURCE_A = "https://api-a.example.test/v1"
RESOURCE_B = "https://api-b.example.test/v1"


def pem(key: Any) -> bytes:
    data: bytes = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return data


@pytest.fixture(params=WORLDS, ids=WORLD_IDS)
def world(request: pytest.FixtureRequest) -> World:
    """Each TokenClient's world in turn: urllib, trio, anyio on asyncio and
    on trio."""
    return chosen(request)


@pytest.fixture(scope="module")
def server() -> Iterator[TokenServer]:
    credentials = Credentials(
        clients=CLIENTS, issuers=ISSUERS, generic_client_secret=LONG_SECRET
    )
    with TokenServer(credentials=credentials) as running:
        yield running


@pytest.fixture(scope="module")
def nonce_server() -> Iterator[TokenServer]:
    credentials = Credentials(
        clients=CLIENTS, issuers=ISSUERS, generic_client_secret=LONG_SECRET
    )
    with TokenServer(credentials=credentials, dpop_nonce=True) as running:
        yield running


@pytest.fixture(autouse=True)
def _fresh_records(request: pytest.FixtureRequest) -> Iterator[None]:
    servers = [
        request.getfixturevalue(name)
        for name in ("server", "nonce_server", "tls_server")
        if name in request.fixturenames
    ]
    for running in servers:
        running.clear()
    yield
    for running in servers:
        assert running.rejections == [], running.rejections


def sent(server: TokenServer) -> list[RecordedRequest]:
    return server.token_requests("generic")


def form(request: RecordedRequest) -> list[tuple[str, str]]:
    """Every field of a recorded form body, repeated ones included."""
    return urllib.parse.parse_qsl(request.body.decode(), keep_blank_values=True)


def field(request: RecordedRequest, name: str) -> str:
    values = [value for key, value in form(request) if key == name]
    assert len(values) == 1, (name, values)
    return values[0]


def header_of(token: str) -> dict[str, Any]:
    header: dict[str, Any] = jwt.get_unverified_header(token)
    return header


def claims_of(token: str) -> dict[str, Any]:
    claims: dict[str, Any] = jwt.decode(token, options={"verify_signature": False})
    return claims


def verified(server: TokenServer, token: Token) -> dict[str, Any]:
    claims = server.verify(token.access_token)
    assert claims is not None
    return dict(claims)


def check_assertion(
    assertion: str, *, alg: str, kid: str | None, client_id: str, audience: str
) -> dict[str, Any]:
    """The client assertion's header and claims are RFC 7523's, in the
    library's order, and PyJWT verifies its signature."""
    expected_header = {"alg": alg, "typ": "JWT"}
    if kid is not None:
        expected_header["kid"] = kid
    assert header_of(assertion) == expected_header
    claims = claims_of(assertion)
    assert list(claims) == ["iss", "sub", "aud", "jti", "iat", "exp"]
    assert claims["iss"] == claims["sub"] == client_id
    assert claims["aud"] == audience
    assert claims["exp"] - claims["iat"] == 60
    key = KEYS[alg].public_key() if alg != "HS256" else None
    if key is not None:
        jwt.decode(
            assertion,
            key,
            algorithms=[alg],
            audience=audience,
            issuer=client_id,
            options={"require": ["exp", "iat", "jti"]},
        )
    return claims


# -- private_key_jwt and client_secret_jwt --------------------------------------------


@pytest.mark.parametrize("alg", ["RS256", "PS256", "ES256", "EdDSA"])
@pytest.mark.parametrize("audience", ["token_url", "issuer"])
def test_private_key_jwt_as_sent(
    server: TokenServer, world: World, alg: str, audience: str
) -> None:
    client_id = CLIENT_OF[alg]
    kid = "rsa-1" if client_id == "rsa-client" else None
    aud = server.issuer if audience == "issuer" else server.generic_token_url
    flow = ClientCredentials(
        token_url=server.generic_token_url,
        client_id=client_id,
        auth="private_key_jwt",
        private_key=pem(KEYS[alg]).decode(),
        key_id=kid,
        algorithm=alg,
        assertion_audience=aud if audience == "issuer" else None,
    )
    client = world.client(flow)
    token = client.token()
    assert verified(server, token)["client_id"] == client_id
    client.invalidate(token)
    client.token()
    first, second = sent(server)
    for request in (first, second):
        names = [name for name, _ in form(request)]
        assert names == [
            "grant_type",
            "client_id",
            "client_assertion_type",
            "client_assertion",
        ]
        assert field(request, "client_assertion_type") == ASSERTION_TYPE
        assert field(request, "client_id") == client_id
        assert request.header("Authorization") is None
    jtis = {
        check_assertion(
            field(request, "client_assertion"),
            alg=alg,
            kid=kid,
            client_id=client_id,
            audience=aud,
        )["jti"]
        for request in (first, second)
    }
    assert len(jtis) == 2


@pytest.mark.parametrize("audience", ["token_url", "issuer"])
def test_client_secret_jwt_as_sent(
    server: TokenServer, world: World, audience: str
) -> None:
    creds = server.credentials
    aud = server.issuer if audience == "issuer" else server.generic_token_url
    flow = ClientCredentials(
        token_url=server.generic_token_url,
        client_id=creds.generic_client_id,
        client_secret=creds.generic_client_secret,
        auth="client_secret_jwt",
        assertion_audience=aud if audience == "issuer" else None,
    )
    world.client(flow).token()
    (request,) = sent(server)
    assert creds.generic_client_secret not in request.body.decode()
    assertion = field(request, "client_assertion")
    check_assertion(
        assertion,
        alg="HS256",
        kid=None,
        client_id=creds.generic_client_id,
        audience=aud,
    )
    jwt.decode(
        assertion,
        creds.generic_client_secret.encode(),
        algorithms=["HS256"],
        audience=aud,
    )


def test_a_refresh_signs_a_new_assertion(server: TokenServer, world: World) -> None:
    creds = server.credentials
    flow = PasswordGrant(
        token_url=server.generic_token_url,
        username=creds.generic_username,
        password=creds.generic_password,
        client_id="ec-client",
        auth="private_key_jwt",
        private_key=EC_KEY,
    )
    client = world.client(flow)
    first = client.token()
    client.invalidate(first)
    second = client.token()
    assert second.refresh_token not in (None, first.refresh_token)
    grant, refresh = sent(server)
    assert field(refresh, "grant_type") == "refresh_token"
    assert field(grant, "client_assertion") != field(refresh, "client_assertion")
    assert client.session.stats.refreshes == 1


# -- DPoP --------------------------------------------------------------------------


def test_dpop_nonce_dance_resends_with_a_fresh_assertion(
    nonce_server: TokenServer, world: World
) -> None:
    server = nonce_server
    flow = ClientCredentials(
        token_url=server.generic_token_url,
        client_id="ed-client",
        auth="private_key_jwt",
        private_key=ED_KEY,
    )
    client = world.client(flow, dpop_key=True)
    token = client.token()
    assert token.token_type == "DPoP"
    jkt = client.proofs.key.jkt
    assert verified(server, token)["cnf"] == {"jkt": jkt}

    challenged, answered = sent(server)
    first = claims_of(challenged.header("DPoP") or "")
    second = claims_of(answered.header("DPoP") or "")
    assert "nonce" not in first
    assert second["nonce"] == server.dpop_nonce
    assert first["jti"] != second["jti"]
    assert first["htu"] == second["htu"] == server.generic_token_url
    assert first["htm"] == second["htm"] == "POST"
    # The client assertion is signed anew for the resend.
    assert (
        claims_of(field(challenged, "client_assertion"))["jti"]
        != claims_of(field(answered, "client_assertion"))["jti"]
    )
    stats = client.session.stats
    assert (stats.requests_sent, stats.dpop_nonces, stats.failures) == (2, 1, 0)
    assert server.dpop_nonce_challenges == 1
    # The refusal of the first proof is recorded as the challenge it was.
    assert [(r.kind, r.reason) for r in server.rejections] == [("dpop_proof", "nonce")]
    server.clear()


def test_a_rotated_nonce_is_learnt_again_within_the_fetch(
    nonce_server: TokenServer, world: World
) -> None:
    server = nonce_server
    creds = server.credentials
    flow = ClientCredentials(
        token_url=server.generic_token_url,
        client_id=creds.generic_client_id,
        client_secret=creds.generic_client_secret,
    )
    client = world.client(flow, dpop_key=True)
    token = client.token()
    assert client.session.dpop_nonce == server.dpop_nonce
    server.rotate_dpop_nonce()
    client.invalidate(token)
    client.token()
    assert client.session.dpop_nonce == server.dpop_nonce
    stats = client.session.stats
    assert (stats.requests_sent, stats.dpop_nonces, stats.failures) == (4, 2, 0)
    server.clear()


def test_a_dpop_refresh_proves_the_same_key(server: TokenServer, world: World) -> None:
    creds = server.credentials
    flow = PasswordGrant(
        token_url=server.generic_token_url,
        username=creds.generic_username,
        password=creds.generic_password,
        client_id=creds.generic_client_id,
        client_secret=creds.generic_client_secret,
    )
    client = world.client(flow, dpop_key=DPoPKey(pem(EC_KEY)))
    first = client.token()
    client.invalidate(first)
    second = client.token()
    assert second.token_type == "DPoP"
    jkt = DPoPKey(EC_KEY).jkt
    assert verified(server, second)["cnf"] == {"jkt": jkt}
    grant, refresh = sent(server)
    for request in (grant, refresh):
        proof = request.header("DPoP") or ""
        assert header_of(proof)["typ"] == "dpop+jwt"
    assert field(refresh, "grant_type") == "refresh_token"


def test_auth_headers_at_the_local_resource_with_its_nonce(
    nonce_server: TokenServer, world: World
) -> None:
    server = nonce_server
    creds = server.credentials
    flow = ClientCredentials(
        token_url=server.generic_token_url,
        client_id=creds.generic_client_id,
        client_secret=creds.generic_client_secret,
    )
    client = world.client(flow, dpop_key=True)
    url = server.resource_url
    # The token endpoint's nonce is the session's, not the resource's: the
    # first proof to the resource carries none, and is challenged.
    challenged = client.call_api("GET", url)
    assert challenged.status == 401
    assert 'error="use_dpop_nonce"' in (challenged.header("WWW-Authenticate") or "")
    assert client.learn_dpop_nonce(url, challenged.header("DPoP-Nonce"))
    assert client.call_api("GET", url).status == 200
    assert client.call_api("POST", url).status == 200  # a fresh proof each
    # A new nonce: challenged again, learnt again.
    server.rotate_dpop_nonce()
    again = client.call_api("GET", url)
    assert again.status == 401
    assert client.learn_dpop_nonce(url, again.header("DPoP-Nonce"))
    assert client.call_api("GET", url).status == 200
    server.clear()


# -- resource indicators -------------------------------------------------------------


def test_several_resources_on_one_request_and_its_refresh(
    server: TokenServer, world: World
) -> None:
    creds = server.credentials
    flow = PasswordGrant(
        token_url=server.generic_token_url,
        username=creds.generic_username,
        password=creds.generic_password,
        client_id=creds.generic_client_id,
        client_secret=creds.generic_client_secret,
        resource=[RESOURCE_A, RESOURCE_B],
    )
    client = world.client(flow)
    first = client.token()
    assert verified(server, first)["aud"] == [RESOURCE_A, RESOURCE_B]
    client.invalidate(first)
    second = client.token()
    assert verified(server, second)["aud"] == [RESOURCE_A, RESOURCE_B]
    for request in sent(server):
        resources = [value for name, value in form(request) if name == "resource"]
        assert resources == [RESOURCE_A, RESOURCE_B]


def test_a_separate_token_per_resource_through_one_store(
    server: TokenServer, world: World
) -> None:
    creds = server.credentials
    store = MemoryStore()
    audiences = []
    for resource in (RESOURCE_A, RESOURCE_B, RESOURCE_A):
        flow = ClientCredentials(
            token_url=server.generic_token_url,
            client_id=creds.generic_client_id,
            client_secret=creds.generic_client_secret,
            resource=resource,
        )
        token = world.client(flow, store=store).token()
        audiences.append(verified(server, token)["aud"])
    assert audiences == [RESOURCE_A, RESOURCE_B, RESOURCE_A]
    assert len(sent(server)) == 2  # the third came from the store


# -- a shared store and DPoP keys ----------------------------------------------------


def test_a_store_shares_tokens_only_between_holders_of_one_key(
    server: TokenServer, world: World
) -> None:
    creds = server.credentials
    flow = ClientCredentials(
        token_url=server.generic_token_url,
        client_id=creds.generic_client_id,
        client_secret=creds.generic_client_secret,
    )
    store = MemoryStore()
    key_pem = pem(ec.generate_private_key(ec.SECP256R1()))
    holder = world.client(flow, store=store, dpop_key=key_pem)
    other = world.client(flow, store=store, dpop_key=True)
    same_key = world.client(flow, store=store, dpop_key=DPoPKey(key_pem))

    mine = holder.token()
    theirs = other.token()
    assert theirs.access_token != mine.access_token
    assert verified(server, theirs)["cnf"] == {"jkt": other.proofs.key.jkt}
    assert verified(server, mine)["cnf"] == {"jkt": holder.proofs.key.jkt}
    assert len(sent(server)) == 2

    shared = same_key.token()
    assert shared.access_token == mine.access_token
    assert len(sent(server)) == 2  # no request: the store had it
    assert same_key.session.stats.adopted == 1
    # And it works at the resource with that key's proofs.
    assert same_key.call_api("GET", server.resource_url).status == 200


def test_a_store_keeps_bearer_and_dpop_tokens_apart(
    server: TokenServer, world: World
) -> None:
    creds = server.credentials
    flow = ClientCredentials(
        token_url=server.generic_token_url,
        client_id=creds.generic_client_id,
        client_secret=creds.generic_client_secret,
    )
    store = MemoryStore()
    bearer = world.client(flow, store=store).token()
    bound = world.client(flow, store=store, dpop_key=True).token()
    assert (bearer.token_type, bound.token_type) == ("Bearer", "DPoP")
    assert len(sent(server)) == 2


# -- the JWT bearer grant and token exchange -------------------------------------------


def test_jwt_bearer_grant_with_a_client_assertion(
    server: TokenServer, world: World
) -> None:
    flow = JwtBearerGrant(
        token_url=server.generic_token_url,
        issuer=ISSUER,
        subject="service-account-9",
        signing_key=ISSUER_KEY,
        signing_key_id="idp-1",
        claims={"scope": "read"},
        client_id="rsa-client",
        auth="private_key_jwt",
        private_key=RSA_KEY,
        key_id="rsa-1",
    )
    client = world.client(flow)
    token = client.token()
    claims = verified(server, token)
    assert claims["sub"] == "service-account-9"
    assert claims["client_id"] == "rsa-client"
    (request,) = sent(server)
    grant = claims_of(field(request, "assertion"))
    own = claims_of(field(request, "client_assertion"))
    assert (grant["iss"], own["iss"]) == (ISSUER, "rsa-client")
    assert grant["jti"] != own["jti"]
    assert grant["scope"] == "read"


def test_token_exchange_with_audiences_resources_and_an_actor(
    server: TokenServer, world: World
) -> None:
    creds = server.credentials
    subject_flow = ClientCredentials(
        token_url=server.generic_token_url,
        client_id=creds.generic_client_id,
        client_secret=creds.generic_client_secret,
    )
    subject = world.client(subject_flow).token()
    actor = jwt.encode(
        {
            "iss": ISSUER,
            "sub": "actor-7",
            "aud": server.generic_token_url,
            "jti": uuid.uuid4().hex,
            "iat": int(time.time()),
            "exp": int(time.time()) + 300,
        },
        ISSUER_KEY,
        algorithm="ES256",
        headers={"kid": "idp-1"},
    )
    flow = TokenExchange(
        token_url=server.generic_token_url,
        subject_token=subject.access_token,
        actor_token=actor,
        actor_token_type=TOKEN_TYPE_JWT,
        audience=["svc-a", "svc-b"],
        resource=[RESOURCE_A],
        requested_token_type=TOKEN_TYPE_ACCESS_TOKEN,
        client_id="ec-client",
        auth="private_key_jwt",
        private_key=EC_KEY,
    )
    client = world.client(flow, dpop_key=True)
    token = client.token()
    assert token.token_type == "DPoP"
    assert token.raw["issued_token_type"] == TOKEN_TYPE_ACCESS_TOKEN
    claims = verified(server, token)
    assert claims["aud"] == ["svc-a", "svc-b", RESOURCE_A]
    assert claims["act"] == {"sub": "actor-7", "iss": ISSUER}
    request = sent(server)[-1]
    assert [v for k, v in form(request) if k == "audience"] == ["svc-a", "svc-b"]


# -- mutual TLS ------------------------------------------------------------------------

SERVER_CA = trustme.CA()
CLIENT_CA = trustme.CA()
DNS_LEAF = CLIENT_CA.issue_cert("svc.clients.example.test")


SELF_SIGNED = self_signed("self-signed-svc")
MTLS_CLIENTS = (
    RegisteredClient(
        client_id="dns-client", tls_client_auth_san_dns="svc.clients.example.test"
    ),
    RegisteredClient(client_id="self-client", self_signed_certificate=SELF_SIGNED[0]),
)


@pytest.fixture(scope="module")
def tls_server() -> Iterator[TokenServer]:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    SERVER_CA.issue_cert("127.0.0.1").configure_cert(context)
    with TokenServer(
        ssl_context=context,
        client_ca=CLIENT_CA.cert_pem.bytes(),
        credentials=Credentials(clients=MTLS_CLIENTS),
    ) as running:
        yield running


def trusting() -> ssl.SSLContext:
    context = ssl.create_default_context()
    SERVER_CA.configure_trust(context)
    return context


def thumbprint(cert_pem: bytes) -> str:
    der = x509.load_pem_x509_certificate(cert_pem).public_bytes(
        serialization.Encoding.DER
    )
    digest = hashes.Hash(hashes.SHA256())
    digest.update(der)
    return base64.urlsafe_b64encode(digest.finalize()).rstrip(b"=").decode()


@pytest.mark.parametrize("auth", ["tls_client_auth", "self_signed_tls_client_auth"])
def test_mtls_client_auth_and_a_certificate_bound_token(
    tls_server: TokenServer, world: World, auth: str, tmp_path: Path
) -> None:
    server = tls_server
    if auth == "tls_client_auth":
        client_id = "dns-client"
        cert_pem = DNS_LEAF.cert_chain_pems[0].bytes()
        (tmp_path / "cert.pem").write_bytes(cert_pem)
        (tmp_path / "key.pem").write_bytes(DNS_LEAF.private_key_pem.bytes())
        client_cert: object = (str(tmp_path / "cert.pem"), str(tmp_path / "key.pem"))
    else:
        client_id = "self-client"
        cert_pem = SELF_SIGNED[0]
        (tmp_path / "both.pem").write_bytes(SELF_SIGNED[1] + SELF_SIGNED[0])
        client_cert = tmp_path / "both.pem"
    flow = ClientCredentials(
        token_url=server.generic_token_url,
        client_id=client_id,
        auth=auth,  # type: ignore[arg-type]
    )
    client = world.client(flow, ssl_context=trusting(), client_cert=client_cert)
    token = client.token()
    assert verified(server, token)["cnf"] == {"x5t#S256": thumbprint(cert_pem)}
    (request,) = sent(server)
    assert form(request) == [
        ("grant_type", "client_credentials"),
        ("client_id", client_id),
    ]
    assert request.client_cert is not None
    assert client.call_api("GET", server.resource_url).status == 200
    # Without the certificate on the connection, the bound token is refused.
    without = client.call_api("GET", server.resource_url, ssl_context=trusting())
    assert without.status == 401
    server.clear()


def test_a_store_key_names_the_certificate(
    tls_server: TokenServer, world: World, tmp_path: Path
) -> None:
    # Two clients of one flow with one store: a token bound to one
    # certificate is never handed to a client presenting another.
    server = tls_server
    (tmp_path / "self.pem").write_bytes(SELF_SIGNED[1] + SELF_SIGNED[0])
    (tmp_path / "dns.pem").write_bytes(
        DNS_LEAF.private_key_pem.bytes() + DNS_LEAF.cert_chain_pems[0].bytes()
    )
    store = MemoryStore()
    flow = ClientCredentials(
        token_url=server.generic_token_url,
        client_id="self-client",
        auth="self_signed_tls_client_auth",
    )
    first = world.client(
        flow,
        ssl_context=trusting(),
        client_cert=str(tmp_path / "self.pem"),
        store=store,
    )
    token = first.token()
    again = world.client(
        flow,
        ssl_context=trusting(),
        client_cert=str(tmp_path / "self.pem"),
        store=store,
    ).token()
    assert again.access_token == token.access_token
    assert len(sent(server)) == 1
    stranger = world.client(
        flow, ssl_context=trusting(), client_cert=str(tmp_path / "dns.pem"), store=store
    )
    with pytest.raises(OAuthError, match="invalid_client"):
        stranger.token()
    assert len(sent(server)) == 2
    server.clear()


def encrypted_client_cert(tmp_path: Path) -> tuple[str, str]:
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert.write_bytes(DNS_LEAF.cert_chain_pems[0].bytes())
    loaded = serialization.load_pem_private_key(DNS_LEAF.private_key_pem.bytes(), None)
    key.write_bytes(
        loaded.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(b"key-password"),
        )
    )
    return str(cert), str(key)


def test_an_encrypted_client_key_needs_its_password(
    tls_server: TokenServer, world: World, tmp_path: Path
) -> None:
    cert, key = encrypted_client_cert(tmp_path)
    flow = ClientCredentials(
        token_url=tls_server.generic_token_url,
        client_id="dns-client",
        auth="tls_client_auth",
    )
    with pytest.raises(ValueError, match="its key is encrypted") as caught:
        world.client(flow, ssl_context=trusting(), client_cert=(cert, key))
    assert "key-password" not in str(caught.value)
    client = world.client(
        flow, ssl_context=trusting(), client_cert=(cert, key, "key-password")
    )
    assert client.token().token_type == "Bearer"
    tls_server.clear()


def test_an_encrypted_client_key_never_prompts_on_the_terminal(
    tmp_path: Path,
) -> None:
    # Given no password, OpenSSL reads one from the controlling terminal
    # ("Enter PEM pass phrase:") and the process waits for a person: a
    # child with a terminal of its own (a pty) shows whether it asks.
    cert, key = encrypted_client_cert(tmp_path)
    code = (
        "from sansio_auth.adapters._tls import client_cert_context\n"
        "try:\n"
        f"    client_cert_context(({cert!r}, {key!r}), None)\n"
        "except ValueError as exc:\n"
        "    print('refused:', exc)\n"
    )
    pid, fd = pty.fork()
    if pid == 0:  # the child: away from the checkout, which would shadow us
        os.chdir(tmp_path)
        os.execv(sys.executable, [sys.executable, "-c", code])
    output = b""
    deadline = time.monotonic() + 30
    try:
        while time.monotonic() < deadline and b"\n" not in output:
            ready, _, _ = select.select([fd], [], [], 0.5)
            if ready:
                try:
                    chunk = os.read(fd, 4096)
                except OSError:  # the child closed the terminal: it is done
                    break
                if not chunk:
                    break
                output += chunk
    finally:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        os.close(fd)
    assert b"pass phrase" not in output, output
    assert b"refused:" in output, output
    assert b"its key is encrypted" in output
