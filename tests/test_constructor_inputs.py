"""The whole input space of every public constructor of a request (issue 10.13).

Bad input used to be accepted and then crash deep inside a send: a
non-ASCII API key (``UnicodeEncodeError`` holding the key in urllib, UTF-8
on the wire from trio and anyio), a host with an empty label, a ``scope``
that is not iterable. For any arguments hypothesis draws (valid ones, and
junk: None, numbers, bytes, containers, text with controls, non-ASCII,
lone surrogates), each flow constructor and provider either refuses at once
with a ``TypeError`` or ``ValueError`` that names the argument and never
echoes what was passed, or builds requests that every adapter (urllib, trio,
anyio on asyncio and on trio) puts on the wire byte for byte the same, as a
real server on loopback receives them.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Iterator
from typing import Any

import anyio
import pytest
import trio
from http_server import Received, Reply, Server
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from sansio_auth import (
    ApiKeyExchange,
    ClientCredentials,
    HttpRequest,
    PasswordGrant,
)
from sansio_auth.adapters import anyio as anyio_adapter
from sansio_auth.adapters import trio as trio_adapter
from sansio_auth.adapters import urllib as urllib_adapter
from sansio_auth.providers import smartconnect, smartdocumentor, smartway, teamsystem

# Text whose echo we would recognise: no word of our messages holds these
# letters four in a row.
MARKER = st.text(st.sampled_from("QZXJKVW"), min_size=6, max_size=12)
JUNK = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=True),
    st.just(math.inf),
    st.binary(max_size=8),
    st.lists(st.text(max_size=3), max_size=2),
    st.dictionaries(st.text(max_size=3), st.text(max_size=3), max_size=2),
    st.just(object()),
    st.just(""),
    MARKER,
    # Text of every kind: controls, non-ASCII, lone surrogates.
    st.text(max_size=12),
    MARKER.map(lambda m: m + "\r\nX-Evil: 1"),
    MARKER.map(lambda m: m + "\u00e9\u2603"),
    MARKER.map(lambda m: m + "\ud800"),
)
PRINTABLE = st.text(
    st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1, max_size=16
)
ANY_TEXT = st.text(st.characters(exclude_categories=["Cs"]), min_size=1, max_size=16)
PATH = st.text(st.sampled_from("abcXYZ019-._~%/"), max_size=10).map(
    lambda p: "/t" + p.replace("%", "%25")
)
LOOPBACK = st.sampled_from(["127.0.0.1", "localhost", "LocalHost"])
SCOPE = st.one_of(
    st.text(st.characters(exclude_categories=["Cs"]), max_size=12),
    st.lists(PRINTABLE, max_size=3),
)
EXTRA = st.lists(st.tuples(PRINTABLE, ANY_TEXT), max_size=2).map(tuple)


def arg(valid: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    # Mostly valid (one_of would flatten JUNK into a dozen equal branches):
    # a constructor of six arguments is built often enough for its requests
    # to go on the wire.
    return st.integers(0, 7).flatmap(lambda pick: JUNK if pick == 0 else valid)


def url(port: int, kind: str) -> st.SearchStrategy[Any]:
    """A URL to the test server (a token URL, or a provider's base URL)."""
    if kind == "base":
        valid = LOOPBACK.map(lambda host: f"http://{host}:{port}")
    else:
        valid = st.builds(
            lambda host, path: f"http://{host}:{port}{path}", LOOPBACK, PATH
        )
    bad = st.sampled_from(
        [
            f"http://auth..example:{port}/t",
            "http://auth.example.com/t",
            f"https://{'a' * 64}.example/t",
            f"http://bücher.example:{port}/t",
            f"http://u:QZXJKV@127.0.0.1:{port}/t",
        ]
    )
    return st.integers(0, 7).flatmap(
        lambda pick: JUNK if pick == 0 else bad if pick == 1 else valid
    )


def constructors(port: int) -> dict[str, tuple[Callable[..., Any], dict[str, Any]]]:
    """Each public constructor of a request, and a strategy per argument."""
    return {
        "ClientCredentials": (
            ClientCredentials,
            {
                "token_url": url(port, "token"),
                "client_id": arg(ANY_TEXT),
                "client_secret": arg(ANY_TEXT),
                "scope": arg(SCOPE),
                "auth": arg(
                    st.sampled_from(["client_secret_post", "client_secret_basic"])
                ),
                "extra": arg(EXTRA),
            },
        ),
        "PasswordGrant": (
            PasswordGrant,
            {
                "token_url": url(port, "token"),
                "username": arg(ANY_TEXT),
                "password": arg(ANY_TEXT),
                "client_id": arg(st.none() | ANY_TEXT),
                "client_secret": arg(st.none() | ANY_TEXT),
                "auth": arg(
                    st.sampled_from(["client_secret_post", "client_secret_basic"])
                ),
            },
        ),
        "ApiKeyExchange": (
            ApiKeyExchange,
            {
                "token_url": url(port, "token"),
                "api_key": arg(PRINTABLE),
                "header": arg(st.sampled_from(["X-API-Key", "Api-Key", "X-Key_1"])),
            },
        ),
        "smartway": (
            lambda **kw: smartway(kw.pop("api_key"), **kw),
            {"api_key": arg(PRINTABLE), "base_url": url(port, "base")},
        ),
        "smartconnect": (
            smartconnect,
            {
                "region": arg(st.sampled_from(["EU", "na", "AU"])),
                "username": arg(ANY_TEXT),
                "password": arg(ANY_TEXT),
                "client_id": arg(ANY_TEXT),
                "client_secret": arg(ANY_TEXT),
                "token_url": url(port, "token"),
            },
        ),
        "teamsystem": (
            teamsystem,
            {
                "username": arg(ANY_TEXT),
                "scope": arg(ANY_TEXT),
                "token": arg(ANY_TEXT),
                "language": arg(st.sampled_from(["it-IT", "en-US", "de"])),
                "base_url": url(port, "base"),
            },
        ),
        "smartdocumentor": (
            smartdocumentor,
            {
                "client_id": arg(ANY_TEXT),
                "client_secret": arg(ANY_TEXT),
                "base_url": url(port, "base"),
            },
        ),
    }


# Field names a refusal may name for each argument (the message's subject).
ALIASES = {
    "extra": ("extra",),
    "header": ("header",),
    "base_url": ("base_url",),
    "token": ("token",),
    "region": ("unknown SmartConnect region", "region"),
}


def named(message: str, kwargs: dict[str, Any]) -> bool:
    for name in kwargs:
        for alias in ALIASES.get(name, (name,)):
            if alias in message:
                return True
    # Rules across arguments ("client_secret needs a client_id").
    return "needs a client_id" in message


class Recorder:
    def __init__(self) -> None:
        self.received: list[Received] = []

    def __call__(self, received: Received) -> Reply:
        self.received.append(received)
        return Reply(status=200, body=b'{"access_token": "at-0123456789"}')


@pytest.fixture(scope="module")
def server() -> Iterator[tuple[Server, Recorder]]:
    recorder = Recorder()
    with Server(recorder) as srv:
        yield srv, recorder


def send_everywhere(request: HttpRequest) -> Iterator[str]:
    """Send *request* through each adapter; the adapter's name after each."""
    urllib_adapter.send(request, timeout=5)
    yield "urllib"
    trio.run(lambda: trio_adapter.send(request, timeout=5))
    yield "trio"
    for backend in ("asyncio", "trio"):

        async def send() -> None:
            await anyio_adapter.send(request, timeout=5)

        anyio.run(send, backend=backend)
        yield f"anyio-{backend}"


def wire(received: Received, request: HttpRequest) -> tuple[object, ...]:
    # What we put on the wire: our headers as the server read them (the
    # transport's own framing headers aside), target and body.
    ours = {name.lower() for name, _ in request.headers} | {"host"}
    headers = tuple(
        (name.lower(), value)
        for name, value in received.headers
        if name.lower() in ours
    )
    return received.method, received.target, headers, received.body


@pytest.mark.parametrize("name", list(constructors(0)))
@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(data=st.data())
def test_refused_by_name_or_sent_alike_by_every_adapter(
    name: str, data: st.DataObject, server: tuple[Server, Recorder]
) -> None:
    srv, recorder = server
    build, strategies = constructors(srv.port)[name]
    kwargs = {
        arg: data.draw(strategy, label=arg) for arg, strategy in strategies.items()
    }
    markers = [
        v[:6]
        for v in kwargs.values()
        if isinstance(v, str) and len(v) >= 6 and set(v[:6]) <= set("QZXJKVW")
    ]
    try:
        flow = build(**kwargs)
    except (TypeError, ValueError) as exc:
        event("refused")
        message = str(exc)
        assert named(message, kwargs), (name, message)
        for marker in markers:
            assert marker not in message, (name, message)
        return
    requests = [flow.token_request()]
    refresh_token = data.draw(st.one_of(ANY_TEXT, JUNK), label="refresh_token")
    with contextlib.suppress(ValueError, TypeError):
        refresh = flow.refresh_request(refresh_token)
        if refresh is not None:
            requests.append(refresh)
    for request in requests:
        # Every header value we send is printable ASCII: what every adapter
        # (and every HTTP client an integration uses) sends the same way.
        for _, value in request.headers:
            assert value.isascii()
        event("sent")
        seen = []
        for _adapter in send_everywhere(request):
            seen.append(wire(recorder.received[-1], request))
        assert all(item == seen[0] for item in seen), (name, seen)
