"""parse_token_response and mask_secrets (RFC 6749 §5.1 success, §5.2 errors).

Table-driven in the manner of h11's ``tests/test_io.py`` ``SIMPLE_CASES``:
each case is a response exactly as received (status, headers, body bytes) and
the value it must become, compared whole. Tokens compare with ``==`` (which
ignores ``raw``); errors are attrs exceptions, which compare by identity, so
they are compared by type and fields (``fields()`` below).
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator, Mapping
from types import MappingProxyType
from typing import Any, cast
from urllib.parse import quote, quote_plus

import attrs
import pytest

from sansio_auth import (
    HttpError,
    HttpResponse,
    MalformedResponse,
    OAuthError,
    Token,
    TokenError,
    jwt_claims,
    mask_secrets,
    parse_token_response,
)
from sansio_auth._mask import WITHHELD

NOW = 1_700_000_000.0
JSON = "application/json"
FORM = "application/x-www-form-urlencoded"
NOT_AN_OBJECT = "body is not a JSON object or a form-encoded token response"


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode("ascii").rstrip("=")


def make_jwt(payload: Mapping[str, object]) -> str:
    header = b64url(b'{"alg":"HS256","typ":"JWT"}')
    return f"{header}.{b64url(json.dumps(dict(payload)).encode())}.c2lnbmF0dXJl"


def response(
    status: int,
    body: bytes | str = b"",
    content_type: str | None = JSON,
    *headers: tuple[str, str],
) -> HttpResponse:
    """A response as an adapter would hand it over."""
    if isinstance(body, str):
        body = body.encode("utf-8")
    pairs = [("Content-Type", content_type)] if content_type is not None else []
    return HttpResponse(status=status, headers=(*pairs, *headers), body=body)


def token(
    access_token: str = "at-1",
    *,
    token_type: str = "Bearer",
    expires_at: float | None = None,
    scopes: frozenset[str] | None = None,
    refresh_token: str | None = None,
) -> Token:
    return Token(
        access_token=access_token,
        token_type=token_type,
        received_at=NOW,
        expires_at=expires_at,
        scopes=scopes,
        refresh_token=refresh_token,
    )


def fields(value: object) -> object:
    """A value as something ``==`` compares by content.

    attrs gives exception classes identity equality (``auto_exc``), so the
    errors are compared as (type, fields); a Token compares as itself.
    """
    if isinstance(value, TokenError):
        return type(value), attrs.asdict(cast(attrs.AttrsInstance, value))
    return value


def parse(resp: HttpResponse, secrets: tuple[str, ...] = ()) -> Token | TokenError:
    return parse_token_response(resp, now=NOW, secrets=secrets)


JWT_EXP = make_jwt({"sub": "u1", "exp": 1_700_003_600})
JWT_FLOAT_EXP = make_jwt({"sub": "u1", "exp": 1_700_003_600.5})
JWT_NO_EXP = make_jwt({"sub": "u1"})
JWT_BOOL_EXP = make_jwt({"exp": True})
JWT_STR_EXP = make_jwt({"exp": "1700003600"})
JWT_NULL_EXP = make_jwt({"exp": None})
JWT_NAN_EXP = make_jwt({"exp": float("nan")})  # json.dumps writes NaN
JWT_INF_EXP = make_jwt({"exp": float("inf")})
JWT_HUGE_EXP = make_jwt({"exp": 10**400})
FACEBOOK = "EAAGm0PX4ZCpsBAKZAZCZBnOtOmP0rLz"

# ---------------------------------------------------------------------------
# RFC 6749 §5.1: successful responses.

SUCCESS_CASES = [
    pytest.param(
        response(
            200,
            b'{"access_token":"2YotnFZFEjr1zCsicMWpAA","token_type":"example",'
            b'"expires_in":3600,"refresh_token":"tGzv3JOkF0XG5Qx2TlKWIA",'
            b'"example_parameter":"example_value"}',
            "application/json;charset=UTF-8",
            ("Cache-Control", "no-store"),
            ("Pragma", "no-cache"),
        ),
        token(
            "2YotnFZFEjr1zCsicMWpAA",
            token_type="example",
            expires_at=NOW + 3600,
            refresh_token="tGzv3JOkF0XG5Qx2TlKWIA",
        ),
        id="rfc6749-5.1-example",
    ),
    # Bodies: JSON, with or without BOM, under every JSON-ish content type.
    pytest.param(
        response(200, b'\xef\xbb\xbf{"access_token":"at-1","expires_in":60}'),
        token(expires_at=NOW + 60),
        id="json-utf-8-bom",
    ),
    pytest.param(
        response(200, b'\n  {"access_token": "at-1"}\r\n'),
        token(),
        id="json-surrounding-whitespace",
    ),
    pytest.param(
        response(200, b'{"access_token":"at-1"}', "application/json; charset=utf-8"),
        token(),
        id="json-charset",
    ),
    pytest.param(
        response(200, b'{"access_token":"at-1"}', "APPLICATION/JSON"),
        token(),
        id="json-upper-case",
    ),
    pytest.param(
        response(200, b'{"access_token":"at-1"}', " Application/Json ; Charset=UTF-8"),
        token(),
        id="json-mixed-case-spaces",
    ),
    pytest.param(
        response(200, b'{"access_token":"at-1"}', "application/vnd.api+json"),
        token(),
        id="json-plus-json-suffix",
    ),
    pytest.param(
        response(200, b'{"access_token":"at-1"}', "text/json"),
        token(),
        id="text-json",
    ),
    pytest.param(
        response(200, b'{"access_token":"at-1"}', "text/javascript; charset=utf-8"),
        token(),
        id="text-javascript",
    ),
    pytest.param(
        response(200, b'{"access_token":"at-1"}', "application/javascript"),
        token(),
        id="application-javascript",
    ),
    pytest.param(
        response(200, b'{"access_token":"at-1"}', None),
        token(),
        id="json-no-content-type",
    ),
    pytest.param(
        response(200, b'{"access_token":"at-1"}', ""),
        token(),
        id="json-empty-content-type",
    ),
    pytest.param(
        response(200, b'{"access_token":"at-1"}', "; charset=utf-8"),
        token(),
        id="json-content-type-without-media-type",
    ),
    pytest.param(
        response(200, b'{"access_token":"at-1"}', "text/plain"),
        token(),
        id="json-as-text-plain",
    ),
    pytest.param(
        response(
            200, b'\xef\xbb\xbf {"access_token":"at-1"}', "text/plain;charset=UTF-8"
        ),
        token(),
        id="json-as-text-plain-bom",
    ),
    pytest.param(
        HttpResponse(
            status=200,
            headers=(("content-type", "application/json"),),
            body=b'{"access_token":"at-1"}',
        ),
        token(),
        id="lower-case-header-name",
    ),
    pytest.param(
        response(201, b'{"access_token":"at-1"}'),
        token(),
        id="status-201",
    ),
    pytest.param(
        response(299, b'{"access_token":"at-1"}'),
        token(),
        id="status-299",
    ),
    # Bodies: forms, typed or shaped like one.
    pytest.param(
        response(
            200,
            b"access_token=at-1&token_type=bearer&expires_in=3600"
            b"&scope=read+write&refresh_token=rt-1",
            FORM,
        ),
        token(
            expires_at=NOW + 3600,
            scopes=frozenset({"read", "write"}),
            refresh_token="rt-1",
        ),
        id="form",
    ),
    pytest.param(
        response(
            200, b"access_token=a%2Fb%3D%3D&scope=x%20y", f"{FORM}; charset=utf-8"
        ),
        token("a/b==", scopes=frozenset({"x", "y"})),
        id="form-percent-encoded",
    ),
    pytest.param(
        response(200, b"access_token=at-1&access_token=at-2", FORM),
        token(),
        id="form-first-repeated-field-wins",
    ),
    pytest.param(
        response(200, f"access_token={FACEBOOK}&expires=5183998", "text/plain"),
        token(FACEBOOK, expires_at=NOW + 5183998),
        id="facebook-legacy-text-plain",
    ),
    pytest.param(
        response(
            200,
            f"access_token={FACEBOOK}&expires=5183998\n",
            "text/plain; charset=UTF-8",
        ),
        token(FACEBOOK, expires_at=NOW + 5183998),
        id="facebook-legacy-trailing-newline",
    ),
    pytest.param(
        response(200, f"access_token={FACEBOOK}&expires=5183998", None),
        token(FACEBOOK, expires_at=NOW + 5183998),
        id="form-shaped-no-content-type",
    ),
    pytest.param(
        response(200, "access_token=at-1&refresh_token=", FORM),
        token(),
        id="form-empty-refresh-token",
    ),
    # expires_in: integer, float or numeric string.
    pytest.param(
        response(200, b'{"access_token":"at-1","expires_in":0}'),
        token(expires_at=NOW),
        id="expires-in-zero",
    ),
    pytest.param(
        response(200, b'{"access_token":"at-1","expires_in":3600.5}'),
        token(expires_at=NOW + 3600.5),
        id="expires-in-float",
    ),
    pytest.param(
        response(200, b'{"access_token":"at-1","expires_in":"3600"}'),
        token(expires_at=NOW + 3600),
        id="expires-in-string",
    ),
    pytest.param(
        response(200, b'{"access_token":"at-1","expires_in":" 3600 "}'),
        token(expires_at=NOW + 3600),
        id="expires-in-string-spaces",
    ),
    pytest.param(
        response(200, b'{"access_token":"at-1","expires_in":"3600.5"}'),
        token(expires_at=NOW + 3600.5),
        id="expires-in-string-decimal",
    ),
    pytest.param(
        response(200, b'{"access_token":"at-1","expires_in":"3600."}'),
        token(expires_at=NOW + 3600),
        id="expires-in-string-trailing-point",
    ),
    pytest.param(
        response(200, b'{"access_token":"at-1","expires_in":".5"}'),
        token(expires_at=NOW + 0.5),
        id="expires-in-string-leading-point",
    ),
    pytest.param(
        response(200, b'{"access_token":"at-1","expires_in":315360000}'),
        token(expires_at=NOW + 315360000),
        id="expires-in-ten-years",
    ),
    pytest.param(
        response(200, b'{"access_token":"at-1","expires_in":"315360000"}'),
        token(expires_at=NOW + 315360000),
        id="expires-in-ten-years-string",
    ),
    pytest.param(
        response(200, b'{"access_token":"at-1","expires_in":null}'),
        token(),
        id="expires-in-null-is-absent",
    ),
    # expires: Facebook's name, read when expires_in is absent.
    pytest.param(
        response(200, b'{"access_token":"at-1","expires":120}'),
        token(expires_at=NOW + 120),
        id="expires",
    ),
    pytest.param(
        response(200, b'{"access_token":"at-1","expires_in":60,"expires":120}'),
        token(expires_at=NOW + 60),
        id="expires-in-wins-over-expires",
    ),
    pytest.param(
        response(200, b'{"access_token":"at-1","expires":120,"expires_in":60}'),
        token(expires_at=NOW + 60),
        id="expires-in-wins-whatever-the-order",
    ),
    pytest.param(
        response(200, b'{"access_token":"at-1","expires_in":60,"expires":-1}'),
        token(expires_at=NOW + 60),
        id="expires-not-read-when-expires-in-given",
    ),
    pytest.param(
        response(200, b'{"access_token":"at-1","expires_in":null,"expires":120}'),
        token(expires_at=NOW + 120),
        id="expires-in-null-falls-back-to-expires",
    ),
    # expires_at from the JWT exp claim when no lifetime is given.
    pytest.param(
        response(200, f'{{"access_token":"{JWT_EXP}"}}'),
        token(JWT_EXP, expires_at=1_700_003_600.0),
        id="jwt-exp",
    ),
    pytest.param(
        response(200, f'{{"access_token":"{JWT_FLOAT_EXP}"}}'),
        token(JWT_FLOAT_EXP, expires_at=1_700_003_600.5),
        id="jwt-float-exp",
    ),
    pytest.param(
        response(200, f'{{"access_token":"{JWT_EXP}","expires_in":60}}'),
        token(JWT_EXP, expires_at=NOW + 60),
        id="expires-in-wins-over-jwt-exp",
    ),
    pytest.param(
        response(200, f'{{"access_token":"{JWT_EXP}","expires":60}}'),
        token(JWT_EXP, expires_at=NOW + 60),
        id="expires-wins-over-jwt-exp",
    ),
    pytest.param(
        response(200, f'{{"access_token":"{JWT_NO_EXP}"}}'),
        token(JWT_NO_EXP),
        id="jwt-without-exp",
    ),
    pytest.param(
        response(200, f'{{"access_token":"{JWT_BOOL_EXP}"}}'),
        token(JWT_BOOL_EXP),
        id="jwt-boolean-exp-ignored",
    ),
    pytest.param(
        response(200, f'{{"access_token":"{JWT_STR_EXP}"}}'),
        token(JWT_STR_EXP),
        id="jwt-string-exp-ignored",
    ),
    pytest.param(
        response(200, f'{{"access_token":"{JWT_NULL_EXP}"}}'),
        token(JWT_NULL_EXP),
        id="jwt-null-exp-ignored",
    ),
    pytest.param(
        response(200, f'{{"access_token":"{JWT_NAN_EXP}"}}'),
        token(JWT_NAN_EXP),
        id="jwt-nan-exp-ignored",
    ),
    pytest.param(
        response(200, f'{{"access_token":"{JWT_INF_EXP}"}}'),
        token(JWT_INF_EXP),
        id="jwt-infinite-exp-ignored",
    ),
    pytest.param(
        response(200, b'{"access_token":"opaque-token"}'),
        token("opaque-token"),
        id="opaque-token-no-expiry",
    ),
    # token_type.
    pytest.param(
        response(200, b'{"access_token":"at-1","token_type":"bearer"}'),
        token(),
        id="token-type-lower",
    ),
    pytest.param(
        response(200, b'{"access_token":"at-1","token_type":"BEARER"}'),
        token(),
        id="token-type-upper",
    ),
    pytest.param(
        response(200, b'{"access_token":"at-1","token_type":"bEaReR"}'),
        token(),
        id="token-type-mixed",
    ),
    pytest.param(
        response(200, b'{"access_token":"at-1","token_type":null}'),
        token(),
        id="token-type-null",
    ),
    pytest.param(
        response(200, b'{"access_token":"at-1","token_type":"DPoP"}'),
        token(token_type="DPoP"),
        id="token-type-dpop-kept",
    ),
    pytest.param(
        response(200, b'{"access_token":"at-1","token_type":"mac"}'),
        token(token_type="mac"),
        id="token-type-other-kept-as-sent",
    ),
    # scope.
    pytest.param(
        response(200, b'{"access_token":"at-1","scope":"read write"}'),
        token(scopes=frozenset({"read", "write"})),
        id="scope-string",
    ),
    pytest.param(
        response(200, b'{"access_token":"at-1","scope":"  read \\t write  read "}'),
        token(scopes=frozenset({"read", "write"})),
        id="scope-string-extra-whitespace",
    ),
    pytest.param(
        response(200, b'{"access_token":"at-1","scope":""}'),
        token(scopes=frozenset()),
        id="scope-empty-string",
    ),
    pytest.param(
        response(200, b'{"access_token":"at-1","scope":["read","write"]}'),
        token(scopes=frozenset({"read", "write"})),
        id="scope-list",
    ),
    pytest.param(
        response(200, b'{"access_token":"at-1","scope":[]}'),
        token(scopes=frozenset()),
        id="scope-empty-list",
    ),
    pytest.param(
        response(200, b'{"access_token":"at-1","scope":null}'),
        token(),
        id="scope-null",
    ),
    # refresh_token.
    pytest.param(
        response(200, b'{"access_token":"at-1","refresh_token":"rt-1"}'),
        token(refresh_token="rt-1"),
        id="refresh-token",
    ),
    pytest.param(
        response(200, b'{"access_token":"at-1","refresh_token":""}'),
        token(),
        id="refresh-token-empty",
    ),
    pytest.param(
        response(200, b'{"access_token":"at-1","refresh_token":null}'),
        token(),
        id="refresh-token-null",
    ),
    # An error member that says nothing is not an error.
    pytest.param(
        response(200, b'{"access_token":"at-1","error":null}'),
        token(),
        id="error-null-ignored",
    ),
    pytest.param(
        response(200, b'{"access_token":"at-1","error":""}'),
        token(),
        id="error-empty-ignored",
    ),
    pytest.param(
        response(200, b'{"access_token":"at-1","error":false}'),
        token(),
        id="error-false-ignored",
    ),
    pytest.param(
        response(200, b'{"access_token":"at-1","error":0}'),
        token(),
        id="error-zero-ignored",
    ),
    pytest.param(
        response(200, b'{"access_token":"at-1","error":[]}'),
        token(),
        id="error-empty-list-ignored",
    ),
    pytest.param(
        response(200, "access_token=at-1&error=", FORM),
        token(),
        id="form-error-empty-ignored",
    ),
]


@pytest.mark.parametrize(("resp", "expected"), SUCCESS_CASES)
def test_success(resp: HttpResponse, expected: Token) -> None:
    got = parse(resp)
    assert isinstance(got, Token)
    assert got == expected
    # Token equality ignores raw: check the rest of what == does not.
    assert got.received_at == NOW


def test_every_field_of_a_full_response() -> None:
    got = parse(
        response(
            200,
            b'{"access_token":"at-1","token_type":"bearer","expires_in":"90",'
            b'"scope":["a"],"refresh_token":"rt-1","id_token":"x","extra":[1]}',
        )
    )
    assert isinstance(got, Token)
    assert got.access_token == "at-1"
    assert got.token_type == "Bearer"
    assert got.received_at == NOW
    assert got.expires_at == NOW + 90
    assert got.scopes == frozenset({"a"})
    assert got.refresh_token == "rt-1"
    assert got.authorization() == "Bearer at-1"


def test_raw_holds_the_whole_object_read_only() -> None:
    body = {
        "access_token": "at-1",
        "token_type": "bearer",
        "expires_in": 60,
        "id_token": "id-1",
        "nested": {"a": [1, 2.5, None, True]},
        "unknown": "kept",
    }
    got = parse(response(200, json.dumps(body)))
    assert isinstance(got, Token)
    assert got.raw == body
    assert isinstance(got.raw, MappingProxyType)
    with pytest.raises(TypeError):
        cast(Any, got.raw)["access_token"] = "forged"


def test_raw_of_a_form_body_holds_the_decoded_fields() -> None:
    got = parse(response(200, f"access_token={FACEBOOK}&expires=5183998&x=a+b", None))
    assert isinstance(got, Token)
    assert dict(got.raw) == {
        "access_token": FACEBOOK,
        "expires": "5183998",
        "x": "a b",
    }


def test_expires_at_is_now_plus_expires_in_whatever_now() -> None:
    resp = response(200, b'{"access_token":"at-1","expires_in":600}')
    for now in (0.0, 12.25, NOW):
        got = parse_token_response(resp, now=now)
        assert isinstance(got, Token)
        assert (got.received_at, got.expires_at) == (now, now + 600)


def test_jwt_exp_does_not_depend_on_now() -> None:
    resp = response(200, f'{{"access_token":"{JWT_EXP}"}}')
    for now in (0.0, NOW):
        got = parse_token_response(resp, now=now)
        assert isinstance(got, Token)
        assert got.expires_at == 1_700_003_600.0


def test_secrets_may_be_any_iterable() -> None:
    resp = response(
        400, b'{"error":"invalid_client","error_description":"bad s3cret-1a2b"}'
    )
    got = parse_token_response(resp, now=NOW, secrets=iter(["s3cret-1a2b"]))
    assert isinstance(got, OAuthError)
    assert got.description == "bad ***"


# ---------------------------------------------------------------------------
# Strictness: 2xx answers that are not a usable token.


def malformed(
    reason: str, snippet: str, content_type: str | None = JSON, status: int = 200
) -> MalformedResponse:
    return MalformedResponse(
        reason=reason, status=status, content_type=content_type, snippet=snippet
    )


NEGATIVE = "expires_in must not be negative"
NOT_FINITE = "expires_in must be a finite number of seconds"
TOO_LONG = "expires_in must be at most ten years (315360000 s)"
BOOLEAN = "expires_in must be a number of seconds, got a boolean"
NON_NUMERIC = "expires_in must be a number of seconds, got a non-numeric string"


def bad_expires_in(literal: str, reason: str, id: str) -> Any:
    """A case whose only fault is the JSON literal given for expires_in.

    The snippet of a 2xx shows the body's shape: names, and each value's
    type (a string's length), never a string value.
    """
    body = f'{{"access_token":"at-1","expires_in":{literal}}}'
    value = json.loads(literal)
    if isinstance(value, str):
        shown = f"str({len(value)})"
    elif isinstance(value, bool):
        shown = json.dumps(value)
    else:
        shown = {int: "int", float: "float", list: "[int]", dict: '{"s": int}'}[
            type(value)
        ]
    snippet = f'{{"access_token": str(4), "expires_in": {shown}}}'
    return pytest.param(response(200, body), malformed(reason, snippet), id=id)


MALFORMED_CASES = [
    bad_expires_in("-1", NEGATIVE, "expires-in-negative"),
    bad_expires_in("-0.5", NEGATIVE, "expires-in-negative-fraction"),
    bad_expires_in('"-5"', NEGATIVE, "expires-in-negative-string"),
    bad_expires_in("NaN", NOT_FINITE, "expires-in-nan"),
    bad_expires_in("Infinity", NOT_FINITE, "expires-in-infinity"),
    bad_expires_in("-Infinity", NOT_FINITE, "expires-in-minus-infinity"),
    bad_expires_in("1e400", NOT_FINITE, "expires-in-float-overflow"),
    bad_expires_in('"1' + "0" * 400 + '"', NOT_FINITE, "expires-in-huge-string"),
    bad_expires_in("true", BOOLEAN, "expires-in-true"),
    bad_expires_in("false", BOOLEAN, "expires-in-false"),
    bad_expires_in("315360001", TOO_LONG, "expires-in-over-ten-years"),
    bad_expires_in("315360000.5", TOO_LONG, "expires-in-just-over-ten-years"),
    bad_expires_in('"315360001"', TOO_LONG, "expires-in-over-ten-years-string"),
    bad_expires_in("1e12", TOO_LONG, "expires-in-exponent-number"),
    bad_expires_in('"1e3"', NON_NUMERIC, "expires-in-exponent-string"),
    bad_expires_in('"abc"', NON_NUMERIC, "expires-in-garbage-string"),
    bad_expires_in('"nan"', NON_NUMERIC, "expires-in-nan-string"),
    bad_expires_in('"inf"', NON_NUMERIC, "expires-in-inf-string"),
    bad_expires_in('"Infinity"', NON_NUMERIC, "expires-in-infinity-string"),
    bad_expires_in('""', NON_NUMERIC, "expires-in-empty-string"),
    bad_expires_in('" "', NON_NUMERIC, "expires-in-blank-string"),
    bad_expires_in('"+5"', NON_NUMERIC, "expires-in-plus-string"),
    bad_expires_in('"0x10"', NON_NUMERIC, "expires-in-hex-string"),
    bad_expires_in('"1_000"', NON_NUMERIC, "expires-in-underscore-string"),
    bad_expires_in('"3600s"', NON_NUMERIC, "expires-in-unit-string"),
    bad_expires_in('"\\u0663\\u0666"', NON_NUMERIC, "expires-in-non-ascii-digits"),
    bad_expires_in(
        "[3600]",
        "expires_in must be a number of seconds, got list",
        "expires-in-list",
    ),
    bad_expires_in(
        '{"s":3600}',
        "expires_in must be a number of seconds, got dict",
        "expires-in-object",
    ),
    # The field named is the one that was read.
    pytest.param(
        response(200, b'{"access_token":"at-1","expires":-1}'),
        malformed(
            "expires must not be negative", '{"access_token": str(4), "expires": int}'
        ),
        id="expires-negative",
    ),
    pytest.param(
        response(200, b'{"access_token":"at-1","expires_in":null,"expires":true}'),
        malformed(
            "expires must be a number of seconds, got a boolean",
            '{"access_token": str(4), "expires_in": null, "expires": true}',
        ),
        id="expires-boolean-after-null-expires-in",
    ),
    pytest.param(
        response(200, f"access_token={FACEBOOK}&expires=soon", "text/plain"),
        malformed(
            "expires must be a number of seconds, got a non-numeric string",
            "access_token=str(32)&expires=str(4)",
            "text/plain",
        ),
        id="facebook-expires-garbage",
    ),
    pytest.param(
        response(200, "access_token=at-1&expires_in=", FORM),
        malformed(NON_NUMERIC, "access_token=str(4)&expires_in=str(0)", FORM),
        id="form-expires-in-empty",
    ),
    # access_token.
    pytest.param(
        response(200, b'{"token_type":"bearer","expires_in":3600}'),
        malformed(
            "access_token is missing", '{"token_type": str(6), "expires_in": int}'
        ),
        id="access-token-missing",
    ),
    pytest.param(
        response(200, b'{"access_token":null}'),
        malformed("access_token is missing", '{"access_token": null}'),
        id="access-token-null",
    ),
    pytest.param(
        response(200, b'{"access_token":""}'),
        malformed(
            "access_token must be a non-empty string", '{"access_token": str(0)}'
        ),
        id="access-token-empty",
    ),
    pytest.param(
        response(200, b'{"access_token":12345}'),
        malformed("access_token must be a non-empty string", '{"access_token": int}'),
        id="access-token-number",
    ),
    pytest.param(
        response(200, b'{"access_token":true}'),
        malformed("access_token must be a non-empty string", '{"access_token": true}'),
        id="access-token-boolean",
    ),
    pytest.param(
        response(200, b'{"access_token":{}}'),
        malformed("access_token must be a non-empty string", '{"access_token": {}}'),
        id="access-token-object",
    ),
    pytest.param(
        response(200, b"", FORM),
        malformed("access_token is missing", "", FORM),
        id="empty-form",
    ),
    # token_type.
    pytest.param(
        response(200, b'{"access_token":"at-1","token_type":1}'),
        malformed(
            "token_type must be a non-empty string",
            '{"access_token": str(4), "token_type": int}',
        ),
        id="token-type-number",
    ),
    pytest.param(
        response(200, b'{"access_token":"at-1","token_type":""}'),
        malformed(
            "token_type must be a non-empty string",
            '{"access_token": str(4), "token_type": str(0)}',
        ),
        id="token-type-empty",
    ),
    pytest.param(
        response(200, b'{"access_token":"at-1","token_type":["Bearer"]}'),
        malformed(
            "token_type must be a non-empty string",
            '{"access_token": str(4), "token_type": [str(6)]}',
        ),
        id="token-type-list",
    ),
    # scope.
    pytest.param(
        response(200, b'{"access_token":"at-1","scope":1}'),
        malformed(
            "scope must be a string or a list of strings, got int",
            '{"access_token": str(4), "scope": int}',
        ),
        id="scope-number",
    ),
    pytest.param(
        response(200, b'{"access_token":"at-1","scope":true}'),
        malformed(
            "scope must be a string or a list of strings, got a boolean",
            '{"access_token": str(4), "scope": true}',
        ),
        id="scope-boolean",
    ),
    pytest.param(
        response(200, b'{"access_token":"at-1","scope":["a",1]}'),
        malformed(
            "scope must be a string or a list of strings, got list",
            '{"access_token": str(4), "scope": [str(1), int]}',
        ),
        id="scope-list-with-number",
    ),
    pytest.param(
        response(200, b'{"access_token":"at-1","scope":[["a"]]}'),
        malformed(
            "scope must be a string or a list of strings, got list",
            '{"access_token": str(4), "scope": [[str(1)]]}',
        ),
        id="scope-nested-list",
    ),
    pytest.param(
        response(200, b'{"access_token":"at-1","scope":{"a":1}}'),
        malformed(
            "scope must be a string or a list of strings, got dict",
            '{"access_token": str(4), "scope": {"a": int}}',
        ),
        id="scope-object",
    ),
    # refresh_token.
    pytest.param(
        response(200, b'{"access_token":"at-1","refresh_token":1}'),
        malformed(
            "refresh_token must be a string, got int",
            '{"access_token": str(4), "refresh_token": int}',
        ),
        id="refresh-token-number",
    ),
    pytest.param(
        response(200, b'{"access_token":"at-1","refresh_token":true}'),
        malformed(
            "refresh_token must be a string, got a boolean",
            '{"access_token": str(4), "refresh_token": true}',
        ),
        id="refresh-token-boolean",
    ),
    pytest.param(
        response(200, b'{"access_token":"at-1","refresh_token":{}}'),
        malformed(
            "refresh_token must be a string, got dict",
            '{"access_token": str(4), "refresh_token": {}}',
        ),
        id="refresh-token-object",
    ),
    # error: a non-string that says something is not silently a token.
    pytest.param(
        response(200, b'{"access_token":"at-1","error":1}'),
        malformed(
            "error must be a string, got int", '{"access_token": str(4), "error": int}'
        ),
        id="error-number",
    ),
    pytest.param(
        response(200, b'{"error":true}'),
        malformed("error must be a string, got a boolean", '{"error": true}'),
        id="error-boolean",
    ),
    pytest.param(
        response(200, b'{"error":["invalid_grant"]}'),
        malformed("error must be a string, got list", '{"error": [str(13)]}'),
        id="error-list",
    ),
    pytest.param(
        response(200, b'{"error":{"code":"invalid_grant"}}'),
        malformed("error must be a string, got dict", '{"error": {"code": str(13)}}'),
        id="error-object",
    ),
    # Bodies that are not an object at all.
    pytest.param(
        response(
            200,
            b"<!DOCTYPE html>\n<html>\n  <body>\n    <h1>Sign in</h1>\n"
            b"  </body>\n</html>\n",
            "text/html; charset=utf-8",
        ),
        malformed(
            NOT_AN_OBJECT,
            "<!...><html><body><h1>str(7)</h1></body></html>",
            "text/html; charset=utf-8",
        ),
        id="html-200",
    ),
    pytest.param(
        response(200, b'{"access_token":"at-1"}', "text/html"),
        malformed(NOT_AN_OBJECT, '{"access_token": str(4)}', "text/html"),
        id="json-body-typed-html",
    ),
    pytest.param(
        response(200, b"access_token=at-1", JSON),
        malformed(NOT_AN_OBJECT, "str(12)=str(4)"),
        id="form-body-typed-json",
    ),
    pytest.param(
        response(200, b"access_token=at-1", "application/octet-stream"),
        malformed(NOT_AN_OBJECT, "str(12)=str(4)", "application/octet-stream"),
        id="form-body-typed-octet-stream",
    ),
    pytest.param(
        response(200, b"hello world", "text/plain"),
        malformed(NOT_AN_OBJECT, "str(5) str(5)", "text/plain"),
        id="text-plain-neither-json-nor-form",
    ),
    pytest.param(
        response(200, b'[{"access_token":"at-1"}]'),
        malformed(NOT_AN_OBJECT, '[{"access_token": str(4)}]'),
        id="json-array",
    ),
    pytest.param(
        response(200, b'"at-1"'),
        malformed(NOT_AN_OBJECT, "str(4)"),
        id="json-string",
    ),
    pytest.param(
        response(200, b"null"),
        malformed(NOT_AN_OBJECT, "null"),
        id="json-null",
    ),
    pytest.param(
        response(200, b"42"),
        malformed(NOT_AN_OBJECT, "int"),
        id="json-number",
    ),
    pytest.param(
        response(200, b'{"access_token":"at-1"'),
        malformed(NOT_AN_OBJECT, '{"str(12)":"str(4)"'),
        id="json-truncated",
    ),
    pytest.param(
        response(200, b"{'access_token': 'at-1'}"),
        malformed(NOT_AN_OBJECT, "{'str(12)': 'str(4)'}"),
        id="json-single-quoted",
    ),
    pytest.param(
        response(200, b'{"access_token":"at-1"} trailing'),
        malformed(NOT_AN_OBJECT, '{"str(12)":"str(4)"} str(8)'),
        id="json-trailing-garbage",
    ),
    pytest.param(
        response(200, b"{a=b&c=d", "text/plain"),
        malformed(NOT_AN_OBJECT, "{str(1)=str(1)&str(1)=str(1)", "text/plain"),
        id="text-plain-brace-but-not-json",
    ),
    pytest.param(
        response(200, b'{"access_token":"at-1\xff"}'),
        malformed(NOT_AN_OBJECT, '{"access_token": str(5)}'),
        id="invalid-utf-8",
    ),
    pytest.param(
        response(200, b"\xfe\xff\x00{\x00}", None),
        # Read in the BOM's encoding: UTF-16 "{}".
        malformed(NOT_AN_OBJECT, "{}", None),
        id="utf-16-bom",
    ),
    pytest.param(
        response(200, b"", JSON),
        malformed(NOT_AN_OBJECT, ""),
        id="empty-json",
    ),
    pytest.param(
        response(204, b"", None),
        malformed(NOT_AN_OBJECT, "", None, status=204),
        id="204-no-content",
    ),
    pytest.param(
        response(200, b"\xef\xbb\xbf", None),
        malformed(NOT_AN_OBJECT, "", None),
        id="bom-only",
    ),
    pytest.param(
        response(200, b'{"a":' + b"[" * 100_000 + b"]" * 100_000 + b"}"),
        # Past the parser's depth, the shape is the punctuation itself.
        malformed(NOT_AN_OBJECT, '{"str(1)":' + "[" * 190),
        id="json-nested-past-the-recursion-limit",
    ),
    pytest.param(
        response(200, b'{"access_token":"at-1","expires_in":' + b"7" * 5000 + b"}"),
        malformed(NOT_AN_OBJECT, '{"str(12)":"str(4)","str(10)":str(764)'),
        id="json-integer-past-the-digit-limit",
    ),
]


@pytest.mark.parametrize(("resp", "expected"), MALFORMED_CASES)
def test_malformed(resp: HttpResponse, expected: MalformedResponse) -> None:
    got = parse(resp)
    assert fields(got) == fields(expected)


def test_a_huge_integer_expires_in_is_a_value_not_an_exception() -> None:
    # 10**400 parses as a Python int (under the 4300-digit limit), and
    # float() of it raises OverflowError: the parser must still return a value.
    body = '{"access_token":"at-1","expires_in":1' + "0" * 400 + "}"
    got = parse(response(200, body))
    assert fields(got) == fields(
        malformed(TOO_LONG, '{"access_token": str(4), "expires_in": int}')
    )


def test_a_huge_integer_jwt_exp_is_ignored_not_an_exception() -> None:
    # The same overflow in the JWT exp claim: an unusable exp means no expiry.
    got = parse(response(200, f'{{"access_token":"{JWT_HUGE_EXP}"}}'))
    assert got == token(JWT_HUGE_EXP)


# ---------------------------------------------------------------------------
# RFC 6749 §5.2: error responses.


def oauth(
    error: str,
    status: int,
    description: str | None = None,
    uri: str | None = None,
    retry_after: float | None = None,
) -> OAuthError:
    return OAuthError(
        error=error,
        description=description,
        uri=uri,
        status=status,
        retry_after=retry_after,
    )


OAUTH_CASES = [
    pytest.param(
        response(
            400,
            b'{\n  "error":"invalid_request"\n}',
            "application/json;charset=UTF-8",
            ("Cache-Control", "no-store"),
        ),
        oauth("invalid_request", 400),
        id="rfc6749-5.2-example",
    ),
    pytest.param(
        response(
            401,
            b'{"error":"invalid_client","error_description":"Client authentication'
            b' failed","error_uri":"https://example.com/errors#invalid_client"}',
        ),
        oauth(
            "invalid_client",
            401,
            "Client authentication failed",
            "https://example.com/errors#invalid_client",
        ),
        id="all-members",
    ),
    pytest.param(
        response(200, b'{"error":"invalid_grant","error_description":"expired"}'),
        oauth("invalid_grant", 200, "expired"),
        id="status-200",
    ),
    pytest.param(
        response(200, b'{"access_token":"at-1","error":"invalid_scope"}'),
        oauth("invalid_scope", 200),
        id="error-wins-over-access-token",
    ),
    pytest.param(
        response(500, b'{"error":"server_error"}'),
        oauth("server_error", 500),
        id="status-500",
    ),
    pytest.param(
        response(
            503,
            b'{"error":"temporarily_unavailable"}',
            JSON,
            ("Retry-After", "30"),
        ),
        oauth("temporarily_unavailable", 503, retry_after=30.0),
        id="retry-after",
    ),
    pytest.param(
        response(302, b'{"error":"access_denied"}'),
        oauth("access_denied", 302),
        id="status-302",
    ),
    pytest.param(
        response(100, b'{"error":"access_denied"}'),
        oauth("access_denied", 100),
        id="status-100",
    ),
    pytest.param(
        response(400, b'{"error":"invalid_scope"}', None),
        oauth("invalid_scope", 400),
        id="json-no-content-type",
    ),
    pytest.param(
        response(400, b'\xef\xbb\xbf{"error":"invalid_scope"}', "text/plain"),
        oauth("invalid_scope", 400),
        id="json-text-plain-bom",
    ),
    pytest.param(
        response(400, b'{"error":"invalid_scope"}', "application/problem+json"),
        oauth("invalid_scope", 400),
        id="problem-json",
    ),
    pytest.param(
        response(
            400,
            b"error=invalid_grant&error_description=Code+has+expired"
            b"&error_uri=https%3A%2F%2Fexample.com%2Fe",
            FORM,
        ),
        oauth("invalid_grant", 400, "Code has expired", "https://example.com/e"),
        id="form",
    ),
    pytest.param(
        response(400, b"error=access_denied", "text/plain"),
        oauth("access_denied", 400),
        id="form-shaped-text-plain",
    ),
    pytest.param(
        response(200, b"error=access_denied&error_description=", None),
        oauth("access_denied", 200),
        id="form-shaped-no-content-type",
    ),
    # Non-string description and uri are left out.
    pytest.param(
        response(400, b'{"error":"x","error_description":1,"error_uri":2}'),
        oauth("x", 400),
        id="description-and-uri-numbers",
    ),
    pytest.param(
        response(400, b'{"error":"x","error_description":null,"error_uri":null}'),
        oauth("x", 400),
        id="description-and-uri-null",
    ),
    pytest.param(
        response(400, b'{"error":"x","error_description":["a"],"error_uri":{}}'),
        oauth("x", 400),
        id="description-list-uri-object",
    ),
    pytest.param(
        response(400, b'{"error":"x","error_description":"","error_uri":""}'),
        oauth("x", 400),
        id="description-and-uri-empty",
    ),
    pytest.param(
        response(400, b'{"error":"x","error_description":true}'),
        oauth("x", 400),
        id="description-boolean",
    ),
    # Long values are cut to 200 characters.
    pytest.param(
        response(400, json.dumps({"error": "e" * 300, "error_description": "d" * 300})),
        oauth("e" * 200, 400, "d" * 200),
        id="long-error-and-description",
    ),
    pytest.param(
        response(
            400, json.dumps({"error": "x", "error_uri": "https://e/" + "u" * 300})
        ),
        oauth("x", 400, uri=("https://e/" + "u" * 300)[:200]),
        id="long-uri",
    ),
]


@pytest.mark.parametrize(("resp", "expected"), OAUTH_CASES)
def test_oauth_error(resp: HttpResponse, expected: OAuthError) -> None:
    got = parse(resp)
    assert fields(got) == fields(expected)


# ---------------------------------------------------------------------------
# Non-2xx answers that are not OAuth errors.

NGINX_502 = (
    b"<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n"
    b"<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n"
    b"</body>\r\n</html>\r\n"
)
BIG_HTML = b"<html><body>" + b"<p>sorry</p>\n" * 1000 + b"</body></html>"


def http(
    status: int,
    content_type: str | None,
    snippet: str,
    retry_after: float | None = None,
    location: str | None = None,
) -> HttpError:
    return HttpError(
        status=status,
        content_type=content_type,
        snippet=snippet,
        retry_after=retry_after,
        location=location,
    )


HTTP_CASES = [
    pytest.param(
        response(502, NGINX_502, "text/html"),
        http(
            502,
            "text/html",
            "<html> <head><title>502 Bad Gateway</title></head> <body> "
            "<center><h1>502 Bad Gateway</h1></center> <hr><center>nginx</center> "
            "</body> </html>",
        ),
        id="nginx-502",
    ),
    pytest.param(
        response(404, BIG_HTML, "text/html; charset=UTF-8"),
        http(
            404,
            "text/html; charset=UTF-8",
            ("<html><body>" + "<p>sorry</p> " * 20)[:200],
        ),
        id="big-html-cut-to-200",
    ),
    pytest.param(
        response(429, b"Too Many Requests", "text/plain", ("Retry-After", "120")),
        http(429, "text/plain", "Too Many Requests", 120.0),
        id="429-retry-after",
    ),
    pytest.param(
        response(429, b'{"message":"rate limited"}'),
        http(429, JSON, '{"message":"rate limited"}'),
        id="429-json-without-error",
    ),
    pytest.param(
        response(302, b"", None, ("Location", "https://login.example.com/")),
        http(302, None, "", location="https://login.example.com/"),
        id="302-redirect",
    ),
    pytest.param(
        response(301, b"", None, ("Location", "https://user:pa55word@auth.example/t/")),
        http(301, None, "", location="https://***@auth.example/t/"),
        id="301-redirect-with-user-info",
    ),
    pytest.param(
        response(404, b"", None, ("Location", "https://login.example.com/")),
        http(404, None, ""),
        id="location-only-read-on-a-3xx",
    ),
    pytest.param(
        response(301, b"<a href='/x'>Moved</a>", "text/html"),
        http(301, "text/html", "<a href='/x'>Moved</a>"),
        id="301",
    ),
    pytest.param(response(303, b"", None), http(303, None, ""), id="303"),
    pytest.param(response(304, b"", None), http(304, None, ""), id="304"),
    pytest.param(response(307, b"", None), http(307, None, ""), id="307"),
    pytest.param(response(308, b"", None), http(308, None, ""), id="308"),
    pytest.param(response(100, b"", None), http(100, None, ""), id="100"),
    pytest.param(response(101, b"", None), http(101, None, ""), id="101"),
    pytest.param(response(103, b"", None), http(103, None, ""), id="103"),
    pytest.param(response(199, b"", None), http(199, None, ""), id="199"),
    pytest.param(response(300, b"", None), http(300, None, ""), id="300"),
    pytest.param(response(999, b"", None), http(999, None, ""), id="999"),
    pytest.param(
        response(400, b'{"error":null}'),
        http(400, JSON, '{"error":null}'),
        id="error-null",
    ),
    pytest.param(
        response(400, b'{"error":""}'),
        http(400, JSON, '{"error":""}'),
        id="error-empty",
    ),
    pytest.param(
        response(400, b'{"error":400}'),
        http(400, JSON, '{"error":400}'),
        id="error-non-string",
    ),
    pytest.param(
        response(400, b"error=", FORM),
        http(400, FORM, "error="),
        id="form-error-empty",
    ),
    pytest.param(
        response(400, b'{"error":"invalid_client"}', "text/html"),
        http(400, "text/html", '{"error":"invalid_client"}'),
        id="json-typed-html-is-not-read",
    ),
    pytest.param(
        # A token too short to mask in place withholds the snippet.
        response(500, b'{"access_token":"at-1","message":"boom"}'),
        http(500, JSON, WITHHELD),
        id="500-echoing-a-short-token",
    ),
    pytest.param(
        # A token found in the body is masked wherever else it is echoed.
        response(500, b'{"access_token":"at-1-echoed","message":"at-1-echoed"}'),
        http(500, JSON, '{"access_token":"***","message":"***"}'),
        id="500-echoing-a-token",
    ),
    pytest.param(
        response(500, b"", ""),
        http(500, None, ""),
        id="empty-content-type-is-none",
    ),
    pytest.param(
        response(500, b"", "  text/html  "),
        http(500, "text/html", ""),
        id="content-type-stripped",
    ),
    pytest.param(
        response(500, b"", "text/html; x=" + "a" * 300),
        http(500, ("text/html; x=" + "a" * 300)[:200], ""),
        id="content-type-cut-to-200",
    ),
    pytest.param(
        response(503, b"\xef\xbb\xbfService\t\tUnavailable\n", "text/plain"),
        http(503, "text/plain", "Service Unavailable"),
        id="bom-dropped-whitespace-collapsed",
    ),
    pytest.param(
        # Read in its declared charset: a secret echoed in it reads as itself.
        response(500, b"caf\xe9 \xff", "text/plain; charset=latin-1"),
        http(500, "text/plain; charset=latin-1", "caf\xe9 \xff"),
        id="declared-charset",
    ),
    pytest.param(
        response(500, b"caf\xe9 \xff", "text/plain"),
        http(500, "text/plain", "caf\xe9 \xff"),
        id="not-utf-8-read-as-latin-1",
    ),
    pytest.param(
        response(500, b"caf\xe9", "text/plain; charset=no-such-codec"),
        http(500, "text/plain; charset=no-such-codec", "caf\xe9"),
        id="unknown-charset-not-utf-8-read-as-latin-1",
    ),
    pytest.param(
        response(500, "\ufeffcaf\xe9".encode("utf-16-be"), "text/plain"),
        http(500, "text/plain", "caf\xe9"),
        id="utf-16-bom",
    ),
    pytest.param(
        response(502, b"   \n\t  ", "text/plain"),
        http(502, "text/plain", ""),
        id="whitespace-only",
    ),
]


@pytest.mark.parametrize(("resp", "expected"), HTTP_CASES)
def test_http_error(resp: HttpResponse, expected: HttpError) -> None:
    got = parse(resp)
    assert fields(got) == fields(expected)


def test_header_names_are_matched_in_any_case() -> None:
    resp = HttpResponse(
        status=503,
        headers=(("CONTENT-TYPE", "text/plain"), ("retry-AFTER", "5")),
        body=b"down",
    )
    assert fields(parse(resp)) == fields(http(503, "text/plain", "down", 5.0))


# ---------------------------------------------------------------------------
# Snippets: at most 200 characters, whitespace collapsed.


@pytest.mark.parametrize(
    "resp",
    [
        response(500, b"x" * 10_000, "text/plain"),
        response(500, "é" * 10_000, "text/plain"),
        response(500, "\U0001f600" * 10_000, "text/plain"),
        response(500, b"\xff" * 10_000, "text/plain"),
        response(200, b"<p>" * 10_000, "text/html"),
        response(
            200,
            json.dumps({"access_token": "at-1", "expires_in": -1})[:-1]
            + "".join(f', "x{i}": "y"' for i in range(100))
            + "}",
        ),
        response(500, b"a \n\t " * 10_000, "text/plain"),
    ],
    ids=["ascii", "latin", "astral", "invalid", "html-200", "json-200", "spaces"],
)
def test_snippet_is_at_most_200_characters(resp: HttpResponse) -> None:
    got = parse(resp)
    assert isinstance(got, HttpError | MalformedResponse)
    assert len(got.snippet) == 200
    assert "  " not in got.snippet
    assert "\n" not in got.snippet


# ---------------------------------------------------------------------------
# retryable, as DESIGN.md lists it.

RETRYABLE_STATUSES = [408, 425, 429, 500, 502, 503, 504]
OTHER_STATUSES = [100, 199, 300, 302, 304, 400, 401, 403, 404, 409, 410, 418, 422]
OTHER_STATUSES += [451, 501, 505, 507, 511, 599, 999]


@pytest.mark.parametrize("status", RETRYABLE_STATUSES)
def test_http_error_retryable_statuses(status: int) -> None:
    got = parse(response(status, b"<h1>oops</h1>", "text/html"))
    assert isinstance(got, HttpError)
    assert got.retryable is True


@pytest.mark.parametrize("status", OTHER_STATUSES)
def test_http_error_other_statuses_are_not_retryable(status: int) -> None:
    got = parse(response(status, b"<h1>oops</h1>", "text/html"))
    assert isinstance(got, HttpError)
    assert got.retryable is False


@pytest.mark.parametrize(
    ("error", "retryable"),
    [
        ("temporarily_unavailable", True),
        ("slow_down", True),
        ("server_error", True),
        ("invalid_request", False),
        ("invalid_client", False),
        ("invalid_grant", False),
        ("unauthorized_client", False),
        ("unsupported_grant_type", False),
        ("invalid_scope", False),
        ("access_denied", False),
        ("authorization_pending", False),
        ("expired_token", False),
        ("SERVER_ERROR", False),
        ("server_error ", False),
    ],
)
@pytest.mark.parametrize("status", [200, 400, 429, 503])
def test_oauth_error_retryable_is_decided_by_the_code_alone(
    error: str, retryable: bool, status: int
) -> None:
    got = parse(response(status, json.dumps({"error": error})))
    assert isinstance(got, OAuthError)
    assert got.retryable is retryable


@pytest.mark.parametrize(
    "body",
    [b"[]", b'{"access_token":"at-1","expires_in":-1}', b"<html>", b"{}"],
)
@pytest.mark.parametrize("status", [200, 201, 204, 299])
def test_malformed_response_is_never_retryable(body: bytes, status: int) -> None:
    got = parse(response(status, body))
    assert isinstance(got, MalformedResponse)
    assert got.retryable is False


@pytest.mark.parametrize(
    "resp",
    [
        response(503, b"", None),
        response(400, b'{"error":"invalid_grant"}'),
        response(200, b"[]"),
    ],
    ids=["http", "oauth", "malformed"],
)
def test_errors_are_exceptions_that_can_be_raised(resp: HttpResponse) -> None:
    got = parse(resp)
    assert isinstance(got, TokenError)
    assert isinstance(got, Exception)
    with pytest.raises(TokenError) as info:
        raise got
    assert info.value is got


# ---------------------------------------------------------------------------
# Masking: no error shows a token, a JWT or a caller's secret.

ACCESS = "2YotnFZFEjr1zCsicMWpAA"
REFRESH = "tGzv3JOkF0XG5Qx2TlKWIA"
ID_TOKEN = "idtok-9f8e7d6c5b4a"
SECRET = 'cl!ent s3cret/ü"'


def texts_of(error: TokenError) -> Iterator[str]:
    """Everything of an error a log or traceback could show."""
    yield repr(error)
    yield str(error)
    yield from (str(v) for v in attrs.asdict(cast(attrs.AttrsInstance, error)).values())


def assert_shows_none_of(error: TokenError, *values: str) -> None:
    for text in texts_of(error):
        for value in values:
            assert value not in text, (value, text)


MASKING_CASES = [
    pytest.param(
        response(
            200,
            json.dumps(
                {
                    "access_token": ACCESS,
                    "refresh_token": REFRESH,
                    "id_token": ID_TOKEN,
                    "expires_in": "soon",
                    "note": f"issued {ACCESS} with {REFRESH} and {ID_TOKEN}",
                }
            ),
        ),
        # A 2xx body may hold a live token: its shape only, no string value.
        malformed(
            NON_NUMERIC,
            f'{{"access_token": str({len(ACCESS)}), '
            f'"refresh_token": str({len(REFRESH)}), "id_token": str({len(ID_TOKEN)}), '
            f'"expires_in": str(4), '
            f'"note": str({len(f"issued {ACCESS} with {REFRESH} and {ID_TOKEN}")})}}',
        ),
        id="2xx-bad-expires-in",
    ),
    pytest.param(
        response(
            200,
            f"access_token={ACCESS}&refresh_token={REFRESH}&expires_in=-1"
            f"&echo={ACCESS}",
            FORM,
        ),
        malformed(
            NEGATIVE,
            f"access_token=str({len(ACCESS)})&refresh_token=str({len(REFRESH)})"
            f"&expires_in=str(2)&echo=str({len(ACCESS)})",
            FORM,
        ),
        id="2xx-form-bad-expires-in",
    ),
    pytest.param(
        response(
            200,
            json.dumps(
                {
                    "error": "invalid_grant",
                    "access_token": ACCESS,
                    "error_description": f"token {ACCESS} revoked; use {REFRESH}",
                    "error_uri": f"https://e.example/?t={ID_TOKEN}",
                    "id_token": ID_TOKEN,
                    "refresh_token": REFRESH,
                }
            ),
        ),
        oauth(
            "invalid_grant",
            200,
            "token *** revoked; use ***",
            "https://e.example/?t=***",
        ),
        id="oauth-error-echoing-the-tokens",
    ),
    pytest.param(
        response(
            401,
            json.dumps(
                {
                    "error": "invalid_token",
                    "error_description": f"{JWT_EXP} has expired",
                }
            ),
        ),
        oauth("invalid_token", 401, "*** has expired"),
        id="oauth-error-echoing-a-jwt",
    ),
    pytest.param(
        response(
            400,
            json.dumps(
                {
                    "error": "invalid_client",
                    "error_description": f"wrong secret {SECRET}",
                }
            ),
        ),
        oauth("invalid_client", 400, "wrong secret ***"),
        id="oauth-error-echoing-a-secret",
    ),
    pytest.param(
        response(
            400,
            "error=invalid_client&error_description=wrong+secret+"
            "cl%21ent+s3cret%2F%C3%BC%22",
            FORM,
        ),
        oauth("invalid_client", 400, "wrong secret ***"),
        id="oauth-form-error-echoing-a-secret",
    ),
    pytest.param(
        response(
            500,
            f"<html><body><pre>client_secret={SECRET}\n"
            f"Authorization: Bearer {JWT_NO_EXP}\n"
            f"GET /cb?access_token={ACCESS}&state=1</pre></body></html>",
            "text/html",
        ),
        http(
            500,
            "text/html",
            "<html><body><pre>client_secret=*** Authorization: Bearer *** "
            "GET /cb?access_token=***&state=1</pre></body></html>",
        ),
        id="html-echoing-secret-jwt-and-token",
    ),
    pytest.param(
        response(
            502,
            "echo: "
            + json.dumps(SECRET)
            + " "
            + json.dumps(SECRET, ensure_ascii=False)
            + " cl%21ent+s3cret%2F%C3%BC%22 cl%21ent%20s3cret%2F%C3%BC%22",
            "text/plain",
        ),
        http(502, "text/plain", 'echo: "***" "***" *** ***'),
        id="secret-escaped-and-percent-encoded",
    ),
    pytest.param(
        response(
            500,
            json.dumps({"message": "bad", "refresh_token": REFRESH, "x": REFRESH}),
        ),
        http(500, JSON, '{"message": "bad", "refresh_token": "***", "x": "***"}'),
        id="non-2xx-json-echoing-a-refresh-token",
    ),
]


@pytest.mark.parametrize(("resp", "expected"), MASKING_CASES)
def test_masking(resp: HttpResponse, expected: TokenError) -> None:
    got = parse(resp, secrets=(SECRET,))
    assert fields(got) == fields(expected)
    assert isinstance(got, TokenError)
    assert_shows_none_of(got, ACCESS, REFRESH, ID_TOKEN, SECRET, JWT_EXP, JWT_NO_EXP)


def test_the_masking_cases_do_echo_what_they_claim() -> None:
    # Guards against a case that passes because it leaks nothing to begin with.
    for param in MASKING_CASES:
        resp = cast(HttpResponse, param.values[0])
        body = resp.body.decode("utf-8")
        echoed = [ACCESS, REFRESH, ID_TOKEN, JWT_EXP, JWT_NO_EXP, SECRET]
        echoed += [json.dumps(SECRET)[1:-1], quote_plus(SECRET, safe="")]
        echoed += [quote(SECRET, safe="")]
        assert any(value in body for value in echoed), param.id


def test_a_padded_jwt_is_masked_too() -> None:
    # jwt_claims accepts padded segments, so a padded JWT is JWT-shaped.
    header = base64.urlsafe_b64encode(b'{"alg":"none"}').decode()
    payload = base64.urlsafe_b64encode(b'{"sub":"u12"}').decode()
    padded = f"{header}.{payload}.c2lnbmF0dXJl"
    assert header.endswith("=")
    assert payload.endswith("==")
    assert jwt_claims(padded) == {"sub": "u12"}
    resp = response(
        401,
        json.dumps(
            {"error": "invalid_token", "error_description": f"{padded} expired"}
        ),
    )
    got = parse(resp)
    assert fields(got) == fields(oauth("invalid_token", 401, "*** expired"))


def test_an_error_shows_no_token_on_a_token_shaped_success() -> None:
    # A Token's repr and str never show the tokens or raw either.
    got = parse(
        response(
            200,
            json.dumps(
                {"access_token": ACCESS, "refresh_token": REFRESH, "id_token": ID_TOKEN}
            ),
        )
    )
    assert isinstance(got, Token)
    for text in (repr(got), str(got)):
        for value in (ACCESS, REFRESH, ID_TOKEN):
            assert value not in text


MASK_CASES = [
    pytest.param("nothing to hide", (), "nothing to hide", id="plain"),
    pytest.param("", ("s3cret",), "", id="empty-text"),
    pytest.param("a s3cret-x b s3cret-x", ("s3cret-x",), "a *** b ***", id="secret"),
    pytest.param("s3cret", ("",), "s3cret", id="empty-secret-ignored"),
    pytest.param("x aaaaaaaa y", ("aaaaaaaa",) * 2, "x *** y", id="repeated-secret"),
    pytest.param(
        "abcdefghijkl and abcdefgh",
        ("abcdefgh", "abcdefghijkl"),
        "*** and ***",
        id="longest-first",
    ),
    pytest.param("networks", ("k",), WITHHELD, id="short-secret-withholds"),
    pytest.param("1234567", ("1234567",), WITHHELD, id="seven-characters-withhold"),
    pytest.param("12345678", ("12345678",), "***", id="eight-characters-mask"),
    pytest.param("nothing here", ("k",), "nothing here", id="short-secret-absent"),
    pytest.param(
        'p\\"ss\\\\w\\u00f6rd', ('p"ss\\wörd',), "***", id="json-escaped-ascii"
    ),
    pytest.param('p\\"ss\\\\wörd', ('p"ss\\wörd',), "***", id="json-escaped-unicode"),
    pytest.param("a+b%26c%2Fdef", ("a b&c/def",), "***", id="quote-plus"),
    pytest.param("a%20b%26c%2Fdef", ("a b&c/def",), "***", id="quote"),
    pytest.param(
        '{"access_token": "abc", "n": 1}',
        (),
        '{"access_token": "***", "n": 1}',
        id="json-access-token",
    ),
    pytest.param(
        '{"refresh_token" :\n "a\\"b\\\\", "n": 1}',
        (),
        '{"refresh_token" :\n "***", "n": 1}',
        id="json-refresh-token-escapes",
    ),
    pytest.param('{"id_token":"x.y.z"}', (), '{"id_token":"***"}', id="json-id-token"),
    pytest.param(
        '{"access_token": ""}', (), '{"access_token": ""}', id="json-empty-value"
    ),
    pytest.param(
        "access_token=abc&refresh_token=def&id_token=ghi&n=1",
        (),
        "access_token=***&refresh_token=***&id_token=***&n=1",
        id="form",
    ),
    pytest.param(
        "GET /cb?access_token=abc HTTP/1.1",
        (),
        "GET /cb?access_token=*** HTTP/1.1",
        id="query",
    ),
    pytest.param(
        "tokens:\naccess_token=abc\n", (), "tokens:\naccess_token=***\n", id="lines"
    ),
    pytest.param(
        "Bearer eyJhbGciOiJub25lIn0.eyJzdWIiOiIxIn0.",
        (),
        "Bearer ***",
        id="jwt-unsecured",
    ),
    pytest.param(f"({JWT_EXP})", (), "(***)", id="jwt"),
    pytest.param(
        "abcdefghij.klmnopqrst.uvwxyz0123",
        (),
        "***",
        id="three-long-base64url-segments",
    ),
    pytest.param("version 1.2.3", (), "version 1.2.3", id="short-dotted-kept"),
    pytest.param("example.com", (), "example.com", id="hostname-kept"),
]


@pytest.mark.parametrize(("text", "secrets", "expected"), MASK_CASES)
def test_mask_secrets(text: str, secrets: tuple[str, ...], expected: str) -> None:
    assert mask_secrets(text, secrets) == expected


def test_mask_secrets_default_secrets() -> None:
    assert mask_secrets('{"access_token":"abc"}') == '{"access_token":"***"}'


def test_mask_secrets_takes_any_iterable() -> None:
    assert mask_secrets("a s3cret-x", (s for s in ["s3cret-x"])) == "a ***"


def test_parse_never_raises_on_pathological_inputs() -> None:
    bodies = [
        b"",
        b"\x00" * 100,
        b"{" * 10_000,
        b'{"a":' + b"[" * 10_000,
        b"=" * 1000,
        b"&" * 1000,
        b"a=" + b"%" * 1000,
        b'{"access_token":"' + b"\\" * 1001 + b'"}',
        b'{"access_token":"at-1","expires_in":"' + b"9" * 1000 + b'"}',
        b'{"access_token":"at-1","expires_in":' + b"9" * 1000 + b".5}",
        b'{"access_token":"at-1","expires_in":-' + b"9" * 5000 + b"}",
        bytes(range(256)) * 10,
    ]
    content_types = [None, JSON, FORM, "text/plain", "text/html"]
    for status in (100, 200, 302, 400, 500, 999):
        for body in bodies:
            for content_type in content_types:
                got = parse(response(status, body, content_type))
                assert isinstance(got, Token | TokenError)


@pytest.mark.parametrize(
    "resp",
    [
        response(502, b"<pre>" + b"A" * 1_048_000 + b"</pre>", "text/html"),
        response(200, b'{"expires_in":-1,"dump":"' + b"0f" * 524_000 + b'"}'),
    ],
    ids=["html-502", "json-200"],
)
def test_masking_a_megabyte_of_base64_finishes(resp: HttpResponse) -> None:
    # A body is up to the adapters' 1 MiB cap, and the parse is plain CPU work
    # that no adapter timeout can interrupt: a long run of base64url
    # characters (a hex dump, a base64url blob) must not make it quadratic.
    # No clock is read here (tests never assert on time): linear masking of
    # a megabyte takes milliseconds, and the quadratic masking this guards
    # against took about a quarter of an hour, which CI's time limit catches.
    got = parse(resp)
    assert isinstance(got, HttpError | MalformedResponse)
    assert 0 < len(got.snippet) <= 200


@pytest.mark.parametrize("status", [200, 502])
def test_a_secret_echoed_in_the_content_type_is_masked(status: int) -> None:
    got = parse_token_response(
        HttpResponse(
            status=status,
            headers=(("Content-Type", "text/html; note=S3cr3t-echoed"),),
            body=b"<html>nope</html>",
        ),
        now=0.0,
        secrets=["S3cr3t-echoed"],
    )
    assert isinstance(got, HttpError | MalformedResponse)
    assert got.content_type == "text/html; note=***"
    assert "S3cr3t" not in repr(got)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (b'{"access_token":"abc\\r\\nX-Evil: 1"}', "access_token"),
        (b'{"access_token":"abc\\u0000"}', "access_token"),
        (b'{"access_token":"abc\\ud800"}', "access_token"),
        (b'{"access_token":"abc","token_type":"Bearer\\n"}', "token_type"),
        (b'{"access_token":"abc","refresh_token":"r\\ud800"}', "refresh_token"),
        (b'{"access_token":"abc","refresh_token":"r\\r\\n"}', "refresh_token"),
    ],
)
def test_a_token_that_could_not_be_sent_is_malformed(body: bytes, field: str) -> None:
    # Its value goes into a header (or a later request): a line break would
    # inject a header, and a lone surrogate cannot be encoded.
    got = parse_token_response(HttpResponse(status=200, body=body), now=0.0)
    assert isinstance(got, MalformedResponse)
    assert got.reason.startswith(field)
    assert "Evil" not in got.reason
