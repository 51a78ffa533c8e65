"""The tree says what the project is, and stays that way.

Read from the source (``ast``), not from imports: no module imports another
that imports it back (lazily inside a function included: the cycle is there
all the same, waiting for the first call), no class outside the core's state
machine grows much past 300 lines, and every package folder is one the build
installs.
"""

from __future__ import annotations

import ast
import tomllib
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# Where each installed package's source lives: adapters/ is installed as
# sansio_auth.adapters (pyproject.toml's package-dir).
SOURCES = {
    "sansio_auth": ROOT / "sansio_auth",
    "sansio_auth.adapters": ROOT / "adapters",
}
MAX_CLASS_LINES = 320
# The core's state machine keeps its one class (rule 1 of the style: all that
# affects the state machine lives in one place).
LONG_CLASSES_ALLOWED = {"sansio_auth._session.TokenSession"}


def _module_name(path: Path) -> str:
    for package, folder in sorted(SOURCES.items(), key=lambda kv: -len(str(kv[1]))):
        if path.is_relative_to(folder):
            parts = list(path.relative_to(folder).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            return ".".join([package, *parts])
    raise AssertionError(path)


def _modules() -> dict[str, Path]:
    found: dict[str, Path] = {}
    for folder in (ROOT / "sansio_auth", ROOT / "adapters"):
        for path in sorted(folder.rglob("*.py")):
            found[_module_name(path)] = path
    return found


MODULES = _modules()


def _is_package(name: str) -> bool:
    return MODULES[name].name == "__init__.py"


def _imports(name: str) -> Iterator[str]:
    """The modules of ours that module *name* imports, anywhere in it."""
    tree = ast.parse(MODULES[name].read_text(encoding="utf-8"))
    package = name if _is_package(name) else name.rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, *([base] if base else [])])
            # `from package import module` imports the module; `from module
            # import name` the module alone.
            targets = [
                f"{base}.{alias.name}" if f"{base}.{alias.name}" in MODULES else base
                for alias in node.names
            ]
        else:
            continue
        for target in targets:
            # `import a.b.c` runs a, a.b and a.b.c: the deepest one of ours.
            while target and target not in MODULES:
                target = target.rpartition(".")[0]
            if target and target != name:
                yield target


def _graph() -> dict[str, list[str]]:
    return {name: sorted(set(_imports(name))) for name in MODULES}


def _cycles(graph: dict[str, list[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in graph[node]:
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in graph:
        if node not in index:
            visit(node)
    return found


def test_imports_are_read_as_python_resolves_them() -> None:
    demo = set(_imports("sansio_auth.adapters.cli._demo"))
    # `from .. import urllib`, `from ..server import TokenServer`,
    # `from ._fetch import ...`, `from sansio_auth import Flow`.
    assert {
        "sansio_auth.adapters.urllib",
        "sansio_auth.adapters.server",
        "sansio_auth.adapters.cli._fetch",
        "sansio_auth",
    } <= demo


def test_no_module_imports_one_that_imports_it_back() -> None:
    cycles = _cycles(_graph())
    assert not cycles, "import cycles: " + "; ".join(" <-> ".join(c) for c in cycles)


def test_the_cycle_check_finds_a_cycle_through_any_length() -> None:
    # As the old command line had: cli imported _demo (inside a function),
    # and _demo imported cli's constants back.
    assert _cycles({"cli": ["demo"], "demo": ["cli"]}) == [["cli", "demo"]]
    assert _cycles({"a": ["b"], "b": ["c"], "c": ["a"], "d": ["a"]}) == [
        ["a", "b", "c"]
    ]
    assert _cycles({"a": ["b"], "b": [], "c": ["a", "b"]}) == []


def _classes() -> Iterator[tuple[str, int]]:
    for name, path in MODULES.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.ClassDef):
                assert node.end_lineno is not None
                yield f"{name}.{node.name}", node.end_lineno - node.lineno + 1


def test_no_class_is_much_past_300_lines() -> None:
    long = {
        name: lines
        for name, lines in _classes()
        if lines > MAX_CLASS_LINES and name not in LONG_CLASSES_ALLOWED
    }
    assert not long, f"classes over {MAX_CLASS_LINES} lines: {long}"


def test_every_package_folder_is_installed() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    listed = set(config["tool"]["setuptools"]["packages"])
    folders = {name for name in MODULES if _is_package(name)}
    assert listed == folders, (
        f"not installed: {sorted(folders - listed)}; listed, not there: "
        f"{sorted(listed - folders)}"
    )


def test_no_top_level_adapters_package_is_built() -> None:
    # adapters/ is mapped under sansio_auth; listed or discovered on its own,
    # it would land in site-packages as a package named `adapters`.
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    setuptools = config["tool"]["setuptools"]
    assert all(p.startswith("sansio_auth") for p in setuptools["packages"])
    assert setuptools["package-dir"] == {"sansio_auth.adapters": "adapters"}
