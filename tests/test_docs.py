"""The docs cannot rot: every Python block in README.md and docs/ runs.

Each block runs in a fresh namespace and must not raise; the blocks hold
their own assertions, and reach no vendor: an example that would starts the
local token server (``sansio_auth.adapters.server.TokenServer``) instead.

A block that cannot run (a real vendor URL, an interactive prompt) is fenced
as ```` ```python no-run ```` and the paragraph right above it says why (it
contains "Not run"). README's two commands are what CI runs, api.md names
every public name, and README links every page.
"""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
PAGES = [ROOT / "README.md", *sorted(DOCS.rglob("*.md"))]
_BLOCK = re.compile(r"^```(\w+)([^\n]*)\n(.*?)^```$", re.S | re.M)
NO_RUN = "no-run"
"""The fence option of a Python block that must not run."""
NO_RUN_REASON = "Not run"
"""What the paragraph right above a no-run block must say, with the why."""


def _blocks(language: str) -> list[tuple[str, str, str, str]]:
    """(where, options, code, text before) of every block in *language*."""
    found = []
    for page in PAGES:
        text = page.read_text(encoding="utf-8")
        for match in _BLOCK.finditer(text):
            if match[1] == language:
                line = text.count("\n", 0, match.start()) + 1
                where = f"{page.relative_to(ROOT)}:{line}"
                found.append((where, match[2].strip(), match[3], text[: match.start()]))
    return found


def blocks(language: str) -> list[tuple[str, str]]:
    return [(where, code) for where, _, code, _ in _blocks(language)]


PYTHON_BLOCKS = [
    (where, code) for where, options, code, _ in _blocks("python") if not options
]
NO_RUN_BLOCKS = [
    (where, before) for where, options, _, before in _blocks("python") if options
]


def test_there_are_examples_to_run() -> None:
    assert len(PYTHON_BLOCKS) >= 5


@pytest.mark.parametrize(
    ("where", "code"), PYTHON_BLOCKS, ids=[w for w, _ in PYTHON_BLOCKS]
)
def test_python_block_runs(
    where: str,
    code: str,
    capsys: pytest.CaptureFixture[str],
    request: pytest.FixtureRequest,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    if "REDIS_URL" in code:
        # A block that shows a Redis store reads its URL from REDIS_URL, as
        # a reader's would: here, a real redis-server the tests started.
        monkeypatch.setenv("REDIS_URL", request.getfixturevalue("redis_url"))
    exec(compile(code, where, "exec"), {"__name__": "__docs__"})


@pytest.mark.parametrize(
    ("where", "before"), NO_RUN_BLOCKS, ids=[w for w, _ in NO_RUN_BLOCKS]
)
def test_a_block_that_does_not_run_says_why(where: str, before: str) -> None:
    options = [options for w, options, _, _ in _blocks("python") if w == where]
    assert options == [NO_RUN], f"{where}: the only fence option is {NO_RUN!r}"
    paragraph = before.rstrip().rsplit("\n\n", 1)[-1]
    assert NO_RUN_REASON in paragraph, (
        f"{where}: the paragraph right above a no-run block must say "
        f"{NO_RUN_REASON!r} and why"
    )


def test_no_run_blocks_are_rare() -> None:
    assert len(NO_RUN_BLOCKS) <= len(PYTHON_BLOCKS) // 5


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


def test_readme_links_every_page() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    pages = sorted(DOCS.rglob("*.md"))
    assert len(pages) >= 14
    for page in pages:
        link = f"]({page.relative_to(ROOT).as_posix()})"
        assert link in readme, f"README.md must link {link[2:-1]}"


def test_pages_link_only_to_pages_that_exist() -> None:
    for page in PAGES:
        text = page.read_text(encoding="utf-8")
        for target in re.findall(r"\]\(([^)#\s]+\.md)(?:#[^)]*)?\)", text):
            assert (page.parent / target).is_file(), f"{page.name}: {target}"


# Paths a user has no copy of: the project's own working files beside the
# repository, and the vendors' documents it was written from.
_OUTSIDE = re.compile(
    r"\.\./shared|DESIGN\.md|STYLE\.md|vendor-docs|"
    r"\b(?:smartway|smartconnect|smartdocumentor|teamsystem[\w-]*)\.txt\b"
)
_ANY_LINK = re.compile(r"\]\(([^)#\s]+)(?:#[^)]*)?\)")


@pytest.mark.parametrize("page", PAGES, ids=lambda page: page.name)
def test_pages_speak_of_nothing_outside_the_repository(page: Path) -> None:
    text = page.read_text(encoding="utf-8")
    assert not _OUTSIDE.findall(text), f"{page.name} names a file users lack"
    for target in _ANY_LINK.findall(text):
        if "://" in target:
            continue
        path = (page.parent / target).resolve()
        assert path.is_relative_to(ROOT), f"{page.name} links out: {target}"
        assert path.exists(), f"{page.name} links to a missing {target}"


def test_readme_setup_installs_every_extra() -> None:
    setup = next(code.strip() for at, code in blocks("sh") if at.startswith("README"))
    assert "'.[all," in setup, "the set-up command must install the all extra"


PUBLIC_MODULES = (
    "sansio_auth",
    "sansio_auth.providers",
    "sansio_auth.adapters.urllib",
    "sansio_auth.adapters.trio",
    "sansio_auth.adapters.anyio",
    "sansio_auth.adapters.httpx",
    "sansio_auth.adapters.requests",
    "sansio_auth.adapters.aiohttp",
    "sansio_auth.adapters.assertions",
    "sansio_auth.adapters.server",
    "sansio_auth.adapters.cli",
    "sansio_auth.adapters.pytest_plugin",
    "sansio_auth.adapters.stores",
    "sansio_auth.adapters.filestore",
    "sansio_auth.adapters.redis",
)


@pytest.mark.parametrize("module", PUBLIC_MODULES)
def test_the_api_page_names_every_public_name(module: str) -> None:
    page = (DOCS / "api.md").read_text(encoding="utf-8")
    assert f"`{module}`" in page, f"api.md has no section for {module}"
    section = page.split(f"`{module}`", 1)[1]
    names = importlib.import_module(module).__all__
    missing = [name for name in names if f"`{name}" not in section]
    assert not missing, f"api.md does not describe {module}'s {missing}"


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


def test_every_test_the_security_page_names_exists() -> None:
    # docs/security.md lists each promise with the tests that hold it: a
    # renamed or removed test must not leave a promise held by nothing.
    page = (DOCS / "security.md").read_text(encoding="utf-8")
    named = re.findall(r"`(test_\w+\.py)::(test_\w+)`", page)
    assert len(named) > 30
    for module, test in named:
        source = (ROOT / "tests" / module).read_text(encoding="utf-8")
        assert re.search(rf"^(?:async )?def {test}\(", source, re.M), (module, test)
    for module in set(re.findall(r"`(test_\w+\.py)`", page)):
        assert (ROOT / "tests" / module).exists(), module
