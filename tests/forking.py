"""Real ``os.fork()`` children for tests, each bounded by an alarm.

A child runs a function, reports what it returned (or raised) through a
pipe and leaves with ``os._exit``: it never returns into pytest. An alarm
kills a child that hangs, so a hang fails the test instead of hanging the
suite; the parent kills any child still alive well after that.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
import warnings
from collections.abc import Callable

import attrs


@attrs.frozen(kw_only=True)
class Child:
    """How one forked child ended."""

    pid: int
    exit_code: int | None
    """Its exit code; None if a signal ended it."""
    signal: int | None
    """The signal that ended it (SIGALRM: it hung past its bound)."""
    report: str
    """What its function returned, or the exception it raised."""
    seconds: float
    """How long its function took, by its own clock; -1 if it did not end."""

    @property
    def ok(self) -> bool:
        return self.exit_code == 0


def fork() -> int:
    """``os.fork()``; Python 3.12+ warns when the process has threads (ours
    do: the test servers), and the suite turns warnings into errors."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        return os.fork()


def _run_child(write: int, run: Callable[[], str], bound: int) -> None:
    code, report, seconds = 1, "", -1.0
    try:
        signal.signal(signal.SIGALRM, signal.SIG_DFL)  # the default: terminate
        signal.alarm(bound)
        started = time.monotonic()
        report = run()
        seconds = time.monotonic() - started
        code = 0
    except BaseException as exc:
        report = f"{type(exc).__name__}: {exc}"
    finally:
        with contextlib.suppress(BaseException):
            os.write(write, f"{seconds!r} {report}".encode()[:4000])
        os._exit(code)


def fork_children(count: int, run: Callable[[], str], *, bound: int) -> list[Child]:
    """Fork *count* children (one after another, without waiting), each
    running *run* under an alarm of *bound* seconds; how each ended."""
    started: list[tuple[int, int]] = []
    for _ in range(count):
        read, write = os.pipe()
        pid = fork()
        if pid == 0:  # the child: it never returns
            os.close(read)
            _run_child(write, run, bound)
        os.close(write)
        started.append((pid, read))
    deadline = time.monotonic() + bound + 20
    children = []
    for pid, read in started:
        status = _wait(pid, deadline)
        with os.fdopen(read, "rb") as pipe:
            text = pipe.read().decode(errors="replace")
        seconds, _, report = text.partition(" ")
        children.append(
            Child(
                pid=pid,
                exit_code=os.WEXITSTATUS(status) if os.WIFEXITED(status) else None,
                signal=os.WTERMSIG(status) if os.WIFSIGNALED(status) else None,
                report=report,
                seconds=float(seconds) if seconds else -1.0,
            )
        )
    return children


def _wait(pid: int, deadline: float) -> int:
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return status
        time.sleep(0.01)
    os.kill(pid, signal.SIGKILL)  # past its own alarm: something is very wrong
    return os.waitpid(pid, 0)[1]
