"""Fetching a token through an adapter, and what is printed of it."""

from __future__ import annotations

import json
import random
from collections.abc import Awaitable, Callable
from types import ModuleType
from typing import Final, Literal

from sansio_auth import (
    Flow,
    HttpError,
    OAuthError,
    RetryPolicy,
    Token,
    TokenError,
    TokenSession,
    TransportError,
)

from .._extras import missing_extra
from .._limits import DEFAULT_TIMEOUT, FETCH_MARGIN
from ._exits import EXIT_ERROR, EXIT_NETWORK, EXIT_REJECTED

__all__ = [
    "ADAPTERS",
    "Adapter",
    "adapter_module",
    "classify",
    "fetch_token",
    "missing",
    "render",
    "run_async",
    "token_json",
]

Adapter = Literal["urllib", "trio", "anyio", "anyio-trio"]
ADAPTERS: Final[tuple[Adapter, ...]] = ("urllib", "trio", "anyio", "anyio-trio")
"""``--adapter`` values: ``anyio`` runs on asyncio, ``anyio-trio`` on trio."""


def adapter_module(adapter: Adapter) -> ModuleType:
    """The module of *adapter*, imported.

    Raises:
      ImportError: the extra it needs is not installed; the message names it.
    """
    if adapter == "urllib":
        from .. import urllib as urllib_adapter

        return urllib_adapter
    if adapter == "trio":
        from .. import trio as trio_adapter

        return trio_adapter
    from .. import anyio as anyio_adapter

    if adapter == "anyio-trio":
        try:
            import trio  # noqa: F401  (anyio's trio backend runs on it)
        except ImportError as exc:
            raise missing_extra(
                f"{anyio_adapter.__name__} on trio", "trio", ("trio",), exc
            ) from None
    return anyio_adapter


def missing(adapter: Adapter) -> str | None:
    """Why *adapter* cannot run here (its extra is not installed), or None."""
    try:
        adapter_module(adapter)
    except ImportError as exc:
        return str(exc)
    return None


def run_async(adapter: Adapter, fn: Callable[[], Awaitable[object]]) -> object:
    """Run the coroutine function *fn* in the event loop *adapter* needs."""
    if adapter == "trio":
        import trio

        return trio.run(fn)
    import anyio

    return anyio.run(fn, backend="trio" if adapter == "anyio-trio" else "asyncio")


def fetch_token(
    flow: Flow,
    *,
    adapter: Adapter = "urllib",
    timeout: float = DEFAULT_TIMEOUT,
    attempts: int | None = None,
    store: object = None,
    dpop_key: object = None,
    client_cert: object = None,
) -> Token:
    """One token for *flow*, through *adapter*'s ``TokenClient``.

    Args:
      flow: how to get it.
      adapter: ``urllib``, ``trio``, ``anyio`` (asyncio) or ``anyio-trio``.
      timeout: seconds each request may take.
      attempts: the retry policy's ``max_attempts`` (None: its default).
      store: a shared store to take the token from, or put it in.
      dpop_key: the client's ``dpop_key=`` (True: a fresh ES256 key).
      client_cert: the client's ``client_cert=`` (a PEM path, or a tuple).

    Raises:
      TokenError: the session gave up.
      ImportError: *adapter*'s extra is not installed; the message names it.
      ValueError: *client_cert* cannot be loaded, or the flow needs one.
    """
    key = None
    if dpop_key is not None:
        from .._dpop import dpop_option

        key = dpop_option(dpop_key)  # one key, for the session and the client
    session = None
    if attempts is not None:
        from .._dpop import new_jti

        session = TokenSession(
            flow,
            retry=RetryPolicy(max_attempts=attempts),
            jitter=random.random,
            fetch_timeout=timeout + FETCH_MARGIN,
            dpop_key=key,
            jti=new_jti,
        )
    options = {
        "timeout": timeout,
        "session": session,
        "store": store,
        "dpop_key": key,
        "client_cert": client_cert,
    }
    module = adapter_module(adapter)
    if adapter == "urllib":
        with module.TokenClient(flow, **options) as client:
            token: Token = client.token()
            return token

    async def fetch() -> Token:
        async with module.TokenClient(flow, **options) as client:
            fetched: Token = await client.token()
            return fetched

    result = run_async(adapter, fetch)
    assert isinstance(result, Token)
    return result


def classify(error: TokenError) -> tuple[int, str]:
    """The exit code for *error* and the cause, for the one-line message.

    The message is our words and ``str(error)``, as they are: the client has
    masked the server's text of the request's secrets already (see the
    module's docstring).
    """
    if isinstance(error, TransportError):
        return EXIT_NETWORK, f"network failure: {error}"
    if error.retryable:
        return EXIT_NETWORK, f"token endpoint unavailable: {error}"
    if isinstance(error, OAuthError | HttpError) and (
        error.status in (400, 401, 403)
        # An OAuth error body with a 2xx: the vendor's way of saying 400.
        or (isinstance(error, OAuthError) and error.status < 300)
    ):
        return EXIT_REJECTED, f"credentials rejected: {error}"
    return EXIT_ERROR, f"token request failed: {error}"


def token_json(token: Token, now: float) -> dict[str, object]:
    """What ``--output json`` prints.

    The refresh token is not printed, only whether there is one: the command
    hands out an access token for a call or a script, and each run fetches
    anew, so the refresh token (a longer-lived credential) has no use here
    and would only widen what a shell history, a log or a CI transcript holds.
    """
    expires_in = (
        None if token.expires_at is None else max(0, int(token.expires_at - now))
    )
    return {
        "access_token": token.access_token,
        "token_type": token.token_type,
        "expires_at": token.expires_at,
        "expires_in": expires_in,
        "scope": None if token.scopes is None else " ".join(sorted(token.scopes)),
        "has_refresh_token": token.refresh_token is not None,
    }


def render(token: Token, output: str, now: float) -> str:
    """*token* as ``--output`` asks."""
    if output == "header":
        return f"Authorization: {token.authorization()}"
    if output == "bare":
        return token.access_token
    return json.dumps(token_json(token, now), indent=2)
