"""``sansio-auth demo``: the whole library at work against the local server.

It starts :class:`~sansio_auth.adapters.server.TokenServer` in-process, gets a
token from every provider through every adapter (urllib, trio, anyio on
asyncio and on trio) and calls the server's protected resource with it; then
shows a refresh, a rotating refresh token, a retry after a 503, and 200
concurrent callers sharing one token request. It prints what happened and
never a credential or a token (the server's are fake, but the habit is the
point).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from typing import IO, Any, Final

import attrs

from sansio_auth import Flow, HttpRequest, HttpResponse, Token, TokenError

from .. import urllib as urllib_adapter
from ..server import TokenServer
from ._fetch import ADAPTERS, Adapter, adapter_module, missing, run_async
from ._providers import PROVIDERS, Options
from ._secrets import API_KEY, CLIENT_SECRET, PASSWORD, TEAMSYSTEM_TOKEN, Secret

__all__ = ["ADAPTER_NAMES", "CALLERS", "demo"]

TIMEOUT: Final = 10.0
CALLERS: Final = 200
"""Concurrent callers in the single-flight scenario."""
ADAPTER_NAMES: Final[dict[Adapter, str]] = {
    "urllib": "urllib",
    "trio": "trio",
    "anyio": "anyio (asyncio)",
    "anyio-trio": "anyio (trio)",
}


def _flows(server: TokenServer) -> list[tuple[str, Flow]]:
    """Each provider's flow against *server*, built as ``token`` builds it."""
    c = server.credentials

    def build(name: str, options: Options, secrets: dict[Secret, str]) -> Flow:
        return PROVIDERS[name].build(options, secrets)

    return [
        (
            "smartway",
            build(
                "smartway",
                Options(base_url=server.smartway_base_url),
                {API_KEY: c.smartway_api_key},
            ),
        ),
        (
            "smartconnect",
            build(
                "smartconnect",
                Options(
                    region="EU",
                    token_url=server.smartconnect_token_url("EU"),
                    username=c.smartconnect_username,
                    client_id=c.smartconnect_client_id,
                ),
                {
                    PASSWORD: c.smartconnect_password,
                    CLIENT_SECRET: c.smartconnect_client_secret,
                },
            ),
        ),
        (
            "teamsystem",
            build(
                "teamsystem",
                Options(
                    base_url=server.teamsystem_base_url,
                    username=c.teamsystem_username,
                    scope=c.teamsystem_scope,
                ),
                {TEAMSYSTEM_TOKEN: c.teamsystem_api_key},
            ),
        ),
        (
            "smartdocumentor",
            build(
                "smartdocumentor",
                Options(
                    base_url=server.smartdocumentor_base_url,
                    client_id=c.smartdocumentor_client_id,
                ),
                {CLIENT_SECRET: c.smartdocumentor_client_secret},
            ),
        ),
        (
            "client-credentials",
            build(
                "client-credentials",
                Options(
                    token_url=server.generic_token_url,
                    client_id=c.generic_client_id,
                    scope="read write",
                    auth="basic",
                ),
                {CLIENT_SECRET: c.generic_client_secret},
            ),
        ),
        (
            "password",
            build(
                "password",
                Options(
                    token_url=server.generic_token_url,
                    username=c.generic_username,
                    client_id=c.generic_client_id,
                    scope="profile",
                ),
                {
                    PASSWORD: c.generic_password,
                    CLIENT_SECRET: c.generic_client_secret,
                },
            ),
        ),
    ]


def _api_request(server: TokenServer, token: Token) -> HttpRequest:
    return HttpRequest(
        method="GET",
        url=server.resource_url,
        headers=(("Authorization", token.authorization()),),
        body=b"",
    )


# -- running a client in each world --------------------------------------------

AsyncJob = Callable[[Any], Awaitable[object]]
"""An async job given the adapter module (trio's or anyio's)."""


def _run(adapter: Adapter, sync_job: Callable[[], object], job: AsyncJob) -> object:
    """Run *sync_job* (urllib) or *job* in *adapter*'s world."""
    if adapter == "urllib":
        return sync_job()
    module = adapter_module(adapter)
    return run_async(adapter, lambda: job(module))


def _get_and_call(
    server: TokenServer, flow: Flow, adapter: Adapter
) -> tuple[Token, int]:
    """A token through *adapter*'s TokenClient, and the API's status for it."""

    def sync_job() -> tuple[Token, int]:
        with urllib_adapter.TokenClient(flow, timeout=TIMEOUT) as client:
            token = client.token()
        response = urllib_adapter.send(_api_request(server, token), timeout=TIMEOUT)
        return token, response.status

    async def job(module: Any) -> tuple[Token, int]:
        async with module.TokenClient(flow, timeout=TIMEOUT) as client:
            token: Token = await client.token()
        response: HttpResponse = await module.send(
            _api_request(server, token), timeout=TIMEOUT
        )
        return token, response.status

    result = _run(adapter, sync_job, job)
    assert isinstance(result, tuple)
    return result


def _concurrent(flow: Flow, adapter: Adapter, callers: int) -> set[str]:
    """*callers* concurrent ``token()`` calls on one client: the tokens seen."""

    def sync_job() -> set[str]:
        seen: set[str] = set()
        barrier = threading.Barrier(callers)
        with urllib_adapter.TokenClient(flow, timeout=TIMEOUT) as client:

            def call() -> None:
                barrier.wait()
                seen.add(client.token().access_token)

            threads = [threading.Thread(target=call) for _ in range(callers)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
        return seen

    async def job(module: Any) -> set[str]:
        seen: set[str] = set()
        async with module.TokenClient(flow, timeout=TIMEOUT) as client:

            async def call() -> None:
                seen.add((await client.token()).access_token)

            if adapter == "trio":
                import trio

                async with trio.open_nursery() as nursery:
                    for _ in range(callers):
                        nursery.start_soon(call)
            else:
                import anyio

                async with anyio.create_task_group() as group:
                    for _ in range(callers):
                        group.start_soon(call)
        return seen

    result = _run(adapter, sync_job, job)
    assert isinstance(result, set)
    return result


# -- the report ----------------------------------------------------------------


@attrs.frozen(kw_only=True)
class Row:
    """One line of the table."""

    provider: str
    adapter: str
    token_type: str
    expires_in: str
    scopes: str
    requests: int
    """Token requests the server saw for this row."""
    api: str
    """The protected resource's answer to the token."""


def _expires_in(token: Token) -> str:
    if token.expires_at is None:
        return "unknown"
    return f"{max(0, round(token.expires_at - time.time()))} s"


def _scopes(token: Token, width: int = 30) -> str:
    if token.scopes is None:
        return "-"
    if not token.scopes:
        return "(none)"
    scopes = sorted(token.scopes)
    shown = scopes[0]
    for n, scope in enumerate(scopes[1:], start=1):
        more = f" +{len(scopes) - n}"
        if len(f"{shown} {scope}") + (len(more) if n < len(scopes) - 1 else 0) > width:
            return shown + more
        shown += f" {scope}"
    return shown


def _table(rows: list[Row]) -> str:
    head = (
        "provider",
        "adapter",
        "token type",
        "expires in",
        "scopes",
        "requests",
        "API",
    )
    cells = [head] + [
        (
            r.provider,
            r.adapter,
            r.token_type,
            r.expires_in,
            r.scopes,
            str(r.requests),
            r.api,
        )
        for r in rows
    ]
    widths = [max(len(row[i]) for row in cells) for i in range(len(head))]

    def line(row: tuple[str, ...]) -> str:
        return "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip()

    return "\n".join(
        [line(head), line(tuple("-" * w for w in widths))]
        + [line(row) for row in cells[1:]]
    )


class _Failed(Exception):
    """A scenario did not go as it should."""


@contextmanager
def _counting(server: TokenServer, endpoint: str | None = None) -> Iterator[list[int]]:
    """Counts the token requests (to *endpoint*) made inside the block."""
    count = [0]
    before = len(server.token_requests(endpoint))
    yield count
    count[0] = len(server.token_requests(endpoint)) - before


def _refresh(server: TokenServer, name: str, flow: Flow, times: int) -> list[str]:
    """Refresh a token *times* through the urllib client, with a clock moved
    past each token's expiry; returns the refresh tokens seen, in order."""
    shift = [0.0]
    client = urllib_adapter.TokenClient(
        flow, timeout=TIMEOUT, clock=lambda: time.time() + shift[0]
    )
    token = client.token()
    seen = [_needs_refresh_token(token, name)]
    for _ in range(times):
        assert token.expires_at is not None
        shift[0] += token.expires_at - token.received_at
        token = client.token()
        seen.append(_needs_refresh_token(token, name))
        status = urllib_adapter.send(
            _api_request(server, token), timeout=TIMEOUT
        ).status
        if status != 200:
            raise _Failed(f"{name}: the API answered {status} to a refreshed token")
    if client.session.stats.refreshes != times:
        raise _Failed(
            f"{name}: {client.session.stats.refreshes} refreshes, not {times}"
        )
    return seen


def _needs_refresh_token(token: Token, name: str) -> str:
    if token.refresh_token is None:
        raise _Failed(f"{name}: the answer had no refresh token")
    return token.refresh_token


def _scenarios(
    server: TokenServer,
    flows: dict[str, Flow],
    adapters: tuple[Adapter, ...],
    out: IO[str],
) -> None:
    # A refresh: the generic password grant, its refresh token used once the
    # access token has expired (a clock moved forward; nobody waits an hour).
    with _counting(server, "generic") as count:
        _refresh(server, "password", flows["password"], times=1)
    out.write(
        "refresh     password grant, urllib: the access token expired and was "
        f"refreshed with grant_type=refresh_token ({count[0]} requests: "
        "password, then refresh); the API took the new token\n"
    )

    # Rotation: TeamSystem replaces the refresh token on each refresh and
    # revokes the old one; the session keeps the new one, so a second
    # refresh works.
    with _counting(server, "teamsystem-refresh") as count:
        seen = _refresh(server, "teamsystem", flows["teamsystem"], times=2)
    if len(set(seen)) != len(seen):
        raise _Failed("teamsystem: the refresh token was not rotated")
    out.write(
        f"rotation    teamsystem, urllib: {count[0]} JSON refreshes; each answer "
        "rotated the refresh token and the next refresh used the new one "
        "(the old one is revoked)\n"
    )

    # A retry: the server answers 503 with Retry-After: 1 once. On trio
    # when it is there, to show the wait on an event loop.
    retrying: Adapter = "trio" if "trio" in adapters else adapters[0]
    server.fail_next(1, status=503, retry_after=1)
    started = time.monotonic()
    with _counting(server, "smartdocumentor") as count:
        _, status = _get_and_call(server, flows["smartdocumentor"], retrying)
    waited = time.monotonic() - started
    if count[0] != 2 or status != 200:
        raise _Failed(f"retry: {count[0]} requests and API {status}")
    out.write(
        f"retry       smartdocumentor, {ADAPTER_NAMES[retrying]}: HTTP 503 with "
        f"Retry-After: 1, waited {waited:.1f} s, then a token ({count[0]} "
        "requests); the API took it\n"
    )

    # Single flight: many concurrent callers on one client, one request.
    server.set_latency(0.2)  # so that every caller arrives while it is in flight
    try:
        worlds: tuple[tuple[Adapter, str], ...] = (
            ("urllib", "threads"),
            ("trio", "trio tasks"),
            ("anyio", "asyncio tasks"),
            ("anyio-trio", "anyio tasks on trio"),
        )
        for adapter, what in worlds:
            if adapter not in adapters:
                continue
            with _counting(server, "generic") as count:
                tokens = _concurrent(flows["client-credentials"], adapter, CALLERS)
            if count[0] != 1 or len(tokens) != 1:
                raise _Failed(
                    f"{CALLERS} callers on {adapter}: {count[0]} requests, "
                    f"{len(tokens)} tokens"
                )
            out.write(
                f"{CALLERS} callers client-credentials, {ADAPTER_NAMES[adapter]}: "
                f"{CALLERS} {what} asked at once, {count[0]} token request, "
                "all got the same token\n"
            )
    finally:
        server.set_latency(0)


def demo(out: IO[str], adapters: tuple[Adapter, ...] = ()) -> int:
    """Run the demo, printing to *out*; returns the exit code (0: it all worked).

    Args:
      out: where the report goes.
      adapters: the adapters to run, in order; none given, every one whose
        extra is installed (the others are named, with how to install them).

    Raises:
      ImportError: an adapter of *adapters* needs an extra not installed.
    """
    skipped: list[str] = []
    if adapters:
        for adapter in adapters:
            adapter_module(adapter)  # raises, naming the extra
    else:
        for adapter in ADAPTERS:
            why = missing(adapter)
            if why is None:
                adapters += (adapter,)
            else:
                skipped.append(f"{ADAPTER_NAMES[adapter]}: {why}")
    started = time.monotonic()
    with TokenServer() as server:
        out.write(
            f"sansio-auth demo: a local token server at {server.url}; every "
            f"provider through {_adapters_text(adapters)}, each token then used "
            "on the API\n\n"
        )
        for line in skipped:
            out.write(f"skipped {line}\n")
        if skipped:
            out.write("\n")
        out.flush()
        flows = _flows(server)
        rows: list[Row] = []
        failures: list[str] = []
        for name, flow in flows:
            for adapter in adapters:
                adapter_name = ADAPTER_NAMES[adapter]
                with _counting(server) as count:
                    try:
                        token, status = _get_and_call(server, flow, adapter)
                    except TokenError as exc:
                        failures.append(f"{name} via {adapter_name}: {exc}")
                        continue
                rows.append(
                    Row(
                        provider=name,
                        adapter=adapter_name,
                        token_type=token.token_type,
                        expires_in=_expires_in(token),
                        scopes=_scopes(token),
                        requests=count[0],
                        api=str(status),
                    )
                )
                if status != 200:
                    failures.append(f"{name} via {adapter_name}: API {status}")
        out.write(_table(rows) + "\n\n")
        out.flush()
        try:
            _scenarios(server, dict(flows), adapters, out)
        except (TokenError, _Failed) as exc:
            failures.append(str(exc))
        seen = len(server.requests)
    for failure in failures:
        out.write(f"FAILED: {failure}\n")
    out.write(
        f"\n{len(rows)} tokens, {seen} requests to the server in "
        f"{time.monotonic() - started:.1f} s; no credential or token was printed.\n"
    )
    return 1 if failures else 0


def _adapters_text(adapters: tuple[Adapter, ...]) -> str:
    if set(adapters) == set(ADAPTERS):
        return "every adapter"
    names = [ADAPTER_NAMES[a] for a in adapters]
    if len(names) == 1:
        return f"the {names[0]} adapter"
    return f"the {', '.join(names[:-1])} and {names[-1]} adapters"
