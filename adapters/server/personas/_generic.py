"""A generic RFC 6749 token endpoint: ``POST /oauth/token``.

Grants: ``client_credentials``, ``password`` and ``refresh_token`` (§4.4,
§4.3, §6), the JWT bearer grant (RFC 7523 §2.1) and token exchange
(RFC 8693), see ``.._grants``. Refresh tokens rotate, and none is issued
for the client credentials grant (§4.4.3), the JWT bearer grant or a token
exchange.

Client authentication (``.._client_auth``): HTTP Basic or the secret in the
body (§2.3.1), a JWT assertion (``private_key_jwt``, ``client_secret_jwt``)
or a TLS client certificate (RFC 8705), one method a request. It is optional
for the JWT bearer grant and token exchange (RFC 7523 §3.1, RFC 8693 §2.1),
and checked when given. A bound subject or actor token is exchanged only by
a request that proves its binding (see ``.._grants``).

Resource indicators (RFC 8707): ``resource`` may repeat; the token's ``aud``
is the resources (a string for one, an array for several), and a refresh may
ask for some of the original grant's only (``invalid_target``).

DPoP (RFC 9449): a request with a ``DPoP`` header (a client registered with
``dpop_bound_access_tokens`` must send one) gets a token bound to the proof's
key: ``token_type`` ``DPoP`` and ``cnf.jkt``; its refresh token is bound too,
and a refresh must prove the same key. This is stricter than §5, which binds
a confidential client's refresh token to its authentication only: a client
that passes here passes there. The proof is checked before the client's
credentials, so that a nonce challenge (400 ``use_dpop_nonce`` with
``DPoP-Nonce``) does not use up a client assertion; with nonces on, every
answer carries the current one. A client that authenticated with a
certificate gets tokens bound to it (``cnf`` ``x5t#S256``, RFC 8705 §3.1).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Final, final

import attrs

from .. import _client_auth, _clients, _dpop, _grants
from .._jose import Invalid
from ._base import (
    Answer,
    Context,
    Grant,
    Persona,
    RecordedRequest,
    Refused,
    Route,
    form_pairs,
    require,
    same,
    single,
    token_answer,
)

__all__ = ["GRANT_TYPES", "PATH", "PERSONA"]

PATH: Final = "/oauth/token"
"""The token endpoint's path."""
GRANT_TYPES: Final = (
    "client_credentials",
    "password",
    "refresh_token",
    _grants.JWT_BEARER,
    _grants.TOKEN_EXCHANGE,
)
"""The grant types it takes."""
_REPEATABLE: Final = frozenset({"resource", "audience"})


@final
@attrs.frozen(kw_only=True)
class _Request:
    """A token request as read: its fields, and what it proved."""

    fields: dict[str, str]
    resources: tuple[str, ...]
    audiences: tuple[str, ...]
    client: _client_auth.Client | None
    proof: _dpop.Proof | None
    certificate: bytes | None = attrs.field(default=None, repr=False)
    """The connection's TLS client certificate (DER), if any."""


@final
@attrs.frozen(kw_only=True)
class _Outcome:
    """What a grant gives: the token's subject and claims, and whether a
    refresh token comes with it."""

    subject: str
    scope: str | None
    audience: tuple[str, ...]
    claims: Mapping[str, object] = attrs.field(factory=dict)
    refresh: bool = False
    granted: tuple[str, ...] = ()
    """The resources of the grant, which the refresh token keeps."""
    chain: str | None = None
    issued_token_type: str | None = None
    certificate: bytes | None = attrs.field(default=None, repr=False)
    """A certificate to bind the token to besides the client's."""


def _proof(context: Context, request: RecordedRequest) -> _dpop.Proof | None:
    """The request's DPoP proof, checked; None if it has none."""
    if request.header("DPoP") is None:
        return None
    url = _dpop.request_url(context.issuer, request.header("Host"), request.path)
    try:
        return _dpop.check(
            request.headers,
            method=request.method,
            url=url,
            now=time.time(),
            guard=context.guard,
        )
    except _dpop.NonceNeeded as needed:
        context.guard.reject("generic", "dpop_proof", needed.reason)
        context.guard.count_challenge()
        raise Refused(
            "use_dpop_nonce",
            needed.description,
            headers=(("DPoP-Nonce", context.guard.nonce),),
        ) from None
    except Invalid as invalid:
        raise _bad_proof(context, invalid.reason, invalid.description) from None


def _bad_proof(context: Context, reason: str, description: str) -> Refused:
    context.guard.reject("generic", "dpop_proof", reason)
    return Refused("invalid_dpop_proof", description)


def _password(context: Context, request: _Request) -> _Outcome:
    creds, fields = context.credentials, request.fields
    require(fields, "username", "password")
    if not (
        same(fields["username"], creds.generic_username)
        and same(fields["password"], creds.generic_password)
    ):
        raise Refused("invalid_grant", "the username or password is incorrect")
    return _Outcome(
        subject=fields["username"],
        scope=fields.get("scope") or None,
        audience=request.resources,
        refresh=True,
        granted=request.resources,
    )


def _check_grant(
    grant: Grant, client_id: str | None, resources: tuple[str, ...]
) -> None:
    """Refuse a refresh of *grant* by *client_id* for *resources* unless it
    is its client's, and the resources are some of the grant's."""
    if grant.client_id != client_id:
        raise Refused("invalid_grant", "the refresh token is invalid or revoked")
    if not set(resources) <= set(grant.resources):  # RFC 8707 §2.2
        raise Refused("invalid_target", "a resource the grant did not include")


def _refresh(context: Context, request: _Request) -> _Outcome:
    fields, proof = request.fields, request.proof
    require(fields, "refresh_token")
    client_id = None if request.client is None else request.client.client_id
    outstanding = context.peek_refresh_token(fields["refresh_token"])
    if outstanding is not None:
        # Checked before the token is used up: a request that may not have
        # it (no proof of its key, another client, a resource it was not
        # granted for) leaves it to its owner, as a real server does.
        if outstanding.jkt is not None:
            if proof is None:
                raise _bad_proof(context, "missing", "this refresh token needs DPoP")
            if proof.jkt != outstanding.jkt:
                raise _bad_proof(context, "jkt", "the proof's key is not the token's")
        _check_grant(outstanding, client_id, request.resources)
    grant = context.take_refresh_token(fields["refresh_token"], "generic")
    if grant is None:
        raise Refused("invalid_grant", "the refresh token is invalid or revoked")
    _check_grant(grant, client_id, request.resources)
    return _Outcome(
        subject=grant.subject,
        scope=fields.get("scope") or grant.scope,
        audience=request.resources or grant.resources,
        refresh=True,
        granted=grant.resources,
        chain=grant.chain,
    )


def _grant(context: Context, request: _Request, grant_type: str) -> _Outcome:
    fields = request.fields
    scope = fields.get("scope") or None
    if grant_type == "client_credentials":
        assert request.client is not None  # authentication is required for it
        return _Outcome(
            subject=request.client.client_id, scope=scope, audience=request.resources
        )
    if grant_type == "password":
        return _password(context, request)
    if grant_type == "refresh_token":
        return _refresh(context, request)
    if grant_type == _grants.JWT_BEARER:
        issued = _grants.jwt_bearer(context, fields, f"{context.issuer}{PATH}")
        return _Outcome(subject=issued.subject, scope=scope, audience=request.resources)
    binding = _grants.Binding(
        jkt=None if request.proof is None else request.proof.jkt,
        certificate=request.certificate,
    )
    issued = _grants.token_exchange(context, fields, binding)
    return _Outcome(
        subject=issued.subject,
        scope=scope or issued.scope,
        audience=tuple(dict.fromkeys((*request.audiences, *request.resources))),
        claims=issued.claims,
        issued_token_type=issued.issued_token_type,
        certificate=issued.certificate,
    )


def _read(context: Context, request: RecordedRequest) -> tuple[str, _Request]:
    """The grant type and the request, its client authenticated and its
    proof checked (the proof first: see the module's docstring)."""
    pairs = form_pairs(request)
    fields = single(pairs, _REPEATABLE)
    require(fields, "grant_type")
    grant_type = fields["grant_type"]
    if grant_type not in GRANT_TYPES:
        raise Refused(
            "unsupported_grant_type",
            f"the grant type {grant_type} is not supported",
        )
    resources = _grants.resources(v for name, v in pairs if name == "resource")
    proof = _proof(context, request)
    client = _client_auth.authenticate(
        context,
        request,
        fields,
        token_url=f"{context.issuer}{PATH}",
        required=grant_type not in (_grants.JWT_BEARER, _grants.TOKEN_EXCHANGE),
    )
    dpop_bound = client is not None and client.registered.dpop_bound_access_tokens
    if dpop_bound and proof is None:
        raise _bad_proof(context, "missing", "this client must send a DPoP proof")
    audiences = tuple(v for name, v in pairs if name == "audience" and v)
    return grant_type, _Request(
        fields=fields,
        resources=resources,
        audiences=audiences,
        client=client,
        proof=proof,
        certificate=request.client_cert,
    )


def _token(context: Context, request: RecordedRequest) -> Answer:
    grant_type, read = _read(context, request)
    outcome = _grant(context, read, grant_type)
    client_id = None if read.client is None else read.client.client_id
    jkt = None if read.proof is None else read.proof.jkt
    claims = dict(outcome.claims)
    if client_id is not None:
        claims["client_id"] = client_id
    if outcome.scope is not None:
        claims["scope"] = outcome.scope
    if outcome.audience:  # one a string, several an array (RFC 7519 §4.1.3)
        audience = outcome.audience
        claims["aud"] = audience[0] if len(audience) == 1 else list(audience)
    confirmation: dict[str, str] = {}  # RFC 7800, RFC 9449 §6.1, RFC 8705 §3.1
    if jkt is not None:
        confirmation["jkt"] = jkt
    certificate = outcome.certificate
    if read.client is not None and read.client.certificate is not None:
        certificate = read.client.certificate
    if certificate is not None:
        confirmation["x5t#S256"] = _clients.thumbprint(certificate)
    if confirmation:
        claims["cnf"] = confirmation
    data: dict[str, object] = {
        "access_token": context.issue(
            "generic", outcome.subject, context.token_lifetime, **claims
        ),
        "token_type": "Bearer" if jkt is None else "DPoP",
        "expires_in": context.token_lifetime,
    }
    if outcome.issued_token_type is not None:
        data["issued_token_type"] = outcome.issued_token_type
        if outcome.issued_token_type == _grants.JWT_TYPE:
            data["token_type"] = "N_A"  # RFC 8693 §2.2.1
    if outcome.scope is not None:
        data["scope"] = outcome.scope
    if outcome.refresh:
        data["refresh_token"] = context.new_refresh_token(
            family="generic",
            client_id=client_id,
            subject=outcome.subject,
            scope=outcome.scope,
            chain=outcome.chain,
            resources=outcome.granted,
            jkt=jkt,
        )
    answer = token_answer(data)
    if context.guard.dpop_nonce:  # RFC 9449 §8.2: a fresh one on any answer
        nonce = ("DPoP-Nonce", context.guard.nonce)
        answer = attrs.evolve(answer, headers=(*answer.headers, nonce))
    return answer


def _summary(url: str) -> str:
    return f"{url}{PATH}"


PERSONA: Final = Persona(
    name="generic",
    summary=_summary,
    routes=(Route(endpoint="generic", paths=frozenset({PATH}), answer=_token),),
)
