"""The command line with its standard streams closed or at end (issue 10, 15).

Real processes: the installed ``sansio-auth`` script against the local token
server, with stdout a pipe the test closes (``| true``, ``| head -c1``), stdin
``/dev/null`` or truly closed (``<&-``), stdout or stderr closed from the
start, and a pseudo-terminal that is the process's controlling terminal, so
that ``getpass`` prompts on it and the test can answer Ctrl-D. Each ends in
its documented exit code and one line on stderr, never a traceback.
"""

from __future__ import annotations

import errno
import os
import select
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import attrs
import pytest

from sansio_auth.adapters import cli
from sansio_auth.adapters.server import TokenServer

SCRIPT = Path(sys.executable).parent / "sansio-auth"
TIMEOUT = 60.0
EXIT_BROKEN_PIPE = 141
"""The documented code: 128 + SIGPIPE, as a shell reports a tool SIGPIPE ended."""
BROKEN_PIPE = (
    "sansio-auth: stdout was closed before the output was written (broken pipe)\n"
)
PROMPT = b"SmartWay API key (SANSIO_AUTH_API_KEY): "


def environ(**secrets: str) -> dict[str, str]:
    """This environment without the command's secrets, and *secrets*."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SANSIO_AUTH_")}
    return env | secrets


def smartway_argv(server: TokenServer) -> list[str]:
    return ["token", "--provider", "smartway", "--base-url", server.smartway_base_url]


def smartway_key(server: TokenServer) -> dict[str, str]:
    return environ(SANSIO_AUTH_API_KEY=server.credentials.smartway_api_key)


@attrs.frozen
class Done:
    code: int
    out: str
    err: str


def assert_one_line(err: str) -> None:
    assert "Traceback" not in err
    assert err.count("\n") == 1, err
    assert err.endswith("\n")
    assert err.startswith("sansio-auth: ")


# -- stdout closed by its reader ------------------------------------------------

# A buffered stdout fails when flushed, an unbuffered one (PYTHONUNBUFFERED,
# as CI and containers often set) on each write: both must end the same.
BUFFERING = pytest.mark.parametrize("unbuffered", [False, True], ids=["buf", "unbuf"])


def buffering(env: dict[str, str], unbuffered: bool) -> dict[str, str]:
    env = {k: v for k, v in env.items() if k != "PYTHONUNBUFFERED"}
    return env | {"PYTHONUNBUFFERED": "1"} if unbuffered else env


def closed_pipe(
    argv: Sequence[str],
    env: dict[str, str],
    tmp: Path,
    *,
    unbuffered: bool,
    merged: bool = False,
) -> Done:
    """Run with stdout a pipe whose reading end is closed before anything is
    written to it: ``sansio-auth ... | true``; with stderr in the same pipe
    when *merged* (``2>&1 | true``)."""
    proc = subprocess.Popen(
        [str(SCRIPT), *argv],
        cwd=tmp,
        env=buffering(env, unbuffered),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT if merged else subprocess.PIPE,
    )
    assert proc.stdout is not None
    # At once: the process has not got past its imports yet.
    proc.stdout.close()
    try:
        _, err = proc.communicate(timeout=TIMEOUT)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return Done(proc.returncode, "", "" if merged else err.decode())


@BUFFERING
def test_a_token_into_a_closed_pipe_exits_141(
    unbuffered: bool, token_server: TokenServer, tmp_path: Path
) -> None:
    done = closed_pipe(
        smartway_argv(token_server),
        smartway_key(token_server),
        tmp_path,
        unbuffered=unbuffered,
    )
    assert done.code == EXIT_BROKEN_PIPE
    assert done.err == BROKEN_PIPE
    assert_one_line(done.err)
    # The token was had, and not delivered: hence not 0.
    assert len(token_server.token_requests()) == 1
    assert cli.EXIT_BROKEN_PIPE == EXIT_BROKEN_PIPE


@BUFFERING
@pytest.mark.parametrize("argv", [["token", "--help"], ["--help"], ["--version"]])
def test_help_into_a_closed_pipe_exits_141(
    argv: list[str], unbuffered: bool, tmp_path: Path
) -> None:
    done = closed_pipe(argv, environ(), tmp_path, unbuffered=unbuffered)
    assert done.code == EXIT_BROKEN_PIPE
    assert done.err == BROKEN_PIPE


@BUFFERING
def test_stdout_and_stderr_into_one_closed_pipe_exits_141(
    unbuffered: bool, token_server: TokenServer, tmp_path: Path
) -> None:
    # The line about the closed stdout cannot be written either; the code
    # still tells (the failed write would make it a traceback and 1 or 120).
    done = closed_pipe(
        smartway_argv(token_server),
        smartway_key(token_server),
        tmp_path,
        unbuffered=unbuffered,
        merged=True,
    )
    assert done.code == EXIT_BROKEN_PIPE


@BUFFERING
def test_demo_into_head_c1_exits_141(unbuffered: bool, tmp_path: Path) -> None:
    # `sansio-auth demo | head -c1`: the reader takes one byte and goes.
    proc = subprocess.Popen(
        [str(SCRIPT), "demo"],
        cwd=tmp_path,
        env=buffering(environ(), unbuffered),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert proc.stdout is not None
    try:
        first = proc.stdout.read(1)
        proc.stdout.close()
        _, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert first == b"s"  # "sansio-auth demo: ..."
    assert proc.returncode == EXIT_BROKEN_PIPE
    assert err.decode() == BROKEN_PIPE


# -- stdin, stdout or stderr closed from the start ----------------------------


def run(
    argv: Sequence[str],
    env: dict[str, str],
    tmp: Path,
    *,
    closing: str = "",
    stdin: int | None = subprocess.DEVNULL,
) -> Done:
    """Run the script, through ``sh`` when *closing* closes descriptors
    (``<&-``, ``>&-``, ``2>&-``) before the exec."""
    command = [str(SCRIPT), *argv]
    if closing:
        command = ["/bin/sh", "-c", f'exec "$0" "$@" {closing}', *command]
    done = subprocess.run(
        command,
        cwd=tmp,
        env=env,
        stdin=stdin,
        capture_output=True,
        timeout=TIMEOUT,
        check=False,
    )
    return Done(done.returncode, done.stdout.decode(), done.stderr.decode())


@pytest.mark.parametrize(
    ("closing", "why"),
    [("", "stdin is not a terminal"), ("<&-", "stdin is closed")],
)
def test_a_missing_secret_with_stdin_devnull_or_closed_is_a_usage_error(
    closing: str, why: str, token_server: TokenServer, tmp_path: Path
) -> None:
    done = run(smartway_argv(token_server), environ(), tmp_path, closing=closing)
    assert done.code == cli.EXIT_USAGE
    assert done.out == ""
    assert done.err == (
        "sansio-auth: usage error: missing SmartWay API key: set the environment "
        f"variable SANSIO_AUTH_API_KEY ({why}, so there is no prompt)\n"
    )
    assert_one_line(done.err)
    assert token_server.token_requests() == []


def test_a_closed_stdin_is_no_error_when_the_secret_is_set(
    token_server: TokenServer, tmp_path: Path
) -> None:
    done = run(
        [*smartway_argv(token_server), "--output", "bare"],
        smartway_key(token_server),
        tmp_path,
        closing="<&-",
    )
    assert done.code == cli.EXIT_OK, done.err
    assert done.err == ""
    assert token_server.verify(done.out.rstrip("\n")) is not None


def test_a_closed_stdout_exits_1_before_fetching(
    token_server: TokenServer, tmp_path: Path
) -> None:
    done = run(
        smartway_argv(token_server),
        smartway_key(token_server),
        tmp_path,
        closing=">&-",
    )
    assert done.code == cli.EXIT_ERROR
    assert done.err == "sansio-auth: stdout is closed (file descriptor 1 is not open)\n"
    assert token_server.token_requests() == []


def test_a_closed_stderr_keeps_the_exit_code(
    token_server: TokenServer, tmp_path: Path
) -> None:
    # Nowhere to say it; the code still tells (a traceback would make it 1).
    done = run(smartway_argv(token_server), environ(), tmp_path, closing="2>&-")
    assert done.code == cli.EXIT_USAGE
    assert done.out == ""


# -- a terminal: the prompt ------------------------------------------------------

# Run by the child before the script: start_new_session made it a session
# leader without a terminal, and this makes its stdin, the pty, its
# controlling terminal, which getpass opens as /dev/tty.
ON_A_TERMINAL = (
    "import fcntl, os, sys, termios; "
    "fcntl.ioctl(0, termios.TIOCSCTTY, 0); "
    "os.execv(sys.argv[1], sys.argv[1:])"
)


def read_until(fd: int, wanted: bytes, timeout: float) -> bytes:
    """What the terminal shows, up to and including *wanted*."""
    seen = b""
    deadline = time.monotonic() + timeout
    while wanted not in seen:
        left = deadline - time.monotonic()
        ready, _, _ = select.select([fd], [], [], max(left, 0))
        if not ready:
            raise AssertionError(f"no {wanted!r} on the terminal; it showed {seen!r}")
        try:
            chunk = os.read(fd, 1024)
        except OSError as exc:  # EIO: the other side is all closed
            if exc.errno != errno.EIO:
                raise
            chunk = b""
        if not chunk:
            raise AssertionError(f"the terminal closed; it showed {seen!r}")
        seen += chunk
    return seen


def on_a_terminal(
    argv: Sequence[str], env: dict[str, str], tmp: Path, typed: bytes
) -> tuple[Done, bytes]:
    """Run the script with a pty as its stdin and controlling terminal, type
    *typed* once the secret's prompt shows; stdout and stderr are pipes."""
    master, slave = os.openpty()
    try:
        proc = subprocess.Popen(
            [sys.executable, "-c", ON_A_TERMINAL, str(SCRIPT), *argv],
            cwd=tmp,
            env=env,
            stdin=slave,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
    finally:
        os.close(slave)
    try:
        shown = read_until(master, PROMPT, TIMEOUT)
        os.write(master, typed)
        out, err = proc.communicate(timeout=TIMEOUT)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
        os.close(master)
    return Done(proc.returncode, out.decode(), err.decode()), shown


def test_end_of_input_at_the_prompt_is_a_usage_error(
    token_server: TokenServer, tmp_path: Path
) -> None:
    done, shown = on_a_terminal(
        smartway_argv(token_server),
        environ(),
        tmp_path,
        typed=b"\x04",  # Ctrl-D
    )
    assert shown.endswith(PROMPT)  # getpass asked on the terminal
    assert done.code == cli.EXIT_USAGE
    assert done.out == ""
    assert done.err == (
        "sansio-auth: usage error: no SmartWay API key given: end of input at the "
        "prompt; set SANSIO_AUTH_API_KEY or type it\n"
    )
    assert_one_line(done.err)
    assert token_server.token_requests() == []


def test_a_secret_typed_at_the_prompt_gets_a_token(
    token_server: TokenServer, tmp_path: Path
) -> None:
    # The same terminal answered: the prompt above is the real one.
    key = token_server.credentials.smartway_api_key
    done, shown = on_a_terminal(
        [*smartway_argv(token_server), "--output", "bare"],
        environ(),
        tmp_path,
        typed=key.encode() + b"\n",
    )
    assert done.code == cli.EXIT_OK, done.err
    assert done.err == ""
    assert token_server.verify(done.out.rstrip("\n")) is not None
    assert shown.endswith(PROMPT)


# -- the second review: no traceback for a timeout past a day, nor a token
# stdout's encoding cannot write ----------------------------------------------


def test_a_timeout_past_a_day_is_a_usage_error(
    token_server: TokenServer, tmp_path: Path
) -> None:
    argv = [*smartway_argv(token_server), "--timeout", "100000"]
    done = run(argv, smartway_key(token_server), tmp_path)
    assert done.code == cli.EXIT_USAGE
    assert "Traceback" not in done.err
    assert done.err.count("\n") == 1, done.err
    # argparse's own line ("sansio-auth token: usage error: ...").
    assert done.err.startswith("sansio-auth token: usage error: argument --timeout:")
    assert "at most 86400" in done.err


@pytest.mark.parametrize("output", ["bare", "header", "json"])
def test_a_token_stdout_cannot_encode_is_one_line(output: str, tmp_path: Path) -> None:
    # A server may send a token outside ASCII (the parser takes it); a
    # stdout in ASCII cannot write it: one line, exit 1, no traceback that
    # would print the token.
    from http_server import serving, token_reply

    with serving([token_reply("tök-0123456789")]) as server:
        argv = [
            "token",
            "--provider",
            "smartway",
            "--base-url",
            server.url(""),
            "--output",
            output,
        ]
        env = environ(SANSIO_AUTH_API_KEY="ak-0123456789") | {
            "PYTHONIOENCODING": "ascii"
        }
        done = run(argv, env, tmp_path)
    if output == "json":  # json.dumps escapes it: nothing to refuse
        assert done.code == cli.EXIT_OK, done.err
        return
    assert done.code == cli.EXIT_ERROR
    assert_one_line(done.err)
    assert "PYTHONIOENCODING" in done.err
    assert "0123456789" not in done.err + done.out
