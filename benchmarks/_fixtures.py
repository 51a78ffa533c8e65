"""What several cases share: JWT-shaped tokens, the peers, a generic flow.

A peer (authlib, oauthlib, httpx, httpx-auth, trustme) is imported only when a
case asks for it, and is None when it is not installed.
"""

from __future__ import annotations

import base64
import importlib
import json
import warnings
from typing import Any


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
