"""``--provider``: each provider's options, secrets and flow."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import IO, Final, Literal

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

__all__ = ["OPTION_NAMES", "PROVIDERS", "Options", "Provider", "build_flow"]


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
OPTION_NAMES: Final = {
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
            names = ", ".join(OPTION_NAMES[n] for n in missing)
            raise UsageError(f"--provider {self.name} needs {names}")
        taken = set(self.required) | set(self.optional)
        for name in OPTION_NAMES:
            if getattr(options, name) is not None and name not in taken:
                raise UsageError(
                    f"{OPTION_NAMES[name]} does not apply to --provider {self.name}"
                )

    def usage(self) -> str:
        """One line for ``--help``."""
        opts = [OPTION_NAMES[n] for n in self.required]
        opts += [f"[{OPTION_NAMES[n]}]" for n in self.optional]
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
