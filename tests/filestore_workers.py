"""What each process of the FileStore fleet tests runs (``spawn``: a fresh
interpreter imports this module by name, from the suite's ``pythonpath``).

Every worker waits at a barrier so that all of them contend at once, runs
for a bounded time and reports a dict through a queue; it never raises
into the queue's reader (an exception becomes a report).
"""

from __future__ import annotations

import os
import time
import traceback
from typing import Any

from sansio_auth.adapters.filestore import FileStore

KEY = "sansio-auth:v1:{" + "f" * 64 + "}"
BOUND = 30.0
"""Seconds a worker runs at most, whatever happens."""


def value(worker: int, round_: int) -> bytes:
    """The value *worker* writes in *round_*: long enough to span several
    writes of a non-atomic writer, and each one different."""
    size = 2000 + 997 * ((worker * 31 + round_) % 7)
    return (f"{worker}-{round_}-".encode() * size)[:size]


def _report(queue: Any, worker: int, run: Any) -> None:
    try:
        report = run()
    except BaseException:
        report = {"error": traceback.format_exc()}
    report["worker"] = worker
    queue.put(report)


def hold_lease(
    directory: str, holds: int, worker: int, barrier: Any, queue: Any
) -> None:
    """Take the lease of KEY *holds* times; while holding it, own a marker
    file made with O_EXCL. A marker already there means another process
    holds the lease too."""

    def run() -> dict[str, Any]:
        store = FileStore(directory, timeout=10.0)
        owner = f"worker-{worker}"
        marker = os.path.join(directory, "holder.marker")
        held = collisions = refused = 0
        barrier.wait(BOUND)
        deadline = time.monotonic() + BOUND
        while held < holds and time.monotonic() < deadline:
            left = store.acquire(KEY, owner, 20.0)
            if left is not None:
                refused += 1
                store.wait(KEY, 1.0)
                continue
            try:
                fd = os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
            except FileExistsError:
                collisions += 1
            else:
                os.close(fd)
                time.sleep(0.002)
                os.unlink(marker)
            held += 1
            store.release(KEY, owner)
        return {"held": held, "collisions": collisions, "refused": refused}

    _report(queue, worker, run)


def write_and_read(
    directory: str, rounds: int, workers: int, worker: int, barrier: Any, queue: Any
) -> None:
    """Write this worker's values to KEY and read it back in turns. Once a
    value has been written nothing deletes it, so every read after this
    worker's first write must be a whole written value."""

    def run() -> dict[str, Any]:
        store = FileStore(directory, timeout=10.0)
        known = {value(w, r) for w in range(workers) for r in range(rounds)}
        owner = f"worker-{worker}"
        reads = bad = empty_after_write = 0
        written = False
        barrier.wait(BOUND)
        deadline = time.monotonic() + BOUND
        for round_ in range(rounds):
            if time.monotonic() > deadline:
                break
            if store.write(KEY, owner, value(worker, round_), "tag", None):
                written = True
            for _ in range(3):
                token = store.read(KEY).token
                reads += 1
                if token is None:
                    empty_after_write += int(written)
                elif token not in known:
                    bad += 1
        return {"reads": reads, "bad": bad, "empty_after_write": empty_after_write}

    _report(queue, worker, run)
