"""What each process of the Redis fleet tests runs (``spawn``: a fresh
interpreter imports this module by name, from the suite's ``pythonpath``).

A worker is one process of a fleet: it makes its store (Redis or a
directory) once, says it is ready, then carries out the test's commands
one by one, each answered with a report (a dict), until told to stop. The
commands ask for tokens from several threads (or tasks) at once, for calls
in a loop for a while, or for a 401 (``invalidate``). Each report holds
what the calls returned, how long they took, the session's counters, and
what the library logged in this process since the last report: the test
reads the fleet's behaviour from these and from the token server's record.

A worker never raises into its report queue (an exception becomes the
report's ``error``), and it ends by itself if no command comes for
:data:`BOUND` seconds, so a test that dies leaves no process behind.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
import traceback
from collections.abc import Callable
from typing import Any

from sansio_auth import Token, TokenError

BOUND = 120.0
"""Seconds a worker waits for its next command before it ends itself."""

CALL_BOUND = 60.0
"""Seconds a command's threads may run at most, whatever happens."""


class _Records(logging.Handler):
    """The ``sansio_auth`` records of this process, as (level, message)."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.records: list[tuple[str, str]] = []
        self._taken = 0
        self._guard = threading.Lock()

    def emit(self, record: logging.LogRecord) -> None:
        with self._guard:
            self.records.append((record.levelname, record.getMessage()))

    def new(self) -> list[tuple[str, str]]:
        """The records since the last call."""
        with self._guard:
            fresh = self.records[self._taken :]
            self._taken = len(self.records)
            return fresh


def _stats(client: Any) -> dict[str, int]:
    stats = client.session.stats
    return {
        "requests_sent": stats.requests_sent,
        "refreshes": stats.refreshes,
        "adopted": stats.adopted,
        "refresh_rejected": stats.refresh_rejected,
        "failures": stats.failures,
    }


def _describe(error: BaseException) -> str:
    # The library's errors keep secrets out of their str(): safe to send.
    return f"{type(error).__name__}: {error}"


class _AsyncioLoop:
    """One asyncio loop for the life of the process, in a thread of its own:
    an asyncio client and its ``AsyncRedisStore`` belong to one loop, and
    they outlive a command."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self._thread.start()

    def run(self, make: Callable[[], Any]) -> Any:
        async def call() -> Any:
            return await make()

        future = asyncio.run_coroutine_threadsafe(call(), self.loop)
        return future.result(CALL_BOUND)


class Worker:
    """One process of the fleet: its store, its client, its log records.

    ``spec`` says what to build: ``flow`` (a flow object, pickled),
    ``store`` (``"redis"`` with ``url`` and optional ``encryption_key``, or
    ``"file"`` with ``directory``), ``timeout`` (the client's), and
    ``driver``: ``"sync"`` (the urllib client, threads), ``"asyncio"`` (the
    anyio client on ``AsyncRedisStore``, tasks) or ``"trio"`` (the trio
    client on the sync store, tasks; a new client per command, since a trio
    run ends with the command).
    """

    def __init__(self, spec: dict[str, Any]) -> None:
        self.spec = spec
        self.driver: str = spec.get("driver", "sync")
        self.records = _Records()
        logger = logging.getLogger("sansio_auth")
        logger.addHandler(self.records)
        logger.setLevel(logging.INFO)
        self.clients: list[Any] = []
        self.client: Any = None
        self.asyncio: _AsyncioLoop | None = None
        if self.driver == "asyncio":
            self.asyncio = _AsyncioLoop()
            self.store = self.asyncio.run(self._async_store)
        else:
            self.store = self._sync_store()

    def _sync_store(self) -> Any:
        spec = self.spec
        if spec["store"] == "file":
            from sansio_auth.adapters.filestore import FileStore

            return FileStore(spec["directory"])
        from sansio_auth.adapters.redis import RedisStore

        return RedisStore.from_url(
            spec["url"], encryption_key=spec.get("encryption_key")
        )

    async def _async_store(self) -> Any:
        from sansio_auth.adapters.redis import AsyncRedisStore

        return AsyncRedisStore.from_url(
            self.spec["url"], encryption_key=self.spec.get("encryption_key")
        )

    def _new_client(self) -> Any:
        flow, timeout = self.spec["flow"], self.spec.get("timeout", 5.0)
        if self.driver == "sync":
            from sansio_auth.adapters import urllib as adapter
        elif self.driver == "asyncio":
            from sansio_auth.adapters import anyio as adapter  # type: ignore[no-redef]
        else:
            from sansio_auth.adapters import trio as adapter  # type: ignore[no-redef]
        client = adapter.TokenClient(flow, store=self.store, timeout=timeout)
        self.clients.append(client)
        return client

    def close(self) -> None:
        if self.asyncio is not None:
            self.asyncio.run(self.store.close)
        else:
            self.store.close()

    # -- commands ----------------------------------------------------------

    def handle(self, command: dict[str, Any]) -> dict[str, Any]:
        op = command["op"]
        if op == "invalidate":
            self.client.invalidate(command["token"])
            return {}
        # A trio client is bound to the run it first waited in, and a run
        # ends with its command: a new one each time.
        if self.client is None or command.get("fresh", False) or self.driver == "trio":
            self.client = self._new_client()
        at = command.get("at")
        if at is not None:
            time.sleep(max(0.0, at - time.time()))
        if op == "tokens":
            calls = self._calls(command["threads"], lambda: 0.0)
        elif op == "run":
            end = time.time() + command["seconds"]
            calls = self._calls(command["threads"], lambda: end, command["pause"])
        else:
            raise ValueError(f"unknown command {op!r}")
        return calls

    def _calls(
        self, count: int, until: Callable[[], float], pause: float = 0.0
    ) -> dict[str, Any]:
        """*count* concurrent callers of ``token()``; each calls once, or in
        a loop until ``until()`` with *pause* between calls."""
        results: list[dict[str, Any]] = [
            {"tokens": [], "errors": [], "durations": [], "ends": [], "expired": 0}
            for _ in range(count)
        ]

        def record(result: dict[str, Any], token: Token | None, start: float) -> None:
            end = time.time()
            result["durations"].append(end - start)
            result["ends"].append(end)
            if token is not None:
                result["tokens"].append(token.access_token)
                if token.expires_at is not None and token.expires_at <= end:
                    result["expired"] += 1

        def once(result: dict[str, Any], call: Callable[[], Token]) -> None:
            start = time.time()
            try:
                token = call()
            except TokenError as exc:
                result["errors"].append(_describe(exc))
                token = None
            record(result, token, start)

        if self.driver == "sync":
            barrier = threading.Barrier(count)

            def run(result: dict[str, Any]) -> None:
                try:
                    barrier.wait(CALL_BOUND)
                    once(result, self.client.token)
                    while time.time() < until():
                        time.sleep(pause)
                        once(result, self.client.token)
                except BaseException:
                    result["errors"].append(traceback.format_exc())

            threads = [threading.Thread(target=run, args=(r,)) for r in results]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(CALL_BOUND)
            if any(thread.is_alive() for thread in threads):
                raise RuntimeError("a caller did not return within CALL_BOUND")
        else:
            self._tasks(results, until, pause)
        merged: dict[str, Any] = {
            key: [item for r in results for item in r[key]]
            for key in ("tokens", "errors", "durations", "ends")
        }
        merged["expired"] = sum(r["expired"] for r in results)
        merged["stats"] = _stats(self.client)
        return merged

    def _tasks(
        self, results: list[dict[str, Any]], until: Callable[[], float], pause: float
    ) -> None:
        import anyio

        async def caller(result: dict[str, Any], client: Any) -> None:
            while True:
                start = time.time()
                try:
                    token = await client.token()
                except TokenError as exc:
                    result["errors"].append(_describe(exc))
                    token = None
                end = time.time()
                result["durations"].append(end - start)
                result["ends"].append(end)
                if token is not None:
                    result["tokens"].append(token.access_token)
                    if token.expires_at is not None and token.expires_at <= end:
                        result["expired"] += 1
                if time.time() >= until():
                    return
                await anyio.sleep(pause)

        async def main() -> None:
            with anyio.fail_after(CALL_BOUND):
                async with anyio.create_task_group() as group:
                    for result in results:
                        group.start_soon(caller, result, self.client)

        if self.asyncio is not None:
            self.asyncio.run(main)
        else:
            anyio.run(main, backend="trio")


def serve(spec: dict[str, Any], worker: int, commands: Any, reports: Any) -> None:
    """A worker's life: build, report ready, carry out commands until
    ``{"op": "stop"}`` (or none came for :data:`BOUND` seconds)."""
    import os

    try:
        state = Worker(spec)
    except BaseException:
        reports.put({"worker": worker, "error": traceback.format_exc()})
        return
    reports.put({"worker": worker, "ready": True, "pid": os.getpid()})
    try:
        while True:
            command = commands.get(timeout=BOUND)
            if command["op"] == "stop":
                break
            try:
                report = state.handle(command)
            except BaseException:
                report = {"error": traceback.format_exc()}
            report["worker"] = worker
            report["logs"] = state.records.new()
            reports.put(report)
    finally:
        state.close()
