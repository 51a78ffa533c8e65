"""``python -m sansio_auth``: the command line, ``sansio_auth.adapters.cli``.

The command line does I/O, so it lives with the adapters; this shim only
hands over. Run from the root of a checkout, ``python -m`` puts the checkout
first on ``sys.path``, and its ``sansio_auth/`` (which has no ``adapters``)
shadows the installed package: then it says so instead of failing with a
traceback.
"""

from __future__ import annotations

import sys
from importlib.util import find_spec

SHADOWED = (
    "sansio_auth: the sansio_auth/ folder in the current directory shadows the "
    "installed package (it has no adapters); run `sansio-auth` instead, or run "
    "`python -m sansio_auth` from another directory\n"
)


def main(argv: list[str] | None = None) -> int:
    """Run the command line with *argv* (default ``sys.argv[1:]``).

    Returns:
      Its exit code; 2 when the installed adapters cannot be found.
    """
    if find_spec("sansio_auth.adapters") is None:
        sys.stderr.write(SHADOWED)
        return 2
    from sansio_auth.adapters.cli import main as cli_main

    return cli_main(argv)


if __name__ == "__main__":
    sys.exit(main())
