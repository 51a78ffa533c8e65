"""What a persona is, and all it may use of the server.

A :class:`Persona` is a vendor (or the generic RFC 6749 server, or the
protected resource) as the server plays it: a name, a line for
:func:`~sansio_auth.adapters.server.describe`, and its :class:`Route` s. A
route answers one endpoint: its methods, the paths it answers, and a function
of a :class:`Context` and the :class:`RecordedRequest` that returns an
:class:`Answer` or raises :class:`Refused`.

The :class:`Context` (in ``.._context``) is the persona's whole view of the
server: the accepted credentials, the token lifetimes, the minting of access
and refresh tokens, the checking of access tokens, and the guard of signed
requests. It and everything else a persona needs (reading bodies, building
answers, comparing secrets) is re-exported here, so that a persona imports
from this module alone.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeAlias, final

import attrs

from .._answers import REALM, Answer, Refused, json_answer, token_answer
from .._context import Context
from .._credentials import Credentials, same
from .._minting import Grant, Problem
from .._request import (
    RecordedRequest,
    form_fields,
    form_pairs,
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
    "form_pairs",
    "json_answer",
    "media_type",
    "multipart_pairs",
    "require",
    "same",
    "single",
    "token_answer",
]


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
