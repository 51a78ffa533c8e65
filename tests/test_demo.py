"""``python -m sansio_auth demo``: every vendor, parsed tokens, no secret shown."""

from __future__ import annotations

import runpy
import subprocess
import sys
from pathlib import Path

import pytest

from sansio_auth.__main__ import main

DEMO_SECRETS = ["demo-company-api-key", "demo-password", "demo-secret", "demo-api-key"]


def test_demo_shows_each_vendor_and_a_token(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo"]) == 0
    out = capsys.readouterr().out
    for title in ["SmartWay", "SmartConnect", "TeamSystem", "SmartDocumentor"]:
        assert f"== {title}" in out
    assert out.count("-> Token(") == 4
    assert "companyId=c-1042 hrEmail=hr@example.com" in out
    assert "OAuthError(error='invalid_client'" in out
    assert "POST https://apieuw.smartconnect.com/token" in out


def test_demo_masks_every_credential_and_token(
    capsys: pytest.CaptureFixture[str],
) -> None:
    main(["demo"])
    out = capsys.readouterr().out
    for secret in [*DEMO_SECRETS, "opaque-demo-access", "opaque-demo-refresh", "eyJ"]:
        assert secret not in out
    assert "X-API-Key: ***" in out
    assert "client_secret=***" in out


def test_demo_output_is_deterministic(capsys: pytest.CaptureFixture[str]) -> None:
    main(["demo"])
    first = capsys.readouterr().out
    main(["demo"])
    assert capsys.readouterr().out == first


@pytest.mark.parametrize("argv", [[], ["nope"], ["demo", "extra"]])
def test_unknown_command_is_a_usage_error(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(argv) == 2
    assert "usage" in capsys.readouterr().err


def test_python_dash_m_runs_main(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(sys, "argv", ["sansio_auth", "demo"])
    monkeypatch.delitem(sys.modules, "sansio_auth.__main__", raising=False)
    with pytest.raises(SystemExit) as exit_info:
        runpy.run_module("sansio_auth", run_name="__main__", alter_sys=True)
    assert exit_info.value.code == 0
    assert "== SmartWay" in capsys.readouterr().out


def test_the_installed_command_runs(tmp_path: Path) -> None:
    # From another directory, so that the installed package is what runs.
    done = subprocess.run(
        [sys.executable, "-m", "sansio_auth", "demo"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.count("-> Token(") == 4
