"""The values: HttpRequest, HttpResponse, Token and the errors.

Each rule DESIGN.md states about them has a test here that fails if the rule
breaks: what the constructors refuse (and that the refusal never repeats a
secret), what the reprs leave out, and how Token and the errors behave.
"""

from __future__ import annotations

import base64
import copy
import json
import math
import pickle
import re
from collections.abc import Callable, Iterator
from types import MappingProxyType

import attrs
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from sansio_auth import (
    HttpError,
    HttpRequest,
    HttpResponse,
    MalformedResponse,
    OAuthError,
    Token,
    TokenError,
    TransportError,
    parse_token_response,
)

URL = "https://auth.example.com/oauth/token"

# Secrets for the "never shown" properties: long enough not to occur in the
# fixed text around them by chance, and checked not to.
secret_texts = st.text(min_size=8, max_size=64)
# The same, as a header value may hold them: no control character but tab.
header_secret_texts = st.text(
    st.characters(min_codepoint=0x20, max_codepoint=0x7E) | st.just("\t"),
    min_size=8,
    max_size=64,
)


def leaks(secret: str, text: str) -> bool:
    """Whether *text* shows *secret*, as is or escaped the way repr() does."""
    return secret in text or repr(secret)[1:-1] in text


def request(**changes: object) -> HttpRequest:
    fields: dict[str, object] = {
        "method": "POST",
        "url": URL,
        "headers": (("Accept", "application/json"),),
        "body": b"",
    }
    fields.update(changes)
    return HttpRequest(**fields)  # type: ignore[arg-type]


# --------------------------------------------------------------------------
# HttpRequest
# --------------------------------------------------------------------------


def test_request_holds_what_it_was_given() -> None:
    headers = (("Content-Type", "application/x-www-form-urlencoded"), ("A", "b"))
    req = HttpRequest(method="POST", url=URL, headers=headers, body=b"a=b")
    assert req.method == "POST"
    assert req.url == URL
    assert req.headers == headers
    assert req.body == b"a=b"


def test_request_body_defaults_to_empty_bytes() -> None:
    assert HttpRequest(method="GET", url=URL, headers=()).body == b""


def test_request_headers_become_a_tuple_of_tuples_in_order() -> None:
    req = request(headers=[["B", "2"], ("A", "1"), ["C", "3"]])
    assert req.headers == (("B", "2"), ("A", "1"), ("C", "3"))
    assert type(req.headers) is tuple
    assert all(type(pair) is tuple for pair in req.headers)


def test_request_headers_accept_any_iterable_of_pairs() -> None:
    def pairs() -> Iterator[tuple[str, str]]:
        yield ("A", "1")
        yield ("B", "2")

    assert request(headers=pairs()).headers == (("A", "1"), ("B", "2"))


def test_request_is_frozen_and_keyword_only() -> None:
    req = request()
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        req.url = "https://other.example.com/"  # type: ignore[misc]
    with pytest.raises(TypeError):
        HttpRequest("POST", URL, (), b"")  # type: ignore[call-arg]


def test_request_equality_and_hash_follow_the_fields() -> None:
    assert request() == request()
    assert hash(request()) == hash(request())
    assert request() != request(body=b"x")


@pytest.mark.parametrize(
    "value",
    # C0 but tab, DEL, and C1 (U+0080 to U+009F): every control but tab.
    [chr(c) for c in [*range(0x09), *range(0x0A, 0x20), *range(0x7F, 0xA0)]],
    ids=lambda c: f"U+{ord(c):04X}",
)
def test_request_refuses_a_control_character_in_a_header_value(value: str) -> None:
    secret = "SECRET-KEY-VALUE"
    with pytest.raises(ValueError, match="control character") as caught:
        request(headers=(("Accept", "a"), ("X-API-Key", secret + value + "tail")))
    message = str(caught.value)
    assert "X-API-Key" in message
    assert "SECRET" not in message
    assert "tail" not in message


@pytest.mark.parametrize(
    "value",
    [
        "",
        "a\tb",
        "\t",
        "Bearer eyJhbGciOi.x.y",
        'quoted "value"; q=0.5, other',
        "   spaces   ",
    ],
)
def test_request_allows_tab_and_printable_header_values(value: str) -> None:
    assert request(headers=(("X-Value", value),)).header("x-value") == value


@given(
    st.text(st.characters(max_codepoint=0x7E), max_size=10),
    st.text(st.characters(min_codepoint=0xA0, exclude_categories=["Cs"]), min_size=1),
)
def test_request_refuses_a_header_value_outside_ascii(prefix: str, beyond: str) -> None:
    # One HTTP stack sends such a value as UTF-8, another as Latin-1, a third
    # refuses it: a request never holds one, so that every adapter sends the
    # same bytes. The message names the header, never the value.
    assume(not re.search(r"[\x00-\x08\x0a-\x1f\x7f]", prefix))
    with pytest.raises(
        ValueError, match="header 'X-Key' contains a character outside ASCII"
    ) as caught:
        request(headers=(("X-Key", prefix + beyond),))
    assert beyond not in str(caught.value)


@given(
    st.text(st.characters(exclude_categories=["Cs"]), max_size=20),
    st.text(st.characters(codec="ascii", categories=["Cc"]), min_size=1),
)
def test_request_refuses_any_control_but_tab_wherever_it_is(
    prefix: str, controls: str
) -> None:
    assume(controls != "\t" * len(controls))
    value = prefix + controls
    with pytest.raises(ValueError, match="header 'X-Key'"):
        request(headers=(("X-Key", value),))


@pytest.mark.parametrize(
    "name",
    [
        "",
        "X Key",
        "X-Key:",
        ":authority",
        "X\r\nEvil",
        "X\x00",
        "Ké",
        "(x)",
        '"x"',
        "a/b",
    ],
)
def test_request_refuses_a_header_name_that_is_not_a_token(name: str) -> None:
    with pytest.raises(ValueError, match="header name"):
        request(headers=((name, "v"),))


@pytest.mark.parametrize(
    "name",
    ["X-API-Key", "accept", "!#$%&'*+-.^_`|~", "0", "x" * 200],
)
def test_request_accepts_any_token_as_a_header_name(name: str) -> None:
    assert request(headers=((name, "v"),)).headers == ((name, "v"),)


HEADER_SHAPES: list[object] = [
    "Accept: a",
    b"Accept: a",
    None,
    42,
    [("Accept",)],
    [("Accept", "a", "b")],
    [("Accept", 1)],
    [(1, "a")],
    [("Accept", b"a")],
    [{"Accept", "a"}],
    ["Ab"],
]


@pytest.mark.parametrize("headers", HEADER_SHAPES)
def test_request_refuses_headers_that_are_not_str_pairs(headers: object) -> None:
    with pytest.raises(TypeError, match="header"):
        request(headers=headers)


@pytest.mark.parametrize("method", ["POST", "GET", "M-SEARCH", "patch", "X~Y"])
def test_request_accepts_a_token_method(method: str) -> None:
    assert request(method=method).method == method


@pytest.mark.parametrize("method", ["", "PO ST", "POST\r\n", "GET/", "PÖST", None, 1])
def test_request_refuses_a_method_that_is_not_a_token(method: object) -> None:
    with pytest.raises(ValueError, match="method"):
        request(method=method)


@pytest.mark.parametrize(
    "url",
    [
        "",
        "https://a.example/ b",
        " https://a.example/",
        "https://a.example/\r\nHost: evil",
        "https://a.example/\n",
        "https://a.example/\x00",
        "https://a.example/\x1b",
        "https://a.example/\x7f",
        # A tab is a control character too (RFC 9110's CTL; http.client
        # refuses it in a request target).
        "https://a.example/\tb",
        None,
        b"https://a.example/",
    ],
)
def test_request_refuses_a_url_with_spaces_or_control_characters(url: object) -> None:
    with pytest.raises(ValueError, match="url"):
        request(url=url)


@pytest.mark.parametrize("body", ["a=b", bytearray(b"a=b"), memoryview(b"a=b"), None])
def test_request_body_must_be_bytes(body: object) -> None:
    with pytest.raises(TypeError, match="body must be bytes"):
        request(body=body)


def test_request_header_lookup_is_case_insensitive() -> None:
    req = request(headers=(("Accept", "one"), ("X-Once", "first")))
    assert req.header("accept") == "one"
    assert req.header("ACCEPT") == "one"
    assert req.header("x-once") == "first"
    assert req.header("Content-Type") is None


def test_request_repr_shows_method_url_and_header_names_only() -> None:
    req = HttpRequest(
        method="POST",
        url=URL,
        headers=(
            ("Authorization", "Basic SECRET-BASIC"),
            ("X-API-Key", "SECRET-KEY"),
        ),
        body=b"client_secret=SECRET-BODY",
    )
    text = repr(req)
    assert "'POST'" in text
    assert repr(URL) in text
    assert "'Authorization'" in text
    assert "'X-API-Key'" in text
    assert "SECRET" not in text
    assert "client_secret" not in text
    assert str(req) == text


@given(header_secret_texts, secret_texts)
def test_request_repr_never_shows_a_header_value_or_the_body(
    header_secret: str, body_secret: str
) -> None:
    plain = repr(request(headers=(("X-Key", "v"),), body=b"b"))
    assume(not leaks(header_secret, plain) and not leaks(body_secret, plain))
    req = request(headers=(("X-Key", header_secret),), body=body_secret.encode())
    for text in (repr(req), str(req)):
        assert not leaks(header_secret, text)
        assert not leaks(body_secret, text)


# --------------------------------------------------------------------------
# HttpResponse
# --------------------------------------------------------------------------


def test_response_holds_what_it_was_given_and_defaults() -> None:
    resp = HttpResponse(status=200, headers=[["Content-Type", "application/json"]])
    assert resp.status == 200
    assert resp.headers == (("Content-Type", "application/json"),)
    assert resp.body == b""
    assert HttpResponse(status=204).headers == ()


@pytest.mark.parametrize("status", [100, 101, 200, 302, 404, 599, 999])
def test_response_accepts_a_status_from_100_to_999(status: int) -> None:
    assert HttpResponse(status=status).status == status


@pytest.mark.parametrize(
    "status", [0, 99, 1000, -200, True, False, 200.0, "200", None, 10**20]
)
def test_response_refuses_any_other_status(status: object) -> None:
    with pytest.raises(ValueError, match="status must be an integer from 100 to 999"):
        HttpResponse(status=status)  # type: ignore[arg-type]


def test_response_carries_whatever_header_values_the_server_sent() -> None:
    # Lenient by design: it records what came; only what we send is checked.
    headers = (
        ("X-Odd", "a\r\nb"),
        ("X-Nul", "\x00"),
        ("Not A Token", "v"),
        ("", ""),
    )
    assert HttpResponse(status=200, headers=headers).headers == headers


@pytest.mark.parametrize("headers", HEADER_SHAPES)
def test_response_headers_must_still_be_str_pairs(headers: object) -> None:
    with pytest.raises(TypeError, match="header"):
        HttpResponse(status=200, headers=headers)


@pytest.mark.parametrize("body", ["{}", bytearray(b"{}"), None])
def test_response_body_must_be_bytes(body: object) -> None:
    with pytest.raises(TypeError, match="body must be bytes"):
        HttpResponse(status=200, body=body)  # type: ignore[arg-type]


def test_response_header_lookup_is_case_insensitive_and_first_wins() -> None:
    resp = HttpResponse(
        status=429,
        headers=(("retry-after", "5"), ("Retry-After", "10"), ("Content-Type", "x")),
    )
    assert resp.header("Retry-After") == "5"
    assert resp.header("RETRY-AFTER") == "5"
    assert resp.header("content-type") == "x"
    assert resp.header("Location") is None


def test_response_is_frozen_and_keyword_only() -> None:
    resp = HttpResponse(status=200)
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        resp.status = 500  # type: ignore[misc]
    with pytest.raises(TypeError):
        HttpResponse(200)  # type: ignore[call-arg]


@given(secret_texts)
def test_response_repr_never_shows_the_body(body_secret: str) -> None:
    plain = repr(HttpResponse(status=200, headers=(("Content-Type", "x"),), body=b""))
    assume(not leaks(body_secret, plain))
    resp = HttpResponse(
        status=200, headers=(("Content-Type", "x"),), body=body_secret.encode()
    )
    text = repr(resp)
    assert not leaks(body_secret, text)
    assert "200" in text
    assert "'Content-Type'" in text
    assert str(resp) == text


# --------------------------------------------------------------------------
# Token
# --------------------------------------------------------------------------


def b64url(value: dict[str, object]) -> str:
    raw = json.dumps(value).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


JWT = b64url({"alg": "HS256", "typ": "JWT"}) + "." + b64url({"sub": "me", "exp": 5})
JWT += ".c2lnbmF0dXJl"


def token(**changes: object) -> Token:
    fields: dict[str, object] = {"access_token": "at", "received_at": 100.0}
    fields.update(changes)
    return Token(**fields)  # type: ignore[arg-type]


def test_token_defaults() -> None:
    tok = Token(access_token="at", received_at=100.0)
    assert tok.token_type == "Bearer"
    assert tok.expires_at is None
    assert tok.scopes is None
    assert tok.refresh_token is None
    assert dict(tok.raw) == {}
    assert tok.lifetime is None


@pytest.mark.parametrize(
    ("sent", "kept"),
    [
        (None, "Bearer"),
        ("Bearer", "Bearer"),
        ("bearer", "Bearer"),
        ("BEARER", "Bearer"),
        ("bEaReR", "Bearer"),
        ("DPoP", "DPoP"),
        ("dpop", "dpop"),
        ("mac", "mac"),
        ("N_A", "N_A"),
        ("bearer2", "bearer2"),
    ],
)
def test_token_type_normalises_only_bearer(sent: str | None, kept: str) -> None:
    assert token(token_type=sent).token_type == kept


@pytest.mark.parametrize("token_type", ["", 5, b"Bearer"])
def test_token_type_must_be_a_non_empty_string(token_type: object) -> None:
    with pytest.raises(ValueError, match="token_type"):
        token(token_type=token_type)


@pytest.mark.parametrize("access_token", ["", None, 5, b"at"])
def test_token_refuses_an_empty_or_non_str_access_token(access_token: object) -> None:
    with pytest.raises(ValueError, match="access_token must be a non-empty string"):
        token(access_token=access_token)


@pytest.mark.parametrize("refresh_token", ["", 5, b"rt"])
def test_token_refuses_an_empty_or_non_str_refresh_token(
    refresh_token: object,
) -> None:
    with pytest.raises(ValueError, match="refresh_token must be a non-empty string"):
        token(refresh_token=refresh_token)


def test_token_refresh_token_may_be_none_or_text() -> None:
    assert token(refresh_token=None).refresh_token is None
    assert token(refresh_token="rt").refresh_token == "rt"


@pytest.mark.parametrize(
    ("given_scopes", "kept"),
    [
        (None, None),
        ((), frozenset()),
        (["a", "b", "a"], frozenset({"a", "b"})),
        (frozenset({"x"}), frozenset({"x"})),
        ((s for s in ["read", "write"]), frozenset({"read", "write"})),
    ],
)
def test_token_scopes_become_a_frozenset(
    given_scopes: object, kept: frozenset[str] | None
) -> None:
    tok = token(scopes=given_scopes)
    assert tok.scopes == kept
    assert tok.scopes is None or type(tok.scopes) is frozenset


@pytest.mark.parametrize("scopes", ["read write", "", [1], ["a", None], [b"a"]])
def test_token_scopes_must_be_an_iterable_of_str(scopes: object) -> None:
    with pytest.raises(TypeError, match="scopes"):
        token(scopes=scopes)


def parsed(scope: str) -> Token:
    body = json.dumps({"access_token": "at", "scope": scope}).encode()
    tok = parse_token_response(HttpResponse(status=200, body=body), now=100.0)
    assert isinstance(tok, Token)
    return tok


def test_parsed_scopes_are_split_once_when_read() -> None:
    # The parser keeps the scope string and splits it when it is read: the
    # same frozenset each time, as if it had been split in the parser.
    tok = parsed(" read  write read ")
    first = tok.scopes
    assert first == frozenset({"read", "write"})
    assert type(first) is frozenset
    assert tok.scopes is first
    assert parsed("").scopes == frozenset()


@pytest.mark.parametrize(
    "make",
    [
        lambda: parsed("a b"),
        lambda: token(raw={"access_token": "at", "x": [1]}),
        lambda: token(raw=MappingProxyType({"access_token": "at"})),
        lambda: token(),
    ],
)
def test_token_raw_is_read_only_however_it_is_kept(make: Callable[[], Token]) -> None:
    # Kept as a dict (64 bytes a token less than a view); every read is a
    # read-only view of it.
    raw = make().raw
    assert isinstance(raw, MappingProxyType)
    with pytest.raises(TypeError):
        raw["access_token"] = "changed"  # type: ignore[index]
    assert "Granted" not in (Token.raw.__doc__ or "")
    assert "read-only" in (Token.raw.__doc__ or "")


def test_a_parsed_bearer_type_is_shared_with_raw() -> None:
    # The "Bearer" json made is swapped for the one every token holds: the
    # same text, one object fewer a token (a gateway holds thousands).
    body = b'{"access_token": "at", "token_type": "Bearer", "expires_in": 60}'
    tok = parse_token_response(HttpResponse(status=200, body=body), now=100.0)
    assert isinstance(tok, Token)
    assert tok.raw["token_type"] == "Bearer"
    assert tok.raw["token_type"] is tok.token_type
    assert dict(tok.raw) == json.loads(body)


def test_token_scopes_keep_their_documentation_on_the_class() -> None:
    # help(Token) and the API docs read it from the class attribute.
    assert "Granted scopes" in (Token.scopes.__doc__ or "")


@pytest.mark.parametrize("read_first", [False, True])
def test_parsed_scopes_compare_and_hash_as_sets(read_first: bool) -> None:
    lazy = parsed("write read")
    if read_first:
        assert lazy.scopes is not None
    eager = token(scopes=["read", "write"])
    assert lazy == eager
    assert hash(lazy) == hash(eager)
    assert lazy != token(scopes=["read"])
    assert lazy != parsed("read")


def test_parsed_scopes_survive_evolve_copy_and_pickle() -> None:
    # The parser's raw is a read-only view, which pickle cannot take as is.
    tok = parsed("a b")
    for again in (
        attrs.evolve(tok),
        copy.copy(tok),
        copy.deepcopy(tok),
        pickle.loads(pickle.dumps(tok)),
    ):
        assert again.scopes == frozenset({"a", "b"})
        assert type(again.scopes) is frozenset
        assert dict(again.raw) == {"access_token": "at", "scope": "a b"}
        assert again == tok


def test_parsed_scopes_show_as_a_set_in_the_repr() -> None:
    assert "scopes=frozenset({'read'})" in repr(parsed("read"))


@pytest.mark.parametrize("field", ["received_at", "expires_at"])
def test_token_times_convert_ints_to_float(field: str) -> None:
    value = getattr(token(**{field: 1_700_000_000}), field)
    assert value == 1_700_000_000.0
    assert type(value) is float


@pytest.mark.parametrize("field", ["received_at", "expires_at"])
@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
def test_token_times_must_be_finite(field: str, value: float) -> None:
    with pytest.raises(ValueError, match=f"{field} must be finite"):
        token(**{field: value})


@pytest.mark.parametrize("field", ["received_at", "expires_at"])
def test_token_times_refuse_an_int_too_large_for_a_float(field: str) -> None:
    # A caller mistake must be a ValueError/TypeError (STYLE.md point 9),
    # not the OverflowError of float(10**400).
    with pytest.raises(ValueError, match=field):
        token(**{field: 10**400})


@pytest.mark.parametrize("field", ["received_at", "expires_at"])
@pytest.mark.parametrize("value", [True, False, "1", b"1", [1], 1j])
def test_token_times_must_be_numbers(field: str, value: object) -> None:
    with pytest.raises(TypeError, match=f"{field} must be a number"):
        token(**{field: value})


def test_token_received_at_is_required_and_expires_at_may_be_none() -> None:
    with pytest.raises(TypeError):
        Token(access_token="at")  # type: ignore[call-arg]
    assert token(expires_at=None).expires_at is None


def test_token_lifetime() -> None:
    assert token(received_at=100, expires_at=160).lifetime == 60.0
    assert token(received_at=100.5, expires_at=100.5).lifetime == 0.0
    assert token(expires_at=None).lifetime is None


@pytest.mark.parametrize(
    ("expires_at", "now", "leeway", "expired"),
    [
        (200.0, 199.0, 0.0, False),
        (200.0, 199.999, 0.0, False),
        (200.0, 200.0, 0.0, True),
        (200.0, 250.0, 0.0, True),
        (200.0, 189.9, 10.0, False),
        (200.0, 190.0, 10.0, True),
        (200.0, 195.0, 10.0, True),
        (200.0, 0.0, 200.0, True),
        (200.0, 205.0, -10.0, False),
        (200.0, 210.0, -10.0, True),
        (None, 1e18, 0.0, False),
        (None, 0.0, 1e18, False),
    ],
)
def test_token_is_expired(
    expires_at: float | None, now: float, leeway: float, expired: bool
) -> None:
    assert token(expires_at=expires_at).is_expired(now, leeway) is expired
    assert token(expires_at=expires_at).is_expired(now, leeway=leeway) is expired


def test_token_is_expired_default_leeway_is_zero() -> None:
    tok = token(expires_at=200.0)
    assert tok.is_expired(199.999) is False
    assert tok.is_expired(200.0) is True


@pytest.mark.parametrize(
    ("token_type", "header"),
    [(None, "Bearer abc.def"), ("bearer", "Bearer abc.def"), ("DPoP", "DPoP abc.def")],
)
def test_token_authorization(token_type: str | None, header: str) -> None:
    assert token(access_token="abc.def", token_type=token_type).authorization() == (
        header
    )


def test_token_claims_of_a_jwt_are_its_payload() -> None:
    claims = token(access_token=JWT).claims()
    assert claims is not None
    assert dict(claims) == {"sub": "me", "exp": 5}


@pytest.mark.parametrize("opaque", ["opaque-token", "a.b.c", "2YotnFZFEjr1zCsicMWpAA"])
def test_token_claims_of_an_opaque_token_are_none(opaque: str) -> None:
    assert token(access_token=opaque).claims() is None


def test_token_raw_is_a_read_only_copy() -> None:
    source: dict[str, object] = {"access_token": "at", "extra": [1]}
    tok = token(raw=source)
    assert isinstance(tok.raw, MappingProxyType)
    assert dict(tok.raw) == source
    with pytest.raises(TypeError):
        tok.raw["extra"] = 2  # type: ignore[index]
    with pytest.raises(TypeError):
        del tok.raw["extra"]  # type: ignore[attr-defined]
    source["late"] = True
    assert "late" not in tok.raw


def test_token_raw_is_left_out_of_equality_and_hash() -> None:
    one = token(raw={"access_token": "at", "x": 1})
    other = token(raw={"access_token": "at", "y": 2})
    assert one == other
    assert hash(one) == hash(other)
    assert one != token(access_token="other")
    assert one != token(expires_at=1.0)


def test_token_is_frozen_and_keyword_only() -> None:
    tok = token()
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        tok.access_token = "other"  # type: ignore[misc]
    with pytest.raises(TypeError):
        Token("at", "Bearer", 1.0)  # type: ignore[call-arg]


def test_token_evolve_runs_the_checks_again() -> None:
    with pytest.raises(ValueError, match="access_token"):
        attrs.evolve(token(), access_token="")


def test_token_repr_masks_the_tokens_and_leaves_out_raw() -> None:
    tok = token(
        access_token="SECRET-AT",
        refresh_token="SECRET-RT",
        raw={"id_token": "SECRET-RAW"},
        scopes=["read"],
        expires_at=160,
    )
    text = repr(tok)
    assert "SECRET" not in text
    assert "raw" not in text
    assert "***" in text
    assert "'read'" in text
    assert "160.0" in text
    assert str(tok) == text
    assert "refresh_token=None" in repr(token())


@given(secret_texts, secret_texts, secret_texts)
def test_token_repr_and_str_never_show_the_secrets(
    access_token: str, refresh_token: str, raw_secret: str
) -> None:
    plain = repr(
        token(
            access_token="a",
            refresh_token="r",
            raw={"access_token": "a", "refresh_token": "r", "other": "o"},
            scopes=["read"],
            expires_at=160,
        )
    )
    for secret in (access_token, refresh_token, raw_secret):
        assume(not leaks(secret, plain))
    tok = token(
        access_token=access_token,
        refresh_token=refresh_token,
        raw={
            "access_token": access_token,
            "refresh_token": refresh_token,
            "other": raw_secret,
        },
        scopes=["read"],
        expires_at=160,
    )
    for text in (repr(tok), str(tok), f"{tok}", f"{tok!r}"):
        for secret in (access_token, refresh_token, raw_secret):
            assert not leaks(secret, text)


# --------------------------------------------------------------------------
# Errors
# --------------------------------------------------------------------------

ERROR_FACTORIES: list[Callable[[], TokenError]] = [
    lambda: OAuthError(error="invalid_client", status=401),
    lambda: HttpError(status=502, content_type="text/html", snippet="<html>"),
    lambda: MalformedResponse(
        reason="access_token missing", status=200, content_type=None, snippet="{}"
    ),
    lambda: TransportError(reason="connection refused", retryable=True),
]
ERROR_IDS = ["OAuthError", "HttpError", "MalformedResponse", "TransportError"]


def test_oauth_error_fields_and_defaults() -> None:
    err = OAuthError(error="invalid_grant", status=400)
    assert (err.error, err.status) == ("invalid_grant", 400)
    assert err.description is None
    assert err.uri is None
    assert err.retry_after is None
    full = OAuthError(
        error="slow_down",
        description="wait",
        uri="https://docs.example/errors",
        status=400,
        retry_after=5.0,
    )
    assert full.description == "wait"
    assert full.uri == "https://docs.example/errors"
    assert full.retry_after == 5.0


def test_http_error_fields_and_defaults() -> None:
    err = HttpError(status=503, content_type="text/html", snippet="<h1>down</h1>")
    assert (err.status, err.content_type, err.snippet) == (
        503,
        "text/html",
        "<h1>down</h1>",
    )
    assert err.retry_after is None
    assert (
        HttpError(
            status=429, content_type=None, snippet="", retry_after=2.5
        ).retry_after
        == 2.5
    )


def test_malformed_response_and_transport_error_fields() -> None:
    err = MalformedResponse(
        reason="expires_in must be a number", status=200, content_type="x", snippet="s"
    )
    assert (err.reason, err.status, err.content_type, err.snippet) == (
        "expires_in must be a number",
        200,
        "x",
        "s",
    )
    transport = TransportError(reason="timed out", retryable=True)
    assert (transport.reason, transport.retryable) == ("timed out", True)


@pytest.mark.parametrize(
    ("cls", "args"),
    [
        (OAuthError, ("invalid_client", None, None, 401, None)),
        (HttpError, (502, "text/html", "", None)),
        (MalformedResponse, ("reason", 200, None, "")),
        (TransportError, ("refused", True)),
    ],
)
def test_errors_are_keyword_only(
    cls: type[TokenError], args: tuple[object, ...]
) -> None:
    with pytest.raises(TypeError):
        cls(*args)


@pytest.mark.parametrize(
    ("cls", "kwargs"),
    [
        (OAuthError, {"error": "x"}),
        (OAuthError, {"status": 400}),
        (HttpError, {"status": 500, "snippet": ""}),
        (HttpError, {"status": 500, "content_type": None}),
        (MalformedResponse, {"reason": "r", "status": 200, "content_type": None}),
        (TransportError, {"reason": "r"}),
        (TransportError, {"retryable": True}),
    ],
)
def test_errors_require_their_fields(
    cls: type[TokenError], kwargs: dict[str, object]
) -> None:
    with pytest.raises(TypeError):
        cls(**kwargs)


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
        ("", False),
        ("something_new", False),
    ],
)
def test_oauth_error_retryable(error: str, retryable: bool) -> None:
    for status in (200, 400, 503):
        assert OAuthError(error=error, status=status).retryable is retryable


def test_http_error_retryable_exactly_for_the_listed_statuses() -> None:
    retryable = {
        status
        for status in range(100, 600)
        if HttpError(status=status, content_type=None, snippet="").retryable
    }
    assert retryable == {408, 425, 429, 500, 502, 503, 504}
    assert HttpError(status=503, content_type=None, snippet="").retryable is True
    assert HttpError(status=501, content_type=None, snippet="").retryable is False


@pytest.mark.parametrize("status", [200, 201, 204, 299])
def test_malformed_response_is_never_retryable(status: int) -> None:
    err = MalformedResponse(reason="r", status=status, content_type=None, snippet="")
    assert err.retryable is False


@pytest.mark.parametrize("retryable", [True, False])
def test_transport_error_retryable_is_what_it_was_built_with(retryable: bool) -> None:
    assert TransportError(reason="r", retryable=retryable).retryable is retryable


def test_token_error_base_is_not_retryable() -> None:
    assert TokenError("anything").retryable is False


@pytest.mark.parametrize("make", ERROR_FACTORIES, ids=ERROR_IDS)
def test_errors_are_exceptions_caught_as_token_error(
    make: Callable[[], TokenError],
) -> None:
    err = make()
    assert isinstance(err, TokenError)
    assert isinstance(err, Exception)
    with pytest.raises(TokenError) as caught:
        raise err
    assert caught.value is err
    assert err.__traceback__ is not None


@pytest.mark.parametrize("make", ERROR_FACTORIES, ids=ERROR_IDS)
def test_errors_can_be_chained(make: Callable[[], TokenError]) -> None:
    err = make()
    cause = OSError("reset")

    def fail() -> None:
        try:
            raise cause
        except OSError as exc:
            raise err from exc

    with pytest.raises(TokenError) as caught:
        fail()
    assert caught.value.__cause__ is cause
    assert caught.value.__suppress_context__ is True


@pytest.mark.parametrize("make", ERROR_FACTORIES, ids=ERROR_IDS)
def test_errors_are_frozen(make: Callable[[], TokenError]) -> None:
    err = make()
    cls = type(err)
    assert attrs.has(cls)
    for field in attrs.fields(cls):
        with pytest.raises(attrs.exceptions.FrozenInstanceError):
            setattr(err, field.name, None)


@pytest.mark.parametrize("make", ERROR_FACTORIES, ids=ERROR_IDS)
def test_errors_take_notes(make: Callable[[], TokenError]) -> None:
    err = make()
    err.add_note("while fetching a token for the billing API")
    err.add_note("second note")
    assert err.__notes__ == [
        "while fetching a token for the billing API",
        "second note",
    ]


@pytest.mark.parametrize("make", ERROR_FACTORIES, ids=ERROR_IDS)
def test_errors_survive_pickle_and_copy(make: Callable[[], TokenError]) -> None:
    # Exceptions cross process boundaries (concurrent.futures, multiprocessing)
    # by pickling, and copy.copy goes the same way; BaseException's default
    # reduce calls cls(*args), which a keyword-only class refuses.
    err = make()
    for clone in (pickle.loads(pickle.dumps(err)), copy.copy(err)):
        assert type(clone) is type(err)
        assert attrs.asdict(clone) == attrs.asdict(err)  # type: ignore[arg-type]
        assert str(clone) == str(err)


def test_token_error_base_survives_pickle() -> None:
    clone = pickle.loads(pickle.dumps(TokenError("plain")))
    assert type(clone) is TokenError
    assert clone.args == ("plain",)


ERROR_MESSAGES: list[tuple[TokenError, str]] = [
    (
        OAuthError(error="invalid_client", status=401),
        "token endpoint answered invalid_client (HTTP 401)",
    ),
    (
        OAuthError(error="invalid_grant", description="code expired", status=400),
        "token endpoint answered invalid_grant (HTTP 400): code expired",
    ),
    (
        OAuthError(error="invalid_grant", description="", status=400),
        "token endpoint answered invalid_grant (HTTP 400)",
    ),
    (
        OAuthError(
            error="slow_down", description="too fast", status=400, retry_after=5.0
        ),
        "token endpoint answered slow_down (HTTP 400): too fast, retry after 5 s",
    ),
    (
        OAuthError(error="temporarily_unavailable", status=503, retry_after=1.5),
        "token endpoint answered temporarily_unavailable (HTTP 503), retry after 1.5 s",
    ),
    (
        OAuthError(error="server_error", status=500, retry_after=0.0),
        "token endpoint answered server_error (HTTP 500), retry after 0 s",
    ),
    (
        HttpError(status=502, content_type="text/html", snippet="<html>"),
        "token endpoint answered HTTP 502 (text/html)",
    ),
    (
        HttpError(status=429, content_type=None, snippet="", retry_after=30.0),
        "token endpoint answered HTTP 429 (no content type), retry after 30 s",
    ),
    (
        HttpError(status=302, content_type="", snippet=""),
        "token endpoint answered HTTP 302 (no content type)",
    ),
    (
        MalformedResponse(
            reason="access_token missing", status=200, content_type=None, snippet=""
        ),
        "unusable token response (HTTP 200): access_token missing",
    ),
    (TransportError(reason="connection refused", retryable=True), "connection refused"),
]


@pytest.mark.parametrize(("err", "message"), ERROR_MESSAGES)
def test_error_messages(err: TokenError, message: str) -> None:
    assert str(err) == message
    assert message[0].islower()
    assert type(err).__name__ in repr(err)


@pytest.mark.parametrize(
    "err",
    [e for e, _ in ERROR_MESSAGES if not isinstance(e, TransportError)],
)
def test_error_messages_include_the_status(err: TokenError) -> None:
    assert f"HTTP {err.status}" in str(err)  # type: ignore[attr-defined]


@given(st.floats(min_value=0, max_value=86_400, allow_nan=False))
def test_error_messages_show_retry_after_when_set(retry_after: float) -> None:
    for err in (
        OAuthError(error="slow_down", status=400, retry_after=retry_after),
        HttpError(status=429, content_type=None, snippet="", retry_after=retry_after),
    ):
        shown = re.search(r", retry after (\S+) s$", str(err))
        assert shown is not None
        assert math.isclose(float(shown[1]), retry_after, rel_tol=1e-5)


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("https://a.example/t", "https://a.example/t"),
        (
            "https://a.example/t?code=K3y-SECRET&v=2",
            "https://a.example/t?code=***&v=***",
        ),
        ("https://a.example/t?K3y-SECRET", "https://a.example/t?***"),
        ("https://a.example/t?a=1&&b", "https://a.example/t?a=***&&***"),
        ("https://a.example/t?", "https://a.example/t?"),
    ],
)
def test_request_repr_shows_query_names_never_values(url: str, shown: str) -> None:
    # A key may travel in the query (Azure Functions' ?code=): the repr and
    # the adapters' log lines show redacted_url().
    req = request(url=url)
    assert req.redacted_url() == shown
    assert f"url={shown!r}" in repr(req)
    assert "K3y-SECRET" not in repr(req)


def test_request_refuses_a_repeated_header_name() -> None:
    # urllib keeps headers in a dict and would send the last one only, where
    # h11 sends both: no request repeats a name, in any case.
    with pytest.raises(ValueError, match="headers must not repeat 'x-key'"):
        request(headers=(("X-Key", "a"), ("x-key", "b")))


@pytest.mark.parametrize(
    ("name", "shown"),
    [
        ("Content-Type", "'Content-Type'"),
        ("X-RateLimit-Remaining", "'X-RateLimit-Remaining'"),
        ("Content-MD5", "'Content-MD5'"),
        ("sk-live-4f3c2a1b9e", "<name of 18 characters>"),
        ("X-" + "A" * 40, "<name of 42 characters>"),
    ],
)
def test_response_repr_shows_a_header_name_that_is_no_plain_word_as_its_length(
    name: str, shown: str
) -> None:
    # A server's header names are its words: one that echoes a credential
    # must not reach a repr.
    assert f"headers=({shown})" in repr(
        HttpResponse(status=200, headers=((name, "v"),))
    )
