"""Write the byte-exact fixtures of the signed request shapes (issue 14).

Run it from the repository root, once, when a fixture is added or a rule
changes on purpose::

    .venv/bin/python tests/make_signed_fixtures.py

It writes ``tests/fixtures/rfc7523/``, ``rfc8693/``, ``rfc8705/``,
``rfc8707/`` and ``rfc9449/`` (the format is in ``tests/fixtures/README.md``)
WITHOUT the library: each request is written from the rules of RFC 7523,
RFC 8693, RFC 8705, RFC 8707, RFC 9449 and DESIGN.md, the form body by
:func:`urllib.parse.urlencode`, each JWT's header and claims by
:func:`json.dumps` in the order the rules give, its signature by PyJWT's
algorithm objects, over the test-only keys in ``tests/fixtures/keys/``. RS256,
EdDSA and HS256 signatures are deterministic, so a second run writes the same
bytes. ``tests/test_signed_fixtures.py`` then holds the library to these
bytes, and checks every JWT in them against the rules again and with PyJWT's
verifier.
"""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

from cryptography.hazmat.primitives import serialization
from jwt.algorithms import get_default_algorithms

FIXTURES = Path(__file__).resolve().parent / "fixtures"
KEYS = FIXTURES / "keys"
USER_AGENT = "{USER_AGENT}"
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
TOKEN_EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"
ACCESS_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:access_token"
JWT_TYPE = "urn:ietf:params:oauth:token-type:jwt"
ID_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:id_token"
FORM_HEADERS = [
    ["Accept", "application/json"],
    ["Content-Type", "application/x-www-form-urlencoded"],
    ["User-Agent", USER_AGENT],
]
TOKEN_URL = "https://auth.example.com/oauth2/token"
NOW = 1_700_000_000.75  # iat is its whole part
CLIENT_ID = "s6BhdRkqt3"
RSA = "rsa-2048.pem"
ED25519 = "ed25519.pem"
# Fake: the HS256 key is this secret's UTF-8 octets, 32 of them (RFC 7518
# §3.2 asks for a key as long as the hash).
CLIENT_SECRET = "cs-7Fq2-fixture-SECRET-0123456789"


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def segment(value: dict[str, Any]) -> str:
    return b64url(json.dumps(value, separators=(",", ":")).encode("ascii"))


def private_key(name: str) -> Any:
    return serialization.load_pem_private_key((KEYS / name).read_bytes(), None)


def sign(
    header: dict[str, Any], claims: dict[str, Any], key: str | dict[str, str]
) -> str:
    """A compact JWS by PyJWT's algorithm objects, not the library's."""
    algorithm = get_default_algorithms()[header["alg"]]
    signing_input = f"{segment(header)}.{segment(claims)}".encode("ascii")
    if isinstance(key, dict):
        prepared = algorithm.prepare_key(key["secret"].encode("utf-8"))
    else:
        prepared = private_key(key)
    return f"{signing_input.decode()}.{b64url(algorithm.sign(signing_input, prepared))}"


def public_jwk(name: str) -> dict[str, str]:
    """RFC 7517's required members of the key's public half, as RFC 7518
    §6.2.1, §6.3.1 and RFC 8037 §2 spell them (sorted, as the library does)."""
    public = private_key(name).public_key()
    raw = public.public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    )
    return {"crv": "Ed25519", "kty": "OKP", "x": b64url(raw)}


def client_assertion(
    key: str | dict[str, str],
    alg: str,
    *,
    jti: str,
    audience: str = TOKEN_URL,
    kid: str | None = None,
) -> tuple[str, dict[str, Any]]:
    """RFC 7523 §2.2 / OpenID Connect Core §9: iss = sub = client id."""
    header: dict[str, Any] = {"alg": alg, "typ": "JWT"}
    if kid is not None:
        header["kid"] = kid
    claims = {
        "iss": CLIENT_ID,
        "sub": CLIENT_ID,
        "aud": audience,
        "jti": jti,
        "iat": int(NOW),
        "exp": int(NOW) + 60,
    }
    token = sign(header, claims, key)
    return token, {
        "at": "form client_assertion",
        "key": key,
        "header": header,
        "claims": claims,
    }


def dpop_proof(
    key: str,
    *,
    method: str,
    url: str,
    jti: str,
    nonce: str | None = None,
    access_token: str | None = None,
    at: str = "header DPoP",
) -> tuple[str, dict[str, Any]]:
    """RFC 9449 §4.2: typ dpop+jwt, the public key in the header; htu the
    URL without query and fragment; ath base64url(SHA-256(token))."""
    header = {"typ": "dpop+jwt", "alg": "EdDSA", "jwk": public_jwk(key)}
    claims: dict[str, Any] = {
        "jti": jti,
        "htm": method,
        "htu": url.split("#")[0].split("?")[0],
        "iat": int(NOW),
    }
    if nonce is not None:
        claims["nonce"] = nonce
    if access_token is not None:
        digest = hashlib.sha256(access_token.encode("ascii")).digest()
        claims["ath"] = b64url(digest)
    return sign(header, claims, key), {
        "at": at,
        "key": key,
        "header": header,
        "claims": claims,
    }


def form_request(
    fields: list[tuple[str, str]], headers: list[list[str]] | None = None
) -> dict[str, Any]:
    return {
        "method": "POST",
        "url": TOKEN_URL,
        "headers": FORM_HEADERS + (headers or []),
        "body": urlencode(fields),
    }


def basic(client_id: str, secret: str) -> list[str]:
    # RFC 6749 §2.3.1: each form-encoded, then joined and base64-encoded.
    pair = f"{quote(client_id, safe='')}:{quote(secret, safe='')}"
    return ["Authorization", "Basic " + base64.b64encode(pair.encode()).decode()]


def stamp_call(jti: str, **more: Any) -> dict[str, Any]:
    return {"method": "token_request", "stamp": {"now": NOW, "jti": jti}, **more}


def fixtures() -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}

    # -- RFC 7523 §2.2: JWT client authentication ------------------------
    secret_key = {"secret": CLIENT_SECRET}
    token, jwt_ = client_assertion(secret_key, "HS256", jti="jti-hs256-1")
    out["rfc7523/client_secret_jwt"] = {
        "description": "client_secret_jwt: an HS256 assertion keyed by the client "
        "secret's UTF-8 octets; the secret itself is not sent.",
        "flow": {
            "class": "ClientCredentials",
            "kwargs": {
                "token_url": TOKEN_URL,
                "client_id": CLIENT_ID,
                "client_secret": CLIENT_SECRET,
                "auth": "client_secret_jwt",
                "scope": "read write",
            },
        },
        "call": stamp_call("jti-hs256-1"),
        "request": form_request(
            [
                ("grant_type", "client_credentials"),
                ("scope", "read write"),
                ("client_id", CLIENT_ID),
                ("client_assertion_type", ASSERTION_TYPE),
                ("client_assertion", token),
            ]
        ),
        "jwts": [jwt_],
    }

    token, jwt_ = client_assertion(RSA, "RS256", jti="jti-rs256-1", kid="rsa-key-1")
    out["rfc7523/private_key_jwt_rs256"] = {
        "description": "private_key_jwt with an RSA key: RS256, the kid in the "
        "header, aud the token URL, exp 60 s after iat.",
        "flow": {
            "class": "ClientCredentials",
            "kwargs": {
                "token_url": TOKEN_URL,
                "client_id": CLIENT_ID,
                "auth": "private_key_jwt",
                "private_key": {"pem": RSA},
                "key_id": "rsa-key-1",
            },
        },
        "call": stamp_call("jti-rs256-1"),
        "request": form_request(
            [
                ("grant_type", "client_credentials"),
                ("client_id", CLIENT_ID),
                ("client_assertion_type", ASSERTION_TYPE),
                ("client_assertion", token),
            ]
        ),
        "jwts": [jwt_],
    }

    issuer = "https://auth.example.com"
    token, jwt_ = client_assertion(ED25519, "EdDSA", jti="jti-eddsa-1", audience=issuer)
    out["rfc7523/private_key_jwt_eddsa_issuer_audience"] = {
        "description": "private_key_jwt with an Ed25519 key (EdDSA), the "
        "assertion's aud set to the issuer, on a password grant.",
        "flow": {
            "class": "PasswordGrant",
            "kwargs": {
                "token_url": TOKEN_URL,
                "username": "alice",
                "password": "pw-fixture-PASSWORD",
                "client_id": CLIENT_ID,
                "auth": "private_key_jwt",
                "private_key": {"pem": ED25519},
                "assertion_audience": issuer,
            },
        },
        "call": stamp_call("jti-eddsa-1"),
        "request": form_request(
            [
                ("grant_type", "password"),
                ("username", "alice"),
                ("password", "pw-fixture-PASSWORD"),
                ("client_id", CLIENT_ID),
                ("client_assertion_type", ASSERTION_TYPE),
                ("client_assertion", token),
            ]
        ),
        "jwts": [jwt_],
    }

    token, jwt_ = client_assertion(ED25519, "EdDSA", jti="jti-eddsa-2")
    out["rfc7523/private_key_jwt_eddsa_refresh"] = {
        "description": "A refresh (RFC 6749 §6) authenticates the client the "
        "same way: a fresh EdDSA assertion.",
        "flow": {
            "class": "ClientCredentials",
            "kwargs": {
                "token_url": TOKEN_URL,
                "client_id": CLIENT_ID,
                "auth": "private_key_jwt",
                "private_key": {"pem": ED25519},
            },
        },
        "call": {
            "method": "refresh_request",
            "refresh_token": "rt-fixture-REFRESH",
            "stamp": {"now": NOW, "jti": "jti-eddsa-2"},
        },
        "request": form_request(
            [
                ("grant_type", "refresh_token"),
                ("refresh_token", "rt-fixture-REFRESH"),
                ("client_id", CLIENT_ID),
                ("client_assertion_type", ASSERTION_TYPE),
                ("client_assertion", token),
            ]
        ),
        "jwts": [jwt_],
    }

    given = "eyJhbGciOiJSUzI1NiJ9.eyJpc3MiOiJrOHMifQ.d29ya2xvYWQtaWRlbnRpdHk"
    out["rfc7523/private_key_jwt_callable_assertion"] = {
        "description": "private_key_jwt with the assertion from a callable (a "
        "workload identity token): sent as it is, no stamp needed.",
        "flow": {
            "class": "ClientCredentials",
            "kwargs": {
                "token_url": TOKEN_URL,
                "client_id": CLIENT_ID,
                "auth": "private_key_jwt",
                "client_assertion": {"callable": given},
                "scope": "api",
            },
        },
        "call": {"method": "token_request", "stamp": None},
        "request": form_request(
            [
                ("grant_type", "client_credentials"),
                ("scope", "api"),
                ("client_id", CLIENT_ID),
                ("client_assertion_type", ASSERTION_TYPE),
                ("client_assertion", given),
            ]
        ),
        "jwts": [],
    }

    # -- RFC 7523 §2.1: the JWT bearer grant -----------------------------
    sa = "svc@project.iam.example.com"
    header = {"alg": "RS256", "typ": "JWT", "kid": "sa-key-7"}
    claims: dict[str, Any] = {
        "iss": sa,
        "sub": "user@example.com",
        "aud": TOKEN_URL,
        "jti": "jti-bearer-1",
        "iat": int(NOW),
        "exp": int(NOW) + 300,
        "scope": "https://www.example.com/auth/cloud-platform",
    }
    bearer = sign(header, claims, RSA)
    out["rfc7523/jwt_bearer_signed"] = {
        "description": "JwtBearerGrant signing its assertion (RS256, a kid, a "
        "subject, a scope claim, 300 s); the client sends nothing of its own.",
        "flow": {
            "class": "JwtBearerGrant",
            "kwargs": {
                "token_url": TOKEN_URL,
                "issuer": sa,
                "subject": "user@example.com",
                "signing_key": {"pem": RSA},
                "signing_key_id": "sa-key-7",
                "claims": {"scope": "https://www.example.com/auth/cloud-platform"},
            },
        },
        "call": stamp_call("jti-bearer-1"),
        "request": form_request(
            [("grant_type", JWT_BEARER), ("assertion", bearer)],
        ),
        "jwts": [
            {
                "at": "form assertion",
                "key": RSA,
                "header": header,
                "claims": claims,
            }
        ],
    }

    given_bearer = "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.Z2l2ZW4tYXNzZXJ0aW9u"
    out["rfc7523/jwt_bearer_given"] = {
        "description": "JwtBearerGrant with a given assertion and a scope, the "
        "client authenticating with client_secret_basic.",
        "flow": {
            "class": "JwtBearerGrant",
            "kwargs": {
                "token_url": TOKEN_URL,
                "assertion": given_bearer,
                "client_id": CLIENT_ID,
                "client_secret": CLIENT_SECRET,
                "auth": "client_secret_basic",
                "scope": ["openid", "email"],
            },
        },
        "call": {"method": "token_request", "stamp": None},
        "request": form_request(
            [
                ("grant_type", JWT_BEARER),
                ("assertion", given_bearer),
                ("scope", "openid email"),
            ],
            [basic(CLIENT_ID, CLIENT_SECRET)],
        ),
        "jwts": [],
    }

    # -- RFC 8705: mutual TLS ----------------------------------------------
    for method in ("tls_client_auth", "self_signed_tls_client_auth"):
        out[f"rfc8705/{method}"] = {
            "description": f"{method}: the client_id in the body, nothing else "
            "of the client's; the certificate is on the TLS connection.",
            "flow": {
                "class": "ClientCredentials",
                "kwargs": {
                    "token_url": TOKEN_URL,
                    "client_id": CLIENT_ID,
                    "auth": method,
                    "scope": "payments",
                },
            },
            "call": {"method": "token_request", "stamp": None},
            "request": form_request(
                [
                    ("grant_type", "client_credentials"),
                    ("scope", "payments"),
                    ("client_id", CLIENT_ID),
                ]
            ),
            "jwts": [],
        }

    # -- RFC 8693: token exchange -----------------------------------------
    subject = "eyJhbGciOiJub25lIn0.eyJzdWIiOiJhbGljZSJ9.c3ViamVjdA"
    actor = "act-fixture-ACTOR-token"
    out["rfc8693/token_exchange_delegation"] = {
        "description": "Token exchange with an actor (delegation), two "
        "audiences, two resources, a scope and a requested token type; "
        "client_secret_basic.",
        "flow": {
            "class": "TokenExchange",
            "kwargs": {
                "token_url": TOKEN_URL,
                "subject_token": subject,
                "subject_token_type": JWT_TYPE,
                "actor_token": actor,
                "actor_token_type": ACCESS_TOKEN_TYPE,
                "audience": ["billing", "orders service"],
                "resource": ["https://billing.example.com/", "urn:example:orders"],
                "requested_token_type": ACCESS_TOKEN_TYPE,
                "scope": "orders:read",
                "client_id": CLIENT_ID,
                "client_secret": CLIENT_SECRET,
                "auth": "client_secret_basic",
            },
        },
        "call": {"method": "token_request", "stamp": None},
        "request": form_request(
            [
                ("grant_type", TOKEN_EXCHANGE),
                ("audience", "billing"),
                ("audience", "orders service"),
                ("subject_token", subject),
                ("subject_token_type", JWT_TYPE),
                ("actor_token", actor),
                ("actor_token_type", ACCESS_TOKEN_TYPE),
                ("requested_token_type", ACCESS_TOKEN_TYPE),
                ("scope", "orders:read"),
                ("resource", "https://billing.example.com/"),
                ("resource", "urn:example:orders"),
            ],
            [basic(CLIENT_ID, CLIENT_SECRET)],
        ),
        "jwts": [],
    }

    token, jwt_ = client_assertion(RSA, "RS256", jti="jti-exchange-1")
    out["rfc8693/token_exchange_private_key_jwt"] = {
        "description": "Token exchange of an ID token from a callable, the "
        "client signing an RS256 assertion.",
        "flow": {
            "class": "TokenExchange",
            "kwargs": {
                "token_url": TOKEN_URL,
                "subject_token": {"callable": subject},
                "subject_token_type": ID_TOKEN_TYPE,
                "client_id": CLIENT_ID,
                "auth": "private_key_jwt",
                "private_key": {"pem": RSA},
            },
        },
        "call": stamp_call("jti-exchange-1"),
        "request": form_request(
            [
                ("grant_type", TOKEN_EXCHANGE),
                ("subject_token", subject),
                ("subject_token_type", ID_TOKEN_TYPE),
                ("client_id", CLIENT_ID),
                ("client_assertion_type", ASSERTION_TYPE),
                ("client_assertion", token),
            ]
        ),
        "jwts": [jwt_],
    }

    # -- RFC 8707: resource indicators --------------------------------------
    resources = ["https://api.example.com/v1/", "https://files.example.com/?x=1"]
    cc_resources = {
        "class": "ClientCredentials",
        "kwargs": {
            "token_url": TOKEN_URL,
            "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET,
            "scope": "read",
            "resource": resources,
        },
    }
    out["rfc8707/client_credentials_resources"] = {
        "description": "Two resource indicators, each a resource field, in "
        "the order given; client_secret_post.",
        "flow": cc_resources,
        "call": {"method": "token_request", "stamp": None},
        "request": form_request(
            [
                ("grant_type", "client_credentials"),
                ("scope", "read"),
                *(("resource", uri) for uri in resources),
                ("client_id", CLIENT_ID),
                ("client_secret", CLIENT_SECRET),
            ]
        ),
        "jwts": [],
    }
    out["rfc8707/client_credentials_resources_refresh"] = {
        "description": "The refresh request carries the same resources "
        "(RFC 8707 §2.2).",
        "flow": cc_resources,
        "call": {
            "method": "refresh_request",
            "refresh_token": "rt-fixture-REFRESH",
            "stamp": None,
        },
        "request": form_request(
            [
                ("grant_type", "refresh_token"),
                ("refresh_token", "rt-fixture-REFRESH"),
                *(("resource", uri) for uri in resources),
                ("client_id", CLIENT_ID),
                ("client_secret", CLIENT_SECRET),
            ]
        ),
        "jwts": [],
    }

    # -- RFC 9449: DPoP -----------------------------------------------------
    plain = {
        "class": "ClientCredentials",
        "kwargs": {
            "token_url": TOKEN_URL,
            "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET,
        },
    }
    proof, jwt_ = dpop_proof(ED25519, method="POST", url=TOKEN_URL, jti="jti-dpop-1")
    out["rfc9449/dpop_token_request"] = {
        "description": "A session with an Ed25519 DPoP key: the token request "
        "carries a proof (no nonce yet) in a DPoP header, after the form "
        "headers.",
        "flow": plain,
        "call": {
            "method": "session",
            "dpop_key": ED25519,
            "now": NOW,
            "jtis": ["jti-dpop-1"],
            "nonce": None,
        },
        "request": form_request(
            [
                ("grant_type", "client_credentials"),
                ("client_id", CLIENT_ID),
                ("client_secret", CLIENT_SECRET),
            ],
            [["DPoP", proof]],
        ),
        "jwts": [jwt_],
    }

    nonce = "eyJ7S_zG.eyJH0-Z.HX4w-7v"  # RFC 9449 §8's example nonce
    token, assertion_jwt = client_assertion(ED25519, "EdDSA", jti="jti-3")
    proof, proof_jwt = dpop_proof(
        ED25519, method="POST", url=TOKEN_URL, jti="jti-4", nonce=nonce
    )
    out["rfc9449/dpop_token_request_nonce"] = {
        "description": "The server answered use_dpop_nonce with a DPoP-Nonce: "
        "the request sent again at once carries the nonce in a fresh proof, "
        "and a fresh client assertion (the first request took jti-1 and jti-2).",
        "flow": {
            "class": "ClientCredentials",
            "kwargs": {
                "token_url": TOKEN_URL,
                "client_id": CLIENT_ID,
                "auth": "private_key_jwt",
                "private_key": {"pem": ED25519},
            },
        },
        "call": {
            "method": "session",
            "dpop_key": ED25519,
            "now": NOW,
            "jtis": ["jti-1", "jti-2", "jti-3", "jti-4"],
            "nonce": nonce,
        },
        "request": form_request(
            [
                ("grant_type", "client_credentials"),
                ("client_id", CLIENT_ID),
                ("client_assertion_type", ASSERTION_TYPE),
                ("client_assertion", token),
            ],
            [["DPoP", proof]],
        ),
        "jwts": [assertion_jwt, proof_jwt],
    }

    api_url = "https://resource.example.org/protectedresource?page=2#top"
    access_token = "Kz~8mXK1EalYznwH-LC-1fBAo.4Ljp~zsPE_NeO.gxU"  # RFC 9449 §7.1
    proof, jwt_ = dpop_proof(
        ED25519,
        method="GET",
        url=api_url,
        jti="jti-api-1",
        nonce="resource-nonce-1",
        access_token=access_token,
    )
    out["rfc9449/dpop_api_request"] = {
        "description": "A DPoP-bound token at a resource server: Authorization "
        "DPoP and a proof with ath (SHA-256 of the token), htu without the "
        "query and fragment, the resource server's nonce.",
        "flow": None,
        "call": {
            "method": "dpop_proof",
            "dpop_key": ED25519,
            "http_method": "GET",
            "url": api_url,
            "now": NOW,
            "jti": "jti-api-1",
            "nonce": "resource-nonce-1",
            "access_token": access_token,
        },
        "request": {
            "method": "GET",
            "url": api_url,
            "headers": [["Authorization", f"DPoP {access_token}"], ["DPoP", proof]],
            "body": "",
        },
        "jwts": [jwt_],
    }
    return out


def main() -> None:
    for name, data in fixtures().items():
        path = FIXTURES / f"{name}.json"
        path.parent.mkdir(exist_ok=True)
        text = json.dumps({"description": data.pop("description"), **data}, indent=2)
        path.write_text(text + "\n", encoding="utf-8")
        print(path.relative_to(FIXTURES.parent.parent))


if __name__ == "__main__":
    main()
