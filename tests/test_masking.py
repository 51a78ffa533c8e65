"""The never-a-secret promise, by class (issue 10, points 1 to 3 and 7).

* **Every secret that went into the request** is masked in its answer: the
  session masks each error with what :func:`request_secrets` reads off the
  request in flight, the refresh token it sent and the ``Authorization`` value
  included, whatever the flow masked itself.
* **In any encoding a server echoes it in**: generated secrets, echoed through
  every encoder of ``echoes.py`` and a per-character mix, never reach a
  ``str``, ``repr``, snippet, description, location or the session's stats.
* **A 2xx body is presumed to hold a token**: its snippet shows names, types
  and lengths, never a string value, whatever the body's format.
* **A secret too short to mask** withholds the text it is found in, and our
  own words are never masked.

Everything here is pure: sessions are driven by hand, no network.
"""

from __future__ import annotations

import base64
import html
import json
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import quote, quote_plus

import attrs
import pytest
from echoes import ENCODINGS, SECRETS, echoes
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from sansio_auth import (
    ApiKeyExchange,
    ClientCredentials,
    Failed,
    HttpError,
    HttpRequest,
    HttpResponse,
    MalformedResponse,
    OAuthError,
    PasswordGrant,
    SendRequest,
    Token,
    TokenError,
    TokenSession,
    TransportError,
    mask_secrets,
    parse_token_response,
    request_secrets,
)
from sansio_auth._answers import redact
from sansio_auth._mask import MASK, WITHHELD
from sansio_auth.providers import smartway, teamsystem

NOW = 1_700_000_000.0
URL = "https://auth.example.com/token"
RT = "rt-REFRESH-0c1d2e3f"
PROPERTY = settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)


# -- request_secrets: what went into a request ---------------------------------


def basic(client_id: str, secret: str) -> str:
    userpass = f"{quote(client_id, safe='')}:{quote(secret, safe='')}"
    return base64.b64encode(userpass.encode()).decode()


@pytest.mark.parametrize(
    ("request_", "secrets"),
    [
        pytest.param(
            ClientCredentials(
                token_url=URL, client_id="app-id", client_secret="cs-SECRET-1"
            ).token_request(),
            {"cs-SECRET-1"},
            id="client-secret-post",
        ),
        pytest.param(
            ClientCredentials(
                token_url=URL,
                client_id="app-id",
                client_secret="cs SECRET/2",
                auth="client_secret_basic",
            ).token_request(),
            {
                f"Basic {basic('app-id', 'cs SECRET/2')}",
                basic("app-id", "cs SECRET/2"),
                basic("app-id", "cs SECRET/2").rstrip("="),
                basic("app-id", "cs SECRET/2").rstrip("=").replace("+", "-"),
                "cs%20SECRET%2F2",
                "cs SECRET/2",
            },
            id="client-secret-basic",
        ),
        pytest.param(
            PasswordGrant(
                token_url=URL,
                username="user@example.com",
                password="pw-PASSWORD",
                client_id="app-id",
                client_secret="cs-SECRET-3",
                extra=(("audience", "https://api"), ("tenant_key", "tk-KEY-4")),
            ).token_request(),
            # The user name is no credential, but not a public field either:
            # presumed secret (it is personal data), masked from 8 characters.
            {"pw-PASSWORD", "cs-SECRET-3", "tk-KEY-4", "user@example.com"},
            id="password-grant-with-a-key-in-extra",
        ),
        pytest.param(
            ClientCredentials(
                token_url=URL, client_id="app-id", client_secret="cs-SECRET-1"
            ).refresh_request(RT),
            {RT, "cs-SECRET-1"},
            id="refresh-form",
        ),
        pytest.param(
            smartway("ak-API-KEY-5").token_request(),
            {"ak-API-KEY-5"},
            id="api-key-header",
        ),
        pytest.param(
            ApiKeyExchange(
                token_url=URL, api_key="Token ak-API-KEY-6", header="Authorization"
            ).token_request(),
            {"Token ak-API-KEY-6", "ak-API-KEY-6"},
            id="api-key-in-authorization",
        ),
        pytest.param(
            teamsystem(username="admin", scope="s", token="ts-KEY-7").token_request(),
            {"Bearer ts-KEY-7", "ts-KEY-7"},
            id="teamsystem-multipart",
        ),
        pytest.param(
            teamsystem(username="admin", scope="s", token="ts-KEY-7").refresh_request(
                RT
            ),
            {RT},
            id="teamsystem-json-refresh",
        ),
        pytest.param(
            HttpRequest(
                method="POST",
                url=URL,
                headers=(
                    ("Content-Type", 'multipart/form-data; boundary="a b"'),
                    ("Accept-Language", "it-IT"),
                    ("User-Agent", "x"),
                ),
                body=b"--a b\r\n"
                b'Content-Disposition: form-data; name="api\\"key"\r\n\r\n'
                b"k-PART-8\r\n--a b\r\nContent-Disposition: form-data; "
                b'name="user"\r\n\r\nu\r\n--a b--\r\n',
            ),
            {"k-PART-8"},
            id="multipart-quoted-boundary-and-escaped-name",
        ),
        pytest.param(
            HttpRequest(
                method="POST",
                url=URL,
                headers=(("Content-Type", "application/vnd.x+json"),),
                body=json.dumps(
                    {
                        "grant_type": "urn:x",
                        "subject_token": "st-9",
                        "subject_token_type": "urn:ietf:params:oauth:token-type:jwt",
                        "nested": {"client_assertion": ["ca-10", 1]},
                    }
                ).encode(),
            ),
            {"st-9", "ca-10"},
            id="json-nested-not-the-type-fields",
        ),
        pytest.param(
            HttpRequest(
                method="POST",
                url=URL,
                headers=(("Content-Type", "application/json"),),
                body=b'{"password": "unterminated',
            ),
            # Not JSON after all: every long run of its text, presumed.
            {"password", "unterminated"},
            id="json-that-does-not-parse",
        ),
        pytest.param(
            HttpRequest(
                method="POST",
                url=URL,
                headers=(("Content-Type", "multipart/form-data"),),
                body=b"--x\r\n"
                b'Content-Disposition: form-data; name="token"\r\n\r\nt\r\n',
            ),
            set(),
            id="multipart-without-a-boundary",
        ),
        pytest.param(
            HttpRequest(
                method="POST",
                url=URL,
                headers=(("Authorization", "Basic !!not-base64!!"),),
                body=b"password=p",
            ),
            # An untyped body shaped like a form is read as one.
            {"Basic !!not-base64!!", "!!not-base64!!", "p"},
            id="basic-that-does-not-decode-and-an-untyped-form",
        ),
        pytest.param(
            HttpRequest(
                method="POST",
                url=URL,
                headers=(("Authorization", "Basic " + basic("no-colon", "")[:-4]),),
                body=b"",
            ),
            {
                "Basic " + basic("no-colon", "")[:-4],
                basic("no-colon", "")[:-4],
            },
            id="basic-without-a-colon",
        ),
        pytest.param(
            HttpRequest(
                method="POST",
                url=URL,
                headers=(("Authorization", "opaque-value"),),
                body=b"",
            ),
            {"opaque-value"},
            id="authorization-without-a-scheme",
        ),
    ],
)
def test_request_secrets_reads_every_credential_off_the_request(
    request_: HttpRequest, secrets: set[str]
) -> None:
    found = request_secrets(request_)
    assert set(found) == secrets
    assert list(found) == sorted(found, key=lambda s: (-len(s), s))


def test_request_secrets_leaves_out_the_public_headers_and_fields() -> None:
    request = ClientCredentials(
        token_url=URL,
        client_id="app-id",
        client_secret="cs-SECRET-1",
        scope="read write",
        extra=(("audience", "https://api.example.com"),),
    ).token_request()
    found = request_secrets(request)
    for public in ("app-id", "read write", "https://api.example.com"):
        assert public not in found
    assert "client_credentials" not in found
    assert "application/json" not in found


# -- the session masks what went into the request it answers ------------------


def session_with_refresh_token(flow: object) -> TokenSession:
    session = TokenSession(flow)  # type: ignore[arg-type]
    step = session.next_step(NOW)
    assert isinstance(step, SendRequest)
    body = {"access_token": "at-1", "expires_in": 100, "refresh_token": RT}
    session.receive(HttpResponse(status=200, body=json.dumps(body).encode()), now=NOW)
    return session


def refresh(session: TokenSession) -> SendRequest:
    step = session.next_step(NOW + 80)  # past the refresh point
    assert isinstance(step, SendRequest)
    assert step.refresh
    return step


def everything_shown(session: TokenSession, result: object) -> Iterator[str]:
    """Every text a caller, a log line or a monitor could see of a failure."""
    stats = session.stats
    errors = [result, stats.last_error]
    step = session.next_step(NOW + 81)
    if isinstance(step, Failed):
        errors.append(step.error)
    for error in errors:
        if isinstance(error, TokenError):
            yield str(error)
            yield repr(error)
            yield from (
                str(value)
                for value in attrs.asdict(error).values()  # type: ignore[arg-type]
            )
    yield repr(stats)
    yield repr(session)


FLOWS = [
    ClientCredentials(token_url=URL, client_id="app-id", client_secret="cs-SECRET-1"),
    ClientCredentials(
        token_url=URL,
        client_id="app-id",
        client_secret="cs-SECRET-1",
        auth="client_secret_basic",
    ),
    teamsystem(username="admin", scope="s", token="ts-KEY-7"),
]


def test_the_refresh_token_sent_is_masked_in_a_description() -> None:
    # Issue 10, point 1, as the review found it.
    session = session_with_refresh_token(FLOWS[0])
    refresh(session)
    body = {
        "error": "invalid_request",
        "error_description": f"refresh token {RT} was not recognised",
    }
    result = session.receive(
        HttpResponse(status=400, body=json.dumps(body).encode()), now=NOW + 80
    )
    assert isinstance(result, OAuthError)
    assert result.description == "refresh token *** was not recognised"
    assert session.stats.last_error == result
    for text in everything_shown(session, result):
        assert RT not in text


def test_the_refresh_token_sent_is_masked_in_an_html_snippet() -> None:
    session = session_with_refresh_token(FLOWS[0])
    refresh(session)
    result = session.receive(
        HttpResponse(
            status=500,
            headers=(("Content-Type", "text/html"),),
            body=f"<h1>bad refresh_token={RT}&x</h1>".encode(),
        ),
        now=NOW + 80,
    )
    assert isinstance(result, HttpError)
    assert result.snippet == "<h1>bad refresh_token=***&x</h1>"


def answers(echo: str, status: int) -> list[HttpResponse]:
    """The places a server puts what it echoes."""
    line = f"credential {echo} refused"
    return [
        HttpResponse(
            status=status,
            headers=(("Content-Type", "application/json"),),
            body=json.dumps(
                {"error": "invalid_request", "error_description": line}
            ).encode(),
        ),
        HttpResponse(
            status=status,
            headers=(("Content-Type", "application/json"),),
            body=json.dumps(
                {"error": echo, "error_uri": f"https://e/?c={echo}"}
            ).encode("utf-8", "surrogatepass"),
        ),
        HttpResponse(
            status=500 if status < 300 else status,
            headers=(("Content-Type", f"text/html; note={echo}"),),
            body=f"<html><body><pre>{line}</pre></body></html>".encode(
                "utf-8", "surrogatepass"
            ),
        ),
        HttpResponse(
            status=302,
            headers=(("Location", f"https://auth.example.com/t/?echo={echo}"),),
        ),
        HttpResponse(
            status=500,
            headers=(("Content-Type", "text/plain"),),
            body=("x" * 150 + " " + line).encode("utf-8", "surrogatepass"),
        ),
    ]


@PROPERTY
@given(data=st.data(), flow=st.sampled_from(FLOWS), status=st.sampled_from([400, 401]))
def test_property_a_secret_of_the_request_never_shows(
    data: st.DataObject, flow: object, status: int
) -> None:
    # Each secret of the refresh request (the refresh token, the client's
    # credentials, the Basic value), echoed in any encoding, anywhere.
    session = session_with_refresh_token(flow)
    step = refresh(session)
    secret = data.draw(st.sampled_from(request_secrets(step.request)))
    name, echo = data.draw(echoes(secret))
    for answer in answers(echo, status):
        session = session_with_refresh_token(flow)
        refresh(session)
        result = session.receive(answer, now=NOW + 80)
        assert isinstance(result, TokenError)
        for text in everything_shown(session, result):
            assert secret not in text, (name, text)
            assert echo not in text, (name, text)


@PROPERTY
@given(data=st.data(), secret=SECRETS, encoding=st.sampled_from([*ENCODINGS]))
def test_property_any_encoding_of_a_generated_secret_is_masked(
    data: st.DataObject, secret: str, encoding: str
) -> None:
    # ClientCredentials with the generated secret, in the body and in Basic:
    # whatever the server echoes it as, it is masked.
    status = data.draw(st.sampled_from([400, 401]))

    def shown(secret: str, echo: str) -> Iterator[str]:
        for auth in ("client_secret_post", "client_secret_basic"):
            flow = ClientCredentials(
                token_url=URL, client_id="app-id", client_secret=secret, auth=auth
            )
            for answer in answers(echo, status):
                session = TokenSession(flow)
                session.next_step(NOW)
                result = session.receive(answer, now=NOW)
                assert isinstance(result, TokenError)
                yield from everything_shown(session, result)

    # A secret that is part of our own fixed text anyway ("SessionS") proves
    # nothing: the same exchange with a placeholder shows that text.
    placeholder = "PLACEHOLDER-SECRET"
    reference = "\n".join(shown(placeholder, ENCODINGS[encoding](placeholder)))
    assume(secret not in reference)
    echo = ENCODINGS[encoding](secret)
    for text in shown(secret, echo):
        assert secret not in text, (encoding, text)
        assert echo not in text, (encoding, text)


@PROPERTY
@given(data=st.data(), secret=SECRETS)
def test_property_mask_secrets_masks_every_echo(
    data: st.DataObject, secret: str
) -> None:
    name, echo = data.draw(echoes(secret))
    prefix = data.draw(st.text(max_size=20))
    suffix = data.draw(st.text(max_size=20))
    assume(secret not in prefix + suffix)
    masked = mask_secrets(prefix + echo + suffix, [secret])
    assert secret not in masked, name
    assert echo not in masked, name
    assert MASK in masked


@PROPERTY
@given(secret=SECRETS, cut=st.integers(1, 40), pad=st.integers(150, 199))
def test_property_a_snippet_cut_through_a_secret_shows_no_start_of_it(
    secret: str, cut: int, pad: int
) -> None:
    # The 200-character cut may fall inside a secret: the start of it left
    # before the cut is masked too (from four characters on).
    assume(cut < len(secret))
    flow = ClientCredentials(token_url=URL, client_id="app-id", client_secret=secret)
    session = TokenSession(flow)
    session.next_step(NOW)
    body = "y" * pad + " " + secret + " and more"
    result = session.receive(
        HttpResponse(
            status=500,
            headers=(("Content-Type", "text/plain"),),
            body=body.encode("utf-8", "surrogatepass"),
        ),
        now=NOW,
    )
    assert isinstance(result, HttpError)
    for length in range(4, len(secret) + 1):
        assert not result.snippet.endswith(secret[:length])


def test_the_snippet_masks_the_start_of_a_refresh_token_it_cut() -> None:
    # The flow's own parse cut the snippet at 200 characters without knowing
    # the refresh token; the session masks the start of it that was left.
    session = session_with_refresh_token(FLOWS[0])
    refresh(session)
    body = "e" * 190 + " " + RT
    result = session.receive(
        HttpResponse(
            status=500, headers=(("Content-Type", "text/plain"),), body=body.encode()
        ),
        now=NOW + 80,
    )
    assert isinstance(result, HttpError)
    assert result.snippet == "e" * 190 + " " + MASK


def test_a_transport_error_is_our_words_and_left_alone() -> None:
    session = session_with_refresh_token(FLOWS[0])
    refresh(session)
    error = TransportError(reason=f"connection reset by {RT}", retryable=True)
    session.receive_failure(error, now=NOW + 80)
    assert session.stats.last_error is error


def test_an_error_type_of_someone_else_is_left_alone() -> None:
    class Custom(TokenError):
        pass

    error = Custom("whatever")
    assert redact(error, ["a-long-secret"]) is error
    oauth = OAuthError(error="x", status=400)
    assert redact(oauth, []) is oauth


# -- the Basic value, in the shapes a server echoes it ------------------------


@PROPERTY
@given(
    secret=SECRETS,
    # Whole echoes of "id:secret": a part of it may be only the client id.
    encoding=st.sampled_from([e for e in ENCODINGS if not e.endswith("-part")]),
)
def test_property_the_basic_value_we_sent_is_masked_in_any_echo(
    secret: str, encoding: str
) -> None:
    flow = ClientCredentials(
        token_url=URL,
        client_id="app id",
        client_secret=secret,
        auth="client_secret_basic",
    )
    value = flow.token_request().header("Authorization")
    assert value is not None
    blob = value.removeprefix("Basic ")
    decoded = base64.b64decode(blob).decode()
    assume(secret not in "got Authorization: ")
    for echo in (value, blob, blob.rstrip("="), decoded, ENCODINGS[encoding](decoded)):
        session = TokenSession(flow)
        session.next_step(NOW)
        result = session.receive(
            HttpResponse(
                status=401,
                headers=(("Content-Type", "text/plain"),),
                body=f"got Authorization: {echo}".encode("utf-8", "surrogatepass"),
            ),
            now=NOW,
        )
        assert isinstance(result, HttpError)
        assert echo not in result.snippet
        assert secret not in result.snippet
        assert blob.rstrip("=") not in result.snippet


# -- a 2xx shows its shape, never a string value ------------------------------

LEAVES = st.text(
    st.characters(exclude_categories=["Cs"]), min_size=4, max_size=30
).filter(lambda s: s.strip() != "")
NAMES = st.text(
    st.characters(codec="ascii", categories=["L", "N"]), min_size=1, max_size=12
)


def bodies(leaf: st.SearchStrategy[str]) -> st.SearchStrategy[object]:
    return st.recursive(
        leaf | st.integers() | st.booleans() | st.none(),
        lambda children: (
            st.lists(children, max_size=3)
            | st.dictionaries(NAMES, children, max_size=3)
        ),
        max_leaves=8,
    )


def string_leaves(value: object) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from string_leaves(item)
    elif isinstance(value, list):
        for item in value:
            yield from string_leaves(item)


def names_in(value: object) -> Iterator[str]:
    if isinstance(value, dict):
        for key, item in value.items():
            yield key
            yield from names_in(item)
    elif isinstance(value, list):
        for item in value:
            yield from names_in(item)


def xml(value: object, name: str = "root") -> str:
    if isinstance(value, dict):
        inner = "".join(xml(item, key) for key, item in value.items())
    elif isinstance(value, list):
        inner = "".join(xml(item, "item") for item in value)
    else:
        inner = html.escape(str(value))
    return f'<{name} kind="{html.escape(str(value))[:20]}">{inner}</{name}>'


def python_repr(value: object) -> str:
    return repr(value)


@PROPERTY
@given(
    value=bodies(LEAVES),
    render=st.sampled_from(["json", "xml", "python", "form", "json-in-text"]),
    status=st.sampled_from([200, 201, 203]),
)
def test_property_a_2xx_snippet_shows_no_string_value(
    value: object, render: str, status: int
) -> None:
    leaves = list(string_leaves(value))
    if render == "form":
        fields = value if isinstance(value, dict) else {"data": value}
        body = "&".join(f"{k}={quote_plus(str(v))}" for k, v in fields.items())
        leaves = [str(v) for v in fields.values()]
        content_type = "application/x-www-form-urlencoded"
    elif render == "xml":
        body = xml(value)
        content_type = "application/xml"
    elif render == "python":
        body = python_repr({"data": value})
        content_type = "text/plain"
    elif render == "json-in-text":
        body = "token follows: " + json.dumps(value)
        content_type = "text/plain"
    else:
        body = json.dumps({"data": value, "accessToken": "live-token-value"})
        leaves.append("live-token-value")
        content_type = "application/json"
    names = set(names_in(value)) | {"data", "root", "item", "kind", "accessToken"}
    shown_words = {"str", "int", "true", "false", "null", "float", "list", "dict"}
    leaves = [
        leaf
        for leaf in leaves
        if len(leaf) >= 4
        and not any(leaf in n or n in leaf for n in names | shown_words)
    ]
    result = ClientCredentials(
        token_url=URL, client_id="app-id", client_secret="cs-SECRET-1"
    ).parse(
        HttpResponse(
            status=status,
            headers=(("Content-Type", content_type),),
            body=body.encode("utf-8"),
        ),
        now=NOW,
    )
    if isinstance(result, Token):
        return  # a form with an access_token member, as it happens
    assert isinstance(result, MalformedResponse | OAuthError)
    if isinstance(result, MalformedResponse):
        for leaf in leaves:
            assert leaf not in result.snippet, (render, leaf, result.snippet)
            # (Not the repr as a whole: a leaf may be a piece of our own
            # words, "Malf" of MalformedResponse.)
            assert result.content_type is None or leaf not in result.content_type


def snippet_of_2xx(body: bytes, content_type: str) -> str:
    """The snippet of the MalformedResponse a 200 with *body* parses to."""
    result = ClientCredentials(
        token_url=URL, client_id="app-id", client_secret="cs-SECRET-1"
    ).parse(
        HttpResponse(status=200, headers=(("Content-Type", content_type),), body=body),
        now=NOW,
    )
    assert isinstance(result, MalformedResponse)
    return result.snippet


@pytest.mark.parametrize(
    ("body", "content_type", "snippet"),
    [
        (
            b'{"data":{"token":"eyJ.live","expires":"3600"}}',
            "application/json",
            '{"data": {"token": str(8), "expires": str(4)}}',
        ),
        (
            b'{"accessToken":"at-123456","expiresIn":3600,"ok":true,"x":null}',
            "application/json",
            '{"accessToken": str(9), "expiresIn": int, "ok": true, "x": null}',
        ),
        (
            b"<r><token>abc123</token><n a='secret'/></r>",
            "application/xml",
            "<r><token>str(6)</token><n></r>",
        ),
        (
            b"<?xml version='1.0'?><!-- t --><r>x</r>",
            "application/xml",
            "<?...?><!...><r>str(1)</r>",
        ),
        (
            b"{'access_token': 'abc', 'n': 1}",
            "text/plain",
            "{'str(12)': 'str(3)', 'str(1)': str(1)}",
        ),
        (
            b'{"a":' + b'{"b":' * 10 + b"1" + b"}" * 11,
            "application/json",
            '{"a": {"b": {"b": {"b": {"b": {"b": ...}}}}}}',  # six levels, then ...
        ),
    ],
    ids=["nested-token", "camel-case", "xml", "xml-prolog", "python-dict", "deep"],
)
def test_a_2xx_snippet_is_the_shape_of_the_body(
    body: bytes, content_type: str, snippet: str
) -> None:
    assert snippet_of_2xx(body, content_type) == snippet


@pytest.mark.parametrize(
    ("body", "content_type", "snippet"),
    [
        (
            json.dumps({"eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln": 1}).encode(),
            "application/json",
            '{"name(41)": int}',
        ),
        (
            b'{"tokens": {"8f14e45fceea167a5a36dedd4bea2543": {"expires_in": 3}}}',
            "application/json",
            '{"tokens": {"name(32)": {"expires_in": int}}}',
        ),
        (
            b"8f14e45fceea167a5a36dedd4bea2543",
            "application/x-www-form-urlencoded",
            "name(32)=str(0)",
        ),
        (
            b"<r><t_8f14e45fceea167a5a36dedd4bea2543/></r>",
            "application/xml",
            "<r><name(34)></r>",
        ),
        (
            b'{"gho_' + b"Zx9" * 30 + b'": "x"}',
            "application/json",
            '{"name(94)": str(1)}',
        ),
    ],
    ids=["jwt", "hex-key", "bare-form-body", "xml-tag", "long"],
)
def test_a_2xx_snippet_shows_a_name_that_could_be_a_token_as_its_length(
    body: bytes, content_type: str, snippet: str
) -> None:
    # Names are shown because they say what the body is ("accessToken"), but
    # a name that is not a word (a hex or base64 run, a JWT) could be the
    # token itself used as a key: its length only.
    assert snippet_of_2xx(body, content_type) == snippet


def test_a_long_2xx_shape_is_cut_to_200_characters() -> None:
    body = json.dumps({f"member{i}": ["v"] * 50 for i in range(20)}).encode()
    result = ClientCredentials(
        token_url=URL, client_id="app-id", client_secret="cs-SECRET-1"
    ).parse(HttpResponse(status=200, body=body), now=NOW)
    assert isinstance(result, MalformedResponse)
    assert len(result.snippet) == 200
    assert result.snippet.startswith('{"member0": [str(1), str(1)')


# -- short secrets withhold; our own words are never masked --------------------


@pytest.mark.parametrize("secret", ["k", "net", "failure", "1234567"])
def test_a_short_secret_withholds_the_server_text_and_spares_our_words(
    secret: str,
) -> None:
    flow = ApiKeyExchange(token_url=URL, api_key=secret)
    session = TokenSession(flow)
    session.next_step(NOW)
    body = {"error": "invalid_client", "error_description": f"network key {secret}"}
    result = session.receive(
        HttpResponse(status=401, body=json.dumps(body).encode()), now=NOW
    )
    assert isinstance(result, OAuthError)
    assert result.description == WITHHELD
    assert result.error == "invalid_client"  # a registered code, kept
    assert (
        str(result) == f"token endpoint answered invalid_client (HTTP 401): {WITHHELD}"
    )


def test_a_registered_code_that_is_the_secret_is_masked() -> None:
    flow = ApiKeyExchange(token_url=URL, api_key="slow_down")
    session = TokenSession(flow)
    session.next_step(NOW)
    result = session.receive(
        HttpResponse(status=400, body=b'{"error": "slow_down"}'), now=NOW
    )
    assert isinstance(result, OAuthError)
    assert result.error == MASK
    assert not result.retryable  # an unknown code: the safe reading


def test_a_redirect_says_where_it_points_and_is_not_followed() -> None:
    flow = ClientCredentials(
        token_url=URL, client_id="app-id", client_secret="cs-SECRET-1"
    )
    result = flow.parse(
        HttpResponse(
            status=301,
            headers=(("Location", URL + "/?client_secret=cs-SECRET-1"),),
        ),
        now=NOW,
    )
    assert isinstance(result, HttpError)
    assert result.location == URL + "/?client_secret=***"
    assert str(result) == (
        "token endpoint answered HTTP 301 (no content type): a redirect to "
        f"{URL}/?client_secret=***, not followed (a token request never is); if "
        "that is the token endpoint, use it as the token URL"
    )
    assert not result.retryable


# -- the decoding, case by case -------------------------------------------------


@pytest.mark.parametrize(
    ("text", "secret", "masked"),
    [
        ("a \\u0041\\udc00bcdefgh z", "A\udc00bcdefgh", "a *** z"),
        ("a \\ud83d\\ude00-secret z", "\U0001f600-secret", "a *** z"),
        ("a caf%E9-secret z", "café-secret", "a *** z"),  # Latin-1 bytes
        ("a caf%C3%A9-secret z", "café-secret", "a *** z"),
        ("a %E2%82-secret z", "\xe2\x82-secret", "a *** z"),  # a cut UTF-8 run
        ("a x&amp-secret z", "x&-secret", "a *** z"),  # legacy, no semicolon
        ("a x&hellip;-secret z", "x\u2026-secret", "a *** z"),
        ("a x&nosuch;-secret z", "x&nosuch;-secret", "a *** z"),  # kept as is
        ("a x&#x110000;-secret z", "x&#x110000;-secret", "a *** z"),  # past Unicode
        ("a x&NotNestedLessLess;-secret z", "x\u2aa1\u0338-secret", "a *** z"),
        ("a Caf\u00c3\u00a9-secret z", "Café-secret", "a *** z"),  # UTF-8 as Latin-1
        ("a s\x00e\x00c\x00r\x00e\x00t\x00-\x001\x00 z", "secret-1", "a *** z"),
    ],
    ids=[
        "json-low-surrogate-after-a-bmp-escape",
        "json-surrogate-pair",
        "percent-latin-1",
        "percent-utf-8",
        "percent-cut-utf-8",
        "html-legacy-entity",
        "html-named",
        "html-unknown-entity",
        "html-past-unicode",
        "html-entity-of-two-characters",
        "utf-8-read-as-latin-1",
        "utf-16-read-as-8-bit",
    ],
)
def test_mask_secrets_decodes_each_escape(text: str, secret: str, masked: str) -> None:
    assert mask_secrets(text, [secret]) == masked


# -- masking never raises, and its views map back exactly -------------------------

ESCAPE_HEAVY = st.text(
    st.sampled_from(
        [
            "%",
            "2",
            "5",
            "A",
            "f",
            "\\",
            "u",
            "d",
            "8",
            "0",
            "c",
            "&",
            "#",
            "x",
            ";",
            "=",
            "\n",
            "\r",
            "+",
            " ",
            "a",
            "m",
            "p",
            "\u200b",
            "\xa0",
            "é",
            "𐀀",
        ]
    )
    | st.characters(),
    max_size=200,
)


@PROPERTY
@given(text=ESCAPE_HEAVY, secrets=st.lists(st.text(max_size=12), max_size=3))
def test_property_masking_never_raises(text: str, secrets: list[str]) -> None:
    for truncated in (False, True):
        masked = mask_secrets(text, secrets, truncated=truncated)
        assert isinstance(masked, str)


@PROPERTY
@given(text=ESCAPE_HEAVY)
def test_property_every_view_maps_back_into_the_text(text: str) -> None:
    from sansio_auth._views import views

    for view in views(text):
        assert len(view.starts) == len(view.ends) == len(view.text)
        for start, end in zip(view.starts, view.ends, strict=True):
            assert 0 <= start < end <= len(text)
        assert list(view.starts) == sorted(view.starts)


def test_a_charset_a_server_names_never_makes_the_parse_raise() -> None:
    # The server does not choose the codec we run: "undefined" raised
    # UnicodeError, "punycode" another; any name Python knows is tried here.
    import encodings.aliases

    names = set(encodings.aliases.aliases) | set(encodings.aliases.aliases.values())
    bodies = [b"<h1>oops</h1>", b"\xff\xfe\x00abc\\x", b"+AGEA-x", b"\x00" * 3]
    for name in [*sorted(names), "no-such-codec", "utf-16", "x" * 300]:
        for status in (200, 500):
            for body in bodies:
                result = parse_token_response(
                    HttpResponse(
                        status=status,
                        headers=(("Content-Type", f"text/html; charset={name}"),),
                        body=body,
                    ),
                    now=NOW,
                )
                assert isinstance(result, TokenError)


# -- the review's classes, case by case (issue 10 review) -------------------------


class OwnWayFlow:
    """A flow a user wrote: it parses errors its own way, cutting server
    text to 200 characters without masking anything."""

    def __init__(self, token_url: str) -> None:
        self.inner = ClientCredentials(
            token_url=token_url, client_id="app-id", client_secret="cs-SECRET-OWN-1"
        )

    def token_request(self) -> HttpRequest:
        return self.inner.token_request()

    def refresh_request(self, refresh_token: str) -> HttpRequest:
        return self.inner.refresh_request(refresh_token)

    def parse(self, response: HttpResponse, *, now: float) -> Token | TokenError:
        # Its own way: what the library's parser would call another kind of
        # error, except for a redirect, which it reads the same way.
        text = response.body.decode("utf-8", "replace")
        if response.status == 500:
            return MalformedResponse(
                reason="ours", status=500, content_type="x", snippet=text[:200]
            )
        if response.status == 418:
            return OAuthError(error="teapot", description=text[:200], status=418)
        return HttpError(
            status=response.status,
            content_type=response.header("content-type"),
            snippet=text[:200],
            location=response.header("location"),
        )


@pytest.mark.parametrize("status", [299, 418, 500, 302])
def test_a_flow_that_parses_its_own_way_is_redacted_by_the_session(
    status: int,
) -> None:
    flow = OwnWayFlow(URL)
    session = TokenSession(flow)
    session.next_step(NOW)
    body = "e" * 190 + " cs-SECRET-OWN-1 and more"
    result = session.receive(
        HttpResponse(
            status=status,
            headers=(("Location", "https://x/?k=cs-SECRET-OWN-1"),),
            body=body.encode(),
        ),
        now=NOW,
    )
    assert isinstance(result, TokenError)
    for text in everything_shown(session, result):
        assert "cs-SECRET" not in text
        assert "cs-S" not in text.replace("cs-SECRET-OWN-1", "")


def test_a_start_of_4_to_7_characters_left_by_a_cut_is_masked() -> None:
    assert mask_secrets("bad key abcde", ["abcdefghijkl"], truncated=True) == (
        "bad key ***"
    )
    assert mask_secrets("bad key abcde", ["abcdefghijkl"]) == "bad key abcde"
    # An escape the cut halved goes with it.
    assert mask_secrets("bad key %61bcd%6", ["abcdefghijkl"], truncated=True) == (
        "bad key ***"
    )


def test_a_short_secret_a_cut_left_the_start_of_withholds() -> None:
    # "a pass***" would tell that the key "words" starts with "word".
    assert mask_secrets("a password", ["words"], truncated=True) == WITHHELD


def test_a_secret_that_matches_implausibly_often_withholds() -> None:
    assert mask_secrets("ab" * 3000, ["abababababab"]) == WITHHELD


def test_a_run_of_a_secret_that_matches_implausibly_often_withholds() -> None:
    # Never the whole secret, but a run of 8 of its characters, a thousand
    # times and more: as hostile as the whole one repeated.
    assert mask_secrets("abcdefgh" * 1024, ["abcdefghXY"]) == WITHHELD


def test_a_character_the_read_limit_halved_is_left_out() -> None:
    # Cut inside "é": the rest is still UTF-8, not Latin-1 mojibake.
    from sansio_auth._mask import READ_FOR_ERRORS, body_text

    body = b"x" * (READ_FOR_ERRORS - 1) + "é and more".encode()
    text, cut = body_text(body, "text/plain")
    assert cut
    assert text == "x" * (READ_FOR_ERRORS - 1)


@pytest.mark.parametrize(
    ("headers", "secrets"),
    [
        ((("X-Request-Id", "0123456789abcdef"),), {"0123456789abcdef"}),
        ((("X-Api-Version", "2"),), set()),  # short, and no credential's name
        ((("X-Api-Key", "k2"),), {"k2"}),  # short, but a credential
    ],
    ids=["long-presumed", "short-presumed-dropped", "short-credential-kept"],
)
def test_request_secrets_tiers(
    headers: tuple[tuple[str, str], ...], secrets: set[str]
) -> None:
    request = HttpRequest(method="POST", url=URL, headers=headers, body=b"")
    assert set(request_secrets(request)) == secrets


def test_a_short_value_of_no_credential_withholds_nothing() -> None:
    # X-Api-Version: 2 and token_format=jwt are no secrets: the answer's
    # description is shown as it is.
    flow = ClientCredentials(
        token_url=URL,
        client_id="app-id",
        client_secret="cs-SECRET-1",
        extra=(("token_format", "jwt"),),
    )
    session = TokenSession(flow)
    session.next_step(NOW)
    description = "token_format must be jwt or opaque; see API v2 docs"
    body = {"error": "invalid_request", "error_description": description}
    result = session.receive(
        HttpResponse(status=400, body=json.dumps(body).encode()), now=NOW
    )
    assert isinstance(result, OAuthError)
    assert result.description == description


@pytest.mark.parametrize(
    ("location", "shown"),
    [
        ("https://u:pw-1234@h/x", "https://***@h/x"),
        ("https:\\\\admin:Hunter2Pass@evil/", "https:\\\\***@evil/"),
        (" https://admin:Hunter2Pass@evil/", " https://***@evil/"),
        ("https:admin:Hunter2Pass@evil/", "https:***@evil/"),
        (
            "https://app/cb#access_token=2YotnFZF&x=1",
            "https://app/cb#access_token=***&x=1",
        ),
        ("https://app/cb;access_token=2YotnFZF", "https://app/cb;access_token=***"),
        ("https://h/p?q=a@b", "https://h/p?q=a@b"),
        ("https://svc:Pa@ssw0rd-2024@h/", "https://***@h/"),  # the last "@"
    ],
)
def test_a_location_shows_no_user_info_and_no_token(location: str, shown: str) -> None:
    result = parse_token_response(
        HttpResponse(status=302, headers=(("Location", location),)), now=NOW
    )
    assert isinstance(result, HttpError)
    assert result.location == shown


@pytest.mark.parametrize(
    "text",
    [
        "{'access_token': 'SEKRET-value-1', 'expires_in': 3600}",
        "<access_token>SEKRET-value-1</access_token>",
        "access_token: SEKRET-value-1",
        '"access_token" => "SEKRET-value-1"',
        "accessToken=SEKRET-value-1",
        "refresh_token = SEKRET-value-1",
    ],
    ids=["python", "xml", "yaml", "php", "camel-case", "spaced"],
)
def test_a_token_member_in_any_syntax_is_masked(text: str) -> None:
    assert "SEKRET" not in mask_secrets(text)


def test_bounded_work_on_hostile_bodies() -> None:
    # Each of these took from 8 s to minutes before the review: the parse
    # runs on the caller's thread, with no timeout. The bound here is the
    # rule's own (a parse is plain CPU work that must end), and generous.
    import subprocess
    import sys

    code = """
import json
from sansio_auth import HttpResponse, parse_token_response
bodies = [
    (400, json.dumps({"error": "x", "error_description": "%41 " * 60,
                      "access_token": "A" * 1_000_000}).encode(), None),
    (400, json.dumps({"error": "a" * 100_000, "access_token": "a" * 50_000}).encode(),
     None),
    (200, b"<?" * 32_768, "application/xml"),
    (200, b"<!--" * 16_384, "application/xml"),
    (500, b"%41" * 300_000, "text/plain"),
    (500, b"&#65;" * 200_000, "text/html"),
    (500, b"\\\\u0041" * 150_000, "text/plain"),
]
for status, body, content_type in bodies:
    headers = () if content_type is None else (("Content-Type", content_type),)
    parse_token_response(HttpResponse(status=status, headers=headers, body=body),
                         now=0.0, secrets=["A" * 40, "cs-SECRET-1"])
print("done")
"""
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120
    )
    assert out.stdout.strip() == "done", out.stderr


# -- what logs record carries nothing of a credential (issue 10.6, by class) -----

CREDENTIAL_HEADERS = frozenset({"authorization", "x-api-key"})


def _logged(request: HttpRequest) -> tuple[object, ...]:
    # What an access log or our own log lines keep of a request: the method,
    # the URL, and every header but the ones that carry the credential.
    headers = tuple(
        (name, value)
        for name, value in request.headers
        if name.lower() not in CREDENTIAL_HEADERS
    )
    return request.method, request.redacted_url(), headers


@PROPERTY
@given(one=SECRETS, other=SECRETS)
def test_property_nothing_a_log_keeps_depends_on_a_credential(
    one: str, other: str
) -> None:
    # The TeamSystem boundary was a hash of content holding the API key, in
    # Content-Type: a guessable key could be checked against an access log.
    # For every flow, two credentials give requests that differ only in the
    # credential's own header and in the body.
    assume(one != other)
    assume(all("--sansio-auth-form-boundary" not in s for s in (one, other)))
    printable = all(s.isascii() and s.isprintable() for s in (one, other))
    builders: list[Callable[[str], Any]] = [
        lambda s: ClientCredentials(token_url=URL, client_id="app-id", client_secret=s),
        lambda s: ClientCredentials(
            token_url=URL,
            client_id="app-id",
            client_secret=s,
            auth="client_secret_basic",
        ),
        lambda s: PasswordGrant(token_url=URL, username="u", password=s),
        lambda s: teamsystem(username="admin", scope="s", token=s),
    ]
    if printable:
        builders.append(lambda s: smartway(s))
    for build in builders:
        first, second = build(one), build(other)
        assert _logged(first.token_request()) == _logged(second.token_request())
        if first.refresh_request(RT) is not None:
            assert _logged(first.refresh_request(RT)) == _logged(
                second.refresh_request(RT)
            )


def test_a_run_of_spaces_in_a_secret_masks_no_spaces_of_the_text() -> None:
    # A secret holding eight spaces in a row: the run of them found in the
    # text is only spaces, and masks nothing.
    secret = "key" + " " * 8 + "value"
    assert mask_secrets("a" + " " * 10 + "b", [secret]) == "a" + " " * 10 + "b"
    assert mask_secrets(f"x {secret} y", [secret]) == "x *** y"


# -- the second review's classes --------------------------------------------------


@pytest.mark.parametrize(
    "hostile",
    [
        "bad client\n2031-01-01 WARNING sansio_auth: all good",
        "\x1b]52;c;ZWNobyBwd25lZA==\x07\x1b[2J",
        "right-to-left \u202eoverride",
        "line\u2028separator",
    ],
    ids=["forged-log-line", "terminal-escapes", "bidi-override", "line-separator"],
)
def test_server_text_is_shown_never_obeyed(hostile: str) -> None:
    # A description, a snippet, a content type: escapes, not controls, so
    # that a log line cannot be forged nor a terminal rewritten.
    body = {"error": "invalid_client", "error_description": hostile}
    results = [
        parse_token_response(
            HttpResponse(status=400, body=json.dumps(body).encode()), now=NOW
        ),
        parse_token_response(
            HttpResponse(
                status=500,
                headers=(
                    ("Content-Type", "text/plain; x=" + hostile.replace("\n", "")),
                ),
                body=hostile.encode(),
            ),
            now=NOW,
        ),
    ]
    for result in results:
        assert isinstance(result, TokenError)
        for text in [str(result), *(str(v) for v in attrs.asdict(result).values())]:  # type: ignore[arg-type]
            assert text.isprintable(), text


def test_a_token_whose_scope_or_type_echoes_a_secret_is_refused() -> None:
    flow = ClientCredentials(
        token_url=URL, client_id="app-id", client_secret="cs-SECRET-0001"
    )
    for field in ("scope", "token_type"):
        session = TokenSession(flow)
        session.next_step(NOW)
        body = {"access_token": "at-0123456789", field: "cs-SECRET-0001"}
        result = session.receive(
            HttpResponse(status=200, body=json.dumps(body).encode()), now=NOW
        )
        assert isinstance(result, MalformedResponse)
        assert result.reason == f"{field} holds a credential of the request"
        assert session.token is None
        for text in everything_shown(session, result):
            assert "cs-SECRET" not in text
    # A scope that merely shares letters with a short secret is no echo.
    short = ClientCredentials(token_url=URL, client_id="app-id", client_secret="read")
    session = TokenSession(short)
    session.next_step(NOW)
    body = {"access_token": "at-0123456789", "scope": "read write"}
    token = session.receive(
        HttpResponse(status=200, body=json.dumps(body).encode()), now=NOW
    )
    assert isinstance(token, Token)


class VendorCodes(OwnWayFlow):
    """A vendor flow that reads the vendor's own codes: "busy" is
    temporarily_unavailable, "refresh_token_expired" is invalid_grant."""

    def parse(self, response: HttpResponse, *, now: float) -> Token | TokenError:
        result = self.inner.parse(response, now=now)
        if isinstance(result, OAuthError):
            code = {"busy": "temporarily_unavailable"}.get(result.error, result.error)
            code = {"refresh_token_expired": "invalid_grant"}.get(code, code)
            return attrs.evolve(result, error=code)
        return result


def test_the_session_keeps_the_flows_reading_of_an_error_code() -> None:
    # The session parses the answer again to mask it with every secret; the
    # decision (what the code means) stays the flow's.
    flow = VendorCodes(URL)
    session = TokenSession(flow)
    session.next_step(NOW)
    result = session.receive(
        HttpResponse(status=503, body=b'{"error": "busy"}'), now=NOW
    )
    assert isinstance(result, OAuthError)
    assert result.error == "temporarily_unavailable"
    assert result.retryable


def test_any_run_of_8_characters_of_a_long_secret_is_masked() -> None:
    # Longer than 256 characters: every run of 8 is still looked for.
    secret = "".join(chr(0x41 + (i * 7) % 26) + str(i % 10) for i in range(200))
    for start, length in ((0, 8), (0, 30), (123, 8), (250, 47), (392, 8)):
        piece = secret[start : start + length]
        assert piece not in mask_secrets(f"echo {piece} end", [secret]), (start, length)


def test_a_text_built_to_cost_is_withheld() -> None:
    # Over 256 base64 or hex runs to decode (in all the views of one text):
    # withheld rather than spend more on it.
    runs = " ".join(f"QUJDREVGR0hJSktM{i:04d}" for i in range(300))
    assert mask_secrets(runs, ["cs-SECRET-0001"]) == WITHHELD
    # And a token field built so is taken to hold a secret: not handed out.
    from sansio_auth._mask import holds_secret

    assert holds_secret(runs, ["cs-SECRET-0001"])
    assert not holds_secret("read write", ["cs-SECRET-0001"])
