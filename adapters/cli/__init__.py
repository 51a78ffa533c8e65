"""``sansio-auth``: the command line (also ``python -m sansio_auth``).

Three commands:

* ``sansio-auth token --provider NAME ...`` fetches one token and prints it as
  JSON, as an ``Authorization:`` header line, or bare. Secrets are read from
  environment variables (or a prompt when stdin is a terminal), never from the
  command line: ``argv`` is visible to every user of the machine.
* ``sansio-auth serve`` runs the local token server in the foreground.
* ``sansio-auth demo`` starts the local server in-process and runs every
  provider through every adapter, then a refresh, a rotation, a retry after a
  503 and 200 concurrent callers (see ``_demo.py``).

Exit codes: 0 done, 1 any other failure, 2 usage error (a bad or missing
option or secret: an unset variable with stdin closed or not a terminal, or
end of input at the prompt), 3 the token endpoint rejected the credentials, 4
network failure (or the endpoint stayed unavailable through the retries), 130
interrupted (Ctrl-C), 141 stdout closed before the output was written (a
broken pipe, as in ``sansio-auth demo | head -c1``: 128 + SIGPIPE, the status
a shell reports for a tool that SIGPIPE ended). A stdout closed from the start
(``>&-``) is 1. Each failure prints one line on stderr naming the cause.

The line is our own words and the ``str()`` of the library's error, neither
masked here: our words hold no secret by construction, nor do the library's
``ValueError`` messages, and a ``TokenError`` from a ``TokenClient`` has had
every server-sent string masked of the request's secrets already. Masking the
whole line again would only garble it, and a short secret (``k``) would show
itself by what it garbled (``networ*** failure``).
"""

from __future__ import annotations

from ._exits import (
    EXIT_BROKEN_PIPE as EXIT_BROKEN_PIPE,
)
from ._exits import (
    EXIT_ERROR as EXIT_ERROR,
)
from ._exits import (
    EXIT_INTERRUPTED as EXIT_INTERRUPTED,
)
from ._exits import (
    EXIT_NETWORK as EXIT_NETWORK,
)
from ._exits import (
    EXIT_OK as EXIT_OK,
)
from ._exits import (
    EXIT_REJECTED as EXIT_REJECTED,
)
from ._exits import (
    EXIT_USAGE as EXIT_USAGE,
)
from ._exits import (
    PROG as PROG,
)
from ._exits import (
    UsageError as UsageError,
)
from ._fetch import (
    ADAPTERS as ADAPTERS,
)
from ._fetch import (
    Adapter as Adapter,
)
from ._fetch import (
    classify as classify,
)
from ._fetch import (
    fetch_token as fetch_token,
)
from ._fetch import (
    render as render,
)
from ._fetch import (
    token_json as token_json,
)
from ._io import CommandIO as CommandIO
from ._main import main as main
from ._parser import parser as parser
from ._providers import (
    PROVIDERS as PROVIDERS,
)
from ._providers import (
    Options as Options,
)
from ._providers import (
    Provider as Provider,
)
from ._providers import (
    build_flow as build_flow,
)
from ._secrets import SECRETS as SECRETS
from ._secrets import Secret as Secret
from ._secrets import read_secret as read_secret
from ._serve import serve as serve
from ._serve import try_commands as try_commands

__all__ = [
    "ADAPTERS",
    "EXIT_BROKEN_PIPE",
    "EXIT_ERROR",
    "EXIT_INTERRUPTED",
    "EXIT_NETWORK",
    "EXIT_OK",
    "EXIT_REJECTED",
    "EXIT_USAGE",
    "PROVIDERS",
    "SECRETS",
    "fetch_token",
    "main",
]
