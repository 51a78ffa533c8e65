"""What several cases run against: JWT-shaped tokens, the peers, a generic
flow, a minimal loopback API, and a 401 burst's revocation and count.

A peer (authlib, oauthlib, httpx, httpx-auth, requests-oauth2client, trustme)
is imported only when a case asks for it, and is None when it is not installed.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import importlib
import json
import socket
import threading
import warnings
from collections.abc import AsyncIterator, Iterator
from typing import TYPE_CHECKING, Any

import attrs

if TYPE_CHECKING:
    from sansio_auth.adapters.server import TokenServer


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def make_jwt(seed: int = 0, length: int = 800) -> str:
    """A JWT-shaped token of exactly *length* characters, unique per *seed*."""
    header = _b64(b'{"alg":"HS256","typ":"JWT"}')
    signature = _b64(bytes(32))
    claims = json.dumps(
        {"sub": f"tenant-{seed}", "iss": "https://auth.example.com", "exp": 4e9}
    )
    # Pad the claims so that the base64 payload fills the length exactly.
    room = (length - len(header) - len(signature) - 2) * 3 // 4
    padded = claims[:-1] + ', "pad": "' + "x" * (room - len(claims) - 10) + '"}'
    jwt = f"{header}.{_b64(padded.encode())}.{signature}"
    return (jwt + "A" * length)[:length] if len(jwt) < length else jwt[:length]


def load_peer(module: str) -> Any:
    """The peer's module, or None when it is not installed."""
    with warnings.catch_warnings():
        # authlib warns about its own httpx integration on import.
        warnings.simplefilter("ignore")
        try:
            return importlib.import_module(module)
        except ImportError:
            return None


def generic_flow(server: Any) -> Any:
    """A client-credentials flow for *server*'s (a ``TokenServer``) generic client."""
    from sansio_auth import ClientCredentials

    creds = server.credentials
    return ClientCredentials(
        token_url=server.generic_token_url,
        client_id=creds.generic_client_id,
        client_secret=creds.generic_client_secret,
    )


def httpx_auth_peer(server: TokenServer) -> Any:
    """httpx-auth's ``OAuth2ClientCredentials`` for *server*'s generic client
    (no token fetched yet), or None when httpx-auth is not installed."""
    httpx_auth = load_peer("httpx_auth")
    if httpx_auth is None:
        return None
    return httpx_auth.OAuth2ClientCredentials(
        server.generic_token_url,
        server.credentials.generic_client_id,
        server.credentials.generic_client_secret,
    )


def authlib_peer(integration: str, client_class: str, server: TokenServer) -> Any:
    """authlib's *client_class* from ``authlib.integrations.<integration>``
    (``OAuth2Client`` of ``httpx_client``, ``OAuth2Session`` of
    ``requests_client``) for *server*'s generic client, with a token fetched,
    or None when authlib is not installed."""
    module = load_peer(f"authlib.integrations.{integration}")
    if module is None:
        return None
    client = getattr(module, client_class)(
        server.credentials.generic_client_id,
        server.credentials.generic_client_secret,
        token_endpoint=server.generic_token_url,
        grant_type="client_credentials",
    )
    client.fetch_token(server.generic_token_url)
    return client


# The minimal API's one answer, to every request head.
_OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Type: text/plain\r\n\r\nok"


def _api_url(port: int) -> str:
    return f"http://127.0.0.1:{port}/v1/things"


@contextlib.contextmanager
def fast_api() -> Iterator[str]:
    """A minimal keep-alive HTTP/1.1 API on loopback, served by threads: 200
    ``ok`` to every GET, so that the client's own cost is most of what a GET
    costs. Its URL."""
    listener = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def serve(conn: socket.socket) -> None:
        buffer = b""
        with conn:
            while not stop.is_set():
                while b"\r\n\r\n" not in buffer:
                    data = conn.recv(65536)
                    if not data:
                        return
                    buffer += data
                _, _, buffer = buffer.partition(b"\r\n\r\n")
                conn.sendall(_OK)

    def accept() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            threading.Thread(target=serve, args=(conn,), daemon=True).start()

    threading.Thread(target=accept, daemon=True).start()
    try:
        yield _api_url(listener.getsockname()[1])
    finally:
        stop.set()
        listener.close()


class _OkProtocol(asyncio.Protocol):
    """``fast_api``'s answers, by the running event loop."""

    def __init__(self) -> None:
        self.pending = b""
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        assert self.transport is not None
        self.pending += data
        while b"\r\n\r\n" in self.pending:
            _, _, self.pending = self.pending.partition(b"\r\n\r\n")
            self.transport.write(_OK)


@contextlib.asynccontextmanager
async def fast_api_on_loop() -> AsyncIterator[str]:
    """``fast_api`` served by the running asyncio loop rather than threads
    (for a client on that loop). Its URL."""
    loop = asyncio.get_running_loop()
    listener = await loop.create_server(_OkProtocol, "127.0.0.1", 0)
    try:
        yield _api_url(listener.sockets[0].getsockname()[1])
    finally:
        listener.close()
        await listener.wait_closed()


def revoke_last_token(server: TokenServer) -> str:
    """Revoke the token that *server*'s last request carried and forget the
    requests so far. That request's ``Authorization`` value."""
    revoked = server.requests[-1].header("Authorization") or ""
    server.revoke(revoked.partition(" ")[2])
    server.clear()
    return revoked


@attrs.frozen
class Burst:
    """What a burst of requests after ``revoke_last_token`` cost."""

    tokens: int
    """The token requests made."""
    refused: int
    """The API requests that carried the revoked token (each refused)."""
    api_requests: int
    """The API requests in all."""


def burst_counts(server: TokenServer, revoked: str) -> Burst:
    """The counts of a burst since ``revoke_last_token`` returned *revoked*."""
    sent = [
        r.header("Authorization") for r in server.requests if r.endpoint == "resource"
    ]
    return Burst(len(server.token_requests()), sent.count(revoked), len(sent))
