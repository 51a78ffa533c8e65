"""The core alone: what works without the extras, and what names them.

Each test runs a fresh interpreter in which the extras' packages cannot be
imported (a finder on ``sys.meta_path`` refuses them as if they were not
installed), so the suite's own environment, which has them all, still
checks the promises of an install without them. ``.ci/check_wheel`` checks
the same against the built wheel in an environment that really lacks them.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import textwrap

import pytest

from sansio_auth.adapters._extras import missing_extra

EVERY_EXTRA = (
    "trio",
    "anyio",
    "h11",
    "sniffio",
    "outcome",
    "httpx",
    "httpcore",
    "requests",
    "urllib3",
    "aiohttp",
    "redis",
)

_BLOCKER = """\
import importlib.abc
import sys


class _NotInstalled(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in {blocked!r}:
            raise ModuleNotFoundError(f"No module named {{name!r}}", name=name)
        return None


sys.meta_path.insert(0, _NotInstalled())
"""


def run_without(
    blocked: tuple[str, ...], code: str, *, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """Run *code* in a new interpreter where *blocked* cannot be imported.

    From another directory: ``-c`` puts the current one first on
    ``sys.path``, where the checkout's ``sansio_auth/`` (no ``adapters``)
    would shadow the installed package.
    """
    script = _BLOCKER.format(blocked=frozenset(blocked)) + textwrap.dedent(code)
    return subprocess.run(
        [sys.executable, "-c", script],
        cwd=tempfile.gettempdir(),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        stdin=subprocess.DEVNULL,
    )


IMPORT_ERROR = """\
import json
try:
    import sansio_auth.adapters.{module}
except ImportError as exc:
    print(json.dumps({{"message": str(exc), "name": exc.name}}))
else:
    print(json.dumps(None))
"""


@pytest.mark.parametrize(
    ("module", "package", "extra"),
    [
        ("trio", "trio", "trio"),
        ("trio", "h11", "trio"),
        ("anyio", "anyio", "anyio"),
        ("anyio", "h11", "anyio"),
        ("httpx", "httpx", "httpx"),
        ("requests", "requests", "requests"),
        ("aiohttp", "aiohttp", "aiohttp"),
        ("redis", "redis", "redis"),
    ],
)
def test_an_adapter_without_its_extra_names_it(
    module: str, package: str, extra: str
) -> None:
    done = run_without((package,), IMPORT_ERROR.format(module=module))
    assert done.returncode == 0, done.stderr
    error = json.loads(done.stdout)
    assert error is not None, (
        f"sansio_auth.adapters.{module} imported without {package}"
    )
    assert error["name"] == package
    assert (
        f"sansio_auth.adapters.{module} needs the {package!r} package"
        in (error["message"])
    )
    assert f"pip install 'sansio-auth[{extra}]'" in error["message"]


def test_a_fault_inside_an_installed_package_is_not_called_missing() -> None:
    fault = ImportError("cannot import name 'x' from 'idna'", name="idna")
    assert missing_extra("m", "trio", ("trio", "h11"), fault) is fault
    nameless = ImportError("something else")
    assert missing_extra("m", "trio", ("trio", "h11"), nameless) is nameless


def test_a_submodule_of_a_missing_package_names_the_package() -> None:
    error = missing_extra(
        "m", "anyio", ("anyio", "h11"), ImportError("no", name="anyio.abc")
    )
    assert "needs the 'anyio' package" in str(error)
    assert error.name == "anyio.abc"


CORE_ALONE = """\
import asyncio
import sys

from sansio_auth import HttpRequest
from sansio_auth.adapters import cli, pytest_plugin
from sansio_auth.adapters.server import TokenServer
from sansio_auth.adapters.urllib import TokenClient, send
from sansio_auth.providers import smartway

with TokenServer() as server:
    flow = smartway(
        server.credentials.smartway_api_key, base_url=server.smartway_base_url
    )
    with TokenClient(flow, timeout=10) as client:
        token = client.token()
    api = HttpRequest(
        method="GET",
        url=server.resource_url,
        headers=(("Authorization", token.authorization()),),
        body=b"",
    )
    assert send(api, timeout=10).status == 200


async def served() -> str:
    async with TokenServer() as server:
        return server.url


assert asyncio.run(served()).startswith("http://127.0.0.1:")
loaded = sorted(
    name for name in sys.modules if name.partition(".")[0] in {blocked!r}
)
assert not loaded, loaded
print("ok")
"""


def test_the_core_urllib_server_and_cli_need_no_extra() -> None:
    done = run_without(EVERY_EXTRA, CORE_ALONE.format(blocked=set(EVERY_EXTRA)))
    assert done.returncode == 0, done.stderr
    assert done.stdout == "ok\n"


DEMO = """\
import sys
from sansio_auth.adapters.cli import main

sys.exit(main({argv!r}))
"""


def test_the_demo_on_the_core_alone_runs_urllib_and_names_the_rest() -> None:
    done = run_without(EVERY_EXTRA, DEMO.format(argv=["demo"]), timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "through the urllib adapter" in done.stdout
    assert "\n6 tokens, " in done.stdout
    skipped = [line for line in done.stdout.splitlines() if line.startswith("skip")]
    assert len(skipped) == 3  # trio, anyio (asyncio), anyio (trio)
    assert "pip install 'sansio-auth[trio]'" in skipped[0]
    assert "pip install 'sansio-auth[anyio]'" in skipped[1]
    assert "pip install 'sansio-auth[anyio]'" in skipped[2]
    assert "FAILED" not in done.stdout


def test_demo_of_one_adapter_runs_only_it() -> None:
    done = run_without(
        EVERY_EXTRA, DEMO.format(argv=["demo", "--adapter", "urllib"]), timeout=120
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "skipped" not in done.stdout
    assert "\n6 tokens, " in done.stdout


@pytest.mark.parametrize(
    ("argv", "extra"),
    [
        (["demo", "--adapter", "trio"], "trio"),
        (["demo", "--adapter", "urllib", "--adapter", "anyio"], "anyio"),
        (["token", "--provider", "smartway", "--adapter", "anyio"], "anyio"),
    ],
)
def test_an_adapter_asked_for_without_its_extra_is_a_usage_error(
    argv: list[str], extra: str
) -> None:
    done = run_without(EVERY_EXTRA, DEMO.format(argv=argv))
    assert done.returncode == 2, done.stdout + done.stderr
    assert done.stdout == ""  # refused before any work
    assert f"--adapter {argv[-1]}: " in done.stderr
    assert f"pip install 'sansio-auth[{extra}]'" in done.stderr
    # Refused before asking for a secret: no "missing ... API key" message.
    assert "SANSIO_AUTH_API_KEY" not in done.stderr


def test_anyio_on_trio_without_trio_names_the_trio_extra() -> None:
    argv = ["token", "--provider", "smartway", "--adapter", "anyio-trio"]
    done = run_without(("trio",), DEMO.format(argv=argv))
    assert done.returncode == 2, done.stdout + done.stderr
    assert "pip install 'sansio-auth[trio]'" in done.stderr
