"""A server that echoes a secret, through every adapter and the command line
(issue 10, points 1 to 3, end to end).

A real server on loopback answers each token request by echoing one of the
credentials the request carried (the client secret in the body, the Basic
value, the refresh token the session sent), in one of the encodings of
``echoes.py``, in one of the places a server puts text: an OAuth error
description, an HTML error page, a redirect's ``Location``, a
``Content-Type`` parameter, or a 2xx body in a shape we cannot use. The
TokenClient of each adapter (urllib, trio, anyio on asyncio and on trio) and
the command line must end in an error whose ``str``, ``repr`` and fields, the
session's stats and every ``sansio_auth`` log record hold neither the secret
nor the echo.
"""

from __future__ import annotations

import io
import json
import logging
import os
from typing import Any
from unittest import mock

import anyio
import attrs
import pytest
import trio
from echoes import ENCODINGS, SECRETS, mixed
from http_server import Received, Reply, Server
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from log_records import records

from sansio_auth import ClientCredentials, RetryPolicy, TokenError, TokenSession
from sansio_auth.adapters import anyio as anyio_adapter
from sansio_auth.adapters import trio as trio_adapter
from sansio_auth.adapters import urllib as urllib_adapter
from sansio_auth.adapters.cli import main

PLACES = ("description", "html", "location", "content-type", "2xx-shape")
WORLDS = ("urllib", "trio", "anyio-asyncio", "anyio-trio")
T0 = 1_700_000_000.0


@attrs.define
class Echo:
    """What the server echoes now, and where; set per example."""

    text: str = ""
    place: str = "description"

    def reply(self, received: Received) -> Reply:
        line = f"credential {self.text} refused"
        if self.place == "description":
            body = {"error": "invalid_request", "error_description": line}
            return Reply(status=400, body=json.dumps(body).encode())
        if self.place == "html":
            return Reply(
                status=500,
                headers=(("Content-Type", "text/html; charset=utf-8"),),
                body=f"<html><body><pre>{line}</pre></body></html>".encode(
                    "utf-8", "surrogatepass"
                ),
            )
        if self.place == "location":
            return Reply(
                status=302,
                headers=(("Location", f"https://auth.example/t/?c={self.text}"),),
            )
        if self.place == "content-type":
            return Reply(
                status=502, headers=(("Content-Type", f"text/plain; c={self.text}"),)
            )
        shape = {"data": {"accessToken": self.text, "note": line}}
        return Reply(status=200, body=json.dumps(shape).encode())


class Refreshing(Echo):
    """Answers the first token request with a refresh token, then echoes."""

    def __init__(self, refresh_token: str) -> None:
        super().__init__()
        self.refresh_token = refresh_token

    def reply(self, received: Received) -> Reply:
        if b"grant_type=refresh_token" not in received.body:
            body = {
                "access_token": "at-first-0001",
                "expires_in": 100,
                "refresh_token": self.refresh_token,
            }
            return Reply(body=json.dumps(body).encode())
        return super().reply(received)


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> float:
        return self.now


def session(flow: ClientCredentials) -> TokenSession:
    # One attempt: the echo is the answer the client raises.
    return TokenSession(flow, retry=RetryPolicy(max_attempts=1))


def fetch(world: str, flow: ClientCredentials, clock: Clock, *, twice: bool) -> Any:
    """The error the world's TokenClient raised (after a first token, when
    *twice*: the second call, past the token's expiry, refreshes)."""

    def run_sync() -> Any:
        client = urllib_adapter.TokenClient(
            flow, timeout=5, session=session(flow), clock=clock
        )
        if twice:
            client.token()
            clock.now += 200
        try:
            client.token()
        except TokenError as exc:
            return exc, client.session
        raise AssertionError("no error")

    async def run_async(module: Any) -> Any:
        client = module.TokenClient(flow, timeout=5, session=session(flow), clock=clock)
        if twice:
            await client.token()
            clock.now += 200
        try:
            await client.token()
        except TokenError as exc:
            return exc, client.session
        raise AssertionError("no error")

    if world == "urllib":
        return run_sync()
    if world == "trio":
        return trio.run(run_async, trio_adapter)
    backend = "asyncio" if world == "anyio-asyncio" else "trio"
    return anyio.run(run_async, anyio_adapter, backend=backend)


def shown(
    error: TokenError, session: TokenSession, logs: list[logging.LogRecord]
) -> str:
    texts = [str(error), repr(error), repr(session.stats), repr(session)]
    texts += [str(value) for value in attrs.asdict(error).values()]  # type: ignore[arg-type]
    texts += [record.getMessage() for record in logs]
    return "\n".join(texts)


def headers_can_carry(text: str) -> bool:
    # The test server writes its head as Latin-1, and a CR or LF would end it.
    try:
        text.encode("latin-1")
    except UnicodeEncodeError:
        return False
    return "\r" not in text and "\n" not in text


SLOW = settings(
    max_examples=20,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
ENCODING_NAMES = st.sampled_from([*ENCODINGS, "mixed"])


def encode(data: st.DataObject, name: str, secret: str) -> str:
    if name == "mixed":
        return data.draw(mixed(secret))
    return ENCODINGS[name](secret)


def exchange(world: str, secret: str, echo: str, place: str, basic: bool) -> str:
    """Everything shown of a token request with client secret *secret* to
    a server that echoes *echo* in *place*."""
    with Server(Echo(echo, place).reply) as srv:
        flow = ClientCredentials(
            token_url=srv.url(),
            client_id="app-id",
            client_secret=secret,
            auth="client_secret_basic" if basic else "client_secret_post",
        )
        with records() as logs:
            error, sess = fetch(world, flow, Clock(), twice=False)
    return shown(error, sess, logs)


def reference(world: str, place: str, encoding: str, basic: bool) -> str:
    """What the same exchange shows with a placeholder secret: a secret that
    is part of that text anyway ("credential") proves nothing."""
    placeholder = "PLACEHOLDER-SECRET-0"
    echo = ENCODINGS.get(encoding, str)(placeholder)
    return exchange(world, placeholder, echo, place, basic)


@pytest.mark.parametrize("world", WORLDS)
@SLOW
@given(
    data=st.data(),
    secret=SECRETS,
    encoding=ENCODING_NAMES,
    place=st.sampled_from(PLACES),
    basic=st.booleans(),
)
def test_property_an_echoed_client_secret_never_shows(
    world: str, data: st.DataObject, secret: str, encoding: str, place: str, basic: bool
) -> None:
    echo = encode(data, encoding, secret)
    if place in ("location", "content-type"):
        assume(headers_can_carry(echo))
    # A secret, or an echo of a piece of one, that is our own fixed text
    # anyway ("refresh_" of refresh_rejected) proves nothing.
    fixed = reference(world, place, encoding, basic)
    assume(secret not in fixed and echo not in fixed)
    text = exchange(world, secret, echo, place, basic)
    assert secret not in text, (encoding, place)
    assert echo not in text, (encoding, place)


@pytest.mark.parametrize("world", WORLDS)
@SLOW
@given(
    data=st.data(),
    refresh_token=SECRETS.filter(lambda s: s.isprintable()),
    encoding=ENCODING_NAMES,
    place=st.sampled_from(PLACES),
)
def test_property_an_echoed_refresh_token_never_shows(
    world: str, data: st.DataObject, refresh_token: str, encoding: str, place: str
) -> None:
    # The refresh token the session sent: only the request knows it.
    echo = encode(data, encoding, refresh_token)
    if place in ("location", "content-type"):
        assume(headers_can_carry(echo))
    fixed = reference(world, place, encoding, False)
    assume(refresh_token not in fixed and echo not in fixed)
    script = Refreshing(refresh_token)
    script.text, script.place = echo, place
    with Server(script.reply) as srv:
        flow = ClientCredentials(
            token_url=srv.url(), client_id="app-id", client_secret="cs-SECRET-0001"
        )
        with records() as logs:
            error, sess = fetch(world, flow, Clock(), twice=True)
        assert b"grant_type=refresh_token" in srv.requests[-1].body
    text = shown(error, sess, logs)
    assert refresh_token not in text, (encoding, place)
    assert echo not in text, (encoding, place)


@SLOW
@given(
    data=st.data(),
    secret=SECRETS.filter(lambda s: s.isprintable() and s.strip() == s),
    encoding=ENCODING_NAMES,
    place=st.sampled_from(PLACES),
)
def test_property_the_command_line_never_prints_an_echoed_secret(
    data: st.DataObject, secret: str, encoding: str, place: str
) -> None:
    echo = encode(data, encoding, secret)
    if place in ("location", "content-type"):
        assume(headers_can_carry(echo))
    placeholder = "PLACEHOLDER-SECRET-0"
    reference = command_line(
        placeholder, ENCODINGS.get(encoding, str)(placeholder), place
    )
    assume(secret not in reference and echo not in reference)
    printed = command_line(secret, echo, place)
    assert secret not in printed, (encoding, place, printed)
    assert echo not in printed, (encoding, place, printed)


def command_line(secret: str, echo: str, place: str) -> str:
    """What ``sansio-auth token`` prints and logs against an echoing server."""
    with Server(Echo(echo, place).reply) as srv:
        out, err = io.StringIO(), io.StringIO()
        argv = [
            "token",
            "--provider",
            "client-credentials",
            "--token-url",
            srv.url(),
            "--client-id",
            "app-id",
            "--attempts",
            "1",
        ]
        with (
            mock.patch.dict(os.environ, {"SANSIO_AUTH_CLIENT_SECRET": secret}),
            mock.patch("sys.stdout", out),
            mock.patch("sys.stderr", err),
            records() as logs,
        ):
            code = main(argv)
    assert code != 0
    printed = out.getvalue() + err.getvalue()
    return printed + "\n".join(record.getMessage() for record in logs)
