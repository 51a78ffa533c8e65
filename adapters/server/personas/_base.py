"""What a persona is, and all it may use of the server.

A :class:`Persona` is a vendor (or the generic RFC 6749 server, or the
protected resource) as the server plays it: a name, a line for
:func:`~sansio_auth.adapters.server.describe`, and its :class:`Route` s. A
route answers one endpoint: its methods, the paths it answers, and a function
of a :class:`Context` and the :class:`RecordedRequest` that returns an
:class:`Answer` or raises :class:`Refused`.

The :class:`Context` is the persona's whole view of the server: the accepted
credentials, the token lifetimes, the minting of access and refresh tokens,
and the checking of access tokens. Everything else a persona needs (reading
bodies, building answers, comparing secrets) is re-exported here, so that a
persona imports from this module alone.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TypeAlias, final

import attrs

from .._answers import REALM, Answer, Refused, json_answer, token_answer
from .._credentials import Credentials, same
from .._minting import Grant, Minter, Problem
from .._request import (
    RecordedRequest,
    form_fields,
    media_type,
    multipart_pairs,
    require,
    single,
)

__all__ = [
    "REALM",
    "Answer",
    "Answerer",
    "Context",
    "Credentials",
    "Grant",
    "Persona",
    "Problem",
    "RecordedRequest",
    "Refused",
    "Route",
    "form_fields",
    "json_answer",
    "media_type",
    "multipart_pairs",
    "require",
    "same",
    "single",
    "token_answer",
]


@final
@attrs.frozen(kw_only=True)
class Context:
    """The server as a persona sees it while answering one request."""

    credentials: Credentials
    """The credentials the server accepts."""
    token_lifetime: int
    """Seconds the access tokens live (``expires_in``), SmartWay's aside."""
    smartway_lifetime: int
    """Seconds SmartWay's access tokens live."""
    issuer: str
    """The server's URL, the ``iss`` of its tokens."""
    _minter: Minter

    def issue(
        self, endpoint: str, subject: str, lifetime: int, **claims: object
    ) -> str:
        """A signed access token issued by *endpoint* to *subject*, valid
        *lifetime* seconds, with *claims* added to the standard ones."""
        return self._minter.issue(
            issuer=self.issuer,
            endpoint=endpoint,
            subject=subject,
            lifetime=lifetime,
            claims=claims,
        )

    def check(self, token: str) -> Mapping[str, object] | Problem:
        """The claims of *token* if this server issued it and it is neither
        revoked nor expired; otherwise why not (``"unknown"``, ``"revoked"``,
        ``"expired"``)."""
        return self._minter.check(token)

    def new_refresh_token(
        self,
        *,
        family: str,
        client_id: str | None,
        subject: str,
        scope: str | None,
        chain: str | None = None,
    ) -> str:
        """A new refresh token that only *family*'s endpoint takes, rotated
        from one of *chain* (a new grant if None)."""
        return self._minter.new_refresh_token(
            family=family,
            client_id=client_id,
            subject=subject,
            scope=scope,
            chain=chain,
        )

    def take_refresh_token(self, token: str, family: str) -> Grant | None:
        """The grant of *token*, revoked now that it is used (rotation); None
        if it is unknown, used, expired or of another family. A used one
        sent again revokes its whole chain."""
        return self._minter.take_refresh_token(token, family)


Answerer: TypeAlias = Callable[[Context, RecordedRequest], Answer]
"""An endpoint: the answer to a request, or :class:`Refused` raised."""


@final
@attrs.frozen(kw_only=True)
class Route:
    """One endpoint of a persona."""

    endpoint: str
    """Its name in :attr:`RecordedRequest.endpoint`."""
    paths: frozenset[str]
    """The request paths it answers (exactly, without the query)."""
    answer: Answerer
    """What answers it."""
    methods: tuple[str, ...] = attrs.field(
        default=("POST",), validator=attrs.validators.min_len(1)
    )
    """The methods it allows, in the order ``Allow`` lists them (405 for any
    other)."""
    issues_tokens: bool = True
    """Whether it is a token endpoint (see ``TokenServer.token_requests``)."""


@final
@attrs.frozen(kw_only=True)
class Persona:
    """A vendor, or another server, as the token server plays it."""

    name: str
    """Its name in :func:`~sansio_auth.adapters.server.describe`."""
    summary: Callable[[str], str]
    """Where it is, given the server's URL, for ``describe``."""
    routes: tuple[Route, ...]
    """Its endpoints."""
