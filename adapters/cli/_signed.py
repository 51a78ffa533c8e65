"""The options of ``token`` for signed requests and bound tokens: client
authentication by key, assertion file or certificate, and DPoP.

Keys and certificates come from files, named on the command line; never the
key itself (``argv`` is visible to every user of the machine, and a value
that looks like a key, a PEM or a JWT is refused as such, without a word of
it in the message). An encrypted key's password comes from its environment
variable, or a prompt on a terminal, as every secret does (``_secrets.py``).

What goes wrong is a :class:`UsageError` naming the option and the file,
never a byte of what the file holds.
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Callable, Mapping
from typing import IO, Any, Final

from ._exits import UsageError
from ._secrets import (
    CLIENT_KEY_PASSWORD,
    DPOP_KEY_PASSWORD,
    PRIVATE_KEY_PASSWORD,
    Secret,
    read_secret,
)

__all__ = [
    "AUTH_METHODS",
    "MAX_FILE_BYTES",
    "auth_method",
    "check_signed_options",
    "client_assertion",
    "client_options",
    "private_key",
    "uses_client_secret",
]

AUTH_METHODS: Final = {
    "basic": "client_secret_basic",
    "post": "client_secret_post",
    "client_secret_basic": "client_secret_basic",
    "client_secret_post": "client_secret_post",
    "client_secret_jwt": "client_secret_jwt",
    "private_key_jwt": "private_key_jwt",
    "tls_client_auth": "tls_client_auth",
    "self_signed_tls_client_auth": "self_signed_tls_client_auth",
}
"""``--auth`` values and the method each names (``basic`` and ``post`` are
the short names the command line had first)."""
_SECRET_METHODS: Final = frozenset(
    {"client_secret_basic", "client_secret_post", "client_secret_jwt"}
)
_TLS_METHODS: Final = frozenset({"tls_client_auth", "self_signed_tls_client_auth"})
MAX_FILE_BYTES: Final = 1024 * 1024
"""The largest key or certificate file read: a PEM chain is kilobytes."""
_FLAGS: Final = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)
_JWT: Final = re.compile(r"eyJ[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*")


def auth_method(options: Any) -> str | None:
    """The client authentication method the options ask for: ``--auth``,
    else ``private_key_jwt`` when a key or an assertion file is given, else
    None (the flow's default, ``client_secret_post``)."""
    if options.auth is not None:
        return AUTH_METHODS[options.auth]
    if options.private_key_file is not None or options.client_assertion_file:
        return "private_key_jwt"
    return None


def uses_client_secret(options: Any) -> bool:
    """Whether the method sends or signs with the client secret."""
    method = auth_method(options)
    return method is None or method in _SECRET_METHODS


def check_signed_options(options: Any) -> None:
    """Refuse options that do not go together, naming them.

    Raises:
      UsageError: a key with a method that signs nothing, a method without
        what it needs, two sources of one thing.
    """
    method = auth_method(options)
    for option, value in (
        ("--private-key-file", options.private_key_file),
        ("--client-assertion-file", options.client_assertion_file),
        ("--client-cert", options.client_cert_file),
        ("--client-key", options.client_key_file),
        ("--dpop-key-file", options.dpop_key_file),
    ):
        if value is not None:
            _check_path(option, value)
    if options.private_key_file is not None and options.client_assertion_file:
        raise UsageError("give --private-key-file or --client-assertion-file, not both")
    key_source = options.private_key_file or options.client_assertion_file
    if key_source is not None and method != "private_key_jwt":
        which = (
            "--private-key-file"
            if options.private_key_file is not None
            else "--client-assertion-file"
        )
        raise UsageError(f"{which} needs --auth private_key_jwt")
    if method == "private_key_jwt" and key_source is None:
        raise UsageError(
            "--auth private_key_jwt needs --private-key-file or --client-assertion-file"
        )
    for option, value in (
        ("--key-id", options.key_id),
        ("--algorithm", options.algorithm),
    ):
        if value is not None and options.private_key_file is None:
            raise UsageError(f"{option} needs --private-key-file")
    if options.assertion_audience is not None and not (
        method == "client_secret_jwt" or options.private_key_file is not None
    ):
        # An assertion file's audience is whoever made it: only the
        # assertions signed here have one to set.
        raise UsageError(
            "--assertion-audience needs --auth client_secret_jwt or --private-key-file"
        )
    if method in _TLS_METHODS and options.client_cert_file is None:
        raise UsageError(f"--auth {method} needs --client-cert")
    if options.client_key_file is not None and options.client_cert_file is None:
        raise UsageError("--client-key needs --client-cert")
    if options.dpop and options.dpop_key_file is not None:
        raise UsageError("give --dpop or --dpop-key-file, not both")
    if method not in (None, "client_secret_post") and options.client_id is None:
        raise UsageError(f"--auth {method} needs --client-id")


def _check_path(option: str, value: str) -> None:
    # What was given is not repeated: it may be the secret itself.
    what = None
    if "-----BEGIN" in value or "PRIVATE KEY" in value:
        what = "a PEM"
    elif _JWT.fullmatch(value.strip()):
        what = "a JWT"
    elif "\n" in value or "\r" in value or len(value) > 4096:
        what = "file content"
    if what is not None:
        raise UsageError(
            f"{option} takes the path of a file; what was given looks like "
            f"{what}, and the command line is visible to every user of the "
            "machine: put it in a file (mode 0600) and give its path"
        )
    if not value:
        raise UsageError(f"{option} needs a path")


def read_file(option: str, path: str) -> bytes:
    """The bytes of the regular file at *path*, read without blocking.

    Raises:
      UsageError: naming *option* and *path*, never the content: missing,
        unreadable, not a regular file (a FIFO would hang a read), or larger
        than :data:`MAX_FILE_BYTES`.
    """
    try:
        fd = os.open(path, _FLAGS)
    except OSError as exc:
        raise UsageError(
            f"{option} {path!r}: {exc.strerror or type(exc).__name__}"
        ) from None
    try:
        status = os.fstat(fd)
        if not stat.S_ISREG(status.st_mode):
            raise UsageError(f"{option} {path!r} is not a regular file")
        if status.st_size > MAX_FILE_BYTES:
            raise UsageError(f"{option} {path!r} is too large for a key file")
        chunks = []
        while True:
            chunk = os.read(fd, 65536)
            if not chunk:
                break
            chunks.append(chunk)
            if sum(map(len, chunks)) > MAX_FILE_BYTES:
                raise UsageError(f"{option} {path!r} is too large for a key file")
        return b"".join(chunks)
    except OSError as exc:
        raise UsageError(
            f"{option} {path!r}: {exc.strerror or type(exc).__name__}"
        ) from None
    finally:
        os.close(fd)


def _encrypted(pem: bytes) -> bool:
    # PKCS #8 ("BEGIN ENCRYPTED PRIVATE KEY") and OpenSSL's traditional form
    # ("Proc-Type: 4,ENCRYPTED").
    return b"ENCRYPTED" in pem


Prompt = Callable[[str], str]


def _password(
    pem: bytes,
    secret: Secret,
    *,
    environ: Mapping[str, str],
    stdin: IO[str] | None,
    prompt: Prompt,
) -> str | None:
    if not _encrypted(pem):
        return None
    return read_secret(secret, environ=environ, stdin=stdin, prompt=prompt)


def _signing_key(
    option: str,
    path: str,
    secret: Secret,
    *,
    algorithm: str | None,
    key_id: str | None,
    environ: Mapping[str, str],
    stdin: IO[str] | None,
    prompt: Prompt,
) -> object:
    pem = read_file(option, path)
    password = _password(pem, secret, environ=environ, stdin=stdin, prompt=prompt)
    try:
        from sansio_auth._keys import load_signing_key

        return load_signing_key(
            pem,
            algorithm=algorithm,
            key_id=key_id,
            password=password,
            field=f"{option} {path!r}",
            key_id_field="--key-id",
        )
    except ImportError as exc:
        raise UsageError(f"{option}: {exc}") from None
    except (TypeError, ValueError) as exc:
        # The core's words name the field and the rule, never the key.
        message = str(exc)
        if password is None and "password" in message:
            message += f" (an encrypted key's password comes from {secret.env})"
        raise UsageError(message) from None


def private_key(
    options: Any,
    *,
    environ: Mapping[str, str],
    stdin: IO[str] | None,
    prompt: Prompt,
) -> object:
    """The ``private_key_jwt`` key of ``--private-key-file`` (with
    ``--algorithm`` and ``--key-id``), loaded: a ``SigningKey``.

    Raises:
      UsageError: the file cannot be read or is not a key that fits.
    """
    return _signing_key(
        "--private-key-file",
        options.private_key_file,
        PRIVATE_KEY_PASSWORD,
        algorithm=options.algorithm,
        key_id=options.key_id,
        environ=environ,
        stdin=stdin,
        prompt=prompt,
    )


def client_assertion(options: Any) -> Callable[[], str]:
    """An ``AssertionFile`` of ``--client-assertion-file``, read once now so
    that a file that cannot serve is a usage error before any request."""
    from ..assertions import AssertionFile

    source = AssertionFile(options.client_assertion_file)
    try:
        source()
    except ValueError as exc:
        raise UsageError(f"--client-assertion-file: {exc}") from None
    except OSError as exc:
        raise UsageError(
            f"--client-assertion-file {source.path!r}: "
            f"{exc.strerror or type(exc).__name__}"
        ) from None
    return source


def client_options(
    options: Any,
    *,
    environ: Mapping[str, str],
    stdin: IO[str] | None,
    prompt: Prompt,
) -> dict[str, object]:
    """The TokenClient's ``dpop_key`` and ``client_cert`` for the options.

    Raises:
      UsageError: a file cannot be read, or is not a key that signs.
    """
    made: dict[str, object] = {}
    if options.dpop:
        made["dpop_key"] = True
    elif options.dpop_key_file is not None:
        key = _signing_key(
            "--dpop-key-file",
            options.dpop_key_file,
            DPOP_KEY_PASSWORD,
            algorithm=None,
            key_id=None,
            environ=environ,
            stdin=stdin,
            prompt=prompt,
        )
        from sansio_auth import DPoPKey

        made["dpop_key"] = DPoPKey(key)
    if options.client_cert_file is not None:
        cert = options.client_cert_file
        cert_pem = read_file("--client-cert", cert)
        key_pem, holder = cert_pem, "--client-cert"
        if options.client_key_file is not None:
            holder = "--client-key"
            key_pem = read_file(holder, options.client_key_file)
        if b"PRIVATE KEY" not in key_pem:
            raise UsageError(
                f"{holder} holds no private key: give the certificate's key in "
                "the same file or with --client-key"
            )
        password = _password(
            key_pem, CLIENT_KEY_PASSWORD, environ=environ, stdin=stdin, prompt=prompt
        )
        # Always a password (empty when the key is not encrypted): without
        # one, OpenSSL would ask for it on the terminal itself.
        made["client_cert"] = (cert, options.client_key_file or cert, password or "")
    return made


def loose_key_files(options: Any) -> list[str]:
    """A warning for each private key file that others than its owner may
    read (mode ``& 0o077``), as ssh warns: the key is to be taken as known.
    A warning, not a refusal: a Kubernetes secret volume is 0644 unless its
    ``defaultMode`` says otherwise, and the pod is its only reader."""
    files = [
        ("--private-key-file", options.private_key_file),
        ("--dpop-key-file", options.dpop_key_file),
        ("--client-key", options.client_key_file),
    ]
    if options.client_key_file is None:
        files.append(("--client-cert", options.client_cert_file))  # its key too
    found = []
    for option, path in files:
        if path is None:
            continue
        try:
            mode = os.stat(path).st_mode
        except OSError:
            continue  # read_file has said why already
        if stat.S_ISREG(mode) and mode & 0o077:
            found.append(
                f"warning: {option} {path!r} can be read by others than its "
                f"owner (mode {stat.S_IMODE(mode):04o}): a private key is "
                "kept 0600"
            )
    return found
