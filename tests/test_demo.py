"""``python -m sansio_auth``: a shim over ``sansio_auth.adapters.cli``.

The shim is in the core (and under its coverage floor); the command line it
hands over to is tested in test_cli.py.
"""

from __future__ import annotations

import runpy
import subprocess
import sys
from pathlib import Path

import pytest

import sansio_auth.__main__ as dunder_main
from sansio_auth import __version__

ROOT = Path(__file__).resolve().parent.parent


def test_main_hands_over_to_the_command_line(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert dunder_main.main(["--version"]) == 0
    assert capsys.readouterr().out == f"sansio-auth {__version__}\n"


def test_main_says_when_the_checkout_shadows_the_package(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(dunder_main, "find_spec", lambda name: None)
    assert dunder_main.main(["demo"]) == 2
    err = capsys.readouterr().err
    assert err == dunder_main.SHADOWED
    assert err.count("\n") == 1
    assert "sansio-auth" in err
    assert "another directory" in err


def test_python_dash_m_runs_main(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # run_path, not run_module: the package's pytest11 plugin makes pytest
    # mark sansio_auth for assertion rewriting, and runpy cannot get code
    # from pytest's import hook.
    monkeypatch.setattr(sys, "argv", ["sansio_auth", "--version"])
    with pytest.raises(SystemExit) as exit_info:
        runpy.run_path(dunder_main.__file__, run_name="__main__")
    assert exit_info.value.code == 0
    assert capsys.readouterr().out.startswith("sansio-auth ")


def test_python_dash_m_demo_from_another_directory(tmp_path: Path) -> None:
    # From another directory, so that the installed package is what runs.
    done = subprocess.run(
        [sys.executable, "-m", "sansio_auth", "demo"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "\n24 tokens, " in done.stdout  # six providers, four adapters
    assert "FAILED" not in done.stdout


def test_python_dash_m_from_the_checkout_explains_the_shadowing() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "sansio_auth", "demo"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr == dunder_main.SHADOWED
