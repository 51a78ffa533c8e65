"""The server in the foreground: what it prints, and ``python -m``."""

from __future__ import annotations

import argparse
import contextlib
import sys
import threading
from collections.abc import Sequence
from typing import TextIO

import attrs

from ._token_server import TokenServer
from .personas import PERSONAS

__all__ = ["describe", "main", "serve_forever"]


def describe(server: TokenServer) -> str:
    """What a user of the running *server* needs: its URLs and credentials."""
    # The registered clients and issuers are named, never shown: a secret or
    # key of theirs is no business of a terminal.
    creds = attrs.asdict(
        server.credentials, filter=lambda a, _: a.name not in ("clients", "issuers")
    )
    registered = [
        *(f"  client {c.client_id}" for c in server.credentials.clients),
        *(f"  issuer {i.issuer}" for i in server.credentials.issuers),
    ]
    lines = [
        f"sansio-auth token server on {server.url}",
        "",
        "endpoints:",
        *(
            f"  {persona.name:<16} {persona.summary(server.url)}"
            for persona in PERSONAS
        ),
        "",
        "credentials (fake, for tests):",
        *(f"  {name} = {value}" for name, value in creds.items()),
        *registered,
        "",
        f"token lifetime {server.token_lifetime} s, "
        f"SmartWay {server.smartway_lifetime} s",
    ]
    return "\n".join(lines)


def serve_forever(
    server: TokenServer,
    out: TextIO,
    *,
    stop: threading.Event | None = None,
) -> None:
    """Run *server* in the foreground: start it (unless running), print
    :func:`describe` to *out*, and serve until *stop* is set or the process is
    interrupted (Ctrl-C); then stop it.

    Args:
      server: the server, started or not.
      out: where the description goes (flushed).
      stop: an event that ends the serving; None to serve until interrupted.
    """
    if not server.running:
        server.start()
    try:
        out.write(describe(server) + "\n")
        out.flush()
        event = stop or threading.Event()
        with contextlib.suppress(KeyboardInterrupt):
            while not event.wait(0.5):
                pass
    finally:
        server.stop()


def main(argv: Sequence[str] | None = None, out: TextIO | None = None) -> int:
    """``python -m sansio_auth.adapters.server``: serve in the foreground."""
    parser = argparse.ArgumentParser(
        prog="python -m sansio_auth.adapters.server",
        description="A local token server playing SmartWay, SmartConnect, "
        "TeamSystem, SmartDocumentor and a generic RFC 6749 endpoint.",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--token-lifetime", type=int, default=3600)
    parser.add_argument("--smartway-lifetime", type=int, default=900)
    args = parser.parse_args(argv)
    server = TokenServer(
        host=args.host,
        port=args.port,
        token_lifetime=args.token_lifetime,
        smartway_lifetime=args.smartway_lifetime,
    )
    serve_forever(server, out or sys.stdout)
    return 0
