"""A real ``redis-server`` on 127.0.0.1 for the store tests, with faults.

Each :class:`RedisServer` runs its own ``redis-server`` process on a free
loopback port, in a temporary directory, with persistence off (``--save ''
--appendonly no``): nothing a test writes outlives it. The faults are the
ones a fleet meets: a server that stops answering (``pause``: SIGSTOP, the
kernel still accepts connections, nothing replies, as a server stuck in a
long command or a network black hole), one that is gone (``stop``/``kill``),
and one that comes back empty on the same address (``restart``: a failover
to a replica that lost the data, or a restart without persistence).

The server is driven and probed over a raw socket with inline commands
(``PING``): the helper does not depend on the client library it tests.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType
from typing import Self

import pytest

__all__ = [
    "RedisServer",
    "free_port",
    "redis_server",
    "redis_server_path",
    "redis_url",
]

_START_TIMEOUT = 10.0


def redis_server_path() -> str:
    """The ``redis-server`` on PATH; skips the test without one, or fails it
    under CI (``CI=true``), where a missing server is a broken set-up, never a
    reason to pass."""
    path = shutil.which("redis-server")
    if path is not None:
        return path
    message = (
        "redis-server is not on PATH: the Redis store tests need a real server "
        "(apt-get install -y redis-server, or README's set-up command)"
    )
    if os.environ.get("CI") == "true":
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


def free_port() -> int:
    """A loopback port nobody listens on now (the server may still lose a
    race for it: :meth:`RedisServer.start` then tries another)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _inline(port: int, command: bytes, timeout: float = 0.5) -> bytes:
    # An inline command and the first bytes of its reply: enough for PING and
    # FLUSHALL, whose replies are one short line.
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(command + b"\r\n")
        return sock.recv(256)


def _answers(port: int) -> bool:
    try:
        # A server with a password answers, too: that it needs one.
        return _inline(port, b"PING").startswith((b"+PONG", b"-NOAUTH"))
    except OSError:
        return False


class RedisServer:
    """One ``redis-server`` process on 127.0.0.1.

    Args:
      executable: the ``redis-server`` binary (default: the one on PATH).
      args: more command line options (``("--requirepass", "...")``).
    """

    def __init__(
        self, executable: str | None = None, *, args: tuple[str, ...] = ()
    ) -> None:
        self.executable = executable or redis_server_path()
        self.args = args
        self.port = 0
        self._dir = Path(tempfile.mkdtemp(prefix="sansio-auth-redis-"))
        self._process: subprocess.Popen[bytes] | None = None
        self._paused = False

    def __repr__(self) -> str:
        return f"<RedisServer port={self.port} running={self.running}>"

    def __enter__(self) -> Self:
        try:
            self.start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    @property
    def url(self) -> str:
        """``redis://127.0.0.1:<port>/0``."""
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    @property
    def log(self) -> str:
        """What the server logged (for failure messages)."""
        path = self._dir / "redis.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def start(self) -> None:
        """Start on a free port (or on :attr:`port` again, once it ran), and
        return when it answers PING."""
        if self.running:
            raise RuntimeError("the server is already running")
        keep_port = self.port != 0
        for _ in range(1 if keep_port else 5):
            port = self.port if keep_port else free_port()
            if self._launch(port):
                self.port = port
                return
        raise RuntimeError(f"redis-server did not start:\n{self.log}")

    def _launch(self, port: int) -> bool:
        command = [
            self.executable,
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(self._dir),
            "--logfile",
            str(self._dir / "redis.log"),
            *self.args,
        ]
        self._process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self._paused = False
        deadline = time.monotonic() + _START_TIMEOUT
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                return False  # e.g. the port was taken in between
            if _answers(port):
                return True
            time.sleep(0.02)
        self._end(signal.SIGKILL)
        return False

    def _end(self, how: signal.Signals) -> None:
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        if self._paused:
            # A stopped process acts on SIGTERM only once it runs again.
            process.send_signal(signal.SIGCONT)
            self._paused = False
        process.send_signal(how)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)

    def flushall(self) -> None:
        """Delete every key (a running, unpaused server)."""
        reply = _inline(self.port, b"FLUSHALL", timeout=5)
        if not reply.startswith(b"+OK"):
            raise RuntimeError(f"FLUSHALL answered {reply!r}")

    def stop(self) -> None:
        """SIGTERM: the server shuts down cleanly (nothing saved)."""
        self._end(signal.SIGTERM)

    def kill(self) -> None:
        """SIGKILL: the server is gone at once, connections reset."""
        self._end(signal.SIGKILL)

    def pause(self) -> None:
        """SIGSTOP: connections are accepted by the kernel, nothing answers."""
        if self._process is None:
            raise RuntimeError("the server is not running")
        self._process.send_signal(signal.SIGSTOP)
        self._paused = True

    def resume(self) -> None:
        """SIGCONT: what was queued while paused is answered now."""
        if self._process is not None and self._paused:
            self._process.send_signal(signal.SIGCONT)
            self._paused = False

    def restart(self) -> None:
        """Stop, and start empty on the same port."""
        self.stop()
        self.start()

    def close(self) -> None:
        """Stop the server and remove its directory."""
        self.stop()
        with contextlib.suppress(OSError):
            shutil.rmtree(self._dir)


# Fixtures, registered by tests/conftest.py (pytest_plugins).


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    """One server for the session (tests that stop or pause a server start
    their own)."""
    with RedisServer() as server:
        yield server


@pytest.fixture
def redis_url(redis_server: RedisServer) -> str:
    """The session's server, running and empty."""
    redis_server.resume()
    if not redis_server.running:
        redis_server.start()
    redis_server.flushall()
    return redis_server.url
