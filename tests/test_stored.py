"""The value a shared store keeps (``sansio_auth._stored``).

Byte-exact encodings; a table of what is not a stored token; the fuzz
invariant (any bytes: a Token or None, never an exception); the round trip
(any Token: encoded, decoded, equal); and the time to keep it. Then what a
store keeps beside it: the tag, the entry a read returns (its repr hides the
token), and the failure the fleet waits out (byte-exact, in our words, never a
server's text or a secret, and decoding any bytes never raises).
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from typing import Any

import attrs
import pytest
from echoes import SECRETS
from hypothesis import assume, example, given
from hypothesis import strategies as st

from sansio_auth import (
    HttpError,
    HttpResponse,
    MalformedResponse,
    OAuthError,
    Token,
    TokenError,
    TransportError,
)
from sansio_auth._parse import parse_token_response
from sansio_auth._stored import (
    MAX_STORED_BYTES,
    STORED_VERSION,
    StoredEntry,
    decode_failure,
    decode_stored,
    encode_failure,
    encode_stored,
    stored_ttl,
    token_tag,
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


@pytest.mark.parametrize(("token", "data"), ENCODED[:2])
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
    # Stored as they are, but not a token to send: a lone surrogate cannot be
    # encoded, a CR or LF would inject a header (checked as a server's
    # answer is: whoever can write to the store wrote it).
    ENCODED[2][1],
    encode_stored(Token(access_token="at\r\nX-Injected: 1", received_at=0)),
    encode_stored(Token(access_token="at", received_at=0, refresh_token="rt\n")),
    encode_stored(Token(access_token="at", token_type="Bearer\x00", received_at=0)),
    b'{"v":1,"access_token":"' + b"a" * (1 << 20) + b'"}',
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

# What a server's answer may hold and be sent: no control character, no lone
# surrogate (those are refused, as the parser refuses them).
_TEXT = st.text(st.characters(exclude_categories=["Cc", "Cs"]), min_size=1)
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


# ---- the tag beside a stored token -------------------------------------------


def test_the_tag_is_the_sha256_of_the_access_token_in_hex() -> None:
    expected = hashlib.sha256(b"at-1").hexdigest()
    assert token_tag(FULL) == expected
    assert token_tag("at-1") == expected
    assert token_tag(BARE) != expected


def test_the_tag_names_only_the_access_token() -> None:
    # The refresh token, the expiry, the scopes: none changes the tag, so a
    # spent token (its refresh token taken out) keeps its tag.
    spent = Token(access_token="at-1", received_at=5.0)
    assert token_tag(spent) == token_tag(FULL)


@given(st.text(min_size=1))
def test_any_access_token_has_a_tag(access_token: str) -> None:
    tag = token_tag(access_token)
    assert re.fullmatch(r"[0-9a-f]{64}", tag)
    assert tag == token_tag(Token(access_token=access_token, received_at=0))


# ---- what a read returns -----------------------------------------------------


def test_an_empty_entry_holds_nothing() -> None:
    assert StoredEntry() == StoredEntry(
        token=None, token_ttl=None, failure=None, failure_ttl=None
    )


def test_an_entry_is_frozen() -> None:
    entry = StoredEntry(token=b"x", token_ttl=1.0)
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        entry.token = b"y"  # type: ignore[misc]


def test_the_entry_repr_shows_whether_not_what() -> None:
    data = encode_stored(FULL)
    entry = StoredEntry(token=data, token_ttl=5.5, failure=b'{"v":1}', failure_ttl=2)
    assert repr(entry) == (
        "StoredEntry(token=yes, token_ttl=5.5, failure=yes, failure_ttl=2)"
    )
    assert "at-1" not in repr(entry)
    assert "rt-1" not in repr(entry)
    assert repr(StoredEntry()) == (
        "StoredEntry(token=no, token_ttl=None, failure=no, failure_ttl=None)"
    )


@pytest.mark.parametrize("name", ["token_ttl", "failure_ttl"])
@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf, "1", True, b"1"])
def test_a_ttl_must_be_a_finite_number_or_none(name: str, value: object) -> None:
    with pytest.raises(ValueError, match=rf"^{name} must be a finite number or None$"):
        StoredEntry(**{name: value})  # type: ignore[arg-type]


@pytest.mark.parametrize("value", [0, 0.0, 12, 3.5, -1.0])
def test_a_finite_ttl_is_kept(value: float) -> None:
    assert StoredEntry(token_ttl=value, failure_ttl=value).token_ttl == value


# ---- a failure the fleet waits out together ----------------------------------

# RFC 6749 §5.2 and §4.1.2.1, RFC 8628 §3.5, RFC 8693 §2.2.2, RFC 9449 §7.
REGISTERED = [
    "access_denied",
    "authorization_pending",
    "expired_token",
    "invalid_client",
    "invalid_dpop_proof",
    "invalid_grant",
    "invalid_request",
    "invalid_scope",
    "invalid_target",
    "server_error",
    "slow_down",
    "temporarily_unavailable",
    "unauthorized_client",
    "unsupported_grant_type",
    "use_dpop_nonce",
]

FAILURES: list[tuple[TokenError, bytes]] = [
    (
        OAuthError(
            error="invalid_client",
            description="client secret Cs5-secret is wrong",
            uri="https://auth.example/errors?secret=Cs5-secret",
            status=401,
            retry_after=7.0,
        ),
        b'{"error":"invalid_client","kind":"oauth","status":401,"v":1}',
    ),
    (
        OAuthError(error="my_own_code_Cs5-secret", status=400),
        b'{"error":"unregistered_error","kind":"oauth","status":400,"v":1}',
    ),
    (
        HttpError(
            status=503,
            content_type="text/html",
            snippet="<h1>down, key=Cs5-secret</h1>",
            retry_after=3.0,
            location=None,
        ),
        b'{"kind":"http","status":503,"v":1}',
    ),
    (
        MalformedResponse(
            reason="access_token is missing",
            status=200,
            content_type="application/json",
            snippet='{"refresh_token": "Cs5-secret"}',
        ),
        b'{"kind":"malformed","status":200,"v":1}',
    ),
    (
        TransportError(reason="reset by Cs5-secret.example", retryable=True),
        b'{"kind":"transport","retryable":true,"v":1}',
    ),
    (
        TransportError(reason="TLS verification failed", retryable=False),
        b'{"kind":"transport","retryable":false,"v":1}',
    ),
]


@pytest.mark.parametrize(("error", "data"), FAILURES)
def test_a_failure_is_stored_byte_for_byte_without_server_text(
    error: TokenError, data: bytes
) -> None:
    assert encode_failure(error) == data
    assert b"Cs5-secret" not in data


@pytest.mark.parametrize(("error", "data"), FAILURES)
def test_a_stored_failure_is_told_in_our_words_with_the_stores_wait(
    error: TokenError, data: bytes
) -> None:
    decoded = decode_failure(data, retry_after=4.5)
    assert type(decoded) is type(error)
    assert decoded is not None
    assert decoded.retryable == error.retryable
    assert "Cs5-secret" not in repr(decoded)
    assert "Cs5-secret" not in str(decoded)
    shared = _shared_words()
    assert shared not in str(error)
    if isinstance(decoded, OAuthError):
        assert isinstance(error, OAuthError)
        assert decoded.status == error.status
        assert decoded.description == shared
        assert decoded.uri is None
        assert decoded.retry_after == 4.5
    elif isinstance(decoded, HttpError):
        assert isinstance(error, HttpError)
        assert decoded.status == error.status
        assert decoded.snippet == shared
        assert decoded.content_type is None
        assert decoded.retry_after == 4.5
    elif isinstance(decoded, MalformedResponse):
        assert decoded.status == 200
        assert decoded.reason == shared
        assert decoded.snippet == ""
    else:
        assert isinstance(decoded, TransportError)
        assert decoded.reason == shared
    # What the fleet shares is stored the same again.
    assert encode_failure(decoded) == data


@pytest.mark.parametrize("code", REGISTERED)
def test_each_registered_code_is_kept(code: str) -> None:
    data = encode_failure(OAuthError(error=code, status=400))
    decoded = decode_failure(data, retry_after=None)
    assert isinstance(decoded, OAuthError)
    assert decoded.error == code
    assert decoded.retry_after is None


def test_an_unregistered_code_is_kept_as_unregistered() -> None:
    data = encode_failure(OAuthError(error="Invalid_Client", status=401))
    decoded = decode_failure(data, retry_after=None)
    assert isinstance(decoded, OAuthError)
    assert decoded.error == "unregistered_error"
    assert not decoded.retryable


@pytest.mark.parametrize("error", [None, ValueError("x"), "invalid_client", b"{}"])
def test_encoding_what_is_not_a_token_error_is_a_type_error(error: Any) -> None:
    with pytest.raises(TypeError, match=r"^error must be a TokenError, got "):
        encode_failure(error)


@pytest.mark.parametrize("retry_after", [math.nan, math.inf, -1.0, "3", True, None])
def test_a_wait_that_is_no_wait_is_none(retry_after: Any) -> None:
    decoded = decode_failure(FAILURES[0][1], retry_after=retry_after)
    assert isinstance(decoded, OAuthError)
    assert decoded.retry_after is None


@pytest.mark.parametrize("retry_after", [0, 0.0, 2, 1e9])
def test_a_wait_is_kept(retry_after: float) -> None:
    decoded = decode_failure(FAILURES[2][1], retry_after=retry_after)
    assert isinstance(decoded, HttpError)
    assert decoded.retry_after == retry_after


def _failure(**document: object) -> bytes:
    return json.dumps({"v": 1, **document}).encode()


NOT_FAILURES: list[Any] = [
    b"",
    b"null",
    b"[]",
    b"not json",
    b"\xff",
    b"[" * 100_000,
    b'{"v":1,"kind":"http","status":503}x',
    b'{"v":1,"kind":"http","status":NaN}',
    "a str",
    None,
    memoryview(b'{"v":1,"kind":"http","status":503}'),
    _failure(v=2, kind="http", status=503),
    _failure(v="1", kind="http", status=503),
    json.dumps({"kind": "http", "status": 503}).encode(),
    _failure(kind="http"),
    _failure(kind="http", status=99),
    _failure(kind="http", status=600),
    _failure(kind="http", status=503.0),
    _failure(kind="http", status="503"),
    _failure(kind="http", status=True),
    _failure(kind="malformed", status=0),
    _failure(kind="oauth", status=400),
    _failure(kind="oauth", status=400, error=1),
    _failure(kind="oauth", status=400, error="no_such_code"),
    _failure(kind="oauth", status=1000, error="invalid_client"),
    _failure(kind="transport"),
    _failure(kind="transport", retryable=1),
    _failure(kind="transport", retryable="true"),
    _failure(kind="other", status=503),
    _failure(status=503),
]


@pytest.mark.parametrize("data", NOT_FAILURES)
def test_what_is_not_a_stored_failure_is_none(data: Any) -> None:
    assert decode_failure(data, retry_after=3.0) is None


def test_a_failure_is_read_up_to_the_size_cap() -> None:
    data = b'{"kind":"http","status":503,"v":1}'
    assert isinstance(
        decode_failure(data.ljust(MAX_STORED_BYTES), retry_after=None), HttpError
    )
    assert decode_failure(data.ljust(MAX_STORED_BYTES + 1), retry_after=None) is None


def test_a_bytearray_failure_is_read_like_bytes() -> None:
    assert isinstance(
        decode_failure(bytearray(FAILURES[4][1]), retry_after=None), TransportError
    )


@given(st.binary(), st.none() | st.floats())
@example(b"[" * 10_000, None)
@example(b'{"v":1}', 1.0)
def test_any_bytes_are_a_failure_or_none(
    data: bytes, retry_after: float | None
) -> None:
    decoded = decode_failure(data, retry_after=retry_after)
    assert decoded is None or isinstance(decoded, TokenError)


_FAILURE_FIELDS = st.sampled_from(
    ["v", "kind", "status", "error", "retryable", "other"]
)


@given(
    base=st.sampled_from([data for _, data in FAILURES]),
    changes=st.dictionaries(_FAILURE_FIELDS, _JSON, max_size=3),
    retry_after=st.none() | st.floats() | st.integers(),
)
def test_any_document_near_a_stored_failure_is_a_failure_or_none(
    base: bytes, changes: dict[str, object], retry_after: float | None
) -> None:
    document = json.loads(base)
    document.update(changes)
    decoded = decode_failure(json.dumps(document).encode(), retry_after=retry_after)
    assert decoded is None or isinstance(decoded, TokenError)
    if decoded is not None:
        # Whatever the document said, the words are ours.
        assert _shared_words() in str(decoded) or isinstance(decoded, HttpError)
        if isinstance(decoded, OAuthError | HttpError):
            after = decoded.retry_after
            assert after is None or (0 <= after < math.inf)


def _shared_words() -> str:
    """What every decoded failure says instead of the server's text."""
    decoded = decode_failure(
        b'{"kind":"transport","retryable":true,"v":1}', retry_after=None
    )
    assert isinstance(decoded, TransportError)
    return decoded.reason


def _with_text(where: str, text: str, status: int) -> TokenError:
    if where in ("description", "uri", "error"):
        fields: dict[str, Any] = {"error": "invalid_client", "status": status}
        fields[where] = text
        return OAuthError(**fields)
    if where == "snippet":
        return HttpError(status=status, content_type="text/html", snippet=text)
    return TransportError(reason=text, retryable=True)


@given(
    secret=SECRETS,
    where=st.sampled_from(["description", "uri", "error", "snippet", "reason"]),
    status=st.integers(100, 599),
)
def test_no_secret_in_a_failure_reaches_the_store(
    secret: str, where: str, status: int
) -> None:
    assume(not (where == "error" and secret in REGISTERED))
    data = encode_failure(_with_text(where, secret, status))
    # The bytes say nothing the server or the error wrote in free text: they
    # are those of the same failure without it.
    blank = encode_failure(_with_text(where, "x", status))
    assert data == blank
    if secret.encode("utf-8", "surrogatepass") not in blank:
        assert secret.encode("utf-8", "surrogatepass") not in data
    decoded = decode_failure(data, retry_after=None)
    assert decoded is not None
    assert repr(decoded) == repr(decode_failure(blank, retry_after=None))


@given(st.text(min_size=1), st.text(min_size=1))
def test_a_stored_token_decodes_exactly_when_it_could_be_sent(
    access_token: str, refresh_token: str
) -> None:
    token = Token(access_token=access_token, received_at=0, refresh_token=refresh_token)
    decoded = decode_stored(encode_stored(token))
    sendable = all(
        not any(c in "\r\n\x00" or 0xD800 <= ord(c) <= 0xDFFF for c in text)
        for text in (access_token, refresh_token)
    )
    if not sendable:
        assert decoded is None
    if decoded is not None:
        assert decoded == token
