"""Import: ``python -c "import X"`` in fresh interpreters.

From an empty directory, without the ``PYTHON*`` environment, interleaved,
medians; against ``import attrs`` (sansio_auth's one required import) and
``python -c pass``; httpx-auth and authlib's httpx client when installed.

Target: sansio_auth within 10 ms of ``import attrs``. Issue 6.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable

from _fixtures import load_peer
from _timing import NOT_INSTALLED, Candidate, Row, Settings, fmt_time, interleaved


def run(settings: Settings) -> Row:
    modules = {
        "python -c pass": "pass",
        "import attrs": "import attrs",
        "sansio_auth": "import sansio_auth",
    }
    if load_peer("httpx_auth") is not None:
        modules["httpx_auth"] = "import httpx_auth"
    if load_peer("authlib.integrations.httpx_client") is not None:
        modules["authlib.integrations.httpx_client"] = (
            "import authlib.integrations.httpx_client"
        )
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    with tempfile.TemporaryDirectory() as cwd:

        def sample(code: str) -> Callable[[], float]:
            def run() -> float:
                start = time.perf_counter()
                subprocess.run(  # noqa: S603 -- our own interpreter, fixed code
                    [sys.executable, "-c", code], check=True, cwd=cwd, env=env
                )
                return time.perf_counter() - start

            return run

        for code in modules.values():  # warm the disk cache and .pyc files
            sample(code)()
        medians = interleaved(
            {name: sample(code) for name, code in modules.items()},
            settings.pick(25, 2),
        )
    bare = medians["python -c pass"]
    row = Row(
        case="import in a fresh interpreter",
        baseline="import attrs",
        target="sansio_auth within 10 ms of import attrs",
    )
    for name in modules:
        value = medians[name]
        row.candidates.append(
            Candidate(
                name,
                fmt_time(value),
                "-" if name == "python -c pass" else f"+{(value - bare) * 1e3:.1f} ms",
            )
        )
    for peer in ("httpx_auth", "authlib.integrations.httpx_client"):
        if peer not in modules:
            row.candidates.append(Candidate(peer, NOT_INSTALLED, "-"))
    over = medians["sansio_auth"] - medians["import attrs"]
    row.met = over <= 0.010
    row.notes.append(
        f"sansio_auth is {over * 1e3:+.1f} ms over import attrs "
        "(ratio column: over python -c pass)"
    )
    return row
