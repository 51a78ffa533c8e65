"""The six cases of issue 6 and one of issue 10, each returning one table row."""

from __future__ import annotations

import base64
import gc
import importlib
import json
import os
import ssl
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import tracemalloc
import urllib.parse
import warnings
from collections.abc import Awaitable, Callable
from typing import Any

import attrs
from _timing import calibrate, fmt_time, interleaved, per_call

NOT_INSTALLED = "not installed"


@attrs.define
class Settings:
    """How hard to try: the full run, or a smoke run of seconds."""

    smoke: bool = False

    def pick(self, full: int, smoke: int) -> int:
        return smoke if self.smoke else full


@attrs.define
class Candidate:
    name: str
    value: str
    ratio: str


@attrs.define
class Row:
    case: str
    baseline: str
    target: str
    met: bool | None = None
    candidates: list[Candidate] = attrs.Factory(list)
    notes: list[str] = attrs.Factory(list)

    def met_text(self) -> str:
        return {True: "yes", False: "**no**", None: "n/a"}[self.met]


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


SCOPES = "read write profile email offline_access api.read api.write"


def token_body(seed: int = 0) -> bytes:
    """A ~1 KB token response: a JWT, 7 scopes, a refresh token."""
    return json.dumps(
        {
            "access_token": make_jwt(seed),
            "token_type": "Bearer",
            "expires_in": 3600,
            "scope": SCOPES,
            "refresh_token": "rt-" + "8f3b2a9c" * 8,
        }
    ).encode()


def _peer(module: str) -> Any:
    """The peer's module, or None when it is not installed."""
    with warnings.catch_warnings():
        # authlib warns about its own httpx integration on import.
        warnings.simplefilter("ignore")
        try:
            return importlib.import_module(module)
        except ImportError:
            return None


def _ratios(
    medians: dict[str, float], baseline: str, names: list[str]
) -> list[Candidate]:
    base = medians[baseline]
    out = [Candidate(baseline, fmt_time(base), "1.00")]
    for name in names:
        if name in medians:
            value = medians[name]
            out.append(Candidate(name, fmt_time(value), f"{value / base:.2f}"))
        else:
            out.append(Candidate(name, NOT_INSTALLED, "-"))
    return out


def _timed(
    funcs: dict[str, Callable[[], object]], settings: Settings
) -> dict[str, float]:
    target = 0.002 if settings.smoke else 0.02
    numbers = {name: calibrate(func, target) for name, func in funcs.items()}
    samples = {
        name: (lambda f=func, n=numbers[name]: per_call(f, n))
        for name, func in funcs.items()
    }
    return interleaved(samples, settings.pick(41, 3))


# -- 1. parse ------------------------------------------------------------


def case_parse(settings: Settings) -> Row:
    from sansio_auth import HttpResponse, Token, parse_token_response

    body = token_body()
    response = HttpResponse(
        status=200, headers=(("Content-Type", "application/json"),), body=body
    )
    check = parse_token_response(response, now=1_800_000_000.0)
    assert isinstance(check, Token)
    assert len(check.scopes or ()) == 7
    funcs: dict[str, Callable[[], object]] = {
        "json.loads": lambda: json.loads(body),
        "sansio_auth": lambda: parse_token_response(response, now=1_800_000_000.0),
    }
    authlib = _peer("authlib.oauth2.rfc6749")
    if authlib is not None:
        funcs["authlib"] = lambda: authlib.OAuth2Token.from_dict(json.loads(body))
    oauthlib = _peer("oauthlib.oauth2")
    if oauthlib is not None:
        client = oauthlib.BackendApplicationClient("app")
        funcs["oauthlib"] = lambda: client.parse_request_body_response(
            body.decode(), scope=SCOPES.split()
        )
    medians = _timed(funcs, settings)
    row = Row(
        case="parse a ~1 KB token response",
        baseline="json.loads of the same bytes",
        target="sansio_auth ≤ 1.20",
        candidates=_ratios(
            medians, "json.loads", ["authlib", "oauthlib", "sansio_auth"]
        ),
    )
    row.met = medians["sansio_auth"] / medians["json.loads"] <= 1.20
    row.notes.append(f"body is {len(body)} bytes; authlib: OAuth2Token.from_dict")
    return row


# -- 2. build ------------------------------------------------------------


def case_build(settings: Settings) -> Row:
    from sansio_auth import ClientCredentials

    url = "https://auth.example.com/oauth/token"
    cid, secret, scope = "my-client", "s3cr3t-value", "read write"
    form_headers = (
        ("Content-Type", "application/x-www-form-urlencoded"),
        ("Accept", "application/json"),
    )

    def baseline() -> object:
        body = urllib.parse.urlencode(
            {
                "grant_type": "client_credentials",
                "scope": scope,
                "client_id": cid,
                "client_secret": secret,
            }
        ).encode()
        return ("POST", url, form_headers, body)

    held = ClientCredentials(
        token_url=url, client_id=cid, client_secret=secret, scope=scope
    )
    funcs: dict[str, Callable[[], object]] = {
        "urlencode + header tuple": baseline,
        "sansio_auth": lambda: ClientCredentials(
            token_url=url, client_id=cid, client_secret=secret, scope=scope
        ).token_request(),
        "sansio_auth (held flow)": held.token_request,
    }
    oauthlib = _peer("oauthlib.oauth2")
    if oauthlib is not None:
        client = oauthlib.BackendApplicationClient(cid)
        funcs["oauthlib"] = lambda: client.prepare_token_request(
            url, scope=scope, include_client_id=True, client_secret=secret
        )
    authlib_params = _peer("authlib.oauth2.rfc6749.parameters")
    authlib_auth = _peer("authlib.oauth2.auth")
    if authlib_params is not None and authlib_auth is not None:
        auth = authlib_auth.ClientAuth(cid, secret, "client_secret_post")

        def authlib_build() -> object:
            body = authlib_params.prepare_token_request(
                "client_credentials", scope=scope
            )
            headers = {
                "Content-Type": "application/x-www-form-urlencoded",
                "Accept": "application/json",
            }
            return auth.prepare("POST", url, headers, body)

        funcs["authlib"] = authlib_build
    medians = _timed(funcs, settings)
    row = Row(
        case="build a client-credentials request",
        baseline="urlencode + header tuple",
        target="sansio_auth ≤ 1.30",
        candidates=_ratios(
            medians,
            "urlencode + header tuple",
            ["oauthlib", "authlib", "sansio_auth", "sansio_auth (held flow)"],
        ),
    )
    row.met = medians["sansio_auth"] / medians["urlencode + header tuple"] <= 1.30
    row.notes.append(
        "sansio_auth builds the flow (validating every argument) and takes its "
        "request; a held flow builds its request from arguments it checked when "
        "it was built"
    )
    return row


# -- 3. hot path ---------------------------------------------------------


def _generic_flow(server: Any) -> Any:
    from sansio_auth import ClientCredentials

    creds = server.credentials
    return ClientCredentials(
        token_url=server.generic_token_url,
        client_id=creds.generic_client_id,
        client_secret=creds.generic_client_secret,
    )


def _async_per_call(
    func: Callable[[], Awaitable[object]], number: int
) -> Callable[[], Awaitable[float]]:
    async def sample() -> float:
        start = time.perf_counter()
        for _ in range(number):
            await func()
        return (time.perf_counter() - start) / number

    return sample


def case_hot(settings: Settings) -> Row:
    import anyio

    from sansio_auth.adapters import anyio as anyio_adapter
    from sansio_auth.adapters import urllib as urllib_adapter
    from sansio_auth.adapters.server import TokenServer

    clock = time.time
    cache = {"authorization": "Bearer abc", "fresh_until": clock() + 3600}

    def baseline() -> object:
        return cache["authorization"] if clock() < 4e9 else None

    async def async_baseline() -> object:
        return cache["authorization"] if clock() < 4e9 else None

    repeat = settings.pick(41, 3)
    number = settings.pick(20_000, 500)
    with TokenServer() as server:
        flow = _generic_flow(server)
        sync_client = urllib_adapter.TokenClient(flow, timeout=10)
        sync_client.authorization()
        funcs: dict[str, Callable[[], object]] = {
            "dict lookup + clock read": baseline,
            "sansio_auth (urllib)": sync_client.authorization,
        }
        httpx = _peer("httpx")
        httpx_auth = _peer("httpx_auth")
        if httpx is not None and httpx_auth is not None:
            auth = httpx_auth.OAuth2ClientCredentials(
                server.generic_token_url,
                server.credentials.generic_client_id,
                server.credentials.generic_client_secret,
            )
            request = httpx.Request("GET", server.resource_url)
            next(auth.auth_flow(request))  # fetch once

            def httpx_auth_hot() -> object:
                return next(auth.auth_flow(request))

            funcs["httpx-auth"] = httpx_auth_hot
        authlib_httpx = _peer("authlib.integrations.httpx_client")
        if httpx is not None and authlib_httpx is not None:
            a_client = authlib_httpx.OAuth2Client(
                server.credentials.generic_client_id,
                server.credentials.generic_client_secret,
                token_endpoint=server.generic_token_url,
                grant_type="client_credentials",
            )
            a_client.fetch_token(server.generic_token_url)
            a_request = httpx.Request("GET", server.resource_url)

            def authlib_hot() -> object:
                # What OAuth2Client.send does before sending: check, then sign.
                a_client.ensure_active_token(a_client.token)
                return next(a_client.token_auth.auth_flow(a_request))

            funcs["authlib"] = authlib_hot
        medians = _timed(funcs, settings)

        async def async_medians() -> dict[str, float]:
            client = anyio_adapter.TokenClient(flow, timeout=10)
            await client.authorization()
            samples = {
                "async baseline": _async_per_call(async_baseline, number),
                "sansio_auth (anyio)": _async_per_call(client.authorization, number),
            }
            values: dict[str, list[float]] = {name: [] for name in samples}
            for i in range(repeat):
                names = list(samples)
                if i % 2:
                    names.reverse()
                for name in names:
                    values[name].append(await samples[name]())
            return {name: statistics.median(v) for name, v in values.items()}

        medians.update(anyio.run(async_medians))
    base = medians["dict lookup + clock read"]
    row = Row(
        case="hot path: Authorization value",
        baseline="dict lookup + clock read",
        target="sansio_auth ≤ 5 (sync and async)",
        candidates=_ratios(
            medians,
            "dict lookup + clock read",
            ["httpx-auth", "authlib", "sansio_auth (urllib)"],
        ),
    )
    abase = medians["async baseline"]
    row.candidates.append(
        Candidate("async baseline (awaited coroutine)", fmt_time(abase), "1.00")
    )
    ours_async = medians["sansio_auth (anyio)"]
    row.candidates.append(
        Candidate(
            "sansio_auth (anyio)", fmt_time(ours_async), f"{ours_async / abase:.2f}"
        )
    )
    row.met = medians["sansio_auth (urllib)"] / base <= 5 and ours_async / abase <= 5
    row.notes.append(
        "the async client is compared with an awaited coroutine doing the same "
        f"dict lookup and clock read ({abase / base:.1f}x the sync baseline)"
    )
    return row


# -- 4. single flight ----------------------------------------------------

LATENCY = 0.05
CALLS = 1000
THREADS = 32


class Ticker:
    """The longest gap between wake-ups of a task sleeping *period* seconds
    (5 ms by default) at a time."""

    def __init__(self, period: float = 0.005) -> None:
        self.period = period
        self.max_gap = 0.0
        self.done = False

    async def run(self, sleep: Callable[[float], Awaitable[object]]) -> None:
        last = time.perf_counter()
        while not self.done:
            await sleep(self.period)
            now = time.perf_counter()
            self.max_gap = max(self.max_gap, now - last)
            last = now


def _threads_run(make_call: Callable[[], Callable[[], object]]) -> float:
    """Wall time of THREADS threads making CALLS calls in all, cold."""
    call = make_call()
    per_thread = CALLS // THREADS + 1
    barrier = threading.Barrier(THREADS + 1)

    def worker() -> None:
        barrier.wait()
        for _ in range(per_thread):
            call()

    threads = [threading.Thread(target=worker) for _ in range(THREADS)]
    for t in threads:
        t.start()
    barrier.wait()
    start = time.perf_counter()
    for t in threads:
        t.join()
    return time.perf_counter() - start


def _sequential(make_call: Callable[[], Callable[[], object]]) -> float:
    call = make_call()
    start = time.perf_counter()
    for _ in range(CALLS + 1):
        call()
    return time.perf_counter() - start


@attrs.define
class Flight:
    requests: list[int] = attrs.Factory(list)
    ratios: list[float] = attrs.Factory(list)
    gaps: list[float] = attrs.Factory(list)

    def summary(self) -> tuple[str, str]:
        reqs = sorted(set(self.requests))
        value = f"requests {'/'.join(map(str, reqs))}"
        if self.gaps:
            value += f", max loop gap {max(self.gaps) * 1e3:.0f} ms"
        return value, f"{statistics.median(self.ratios):.2f}x ideal"


def _async_world(
    backend: str, client_factory: Callable[[], Any], repeat: int, server: Any
) -> Flight:
    """Cold client, CALLS tasks at once; and the ideal, one after another."""
    import anyio

    flight = Flight()

    async def concurrent() -> None:
        client = client_factory()
        ticker = Ticker()
        before = len(server.token_requests())
        gate = anyio.Event()

        async def caller() -> None:
            await gate.wait()
            await client.authorization()

        async with anyio.create_task_group() as tg:
            # The callers are spawned first and wait at a gate: spawning a
            # thousand tasks is the caller's cost, not the client's.
            async with anyio.create_task_group() as callers:
                for _ in range(CALLS):
                    callers.start_soon(caller)
                await anyio.sleep(0.01)
                tg.start_soon(ticker.run, anyio.sleep)
                await anyio.sleep(0.01)
                start = time.perf_counter()
                gate.set()
            wall = time.perf_counter() - start
            ticker.done = True
        flight.requests.append(len(server.token_requests()) - before)
        flight.gaps.append(ticker.max_gap)
        flight.ratios.append(wall)

    async def ideal() -> float:
        client = client_factory()
        start = time.perf_counter()
        for _ in range(CALLS + 1):
            await client.authorization()
        return time.perf_counter() - start

    async def main() -> None:
        walls: list[float] = []
        ideals: list[float] = []
        for _ in range(repeat):
            ideals.append(await ideal())
            await concurrent()
            walls.append(flight.ratios.pop())
        flight.ratios = [w / i for w, i in zip(walls, ideals, strict=True)]

    anyio.run(main, backend=backend)
    return flight


def _thread_world(
    make_call: Callable[[], Callable[[], object]], repeat: int, server: Any
) -> Flight:
    flight = Flight()
    for _ in range(repeat):
        ideal = _sequential(make_call)
        before = len(server.token_requests())
        wall = _threads_run(make_call)
        flight.requests.append(len(server.token_requests()) - before)
        flight.ratios.append(wall / ideal)
    return flight


class EventOnlyClient:
    """The least a single-flight client can do, as a reference: the first
    caller sends the request, every other caller waits on one event. No
    session, no retry, no deadline, no checks. What it scores is the floor
    the benchmark's own shape (its gate, a thousand tasks woken twice, the
    task group's exit) leaves on this machine: no client can beat it.
    """

    def __init__(self, flow: Any) -> None:
        self.flow = flow
        self.value: str | None = None
        self.event: Any = None
        self.fetching = False

    async def authorization(self) -> str:
        import anyio

        from sansio_auth import Token
        from sansio_auth.adapters import anyio as anyio_adapter

        if self.value is not None:
            return self.value
        if self.fetching:
            if self.event is None:
                self.event = anyio.Event()
            await self.event.wait()
            assert self.value is not None
            return self.value
        self.fetching = True
        response = await anyio_adapter.send(self.flow.token_request(), timeout=10)
        token = self.flow.parse(response, now=time.time())
        assert isinstance(token, Token)
        self.value = token.authorization()
        if self.event is not None:
            self.event.set()
        return self.value


def case_single_flight(settings: Settings) -> Row:
    from sansio_auth.adapters import anyio as anyio_adapter
    from sansio_auth.adapters import trio as trio_adapter
    from sansio_auth.adapters import urllib as urllib_adapter
    from sansio_auth.adapters.server import TokenServer

    repeat = settings.pick(7, 1)
    row = Row(
        case=f"single flight: {CALLS} async callers, {THREADS} threads, cold",
        baseline=f"one request ({LATENCY * 1e3:.0f} ms latency), then {CALLS} calls",
        target="1 request everywhere, loop never blocked, wall ≤ 1.1x ideal",
    )
    met = True
    with TokenServer() as server:
        server.set_latency(LATENCY)
        flow = _generic_flow(server)
        worlds: list[tuple[str, Flight]] = [
            (
                f"sansio_auth urllib, {THREADS} threads",
                _thread_world(
                    lambda: urllib_adapter.TokenClient(flow, timeout=10).authorization,
                    repeat,
                    server,
                ),
            ),
            (
                f"sansio_auth anyio/asyncio, {CALLS} tasks",
                _async_world(
                    "asyncio",
                    lambda: anyio_adapter.TokenClient(flow, timeout=10),
                    repeat,
                    server,
                ),
            ),
            (
                f"sansio_auth trio, {CALLS} tasks",
                _async_world(
                    "trio",
                    lambda: trio_adapter.TokenClient(flow, timeout=10),
                    repeat,
                    server,
                ),
            ),
        ]
        for name, flight in worlds:
            value, ratio = flight.summary()
            row.candidates.append(Candidate(name, value, ratio))
            ok = (
                set(flight.requests) == {1}
                and statistics.median(flight.ratios) <= 1.1
                and all(gap < LATENCY / 2 for gap in flight.gaps)
            )
            met = met and ok
        for backend in ("asyncio", "trio"):
            name = f"floor: one request + one event, {backend}, {CALLS} tasks"
            flight = _async_world(
                backend, lambda: EventOnlyClient(flow), repeat, server
            )
            value, ratio = flight.summary()
            row.candidates.append(Candidate(name, value, ratio))
        row.candidates.extend(_single_flight_peers(server, settings))
    row.met = met
    row.notes.append(
        "ideal: the same client kind, one cold call then the rest, sequential; "
        "max loop gap: longest wake-up gap of a task sleeping 5 ms (blocked if "
        f">= {LATENCY / 2 * 1e3:.0f} ms); floor: a reference client that only "
        "sends one request and parks the other callers on one event (no "
        "session, no retry, no deadline), the least any client can score here"
    )
    return row


def _single_flight_peers(server: Any, settings: Settings) -> list[Candidate]:
    out: list[Candidate] = []
    repeat = settings.pick(3, 1)
    httpx = _peer("httpx")
    httpx_auth = _peer("httpx_auth")
    creds = server.credentials
    if httpx is None or httpx_auth is None:
        out.append(Candidate("httpx-auth", NOT_INSTALLED, "-"))
    else:
        resource = server.resource_url

        def make_httpx_auth() -> Callable[[], object]:
            httpx_auth.OAuth2.token_cache.clear()
            auth = httpx_auth.OAuth2ClientCredentials(
                server.generic_token_url,
                creds.generic_client_id,
                creds.generic_client_secret,
            )

            def call() -> object:
                return next(auth.auth_flow(httpx.Request("GET", resource)))

            return call

        flight = _thread_world(make_httpx_auth, repeat, server)
        value, ratio = flight.summary()
        out.append(Candidate(f"httpx-auth, {THREADS} threads", value, ratio))

        class HttpxAuthClient:
            def __init__(self) -> None:
                self.call = make_httpx_auth()

            async def authorization(self) -> object:
                return self.call()  # what httpx's async_auth_flow does: sync

        flight = _async_world("asyncio", HttpxAuthClient, repeat, server)
        value, ratio = flight.summary()
        out.append(Candidate(f"httpx-auth, asyncio, {CALLS} tasks", value, ratio))
    authlib_httpx = _peer("authlib.integrations.httpx_client")
    if httpx is None or authlib_httpx is None:
        out.append(Candidate("authlib", NOT_INSTALLED, "-"))
    else:
        expired = {"access_token": "x", "token_type": "Bearer", "expires_at": 1}

        def make_authlib() -> Callable[[], object]:
            client = authlib_httpx.OAuth2Client(
                creds.generic_client_id,
                creds.generic_client_secret,
                token_endpoint=server.generic_token_url,
                grant_type="client_credentials",
                token=dict(expired),
            )

            def call() -> object:
                client.ensure_active_token(client.token)
                return client.token["access_token"]

            return call

        flight = _thread_world(make_authlib, repeat, server)
        value, ratio = flight.summary()
        out.append(Candidate(f"authlib sync, {THREADS} threads", value, ratio))
    return out


# -- 5. import time ------------------------------------------------------


def case_import(settings: Settings) -> Row:
    modules = {
        "python -c pass": "pass",
        "import attrs": "import attrs",
        "sansio_auth": "import sansio_auth",
    }
    if _peer("httpx_auth") is not None:
        modules["httpx_auth"] = "import httpx_auth"
    if _peer("authlib.integrations.httpx_client") is not None:
        modules["authlib.integrations.httpx_client"] = (
            "import authlib.integrations.httpx_client"
        )
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    with tempfile.TemporaryDirectory() as cwd:

        def sample(code: str) -> Callable[[], float]:
            def run() -> float:
                start = time.perf_counter()
                subprocess.run(  # noqa: S603 -- our own interpreter, fixed code
                    [sys.executable, "-c", code], check=True, cwd=cwd, env=env
                )
                return time.perf_counter() - start

            return run

        for code in modules.values():  # warm the disk cache and .pyc files
            sample(code)()
        medians = interleaved(
            {name: sample(code) for name, code in modules.items()},
            settings.pick(25, 2),
        )
    bare = medians["python -c pass"]
    row = Row(
        case="import in a fresh interpreter",
        baseline="import attrs",
        target="sansio_auth within 10 ms of import attrs",
    )
    for name in modules:
        value = medians[name]
        row.candidates.append(
            Candidate(
                name,
                fmt_time(value),
                "-" if name == "python -c pass" else f"+{(value - bare) * 1e3:.1f} ms",
            )
        )
    for peer in ("httpx_auth", "authlib.integrations.httpx_client"):
        if peer not in modules:
            row.candidates.append(Candidate(peer, NOT_INSTALLED, "-"))
    over = medians["sansio_auth"] - medians["import attrs"]
    row.met = over <= 0.010
    row.notes.append(
        f"sansio_auth is {over * 1e3:+.1f} ms over import attrs "
        "(ratio column: over python -c pass)"
    )
    return row


# -- 6. memory -----------------------------------------------------------


def _retained(build: Callable[[], object]) -> tuple[int, object]:
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        kept = build()
        gc.collect()
        after = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    return after - before, kept


def case_memory(settings: Settings) -> Row:
    import anyio

    from sansio_auth import ClientCredentials, HttpResponse, SendRequest, TokenSession
    from sansio_auth.adapters import anyio as anyio_adapter

    n = settings.pick(10_000, 200)
    n_peer = settings.pick(2_000, 50)
    url = "https://auth.example.com/oauth/token"
    # The same token the peers hold: an access token, its type and expiry.
    bodies = [
        json.dumps(
            {"access_token": make_jwt(i), "token_type": "Bearer", "expires_in": 3600}
        ).encode()
        for i in range(n)
    ]
    now = time.time()

    strings_size, strings = _retained(lambda: [make_jwt(i) for i in range(n)])
    del strings
    per_string = strings_size / n

    def build_ours() -> object:
        clients = []
        for i, body in enumerate(bodies):
            flow = ClientCredentials(
                token_url=url, client_id=f"tenant-{i}", client_secret=f"secret-{i}"
            )
            session = TokenSession(flow)
            step = session.next_step(now)
            assert isinstance(step, SendRequest)
            session.receive(
                HttpResponse(
                    status=200,
                    headers=(("Content-Type", "application/json"),),
                    body=body,
                ),
                now=now,
                step=step,
            )
            clients.append(anyio_adapter.TokenClient(flow, session=session))

        async def warm() -> None:
            for client in clients:
                await client.authorization()

        anyio.run(warm)
        return clients

    async def nothing() -> None:
        pass

    anyio.run(nothing)  # import the backend before measuring: not per client
    ours, kept = _retained(build_ours)
    del kept
    row = Row(
        case=f"memory per client holding a token ({n:,} tenants)",
        baseline=f"the bare 800-character token strings ({per_string:.0f} B each)",
        target="overhead ≤ 1 KB per client, session and client included",
    )
    row.candidates.append(Candidate("bare token string", f"{per_string:.0f} B", "-"))

    ours_over = ours / n - per_string
    row.candidates.append(
        Candidate(
            "sansio_auth (anyio TokenClient + session + flow)",
            f"{ours / n:.0f} B",
            f"+{ours_over / 1024:.2f} KB",
        )
    )
    authlib_httpx = _peer("authlib.integrations.httpx_client")
    if authlib_httpx is None:
        row.candidates.append(
            Candidate("authlib AsyncOAuth2Client", NOT_INSTALLED, "-")
        )
    else:

        def build_authlib() -> object:
            return [
                authlib_httpx.AsyncOAuth2Client(
                    f"tenant-{i}",
                    f"secret-{i}",
                    token_endpoint=url,
                    token={
                        "access_token": make_jwt(i),
                        "token_type": "Bearer",
                        "expires_at": int(now) + 3600,
                    },
                )
                for i in range(n_peer)
            ]

        authlib_httpx.AsyncOAuth2Client("warm", "up")  # its imports: not per client
        size, kept = _retained(build_authlib)
        del kept
        row.candidates.append(
            Candidate(
                "authlib AsyncOAuth2Client",
                f"{size / n_peer:.0f} B",
                f"+{(size / n_peer - per_string) / 1024:.2f} KB",
            )
        )
    httpx_auth = _peer("httpx_auth")
    if httpx_auth is None:
        row.candidates.append(Candidate("httpx-auth", NOT_INSTALLED, "-"))
    else:
        httpx_auth.OAuth2.token_cache.clear()

        def build_httpx_auth() -> object:
            auths = []
            for i in range(n_peer):
                auth = httpx_auth.OAuth2ClientCredentials(
                    url, f"tenant-{i}", f"secret-{i}"
                )
                httpx_auth.OAuth2.token_cache._add_access_token(
                    auth.state, make_jwt(i), 3600
                )
                auths.append(auth)
            return auths

        httpx_auth.OAuth2ClientCredentials(url, "warm", "up")
        size, kept = _retained(build_httpx_auth)
        del kept
        httpx_auth.OAuth2.token_cache.clear()
        row.candidates.append(
            Candidate(
                "httpx-auth OAuth2ClientCredentials",
                f"{size / n_peer:.0f} B",
                f"+{(size / n_peer - per_string) / 1024:.2f} KB",
            )
        )
    row.met = ours_over <= 1024
    row.notes.append(
        "tracemalloc: bytes still allocated after building the clients, per client, "
        "minus the bare string; each sansio_auth client has its own flow, session "
        "and parsed token (the token's raw mapping included)"
    )
    return row


# -- 7. the TLS context of a send (issue 10) -------------------------------


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


def case_tls_context(settings: Settings) -> Row:
    from sansio_auth.adapters import _common
    from sansio_auth.adapters import anyio as anyio_adapter
    from sansio_auth.adapters import urllib as urllib_adapter
    from sansio_auth.adapters.server import TokenServer

    row = Row(
        case="send: a new TLS context per send, or one shared",
        baseline="urllib send, new default context per send (before issue 10)",
        target="http send with the shared default ≥ 10x cheaper",
    )
    shared_default = _common.default_ssl_context()
    with TokenServer() as server:
        request = _generic_flow(server).token_request()
        fresh = _fresh_context(None)
        medians = _timed(
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
    trustme = _peer("trustme")
    if trustme is None:
        row.candidates.append(Candidate("https rows (trustme)", NOT_INSTALLED, "-"))
    else:
        ca = trustme.CA()
        server_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ca.issue_cert("127.0.0.1").configure_cert(server_context)
        fresh = _fresh_context(ca)
        shared = fresh()
        with TokenServer(ssl_context=server_context) as server:
            request = _generic_flow(server).token_request()
            medians = _timed(
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


CASES: dict[str, Callable[[Settings], Row]] = {
    "parse": case_parse,
    "build": case_build,
    "hot": case_hot,
    "single-flight": case_single_flight,
    "import": case_import,
    "memory": case_memory,
    "tls-context": case_tls_context,
}
