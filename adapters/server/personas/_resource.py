"""A protected resource (RFC 6750, RFC 9449 §7): ``GET``, ``POST`` or ``PUT
/api/resource``.

A request with a token this server issued, not revoked and not expired, is
answered 200 with who the token was issued to, by which endpoint, and what
came (method, body length). Otherwise 401 with a challenge (RFC 6750 §3):
``Bearer`` without an error code when the request has no token at all
(§3.1: no ``Authorization``, or another scheme), and ``error="invalid_token"``
with an ``error_description`` saying which when the token is not one of ours,
was revoked, or has expired.

A token issued for resources (RFC 8707: its ``aud`` the ``resource`` values
of its request, and a token exchange's ``audience`` values) is taken only if
this resource's URL is among them, as a resource server checks that ``aud``
names it (RFC 8707 §2, RFC 9068 §4): a client that asks for the wrong
resource gets a token refused here, as it would be at the real resource
(``invalid_token``, recorded as ``aud``). A token without ``aud`` is taken.

A token bound to a DPoP key (``cnf.jkt``) is taken only as ``Authorization:
DPoP <token>`` with a proof of that key for this request (RFC 9449 §7.1:
``htm``, ``htu``, ``ath`` the token's hash, see ``.._dpop``); sent as a
bearer token it is refused (§7.2), as is an unbound token sent with the DPoP
scheme. A bad proof gets ``DPoP error="invalid_dpop_proof"``; when the server
wants nonces, a proof without the current one gets ``DPoP
error="use_dpop_nonce"`` and a ``DPoP-Nonce`` header (§9), and every DPoP
answer carries the nonce. A token bound to a certificate (``cnf``
``x5t#S256``) is taken only on a connection carrying that certificate
(RFC 8705 §3). Each refusal of a bound token is recorded in the guard.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from types import MappingProxyType
from typing import Final

from .. import _clients, _dpop
from .._jose import ASYMMETRIC, Invalid
from ._base import REALM, Answer, Context, Persona, RecordedRequest, Route, json_answer

__all__ = ["DESCRIPTIONS", "METHODS", "PATH", "PERSONA"]

PATH: Final = "/api/resource"
"""The resource's path."""
METHODS: Final = ("GET", "POST", "PUT")
"""The methods it answers."""
DESCRIPTIONS: Final = MappingProxyType(
    {
        "unknown": "the access token was not issued here",
        "revoked": "the access token was revoked",
        "expired": "the access token has expired",
        "aud": "the access token's aud does not name this resource",
    }
)
"""The ``error_description`` of each refusal of a bearer token."""


def _credentials(request: RecordedRequest) -> tuple[str, str]:
    """The request's scheme (``bearer`` or ``dpop``) and token, or two empty
    strings if it has none."""
    scheme, _, token = (request.header("Authorization") or "").partition(" ")
    scheme = scheme.lower()
    if scheme not in ("bearer", "dpop") or not token.strip():
        return "", ""
    return scheme, token.strip()


def _refusal(
    scheme: str, error: str, description: str, *extra: tuple[str, str]
) -> Answer:
    if scheme == "dpop":
        algs = " ".join(ASYMMETRIC)
        challenge = (
            f'DPoP error="{error}", error_description="{description}", algs="{algs}"'
        )
    else:
        challenge = (
            f'Bearer realm="{REALM}", error="{error}", '
            f'error_description="{description}"'
        )
    return json_answer(
        401,
        {"error": error, "error_description": description},
        ("WWW-Authenticate", challenge),
        *extra,
    )


def _audience(context: Context, claims: Mapping[str, object]) -> bool:
    """Whether a token of *claims* is for this resource: it has no ``aud``
    (it was issued for no resource in particular), or one of its ``aud``
    values is a URL of this resource: :attr:`TokenServer.resource_url`, or
    a base URI of it on a path boundary (RFC 8707 §2 recommends the base
    URI of the API: ``https://host/`` or ``https://host/api`` name
    ``https://host/api/resource``), under any name that reaches this server
    (``localhost`` for ``127.0.0.1``), with its port. A logical audience
    (``orders-api``) names no resource of this server."""
    aud = claims.get("aud")
    if aud is None:
        return True
    values = [aud] if isinstance(aud, str) else aud
    if not isinstance(values, list):
        return False
    for value in values:
        path = _dpop.own_path(context.issuer, value) if isinstance(value, str) else None
        if path is not None and (
            path == PATH
            or (path.endswith("/") and PATH.startswith(path))
            or PATH.startswith(f"{path}/")
        ):
            return True
    return False


def _binding(
    context: Context,
    request: RecordedRequest,
    scheme: str,
    token: str,
    claims: Mapping[str, object],
) -> Answer | None:
    """The refusal of a bound token not presented as its binding says, or
    None when it is."""
    cnf = claims.get("cnf")
    cnf = cnf if isinstance(cnf, dict) else {}
    jkt = cnf.get("jkt")
    guard = context.guard
    if (scheme == "dpop") != (jkt is not None):
        guard.reject("resource", "access_token", "scheme")
        if scheme == "dpop":
            return _refusal(
                scheme, "invalid_token", "the access token is not DPoP-bound"
            )
        return _refusal(
            scheme, "invalid_token", "a DPoP-bound token needs the DPoP scheme"
        )
    if scheme == "dpop":
        url = _dpop.request_url(context.issuer, request.header("Host"), request.path)
        try:
            proof = _dpop.check(
                request.headers,
                method=request.method,
                url=url,
                now=time.time(),
                guard=guard,
                access_token=token,
            )
            if proof.jkt != jkt:
                raise Invalid("jkt", "the DPoP proof's key is not the token's")
        except _dpop.NonceNeeded as needed:
            guard.reject("resource", "dpop_proof", needed.reason)
            guard.count_challenge()
            nonce = ("DPoP-Nonce", guard.nonce)
            return _refusal(scheme, "use_dpop_nonce", needed.description, nonce)
        except Invalid as invalid:
            guard.reject("resource", "dpop_proof", invalid.reason)
            return _refusal(scheme, "invalid_dpop_proof", invalid.description)
    x5t = cnf.get("x5t#S256")
    if x5t is not None and (
        request.client_cert is None or _clients.thumbprint(request.client_cert) != x5t
    ):
        guard.reject("resource", "access_token", "certificate")
        return _refusal(
            scheme,
            "invalid_token",
            "the access token is bound to a certificate this connection lacks",
        )
    return None


def _resource(context: Context, request: RecordedRequest) -> Answer:
    scheme, token = _credentials(request)
    if not token:
        return json_answer(
            401,
            {
                "error": "unauthorized",
                "error_description": "a bearer token is required",
            },
            ("WWW-Authenticate", f'Bearer realm="{REALM}"'),
        )
    checked = context.check(token)
    if isinstance(checked, str):
        return _refusal(scheme, "invalid_token", DESCRIPTIONS[checked])
    if not _audience(context, checked):
        context.guard.reject("resource", "access_token", "aud")
        return _refusal(scheme, "invalid_token", DESCRIPTIONS["aud"])
    refused = _binding(context, request, scheme, token, checked)
    if refused is not None:
        return refused
    extra: tuple[tuple[str, str], ...] = ()
    if scheme == "dpop" and context.guard.dpop_nonce:
        extra = (("DPoP-Nonce", context.guard.nonce),)
    return json_answer(
        200,
        {
            "subject": checked.get("sub"),
            "endpoint": checked.get("endpoint"),
            "method": request.method,
            "body_bytes": len(request.body),
        },
        *extra,
    )


def _summary(url: str) -> str:
    return f"{'|'.join(METHODS)} {url}{PATH}"


PERSONA: Final = Persona(
    name="resource",
    summary=_summary,
    routes=(
        Route(
            endpoint="resource",
            paths=frozenset({PATH}),
            answer=_resource,
            methods=METHODS,
            issues_tokens=False,
        ),
    ),
)
