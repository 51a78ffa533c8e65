"""The transport rules of issue 10, for every adapter, against real servers.

Each example sends through all four adapters in turn (urllib; trio; anyio on
asyncio and on trio, each run with ``trio.run`` or ``anyio.run``), so that
one hypothesis example can compare them. The servers listen on loopback and
are started by the tests: one per test, its replies scripted per example.

- A ``TransportError``'s reason is our own words (point 4): hostile answers,
  each carrying a generated marker, never get any four characters of it into
  an error's ``str``, ``repr`` or reason, nor into a ``sansio_auth`` log
  record.
- A loopback request never goes through a proxy (point 5), whatever the
  proxy variables say.
- A bad argument is refused at once, naming the argument and never quoting
  it (point 13).
- The adapters end the same way on the same bytes (point 14): the same
  ``HttpResponse``, or a ``TransportError`` with the same reason and the same
  ``retryable``.
"""

from __future__ import annotations

import contextlib
import functools
import gc
import json
import logging
import math
import os
import ssl
from collections.abc import Callable, Iterator
from typing import Any

import anyio
import pytest
import trio
import trustme
from http_server import Reply, Server, TunnelProxy, serving
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sansio_auth import (
    ClientCredentials,
    HttpRequest,
    HttpResponse,
    RetryPolicy,
    TokenSession,
    TransportError,
)
from sansio_auth.adapters import anyio as anyio_adapter
from sansio_auth.adapters import trio as trio_adapter
from sansio_auth.adapters import urllib as urllib_adapter

TIMEOUT = 5.0
SECRET = "cs-SECRET-3e1d0b"
CA = trustme.CA()
MIB = 1_048_576
PROXY_VARIABLES = tuple(
    name
    for base in ("http_proxy", "https_proxy", "all_proxy", "no_proxy")
    for name in (base, base.upper())
)
# A name that never resolves (RFC 6761): only a proxy can take a request there.
NOWHERE = "sansio-auth-test.invalid"

Outcome = HttpResponse | TransportError


# -- the four adapters, run one after the other ------------------------------


def _urllib(request: Any, kwargs: dict[str, Any]) -> HttpResponse:
    return urllib_adapter.send(request, **kwargs)


def _trio(request: Any, kwargs: dict[str, Any]) -> HttpResponse:
    return trio.run(functools.partial(trio_adapter.send, request, **kwargs))


def _anyio_on(backend: str) -> Callable[[Any, dict[str, Any]], HttpResponse]:
    def run(request: Any, kwargs: dict[str, Any]) -> HttpResponse:
        call = functools.partial(anyio_adapter.send, request, **kwargs)
        return anyio.run(call, backend=backend)

    return run


ADAPTERS: dict[str, Callable[[Any, dict[str, Any]], HttpResponse]] = {
    "urllib": _urllib,
    "trio": _trio,
    "anyio-asyncio": _anyio_on("asyncio"),
    "anyio-trio": _anyio_on("trio"),
}


def outcome(adapter: str, request: Any, **kwargs: Any) -> Outcome:
    """What *adapter*'s send ends with: a response or a ``TransportError``."""
    try:
        return ADAPTERS[adapter](request, kwargs)
    except TransportError as exc:
        return exc


def token_request(origin: str) -> HttpRequest:
    flow = ClientCredentials(
        token_url=origin + "/token", client_id="client-1", client_secret=SECRET
    )
    return flow.token_request()


TOKEN_BODY = json.dumps({"access_token": "at-1", "token_type": "Bearer"}).encode()


# -- environment, logs and servers -------------------------------------------


@pytest.fixture(autouse=True)
def _hermetic(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No proxy from the caller's environment; a leaked socket fails its own
    test (see test_adapter_send.py)."""
    for name in PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    gc.freeze()
    try:
        yield
        gc.collect()
    finally:
        gc.unfreeze()


@contextlib.contextmanager
def proxy_environment(**values: str) -> Iterator[None]:
    """Exactly these proxy variables set, for one example."""
    assert set(values) <= set(PROXY_VARIABLES)
    saved = {name: os.environ.pop(name, None) for name in PROXY_VARIABLES}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in saved.items():
            os.environ.pop(name, None)
            if value is not None:
                os.environ[name] = value


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@contextlib.contextmanager
def debug_log() -> Iterator[list[logging.LogRecord]]:
    """The ``sansio_auth`` logger's records at DEBUG, for one block."""
    logger = logging.getLogger("sansio_auth")
    handler = _Records()
    level = logger.level
    logger.setLevel(logging.DEBUG)
    logger.addHandler(handler)
    try:
        yield handler.records
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


class Script:
    """The raw bytes a server sends next, set per example."""

    def __init__(self) -> None:
        self.reply = b""

    def __call__(self, received: object) -> Reply:
        return Reply(fault="raw", body=self.reply)


@pytest.fixture(scope="module")
def raw_server() -> Iterator[tuple[Server, Script]]:
    """One server for a test's examples, sending what the script says."""
    script = Script()
    with serving(script) as server:
        yield server, script


@pytest.fixture(scope="module")
def tunnel_proxy() -> Iterator[TunnelProxy]:
    with TunnelProxy() as proxy:
        yield proxy


# -- point 4: reasons are our own words --------------------------------------

# Letters that no reason, host or errno text of ours holds four of in a row.
MARKER_LETTERS = "QXZJKVWqxzjkvw"
MARKERS = st.text(alphabet=MARKER_LETTERS, min_size=8, max_size=16)


def windows(marker: str) -> set[str]:
    """Every 4-character piece of *marker*: a longer piece holds one."""
    return {marker[i : i + 4].lower() for i in range(len(marker) - 3)}


def assert_quotes_nothing(
    marker: str, error: TransportError, records: list[logging.LogRecord]
) -> None:
    texts = [error.reason, str(error), repr(error)]
    texts += [record.getMessage() for record in records]
    # Nor hidden behind it: ``raise ... from None`` only hides the exception
    # it came from (h11's, http.client's, with the server's bytes in them)
    # from a traceback; a log shipper or the stats would still reach it.
    assert error.__cause__ is None, error.__cause__
    assert error.__context__ is None, error.__context__
    for text in texts:
        for piece in windows(marker):
            assert piece not in text.lower(), (piece, text)


def _head(*lines: bytes) -> bytes:
    return b"".join(line + b"\r\n" for line in lines) + b"\r\n"


def hostile_finals(m: bytes) -> st.SearchStrategy[bytes]:
    """Final answers that are not HTTP/1.1 as we read it, each carrying *m*."""
    ok = b"HTTP/1.1 200 OK"
    length = b"Content-Length: 2"
    bad_header_lines = [
        b"X-Rejected-Key : " + m,  # the example
        m,
        b"X-" + m + b" Key: value",
        b"X-Key: " + m + b"\x0b" + m,
        b"X-Key: " + m + b"\x00",
        b"X-Key: " + m + b"\r" + m,
    ]
    bad_status_lines = [
        b"HTTP/1.1 2x0 " + m,
        b"HTTP/1.1 " + m,
        m + b" 200 OK",
        b"HTTP/1.1 200 " + m + b"\x00",
        b"HTTP/11 200 " + m,
        b"HTTP/1.1  200 " + m,
        b"HTTP/1.1 042 " + m,
        b" HTTP/1.1 200 " + m,
        b"HTTP/1.1 200" + m,
    ]
    chunked = _head(ok, b"Transfer-Encoding: chunked")
    bad_chunked = [
        m + b"\r\nok\r\n0\r\n\r\n",
        b"5\r\nhello" + m + b"\r\n0\r\n\r\n",
        b"5 " + m + b"\r\nhello\r\n0\r\n\r\n",
        b"0\r\n" + m + b"\r\n\r\n",
        b"0\r\nContent-Length: " + m + b"\r\n\r\n",
        b"5\n" + m + b"\r\n",
    ]
    bad_framing = [
        b"Content-Length: " + m,
        b"Content-Length: 2, " + m,
        b"Transfer-Encoding: " + m,
        b"Transfer-Encoding: chunked, " + m,
    ]
    return st.one_of(
        st.tuples(st.sampled_from(bad_header_lines), st.integers(0, 2)).map(
            lambda pair: (
                _head(ok, *[b"X-A: 1", b"X-B: 2"][: pair[1]], pair[0], length) + b"ok"
            )
        ),
        # A line starting with a space first in the head continues nothing.
        st.just(_head(ok, b" " + m + b": value", length) + b"ok"),
        st.sampled_from(bad_status_lines).map(lambda line: _head(line, length) + b"ok"),
        st.sampled_from(bad_chunked).map(lambda body: chunked + body),
        st.sampled_from(bad_framing).map(lambda line: _head(ok, line) + b"ok"),
        st.just(_head(b"HTTP/1.1 101 " + m, b"Upgrade: " + m) + m),
        # Not HTTP at all, then a blank line so that the head is whole.
        st.binary(max_size=64).map(lambda junk: m + junk + b"\r\n\r\n"),
        # Cut short: in the head, in the body.
        st.just(b"HTTP/1.1 200 " + m + b"\r\nX-Note: " + m),
        st.just(_head(ok, b"Content-Length: 100") + m),
    )


@st.composite
def hostile_responses(draw: st.DrawFn) -> tuple[str, bytes]:
    marker = draw(MARKERS)
    m = marker.encode()
    # Interim answers first (valid ones: the answer follows them), sometimes.
    interim = draw(st.booleans())
    start = _head(b"HTTP/1.1 103 " + m, b"Link: " + m) if interim else b""
    return marker, start + draw(hostile_finals(m))


@settings(max_examples=80, suppress_health_check=[HealthCheck.too_slow])
@given(case=hostile_responses())
def test_reasons_never_quote_the_server(
    raw_server: tuple[Server, Script], case: tuple[str, bytes]
) -> None:
    server, script = raw_server
    marker, script.reply = case
    request = token_request(server.url(""))
    seen = set()
    for adapter in ADAPTERS:
        with debug_log() as records:
            result = outcome(adapter, request, timeout=TIMEOUT)
        assert isinstance(result, TransportError), (adapter, result)
        assert_quotes_nothing(marker, result, records)
        seen.add(described(result))
    assert len(seen) == 1, seen  # and they say the same (point 14)


@st.composite
def hostile_proxy_answers(draw: st.DrawFn) -> tuple[str, bytes]:
    marker = draw(MARKERS)
    m = marker.encode()
    status = draw(st.integers(100, 599).filter(lambda code: code != 200))
    answer = draw(
        st.sampled_from(
            [
                b"HTTP/1.1 %d " % status + m + b"\r\n\r\n",
                b"HTTP/1.1 407 " + m + b'\r\nProxy-Authenticate: Basic realm="'
                b"" + m + b'"\r\n\r\n',
                m + b"\r\n\r\n",
                b"HTTP/1.1 " + m + b"\r\n\r\n",
                # The tunnel "opens", then the proxy's text comes where TLS is due.
                b"HTTP/1.1 200 " + m + b"\r\nX-" + m + b": " + m + b"\r\n\r\n" + m,
                b"",
            ]
        )
    )
    return marker, answer


@settings(max_examples=30, suppress_health_check=[HealthCheck.too_slow])
@given(case=hostile_proxy_answers())
def test_reasons_never_quote_the_proxy(
    tunnel_proxy: TunnelProxy, case: tuple[str, bytes]
) -> None:
    # Only the urllib adapter takes proxies; a host that is not loopback
    # goes through the tunnel (and needs no DNS: the proxy resolves).
    marker, tunnel_proxy.answer = case
    request = token_request(f"https://{NOWHERE}")
    with proxy_environment(https_proxy=tunnel_proxy.url()), debug_log() as records:
        result = outcome("urllib", request, timeout=TIMEOUT)
    assert isinstance(result, TransportError), result
    assert_quotes_nothing(marker, result, records)
    assert tunnel_proxy.targets[-1] == f"{NOWHERE}:443"


@pytest.mark.parametrize(
    ("answer", "reason", "retryable"),
    [
        (
            b"HTTP/1.1 407 Proxy Authentication Required\r\n\r\n",
            f"the proxy refused the tunnel to {NOWHERE}:443 with HTTP 407",
            False,
        ),
        (
            b"HTTP/1.1 503 Service Unavailable\r\n\r\n",
            f"the proxy refused the tunnel to {NOWHERE}:443 with HTTP 503",
            True,
        ),
        (
            b"SOCKS? no\r\n\r\n",
            f"malformed answer from the proxy to the tunnel request for {NOWHERE}:443",
            True,
        ),
        (
            b"",
            f"the proxy closed the connection before opening the tunnel to "
            f"{NOWHERE}:443",
            True,
        ),
    ],
)
def test_urllib_says_what_the_proxy_did(
    tunnel_proxy: TunnelProxy, answer: bytes, reason: str, retryable: bool
) -> None:
    tunnel_proxy.answer = answer
    with proxy_environment(https_proxy=tunnel_proxy.url()):
        result = outcome("urllib", token_request(f"https://{NOWHERE}"), timeout=TIMEOUT)
    assert isinstance(result, TransportError), result
    assert (result.reason, result.retryable) == (reason, retryable)


@pytest.mark.parametrize("adapter", ["urllib", "trio", "anyio-asyncio"])
def test_token_client_logs_quote_nothing(adapter: str) -> None:
    # The example through a TokenClient, whose failure is logged.
    marker = "QzxKjvWqXZ"
    reply = _head(b"HTTP/1.1 200 OK", b"X-Rejected-Key : " + marker.encode()) + b"{}"
    with serving((Reply(fault="raw", body=reply),)) as server:
        flow = ClientCredentials(
            token_url=server.url(), client_id="client-1", client_secret=SECRET
        )
        session = TokenSession(flow, retry=RetryPolicy(max_attempts=1))
        with debug_log() as records:
            error = _client_failure(adapter, flow, session)
    assert isinstance(error, TransportError)
    assert "bad header line" in error.reason
    assert records, "the failure was not logged"
    assert_quotes_nothing(marker, error, records)


def _client_failure(
    adapter: str, flow: ClientCredentials, session: TokenSession
) -> BaseException:
    try:
        if adapter == "urllib":
            urllib_adapter.TokenClient(flow, timeout=TIMEOUT, session=session).token()
        elif adapter == "trio":
            client = trio_adapter.TokenClient(flow, timeout=TIMEOUT, session=session)
            trio.run(client.token)
        else:
            client2 = anyio_adapter.TokenClient(flow, timeout=TIMEOUT, session=session)
            anyio.run(client2.token, backend="asyncio")
    except Exception as exc:  # the test looks at what came
        return exc
    raise AssertionError("the token request did not fail")


# -- point 5: loopback never goes through a proxy ----------------------------


@st.composite
def loopback_hosts(draw: st.DrawFn) -> tuple[str, str]:
    """A loopback host as spelled in a URL, and the address it names."""
    kind = draw(st.sampled_from(["localhost", "ipv4", "ipv6"]))
    if kind == "localhost":
        upper = draw(st.lists(st.booleans(), min_size=9, max_size=9))
        spelled = "".join(
            c.upper() if up else c for c, up in zip("localhost", upper, strict=True)
        )
        return spelled, "127.0.0.1"
    if kind == "ipv4":
        x, y = draw(st.integers(0, 255)), draw(st.integers(0, 255))
        address = f"127.{x}.{y}.{draw(st.integers(1, 254))}"
        return address, address
    return draw(st.sampled_from(["[::1]", "[0:0:0:0:0:0:0:1]", "[0::1]"])), "::1"


@settings(max_examples=25, suppress_health_check=[HealthCheck.too_slow])
@given(
    host=loopback_hosts(),
    https=st.booleans(),
    variables=st.lists(
        st.tuples(st.sampled_from(PROXY_VARIABLES[:6]), st.booleans()),
        min_size=1,
        max_size=6,
        unique_by=lambda pair: pair[0],
    ),
)
def test_loopback_never_goes_through_a_proxy(
    host: tuple[str, str], https: bool, variables: list[tuple[str, bool]]
) -> None:
    spelled, address = host
    with contextlib.ExitStack() as stack:
        # Recording proxies: a plain one (a Server answers absolute-form
        # requests) and a CONNECT one; each variable names one of them.
        plain = stack.enter_context(serving())
        tunnel = stack.enter_context(TunnelProxy())
        environment = {
            name: tunnel.url() if to_tunnel else plain.url("")
            for name, to_tunnel in variables
        }
        server = stack.enter_context(
            serving((Reply(body=TOKEN_BODY),), ca=CA if https else None, host=address)
        )
        stack.enter_context(proxy_environment(**environment))
        request = token_request(server.url("", host=spelled))
        kwargs: dict[str, Any] = {"timeout": TIMEOUT}
        if https:
            kwargs["ssl_context"] = trusting_context()
        for adapter in ADAPTERS:
            result = outcome(adapter, request, **kwargs)
            assert isinstance(result, HttpResponse), (adapter, result)
            assert result.body == TOKEN_BODY
        assert len(server.requests) == len(ADAPTERS)
        assert plain.requests == []
        assert tunnel.targets == []


def trusting_context() -> ssl.SSLContext:
    context = ssl.create_default_context()
    CA.configure_trust(context)
    return context


# -- point 13: bad arguments refused at once ---------------------------------

LEAKY = "sk-LEAKED-VALUE-7f3e9a"
"""A secret passed in the wrong argument: no message may show it."""

REFUSALS: list[tuple[str, object, type[Exception]]] = [
    ("timeout", LEAKY, TypeError),
    ("timeout", LEAKY.encode(), TypeError),
    ("timeout", None, TypeError),
    ("timeout", True, TypeError),
    ("timeout", 0, ValueError),
    ("timeout", -1.5, ValueError),
    ("timeout", math.nan, ValueError),
    ("timeout", math.inf, ValueError),
    ("timeout", -math.inf, ValueError),
    ("timeout", 86_400.5, ValueError),
    ("timeout", 1e10, ValueError),
    ("timeout", 10**400, ValueError),
    ("ssl_context", LEAKY, TypeError),
    ("ssl_context", LEAKY.encode(), TypeError),
    ("ssl_context", 0, TypeError),
    ("ssl_context", object(), TypeError),
    ("max_response_bytes", LEAKY, TypeError),
    ("max_response_bytes", True, TypeError),
    ("max_response_bytes", 1024.0, TypeError),
    ("max_response_bytes", None, TypeError),
    ("max_response_bytes", -1, ValueError),
    ("max_response_bytes", 64 * MIB + 1, ValueError),
    ("max_response_bytes", 2**63, ValueError),
    ("request", f"https://auth.example/token?secret={LEAKY}", TypeError),
    ("request", None, TypeError),
    ("request", LEAKY.encode(), TypeError),
    ("request", {"url": LEAKY}, TypeError),
]


@pytest.mark.parametrize("adapter", list(ADAPTERS))
@pytest.mark.parametrize(
    ("argument", "value", "error"),
    REFUSALS,
    ids=[f"{name}-{i}" for i, (name, _, _) in enumerate(REFUSALS)],
)
def test_bad_argument_refused_at_once(
    adapter: str, argument: str, value: object, error: type[Exception]
) -> None:
    with serving() as server:
        args: dict[str, Any] = {
            "request": token_request(server.url("")),
            "timeout": TIMEOUT,
        }
        args[argument] = value
        request = args.pop("request")
        with pytest.raises(error) as caught:
            ADAPTERS[adapter](request, args)
    message = str(caught.value)
    assert message.startswith(argument), message
    assert "VALUE" not in message
    assert server.connections == 0


@pytest.mark.parametrize("adapter", list(ADAPTERS))
@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:LEAKY-VALUE/token",  # a port that is not one
        "http://127.0.0.1:99999/token",
        "http://127.0.0.1:0/token",
        "http://user:LEAKY-VALUE@127.0.0.1:8080/token",
        "http://127.0.0.1:8080/tökén?x=LEAKY-VALUE",
        "ftp://127.0.0.1/LEAKY-VALUE",
    ],
)
def test_bad_request_url_refused_without_quoting_it(adapter: str, url: str) -> None:
    request = HttpRequest(method="POST", url=url, headers=(), body=b"")
    with pytest.raises(ValueError, match=r"^request url") as caught:
        ADAPTERS[adapter](request, {"timeout": TIMEOUT})
    assert "VALUE" not in str(caught.value)


@pytest.mark.parametrize("adapter", list(ADAPTERS))
def test_the_limits_themselves_are_taken(adapter: str) -> None:
    with serving((Reply(body=TOKEN_BODY),)) as server:
        request = token_request(server.url(""))
        for kwargs in (
            {"timeout": 86_400, "max_response_bytes": 64 * MIB},
            {"timeout": 86_400.0, "max_response_bytes": len(TOKEN_BODY)},
            {"timeout": 3, "ssl_context": trusting_context()},
        ):
            result = outcome(adapter, request, **kwargs)
            assert isinstance(result, HttpResponse), (kwargs, result)
            assert result.body == TOKEN_BODY


@pytest.mark.parametrize(
    "client_class",
    [urllib_adapter.TokenClient, trio_adapter.TokenClient, anyio_adapter.TokenClient],
)
@pytest.mark.parametrize(
    ("argument", "value"),
    [("timeout", 1e10), ("timeout", 86_401), ("max_response_bytes", 2**40)],
)
def test_token_client_refuses_what_send_would(
    client_class: Callable[..., object], argument: str, value: object
) -> None:
    flow = ClientCredentials(
        token_url="https://auth.example/token", client_id="a", client_secret=SECRET
    )
    with pytest.raises(ValueError, match=f"^{argument}"):
        client_class(flow, **{argument: value})


class _Valid:
    """Stands for the valid request, which needs the server's URL."""


VALID_REQUEST = _Valid()
JUNK = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(min_value=2**63),
    st.floats(),
    st.text(max_size=8),
    MARKERS,
    st.binary(max_size=8),
    st.builds(object),
    st.just(ssl.create_default_context()),
    st.just(VALID_REQUEST),
)


def _timeout_ok(value: object) -> bool:
    return (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and 0 < value <= 86_400
    )


def _size_ok(value: object) -> bool:
    return (
        isinstance(value, int)
        and not isinstance(value, bool)
        and 0 <= value <= 64 * MIB
    )


@settings(max_examples=120, suppress_health_check=[HealthCheck.too_slow])
@given(
    request=st.one_of(st.just(VALID_REQUEST), JUNK),
    timeout=st.one_of(
        st.floats(min_value=2, max_value=86_400),
        st.integers(2, 86_400),
        st.floats(max_value=0),
        st.floats(min_value=86_400, exclude_min=True),
        st.integers(min_value=86_401),
        JUNK,
    ),
    ssl_context=st.one_of(st.none(), JUNK),
    max_response_bytes=st.one_of(
        st.integers(0, 64 * MIB), st.integers(max_value=-1), st.integers(), JUNK
    ),
)
def test_send_arguments_whole_input_space(
    raw_server: tuple[Server, Script],
    request: object,
    timeout: object,
    ssl_context: object,
    max_response_bytes: object,
) -> None:
    server, script = raw_server
    script.reply = _head(
        b"HTTP/1.1 200 OK", b"Content-Length: %d" % len(TOKEN_BODY)
    ) + (TOKEN_BODY)
    invalid = set()
    if request is VALID_REQUEST:
        request = token_request(server.url(""))
    elif not isinstance(request, HttpRequest):
        invalid.add("request")
    if not _timeout_ok(timeout):
        invalid.add("timeout")
    if ssl_context is not None and not isinstance(ssl_context, ssl.SSLContext):
        invalid.add("ssl_context")
    if not _size_ok(max_response_bytes):
        invalid.add("max_response_bytes")
    kwargs = {
        "timeout": timeout,
        "ssl_context": ssl_context,
        "max_response_bytes": max_response_bytes,
    }
    # Marker-like strings only: a random one may spell a piece of our words.
    shown = [
        value
        for value in kwargs.values()
        if isinstance(value, str) and set(value) <= set(MARKER_LETTERS)
    ]
    for adapter in ADAPTERS:
        try:
            result: object = outcome(adapter, request, **kwargs)
        except (TypeError, ValueError) as exc:
            message = str(exc)
            assert invalid, (adapter, message)
            assert message.split()[0] in invalid, (adapter, message, invalid)
            for value in shown:
                for piece in windows(value):
                    assert piece not in message.lower()
            continue
        assert not invalid, (adapter, invalid, result)
        assert isinstance(max_response_bytes, int)
        assert isinstance(timeout, int | float)
        if isinstance(result, TransportError) and timeout < 2:
            # A valid timeout too short for the exchange ends it, as said.
            assert result.reason.startswith("timed out"), (adapter, result)
        elif max_response_bytes < len(TOKEN_BODY):
            assert isinstance(result, TransportError), (adapter, result)
            assert "limit" in result.reason
        else:
            assert isinstance(result, HttpResponse), (adapter, result)
            assert result.body == TOKEN_BODY


# -- point 14: the same bytes end the same way in every adapter --------------


def _length_values(size: int) -> st.SearchStrategy[str]:
    return st.one_of(
        st.sampled_from(
            [
                str(size),
                f"{size}, {size}",
                f"{size},{size}",
                f"  {size}\t",
                str(size + 1),
                str(max(0, size - 1)),
                f"-{size}",
                f"+{size}",
                f"0{size}",
                f"{size}, {size + 1}",
                f"{size},",
                "",
                "abc",
                f"{size}.0",
                f"0x{size:x}",
                "1_0",
                f"{size} {size}",
                "9" * 21,
                "9" * 20,
            ]
        ),
        st.text(alphabet="0123456789 ,+-_x\t", max_size=6),
    )


TRANSFER_CODINGS = st.sampled_from(
    [
        "chunked",
        "Chunked",
        "CHUNKED",
        "gzip",
        "gzip, chunked",
        "chunked, gzip",
        "chunked, chunked",
        "identity",
        "",
        "chunked;q=1",
    ]
)


@st.composite
def _chunked(draw: st.DrawFn, body: bytes) -> bytes:
    """*body* in chunks: well formed, or with one of the usual faults."""
    eol = draw(st.sampled_from([b"\r\n"] * 4 + [b"\n"]))
    out = b""
    rest = body
    while rest:
        size = draw(st.integers(1, len(rest)))
        piece, rest = rest[:size], rest[size:]
        digits = b"%x" % size
        if draw(st.booleans()):
            digits = digits.upper()
        extension = draw(st.sampled_from([b"", b";a=b", b" ", b"\t;x"]))
        out += digits + extension + eol + piece + eol
    out += b"0" + eol
    trailer = draw(
        st.lists(
            st.sampled_from(
                [b"X-Trailer: 1", b"Content-Length: 5", b"bad trailer", b" folded"]
            ),
            max_size=2,
        )
    )
    return out + b"".join(line + eol for line in trailer) + eol


@st.composite
def framed_responses(draw: st.DrawFn) -> bytes:
    eol = draw(st.sampled_from([b"\r\n", b"\r\n", b"\n"]))  # h11 takes a bare LF

    def head(lines: list[bytes]) -> bytes:
        return b"".join(line + eol for line in lines) + eol

    out = b""
    for status in draw(st.lists(st.sampled_from([100, 102, 103, 199]), max_size=3)):
        lines = [b"HTTP/1.1 %d Interim" % status]
        if draw(st.booleans()):
            lines.append(b"Link: </style.css>; rel=preload")
        out += head(lines)
    if draw(st.integers(0, 9)) == 0:  # now and then, a 101 no one asked for
        out += head([b"HTTP/1.1 101 Switching Protocols", b"Upgrade: h2c"])
    status = draw(st.sampled_from([200, 201, 204, 299, 304, 400, 404, 500]))
    version = draw(st.sampled_from([b"HTTP/1.1", b"HTTP/1.0"]))
    reason = draw(st.sampled_from([b" OK", b"", b" ", b" Fine\tthanks"]))
    body = draw(st.binary(max_size=48))
    fields: list[bytes] = []
    for _ in range(draw(st.integers(0, 3))):
        name = draw(st.sampled_from(["Content-Length", "content-length"]))
        colon = draw(st.sampled_from([": ", ":"]))
        fields.append(f"{name}{colon}{draw(_length_values(len(body)))}".encode())
    for _ in range(draw(st.integers(0, 2))):
        fields.append(f"Transfer-Encoding: {draw(TRANSFER_CODINGS)}".encode())
    for _ in range(draw(st.integers(0, 2))):
        name = draw(st.sampled_from(["X-Note", "Content-Type", "x-empty"]))
        value = draw(st.text(alphabet="ab c\t\xe9", max_size=6))
        fields.append(f"{name}:{value}".encode("latin-1"))
    fields = draw(st.permutations(fields))
    payload = draw(_chunked(body)) if draw(st.booleans()) else body
    out += head([version + b" %d" % status + reason, *fields]) + payload
    out += draw(st.sampled_from([b"", b"", b"HTTP/1.1 200 OK\r\n\r\nextra"]))
    cut = draw(st.one_of(st.none(), st.integers(0, len(out))))
    return out if cut is None else out[:cut]


def described(result: Outcome) -> tuple[object, ...]:
    if isinstance(result, TransportError):
        return ("error", result.reason, result.retryable)
    return ("response", result.status, result.headers, result.body)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(
    response=framed_responses(),
    cap=st.one_of(st.none(), st.integers(0, 60)),
)
def test_adapters_agree_on_framing(
    raw_server: tuple[Server, Script], response: bytes, cap: int | None
) -> None:
    server, script = raw_server
    script.reply = response
    request = token_request(server.url(""))
    kwargs: dict[str, Any] = {"timeout": TIMEOUT}
    if cap is not None:
        kwargs["max_response_bytes"] = cap
    seen = {
        adapter: described(outcome(adapter, request, **kwargs)) for adapter in ADAPTERS
    }
    assert len(set(seen.values())) == 1, seen


@pytest.mark.parametrize(
    "spelled",
    [
        "127.1",
        "2130706433",
        "0x7f.0.0.1",
        "[::ffff:127.0.0.1]",
        "localhost.",
        "LocalHost.",
    ],
)
def test_loopback_spelled_as_the_resolver_reads_it_never_goes_through_a_proxy(
    spelled: str,
) -> None:
    # https only: plain http is refused to any host the core's loopback rule
    # does not know. getaddrinfo takes these to this machine too, so urllib
    # must not send them to https_proxy, whose CONNECT would take the request
    # (its host, at least) off the machine. The certificate names 127.0.0.1:
    # the exchange may fail TLS, but no proxy may see it.
    with contextlib.ExitStack() as stack:
        tunnel = stack.enter_context(TunnelProxy())
        server = stack.enter_context(
            serving((Reply(body=TOKEN_BODY),), ca=CA, names=(spelled.strip("[]"),))
        )
        stack.enter_context(
            proxy_environment(https_proxy=tunnel.url(), HTTPS_PROXY=tunnel.url())
        )
        request = token_request(server.url("", host=spelled))
        result = outcome(
            "urllib", request, timeout=TIMEOUT, ssl_context=trusting_context()
        )
        # (The name may not resolve here: "localhost." is not in every
        # hosts file. What matters is that no proxy saw the request.)
        assert tunnel.targets == [], result


@pytest.mark.parametrize(
    "head",
    [
        _head(b"HTTP/1.1 200 OK", b"Content-Length: 2", b"X-Big: " + b"b" * 70_000),
        _head(b"HTTP/1.1 200 OK", b"Content-Length: 2").replace(
            b"\r\n\r\n", b"\r\n" + b"X-Many: m\r\n" * 8_000 + b"\r\n"
        ),
        _head(b"HTTP/1.1 103 Early Hints", b"Link: " + b"l" * 70_000)
        + _head(b"HTTP/1.1 200 OK", b"Content-Length: 2"),
    ],
    ids=["one-long-header", "many-headers", "long-interim-answer"],
)
def test_a_head_over_64_kib_is_refused_by_every_adapter(
    raw_server: tuple[Server, Script], head: bytes
) -> None:
    # h11 checks its limit only while a head is incomplete in its buffer: a
    # head over it that came in one read passed, where urllib refused it.
    server, script = raw_server
    script.reply = head + b"{}"
    request = token_request(server.url(""))
    for adapter in ADAPTERS:
        result = outcome(adapter, request, timeout=TIMEOUT)
        assert isinstance(result, TransportError), adapter
        assert result.reason.endswith("response head too large"), (adapter, result)
