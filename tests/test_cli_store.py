"""The command line's ``--store``: cron jobs sharing one token.

Each run of ``sansio-auth token`` is a separate client, as separate cron
jobs are; with the same store they make one token request between them.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from test_cli import Runner, provider_args, run

from sansio_auth.adapters.server import TokenServer

__all__ = ["run"]  # the fixture, imported to be found


@pytest.fixture
def server() -> Iterator[TokenServer]:
    with TokenServer() as running:
        yield running


def token_args(
    server: TokenServer, provider: str = "client-credentials"
) -> tuple[list[str], dict[str, str]]:
    args, env = provider_args(server, provider)
    return ["token", "--provider", provider, *args], env


@pytest.mark.parametrize("provider", ["client-credentials", "smartway", "teamsystem"])
def test_runs_with_one_file_store_make_one_token_request(
    server: TokenServer, run: Runner, tmp_path: Path, provider: str
) -> None:
    args, env = token_args(server, provider)
    store = f"file://{tmp_path}/tokens"
    first = run(*args, "--store", store, env=env)
    second = run(*args, "--store", store, env=env)
    assert (first.code, second.code) == (0, 0), first.err + second.err
    assert (
        json.loads(first.out)["access_token"] == json.loads(second.out)["access_token"]
    )
    assert len(server.token_requests()) == 1


def test_the_store_comes_from_the_environment_too(
    server: TokenServer, run: Runner, tmp_path: Path
) -> None:
    args, env = token_args(server)
    env = {**env, "SANSIO_AUTH_STORE": str(tmp_path / "tokens")}
    assert run(*args, env=env).code == 0
    assert run(*args, env=env).code == 0
    assert len(server.token_requests()) == 1


def test_an_encrypted_file_store_keeps_no_token_in_clear(
    server: TokenServer, run: Runner, tmp_path: Path
) -> None:
    args, env = token_args(server)
    key = os.urandom(32).hex()
    env = {
        **env,
        "SANSIO_AUTH_STORE": str(tmp_path / "tokens"),
        "SANSIO_AUTH_STORE_KEY": key,
    }
    result = run(*args, env=env)
    assert result.code == 0
    token = json.loads(result.out)["access_token"]
    files = list((tmp_path / "tokens").iterdir())
    assert files
    for path in files:
        assert token.encode() not in path.read_bytes()
        assert key.encode() not in path.read_bytes()
    assert run(*args, env=env).code == 0
    assert len(server.token_requests()) == 1
    # Another key cannot read it: its run fetches its own.
    other = {**env, "SANSIO_AUTH_STORE_KEY": os.urandom(32).hex()}
    assert run(*args, env=other).code == 0
    assert len(server.token_requests()) == 2


def test_a_store_url_with_a_password_is_refused_on_the_command_line(
    server: TokenServer, run: Runner
) -> None:
    args, env = token_args(server)
    for url in (
        "redis://user:hunter2-secret@localhost:6379/0",
        "redis://localhost:6379/0?password=hunter2-secret",
    ):
        result = run(*args, "--store", url, env=env)
        assert result.code == 2
        assert "SANSIO_AUTH_STORE" in result.err
        assert "hunter2-secret" not in result.out + result.err
    assert server.token_requests() == []


@pytest.mark.parametrize(
    ("store", "words"),
    [
        ("ftp://example.com/tokens", "must be a redis://"),
        ("relative/dir", "must be a redis://"),
    ],
)
def test_a_store_we_cannot_use_is_a_usage_error(
    server: TokenServer, run: Runner, store: str, words: str
) -> None:
    args, env = token_args(server)
    result = run(*args, "--store", store, env=env)
    assert result.code == 2
    assert words in result.err


@pytest.mark.parametrize("key", ["zz", "00" * 7, "c2hvcnQ="])
def test_a_bad_store_key_is_a_usage_error_that_does_not_repeat_it(
    server: TokenServer, run: Runner, tmp_path: Path, key: str
) -> None:
    args, env = token_args(server)
    env = {**env, "SANSIO_AUTH_STORE": str(tmp_path), "SANSIO_AUTH_STORE_KEY": key}
    result = run(*args, env=env)
    assert result.code == 2
    assert "SANSIO_AUTH_STORE_KEY" in result.err
    assert key not in result.err


def test_a_file_store_others_can_write_to_is_refused(
    server: TokenServer, run: Runner, tmp_path: Path
) -> None:
    args, env = token_args(server)
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o777)
    result = run(*args, "--store", str(shared), env=env)
    assert result.code == 2
    assert str(shared) in result.err


def test_runs_on_hosts_sharing_redis_make_one_token_request(
    server: TokenServer, run: Runner, redis_url: str
) -> None:
    args, env = token_args(server, "password")
    env = {**env, "SANSIO_AUTH_STORE": redis_url}
    outs = [run(*args, env=env) for _ in range(3)]
    assert [o.code for o in outs] == [0, 0, 0], [o.err for o in outs]
    assert len({json.loads(o.out)["access_token"] for o in outs}) == 1
    assert len(server.token_requests()) == 1


@pytest.mark.parametrize(
    "store", ["redis://:pw-secret@[::1", "redis://u:pw-secret@host:port/0"]
)
def test_a_store_url_that_cannot_be_read_is_a_usage_error(
    server: TokenServer, run: Runner, store: str
) -> None:
    args, env = token_args(server)
    result = run(*args, env={**env, "SANSIO_AUTH_STORE": store})
    assert result.code == 2
    assert "not a URL that can be read" in result.err
    assert "pw-secret" not in result.out + result.err
