"""Client authentication on the flows (``_client_auth``, ``_client_flow``):
RFC 7523 §2.2 JWT assertions, RFC 8705 mutual TLS, RFC 8707 resources.

* Each method's request: what goes in the form and the headers, and what
  never does (the client secret of the ``*_jwt`` methods); each assertion
  verified by PyJWT, for token and refresh requests, whatever the key type.
* The assertion's claims (a property test over any client id, audience, jti
  and time): ``iss`` = ``sub`` = the client id, ``aud``, ``jti``,
  ``iat`` = ``int(now)``, ``exp`` = ``iat`` + the lifetime, nothing else.
* Every refusal of the arguments, naming the argument and never showing a
  value (the values here are secrets, and must be absent from the message).
* No secret in a repr: the private key in any form, the client secret, a
  supplied assertion.
* The store key: resources change it, authentication does not, and the keys
  recorded before issue 14 are unchanged.
"""

from __future__ import annotations

import base64
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qsl, quote

import jwt as pyjwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jose_check import (
    ALGORITHMS,
    KeyKind,
    generated,
    parts,
    pem_of,
    public_of,
    verified,
    verified_hs256,
)
from test_store_key import EXPECTED_KEYS
from test_store_key import FLOWS as RECORDED_FLOWS

import sansio_auth
from sansio_auth import (
    ClientCredentials,
    HttpRequest,
    PasswordGrant,
    Stamp,
)
from sansio_auth._client_auth import ClientAuthentication
from sansio_auth._store_key import store_key

URL = "https://auth.example.com/oauth2/token"
CLIENT_ID = "client-1"
SECRET = "Zq9-client-SECRET-xv-0123456789abcdef"
ASSERTION = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ3b3JrbG9hZCJ9.U0VDUkVULWFzc2VydGlvbg"
PASSWORD = "Pw7-owner-PASSWORD-kk"
NOW = 1_700_000_000.9
STAMP = Stamp(now=NOW, jti="jti-1")
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
UA = ("User-Agent", f"sansio-auth/{sansio_auth.__version__}")
FORM_HEADERS = (
    ("Accept", "application/json"),
    ("Content-Type", "application/x-www-form-urlencoded"),
    UA,
)
PROPERTY = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
KINDS: tuple[KeyKind, ...] = ("rsa", "ec", "ed25519")
KEY_ALGORITHMS = [(kind, alg) for kind in KINDS for alg in ALGORITHMS[kind]]


def supplied(value: object = ASSERTION) -> Callable[[], Any]:
    def assertion() -> Any:
        return value

    return assertion


def cc(**kwargs: Any) -> ClientCredentials:
    args: dict[str, Any] = {"token_url": URL, "client_id": CLIENT_ID}
    args.update(kwargs)
    return ClientCredentials(**args)


def pg(**kwargs: Any) -> PasswordGrant:
    args: dict[str, Any] = {
        "token_url": URL,
        "username": "alice",
        "password": PASSWORD,
        "client_id": CLIENT_ID,
    }
    args.update(kwargs)
    return PasswordGrant(**args)


FACTORIES: dict[str, Callable[..., ClientCredentials | PasswordGrant]] = {
    "ClientCredentials": cc,
    "PasswordGrant": pg,
}


def fields(request: HttpRequest) -> list[tuple[str, str]]:
    return parse_qsl(request.body.decode("ascii"), keep_blank_values=True)


def field(request: HttpRequest, name: str) -> str:
    values = [value for key, value in fields(request) if key == name]
    assert len(values) == 1, name
    return values[0]


def names(request: HttpRequest) -> list[str]:
    return [name for name, _ in fields(request)]


def both_requests(
    flow: ClientCredentials | PasswordGrant, stamp: Stamp | None = STAMP
) -> list[HttpRequest]:
    return [flow.token_request(stamp), flow.refresh_request("rt-REFRESH-1", stamp)]


def check_assertion_claims(
    claims: dict[str, Any],
    *,
    client_id: str,
    audience: str,
    stamp: Stamp,
    lifetime: int = 60,
) -> None:
    """RFC 7523 §3 and OpenID Connect Core §9, exactly and in order."""
    iat = int(stamp.now)
    assert list(claims.items()) == [
        ("iss", client_id),
        ("sub", client_id),
        ("aud", audience),
        ("jti", stamp.jti),
        ("iat", iat),
        ("exp", iat + lifetime),
    ]


# -- the requests of each method --------------------------------------------


@pytest.mark.parametrize("name", FACTORIES)
@pytest.mark.parametrize(("kind", "algorithm"), KEY_ALGORITHMS)
def test_private_key_jwt_sends_an_assertion_pyjwt_verifies(
    name: str, kind: KeyKind, algorithm: str
) -> None:
    key = generated(kind)
    flow = FACTORIES[name](auth="private_key_jwt", private_key=key, algorithm=algorithm)
    assert flow.needs_stamp
    for request in both_requests(flow):
        assert request.headers == FORM_HEADERS  # no Authorization header
        assert names(request)[-3:] == [
            "client_id",
            "client_assertion_type",
            "client_assertion",
        ]
        assert field(request, "client_id") == CLIENT_ID
        assert field(request, "client_assertion_type") == ASSERTION_TYPE
        assert "client_secret" not in names(request)
        token = field(request, "client_assertion")
        header, claims, _ = parts(token)
        assert header == {"alg": algorithm, "typ": "JWT"}  # no kid without one
        assert verified(token, public_of(key), algorithm) == claims
        check_assertion_claims(claims, client_id=CLIENT_ID, audience=URL, stamp=STAMP)


@pytest.mark.parametrize(
    "form",
    ["pem text", "pem bytes", "key object"],
)
def test_the_private_key_may_be_pem_text_pem_bytes_or_an_object(form: str) -> None:
    key = generated("ed25519")
    value: object = {
        "pem text": pem_of(key).decode(),
        "pem bytes": pem_of(key),
        "key object": key,
    }[form]
    flow = cc(auth="private_key_jwt", private_key=value, key_id="ed-1")
    token = field(flow.token_request(STAMP), "client_assertion")
    header, claims, _ = parts(token)
    assert header == {"alg": "EdDSA", "typ": "JWT", "kid": "ed-1"}
    assert verified(token, public_of(key), "EdDSA") == claims


def test_an_assertion_pyjwt_accepts_in_full_at_the_real_time() -> None:
    # PyJWT's own checks of every claim, the clock's included, at now.
    key = generated("rsa")
    flow = cc(auth="private_key_jwt", private_key=key, key_id="k1")
    stamp = Stamp(now=time.time(), jti="jti-real-time")
    token = field(flow.token_request(stamp), "client_assertion")
    claims = pyjwt.decode(
        token,
        public_of(key),
        algorithms=["RS256"],
        audience=URL,
        issuer=CLIENT_ID,
        subject=CLIENT_ID,
        options={"require": ["iss", "sub", "aud", "jti", "iat", "exp"]},
    )
    assert claims["jti"] == "jti-real-time"
    assert pyjwt.get_unverified_header(token)["kid"] == "k1"


@pytest.mark.parametrize("name", FACTORIES)
def test_client_secret_jwt_signs_hs256_with_the_secret_and_never_sends_it(
    name: str,
) -> None:
    flow = FACTORIES[name](auth="client_secret_jwt", client_secret=SECRET)
    assert flow.needs_stamp
    for request in both_requests(flow):
        assert request.headers == FORM_HEADERS
        assert SECRET not in request.body.decode()
        assert quote(SECRET, safe="") not in request.body.decode()
        assert "client_secret" not in names(request)
        token = field(request, "client_assertion")
        header, claims, _ = parts(token)
        assert header == {"alg": "HS256", "typ": "JWT"}
        assert verified_hs256(token, SECRET) == claims
        check_assertion_claims(claims, client_id=CLIENT_ID, audience=URL, stamp=STAMP)
    # A wrong secret does not verify it: the secret is the key.
    with pytest.raises(pyjwt.InvalidSignatureError):
        verified_hs256(field(flow.token_request(STAMP), "client_assertion"), "x" * 32)


def test_the_hs256_key_is_the_secrets_utf8_octets() -> None:
    # OpenID Connect Core §10.1: the octets of the UTF-8 representation.
    secret = "sécret-ü-🔑-long-enough-for-hs256"
    flow = cc(auth="client_secret_jwt", client_secret=secret)
    token = field(flow.token_request(STAMP), "client_assertion")
    assert verified(token, secret.encode("utf-8"), "HS256")["iss"] == CLIENT_ID


def test_the_assertion_audience_and_lifetime_are_the_callers() -> None:
    issuer = "https://auth.example.com"
    methods: list[tuple[str, dict[str, Any]]] = [
        ("private_key_jwt", {"private_key": generated("ec")}),
        ("client_secret_jwt", {"client_secret": SECRET}),
    ]
    for auth, extra in methods:
        flow = cc(auth=auth, assertion_audience=issuer, assertion_lifetime=300, **extra)
        _, claims, _ = parts(field(flow.token_request(STAMP), "client_assertion"))
        check_assertion_claims(
            claims, client_id=CLIENT_ID, audience=issuer, stamp=STAMP, lifetime=300
        )
    for lifetime in (1, 3600):
        flow = cc(
            auth="client_secret_jwt", client_secret=SECRET, assertion_lifetime=lifetime
        )
        _, claims, _ = parts(field(flow.token_request(STAMP), "client_assertion"))
        assert claims["exp"] - claims["iat"] == lifetime


def test_the_same_stamp_gives_the_same_bytes_a_new_jti_new_bytes() -> None:
    for value in (generated("rsa"), generated("ed25519")):
        flow = cc(auth="private_key_jwt", private_key=value)
        first = flow.token_request(STAMP)
        assert flow.token_request(STAMP) == first
        assert (
            cc(auth="private_key_jwt", private_key=value).token_request(STAMP) == first
        )
        other = flow.token_request(Stamp(now=NOW, jti="jti-2"))
        assert other != first
        assert parts(field(other, "client_assertion"))[1]["jti"] == "jti-2"
        # A stamp in the same second but another fraction: the same iat.
        later = flow.token_request(Stamp(now=int(NOW) + 0.01, jti="jti-1"))
        assert later == first


def test_a_signing_flow_needs_a_stamp_for_each_request() -> None:
    for flow in (
        cc(auth="private_key_jwt", private_key=generated("ec")),
        cc(auth="client_secret_jwt", client_secret=SECRET),
        pg(auth="client_secret_jwt", client_secret=SECRET),
    ):
        with pytest.raises(ValueError, match=r"signs each request: pass a Stamp"):
            flow.token_request()
        with pytest.raises(ValueError, match=r"signs each request: pass a Stamp"):
            flow.refresh_request("rt-REFRESH-1")


def test_a_supplied_assertion_is_read_for_each_request_and_needs_no_stamp() -> None:
    calls: list[int] = []

    def assertion() -> str:
        calls.append(1)
        return f"{ASSERTION}-{len(calls)}"

    flow = cc(auth="private_key_jwt", client_assertion=assertion)
    assert not flow.needs_stamp
    token = flow.token_request()
    refresh = flow.refresh_request("rt-REFRESH-1")
    assert field(token, "client_assertion") == f"{ASSERTION}-1"
    assert field(refresh, "client_assertion") == f"{ASSERTION}-2"
    assert field(token, "client_assertion_type") == ASSERTION_TYPE
    assert field(token, "client_id") == CLIENT_ID
    # A stamp changes nothing for it.
    assert field(flow.token_request(STAMP), "client_assertion") == f"{ASSERTION}-3"


@pytest.mark.parametrize(
    ("value", "error", "message"),
    [
        (None, TypeError, "must be a str, got NoneType"),
        (ASSERTION.encode(), TypeError, "must be a str, got bytes"),
        ("", ValueError, "must not be empty"),
        ("ab\ud800cd", ValueError, "lone surrogate"),
    ],
)
def test_a_supplied_assertion_that_is_no_text_fails_clearly(
    value: object, error: type[Exception], message: str
) -> None:
    flow = cc(auth="private_key_jwt", client_assertion=supplied(value))
    with pytest.raises(error, match=message) as caught:
        flow.token_request()
    assert str(caught.value).startswith("the client_assertion callable's result")
    assert ASSERTION not in str(caught.value)


@pytest.mark.parametrize("auth", ["tls_client_auth", "self_signed_tls_client_auth"])
def test_mutual_tls_sends_the_client_id_and_nothing_else_of_the_client(
    auth: str,
) -> None:
    flow = cc(auth=auth, scope="payments")
    assert not flow.needs_stamp
    for request in both_requests(flow, stamp=None):
        assert request.headers == FORM_HEADERS
        assert names(request)[-1] == "client_id"
        assert field(request, "client_id") == CLIENT_ID
        assert not {"client_secret", "client_assertion", "client_assertion_type"} & set(
            names(request)
        )


def test_the_secret_methods_are_as_before() -> None:
    post = cc(client_secret=SECRET)
    assert not post.needs_stamp
    assert fields(post.token_request()) == [
        ("grant_type", "client_credentials"),
        ("client_id", CLIENT_ID),
        ("client_secret", SECRET),
    ]
    basic = cc(client_secret=SECRET, auth="client_secret_basic")
    request = basic.token_request()
    credentials = f"{CLIENT_ID}:{quote(SECRET, safe='')}".encode()
    assert request.header("Authorization") == (
        "Basic " + base64.b64encode(credentials).decode()
    )
    assert fields(request) == [("grant_type", "client_credentials")]
    # A public client (no secret) of a password grant sends its id alone.
    assert fields(pg().token_request())[-1] == ("client_id", CLIENT_ID)
    assert "client_id" not in names(pg(client_id=None).token_request())


# -- resources (RFC 8707) ------------------------------------------------------


def test_resources_go_on_token_and_refresh_requests_in_order() -> None:
    resources = ("urn:example:b", "https://api.example.com/a?x=1")
    methods: list[tuple[str, dict[str, Any]]] = [
        ("client_secret_post", {"client_secret": SECRET}),
        ("private_key_jwt", {"private_key": generated("ed25519")}),
    ]
    for auth, extra in methods:
        flow = cc(auth=auth, resource=resources, extra={"audience": "api"}, **extra)
        for request in both_requests(flow):
            got = [value for name, value in fields(request) if name == "resource"]
            assert got == list(resources)
            # Before the extra fields and the client's own.
            order = names(request)
            assert order.index("resource") < order.index("audience")
            assert order.index("audience") < order.index("client_id")


def test_one_resource_may_be_a_string() -> None:
    flow = cc(client_secret=SECRET, resource="https://api.example.com/")
    assert flow.resource == ("https://api.example.com/",)
    assert field(flow.token_request(), "resource") == "https://api.example.com/"
    assert "resource" not in names(cc(client_secret=SECRET).token_request())


@PROPERTY
@given(
    scheme=st.from_regex(r"[A-Za-z][A-Za-z0-9+.-]{0,8}", fullmatch=True),
    rest=st.text(
        st.characters(min_codepoint=0x21, max_codepoint=0x7E, exclude_characters="#"),
        max_size=30,
    ),
)
def test_property_an_absolute_uri_without_fragment_is_a_resource(
    scheme: str, rest: str
) -> None:
    uri = f"{scheme}:{rest}"
    flow = cc(client_secret=SECRET, resource=[uri])
    assert field(flow.token_request(), "resource") == uri


@pytest.mark.parametrize(
    "uri", ["https://api.example.com/caf\u00e9", "https://api.example.com/\u2028x"]
)
def test_a_resource_outside_ascii_is_refused(uri: str) -> None:
    # URIs are ASCII (RFC 3986 §2): an IRI must be percent-encoded first.
    with pytest.raises(ValueError, match=r"^resource must be absolute URIs"):
        cc(client_secret=SECRET, resource=[uri])


# -- refusals: by name, never a value -------------------------------------------

PEM = pem_of(generated("ed25519")).decode()
ENCRYPTED_PEM = pem_of(generated("ed25519"), PASSWORD.encode()).decode()
GIVEN_SECRETS = (SECRET, ASSERTION, PASSWORD, *PEM.splitlines()[1:-1])
GIVEN_SECRETS += tuple(ENCRYPTED_PEM.splitlines()[1:-1])

REFUSALS: list[tuple[str, dict[str, Any], type[Exception], str]] = [
    # auth itself
    ("unknown auth", {"auth": SECRET}, ValueError, r"^auth must be one of"),
    ("auth of another case", {"auth": "PRIVATE_KEY_JWT"}, ValueError, "^auth must"),
    # what a method does not use
    *(
        (
            f"private_key with {auth}",
            {"auth": auth, "private_key": PEM, "client_secret": SECRET},
            ValueError,
            r"^private_key needs auth='private_key_jwt'$",
        )
        for auth in (
            "client_secret_post",
            "client_secret_basic",
            "client_secret_jwt",
        )
    ),
    *(
        (
            f"private_key with {auth}",
            {"auth": auth, "private_key": PEM},
            ValueError,
            r"^private_key needs auth='private_key_jwt'$",
        )
        for auth in ("tls_client_auth", "self_signed_tls_client_auth")
    ),
    *(
        (
            f"client_assertion with {auth}",
            {"auth": auth, "client_assertion": supplied(), "client_secret": SECRET},
            ValueError,
            r"^client_assertion needs auth='private_key_jwt'$",
        )
        for auth in ("client_secret_post", "client_secret_basic", "client_secret_jwt")
    ),
    (
        "assertion_audience with client_secret_post",
        {"client_secret": SECRET, "assertion_audience": "https://auth.example.com"},
        ValueError,
        r"^assertion_audience needs auth='private_key_jwt' or 'client_secret_jwt'$",
    ),
    (
        "assertion_audience with tls_client_auth",
        {"auth": "tls_client_auth", "assertion_audience": "https://a.example"},
        ValueError,
        r"^assertion_audience needs",
    ),
    (
        "key_id without a key",
        {"auth": "client_secret_jwt", "client_secret": SECRET, "key_id": "k1"},
        ValueError,
        r"^key_id and algorithm need a private_key$",
    ),
    (
        "algorithm without a key",
        {
            "auth": "private_key_jwt",
            "client_assertion": supplied(),
            "algorithm": "RS256",
        },
        ValueError,
        r"^key_id and algorithm need a private_key$",
    ),
    *(
        (
            f"client_secret with {auth}",
            {"auth": auth, "client_secret": SECRET, "private_key": PEM}
            if auth == "private_key_jwt"
            else {"auth": auth, "client_secret": SECRET},
            ValueError,
            rf"^auth='{auth}' sends no client_secret: leave it out$",
        )
        for auth in (
            "private_key_jwt",
            "tls_client_auth",
            "self_signed_tls_client_auth",
        )
    ),
    (
        "private_key_jwt with neither",
        {"auth": "private_key_jwt"},
        ValueError,
        r"^auth='private_key_jwt' needs a private_key or a client_assertion",
    ),
    (
        "private_key_jwt with both",
        {"auth": "private_key_jwt", "private_key": PEM, "client_assertion": supplied()},
        ValueError,
        r"^auth='private_key_jwt' needs a private_key or a client_assertion",
    ),
    (
        "an assertion that is no callable",
        {"auth": "private_key_jwt", "client_assertion": ASSERTION},
        TypeError,
        r"^client_assertion must be a callable returning the assertion",
    ),
    (
        "client_secret_jwt without a secret",
        {"auth": "client_secret_jwt"},
        ValueError,
        r"^auth='client_secret_jwt' needs a client_secret$",
    ),
    # the key
    (
        "key_id empty",
        {"auth": "private_key_jwt", "private_key": PEM, "key_id": ""},
        ValueError,
        r"^key_id must be a non-empty line of printable text$",
    ),
    (
        "algorithm not for the key",
        {"auth": "private_key_jwt", "private_key": PEM, "algorithm": "ES256"},
        ValueError,
        r"^algorithm ES256 does not fit private_key",
    ),
    (
        "algorithm that is a secret",
        {"auth": "private_key_jwt", "private_key": PEM, "algorithm": SECRET},
        ValueError,
        r"^the algorithm given does not fit private_key",
    ),
    (
        "RSA under 2048 bits",
        {
            "auth": "private_key_jwt",
            "private_key": rsa.generate_private_key(
                public_exponent=65537, key_size=1024
            ),
        },
        ValueError,
        r"^private_key is a 1024-bit RSA key",
    ),
    (
        "EC off P-256",
        {
            "auth": "private_key_jwt",
            "private_key": ec.generate_private_key(ec.SECP384R1()),
        },
        ValueError,
        r"^private_key is an EC key on secp384r1; ES256 needs P-256$",
    ),
    (
        "an encrypted PEM (the flows take no password)",
        {"auth": "private_key_jwt", "private_key": ENCRYPTED_PEM},
        ValueError,
        r"^private_key is not a PEM private key that can be read \(.*password\)$",
    ),
    (
        "a PEM that is garbage",
        {
            "auth": "private_key_jwt",
            "private_key": f"-----BEGIN PRIVATE KEY-----\n{SECRET}",
        },
        ValueError,
        r"^private_key is not a PEM private key that can be read$",
    ),
    (
        "a secret where the key goes",
        {"auth": "private_key_jwt", "private_key": SECRET},
        ValueError,
        r"^private_key is not a PEM private key that can be read$",
    ),
    (
        "a key of no kind",
        {"auth": "private_key_jwt", "private_key": 12345},
        TypeError,
        r"^private_key must be a PEM private key or a cryptography private key",
    ),
    # the assertion's terms
    *(
        (
            f"assertion_lifetime {value!r}",
            {
                "auth": "client_secret_jwt",
                "client_secret": SECRET,
                "assertion_lifetime": value,
            },
            ValueError,
            r"^assertion_lifetime must be whole seconds in \[1, 3600\]$",
        )
        for value in (0, -1, 3601, True, 1.5, "60", None)
    ),
    (
        "assertion_audience empty",
        {
            "auth": "client_secret_jwt",
            "client_secret": SECRET,
            "assertion_audience": "",
        },
        ValueError,
        r"^assertion_audience must not be empty$",
    ),
    (
        "assertion_audience no text",
        {"auth": "client_secret_jwt", "client_secret": SECRET, "assertion_audience": 7},
        TypeError,
        r"^assertion_audience must be a str, got int$",
    ),
    # resources
    *(
        (
            f"resource {label}",
            {"client_secret": SECRET, "resource": value},
            ValueError,
            r"^resource must be absolute URIs without a fragment \(RFC 8707 §2\)",
        )
        for label, value in [
            ("relative", f"api.example.com/{SECRET}"),
            ("a path", f"/{SECRET}"),
            ("with a fragment", f"https://api.example.com/#{SECRET}"),
            ("with a space", f"https://api.example.com/{SECRET} x"),
            ("with a control", f"https://api.example.com/{SECRET}\x7f"),
            ("a C1 control", f"https://api.example.com/{SECRET}\x85"),
            ("second of two bad", ["https://ok.example/", f"rel/{SECRET}"]),
            ("scheme with a bad start", f"1https://x/{SECRET}"),
        ]
    ),
    (
        "resource empty",
        {"client_secret": SECRET, "resource": ""},
        ValueError,
        r"^resource must not be empty$",
    ),
    (
        "resource not text",
        {"client_secret": SECRET, "resource": [b"https://x/"]},
        TypeError,
        r"^resource must be a str, got bytes$",
    ),
    (
        "resource bytes",
        {"client_secret": SECRET, "resource": b"https://x/"},
        TypeError,
        r"^resource must be a string or an iterable of strings$",
    ),
    (
        "resource a number",
        {"client_secret": SECRET, "resource": 5},
        TypeError,
        r"^resource must be a string or an iterable of strings$",
    ),
    (
        "resource lone surrogate",
        {"client_secret": SECRET, "resource": "https://x/\ud800"},
        ValueError,
        r"^resource is not valid text \(it holds a lone surrogate\)$",
    ),
    (
        "resource also in extra",
        {
            "client_secret": SECRET,
            "resource": "https://a.example/",
            "extra": {"resource": "https://b.example/"},
        },
        ValueError,
        r"^give the resources in resource=, not also in extra$",
    ),
    *(
        (
            f"extra sets {name}",
            {
                "auth": "client_secret_jwt",
                "client_secret": SECRET,
                "extra": {name: SECRET},
            },
            ValueError,
            rf"^extra must not set '{name}': the flow sets it",
        )
        for name in ("client_assertion", "client_assertion_type")
    ),
]


@pytest.mark.parametrize("name", FACTORIES)
@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [pytest.param(*case[1:], id=case[0]) for case in REFUSALS],
)
def test_every_refusal_names_the_argument_and_shows_no_value(
    name: str, kwargs: dict[str, Any], error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message) as caught:
        FACTORIES[name](**kwargs)
    shown = str(caught.value) + repr(caught.value)
    for secret in GIVEN_SECRETS:
        assert secret not in shown
    # Not chained to an exception that could quote a value.
    assert caught.value.__cause__ is None


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"auth": "client_secret_jwt", "client_secret": SECRET}, "client_secret_jwt"),
        ({"auth": "private_key_jwt", "private_key": PEM}, "private_key_jwt"),
        ({"auth": "tls_client_auth"}, "tls_client_auth"),
        ({"auth": "self_signed_tls_client_auth"}, "self_signed_tls_client_auth"),
        (
            {"auth": "client_secret_basic", "client_secret": SECRET},
            "client_secret_basic",
        ),
    ],
)
def test_a_method_that_names_the_client_needs_a_client_id(
    kwargs: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValueError, match=rf"^auth='{message}' needs a client_id$"):
        pg(client_id=None, **kwargs)


def test_a_client_secret_without_a_client_id_is_refused() -> None:
    with pytest.raises(
        ValueError, match=r"^client_secret needs a client_id$"
    ) as caught:
        pg(client_id=None, client_secret=SECRET)
    assert SECRET not in str(caught.value)


# -- no secret in a repr -----------------------------------------------------


def key_forms() -> list[tuple[str, object, list[str]]]:
    """A private key in each form a flow takes, with what must not show."""
    key = generated("rsa")
    assert isinstance(key, rsa.RSAPrivateKey)
    pem = pem_of(key)
    numbers = key.private_numbers()
    hidden = [line for line in pem.decode().splitlines() if "-----" not in line]
    hidden += [str(numbers.d), f"{numbers.d:x}", str(numbers.p), str(numbers.q)]
    return [
        ("pem text", pem.decode(), hidden),
        ("pem bytes", pem, hidden),
        ("key object", key, [*hidden, repr(key)]),
    ]


@pytest.mark.parametrize("name", FACTORIES)
def test_no_key_secret_or_assertion_shows_in_a_flow_repr(name: str) -> None:
    factory = FACTORIES[name]
    cases: list[tuple[object, list[str]]] = [
        (factory(auth="private_key_jwt", private_key=value), hidden)
        for _, value, hidden in key_forms()
    ]
    cases += [
        (factory(auth="client_secret_jwt", client_secret=SECRET), [SECRET]),
        (factory(auth="private_key_jwt", client_assertion=supplied()), [ASSERTION]),
        (factory(client_secret=SECRET, auth="client_secret_basic"), [SECRET]),
    ]
    for flow, hidden in cases:
        assert isinstance(flow, ClientCredentials | PasswordGrant)
        client = flow._client
        assert isinstance(client, ClientAuthentication)
        shown = [repr(flow), str(flow), repr(client), str(client)]
        stamp = STAMP if flow.needs_stamp else None
        shown += [repr(request) for request in both_requests(flow, stamp)]
        for text in shown:
            for secret in [*hidden, PASSWORD]:
                assert secret not in text, (secret[:10], text)
        # The flow names what was given, a secret as ***.
        assert "***" in repr(flow)
        assert f"auth={flow.auth!r}" in repr(flow)
        # The client authentication names its method, never its key.
        assert repr(client).startswith(f"ClientAuthentication(method={flow.auth!r}")


def test_a_flow_repr_shows_the_arguments_given_and_hides_the_secrets() -> None:
    flow = cc(
        auth="private_key_jwt",
        private_key=generated("ed25519"),
        key_id="kid-7",
        assertion_audience="https://auth.example.com",
        resource="https://api.example.com/",
    )
    assert repr(flow) == (
        f"ClientCredentials(token_url={URL!r}, client_id={CLIENT_ID!r}, "
        "auth='private_key_jwt', private_key=***, key_id='kid-7', "
        "assertion_audience='https://auth.example.com', "
        "resource=('https://api.example.com/',))"
    )
    assert repr(cc(auth="private_key_jwt", client_assertion=supplied())) == (
        f"ClientCredentials(token_url={URL!r}, client_id={CLIENT_ID!r}, "
        "auth='private_key_jwt', client_assertion=***)"
    )


# -- the assertion's claims, for any values ---------------------------------

CLIENT_IDS = st.text(st.characters(exclude_categories=["Cs"]), min_size=1, max_size=40)
HOSTS = st.from_regex(
    r"[a-z0-9]([a-z0-9-]{0,20}[a-z0-9])?(\.[a-z]{2,6}){0,2}", fullmatch=True
)
URL_TEXT = st.text(
    st.characters(min_codepoint=0x21, max_codepoint=0x7E, exclude_characters="#"),
    max_size=30,
)


@st.composite
def token_urls(draw: st.DrawFn) -> str:
    host = draw(HOSTS)
    path = draw(URL_TEXT).replace("?", "")
    query = draw(st.none() | URL_TEXT)
    url = f"https://{host}/{path}"
    return url if query is None else f"{url}?{query}"


STAMPS = st.builds(
    Stamp,
    now=st.floats(0, 2**33, allow_nan=False) | st.integers(0, 2**33),
    jti=st.text(st.characters(exclude_categories=["Cs"]), min_size=1, max_size=40),
)


@PROPERTY
@given(
    key_algorithm=st.sampled_from(KEY_ALGORITHMS),
    client_id=CLIENT_IDS,
    token_url=token_urls(),
    audience=st.none() | CLIENT_IDS,
    lifetime=st.integers(1, 3600),
    stamp=STAMPS,
    key_id=st.none() | CLIENT_IDS.filter(str.isprintable),
    refresh=st.booleans(),
)
def test_property_a_client_assertion_verifies_and_carries_exactly_the_rules_claims(
    key_algorithm: tuple[KeyKind, str],
    client_id: str,
    token_url: str,
    audience: str | None,
    lifetime: int,
    stamp: Stamp,
    key_id: str | None,
    refresh: bool,
) -> None:
    kind, algorithm = key_algorithm
    key = generated(kind)
    flow = cc(
        token_url=token_url,
        client_id=client_id,
        auth="private_key_jwt",
        private_key=key,
        algorithm=algorithm,
        key_id=key_id,
        assertion_audience=audience,
        assertion_lifetime=lifetime,
    )
    request = (
        flow.refresh_request("rt-1", stamp) if refresh else flow.token_request(stamp)
    )
    assert request.url == token_url
    assert field(request, "client_id") == client_id
    token = field(request, "client_assertion")
    header, claims, _ = parts(token)
    expected_header: dict[str, Any] = {"alg": algorithm, "typ": "JWT"}
    if key_id is not None:
        expected_header["kid"] = key_id
    assert header == expected_header
    check_assertion_claims(
        claims,
        client_id=client_id,
        audience=token_url if audience is None else audience,
        stamp=stamp,
        lifetime=lifetime,
    )
    assert verified(token, public_of(key), algorithm) == claims
    if algorithm in ("RS256", "EdDSA"):
        # Deterministic: the same stamp, the same bytes.
        again = (
            flow.refresh_request("rt-1", stamp)
            if refresh
            else flow.token_request(stamp)
        )
        assert again == request


@PROPERTY
@given(secret=CLIENT_IDS, client_id=CLIENT_IDS, stamp=STAMPS)
def test_property_a_client_secret_jwt_verifies_with_the_secret(
    secret: str, client_id: str, stamp: Stamp
) -> None:
    flow = cc(client_id=client_id, client_secret=secret, auth="client_secret_jwt")
    request = flow.token_request(stamp)
    token = field(request, "client_assertion")
    claims = verified_hs256(token, secret)
    check_assertion_claims(claims, client_id=client_id, audience=URL, stamp=stamp)
    assert "client_secret" not in names(request)
    assert flow.token_request(stamp) == request


# -- the store key -------------------------------------------------------------


@pytest.mark.parametrize("name", ["client_credentials", "smartdocumentor"])
def test_the_recorded_store_keys_are_unchanged(name: str) -> None:
    assert store_key(RECORDED_FLOWS[name]()) == EXPECTED_KEYS[name]


def test_how_the_client_authenticates_does_not_change_the_store_key() -> None:
    # The recorded client_credentials flow, authenticated every other way.
    recorded = RECORDED_FLOWS["client_credentials"]()
    common: dict[str, Any] = {
        "token_url": recorded.token_url,
        "client_id": recorded.client_id,
        "scope": recorded.scope,
        "extra": recorded.extra,
    }
    others: list[dict[str, Any]] = [
        {"client_secret": "another-secret", "auth": "client_secret_basic"},
        {"client_secret": SECRET, "auth": "client_secret_jwt"},
        {"auth": "private_key_jwt", "private_key": generated("ec"), "key_id": "k"},
        {"auth": "private_key_jwt", "client_assertion": supplied()},
        {"auth": "tls_client_auth"},
    ]
    for kwargs in others:
        flow = ClientCredentials(**common, **kwargs)
        assert store_key(flow) == EXPECTED_KEYS["client_credentials"]


def test_resources_change_the_store_key_order_and_repeats_do_not() -> None:
    base = cc(client_secret=SECRET)
    one = cc(client_secret=SECRET, resource="https://a.example/")
    two = cc(
        client_secret=SECRET, resource=["https://a.example/", "https://b.example/"]
    )
    swapped = cc(
        client_secret=SECRET, resource=["https://b.example/", "https://a.example/"]
    )
    repeated = cc(
        client_secret=SECRET,
        resource=["https://b.example/", "https://a.example/", "https://b.example/"],
    )
    keys = {store_key(flow) for flow in (base, one, two)}
    assert len(keys) == 3
    assert store_key(swapped) == store_key(two) == store_key(repeated)
    assert ("resource", "https://a.example/ https://b.example/") in two.cache_identity()
    assert not any(name == "resource" for name, _ in base.cache_identity())
    for flow in (pg(resource="urn:x:1"), pg()):
        assert ("username", "alice") in flow.cache_identity()
    assert store_key(pg(resource="urn:x:1")) != store_key(pg())


def test_no_secret_or_key_in_a_cache_identity() -> None:
    key = generated("rsa")
    flow = cc(auth="private_key_jwt", private_key=pem_of(key).decode(), key_id="kid-3")
    text = repr(flow.cache_identity())
    for form in pem_of(key).decode().splitlines()[1:-1]:
        assert form not in text
    assert "kid-3" not in text  # which key signs is not whose token it is
    secret_flow = pg(auth="client_secret_jwt", client_secret=SECRET)
    text = repr(secret_flow.cache_identity())
    assert SECRET not in text
    assert PASSWORD not in text


def test_an_assertion_audience_beside_an_assertion_callable_is_refused() -> None:
    # The assertion is made elsewhere, with its own aud: ours would be
    # ignored without a word.
    with pytest.raises(ValueError, match=r"^assertion_audience is for assertions"):
        cc(
            auth="private_key_jwt",
            client_assertion=lambda: "a.b.c",
            assertion_audience="https://issuer.example",
        )


# -- what a server echoes: the flow's own secrets, sent or not ------------------

ECHO_SECRET = "s3cr3t-hmac-key-0123456789abcdef"


def _echo_answers(secret: str) -> list[sansio_auth.HttpResponse]:
    from sansio_auth import HttpResponse

    json_type = (("Content-Type", "application/json"),)
    return [
        HttpResponse(
            status=400,
            headers=json_type,
            body=(
                '{"error": "invalid_client", "error_description": '
                f'"expected HMAC key {secret}"}}'
            ).encode(),
        ),
        HttpResponse(
            status=500,
            headers=(("Content-Type", "text/html"),),
            body=f"<html><pre>key={secret}</pre></html>".encode(),
        ),
        HttpResponse(
            status=200,
            headers=json_type,
            body=(
                '{"access_token": "at-0123456789", "token_type": "Bearer", '
                f'"expires_in": 60, "scope": "read {secret}"}}'
            ).encode(),
        ),
    ]


@pytest.mark.parametrize(
    "auth", ["client_secret_post", "client_secret_basic", "client_secret_jwt"]
)
@pytest.mark.parametrize("answer", range(3), ids=["oauth", "html", "scope"])
def test_an_echoed_client_secret_never_shows_whether_it_was_sent_or_not(
    auth: str, answer: int
) -> None:
    # client_secret_jwt signs with the secret and never sends it: the mask
    # must know it from the flow, not only from the request.
    from sansio_auth import SendRequest, TokenSession

    from session_driver import count_jti

    flow = cc(client_secret=ECHO_SECRET, auth=auth)
    session = TokenSession(flow, jti=count_jti())
    step = session.next_step(1_800_000_000.0)
    assert isinstance(step, SendRequest)
    result = session.receive(
        _echo_answers(ECHO_SECRET)[answer], now=1_800_000_000.0, step=step
    )
    assert isinstance(result, sansio_auth.TokenError)
    for text in (str(result), repr(result), repr(session.stats)):
        assert ECHO_SECRET not in text
        assert ECHO_SECRET[:16] not in text


@pytest.mark.parametrize(
    "kwargs",
    [
        {"client_secret": SECRET},  # client_secret_post signs nothing
        {"client_secret": SECRET, "auth": "client_secret_basic"},
        {"auth": "tls_client_auth"},
        {"auth": "private_key_jwt", "client_assertion": lambda: "a.b.c"},
    ],
)
def test_an_assertion_lifetime_nothing_would_carry_is_refused(
    kwargs: dict[str, Any],
) -> None:
    with pytest.raises(ValueError, match=r"^assertion_lifetime is for assertions"):
        cc(assertion_lifetime=30, **kwargs)
    cc(**kwargs)  # the default is no request for anything
