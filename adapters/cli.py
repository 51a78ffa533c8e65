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

import argparse
import contextlib
import getpass
import json
import os
import random
import signal
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import IO, TYPE_CHECKING, Final, Literal, NoReturn

import attrs

from sansio_auth import (
    ClientCredentials,
    Flow,
    HttpError,
    OAuthError,
    PasswordGrant,
    RetryPolicy,
    Token,
    TokenError,
    TokenSession,
    TransportError,
    __version__,
)
from sansio_auth.providers import (
    SMARTCONNECT_REGIONS,
    smartconnect,
    smartdocumentor,
    smartway,
    teamsystem,
)

from ._common import DEFAULT_TIMEOUT, FETCH_MARGIN, MAX_TIMEOUT

if TYPE_CHECKING:
    from _typeshed import SupportsWrite

    from .server import TokenServer

__all__ = [
    "ADAPTERS",
    "EXIT_ERROR",
    "EXIT_NETWORK",
    "EXIT_OK",
    "EXIT_REJECTED",
    "EXIT_USAGE",
    "PROVIDERS",
    "SECRETS",
    "fetch_token",
    "main",
]

PROG: Final = "sansio-auth"

EXIT_OK: Final = 0
"""The command did its job."""
EXIT_ERROR: Final = 1
"""Anything else: an unusable answer, an unexpected status, a crash."""
EXIT_USAGE: Final = 2
"""A bad or missing option or secret (argparse's own code too)."""
EXIT_REJECTED: Final = 3
"""The token endpoint refused the credentials (an OAuth error, or 400/401/403)."""
EXIT_NETWORK: Final = 4
"""The endpoint could not be reached, or stayed unavailable through the retries."""
EXIT_INTERRUPTED: Final = 130
"""Ctrl-C: 128 + SIGINT, as a shell reports a command that SIGINT ended."""
EXIT_BROKEN_PIPE: Final = 141
"""stdout was closed before the output was written (the reader went away):
128 + SIGPIPE, the status a shell reports for a tool that SIGPIPE ended."""

Adapter = Literal["urllib", "trio", "anyio", "anyio-trio"]
ADAPTERS: Final[tuple[Adapter, ...]] = ("urllib", "trio", "anyio", "anyio-trio")
"""``--adapter`` values: ``anyio`` runs on asyncio, ``anyio-trio`` on trio."""


class UsageError(Exception):
    """A bad or missing option or secret: exit code 2."""


# -- secrets -----------------------------------------------------------------


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
SECRETS: Final = (API_KEY, CLIENT_SECRET, PASSWORD, TEAMSYSTEM_TOKEN)
"""Every environment variable the command line reads."""


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


# -- providers ---------------------------------------------------------------


@attrs.frozen(kw_only=True)
class Options:
    """The non-secret options of ``token`` (None: not given)."""

    region: str | None = None
    username: str | None = None
    client_id: str | None = None
    scope: str | None = None
    token_url: str | None = None
    base_url: str | None = None
    auth: Literal["basic", "post"] | None = None
    language: str | None = None


_AUTH: Final = {"basic": "client_secret_basic", "post": "client_secret_post"}
_OPTION_NAMES: Final = {
    field.name: "--" + field.name.replace("_", "-") for field in attrs.fields(Options)
}

Secrets = Mapping[Secret, str]


def _base(options: Options) -> dict[str, str]:
    return {} if options.base_url is None else {"base_url": options.base_url}


def _need(options: Options, name: str) -> str:
    value: str | None = getattr(options, name)
    if value is None:
        raise AssertionError(name)  # checked by Provider.check before
    return value


def _smartway(options: Options, secrets: Secrets) -> Flow:
    return smartway(secrets[API_KEY], **_base(options))


def _smartconnect(options: Options, secrets: Secrets) -> Flow:
    token_url = {} if options.token_url is None else {"token_url": options.token_url}
    return smartconnect(
        region=_need(options, "region"),
        username=_need(options, "username"),
        password=secrets[PASSWORD],
        client_id=_need(options, "client_id"),
        client_secret=secrets[CLIENT_SECRET],
        **token_url,
    )


def _teamsystem(options: Options, secrets: Secrets) -> Flow:
    language = {} if options.language is None else {"language": options.language}
    return teamsystem(
        username=_need(options, "username"),
        scope=_need(options, "scope"),
        token=secrets[TEAMSYSTEM_TOKEN],
        **language,
        **_base(options),
    )


def _smartdocumentor(options: Options, secrets: Secrets) -> Flow:
    return smartdocumentor(
        client_id=_need(options, "client_id"),
        client_secret=secrets[CLIENT_SECRET],
        **_base(options),
    )


def _auth(options: Options) -> dict[str, str]:
    return {} if options.auth is None else {"auth": _AUTH[options.auth]}


def _client_credentials(options: Options, secrets: Secrets) -> Flow:
    return ClientCredentials(
        token_url=_need(options, "token_url"),
        client_id=_need(options, "client_id"),
        client_secret=secrets[CLIENT_SECRET],
        scope=options.scope or (),
        **_auth(options),  # type: ignore[arg-type]
    )


def _password(options: Options, secrets: Secrets) -> Flow:
    return PasswordGrant(
        token_url=_need(options, "token_url"),
        username=_need(options, "username"),
        password=secrets[PASSWORD],
        client_id=options.client_id,
        client_secret=secrets.get(CLIENT_SECRET),
        scope=options.scope or (),
        **_auth(options),  # type: ignore[arg-type]
    )


@attrs.frozen(kw_only=True)
class Provider:
    """A ``--provider``: its options, its secrets and how to build its flow."""

    name: str
    summary: str
    required: tuple[str, ...]
    """Options it needs (``Options`` field names)."""
    optional: tuple[str, ...]
    """Options it also takes."""
    secrets: tuple[Secret, ...]
    """Secrets it needs."""
    optional_secrets: tuple[Secret, ...] = ()
    """Secrets used when set, never prompted for."""
    build: Callable[[Options, Secrets], Flow]

    def check(self, options: Options) -> None:
        """Refuse a missing option or one this provider does not take."""
        missing = [n for n in self.required if getattr(options, n) is None]
        if missing:
            names = ", ".join(_OPTION_NAMES[n] for n in missing)
            raise UsageError(f"--provider {self.name} needs {names}")
        taken = set(self.required) | set(self.optional)
        for name in _OPTION_NAMES:
            if getattr(options, name) is not None and name not in taken:
                raise UsageError(
                    f"{_OPTION_NAMES[name]} does not apply to --provider {self.name}"
                )

    def usage(self) -> str:
        """One line for ``--help``."""
        opts = [_OPTION_NAMES[n] for n in self.required]
        opts += [f"[{_OPTION_NAMES[n]}]" for n in self.optional]
        env = [s.env for s in self.secrets]
        env += [f"[{s.env}]" for s in self.optional_secrets]
        return f"  {self.name:<19}{' '.join(opts)}\n  {'':<19}secrets: {' '.join(env)}"


PROVIDERS: Final[Mapping[str, Provider]] = {
    p.name: p
    for p in (
        Provider(
            name="smartway",
            summary="SmartWay: API key exchange",
            required=(),
            optional=("base_url",),
            secrets=(API_KEY,),
            build=_smartway,
        ),
        Provider(
            name="smartconnect",
            summary="SmartConnect: password grant per region",
            required=("region", "username", "client_id"),
            optional=("token_url",),
            secrets=(PASSWORD, CLIENT_SECRET),
            build=_smartconnect,
        ),
        Provider(
            name="teamsystem",
            summary="TeamSystem Smart Services: multipart token request",
            required=("username", "scope"),
            optional=("language", "base_url"),
            secrets=(TEAMSYSTEM_TOKEN,),
            build=_teamsystem,
        ),
        Provider(
            name="smartdocumentor",
            summary="SmartDocumentor: client credentials, scope WebAPI",
            required=("client_id",),
            optional=("base_url",),
            secrets=(CLIENT_SECRET,),
            build=_smartdocumentor,
        ),
        Provider(
            name="client-credentials",
            summary="any RFC 6749 client credentials endpoint",
            required=("token_url", "client_id"),
            optional=("scope", "auth"),
            secrets=(CLIENT_SECRET,),
            build=_client_credentials,
        ),
        Provider(
            name="password",
            summary="any RFC 6749 password grant endpoint",
            required=("token_url", "username"),
            optional=("client_id", "scope", "auth"),
            secrets=(PASSWORD,),
            optional_secrets=(CLIENT_SECRET,),
            build=_password,
        ),
    )
}


def build_flow(
    provider: Provider,
    options: Options,
    *,
    environ: Mapping[str, str],
    stdin: IO[str] | None,
    prompt: Callable[[str], str],
) -> Flow:
    """The provider's flow, its secrets read from *environ* or a prompt.

    Raises:
      UsageError: an option or secret is missing or wrong.
    """
    provider.check(options)
    secrets = {
        s: read_secret(s, environ=environ, stdin=stdin, prompt=prompt)
        for s in provider.secrets
    }
    for s in provider.optional_secrets:
        if environ.get(s.env):
            secrets[s] = environ[s.env]
    try:
        return provider.build(options, secrets)
    except ValueError as exc:
        # Not masked: the library's messages name the field and the rule and
        # never interpolate a credential, by construction.
        raise UsageError(str(exc)) from None


# -- fetching ----------------------------------------------------------------


def run_async(adapter: Adapter, fn: Callable[[], object]) -> object:
    """Run the coroutine function *fn* in the event loop *adapter* needs."""
    import anyio
    import trio

    if adapter == "trio":
        return trio.run(fn)  # type: ignore[arg-type]
    return anyio.run(fn, backend="trio" if adapter == "anyio-trio" else "asyncio")  # type: ignore[arg-type]


def fetch_token(
    flow: Flow,
    *,
    adapter: Adapter = "urllib",
    timeout: float = DEFAULT_TIMEOUT,
    attempts: int | None = None,
) -> Token:
    """One token for *flow*, through *adapter*'s ``TokenClient``.

    Args:
      flow: how to get it.
      adapter: ``urllib``, ``trio``, ``anyio`` (asyncio) or ``anyio-trio``.
      timeout: seconds each request may take.
      attempts: the retry policy's ``max_attempts`` (None: its default).

    Raises:
      TokenError: the session gave up.
    """
    session = (
        None
        if attempts is None
        else TokenSession(
            flow,
            retry=RetryPolicy(max_attempts=attempts),
            jitter=random.random,
            fetch_timeout=timeout + FETCH_MARGIN,
        )
    )
    if adapter == "urllib":
        from . import urllib

        with urllib.TokenClient(flow, timeout=timeout, session=session) as client:
            return client.token()
    if adapter == "trio":
        from . import trio as module
    else:
        from . import anyio as module  # type: ignore[no-redef]

    async def fetch() -> Token:
        async with module.TokenClient(flow, timeout=timeout, session=session) as client:
            return await client.token()

    token = run_async(adapter, fetch)
    assert isinstance(token, Token)
    return token


def classify(error: TokenError) -> tuple[int, str]:
    """The exit code for *error* and the cause, for the one-line message.

    The message is our words and ``str(error)``, as they are: the client has
    masked the server's text of the request's secrets already (see the
    module's docstring).
    """
    if isinstance(error, TransportError):
        return EXIT_NETWORK, f"network failure: {error}"
    if error.retryable:
        return EXIT_NETWORK, f"token endpoint unavailable: {error}"
    if isinstance(error, OAuthError | HttpError) and (
        error.status in (400, 401, 403)
        # An OAuth error body with a 2xx: the vendor's way of saying 400.
        or (isinstance(error, OAuthError) and error.status < 300)
    ):
        return EXIT_REJECTED, f"credentials rejected: {error}"
    return EXIT_ERROR, f"token request failed: {error}"


def token_json(token: Token, now: float) -> dict[str, object]:
    """What ``--output json`` prints.

    The refresh token is not printed, only whether there is one: the command
    hands out an access token for a call or a script, and each run fetches
    anew, so the refresh token (a longer-lived credential) has no use here
    and would only widen what a shell history, a log or a CI transcript holds.
    """
    expires_in = (
        None if token.expires_at is None else max(0, int(token.expires_at - now))
    )
    return {
        "access_token": token.access_token,
        "token_type": token.token_type,
        "expires_at": token.expires_at,
        "expires_in": expires_in,
        "scope": None if token.scopes is None else " ".join(sorted(token.scopes)),
        "has_refresh_token": token.refresh_token is not None,
    }


def render(token: Token, output: str, now: float) -> str:
    """*token* as ``--output`` asks."""
    if output == "header":
        return f"Authorization: {token.authorization()}"
    if output == "bare":
        return token.access_token
    return json.dumps(token_json(token, now), indent=2)


# -- the commands --------------------------------------------------------------


def _cmd_token(args: argparse.Namespace, io: _IO) -> int:
    provider = PROVIDERS[args.provider]
    options = Options(**{name: getattr(args, name) for name in _OPTION_NAMES})
    flow = build_flow(
        provider, options, environ=io.environ, stdin=io.stdin, prompt=io.prompt
    )
    try:
        token = fetch_token(
            flow, adapter=args.adapter, timeout=args.timeout, attempts=args.attempts
        )
    except TokenError as exc:
        code, message = classify(exc)
        io.fail(message)
        return code
    io.stdout.write(render(token, args.output, time.time()) + "\n")
    return EXIT_OK


def _cmd_serve(args: argparse.Namespace, io: _IO) -> int:
    return serve(host=args.host, port=args.port, io=io)


def serve(*, host: str, port: int, io: _IO) -> int:
    """Run the local token server until Ctrl-C (or ``io.stop`` is set).

    Prints the server's description (URLs and test credentials) and a
    ``sansio-auth token`` command for each provider.
    """
    from .server import TokenServer, describe

    try:
        server = TokenServer(host=host, port=port).start()
    except OSError as exc:
        io.fail(f"cannot listen on {host}:{port}: {exc.strerror or exc}")
        return EXIT_ERROR
    stop = io.stop
    if stop is None:
        stop = threading.Event()
        if threading.current_thread() is threading.main_thread():
            # `kill` (and container runtimes) stop it as cleanly as Ctrl-C.
            signal.signal(signal.SIGTERM, lambda signum, frame: stop.set())
    try:
        io.stdout.write(f"{describe(server)}\n\n{try_commands(server)}\n")
        io.stdout.write("serving; Ctrl-C stops\n")
        io.stdout.flush()
        with contextlib.suppress(KeyboardInterrupt):
            while not stop.wait(0.2):
                pass
    finally:
        server.stop()
    return EXIT_OK


def try_commands(server: TokenServer) -> str:
    """A ``sansio-auth token`` command per provider against *server*.

    They set the test credentials in the command's environment, as a user
    would export real ones; the credentials are the server's fake ones.
    """
    c = server.credentials
    commands = [
        (
            f"{API_KEY.env}={c.smartway_api_key}",
            f"--provider smartway --base-url {server.smartway_base_url}",
        ),
        (
            f"{PASSWORD.env}={c.smartconnect_password} "
            f"{CLIENT_SECRET.env}={c.smartconnect_client_secret}",
            "--provider smartconnect --region EU "
            f"--token-url {server.smartconnect_token_url('EU')} "
            f"--username {c.smartconnect_username} "
            f"--client-id {c.smartconnect_client_id}",
        ),
        (
            f"{TEAMSYSTEM_TOKEN.env}={c.teamsystem_api_key}",
            f"--provider teamsystem --base-url {server.teamsystem_base_url} "
            f"--username {c.teamsystem_username} --scope {c.teamsystem_scope}",
        ),
        (
            f"{CLIENT_SECRET.env}={c.smartdocumentor_client_secret}",
            "--provider smartdocumentor "
            f"--base-url {server.smartdocumentor_base_url} "
            f"--client-id {c.smartdocumentor_client_id}",
        ),
        (
            f"{CLIENT_SECRET.env}={c.generic_client_secret}",
            f"--provider client-credentials --token-url {server.generic_token_url} "
            f"--client-id {c.generic_client_id}",
        ),
        (
            f"{PASSWORD.env}={c.generic_password} "
            f"{CLIENT_SECRET.env}={c.generic_client_secret}",
            f"--provider password --token-url {server.generic_token_url} "
            f"--username {c.generic_username} --client-id {c.generic_client_id}",
        ),
    ]
    lines = ["try (in another terminal):"]
    lines += [f"  {env} sansio-auth token {argv}" for env, argv in commands]
    return "\n".join(lines)


def _cmd_demo(args: argparse.Namespace, io: _IO) -> int:
    from ._demo import demo

    return demo(io.stdout)


# -- the parser ----------------------------------------------------------------


class _Parser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one line, and whose help does not
    hide a closed stdout."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: usage error: {message} (see --help)\n")

    def print_help(self, file: SupportsWrite[str] | None = None) -> None:
        # argparse's own swallows OSError, so `--help | true` would exit 0
        # whenever stdout is unbuffered (PYTHONUNBUFFERED): main reports it.
        (file or sys.stdout).write(self.format_help())


class _Version(argparse.Action):
    """``--version``, written as ``print_help`` writes (see there)."""

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: object,
        option_string: str | None = None,
    ) -> None:
        sys.stdout.write(f"{PROG} {__version__}\n")
        parser.exit()


def _positive(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not 0 < value <= MAX_TIMEOUT:
        raise argparse.ArgumentTypeError(
            f"must be a number > 0 and at most {MAX_TIMEOUT:g} (a day), got {text}"
        )
    return value


def _attempts(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {text}")
    return value


def _port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port number: {text!r}") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"must be 0 to 65535, got {text}")
    return value


_TOKEN_EPILOG = """\
providers, their options and the environment variables they read:
{providers}

secrets are never taken on the command line (other users of the machine can
read it): each comes from its environment variable, or, when that is unset and
stdin is a terminal, from a prompt that does not echo:
{secrets}

smartconnect's --region is one of {regions};
--token-url sends to another server instead (such as `sansio-auth serve`).
--scope is space-separated for the generic flows and TeamSystem's one scope
otherwise. --auth basic sends the client credentials in an Authorization:
Basic header, post (the default) in the form body.

output: json (default) prints access_token, token_type, expires_at (UNIX
seconds), expires_in (seconds from now), scope and has_refresh_token (never the
refresh token itself); header prints an Authorization line for
`curl -H "$(sansio-auth token ... --output header)"`; bare prints the token.

{exit_codes}"""

_EXIT_CODES = """\
exit codes: 0 done, 2 usage error (bad option, missing secret, end of input at
the prompt), 3 credentials rejected, 4 network failure or endpoint unavailable
after retries, 130 interrupted, 141 stdout closed before the output was written
(broken pipe), 1 other (a stdout closed from the start included). A failure
prints one line on stderr naming the cause.
"""


def parser() -> argparse.ArgumentParser:
    """The ``sansio-auth`` argument parser."""
    top = _Parser(
        prog=PROG,
        description="Access tokens from token endpoints, from the command line.",
        epilog="Run `sansio-auth COMMAND --help` for a command's options.\n\n"
        + _EXIT_CODES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    top.add_argument(
        "--version", action=_Version, nargs=0, help="show the version and exit"
    )
    commands = top.add_subparsers(dest="command", metavar="COMMAND", required=True)

    token = commands.add_parser(
        "token",
        help="fetch a token and print it",
        description="Fetch one access token and print it.",
        epilog=_TOKEN_EPILOG.format(
            providers="\n".join(p.usage() for p in PROVIDERS.values()),
            secrets="\n".join(f"  {s.env:<30}the {s.what}" for s in SECRETS),
            regions=" ".join(SMARTCONNECT_REGIONS),
            exit_codes=_EXIT_CODES,
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    token.add_argument(
        "--provider",
        required=True,
        choices=list(PROVIDERS),
        metavar="NAME",
        help=f"who to ask: {', '.join(PROVIDERS)}",
    )
    token.add_argument("--region", help="SmartConnect region")
    token.add_argument("--username", help="user name (not a secret)")
    token.add_argument("--client-id", help="client identifier (not a secret)")
    token.add_argument("--scope", help="scope(s) to ask for")
    token.add_argument("--token-url", help="the token endpoint URL")
    token.add_argument("--base-url", help="the vendor's origin (staging, local)")
    token.add_argument(
        "--auth", choices=["basic", "post"], help="client authentication"
    )
    token.add_argument("--language", help="TeamSystem Accept-Language (it-IT)")
    token.add_argument(
        "--output",
        choices=["json", "header", "bare"],
        default="json",
        help="what to print (default: json)",
    )
    token.add_argument(
        "--adapter",
        choices=ADAPTERS,
        default="urllib",
        help="the I/O adapter: anyio runs on asyncio, anyio-trio on trio "
        "(default: urllib)",
    )
    token.add_argument(
        "--timeout",
        type=_positive,
        default=DEFAULT_TIMEOUT,
        help=f"seconds each request may take (default: {DEFAULT_TIMEOUT:g})",
    )
    token.add_argument(
        "--attempts",
        type=_attempts,
        default=None,
        help="attempts in all, retries after a network failure or a 5xx "
        "included (default: the library's, 4)",
    )
    token.set_defaults(run=_cmd_token)

    serve_cmd = commands.add_parser(
        "serve",
        help="run the local token server in the foreground",
        description="Run the local token server (every provider's endpoints, "
        "with test credentials) until Ctrl-C.",
    )
    serve_cmd.add_argument("--host", default="127.0.0.1", help="default: 127.0.0.1")
    serve_cmd.add_argument(
        "--port", type=_port, default=0, help="default: 0, any free port"
    )
    serve_cmd.set_defaults(run=_cmd_serve)

    demo_cmd = commands.add_parser(
        "demo",
        help="see every provider through every adapter, in seconds",
        description="Start the local token server in-process and run every "
        "provider through every adapter, then a refresh, a rotation, a retry "
        "after a 503 and 200 concurrent callers.",
    )
    demo_cmd.set_defaults(run=_cmd_demo)
    return top


# -- main ------------------------------------------------------------------------


@attrs.define(kw_only=True)
class _IO:
    """The world the commands see; tests swap parts of it."""

    stdout: IO[str]
    stderr: IO[str] | None
    """None when the process started with it closed (``2>&-``)."""
    stdin: IO[str] | None
    """None when the process started with it closed (``<&-``)."""
    environ: Mapping[str, str]
    prompt: Callable[[str], str]
    stop: threading.Event | None = None

    def fail(self, message: str) -> None:
        _say(self.stderr, message)


def _say(stderr: IO[str] | None, message: str) -> None:
    """*message* as one line on *stderr*, if anyone can read it."""
    if stderr is None:
        return
    line = " ".join(message.split())  # one line, whatever the cause held
    try:
        stderr.write(f"{PROG}: {line}\n")
        stderr.flush()
    except BrokenPipeError:
        # Nobody reads stderr (`2>&1 | true`): the exit code still tells.
        _discard(stderr)


def _discard(stream: IO[str]) -> None:
    """Point *stream*'s file descriptor at the null device.

    After a BrokenPipeError the stream's buffer still holds what it could not
    write, and the interpreter flushes the standard streams at exit: that
    flush would fail again, print "Exception ignored" and exit 120. This is
    the recipe of the ``signal`` module's docs (the note on SIGPIPE).
    """
    try:
        fd = stream.fileno()
    except (AttributeError, OSError, ValueError):
        return  # not a file (a test's StringIO): nothing flushes it at exit
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, fd)
    finally:
        os.close(devnull)


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``sansio-auth`` with *argv* (default ``sys.argv[1:]``).

    Returns:
      The exit code (see the module's docstring).
    """
    stdout: IO[str] | None = sys.stdout
    if stdout is None:  # started with fd 1 closed (`>&-`): nowhere to print
        _say(sys.stderr, "stdout is closed (file descriptor 1 is not open)")
        return EXIT_ERROR
    io = _IO(
        stdout=stdout,
        stderr=sys.stderr,
        stdin=sys.stdin,
        environ=os.environ,
        prompt=getpass.getpass,
    )
    try:
        code = _run(argv, io)
        # A closed stdout is found here rather than by the interpreter's
        # flush at exit, which can only print "Exception ignored".
        io.stdout.flush()
    except BrokenPipeError:
        # stdout's: the adapters turn a socket's into a TransportError.
        _discard(io.stdout)
        io.fail("stdout was closed before the output was written (broken pipe)")
        return EXIT_BROKEN_PIPE
    return code


def _run(argv: Sequence[str] | None, io: _IO) -> int:
    try:
        args = parser().parse_args(argv)
    except SystemExit as exc:  # --help, --version, or a usage error
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    try:
        code: int = args.run(args, io)
    except UsageError as exc:
        io.fail(f"usage error: {exc}")
        return EXIT_USAGE
    except KeyboardInterrupt:
        io.fail("interrupted")
        return EXIT_INTERRUPTED
    except UnicodeEncodeError:
        # A token with a character stdout's encoding has not (a server may
        # send one): one line, not a traceback that would print the token.
        io.fail(
            "the output holds a character stdout's encoding cannot write; "
            "set PYTHONIOENCODING=utf-8"
        )
        return EXIT_ERROR
    return code


if __name__ == "__main__":
    sys.exit(main())
