"""``sansio-auth serve``: the local token server in the foreground."""

from __future__ import annotations

import contextlib
import signal
import threading
from typing import TYPE_CHECKING

from ._exits import EXIT_ERROR, EXIT_OK
from ._io import CommandIO
from ._secrets import API_KEY, CLIENT_SECRET, PASSWORD, TEAMSYSTEM_TOKEN

if TYPE_CHECKING:
    from ..server import TokenServer

__all__ = ["serve", "try_commands"]


def serve(*, host: str, port: int, io: CommandIO) -> int:
    """Run the local token server until Ctrl-C (or ``io.stop`` is set).

    Prints the server's description (URLs and test credentials) and a
    ``sansio-auth token`` command for each provider.
    """
    from ..server import TokenServer, describe

    try:
        server = TokenServer(host=host, port=port).start()
    except OSError as exc:
        io.fail(f"cannot listen on {host}:{port}: {exc.strerror or exc}")
        return EXIT_ERROR
    stop = io.stop
    if stop is None:
        stop = threading.Event()
        if threading.current_thread() is threading.main_thread():
            # `kill` (and container runtimes) stop it as cleanly as Ctrl-C.
            signal.signal(signal.SIGTERM, lambda signum, frame: stop.set())
    try:
        io.stdout.write(f"{describe(server)}\n\n{try_commands(server)}\n")
        io.stdout.write("serving; Ctrl-C stops\n")
        io.stdout.flush()
        with contextlib.suppress(KeyboardInterrupt):
            while not stop.wait(0.2):
                pass
    finally:
        server.stop()
    return EXIT_OK


def try_commands(server: TokenServer) -> str:
    """A ``sansio-auth token`` command per provider against *server*.

    They set the test credentials in the command's environment, as a user
    would export real ones; the credentials are the server's fake ones.
    """
    c = server.credentials
    commands = [
        (
            f"{API_KEY.env}={c.smartway_api_key}",
            f"--provider smartway --base-url {server.smartway_base_url}",
        ),
        (
            f"{PASSWORD.env}={c.smartconnect_password} "
            f"{CLIENT_SECRET.env}={c.smartconnect_client_secret}",
            "--provider smartconnect --region EU "
            f"--token-url {server.smartconnect_token_url('EU')} "
            f"--username {c.smartconnect_username} "
            f"--client-id {c.smartconnect_client_id}",
        ),
        (
            f"{TEAMSYSTEM_TOKEN.env}={c.teamsystem_api_key}",
            f"--provider teamsystem --base-url {server.teamsystem_base_url} "
            f"--username {c.teamsystem_username} --scope {c.teamsystem_scope}",
        ),
        (
            f"{CLIENT_SECRET.env}={c.smartdocumentor_client_secret}",
            "--provider smartdocumentor "
            f"--base-url {server.smartdocumentor_base_url} "
            f"--client-id {c.smartdocumentor_client_id}",
        ),
        (
            f"{CLIENT_SECRET.env}={c.generic_client_secret}",
            f"--provider client-credentials --token-url {server.generic_token_url} "
            f"--client-id {c.generic_client_id}",
        ),
        (
            f"{PASSWORD.env}={c.generic_password} "
            f"{CLIENT_SECRET.env}={c.generic_client_secret}",
            f"--provider password --token-url {server.generic_token_url} "
            f"--username {c.generic_username} --client-id {c.generic_client_id}",
        ),
    ]
    lines = ["try (in another terminal):"]
    lines += [f"  {env} sansio-auth token {argv}" for env, argv in commands]
    return "\n".join(lines)
