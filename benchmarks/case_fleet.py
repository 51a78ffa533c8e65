"""Fleet: one token for many processes through a shared store (issue 13).

A fleet of 16 processes x 8 threads (smoke: 4 x 2) against a local
``TokenServer`` (50 ms latency, 3-s tokens; smoke: 2-s) for 30 s (smoke:
3 s): each thread asks for a token in a loop, sleeping 1 ms between calls
(the API work). Ours is the urllib ``TokenClient`` of each process, all on
one ``RedisStore`` (a ``redis-server`` this case starts on a free port).
authlib's ``OAuth2Client`` and httpx-auth's ``OAuth2ClientCredentials`` have
no shared store: each process has its own client, shared by its threads.
Each library has a token server of its own, which counts its requests. The
fleets run one after the other (smoke: at the same time, to last seconds).

Every fleet goes through three phases:

1. **Cold start**: every thread asks at once. Ours: the thread whose write
   to the store was taken is the owner; every other thread's return after
   the owner's is a follower's extra wait (its return after the owner's
   write is given too).
2. **Hot**: every process holds a valid token, and each thread calls
   ``token()`` N times in a row. Ours: the commands Redis processed meanwhile
   (``CONFIG RESETSTAT`` before, ``INFO commandstats`` after) per call.
3. **Steady**: the loop, through several refreshes. Counted at the token
   server: the requests per token lifetime, and the rounds (bursts of
   requests a quarter lifetime or more of quiet apart: the cold start and
   each refresh). Ours: the calls over 5 ms that sent no request, and how
   long the owners' calls took. Everyone: how many calls the loop made
   against its pace (a thread sleeping 1 ms at a time alone), which says
   whether the machine kept up.

Time is compressed: a 3-s token stands for a one-hour token, so every fixed
margin in seconds is scaled by lifetime / 3600 (our leeway of 30 s, authlib's
leeway of 60 s, httpx-auth's early expiry of 30 s; our ``refresh_ahead`` is
a fraction already). With their defaults both peers see a 3-s token as
expired on arrival and fetch on every call.

A lone client refreshing at 0.9 of a lifetime makes 1.1 requests per
lifetime. Target: one token request per refresh for the whole fleet (as many
requests as rounds), the followers at most 5 ms after the owner, 0.0 Redis
commands per call with a valid token.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import queue
import random
import shutil
import socket
import statistics
import subprocess
import tempfile
import threading
import time
import traceback
import warnings
from collections.abc import Callable, Iterator
from typing import Any

import attrs
from _fixtures import load_peer
from _timing import NOT_INSTALLED, Candidate, Row, Settings

LATENCY = 0.05
# The API work between two calls of a thread.
WORK = 0.001
# A one-hour token's margins, scaled to the benchmark's lifetime.
HOUR = 3600.0
# The followers' target: their extra wait after the owner, at most.
FOLLOWER_TARGET = 0.005
# Calls slower than this are kept (with whether they sent a request).
SLOW = 0.001
# How long the parent waits for every process to reach a phase's end.
PHASE_TIMEOUT = 120.0

OURS = "ours"
AUTHLIB = "authlib"
HTTPX_AUTH = "httpx-auth"
LIBRARIES = (OURS, AUTHLIB, HTTPX_AUTH)

NAMES = {
    OURS: "sansio_auth urllib TokenClient + RedisStore",
    AUTHLIB: "authlib OAuth2Client, one per process",
    HTTPX_AUTH: "httpx-auth OAuth2ClientCredentials, one per process",
}


@attrs.frozen
class Spec:
    """What a process of a fleet needs (picklable: it crosses to the child)."""

    library: str
    token_url: str
    resource_url: str
    client_id: str
    client_secret: str
    lifetime: float
    threads: int
    hot_calls: int
    redis_url: str | None = None


@attrs.frozen
class Gates:
    """The phases' starts, the same for every process of a run."""

    cold: Any
    hot: Any
    steady: Any
    stop: Any

    def open_all(self) -> None:
        for gate in (self.cold, self.hot, self.steady, self.stop):
            gate.set()


# -- in each process -------------------------------------------------------


class Watched:
    """A store that notes how often it is called, and which thread wrote a
    token when: the owner of a fetch is the thread whose write was taken.

    Args:
      store: the store every call goes to.
    """

    def __init__(self, store: Any) -> None:
        self.store = store
        self.prefix: str = store.prefix
        # list.append is atomic: the threads of the process share these.
        self.calls: list[None] = []
        self.writes: list[tuple[int, float]] = []

    def read(self, key: str) -> Any:
        self.calls.append(None)
        return self.store.read(key)

    def acquire(self, key: str, owner: str, ttl: float) -> Any:
        self.calls.append(None)
        return self.store.acquire(key, owner, ttl)

    def write(
        self, key: str, owner: str, token: bytes, tag: str, ttl: float | None
    ) -> bool:
        self.calls.append(None)
        written: bool = self.store.write(key, owner, token, tag, ttl)
        if written:
            self.writes.append((threading.get_ident(), time.monotonic()))
        return written

    def fail(self, key: str, owner: str, failure: bytes, ttl: float) -> bool:
        self.calls.append(None)
        failed: bool = self.store.fail(key, owner, failure, ttl)
        return failed

    def release(self, key: str, owner: str) -> None:
        self.calls.append(None)
        self.store.release(key, owner)

    def discard(self, key: str, tag: str) -> bool:
        self.calls.append(None)
        discarded: bool = self.store.discard(key, tag)
        return discarded

    def wait(self, key: str, timeout: float) -> None:
        self.calls.append(None)
        self.store.wait(key, timeout)

    def close(self) -> None:
        self.store.close()


def authlib_httpx() -> Any:
    """authlib's httpx integration, or None; without its warning about httpx
    in every process: authlib sets an "always" filter of its own when
    imported, so its first module is imported before the one that warns."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if load_peer("authlib.deprecate") is None:
            return None
    return load_peer("authlib.integrations.httpx_client")


def _client(spec: Spec) -> tuple[Callable[[], Callable[[], object]], Watched | None]:
    """A factory of each thread's call, and our watched store."""
    if spec.library == OURS:
        from sansio_auth import ClientCredentials, TokenSession
        from sansio_auth.adapters.redis import RedisStore
        from sansio_auth.adapters.urllib import TokenClient

        assert spec.redis_url is not None
        flow = ClientCredentials(
            token_url=spec.token_url,
            client_id=spec.client_id,
            client_secret=spec.client_secret,
        )
        store = Watched(RedisStore.from_url(spec.redis_url))
        timeout = 10.0
        # The client's own default session but for the leeway, scaled as the
        # peers' margins are; fetch_timeout as the client sets it.
        session = TokenSession(
            flow,
            leeway=30.0 * spec.lifetime / HOUR,
            jitter=random.random,
            fetch_timeout=timeout + 5.0,
        )
        client = TokenClient(flow, timeout=timeout, session=session, store=store)

        return lambda: client.token, store
    if spec.library == AUTHLIB:
        expired = {"access_token": "x", "token_type": "Bearer", "expires_at": 1}
        peer = authlib_httpx().OAuth2Client(
            spec.client_id,
            spec.client_secret,
            token_endpoint=spec.token_url,
            grant_type="client_credentials",
            token=dict(expired),
            leeway=60.0 * spec.lifetime / HOUR,
            timeout=10.0,
        )

        def authlib() -> object:
            peer.ensure_active_token(peer.token)
            return peer.token["access_token"]

        return lambda: authlib, None
    httpx = load_peer("httpx")
    httpx_auth = load_peer("httpx_auth")
    auth = httpx_auth.OAuth2ClientCredentials(
        spec.token_url,
        spec.client_id,
        spec.client_secret,
        early_expiry=30.0 * spec.lifetime / HOUR,
    )

    def per_thread() -> Callable[[], object]:
        # auth_flow sets the header on the request it is given: one a thread.
        request = httpx.Request("GET", spec.resource_url)

        def httpx_auth_call() -> object:
            return next(auth.auth_flow(request)).headers["Authorization"]

        return httpx_auth_call

    return per_thread, None


@attrs.define
class ThreadLog:
    """What one thread saw."""

    ident: int = 0
    cold_return: float = 0.0
    # (start, end) of calls slower than SLOW, after the cold start.
    slow: list[tuple[float, float]] = attrs.Factory(list)
    calls: int = 0


@attrs.frozen
class ColdReport:
    # (thread, when its first call returned), monotonic seconds.
    returns: list[tuple[int, float]]
    # (thread, when) of the store writes taken (ours).
    writes: list[tuple[int, float]]


@attrs.frozen
class HotReport:
    calls: int
    store_calls: int


@attrs.frozen
class SteadyReport:
    calls: int
    # (duration, whether the call sent a token request; None: cannot tell).
    slow: list[tuple[float, bool | None]]
    store_calls: int


def process_main(
    spec: Spec, where: tuple[int, int], gates: Gates, results: Any
) -> None:
    """A process of a fleet: its client, its threads, a report per phase."""
    try:
        _process(spec, where, gates, results)
    except BaseException:
        results.put((where, "error", traceback.format_exc()))
        raise
    # The reports flushed, skip the interpreter's shutdown: it took half a
    # second a process here (a dozen at once: seconds), for nothing.
    results.close()
    results.join_thread()
    os._exit(0)


def _process(spec: Spec, where: tuple[int, int], gates: Gates, results: Any) -> None:
    make_call, store = _client(spec)
    logs = [ThreadLog() for _ in range(spec.threads)]
    done = threading.Barrier(spec.threads + 1)
    stopping = threading.Event()
    errors: list[str] = []

    def worker(log: ThreadLog) -> None:
        try:
            _worker(log)
        except BaseException:
            errors.append(traceback.format_exc())
            done.abort()  # the process's main thread reports it

    def _worker(log: ThreadLog) -> None:
        call = make_call()
        clock = time.monotonic
        log.ident = threading.get_ident()
        gates.cold.wait()
        call()
        log.cold_return = clock()
        done.wait()
        gates.hot.wait()
        for _ in range(spec.hot_calls):
            call()
        done.wait()
        gates.steady.wait()
        sleep, calls = time.sleep, 0
        while not stopping.is_set():
            start = clock()
            call()
            end = clock()
            calls += 1
            if end - start > SLOW:
                log.slow.append((start, end))
            sleep(WORK)
        log.calls = calls
        done.wait()

    threads = [
        threading.Thread(target=worker, args=(log,), daemon=True) for log in logs
    ]
    for thread in threads:
        thread.start()
    results.put((where, "ready", None))
    try:
        _phases(spec, where, gates, results, logs, store, done, stopping)
    except threading.BrokenBarrierError:
        raise RuntimeError("a thread failed:\n" + "\n".join(errors)) from None
    for thread in threads:
        thread.join()
    if store is not None:
        store.close()


def _phases(
    spec: Spec,
    where: tuple[int, int],
    gates: Gates,
    results: Any,
    logs: list[ThreadLog],
    store: Watched | None,
    done: threading.Barrier,
    stopping: threading.Event,
) -> None:
    """The main thread of a process: a report at the end of each phase."""
    done.wait()
    writes = list(store.writes) if store is not None else []
    results.put(
        (
            where,
            "cold",
            ColdReport(
                returns=[(log.ident, log.cold_return) for log in logs], writes=writes
            ),
        )
    )
    mark = len(store.calls) if store is not None else 0
    gates.hot.wait()
    done.wait()
    results.put(
        (
            where,
            "hot",
            HotReport(
                calls=spec.threads * spec.hot_calls,
                store_calls=(len(store.calls) - mark) if store is not None else 0,
            ),
        )
    )
    mark = len(store.calls) if store is not None else 0
    gates.stop.wait()
    stopping.set()
    done.wait()
    results.put((where, "steady", _steady_report(logs, store, mark)))


def _steady_report(
    logs: list[ThreadLog], store: Watched | None, mark: int
) -> SteadyReport:
    writes = list(store.writes) if store is not None else []
    slow: list[tuple[float, bool | None]] = []
    for log in logs:
        for start, end in log.slow:
            sent: bool | None = None
            if store is not None:
                # The call that wrote the token is the one that fetched it.
                sent = any(
                    ident == log.ident and start <= at <= end for ident, at in writes
                )
            slow.append((end - start, sent))
    return SteadyReport(
        calls=sum(log.calls for log in logs),
        slow=slow,
        store_calls=(len(store.calls) - mark) if store is not None else 0,
    )


# -- the parent -----------------------------------------------------------


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@contextlib.contextmanager
def redis_server(executable: str) -> Iterator[str]:
    """A ``redis-server`` of our own on a free loopback port, persistence off;
    yields its URL, and stops it at the end."""
    import redis

    directory = tempfile.mkdtemp(prefix="sansio-auth-bench-redis-")
    process: subprocess.Popen[bytes] | None = None
    try:
        for _ in range(5):  # a port may be taken between the probe and the bind
            port = _free_port()
            process = subprocess.Popen(  # noqa: S603 -- the redis-server on PATH
                [
                    executable,
                    *("--port", str(port), "--bind", "127.0.0.1"),
                    *("--save", "", "--appendonly", "no"),
                    *("--dir", directory, "--logfile", "redis.log"),
                ],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            probe = redis.Redis(port=port, socket_timeout=0.5)
            deadline = time.monotonic() + 10
            while process.poll() is None and time.monotonic() < deadline:
                with contextlib.suppress(redis.RedisError):
                    if probe.ping():
                        break
                time.sleep(0.02)
            probe.close()
            if process.poll() is None and time.monotonic() < deadline:
                break
            process.kill()
            process.wait()
            process = None
        if process is None:
            raise RuntimeError("redis-server did not start")
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        if process is not None:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        shutil.rmtree(directory, ignore_errors=True)


@attrs.define
class Fleet:
    """One library's fleet in a run, and what it reported."""

    library: str
    server: Any
    spec: Spec
    cold: list[ColdReport] = attrs.Factory(list)
    cold_where: list[int] = attrs.Factory(list)
    hot: list[HotReport] = attrs.Factory(list)
    steady: list[SteadyReport] = attrs.Factory(list)
    requests_cold: int = 0
    requests_hot: int = 0
    requests: int = 0
    request_times: list[float] = attrs.Factory(list)
    seconds: float = 0.0
    redis_commands: int | None = None


def _collect(
    results: Any, phase: str, fleets: list[Fleet], children: list[Any]
) -> None:
    """Each process's report of *phase*, into its fleet."""
    deadline = time.monotonic() + PHASE_TIMEOUT
    count = 0
    while count < len(children):
        try:
            (fleet_no, index), got, report = results.get(timeout=0.2)
        except queue.Empty:
            # A process that died before it could report (in its start-up)
            # would leave us waiting for the whole timeout.
            if any(child.exitcode not in (None, 0) for child in children):
                raise RuntimeError(f"fleet: a process died before {phase}") from None
            if time.monotonic() > deadline:
                raise RuntimeError(f"fleet: no {phase} report in time") from None
            continue
        count += 1
        if got == "error":
            raise RuntimeError(
                f"fleet: a {fleets[fleet_no].library} process failed:\n{report}"
            )
        if got != phase:
            raise RuntimeError(f"fleet: a {got} report during {phase}")
        fleet = fleets[fleet_no]
        if phase == "cold":
            fleet.cold.append(report)
            fleet.cold_where.append(index)
        elif phase == "hot":
            fleet.hot.append(report)
        elif phase == "steady":
            fleet.steady.append(report)


def _redis_commands(client: Any) -> int:
    """The commands Redis processed since its stats were reset, less the
    ones this measure sent (CONFIG RESETSTAT, INFO)."""
    stats: dict[str, Any] = client.info("commandstats")
    return sum(
        int(entry["calls"])
        for name, entry in stats.items()
        if not name.startswith(("cmdstat_config", "cmdstat_info"))
    )


def run_fleets(
    fleets: list[Fleet], processes: int, duration: float, redis_url: str | None
) -> None:
    """Run *fleets* at the same time, phase by phase, filling in their
    reports."""
    context = multiprocessing.get_context("spawn")
    gates = Gates(context.Event(), context.Event(), context.Event(), context.Event())
    results = context.Queue()
    children = [
        context.Process(
            target=process_main,
            args=(fleet.spec, (fleet_no, index), gates, results),
            daemon=True,
        )
        for fleet_no, fleet in enumerate(fleets)
        for index in range(processes)
    ]
    redis_client: Any = None
    try:
        if redis_url is not None:
            import redis

            redis_client = redis.Redis.from_url(redis_url)
        for child in children:
            child.start()
        _collect(results, "ready", fleets, children)
        started = time.monotonic()
        gates.cold.set()
        _collect(results, "cold", fleets, children)
        for fleet in fleets:
            fleet.requests_cold = len(fleet.server.token_requests())
        if redis_client is not None:
            redis_client.config_resetstat()
        gates.hot.set()
        _collect(results, "hot", fleets, children)
        for fleet in fleets:
            if fleet.library == OURS and redis_client is not None:
                fleet.redis_commands = _redis_commands(redis_client)
            fleet.requests_hot = (
                len(fleet.server.token_requests()) - fleet.requests_cold
            )
        gates.steady.set()
        time.sleep(duration)
        gates.stop.set()
        stopped = time.monotonic()
        _collect(results, "steady", fleets, children)
        # Every call has returned: no request is left to come.
        for fleet in fleets:
            received = [r.received_at for r in fleet.server.token_requests()]
            fleet.requests = len(received)
            fleet.request_times = received
            fleet.seconds = stopped - started
    finally:
        gates.open_all()
        for child in children:
            child.join(timeout=10)
            if child.is_alive():
                child.terminate()
                child.join()
        if redis_client is not None:
            redis_client.close()


# -- the figures ------------------------------------------------------------


def rounds(times: list[float], lifetime: float) -> int:
    """How many times the fleet fetched: the bursts of token requests
    (received at *times*) apart by a quarter lifetime of quiet or more."""
    count, last = 0, -float("inf")
    for when in sorted(times):
        if when - last >= lifetime / 4:
            count += 1
        last = when
    return count


def per_lifetime(fleet: Fleet) -> float:
    """The fleet's token requests per token lifetime."""
    return fleet.requests * fleet.spec.lifetime / fleet.seconds


def sleeps_per_second(seconds: float) -> float:
    """How many WORK sleeps one thread makes in a second, alone: a sleep
    takes longer than asked (timer slack, the wake-up)."""
    count, start = 0, time.monotonic()
    while time.monotonic() - start < seconds:
        time.sleep(WORK)
        count += 1
    return count / (time.monotonic() - start)


def pace(fleet: Fleet, processes: int, duration: float, alone: float) -> float:
    """The steady loop's calls over what its threads would have made if
    each slept as one thread alone does (*alone* a second): below 1, the
    machine could not keep up."""
    calls = sum(r.calls for r in fleet.steady)
    return calls / (processes * fleet.spec.threads * duration * alone)


@attrs.frozen
class Arrival:
    """The cold start's token reaching the fleet (seconds)."""

    after_owner: list[float]
    """Each follower's return after the owner's, sorted (before it:
    negative: the owner still releasing its lease)."""
    after_write: list[float]
    """Each follower's return after the owner's write, sorted."""
    owner_after_write: float
    """The owner's return after its write to the store."""


def arrival(fleet: Fleet) -> Arrival | None:
    """When the followers had the cold start's token, or None without an
    owner (nothing was written to the store)."""
    writes = [
        (at, index, ident)
        for report, index in zip(fleet.cold, fleet.cold_where, strict=True)
        for ident, at in report.writes
    ]
    if not writes:
        return None
    written, owner_index, owner_ident = min(writes)
    returns = {
        (index, ident): at
        for report, index in zip(fleet.cold, fleet.cold_where, strict=True)
        for ident, at in report.returns
    }
    owner_return = returns.pop((owner_index, owner_ident))
    return Arrival(
        after_owner=sorted(at - owner_return for at in returns.values()),
        after_write=sorted(at - written for at in returns.values()),
        owner_after_write=owner_return - written,
    )


def ms(seconds: float) -> str:
    return f"{seconds * 1e3:.1f} ms"


def _fleet_line(
    fleet: Fleet, processes: int, duration: float, alone: float
) -> Candidate:
    blocked = sum(1 for r in fleet.steady for took, _ in r.slow if took >= LATENCY / 2)
    # Rounds only for ours: the peers' requests of one refresh (threads
    # fetching one after another) can run into the next one's.
    shared = (
        f" in {rounds(fleet.request_times, fleet.spec.lifetime)} rounds"
        if fleet.library == OURS
        else ""
    )
    value = (
        f"{fleet.requests} requests in {fleet.seconds:.0f} s{shared}, cold start "
        f"{fleet.requests_cold}; loop at {pace(fleet, processes, duration, alone):.0%} "
        f"of its pace; {blocked} calls waited ≥ {LATENCY / 2 * 1e3:.0f} ms"
    )
    return Candidate(
        NAMES[fleet.library], value, f"{per_lifetime(fleet):.2f} per lifetime"
    )


def run(settings: Settings) -> Row:
    from sansio_auth.adapters.server import TokenServer

    processes = settings.pick(16, 4)
    threads = settings.pick(8, 2)
    # Smoke: 2-s tokens, so that the hot phase ends before the first
    # refresh on a loaded machine starting a dozen processes at once.
    lifetime = settings.pick(3, 2)
    duration = settings.pick(30, 3)
    hot_calls = settings.pick(2000, 200)
    # The full run measures each library alone on the machine, one after the
    # other; the smoke run, at the same time, to last seconds.
    together = settings.smoke
    row = Row(
        case=(
            f"fleet: {processes} processes x {threads} threads, {duration} s, "
            f"{lifetime}-s tokens"
        ),
        baseline="a lone client: 1 request a refresh, 1.1 per lifetime",
        target=(
            "1 request per refresh for the fleet, followers ≤ 5 ms after the "
            "owner, 0.0 Redis commands per call"
        ),
    )
    redis_path = shutil.which("redis-server")
    libraries: list[str] = []
    missing: dict[str, str] = {}
    if load_peer("redis") is None:
        missing[OURS] = f"{NOT_INSTALLED} (redis)"
    elif redis_path is None:
        missing[OURS] = f"{NOT_INSTALLED} (redis-server)"
    else:
        libraries.append(OURS)
    if load_peer("httpx") is None or authlib_httpx() is None:
        missing[AUTHLIB] = NOT_INSTALLED
    else:
        libraries.append(AUTHLIB)
    if load_peer("httpx") is None or load_peer("httpx_auth") is None:
        missing[HTTPX_AUTH] = NOT_INSTALLED
    else:
        libraries.append(HTTPX_AUTH)

    alone = sleeps_per_second(0.2 if settings.smoke else 1.0)
    done: dict[str, Fleet] = {}
    with contextlib.ExitStack() as stack:
        redis_url = None
        if OURS in libraries:
            assert redis_path is not None
            redis_url = stack.enter_context(redis_server(redis_path))
        groups = [libraries] if together else [[name] for name in libraries]
        for group in groups:
            fleets: list[Fleet] = []
            with contextlib.ExitStack() as servers:
                for library in group:
                    server = servers.enter_context(TokenServer(token_lifetime=lifetime))
                    server.set_latency(LATENCY)
                    creds = server.credentials
                    spec = Spec(
                        library=library,
                        token_url=server.generic_token_url,
                        resource_url=server.resource_url,
                        client_id=creds.generic_client_id,
                        client_secret=creds.generic_client_secret,
                        lifetime=float(lifetime),
                        threads=threads,
                        hot_calls=hot_calls,
                        redis_url=redis_url if library == OURS else None,
                    )
                    fleets.append(Fleet(library=library, server=server, spec=spec))
                run_fleets(
                    fleets,
                    processes,
                    duration,
                    redis_url if OURS in group else None,
                )
            done.update((fleet.library, fleet) for fleet in fleets)

    met: bool | None = None
    for library in LIBRARIES:
        if library in missing:
            row.candidates.append(Candidate(NAMES[library], missing[library], "-"))
        else:
            line = _fleet_line(done[library], processes, duration, alone)
            row.candidates.append(line)
    ours = done.get(OURS)
    if ours is not None:
        met = _ours_lines(ours, row)
    row.met = met
    mode = "at the same time (smoke)" if together else "one after the other"
    row.notes.append(
        f"the fleets ran {mode}, each on a token server of its own "
        f"({LATENCY * 1e3:.0f} ms latency); each thread sleeps "
        f"{WORK * 1e3:.0f} ms between calls; margins in seconds scaled by "
        f"lifetime / 1 h (ours: leeway {30 * lifetime / HOUR * 1e3:.0f} ms, "
        f"refresh_ahead 0.1; authlib: leeway {60 * lifetime / HOUR * 1e3:.0f} ms; "
        f"httpx-auth: early_expiry {30 * lifetime / HOUR * 1e3:.0f} ms); per "
        "lifetime: requests x lifetime / run time (a lone client refreshing at "
        "0.9 of a lifetime makes 1.1); rounds (ours): bursts of requests at "
        "the server a quarter lifetime of quiet apart, the cold start and each "
        "refresh; pace: the steady loop's "
        f"calls over {alone:.0f} a second a thread (one thread sleeping "
        f"{WORK * 1e3:.0f} ms at a time, alone; below 100%: the CPUs could "
        "not keep up)"
    )
    for library in LIBRARIES:
        if library in done:
            row.notes.append(_summary(done[library]))
    return row


def _ours_lines(ours: Fleet, row: Row) -> bool:
    got = arrival(ours)
    waits = got.after_owner if got is not None else []
    if got is not None and waits:
        value = (
            f"median {ms(statistics.median(waits))}, max {ms(max(waits))} "
            f"({len(waits)} followers, {ours.requests_cold} request); after the "
            f"owner's write: median {ms(statistics.median(got.after_write))}, "
            f"max {ms(max(got.after_write))} (the owner's own return: "
            f"{ms(got.owner_after_write)})"
        )
    else:
        value = "no owner: nothing was written to the store"
    row.candidates.append(
        Candidate("sansio_auth: followers after the owner, cold start", value, "-")
    )
    nothing_sent = sorted(
        duration for r in ours.steady for duration, sent in r.slow if not sent
    )
    fetches = sorted(duration for r in ours.steady for duration, sent in r.slow if sent)
    calls = sum(r.calls for r in ours.steady)
    over = sum(1 for d in nothing_sent if d > FOLLOWER_TARGET)
    value = (
        f"{over} of {calls:,} over {ms(FOLLOWER_TARGET)}, longest "
        f"{ms(nothing_sent[-1]) if nothing_sent else '< ' + ms(SLOW)}; the "
        f"owners' calls (fetch, write): median "
        f"{ms(statistics.median(fetches)) if fetches else 'n/a'}"
    )
    row.candidates.append(
        Candidate("sansio_auth: calls that sent nothing, steady", value, "-")
    )
    hot_calls = sum(r.calls for r in ours.hot)
    store_calls = sum(r.store_calls for r in ours.hot)
    commands = ours.redis_commands if ours.redis_commands is not None else 0
    per_call = commands / hot_calls if hot_calls else float("nan")
    value = f"{commands} commands / {hot_calls:,} calls"
    if store_calls or ours.requests_hot:
        value += f" (a refresh fell in the phase: {store_calls} store calls)"
    row.candidates.append(
        Candidate(
            "sansio_auth: Redis commands per token() call, hot",
            value,
            f"{per_call:.1f}",
        )
    )
    return (
        ours.requests == rounds(ours.request_times, ours.spec.lifetime)
        and bool(waits)
        and max(waits) <= FOLLOWER_TARGET
        and commands == 0
    )


def _summary(fleet: Fleet) -> str:
    processes = len(fleet.steady)
    fetched = rounds(fleet.request_times, fleet.spec.lifetime)
    if fleet.library == OURS:
        got = arrival(fleet)
        worst = ms(max(got.after_owner)) if got and got.after_owner else "n/a"
        hot_calls = sum(r.calls for r in fleet.hot)
        return (
            f"summary, ours: {processes} processes made {fleet.requests} token "
            f"requests in {fleet.seconds:.0f} s, in {fetched} rounds (the cold "
            f"start and each refresh): {per_lifetime(fleet):.2f} per lifetime "
            "(a lone client: 1.1); at the cold start the slowest follower had "
            f"its token {worst} after the owner; with a valid token, "
            f"{fleet.redis_commands} Redis commands in {hot_calls:,} calls"
        )
    return (
        f"summary, {fleet.library}: {processes} processes made {fleet.requests} "
        f"token requests in {fleet.seconds:.0f} s, {per_lifetime(fleet):.2f} per "
        f"lifetime ({fleet.requests_cold} at the cold start): each process "
        "fetches its own, and each of its threads that finds no valid token "
        "fetches one too"
    )
