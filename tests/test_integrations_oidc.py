"""Every integration against oidc-provider, a real authorization server by
others (the ``oidc_provider`` fixture, over HTTPS on 127.0.0.1).

httpx's ``TokenAuth`` (``Client``; ``AsyncClient`` on asyncio and trio),
requests' ``TokenAuth`` and aiohttp's ``TokenMiddleware``, through
``integrations.Driver``: ``private_key_jwt`` with each algorithm, a
DPoP-bound token (its token endpoint always asks for a nonce first, and its
resource has nonces of its own, so the first API request is challenged and
sent once more), ``tls_client_auth`` and ``self_signed_tls_client_auth``
with the certificate-bound token accepted by the resource over a connection
with the certificate and refused without. Token requests go through the
integration's own transport (trusting the server's CA through
``SSL_CERT_FILE``) or through the user's client. The resource answers the
claims of the token it took; its refusals are in the server's log, whose
lines these tests count.
"""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from integrations import KINDS, ApiTls, Kind, driving
from oidc_provider import OidcProvider

from sansio_auth import ClientCredentials, DPoPKey, OAuthError
from sansio_auth.adapters import _tls

PRIVATE_KEY_JWT = [
    "private-key-jwt-rs256",
    "private-key-jwt-ps256",
    "private-key-jwt-es256",
    "private-key-jwt-eddsa",
]
MTLS = ["tls-client-auth", "tls-client-auth-san", "self-signed-tls-client-auth"]
NONCE_REFUSAL = "resource use_dpop_nonce"
"""How the server logs its resource's nonce challenge."""


@pytest.fixture
def op(oidc_provider: OidcProvider, monkeypatch: pytest.MonkeyPatch) -> OidcProvider:
    """The server, trusted by our own transports: the contexts built from
    ``client_cert=`` and the default one (built afresh) read
    ``SSL_CERT_FILE``."""
    monkeypatch.setenv("SSL_CERT_FILE", str(oidc_provider.ca_path))
    monkeypatch.setattr(_tls, "_default_context", None)
    return oidc_provider


@pytest.fixture(params=KINDS)
def kind(request: pytest.FixtureRequest) -> Kind:
    chosen: Kind = request.param
    return chosen


@pytest.fixture(params=["ours", "user"])
def through_user(request: pytest.FixtureRequest) -> bool:
    """Whether token requests go through the user's own client."""
    return bool(request.param == "user")


def challenges(op: OidcProvider) -> int:
    return op.log.count(NONCE_REFUSAL)


def private_key_jwt(op: OidcProvider, name: str) -> ClientCredentials:
    client = op.client(name)
    return ClientCredentials(
        token_url=op.token_url,
        client_id=client.client_id,
        auth="private_key_jwt",
        private_key=client.private_key_pem,
        key_id=client.kid,
        algorithm=client.alg,
    )


@pytest.mark.parametrize("name", PRIVATE_KEY_JWT)
def test_private_key_jwt(
    op: OidcProvider, kind: Kind, through_user: bool, name: str
) -> None:
    tls = ApiTls(ca=op.ca_path)
    with driving(
        kind, private_key_jwt(op, name), tls=tls, through_user=through_user
    ) as api:
        first = api.request("GET", op.resource_url)
        second = api.request("POST", op.resource_url, content=b"{}")
    assert (first.status, second.status) == (200, 200), op.log
    answers = first.json(), second.json()
    assert [a["token_type"] for a in answers] == ["Bearer", "Bearer"]
    claims = answers[0]["claims"]
    assert claims["client_id"] == name
    assert claims["aud"] == op.resources[op.default_resource]
    assert answers[1]["claims"]["jti"] == claims["jti"]  # one token


def test_a_dpop_bound_token(op: OidcProvider, kind: Kind, through_user: bool) -> None:
    client = op.client("dpop-bound")
    key = DPoPKey(ec.generate_private_key(ec.SECP256R1()))
    flow = ClientCredentials(
        token_url=op.token_url,
        client_id=client.client_id,
        client_secret=client.secret,
    )
    before = challenges(op)
    with driving(
        kind,
        flow,
        dpop_key=key,
        tls=ApiTls(ca=op.ca_path),
        through_user=through_user,
    ) as api:
        # The token endpoint's nonce first (within the one fetch), then the
        # resource's: this request is challenged once and sent once more.
        first = api.request("GET", op.resource_url, params={"q": "1"})
        assert first.status == 200, op.log
        assert challenges(op) == before + 1
        if kind != "aiohttp":  # aiohttp's history holds redirects only
            assert first.history == (401,)
        # The resource's nonce is known now: no challenge.
        second = api.request("POST", op.resource_url, content=b"x")
        third = api.request("GET", op.resource_url)
    assert (second.status, third.status) == (200, 200), op.log
    assert second.history == third.history == ()
    assert challenges(op) == before + 1
    answers = [first.json(), second.json(), third.json()]
    assert {a["token_type"] for a in answers} == {"DPoP"}
    assert {a["claims"]["cnf"]["jkt"] for a in answers} == {key.jkt}
    assert len({a["claims"]["jti"] for a in answers}) == 1  # one token


def test_private_key_jwt_with_dpop(op: OidcProvider, kind: Kind) -> None:
    # The token endpoint's nonce challenge comes after the assertion was
    # read: the request sent again carries a new one (each jti once).
    key = DPoPKey(ec.generate_private_key(ec.SECP256R1()))
    flow = private_key_jwt(op, "private-key-jwt-es256")
    with driving(kind, flow, dpop_key=key, tls=ApiTls(ca=op.ca_path)) as api:
        answer = api.request("GET", op.resource_url)
    assert answer.status == 200, op.log
    assert answer.json()["claims"]["cnf"] == {"jkt": key.jkt}


@pytest.mark.parametrize("name", MTLS)
def test_a_certificate_bound_token(
    op: OidcProvider, kind: Kind, through_user: bool, name: str
) -> None:
    client = op.client(name)
    assert client.client_cert is not None
    flow = ClientCredentials(
        token_url=op.token_url,
        client_id=client.client_id,
        auth=client.auth,  # type: ignore[arg-type]
    )
    tls = ApiTls(ca=op.ca_path, cert=client.client_cert)
    with driving(
        kind, flow, client_cert=client.client_cert, tls=tls, through_user=through_user
    ) as api:
        accepted = api.request("GET", op.resource_url)
        refused = api.request("GET", op.resource_url, bare=True)
        again = api.request("GET", op.resource_url)
    assert accepted.status == 200, op.log
    cnf = accepted.json()["claims"]["cnf"]
    assert cnf == {"x5t#S256": client.certificate_thumbprint}
    assert refused.status == 401
    assert again.status == 200


def test_the_certificate_is_the_one_given(op: OidcProvider, kind: Kind) -> None:
    # tls-client-auth-san's certificate for tls-client-auth: refused by the
    # server, raised from the API call as the session's error.
    flow = ClientCredentials(
        token_url=op.token_url, client_id="tls-client-auth", auth="tls_client_auth"
    )
    other = op.client("tls-client-auth-san").client_cert
    with (
        driving(kind, flow, client_cert=other, tls=ApiTls(ca=op.ca_path)) as api,
        pytest.raises(OAuthError) as raised,
    ):
        api.request("GET", op.resource_url)
    assert raised.value.error == "invalid_client"
