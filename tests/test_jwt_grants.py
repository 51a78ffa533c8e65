"""The JWT bearer grant (RFC 7523 §2.1) and token exchange (RFC 8693).

* :class:`JwtBearerGrant`: the assertion it signs (``iss``, ``sub``,
  ``aud``, ``jti``, ``iat``, ``exp``, then the caller's claims), verified by
  PyJWT for every key type and, as a property, for any values; a given
  assertion (a string, or a callable read per request); a client that also
  authenticates; its refusals.
* :class:`TokenExchange`: the form (repeated ``audience`` and ``resource``,
  the subject and actor tokens with their types, the requested type), tokens
  read afresh from callables, the answer's ``issued_token_type``; its
  refusals.
* Both: no secret in a repr or a parse result; their store identity (no
  secret, a static token hashed, a callable naming itself or refused).
"""

from __future__ import annotations

import hashlib
import json
import math
from typing import Any
from urllib.parse import parse_qsl

import attrs
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
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

import sansio_auth
from sansio_auth import (
    TOKEN_TYPE_ACCESS_TOKEN,
    TOKEN_TYPE_ID_TOKEN,
    TOKEN_TYPE_JWT,
    TOKEN_TYPE_REFRESH_TOKEN,
    TOKEN_TYPE_SAML1,
    TOKEN_TYPE_SAML2,
    Flow,
    HttpRequest,
    HttpResponse,
    JwtBearerGrant,
    MalformedResponse,
    OAuthError,
    Stamp,
    Token,
    TokenExchange,
)
from sansio_auth._store_key import store_key

URL = "https://auth.example.com/oauth2/token"
ISSUER = "svc@project.iam.example.com"
CLIENT_ID = "client-1"
SECRET = "Zq9-client-SECRET-xv-0123456789abcdef"
ASSERTION = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ3b3JrbG9hZCJ9.R0lWRU4tQVNTRVJUSU9O"
SUBJECT = "st-SUBJECT-token-5f0c1d2e"
ACTOR = "at-ACTOR-token-9a8b7c6d"
NOW = 1_700_000_000.25
STAMP = Stamp(now=NOW, jti="jti-1")
JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
TOKEN_EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"
PROPERTY = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
KINDS: tuple[KeyKind, ...] = ("rsa", "ec", "ed25519")
KEY_ALGORITHMS = [(kind, alg) for kind in KINDS for alg in ALGORITHMS[kind]]


class Source:
    """A callable token source that names itself, as AssertionFile does."""

    def __init__(
        self, *values: object, identity: object = "file:/var/run/token"
    ) -> None:
        self.values = list(values)
        self.calls = 0
        self.cache_identity = identity

    def __call__(self) -> Any:
        self.calls += 1
        return self.values[min(self.calls, len(self.values)) - 1]


def fields(request: HttpRequest) -> list[tuple[str, str]]:
    return parse_qsl(request.body.decode("ascii"), keep_blank_values=True)


def field(request: HttpRequest, name: str) -> str:
    values = [value for key, value in fields(request) if key == name]
    assert len(values) == 1, name
    return values[0]


def bearer(**kwargs: Any) -> JwtBearerGrant:
    args: dict[str, Any] = {"token_url": URL}
    args.update(kwargs)
    return JwtBearerGrant(**args)


def signed(**kwargs: Any) -> JwtBearerGrant:
    return bearer(issuer=ISSUER, signing_key=generated("rsa"), **kwargs)


def exchange(**kwargs: Any) -> TokenExchange:
    args: dict[str, Any] = {"token_url": URL, "subject_token": SUBJECT}
    args.update(kwargs)
    return TokenExchange(**args)


def token_answer(**members: object) -> HttpResponse:
    body = {"access_token": "at-new", "token_type": "Bearer", "expires_in": 60}
    body.update(members)
    return HttpResponse(
        status=200,
        headers=(("Content-Type", "application/json"),),
        body=json.dumps(body).encode(),
    )


# -- JwtBearerGrant: the assertion it signs --------------------------------------


@pytest.mark.parametrize(("kind", "algorithm"), KEY_ALGORITHMS)
def test_the_signed_assertion_verifies_and_says_what_rfc7523_asks(
    kind: KeyKind, algorithm: str
) -> None:
    key = generated(kind)
    flow = bearer(
        issuer=ISSUER,
        subject="user@example.com",
        signing_key=key,
        signing_algorithm=algorithm,
        signing_key_id="sa-key-1",
        claims={"scope": "cloud", "target_audience": ["a", "b"], "n": 1.5},
        scope="openid",
    )
    assert flow.needs_stamp
    request = flow.token_request(STAMP)
    assert [name for name, _ in fields(request)] == [
        "grant_type",
        "assertion",
        "scope",
    ]
    assert field(request, "grant_type") == JWT_BEARER
    token = field(request, "assertion")
    header, claims, _ = parts(token)
    assert header == {"alg": algorithm, "typ": "JWT", "kid": "sa-key-1"}
    assert list(claims.items()) == [
        ("iss", ISSUER),
        ("sub", "user@example.com"),
        ("aud", URL),
        ("jti", "jti-1"),
        ("iat", int(NOW)),
        ("exp", int(NOW) + 300),
        ("scope", "cloud"),
        ("target_audience", ["a", "b"]),
        ("n", 1.5),
    ]
    assert verified(token, public_of(key), algorithm) == claims
    # No client authentication of its own: the assertion is the proof.
    assert request.header("Authorization") is None
    assert not {"client_id", "client_assertion"} & {name for name, _ in fields(request)}


def test_subject_and_audience_default_to_the_issuer_and_the_token_url() -> None:
    flow = bearer(
        issuer=ISSUER, signing_key=pem_of(generated("ed25519")).decode(), lifetime=60
    )
    _, claims, _ = parts(field(flow.token_request(STAMP), "assertion"))
    assert (claims["sub"], claims["aud"]) == (ISSUER, URL)
    assert claims["exp"] - claims["iat"] == 60
    other = bearer(
        issuer=ISSUER,
        signing_key=generated("ed25519"),
        audience="https://oauth2.example.com/",
    )
    _, claims, _ = parts(field(other.token_request(STAMP), "assertion"))
    assert claims["aud"] == "https://oauth2.example.com/"


def test_a_signing_grant_needs_a_stamp_and_gives_the_same_bytes_for_one() -> None:
    flow = signed()
    with pytest.raises(
        ValueError, match=r"^JwtBearerGrant signs each request: pass a Stamp"
    ):
        flow.token_request()
    assert flow.token_request(STAMP) == signed().token_request(STAMP)
    assert flow.token_request(Stamp(now=NOW, jti="jti-2")) != flow.token_request(STAMP)
    # Cannot refresh: a new assertion gets the next token.
    generic: Flow = flow
    assert generic.refresh_request("rt-1") is None


def test_a_client_that_signs_too_gets_its_own_jti() -> None:
    # Two JWTs in one request: the grant's and the client's, each with its
    # own jti, each verified by its own key.
    grant_key = generated("rsa")
    client_key = generated("ec")
    flow = bearer(
        issuer=ISSUER,
        signing_key=grant_key,
        client_id=CLIENT_ID,
        auth="private_key_jwt",
        private_key=client_key,
    )
    request = flow.token_request(STAMP)
    grant = field(request, "assertion")
    client = field(request, "client_assertion")
    grant_claims = verified(grant, public_of(grant_key), "RS256")
    client_claims = verified(client, public_of(client_key), "ES256")
    assert grant_claims["jti"] == "jti-1"
    assert client_claims["jti"] != grant_claims["jti"]
    assert (client_claims["iss"], client_claims["sub"]) == (CLIENT_ID, CLIENT_ID)
    assert client_claims["iat"] == grant_claims["iat"] == int(NOW)
    # client_secret_jwt too; a given assertion leaves the stamp's jti alone.
    hs = bearer(
        issuer=ISSUER,
        signing_key=grant_key,
        client_id=CLIENT_ID,
        client_secret=SECRET,
        auth="client_secret_jwt",
    ).token_request(STAMP)
    assert verified_hs256(field(hs, "client_assertion"), SECRET)["jti"] != "jti-1"
    given = bearer(
        assertion=ASSERTION,
        client_id=CLIENT_ID,
        auth="private_key_jwt",
        private_key=client_key,
    )
    assert given.needs_stamp
    client_claims = verified(
        field(given.token_request(STAMP), "client_assertion"),
        public_of(client_key),
        "ES256",
    )
    assert client_claims["jti"] == "jti-1"


@PROPERTY
@given(
    key_algorithm=st.sampled_from(KEY_ALGORITHMS),
    issuer=st.text(st.characters(exclude_categories=["Cs"]), min_size=1, max_size=30),
    subject=st.none()
    | st.text(st.characters(exclude_categories=["Cs"]), min_size=1, max_size=30),
    audience=st.none() | st.text(min_size=1, max_size=30).filter(str.isprintable),
    claims=st.dictionaries(
        st.text(max_size=10).filter(
            lambda name: name not in {"iss", "sub", "aud", "jti", "iat", "exp"}
        ),
        st.none()
        | st.booleans()
        | st.integers(-(2**53), 2**53)
        | st.text(st.characters(exclude_categories=["Cs"]), max_size=20),
        max_size=4,
    ),
    lifetime=st.integers(1, 3600),
    now=st.floats(0, 2**33, allow_nan=False),
    jti=st.text(st.characters(exclude_categories=["Cs"]), min_size=1, max_size=30),
)
def test_property_the_bearer_assertion_verifies_and_carries_exactly_its_claims(
    key_algorithm: tuple[KeyKind, str],
    issuer: str,
    subject: str | None,
    audience: str | None,
    claims: dict[str, Any],
    lifetime: int,
    now: float,
    jti: str,
) -> None:
    kind, algorithm = key_algorithm
    key = generated(kind)
    flow = bearer(
        issuer=issuer,
        subject=subject,
        audience=audience,
        signing_key=key,
        signing_algorithm=algorithm,
        claims=claims,
        lifetime=lifetime,
    )
    stamp = Stamp(now=now, jti=jti)
    request = flow.token_request(stamp)
    token = field(request, "assertion")
    header, decoded, _ = parts(token)
    assert header == {"alg": algorithm, "typ": "JWT"}
    iat = int(now)
    assert list(decoded.items()) == [
        ("iss", issuer),
        ("sub", issuer if subject is None else subject),
        ("aud", URL if audience is None else audience),
        ("jti", jti),
        ("iat", iat),
        ("exp", iat + lifetime),
        *claims.items(),
    ]
    assert verified(token, public_of(key), algorithm) == decoded
    if algorithm in ("RS256", "EdDSA"):
        assert flow.token_request(stamp) == request


# -- JwtBearerGrant: a given assertion --------------------------------------------


def test_a_given_assertion_is_sent_as_it_is_without_a_stamp() -> None:
    flow = bearer(assertion=ASSERTION, scope=["a", "b"])
    assert not flow.needs_stamp
    assert fields(flow.token_request()) == [
        ("grant_type", JWT_BEARER),
        ("assertion", ASSERTION),
        ("scope", "a b"),
    ]
    assert flow.token_request(STAMP) == flow.token_request()


def test_an_assertion_from_a_callable_is_read_for_each_request() -> None:
    source = Source("first.assertion.x", "second.assertion.y")
    flow = bearer(assertion=source)
    assert field(flow.token_request(), "assertion") == "first.assertion.x"
    assert field(flow.token_request(), "assertion") == "second.assertion.y"
    assert source.calls == 2


@pytest.mark.parametrize(
    ("value", "error", "message"),
    [
        (None, TypeError, "must be a str, got NoneType"),
        (b"bytes", TypeError, "must be a str, got bytes"),
        ("", ValueError, "must not be empty"),
    ],
)
def test_a_callable_that_gives_no_text_fails_naming_its_field(
    value: object, error: type[Exception], message: str
) -> None:
    flows: list[tuple[JwtBearerGrant | TokenExchange, str]] = [
        (bearer(assertion=Source(value)), "assertion"),
        (exchange(subject_token=Source(value)), "subject_token"),
        (
            exchange(actor_token=Source(value), actor_token_type=TOKEN_TYPE_JWT),
            "actor_token",
        ),
    ]
    for flow, name in flows:
        with pytest.raises(error, match=message) as caught:
            flow.token_request()
        assert str(caught.value).startswith(f"the {name} callable's result")


# -- JwtBearerGrant: refusals ------------------------------------------------------

PEM = pem_of(generated("ed25519")).decode()
GIVEN = (SECRET, ASSERTION, SUBJECT, ACTOR, *PEM.splitlines()[1:-1])

BEARER_REFUSALS: list[tuple[str, dict[str, Any], type[Exception], str]] = [
    (
        "nothing to assert with",
        {},
        ValueError,
        r"^JwtBearerGrant needs an assertion, or an issuer and a signing_key",
    ),
    (
        "an issuer without a key",
        {"issuer": ISSUER},
        ValueError,
        r"^JwtBearerGrant needs",
    ),
    (
        "a key without an issuer",
        {"signing_key": PEM},
        ValueError,
        r"^JwtBearerGrant needs",
    ),
    *(
        (
            f"an assertion with {name}",
            {"assertion": ASSERTION, name: value},
            ValueError,
            rf"^give JwtBearerGrant an assertion or what signs one, not both "
            rf"\({name} with an assertion\)$",
        )
        for name, value in [
            ("signing_key", PEM),
            ("issuer", ISSUER),
            ("subject", "user"),
            ("audience", "https://a.example/"),
            ("signing_key_id", "k1"),
            ("signing_algorithm", "EdDSA"),
            ("claims", {"scope": "x"}),
            ("lifetime", 60),
        ]
    ),
    (
        "an assertion with a key and an issuer",
        {"assertion": ASSERTION, "signing_key": PEM, "issuer": ISSUER},
        ValueError,
        r"\(signing_key, issuer with an assertion\)$",
    ),
    *(
        (
            f"claims setting {name}",
            {"issuer": ISSUER, "signing_key": PEM, "claims": {name: SECRET}},
            ValueError,
            rf"^claims must not set '{name}': the flow sets it itself$",
        )
        for name in ("iss", "sub", "aud", "jti", "iat", "exp")
    ),
    *(
        (
            f"claims {label}",
            {"issuer": ISSUER, "signing_key": PEM, "claims": value},
            TypeError,
            r"^claims must be a mapping of claim names to values$",
        )
        for label, value in [
            ("a string", SECRET),
            ("bytes", SECRET.encode()),
            ("a number", 5),
            ("not pairs", [SECRET]),
            ("a name not text", [(1, SECRET)]),
            ("a triple", [("a", "b", SECRET)]),
        ]
    ),
    *(
        (
            f"claims {label}",
            {"issuer": ISSUER, "signing_key": PEM, "claims": {"x": value}},
            TypeError,
            r"^claims must be JSON values",
        )
        for label, value in [
            ("an object", object()),
            ("a set", {SECRET}),
            ("NaN", math.nan),
            ("infinity", math.inf),
            ("bytes", SECRET.encode()),
        ]
    ),
    *(
        (
            f"lifetime {value!r}",
            {"issuer": ISSUER, "signing_key": PEM, "lifetime": value},
            ValueError,
            r"^lifetime must be whole seconds in \[1, 3600\]$",
        )
        for value in (0, 3601, True, 2.5, "300")
    ),
    (
        "a signing_key that is no PEM",
        {"issuer": ISSUER, "signing_key": SECRET},
        ValueError,
        r"^signing_key is not a PEM private key that can be read$",
    ),
    (
        "a small RSA signing key",
        {
            "issuer": ISSUER,
            "signing_key": pem_of(
                rsa.generate_private_key(public_exponent=65537, key_size=1024)
            ),
        },
        ValueError,
        r"^signing_key is a 1024-bit RSA key",
    ),
    (
        "a signing algorithm that does not fit",
        {"issuer": ISSUER, "signing_key": PEM, "signing_algorithm": "RS256"},
        ValueError,
        r"^algorithm RS256 does not fit signing_key",
    ),
    (
        "a signing_key_id that is empty",
        {"issuer": ISSUER, "signing_key": PEM, "signing_key_id": ""},
        ValueError,
        r"^signing_key_id must not be empty$",
    ),
    *(
        (
            f"{name} empty",
            {"issuer": ISSUER, "signing_key": PEM, name: ""},
            ValueError,
            rf"^{name} must not be empty$",
        )
        for name in ("subject", "audience")
    ),
    (
        "issuer empty",
        {"issuer": "", "signing_key": PEM},
        ValueError,
        r"^issuer must not be empty$",
    ),
    (
        "issuer not text",
        {"issuer": 7, "signing_key": PEM},
        TypeError,
        r"^issuer must be a str",
    ),
    (
        "assertion empty",
        {"assertion": ""},
        ValueError,
        r"^assertion must not be empty$",
    ),
    (
        "assertion bytes",
        {"assertion": ASSERTION.encode()},
        TypeError,
        r"^assertion must be a str, got bytes$",
    ),
    (
        "extra setting the assertion",
        {"assertion": ASSERTION, "extra": {"assertion": SECRET}},
        ValueError,
        r"^extra must not set 'assertion'",
    ),
    (
        "client_secret without client auth that uses it",
        {
            "assertion": ASSERTION,
            "client_id": CLIENT_ID,
            "client_secret": SECRET,
            "auth": "tls_client_auth",
        },
        ValueError,
        r"^auth='tls_client_auth' sends no client_secret",
    ),
]


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [pytest.param(*case[1:], id=case[0]) for case in BEARER_REFUSALS],
)
def test_every_bearer_refusal_names_the_argument_and_shows_no_value(
    kwargs: dict[str, Any], error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message) as caught:
        bearer(**kwargs)
    shown = str(caught.value) + repr(caught.value)
    for secret in GIVEN:
        assert secret not in shown
    assert caught.value.__cause__ is None


def test_no_claims_are_no_claims() -> None:
    empties: tuple[object, ...] = (None, {}, ())
    for claims in empties:
        flow = signed(claims=claims)
        assert flow.claims == ()
        _, decoded, _ = parts(field(flow.token_request(STAMP), "assertion"))
        assert list(decoded) == ["iss", "sub", "aud", "jti", "iat", "exp"]
    # Pairs keep their order.
    flow = signed(claims=[("b", 1), ("a", 2)])
    _, decoded, _ = parts(field(flow.token_request(STAMP), "assertion"))
    assert list(decoded)[6:] == ["b", "a"]


def test_a_given_lifetime_equal_to_the_default_is_no_conflict() -> None:
    # 300 is the default: it cannot be told from not given, and changes nothing.
    assert bearer(assertion=ASSERTION, lifetime=300).lifetime == 300


# -- TokenExchange ---------------------------------------------------------------


def test_the_exchange_form_has_every_field_in_its_place() -> None:
    flow = exchange(
        subject_token_type=TOKEN_TYPE_JWT,
        actor_token=ACTOR,
        actor_token_type=TOKEN_TYPE_ACCESS_TOKEN,
        audience=("b", "a b"),
        resource=["https://r1.example/", "urn:r2"],
        requested_token_type=TOKEN_TYPE_ID_TOKEN,
        scope="x y",
        extra={"tenant": "t1"},
    )
    assert not flow.needs_stamp
    assert fields(flow.token_request()) == [
        ("grant_type", TOKEN_EXCHANGE),
        ("audience", "b"),
        ("audience", "a b"),
        ("subject_token", SUBJECT),
        ("subject_token_type", TOKEN_TYPE_JWT),
        ("actor_token", ACTOR),
        ("actor_token_type", TOKEN_TYPE_ACCESS_TOKEN),
        ("requested_token_type", TOKEN_TYPE_ID_TOKEN),
        ("scope", "x y"),
        ("resource", "https://r1.example/"),
        ("resource", "urn:r2"),
        ("tenant", "t1"),
    ]
    generic: Flow = flow
    assert generic.refresh_request("rt-1") is None


def test_the_least_exchange_is_a_subject_token_of_the_access_token_type() -> None:
    flow = exchange()
    assert flow.subject_token_type == TOKEN_TYPE_ACCESS_TOKEN
    assert fields(flow.token_request()) == [
        ("grant_type", TOKEN_EXCHANGE),
        ("subject_token", SUBJECT),
        ("subject_token_type", "urn:ietf:params:oauth:token-type:access_token"),
    ]


def test_the_token_type_identifiers_are_rfc8693s() -> None:
    prefix = "urn:ietf:params:oauth:token-type:"
    assert {
        value: value.removeprefix(prefix)
        for value in (
            TOKEN_TYPE_ACCESS_TOKEN,
            TOKEN_TYPE_REFRESH_TOKEN,
            TOKEN_TYPE_ID_TOKEN,
            TOKEN_TYPE_JWT,
            TOKEN_TYPE_SAML1,
            TOKEN_TYPE_SAML2,
        )
    } == {
        TOKEN_TYPE_ACCESS_TOKEN: "access_token",
        TOKEN_TYPE_REFRESH_TOKEN: "refresh_token",
        TOKEN_TYPE_ID_TOKEN: "id_token",
        TOKEN_TYPE_JWT: "jwt",
        TOKEN_TYPE_SAML1: "saml1",
        TOKEN_TYPE_SAML2: "saml2",
    }


def test_subject_and_actor_tokens_from_callables_are_read_each_request() -> None:
    subject = Source("s-1", "s-2")
    actor = Source("a-1", "a-2", identity="actor-file")
    flow = exchange(
        subject_token=subject, actor_token=actor, actor_token_type=TOKEN_TYPE_JWT
    )
    first, second = flow.token_request(), flow.token_request()
    assert (field(first, "subject_token"), field(first, "actor_token")) == (
        "s-1",
        "a-1",
    )
    assert (field(second, "subject_token"), field(second, "actor_token")) == (
        "s-2",
        "a-2",
    )


def test_an_exchange_authenticates_its_client_any_way() -> None:
    key = generated("ed25519")
    signing = exchange(client_id=CLIENT_ID, auth="private_key_jwt", private_key=key)
    assert signing.needs_stamp
    request = signing.token_request(STAMP)
    claims = verified(field(request, "client_assertion"), public_of(key), "EdDSA")
    assert (claims["iss"], claims["jti"]) == (CLIENT_ID, "jti-1")
    with pytest.raises(ValueError, match="pass a Stamp"):
        signing.token_request()
    mtls = exchange(client_id=CLIENT_ID, auth="tls_client_auth").token_request()
    assert fields(mtls)[-1] == ("client_id", CLIENT_ID)


def test_the_answers_issued_token_type_is_kept_and_checked() -> None:
    flow = exchange()
    token = flow.parse(token_answer(issued_token_type=TOKEN_TYPE_ACCESS_TOKEN), now=NOW)
    assert isinstance(token, Token)
    assert token.raw["issued_token_type"] == TOKEN_TYPE_ACCESS_TOKEN
    # RFC 8693 §2.2.1: N_A when what was issued is no access token.
    na = flow.parse(
        token_answer(token_type="N_A", issued_token_type=TOKEN_TYPE_ID_TOKEN), now=NOW
    )
    assert isinstance(na, Token)
    assert na.token_type == "N_A"
    # REQUIRED by RFC 8693 §2.2.1: without it no one can tell what came.
    missing = flow.parse(token_answer(), now=NOW)
    assert isinstance(missing, MalformedResponse)
    assert missing.reason == "the answer has no issued_token_type (RFC 8693 §2.2.1)"
    for bad in (5, "", ["x"], {"a": 1}):
        result = flow.parse(token_answer(issued_token_type=bad), now=NOW)
        assert isinstance(result, MalformedResponse)
        assert result.reason == "issued_token_type is not a string"
        assert (result.status, result.content_type) == (200, "application/json")
        assert result.snippet == ""


EXCHANGE_REFUSALS: list[tuple[str, dict[str, Any], type[Exception], str]] = [
    (
        "subject_token empty",
        {"subject_token": ""},
        ValueError,
        r"^subject_token must not be empty$",
    ),
    (
        "subject_token bytes",
        {"subject_token": SUBJECT.encode()},
        TypeError,
        r"^subject_token must be a str, got bytes$",
    ),
    (
        "subject_token lone surrogate",
        {"subject_token": SUBJECT + "\ud800"},
        ValueError,
        r"^subject_token is not valid text",
    ),
    (
        "subject_token_type empty",
        {"subject_token_type": ""},
        ValueError,
        r"^subject_token_type must not be empty$",
    ),
    (
        "actor_token without its type",
        {"actor_token": ACTOR},
        ValueError,
        r"^actor_token and actor_token_type go together$",
    ),
    (
        "actor_token_type without the token",
        {"actor_token_type": TOKEN_TYPE_JWT},
        ValueError,
        r"^actor_token and actor_token_type go together$",
    ),
    (
        "actor_token empty",
        {"actor_token": "", "actor_token_type": TOKEN_TYPE_JWT},
        ValueError,
        r"^actor_token must not be empty$",
    ),
    (
        "actor_token_type not text",
        {"actor_token": ACTOR, "actor_token_type": 3},
        TypeError,
        r"^actor_token_type must be a str, got int$",
    ),
    (
        "requested_token_type empty",
        {"requested_token_type": ""},
        ValueError,
        r"^requested_token_type must not be empty$",
    ),
    ("audience empty", {"audience": ""}, ValueError, r"^audience must not be empty$"),
    (
        "an audience empty",
        {"audience": ["a", ""]},
        ValueError,
        r"^audience must not be empty$",
    ),
    (
        "audience bytes",
        {"audience": SECRET.encode()},
        TypeError,
        r"^audience must be a string or an iterable of strings$",
    ),
    (
        "resource with a fragment",
        {"resource": f"https://api.example/#{SECRET}"},
        ValueError,
        r"^resource must be absolute URIs without a fragment",
    ),
    *(
        (
            f"extra setting {name}",
            {"extra": {name: SECRET}},
            ValueError,
            rf"^extra must not set '{name}'",
        )
        for name in (
            "subject_token",
            "subject_token_type",
            "actor_token",
            "actor_token_type",
            "audience",
            "requested_token_type",
            "grant_type",
        )
    ),
    (
        "private_key without private_key_jwt",
        {"client_id": CLIENT_ID, "client_secret": SECRET, "private_key": PEM},
        ValueError,
        r"^private_key needs auth='private_key_jwt'$",
    ),
]


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [pytest.param(*case[1:], id=case[0]) for case in EXCHANGE_REFUSALS],
)
def test_every_exchange_refusal_names_the_argument_and_shows_no_value(
    kwargs: dict[str, Any], error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message) as caught:
        exchange(**kwargs)
    shown = str(caught.value) + repr(caught.value)
    for secret in GIVEN:
        assert secret not in shown
    assert caught.value.__cause__ is None


# -- no secret shows ---------------------------------------------------------------


def shown_flows() -> list[tuple[object, tuple[str, ...]]]:
    key = generated("rsa")
    pem = pem_of(key).decode()
    return [
        (bearer(assertion=ASSERTION), (ASSERTION,)),
        (bearer(assertion=Source(ASSERTION)), (ASSERTION,)),
        (
            bearer(
                issuer=ISSUER,
                signing_key=pem,
                client_id=CLIENT_ID,
                client_secret=SECRET,
            ),
            (SECRET, *pem.splitlines()[1:-1]),
        ),
        (bearer(issuer=ISSUER, signing_key=key), (repr(key),)),
        (
            exchange(actor_token=ACTOR, actor_token_type=TOKEN_TYPE_JWT),
            (SUBJECT, ACTOR),
        ),
        (exchange(subject_token=Source(SUBJECT)), (SUBJECT,)),
    ]


def test_no_token_key_or_secret_in_the_repr_of_a_grant() -> None:
    for flow, hidden in shown_flows():
        text = repr(flow) + str(flow)
        for secret in hidden:
            assert secret not in text
        assert "***" in text
    assert repr(exchange(audience="api")) == (
        f"TokenExchange(token_url={URL!r}, subject_token=***, audience=('api',))"
    )
    assert repr(bearer(assertion=ASSERTION)) == (
        f"JwtBearerGrant(token_url={URL!r}, assertion=***)"
    )


@pytest.mark.parametrize("where", ["description", "html"])
def test_a_static_token_echoed_in_an_error_is_masked_by_the_flows_parse(
    where: str,
) -> None:
    # Without a session (which masks what the request carried): the flows
    # mask the tokens they hold themselves.
    flows: list[tuple[JwtBearerGrant | TokenExchange, str]] = [
        (bearer(assertion=ASSERTION), ASSERTION),
        (
            bearer(assertion=Source("x"), client_id=CLIENT_ID, client_secret=SECRET),
            SECRET,
        ),
        (signed(client_id=CLIENT_ID, client_secret=SECRET), SECRET),
        (exchange(), SUBJECT),
        (exchange(actor_token=ACTOR, actor_token_type=TOKEN_TYPE_JWT), ACTOR),
        (
            bearer(assertion=ASSERTION, client_id=CLIENT_ID, client_secret=SECRET),
            SECRET,
        ),
    ]
    for flow, secret in flows:
        if where == "description":
            body = json.dumps(
                {"error": "invalid_grant", "error_description": f"bad token {secret}"}
            )
            answer = HttpResponse(
                status=400,
                headers=(("Content-Type", "application/json"),),
                body=body.encode(),
            )
        else:
            answer = HttpResponse(
                status=500,
                headers=(("Content-Type", "text/html"),),
                body=f"<pre>assertion={secret}</pre>".encode(),
            )
        result = flow.parse(answer, now=NOW)
        assert not isinstance(result, Token)
        text = str(result) + repr(result) + str(attrs.asdict(result))  # type: ignore[arg-type]
        assert secret not in text
        if where == "description":
            assert isinstance(result, OAuthError)
            assert result.description == "bad token ***"


# -- the store identity -------------------------------------------------------------


def sha256(text: str) -> str:
    return "sha256:" + hashlib.sha256(text.encode("utf-8")).hexdigest()


def test_the_bearer_identity_names_what_decides_the_token() -> None:
    flow = signed(
        subject="user@example.com",
        claims={"scope": "cloud"},
        client_id=CLIENT_ID,
        client_secret=SECRET,
        resource="https://api.example/",
    )
    assert flow.cache_identity() == (
        ("grant", "jwt_bearer"),
        ("token_url", URL),
        ("client_id", CLIENT_ID),
        ("issuer", ISSUER),
        ("subject", "user@example.com"),
        ("audience", URL),
        ("claim:scope", '"cloud"'),  # JSON, keys sorted: one form per value
        ("scope", ""),
        ("resource", "https://api.example/"),
    )
    assert bearer(assertion=ASSERTION).cache_identity() == (
        ("grant", "jwt_bearer"),
        ("token_url", URL),
        ("assertion", sha256(ASSERTION)),
        ("scope", ""),
    )
    assert bearer(assertion=Source("x")).cache_identity()[2] == (
        "assertion",
        "file:/var/run/token",
    )


def test_claims_in_another_order_share_the_bearer_identity() -> None:
    def with_claims(claims: dict[str, object]) -> tuple[tuple[str, str], ...]:
        return signed(claims=claims).cache_identity()

    first = with_claims({"ctx": {"a": 1, "b": [1, 2]}})
    assert first == with_claims({"ctx": {"b": [1, 2], "a": 1}})
    assert first != with_claims({"ctx": {"a": 1, "b": [2, 1]}})


def test_the_exchange_identity_names_what_decides_the_token() -> None:
    flow = exchange(
        actor_token=ACTOR,
        actor_token_type=TOKEN_TYPE_JWT,
        audience=["b", "a", "b"],
        requested_token_type=TOKEN_TYPE_ID_TOKEN,
    )
    assert flow.cache_identity() == (
        ("grant", "token_exchange"),
        ("token_url", URL),
        ("subject", sha256(SUBJECT)),
        ("subject_token_type", TOKEN_TYPE_ACCESS_TOKEN),
        ("actor", sha256(ACTOR)),
        ("actor_token_type", TOKEN_TYPE_JWT),
        ("audience", "a"),
        ("audience", "b"),
        ("requested_token_type", TOKEN_TYPE_ID_TOKEN),
        ("scope", ""),
    )


def test_what_decides_the_token_changes_the_key_and_nothing_else_does() -> None:
    key = store_key(exchange())
    assert store_key(exchange()) == key
    # The client's proof, its secret or key, is not whose token it is.
    assert store_key(exchange(client_id="c", client_secret="s1")) == store_key(
        exchange(client_id="c", client_secret="s2", auth="client_secret_basic")
    )
    different = [
        exchange(subject_token="another-subject"),
        exchange(subject_token_type=TOKEN_TYPE_JWT),
        exchange(actor_token=ACTOR, actor_token_type=TOKEN_TYPE_JWT),
        exchange(audience="a"),
        exchange(resource="https://api.example/"),
        exchange(requested_token_type=TOKEN_TYPE_ID_TOKEN),
        exchange(scope="x"),
    ]
    keys = {store_key(flow) for flow in different}
    assert key not in keys
    assert len(keys) == len(different)
    # Audiences in any order, repeated, are one set; names with a space are
    # not two names.
    assert store_key(exchange(audience=["a", "b"])) == store_key(
        exchange(audience=["b", "a", "a"])
    )
    assert store_key(exchange(audience=["a b"])) != store_key(
        exchange(audience=["a", "b"])
    )
    # The bearer grant: its issuer, subject, audience and claims.
    base = store_key(signed())
    assert store_key(signed()) == base
    for kwargs in (
        {"subject": "u"},
        {"audience": "https://x.example/"},
        {"claims": {"scope": "a"}},
        {"resource": "urn:r"},
    ):
        assert store_key(signed(**kwargs)) != base
    assert store_key(bearer(assertion="one")) != store_key(bearer(assertion="two"))


def test_no_secret_or_token_in_an_identity() -> None:
    for flow, hidden in shown_flows():
        identity = repr(flow.cache_identity())  # type: ignore[attr-defined]
        for secret in hidden:
            assert secret not in identity


@pytest.mark.parametrize("identity", [None, "", 5, b"file"])
def test_a_callable_that_does_not_name_itself_cannot_key_a_store(
    identity: object,
) -> None:
    for flow, name in [
        (bearer(assertion=Source("x", identity=identity)), "assertion"),
        (exchange(subject_token=Source("x", identity=identity)), "subject_token"),
        (
            exchange(
                actor_token=Source("x", identity=identity),
                actor_token_type=TOKEN_TYPE_JWT,
            ),
            "actor_token",
        ),
    ]:
        # The flow itself works: only a store needs the name.
        assert isinstance(flow.token_request(), HttpRequest)  # type: ignore[attr-defined]
        with pytest.raises(
            TypeError, match=rf"^{name} is a callable without a cache_identity"
        ):
            flow.cache_identity()  # type: ignore[attr-defined]


def test_a_plain_function_cannot_key_a_store() -> None:
    def assertion() -> str:
        return ASSERTION

    with pytest.raises(TypeError, match=r"^assertion is a callable without"):
        store_key(bearer(assertion=assertion))


def test_both_grants_are_exported_from_the_package() -> None:
    assert JwtBearerGrant.__module__ == "sansio_auth"
    assert TokenExchange.__module__ == "sansio_auth"
    assert {"JwtBearerGrant", "TokenExchange", "TOKEN_TYPE_JWT"} <= set(
        sansio_auth.__all__
    )
