"""A local token server on loopback that plays each vendor, for tests and demos.

:class:`TokenServer` is a real HTTP/1.1 server (``http.server``, one thread
per connection) that answers the way the vendors' documents say their token
endpoints do, and checks requests as strictly as they would:

=============================================  ===================================
path                                           plays
=============================================  ===================================
``POST /smartway/api/v1/auth/token``           SmartWay: ``X-API-Key`` for a JWT
                                               with ``companyId`` and ``hrEmail``
``POST /smartconnect/{REGION}/token``          SmartConnect: the password grant,
                                               ``token_type: "bearer"``, no
                                               ``expires_in``
``POST /teamsystem/api/v1/auth/token``         TeamSystem: the multipart request
``POST /teamsystem/oauth/token``               TeamSystem: the JSON refresh, with
                                               rotating refresh tokens
``POST /smartdocumentor/connect/token``        SmartDocumentor: client
                                               credentials, ``scope=WebAPI``
``POST /oauth/token``                          a generic RFC 6749 endpoint
``GET|POST|PUT /api/resource``                 a protected resource (RFC 6750)
=============================================  ===================================

Access tokens are real JWTs signed with HS256 (RFC 7519, RFC 7518 §3.2) under
a key made for each server; :meth:`TokenServer.verify` and the resource
endpoint check them, and :meth:`TokenServer.revoke` withdraws one. The
resource answers a request without a bearer token with 401 and a bare
``Bearer`` challenge, and an unknown, expired or revoked token with 401 and
``error="invalid_token"`` saying which: a client's 401 path, end to end.

The token endpoints' errors follow RFC 6749 §5.2: a JSON ``error`` member,
400, or 401 for ``invalid_client`` when the client authenticated with HTTP
Basic (with ``WWW-Authenticate``). Token answers carry ``Cache-Control:
no-store`` (§5.1).

The generic endpoint also verifies, strictly and with its own code (not the
client's), what machine-to-machine clients send today: JWT client
authentication (``private_key_jwt``, ``client_secret_jwt``, RFC 7523 §2.2),
mutual TLS (``tls_client_auth``, ``self_signed_tls_client_auth``, RFC 8705)
with certificate-bound tokens, the JWT bearer grant (RFC 7523 §2.1), token
exchange (RFC 8693), resource indicators (RFC 8707) and DPoP (RFC 9449, with
nonces if asked), and the resource takes DPoP- and certificate-bound tokens
only as their binding says. Clients and issuers with keys and certificates
are registered in :class:`Credentials` (:class:`RegisteredClient`,
:class:`TrustedIssuer`); every refusal is recorded as a :class:`Rejection`.
Checking signatures needs ``cryptography`` (the ``jwt`` extra), imported
only when a key is registered or a signed request comes.

Every request is recorded (:attr:`TokenServer.requests`) before it is
answered, and the answer can be made to fail the ways networks and gateways
do: latency, the next N answered 503 or 429 with ``Retry-After`` (or any
4xx or 5xx, with extra headers, at one endpoint only if asked), a reset in
the middle of the body, or no answer at all until the server stops.

This package does I/O, so it lives in the adapters, never in the core, and
needs nothing beyond the core's own dependency (``attrs``). Its parts:
``_http`` (the ``http.server`` plumbing), ``_faults`` (the fault queue),
``_minting`` and ``_jwt`` (tokens), ``_request`` (reading bodies, the
record), ``_context`` (what a persona sees), ``_clients`` (registrations),
``_client_auth`` (client authentication), ``_grants`` (the JWT bearer grant,
token exchange, resource indicators), ``_jose``, ``_signatures``,
``_assertions``, ``_dpop`` and ``_mtls`` (the checks of signed requests and
certificates), ``_guard`` (used ids, the nonce, the records),
``_token_server`` (:class:`TokenServer`, which composes them),
``_cli`` (the foreground server), and ``personas/``: one module for each
endpoint family above, routed to through the table in
``personas/__init__.py``.
"""

from __future__ import annotations

import types as _types

from ._cli import describe as describe
from ._cli import main as main
from ._cli import serve_forever as serve_forever
from ._clients import RegisteredClient as RegisteredClient
from ._clients import TrustedIssuer as TrustedIssuer
from ._credentials import Credentials as Credentials
from ._guard import Rejection as Rejection
from ._request import RecordedRequest as RecordedRequest
from ._token_server import TokenServer as TokenServer
from .personas import ENDPOINTS as ENDPOINTS
from .personas._smartconnect import SMARTCONNECT_REGIONS as SMARTCONNECT_REGIONS
from .personas._smartway import SMARTWAY_SCOPE as SMARTWAY_SCOPE

__all__ = [
    "ENDPOINTS",
    "SMARTCONNECT_REGIONS",
    "SMARTWAY_SCOPE",
    "Credentials",
    "RecordedRequest",
    "RegisteredClient",
    "Rejection",
    "TokenServer",
    "TrustedIssuer",
    "describe",
    "main",
    "serve_forever",
]

# Reprs, tracebacks and pickles name the public home of each object, not the
# private module it happens to live in (as the core does).
for _name in __all__:
    _obj = globals()[_name]
    if isinstance(_obj, type | _types.FunctionType):
        _obj.__module__ = __name__
del _name, _obj
