"""A fleet of real processes on a real ``redis-server`` (issue 13).

Each test starts worker processes (``spawn``: fresh interpreters, as the
processes of a fleet are) that run ``fleet_workers.serve``: each has its own
store, client and session, and answers the test's commands with a report
(tokens, durations, session counters, its own log records). The token
server runs here, in the test's process, and counts every token request the
fleet makes; the test reads Redis directly to see the lease and the stored
token. What one process can show with an in-memory store is in
``test_shared_clients.py``; here is what needs processes: overlap across
interpreters, a lease owner killed with SIGKILL, Redis paused, stopped and
restarted empty under a running fleet, rotation across processes, a reply
from Redis lost after the server acted (through a relay that loses it).

Timing bounds are generous (two CPUs run up to sixteen interpreters), and a
lower bound is asserted only where the test made the wait itself (a lease
that must run out).
"""

from __future__ import annotations

import contextlib
import hashlib
import multiprocessing
import os
import queue
import signal
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import fleet_workers
import pytest
import redis
from integrations import flow_for
from redis_server import RedisServer

from sansio_auth import (
    ClientCredentials,
    Flow,
    OAuthError,
    PasswordGrant,
    TokenError,
    decode_stored,
    store_key,
)
from sansio_auth.adapters import urllib as urllib_adapter
from sansio_auth.adapters.redis import ACQUIRE_SCRIPT, RedisStore
from sansio_auth.adapters.server import TokenServer
from sansio_auth.providers import smartway

WARNING = "shared token store failed"
RECOVERED = "shared token store answers again"


class Fleet:
    """Worker processes, each with a command queue and a report queue of
    its own (a process killed mid-write cannot corrupt another's)."""

    def __init__(self) -> None:
        self._context = multiprocessing.get_context("spawn")
        self._processes: list[Any] = []
        self._commands: list[Any] = []
        self._reports: list[Any] = []
        self.pids: list[int] = []

    def start(self, specs: list[dict[str, Any]]) -> list[int]:
        """Start a worker per spec; return their numbers once all are ready."""
        numbers = []
        for spec in specs:
            number = len(self._processes)
            commands, reports = self._context.Queue(), self._context.Queue()
            process = self._context.Process(
                target=fleet_workers.serve,
                args=(spec, number, commands, reports),
                daemon=True,  # never outlives the test run
            )
            process.start()
            self._processes.append(process)
            self._commands.append(commands)
            self._reports.append(reports)
            self.pids.append(0)
            numbers.append(number)
        for number in numbers:
            ready = self.report(number, timeout=60)
            assert ready.get("ready"), ready
            self.pids[number] = ready["pid"]
        return numbers

    def post(self, numbers: list[int], command: dict[str, Any]) -> None:
        for number in numbers:
            self._commands[number].put(command)

    def report(self, number: int, timeout: float = 60) -> dict[str, Any]:
        try:
            report: dict[str, Any] = self._reports[number].get(timeout=timeout)
        except queue.Empty:
            alive = self._processes[number].is_alive()
            pytest.fail(f"worker {number} did not report (alive: {alive})")
        assert "error" not in report, report["error"]
        return report

    def collect(self, numbers: list[int], timeout: float = 60) -> list[dict[str, Any]]:
        return [self.report(number, timeout) for number in numbers]

    def ask(self, numbers: list[int], command: dict[str, Any]) -> list[dict[str, Any]]:
        self.post(numbers, command)
        return self.collect(numbers)

    def together(
        self, numbers: list[int], command: dict[str, Any], lead: float = 0.3
    ) -> list[dict[str, Any]]:
        """*command* for all of *numbers*, carried out from one instant."""
        return self.ask(numbers, {**command, "at": time.time() + lead})

    def kill(self, number: int) -> None:
        os.kill(self.pids[number], signal.SIGKILL)
        self._processes[number].join(10)
        assert not self._processes[number].is_alive()

    def close(self) -> None:
        for process, commands in zip(self._processes, self._commands, strict=True):
            if process.is_alive():
                commands.put({"op": "stop"})
        for process in self._processes:
            process.join(10)
            if process.is_alive():
                process.kill()
                process.join(10)
        for channel in (*self._commands, *self._reports):
            channel.close()
            channel.join_thread()


@pytest.fixture
def fleet() -> Iterator[Fleet]:
    started = Fleet()
    try:
        yield started
    finally:
        started.close()


@pytest.fixture
def server() -> Iterator[TokenServer]:
    with TokenServer(token_lifetime=3600) as running:
        yield running


def spec(flow: object, url: str, **more: object) -> dict[str, Any]:
    return {"flow": flow, "store": "redis", "url": url, "timeout": 5.0, **more}


def password_flow(server: TokenServer, username: str | None = None) -> PasswordGrant:
    creds = server.credentials
    return PasswordGrant(
        token_url=server.generic_token_url,
        username=creds.generic_username if username is None else username,
        password=creds.generic_password,
        client_id=creds.generic_client_id,
        client_secret=creds.generic_client_secret,
    )


def tokens_of(reports: list[dict[str, Any]]) -> list[str]:
    return [token for report in reports for token in report["tokens"]]


def errors_of(reports: list[dict[str, Any]]) -> list[str]:
    return [error for report in reports for error in report["errors"]]


def logged(report: dict[str, Any], start: str) -> list[str]:
    """The levels of the records of *report* whose message starts so."""
    return [level for level, message in report["logs"] if message.startswith(start)]


class Peek:
    """The test's own Redis client, to look at what the fleet stored."""

    def __init__(self, url: str) -> None:
        self._client = redis.Redis.from_url(url, socket_timeout=5)

    def lease(self, key: str) -> str | None:
        """The owner holding *key*'s lease (``host:pid:random``), if any."""
        holder = self._client.get(f"{key}:lease")
        return holder.decode() if isinstance(holder, bytes) else None

    def lease_left(self, key: str) -> float:
        return float(self._client.pttl(f"{key}:lease")) / 1000

    def stored(self, key: str) -> bytes | None:
        """The stored token's bytes, as the store wrote them."""
        raw = self._client.hget(key, "token")
        return raw if isinstance(raw, bytes) else None

    def access_token(self, key: str) -> str | None:
        raw = self.stored(key)
        token = None if raw is None else decode_stored(raw)
        return None if token is None else token.access_token

    def names(self) -> bytes:
        names = self._client.keys("*")
        return b" ".join(name for name in names if isinstance(name, bytes))

    def delete(self, key: str) -> None:
        self._client.delete(key)

    def load(self, script: str) -> None:
        self._client.script_load(script)

    def close(self) -> None:
        self._client.close()


@contextlib.contextmanager
def redis_client(url: str) -> Iterator[Peek]:
    peek = Peek(url)
    try:
        yield peek
    finally:
        peek.close()


# 1. A cold key: one token request for sixteen processes.


def test_sixteen_processes_on_a_cold_key_make_one_token_request(
    fleet: Fleet, server: TokenServer, redis_url: str
) -> None:
    server.set_latency(0.2)  # the first request is still out when all ask
    flow = flow_for(server)
    # Every client of the library: urllib's in threads, anyio's on
    # AsyncRedisStore and trio's on the sync store in tasks.
    drivers = ["sync"] * 10 + ["asyncio"] * 3 + ["trio"] * 3
    workers = fleet.start([spec(flow, redis_url, driver=d) for d in drivers])
    reports = fleet.together(workers, {"op": "tokens", "threads": 8})
    assert errors_of(reports) == []
    tokens = tokens_of(reports)
    assert len(tokens) == 16 * 8
    assert len(set(tokens)) == 1
    assert len(server.token_requests()) == 1
    stats = [report["stats"] for report in reports]
    assert sum(s["requests_sent"] for s in stats) == 1
    assert sum(s["adopted"] for s in stats) == 15
    # They overlapped: besides the sender, processes that found the lease
    # taken waited for its write rather than arriving after it.
    waited = [min(r["durations"]) for r in reports if r["stats"]["requests_sent"] == 0]
    assert max(waited) >= 0.1
    assert all(r["logs"] == [] for r in reports)  # nothing to warn about
    with redis_client(redis_url) as client:
        assert client.access_token(store_key(flow)) == tokens[0]
        assert client.lease(store_key(flow)) is None  # released


# 2. The lease owner killed mid-fetch.


def test_a_killed_lease_owner_stalls_the_fleet_for_one_lease(
    fleet: Fleet, server: TokenServer, redis_url: str
) -> None:
    flow = flow_for(server)
    key = store_key(flow)
    timeout = 2.0  # the lease: 2 + 5 = 7 s
    server.hang_next(1)  # the owner's request is never answered
    owner, *early = fleet.start([spec(flow, redis_url, timeout=timeout)] * 4)
    fleet.post([owner], {"op": "tokens", "threads": 2})
    with redis_client(redis_url) as client:
        deadline = time.monotonic() + 15
        while not (client.lease(key) and server.token_requests()):
            assert time.monotonic() < deadline, "the owner never took the lease"
            time.sleep(0.01)
        holder = client.lease(key)
        lease_ends = time.time() + client.lease_left(key)
        assert holder is not None
        # The owner string is host:pid:random: this is the owner's lease.
        assert holder.rsplit(":", 2)[1] == str(fleet.pids[owner])
        fleet.post(early, {"op": "tokens", "threads": 4})
        # Killed before its own timeout (2 s) could end its request.
        fleet.kill(owner)
        assert len(server.token_requests()) == 1
        late = fleet.start([spec(flow, redis_url, timeout=timeout)] * 2)
        assert time.time() < lease_ends  # they too meet the dead lease
        fleet.post(late, {"op": "tokens", "threads": 4})
        reports = fleet.collect(early + late, timeout=30)
        assert client.lease(key) is None
        stored = client.access_token(key)
    assert errors_of(reports) == []
    tokens = tokens_of(reports)
    assert len(tokens) == 5 * 4
    assert set(tokens) == {stored}
    requests = server.token_requests()
    assert len(requests) == 2  # the killed one, and one after its lease
    assert requests[1].received_at >= lease_ends - 0.5
    ends = [end for report in reports for end in report["ends"]]
    assert min(ends) >= lease_ends - 0.5
    assert max(ends) <= lease_ends + 5
    assert sum(r["stats"]["requests_sent"] for r in reports) == 1


def test_an_owner_killed_mid_refresh_never_gets_its_refresh_token_replayed(
    fleet: Fleet, redis_url: str
) -> None:
    # Lifetime 3 s: deadline D at 2.25 s, refresh point P at 1.95 s, the
    # stored entry gone at 3 s.
    with TokenServer(token_lifetime=3) as server:
        flow = password_flow(server)
        key = store_key(flow)
        timeout = 2.0  # the lease: 7 s
        seed, owner, other = fleet.start([spec(flow, redis_url, timeout=timeout)] * 3)
        (first,) = fleet.ask([seed], {"op": "tokens", "threads": 1})[0]["tokens"]
        issued = time.time()
        server.hang_next(1)
        # Past P, well before the entry ends: the owner takes the stored
        # refresh token under the lease, and its refresh is never answered.
        fleet.post([owner], {"op": "tokens", "threads": 2, "at": issued + 2.1})
        with redis_client(redis_url) as client:
            deadline = time.monotonic() + 15
            while len(server.token_requests()) < 2:
                assert time.monotonic() < deadline, "the owner never refreshed"
                time.sleep(0.01)
            holder = client.lease(key)
            lease_ends = time.time() + client.lease_left(key)
            assert holder is not None
            assert holder.rsplit(":", 2)[1] == str(fleet.pids[owner])
            fleet.kill(owner)
            # Past D: the old token serves no more, a new one is needed. The
            # seed still holds the refresh token it was issued with, in
            # memory: it must not send it either (only the store's is sent).
            past_deadline = {"op": "tokens", "threads": 4, "at": issued + 2.5}
            reports = fleet.ask([seed, other], past_deadline)
        requests = server.token_requests()
        replays = server.refresh_replays
    assert errors_of(reports) == []
    assert len(set(tokens_of(reports))) == 1
    assert first not in tokens_of(reports)
    kinds = [r.fields.get("grant_type") for r in requests]
    # The killed refresh, then, once its lease ran out, one acquisition with
    # the credentials: the refresh token it took out is never sent again.
    assert kinds == ["password", "refresh_token", "password"]
    assert requests[2].received_at >= lease_ends - 0.5
    assert replays == 0


# 3. Redis paused, resumed, stopped, restarted empty.


def _own_tokens(reports: list[dict[str, Any]]) -> None:
    """Each process alone: its callers share its token, no other process's."""
    per_process = [set(report["tokens"]) for report in reports]
    assert all(len(tokens) == 1 for tokens in per_process)
    assert len(set.union(*per_process)) == len(reports)


@pytest.mark.parametrize("driver", ["sync", "asyncio"])
def test_a_fleet_rides_out_redis_paused_stopped_and_restarted_empty(
    fleet: Fleet, server: TokenServer, driver: str
) -> None:
    flow = flow_for(server)
    key = store_key(flow)
    fresh = {"op": "tokens", "threads": 4, "fresh": True}  # a cold client each
    with RedisServer() as redis_process:
        url = redis_process.url
        workers = fleet.start([spec(flow, url, driver=driver)] * 4)
        healthy = fleet.together(workers, fresh)
        assert len(set(tokens_of(healthy))) == 1
        assert len(server.token_requests()) == 1

        # Paused (SIGSTOP): connections open, nothing answers.
        redis_process.pause()
        try:
            paused = [fleet.together(workers, fresh) for _ in range(2)]
        finally:
            redis_process.resume()
        for round_ in paused:
            assert errors_of(round_) == []
            _own_tokens(round_)
            durations = [d for report in round_ for d in report["durations"]]
            # One store call, cut at the store's timeout (0.5 s), then alone.
            assert max(durations) < 3.0
            assert min(durations) >= 0.3
        assert len(server.token_requests()) == 1 + 2 * 4
        for number in range(4):
            logs = paused[0][number], paused[1][number]
            assert [logged(report, WARNING) for report in logs] == [["WARNING"], []]

        # Resumed: the fleet shares again, a token stored after the outage.
        with redis_client(url) as client:
            client.delete(key)
        resumed = fleet.together(workers, fresh)
        assert errors_of(resumed) == []
        shared = set(tokens_of(resumed))
        assert len(shared) == 1
        assert len(server.token_requests()) == 1 + 8 + 1
        assert [logged(r, RECOVERED) for r in resumed] == [["INFO"]] * 4
        assert [logged(r, WARNING) for r in resumed] == [[]] * 4
        newcomer = fleet.start([spec(flow, url, driver=driver)])
        adopted = fleet.ask(newcomer, {"op": "tokens", "threads": 2})
        assert set(tokens_of(adopted)) == shared
        assert adopted[0]["stats"]["adopted"] == 1
        assert len(server.token_requests()) == 10

        # Stopped: connections refused; then started again, empty.
        redis_process.stop()
        stopped = fleet.together(workers, fresh)
        assert errors_of(stopped) == []
        _own_tokens(stopped)
        durations = [d for report in stopped for d in report["durations"]]
        assert max(durations) < 3.0
        assert [logged(r, WARNING) for r in stopped] == [["WARNING"]] * 4
        assert len(server.token_requests()) == 10 + 4
        redis_process.start()
        restarted = fleet.together(workers, fresh)
        assert errors_of(restarted) == []
        shared = set(tokens_of(restarted))
        assert len(shared) == 1
        assert len(server.token_requests()) == 14 + 1
        assert [logged(r, RECOVERED) for r in restarted] == [["INFO"]] * 4
        newcomer = fleet.start([spec(flow, url, driver=driver)])
        adopted = fleet.ask(newcomer, {"op": "tokens", "threads": 2})
        assert set(tokens_of(adopted)) == shared
        assert len(server.token_requests()) == 15
        assert logged(adopted[0], WARNING) == []


# 4. Rotating refresh tokens across processes, for several lifetimes.


def test_rotation_across_processes_never_replays_a_refresh_token(
    fleet: Fleet, redis_url: str
) -> None:
    lifetime, seconds = 2, 8.0  # refreshed at about 0.65 of a lifetime
    with TokenServer(token_lifetime=lifetime) as server:
        flow = password_flow(server)
        drivers = ["sync"] * 6 + ["asyncio", "trio"]
        workers = fleet.start([spec(flow, redis_url, driver=d) for d in drivers])
        reports = fleet.together(
            workers,
            {"op": "run", "threads": 16, "seconds": seconds, "pause": 0.05},
        )
        kinds = [r.fields.get("grant_type") for r in server.token_requests()]
        replays = server.refresh_replays
    assert errors_of(reports) == []  # no invalid_grant, no other TokenError
    assert [r["stats"]["refresh_rejected"] for r in reports] == [0] * 8
    assert replays == 0
    assert sum(r["expired"] for r in reports) == 0  # none handed out expired
    assert kinds[0] == "password"
    refreshes = kinds.count("refresh_token")
    assert refreshes >= 3  # several lifetimes went by
    assert refreshes > len(kinds) / 2
    # One request per refresh point for the whole fleet, not one per
    # process (eight processes alone would make over thirty).
    assert len(kinds) <= seconds / (0.5 * lifetime) + 2
    assert sum(r["stats"]["requests_sent"] for r in reports) == len(kinds)
    assert len(set(tokens_of(reports))) == len(kinds)


# 5. A 401 seen late by one process leaves the token another fetched since.


def test_a_late_401_leaves_the_token_fetched_since(
    fleet: Fleet, server: TokenServer, redis_url: str
) -> None:
    flow = flow_for(server)
    key = store_key(flow)
    one = {"op": "tokens", "threads": 1}
    a, b = fleet.start([spec(flow, redis_url)] * 2)
    (t1,) = fleet.ask([a], one)[0]["tokens"]
    report_b = fleet.ask([b], one)[0]
    assert report_b["tokens"] == [t1]
    assert report_b["stats"]["adopted"] == 1
    server.revoke(t1)  # the API answers 401 to it from now on
    fleet.ask([a], {"op": "invalidate", "token": t1})
    (t2,) = fleet.ask([a], one)[0]["tokens"]
    assert t2 != t1
    assert len(server.token_requests()) == 2
    with redis_client(redis_url) as client:
        assert client.access_token(key) == t2
        # B met the 401 with T1 only now, after A stored T2.
        fleet.ask([b], {"op": "invalidate", "token": t1})
        report_b = fleet.ask([b], one)[0]
        assert report_b["tokens"] == [t2]
        assert report_b["stats"]["requests_sent"] == 0
        assert report_b["stats"]["adopted"] == 2
        assert client.access_token(key) == t2
    assert len(server.token_requests()) == 2
    assert server.verify(t2) is not None


# 6. The file store: the processes of one host.


def test_sixteen_processes_on_a_file_store_make_one_token_request(
    fleet: Fleet, server: TokenServer, tmp_path: Path
) -> None:
    server.set_latency(0.2)
    flow = flow_for(server)
    directory = str(tmp_path / "store")
    file_spec = {"flow": flow, "store": "file", "directory": directory, "timeout": 5}
    workers = fleet.start([file_spec] * 16)
    reports = fleet.together(workers, {"op": "tokens", "threads": 4})
    assert errors_of(reports) == []
    tokens = tokens_of(reports)
    assert len(tokens) == 16 * 4
    assert len(set(tokens)) == 1
    assert len(server.token_requests()) == 1
    assert sum(r["stats"]["adopted"] for r in reports) == 15
    assert all(logged(r, WARNING) == [] for r in reports)


# 7. Flows that differ in what decides the token never share one.


def test_flows_differing_in_scope_user_or_api_key_never_share(
    server: TokenServer, redis_url: str
) -> None:
    creds = server.credentials
    base = flow_for(server)
    scoped = ClientCredentials(
        token_url=base.token_url,
        client_id=base.client_id,
        client_secret=base.client_secret,
        scope=("read",),
    )
    user = password_flow(server)
    key = smartway(api_key=creds.smartway_api_key, base_url=server.smartway_base_url)
    stranger = password_flow(server, username="someone-else")  # refused
    other_key = smartway(api_key="another-api-key", base_url=server.smartway_base_url)
    flows: list[Flow] = [base, scoped, user, key, stranger, other_key]
    assert len({store_key(flow) for flow in flows}) == len(flows)
    store = RedisStore.from_url(redis_url)
    try:
        first = {
            i: urllib_adapter.TokenClient(flow, store=store).token().access_token
            for i, flow in enumerate(flows[:4])
        }
        assert len(set(first.values())) == 4
        assert len(server.token_requests()) == 4
        assert server.token_requests()[1].fields.get("scope") == "read"
        # New clients (processes) adopt their own flow's token, no other.
        for i, flow in enumerate(flows[:4]):
            later = urllib_adapter.TokenClient(flow, store=store)
            assert later.token().access_token == first[i]
            assert later.session.stats.adopted == 1
        assert len(server.token_requests()) == 4
        # Refused flows ask the server themselves: sharing a key with the
        # flow they resemble would have handed them its token.
        with pytest.raises(OAuthError):
            urllib_adapter.TokenClient(stranger, store=store).token()
        with pytest.raises(TokenError):
            urllib_adapter.TokenClient(other_key, store=store).token()
        assert len(server.token_requests()) == 6
    finally:
        store.close()
    with redis_client(redis_url) as client:
        names = client.names()
    for secret in (creds.smartway_api_key, "another-api-key", creds.generic_username):
        assert secret.encode() not in names


# A reply lost after Redis acted (a network fault, a server stalled past
# the client's timeout).


class LosingProxy:
    """A TCP relay to a Redis server that carries every command but loses
    the replies on a connection from the first command holding *marker*
    on: the server acts on the command, the client times out."""

    def __init__(self, port: int, marker: bytes) -> None:
        self._port = port
        self._marker = marker
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"redis://127.0.0.1:{self._listener.getsockname()[1]}/0"
        self._sockets: list[socket.socket] = [self._listener]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        with contextlib.suppress(OSError):
            while True:
                near, _ = self._listener.accept()
                far = socket.create_connection(("127.0.0.1", self._port))
                self._sockets += [near, far]
                lost = threading.Event()
                for args in ((near, far, lost, True), (far, near, lost, False)):
                    threading.Thread(target=self._pump, args=args, daemon=True).start()

    def _pump(
        self,
        source: socket.socket,
        sink: socket.socket,
        lost: threading.Event,
        up: bool,
    ) -> None:
        with contextlib.suppress(OSError):
            while data := source.recv(65536):
                if up and self._marker in data:
                    lost.set()  # before the command reaches the server
                if up or not lost.is_set():
                    sink.sendall(data)

    def close(self) -> None:
        for sock in self._sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()


def test_a_lost_reply_to_the_lease_leaves_no_lease_behind(
    server: TokenServer, redis_server: RedisServer, redis_url: str
) -> None:
    flow = flow_for(server)
    key = store_key(flow)
    marker = hashlib.sha1(ACQUIRE_SCRIPT.encode()).hexdigest().encode()
    proxy = LosingProxy(redis_server.port, marker)
    lossy = RedisStore.from_url(proxy.url)
    healthy = RedisStore.from_url(redis_url)
    try:
        with redis_client(redis_url) as client:
            # EVALSHA from the start: a NOSCRIPT answer lost would mean a
            # lease never taken.
            client.load(ACQUIRE_SCRIPT)
            # A's acquire took the lease; its reply was lost: A went on alone.
            alone = urllib_adapter.TokenClient(flow, store=lossy, timeout=5)
            alone.token()
            assert len(server.token_requests()) == 1
            # A's fetch is over, and A is alive: the lease it may have taken
            # should not outlive it (a compare-and-delete release is safe
            # whether or not it holds it).
            assert client.lease(key) is None
        started = time.monotonic()
        urllib_adapter.TokenClient(flow, store=healthy, timeout=5).token()
        assert time.monotonic() - started < 3  # not the lease's 10 s
    finally:
        lossy.close()
        healthy.close()
        proxy.close()


# 8. Encryption at rest: only processes with the same key share.


def test_an_encrypted_fleet_shares_only_with_the_same_key(
    fleet: Fleet, server: TokenServer, redis_url: str
) -> None:
    server.set_latency(0.2)
    flow = flow_for(server)
    key = store_key(flow)
    sealed, other = bytes(range(32)), bytes(range(32, 64))
    *same, stranger = fleet.start(
        [spec(flow, redis_url, encryption_key=sealed)] * 4
        + [spec(flow, redis_url, encryption_key=other)]
    )
    reports = fleet.together(same, {"op": "tokens", "threads": 4})
    assert errors_of(reports) == []
    shared = set(tokens_of(reports))
    assert len(shared) == 1
    assert len(server.token_requests()) == 1
    with redis_client(redis_url) as client:
        raw = client.stored(key)
        assert raw is not None
        assert next(iter(shared)).encode() not in raw  # sealed at rest
        assert decode_stored(raw) is None
        report = fleet.ask([stranger], {"op": "tokens", "threads": 4})[0]
    assert errors_of([report]) == []
    assert set(report["tokens"]).isdisjoint(shared)
    assert len(set(report["tokens"])) == 1
    assert report["stats"]["requests_sent"] == 1
    assert report["stats"]["adopted"] == 0
    assert len(server.token_requests()) == 2
