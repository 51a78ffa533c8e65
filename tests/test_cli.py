"""``sansio-auth``: token, serve and demo, against the local token server."""

from __future__ import annotations

import getpass
import io
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Protocol

import attrs
import pytest

from sansio_auth.adapters import cli
from sansio_auth.adapters.server import Credentials, TokenServer

CREDS = Credentials()
SECRET_VALUES = [
    CREDS.smartway_api_key,
    CREDS.smartconnect_password,
    CREDS.smartconnect_client_secret,
    CREDS.teamsystem_api_key,
    CREDS.smartdocumentor_client_secret,
    CREDS.generic_client_secret,
    CREDS.generic_password,
]
WRONG = "wrong-secret-value-5f3a"


@pytest.fixture(scope="module")
def server() -> Iterator[TokenServer]:
    with TokenServer() as running:
        yield running


@attrs.frozen
class Run:
    code: int
    out: str
    err: str


class _Stdin(io.StringIO):
    def __init__(self, tty: bool) -> None:
        super().__init__()
        self._tty = tty

    def isatty(self) -> bool:
        return self._tty


class Runner(Protocol):
    def __call__(
        self, *argv: str, env: dict[str, str] | None = None, tty: bool = False
    ) -> Run: ...


@pytest.fixture
def run(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Runner:
    def runner(*argv: str, env: dict[str, str] | None = None, tty: bool = False) -> Run:
        for secret in cli.SECRETS:
            monkeypatch.delenv(secret.env, raising=False)
        for name, value in (env or {}).items():
            monkeypatch.setenv(name, value)
        monkeypatch.setattr(sys, "stdin", _Stdin(tty))
        code = cli.main(list(argv))
        captured = capsys.readouterr()
        return Run(code, captured.out, captured.err)

    return runner


def provider_args(
    server: TokenServer, provider: str
) -> tuple[list[str], dict[str, str]]:
    """The options and environment that get a token from *server*."""
    c = server.credentials
    table: dict[str, tuple[list[str], dict[str, str]]] = {
        "smartway": (
            ["--base-url", server.smartway_base_url],
            {"SANSIO_AUTH_API_KEY": c.smartway_api_key},
        ),
        "smartconnect": (
            [
                "--region",
                "EU",
                "--token-url",
                server.smartconnect_token_url("EU"),
                "--username",
                c.smartconnect_username,
                "--client-id",
                c.smartconnect_client_id,
            ],
            {
                "SANSIO_AUTH_PASSWORD": c.smartconnect_password,
                "SANSIO_AUTH_CLIENT_SECRET": c.smartconnect_client_secret,
            },
        ),
        "teamsystem": (
            [
                "--base-url",
                server.teamsystem_base_url,
                "--username",
                c.teamsystem_username,
                "--scope",
                c.teamsystem_scope,
                "--language",
                "en-US",
            ],
            {"SANSIO_AUTH_TEAMSYSTEM_TOKEN": c.teamsystem_api_key},
        ),
        "smartdocumentor": (
            [
                "--base-url",
                server.smartdocumentor_base_url,
                "--client-id",
                c.smartdocumentor_client_id,
            ],
            {"SANSIO_AUTH_CLIENT_SECRET": c.smartdocumentor_client_secret},
        ),
        "client-credentials": (
            [
                "--token-url",
                server.generic_token_url,
                "--client-id",
                c.generic_client_id,
                "--scope",
                "read write",
                "--auth",
                "basic",
            ],
            {"SANSIO_AUTH_CLIENT_SECRET": c.generic_client_secret},
        ),
        "password": (
            [
                "--token-url",
                server.generic_token_url,
                "--username",
                c.generic_username,
                "--client-id",
                c.generic_client_id,
                "--auth",
                "post",
            ],
            {
                "SANSIO_AUTH_PASSWORD": c.generic_password,
                "SANSIO_AUTH_CLIENT_SECRET": c.generic_client_secret,
            },
        ),
    }
    return table[provider]


def assert_no_secret(*texts: str) -> None:
    for text in texts:
        for secret in [*SECRET_VALUES, WRONG]:
            assert secret not in text


# -- token -------------------------------------------------------------------


@pytest.mark.parametrize("provider", list(cli.PROVIDERS))
def test_token_for_each_provider_prints_json(
    provider: str, server: TokenServer, run: Runner
) -> None:
    args, env = provider_args(server, provider)
    server.clear()
    result = run("token", "--provider", provider, *args, env=env)
    assert result.code == 0, result.err
    assert result.err == ""
    data = json.loads(result.out)
    assert set(data) == {
        "access_token",
        "token_type",
        "expires_at",
        "expires_in",
        "scope",
        "has_refresh_token",
    }
    assert server.verify(data["access_token"]) is not None
    assert data["token_type"] == "Bearer"
    lifetime = server.smartway_lifetime if provider == "smartway" else 3600
    assert lifetime - 5 <= data["expires_in"] <= lifetime
    assert abs(data["expires_at"] - (time.time() + data["expires_in"])) < 5
    assert data["has_refresh_token"] is (provider in ("teamsystem", "password"))
    assert len(server.token_requests()) == 1
    assert_no_secret(result.out, result.err)


def test_json_scope_and_no_refresh_token_value(
    server: TokenServer, run: Runner
) -> None:
    args, env = provider_args(server, "client-credentials")
    result = run("token", "--provider", "client-credentials", *args, env=env)
    assert json.loads(result.out)["scope"] == "read write"
    args, env = provider_args(server, "password")
    result = run("token", "--provider", "password", *args, env=env)
    data = json.loads(result.out)
    assert data["scope"] is None  # the server said nothing
    assert data["has_refresh_token"] is True
    assert "refresh_token" not in data


@pytest.mark.parametrize("adapter", cli.ADAPTERS)
def test_token_through_each_adapter(
    adapter: str, server: TokenServer, run: Runner
) -> None:
    args, env = provider_args(server, "teamsystem")
    result = run(
        "token", "--provider", "teamsystem", *args, "--adapter", adapter, env=env
    )
    assert result.code == 0, result.err
    assert server.verify(json.loads(result.out)["access_token"]) is not None


def test_output_header_is_an_authorization_line(
    server: TokenServer, run: Runner
) -> None:
    args, env = provider_args(server, "smartway")
    result = run(
        "token", "--provider", "smartway", *args, "--output", "header", env=env
    )
    assert result.code == 0
    line = result.out.rstrip("\n")
    assert "\n" not in line
    name, _, value = line.partition(": ")
    assert name == "Authorization"
    scheme, _, token = value.partition(" ")
    assert scheme == "Bearer"
    assert server.verify(token) is not None


def test_output_bare_is_the_token_alone(server: TokenServer, run: Runner) -> None:
    args, env = provider_args(server, "smartdocumentor")
    result = run(
        "token", "--provider", "smartdocumentor", *args, "--output", "bare", env=env
    )
    assert result.code == 0
    assert result.out.endswith("\n")
    assert server.verify(result.out[:-1]) is not None


def test_smartconnect_by_region_builds_the_vendor_url() -> None:
    # The vendor cannot be reached from here: check the flow the command builds.
    flow = cli.build_flow(
        cli.PROVIDERS["smartconnect"],
        cli.Options(region="eu", username="u@example.com", client_id="id"),
        environ={"SANSIO_AUTH_PASSWORD": "pw", "SANSIO_AUTH_CLIENT_SECRET": "cs"},
        stdin=_Stdin(False),
        prompt=input,
    )
    request = flow.token_request()
    assert request.url == "https://apieuw.smartconnect.com/token"
    assert b"password=pw" in request.body
    assert b"client_secret=cs" in request.body


def test_secret_from_a_prompt_when_stdin_is_a_terminal(
    server: TokenServer, run: Runner, monkeypatch: pytest.MonkeyPatch
) -> None:
    prompts: list[str] = []

    def fake_getpass(prompt: str = "") -> str:
        prompts.append(prompt)
        return CREDS.smartway_api_key

    monkeypatch.setattr(getpass, "getpass", fake_getpass)
    args, _ = provider_args(server, "smartway")
    result = run("token", "--provider", "smartway", *args, tty=True)
    assert result.code == 0, result.err
    assert prompts == ["SmartWay API key (SANSIO_AUTH_API_KEY): "]
    assert_no_secret(result.out, result.err)


def test_empty_prompt_answer_is_a_usage_error(
    run: Runner, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(getpass, "getpass", lambda prompt="": "")
    result = run("token", "--provider", "smartway", tty=True)
    assert result.code == cli.EXIT_USAGE
    assert "SANSIO_AUTH_API_KEY" in result.err


@pytest.mark.parametrize(
    ("provider", "missing"),
    [
        ("smartway", "SANSIO_AUTH_API_KEY"),
        ("smartconnect", "SANSIO_AUTH_PASSWORD"),
        ("smartconnect", "SANSIO_AUTH_CLIENT_SECRET"),
        ("teamsystem", "SANSIO_AUTH_TEAMSYSTEM_TOKEN"),
        ("smartdocumentor", "SANSIO_AUTH_CLIENT_SECRET"),
        ("client-credentials", "SANSIO_AUTH_CLIENT_SECRET"),
        ("password", "SANSIO_AUTH_PASSWORD"),
    ],
)
def test_missing_secret_without_a_terminal_names_the_variable(
    provider: str, missing: str, server: TokenServer, run: Runner
) -> None:
    args, env = provider_args(server, provider)
    del env[missing]
    server.clear()
    result = run("token", "--provider", provider, *args, env=env)
    assert result.code == cli.EXIT_USAGE
    assert result.out == ""
    assert result.err.count("\n") == 1
    assert missing in result.err
    assert "not a terminal" in result.err
    assert server.token_requests() == []
    assert_no_secret(result.err)


def test_password_grant_without_client_secret_is_a_public_client(
    server: TokenServer, run: Runner
) -> None:
    # The client secret is optional for the password grant and never prompted
    # for; the test server wants one, so this is refused by the server.
    args, env = provider_args(server, "password")
    del env["SANSIO_AUTH_CLIENT_SECRET"]
    server.clear()
    result = run("token", "--provider", "password", *args, env=env, tty=True)
    assert result.code == cli.EXIT_REJECTED
    assert "client_secret" not in server.token_requests()[0].fields


@pytest.mark.parametrize(
    ("provider", "variable", "cause"),
    [
        ("smartway", "SANSIO_AUTH_API_KEY", "HTTP 401"),
        ("smartconnect", "SANSIO_AUTH_PASSWORD", "invalid_grant"),
        ("teamsystem", "SANSIO_AUTH_TEAMSYSTEM_TOKEN", "invalid_client"),
        ("smartdocumentor", "SANSIO_AUTH_CLIENT_SECRET", "invalid_client (HTTP 400)"),
        (
            "client-credentials",
            "SANSIO_AUTH_CLIENT_SECRET",
            "invalid_client (HTTP 401)",
        ),
        ("password", "SANSIO_AUTH_PASSWORD", "invalid_grant"),
    ],
)
def test_wrong_credentials_exit_3(
    provider: str, variable: str, cause: str, server: TokenServer, run: Runner
) -> None:
    args, env = provider_args(server, provider)
    env[variable] = WRONG
    server.clear()
    result = run("token", "--provider", provider, *args, env=env)
    assert result.code == cli.EXIT_REJECTED
    assert result.out == ""
    assert result.err.startswith("sansio-auth: credentials rejected: ")
    assert result.err.count("\n") == 1
    assert cause in result.err
    assert len(server.token_requests()) == 1  # not retried
    assert_no_secret(result.out, result.err)


def refused_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


@pytest.mark.parametrize("adapter", cli.ADAPTERS)
def test_refused_port_exits_4(adapter: str, run: Runner) -> None:
    url = f"http://127.0.0.1:{refused_port()}"
    env = {"SANSIO_AUTH_CLIENT_SECRET": WRONG}
    result = run(
        "token",
        "--provider",
        "client-credentials",
        "--token-url",
        f"{url}/oauth/token",
        "--client-id",
        "id",
        "--adapter",
        adapter,
        "--attempts",
        "1",
        env=env,
    )
    assert result.code == cli.EXIT_NETWORK
    assert result.out == ""
    assert result.err.startswith("sansio-auth: network failure: ")
    assert "refused" in result.err
    assert result.err.count("\n") == 1
    assert_no_secret(result.err)


def test_unavailable_after_the_retries_exits_4(
    server: TokenServer, run: Runner
) -> None:
    args, env = provider_args(server, "smartway")
    server.clear()
    server.fail_next(2, status=503, retry_after=None)
    result = run("token", "--provider", "smartway", *args, "--attempts", "2", env=env)
    assert result.code == cli.EXIT_NETWORK
    assert "unavailable" in result.err
    assert "HTTP 503" in result.err
    assert len(server.token_requests()) == 2
    server.clear()


def test_a_retry_after_a_503_succeeds(server: TokenServer, run: Runner) -> None:
    args, env = provider_args(server, "smartway")
    server.clear()
    server.fail_next(1, status=503, retry_after=None)
    result = run("token", "--provider", "smartway", *args, env=env)
    assert result.code == 0
    assert len(server.token_requests()) == 2


def test_a_wrong_url_is_another_failure(server: TokenServer, run: Runner) -> None:
    env = {"SANSIO_AUTH_API_KEY": WRONG}
    result = run(
        "token",
        "--provider",
        "smartway",
        "--base-url",
        f"{server.url}/nowhere",
        env=env,
    )
    assert result.code == cli.EXIT_ERROR
    assert result.err.startswith("sansio-auth: token request failed: ")
    assert "HTTP 404" in result.err
    assert_no_secret(result.err)


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        ([], "COMMAND"),
        (["nope"], "invalid choice"),
        (["token"], "--provider"),
        (["token", "--provider", "nope"], "invalid choice"),
        (["token", "--provider", "smartway", "--region", "EU"], "--region does not"),
        (["token", "--provider", "smartdocumentor"], "needs --client-id"),
        (
            [
                "token",
                "--provider",
                "smartconnect",
                "--username",
                "u",
                "--client-id",
                "c",
            ],
            "needs --region",
        ),
        (
            [
                "token",
                "--provider",
                "smartconnect",
                "--username",
                "u",
                "--client-id",
                "c",
                "--region",
                "MARS",
            ],
            "unknown SmartConnect region",
        ),
        (
            [
                "token",
                "--provider",
                "client-credentials",
                "--token-url",
                "http://example.com/token",
                "--client-id",
                "c",
            ],
            "https",
        ),
        (["token", "--provider", "smartway", "--timeout", "0"], "--timeout"),
        (["token", "--provider", "smartway", "--attempts", "0"], "--attempts"),
        (["token", "--provider", "smartway", "--output", "xml"], "--output"),
        (["serve", "--port", "70000"], "--port"),
    ],
)
def test_usage_errors_exit_2_with_one_line(
    argv: list[str], says: str, run: Runner
) -> None:
    env = {s.env: WRONG for s in cli.SECRETS}
    result = run(*argv, env=env)
    assert result.code == cli.EXIT_USAGE
    assert result.out == ""
    assert result.err.count("\n") == 1, result.err
    assert "usage error" in result.err
    assert says in result.err
    assert_no_secret(result.err)


def test_help_lists_every_secret_variable_and_exit_code(run: Runner) -> None:
    result = run("token", "--help")
    assert result.code == 0
    for secret in cli.SECRETS:
        assert secret.env in result.out
    for provider in cli.PROVIDERS:
        assert provider in result.out
    assert "exit codes" in result.out


def test_no_secret_is_taken_on_the_command_line() -> None:
    # An option whose name speaks of a secret is a URL, a key's id, or the
    # path of a file that holds the secret (read from the file, never argv).
    dests = set(vars(cli.parser().parse_args(["token", "--provider", "smartway"])))
    assert "provider" in dests
    for word in ("secret", "password", "key", "token"):
        named = [d for d in dests if word in d]
        assert [d for d in named if d not in ("token_url", "key_id")] == [
            d for d in named if d.endswith("_file")
        ]


def test_version(run: Runner) -> None:
    result = run("--version")
    assert result.code == 0
    assert result.out.startswith("sansio-auth ")


# -- serve -------------------------------------------------------------------


def test_serve_in_process_until_stopped(capsys: pytest.CaptureFixture[str]) -> None:
    stop = threading.Event()
    out = io.StringIO()
    io_ = cli.CommandIO(
        stdout=out,
        stderr=io.StringIO(),
        stdin=_Stdin(False),
        environ={},
        prompt=input,
        stop=stop,
    )
    codes: list[int] = []
    thread = threading.Thread(
        target=lambda: codes.append(cli.serve(host="127.0.0.1", port=0, io=io_))
    )
    thread.start()
    deadline = time.monotonic() + 10
    while "serving" not in out.getvalue() and time.monotonic() < deadline:
        time.sleep(0.02)
    text = out.getvalue()
    stop.set()
    thread.join(10)
    assert codes == [0]
    assert "sansio-auth token --provider smartway" in text
    for provider in cli.PROVIDERS:
        assert f"--provider {provider} " in text
    assert CREDS.smartway_api_key in text  # the test credentials are shown


def test_serve_refuses_a_port_in_use(run: Runner) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        result = run("serve", "--port", str(port))
    assert result.code == cli.EXIT_ERROR
    assert f"cannot listen on 127.0.0.1:{port}" in result.err


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_serve_runs_in_the_foreground_until_ctrl_c(
    sig: signal.Signals, tmp_path: Path
) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "sansio_auth", "serve"],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()
        url = first.split()[-1]
        assert url.startswith("http://127.0.0.1:")
        lines = [first]
        while not lines[-1].startswith("serving"):
            lines.append(proc.stdout.readline())
        text = "".join(lines)
        assert CREDS.generic_client_secret in text
        env = {
            **os.environ,
            "SANSIO_AUTH_CLIENT_SECRET": CREDS.generic_client_secret,
        }
        got = subprocess.run(
            [
                sys.executable,
                "-m",
                "sansio_auth",
                "token",
                "--provider",
                "client-credentials",
                "--token-url",
                f"{url}/oauth/token",
                "--client-id",
                CREDS.generic_client_id,
                "--output",
                "bare",
            ],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert got.returncode == 0, got.stderr
        assert got.stdout.startswith("eyJ")
        proc.send_signal(sig)
        assert proc.wait(timeout=15) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()
        if proc.stderr is not None:
            proc.stderr.close()


# -- demo --------------------------------------------------------------------


def test_demo_runs_every_provider_through_every_adapter(run: Runner) -> None:
    started = time.monotonic()
    result = run("demo")
    assert result.code == 0, result.out + result.err
    assert time.monotonic() - started < 30
    rows = [line.split() for line in result.out.splitlines()]
    for provider in cli.PROVIDERS:
        for adapter in ("urllib", "trio", "anyio (asyncio)", "anyio (trio)"):
            wanted = [provider, *adapter.split()]
            assert any(row[: len(wanted)] == wanted for row in rows), (
                provider,
                adapter,
            )
    for scenario in ("refresh", "rotation", "retry", "200 callers"):
        assert any(line.startswith(scenario) for line in result.out.splitlines())
    assert "503" in result.out
    assert result.out.count("1 token request,") == 4
    assert "FAILED" not in result.out
    assert_no_secret(result.out, result.err)
    assert "eyJ" not in result.out  # no token either


def test_console_script_is_installed() -> None:
    script = Path(sys.executable).parent / "sansio-auth"
    assert script.exists()
    done = subprocess.run(
        [str(script), "--version"], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0
    assert done.stdout.startswith("sansio-auth ")
