"""Recorded exchanges: every file under ``tests/fixtures/<vendor>/`` is replayed.

Each fixture holds the request a flow must build, written from the vendor's
document and DESIGN.md (not from the library's output), and a response as the
vendor sends it with the parse expected from it. The format is described in
``tests/fixtures/README.md``. A request that drifts by one byte fails here.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import attrs
import pytest

import sansio_auth
from sansio_auth import (
    ApiKeyExchange,
    ClientCredentials,
    Flow,
    HttpRequest,
    HttpResponse,
    PasswordGrant,
    Token,
    TokenError,
    providers,
)

FIXTURES = Path(__file__).resolve().parent / "fixtures"
VENDORS = ("generic", "smartconnect", "smartdocumentor", "smartway", "teamsystem")
# The signed request shapes of issue 14 have their own format and test
# (test_signed_fixtures.py); keys/ holds their test-only PEM files.
SIGNED = ("rfc7523", "rfc8693", "rfc8705", "rfc8707", "rfc9449", "keys")
FILES = sorted(
    path for path in FIXTURES.glob("*/*.json") if path.parent.name not in SIGNED
)
USER_AGENT_PLACEHOLDER = "{USER_AGENT}"

FACTORIES: Mapping[str, Mapping[str, Callable[..., Flow]]] = {
    "provider": {
        "smartconnect": providers.smartconnect,
        "smartdocumentor": providers.smartdocumentor,
        "smartway": providers.smartway,
        "teamsystem": providers.teamsystem,
    },
    "class": {
        "ApiKeyExchange": ApiKeyExchange,
        "ClientCredentials": ClientCredentials,
        "PasswordGrant": PasswordGrant,
    },
}
ERROR_CLASSES: Mapping[str, type[TokenError]] = {
    "HttpError": sansio_auth.HttpError,
    "MalformedResponse": sansio_auth.MalformedResponse,
    "OAuthError": sansio_auth.OAuthError,
}
TOP_KEYS = {"description", "flow", "call", "request", "response", "now", "expected"}
TOKEN_FIELDS = {
    "access_token",
    "token_type",
    "received_at",
    "expires_at",
    "scopes",
    "refresh_token",
}
# Flow arguments that are credentials: never in the str/repr of a parse result.
CREDENTIAL_ARGS = ("api_key", "client_secret", "password", "token")


def load(path: Path) -> dict[str, Any]:
    data = json.loads(path.read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    # Every key is used: a typo or a forgotten field is a failure, not ignored.
    assert set(data) == TOP_KEYS, path.name
    assert isinstance(data["description"], str)
    assert data["description"]
    return data


def tuples(value: object) -> object:
    """JSON lists as tuples (flows take tuples of pairs), recursively."""
    if isinstance(value, list):
        return tuple(tuples(item) for item in value)
    return value


def build_flow(spec: Mapping[str, Any]) -> Flow:
    kinds = set(spec) - {"kwargs"}
    assert len(kinds) == 1, spec
    (kind,) = kinds
    assert set(spec) == {kind, "kwargs"}
    factory = FACTORIES[kind][spec[kind]]
    kwargs = {name: tuples(value) for name, value in spec["kwargs"].items()}
    return factory(**kwargs)


def user_agent() -> str:
    return f"sansio-auth/{sansio_auth.__version__}"


def headers(pairs: list[list[str]]) -> tuple[tuple[str, str], ...]:
    out = []
    for pair in pairs:
        assert len(pair) == 2
        name, value = pair
        out.append((name, value.replace(USER_AGENT_PLACEHOLDER, user_agent())))
    return tuple(out)


def expected_request(spec: Mapping[str, Any]) -> HttpRequest:
    assert set(spec) == {"method", "url", "headers", "body"}
    return HttpRequest(
        method=spec["method"],
        url=spec["url"],
        headers=headers(spec["headers"]),
        body=spec["body"].encode("utf-8"),
    )


def recorded_response(spec: Mapping[str, Any]) -> HttpResponse:
    assert set(spec) == {"status", "headers", "body"}
    return HttpResponse(
        status=spec["status"],
        headers=tuple((name, value) for name, value in spec["headers"]),
        body=spec["body"].encode("utf-8"),
    )


def make_request(flow: Flow, call: Mapping[str, Any]) -> HttpRequest:
    if call == {"method": "token_request"}:
        return flow.token_request()
    assert set(call) == {"method", "refresh_token"}
    assert call["method"] == "refresh_request"
    request = flow.refresh_request(call["refresh_token"])
    assert request is not None
    return request


def multipart_boundary(request: HttpRequest) -> str | None:
    content_type = request.header("Content-Type")
    if content_type is None or not content_type.startswith("multipart/form-data"):
        return None
    prefix = "multipart/form-data; boundary="
    assert content_type.startswith(prefix)
    return content_type[len(prefix) :]


def is_multipart(path: Path) -> bool:
    pairs = json.loads(path.read_text(encoding="utf-8"))["request"]["headers"]
    return any(
        name.lower() == "content-type" and value.startswith("multipart/form-data")
        for name, value in pairs
    )


def fixture_id(path: Path) -> str:
    return f"{path.parent.name}/{path.stem}"


def test_every_vendor_has_fixtures() -> None:
    for vendor in VENDORS:
        assert list((FIXTURES / vendor).glob("*.json")), vendor


def test_every_fixture_file_is_collected() -> None:
    # No fixture hides where the glob does not look, and no directory is
    # a vendor this module does not know.
    assert {
        path
        for path in FIXTURES.rglob("*.json")
        if path.relative_to(FIXTURES).parts[0] not in SIGNED
    } == set(FILES)
    assert {path.parent.name for path in FILES} == set(VENDORS)
    assert len(FILES) == len({fixture_id(path) for path in FILES})


@pytest.mark.parametrize("path", FILES, ids=fixture_id)
def test_fixture_request_is_byte_exact(path: Path) -> None:
    data = load(path)
    flow = build_flow(data["flow"])
    request = make_request(flow, data["call"])
    expected = expected_request(data["request"])
    assert request.method == expected.method
    assert request.url == expected.url
    assert request.headers == expected.headers
    assert request.body == expected.body
    assert request == expected
    # Same inputs, same bytes: a second call and a second flow agree.
    assert make_request(flow, data["call"]) == expected
    assert make_request(build_flow(data["flow"]), data["call"]) == expected
    assert ("User-Agent", user_agent()) in request.headers
    assert ("Accept", "application/json") in request.headers


@pytest.mark.parametrize(
    "path",
    [path for path in FILES if is_multipart(path)],
    ids=fixture_id,
)
def test_fixture_multipart_boundary(path: Path) -> None:
    data = load(path)
    request = make_request(build_flow(data["flow"]), data["call"])
    boundary = multipart_boundary(request)
    assert boundary is not None
    assert 1 <= len(boundary) <= 70
    delimiter = b"--" + boundary.encode("ascii")
    assert request.body.startswith(delimiter + b"\r\n")
    assert request.body.endswith(b"\r\n" + delimiter + b"--\r\n")
    # The boundary occurs only as the delimiters, never inside a part.
    parts = request.body.split(delimiter)
    assert parts[0] == b""
    assert parts[-1] == b"--\r\n"
    for part in parts[1:-1]:
        assert part.startswith(b"\r\nContent-Disposition: form-data; name=")
        assert part.endswith(b"\r\n")
        assert boundary.encode("ascii") not in part


@pytest.mark.parametrize("path", FILES, ids=fixture_id)
def test_fixture_response_parses_as_recorded(path: Path) -> None:
    data = load(path)
    flow = build_flow(data["flow"])
    now = data["now"]
    assert isinstance(now, float)
    result = flow.parse(recorded_response(data["response"]), now=now)
    expected = data["expected"]
    if "token" in expected:
        assert set(expected) <= {"token", "claims"}
        assert isinstance(result, Token), result
        fields = expected["token"]
        assert set(fields) == TOKEN_FIELDS
        scopes = None if result.scopes is None else sorted(result.scopes)
        assert {
            "access_token": result.access_token,
            "token_type": result.token_type,
            "received_at": result.received_at,
            "expires_at": result.expires_at,
            "scopes": scopes,
            "refresh_token": result.refresh_token,
        } == fields
        claims = result.claims()
        for name, value in expected.get("claims", {}).items():
            assert claims is not None
            assert claims[name] == value
    else:
        assert set(expected) == {"error"}
        spec = expected["error"]
        assert set(spec) == {"class", "fields"}
        assert type(result) is ERROR_CLASSES[spec["class"]], result
        assert isinstance(result, TokenError)
        error_class: type[Any] = type(result)
        names = set(attrs.fields_dict(error_class))
        assert set(spec["fields"]) == names
        assert {name: getattr(result, name) for name in names} == spec["fields"]
    # No credential of the flow in what a log or a traceback would show.
    shown = str(result) + repr(result)
    for name in CREDENTIAL_ARGS:
        value = data["flow"]["kwargs"].get(name)
        if value is not None:
            assert value not in shown, name
