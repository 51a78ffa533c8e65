"""The value a shared store keeps (``sansio_auth._stored``).

Byte-exact encodings; a table of what is not a stored token; the fuzz
invariant (any bytes: a Token or None, never an exception); the round trip
(any Token: encoded, decoded, equal); and the time to keep it.
"""

from __future__ import annotations

import json
import math
from typing import Any

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from sansio_auth import HttpResponse, Token
from sansio_auth._parse import parse_token_response
from sansio_auth._stored import (
    STORED_VERSION,
    decode_stored,
    encode_stored,
    stored_ttl,
)

FULL = Token(
    access_token="at-1",
    token_type="bearer",
    received_at=1_700_000_000,
    expires_at=1_700_003_600.5,
    scopes=["write", "read"],
    refresh_token="rt-1",
    raw={"access_token": "at-1", "id_token": "id-secret", "extra": [1, 2]},
)
BARE = Token(access_token="at-2", received_at=0.25)

ENCODED = [
    (
        FULL,
        b'{"access_token":"at-1","expires_at":1700003600.5,"received_at":'
        b'1700000000.0,"refresh_token":"rt-1","scopes":["read","write"],'
        b'"token_type":"Bearer","v":1}',
    ),
    (
        BARE,
        b'{"access_token":"at-2","expires_at":null,"received_at":0.25,'
        b'"refresh_token":null,"scopes":null,"token_type":"Bearer","v":1}',
    ),
    (
        Token(
            access_token="\u00e9\ud800",
            token_type="DPoP",
            received_at=-1.5,
            expires_at=-0.0,
            scopes=[],
        ),
        b'{"access_token":"\\u00e9\\ud800","expires_at":-0.0,"received_at":-1.5,'
        b'"refresh_token":null,"scopes":[],"token_type":"DPoP","v":1}',
    ),
]


@pytest.mark.parametrize(("token", "data"), ENCODED)
def test_encoding_byte_for_byte(token: Token, data: bytes) -> None:
    assert encode_stored(token) == data


@pytest.mark.parametrize(("token", "data"), ENCODED)
def test_decoding_the_fixtures_gives_the_token_without_the_raw_response(
    token: Token, data: bytes
) -> None:
    decoded = decode_stored(data)
    assert decoded == token
    assert decoded is not None
    assert decoded.scopes == token.scopes
    assert decoded.raw == {}


def test_the_raw_response_is_not_stored() -> None:
    data = encode_stored(FULL)
    assert b"id-secret" not in data
    assert b"extra" not in data


def test_the_version_is_inside() -> None:
    assert STORED_VERSION == 1
    assert json.loads(encode_stored(BARE))["v"] == 1


def test_a_parsed_token_is_stored_with_its_scopes_split() -> None:
    # The parser keeps the server's scope string until it is first read.
    body = json.dumps(
        {
            "access_token": "at-3",
            "token_type": "bearer",
            "expires_in": 60,
            "scope": "b a  c",
            "refresh_token": "rt-3",
        }
    ).encode()
    token = parse_token_response(HttpResponse(status=200, body=body), now=100.0)
    assert isinstance(token, Token)
    data = encode_stored(token)
    assert b'"scopes":["a","b","c"]' in data
    assert decode_stored(data) == token


@pytest.mark.parametrize("token", [None, "at-secret", {"access_token": "x"}, 1])
def test_encoding_something_else_is_a_type_error_without_the_value(
    token: Any,
) -> None:
    with pytest.raises(TypeError, match=r"^token must be a Token, got ") as caught:
        encode_stored(token)
    assert "secret" not in str(caught.value)


def _document(**changes: object) -> bytes:
    document: dict[str, object] = json.loads(ENCODED[0][1])
    for name, value in changes.items():
        if value is _DROP:
            del document[name]
        else:
            document[name] = value
    return json.dumps(document).encode()


_DROP = object()

NOT_TOKENS: list[Any] = [
    b"",
    b" ",
    b"null",
    b"[]",
    b'"token"',
    b"{}",
    b"not json",
    b"\xff\xfe{",
    b"[" * 100_000 + b"]" * 100_000,
    b'{"v":' + b"1" * 5000 + b"}",
    ENCODED[0][1][:-1],  # truncated
    ENCODED[0][1] + b"x",
    "a str, not bytes",
    memoryview(ENCODED[0][1]),
    None,
    _document(v=2),
    _document(v=0),
    _document(v=True),
    _document(v=1.0),
    _document(v="1"),
    _document(v=_DROP),
    _document(access_token=_DROP),
    _document(token_type=_DROP),
    _document(received_at=_DROP),
    _document(expires_at=_DROP),
    _document(scopes=_DROP),
    _document(refresh_token=_DROP),
    _document(raw={}),
    _document(access_token=""),
    _document(access_token=1),
    _document(access_token=None),
    _document(token_type=""),
    _document(token_type=None),
    _document(received_at="1"),
    _document(received_at=True),
    _document(received_at=None),
    _document(received_at=10**400),
    _document(expires_at="1"),
    _document(expires_at=False),
    _document(expires_at=10**400),
    _document(scopes="read write"),
    _document(scopes=[1]),
    _document(scopes={"read": True}),
    _document(refresh_token=""),
    _document(refresh_token=1),
    ENCODED[0][1].replace(b"1700000000.0", b"NaN"),
    ENCODED[0][1].replace(b"1700000000.0", b"Infinity"),
    ENCODED[0][1].replace(b"1700000000.0", b"-Infinity"),
    ENCODED[0][1].replace(b"1700000000.0", b"1e999"),
    ENCODED[0][1].replace(b"1700003600.5", b"-1e999"),
]


@pytest.mark.parametrize("data", NOT_TOKENS)
def test_what_is_not_a_stored_token_is_none(data: Any) -> None:
    assert decode_stored(data) is None


def test_a_bytearray_is_read_like_bytes() -> None:
    assert decode_stored(bytearray(ENCODED[0][1])) == FULL


def test_integers_are_read_as_times() -> None:
    decoded = decode_stored(_document(received_at=5, expires_at=65))
    assert decoded is not None
    assert (decoded.received_at, decoded.expires_at) == (5.0, 65.0)


# ---- properties --------------------------------------------------------------

_TEXT = st.text(min_size=1)
_TIMES = st.floats(allow_nan=False, allow_infinity=False) | st.integers(-(2**53), 2**53)
TOKENS = st.builds(
    Token,
    access_token=_TEXT,
    token_type=st.none() | _TEXT,
    received_at=_TIMES,
    expires_at=st.none() | _TIMES,
    scopes=st.none() | st.frozensets(st.text()),
    refresh_token=st.none() | _TEXT,
    raw=st.dictionaries(st.text(), st.text()),
)


@given(TOKENS)
def test_any_token_round_trips(token: Token) -> None:
    data = encode_stored(token)
    decoded = decode_stored(data)
    assert decoded == token
    assert decoded is not None
    assert (
        decoded.access_token,
        decoded.token_type,
        decoded.received_at,
        decoded.expires_at,
        decoded.scopes,
        decoded.refresh_token,
    ) == (
        token.access_token,
        token.token_type,
        token.received_at,
        token.expires_at,
        token.scopes,
        token.refresh_token,
    )
    # The same token is the same bytes, and they are ASCII.
    assert encode_stored(decoded) == data
    assert data.isascii()


@given(st.binary())
@example(b"[" * 10_000)
@example(b'{"v":1}')
def test_any_bytes_are_a_token_or_none(data: bytes) -> None:
    assert decode_stored(data) is None or isinstance(decode_stored(data), Token)


_JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | st.text(max_size=5)
    | st.sampled_from(["", "Bearer"]),
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=5,
)


@given(
    token=TOKENS,
    changes=st.dictionaries(
        st.sampled_from(
            [
                "v",
                "access_token",
                "token_type",
                "received_at",
                "expires_at",
                "scopes",
                "refresh_token",
                "other",
            ]
        ),
        _JSON,
        max_size=3,
    ),
    drops=st.sets(st.sampled_from(["v", "access_token", "scopes"]), max_size=2),
)
def test_any_document_near_a_stored_token_is_a_token_or_none(
    token: Token, changes: dict[str, object], drops: set[str]
) -> None:
    document = json.loads(encode_stored(token))
    document.update(changes)
    for name in drops:
        document.pop(name, None)
    data = json.dumps(document).encode()  # NaN and Infinity included
    decoded = decode_stored(data)
    assert decoded is None or isinstance(decoded, Token)


# ---- how long to keep it -----------------------------------------------------

TTLS = [
    (Token(access_token="a", received_at=0), 100.0, None),
    (Token(access_token="a", received_at=0, expires_at=3600), 100.0, 3500.0),
    (Token(access_token="a", received_at=0, expires_at=3600), 100, 3500.0),
    (Token(access_token="a", received_at=0, expires_at=3600), 3599.5, 0.5),
    (Token(access_token="a", received_at=0, expires_at=3600), 3600.0, 0.0),
    (Token(access_token="a", received_at=0, expires_at=3600), 5000.0, 0.0),
    (Token(access_token="a", received_at=0, expires_at=-10), -20.0, 10.0),
]


@pytest.mark.parametrize(("token", "now", "ttl"), TTLS)
def test_a_token_is_kept_until_it_expires(
    token: Token, now: float, ttl: float | None
) -> None:
    assert stored_ttl(token, now) == ttl


@pytest.mark.parametrize("now", [None, "100", True])
def test_now_not_a_number_is_a_type_error(now: Any) -> None:
    with pytest.raises(TypeError, match=r"^now must be a number, got "):
        stored_ttl(FULL, now)


@pytest.mark.parametrize("now", [math.nan, math.inf, -math.inf])
def test_now_not_finite_is_a_value_error(now: float) -> None:
    with pytest.raises(ValueError, match=r"^now must be finite$"):
        stored_ttl(FULL, now)


@given(token=TOKENS, now=st.floats(-1e15, 1e15))
def test_the_time_to_keep_is_none_or_what_is_left_and_never_negative(
    token: Token, now: float
) -> None:
    ttl = stored_ttl(token, now)
    if token.expires_at is None:
        assert ttl is None
    else:
        assert ttl is not None
        assert ttl >= 0.0
        assert ttl == max(0.0, token.expires_at - now)
