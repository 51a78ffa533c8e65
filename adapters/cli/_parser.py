"""The ``sansio-auth`` argument parser."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING, NoReturn

from sansio_auth import __version__
from sansio_auth.providers import SMARTCONNECT_REGIONS

from .._limits import DEFAULT_TIMEOUT, MAX_TIMEOUT
from ._commands import cmd_demo, cmd_serve, cmd_token
from ._exits import EXIT_USAGE, PROG
from ._fetch import ADAPTERS
from ._providers import PROVIDERS
from ._secrets import (
    CLIENT_KEY_PASSWORD,
    DPOP_KEY_PASSWORD,
    PRIVATE_KEY_PASSWORD,
    SECRETS,
)
from ._signed import AUTH_METHODS

if TYPE_CHECKING:
    from _typeshed import SupportsWrite

__all__ = ["parser"]


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
Basic header, post (the default) in the form body; client_secret_jwt signs an
assertion with the client secret, private_key_jwt with --private-key-file (or
sends --client-assertion-file's), and the TLS methods present --client-cert.
The client secret is read only for the methods that use it. A DPoP-bound token
(--dpop, --dpop-key-file) is printed as any other; each API request it serves
needs a proof made with its key.

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
        "--auth",
        choices=list(AUTH_METHODS),
        metavar="METHOD",
        help="client authentication: post (default), basic, client_secret_jwt, "
        "private_key_jwt, tls_client_auth, self_signed_tls_client_auth "
        "(client_secret_post and client_secret_basic are post and basic)",
    )
    token.add_argument("--language", help="TeamSystem Accept-Language (it-IT)")
    signed = token.add_argument_group(
        "signed requests and bound tokens (--provider client-credentials and "
        "password); keys and certificates are read from files, never given "
        "here"
    )
    signed.add_argument(
        "--private-key-file",
        metavar="PATH",
        help="the private_key_jwt key (PEM: RSA, EC P-256 or Ed25519); an "
        f"encrypted one's password from {PRIVATE_KEY_PASSWORD.env}",
    )
    signed.add_argument(
        "--key-id", metavar="KID", help="the key's kid, put in the assertion"
    )
    signed.add_argument(
        "--algorithm",
        choices=["RS256", "PS256", "ES256", "EdDSA"],
        help="the assertion's algorithm (default: the key's: RS256, ES256, EdDSA)",
    )
    signed.add_argument(
        "--client-assertion-file",
        metavar="PATH",
        help="a client assertion made elsewhere (a Kubernetes projected service "
        "account token, AZURE_FEDERATED_TOKEN_FILE), for private_key_jwt",
    )
    signed.add_argument(
        "--assertion-audience",
        metavar="URI",
        help="the aud of the assertion signed here (default: the token URL; "
        "the issuer for servers that want it)",
    )
    signed.add_argument(
        "--client-cert",
        dest="client_cert_file",
        metavar="PATH",
        help="the TLS client certificate (PEM; its key in the same file or "
        "--client-key), for tls_client_auth, self_signed_tls_client_auth or "
        f"certificate-bound tokens; an encrypted key's password from "
        f"{CLIENT_KEY_PASSWORD.env}",
    )
    signed.add_argument(
        "--client-key",
        dest="client_key_file",
        metavar="PATH",
        help="the --client-cert certificate's private key (PEM)",
    )
    signed.add_argument(
        "--resource",
        action="append",
        metavar="URI",
        help="a resource indicator (RFC 8707); repeat for several",
    )
    signed.add_argument(
        "--dpop",
        action="store_const",
        const=True,
        help="bind the token to a fresh ES256 key with DPoP (RFC 9449); the key "
        "lives for this run only",
    )
    signed.add_argument(
        "--dpop-key-file",
        metavar="PATH",
        help="bind the token with DPoP to this key (PEM); an encrypted one's "
        f"password from {DPOP_KEY_PASSWORD.env}",
    )
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
    token.add_argument(
        "--store",
        metavar="URL",
        help="share the token through a store, so that cron jobs on many hosts "
        "make one token request: redis://host:6379/0, rediss://..., "
        "unix:///path, file:///dir (default: $SANSIO_AUTH_STORE; a URL with "
        "a password only there)",
    )
    token.set_defaults(run=cmd_token)

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
    serve_cmd.set_defaults(run=cmd_serve)

    demo_cmd = commands.add_parser(
        "demo",
        help="see every provider through every adapter, in seconds",
        description="Start the local token server in-process and run every "
        "provider through every adapter, then a refresh, a rotation, a retry "
        "after a 503 and 200 concurrent callers.",
    )
    demo_cmd.add_argument(
        "--adapter",
        action="append",
        choices=ADAPTERS,
        help="run only this adapter (repeat for more; default: every one "
        "installed, each named with its extra when it is not)",
    )
    demo_cmd.set_defaults(run=cmd_demo)
    return top
