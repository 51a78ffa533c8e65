"""The vendor flows of ``sansio_auth.providers``, checked against their documents.

The full wire bytes of each vendor's exchanges are in the recorded fixtures
(``test_fixtures.py``); here are the rules around them: URLs and base_url
overrides, the SmartConnect region table, TeamSystem's ``Bearer`` prefix and
language header, SmartWay's identity claims, and credential checks.
"""

from __future__ import annotations

import base64
import email.parser
import email.policy
import json
from typing import Any

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import sansio_auth
from sansio_auth import (
    ApiKeyExchange,
    ClientCredentials,
    Flow,
    HttpRequest,
    HttpResponse,
    OAuthError,
    PasswordGrant,
    Token,
)
from sansio_auth.providers import (
    SMARTCONNECT_REGIONS,
    TeamSystemFlow,
    smartconnect,
    smartdocumentor,
    smartway,
    smartway_identity,
    teamsystem,
)

UA = ("User-Agent", f"sansio-auth/{sansio_auth.__version__}")
ACCEPT = ("Accept", "application/json")
FORM = ("Content-Type", "application/x-www-form-urlencoded")
NOW = 1_700_000_000.0
KEY = "swk_live_0a1b2c3d4e5f"


def b64url(value: object) -> str:
    raw = json.dumps(value, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def make_jwt(claims: object) -> str:
    return f"{b64url({'alg': 'HS256', 'typ': 'JWT'})}.{b64url(claims)}.c2ln"


def json_response(status: int, body: object) -> HttpResponse:
    return HttpResponse(
        status=status,
        headers=(("Content-Type", "application/json"),),
        body=json.dumps(body).encode(),
    )


# ---------------------------------------------------------------- SmartWay


def test_smartway_request() -> None:
    flow = smartway(KEY)
    assert isinstance(flow, ApiKeyExchange)
    as_flow: Flow = flow
    assert flow.token_request() == HttpRequest(
        method="POST",
        url="https://smartway.pro/api/v1/auth/token",
        headers=(ACCEPT, UA, ("X-API-Key", KEY)),
        body=b"",
    )
    assert flow.header == "X-API-Key"
    assert as_flow.refresh_request("rt") is None
    assert smartway(api_key=KEY) == flow


@pytest.mark.parametrize(
    ("base_url", "url"),
    [
        (
            "https://staging.smartway.pro",
            "https://staging.smartway.pro/api/v1/auth/token",
        ),
        (
            "https://staging.smartway.pro/",
            "https://staging.smartway.pro/api/v1/auth/token",
        ),
        (
            "https://gw.example.com/smartway/",
            "https://gw.example.com/smartway/api/v1/auth/token",
        ),
        ("http://127.0.0.1:8080", "http://127.0.0.1:8080/api/v1/auth/token"),
        ("http://127.0.0.1:8080/", "http://127.0.0.1:8080/api/v1/auth/token"),
        ("http://localhost:3000", "http://localhost:3000/api/v1/auth/token"),
        ("http://[::1]:3000", "http://[::1]:3000/api/v1/auth/token"),
    ],
)
def test_smartway_base_url(base_url: str, url: str) -> None:
    assert smartway(KEY, base_url=base_url).token_request().url == url


@pytest.mark.parametrize(
    ("base_url", "rule"),
    [
        ("http://smartway.pro", "https"),
        ("http://10.0.0.5:8080", "https"),
        ("https://smartway.pro?tenant=1", "query"),
        ("https://smartway.pro/?", "query"),
        ("https://smartway.pro/#top", "fragment"),
        ("https://admin:pw@smartway.pro", "user info"),
        ("smartway.pro", "https"),
    ],
)
def test_smartway_base_url_refused(base_url: str, rule: str) -> None:
    with pytest.raises(ValueError, match="base_url") as info:
        smartway(KEY, base_url=base_url)
    assert rule in str(info.value)


def test_smartway_base_url_is_keyword_only() -> None:
    with pytest.raises(TypeError):
        smartway(KEY, "https://smartway.pro")  # type: ignore[call-arg]


@pytest.mark.parametrize("bad", ["\r\n", "\n", "\x00", "\x7f"])
def test_smartway_key_with_control_character_refused(bad: str) -> None:
    with pytest.raises(ValueError, match="api_key") as info:
        smartway(f"Visible-Key-9{bad}X-Evil: 1")
    assert "Visible-Key-9" not in str(info.value)
    assert "X-Evil" not in str(info.value)


def test_smartway_empty_key_refused() -> None:
    with pytest.raises(ValueError, match="api_key"):
        smartway("")


def test_smartway_masks_the_key() -> None:
    flow = smartway(KEY)
    result = flow.parse(json_response(401, {"message": f"key {KEY} revoked"}), now=NOW)
    assert KEY not in str(result) + repr(result)
    assert KEY not in repr(flow)


# ---------------------------------------------------------------- smartway_identity


def test_identity_from_a_token() -> None:
    access = make_jwt(
        {"companyId": 4821, "hrEmail": "hr@acme.example", "exp": 1_700_000_900}
    )
    flow = smartway(KEY)
    token = flow.parse(
        json_response(
            200, {"access_token": access, "token_type": "Bearer", "expires_in": 900}
        ),
        now=NOW,
    )
    assert isinstance(token, Token)
    assert smartway_identity(token) == ("4821", "hr@acme.example")
    assert smartway_identity(access) == ("4821", "hr@acme.example")


@pytest.mark.parametrize(
    ("claims", "identity"),
    [
        ({"companyId": "c-17", "hrEmail": "a@b.example"}, ("c-17", "a@b.example")),
        ({"companyId": 0, "hrEmail": "a@b.example"}, ("0", "a@b.example")),
        ({"companyId": 12345678901234567890}, ("12345678901234567890", None)),
        ({"hrEmail": "a@b.example"}, (None, "a@b.example")),
        ({"companyId": 7}, ("7", None)),
        ({}, (None, None)),
        ({"companyId": None, "hrEmail": None}, (None, None)),
        ({"companyId": "", "hrEmail": ""}, (None, None)),
        ({"companyId": True, "hrEmail": False}, (None, None)),
        ({"companyId": [1], "hrEmail": {"a": 1}}, (None, None)),
    ],
)
def test_identity_claims(
    claims: dict[str, object], identity: tuple[str | None, str | None]
) -> None:
    assert smartway_identity(make_jwt(claims)) == identity
    token = Token(access_token=make_jwt(claims), received_at=NOW)
    assert smartway_identity(token) == identity


@pytest.mark.parametrize(
    "access",
    [
        "opaque-token-value",
        "AQAAANCMnd8BFdERjHoAwE_Cl-sBAAAA",
        "a.b.c",
        "eyJhbGciOiJIUzI1NiJ9.bm90IGpzb24.sig",
        f"{b64url({'alg': 'none'})}.{b64url([1, 2])}.sig",
    ],
)
def test_identity_of_a_non_jwt_is_none_none(access: str) -> None:
    assert smartway_identity(access) == (None, None)
    assert smartway_identity(Token(access_token=access, received_at=NOW)) == (
        None,
        None,
    )


# ---------------------------------------------------------------- SmartConnect

# The vendor's "Token Endpoints by Region" table.
REGIONS = {
    "NA": "https://apina.smartconnect.com/token",
    "NA2": "https://apina2.smartconnect.com/token",
    "NA3": "https://apina3.smartconnect.com/token",
    "UK": "https://apieuk.smartconnect.com/token",
    "EU": "https://apieuw.smartconnect.com/token",
    "EU2": "https://apieuw2.smartconnect.com/token",
    "AU": "https://apiau.smartconnect.com/token",
}
SC_ARGS: dict[str, str] = {
    "username": "user@example.com",
    "password": "your password",
    "client_id": "your_client_id",
    "client_secret": "your_client_secret",
}


def test_smartconnect_region_table_is_the_documented_one() -> None:
    assert dict(SMARTCONNECT_REGIONS) == REGIONS
    assert list(SMARTCONNECT_REGIONS) == list(REGIONS)


@pytest.mark.parametrize(("region", "url"), list(REGIONS.items()))
def test_smartconnect_every_region_in_any_case(region: str, url: str) -> None:
    for spelling in (region, region.lower(), region.capitalize()):
        flow = smartconnect(region=spelling, **SC_ARGS)
        assert isinstance(flow, PasswordGrant)
        assert flow.token_url == url
        assert flow.token_request().url == url


@pytest.mark.parametrize("region", ["US", "", " NA", "NA ", "EU3", "apina", "N A"])
def test_smartconnect_unknown_region_lists_the_valid_ones(region: str) -> None:
    with pytest.raises(ValueError, match="region") as info:
        smartconnect(region=region, **SC_ARGS)
    message = str(info.value)
    for name in REGIONS:
        assert name in message
    assert SC_ARGS["password"] not in message
    assert SC_ARGS["client_secret"] not in message


@pytest.mark.parametrize("region", [None, 1])
def test_smartconnect_region_not_a_string(region: object) -> None:
    with pytest.raises((TypeError, ValueError), match="region"):
        smartconnect(region=region, **SC_ARGS)  # type: ignore[arg-type]


def test_smartconnect_regions_are_read_only() -> None:
    regions: Any = SMARTCONNECT_REGIONS
    with pytest.raises(TypeError):
        regions["XX"] = "https://evil.example/token"
    with pytest.raises(TypeError):
        del regions["NA"]
    assert not hasattr(regions, "update")
    assert dict(SMARTCONNECT_REGIONS) == REGIONS


def test_smartconnect_request_has_every_credential_in_the_body() -> None:
    request = smartconnect(region="NA", **SC_ARGS).token_request()
    assert request.method == "POST"
    assert request.headers == (ACCEPT, FORM, UA)
    assert request.header("Authorization") is None
    assert request.body == (
        b"grant_type=password&username=user%40example.com&password=your+password"
        b"&client_id=your_client_id&client_secret=your_client_secret"
    )


def test_smartconnect_refresh_is_the_rfc_6749_form() -> None:
    request = smartconnect(region="UK", **SC_ARGS).refresh_request("rt-1")
    assert request.url == REGIONS["UK"]
    assert request.body == (
        b"grant_type=refresh_token&refresh_token=rt-1&client_id=your_client_id&client_secret=your_client_secret"
    )


@pytest.mark.parametrize("field", list(SC_ARGS))
def test_smartconnect_empty_credential_refused_by_name(field: str) -> None:
    with pytest.raises(ValueError, match=field):
        smartconnect(region="NA", **{**SC_ARGS, field: ""})


def test_smartconnect_is_keyword_only() -> None:
    untyped: Any = smartconnect
    with pytest.raises(TypeError):
        untyped("NA", *SC_ARGS.values())


def test_smartconnect_masks_password_and_secret() -> None:
    flow = smartconnect(region="EU", **SC_ARGS)
    result = flow.parse(
        json_response(
            400,
            {
                "error": "invalid_grant",
                "error_description": (
                    "user@example.com / your password / your_client_secret"
                ),
            },
        ),
        now=NOW,
    )
    assert isinstance(result, OAuthError)
    assert result.description == "user@example.com / *** / ***"
    assert "your password" not in repr(flow)
    assert "your_client_secret" not in repr(flow)


# ---------------------------------------------------------------- TeamSystem

TS_KEY = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhZG1pbiJ9.c2lnbmF0dXJl"
TS_ARGS: dict[str, str] = {
    "username": "admin_webapicorso",
    "scope": "webapicorso_alywebapicorso",
}


def multipart_fields(request: HttpRequest) -> list[tuple[str, str]]:
    """The (name, value) fields of a multipart/form-data body, strictly."""
    content_type = request.header("Content-Type")
    assert content_type is not None
    media, _, boundary = content_type.partition("; boundary=")
    assert media == "multipart/form-data"
    delimiter = b"--" + boundary.encode("ascii")
    chunks = request.body.split(delimiter)
    assert chunks[0] == b""
    assert chunks[-1] == b"--\r\n"
    fields = []
    for chunk in chunks[1:-1]:
        assert chunk.startswith(b"\r\n")
        assert chunk.endswith(b"\r\n")
        head, sep, value = chunk[2:-2].partition(b"\r\n\r\n")
        assert sep
        prefix = b'Content-Disposition: form-data; name="'
        assert head.startswith(prefix)
        assert head.endswith(b'"')
        fields.append((head[len(prefix) : -1].decode(), value.decode("utf-8")))
    return fields


def test_teamsystem_token_request() -> None:
    flow = teamsystem(token=TS_KEY, **TS_ARGS)
    assert isinstance(flow, TeamSystemFlow)
    request = flow.token_request()
    assert request.method == "POST"
    assert request.url == "https://tse.smart-api.teamsystem.cloud/api/v1/auth/token"
    names = [name for name, _ in request.headers]
    assert names == ["Accept", "Accept-Language", "Content-Type", "User-Agent"]
    assert request.header("Accept") == "application/json"
    assert request.header("Accept-Language") == "it-IT"
    assert request.header("User-Agent") == UA[1]
    assert multipart_fields(request) == [
        ("username", "admin_webapicorso"),
        ("scope", "webapicorso_alywebapicorso"),
        ("token", f"Bearer {TS_KEY}"),
    ]


def test_teamsystem_body_reads_as_multipart_with_the_stdlib() -> None:
    request = teamsystem(token=TS_KEY, **TS_ARGS).token_request()
    head = f"Content-Type: {request.header('Content-Type')}\r\n\r\n".encode()
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        head + request.body
    )
    assert message.is_multipart()
    parts = {
        part.get_param("name", header="content-disposition"): part.get_content()
        for part in message.iter_parts()
    }
    assert parts == {
        "username": "admin_webapicorso",
        "scope": "webapicorso_alywebapicorso",
        "token": f"Bearer {TS_KEY}",
    }


@pytest.mark.parametrize(
    "given",
    [
        TS_KEY,
        f"Bearer {TS_KEY}",
        f"bearer {TS_KEY}",
        f"BEARER {TS_KEY}",
        f"BeArEr {TS_KEY}",
    ],
)
def test_teamsystem_bearer_is_prefixed_once(given: str) -> None:
    flow = teamsystem(token=given, **TS_ARGS)
    token_field = dict(multipart_fields(flow.token_request()))["token"]
    assert token_field.lower() == f"bearer {TS_KEY}".lower()
    assert token_field.endswith(TS_KEY)
    assert token_field.lower().count("bearer") == 1


def test_teamsystem_prefixed_and_bare_key_give_the_same_flow() -> None:
    bare = teamsystem(token=TS_KEY, **TS_ARGS)
    prefixed = teamsystem(token=f"Bearer {TS_KEY}", **TS_ARGS)
    assert bare == prefixed
    assert bare.token_request() == prefixed.token_request()


@pytest.mark.parametrize(
    "given", ["Bearer ", "bearer ", "BEARER   ", "Bearer \t", " ", "\t"]
)
def test_teamsystem_token_that_is_only_bearer_is_refused(given: str) -> None:
    with pytest.raises(ValueError, match="token"):
        teamsystem(token=given, **TS_ARGS)


@pytest.mark.parametrize("given", ["Bearer", "bearer", "BEARER"])
def test_teamsystem_token_that_is_only_the_word_bearer_is_refused(given: str) -> None:
    # f"Bearer {key}".strip() with an empty key gives "Bearer": there is no
    # key to send, and "Bearer Bearer" is not one.
    with pytest.raises(ValueError, match="token"):
        teamsystem(token=given, **TS_ARGS)


def test_teamsystem_empty_token_refused() -> None:
    with pytest.raises(ValueError, match="token"):
        teamsystem(token="", **TS_ARGS)


@pytest.mark.parametrize("token", [None, 42, b"key"])
def test_teamsystem_token_not_a_string(token: object) -> None:
    with pytest.raises(TypeError, match="token"):
        teamsystem(token=token, **TS_ARGS)  # type: ignore[arg-type]


@pytest.mark.parametrize("language", ["en-US", "it-IT,it;q=0.9,en;q=0.8", "de"])
def test_teamsystem_language_header(language: str) -> None:
    request = teamsystem(token=TS_KEY, language=language, **TS_ARGS).token_request()
    assert request.header("Accept-Language") == language


@pytest.mark.parametrize("bad", ["\r\n", "\r", "\n", "\x00", "\x1b", "\x7f"])
def test_teamsystem_language_with_control_character_refused(bad: str) -> None:
    with pytest.raises(ValueError, match="language") as info:
        teamsystem(token=TS_KEY, language=f"it-IT{bad}X-Injected: yes", **TS_ARGS)
    assert "X-Injected" not in str(info.value)


def test_teamsystem_empty_language_refused() -> None:
    with pytest.raises(ValueError, match="language"):
        teamsystem(token=TS_KEY, language="", **TS_ARGS)


@pytest.mark.parametrize("field", list(TS_ARGS))
def test_teamsystem_empty_field_refused_by_name(field: str) -> None:
    with pytest.raises(ValueError, match=field):
        teamsystem(token=TS_KEY, **{**TS_ARGS, field: ""})


def test_teamsystem_multipart_values_may_hold_anything() -> None:
    odd = 'a "quoted" \\ name\r\nwith lines é 🔑'
    request = teamsystem(token=TS_KEY, username=odd, scope="s;x=1").token_request()
    assert multipart_fields(request) == [
        ("username", odd),
        ("scope", "s;x=1"),
        ("token", f"Bearer {TS_KEY}"),
    ]


def test_teamsystem_refresh_is_compact_json_to_oauth_token() -> None:
    request = teamsystem(token=TS_KEY, **TS_ARGS).refresh_request("rt-123")
    assert request == HttpRequest(
        method="POST",
        url="https://tse.smart-api.teamsystem.cloud/oauth/token",
        headers=(ACCEPT, ("Content-Type", "application/json"), UA),
        body=b'{"grant_type":"refresh_token","refresh_token":"rt-123"}',
    )


def test_teamsystem_refresh_escapes_the_token_as_json() -> None:
    refresh_token = 'r"t\\é\n'
    request = teamsystem(token=TS_KEY, **TS_ARGS).refresh_request(refresh_token)
    assert json.loads(request.body) == {
        "grant_type": "refresh_token",
        "refresh_token": refresh_token,
    }
    assert b": " not in request.body
    assert b", " not in request.body


@pytest.mark.parametrize("refresh_token", ["", "x\ud800"])
def test_teamsystem_refresh_token_validated(refresh_token: str) -> None:
    with pytest.raises(ValueError, match="refresh_token"):
        teamsystem(token=TS_KEY, **TS_ARGS).refresh_request(refresh_token)


@pytest.mark.parametrize(
    ("base_url", "token_url", "refresh_url"),
    [
        (
            "https://tse.example.com/",
            "https://tse.example.com/api/v1/auth/token",
            "https://tse.example.com/oauth/token",
        ),
        (
            "http://127.0.0.1:9000",
            "http://127.0.0.1:9000/api/v1/auth/token",
            "http://127.0.0.1:9000/oauth/token",
        ),
    ],
)
def test_teamsystem_base_url(base_url: str, token_url: str, refresh_url: str) -> None:
    flow = teamsystem(token=TS_KEY, base_url=base_url, **TS_ARGS)
    assert flow.token_request().url == token_url
    assert flow.refresh_request("rt").url == refresh_url


@pytest.mark.parametrize(
    ("base_url", "rule"),
    [
        ("https://tse.smart-api.teamsystem.cloud?env=test", "query"),
        ("https://tse.smart-api.teamsystem.cloud/?", "query"),
        ("http://tse.smart-api.teamsystem.cloud", "https"),
        ("https://tse.smart-api.teamsystem.cloud#x", "fragment"),
    ],
)
def test_teamsystem_base_url_refused(base_url: str, rule: str) -> None:
    with pytest.raises(ValueError, match="base_url") as info:
        teamsystem(token=TS_KEY, base_url=base_url, **TS_ARGS)
    assert rule in str(info.value)


def test_teamsystem_flow_checks_both_urls_by_name() -> None:
    args: dict[str, str] = {
        "token_url": "https://a.example/token",
        "refresh_url": "https://a.example/oauth/token",
        "token": TS_KEY,
        **TS_ARGS,
    }
    assert TeamSystemFlow(**args).token_request().url == "https://a.example/token"
    with pytest.raises(ValueError, match="refresh_url"):
        TeamSystemFlow(**{**args, "refresh_url": "http://a.example/oauth/token"})
    with pytest.raises(ValueError, match="token_url"):
        TeamSystemFlow(**{**args, "token_url": "http://a.example/token"})


def test_teamsystem_repr_and_parse_mask_the_key() -> None:
    flow = teamsystem(token=TS_KEY, **TS_ARGS)
    assert TS_KEY not in repr(flow)
    assert "***" in repr(flow)
    assert TS_KEY not in repr(flow.token_request())
    opaque = teamsystem(token="opaque-api-key-1", **TS_ARGS)
    cases = [
        (flow, TS_KEY, TS_KEY),
        (flow, f"Bearer {TS_KEY}", TS_KEY),
        (opaque, "opaque-api-key-1", "opaque-api-key-1"),
        (opaque, "Bearer opaque-api-key-1", "opaque-api-key-1"),
    ]
    for item, echoed, key in cases:
        result = item.parse(
            json_response(401, {"detail": f"bad token {echoed}"}), now=NOW
        )
        text = str(result) + repr(result)
        assert key not in text
        assert "bad token ***" in text


def test_teamsystem_flow_is_a_frozen_hashable_value() -> None:
    flow = teamsystem(token=TS_KEY, **TS_ARGS)
    assert flow == teamsystem(token=TS_KEY, **TS_ARGS)
    assert hash(flow) == hash(teamsystem(token=TS_KEY, **TS_ARGS))
    assert flow != teamsystem(token=TS_KEY, language="en-US", **TS_ARGS)
    field = "token"
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        setattr(flow, field, "other")
    assert flow.token_request() == flow.token_request()


def test_teamsystem_parse_reads_a_token() -> None:
    flow = teamsystem(token=TS_KEY, **TS_ARGS)
    result = flow.parse(
        json_response(
            200,
            {
                "access_token": "at",
                "token_type": "Bearer",
                "expires_in": 3600,
                "refresh_token": "r2",
            },
        ),
        now=NOW,
    )
    assert result == Token(
        access_token="at", received_at=NOW, expires_at=NOW + 3600, refresh_token="r2"
    )


# ---------------------------------------------------------------- SmartDocumentor

SD_ARGS: dict[str, str] = {"client_id": "sd-client", "client_secret": "sd secret&="}


def test_smartdocumentor_request() -> None:
    flow = smartdocumentor(**SD_ARGS)
    assert isinstance(flow, ClientCredentials)
    assert flow.scope == ("WebAPI",)
    assert flow.auth == "client_secret_post"
    assert flow.token_request() == HttpRequest(
        method="POST",
        url="https://cloud.smartdocumentor.net/connect/token",
        headers=(ACCEPT, FORM, UA),
        body=b"grant_type=client_credentials&scope=WebAPI&client_id=sd-client&client_secret=sd+secret%26%3D",
    )


def test_smartdocumentor_body_field_order() -> None:
    body = smartdocumentor(**SD_ARGS).token_request().body.decode()
    names = [pair.partition("=")[0] for pair in body.split("&")]
    assert names == ["grant_type", "scope", "client_id", "client_secret"]


@pytest.mark.parametrize(
    ("base_url", "url"),
    [
        (
            "https://cloud.smartdocumentor.net/",
            "https://cloud.smartdocumentor.net/connect/token",
        ),
        ("http://localhost:5000", "http://localhost:5000/connect/token"),
    ],
)
def test_smartdocumentor_base_url(base_url: str, url: str) -> None:
    assert smartdocumentor(base_url=base_url, **SD_ARGS).token_request().url == url


def test_smartdocumentor_base_url_refused() -> None:
    with pytest.raises(ValueError, match="base_url"):
        smartdocumentor(base_url="http://cloud.smartdocumentor.net", **SD_ARGS)
    with pytest.raises(ValueError, match="query"):
        smartdocumentor(base_url="https://cloud.smartdocumentor.net?x", **SD_ARGS)


@pytest.mark.parametrize("field", list(SD_ARGS))
def test_smartdocumentor_empty_credential_refused_by_name(field: str) -> None:
    with pytest.raises(ValueError, match=field):
        smartdocumentor(**{**SD_ARGS, field: ""})


def test_smartdocumentor_documented_error() -> None:
    flow = smartdocumentor(**SD_ARGS)
    result = flow.parse(json_response(400, {"error": "invalid_client"}), now=NOW)
    assert isinstance(result, OAuthError)
    assert (
        result.error,
        result.description,
        result.uri,
        result.status,
        result.retry_after,
    ) == (
        "invalid_client",
        None,
        None,
        400,
        None,
    )
    assert not result.retryable
    assert "sd secret&=" not in repr(flow)


def test_smartconnect_token_url_overrides_the_regions() -> None:
    flow = smartconnect(
        region="EU",
        username="u@example.com",
        password="pw",
        client_id="cid",
        client_secret="cs",
        token_url="http://127.0.0.1:8080/smartconnect/EU/token",
    )
    assert flow.token_url == "http://127.0.0.1:8080/smartconnect/EU/token"
    # The region is still checked, and the URL rule still holds.
    with pytest.raises(ValueError, match="region"):
        smartconnect(
            region="MARS",
            username="u",
            password="p",
            client_id="c",
            client_secret="s",
            token_url="https://a.example/token",
        )
    with pytest.raises(ValueError, match="token_url"):
        smartconnect(
            region="EU",
            username="u",
            password="p",
            client_id="c",
            client_secret="s",
            token_url="http://auth.example/token",
        )


# ---------------------------------------------------------------- small flows
#
# Issue 6: a flow keeps its arguments, not a prebuilt request, and builds the
# request on each call without checking again what construction checked. The
# property is what makes that safe: whatever a TeamSystem flow accepts, each
# request it builds passes HttpRequest's own checks unchanged.


def full_checks(request: HttpRequest) -> None:
    rebuilt = HttpRequest(
        method=request.method,
        url=request.url,
        headers=request.headers,
        body=request.body,
    )
    assert rebuilt == request
    assert repr(rebuilt) == repr(request)


def test_teamsystem_flow_keeps_only_its_arguments() -> None:
    assert [field.name for field in attrs.fields(TeamSystemFlow)] == [
        "token_url",
        "refresh_url",
        "username",
        "scope",
        "token",
        "language",
    ]
    flow = teamsystem(token=TS_KEY, **TS_ARGS)
    first, second = flow.token_request(), flow.token_request()
    assert first == second
    assert first is not second


def test_flows_of_one_vendor_share_its_urls() -> None:
    a, b = smartway("key-a"), smartway("key-b")
    assert a.token_url is b.token_url
    c = teamsystem(token="k1", **TS_ARGS)
    d = teamsystem(token="k2", **TS_ARGS)
    assert (c.token_url, c.refresh_url) == (d.token_url, d.refresh_url)
    assert c.token_url is d.token_url
    assert c.refresh_url is d.refresh_url
    e = smartdocumentor(client_id="a", client_secret="b")
    f = smartdocumentor(client_id="c", client_secret="d")
    assert e.token_url is f.token_url


TS_TEXT = st.text(
    st.sampled_from(' \t\r\n\x00\x1b\x7f\x85\ud800aZ9-_é"\\') | st.characters(),
    max_size=10,
)


@settings(max_examples=150, deadline=None, database=None)
@given(
    username=TS_TEXT,
    scope=TS_TEXT,
    token=st.one_of(TS_TEXT, TS_TEXT.map("Bearer {}".format)),
    language=TS_TEXT,
    base_url=st.sampled_from(
        [
            "https://tse.smart-api.teamsystem.cloud",
            "http://127.0.0.1:8080/",
            "https://a.example/x y",
            "http://a.example",
        ]
    ),
    refresh_token=TS_TEXT,
)
def test_property_every_teamsystem_request_passes_the_full_checks(
    username: str,
    scope: str,
    token: str,
    language: str,
    base_url: str,
    refresh_token: str,
) -> None:
    try:
        flow = teamsystem(
            username=username,
            scope=scope,
            token=token,
            language=language,
            base_url=base_url,
        )
    except (TypeError, ValueError):
        return
    full_checks(flow.token_request())
    try:
        refresh = flow.refresh_request(refresh_token)
    except (TypeError, ValueError):
        return
    full_checks(refresh)


@settings(max_examples=100, deadline=None, database=None)
@given(key=TS_TEXT)
def test_property_every_smartway_request_passes_the_full_checks(key: str) -> None:
    try:
        flow = smartway(key)
    except (TypeError, ValueError):
        return
    full_checks(flow.token_request())
