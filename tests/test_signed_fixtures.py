"""Byte-exact fixtures of the signed request shapes of issue 14.

Every file under ``tests/fixtures/rfc7523/``, ``rfc8693/``, ``rfc8705/``,
``rfc8707/`` and ``rfc9449/`` holds a request written apart from the library
(``tests/make_signed_fixtures.py``: the form by ``urlencode``, each JWT by
``json.dumps`` and PyJWT's signers over the test-only keys of
``tests/fixtures/keys/``) and the inputs that make it: the flow, the
:class:`~sansio_auth.Stamp` (or a session's ``now`` and ``jti`` values), the
DPoP key. Here:

* the library must build exactly that request, byte for byte;
* each JWT in the fixture must say what the rules say, read back with the
  standard library and checked against the fixture's own inputs (RFC 7523
  §3: ``iss`` = ``sub`` = the client id, ``aud``, ``jti``, ``iat`` the whole
  part of ``now``, ``exp``; RFC 9449 §4.2: ``typ``, ``jwk``, ``htm``,
  ``htu`` without query and fragment, ``nonce``, ``ath``);
* each signature must verify with PyJWT, with the public key of the PEM it
  names (and, for a proof, with the key in its own header, which must be
  that PEM's);
* the form must carry each field the rules ask for, and no secret that the
  client's method keeps off the wire.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, quote

import pytest
from jose_check import (
    KEYS_DIR,
    b64url,
    fixture_key,
    fixture_pem,
    parts,
    public_of,
    sha256_b64url,
    verified,
    verified_hs256,
    verified_proof,
)

import sansio_auth
from sansio_auth import (
    ClientCredentials,
    DPoPKey,
    HttpRequest,
    HttpResponse,
    JwtBearerGrant,
    PasswordGrant,
    SendRequest,
    Stamp,
    TokenExchange,
    TokenSession,
)

FIXTURES = Path(__file__).resolve().parent / "fixtures"
FOLDERS = ("rfc7523", "rfc8693", "rfc8705", "rfc8707", "rfc9449")
FILES = sorted(
    path for folder in FOLDERS for path in (FIXTURES / folder).glob("*.json")
)
TOP_KEYS = {"description", "flow", "call", "request", "jwts"}
USER_AGENT_PLACEHOLDER = "{USER_AGENT}"
CLASSES: Mapping[str, Callable[..., Any]] = {
    "ClientCredentials": ClientCredentials,
    "PasswordGrant": PasswordGrant,
    "JwtBearerGrant": JwtBearerGrant,
    "TokenExchange": TokenExchange,
}
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
# What the client's method puts in the form, and what it must not.
CLIENT_FIELDS = {
    "client_secret_post": ({"client_id", "client_secret"}, set()),
    "client_secret_basic": (set(), {"client_id", "client_secret"}),
    "client_secret_jwt": (
        {"client_id", "client_assertion_type", "client_assertion"},
        {"client_secret"},
    ),
    "private_key_jwt": (
        {"client_id", "client_assertion_type", "client_assertion"},
        {"client_secret"},
    ),
    "tls_client_auth": (
        {"client_id"},
        {"client_secret", "client_assertion", "client_assertion_type"},
    ),
    "self_signed_tls_client_auth": (
        {"client_id"},
        {"client_secret", "client_assertion", "client_assertion_type"},
    ),
}


def fixture_id(path: Path) -> str:
    return f"{path.parent.name}/{path.stem}"


def load(path: Path) -> dict[str, Any]:
    data = json.loads(path.read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    # Every key is used: a typo or a forgotten field fails, not ignored.
    assert set(data) == TOP_KEYS, path.name
    assert isinstance(data["description"], str)
    assert data["description"]
    return data


class Supplied:
    """A callable that supplies a token, as a workload identity file does."""

    def __init__(self, value: str) -> None:
        self.value = value
        self.cache_identity = "fixture-callable"

    def __call__(self) -> str:
        return self.value


def argument(value: object) -> object:
    if isinstance(value, dict) and set(value) == {"pem"}:
        return fixture_pem(value["pem"])
    if isinstance(value, dict) and set(value) == {"callable"}:
        return Supplied(value["callable"])
    if isinstance(value, list):
        return tuple(value)
    return value


def build_flow(spec: Mapping[str, Any]) -> Any:
    assert set(spec) == {"class", "kwargs"}
    kwargs = {name: argument(value) for name, value in spec["kwargs"].items()}
    return CLASSES[spec["class"]](**kwargs)


def stamp_of(spec: Mapping[str, Any] | None) -> Stamp | None:
    if spec is None:
        return None
    assert set(spec) == {"now", "jti"}
    return Stamp(now=spec["now"], jti=spec["jti"])


def made(data: Mapping[str, Any]) -> HttpRequest:
    """The request the library makes from the fixture's inputs."""
    call = data["call"]
    method = call["method"]
    if method == "token_request":
        assert set(call) == {"method", "stamp"}
        return build_flow(data["flow"]).token_request(stamp_of(call["stamp"]))  # type: ignore[no-any-return]
    if method == "refresh_request":
        assert set(call) == {"method", "refresh_token", "stamp"}
        flow = build_flow(data["flow"])
        request = flow.refresh_request(call["refresh_token"], stamp_of(call["stamp"]))
        assert isinstance(request, HttpRequest)
        return request
    if method == "session":
        return through_a_session(data["flow"], call)
    assert method == "dpop_proof"
    assert data["flow"] is None
    return api_request(call)


def through_a_session(flow: Mapping[str, Any], call: Mapping[str, Any]) -> HttpRequest:
    # The session's own path: its jti function hands out the fixture's
    # values in order; a nonce comes as the server's use_dpop_nonce answer.
    assert set(call) == {"method", "dpop_key", "now", "jtis", "nonce"}
    jtis = iter(call["jtis"])
    session = TokenSession(
        build_flow(flow),
        dpop_key=DPoPKey(fixture_pem(call["dpop_key"])),
        jti=lambda: next(jtis),
    )
    step = session.next_step(call["now"])
    assert isinstance(step, SendRequest)
    if call["nonce"] is not None:
        answer = HttpResponse(
            status=400,
            headers=(
                ("Content-Type", "application/json"),
                ("DPoP-Nonce", call["nonce"]),
            ),
            body=b'{"error":"use_dpop_nonce"}',
        )
        again = session.receive(answer, now=call["now"], step=step)
        assert isinstance(again, SendRequest)
        step = again
    assert next(jtis, None) is None, "a jti of the fixture was not used"
    return step.request


def api_request(call: Mapping[str, Any]) -> HttpRequest:
    # A resource server request as DESIGN.md says the integrations send it:
    # the token under the DPoP scheme and a proof naming it.
    assert set(call) == {
        "method",
        "dpop_key",
        "http_method",
        "url",
        "now",
        "jti",
        "nonce",
        "access_token",
    }
    key = DPoPKey(fixture_pem(call["dpop_key"]))
    proof = key.proof(
        call["http_method"],
        call["url"],
        now=call["now"],
        jti=call["jti"],
        nonce=call["nonce"],
        access_token=call["access_token"],
    )
    return HttpRequest(
        method=call["http_method"],
        url=call["url"],
        headers=(
            ("Authorization", f"DPoP {call['access_token']}"),
            ("DPoP", proof),
        ),
    )


def expected_request(spec: Mapping[str, Any]) -> HttpRequest:
    assert set(spec) == {"method", "url", "headers", "body"}
    agent = f"sansio-auth/{sansio_auth.__version__}"
    return HttpRequest(
        method=spec["method"],
        url=spec["url"],
        headers=tuple(
            (name, value.replace(USER_AGENT_PLACEHOLDER, agent))
            for name, value in spec["headers"]
        ),
        body=spec["body"].encode("utf-8"),
    )


def form_pairs(request: HttpRequest) -> list[tuple[str, str]]:
    return parse_qsl(request.body.decode("ascii"), keep_blank_values=True)


def located(request: HttpRequest, at: str) -> str:
    """The JWT at ``"form NAME"`` or ``"header NAME"`` of *request*."""
    where, name = at.split(" ")
    if where == "header":
        values = [value for key, value in request.headers if key == name]
    else:
        assert where == "form"
        values = [value for key, value in form_pairs(request) if key == name]
    assert len(values) == 1, at
    return values[0]


# -- the tests ---------------------------------------------------------------


def test_every_folder_has_fixtures_and_every_file_is_collected() -> None:
    for folder in FOLDERS:
        assert list((FIXTURES / folder).glob("*.json")), folder
    signed = {path for folder in FOLDERS for path in (FIXTURES / folder).rglob("*")}
    assert signed == set(FILES)


def test_the_generator_writes_the_committed_bytes() -> None:
    # The fixtures are what the generator, which does not use the library,
    # writes today: neither was edited apart from the other.
    import make_signed_fixtures

    written = make_signed_fixtures.fixtures()
    assert {f"{path.parent.name}/{path.stem}" for path in FILES} == set(written)
    for name, data in written.items():
        committed = json.loads((FIXTURES / f"{name}.json").read_text("utf-8"))
        assert committed == data, name


@pytest.mark.parametrize("path", FILES, ids=fixture_id)
def test_signed_request_is_byte_exact(path: Path) -> None:
    data = load(path)
    request = made(data)
    expected = expected_request(data["request"])
    assert request.method == expected.method
    assert request.url == expected.url
    assert request.headers == expected.headers
    assert request.body == expected.body
    assert request == expected
    # The same inputs, the same bytes: again, from new objects.
    assert made(data) == expected


@pytest.mark.parametrize("path", FILES, ids=fixture_id)
def test_each_jwt_is_what_the_rules_say_and_verifies(path: Path) -> None:
    data = load(path)
    request = expected_request(data["request"])
    for spec in data["jwts"]:
        assert set(spec) == {"at", "key", "header", "claims"}
        token = located(request, spec["at"])
        header, claims, _ = parts(token)
        # As recorded (the order too), and as the rules say from the inputs.
        assert list(header.items()) == list(spec["header"].items())
        assert list(claims.items()) == list(spec["claims"].items())
        if spec["at"] == "header DPoP":
            check_proof(data, request, spec, token)
        else:
            check_assertion(data, spec, token)


def check_assertion(
    data: Mapping[str, Any], spec: Mapping[str, Any], token: str
) -> None:
    header, claims, _ = parts(token)
    kwargs = data["flow"]["kwargs"]
    stamp = jwt_stamp(data, spec)
    if spec["at"] == "form assertion":
        # RFC 7523 §2.1 / §3: the grant's own assertion.
        issuer = kwargs["issuer"]
        subject = kwargs.get("subject", issuer)
        audience = kwargs.get("audience", kwargs["token_url"])
        lifetime = kwargs.get("lifetime", 300)
        extra = kwargs.get("claims", {})
        kid = kwargs.get("signing_key_id")
    else:
        # RFC 7523 §2.2 and §3, OpenID Connect Core §9: the client's.
        issuer = subject = kwargs["client_id"]
        audience = kwargs.get("assertion_audience", kwargs["token_url"])
        lifetime = kwargs.get("assertion_lifetime", 60)
        extra = {}
        kid = kwargs.get("key_id")
    iat = int(stamp.now)
    assert claims == {
        "iss": issuer,
        "sub": subject,
        "aud": audience,
        "jti": stamp.jti,
        "iat": iat,
        "exp": iat + lifetime,
        **extra,
    }
    assert list(claims)[:6] == ["iss", "sub", "aud", "jti", "iat", "exp"]
    expected_header = {"alg": header["alg"], "typ": "JWT"}
    if kid is not None:
        expected_header["kid"] = kid
    assert header == expected_header
    key = spec["key"]
    if isinstance(key, dict):
        assert header["alg"] == "HS256"
        assert kwargs["auth"] == "client_secret_jwt"
        assert key["secret"] == kwargs["client_secret"]
        assert verified_hs256(token, key["secret"]) == claims
    else:
        pem = (
            kwargs["private_key"] if "private_key" in kwargs else kwargs["signing_key"]
        )
        assert pem == {"pem": key}
        public = public_of(fixture_key(key))
        assert verified(token, public, header["alg"]) == claims


def jwt_stamp(data: Mapping[str, Any], spec: Mapping[str, Any]) -> Stamp:
    call = data["call"]
    if call["method"] != "session":
        return Stamp(now=call["stamp"]["now"], jti=call["stamp"]["jti"])
    # A session signs the assertion first, then the proof, each with the
    # next jti: on a resend, the last two.
    jtis = call["jtis"]
    index = -1 if spec["at"] == "header DPoP" else -2
    return Stamp(now=call["now"], jti=jtis[index])


def check_proof(
    data: Mapping[str, Any],
    request: HttpRequest,
    spec: Mapping[str, Any],
    token: str,
) -> None:
    call = data["call"]
    header, claims = verified_proof(token)
    # RFC 9449 §4.2: the header; the jwk is the named key's public half.
    assert list(header) == ["typ", "alg", "jwk"]
    assert header["typ"] == "dpop+jwt"
    key = fixture_key(spec["key"])
    assert spec["key"] == call["dpop_key"]
    assert header["alg"] == "EdDSA"
    assert header["jwk"] == {
        "crv": "Ed25519",
        "kty": "OKP",
        "x": b64url(public_raw(key)),
    }
    assert "d" not in header["jwk"]  # never the private part
    assert verified(token, public_of(key), "EdDSA") == claims
    # The claims: this request's method and URL, without query and fragment.
    htu = request.url.split("#")[0].split("?")[0]
    if call["method"] == "session":
        jti, nonce, access_token = jwt_stamp(data, spec).jti, call["nonce"], None
    else:
        jti, nonce, access_token = call["jti"], call["nonce"], call["access_token"]
    expected: dict[str, object] = {
        "jti": jti,
        "htm": request.method,
        "htu": htu,
        "iat": int(call["now"]),
    }
    if nonce is not None:
        expected["nonce"] = nonce
    if access_token is not None:
        expected["ath"] = sha256_b64url(access_token)
        assert request.header("Authorization") == f"DPoP {access_token}"
    assert list(claims.items()) == list(expected.items())


def public_raw(key: Any) -> bytes:
    from cryptography.hazmat.primitives import serialization

    raw = public_of(key).public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    )
    assert isinstance(raw, bytes)
    return raw


@pytest.mark.parametrize(
    "path", [p for p in FILES if load(p)["flow"] is not None], ids=fixture_id
)
def test_the_form_carries_what_the_client_method_says(path: Path) -> None:
    data = load(path)
    request = expected_request(data["request"])
    kwargs = data["flow"]["kwargs"]
    names = [name for name, _ in form_pairs(request)]
    fields = dict(form_pairs(request))
    method = kwargs.get("auth", "client_secret_post")
    if data["flow"]["class"] in ("JwtBearerGrant", "TokenExchange") and (
        "client_id" not in kwargs
    ):
        # No client authentication: a service account's assertion suffices.
        assert not {"client_id", "client_secret", "client_assertion"} & set(names)
    else:
        present, absent = CLIENT_FIELDS[method]
        assert present <= set(names), method
        assert not absent & set(names), method
        if "client_id" in present:
            assert fields["client_id"] == kwargs["client_id"]
        if "client_assertion_type" in present:
            assert fields["client_assertion_type"] == ASSERTION_TYPE
        if method == "client_secret_basic":
            credentials = f"{quote(kwargs['client_id'], safe='')}:" + quote(
                kwargs["client_secret"], safe=""
            )
            value = base64.b64encode(credentials.encode()).decode()
            assert request.header("Authorization") == f"Basic {value}"
        else:
            assert request.header("Authorization") is None
    # No secret travels where the method keeps it off the wire.
    if method in ("client_secret_jwt", "private_key_jwt") or method.startswith(
        ("tls", "self_signed")
    ):
        secret = kwargs.get("client_secret")
        assert secret is None or secret not in request.body.decode()
    # RFC 8707: each resource once, in order, as its own field.
    resources = [value for name, value in form_pairs(request) if name == "resource"]
    assert resources == list(kwargs.get("resource", []))
    # Each field once, but the repeatable ones (RFC 8693 §2.1, RFC 8707).
    repeated = [n for n in names if names.count(n) > 1]
    assert set(repeated) <= {"resource", "audience"}
    # RFC 6749 §4.4.2 and the others: the grant first.
    assert names[0] == "grant_type"


def test_the_fixture_keys_are_the_test_keys_and_say_so() -> None:
    for path in KEYS_DIR.glob("*.pem"):
        assert path.read_text().startswith("TEST KEY"), path.name
