"""The secrets a provider needs: from the environment, or a prompt.

Never from the command line: ``argv`` is visible to every user of the
machine.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import IO, Final

import attrs

from ._exits import UsageError

__all__ = [
    "API_KEY",
    "CLIENT_KEY_PASSWORD",
    "CLIENT_SECRET",
    "DPOP_KEY_PASSWORD",
    "PASSWORD",
    "PRIVATE_KEY_PASSWORD",
    "SECRETS",
    "TEAMSYSTEM_TOKEN",
    "Secret",
    "read_secret",
]


@attrs.frozen(kw_only=True)
class Secret:
    """A secret a provider needs, read from the environment or a prompt."""

    env: str
    """The environment variable holding it."""
    what: str
    """What it is, for messages and the prompt."""


API_KEY: Final = Secret(env="SANSIO_AUTH_API_KEY", what="SmartWay API key")
CLIENT_SECRET: Final = Secret(env="SANSIO_AUTH_CLIENT_SECRET", what="client secret")
PASSWORD: Final = Secret(env="SANSIO_AUTH_PASSWORD", what="password")
TEAMSYSTEM_TOKEN: Final = Secret(
    env="SANSIO_AUTH_TEAMSYSTEM_TOKEN", what="TeamSystem API key (the 'token' field)"
)
PRIVATE_KEY_PASSWORD: Final = Secret(
    env="SANSIO_AUTH_PRIVATE_KEY_PASSWORD",
    what="password of the --private-key-file key",
)
DPOP_KEY_PASSWORD: Final = Secret(
    env="SANSIO_AUTH_DPOP_KEY_PASSWORD", what="password of the --dpop-key-file key"
)
CLIENT_KEY_PASSWORD: Final = Secret(
    env="SANSIO_AUTH_CLIENT_KEY_PASSWORD",
    what="password of the --client-cert key",
)
SECRETS: Final = (
    API_KEY,
    CLIENT_SECRET,
    PASSWORD,
    TEAMSYSTEM_TOKEN,
    PRIVATE_KEY_PASSWORD,
    DPOP_KEY_PASSWORD,
    CLIENT_KEY_PASSWORD,
)
"""Every environment variable of a secret the command line reads (a key's
password only when its file is encrypted)."""


def read_secret(
    secret: Secret,
    *,
    environ: Mapping[str, str],
    stdin: IO[str] | None,
    prompt: Callable[[str], str],
) -> str:
    """The value of *secret*: from its variable, else a prompt on a terminal.

    Args:
      secret: which one.
      environ: the environment.
      stdin: standard input; None when it is closed (``<&-``).
      prompt: asks without echo (``getpass.getpass``).

    Raises:
      UsageError: it is unset (or empty) and stdin is closed or not a
        terminal, or the prompt got nothing or end of input (Ctrl-D). The
        message names the variable.
    """
    value = environ.get(secret.env, "")
    if value:
        return value
    if stdin is None:
        raise UsageError(
            f"missing {secret.what}: set the environment variable {secret.env} "
            "(stdin is closed, so there is no prompt)"
        )
    if stdin.isatty():
        try:
            value = prompt(f"{secret.what} ({secret.env}): ")
        except EOFError:
            raise UsageError(
                f"no {secret.what} given: end of input at the prompt; "
                f"set {secret.env} or type it"
            ) from None
        if value:
            return value
        raise UsageError(f"no {secret.what} given: set {secret.env} or type it")
    raise UsageError(
        f"missing {secret.what}: set the environment variable {secret.env} "
        "(stdin is not a terminal, so there is no prompt)"
    )
