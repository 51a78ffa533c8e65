"""The docs cannot rot: every Python block in README.md and docs/ runs.

Each block runs in a fresh namespace and must not raise; the blocks hold
their own assertions. And README's two commands are what CI runs.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
_BLOCK = re.compile(r"^```(\w+)\n(.*?)^```$", re.S | re.M)


def blocks(language: str) -> list[tuple[str, str]]:
    found = []
    for page in PAGES:
        text = page.read_text(encoding="utf-8")
        for match in _BLOCK.finditer(text):
            if match[1] == language:
                line = text.count("\n", 0, match.start()) + 1
                found.append((f"{page.relative_to(ROOT)}:{line}", match[2]))
    return found


PYTHON_BLOCKS = blocks("python")


def test_there_are_examples_to_run() -> None:
    assert len(PYTHON_BLOCKS) >= 5


@pytest.mark.parametrize(
    ("where", "code"), PYTHON_BLOCKS, ids=[w for w, _ in PYTHON_BLOCKS]
)
def test_python_block_runs(
    where: str, code: str, capsys: pytest.CaptureFixture[str]
) -> None:
    exec(compile(code, where, "exec"), {"__name__": "__docs__"})


def test_readme_opens_with_the_setup_and_test_commands() -> None:
    shell = [code.strip() for _, code in blocks("sh") if _.startswith("README")]
    setup, test = shell[0], shell[1]
    assert "pip install" in setup
    assert setup.endswith(".venv/bin/sansio-auth demo")
    assert "pytest" in test
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8").splitlines()
    assert setup in ci, ".ci/run must run README's set-up command verbatim"
    assert any(line.startswith(test) for line in ci), (
        ".ci/run must run README's test command"
    )


def test_the_lifecycle_diagram_is_generated_from_the_table() -> None:
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "make_state_diagram", ROOT / "docs" / "make_state_diagram.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    page = (ROOT / "docs" / "lifecycle.md").read_text(encoding="utf-8")
    generated = module.diagram()
    assert f"```mermaid\n{generated}```\n" in page
    # One edge per row of the table: the picture is the whole table.
    from sansio_auth import TRANSITIONS

    assert generated.count(" --> ") == len(TRANSITIONS) + 1
