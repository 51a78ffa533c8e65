"""The grants of signed tokens at the generic endpoint, and resource indicators.

- The JWT bearer grant (RFC 7523 §2.1): ``assertion``, a JWT a trusted
  issuer signed (see ``_assertions``); the token is for its ``sub``. A
  refused assertion is ``invalid_grant``.
- Token exchange (RFC 8693 §2.1): ``subject_token`` with its
  ``subject_token_type``, and ``actor_token`` with ``actor_token_type``
  (both or neither). A token of type ``access_token`` must be one this
  server issued, live; one of type ``jwt`` must come from a trusted issuer.
  The token is for the subject's ``sub``; an actor makes its ``act`` claim
  (§4.1), the subject token's own ``act`` nested inside (the chain of
  delegation). ``requested_token_type`` may be ``access_token`` (the
  default) or ``jwt`` (answered with ``token_type`` ``N_A``, §2.2.1). A
  refused subject or actor token, a missing parameter or an unsupported
  type is ``invalid_request`` (§2.2.2).
  A subject or actor token bound to a key or a certificate (``cnf``,
  RFC 7800) is taken only from the holder: the exchange request must prove
  the same binding, a DPoP proof of the key of ``cnf.jkt`` (RFC 9449 §6.1)
  and the certificate of ``cnf`` ``x5t#S256`` on the connection (RFC 8705
  §3.1); a binding it cannot prove (another ``cnf`` member, a ``cnf`` that
  is not an object) refuses the token. Otherwise a stolen bound token would
  buy an unbound one, and the binding the resource enforces would be gone.
  A certificate proven so binds the new token too (a DPoP proof does that
  for any request).
- Resource indicators (RFC 8707 §2): each ``resource`` must be an absolute
  URI without a fragment, else ``invalid_target``; the token's ``aud`` is
  the resources (and a token exchange's ``audience`` values).
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterable, Mapping
from typing import Final, final

import attrs

from . import _assertions
from ._answers import Refused
from ._clients import thumbprint
from ._context import Context
from ._jose import Invalid
from ._request import require

__all__ = [
    "ACCESS_TOKEN_TYPE",
    "JWT_BEARER",
    "JWT_TYPE",
    "TOKEN_EXCHANGE",
    "Binding",
    "Issued",
    "jwt_bearer",
    "resources",
    "token_exchange",
]

JWT_BEARER: Final = "urn:ietf:params:oauth:grant-type:jwt-bearer"
TOKEN_EXCHANGE: Final = "urn:ietf:params:oauth:grant-type:token-exchange"
ACCESS_TOKEN_TYPE: Final = "urn:ietf:params:oauth:token-type:access_token"
JWT_TYPE: Final = "urn:ietf:params:oauth:token-type:jwt"

_ENDPOINT: Final = "generic"
# RFC 3986 §3.1: scheme = ALPHA *( ALPHA / DIGIT / "+" / "-" / "." )
_SCHEME: Final = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*:")


def resources(values: Iterable[str]) -> tuple[str, ...]:
    """The ``resource`` values, each checked, in order, each once.

    Raises:
      Refused: ``invalid_target`` for one that is not an absolute URI, or
        has a fragment.
    """
    found: list[str] = []
    for value in values:
        if (
            not _SCHEME.match(value)
            or "#" in value
            or any(c.isspace() or ord(c) < 0x21 for c in value)
        ):
            raise Refused(
                "invalid_target",
                "a resource must be an absolute URI without a fragment",
            )
        if value not in found:
            found.append(value)
    return tuple(found)


@final
@attrs.frozen(kw_only=True)
class Binding:
    """What a token request proves it holds: the key of its DPoP proof and
    the certificate of its connection."""

    jkt: str | None = None
    """The RFC 7638 thumbprint of the key of the request's DPoP proof."""
    certificate: bytes | None = attrs.field(default=None, repr=False)
    """The DER client certificate of the connection."""


@final
@attrs.frozen(kw_only=True)
class Issued:
    """What a grant of a signed token gives."""

    subject: str
    """The ``sub`` of the token to issue."""
    claims: Mapping[str, object] = attrs.field(factory=dict)
    """Claims to add (``act``)."""
    scope: str | None = None
    """The scope to give, if the grant says."""
    issued_token_type: str | None = None
    """A token exchange's ``issued_token_type``."""
    certificate: bytes | None = attrs.field(default=None, repr=False)
    """The DER certificate a bound subject or actor token was proven with:
    the new token is bound to it too."""


def jwt_bearer(context: Context, fields: Mapping[str, str], token_url: str) -> Issued:
    """RFC 7523 §2.1: the token for the subject of the ``assertion``.

    Raises:
      Refused: ``invalid_request`` without one, ``invalid_grant`` for one
        that breaks a rule.
    """
    require(fields, "assertion")
    try:
        claims = _assertions.grant_assertion(
            fields["assertion"],
            credentials=context.credentials,
            audiences=(context.issuer, token_url),
            now=time.time(),
            guard=context.guard,
        )
    except Invalid as invalid:
        context.guard.reject(_ENDPOINT, "assertion", invalid.reason)
        raise Refused("invalid_grant", invalid.description) from None
    return Issued(subject=str(claims["sub"]))


_PROVABLE: Final = frozenset({"jkt", "x5t#S256"})


def _proven(claims: Mapping[str, object], binding: Binding) -> bool:
    """Whether *binding* proves the ``cnf`` of *claims* (True without one:
    an unbound token needs no proof)."""
    cnf = claims.get("cnf")
    if cnf is None:
        return True
    if not isinstance(cnf, dict) or not set(cnf) <= _PROVABLE:
        return False  # a binding this server cannot check: never proven
    jkt, x5t = cnf.get("jkt"), cnf.get("x5t#S256")
    if jkt is not None and jkt != binding.jkt:
        return False
    certificate = binding.certificate
    return x5t is None or (certificate is not None and thumbprint(certificate) == x5t)


def _token_claims(
    context: Context, token: str, token_type: str, kind: str, binding: Binding
) -> Mapping[str, object]:
    """The claims of a subject or actor token (*kind*) of *token_type*, its
    binding proven by the request's *binding*."""
    claims = _unbound_claims(context, token, token_type, kind)
    if not _proven(claims, binding):
        context.guard.reject(_ENDPOINT, kind, "binding")
        raise Refused(
            "invalid_request",
            f"the {kind.replace('_', ' ')} is bound (cnf): the request must "
            "prove its DPoP key or carry its certificate",
        )
    return claims


def _unbound_claims(
    context: Context, token: str, token_type: str, kind: str
) -> Mapping[str, object]:
    """The claims of a subject or actor token (*kind*) of *token_type*,
    checked but for its binding."""
    what = kind.replace("_", " ")
    if token_type == ACCESS_TOKEN_TYPE:
        checked = context.check(token)
        if isinstance(checked, str):
            context.guard.reject(_ENDPOINT, kind, checked)
            issued = "not issued here" if checked == "unknown" else checked
            raise Refused("invalid_request", f"the {what} is {issued}")
        return checked
    if token_type == JWT_TYPE:
        try:
            return _assertions.subject_jwt(
                token, credentials=context.credentials, now=time.time(), what=what
            )
        except Invalid as invalid:
            context.guard.reject(_ENDPOINT, kind, invalid.reason)
            raise Refused("invalid_request", invalid.description) from None
    context.guard.reject(_ENDPOINT, kind, "type")
    raise Refused(
        "invalid_request",
        f"{kind}_type must be {ACCESS_TOKEN_TYPE} or {JWT_TYPE}",
    )


def token_exchange(
    context: Context, fields: Mapping[str, str], binding: Binding
) -> Issued:
    """RFC 8693 §2.1: a token for the subject token's subject, acted for by
    the actor token's, if any; a bound subject or actor token only with the
    proof of its *binding*.

    Raises:
      Refused: ``invalid_request`` as §2.2.2 says.
    """
    require(fields, "subject_token", "subject_token_type")
    if bool(fields.get("actor_token")) != bool(fields.get("actor_token_type")):
        raise Refused("invalid_request", "actor_token and actor_token_type go together")
    requested = fields.get("requested_token_type") or ACCESS_TOKEN_TYPE
    if requested not in (ACCESS_TOKEN_TYPE, JWT_TYPE):
        raise Refused(
            "invalid_request",
            f"requested_token_type must be {ACCESS_TOKEN_TYPE} or {JWT_TYPE}",
        )
    subject = _token_claims(
        context,
        fields["subject_token"],
        fields["subject_token_type"],
        "subject_token",
        binding,
    )
    tokens = [subject]
    claims: dict[str, object] = {}
    if fields.get("actor_token"):
        actor = _token_claims(
            context,
            fields["actor_token"],
            fields["actor_token_type"],
            "actor_token",
            binding,
        )
        tokens.append(actor)
        act: dict[str, object] = {"sub": actor.get("sub")}
        if actor.get("iss") != context.issuer:
            act["iss"] = actor.get("iss")
        if isinstance(subject.get("act"), dict):  # §4.1: the earlier actors
            act["act"] = subject["act"]
        claims["act"] = act
    scope = subject.get("scope")
    certificate_bound = any(
        isinstance(cnf := token.get("cnf"), dict) and "x5t#S256" in cnf
        for token in tokens
    )
    return Issued(
        subject=str(subject.get("sub")),
        claims=claims,
        scope=scope if isinstance(scope, str) else None,
        issued_token_type=requested,
        certificate=binding.certificate if certificate_bound else None,
    )
