"""Mutual TLS (RFC 8705) through every integration, against the local token
server over real TLS on 127.0.0.1.

The server trusts a client CA (``tls_client_auth``: a certificate it issued,
with the registered DNS name) and one self-signed certificate
(``self_signed_tls_client_auth``), binds the tokens of a client that
authenticated with its certificate to it (``cnf`` ``x5t#S256``), and its
resource takes such a token only over a connection carrying that
certificate. Each integration gets its token with ``client_cert=`` through
its own transport (which trusts the server's CA through ``SSL_CERT_FILE``)
or through the user's client carrying the certificate itself, and then uses
it through the user's API client: accepted with the certificate on the
connection, refused without.
"""

from __future__ import annotations

import hashlib
import ssl
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import trustme
from client_certs import self_signed
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from integrations import KINDS, ApiTls, Kind, api_requests, driving
from jose_check import b64url

from sansio_auth import ClientCredentials, DPoPKey, OAuthError
from sansio_auth.adapters import _tls
from sansio_auth.adapters import aiohttp as aiohttp_adapter
from sansio_auth.adapters import httpx as httpx_adapter
from sansio_auth.adapters import requests as requests_adapter
from sansio_auth.adapters.server import Credentials, RegisteredClient, TokenServer

SERVER_CA = trustme.CA()
CLIENT_CA = trustme.CA()
DNS_NAME = "mtls-client.example.test"


_LEAF = CLIENT_CA.issue_cert(DNS_NAME)
ISSUED = (_LEAF.cert_chain_pems[0].bytes(), _LEAF.private_key_pem.bytes())
SELF_SIGNED = self_signed("self-signed-client")
OTHER_SELF_SIGNED = self_signed("another-client")

CLIENTS = {
    "tls_client_auth": ("tls-client", ISSUED),
    "self_signed_tls_client_auth": ("self-signed-client", SELF_SIGNED),
}


def thumbprint(cert_pem: bytes) -> str:
    der = x509.load_pem_x509_certificate(cert_pem).public_bytes(
        serialization.Encoding.DER
    )
    return b64url(hashlib.sha256(der).digest())


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The PEM files: the server's CA, and each client's certificate and
    key (``(cert_path, key_path)``)."""
    directory = tmp_path_factory.mktemp("mtls")
    ca = directory / "server-ca.pem"
    ca.write_bytes(SERVER_CA.cert_pem.bytes())
    made: dict[str, Any] = {"ca": ca}
    for name, (cert, key) in (
        ("issued", ISSUED),
        ("self_signed", SELF_SIGNED),
        ("other", OTHER_SELF_SIGNED),
    ):
        cert_path, key_path = directory / f"{name}.crt", directory / f"{name}.key"
        cert_path.write_bytes(cert)
        key_path.write_bytes(key)
        made[name] = (str(cert_path), str(key_path))
    locked = directory / "issued-locked.key"
    loaded = serialization.load_pem_private_key(ISSUED[1], None)
    locked.write_bytes(
        loaded.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(b"pw-Ok19-the-password"),
        )
    )
    made["locked"] = (made["issued"][0], str(locked))
    return made


@pytest.fixture
def server() -> Iterator[TokenServer]:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    SERVER_CA.issue_cert("127.0.0.1").configure_cert(context)
    credentials = Credentials(
        clients=(
            RegisteredClient(client_id="tls-client", tls_client_auth_san_dns=DNS_NAME),
            RegisteredClient(
                client_id="self-signed-client",
                self_signed_certificate=SELF_SIGNED[0],
            ),
            RegisteredClient(
                client_id="another-client",
                self_signed_certificate=OTHER_SELF_SIGNED[0],
            ),
        )
    )
    with TokenServer(
        ssl_context=context,
        client_ca=CLIENT_CA.cert_pem.bytes(),
        credentials=credentials,
    ) as running:
        yield running


@pytest.fixture
def trusting(files: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> Path:
    """Our own transports trust the server's CA: the contexts built from
    ``client_cert=`` and the default one (built afresh) read
    ``SSL_CERT_FILE``."""
    ca: Path = files["ca"]
    monkeypatch.setenv("SSL_CERT_FILE", str(ca))
    monkeypatch.setattr(_tls, "_default_context", None)
    return ca


@pytest.fixture(params=KINDS)
def kind(request: pytest.FixtureRequest) -> Kind:
    chosen: Kind = request.param
    return chosen


def mtls_flow(server: TokenServer, method: str) -> ClientCredentials:
    return ClientCredentials(
        token_url=server.generic_token_url,
        client_id=CLIENTS[method][0],
        auth=method,  # type: ignore[arg-type]
    )


def bound_to(server: TokenServer, token: str) -> dict[str, object]:
    claims = server.verify(token)
    assert claims is not None
    cnf = claims["cnf"]
    assert isinstance(cnf, dict)
    return cnf


def sent_token(server: TokenServer) -> str:
    value = api_requests(server)[0].header("Authorization") or ""
    return value.partition(" ")[2]


METHODS = list(CLIENTS)


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("through", ["ours", "user"])
def test_a_certificate_bound_token_through_each_integration(
    server: TokenServer,
    files: dict[str, Any],
    trusting: Path,
    kind: Kind,
    method: str,
    through: str,
) -> None:
    cert_pem = CLIENTS[method][1][0]
    cert_files = files["issued" if method == "tls_client_auth" else "self_signed"]
    tls = ApiTls(ca=trusting, cert=cert_files)
    with driving(
        kind,
        mtls_flow(server, method),
        client_cert=cert_files,
        tls=tls,
        through_user=through == "user",
    ) as api:
        accepted = api.request("GET", server.resource_url)
        assert accepted.status == 200
        (fetch,) = server.token_requests()
        # The token request presented the certificate, and the client id
        # alone went in the body (no secret to send).
        assert fetch.client_cert is not None
        assert fetch.fields == {
            "grant_type": "client_credentials",
            "client_id": CLIENTS[method][0],
        }
        token = sent_token(server)
        assert bound_to(server, token) == {"x5t#S256": thumbprint(cert_pem)}
        assert accepted.json()["subject"] == CLIENTS[method][0]

        # Over a connection without the certificate: refused, however often
        # the integration fetches a token again.
        refused = api.request("GET", server.resource_url, bare=True)
        assert refused.status == 401
        reasons = {(r.kind, r.reason) for r in server.rejections}
        assert reasons == {("access_token", "certificate")}
        assert api_requests(server)[1].client_cert is None

        # And with it again, accepted.
        assert api.request("GET", server.resource_url).status == 200


def test_the_certificate_given_is_the_one_presented(
    server: TokenServer, files: dict[str, Any], trusting: Path, kind: Kind
) -> None:
    # Another registered client's certificate: the server knows it, and
    # refuses it for this client. A token error, raised from the call.
    flow = mtls_flow(server, "self_signed_tls_client_auth")
    with (
        driving(kind, flow, client_cert=files["other"]) as api,
        pytest.raises(OAuthError) as raised,
    ):
        api.request("GET", server.resource_url)
    assert raised.value.error == "invalid_client"
    assert [(r.kind, r.reason) for r in server.rejections] == [
        ("client_certificate", "mismatch")
    ]


def test_dpop_and_a_certificate_bind_one_token_to_both(
    server: TokenServer, files: dict[str, Any], trusting: Path, kind: Kind
) -> None:
    key = DPoPKey(ec.generate_private_key(ec.SECP256R1()))
    with driving(
        kind,
        mtls_flow(server, "tls_client_auth"),
        client_cert=files["issued"],
        dpop_key=key,
        tls=ApiTls(ca=trusting, cert=files["issued"]),
    ) as api:
        assert api.request("GET", server.resource_url).status == 200
        assert api.request("GET", server.resource_url, bare=True).status == 401
    scheme, _, token = (
        api_requests(server)[0].header("Authorization") or ""
    ).partition(" ")
    assert scheme == "DPoP"
    assert bound_to(server, token) == {
        "jkt": key.jkt,
        "x5t#S256": thumbprint(ISSUED[0]),
    }


# -- the options --------------------------------------------------------------

INTEGRATIONS = [
    httpx_adapter.TokenAuth,
    requests_adapter.TokenAuth,
    aiohttp_adapter.TokenMiddleware,
]


@pytest.mark.parametrize("integration", INTEGRATIONS)
@pytest.mark.parametrize("method", METHODS)
def test_a_certificate_method_without_a_certificate_is_refused_when_made(
    server: TokenServer, integration: Any, method: str
) -> None:
    with pytest.raises(ValueError, match="client_cert=") as refused:
        integration(mtls_flow(server, method))
    assert method in str(refused.value)


@pytest.mark.parametrize("integration", INTEGRATIONS)
def test_a_certificate_that_does_not_load_is_refused_when_made(
    server: TokenServer, files: dict[str, Any], integration: Any, tmp_path: Path
) -> None:
    flow = mtls_flow(server, "tls_client_auth")
    missing = str(tmp_path / "nowhere.pem")
    with pytest.raises(ValueError, match="client_cert") as refused:
        integration(flow, client_cert=missing)
    assert "nowhere.pem" in str(refused.value)
    # A key of another certificate; a key that does not open, whose
    # password is never in the message.
    cert, locked = files["locked"]
    with pytest.raises(ValueError, match="client_cert"):
        integration(flow, client_cert=(cert, files["other"][1]))
    with pytest.raises(ValueError, match="client_cert") as refused:
        integration(flow, client_cert=(cert, locked, "pw-Zq81-not-the-password"))
    assert "pw-Zq81" not in str(refused.value)
    # The right password: made.
    integration(flow, client_cert=(cert, locked, "pw-Ok19-the-password"))
    with pytest.raises(TypeError, match="client_cert"):
        integration(flow, client_cert=42)
