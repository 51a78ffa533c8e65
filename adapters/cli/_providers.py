"""``--provider``: each provider's options, secrets and flow."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import IO, Any, Final, Literal

import attrs

from sansio_auth import ClientCredentials, Flow, PasswordGrant
from sansio_auth.providers import smartconnect, smartdocumentor, smartway, teamsystem

from ._exits import UsageError
from ._secrets import (
    API_KEY,
    CLIENT_SECRET,
    PASSWORD,
    TEAMSYSTEM_TOKEN,
    Secret,
    read_secret,
)
from ._signed import (
    auth_method,
    check_signed_options,
    client_assertion,
    private_key,
    uses_client_secret,
)

__all__ = [
    "OPTION_NAMES",
    "PROVIDERS",
    "SIGNED_OPTIONS",
    "Options",
    "Provider",
    "build_flow",
]


def _resources(value: Iterable[str] | None) -> tuple[str, ...] | None:
    return None if value is None else tuple(value)


@attrs.frozen(kw_only=True)
class Options:
    """The non-secret options of ``token`` (None: not given)."""

    region: str | None = None
    username: str | None = None
    client_id: str | None = None
    scope: str | None = None
    token_url: str | None = None
    base_url: str | None = None
    auth: str | None = None
    """An ``--auth`` value (``AUTH_METHODS``)."""
    language: str | None = None
    private_key_file: str | None = None
    key_id: str | None = None
    algorithm: str | None = None
    client_assertion_file: str | None = None
    client_cert_file: str | None = attrs.field(
        default=None, metadata={"option": "--client-cert"}
    )
    client_key_file: str | None = attrs.field(
        default=None, metadata={"option": "--client-key"}
    )
    resource: tuple[str, ...] | None = attrs.field(default=None, converter=_resources)
    assertion_audience: str | None = None
    dpop: Literal[True] | None = None
    dpop_key_file: str | None = None


OPTION_NAMES: Final = {
    field.name: field.metadata.get("option", "--" + field.name.replace("_", "-"))
    for field in attrs.fields(Options)
}
SIGNED_OPTIONS: Final = (
    "private_key_file",
    "key_id",
    "algorithm",
    "client_assertion_file",
    "client_cert_file",
    "client_key_file",
    "resource",
    "assertion_audience",
    "dpop",
    "dpop_key_file",
)
"""The options of signed requests and bound tokens, which the generic flows
take (``_signed.py``)."""

Secrets = Mapping[Secret, Any]
"""The secrets read for a flow: strings, and the loaded signing key
(:data:`SIGNING_KEY`) or assertion file (:data:`CLIENT_ASSERTION`)."""
SIGNING_KEY: Final = Secret(env="", what="--private-key-file key")
"""Where ``build_flow`` puts the loaded ``--private-key-file`` key."""
CLIENT_ASSERTION: Final = Secret(env="", what="--client-assertion-file")
"""Where it puts the ``AssertionFile`` of ``--client-assertion-file``."""


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


def _auth(options: Options, secrets: Secrets) -> dict[str, object]:
    # The client arguments of a generic flow: the method, and what it
    # signs with (the key or assertion file the command line read).
    method = auth_method(options)
    made: dict[str, object] = {} if method is None else {"auth": method}
    if uses_client_secret(options):
        made["client_secret"] = secrets.get(CLIENT_SECRET)
    signing = secrets.get(SIGNING_KEY)
    if signing is not None:
        made["private_key"] = signing
    if options.client_assertion_file is not None:
        made["client_assertion"] = secrets[CLIENT_ASSERTION]
    if options.assertion_audience is not None:
        made["assertion_audience"] = options.assertion_audience
    if options.resource is not None:
        made["resource"] = options.resource
    return made


def _client_credentials(options: Options, secrets: Secrets) -> Flow:
    return ClientCredentials(
        token_url=_need(options, "token_url"),
        client_id=_need(options, "client_id"),
        scope=options.scope or (),
        **_auth(options, secrets),  # type: ignore[arg-type]
    )


def _password(options: Options, secrets: Secrets) -> Flow:
    return PasswordGrant(
        token_url=_need(options, "token_url"),
        username=_need(options, "username"),
        password=secrets[PASSWORD],
        client_id=options.client_id,
        scope=options.scope or (),
        **_auth(options, secrets),  # type: ignore[arg-type]
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
    signed: bool = False
    """Whether it takes every ``--auth`` method and the options of signed
    requests (:data:`SIGNED_OPTIONS`); the client secret is then read only
    for a method that uses it."""
    build: Callable[[Options, Secrets], Flow]

    def check(self, options: Options) -> None:
        """Refuse a missing option or one this provider does not take."""
        missing = [n for n in self.required if getattr(options, n) is None]
        if missing:
            names = ", ".join(OPTION_NAMES[n] for n in missing)
            raise UsageError(f"--provider {self.name} needs {names}")
        taken = set(self.required) | set(self.optional)
        if self.signed:
            taken |= set(SIGNED_OPTIONS)
        for name in OPTION_NAMES:
            if getattr(options, name) is not None and name not in taken:
                raise UsageError(
                    f"{OPTION_NAMES[name]} does not apply to --provider {self.name}"
                )
        if self.signed:
            check_signed_options(options)

    def needed(self, options: Options) -> tuple[tuple[Secret, ...], tuple[Secret, ...]]:
        """The secrets it reads for *options*: (required, used when set)."""
        if not self.signed or uses_client_secret(options):
            return self.secrets, self.optional_secrets
        # A method that neither sends nor signs with a secret: none is read,
        # whatever the environment holds.
        return (
            tuple(s for s in self.secrets if s != CLIENT_SECRET),
            tuple(s for s in self.optional_secrets if s != CLIENT_SECRET),
        )

    def usage(self) -> str:
        """One line for ``--help``."""
        opts = [OPTION_NAMES[n] for n in self.required]
        opts += [f"[{OPTION_NAMES[n]}]" for n in self.optional]
        if self.signed:
            opts.append("[signed-request options]")
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
            signed=True,
            summary="any RFC 6749 client credentials endpoint",
            required=("token_url", "client_id"),
            optional=("scope", "auth"),
            secrets=(CLIENT_SECRET,),
            build=_client_credentials,
        ),
        Provider(
            name="password",
            signed=True,
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
    required, optional = provider.needed(options)
    secrets: dict[Secret, object] = {
        s: read_secret(s, environ=environ, stdin=stdin, prompt=prompt) for s in required
    }
    for s in optional:
        if environ.get(s.env):
            secrets[s] = environ[s.env]
    if options.private_key_file is not None:
        secrets[SIGNING_KEY] = private_key(
            options, environ=environ, stdin=stdin, prompt=prompt
        )
    if options.client_assertion_file is not None:
        secrets[CLIENT_ASSERTION] = client_assertion(options)
    try:
        return provider.build(options, secrets)
    except ValueError as exc:
        # Not masked: the library's messages name the field and the rule and
        # never interpolate a credential, by construction.
        raise UsageError(str(exc)) from None
