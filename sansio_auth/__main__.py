"""``python -m sansio_auth``: the command line (for now, the demo)."""

from __future__ import annotations

import sys

from ._demo import demo


def main(argv: list[str] | None = None) -> int:
    """Run the command in *argv* (default ``sys.argv[1:]``); return the exit code."""
    args = sys.argv[1:] if argv is None else argv
    if args == ["demo"]:
        sys.stdout.write(demo())
        return 0
    sys.stderr.write("usage: python -m sansio_auth demo\n")
    return 2


if __name__ == "__main__":
    sys.exit(main())
