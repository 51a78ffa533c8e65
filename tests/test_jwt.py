"""jwt_claims: the unverified payload of a compact JWT, or None; never raises."""

from __future__ import annotations

import base64
import json
from types import MappingProxyType
from typing import Any, cast

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sansio_auth import Token, jwt_claims

# jwt.io's example token: HS256, {"sub": "1234567890", "name": "John Doe", ...}.
JWT_IO = (
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9"
    ".eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIiwiaWF0IjoxNTE2MjM5MDIyfQ"
    ".SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c"
)
JWT_IO_CLAIMS = {"sub": "1234567890", "name": "John Doe", "iat": 1516239022}


def segment(data: bytes, *, padded: bool = False) -> str:
    encoded = base64.urlsafe_b64encode(data).decode("ascii")
    return encoded if padded else encoded.rstrip("=")


def json_segment(value: object, *, padded: bool = False) -> str:
    return segment(json.dumps(value).encode("utf-8"), padded=padded)


def jwt(header: str, payload: str, signature: str = "c2lnbmF0dXJl") -> str:
    return f"{header}.{payload}.{signature}"


HEADER = json_segment({"alg": "HS256", "typ": "JWT"})
PAYLOAD = json_segment({"sub": "u1"})
SIG = "c2lnbmF0dXJl"


def four_n_plus_1(value: str) -> str:
    """*value* lengthened with base64url letters to a length of 4n+1."""
    return value + "A" * ((1 - len(value)) % 4)


def test_decodes_the_jwt_io_example() -> None:
    assert jwt_claims(JWT_IO) == JWT_IO_CLAIMS


# Payloads whose JSON is 3n+1 and 3n+2 bytes long: base64 pads them with
# "==" and "=" respectively, so both padding lengths are exercised.
ONE_PAD = {"a": "x"}  # '{"a": "x"}' is 10 bytes: "=="
TWO_PAD = {"a": "xy"}  # 11 bytes: "="


def test_the_padding_cases_are_what_they_claim() -> None:
    assert json_segment(ONE_PAD, padded=True).endswith("==")
    assert json_segment(TWO_PAD, padded=True).endswith("=")
    assert not json_segment(TWO_PAD, padded=True).endswith("==")


VALID = [
    pytest.param(f"{HEADER}.{PAYLOAD}.{SIG}", {"sub": "u1"}, id="unpadded"),
    pytest.param(
        f"{HEADER}.{json_segment(ONE_PAD, padded=True)}.{SIG}",
        ONE_PAD,
        id="payload-padded-two",
    ),
    pytest.param(
        f"{HEADER}.{json_segment(TWO_PAD, padded=True)}.{SIG}",
        TWO_PAD,
        id="payload-padded-one",
    ),
    pytest.param(
        f"{json_segment({'alg': 'none'}, padded=True)}.{PAYLOAD}.",
        {"sub": "u1"},
        id="padded-header-unsecured-empty-signature",
    ),
    pytest.param(f"{HEADER}.{json_segment({})}.{SIG}", {}, id="empty-object"),
    pytest.param(
        f"{HEADER}.{json_segment({'exp': 1.5, 'n': None, 'l': [1, {'a': True}]})}.x",
        {"exp": 1.5, "n": None, "l": [1, {"a": True}]},
        id="nested-values",
    ),
    pytest.param(
        jwt(HEADER, segment('{"name": "Zoë ☃"}'.encode())),
        {"name": "Zoë ☃"},
        id="utf-8-payload",
    ),
    pytest.param(
        f"{HEADER}.{PAYLOAD}.not base64 at all!",
        {"sub": "u1"},
        id="signature-is-not-read",
    ),
    pytest.param(
        jwt(segment(b" {} "), segment(b'\n{"a": 1}\n')),
        {"a": 1},
        id="json-with-surrounding-whitespace",
    ),
]


@pytest.mark.parametrize(("token", "claims"), VALID)
def test_returns_the_payload(token: str, claims: dict[str, object]) -> None:
    assert jwt_claims(token) == claims


INVALID = [
    pytest.param("", id="empty"),
    pytest.param("opaque-token-value", id="one-segment"),
    pytest.param(f"{HEADER}.{PAYLOAD}", id="two-segments"),
    pytest.param(f"{HEADER}.{PAYLOAD}.{SIG}.{SIG}", id="four-segments"),
    pytest.param(f"{HEADER}.{PAYLOAD}.{SIG}.{SIG}.{SIG}", id="five-segments-jwe"),
    pytest.param("..", id="three-empty-segments"),
    pytest.param(f"{HEADER}..{SIG}", id="empty-payload"),
    pytest.param(f".{PAYLOAD}.{SIG}", id="empty-header"),
    # Not base64url.
    pytest.param(
        jwt(HEADER, base64.b64encode(b'{"a": "?>?"}').decode()),
        id="standard-base64-plus-slash",
    ),
    pytest.param(f"{HEADER[:4]} {HEADER[4:]}.{PAYLOAD}.{SIG}", id="space-in-header"),
    pytest.param(f"{HEADER}.{PAYLOAD}!.{SIG}", id="bang-in-payload"),
    pytest.param(f"{HEADER}.é{PAYLOAD}.{SIG}", id="non-ascii-letter"),
    pytest.param(f"{HEADER}.{PAYLOAD[:4]}={PAYLOAD[4:]}.{SIG}", id="inner-padding"),
    pytest.param(f"{HEADER}.{json_segment(ONE_PAD)}===.{SIG}", id="three-pad-chars"),
    # Base64url, but not a JSON object.
    pytest.param(f"{json_segment([1, 2])}.{PAYLOAD}.{SIG}", id="header-array"),
    pytest.param(f"{json_segment('HS256')}.{PAYLOAD}.{SIG}", id="header-string"),
    pytest.param(f"{HEADER}.{json_segment([1, 2])}.{SIG}", id="payload-array"),
    pytest.param(f"{HEADER}.{json_segment('sub')}.{SIG}", id="payload-string"),
    pytest.param(f"{HEADER}.{json_segment(42)}.{SIG}", id="payload-number"),
    pytest.param(f"{HEADER}.{json_segment(None)}.{SIG}", id="payload-null"),
    pytest.param(jwt(HEADER, segment(b'{"a": 1')), id="payload-invalid-json"),
    pytest.param(f"{HEADER}.{segment(b'{a: 1}')}.{SIG}", id="payload-unquoted-key"),
    pytest.param(jwt(segment(b'{"alg"'), PAYLOAD), id="header-invalid-json"),
    pytest.param(jwt(HEADER, segment(b'{"a": "\xff"}')), id="payload-bad-utf-8"),
    pytest.param(jwt(segment(b'{"alg": "\xc3"}'), PAYLOAD), id="header-bad-utf-8"),
    pytest.param(jwt(HEADER, four_n_plus_1(PAYLOAD)), id="payload-length-4n+1"),
    pytest.param(jwt(four_n_plus_1(HEADER), PAYLOAD), id="header-length-4n+1"),
    pytest.param(
        jwt(HEADER, segment(b'{"a":' + b"[" * 100_000 + b"]" * 100_000 + b"}")),
        id="payload-nested-past-the-recursion-limit",
    ),
    pytest.param(
        jwt(HEADER, segment(b'{"exp": ' + b"9" * 5000 + b"}")),
        id="payload-integer-past-the-digit-limit",
    ),
]


@pytest.mark.parametrize("token", INVALID)
def test_anything_else_is_none(token: str) -> None:
    assert jwt_claims(token) is None


def test_the_length_cases_really_are_4n_plus_1() -> None:
    assert len(four_n_plus_1(PAYLOAD)) % 4 == 1
    assert len(four_n_plus_1(HEADER)) % 4 == 1


@pytest.mark.parametrize(
    "value",
    [None, 42, JWT_IO.encode(), ["a", "b", "c"], {"sub": "u1"}],
    ids=["none", "int", "bytes", "list", "dict"],
)
def test_a_non_str_is_none(value: object) -> None:
    assert jwt_claims(cast(str, value)) is None


def test_the_payload_is_read_only() -> None:
    claims = jwt_claims(JWT_IO)
    assert isinstance(claims, MappingProxyType)
    with pytest.raises(TypeError):
        cast(Any, claims)["sub"] = "someone else"
    assert claims == JWT_IO_CLAIMS


def test_each_call_decodes_afresh() -> None:
    first = jwt_claims(JWT_IO)
    second = jwt_claims(JWT_IO)
    assert first == second
    assert first is not second


def test_token_claims_is_jwt_claims_of_the_access_token() -> None:
    assert Token(access_token=JWT_IO, received_at=0.0).claims() == JWT_IO_CLAIMS
    assert Token(access_token="opaque", received_at=0.0).claims() is None


# Property tests -------------------------------------------------------------

JSON_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**64), max_value=2**64)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20)
)
JSON_VALUES: st.SearchStrategy[object] = st.recursive(
    JSON_SCALARS,
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=20,
)
JSON_OBJECTS = st.dictionaries(st.text(max_size=10), JSON_VALUES, max_size=6)


@settings(database=None, deadline=None)
@given(
    header=JSON_OBJECTS,
    payload=JSON_OBJECTS,
    padded=st.booleans(),
    ensure_ascii=st.booleans(),
    signature=st.text(alphabet="ABCxyz019-_", max_size=20),
)
def test_any_json_object_payload_round_trips(
    header: dict[str, object],
    payload: dict[str, object],
    padded: bool,
    ensure_ascii: bool,
    signature: str,
) -> None:
    def encode(value: dict[str, object]) -> str:
        data = json.dumps(value, ensure_ascii=ensure_ascii).encode("utf-8")
        return segment(data, padded=padded)

    token = f"{encode(header)}.{encode(payload)}.{signature}"
    assert jwt_claims(token) == payload


B64URL = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
SEGMENTS = (
    st.text(alphabet=B64URL + "=", max_size=40)
    | JSON_VALUES.map(lambda v: json_segment(v))
    | st.binary(max_size=30).map(segment)
    | st.text(max_size=20)
)


@settings(database=None, deadline=None)
@given(
    token=st.text()
    | st.lists(SEGMENTS, min_size=0, max_size=5).map(".".join)
    | st.tuples(JSON_OBJECTS, st.binary(max_size=40)).map(
        lambda pair: f"{json_segment(pair[0])}.{segment(pair[1])}.{SIG}"
    )
)
def test_never_raises_for_any_text(token: str) -> None:
    claims = jwt_claims(token)
    assert claims is None or isinstance(claims, MappingProxyType)
