"""``send()`` of every adapter against real servers on 127.0.0.1.

One table of cases (STYLE.md point 10) runs through each adapter: urllib
(sync), trio, and anyio on its asyncio and trio backends. A case says what
the server does (``http_server.Reply``, or a port that refuses, a listener
that never speaks, a name that does not resolve), which request goes out
(a generic flow or a vendor's, built against the server's URL) and what must
come back: a response checked byte for byte against what the server
received, or a ``TransportError`` whose reason says what happened and holds
no credential.

A few behaviours are the urllib adapter's alone (proxies from the
environment, urllib's own default headers); they follow the table. The
property tests of the transport rules (reasons in our own words, loopback
never proxied, bad arguments refused, the adapters agreeing on framing) are
in test_transport_rules.py.
"""

from __future__ import annotations

import contextlib
import gc
import json
import socket
import ssl
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from typing import Any, Literal
from urllib.parse import urlsplit

import attrs
import pytest
import trustme
from http_server import Received, Reply, Server, TunnelProxy, serving, token_reply

from sansio_auth import (
    USER_AGENT,
    ApiKeyExchange,
    ClientCredentials,
    Flow,
    HttpError,
    HttpRequest,
    HttpResponse,
    OAuthError,
    PasswordGrant,
    Token,
    TransportError,
)
from sansio_auth.adapters import anyio as anyio_adapter
from sansio_auth.adapters import trio as trio_adapter
from sansio_auth.adapters import urllib as urllib_adapter
from sansio_auth.providers import (
    smartconnect,
    smartdocumentor,
    smartway,
    teamsystem,
)

NOW = 1_700_000_000.0
ACCESS = "at-from-the-test-server"
# Distinctive credentials: no reason, str or repr of a TransportError may hold
# any of them (nor the Authorization header or body that carry them).
CLIENT_ID = "client-7c1f"
SECRET = "cs-SECRET-9f8e7d6c"
PASSWORD = "pw-PASSWORD-1a2b3c4d"
API_KEY = "ak-APIKEY-5d6e7f80"
REFRESH_TOKEN = "rt-REFRESH-0c1d2e3f"
TS_KEY = "ts-KEY-44aa55bb"
CREDENTIALS = (SECRET, PASSWORD, API_KEY, REFRESH_TOKEN, TS_KEY)

CA = trustme.CA()
TIMEOUT = 5.0
"""For exchanges that should finish at once: only a hung test waits it out."""
SHORT = 0.5
"""For exchanges that must time out."""
MARGIN = 3.0
"""The issue asks that ``timeout`` bound the whole exchange. We assert that
an exchange which must time out ends within ``timeout + MARGIN``: generous,
so a loaded 2-core machine does not fail a right adapter, and still far
below what an unbounded read would take (the servers hang for 60 s)."""
MIB = 1_048_576


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    """anyio tests run on both of its backends."""
    backend: str = request.param
    return backend


@pytest.fixture(autouse=True)
def _hermetic(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No proxy from the caller's environment, and leaks blamed on their test.

    An unclosed socket warns (ResourceWarning, an error here) when it is
    collected; collecting after each test makes the test that leaked it fail,
    not whichever test the collector happens to run in. Freezing what exists
    before the test keeps that collection down to the test's own objects.
    """
    for name in ("http_proxy", "https_proxy", "all_proxy", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.upper(), raising=False)
    gc.freeze()
    try:
        yield
        gc.collect()
    finally:
        gc.unfreeze()


# -- requests: every generic flow and every vendor's wire format ------------

Made = tuple[Flow, HttpRequest]
"""A flow and the request of it that goes out (its token or refresh request)."""


def client_credentials_post(origin: str) -> Made:
    flow = ClientCredentials(
        token_url=origin + "/oauth2/token?tenant=acme",
        client_id=CLIENT_ID,
        client_secret=SECRET,
        scope="read write",
    )
    return flow, flow.token_request()


def client_credentials_basic(origin: str) -> Made:
    flow = ClientCredentials(
        token_url=origin + "/oauth2/token",
        client_id=CLIENT_ID,
        client_secret=SECRET,
        auth="client_secret_basic",
        extra=(("audience", "https://api.example"),),
    )
    return flow, flow.token_request()


def password_grant(origin: str) -> Made:
    flow = PasswordGrant(
        token_url=origin + "/token",
        username="ada@example.com",
        password=PASSWORD,
        client_id=CLIENT_ID,
        client_secret=SECRET,
        auth="client_secret_basic",
    )
    return flow, flow.token_request()


def api_key_exchange(origin: str) -> Made:
    flow = ApiKeyExchange(token_url=origin + "/auth/exchange", api_key=API_KEY)
    return flow, flow.token_request()


def refresh(origin: str) -> Made:
    flow = ClientCredentials(
        token_url=origin + "/oauth2/token",
        client_id=CLIENT_ID,
        client_secret=SECRET,
    )
    return flow, flow.refresh_request(REFRESH_TOKEN)


def smartway_flow(origin: str) -> Made:
    flow = smartway(API_KEY, base_url=origin)
    return flow, flow.token_request()


def smartconnect_flow(origin: str) -> Made:
    # SmartConnect's URL is fixed per region: send the vendor's exact request
    # to the local server through an equivalent PasswordGrant.
    vendor = smartconnect(
        region="EU",
        username="ada@example.com",
        password=PASSWORD,
        client_id=CLIENT_ID,
        client_secret=SECRET,
    )
    flow = PasswordGrant(
        token_url=origin + "/token",
        username="ada@example.com",
        password=PASSWORD,
        client_id=CLIENT_ID,
        client_secret=SECRET,
        auth="client_secret_post",
    )
    request = flow.token_request()
    assert attrs.evolve(vendor.token_request(), url=request.url) == request
    return flow, request


def teamsystem_flow(origin: str) -> Made:
    flow = teamsystem(
        username="admin_webapicorso",
        scope="webapicorso_alywebapicorso",
        token=TS_KEY,
        base_url=origin,
    )
    return flow, flow.token_request()


def teamsystem_refresh(origin: str) -> Made:
    flow = teamsystem(
        username="admin_webapicorso",
        scope="webapicorso_alywebapicorso",
        token=TS_KEY,
        base_url=origin,
    )
    return flow, flow.refresh_request(REFRESH_TOKEN)


def smartdocumentor_flow(origin: str) -> Made:
    flow = smartdocumentor(client_id=CLIENT_ID, client_secret=SECRET, base_url=origin)
    return flow, flow.token_request()


FLOWS: dict[str, Callable[[str], Made]] = {
    "client_credentials_post": client_credentials_post,
    "client_credentials_basic": client_credentials_basic,
    "password_grant": password_grant,
    "api_key_exchange": api_key_exchange,
    "refresh": refresh,
    "smartway": smartway_flow,
    "smartconnect": smartconnect_flow,
    "teamsystem": teamsystem_flow,
    "teamsystem_refresh": teamsystem_refresh,
    "smartdocumentor": smartdocumentor_flow,
}


# -- running a case ---------------------------------------------------------

Origin = Literal["http", "https", "refused", "silent", "dns"]


@attrs.define
class Outcome:
    """One exchange: what was sent, where, and what came back."""

    server: Server | None
    flow: Flow
    request: HttpRequest
    kwargs: dict[str, Any]
    result: HttpResponse | TransportError | None = None
    elapsed: float = 0.0

    def call(self, send: Callable[..., HttpResponse]) -> None:
        start = time.monotonic()
        try:
            self.result = send(self.request, **self.kwargs)
        except TransportError as exc:
            self.result = exc
        finally:
            self.elapsed = time.monotonic() - start

    async def acall(self, send: Callable[..., Awaitable[HttpResponse]]) -> None:
        start = time.monotonic()
        try:
            self.result = await send(self.request, **self.kwargs)
        except TransportError as exc:
            self.result = exc
        finally:
            self.elapsed = time.monotonic() - start

    def response(self) -> HttpResponse:
        assert isinstance(self.result, HttpResponse), self.result
        return self.result

    def error(self) -> TransportError:
        assert isinstance(self.result, TransportError), self.result
        return self.result

    def received(self) -> list[Received]:
        assert self.server is not None
        return self.server.requests


Check = Callable[[Outcome], None]


@attrs.frozen(kw_only=True)
class Case:
    id: str
    replies: Sequence[Reply] = (token_reply(ACCESS),)
    make: Callable[[str], Made] = password_grant
    origin: Origin = "http"
    trust: bool = False
    """Pass an ``ssl_context`` that trusts the test CA."""
    timeout: float = TIMEOUT
    max_response_bytes: int | None = None
    """None: the adapter's default (1 MiB)."""
    check: Check


@contextlib.contextmanager
def refusing_port() -> Iterator[int]:
    """A port bound but not listening: connecting is refused, and the bound
    socket keeps anything else from taking the port meanwhile."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield sock.getsockname()[1]


@contextlib.contextmanager
def silent_port() -> Iterator[int]:
    """A port that accepts connections (the kernel's backlog) and never
    says a word: a TLS handshake there waits forever."""
    with socket.create_server(("127.0.0.1", 0)) as sock:
        yield sock.getsockname()[1]


def trusting_context() -> ssl.SSLContext:
    context = ssl.create_default_context()
    CA.configure_trust(context)
    return context


@contextlib.contextmanager
def staged(case: Case) -> Iterator[Outcome]:
    """Start what the case talks to, and check the outcome once it is down."""
    with contextlib.ExitStack() as stack:
        server: Server | None = None
        if case.origin in ("http", "https"):
            ca = CA if case.origin == "https" else None
            server = stack.enter_context(serving(case.replies, ca=ca))
            origin = server.url("")
        elif case.origin == "refused":
            origin = f"http://127.0.0.1:{stack.enter_context(refusing_port())}"
        elif case.origin == "silent":
            origin = f"https://127.0.0.1:{stack.enter_context(silent_port())}"
        else:  # RFC 6761: .invalid never resolves
            origin = "https://sansio-auth-test.invalid"
        flow, request = case.make(origin)
        kwargs: dict[str, Any] = {"timeout": case.timeout}
        if case.trust:
            kwargs["ssl_context"] = trusting_context()
        if case.max_response_bytes is not None:
            kwargs["max_response_bytes"] = case.max_response_bytes
        outcome = Outcome(server=server, flow=flow, request=request, kwargs=kwargs)
        yield outcome
    assert outcome.result is not None
    if isinstance(outcome.result, TransportError):
        assert_no_credential(outcome.result, outcome.request)
    case.check(outcome)


def assert_no_credential(error: TransportError, request: HttpRequest) -> None:
    secret_values = [*CREDENTIALS]
    secret_values += [
        value
        for name, value in request.headers
        if name.lower() in ("authorization", "x-api-key")
    ]
    if request.body:
        secret_values.append(request.body.decode("latin-1"))
    for text in (error.reason, str(error), repr(error)):
        for value in secret_values:
            assert value not in text


# -- checks -----------------------------------------------------------------


def values(received: Received, name: str) -> list[str]:
    return [v for k, v in received.headers if k.lower() == name.lower()]


def assert_sent_exactly(outcome: Outcome) -> None:
    """The server got exactly our request, framed as the issue says."""
    assert outcome.server is not None
    [got] = outcome.received()
    sent = outcome.request
    url = urlsplit(sent.url)
    assert got.method == sent.method
    assert got.target == url.path + (f"?{url.query}" if url.query else "")
    assert got.body == sent.body
    for name, value in sent.headers:
        assert values(got, name) == [value], name
    assert values(got, "Host") == [f"127.0.0.1:{outcome.server.port}"]
    assert values(got, "Content-Length") == [str(len(sent.body))]
    assert [v.lower() for v in values(got, "Connection")] == ["close"]
    assert values(got, "Transfer-Encoding") == []
    assert values(got, "User-Agent") == [USER_AGENT]


def gets_token(outcome: Outcome) -> None:
    response = outcome.response()
    assert response.status == 200
    token = outcome.flow.parse(response, now=NOW)
    assert isinstance(token, Token), token
    assert token.access_token == ACCESS
    assert_sent_exactly(outcome)


def answers(
    status: int,
    body: bytes | None = None,
    *,
    header: tuple[str, str] | None = None,
    parsed: Callable[[object], bool] | None = None,
) -> Check:
    """The response comes back as it is, whatever its status."""

    def check(outcome: Outcome) -> None:
        response = outcome.response()
        assert response.status == status
        if body is not None:
            assert response.body == body
        if header is not None:
            assert response.header(header[0]) == header[1]
        if parsed is not None:
            assert parsed(outcome.flow.parse(response, now=NOW))
        assert len(outcome.received()) == 1
        assert outcome.server is not None
        assert outcome.server.connections == 1

    return check


def fails(
    *words: str,
    retryable: bool | None,
    within: float | None = None,
    one_of: Sequence[str] = (),
) -> Check:
    """A TransportError whose reason holds each of *words* and, if given, one
    of *one_of* (any case); as retryable as said (None: either), and ending
    *within* seconds."""

    def check(outcome: Outcome) -> None:
        error = outcome.error()
        reason = error.reason.lower()
        for word in words:
            assert word.lower() in reason, error.reason
        if one_of:
            assert any(word.lower() in reason for word in one_of), error.reason
        if retryable is not None:
            assert error.retryable is retryable
        if within is not None:
            assert outcome.elapsed < within, outcome.elapsed

    return check


def headers_are(*headers: tuple[str, str]) -> Check:
    def check(outcome: Outcome) -> None:
        assert outcome.response().headers == headers

    return check


def quotes_nothing(text: str) -> Check:
    """Neither the error nor its repr holds *text*, which the server sent."""

    def check(outcome: Outcome) -> None:
        error = outcome.error()
        assert text not in error.reason
        assert text not in repr(error)

    return check


def both(*checks: Check) -> Check:
    def check(outcome: Outcome) -> None:
        for each in checks:
            each(outcome)

    return check


def nothing_received(outcome: Outcome) -> None:
    assert outcome.received() == []


def is_oauth_error(value: object) -> bool:
    return isinstance(value, OAuthError) and value.error == "invalid_client"


def is_retryable_http_error(value: object) -> bool:
    return isinstance(value, HttpError) and value.status == 502 and value.retryable


# -- the table --------------------------------------------------------------

TOKEN_JSON = json.dumps({"access_token": ACCESS, "token_type": "Bearer"}).encode()
OAUTH_ERROR = b'{"error": "invalid_client", "error_description": "bad secret"}'
HTML_502 = b"<html><body><h1>502 Bad Gateway</h1></body></html>"
HTML = (("Content-Type", "text/html"),)
# A token answer padded out, so that half of it is a real partial body.
BIG_TOKEN = json.dumps(
    {"access_token": ACCESS, "token_type": "Bearer", "padding": "p" * 4000}
).encode()


def raw(*lines: str, body: bytes = b"") -> Reply:
    """A reply sent verbatim: status line and headers, then *body*."""
    head = "".join(f"{line}\r\n" for line in lines) + "\r\n"
    return Reply(fault="raw", body=head.encode("latin-1") + body)


CASES = [
    # Every generic flow and every vendor's format, byte for byte.
    *(
        Case(id=f"token-{name}", make=make, check=gets_token)
        for name, make in FLOWS.items()
    ),
    Case(
        id="token-chunked",
        replies=(Reply(body=TOKEN_JSON, chunked=True),),
        check=gets_token,
    ),
    Case(
        id="token-chunked-1-byte-chunks",
        replies=(Reply(body=TOKEN_JSON, chunked=True, chunk_size=1),),
        check=gets_token,
    ),
    Case(
        id="token-http10-read-to-close",
        replies=(
            raw("HTTP/1.0 200 OK", "Content-Type: application/json", body=TOKEN_JSON),
        ),
        check=gets_token,
    ),
    Case(
        id="token-after-100-continue",
        replies=(
            raw(
                "HTTP/1.1 100 Continue",
                "",
                "HTTP/1.1 200 OK",
                "Content-Type: application/json",
                f"Content-Length: {len(TOKEN_JSON)}",
                "Connection: close",
                body=TOKEN_JSON,
            ),
        ),
        check=gets_token,
    ),
    # Interim answers (RFC 9110 §15.2) are skipped, as h11 skips them: a 103
    # Early Hints or a 102 is not the answer (http.client skips only 100).
    Case(
        id="token-after-103-early-hints",
        replies=(
            raw(
                "HTTP/1.1 103 Early Hints",
                "Link: </style.css>; rel=preload",
                "",
                "HTTP/1.1 200 OK",
                f"Content-Length: {len(TOKEN_JSON)}",
                body=TOKEN_JSON,
            ),
        ),
        check=gets_token,
    ),
    Case(
        id="token-after-102-and-103",
        replies=(
            raw(
                "HTTP/1.1 102 Processing",
                "",
                "HTTP/1.1 103 Early Hints",
                "",
                "HTTP/1.1 200 OK",
                body=TOKEN_JSON,
            ),
        ),
        check=gets_token,
    ),
    Case(
        id="only-interim-answers",
        replies=(raw("HTTP/1.1 103 Early Hints"),),
        check=fails("closed before a response", retryable=True),
    ),
    # We never ask to switch protocols: what follows a 101 is not HTTP.
    Case(
        id="unsolicited-101",
        replies=(
            raw(
                "HTTP/1.1 101 Switching Protocols",
                "Upgrade: h2c",
                "",
                "HTTP/1.1 200 OK",
                body=TOKEN_JSON,
            ),
        ),
        check=fails("malformed", "101 switching protocols", retryable=True),
    ),
    # RFC 9112 §6.3: an invalid Content-Length in a response is an
    # unrecoverable error (http.client would read on to the close).
    *(
        Case(
            id=f"content-length-{name}",
            replies=(raw("HTTP/1.1 200 OK", *lines, body=TOKEN_JSON),),
            check=fails("malformed", words, retryable=True),
        )
        for name, lines, words in (
            ("negative", ("Content-Length: -1",), "bad content-length"),
            ("not-a-number", ("Content-Length: 1e3",), "bad content-length"),
            ("plus-sign", (f"Content-Length: +{len(TOKEN_JSON)}",), "bad"),
            (
                "conflicting",
                (f"Content-Length: {len(TOKEN_JSON)}", "Content-Length: 5"),
                "conflicting content-length",
            ),
            (
                "conflicting-list",
                (f"Content-Length: {len(TOKEN_JSON)}, 5",),
                "conflicting content-length",
            ),
        )
    ),
    # Equal values are one (RFC 9110 §8.6), kept once, as h11 keeps it.
    Case(
        id="content-length-repeated-equal",
        replies=(
            raw(
                "HTTP/1.1 200 OK",
                f"Content-Length: {len(TOKEN_JSON)}",
                f"Content-Length: {len(TOKEN_JSON)}, {len(TOKEN_JSON)}",
                body=TOKEN_JSON,
            ),
        ),
        check=both(gets_token, headers_are(("Content-Length", str(len(TOKEN_JSON))))),
    ),
    *(
        Case(
            id=f"transfer-encoding-{name}",
            replies=(raw("HTTP/1.1 200 OK", *lines, body=TOKEN_JSON),),
            check=fails("malformed", "transfer-encoding", retryable=True),
        )
        for name, lines in (
            ("gzip", ("Transfer-Encoding: gzip",)),
            ("gzip-then-chunked", ("Transfer-Encoding: gzip, chunked",)),
            (
                "twice",
                ("Transfer-Encoding: chunked", "Transfer-Encoding: chunked"),
            ),
        )
    ),
    # A 4xx or 5xx is a response, not an exception.
    Case(
        id="oauth-error",
        replies=(Reply(status=400, body=OAUTH_ERROR),),
        check=answers(400, OAUTH_ERROR, parsed=is_oauth_error),
    ),
    Case(
        id="html-502",
        replies=(Reply(status=502, headers=HTML, body=HTML_502),),
        check=answers(
            502,
            HTML_502,
            header=("Content-Type", "text/html"),
            parsed=is_retryable_http_error,
        ),
    ),
    *(
        Case(
            id=f"status-{status}",
            replies=(Reply(status=status, headers=HTML, body=b"<p>no</p>"),),
            check=answers(status, b"<p>no</p>"),
        )
        for status in (401, 403, 404, 429, 500, 503)
    ),
    # A 3xx comes back as it is and is never followed: the secret is never
    # re-posted to wherever Location points (here, the same server, which
    # would have seen a second request).
    *(
        Case(
            id=f"redirect-{status}-not-followed",
            replies=(
                Reply(status=status, headers=(("Location", "/elsewhere"),)),
                token_reply(ACCESS),
            ),
            check=answers(status, b"", header=("Location", "/elsewhere")),
        )
        for status in (301, 302, 303, 307, 308)
    ),
    # Networks failing.
    Case(
        id="reset-mid-body",
        replies=(Reply(body=BIG_TOKEN, fault="reset_mid_body"),),
        check=fails("reset", retryable=True),
    ),
    Case(
        id="reset-mid-body-api-key",
        make=api_key_exchange,
        replies=(Reply(body=BIG_TOKEN, fault="reset_mid_body"),),
        check=fails("reset", retryable=True),
    ),
    Case(
        id="content-length-longer-than-body",
        replies=(Reply(body=TOKEN_JSON, fault="short_body"),),
        check=fails("truncated", retryable=True),
    ),
    Case(
        id="chunked-body-cut-short",
        replies=(
            raw(
                "HTTP/1.1 200 OK",
                "Transfer-Encoding: chunked",
                body=b"10\r\n" + TOKEN_JSON[:10],
            ),
        ),
        check=fails("truncated", retryable=True),
    ),
    Case(
        id="closed-without-answer",
        replies=(Reply(fault="close_without_answer"),),
        check=fails("closed", "before", retryable=True),
    ),
    Case(
        id="refused",
        origin="refused",
        check=fails("refused", retryable=True, within=MARGIN),
    ),
    Case(
        id="dns",
        origin="dns",
        check=fails("dns", retryable=True),
    ),
    # The timeout bounds the whole exchange: waiting for the head, for the
    # rest of a body that trickles in (each read makes progress, so a
    # per-read timeout never fires), and for a TLS handshake.
    Case(
        id="never-answers",
        replies=(Reply(fault="hang"),),
        timeout=SHORT,
        check=fails("timed out", f"{SHORT} s", retryable=True, within=SHORT + MARGIN),
    ),
    Case(
        id="body-trickles",
        replies=(Reply(body=BIG_TOKEN[:40], fault="trickle_body"),),
        timeout=SHORT,
        check=fails("timed out", f"{SHORT} s", retryable=True, within=SHORT + MARGIN),
    ),
    Case(
        id="tls-handshake-never-answers",
        origin="silent",
        timeout=SHORT,
        check=fails("timed out", f"{SHORT} s", retryable=True, within=SHORT + MARGIN),
    ),
    # Malformed HTTP.
    Case(
        id="garbage",
        replies=(Reply(fault="garbage"),),
        check=fails("malformed", "bad status line", retryable=True),
    ),
    Case(
        id="bad-header-line",
        replies=(raw("HTTP/1.1 200 OK", "this is no header", body=TOKEN_JSON),),
        check=fails("malformed", "bad header line", retryable=True),
    ),
    # The example: the reason is ours, not the line the server sent.
    Case(
        id="bad-header-line-not-quoted",
        replies=(
            raw("HTTP/1.1 200 OK", "X-Rejected-Key : rk-QUOTED-8a7b", body=TOKEN_JSON),
        ),
        check=both(
            fails("malformed", "bad header line", retryable=True),
            quotes_nothing("QUOTED"),
        ),
    ),
    Case(
        id="bad-chunk-size",
        replies=(
            raw(
                "HTTP/1.1 200 OK",
                "Transfer-Encoding: chunked",
                body=b"zz\r\n" + TOKEN_JSON + b"\r\n0\r\n\r\n",
            ),
        ),
        check=fails("malformed", "bad chunked framing", retryable=True),
    ),
    # The size cap, at its edge and beyond, with either framing.
    *(
        Case(
            id=f"at-cap-{kind}",
            replies=(Reply(body=b"x" * 1000, chunked=chunked, chunk_size=100),),
            max_response_bytes=1000,
            check=answers(200, b"x" * 1000),
        )
        for kind, chunked in (("length", False), ("chunked", True))
    ),
    *(
        Case(
            id=f"over-cap-{kind}",
            replies=(Reply(body=b"x" * 1001, chunked=chunked, chunk_size=100),),
            max_response_bytes=1000,
            check=fails("1000", "limit", retryable=False),
        )
        for kind, chunked in (("length", False), ("chunked", True))
    ),
    Case(
        id="default-cap-1-mib-fits",
        replies=(Reply(body=b"x" * MIB),),
        check=answers(200, b"x" * MIB),
    ),
    Case(
        id="default-cap-1-mib-plus-one",
        replies=(Reply(body=b"x" * (MIB + 1)),),
        check=fails(str(MIB), "limit", retryable=False),
    ),
    # Enforced while reading: a body that never ends fails as soon as the
    # cap is passed. Reading first and measuring after would run into the
    # timeout instead, and say so.
    Case(
        id="endless-chunked-body",
        replies=(Reply(fault="endless_body", chunked=True),),
        check=fails(str(MIB), "limit", retryable=False, within=MARGIN),
    ),
    Case(
        id="endless-body-huge-content-length",
        replies=(Reply(fault="endless_body"),),
        max_response_bytes=1000,
        check=fails("1000", "limit", retryable=False, within=MARGIN),
    ),
    # TLS: verified by default; a caller's context for a private CA.
    Case(
        id="tls-untrusted",
        origin="https",
        check=both(fails("TLS", "verification", retryable=False), nothing_received),
    ),
    *(
        Case(
            id=f"tls-trusted-{name}",
            origin="https",
            trust=True,
            make=FLOWS[name],
            check=gets_token,
        )
        for name in ("password_grant", "teamsystem")
    ),
    Case(
        id="tls-trusted-chunked",
        origin="https",
        trust=True,
        replies=(Reply(body=TOKEN_JSON, chunked=True),),
        check=gets_token,
    ),
    Case(
        id="tls-content-length-longer-than-body",
        origin="https",
        trust=True,
        replies=(Reply(body=TOKEN_JSON, fault="short_body"),),
        check=fails("truncated", retryable=True),
    ),
]

cases = pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])


@cases
def test_urllib(case: Case) -> None:
    with staged(case) as outcome:
        outcome.call(urllib_adapter.send)


@cases
@pytest.mark.trio
async def test_trio(case: Case) -> None:
    with staged(case) as outcome:
        await outcome.acall(trio_adapter.send)


@cases
@pytest.mark.anyio
async def test_anyio(case: Case, anyio_backend: str) -> None:
    with staged(case) as outcome:
        await outcome.acall(anyio_adapter.send)


# -- the urllib adapter's own behaviours ------------------------------------


def test_urllib_sends_our_user_agent_not_pythons() -> None:
    with serving((token_reply(ACCESS),)) as server:
        _, request = api_key_exchange(server.url(""))
        urllib_adapter.send(request, timeout=TIMEOUT)
    [got] = server.requests
    assert values(got, "User-Agent") == [USER_AGENT]
    assert not any("python-urllib" in value.lower() for _, value in got.headers)
    # urllib would add a form Content-Type to a POST; an empty one has none.
    assert values(got, "Content-Type") == []
    assert values(got, "Content-Length") == ["0"]


NOWHERE = "sansio-auth-test.invalid"
"""A name that never resolves (RFC 6761): only a proxy can take a request
there, and a request that should have gone through one fails with DNS."""


@pytest.mark.parametrize("variable", ["http_proxy", "HTTP_PROXY"])
def test_urllib_http_proxy_from_environment(
    monkeypatch: pytest.MonkeyPatch, variable: str
) -> None:
    # Plain http to a host that is not loopback: no flow builds one (token
    # URLs are https there), but send() takes any request, and sends it
    # through http_proxy.
    with serving((token_reply(ACCESS),)) as proxy:
        monkeypatch.setenv(variable, proxy.url(""))
        flow, made = client_credentials_post("http://127.0.0.1:8080")
        request = attrs.evolve(made, url=f"http://{NOWHERE}:8080/oauth2/token")
        response = urllib_adapter.send(request, timeout=TIMEOUT)
    assert isinstance(flow.parse(response, now=NOW), Token)
    [got] = proxy.requests
    assert got.method == "POST"
    assert got.target == request.url  # the absolute form (RFC 9112 §3.2.2)
    assert values(got, "Host") == [f"{NOWHERE}:8080"]
    assert values(got, "Content-Length") == [str(len(request.body))]
    assert values(got, "User-Agent") == [USER_AGENT]
    assert got.body == request.body


@pytest.mark.parametrize(
    "variables", [("http_proxy",), ("HTTP_PROXY",), ("http_proxy", "all_proxy")]
)
def test_urllib_loopback_http_never_through_the_proxy(
    monkeypatch: pytest.MonkeyPatch, variables: tuple[str, ...]
) -> None:
    # The proxy would take the secret off the machine, in clear, and its
    # answer would be taken as the token. (Every spelling of loopback, every
    # variable and every adapter: test_transport_rules.py.)
    with (
        serving((token_reply("at-from-the-proxy"),)) as proxy,
        serving((token_reply(ACCESS),)) as server,
    ):
        for name in variables:
            monkeypatch.setenv(name, proxy.url(""))
        flow, request = client_credentials_post(server.url("", host="localhost"))
        response = urllib_adapter.send(request, timeout=TIMEOUT)
    token = flow.parse(response, now=NOW)
    assert isinstance(token, Token)
    assert token.access_token == ACCESS
    assert proxy.requests == []
    assert len(server.requests) == 1


def test_urllib_no_proxy_is_honoured(monkeypatch: pytest.MonkeyPatch) -> None:
    with TunnelProxy() as proxy:
        monkeypatch.setenv("https_proxy", proxy.url())
        monkeypatch.setenv("no_proxy", NOWHERE)
        _, request = password_grant(f"https://{NOWHERE}")
        with pytest.raises(TransportError) as caught:
            urllib_adapter.send(request, timeout=TIMEOUT)
    # Direct, so the name had to resolve.
    assert "DNS" in caught.value.reason
    assert proxy.targets == []


def test_urllib_https_proxy_tunnels_and_still_verifies(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    name = "token.sansio-auth.test"  # RFC 6761: .test is for tests
    with (
        serving((token_reply(ACCESS),), ca=CA, names=(name,)) as server,
        TunnelProxy(routes={f"{name}:443": ("127.0.0.1", server.port)}) as proxy,
    ):
        monkeypatch.setenv("https_proxy", proxy.url())
        flow, request = password_grant(f"https://{name}")
        response = urllib_adapter.send(
            request, timeout=TIMEOUT, ssl_context=trusting_context()
        )
        assert isinstance(flow.parse(response, now=NOW), Token)
        assert proxy.targets == [f"{name}:443"]
        [got] = server.requests
        assert got.body == request.body
        assert values(got, "Host") == [name]
        # Through the tunnel, TLS is still ours to verify.
        with pytest.raises(TransportError) as caught:
            urllib_adapter.send(request, timeout=TIMEOUT)
        assert "verification" in caught.value.reason
        assert not caught.value.retryable
        assert len(proxy.targets) == 2


# -- the async adapters connect directly, as documented ---------------------


@contextlib.contextmanager
def dead_proxy_in_environment(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    with refusing_port() as dead:
        for name in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY"):
            monkeypatch.setenv(name, f"http://127.0.0.1:{dead}")
        yield


@pytest.mark.trio
async def test_trio_ignores_proxy_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with dead_proxy_in_environment(monkeypatch), serving() as server:
        _, request = password_grant(server.url(""))
        response = await trio_adapter.send(request, timeout=TIMEOUT)
    assert response.status == 200


@pytest.mark.anyio
async def test_anyio_ignores_proxy_environment(
    monkeypatch: pytest.MonkeyPatch, anyio_backend: str
) -> None:
    with dead_proxy_in_environment(monkeypatch), serving() as server:
        _, request = password_grant(server.url(""))
        response = await anyio_adapter.send(request, timeout=TIMEOUT)
    assert response.status == 200
