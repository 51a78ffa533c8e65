"""The vendors the token server plays, one module each, and the table that
routes requests to them.

Each module mirrors its namesake in ``sansio_auth/providers/`` and holds one
:class:`~._base.Persona`, named ``PERSONA``: its routes (endpoint name,
method, paths, answering function) and its line in ``describe``. A persona
sees the server only through :class:`~._base.Context`.

To play another vendor: write ``_<vendor>.py`` with its ``PERSONA`` (see
``_smartdocumentor.py`` for a small one), then add it to :data:`PERSONAS`
below. Routing, :data:`ENDPOINTS`, ``token_requests`` and ``describe`` follow
from the table.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Mapping
from types import MappingProxyType
from typing import Final

from . import (
    _generic,
    _resource,
    _smartconnect,
    _smartdocumentor,
    _smartway,
    _teamsystem,
)
from ._base import (
    Answer,
    Context,
    Persona,
    RecordedRequest,
    Refused,
    Route,
    json_answer,
)

__all__ = [
    "ENDPOINTS",
    "PERSONAS",
    "TOKEN_ENDPOINTS",
    "Context",
    "Persona",
    "Route",
    "check_endpoint",
    "dispatch",
    "find_route",
]

PERSONAS: Final = (
    _smartway.PERSONA,
    _smartconnect.PERSONA,
    _teamsystem.PERSONA,
    _smartdocumentor.PERSONA,
    _generic.PERSONA,
    _resource.PERSONA,
)
"""Every persona, in the order ``describe`` lists them."""


def _routes_by_path(personas: tuple[Persona, ...]) -> Mapping[str, Route]:
    table: dict[str, Route] = {}
    endpoints: set[str] = set()
    for persona in personas:
        for route in persona.routes:
            if route.endpoint in endpoints or route.endpoint == "unknown":
                raise ValueError(f"the endpoint name {route.endpoint} is taken")
            endpoints.add(route.endpoint)
            for path in route.paths:
                if path in table:
                    raise ValueError(f"two routes answer the path {path}")
                table[path] = route
    return MappingProxyType(table)


_BY_PATH: Final = _routes_by_path(PERSONAS)

ENDPOINTS: Final = tuple(
    route.endpoint for persona in PERSONAS for route in persona.routes
)
"""The names :attr:`RecordedRequest.endpoint` takes (``"unknown"`` otherwise)."""
TOKEN_ENDPOINTS: Final = frozenset(
    route.endpoint
    for persona in PERSONAS
    for route in persona.routes
    if route.issues_tokens
)
"""The endpoints that issue tokens."""


def find_route(target: str) -> Route | None:
    """The route that answers the request target *target*, or None."""
    return _BY_PATH.get(urllib.parse.urlsplit(target).path)


def check_endpoint(endpoint: str) -> None:
    """Refuse a name that is not one of :data:`ENDPOINTS`.

    Raises:
      ValueError: naming the valid ones.
    """
    if endpoint not in ENDPOINTS:
        raise ValueError(
            f"endpoint must be one of {', '.join(ENDPOINTS)}, got {endpoint!r}"
        )


def dispatch(route: Route | None, context: Context, request: RecordedRequest) -> Answer:
    """*route*'s answer to *request*: 404 without a route, 405 for a method
    it does not allow (``Allow`` lists those it does, RFC 9110 §15.5.6), an
    RFC 6749 §5.2 error when the endpoint refuses, and 500 ``server_error``
    naming the extra to install when checking the request needs a package
    that is not installed (``cryptography`` for a signature)."""
    if route is None:
        return json_answer(404, {"error": "not_found", "path": request.path})
    if request.method not in route.methods:
        allowed = ", ".join(route.methods)
        return json_answer(
            405,
            {"error": "method_not_allowed", "allowed": allowed},
            ("Allow", allowed),
        )
    try:
        return route.answer(context, request)
    except Refused as refused:
        return refused.answer
    except ImportError as missing:  # the message names the extra (_extras)
        return json_answer(
            500, {"error": "server_error", "error_description": str(missing)}
        )
