"""The file store (``sansio_auth.adapters.filestore``): one host, many processes.

The store contract, item by item as MemoryStore keeps it, on a settable
clock; the files (modes, names, what a corrupt one reads as, no temporary
file left behind, a lock held elsewhere); encryption at rest; a differential
property test against MemoryStore on one clock; and fleets of 16 real
processes: never two lease holders at once, never a torn read.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import json
import multiprocessing
import os
import shutil
import signal
import socket
import stat
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import filestore_workers
import forking
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sansio_auth import StoredEntry
from sansio_auth.adapters import _filestore_io
from sansio_auth.adapters.filestore import FileStore
from sansio_auth.adapters.stores import MemoryStore, Store

KEY = "sansio-auth:v1:{" + "a" * 64 + "}"
OTHER = "sansio-auth:v1:{" + "b" * 64 + "}"
TOKEN = b'{"access_token":"ACCESS-SECRET-1","v":1}'


class Clock:
    """A wall clock the test sets."""

    def __init__(self, now: float = 1_700_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def store(tmp_path: Path, clock: Clock) -> FileStore:
    return FileStore(tmp_path / "store", clock=clock)


@pytest.fixture
def encryption_key() -> bytes:
    pytest.importorskip("cryptography")
    return bytes(range(32))


def _files(directory: Path) -> dict[str, Path]:
    return {path.name: path for path in directory.iterdir()}


def _state_file(store: FileStore, key: str = KEY) -> Path:
    (path,) = Path(store.path).glob(filesystem_name(key) + ".json")
    return path


def filesystem_name(key: str) -> str:
    return _filestore_io.file_name(key)


# The contract.


def test_it_is_a_store_and_its_repr_shows_the_path_not_the_keys(
    store: FileStore,
) -> None:
    assert isinstance(store, Store)
    assert store.prefix == "sansio-auth"
    store.write(KEY, "o1", TOKEN, "tag-1", 60)
    assert repr(store) == f"<FileStore path={store.path!r} prefix='sansio-auth'>"
    assert "a" * 64 not in repr(store)
    store.close()


def test_reads_empty(store: FileStore) -> None:
    entry = store.read(KEY)
    assert (entry.token, entry.token_ttl, entry.failure, entry.failure_ttl) == (
        None,
        None,
        None,
        None,
    )
    assert store.discard(KEY, "tag-1") is False
    store.release(KEY, "o1")
    assert list(Path(store.path).glob("*.json")) == []


def test_a_token_is_read_back_with_what_is_left_of_its_ttl(
    store: FileStore, clock: Clock
) -> None:
    assert store.write(KEY, "o1", TOKEN, "tag-1", 60) is True
    entry = store.read(KEY)
    assert (entry.token, entry.token_ttl) == (TOKEN, 60)
    clock.now += 45
    assert store.read(KEY).token_ttl == 15
    clock.now += 15
    assert store.read(KEY).token is None
    assert store.read(OTHER).token is None
    assert store.write(KEY, "o1", TOKEN, "tag-1", None) is True
    clock.now += 10**9
    entry = store.read(KEY)
    assert (entry.token, entry.token_ttl) == (TOKEN, None)


def test_a_clock_set_back_a_little_counts_as_no_time_passed(
    store: FileStore, clock: Clock
) -> None:
    store.write(KEY, "o1", TOKEN, "tag-1", 60)
    store.fail(KEY, "o1", b"failed", 30)
    assert store.acquire(KEY, "o1", 20) is None
    clock.now -= 0.5
    entry = store.read(KEY)
    assert (entry.token_ttl, entry.failure_ttl) == (60, 30)
    assert store.acquire(KEY, "o2", 20) == 20
    clock.now += 10.5
    assert store.acquire(KEY, "o2", 20) == 10
    clock.now += 10
    assert store.acquire(KEY, "o2", 20) is None


def test_a_clock_set_back_before_the_write_ends_every_entry(
    store: FileStore, clock: Clock
) -> None:
    # Or a lease could be held for as long as the clock was set back.
    store.write(KEY, "o1", TOKEN, "tag-1", 60)
    store.fail(KEY, "o1", b"failed", 30)
    assert store.acquire(KEY, "o1", 20) is None
    clock.now -= 3600
    entry = store.read(KEY)
    assert (entry.token, entry.failure) == (None, None)
    assert store.acquire(KEY, "o2", 20) is None
    # A token that does not expire is kept: there is no time to count.
    store.write(KEY, "o2", TOKEN, "tag-1", None)
    clock.now -= 3600
    assert store.read(KEY).token == TOKEN


def test_a_write_is_refused_while_another_owner_holds_the_lease(
    store: FileStore, clock: Clock
) -> None:
    assert store.acquire(KEY, "o1", 30) is None
    assert store.write(KEY, "o2", TOKEN, "tag-1", 60) is False
    assert store.read(KEY).token is None
    assert store.write(KEY, "o1", TOKEN, "tag-1", 60) is True
    # Free: anyone writes (the lease of another key is no matter).
    store.release(KEY, "o1")
    assert store.acquire(OTHER, "o1", 30) is None
    assert store.write(KEY, "o2", b"second", "tag-2", 60) is True
    assert store.read(KEY).token == b"second"
    # A lease that ran out does not refuse anyone.
    assert store.acquire(KEY, "o1", 30) is None
    clock.now += 30
    assert store.write(KEY, "o2", b"third", "tag-3", 60) is True


def test_acquire_takes_a_free_lease_only_and_says_what_is_left(
    store: FileStore, clock: Clock
) -> None:
    assert store.acquire(KEY, "o1", 30) is None
    assert store.acquire(KEY, "o2", 30) == 30
    assert store.acquire(KEY, "o1", 30) == 30  # not re-entrant: NX
    clock.now += 12
    assert store.acquire(KEY, "o2", 30) == 18
    assert store.acquire(OTHER, "o2", 30) is None
    clock.now += 18
    assert store.acquire(KEY, "o2", 5) is None
    assert store.acquire(KEY, "o1", 5) == 5


def test_release_only_by_the_owner(store: FileStore) -> None:
    assert store.acquire(KEY, "o1", 30) is None
    store.release(KEY, "o2")
    assert store.acquire(KEY, "o3", 30) == 30
    store.release(KEY, "o1")
    assert store.acquire(KEY, "o3", 30) is None


def test_a_failure_marker_lives_for_its_ttl(store: FileStore, clock: Clock) -> None:
    assert store.fail(KEY, "o1", b"failure-1", 10) is True
    entry = store.read(KEY)
    assert (entry.failure, entry.failure_ttl, entry.token) == (b"failure-1", 10, None)
    assert store.acquire(KEY, "o1", 30) is None
    assert store.fail(KEY, "o2", b"failure-2", 10) is False
    assert store.fail(KEY, "o1", b"failure-3", 10) is True
    assert store.read(KEY).failure == b"failure-3"
    clock.now += 4
    assert store.read(KEY).failure_ttl == 6
    clock.now += 6
    assert store.read(KEY).failure is None


def test_a_write_clears_the_failure_and_a_failure_keeps_the_token(
    store: FileStore,
) -> None:
    store.write(KEY, "o1", TOKEN, "tag-1", 60)
    store.fail(KEY, "o1", b"failure-1", 10)
    entry = store.read(KEY)
    assert (entry.token, entry.failure) == (TOKEN, b"failure-1")
    store.write(KEY, "o1", b"second", "tag-2", 60)
    entry = store.read(KEY)
    assert (entry.token, entry.failure, entry.failure_ttl) == (b"second", None, None)


def test_discard_deletes_the_token_of_that_tag_only(store: FileStore) -> None:
    store.write(KEY, "o1", TOKEN, "tag-1", 60)
    store.fail(KEY, "o1", b"failure-1", 10)
    assert store.discard(KEY, "tag-0") is False
    assert store.read(KEY).token == TOKEN
    assert store.discard(KEY, "tag-1") is True
    entry = store.read(KEY)
    assert (entry.token, entry.failure) == (None, b"failure-1")
    assert store.discard(KEY, "tag-1") is False


def test_wait_returns_at_once_when_no_lease_is_held(store: FileStore) -> None:
    started = time.monotonic()
    store.wait(KEY, 30)  # no file at all
    store.write(KEY, "o1", TOKEN, "tag-1", 60)
    store.wait(KEY, 30)  # a file, no lease
    assert time.monotonic() - started < 5


def test_wait_times_out_while_the_lease_is_held(store: FileStore) -> None:
    assert store.acquire(KEY, "o1", 60) is None
    started = time.monotonic()
    store.wait(KEY, 0.3)
    assert time.monotonic() - started >= 0.25
    # Another key's change does not wake it.
    writer = threading.Timer(0.05, store.write, (OTHER, "o2", TOKEN, "t", 60))
    writer.start()
    started = time.monotonic()
    store.wait(KEY, 0.3)
    writer.join()
    assert time.monotonic() - started >= 0.25


@pytest.mark.parametrize("change", ["write", "fail", "release"])
def test_wait_wakes_on_a_write_a_failure_or_a_release(
    tmp_path: Path, change: str
) -> None:
    store = FileStore(tmp_path)
    assert store.acquire(KEY, "o1", 60) is None
    calls = {
        "write": lambda: store.write(KEY, "o1", TOKEN, "tag-1", 60),
        "fail": lambda: store.fail(KEY, "o1", b"failure-1", 10),
        "release": lambda: store.release(KEY, "o1"),
    }
    writer = threading.Timer(0.2, calls[change])
    writer.start()
    started = time.monotonic()
    store.wait(KEY, 30)
    waited = time.monotonic() - started
    writer.join()
    assert 0.15 < waited < 10


def test_wait_returns_when_the_lease_runs_out(tmp_path: Path) -> None:
    store = FileStore(tmp_path)
    assert store.acquire(KEY, "o1", 0.3) is None
    started = time.monotonic()
    store.wait(KEY, 30)
    assert time.monotonic() - started < 10
    assert store.acquire(KEY, "o2", 30) is None


def test_threads_of_one_process_never_hold_the_lease_together(
    tmp_path: Path,
) -> None:
    store = FileStore(tmp_path, timeout=10)
    holders: list[str] = []
    overlaps: list[list[str]] = []
    guard = threading.Lock()

    def run(owner: str) -> None:
        for _ in range(5):
            while store.acquire(KEY, owner, 30) is not None:
                store.wait(KEY, 1)
            with guard:
                holders.append(owner)
                if len(holders) > 1:
                    overlaps.append(list(holders))
            time.sleep(0.001)
            with guard:
                holders.remove(owner)
            store.release(KEY, owner)

    threads = [threading.Thread(target=run, args=(f"t{i}",)) for i in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not any(thread.is_alive() for thread in threads)
    assert overlaps == []


def test_a_child_forked_during_a_change_does_not_keep_the_key_locked(
    tmp_path: Path,
) -> None:
    # The child's copy of the lock file's descriptor shares the lock: closing
    # the parent's alone would leave the key locked while the child lives.
    store = FileStore(tmp_path, timeout=1)
    with store._directory.locked(KEY):
        pid = forking.fork()
        if pid == 0:  # the child: it never returns into pytest
            try:
                time.sleep(5)
            finally:
                os._exit(0)
    try:
        assert store.acquire(KEY, "o1", 30) is None
    finally:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)


# The files.


def test_files_are_0600_and_a_new_directory_0700(tmp_path: Path) -> None:
    previous = os.umask(0)  # a lax umask must not loosen them
    try:
        store = FileStore(tmp_path / "a" / "store")
        store.acquire(KEY, "o1", 30)
        store.write(KEY, "o1", TOKEN, "tag-1", 60)
    finally:
        os.umask(previous)
    directory = Path(store.path)
    assert stat.S_IMODE(directory.stat().st_mode) == 0o700
    files = _files(directory)
    assert sorted(Path(name).suffix for name in files) == [".json", ".lock"]
    for path in files.values():
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path.name


@pytest.mark.parametrize("mode", [0o777, 0o770, 0o702, 0o1777])
def test_a_directory_others_can_write_to_is_refused(tmp_path: Path, mode: int) -> None:
    directory = tmp_path / "shared"
    directory.mkdir()
    directory.chmod(mode)
    with pytest.raises(PermissionError, match="writable by its group or by others"):
        FileStore(directory)
    with pytest.raises(PermissionError) as caught:
        FileStore(directory)
    assert str(directory) in str(caught.value)
    directory.chmod(0o755)  # readable by others is fine: the files are 0600
    FileStore(directory)


@pytest.mark.skipif(os.geteuid() != 0, reason="only root can give a directory away")
def test_a_directory_of_another_user_is_refused(tmp_path: Path) -> None:
    directory = tmp_path / "theirs"
    directory.mkdir(mode=0o700)
    os.chown(directory, 4242, -1)
    with pytest.raises(PermissionError, match="belongs to another user") as caught:
        FileStore(directory)
    assert str(directory) in str(caught.value)


def test_a_path_that_is_a_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "file"
    path.write_bytes(b"")
    with pytest.raises(OSError, match="file"):
        FileStore(path)


def test_a_platform_without_fcntl_is_refused_at_construction(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_filestore_io, "fcntl", None)
    with pytest.raises(RuntimeError, match=r"fcntl\.flock.*POSIX"):
        FileStore(tmp_path)


@pytest.mark.parametrize(
    ("arguments", "error"),
    [
        ({"prefix": "a/b"}, ValueError),
        ({"prefix": 3}, TypeError),
        ({"timeout": 0}, ValueError),
        ({"timeout": float("nan")}, ValueError),
        ({"timeout": "1"}, TypeError),
        ({"encryption_key": b"short"}, ValueError),
        ({"encryption_key": "x" * 32}, TypeError),
    ],
)
def test_bad_arguments_are_refused(
    tmp_path: Path, arguments: dict[str, Any], error: type[Exception]
) -> None:
    with pytest.raises(error):
        FileStore(tmp_path, **arguments)


def test_bad_ttl_owner_and_key_are_refused(store: FileStore) -> None:
    with pytest.raises(ValueError, match="finite"):
        store.acquire(KEY, "o1", float("inf"))
    with pytest.raises(TypeError, match="ttl"):
        store.write(KEY, "o1", TOKEN, "tag-1", "60")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="owner"):
        store.acquire(KEY, None, 30)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="key"):
        store.read(b"key")  # type: ignore[arg-type]


@given(st.text(), st.text())
def test_each_key_has_its_own_file_name_inside_the_directory(a: str, b: str) -> None:
    name_a, name_b = filesystem_name(a), filesystem_name(b)
    assert (name_a == name_b) == (a == b)
    assert "/" not in name_a
    assert "\0" not in name_a
    for suffix in (".json", ".lock"):
        path = os.path.join("/store", name_a + suffix)
        assert os.path.dirname(os.path.normpath(path)) == "/store"


def test_file_names_are_readable_for_store_keys() -> None:
    assert filesystem_name(KEY) == "sansio-auth+v1+%7B" + "a" * 64 + "%7D"
    assert filesystem_name("a:b") != filesystem_name("a+b")
    assert filesystem_name("../../etc/passwd") == "..%2F..%2Fetc%2Fpasswd"


def test_keys_with_separators_stay_in_the_directory(tmp_path: Path) -> None:
    store = FileStore(tmp_path / "store")
    for key in ("../escape", "a/b", "/abs", "..", "."):
        store.write(key, "o1", TOKEN, "tag-1", 60)
        assert store.read(key).token == TOKEN
    assert sorted(p.name for p in tmp_path.iterdir()) == ["store"]
    assert len(list((tmp_path / "store").glob("*.json"))) == 5


CORRUPT = [
    b"",
    b"{",
    b"\xff\xfe garbage",
    b"null",
    b"[]",
    b"[" * 100_000,
    b'{"v":2,"token":null,"failure":null,"lease":null}',
    b'{"v":true,"token":null,"failure":null,"lease":null}',
    b'{"v":1,"token":null,"failure":null,"lease":null,"extra":1}',
    b'{"v":1,"token":{"value":"!!","tag":"t","since":0,"ttl":null},'
    b'"failure":null,"lease":null}',
    b'{"v":1,"token":{"value":"dG9r","tag":1,"since":0,"ttl":null},'
    b'"failure":null,"lease":null}',
    b'{"v":1,"token":{"value":"dG9r","tag":"t","since":null,"ttl":null},'
    b'"failure":null,"lease":null}',
    b'{"v":1,"token":null,"failure":{"value":"dG9r","since":"9","ttl":9},"lease":null}',
    b'{"v":1,"token":null,"failure":null,'
    b'"lease":{"owner":"o","since":Infinity,"ttl":9}}',
    b'{"v":1,"token":null,"failure":null,"lease":{"owner":"o","since":0}}',
    b'{"v":1,"token":{"value":"' + b"A" * (1 << 20) + b'","tag":"t",'
    b'"since":0,"ttl":null},"failure":null,"lease":null}',
]


@pytest.mark.parametrize("content", CORRUPT, ids=range(len(CORRUPT)))
def test_a_corrupt_state_file_reads_as_empty_and_is_overwritten(
    store: FileStore, content: bytes
) -> None:
    store.write(KEY, "o1", TOKEN, "tag-1", 60)
    state = _state_file(store)
    state.write_bytes(content)
    entry = store.read(KEY)
    assert (entry.token, entry.failure) == (None, None)
    store.wait(KEY, 30)  # no lease in it: at once
    assert store.acquire(KEY, "o2", 30) is None
    assert store.acquire(KEY, "o3", 30) == 30


def test_the_state_file_is_read_as_written(store: FileStore) -> None:
    # The corrupt cases above are only corrupt if this one is whole.
    store.write(KEY, "o1", b"tok", "t", None)
    good = _state_file(store).read_bytes()
    assert good == (
        b'{"failure":null,"lease":null,"token":{"since":1700000000.0,"tag":"t",'
        b'"ttl":null,"value":"dG9r"},"v":1}'
    )
    _state_file(store).write_bytes(good.replace(b'"tag":"t"', b'"tag":"u"'))
    assert store.read(KEY).token == b"tok"
    assert store.discard(KEY, "u") is True


def test_no_temporary_file_is_left_behind(
    store: FileStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    for round_ in range(20):
        store.acquire(KEY, "o1", 30)
        store.write(KEY, "o1", b"token-%d" % round_, "tag", 60)
        store.fail(KEY, "o1", b"failed", 10)
        store.release(KEY, "o1")
    assert sorted(Path(name).suffix for name in _files(Path(store.path))) == [
        ".json",
        ".lock",
    ]

    def fail(*arguments: object, **options: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", fail)
    with pytest.raises(OSError, match="No space"):
        store.write(KEY, "o1", b"lost", "tag", 60)
    monkeypatch.undo()
    assert sorted(Path(name).suffix for name in _files(Path(store.path))) == [
        ".json",
        ".lock",
    ]
    assert store.read(KEY).token == b"token-19"


def test_an_empty_state_leaves_no_state_file(store: FileStore) -> None:
    store.acquire(KEY, "o1", 30)
    store.write(KEY, "o1", TOKEN, "tag-1", 60)
    store.release(KEY, "o1")
    store.discard(KEY, "tag-1")
    assert [Path(name).suffix for name in _files(Path(store.path))] == [".lock"]


def test_a_lock_held_elsewhere_times_out_and_reads_go_on(tmp_path: Path) -> None:
    store = FileStore(tmp_path, timeout=0.2)
    store.write(KEY, "o1", TOKEN, "tag-1", 60)
    (lock,) = tmp_path.glob("*.lock")
    with open(lock, "rb") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        started = time.monotonic()
        with pytest.raises(TimeoutError, match="busy") as caught:
            store.acquire(KEY, "o1", 30)
        assert time.monotonic() - started >= 0.15
        assert KEY not in str(caught.value)
        assert store.read(KEY).token == TOKEN
        store.wait(KEY, 30)
    assert store.acquire(KEY, "o1", 30) is None


# What else may sit at a key's file names.


def _plant(path: Path, kind: str, state: Path) -> None:
    """Put *kind* at *path* (relative: a socket's path must be short)."""
    path.unlink()
    if kind == "fifo":
        os.mkfifo(path, 0o600)
    elif kind == "symlink":
        path.symlink_to(state)  # a whole state file of ours, with a token
    elif kind == "directory":
        path.mkdir(mode=0o700)
    else:
        with socket.socket(socket.AF_UNIX) as bound:
            bound.bind(str(path))


def _bounded(call: Callable[[], object], directory: Path) -> object:
    """What *call* returns, or the exception it raises; the test fails if
    it blocks (a blocked open of a FIFO is let go first)."""
    outcome: list[object] = []

    def run() -> None:
        try:
            outcome.append(call())
        except Exception as exc:
            outcome.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(10)
    if thread.is_alive():
        for path in directory.iterdir():
            if stat.S_ISFIFO(path.lstat().st_mode):
                with contextlib.suppress(OSError):
                    os.close(os.open(path, os.O_WRONLY | os.O_NONBLOCK))
        thread.join(10)
        pytest.fail("a store call blocked on what sits at a key's file")
    return outcome[0]


def _changes(store: FileStore) -> list[Callable[[], object]]:
    return [
        lambda: store.acquire(KEY, "o1", 30),
        lambda: store.write(KEY, "o1", TOKEN, "tag-2", 60),
        lambda: store.fail(KEY, "o1", b"failure-1", 10),
        lambda: store.release(KEY, "o1"),
        lambda: store.discard(KEY, "tag-1"),
    ]


@pytest.mark.parametrize("suffix", [".json", ".lock"])
@pytest.mark.parametrize("kind", ["fifo", "symlink", "directory", "socket"])
def test_what_is_not_a_regular_file_is_a_miss_to_read_and_an_error_to_change(
    tmp_path: Path,
    clock: Clock,
    monkeypatch: pytest.MonkeyPatch,
    kind: str,
    suffix: str,
) -> None:
    # Whoever plants a FIFO there would hang every process that opens it;
    # a symlink could lead to a token of their choosing.
    directory = tmp_path / "store"
    store = FileStore(directory, clock=clock)
    elsewhere = FileStore(tmp_path / "elsewhere", clock=clock)
    elsewhere.write(KEY, "o1", b"PLANTED", "tag-p", 60)
    store.write(KEY, "o1", TOKEN, "tag-1", 60)
    name = filesystem_name(KEY) + suffix
    monkeypatch.chdir(directory)
    _plant(Path(name), kind, _state_file(elsewhere))
    # Reads take no lock: a state file that is not one is a miss, not an error.
    entry = _bounded(lambda: store.read(KEY), directory)
    assert isinstance(entry, StoredEntry), entry
    assert (entry.token, entry.failure) == (None if suffix == ".json" else TOKEN, None)
    assert _bounded(lambda: store.wait(KEY, 30), directory) is None
    for change in _changes(store):
        error = _bounded(change, directory)
        assert isinstance(error, PermissionError), error
        assert str(directory / name) in str(error)
        assert "ACCESS-SECRET" not in str(error)
    store.close()
    elsewhere.close()


@pytest.mark.skipif(os.geteuid() != 0, reason="only root can give a file away")
@pytest.mark.parametrize("suffix", [".json", ".lock"])
def test_a_file_of_another_user_is_a_miss_to_read_and_an_error_to_change(
    store: FileStore, suffix: str
) -> None:
    store.write(KEY, "o1", TOKEN, "tag-1", 60)
    path = Path(store.path) / (filesystem_name(KEY) + suffix)
    os.chown(path, 4242, -1)
    assert store.read(KEY).token == (None if suffix == ".json" else TOKEN)
    for change in _changes(store):
        with pytest.raises(PermissionError, match="another user") as caught:
            change()
        assert str(path) in str(caught.value)


# The directory: opened once, held.


def _planted_state(tmp_path: Path, clock: Clock, directory: Path) -> None:
    """A whole state file holding a token nobody fetched, in *directory*."""
    elsewhere = FileStore(tmp_path / "elsewhere", clock=clock)
    elsewhere.write(KEY, "o1", b"PLANTED", "tag-p", 60)
    shutil.copy(_state_file(elsewhere), directory / _state_file(elsewhere).name)
    elsewhere.close()


def test_a_symlinked_path_is_resolved_once_and_repointing_it_changes_nothing(
    tmp_path: Path, clock: Clock
) -> None:
    ours = tmp_path / "ours"
    ours.mkdir(mode=0o700)
    public = tmp_path / "public"
    public.mkdir()
    public.chmod(0o777)
    link = tmp_path / "tokens"
    link.symlink_to(public)
    with pytest.raises(PermissionError, match="writable by its group") as caught:
        FileStore(link)
    assert str(link) in str(caught.value)
    link.unlink()
    link.symlink_to(ours)
    store = FileStore(link, clock=clock)
    assert store.path == str(ours)
    link.unlink()
    link.symlink_to(public)  # repointed at a directory anyone can write to
    _planted_state(tmp_path, clock, public)
    assert store.read(KEY).token is None
    assert store.acquire(KEY, "o1", 30) is None
    assert store.write(KEY, "o1", TOKEN, "tag-1", 60) is True
    assert store.read(KEY).token == TOKEN
    assert sorted(path.suffix for path in ours.iterdir()) == [".json", ".lock"]
    assert [path.suffix for path in public.iterdir()] == [".json"]
    assert repr(store) == f"<FileStore path={str(ours)!r} prefix='sansio-auth'>"
    store.close()


def test_a_path_turned_into_a_symlink_after_it_was_resolved_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ours = tmp_path / "ours"
    ours.mkdir(mode=0o700)
    public = tmp_path / "public"
    public.mkdir()
    public.chmod(0o777)
    resolve = os.path.realpath

    def resolved_then_swapped(path: str) -> str:
        real = resolve(path)
        ours.rename(tmp_path / "moved")
        ours.symlink_to(public)
        return real

    with monkeypatch.context() as patched:
        patched.setattr(os.path, "realpath", resolved_then_swapped)
        with pytest.raises(
            OSError, match="changed while it was being opened"
        ) as caught:
            FileStore(ours)
    assert str(ours) in str(caught.value)


def test_a_directory_moved_away_and_replaced_changes_nothing(
    tmp_path: Path, clock: Clock
) -> None:
    directory = tmp_path / "store"
    store = FileStore(directory, clock=clock)
    store.write(KEY, "o1", TOKEN, "tag-1", 60)
    directory.rename(tmp_path / "moved")
    directory.mkdir()
    directory.chmod(0o777)
    _planted_state(tmp_path, clock, directory)
    assert store.read(KEY).token == TOKEN
    assert store.write(KEY, "o1", b"second", "tag-2", 60) is True
    moved = FileStore(tmp_path / "moved", clock=clock)
    assert moved.read(KEY).token == b"second"
    assert [path.suffix for path in directory.iterdir()] == [".json"]
    store.close()
    moved.close()


def _open_descriptors() -> int:
    if not os.path.isdir("/proc/self/fd"):
        pytest.skip("needs /proc/self/fd")
    return len(os.listdir("/proc/self/fd"))


def test_close_lets_go_of_the_directory_and_the_store_is_not_used_after(
    tmp_path: Path,
) -> None:
    before = _open_descriptors()
    store = FileStore(tmp_path)
    store.write(KEY, "o1", TOKEN, "tag-1", 60)
    assert _open_descriptors() == before + 1
    store.close()
    store.close()  # twice is fine
    assert _open_descriptors() == before
    calls: list[Callable[[], object]] = [
        lambda: store.read(KEY),
        lambda: store.wait(KEY, 1),
        *_changes(store),
    ]
    for call in calls:
        with pytest.raises(ValueError, match="FileStore is closed"):
            call()
    reopened = FileStore(tmp_path)
    assert reopened.read(KEY).token == TOKEN
    reopened.close()


def test_close_during_a_wait_ends_it_then_lets_go(tmp_path: Path) -> None:
    store = FileStore(tmp_path)
    assert store.acquire(KEY, "o1", 60) is None
    before = _open_descriptors()
    waiter = threading.Thread(target=store.wait, args=(KEY, 60))
    waiter.start()
    time.sleep(0.1)
    store.close()
    waiter.join(10)
    assert not waiter.is_alive()
    assert _open_descriptors() == before - 1


def test_a_forked_child_uses_the_directory_it_inherits(tmp_path: Path) -> None:
    store = FileStore(tmp_path / "store")

    def child() -> str:
        assert store.acquire(KEY, "child", 30) is None
        assert store.write(KEY, "child", b"from-child", "tag-c", 60) is True
        store.release(KEY, "child")
        store.close()  # the child's copy of the directory's descriptor
        return "done"

    # Forked while the store's own lock is held: the child has a fresh one.
    with store._directory._guard:
        (ended,) = forking.fork_children(1, child, bound=10)
    assert ended.ok, ended.report
    assert store.read(KEY).token == b"from-child"
    assert store.acquire(KEY, "parent", 30) is None
    store.close()


# What the store's values show.


def test_no_internal_value_shows_the_token_or_failure_bytes(
    tmp_path: Path, clock: Clock, encryption_key: bytes
) -> None:
    clear = FileStore(tmp_path / "clear", clock=clock)
    sealed = FileStore(tmp_path / "sealed", clock=clock, encryption_key=encryption_key)
    for store in (clear, sealed):
        store.acquire(KEY, "o1", 30)
        store.write(KEY, "o1", TOKEN, "tag-1", 60)
        store.fail(KEY, "o1", b"FAILURE-DETAIL", 10)
        state = _filestore_io.parse(_state_file(store).read_bytes(), clock.now)
        assert state.token is not None
        assert state.failure is not None
        assert state.lease is not None
        secrets = [
            b"ACCESS-SECRET-1",
            b"FAILURE-DETAIL",
            state.token.value,
            state.failure.value,
        ]
        shown = [
            text
            for value in (state, state.token, state.failure, state.lease)
            for text in (repr(value), str(value))
        ]
        for text in shown:
            for secret in secrets:
                for form in (
                    repr(secret),
                    secret.decode("latin-1"),
                    base64.b64encode(secret).decode(),
                ):
                    assert form not in text, text
        # What is not secret still shows.
        assert "tag-1" in repr(state)
        assert "o1" in repr(state)
        store.close()


# Encryption at rest.


def _decoded_strings(path: Path) -> bytes:
    """Every string of a state file, and what each decodes to as base64."""
    found = [path.read_bytes()]

    def walk(node: object) -> None:
        if isinstance(node, dict):
            for item in node.values():
                walk(item)
        elif isinstance(node, str):
            found.append(node.encode())
            with contextlib.suppress(ValueError):
                found.append(base64.b64decode(node, validate=True))

    walk(json.loads(path.read_bytes()))
    return b"\n".join(found)


def test_the_file_holds_no_clear_token_with_a_key(
    tmp_path: Path, encryption_key: bytes
) -> None:
    clear = FileStore(tmp_path / "clear")
    sealed = FileStore(tmp_path / "sealed", encryption_key=encryption_key)
    for store in (clear, sealed):
        store.write(KEY, "o1", TOKEN, "tag-1", 60)
        store.fail(KEY, "o1", b"FAILURE-DETAIL", 10)
        entry = store.read(KEY)
        assert (entry.token, entry.failure) == (TOKEN, b"FAILURE-DETAIL")
    # The check can see them when they are there...
    assert b"ACCESS-SECRET-1" in _decoded_strings(_state_file(clear))
    assert b"FAILURE-DETAIL" in _decoded_strings(_state_file(clear))
    # ...and they are not, sealed.
    assert b"ACCESS-SECRET-1" not in _decoded_strings(_state_file(sealed))
    assert b"FAILURE-DETAIL" not in _decoded_strings(_state_file(sealed))
    assert "key=" not in repr(sealed)


def test_a_sealed_value_copied_to_another_key_does_not_open(
    tmp_path: Path, encryption_key: bytes
) -> None:
    store = FileStore(tmp_path, encryption_key=encryption_key)
    store.write(KEY, "o1", TOKEN, "tag-1", 60)
    store.fail(KEY, "o1", b"failure-1", 10)
    store.write(OTHER, "o1", b"other", "tag-2", 60)
    _state_file(store, OTHER).write_bytes(_state_file(store, KEY).read_bytes())
    entry = store.read(OTHER)
    assert (entry.token, entry.token_ttl, entry.failure) == (None, None, None)
    assert store.read(KEY).token == TOKEN


def test_the_token_and_failure_do_not_open_in_each_other_s_place(
    tmp_path: Path, encryption_key: bytes
) -> None:
    store = FileStore(tmp_path, encryption_key=encryption_key)
    store.write(KEY, "o1", TOKEN, "tag-1", 60)
    store.fail(KEY, "o1", b"failure-1", 10)
    state = json.loads(_state_file(store).read_bytes())
    state["token"]["value"], state["failure"]["value"] = (
        state["failure"]["value"],
        state["token"]["value"],
    )
    _state_file(store).write_bytes(json.dumps(state).encode())
    entry = store.read(KEY)
    assert (entry.token, entry.failure) == (None, None)


def test_clear_and_sealed_values_do_not_cross(
    tmp_path: Path, encryption_key: bytes
) -> None:
    clear = FileStore(tmp_path)
    sealed = FileStore(tmp_path, encryption_key=encryption_key)
    other_key = FileStore(tmp_path, encryption_key=bytes(32))
    clear.write(KEY, "o1", TOKEN, "tag-1", 60)
    assert sealed.read(KEY).token is None  # a planted clear token is no token
    sealed.write(KEY, "o1", TOKEN, "tag-1", 60)
    assert clear.read(KEY).token is None
    assert other_key.read(KEY).token is None
    assert sealed.read(KEY).token == TOKEN
    # The lease and the tag are not secret: they work across all three.
    assert clear.acquire(KEY, "o1", 30) is None
    assert 0 < (sealed.acquire(KEY, "o2", 30) or 0) <= 30
    assert other_key.discard(KEY, "tag-1") is True


# The same answers as MemoryStore.

KEYS = st.sampled_from([KEY, OTHER])
OWNERS = st.sampled_from(["o1", "o2"])
TTLS = st.sampled_from([1000, 5000])
OPERATIONS = st.lists(
    st.one_of(
        st.tuples(st.just("read"), KEYS),
        st.tuples(st.just("acquire"), KEYS, OWNERS, TTLS),
        st.tuples(
            st.just("write"),
            KEYS,
            OWNERS,
            st.sampled_from([b"t1", b"t2"]),
            st.sampled_from(["g1", "g2"]),
            st.none() | TTLS,
        ),
        st.tuples(st.just("fail"), KEYS, OWNERS, st.sampled_from([b"f1", b"f2"]), TTLS),
        st.tuples(st.just("release"), KEYS, OWNERS),
        st.tuples(st.just("discard"), KEYS, st.sampled_from(["g1", "g2"])),
        st.tuples(st.just("wait"), KEYS),
        st.tuples(st.just("advance"), st.integers(1, 3000)),
    ),
    max_size=25,
)


@contextlib.contextmanager
def _directory() -> Iterator[Path]:
    with tempfile.TemporaryDirectory() as name:
        yield Path(name)


def _apply(store: Any, operation: tuple[Any, ...]) -> object:
    name, *arguments = operation
    if name == "wait":
        return store.wait(*arguments, 0)
    result = getattr(store, name)(*arguments)
    if name == "read":
        return (result.token, result.token_ttl, result.failure, result.failure_ttl)
    return result


@pytest.mark.parametrize("sealed", [False, True], ids=["clear", "sealed"])
@settings(max_examples=100)
@given(operations=OPERATIONS)
def test_the_same_answers_as_the_memory_store(
    sealed: bool, operations: list[tuple[Any, ...]]
) -> None:
    clock = Clock(1_000_000)
    key = bytes(range(32)) if sealed else None
    memory = MemoryStore(clock=clock)
    with _directory() as directory:
        files = FileStore(directory, clock=clock, encryption_key=key)
        for operation in operations:
            if operation[0] == "advance":
                clock.now += operation[1]
                continue
            expected = _apply(memory, operation)
            assert _apply(files, operation) == expected, operation
        files.close()


# Fleets of real processes.

WORKERS = 16


def _fleet(target: Any, *arguments: object) -> list[dict[str, Any]]:
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(WORKERS)
    queue = context.Queue()
    processes = [
        context.Process(target=target, args=(*arguments, worker, barrier, queue))
        for worker in range(WORKERS)
    ]
    for process in processes:
        process.start()
    try:
        reports = [queue.get(timeout=90) for _ in processes]
    finally:
        for process in processes:
            process.join(10)
            if process.is_alive():
                process.kill()
                process.join()
    assert all(process.exitcode == 0 for process in processes)
    return sorted(reports, key=lambda report: int(report["worker"]))


def test_sixteen_processes_never_hold_the_lease_together(tmp_path: Path) -> None:
    holds = 3
    reports = _fleet(filestore_workers.hold_lease, str(tmp_path), holds)
    assert [report.get("error") for report in reports] == [None] * WORKERS
    assert [report["collisions"] for report in reports] == [0] * WORKERS
    assert [report["held"] for report in reports] == [holds] * WORKERS
    # They did contend: some tries found the lease taken.
    assert sum(report["refused"] for report in reports) > 0
    assert not (tmp_path / "holder.marker").exists()
    assert FileStore(tmp_path).acquire(filestore_workers.KEY, "last", 1) is None


def test_sixteen_processes_never_read_a_torn_value(tmp_path: Path) -> None:
    rounds = 20
    reports = _fleet(
        filestore_workers.write_and_read,
        str(tmp_path),
        rounds,
        WORKERS,
    )
    assert [report.get("error") for report in reports] == [None] * WORKERS
    assert [report["bad"] for report in reports] == [0] * WORKERS
    assert [report["empty_after_write"] for report in reports] == [0] * WORKERS
    assert sum(report["reads"] for report in reports) == WORKERS * rounds * 3
    assert FileStore(tmp_path).read(filestore_workers.KEY).token in {
        filestore_workers.value(worker, rounds - 1) for worker in range(WORKERS)
    }
    assert [p.suffix for p in tmp_path.iterdir() if p.suffix == ".tmp"] == []
