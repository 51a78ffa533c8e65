"""Benchmarks of sansio_auth against authlib, oauthlib and httpx-auth (issue 6).

Run ``python benchmarks/run.py`` for the full run (a few minutes),
``--smoke`` for every case with tiny repeat counts (seconds; CI runs it to keep
the script from rotting and never asserts on time), ``--case NAME`` for one.

Every figure is a ratio against a baseline timed in the same process, the
candidates interleaved, the median of repeated samples. Peers that are not
installed are reported as such (they are in the ``bench`` extra).
"""

from __future__ import annotations

import argparse
import importlib
import importlib.metadata
import platform
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _timing import NOT_INSTALLED, Row, Settings

# The cases, in the table's order: the name ``--case`` takes, and the module
# (benchmarks/case_*.py) whose ``run(settings)`` returns the case's row. A
# module is imported only when its case runs, so that what one case needs
# (anyio, trio, a peer) is not needed to run another.
CASES = {
    "parse": "case_parse",
    "build": "case_build",
    "hot": "case_hot",
    "single-flight": "case_single_flight",
    "fleet": "case_fleet",
    "import": "case_import",
    "memory": "case_memory",
    "tls-context": "case_tls_context",
    "httpx_auth": "case_httpx_auth",
    "aiohttp_auth": "case_aiohttp_auth",
    "requests_auth": "case_requests_auth",
    "dpop": "case_dpop",
}

PACKAGES = (
    "sansio-auth",
    "attrs",
    "h11",
    "trio",
    "anyio",
    "authlib",
    "oauthlib",
    "httpx",
    "httpx-auth",
    "redis",
    "cryptography",
    "requests-oauth2client",
)


def version(name: str) -> str:
    """The installed version of *name*, or "not installed"."""
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return NOT_INSTALLED


def table(rows: list[Row]) -> str:
    """The results as a Markdown table."""
    lines = [
        "| case | baseline | candidate | median | ratio | target | met |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for row in rows:
        first = True
        for cand in row.candidates:
            lines.append(
                "| "
                + " | ".join(
                    (
                        row.case if first else "",
                        row.baseline if first else "",
                        cand.name,
                        cand.value,
                        cand.ratio,
                        row.target if first else "",
                        row.met_text() if first else "",
                    )
                )
                + " |"
            )
            first = False
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Run the benchmarks and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="tiny repeat counts")
    parser.add_argument(
        "--case", action="append", choices=list(CASES), help="run only this case"
    )
    args = parser.parse_args(argv)
    settings = Settings(smoke=args.smoke)
    started = time.perf_counter()
    rows: list[Row] = []
    for name in args.case or list(CASES):
        print(f"running {name}...", file=sys.stderr, flush=True)
        run: Callable[[Settings], Row] = importlib.import_module(CASES[name]).run
        rows.append(run(settings))
    print(f"# sansio_auth benchmarks{' (smoke: figures meaningless)' * args.smoke}")
    print()
    print(f"python {platform.python_version()} ({platform.python_implementation()})")
    print(", ".join(f"{p} {version(p)}" for p in PACKAGES))
    print()
    print(table(rows))
    notes = [(row.case, note) for row in rows for note in row.notes]
    if notes:
        print()
        for case, note in notes:
            print(f"- {case}: {note}")
    print()
    print(f"total: {time.perf_counter() - started:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
