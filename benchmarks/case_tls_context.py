"""TLS context: a new TLS context per send, or one shared (issue 10).

Against a local ``TokenServer``: the urllib ``send()`` over http with a new
default context each time (what every send did before issue 10) against the
shared default; the same over https with a ``trustme`` CA; and the asyncio
loop stall of an anyio https send with the context built in the loop per
send against a shared one. The https rows need ``trustme``.

Target: the http send with the shared default at least 10x cheaper.
"""

from __future__ import annotations

import ssl
import statistics
from collections.abc import Awaitable, Callable
from typing import Any

from _fixtures import generic_flow, load_peer
from _timing import NOT_INSTALLED, Candidate, Row, Settings, Ticker, fmt_time, timed


def _fresh_context(ca: Any) -> Callable[[], ssl.SSLContext]:
    """What every send did before issue 10: a new default context (the whole
    system trust store read), here also trusting the test CA."""

    def fresh() -> ssl.SSLContext:
        context = ssl.create_default_context()
        if ca is not None:
            ca.configure_trust(context)
        return context

    return fresh


def _loop_stalls(
    send: Callable[..., Awaitable[object]],
    request: Any,
    contexts: dict[str, Callable[[], ssl.SSLContext]],
    sends: int,
) -> dict[str, float]:
    """How long the asyncio loop doing a send is stalled: the median, over
    *sends* sends, of the longest gap between wake-ups of a task sleeping
    1 ms, less that 1 ms. The context is made in the loop, per send, as the
    adapter's send made it before issue 10."""
    import anyio

    async def main() -> dict[str, float]:
        gaps: dict[str, list[float]] = {name: [] for name in contexts}
        for i in range(sends):
            names = list(contexts)
            if i % 2:
                names.reverse()
            for name in names:
                ticker = Ticker(period=0.001)
                async with anyio.create_task_group() as tg:
                    tg.start_soon(ticker.run, anyio.sleep)
                    await anyio.sleep(0.005)
                    ticker.max_gap = 0.0  # from here: the send alone
                    await send(request, timeout=10, ssl_context=contexts[name]())
                    gaps[name].append(max(0.0, ticker.max_gap - ticker.period))
                    ticker.done = True
        return {name: statistics.median(g) for name, g in gaps.items()}

    result: dict[str, float] = anyio.run(main, backend="asyncio")
    return result


def run(settings: Settings) -> Row:
    from sansio_auth.adapters import _tls
    from sansio_auth.adapters import anyio as anyio_adapter
    from sansio_auth.adapters import urllib as urllib_adapter
    from sansio_auth.adapters.server import TokenServer

    row = Row(
        case="send: a new TLS context per send, or one shared",
        baseline="urllib send, new default context per send (before issue 10)",
        target="http send with the shared default ≥ 10x cheaper",
    )
    shared_default = _tls.default_ssl_context()
    with TokenServer() as server:
        request = generic_flow(server).token_request()
        fresh = _fresh_context(None)
        medians = timed(
            {
                "new context": lambda: urllib_adapter.send(
                    request, timeout=10, ssl_context=fresh()
                ),
                "shared": lambda: urllib_adapter.send(request, timeout=10),
            },
            settings,
        )
    base = medians["new context"]
    ratio = medians["shared"] / base
    row.met = ratio <= 0.1
    row.candidates += [
        Candidate("urllib, http: new default context", fmt_time(base), "1.00"),
        Candidate(
            "urllib, http: shared default (ssl_context=None)",
            fmt_time(medians["shared"]),
            f"{ratio:.3f}",
        ),
    ]
    trustme = load_peer("trustme")
    if trustme is None:
        row.candidates.append(Candidate("https rows (trustme)", NOT_INSTALLED, "-"))
    else:
        ca = trustme.CA()
        server_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ca.issue_cert("127.0.0.1").configure_cert(server_context)
        fresh = _fresh_context(ca)
        shared = fresh()
        with TokenServer(ssl_context=server_context) as server:
            request = generic_flow(server).token_request()
            medians = timed(
                {
                    "new context": lambda: urllib_adapter.send(
                        request, timeout=10, ssl_context=fresh()
                    ),
                    "shared": lambda: urllib_adapter.send(
                        request, timeout=10, ssl_context=shared
                    ),
                },
                settings,
            )
            stalls = _loop_stalls(
                anyio_adapter.send,
                request,
                {"new context": fresh, "shared": lambda: shared},
                settings.pick(21, 2),
            )
        tls_base = medians["new context"]
        tls_ratio = medians["shared"] / tls_base
        row.candidates += [
            Candidate("urllib, https: new default context", fmt_time(tls_base), "1.00"),
            Candidate(
                "urllib, https: one shared context",
                fmt_time(medians["shared"]),
                f"{tls_ratio:.3f}",
            ),
            Candidate(
                "anyio/asyncio https send, new context in the loop: loop stall",
                fmt_time(stalls["new context"]),
                "1.00",
            ),
            Candidate(
                "anyio/asyncio https send, shared context: loop stall",
                fmt_time(stalls["shared"]),
                f"{stalls['shared'] / stalls['new context']:.3f}",
            ),
        ]
    row.notes.append(
        "a new default context reads the system trust store "
        f"({shared_default.cert_store_stats()['x509_ca']} CA certificates here); "
        "https rows trust a trustme CA on top, and what is left with a shared "
        "context is the handshake, against a server in the same process; loop "
        "stall: median over sends of the longest wake-up gap of a task sleeping "
        "1 ms during one send, less the 1 ms"
    )
    return row
