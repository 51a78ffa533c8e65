"""A fetch cut while its DPoP nonce resend is in flight is abandoned as a
whole: the resend, not only the first request, so that the next caller
fetches at once instead of waiting out the lost-request deadline."""

from __future__ import annotations

import json
import signal
import threading
import time

import anyio
import pytest
from http_server import Reply, Server, token_reply

from sansio_auth import ClientCredentials, SessionState
from sansio_auth.adapters import anyio as anyio_adapter
from sansio_auth.adapters import urllib as urllib_adapter

NONCE = Reply(
    status=400,
    headers=(("Content-Type", "application/json"), ("DPoP-Nonce", "nonce-1")),
    body=json.dumps({"error": "use_dpop_nonce"}).encode(),
)
HANG = Reply(fault="hang")


def flow(server: Server) -> ClientCredentials:
    return ClientCredentials(token_url=server.url(), client_id="c", client_secret="s")


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_a_cancel_during_the_nonce_resend_abandons_it(backend: str) -> None:
    with Server([NONCE, HANG, token_reply("tok-2")]) as server:
        client = anyio_adapter.TokenClient(flow(server), dpop_key=True, timeout=20)

        async def main() -> None:
            with anyio.move_on_after(1.0):
                await client.token()
            session = client.session
            assert len(server.requests) == 2  # the resend was in flight
            assert session.in_flight is None
            assert session.state is SessionState.IDLE
            assert session.stats.abandoned == 1
            with anyio.fail_after(5):  # not the 20 s + margin of a lost request
                token = await client.token()
            assert token.access_token == "tok-2"

        anyio.run(main, backend=backend)


class Interrupt(BaseException):
    """What a signal handler or gevent.Timeout raises in the middle of I/O."""


def _interrupt(signum: int, frame: object) -> None:
    raise Interrupt


@pytest.mark.skipif(not hasattr(signal, "setitimer"), reason="needs setitimer")
def test_an_interrupt_during_the_nonce_resend_abandons_it() -> None:
    assert threading.current_thread() is threading.main_thread()
    with Server([NONCE, HANG, token_reply("tok-2")]) as server:
        client = urllib_adapter.TokenClient(flow(server), dpop_key=True, timeout=20)
        previous = signal.signal(signal.SIGALRM, _interrupt)
        try:
            signal.setitimer(signal.ITIMER_REAL, 1.0)
            with pytest.raises(Interrupt):
                client.token()
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, previous)
        assert len(server.requests) == 2
        assert client.session.in_flight is None
        got: list[str] = []
        other = threading.Thread(
            target=lambda: got.append(client.token().access_token), daemon=True
        )
        started = time.monotonic()
        other.start()
        other.join(5)
        assert got == ["tok-2"]
        assert time.monotonic() - started < 5
