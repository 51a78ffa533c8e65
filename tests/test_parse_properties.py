"""Property tests of parse_token_response (hypothesis).

(a) The fuzz invariant (h11's ``fuzz/afl-server.py``, done with hypothesis):
    whatever the status, headers and bytes, the parser returns a value.
(b) Mutations of recorded successful responses that must not matter give an
    equal Token.
(c) Generated credentials and tokens never show in any error, wherever the
    server echoes them.
"""

from __future__ import annotations

import base64
import json
import math
from collections.abc import Iterator
from typing import cast
from urllib.parse import quote, quote_plus, urlencode

import attrs
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from sansio_auth import (
    HttpError,
    HttpResponse,
    MalformedResponse,
    OAuthError,
    Token,
    TokenError,
    parse_token_response,
)

NOW = 1_700_000_000.0
SNIPPET = 200

SETTINGS = settings(
    database=None,
    deadline=None,
    max_examples=300,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode("ascii").rstrip("=")


def make_jwt(payload: dict[str, object]) -> str:
    header = b64url(b'{"alg":"HS256","typ":"JWT"}')
    return f"{header}.{b64url(json.dumps(payload).encode())}.c2lnbmF0dXJl"


# ---------------------------------------------------------------------------
# (a) For any status, headers and bytes: a value, never an exception.

FIELDS = [
    "access_token",
    "token_type",
    "expires_in",
    "expires",
    "scope",
    "refresh_token",
    "id_token",
    "error",
    "error_description",
    "error_uri",
]
JSON_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers()
    # Past float range, but under the 4300-digit limit of int(): json.loads
    # returns them as ints.
    | st.integers(min_value=2**1024, max_value=10**400)
    | st.integers(min_value=-(10**400), max_value=-(2**1024))
    | st.floats()
    | st.text(max_size=30)
    | st.sampled_from(["3600", " 3600 ", "3600.5", "-1", "1e3", "nan", "inf", ""])
    | st.sampled_from(["bearer", "BEARER", "DPoP", "read write", "invalid_grant"])
)
JSON_VALUES: st.SearchStrategy[object] = st.recursive(
    JSON_SCALARS,
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)
TOKEN_OBJECTS = st.dictionaries(
    st.sampled_from(FIELDS) | st.text(max_size=12), JSON_VALUES, max_size=8
)
JWTS = st.dictionaries(st.sampled_from(["exp", "sub", "iat"]), JSON_VALUES).map(
    make_jwt
)


@st.composite
def json_bodies(draw: st.DrawFn) -> bytes:
    obj = draw(TOKEN_OBJECTS)
    if draw(st.booleans()):
        # Often a usable token, so that the other members are read too.
        obj["access_token"] = draw(JWTS | st.text(min_size=1, max_size=20))
        obj.pop("error", None)
    text = json.dumps(obj, indent=draw(st.sampled_from([None, 2])))
    prefix = draw(st.sampled_from(["", "\ufeff", " \n"]))
    return (prefix + text).encode("utf-8")


# Bodies that get past the access_token check, so that every other member is
# read: the likeliest place for a value to trip the parser.
TOKEN_BODIES = st.fixed_dictionaries(
    {"access_token": JWTS | st.text(min_size=1, max_size=20)},
    optional={
        "expires_in": JSON_SCALARS,
        "expires": JSON_SCALARS,
        "token_type": st.none() | st.sampled_from(["bearer", "BEARER", "DPoP", ""]),
        "scope": JSON_VALUES,
        "refresh_token": st.none() | st.text(max_size=10),
        "error": JSON_SCALARS,
    },
).map(lambda obj: json.dumps(obj).encode("utf-8"))


@st.composite
def form_bodies(draw: st.DrawFn) -> bytes:
    pairs = draw(
        st.lists(
            st.tuples(
                st.sampled_from(FIELDS) | st.text(max_size=8),
                st.text(max_size=20) | JSON_SCALARS.map(str),
            ),
            max_size=6,
        )
    )
    return urlencode(pairs).encode("utf-8")


BODIES = (
    st.binary(max_size=400)
    | st.text(max_size=200).map(lambda t: t.encode("utf-8"))
    | json_bodies()
    | TOKEN_BODIES
    | form_bodies()
    | st.sampled_from(
        [
            b"",
            b"<html><body>502 Bad Gateway</body></html>",
            b"[]",
            b"{" * 5000,
            b'{"a":' + b"[" * 5000 + b"}",
            b"\xef\xbb\xbf",
            b"access_token=x&expires=5183998",
        ]
    )
)
CONTENT_TYPES = st.sampled_from(
    [
        "application/json",
        "application/json; charset=utf-8",
        "APPLICATION/JSON",
        "application/problem+json",
        "text/json",
        "text/javascript",
        "application/javascript",
        "text/plain",
        "text/plain; charset=UTF-8",
        "application/x-www-form-urlencoded",
        "text/html",
        "application/octet-stream",
        "",
        " ",
        ";",
    ]
) | st.text(max_size=40)
RETRY_AFTERS = (
    st.sampled_from(
        [
            "0",
            "120",
            " 120 ",
            "-1",
            "1.5",
            "9999999999",
            "99999999999",
            "Sun, 06 Nov 1994 08:49:37 GMT",
            "Sunday, 06-Nov-94 08:49:37 GMT",
            "Sun Nov  6 08:49:37 1994",
            "Tue, 31 Feb 2026 00:00:00 GMT",
            "Sun, 06 Nov 0000 08:49:37 GMT",
            "Sun, 06 Nov 9999 23:59:59 GMT",
            "Sun, 06 Foo 1994 08:49:37 GMT",
        ]
    )
    | st.integers(min_value=0, max_value=10**12).map(str)
    | st.text(max_size=40)
)
HEADERS = st.lists(
    st.tuples(
        st.sampled_from(["Content-Type", "content-type", "CONTENT-TYPE"]), CONTENT_TYPES
    )
    | st.tuples(st.sampled_from(["Retry-After", "retry-after"]), RETRY_AFTERS)
    | st.tuples(st.text(max_size=20), st.text(max_size=40)),
    max_size=4,
)


# Seeds that must always run (as AFL seeds do): values at the edges of what
# the parser converts.
HUGE = "1" + "0" * 400  # an int for json.loads, past float range
JSON_HEADERS = [("Content-Type", "application/json")]


@SETTINGS
@example(
    status=200,
    headers=JSON_HEADERS,
    body=f'{{"access_token":"at-1","expires_in":{HUGE}}}'.encode(),
    now=NOW,
)
@example(
    status=200,
    headers=JSON_HEADERS,
    body=f'{{"access_token":"at-1","expires":-{HUGE}}}'.encode(),
    now=NOW,
)
@example(
    status=200,
    headers=[],
    body=json.dumps({"access_token": make_jwt({"exp": int(HUGE)})}).encode(),
    now=NOW,
)
@example(
    status=200,
    headers=[("Content-Type", "text/plain")],
    body=f"access_token=at-1&expires_in={HUGE}".encode(),
    now=NOW,
)
@example(status=200, headers=JSON_HEADERS, body=b"{" * 100_000, now=NOW)
@example(
    status=503,
    headers=[("Retry-After", "Fri, 31 Dec 9999 23:59:59 GMT")],
    body=b"",
    now=0.0,
)
@given(
    status=st.integers(min_value=100, max_value=999)
    | st.sampled_from([200, 201, 400, 401, 429, 500, 503]),
    headers=HEADERS,
    body=BODIES,
    now=st.floats(min_value=0, max_value=4e9),
)
def test_any_response_gives_a_value(
    status: int, headers: list[tuple[str, str]], body: bytes, now: float
) -> None:
    resp = HttpResponse(status=status, headers=tuple(headers), body=body)
    got = parse_token_response(resp, now=now)
    assert isinstance(got, Token | TokenError)
    # And the value keeps the contract's shape.
    if isinstance(got, Token):
        assert 200 <= status <= 299
        assert got.received_at == now
        assert got.expires_at is None or math.isfinite(got.expires_at)
        assert_as_constructed(got)
        return
    assert isinstance(got, OAuthError | HttpError | MalformedResponse)
    assert isinstance(got.retryable, bool)
    assert isinstance(repr(got), str)
    assert isinstance(str(got), str)
    assert got.status == status
    if isinstance(got, OAuthError):
        assert 0 < len(got.error) <= SNIPPET
        assert got.description is None or 0 < len(got.description) <= SNIPPET
        assert got.uri is None or 0 < len(got.uri) <= SNIPPET
    else:
        assert len(got.snippet) <= SNIPPET
        assert got.content_type is None or len(got.content_type) <= SNIPPET
    if isinstance(got, MalformedResponse):
        assert 200 <= status <= 299
    if isinstance(got, HttpError):
        assert not 200 <= status <= 299
    if isinstance(got, OAuthError | HttpError) and got.retry_after is not None:
        assert got.retry_after >= 0
        assert math.isfinite(got.retry_after)


# ---------------------------------------------------------------------------
# (b) Mutations that must not matter.

SMARTWAY_JWT = make_jwt(
    {"companyId": "c-42", "hrEmail": "hr@example.com", "exp": 1_700_000_900}
)
SMARTCONNECT_JWT = make_jwt({"sub": "api-user", "exp": 1_700_003_600})
RECORDED: list[dict[str, object]] = [
    # RFC 6749 §5.1.
    {
        "access_token": "2YotnFZFEjr1zCsicMWpAA",
        "token_type": "example",
        "expires_in": 3600,
        "refresh_token": "tGzv3JOkF0XG5Qx2TlKWIA",
        "example_parameter": "example_value",
    },
    # SmartWay: a short-lived JWT, space-separated scopes.
    {
        "access_token": SMARTWAY_JWT,
        "token_type": "Bearer",
        "expires_in": 900,
        "scope": "academy.read academy.write employees.read files.read",
    },
    # SmartConnect: lower-case bearer, no expires_in (the JWT exp counts).
    {"access_token": SMARTCONNECT_JWT, "token_type": "bearer"},
    # SmartDocumentor.
    {
        "access_token": "CfDJ8Ab3kZ9xQ2",
        "expires_in": 3600,
        "token_type": "Bearer",
        "scope": "WebAPI",
    },
    # TeamSystem refresh answer.
    {
        "access_token": "ts-access-1",
        "token_type": "bearer",
        "expires_in": "3600",
        "refresh_token": "ts-refresh-1",
        "scope": ["webapicorso_alywebapicorso"],
    },
]


def recorded_response(obj: dict[str, object]) -> HttpResponse:
    return HttpResponse(
        status=200,
        headers=(("Content-Type", "application/json"),),
        body=json.dumps(obj).encode("utf-8"),
    )


def test_the_recorded_responses_parse() -> None:
    for obj in RECORDED:
        assert isinstance(parse_token_response(recorded_response(obj), now=NOW), Token)


def any_case(word: str) -> st.SearchStrategy[str]:
    return st.lists(st.booleans(), min_size=len(word), max_size=len(word)).map(
        lambda flips: "".join(
            c.upper() if flip else c.lower()
            for c, flip in zip(word, flips, strict=True)
        )
    )


EXTRA_KEYS = st.text(
    alphabet="abcdefghijklmnopqrstuvwxyz_", min_size=1, max_size=10
).map(lambda s: f"x_{s}")
SAFE_JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63)
    | st.floats(allow_nan=False)
    | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=3)
        | st.dictionaries(st.text(max_size=8), children, max_size=3)
    ),
    max_leaves=8,
)
JSON_CONTENT_TYPES = st.sampled_from(
    [
        "application/json",
        "application/json; charset=utf-8",
        "Application/JSON;charset=UTF-8",
        "text/plain",
        None,
    ]
)


@SETTINGS
@given(
    original=st.sampled_from(RECORDED),
    data=st.data(),
    extra=st.dictionaries(EXTRA_KEYS, SAFE_JSON, max_size=4),
    indent=st.sampled_from([None, 0, 1, 4, "\t"]),
    separators=st.sampled_from([(",", ":"), (", ", ": "), (" ,\n", " :\t")]),
    padding=st.tuples(st.text(" \t\r\n", max_size=4), st.text(" \t\r\n", max_size=4)),
    bom=st.booleans(),
    content_type=JSON_CONTENT_TYPES,
)
def test_mutations_that_do_not_matter_give_an_equal_token(
    original: dict[str, object],
    data: st.DataObject,
    extra: dict[str, object],
    indent: int | str | None,
    separators: tuple[str, str],
    padding: tuple[str, str],
    bom: bool,
    content_type: str | None,
) -> None:
    baseline = parse_token_response(recorded_response(original), now=NOW)
    assert isinstance(baseline, Token)

    mutated = dict(original)
    token_type = mutated.get("token_type")
    if isinstance(token_type, str) and token_type.lower() == "bearer":
        mutated["token_type"] = data.draw(any_case("bearer"), label="token_type")
    mutated.update(extra)
    items = data.draw(st.permutations(list(mutated.items())), label="order")
    text = json.dumps(dict(items), indent=indent, separators=separators)
    text = ("\ufeff" if bom else "") + padding[0] + text + padding[1]
    headers = () if content_type is None else (("Content-Type", content_type),)
    resp = HttpResponse(status=200, headers=headers, body=text.encode("utf-8"))

    got = parse_token_response(resp, now=NOW)
    assert isinstance(got, Token)
    assert got == baseline
    assert got.raw == dict(items)


FACEBOOK = [("access_token", "EAAGm0PX4ZCpsBAKZAZCZB"), ("expires", "5183998")]


@SETTINGS
@given(
    extra=st.lists(
        st.tuples(EXTRA_KEYS, st.text(max_size=20)),
        max_size=4,
        unique_by=lambda pair: pair[0],
    ),
    data=st.data(),
    content_type=st.sampled_from(
        [
            "application/x-www-form-urlencoded",
            "application/x-www-form-urlencoded; charset=utf-8",
            "text/plain",
            "text/plain; charset=UTF-8",
            None,
        ]
    ),
)
def test_form_mutations_that_do_not_matter_give_an_equal_token(
    extra: list[tuple[str, str]], data: st.DataObject, content_type: str | None
) -> None:
    baseline = parse_token_response(
        HttpResponse(status=200, body=urlencode(FACEBOOK).encode()), now=NOW
    )
    assert isinstance(baseline, Token)
    pairs = data.draw(st.permutations(FACEBOOK + extra), label="order")
    # %20 and + both stand for a space; the shape test wants no raw spaces.
    body = urlencode(pairs, quote_via=data.draw(st.sampled_from([quote, quote_plus])))
    headers = () if content_type is None else (("Content-Type", content_type),)
    got = parse_token_response(
        HttpResponse(status=200, headers=headers, body=body.encode()), now=NOW
    )
    assert isinstance(got, Token)
    assert got == baseline
    assert dict(got.raw) == dict(pairs)


# ---------------------------------------------------------------------------
# (c) Secrets never show.

# "S3cr", "R3fr", "Acc3" and "Id7k" occur in no fixed message, and hex digits
# after them make every generated value distinct from the message words.
HEX = "0123456789abcdef"


def secret_with(prefix: str) -> st.SearchStrategy[str]:
    return st.text(alphabet=HEX, min_size=8, max_size=40).map(lambda s: prefix + s)


# Credentials may hold anything a password holds: quotes, backslashes,
# separators, non-ASCII. Echoed, they appear escaped or percent-encoded.
SPECIAL = HEX + '"\\/+&=%?# é☃'
CLIENT_SECRETS = secret_with("S3cr") | st.text(
    alphabet=SPECIAL, min_size=8, max_size=30
).map(lambda s: "S3cr" + s)


def echoes(secret: str) -> list[str]:
    """The forms in which a server may echo *secret* inside a text body."""
    return [
        secret,
        json.dumps(secret)[1:-1],
        json.dumps(secret, ensure_ascii=False)[1:-1],
        quote(secret, safe=""),
        quote_plus(secret, safe=""),
    ]


def shown(error: TokenError) -> Iterator[str]:
    """Everything of an error a log line or a traceback could show."""
    yield repr(error)
    yield str(error)
    for value in attrs.asdict(cast(attrs.AttrsInstance, error)).values():
        if isinstance(value, str):
            yield value


@st.composite
def echoing_responses(
    draw: st.DrawFn, access: str, refresh: str, id_token: str, client: str
) -> HttpResponse:
    """A response that echoes every credential and token somewhere."""
    client_echo = draw(st.sampled_from(echoes(client)), label="client echo")
    kind = draw(
        st.sampled_from(
            [
                "oauth-json",
                "oauth-json-200",
                "oauth-form",
                "html",
                "text",
                "bad-expires-in-json",
                "bad-expires-in-form",
                "echoed-expires-in",
                "non-2xx-json",
            ]
        ),
        label="kind",
    )
    status = draw(st.sampled_from([400, 401, 403, 429, 500, 502, 503]))
    mentions = f"{access} {refresh} {id_token} {client}"
    if kind in ("oauth-json", "oauth-json-200"):
        obj: dict[str, object] = {
            "error": draw(st.sampled_from(["invalid_client", access, client])),
            "error_description": f"bad credentials: {mentions}",
            "error_uri": f"https://e.example/?s={quote(client)}&t={access}",
            "access_token": access,
            "refresh_token": refresh,
            "id_token": id_token,
        }
        status = 200 if kind == "oauth-json-200" else status
        body = json.dumps(obj, ensure_ascii=draw(st.booleans()))
        content_type = "application/json"
    elif kind == "oauth-form":
        body = urlencode(
            {
                "error": "invalid_grant",
                "error_description": f"expired: {mentions}",
                "refresh_token": refresh,
                "access_token": access,
                "id_token": id_token,
            }
        )
        content_type = "application/x-www-form-urlencoded"
    elif kind == "html":
        body = (
            "<html><body><h1>Bad Gateway</h1><pre>\n"
            f"client_secret={client_echo}\n"
            f'{{"access_token": "{access}", "refresh_token": "{refresh}"}}\n'
            f"GET /cb?access_token={access}&id_token={id_token}\n"
            "</pre></body></html>"
        )
        content_type = "text/html"
    elif kind == "text":
        body = f"unauthorized: client_secret={client_echo} refresh_token={refresh}"
        content_type = "text/plain"
    elif kind == "non-2xx-json":
        body = json.dumps(
            {
                "message": mentions,
                "access_token": access,
                "refresh_token": refresh,
                "id_token": id_token,
            }
        )
        content_type = "application/json"
    elif kind == "bad-expires-in-json":
        status = 200
        body = json.dumps(
            {
                "access_token": access,
                "refresh_token": refresh,
                "id_token": id_token,
                "expires_in": draw(st.sampled_from([-1, True, "soon", 1e12, [1]])),
                "note": mentions,
            }
        )
        content_type = "application/json"
    elif kind == "bad-expires-in-form":
        status = 200
        body = urlencode(
            {
                "access_token": access,
                "refresh_token": refresh,
                "id_token": id_token,
                "expires_in": "-1",
                "note": mentions,
            }
        )
        content_type = draw(
            st.sampled_from(["application/x-www-form-urlencoded", "text/plain"])
        )
    else:  # the server echoes a credential as the lifetime
        status = 200
        body = json.dumps({"access_token": access, "expires_in": client})
        content_type = "application/json"
    return HttpResponse(
        status=status,
        headers=(("Content-Type", content_type),),
        body=body.encode("utf-8"),
    )


@SETTINGS
@given(
    access=secret_with("Acc3"),
    refresh=secret_with("R3fr"),
    id_token=secret_with("Id7k"),
    client=CLIENT_SECRETS,
    data=st.data(),
)
def test_no_error_shows_a_credential_or_a_token(
    access: str, refresh: str, id_token: str, client: str, data: st.DataObject
) -> None:
    resp = data.draw(echoing_responses(access, refresh, id_token, client))
    got = parse_token_response(resp, now=NOW, secrets=(client,))
    assert isinstance(got, TokenError)
    for text in shown(got):
        for value in (access, refresh, id_token, client):
            assert value not in text, (value, text)


@SETTINGS
@given(
    payload=st.dictionaries(
        st.sampled_from(["sub", "exp", "iat", "email"]),
        st.text(alphabet=HEX, min_size=1, max_size=10) | st.integers(0, 2**40),
        min_size=1,
    ),
    status=st.sampled_from([400, 401, 500, 502]),
    context=st.sampled_from(["Bearer {}", "token={} expired", "<td>{}</td>", "'{}'"]),
)
def test_no_error_shows_a_jwt_it_was_not_told_about(
    payload: dict[str, object], status: int, context: str
) -> None:
    jwt = make_jwt(payload)
    resp = HttpResponse(
        status=status,
        headers=(("Content-Type", "text/html"),),
        body=context.format(jwt).encode(),
    )
    got = parse_token_response(resp, now=NOW)
    assert isinstance(got, HttpError)
    for text in shown(got):
        assert jwt not in text
        assert jwt.split(".")[1] not in text


# ---------------------------------------------------------------------------
# (d) The parser builds its Token without Token's validators (checked_token):
#     what it builds must be exactly what Token() would have built, and the
#     plain-JSON shortcut past the control-character check must refuse
#     everything the full check refuses.


def assert_as_constructed(token: Token) -> None:
    attrs.validate(token)
    stored = {f.name: getattr(token, f.name) for f in attrs.fields(Token)}
    rebuilt = Token(**stored)
    for field in attrs.fields(Token):
        value, again = getattr(token, field.name), getattr(rebuilt, field.name)
        assert type(again) is type(value), field.name
        assert again is value or again == value, field.name
    # And the public view is the contract's: a frozenset (or None).
    assert token.scopes is None or type(token.scopes) is frozenset
    assert rebuilt == token
    assert hash(rebuilt) == hash(token)


TOKEN_TEXT = st.text(
    st.characters(codec=None, exclude_categories=()), min_size=1, max_size=12
) | st.sampled_from(["a\rb", "a\nb", "\x00", "\x7f", "\x85", "\x9f", "\ud800", "ok"])


def sendable(value: str) -> bool:
    # The rule in full: no C0 control but tab, no DEL or C1, no lone surrogate.
    if any(c != "\t" and (ord(c) < 0x20 or 0x7F <= ord(c) <= 0x9F) for c in value):
        return False
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


@SETTINGS
@given(
    field=st.sampled_from(["access_token", "token_type", "refresh_token"]),
    value=TOKEN_TEXT,
    ensure_ascii=st.booleans(),
    now=st.floats(min_value=0, max_value=4e9) | st.integers(0, 4_000_000_000),
)
def test_a_token_is_refused_exactly_when_it_could_not_be_sent(
    field: str, value: str, ensure_ascii: bool, now: float
) -> None:
    obj = {"access_token": "at", "expires_in": 60, "scope": "a b", field: value}
    text = json.dumps(obj, ensure_ascii=ensure_ascii)
    body = text.encode("utf-8", "surrogatepass")
    got = parse_token_response(HttpResponse(status=200, body=body), now=now)
    if not ensure_ascii and any("\ud800" <= c <= "\udfff" for c in value):
        # A raw lone surrogate is not UTF-8: the body is not even text.
        assert isinstance(got, MalformedResponse)
    elif sendable(value):
        assert isinstance(got, Token)
    else:
        assert isinstance(got, MalformedResponse)
        assert got.reason.startswith(field)
    if isinstance(got, Token):
        assert got.received_at == float(now)
        assert_as_constructed(got)


@pytest.mark.parametrize("now", [math.nan, math.inf, -math.inf])
def test_a_now_that_is_no_time_is_named(now: float) -> None:
    resp = HttpResponse(status=200, body=b'{"access_token":"at"}')
    with pytest.raises(ValueError, match="received_at"):
        parse_token_response(resp, now=now)
