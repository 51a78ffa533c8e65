"""The local token server's checks of signed requests, driven over real HTTP.

JWT client authentication (``private_key_jwt``, ``client_secret_jwt``), the
JWT bearer grant, token exchange, resource indicators, DPoP at the token
endpoint and at the resource, and mutual TLS (``tls_client_auth``,
``self_signed_tls_client_auth``) with certificate-bound tokens.

Every request here is built by hand: JWTs are signed with ``cryptography``
directly (and one with ``joserfc``), certificates come from ``trustme`` or
are made here, and requests go out through ``http.client`` on 127.0.0.1, so
that nothing of the library's own signing is on either side. Each refusal
rule has a test that differs from an accepted request by that rule alone,
and asserts the rule's reason in ``server.rejections``: drop the rule and
the request is accepted, or refused for another reason, and the test fails.
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import hmac
import http.client
import json
import ssl
import subprocess
import sys
import tempfile
import textwrap
import time
import urllib.parse
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import attrs
import pytest
import trustme
from client_certs import self_signed
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import (
    ec,
    ed448,
    ed25519,
    padding,
    rsa,
)
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sansio_auth.adapters.server import (
    Credentials,
    RegisteredClient,
    Rejection,
    TokenServer,
    TrustedIssuer,
    _guard,
    _jose,
    describe,
)

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
TOKEN_EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"
ACCESS_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:access_token"
JWT_TYPE = "urn:ietf:params:oauth:token-type:jwt"
REFRESH_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:refresh_token"

Key = Any  # a cryptography private key, or bytes for HS256

# -- keys, JWTs and proofs, made here ------------------------------------------

RSA_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
EC_KEY = ec.generate_private_key(ec.SECP256R1())
ED_KEY = ed25519.Ed25519PrivateKey.generate()
OTHER_EC_KEY = ec.generate_private_key(ec.SECP256R1())
ISSUER_KEY = ec.generate_private_key(ec.SECP256R1())
KEYS: dict[str, Key] = {
    "RS256": RSA_KEY,
    "PS256": RSA_KEY,
    "ES256": EC_KEY,
    "EdDSA": ED_KEY,
}


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def encode(value: object) -> str:
    return b64(json.dumps(value, separators=(",", ":")).encode())


def signature(alg: str, key: Key, data: bytes) -> bytes:
    if alg == "HS256":
        return hmac.new(key, data, hashlib.sha256).digest()
    if alg == "RS256":
        return key.sign(data, padding.PKCS1v15(), hashes.SHA256())  # type: ignore[no-any-return]
    if alg == "PS256":
        pss = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32)
        return key.sign(data, pss, hashes.SHA256())  # type: ignore[no-any-return]
    if alg == "ES256":
        r, s = decode_dss_signature(key.sign(data, ec.ECDSA(hashes.SHA256())))
        return r.to_bytes(32, "big") + s.to_bytes(32, "big")
    if alg == "EdDSA":
        return key.sign(data)  # type: ignore[no-any-return]
    return b"not a signature"


def jws(header: Mapping[str, object], claims: Mapping[str, object], key: Key) -> str:
    signing_input = f"{encode(header)}.{encode(claims)}"
    sig = signature(str(header["alg"]), key, signing_input.encode())
    return f"{signing_input}.{b64(sig)}"


def public_jwk(key: Key) -> dict[str, str]:
    public = key.public_key()
    if isinstance(public, ec.EllipticCurvePublicKey):
        numbers = public.public_numbers()
        return {
            "kty": "EC",
            "crv": "P-256",
            "x": b64(numbers.x.to_bytes(32, "big")),
            "y": b64(numbers.y.to_bytes(32, "big")),
        }
    if isinstance(public, rsa.RSAPublicKey):
        rsa_numbers = public.public_numbers()
        return {
            "kty": "RSA",
            "n": b64(
                rsa_numbers.n.to_bytes((rsa_numbers.n.bit_length() + 7) // 8, "big")
            ),
            "e": b64(rsa_numbers.e.to_bytes(3, "big")),
        }
    raw = public.public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    )
    return {"kty": "OKP", "crv": "Ed25519", "x": b64(raw)}


def jkt_of(key: Key) -> str:
    """RFC 7638, by joserfc: a third party's thumbprint of the key."""
    from joserfc.jwk import ECKey, OKPKey, RSAKey

    jwk = public_jwk(key)
    kind = {"EC": ECKey, "RSA": RSAKey, "OKP": OKPKey}[jwk["kty"]]
    return str(kind.import_key(jwk).thumbprint())  # type: ignore[attr-defined]


def pem(key: Key) -> bytes:
    return key.public_key().public_bytes(  # type: ignore[no-any-return]
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


class At:
    """A time *offset* seconds from when the JWT is signed (tables are made
    at import, tests run minutes later)."""

    def __init__(self, offset: int) -> None:
        self.offset = offset

    def __repr__(self) -> str:
        return f"At({self.offset})"


def resolve(value: object) -> object:
    return int(time.time()) + value.offset if isinstance(value, At) else value


_counter = iter(range(10**9))


def fresh_jti() -> str:
    return f"jti-{next(_counter)}-{time.time_ns()}"


def assertion(
    client_id: str,
    audience: object,
    key: Key,
    alg: str = "ES256",
    /,
    **changes: object,
) -> str:
    """A client assertion as the core makes it, with *changes* to its claims
    (None removes one) and header (``header_*``)."""
    now = int(time.time())
    header: dict[str, object] = {"alg": alg, "typ": "JWT"}
    claims: dict[str, object] = {
        "iss": client_id,
        "sub": client_id,
        "aud": audience,
        "jti": fresh_jti(),
        "iat": now,
        "exp": now + 60,
    }
    for name, value in changes.items():
        if name.startswith("header_"):
            header[name.removeprefix("header_")] = value
        else:
            claims[name] = resolve(value)
    header = {n: v for n, v in header.items() if v is not None}
    claims = {n: v for n, v in claims.items() if v is not None}
    return jws(header, claims, key)


def dpop_proof(
    key: Key,
    method: str,
    url: str,
    *,
    alg: str = "ES256",
    typ: object = "dpop+jwt",
    jwk: object = None,
    signer: Key = None,
    **claims: object,
) -> str:
    header: dict[str, object] = {
        "typ": typ,
        "alg": alg,
        "jwk": public_jwk(key) if jwk is None else jwk,
    }
    body: dict[str, object] = {
        "jti": fresh_jti(),
        "htm": method,
        "htu": url,
        "iat": int(time.time()),
    }
    body.update(claims)
    body = {name: value for name, value in body.items() if value is not None}
    return jws(header, body, key if signer is None else signer)


def ath(token: str) -> str:
    return b64(hashlib.sha256(token.encode()).digest())


# -- requests over http.client ---------------------------------------------------


class Reply:
    def __init__(self, status: int, headers: list[tuple[str, str]], body: bytes):
        self.status = status
        self.headers = headers
        self.data: dict[str, Any] = json.loads(body) if body.startswith(b"{") else {}

    def header(self, name: str) -> str | None:
        for key, value in self.headers:
            if key.lower() == name.lower():
                return value
        return None

    @property
    def error(self) -> object:
        return self.data.get("error")


def send(
    url: str,
    fields: Sequence[tuple[str, str]] | Mapping[str, str] | None = None,
    headers: Sequence[tuple[str, str]] = (),
    *,
    method: str = "POST",
    context: ssl.SSLContext | None = None,
) -> Reply:
    """One request; *fields* a form body (pairs may repeat); *headers* may
    repeat too, and a ``Host`` among them replaces the URL's."""
    parts = urllib.parse.urlsplit(url)
    assert parts.hostname is not None
    if parts.scheme == "https":
        conn: http.client.HTTPConnection = http.client.HTTPSConnection(
            parts.hostname, parts.port, context=context, timeout=10
        )
    else:
        conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    pairs = list(fields.items()) if isinstance(fields, Mapping) else list(fields or ())
    body = urllib.parse.urlencode(pairs).encode() if fields is not None else b""
    try:
        conn.putrequest(
            method,
            parts.path + (f"?{parts.query}" if parts.query else ""),
            skip_host=any(name.lower() == "host" for name, _ in headers),
        )
        if fields is not None:
            conn.putheader("Content-Type", "application/x-www-form-urlencoded")
        conn.putheader("Content-Length", str(len(body)))
        for name, value in headers:
            conn.putheader(name, value)
        conn.endheaders(body)
        response = conn.getresponse()
        return Reply(response.status, response.getheaders(), response.read())
    finally:
        conn.close()


def jwt_fields(token: str, client_id: str | None = None, **more: str) -> dict[str, str]:
    fields = {
        "grant_type": "client_credentials",
        "client_assertion_type": ASSERTION_TYPE,
        "client_assertion": token,
    }
    if client_id is not None:
        fields["client_id"] = client_id
    fields.update(more)
    return fields


def reasons(server: TokenServer) -> list[tuple[str, str]]:
    return [(r.kind, r.reason) for r in server.rejections]


def claims_of(server: TokenServer, reply: Reply) -> Mapping[str, object]:
    assert reply.status == 200, reply.data
    claims = server.verify(reply.data["access_token"])
    assert claims is not None
    return claims


# -- the servers ---------------------------------------------------------------

BOTH_SECRET = "both-client-secret-of-32-bytes-or-more"
SHORT_SECRET = "s" * 31  # a byte short of RFC 7518 §3.2's 256 bits
CLIENTS = (
    RegisteredClient(client_id="rsa-client", public_key=pem(RSA_KEY), key_id="rsa-1"),
    RegisteredClient(client_id="ec-client", public_key=EC_KEY.public_key()),
    RegisteredClient(client_id="ed-client", public_key=ED_KEY),
    RegisteredClient(
        client_id="both-client", client_secret=BOTH_SECRET, public_key=EC_KEY
    ),
    RegisteredClient(client_id="short-secret-client", client_secret=SHORT_SECRET),
    RegisteredClient(
        client_id="dpop-client", public_key=EC_KEY, dpop_bound_access_tokens=True
    ),
)
CLIENT_OF = {
    "RS256": "rsa-client",
    "PS256": "rsa-client",
    "ES256": "ec-client",
    "EdDSA": "ed-client",
}
ISSUERS = (
    TrustedIssuer(
        issuer="https://idp.example.test", public_key=ISSUER_KEY, key_id="idp-1"
    ),
)


@pytest.fixture(scope="module")
def server() -> Iterator[TokenServer]:
    with TokenServer(
        credentials=Credentials(clients=CLIENTS, issuers=ISSUERS)
    ) as running:
        yield running


@pytest.fixture(autouse=True)
def _fresh_records(request: pytest.FixtureRequest) -> None:
    if "server" in request.fixturenames:
        request.getfixturevalue("server").clear()


@pytest.fixture
def nonce_server() -> Iterator[TokenServer]:
    with TokenServer(
        credentials=Credentials(clients=CLIENTS, issuers=ISSUERS), dpop_nonce=True
    ) as running:
        yield running


# -- private_key_jwt and client_secret_jwt ---------------------------------------


@pytest.mark.parametrize("alg", ["RS256", "PS256", "ES256", "EdDSA"])
def test_private_key_jwt_is_accepted_for_each_algorithm(
    server: TokenServer, alg: str
) -> None:
    client_id = CLIENT_OF[alg]
    token = assertion(
        client_id, server.generic_token_url, KEYS[alg], alg, header_kid=None
    )
    reply = send(server.generic_token_url, jwt_fields(token, client_id))
    claims = claims_of(server, reply)
    assert claims["client_id"] == client_id
    assert claims["sub"] == client_id
    assert reply.data["token_type"] == "Bearer"
    assert "cnf" not in claims
    assert server.rejections == []


@pytest.mark.parametrize(
    "aud",
    [
        "{token_url}",
        "{issuer}",
        ["{token_url}"],
        ["{issuer}"],
        ["{issuer}", "{token_url}"],
    ],
)
def test_the_audience_may_be_the_token_url_or_the_issuer(
    server: TokenServer, aud: object
) -> None:
    def fill(value: str) -> str:
        return value.format(token_url=server.generic_token_url, issuer=server.issuer)

    audience = [fill(v) for v in aud] if isinstance(aud, list) else fill(str(aud))
    token = assertion("ec-client", audience, EC_KEY)
    assert send(server.generic_token_url, jwt_fields(token)).status == 200
    assert server.issuer == server.url


def test_client_secret_jwt_is_hs256_under_the_secret(server: TokenServer) -> None:
    creds = server.credentials
    secret = creds.generic_client_secret.encode()
    token = assertion(
        creds.generic_client_id, server.generic_token_url, secret, "HS256"
    )
    claims = claims_of(server, send(server.generic_token_url, jwt_fields(token)))
    assert claims["client_id"] == creds.generic_client_id
    # A client with a secret and a key may use either.
    token = assertion("both-client", server.issuer, BOTH_SECRET.encode(), "HS256")
    assert send(server.generic_token_url, jwt_fields(token)).status == 200
    token = assertion("both-client", server.issuer, EC_KEY)
    assert send(server.generic_token_url, jwt_fields(token)).status == 200


def test_client_secret_jwt_needs_a_secret_of_256_bits(server: TokenServer) -> None:
    # RFC 7518 §3.2: an HS256 key MUST be 256 bits or more; a secret of 31
    # bytes signs no assertion here, as at Nimbus-based servers.
    token = assertion(
        "short-secret-client", server.issuer, SHORT_SECRET.encode(), "HS256"
    )
    _refused(server, token, "secret_length")
    reply = send(server.generic_token_url, jwt_fields(token))
    assert "256" in str(reply.data["error_description"])
    # The same secret is taken sent as it is: the rule is HS256's.
    fields = [("client_id", "short-secret-client"), ("client_secret", SHORT_SECRET)]
    reply = send(
        server.generic_token_url, [("grant_type", "client_credentials"), *fields]
    )
    assert reply.status == 200, reply.data
    # 32 bytes are enough, and the generic client's secret has them.
    assert len(server.credentials.generic_client_secret.encode()) >= 32
    with TokenServer(
        credentials=Credentials(
            clients=[RegisteredClient(client_id="c", client_secret="s" * 32)]
        )
    ) as other:
        token = assertion("c", other.issuer, b"s" * 32, "HS256")
        assert send(other.generic_token_url, jwt_fields(token)).status == 200


def _refused(server: TokenServer, token: str, reason: str, **fields: str) -> None:
    reply = send(server.generic_token_url, {**jwt_fields(token), **fields})
    assert (reply.status, reply.error) == (401, "invalid_client"), reply.data
    assert reply.header("WWW-Authenticate") == 'Basic realm="sansio-auth"'
    assert reasons(server)[-1] == ("client_assertion", reason)
    # The description names the rule, never the assertion.
    tail = token.rsplit(".", 1)[-1]
    assert len(tail) < 8 or tail not in json.dumps(reply.data)


# Each case is an accepted assertion with one rule broken.
CLIENT_ASSERTION_REFUSALS: list[tuple[str, dict[str, object], str]] = [
    ("wrong aud", {"aud": "https://other.example/oauth/token"}, "aud"),
    ("aud not a string", {"aud": 7}, "aud"),
    ("no aud", {"aud": None}, "aud"),
    (
        "aud array without us",
        {"aud": ["https://a.example", "https://b.example"]},
        "aud",
    ),
    # draft-ietf-oauth-rfc7523bis: an assertion for this server alone.
    ("aud array with another", {"aud": ["{token_url}", "https://b.example"]}, "aud"),
    ("aud array with another first", {"aud": ["https://b.example", "{issuer}"]}, "aud"),
    ("aud array with a non-string", {"aud": ["{issuer}", 7]}, "aud"),
    ("aud empty array", {"aud": []}, "aud"),
    ("expired", {"exp": At(-5), "iat": At(-65)}, "exp"),
    ("no exp", {"exp": None}, "exp"),
    ("exp not a number", {"exp": "soon"}, "exp"),
    ("exp a bool", {"exp": True}, "exp"),
    ("exp too far ahead", {"exp": At(3600), "iat": None}, "lifetime"),
    ("exp too far after iat", {"iat": At(-200), "exp": At(200)}, "lifetime"),
    ("iat in the future", {"iat": At(120), "exp": At(150)}, "iat"),
    ("iat not a number", {"iat": "now"}, "iat"),
    ("nbf in the future", {"nbf": At(120)}, "nbf"),
    ("no jti", {"jti": None}, "jti"),
    ("empty jti", {"jti": ""}, "jti"),
    ("sub is not iss", {"sub": "someone-else"}, "sub"),
    ("no iss", {"iss": None}, "iss"),
    ("typ of a DPoP proof", {"header_typ": "dpop+jwt"}, "typ"),
    ("typ of a DPoP proof, full", {"header_typ": "application/dpop+jwt"}, "typ"),
    ("typ of another media type", {"header_typ": "text/jwt"}, "typ"),
    ("typ not a string", {"header_typ": 1}, "typ"),
    ("a crit header", {"header_crit": ["exp"]}, "crit"),
]


@pytest.mark.parametrize(
    ("changes", "reason"),
    [case[1:] for case in CLIENT_ASSERTION_REFUSALS],
    ids=[case[0] for case in CLIENT_ASSERTION_REFUSALS],
)
def test_a_client_assertion_breaking_one_rule_is_refused(
    server: TokenServer, changes: dict[str, object], reason: str
) -> None:
    def fill(value: object) -> object:  # the table is made before the server
        if isinstance(value, list):
            return [fill(member) for member in value]
        if isinstance(value, str):
            return value.format(
                token_url=server.generic_token_url, issuer=server.issuer
            )
        return value

    changes = {name: fill(value) for name, value in changes.items()}
    token = assertion("ec-client", server.generic_token_url, EC_KEY, **changes)
    _refused(server, token, reason)


def test_the_refusal_cases_differ_from_an_accepted_assertion_by_one_rule(
    server: TokenServer,
) -> None:
    # The baseline of the table above is accepted, with iat and nbf at the
    # allowed edge: it is the one change that refuses each case.
    token = assertion(
        "ec-client", server.generic_token_url, EC_KEY, nbf=At(20), iat=At(20)
    )
    assert send(server.generic_token_url, jwt_fields(token)).status == 200


@pytest.mark.parametrize(
    ("alg", "key", "reason"),
    [
        ("none", EC_KEY, "alg"),  # alg none, with a signature part
        ("HS256", b"a guessed secret", "method"),  # a client with no secret
        ("ES384", EC_KEY, "alg"),
        ("RS256", RSA_KEY, "alg"),  # a key the registered EC key is not
        ("ES256", OTHER_EC_KEY, "signature"),
    ],
)
def test_wrong_algorithms_and_keys_are_refused(
    server: TokenServer, alg: str, key: Key, reason: str
) -> None:
    _refused(server, assertion("ec-client", server.issuer, key, alg), reason)


def test_an_es256_signature_is_r_and_s_of_32_bytes_each(server: TokenServer) -> None:
    token = assertion("ec-client", server.issuer, EC_KEY)
    head, sig = token.rsplit(".", 1)
    raw = base64.urlsafe_b64decode(sig + "==")
    # The same r and s, s with a leading zero byte: the same numbers, not
    # the encoding RFC 7518 §3.4 fixes.
    _refused(server, f"{head}.{b64(raw[:32] + bytes(1) + raw[32:])}", "signature")
    # DER, as a signer that forgot §3.4 sends it.
    der = EC_KEY.sign(head.encode(), ec.ECDSA(hashes.SHA256()))
    _refused(server, f"{head}.{b64(der)}", "signature")
    assert send(server.generic_token_url, jwt_fields(token)).status == 200


def test_alg_none_without_a_signature_is_refused(server: TokenServer) -> None:
    now = int(time.time())
    claims = {"iss": "ec-client", "sub": "ec-client", "aud": server.issuer}
    unsigned = (
        f"{encode({'alg': 'none'})}.{encode({**claims, 'jti': 'x', 'exp': now + 60})}."
    )
    reply = send(server.generic_token_url, jwt_fields(unsigned))
    assert (reply.status, reply.error) == (401, "invalid_client")
    assert reasons(server) == [("client_assertion", "malformed")]


@pytest.mark.parametrize(
    "typ",
    [
        "JWT",
        "jwt",
        "application/jwt",
        "Application/JWT",
        "client-authentication+jwt",
        "application/client-authentication+jwt",
        None,
    ],
)
def test_an_assertion_typ_is_a_media_type(server: TokenServer, typ: str | None) -> None:
    # RFC 7515 §4.1.9: case does not count, and "jwt" is "application/jwt".
    token = assertion("ec-client", server.issuer, EC_KEY, header_typ=typ)
    reply = send(server.generic_token_url, jwt_fields(token))
    assert reply.status == 200, reply.data


def test_a_secret_client_cannot_use_private_key_jwt(server: TokenServer) -> None:
    creds = server.credentials
    token = assertion(creds.generic_client_id, server.issuer, EC_KEY)
    _refused(server, token, "method")
    # and a client_secret_jwt under another secret fails its signature
    token = assertion(creds.generic_client_id, server.issuer, b"not-it", "HS256")
    _refused(server, token, "signature")


def test_kid_must_be_the_registered_one_when_given(server: TokenServer) -> None:
    token = assertion("rsa-client", server.issuer, RSA_KEY, "RS256", header_kid="rsa-2")
    _refused(server, token, "kid")
    token = assertion("rsa-client", server.issuer, RSA_KEY, "RS256", header_kid="rsa-1")
    assert send(server.generic_token_url, jwt_fields(token)).status == 200


def test_a_replayed_assertion_is_refused_while_it_could_be_valid(
    server: TokenServer,
) -> None:
    token = assertion("ec-client", server.generic_token_url, EC_KEY, jti="once")
    assert send(server.generic_token_url, jwt_fields(token)).status == 200
    _refused(server, token, "replay")
    # A fresh assertion with the same jti is a replay too...
    again = assertion("ec-client", server.generic_token_url, EC_KEY, jti="once")
    _refused(server, again, "replay")
    # ... but another client's own jti space is its own.
    other = assertion(
        "ed-client", server.generic_token_url, ED_KEY, "EdDSA", jti="once"
    )
    assert send(server.generic_token_url, jwt_fields(other)).status == 200
    # clear() forgets the records, not the used ids.
    server.clear()
    _refused(server, token, "replay")


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({"client_assertion_type": "urn:example:other"}, "type"),
        ({"client_assertion": ""}, "missing"),
        ({"client_id": "ed-client"}, "iss"),  # client_id is not the iss
    ],
)
def test_the_form_fields_of_a_client_assertion(
    server: TokenServer, fields: dict[str, str], reason: str
) -> None:
    token = assertion("ec-client", server.issuer, EC_KEY)
    _refused(server, token, reason, **fields)


def test_an_unknown_client_is_refused(server: TokenServer) -> None:
    _refused(server, assertion("nobody", server.issuer, EC_KEY), "unknown")


@pytest.mark.parametrize(
    "text",
    [
        "not-a-jwt",
        "a.b",
        "a.b.c.d",
        "..",
        "!!!.e30.c2ln",
        "e30.e30=.c2ln",
        "e30.e30.c2ln5",  # a length base64 never has
        b64(b"[1]") + ".e30.c2ln",
        b64(b'{"alg":1,"alg":2}') + ".e30.c2ln",
        b64(b'{"a":NaN}') + ".e30.c2ln",
        b64(b'{"alg":"ES256"}') + "." + b64(b"\xff") + ".c2ln",
        b64(b"[" * 10_000) + ".e30.c2ln",
        "e30.e30." + "A" * 70_000,
    ],
)
def test_a_malformed_assertion_is_refused(server: TokenServer, text: str) -> None:
    _refused(server, text, "malformed")


def raw_jws(header: bytes, claims: bytes, key: Key, alg: str = "ES256") -> str:
    """A JWS of *header* and *claims* as given, octet for octet, signed."""
    signing_input = f"{b64(header)}.{b64(claims)}"
    return f"{signing_input}.{b64(signature(alg, key, signing_input.encode()))}"


def test_a_jws_whose_json_is_not_utf8_is_refused(server: TokenServer) -> None:
    # RFC 7515 §5.2, RFC 7519 §7.2: the header and payload octets are UTF-8
    # (RFC 3629: no encoded surrogates; RFC 8259 §8.1: no byte order mark).
    # Each JWS is well signed, so only its encoding can refuse it.
    url = server.generic_token_url
    now = int(time.time())
    header = b'{"alg":"ES256","typ":"JWT"}'

    def claims() -> bytes:
        return json.dumps(
            {"iss": "ec-client", "sub": "ec-client", "aud": url}
            | {"jti": fresh_jti(), "iat": now, "exp": now + 60}
        ).encode()

    def as_is(data: bytes) -> bytes:
        return data

    def utf16(data: bytes) -> bytes:
        return data.decode().encode("utf-16-le")

    def utf32(data: bytes) -> bytes:
        return data.decode().encode("utf-32")  # with its BOM

    def bom(data: bytes) -> bytes:
        return b"\xef\xbb\xbf" + data

    def surrogate(data: bytes) -> bytes:
        # U+D800 encoded as UTF-8 in the jti: a surrogate, never in UTF-8.
        jti = json.loads(data)["jti"]
        return data.replace(jti.encode(), b"\xed\xa0\x80" + jti.encode())

    for encode_header, encode_claims in (
        (as_is, utf16),
        (utf16, as_is),
        (as_is, utf32),
        (bom, as_is),
        (as_is, bom),
        (as_is, surrogate),
    ):
        token = raw_jws(encode_header(header), encode_claims(claims()), EC_KEY)
        _refused(server, token, "malformed")
    # The same in UTF-8 is accepted: only the encoding refused them.
    token = raw_jws(header, claims(), EC_KEY)
    assert send(url, jwt_fields(token)).status == 200
    # A DPoP proof and a grant assertion are read by the same reader.
    body = json.dumps({"jti": fresh_jti(), "htm": "POST", "htu": url, "iat": now})
    proof_header = json.dumps(
        {"typ": "dpop+jwt", "alg": "ES256", "jwk": public_jwk(EC_KEY)}
    ).encode()
    proof = raw_jws(proof_header, utf16(body.encode()), EC_KEY)
    _dpop_refused(server, proof, "malformed")
    grant_claims = json.dumps(
        {"iss": "https://idp.example.test", "sub": "u", "aud": url}
        | {"jti": fresh_jti(), "exp": now + 60}
    ).encode()
    grant_header = b'{"alg":"ES256","kid":"idp-1"}'
    reply = send(
        url,
        [
            ("grant_type", JWT_BEARER),
            ("assertion", raw_jws(grant_header, utf16(grant_claims), ISSUER_KEY)),
        ],
    )
    assert (reply.status, reply.error) == (400, "invalid_grant")
    assert reasons(server)[-1] == ("assertion", "malformed")


def test_two_methods_at_once_are_refused(server: TokenServer) -> None:
    creds = server.credentials
    token = assertion(
        creds.generic_client_id,
        server.issuer,
        creds.generic_client_secret.encode(),
        "HS256",
    )
    reply = send(
        server.generic_token_url,
        jwt_fields(token, client_secret=creds.generic_client_secret),
    )
    assert (reply.status, reply.error) == (400, "invalid_request")
    basic = base64.b64encode(
        f"{creds.generic_client_id}:{creds.generic_client_secret}".encode()
    )
    reply = send(
        server.generic_token_url,
        jwt_fields(token),
        [("Authorization", f"Basic {basic.decode()}")],
    )
    assert (reply.status, reply.error) == (400, "invalid_request")
    assert reasons(server) == [("client_assertion", "methods")] * 2
    # The assertion was not used: alone, it is accepted.
    assert send(server.generic_token_url, jwt_fields(token)).status == 200


def test_a_key_client_has_no_secret_to_send(server: TokenServer) -> None:
    reply = send(
        server.generic_token_url,
        {
            "grant_type": "client_credentials",
            "client_id": "ec-client",
            "client_secret": "x",
        },
    )
    assert (reply.status, reply.error) == (400, "invalid_client")
    assert reasons(server) == [("client_secret", "unknown")]


@settings(
    max_examples=60,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    aud=st.sampled_from(
        ["token_url", "issuer", "other", "list", "list-mixed", "list-other", "none"]
    ),
    exp=st.integers(-100, 400),
    iat=st.none() | st.integers(-400, 100),
    jti=st.booleans(),
    iss=st.sampled_from(["ec-client", "ed-client", "nobody"]),
)
def test_any_claims_are_accepted_exactly_when_every_rule_holds(
    server: TokenServer,
    aud: str,
    exp: int,
    iat: int | None,
    jti: bool,
    iss: str,
) -> None:
    # A model of the rules, written from the RFCs, against the server.
    now = int(time.time())
    audience: object = {
        "token_url": server.generic_token_url,
        "issuer": server.issuer,
        "other": "https://other.example",
        "list": [server.generic_token_url, server.issuer],
        "list-mixed": ["https://other.example", server.issuer],
        "list-other": ["https://other.example"],
        "none": None,
    }[aud]
    token = assertion(
        iss,
        audience,
        EC_KEY,
        exp=now + exp,
        iat=None if iat is None else now + iat,
        jti=fresh_jti() if jti else None,
    )
    starts = [0] if iat is None else [0, iat]
    expected = (
        iss == "ec-client"
        and aud in ("token_url", "issuer", "list")
        and exp > 1  # a second of slack: the server reads its clock later
        and all(exp - start <= 299 for start in starts)
        and (iat is None or iat <= 30)
        and jti
    )
    undecided = (
        exp in (0, 1)
        or iat == 31
        or any(exp - start in (299, 300, 301) for start in starts)
    )
    reply = send(server.generic_token_url, jwt_fields(token))
    if not undecided:
        assert (reply.status == 200) == expected, (reply.data, aud, exp, iat, jti, iss)


@settings(
    max_examples=40,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(data=st.data())
def test_any_change_to_a_signed_assertion_is_refused(
    server: TokenServer, data: st.DataObject
) -> None:
    token = assertion("ec-client", server.generic_token_url, EC_KEY)
    header, payload, sig = token.split(".")
    part = data.draw(st.sampled_from(["header", "payload", "signature"]))
    if part == "payload":
        claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
        name = data.draw(st.sampled_from(sorted(claims)))
        value: object = data.draw(st.text(max_size=10) | st.integers() | st.none())
        claims[name] = [value] if claims[name] == value else value
        payload = encode(claims)
    elif part == "header":
        header = encode(
            {"alg": "ES256", "typ": "JWT", "kid": data.draw(st.text(max_size=5))}
        )
    else:
        raw = bytearray(base64.urlsafe_b64decode(sig + "=="))
        raw[data.draw(st.integers(0, len(raw) - 1))] ^= 1 << data.draw(
            st.integers(0, 7)
        )
        sig = b64(bytes(raw))
    reply = send(server.generic_token_url, jwt_fields(f"{header}.{payload}.{sig}"))
    assert (reply.status, reply.error) == (401, "invalid_client")
    assert reasons(server)[-1][1] in ("signature", "sub", "iss", "unknown", "malformed")


def test_an_assertion_signed_by_joserfc_is_accepted(server: TokenServer) -> None:
    from joserfc import jwt
    from joserfc.jwk import ECKey

    key = ECKey.import_key(
        EC_KEY.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    now = int(time.time())
    token = jwt.encode(
        {"alg": "ES256"},
        {
            "iss": "ec-client",
            "sub": "ec-client",
            "aud": server.generic_token_url,
            "jti": fresh_jti(),
            "iat": now,
            "exp": now + 60,
        },
        key,
    )
    assert send(server.generic_token_url, jwt_fields(token)).status == 200


# -- the JWT bearer grant ------------------------------------------------------------


def grant(server: TokenServer, key: Key = ISSUER_KEY, **changes: object) -> str:
    now = int(time.time())
    header: dict[str, object] = {"alg": "ES256", "typ": "JWT", "kid": "idp-1"}
    claims: dict[str, object] = {
        "iss": "https://idp.example.test",
        "sub": "service-account@example.test",
        "aud": server.generic_token_url,
        "jti": fresh_jti(),
        "iat": now,
        "exp": now + 60,
        "scope": "ignored",
    }
    claims.update({name: resolve(value) for name, value in changes.items()})
    claims = {k: v for k, v in claims.items() if v is not None}
    return jws(header, claims, key)


def test_the_jwt_bearer_grant_issues_for_the_assertion_subject(
    server: TokenServer,
) -> None:
    reply = send(
        server.generic_token_url,
        {"grant_type": JWT_BEARER, "assertion": grant(server), "scope": "read"},
    )
    claims = claims_of(server, reply)
    assert claims["sub"] == "service-account@example.test"
    assert "client_id" not in claims  # client authentication is optional
    assert reply.data["scope"] == "read"
    assert "refresh_token" not in reply.data
    # With a client authenticated too, the token names it.
    client = assertion("ec-client", server.issuer, EC_KEY)
    reply = send(
        server.generic_token_url,
        jwt_fields(client, grant_type=JWT_BEARER, assertion=grant(server)),
    )
    assert claims_of(server, reply)["client_id"] == "ec-client"


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"iss": "https://unknown.example"}, "unknown"),
        ({"aud": "https://other.example"}, "aud"),
        ({"exp": At(-1), "iat": At(-30)}, "exp"),
        ({"exp": At(1000)}, "lifetime"),
        ({"jti": None}, "jti"),
        ({"sub": None}, "sub"),
        ({"key": OTHER_EC_KEY}, "signature"),
    ],
)
def test_a_grant_assertion_breaking_a_rule_is_invalid_grant(
    server: TokenServer, changes: dict[str, object], reason: str
) -> None:
    changes = dict(changes)
    key = changes.pop("key", ISSUER_KEY)
    reply = send(
        server.generic_token_url,
        {"grant_type": JWT_BEARER, "assertion": grant(server, key, **changes)},
    )
    assert (reply.status, reply.error) == (400, "invalid_grant"), reply.data
    assert reasons(server) == [("assertion", reason)]


def test_a_grant_assertion_is_good_once(server: TokenServer) -> None:
    token = grant(server)
    fields = {"grant_type": JWT_BEARER, "assertion": token}
    assert send(server.generic_token_url, fields).status == 200
    reply = send(server.generic_token_url, fields)
    assert (reply.status, reply.error) == (400, "invalid_grant")
    assert reasons(server) == [("assertion", "replay")]


def test_the_jwt_bearer_grant_needs_an_assertion(server: TokenServer) -> None:
    reply = send(server.generic_token_url, {"grant_type": JWT_BEARER})
    assert (reply.status, reply.error) == (400, "invalid_request")
    # Client authentication, when sent, must hold.
    reply = send(
        server.generic_token_url,
        {
            "grant_type": JWT_BEARER,
            "assertion": grant(server),
            "client_id": "x",
            "client_secret": "y",
        },
    )
    assert (reply.status, reply.error) == (400, "invalid_client")


# -- token exchange ------------------------------------------------------------------


def access_token(
    server: TokenServer,
    client_id: str = "ec-client",
    key: Key = EC_KEY,
    alg: str = "ES256",
) -> str:
    token = assertion(client_id, server.issuer, key, alg)
    reply = send(server.generic_token_url, jwt_fields(token))
    assert reply.status == 200, reply.data
    return str(reply.data["access_token"])


def test_token_exchange_of_our_access_token_with_an_actor(server: TokenServer) -> None:
    subject = access_token(server)
    actor = grant(server, sub="robot@example.test")
    reply = send(
        server.generic_token_url,
        [
            ("grant_type", TOKEN_EXCHANGE),
            ("subject_token", subject),
            ("subject_token_type", ACCESS_TOKEN_TYPE),
            ("actor_token", actor),
            ("actor_token_type", JWT_TYPE),
            ("audience", "billing"),
            ("audience", "ledger"),
            ("resource", "https://api.example/v1"),
        ],
    )
    claims = claims_of(server, reply)
    assert reply.data["issued_token_type"] == ACCESS_TOKEN_TYPE
    assert reply.data["token_type"] == "Bearer"
    assert claims["sub"] == "ec-client"
    assert claims["act"] == {
        "sub": "robot@example.test",
        "iss": "https://idp.example.test",
    }
    assert claims["aud"] == ["billing", "ledger", "https://api.example/v1"]
    # Exchanged again with our own token as the actor: the chain nests.
    second = send(
        server.generic_token_url,
        {
            "grant_type": TOKEN_EXCHANGE,
            "subject_token": reply.data["access_token"],
            "subject_token_type": ACCESS_TOKEN_TYPE,
            "actor_token": access_token(server, "ed-client", ED_KEY, "EdDSA"),
            "actor_token_type": ACCESS_TOKEN_TYPE,
        },
    )
    assert claims_of(server, second)["act"] == {
        "sub": "ed-client",
        "act": {"sub": "robot@example.test", "iss": "https://idp.example.test"},
    }


def test_token_exchange_of_a_trusted_jwt_for_a_jwt(server: TokenServer) -> None:
    # A subject token is not single use, and its aud is not ours to check.
    subject = grant(server, aud="https://some-api.example", scope="a b")
    for _ in range(2):
        reply = send(
            server.generic_token_url,
            {
                "grant_type": TOKEN_EXCHANGE,
                "subject_token": subject,
                "subject_token_type": JWT_TYPE,
                "requested_token_type": JWT_TYPE,
            },
        )
        claims = claims_of(server, reply)
        assert reply.data["issued_token_type"] == JWT_TYPE
        assert reply.data["token_type"] == "N_A"
        assert claims["sub"] == "service-account@example.test"
        assert claims["scope"] == "a b"
        assert "act" not in claims


@pytest.mark.parametrize(
    ("fields", "error", "rejected"),
    [
        ({"subject_token_type": ACCESS_TOKEN_TYPE}, "invalid_request", None),
        ({"subject_token": "{ours}"}, "invalid_request", None),
        (
            {
                "subject_token": "{ours}",
                "subject_token_type": ACCESS_TOKEN_TYPE,
                "actor_token": "{ours}",
            },
            "invalid_request",
            None,
        ),
        (
            {
                "subject_token": "{ours}",
                "subject_token_type": ACCESS_TOKEN_TYPE,
                "actor_token_type": ACCESS_TOKEN_TYPE,
            },
            "invalid_request",
            None,
        ),
        (
            {"subject_token": "nope", "subject_token_type": ACCESS_TOKEN_TYPE},
            "invalid_request",
            ("subject_token", "unknown"),
        ),
        (
            {"subject_token": "{ours}", "subject_token_type": "urn:example:saml"},
            "invalid_request",
            ("subject_token", "type"),
        ),
        (
            {"subject_token": "{ours}", "subject_token_type": JWT_TYPE},
            "invalid_request",
            ("subject_token", "unknown"),
        ),
        (
            {"subject_token": "{untrusted}", "subject_token_type": JWT_TYPE},
            "invalid_request",
            ("subject_token", "signature"),
        ),
        (
            {"subject_token": "{expired}", "subject_token_type": JWT_TYPE},
            "invalid_request",
            ("subject_token", "exp"),
        ),
        (
            {
                "subject_token": "{ours}",
                "subject_token_type": ACCESS_TOKEN_TYPE,
                "actor_token": "nope",
                "actor_token_type": ACCESS_TOKEN_TYPE,
            },
            "invalid_request",
            ("actor_token", "unknown"),
        ),
        (
            {
                "subject_token": "{ours}",
                "subject_token_type": ACCESS_TOKEN_TYPE,
                "requested_token_type": REFRESH_TOKEN_TYPE,
            },
            "invalid_request",
            None,
        ),
        (
            {
                "subject_token": "{ours}",
                "subject_token_type": ACCESS_TOKEN_TYPE,
                "resource": "/relative",
            },
            "invalid_target",
            None,
        ),
    ],
)
def test_token_exchange_refusals(
    server: TokenServer,
    fields: dict[str, str],
    error: str,
    rejected: tuple[str, str] | None,
) -> None:
    values = {
        "{ours}": access_token(server),
        "{untrusted}": grant(server, OTHER_EC_KEY),
        "{expired}": grant(server, exp=int(time.time()) - 1),
    }
    server.clear()
    sent = {name: values.get(value, value) for name, value in fields.items()}
    reply = send(server.generic_token_url, {"grant_type": TOKEN_EXCHANGE, **sent})
    assert (reply.status, reply.error) == (400, error), reply.data
    assert reasons(server) == ([] if rejected is None else [rejected])


def test_a_revoked_subject_token_is_refused(server: TokenServer) -> None:
    subject = access_token(server)
    server.revoke(subject)
    reply = send(
        server.generic_token_url,
        {
            "grant_type": TOKEN_EXCHANGE,
            "subject_token": subject,
            "subject_token_type": ACCESS_TOKEN_TYPE,
        },
    )
    assert (reply.status, reply.error) == (400, "invalid_request")
    assert reply.data["error_description"] == "the subject token is revoked"


def exchange(
    server: TokenServer,
    subject: str,
    *more: tuple[str, str],
    subject_type: str = ACCESS_TOKEN_TYPE,
    headers: Sequence[tuple[str, str]] = (),
    context: ssl.SSLContext | None = None,
) -> Reply:
    return send(
        server.generic_token_url,
        [
            ("grant_type", TOKEN_EXCHANGE),
            ("subject_token", subject),
            ("subject_token_type", subject_type),
            *more,
        ],
        headers,
        context=context,
    )


def test_a_dpop_bound_token_is_exchanged_only_with_a_proof_of_its_key(
    server: TokenServer,
) -> None:
    bound = dpop_access_token(server)
    server.clear()
    url = server.generic_token_url
    # A thief without the key: no proof, or a proof of its own key.
    for headers in ([], [("DPoP", dpop_proof(OTHER_EC_KEY, "POST", url))]):
        reply = exchange(server, bound, headers=headers)
        assert (reply.status, reply.error) == (400, "invalid_request"), reply.data
        assert "bound" in reply.data["error_description"]
    # As the actor, the same.
    reply = exchange(
        server,
        access_token(server),
        ("actor_token", bound),
        ("actor_token_type", ACCESS_TOKEN_TYPE),
    )
    assert (reply.status, reply.error) == (400, "invalid_request"), reply.data
    assert reasons(server) == [
        ("subject_token", "binding"),
        ("subject_token", "binding"),
        ("actor_token", "binding"),
    ]
    # The holder proves the key, and the new token is bound to it still.
    reply = exchange(server, bound, headers=[("DPoP", dpop_proof(EC_KEY, "POST", url))])
    assert claims_of(server, reply)["cnf"] == {"jkt": jkt_of(EC_KEY)}
    assert reply.data["token_type"] == "DPoP"


@pytest.mark.parametrize(
    "cnf",
    [
        {"jkt": "{other}"},
        {"jwk": {"kty": "EC"}},  # RFC 7800 §3.2: a key this server cannot check
        {"jkt": "{proven}", "kid": "k"},
        "not an object",
    ],
)
def test_a_subject_jwt_with_a_binding_not_proven_is_refused(
    server: TokenServer, cnf: object
) -> None:
    if isinstance(cnf, dict):
        keys = {"{other}": jkt_of(OTHER_EC_KEY), "{proven}": jkt_of(ED_KEY)}
        cnf = {n: keys.get(v, v) if isinstance(v, str) else v for n, v in cnf.items()}
    proof = dpop_proof(ED_KEY, "POST", server.generic_token_url, alg="EdDSA")
    reply = exchange(
        server,
        grant(server, cnf=cnf),
        subject_type=JWT_TYPE,
        headers=[("DPoP", proof)],
    )
    assert (reply.status, reply.error) == (400, "invalid_request"), reply.data
    assert reasons(server) == [("subject_token", "binding")]


def test_a_subject_jwt_bound_to_a_key_is_exchanged_with_its_proof(
    server: TokenServer,
) -> None:
    subject = grant(server, cnf={"jkt": jkt_of(ED_KEY)})
    proof = dpop_proof(ED_KEY, "POST", server.generic_token_url, alg="EdDSA")
    reply = exchange(server, subject, subject_type=JWT_TYPE, headers=[("DPoP", proof)])
    assert claims_of(server, reply)["cnf"] == {"jkt": jkt_of(ED_KEY)}
    # No cnf members: nothing to prove.
    reply = exchange(server, grant(server, cnf={}), subject_type=JWT_TYPE)
    assert reply.status == 200, reply.data


# -- resource indicators -----------------------------------------------------------


def secret_fields(server: TokenServer, **more: str) -> list[tuple[str, str]]:
    creds = server.credentials
    return [
        ("client_id", creds.generic_client_id),
        ("client_secret", creds.generic_client_secret),
        *more.items(),
    ]


def test_resources_become_the_audience(server: TokenServer) -> None:
    one = send(
        server.generic_token_url,
        [
            ("grant_type", "client_credentials"),
            ("resource", "https://a.example/api"),
            *secret_fields(server),
        ],
    )
    assert claims_of(server, one)["aud"] == "https://a.example/api"
    two = send(
        server.generic_token_url,
        [
            ("grant_type", "client_credentials"),
            ("resource", "https://a.example/api"),
            ("resource", "urn:example:b"),
            ("resource", "https://a.example/api"),
            *secret_fields(server),
        ],
    )
    assert claims_of(server, two)["aud"] == ["https://a.example/api", "urn:example:b"]
    plain = send(
        server.generic_token_url,
        [("grant_type", "client_credentials"), *secret_fields(server)],
    )
    assert "aud" not in claims_of(server, plain)
    # Other parameters still may not repeat (RFC 6749 §3.2).
    reply = send(
        server.generic_token_url,
        [
            ("grant_type", "client_credentials"),
            ("scope", "a"),
            ("scope", "b"),
            *secret_fields(server),
        ],
    )
    assert (reply.status, reply.error) == (400, "invalid_request")


def test_the_resource_takes_a_token_only_if_its_aud_names_it(
    server: TokenServer,
) -> None:
    # RFC 8707 §2, RFC 9068 §4: a resource server refuses a token whose aud
    # does not name it.
    url = server.resource_url

    def token_for(*resources: str) -> str:
        reply = send(
            server.generic_token_url,
            [
                ("grant_type", "client_credentials"),
                *(("resource", resource) for resource in resources),
                *secret_fields(server),
            ],
        )
        assert reply.status == 200, reply.data
        return str(reply.data["access_token"])

    port = url.split(":")[2].split("/")[0]
    resources: tuple[str, ...]
    for resources in (
        ("https://billing.other.example/",),
        ("https://billing.other.example/", "urn:example:b"),
        ("urn:example:orders-api",),  # a logical name is no URL of it
        (url + "/",),  # below the resource, not it
        (url[: -len("/resource")] + "/res",),  # a prefix, not on a boundary
        (url.replace(port, str(int(port) + 1 if int(port) < 65535 else 1)),),
        (url.replace("http://", "https://"),),
        (url + "?tenant=a",),
        (url.replace("127.0.0.1", "127.0.0.2"),),
        (url.replace("http://", "http://user@"),),
    ):
        server.clear()
        reply = get_resource(server, f"Bearer {token_for(*resources)}")
        assert (reply.status, reply.error) == (401, "invalid_token"), resources
        assert reply.header("WWW-Authenticate") == (
            'Bearer realm="sansio-auth", error="invalid_token", '
            'error_description="the access token\'s aud does not name this resource"'
        )
        assert reasons(server) == [("access_token", "aud")]
    for resources in (
        (url,),
        ("https://billing.other.example/", url),
        (),
        # RFC 8707 §2 recommends the API's base URI: a parent on a path
        # boundary names the resource.
        (server.url,),
        (server.url + "/",),
        (url[: -len("/resource")],),
        (url[: -len("resource")],),
        # Any name that reaches this server, any case of the scheme.
        (url.replace("127.0.0.1", "localhost"),),
        (url.replace("http://", "HTTP://"),),
    ):
        reply = get_resource(server, f"Bearer {token_for(*resources)}")
        assert reply.status == 200, (resources, reply.data)
    # The URL the request went to names it too.
    local = url.replace("127.0.0.1", "localhost")
    token = token_for(local)
    reply = send(local, None, [("Authorization", f"Bearer {token}")], method="GET")
    assert reply.status == 200, reply.data
    # A DPoP-bound token for another resource: refused, with a DPoP challenge.
    proof = dpop_proof(EC_KEY, "POST", server.generic_token_url)
    reply = send(
        server.generic_token_url,
        [
            ("grant_type", "client_credentials"),
            ("resource", "https://billing.other.example/"),
            *secret_fields(server),
        ],
        [("DPoP", proof)],
    )
    token = str(reply.data["access_token"])
    server.clear()
    proof = dpop_proof(EC_KEY, "GET", url, ath=ath(token))
    reply = get_resource(server, f"DPoP {token}", proof)
    assert (reply.status, reply.error) == (401, "invalid_token")
    assert (reply.header("WWW-Authenticate") or "").startswith(
        'DPoP error="invalid_token"'
    )
    assert reasons(server) == [("access_token", "aud")]


@pytest.mark.parametrize(
    "resource",
    [
        "/api",
        "api.example",
        "https://a.example/api#frag",
        "",
        "https://a.example/a b",
        "1http://x",
    ],
)
def test_a_resource_must_be_an_absolute_uri_without_fragment(
    server: TokenServer, resource: str
) -> None:
    reply = send(
        server.generic_token_url,
        [
            ("grant_type", "client_credentials"),
            ("resource", resource),
            *secret_fields(server),
        ],
    )
    assert (reply.status, reply.error) == (400, "invalid_target")


def test_a_refresh_may_narrow_the_resources_never_widen(server: TokenServer) -> None:
    creds = server.credentials
    first = send(
        server.generic_token_url,
        [
            ("grant_type", "password"),
            ("username", creds.generic_username),
            ("password", creds.generic_password),
            ("resource", "https://a.example"),
            ("resource", "https://b.example"),
            *secret_fields(server),
        ],
    )
    assert claims_of(server, first)["aud"] == ["https://a.example", "https://b.example"]
    refresh = first.data["refresh_token"]
    narrowed = send(
        server.generic_token_url,
        [
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh),
            ("resource", "https://b.example"),
            *secret_fields(server),
        ],
    )
    assert claims_of(server, narrowed)["aud"] == "https://b.example"
    # The new refresh token keeps the whole grant.
    whole = send(
        server.generic_token_url,
        [
            ("grant_type", "refresh_token"),
            ("refresh_token", narrowed.data["refresh_token"]),
            *secret_fields(server),
        ],
    )
    assert claims_of(server, whole)["aud"] == ["https://a.example", "https://b.example"]
    widened = send(
        server.generic_token_url,
        [
            ("grant_type", "refresh_token"),
            ("refresh_token", whole.data["refresh_token"]),
            ("resource", "https://c.example"),
            *secret_fields(server),
        ],
    )
    assert (widened.status, widened.error) == (400, "invalid_target")


def test_a_refresh_refused_for_its_client_or_resource_leaves_the_token(
    server: TokenServer,
) -> None:
    creds = server.credentials
    first = send(
        server.generic_token_url,
        [
            ("grant_type", "password"),
            ("username", creds.generic_username),
            ("password", creds.generic_password),
            ("resource", "https://a.example"),
            *secret_fields(server),
        ],
    )
    refresh = [
        ("grant_type", "refresh_token"),
        ("refresh_token", first.data["refresh_token"]),
    ]
    other_client = [("client_id", "both-client"), ("client_secret", BOTH_SECRET)]
    reply = send(server.generic_token_url, [*refresh, *other_client])
    assert (reply.status, reply.error) == (400, "invalid_grant")
    wrong_resource = [("resource", "https://c.example"), *secret_fields(server)]
    reply = send(server.generic_token_url, [*refresh, *wrong_resource])
    assert (reply.status, reply.error) == (400, "invalid_target")
    # Neither used the owner's token up: its refresh is no replay.
    reply = send(server.generic_token_url, [*refresh, *secret_fields(server)])
    assert claims_of(server, reply)["aud"] == "https://a.example"
    assert server.refresh_replays == 0


# -- DPoP at the token endpoint ------------------------------------------------------


def dpop_token_request(
    server: TokenServer, proof: str | None, *more: tuple[str, str]
) -> Reply:
    headers = [] if proof is None else [("DPoP", proof)]
    return send(
        server.generic_token_url,
        [("grant_type", "client_credentials"), *secret_fields(server)],
        [*headers, *more],
    )


@pytest.mark.parametrize("alg", ["RS256", "PS256", "ES256", "EdDSA"])
def test_a_dpop_proof_binds_the_token_to_its_key(server: TokenServer, alg: str) -> None:
    key = KEYS[alg]
    reply = dpop_token_request(
        server, dpop_proof(key, "POST", server.generic_token_url, alg=alg)
    )
    claims = claims_of(server, reply)
    assert reply.data["token_type"] == "DPoP"
    assert claims["cnf"] == {"jkt": jkt_of(key)}
    assert reply.header("DPoP-Nonce") is None  # nonces are off
    assert server.dpop_nonce is None


@pytest.mark.parametrize(
    "typ", ["dpop+jwt", "DPoP+JWT", "application/dpop+jwt", "Application/DPoP+JWT"]
)
def test_a_proof_typ_is_a_media_type(server: TokenServer, typ: str) -> None:
    # RFC 7515 §4.1.9: a media type, whose case does not count, and a value
    # without "/" stands for "application/" and it (RFC 9449 §4.3 item 4).
    proof = dpop_proof(EC_KEY, "POST", server.generic_token_url, typ=typ)
    reply = dpop_token_request(server, proof)
    assert reply.status == 200, reply.data


def test_htu_is_compared_after_normalisation(server: TokenServer) -> None:
    url = server.generic_token_url.replace("http://", "HTTP://").replace(
        "/oauth/", "/%6fauth/"
    )
    reply = dpop_token_request(server, dpop_proof(EC_KEY, "POST", url))
    assert reply.status == 200, reply.data


def test_htu_is_the_url_the_request_went_to(server: TokenServer) -> None:
    # Sent to localhost: the Host header says so, and the proof must too.
    url = server.generic_token_url.replace("127.0.0.1", "localhost")
    fields = [("grant_type", "client_credentials"), *secret_fields(server)]
    reply = send(url, fields, [("DPoP", dpop_proof(EC_KEY, "POST", url))])
    assert reply.status == 200, reply.data
    # The same proof's twin sent to 127.0.0.1 is for another URL.
    reply = dpop_token_request(server, dpop_proof(EC_KEY, "POST", url))
    assert (reply.status, reply.error) == (400, "invalid_dpop_proof")
    assert reasons(server) == [("dpop_proof", "htu")]


def test_the_host_header_must_name_this_server(server: TokenServer) -> None:
    port = server.port
    fields = [("grant_type", "client_credentials"), *secret_fields(server)]

    def with_host(host: str) -> Reply:
        proof = dpop_proof(EC_KEY, "POST", f"http://{host}/oauth/token")
        return send(server.generic_token_url, fields, [("Host", host), ("DPoP", proof)])

    # The names a server on 127.0.0.1 is reached by, with its port.
    for host in (f"127.0.0.1:{port}", f"localhost:{port}", f"LocalHost:{port}"):
        reply = with_host(host)
        assert reply.status == 200, (host, reply.data)
    # A proof for another server is refused, though the Host says that
    # server: the Host is checked against the server's own address.
    for host in (
        "other-as.example",
        f"other-as.example:{port}",
        "127.0.0.1",  # port 80
        f"127.0.0.1:{port + 1 if port < 65535 else 1}",
        f"127.0.0.2:{port}",
        f"[::1]:{port}",  # it listens on IPv4
        f"user@127.0.0.1:{port}",
        "127.0.0.1:not-a-port",
        f"127.0.0.1:{port}/elsewhere",  # its path is not the request's
    ):
        reply = with_host(host)
        assert (reply.status, reply.error) == (400, "invalid_dpop_proof"), host
    assert reasons(server) == [("dpop_proof", "htu")] * 9
    # At the resource too.
    token = dpop_access_token(server)
    host = f"other-as.example:{port}"
    proof = dpop_proof(EC_KEY, "GET", f"http://{host}/api/resource", ath=ath(token))
    reply = send(
        server.resource_url,
        None,
        [("Host", host), ("Authorization", f"DPoP {token}"), ("DPoP", proof)],
        method="GET",
    )
    assert (reply.status, reply.error) == (401, "invalid_dpop_proof")
    assert reasons(server)[-1] == ("dpop_proof", "htu")


def test_a_server_on_ipv6_loopback_is_reached_by_its_names() -> None:
    with TokenServer(host="::1") as server:
        port = server.port
        fields = [("grant_type", "client_credentials"), *secret_fields(server)]
        for host, status in (
            (f"[::1]:{port}", 200),
            (f"localhost:{port}", 200),
            (f"127.0.0.1:{port}", 400),
        ):
            proof = dpop_proof(EC_KEY, "POST", f"http://{host}/oauth/token")
            reply = send(
                server.generic_token_url, fields, [("Host", host), ("DPoP", proof)]
            )
            assert reply.status == status, (host, reply.data)


def _dpop_refused(
    server: TokenServer, proof: str | None, reason: str, *more: tuple[str, str]
) -> None:
    reply = dpop_token_request(server, proof, *more)
    assert (reply.status, reply.error) == (400, "invalid_dpop_proof"), reply.data
    assert reasons(server)[-1] == ("dpop_proof", reason)


def test_dpop_proof_refusals(server: TokenServer) -> None:
    url = server.generic_token_url
    now = int(time.time())
    public = public_jwk(EC_KEY)
    cases: list[tuple[str, str]] = [
        (dpop_proof(EC_KEY, "POST", url, typ="JWT"), "typ"),
        (dpop_proof(EC_KEY, "POST", url, typ=None), "typ"),
        (dpop_proof(EC_KEY, "POST", url, typ="text/dpop+jwt"), "typ"),
        (dpop_proof(EC_KEY, "POST", url, typ="application/jwt"), "typ"),
        (dpop_proof(EC_KEY, "POST", url, typ=["dpop+jwt"]), "typ"),
        (dpop_proof(EC_KEY, "POST", url, alg="none"), "alg"),
        (dpop_proof(EC_KEY, "POST", url, alg="HS256", signer=b"k"), "alg"),
        (dpop_proof(EC_KEY, "POST", url, alg="RS256", signer=RSA_KEY), "alg"),
        (dpop_proof(EC_KEY, "POST", url, jwk={**public, "d": "AAAA"}), "jwk"),
        (dpop_proof(EC_KEY, "POST", url, jwk={**public, "alg": "ES384"}), "alg"),
        (dpop_proof(EC_KEY, "POST", url, jwk={**public, "y": public["x"]}), "jwk"),
        (dpop_proof(EC_KEY, "POST", url, jwk={**public, "crv": "P-384"}), "jwk"),
        (dpop_proof(EC_KEY, "POST", url, jwk={"kty": "oct", "k": "AAAA"}), "jwk"),
        (dpop_proof(EC_KEY, "POST", url, jwk="a key"), "jwk"),
        (dpop_proof(EC_KEY, "POST", url, jwk=public_jwk(OTHER_EC_KEY)), "signature"),
        (dpop_proof(EC_KEY, "GET", url), "htm"),
        (dpop_proof(EC_KEY, "post", url), "htm"),
        (dpop_proof(EC_KEY, "POST", server.resource_url), "htu"),
        (dpop_proof(EC_KEY, "POST", url + "?a=b"), "htu"),
        (dpop_proof(EC_KEY, "POST", url + "#f"), "htu"),
        (dpop_proof(EC_KEY, "POST", url.replace("http:", "https:")), "htu"),
        (dpop_proof(EC_KEY, "POST", url.replace(str(server.port), "1")), "htu"),
        (dpop_proof(EC_KEY, "POST", url.replace("//", "//user@")), "htu"),
        (dpop_proof(EC_KEY, "POST", "ftp://127.0.0.1/oauth/token"), "htu"),
        (dpop_proof(EC_KEY, "POST", url, htu=None), "htu"),
        (dpop_proof(EC_KEY, "POST", url, iat=now - 120), "iat"),
        (dpop_proof(EC_KEY, "POST", url, iat=now + 120), "iat"),
        (dpop_proof(EC_KEY, "POST", url, iat="now"), "iat"),
        (dpop_proof(EC_KEY, "POST", url, jti=None), "jti"),
        (dpop_proof(EC_KEY, "POST", url, jti=7), "jti"),
        ("not a proof", "malformed"),
    ]
    for proof, reason in cases:
        _dpop_refused(server, proof, reason)
    ok = dpop_proof(EC_KEY, "POST", url)
    _dpop_refused(server, ok, "header", ("DPoP", ok))
    assert dpop_token_request(server, ok).status == 200  # not used up by that


@pytest.mark.parametrize(
    "spoil",
    [
        lambda url: url[:-2] + "\t" + url[-2:],  # urlsplit deletes tabs,
        lambda url: url + "\n",  # CR and LF anywhere,
        lambda url: url.replace("127.0.0.1", "127.0.\r\n0.1"),
        lambda url: " " + url,  # and strips leading spaces and controls
        lambda url: "\x00\x01" + url,
        lambda url: "\t" + url,
    ],
    ids=["tab", "lf", "crlf-in-host", "space", "c0", "leading-tab"],
)
def test_an_htu_with_characters_no_uri_has_is_refused(
    server: TokenServer, spoil: Any
) -> None:
    # RFC 3986 §2: no whitespace or control character is in a URI, and the
    # normalisation of RFC 9449 §4.3 item 9 deletes none: such an htu is
    # not the request's URL, though urlsplit reads it as that URL.
    url, resource = server.generic_token_url, server.resource_url
    _dpop_refused(server, dpop_proof(EC_KEY, "POST", url, htu=spoil(url)), "htu")
    token = dpop_access_token(server)
    proof = dpop_proof(EC_KEY, "GET", resource, ath=ath(token), htu=spoil(resource))
    reply = get_resource(server, f"DPoP {token}", proof)
    assert (reply.status, reply.error) == (401, "invalid_dpop_proof")
    assert reasons(server)[-1] == ("dpop_proof", "htu")
    proof = dpop_proof(EC_KEY, "GET", resource, ath=ath(token))
    assert get_resource(server, f"DPoP {token}", proof).status == 200


def stray_bits(value: str) -> str:
    """*value*, base64url, with an unused bit of its last character set: the
    same bytes, written another way."""
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    assert len(value) % 4 in (2, 3)
    return value[:-1] + alphabet[alphabet.index(value[-1]) ^ 1]


def non_canonical_jwks() -> list[tuple[str, Key, dict[str, str]]]:
    """Each key's JWK written another way than RFC 7518 allows, by one
    member: its thumbprint would be another than the key's."""
    rsa_jwk, ec_jwk, ed_jwk = (
        public_jwk(RSA_KEY),
        public_jwk(EC_KEY),
        public_jwk(ED_KEY),
    )
    n, e = (base64.urlsafe_b64decode(rsa_jwk[m] + "==") for m in ("n", "e"))
    x, y = (base64.urlsafe_b64decode(ec_jwk[m] + "==") for m in ("x", "y"))
    ed_x = base64.urlsafe_b64decode(ed_jwk["x"] + "==")
    return [
        ("RS256", RSA_KEY, {**rsa_jwk, "e": b64(b"\0" + e)}),  # leading zero
        ("RS256", RSA_KEY, {**rsa_jwk, "n": b64(b"\0" + n)}),
        ("RS256", RSA_KEY, {**rsa_jwk, "e": ""}),  # zero
        ("RS256", RSA_KEY, {**rsa_jwk, "e": "AA"}),  # zero, one octet
        ("RS256", RSA_KEY, {**rsa_jwk, "n": stray_bits(rsa_jwk["n"])}),
        ("RS256", RSA_KEY, {**rsa_jwk, "e": "AQAB="}),  # padded
        ("ES256", EC_KEY, {**ec_jwk, "x": b64(b"\0" + x)}),  # 33 bytes
        ("ES256", EC_KEY, {**ec_jwk, "y": b64(y[1:])}),  # 31 bytes
        ("ES256", EC_KEY, {**ec_jwk, "y": stray_bits(ec_jwk["y"])}),
        ("EdDSA", ED_KEY, {**ed_jwk, "x": b64(b"\0" + ed_x)}),
        ("EdDSA", ED_KEY, {**ed_jwk, "x": stray_bits(ed_jwk["x"])}),
    ]


def test_a_jwk_written_another_way_than_rfc_7518_allows_is_refused(
    server: TokenServer,
) -> None:
    url = server.generic_token_url
    for alg, key, jwk in non_canonical_jwks():
        _dpop_refused(server, dpop_proof(key, "POST", url, alg=alg, jwk=jwk), "jwk")
    # Written canonically, each key is taken, and bound to its thumbprint.
    for alg, key in (("RS256", RSA_KEY), ("ES256", EC_KEY), ("EdDSA", ED_KEY)):
        reply = dpop_token_request(server, dpop_proof(key, "POST", url, alg=alg))
        assert claims_of(server, reply)["cnf"] == {"jkt": jkt_of(key)}


def test_a_thumbprint_is_of_the_one_way_a_key_is_written() -> None:
    for key in (RSA_KEY, EC_KEY, ED_KEY):
        assert _jose.jwk_thumbprint(public_jwk(key)) == jkt_of(key)
    for _, _, jwk in non_canonical_jwks():
        with pytest.raises(_jose.Invalid) as refused:
            _jose.jwk_thumbprint(jwk)
        assert refused.value.reason == "jwk"
    # An EC key on Ed25519's curve, an OKP key on P-256's.
    for kty, crv in (("EC", "Ed25519"), ("OKP", "P-256")):
        with pytest.raises(_jose.Invalid):
            _jose.jwk_thumbprint({**public_jwk(EC_KEY), "kty": kty, "crv": crv})


P25519 = 2**255 - 19
D25519 = -121665 * pow(121666, -1, P25519) % P25519


def sqrt_25519(a: int) -> int | None:
    """A square root of *a* mod P25519 (p = 5 mod 8), or None."""
    root = pow(a, (P25519 + 3) // 8, P25519)
    for candidate in (root, root * pow(2, (P25519 - 1) // 4, P25519) % P25519):
        if candidate * candidate % P25519 == a % P25519:
            return candidate
    return None


def small_order_ed25519() -> list[bytes]:
    """Every 32-byte Ed25519 public key of small order, as libsodium's
    blocklist has them, derived here from the curve -x² + y² = 1 + dx²y².

    The points of order 1, 2 and 4 have y 1, -1 and 0. One of order 8
    doubles to one of order 4, whose y is 0, so its y² = -x²; the curve
    then gives dx⁴ - 2x² - 1 = 0, x² = (1 ± sqrt(1 + d)) / d. p and p + 1
    are 0 and 1 written the non-canonical way. Each y with either sign
    bit of x (a sign for x = 0 is non-canonical too).
    """
    p, d = P25519, D25519
    ys = [0, 1, p - 1, p, p + 1]
    root = sqrt_25519(1 + d)
    assert root is not None
    for x2 in ((1 + root) * pow(d, -1, p) % p, (1 - root) * pow(d, -1, p) % p):
        y = sqrt_25519(-x2)
        if sqrt_25519(x2) is not None and y is not None:
            ys += [y, p - y]
    assert len(ys) == 7  # two y for the four points of order 8
    return [(y | sign << 255).to_bytes(32, "little") for y in ys for sign in (0, 1)]


def test_an_ed25519_key_of_small_order_is_refused(server: TokenServer) -> None:
    # Its signatures verify for any message without a private key (the
    # identity's: R the identity, S zero), so the binding a proof makes
    # would be anyone's. Refused as a proof's jwk and as a registered key.
    identity = (1).to_bytes(32, "little")
    forged = b64(identity + bytes(32))
    url = server.generic_token_url
    keys = small_order_ed25519()
    assert len(set(keys)) == 14
    for raw in keys:
        jwk = {"kty": "OKP", "crv": "Ed25519", "x": b64(raw)}
        header = encode({"typ": "dpop+jwt", "alg": "EdDSA", "jwk": jwk})
        claims = encode(
            {"jti": fresh_jti(), "htm": "POST", "htu": url, "iat": int(time.time())}
        )
        _dpop_refused(server, f"{header}.{claims}.{forged}", "jwk")
        key = ed25519.Ed25519PublicKey.from_public_bytes(raw)
        with pytest.raises(ValueError, match="small order"):
            RegisteredClient(client_id="a", public_key=key)
    # An Ed25519 key of large order is taken.
    RegisteredClient(client_id="a", public_key=ED_KEY.public_key())


def test_a_dpop_proof_is_good_once(server: TokenServer) -> None:
    proof = dpop_proof(EC_KEY, "POST", server.generic_token_url)
    assert dpop_token_request(server, proof).status == 200
    _dpop_refused(server, proof, "replay")
    # The same jti under another key is that key's own.
    again = json.loads(base64.urlsafe_b64decode(proof.split(".")[1] + "=="))
    other = dpop_proof(
        ED_KEY, "POST", server.generic_token_url, alg="EdDSA", jti=again["jti"]
    )
    assert dpop_token_request(server, other).status == 200


def test_a_client_registered_for_dpop_must_send_a_proof(server: TokenServer) -> None:
    token = assertion("dpop-client", server.issuer, EC_KEY)
    reply = send(server.generic_token_url, jwt_fields(token))
    assert (reply.status, reply.error) == (400, "invalid_dpop_proof")
    assert reasons(server) == [("dpop_proof", "missing")]
    token = assertion("dpop-client", server.issuer, EC_KEY)
    proof = dpop_proof(ED_KEY, "POST", server.generic_token_url, alg="EdDSA")
    reply = send(server.generic_token_url, jwt_fields(token), [("DPoP", proof)])
    assert claims_of(server, reply)["cnf"] == {"jkt": jkt_of(ED_KEY)}


def test_nonces_are_challenged_counted_and_rotated(nonce_server: TokenServer) -> None:
    server = nonce_server
    url = server.generic_token_url
    reply = dpop_token_request(server, dpop_proof(EC_KEY, "POST", url))
    assert (reply.status, reply.error) == (400, "use_dpop_nonce")
    nonce = reply.header("DPoP-Nonce")
    assert nonce is not None
    assert nonce == server.dpop_nonce
    assert server.dpop_nonce_challenges == 1
    assert server.rejections == [
        Rejection(
            endpoint="generic",
            kind="dpop_proof",
            reason="nonce",
            received_at=server.rejections[0].received_at,
        )
    ]
    # A wrong nonce is challenged the same.
    reply = dpop_token_request(server, dpop_proof(EC_KEY, "POST", url, nonce="guess"))
    assert (reply.status, reply.error) == (400, "use_dpop_nonce")
    reply = dpop_token_request(server, dpop_proof(EC_KEY, "POST", url, nonce=nonce))
    assert reply.status == 200
    assert reply.header("DPoP-Nonce") == nonce  # every answer carries it
    # Rotated: the old one is refused, the new one taken.
    new = server.rotate_dpop_nonce()
    assert new != nonce
    assert new == server.dpop_nonce
    reply = dpop_token_request(server, dpop_proof(EC_KEY, "POST", url, nonce=nonce))
    assert reply.header("DPoP-Nonce") == new
    assert reply.error == "use_dpop_nonce"
    assert (
        dpop_token_request(server, dpop_proof(EC_KEY, "POST", url, nonce=new)).status
        == 200
    )
    assert server.dpop_nonce_challenges == 3
    # A proof refused for its nonce is used up: send a new one.
    proof = dpop_proof(EC_KEY, "POST", url)
    assert dpop_token_request(server, proof).error == "use_dpop_nonce"
    assert dpop_token_request(server, proof).error == "invalid_dpop_proof"
    assert reasons(server)[-1] == ("dpop_proof", "replay")
    server.clear()
    assert server.dpop_nonce_challenges == 0


def test_nonce_challenge_comes_before_the_client_assertion_is_used(
    nonce_server: TokenServer,
) -> None:
    server = nonce_server
    token = assertion("ec-client", server.issuer, EC_KEY)
    proof = dpop_proof(EC_KEY, "POST", server.generic_token_url)
    reply = send(server.generic_token_url, jwt_fields(token), [("DPoP", proof)])
    assert reply.error == "use_dpop_nonce"
    proof = dpop_proof(
        EC_KEY, "POST", server.generic_token_url, nonce=reply.header("DPoP-Nonce")
    )
    reply = send(server.generic_token_url, jwt_fields(token), [("DPoP", proof)])
    assert reply.status == 200, reply.data  # the same assertion, once used


def test_rotate_dpop_nonce_needs_nonces_on(server: TokenServer) -> None:
    with pytest.raises(RuntimeError, match="dpop_nonce=True"):
        server.rotate_dpop_nonce()


def dpop_refresh_token(server: TokenServer, key: Key, alg: str = "ES256") -> str:
    creds = server.credentials
    reply = send(
        server.generic_token_url,
        [
            ("grant_type", "password"),
            ("username", creds.generic_username),
            ("password", creds.generic_password),
            *secret_fields(server),
        ],
        [("DPoP", dpop_proof(key, "POST", server.generic_token_url, alg=alg))],
    )
    assert reply.data["token_type"] == "DPoP"
    return str(reply.data["refresh_token"])


def test_a_dpop_bound_refresh_token_needs_the_same_key(server: TokenServer) -> None:
    refresh = dpop_refresh_token(server, EC_KEY)
    fields = [
        ("grant_type", "refresh_token"),
        ("refresh_token", refresh),
        *secret_fields(server),
    ]
    reply = send(server.generic_token_url, fields)
    assert (reply.status, reply.error) == (400, "invalid_dpop_proof")
    other = dpop_proof(OTHER_EC_KEY, "POST", server.generic_token_url)
    reply = send(server.generic_token_url, fields, [("DPoP", other)])
    assert (reply.status, reply.error) == (400, "invalid_dpop_proof")
    assert reasons(server) == [("dpop_proof", "missing"), ("dpop_proof", "jkt")]
    # Neither used the token up: with the key, it rotates.
    same = dpop_proof(EC_KEY, "POST", server.generic_token_url)
    reply = send(server.generic_token_url, fields, [("DPoP", same)])
    assert claims_of(server, reply)["cnf"] == {"jkt": jkt_of(EC_KEY)}
    assert server.refresh_replays == 0


# -- DPoP at the resource -------------------------------------------------------------


def dpop_access_token(server: TokenServer, key: Key = EC_KEY) -> str:
    headers = [
        (
            "DPoP",
            dpop_proof(key, "POST", server.generic_token_url, nonce=server.dpop_nonce),
        )
    ]
    reply = dpop_token_request(server, None, *headers)
    assert reply.data["token_type"] == "DPoP", reply.data
    return str(reply.data["access_token"])


def get_resource(
    server: TokenServer,
    authorization: str,
    proof: str | None = None,
    method: str = "GET",
) -> Reply:
    headers = [("Authorization", authorization)]
    if proof is not None:
        headers.append(("DPoP", proof))
    return send(server.resource_url, None, headers, method=method)


def test_a_dpop_token_is_taken_with_a_proof_of_its_key(server: TokenServer) -> None:
    token = dpop_access_token(server)
    for method in ("GET", "POST", "PUT"):
        proof = dpop_proof(EC_KEY, method, server.resource_url, ath=ath(token))
        reply = get_resource(server, f"DPoP {token}", proof, method)
        assert reply.status == 200, reply.data
        assert reply.data["method"] == method


def test_a_dpop_token_as_bearer_is_refused(server: TokenServer) -> None:
    token = dpop_access_token(server)
    reply = get_resource(server, f"Bearer {token}")
    assert (reply.status, reply.error) == (401, "invalid_token")
    assert (reply.header("WWW-Authenticate") or "").startswith(
        'Bearer realm="sansio-auth", error="invalid_token"'
    )
    assert reasons(server) == [("access_token", "scheme")]
    # And a bearer token with the DPoP scheme.
    bearer = dpop_token_request(server, None).data["access_token"]
    proof = dpop_proof(EC_KEY, "GET", server.resource_url, ath=ath(bearer))
    reply = get_resource(server, f"DPoP {bearer}", proof)
    assert (reply.status, reply.error) == (401, "invalid_token")
    assert (reply.header("WWW-Authenticate") or "").startswith(
        'DPoP error="invalid_token"'
    )


def test_resource_proof_refusals(server: TokenServer) -> None:
    token = dpop_access_token(server)
    url = server.resource_url
    cases: list[tuple[str | None, str]] = [
        (None, "missing"),
        (dpop_proof(EC_KEY, "GET", url), "ath"),  # no ath
        (dpop_proof(EC_KEY, "GET", url, ath=ath(token + "x")), "ath"),
        (dpop_proof(OTHER_EC_KEY, "GET", url, ath=ath(token)), "jkt"),
        (dpop_proof(EC_KEY, "POST", url, ath=ath(token)), "htm"),
        (dpop_proof(EC_KEY, "GET", server.generic_token_url, ath=ath(token)), "htu"),
        (
            dpop_proof(EC_KEY, "GET", url, ath=ath(token), iat=int(time.time()) - 300),
            "iat",
        ),
    ]
    for proof, reason in cases:
        reply = get_resource(server, f"DPoP {token}", proof)
        assert (reply.status, reply.error) == (401, "invalid_dpop_proof"), reason
        challenge = reply.header("WWW-Authenticate") or ""
        assert challenge.startswith('DPoP error="invalid_dpop_proof"')
        assert 'algs="RS256 PS256 ES256 EdDSA"' in challenge
        assert reasons(server)[-1] == ("dpop_proof", reason)
    proof = dpop_proof(EC_KEY, "GET", url, ath=ath(token))
    assert get_resource(server, f"DPoP {token}", proof).status == 200
    reply = get_resource(server, f"DPoP {token}", proof)
    assert reply.error == "invalid_dpop_proof"
    assert reasons(server)[-1] == ("dpop_proof", "replay")


def test_an_invalid_token_with_the_dpop_scheme_gets_a_dpop_challenge(
    server: TokenServer,
) -> None:
    reply = get_resource(
        server, "DPoP not-ours", dpop_proof(EC_KEY, "GET", server.resource_url)
    )
    assert (reply.status, reply.error) == (401, "invalid_token")
    assert (reply.header("WWW-Authenticate") or "").startswith(
        'DPoP error="invalid_token"'
    )


def test_the_resource_challenges_for_its_nonce(nonce_server: TokenServer) -> None:
    server = nonce_server
    token = dpop_access_token(server)
    challenges = server.dpop_nonce_challenges
    server.rotate_dpop_nonce()
    stale = dpop_proof(EC_KEY, "GET", server.resource_url, ath=ath(token))
    reply = get_resource(server, f"DPoP {token}", stale)
    assert (reply.status, reply.error) == (401, "use_dpop_nonce")
    assert (reply.header("WWW-Authenticate") or "").startswith(
        'DPoP error="use_dpop_nonce"'
    )
    nonce = reply.header("DPoP-Nonce")
    assert nonce == server.dpop_nonce
    assert server.dpop_nonce_challenges == challenges + 1
    fresh = dpop_proof(EC_KEY, "GET", server.resource_url, ath=ath(token), nonce=nonce)
    reply = get_resource(server, f"DPoP {token}", fresh)
    assert reply.status == 200
    assert reply.header("DPoP-Nonce") == nonce


# -- mutual TLS ----------------------------------------------------------------------

SERVER_CA = trustme.CA()
CLIENT_CA = trustme.CA()


def issued(
    names: Sequence[x509.GeneralName], common_name: str = "client"
) -> tuple[bytes, bytes]:
    """A client certificate issued by CLIENT_CA with *names* as its SAN."""
    ca_key = serialization.load_pem_private_key(CLIENT_CA.private_key_pem.bytes(), None)
    ca_cert = x509.load_pem_x509_certificate(CLIENT_CA.cert_pem.bytes())
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)]))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName(list(names)), critical=False)
        .add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False
        )
        .sign(ca_key, hashes.SHA256())  # type: ignore[arg-type]
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return cert.public_bytes(serialization.Encoding.PEM), key_pem


SELF_SIGNED = self_signed("self-signed-client")
OTHER_SELF_SIGNED = self_signed("another-self-signed-client")
UNREGISTERED_SELF_SIGNED = self_signed("nobody")
TRUSTME_LEAF = CLIENT_CA.issue_cert(
    "dns-client.example.test", "203.0.113.7", "mail@example.test"
)
DNS_CERT = TRUSTME_LEAF.cert_chain_pems[0].bytes(), TRUSTME_LEAF.private_key_pem.bytes()
URI_CERT = issued([x509.UniformResourceIdentifier("spiffe://example.test/uri-client")])
OTHER_CA_LEAF = trustme.CA().issue_cert("dns-client.example.test")


def subject_of(cert_pem: bytes) -> str:
    return x509.load_pem_x509_certificate(cert_pem).subject.rfc4514_string()


def thumbprint_of(cert_pem: bytes) -> str:
    der = x509.load_pem_x509_certificate(cert_pem).public_bytes(
        serialization.Encoding.DER
    )
    return b64(hashlib.sha256(der).digest())


DNS_SUBJECT = subject_of(DNS_CERT[0])
# trustme's subject: OU=Testing cert #...,O=trustme v...: two RDNs with spaces.
assert DNS_SUBJECT.startswith("OU="), DNS_SUBJECT
assert DNS_SUBJECT.count(",") == 1, DNS_SUBJECT
assert " " in DNS_SUBJECT, DNS_SUBJECT
MTLS_CLIENTS = (
    RegisteredClient(
        client_id="dns-client", tls_client_auth_san_dns="DNS-client.example.test"
    ),
    RegisteredClient(client_id="ip-client", tls_client_auth_san_ip="203.0.113.7"),
    RegisteredClient(
        client_id="mail-client", tls_client_auth_san_email="mail@example.test"
    ),
    RegisteredClient(
        client_id="uri-client",
        tls_client_auth_san_uri="spiffe://example.test/uri-client",
    ),
    RegisteredClient(client_id="dn-client", tls_client_auth_subject_dn=DNS_SUBJECT),
    RegisteredClient(
        client_id="self-client", self_signed_certificate=SELF_SIGNED[0].decode()
    ),
    RegisteredClient(
        client_id="other-self-client", self_signed_certificate=OTHER_SELF_SIGNED[0]
    ),
    RegisteredClient(
        client_id="print-client",
        self_signed_thumbprint=thumbprint_of(UNREGISTERED_SELF_SIGNED[0]),
    ),
    RegisteredClient(
        client_id="self-dns-client",
        tls_client_auth_san_dns="self-signed-client",
        self_signed_certificate=SELF_SIGNED[0],
    ),
    RegisteredClient(
        client_id="lookalike-client", tls_client_auth_subject_dn="CN=self-signed-client"
    ),
    # RFC 4517 distinguishedNameMatch: values compared without case and with
    # runs of spaces as one; types and their order as they are.
    RegisteredClient(
        client_id="dn-case-client",
        tls_client_auth_subject_dn=DNS_SUBJECT.swapcase().replace(" ", "  "),
    ),
    RegisteredClient(
        client_id="dn-order-client",
        tls_client_auth_subject_dn=",".join(reversed(DNS_SUBJECT.split(","))),
    ),
    RegisteredClient(
        client_id="dn-space-client",
        tls_client_auth_subject_dn=DNS_SUBJECT.replace(" ", ""),
    ),
    RegisteredClient(
        client_id="dn-extra-client",
        tls_client_auth_subject_dn=f"CN=dns-client.example.test,{DNS_SUBJECT}",
    ),
    RegisteredClient(
        client_id="dn-type-client",
        tls_client_auth_subject_dn=DNS_SUBJECT.replace("OU=", "CN="),
    ),
)


@pytest.fixture(scope="module")
def tls_server() -> Iterator[TokenServer]:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    SERVER_CA.issue_cert("127.0.0.1").configure_cert(context)
    with TokenServer(
        ssl_context=context,
        client_ca=CLIENT_CA.cert_pem.bytes(),
        credentials=Credentials(clients=(*MTLS_CLIENTS, *CLIENTS)),
    ) as running:
        yield running


def client_context(cert: tuple[bytes, bytes] | None, tmp_path: Path) -> ssl.SSLContext:
    context = ssl.create_default_context()
    SERVER_CA.configure_trust(context)
    if cert is not None:
        path = tmp_path / f"client-{time.time_ns()}.pem"
        path.write_bytes(cert[1] + cert[0])
        context.load_cert_chain(path)
    return context


def mtls(
    server: TokenServer,
    client_id: str,
    cert: tuple[bytes, bytes] | None,
    tmp_path: Path,
    *more: tuple[str, str],
) -> Reply:
    server.clear()
    return send(
        server.generic_token_url,
        [("grant_type", "client_credentials"), ("client_id", client_id), *more],
        context=client_context(cert, tmp_path),
    )


@pytest.mark.parametrize(
    ("client_id", "cert", "method"),
    [
        ("dns-client", DNS_CERT, "tls_client_auth"),
        ("ip-client", DNS_CERT, "tls_client_auth"),
        ("mail-client", DNS_CERT, "tls_client_auth"),
        ("uri-client", URI_CERT, "tls_client_auth"),
        ("dn-client", DNS_CERT, "tls_client_auth"),
        ("dn-case-client", DNS_CERT, "tls_client_auth"),
        ("self-client", SELF_SIGNED, "self_signed_tls_client_auth"),
        ("self-dns-client", SELF_SIGNED, "self_signed_tls_client_auth"),
    ],
)
def test_mtls_client_authentication_binds_the_token_to_the_certificate(
    tls_server: TokenServer,
    tmp_path: Path,
    client_id: str,
    cert: tuple[bytes, bytes],
    method: str,
) -> None:
    reply = mtls(tls_server, client_id, cert, tmp_path)
    claims = claims_of(tls_server, reply)
    assert claims["client_id"] == client_id
    assert claims["cnf"] == {"x5t#S256": thumbprint_of(cert[0])}
    assert reply.data["token_type"] == "Bearer"
    request = tls_server.token_requests("generic")[-1]
    assert request.client_cert is not None
    assert "client_cert" not in repr(request)


@pytest.mark.parametrize(
    ("client_id", "cert", "reason"),
    [
        ("dns-client", None, "missing"),
        ("dns-client", URI_CERT, "mismatch"),  # another name, the same CA
        ("uri-client", DNS_CERT, "mismatch"),  # a certificate without a URI
        ("dn-client", URI_CERT, "mismatch"),
        ("dn-order-client", DNS_CERT, "mismatch"),  # its RDNs in another order
        ("dn-space-client", DNS_CERT, "mismatch"),  # spaces taken out, not runs
        ("dn-extra-client", DNS_CERT, "mismatch"),  # an RDN more
        ("dn-type-client", DNS_CERT, "mismatch"),  # another attribute type
        ("ip-client", URI_CERT, "mismatch"),
        ("mail-client", URI_CERT, "mismatch"),
        ("self-client", OTHER_SELF_SIGNED, "mismatch"),  # trusted, not its own
        ("self-client", DNS_CERT, "mismatch"),
        ("self-dns-client", OTHER_SELF_SIGNED, "issuer"),  # its own CN, no CA
        ("lookalike-client", SELF_SIGNED, "issuer"),  # its DN, self-signed
    ],
)
def test_mtls_refusals(
    tls_server: TokenServer,
    tmp_path: Path,
    client_id: str,
    cert: tuple[bytes, bytes] | None,
    reason: str,
) -> None:
    reply = mtls(tls_server, client_id, cert, tmp_path)
    assert (reply.status, reply.error) == (401, "invalid_client"), reply.data
    assert reasons(tls_server) == [("client_certificate", reason)]


def test_a_certificate_nobody_trusts_ends_the_handshake(
    tls_server: TokenServer, tmp_path: Path
) -> None:
    for cert in (
        UNREGISTERED_SELF_SIGNED,
        (
            OTHER_CA_LEAF.cert_chain_pems[0].bytes(),
            OTHER_CA_LEAF.private_key_pem.bytes(),
        ),
    ):
        with pytest.raises(OSError):  # noqa: PT011 - ssl.SSLError or a reset
            mtls(tls_server, "dns-client", cert, tmp_path)


def test_a_thumbprint_registration_needs_the_context_to_trust_the_certificate(
    tmp_path: Path,
) -> None:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    SERVER_CA.issue_cert("127.0.0.1").configure_cert(context)
    context.load_verify_locations(cadata=UNREGISTERED_SELF_SIGNED[0].decode())
    credentials = Credentials(clients=MTLS_CLIENTS)
    with TokenServer(ssl_context=context, credentials=credentials) as server:
        reply = mtls(server, "print-client", UNREGISTERED_SELF_SIGNED, tmp_path)
        assert claims_of(server, reply)["cnf"] == {
            "x5t#S256": thumbprint_of(UNREGISTERED_SELF_SIGNED[0])
        }
        # Without client_ca, tls_client_auth is refused, not guessed.
        reply = mtls(server, "self-dns-client", OTHER_SELF_SIGNED, tmp_path)
        assert (reply.status, reply.error) == (401, "invalid_client")
        assert reasons(server) == [("client_certificate", "issuer")]


def test_a_certificate_bound_token_needs_its_certificate_at_the_resource(
    tls_server: TokenServer, tmp_path: Path
) -> None:
    token = mtls(tls_server, "dns-client", DNS_CERT, tmp_path).data["access_token"]
    headers = [("Authorization", f"Bearer {token}")]
    url = tls_server.resource_url
    reply = send(
        url, None, headers, method="GET", context=client_context(DNS_CERT, tmp_path)
    )
    assert reply.status == 200
    for cert in (None, URI_CERT):
        reply = send(
            url, None, headers, method="GET", context=client_context(cert, tmp_path)
        )
        assert (reply.status, reply.error) == (401, "invalid_token")
        assert "certificate" in reply.data["error_description"]
    assert reasons(tls_server) == [("access_token", "certificate")] * 2


def test_a_certificate_bound_token_is_exchanged_only_over_its_certificate(
    tls_server: TokenServer, tmp_path: Path
) -> None:
    bound = mtls(tls_server, "dns-client", DNS_CERT, tmp_path).data["access_token"]
    tls_server.clear()
    for cert in (None, URI_CERT):  # no certificate, or the thief's own
        reply = exchange(tls_server, bound, context=client_context(cert, tmp_path))
        assert (reply.status, reply.error) == (400, "invalid_request"), reply.data
    assert reasons(tls_server) == [("subject_token", "binding")] * 2
    # The holder's connection proves it (no client authentication needed),
    # and the new token is bound to the certificate too.
    reply = exchange(tls_server, bound, context=client_context(DNS_CERT, tmp_path))
    claims = claims_of(tls_server, reply)
    assert claims["cnf"] == {"x5t#S256": thumbprint_of(DNS_CERT[0])}
    assert "client_id" not in claims


def test_mtls_and_dpop_bind_one_token_to_both(
    tls_server: TokenServer, tmp_path: Path
) -> None:
    tls_server.clear()
    proof = dpop_proof(EC_KEY, "POST", tls_server.generic_token_url)
    reply = send(
        tls_server.generic_token_url,
        [("grant_type", "client_credentials"), ("client_id", "self-client")],
        [("DPoP", proof)],
        context=client_context(SELF_SIGNED, tmp_path),
    )
    claims = claims_of(tls_server, reply)
    assert claims["cnf"] == {
        "jkt": jkt_of(EC_KEY),
        "x5t#S256": thumbprint_of(SELF_SIGNED[0]),
    }
    token = reply.data["access_token"]
    resource = dpop_proof(EC_KEY, "GET", tls_server.resource_url, ath=ath(token))
    headers = [("Authorization", f"DPoP {token}"), ("DPoP", resource)]
    ok = send(
        tls_server.resource_url,
        None,
        headers,
        method="GET",
        context=client_context(SELF_SIGNED, tmp_path),
    )
    assert ok.status == 200
    resource = dpop_proof(EC_KEY, "GET", tls_server.resource_url, ath=ath(token))
    headers = [("Authorization", f"DPoP {token}"), ("DPoP", resource)]
    bare = send(
        tls_server.resource_url,
        None,
        headers,
        method="GET",
        context=client_context(None, tmp_path),
    )
    assert bare.error == "invalid_token"


def test_client_ca_from_a_path_and_its_mistakes(tmp_path: Path) -> None:
    path = tmp_path / "ca.pem"
    path.write_bytes(CLIENT_CA.cert_pem.bytes())
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    SERVER_CA.issue_cert("127.0.0.1").configure_cert(context)
    server = TokenServer(ssl_context=context, client_ca=path)
    assert len(server.client_cas) == 1
    assert context.verify_mode == ssl.CERT_OPTIONAL
    with pytest.raises(ValueError, match="need ssl_context"):
        TokenServer(client_ca=CLIENT_CA.cert_pem.bytes().decode())
    with pytest.raises(ValueError, match="need ssl_context"):
        TokenServer(credentials=Credentials(clients=MTLS_CLIENTS))
    with pytest.raises(ValueError, match="no PEM certificate"):
        TokenServer(ssl_context=context, client_ca=str(path))  # a str is PEM text
    # A context that requires certificates keeps requiring them.
    strict = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    strict.verify_mode = ssl.CERT_REQUIRED
    TokenServer(ssl_context=strict, client_ca=path)
    assert strict.verify_mode == ssl.CERT_REQUIRED


# -- the guard's memory ----------------------------------------------------------------


class FakeClock:
    def __init__(self, now: float) -> None:
        self.now = now

    def time(self) -> float:
        return self.now


def test_used_ids_go_when_their_time_is_up_soonest_first(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    clock = FakeClock(1000.0)
    monkeypatch.setattr(_guard, "time", clock)
    guard = _guard.Guard(dpop_nonce=False)
    assert guard.first_use("client a", "1", 1100.0)
    assert guard.first_use("client a", "2", 1050.0)  # kept less long, later
    assert guard.first_use("client b", "1", 1200.0)  # another scope's own
    assert not guard.first_use("client a", "1", 1100.0)
    clock.now = 1050.0  # "2" is kept until 1050, not through it
    assert guard.first_use("client a", "2", 1300.0)
    assert not guard.first_use("client a", "1", 1100.0)
    assert guard.kept == 3
    clock.now = 1100.0
    assert guard.first_use("client a", "1", 1150.0)
    assert not guard.first_use("client b", "1", 1200.0)
    clock.now = 1300.0  # every one has gone: none is kept for ever
    assert guard.first_use("client c", "x", 1400.0)
    assert guard.kept == 1


def test_a_use_costs_the_same_however_many_ids_are_kept() -> None:
    # A walk of every id on each use took ~1 ms at 50,000 live ids, under
    # the lock every connection thread waits on.
    guard = _guard.Guard(dpop_nonce=False)
    until = time.time() + 300
    for i in range(30_000):
        assert guard.first_use("client c", f"kept-{i}", until)
    started = time.perf_counter()
    for i in range(2_000):
        assert guard.first_use("client c", f"new-{i}", until)
    assert time.perf_counter() - started < 0.25
    assert guard.kept == 32_000


def test_the_last_rejections_are_kept() -> None:
    guard = _guard.Guard(dpop_nonce=False)
    for i in range(_guard.MAX_REJECTIONS + 5):
        guard.reject("generic", "dpop_proof", f"reason-{i}")
    kept = guard.rejections
    assert len(kept) == _guard.MAX_REJECTIONS == 10_000
    assert kept[0].reason == "reason-5"
    assert kept[-1].reason == f"reason-{_guard.MAX_REJECTIONS + 4}"
    guard.clear()
    assert guard.rejections == []


# -- registrations -------------------------------------------------------------------


def test_registrations_are_checked_when_made() -> None:
    with pytest.raises(ValueError, match="one tls_client_auth field"):
        RegisteredClient(
            client_id="a", tls_client_auth_san_dns="a", tls_client_auth_san_ip="::1"
        )
    with pytest.raises(ValueError, match="at least 2048 bits"):
        RegisteredClient(
            client_id="a",
            public_key=rsa.generate_private_key(public_exponent=65537, key_size=1024),
        )
    with pytest.raises(ValueError, match="P-256"):
        RegisteredClient(
            client_id="a", public_key=ec.generate_private_key(ec.SECP384R1())
        )
    with pytest.raises(TypeError, match="PEM text or a cryptography key"):
        RegisteredClient(client_id="a", public_key=42)
    with pytest.raises(ValueError, match="RSA, EC P-256 or Ed25519"):
        RegisteredClient(client_id="a", public_key=ed448.Ed448PrivateKey.generate())
    with pytest.raises(ValueError, match="not a PEM certificate"):
        RegisteredClient(client_id="a", self_signed_certificate="-----BEGIN nonsense")
    for dn in ("CN=a, O=b", "CN=a ", "client", "=a"):
        # A DN that does not parse would refuse every certificate later, as
        # a mismatch that says nothing of the cause.
        with pytest.raises(ValueError, match="is not an RFC 4514 distinguished"):
            RegisteredClient(client_id="a", tls_client_auth_subject_dn=dn)
    assert RegisteredClient(client_id="a", tls_client_auth_subject_dn="CN=a,O=b")
    with pytest.raises(ValueError, match="one client id twice"):
        Credentials(
            clients=[RegisteredClient(client_id="a"), RegisteredClient(client_id="a")]
        )
    with pytest.raises(TypeError, match="RegisteredClient values"):
        Credentials(clients=["a"])  # type: ignore[list-item]
    with pytest.raises(ValueError, match="one issuer twice"):
        Credentials(issuers=[ISSUERS[0], ISSUERS[0]])
    with pytest.raises(TypeError, match="TrustedIssuer values"):
        Credentials(issuers=["a"])  # type: ignore[list-item]
    # A key in any accepted form: PEM of the public key, of a certificate or
    # of the private key (its public half taken), or an object.
    private_pem = EC_KEY.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    cert_pem = SELF_SIGNED[0]
    for material in (
        pem(EC_KEY),
        pem(EC_KEY).decode(),
        private_pem,
        EC_KEY,
        EC_KEY.public_key(),
        cert_pem,
    ):
        client = RegisteredClient(client_id="a", public_key=material)
        assert client.public_key is not None
    der = x509.load_pem_x509_certificate(cert_pem).public_bytes(
        serialization.Encoding.DER
    )
    assert RegisteredClient(client_id="a", self_signed_certificate=der).thumbprints == {
        thumbprint_of(cert_pem)
    }


def test_secrets_and_keys_stay_out_of_reprs_and_describe() -> None:
    client = RegisteredClient(
        client_id="repr-client",
        client_secret="very-secret-value",
        public_key=EC_KEY,
        self_signed_certificate=SELF_SIGNED[0],
    )
    text = repr(client) + repr(ISSUERS[0])
    assert "very-secret-value" not in text
    assert "BEGIN" not in text
    assert "repr-client" in text
    client = attrs.evolve(client, self_signed_certificate=None)  # TLS aside
    with TokenServer(
        credentials=Credentials(clients=[client], issuers=ISSUERS)
    ) as server:
        shown = describe(server)
    assert "client repr-client" in shown
    assert "issuer https://idp.example.test" in shown
    assert "very-secret-value" not in shown
    assert "clients =" not in shown


def test_the_generic_client_can_be_replaced() -> None:
    creds = Credentials(
        clients=[RegisteredClient(client_id="test-client-id", public_key=EC_KEY)]
    )
    with TokenServer(credentials=creds) as replaced:
        fields = {"grant_type": "client_credentials", **dict(secret_fields(replaced))}
        assert send(replaced.generic_token_url, fields).error == "invalid_client"
        token = assertion("test-client-id", replaced.issuer, EC_KEY)
        assert send(replaced.generic_token_url, jwt_fields(token)).status == 200


BLOCKER = """\
import importlib.abc
import sys


class _NotInstalled(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] == "cryptography":
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None


sys.meta_path.insert(0, _NotInstalled())
"""

WITHOUT_CRYPTOGRAPHY = """
import urllib.error, urllib.parse, urllib.request
from sansio_auth.adapters.server import Credentials, RegisteredClient, TokenServer

with TokenServer() as server:
    creds = server.credentials
    body = urllib.parse.urlencode({
        "grant_type": "client_credentials",
        "client_id": creds.generic_client_id,
        "client_secret": creds.generic_client_secret,
    }).encode()
    with urllib.request.urlopen(server.generic_token_url, body, timeout=10) as answer:
        assert answer.status == 200
    # A proof needs cryptography: a 500 that names the extra.
    proof = "eyJ0eXAiOiJkcG9wK2p3dCIsImFsZyI6IkVTMjU2IiwiandrIjp7fX0.e30.c2ln"
    request = urllib.request.Request(
        server.generic_token_url, body, headers={"DPoP": proof}
    )
    try:
        urllib.request.urlopen(request, timeout=10)
    except urllib.error.HTTPError as error:
        print(error.code, error.read().decode())
try:
    RegisteredClient(client_id="a", public_key="-----BEGIN PUBLIC KEY-----")
except ImportError as error:
    print(error)
"""


def test_without_cryptography_the_server_serves_and_a_key_names_the_extra() -> None:
    done = subprocess.run(
        [sys.executable, "-c", BLOCKER + textwrap.dedent(WITHOUT_CRYPTOGRAPHY)],
        cwd=tempfile.gettempdir(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        stdin=subprocess.DEVNULL,
    )
    assert done.returncode == 0, done.stderr
    answer, error = done.stdout.splitlines()
    assert answer.startswith("500 ")
    assert json.loads(answer[4:])["error"] == "server_error"
    for text in (json.loads(answer[4:])["error_description"], error):
        assert "needs the 'cryptography' package" in text
        assert "pip install 'sansio-auth[jwt]'" in text
