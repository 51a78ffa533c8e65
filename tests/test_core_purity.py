"""The core imports nothing that does I/O (the rule of ../shared/checks/core_purity.py).

Kept in the project so the rule travels with it: a forbidden import in any
module under ``sansio_auth/`` (outside the adapters) fails the suite.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

CORE = Path(__file__).resolve().parent.parent / "sansio_auth"

FORBIDDEN = {
    "socket": "network",
    "ssl": "network",
    "select": "network",
    "selectors": "network",
    "http.client": "network",
    "urllib.request": "network",
    "asyncio": "event loop",
    "trio": "event loop",
    "anyio": "event loop",
    "h11": "wire framing belongs to the adapters",
    "threading": "threads",
    "_thread": "threads",
    "concurrent": "threads",
    "multiprocessing": "processes",
    "subprocess": "processes",
    "time": "clocks: take `now` as an argument",
    "logging": "logging: the adapters log the steps",
    "random": "randomness: take it as an argument",
    "secrets": "randomness: take it as an argument",
    "os": "environment and files: take them as arguments",
}


def forbidden(name: str) -> str | None:
    for module, why in FORBIDDEN.items():
        if name == module or name.startswith(module + "."):
            return why
    return None


def violations(source: str, filename: str = "<source>") -> list[str]:
    found = []
    for node in ast.walk(ast.parse(source, filename=filename)):
        names: list[str] = []
        if not isinstance(node, ast.Import | ast.ImportFrom):
            continue
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif node.module and node.level == 0:
            names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
        for name in names:
            why = forbidden(name)
            if why:
                found.append(f"{filename}:{node.lineno}: imports {name} ({why})")
                break
    return found


def core_files() -> list[Path]:
    return [
        path
        for path in sorted(CORE.rglob("*.py"))
        if "adapters" not in path.relative_to(CORE).parts
    ]


def test_the_core_is_where_we_look() -> None:
    names = {path.name for path in core_files()}
    assert {"__init__.py", "_parse.py", "_flows.py"} <= names


@pytest.mark.parametrize("path", core_files(), ids=lambda p: str(p.relative_to(CORE)))
def test_core_module_imports_no_io(path: Path) -> None:
    assert violations(path.read_text(encoding="utf-8"), str(path)) == []


@pytest.mark.parametrize(
    "source",
    [
        "import socket",
        "import os.path",
        "from time import monotonic",
        "from urllib.request import urlopen",
        "import logging as log",
        "from concurrent.futures import Future",
        "def f():\n    import random\n",
    ],
)
def test_the_check_catches_each_kind_of_import(source: str) -> None:
    assert len(violations(source)) == 1


@pytest.mark.parametrize(
    "source",
    ["import urllib.parse", "from . import _time", "import timeit_is_not_time as t"],
)
def test_the_check_lets_pure_imports_through(source: str) -> None:
    assert violations(source) == []
