"""How a client proves who it is to a token endpoint.

RFC 6749 §2.3 lets a client authenticate one way per request:

* ``client_secret_post``: ``client_id`` and ``client_secret`` in the body;
* ``client_secret_basic``: a Basic ``Authorization`` header;
* ``client_secret_jwt``: a JWT signed with the secret (HS256), sent as a
  client assertion (RFC 7523 §2.2, OpenID Connect Core §9); the secret itself
  never travels;
* ``private_key_jwt``: a JWT signed with the client's private key, or a
  client assertion made elsewhere (a workload identity token) and handed to
  us by a callable;
* ``tls_client_auth`` and ``self_signed_tls_client_auth`` (RFC 8705): the
  ``client_id`` in the body and the certificate on the TLS connection, which
  is the adapter's to present.

An assertion we sign needs the time and a fresh ``jti``: the session passes a
:class:`~sansio_auth.Stamp` (the core reads no clock and draws no random
numbers), and the same stamp gives the same bytes.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Final, Literal, final

from ._encoding import basic_authorization
from ._fields import check_credential, masked

if TYPE_CHECKING:
    # Only a signing client needs them: not imported with the package.
    from ._jws import Signer
    from ._stamp import Stamp

__all__ = [
    "ASSERTION_TYPE",
    "CLIENT_AUTHS",
    "ClientAuth",
    "ClientAuthentication",
    "client_authentication",
    "signed_assertion",
    "supplied",
]

ClientAuth = Literal[
    "client_secret_post",
    "client_secret_basic",
    "client_secret_jwt",
    "private_key_jwt",
    "tls_client_auth",
    "self_signed_tls_client_auth",
]
CLIENT_AUTHS: Final = (
    "client_secret_post",
    "client_secret_basic",
    "client_secret_jwt",
    "private_key_jwt",
    "tls_client_auth",
    "self_signed_tls_client_auth",
)
TLS_AUTHS: Final = frozenset({"tls_client_auth", "self_signed_tls_client_auth"})
ASSERTION_TYPE: Final = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
"""RFC 7523 §2.2's ``client_assertion_type``."""
ASSERTION_LIFETIME: Final = 60
"""Seconds a client assertion we sign is valid: long enough for a slow
round trip and a modest clock skew, short enough that a leaked one is soon
worthless (servers refuse a replayed ``jti`` meanwhile)."""
_MAX_ASSERTION_LIFETIME = 3600


def signed_assertion(
    key: Signer,
    *,
    issuer: str,
    subject: str,
    audience: str,
    stamp: Stamp,
    lifetime: int,
    claims: tuple[tuple[str, object], ...] = (),
) -> str:
    """A JWT for RFC 7523: ``iss``, ``sub``, ``aud``, ``jti``, ``iat`` and
    ``exp`` (``iat`` + *lifetime*), then *claims*, signed by *key*."""
    from ._jws import compact_jws, json_segment
    from ._stamp import Stamp

    if not isinstance(stamp, Stamp):
        # A float or a tuple would fail later, as an AttributeError.
        raise TypeError(f"stamp must be a Stamp, got {type(stamp).__name__}")
    header: dict[str, object] = {"alg": key.algorithm, "typ": "JWT"}
    if key.key_id is not None:
        header["kid"] = key.key_id
    issued = int(stamp.now)
    payload: dict[str, object] = {
        "iss": issuer,
        "sub": subject,
        "aud": audience,
        "jti": stamp.jti,
        "iat": issued,
        "exp": issued + lifetime,
    }
    payload.update(claims)
    return compact_jws(json_segment(header), payload, key)


def supplied(source: Callable[[], str], field: str) -> str:
    """What *source* returns, checked: a non-empty string UTF-8 can encode.

    Raises:
      TypeError, ValueError: naming *field*'s callable.
    """
    # Whatever the callable returns goes in a form field, where anything may
    # travel; it must still be text, and something.
    value = source()
    check_credential(f"the {field} callable's result", value)
    return value


@final
class ClientAuthentication:
    """A flow's client authentication, checked: what goes on each request.

    A plain class, not an attrs one: every flow module import made one, and
    it is private, built once per flow by :func:`client_authentication`.
    """

    __slots__ = (
        "assertion",
        "audience",
        "client_id",
        "client_secret",
        "key",
        "lifetime",
        "method",
    )

    def __init__(
        self,
        *,
        method: ClientAuth,
        client_id: str | None,
        client_secret: str | None = None,
        key: Signer | None = None,
        assertion: Callable[[], str] | None = None,
        audience: str = "",
        lifetime: int = ASSERTION_LIFETIME,
    ) -> None:
        self.method: Final = method
        """One of :data:`CLIENT_AUTHS`."""
        self.client_id: Final = client_id
        """The client identifier; None when the flow sends none."""
        self.client_secret: Final = client_secret
        """The secret of the two ``client_secret_*`` methods that send it."""
        self.key: Final = key
        """What signs the assertion: the private key, or the secret as HS256."""
        self.assertion: Final = assertion
        """Where a ready-made client assertion comes from, when we sign none."""
        self.audience: Final = audience
        """The ``aud`` of the assertions we sign."""
        self.lifetime: Final = lifetime
        """Seconds an assertion we sign is valid."""

    def __repr__(self) -> str:
        secret = "None" if self.client_secret is None else masked(self.client_secret)
        return (
            f"ClientAuthentication(method={self.method!r}, "
            f"client_id={self.client_id!r}, client_secret={secret}, "
            f"audience={self.audience!r}, lifetime={self.lifetime!r})"
        )

    @property
    def needs_stamp(self) -> bool:
        """Whether each request needs a :class:`~sansio_auth.Stamp`."""
        return self.key is not None

    def apply(
        self, fields: list[tuple[str, str]], stamp: Stamp | None
    ) -> tuple[tuple[str, str], ...]:
        """Add the client's fields to *fields*; return the headers to add.

        Raises:
          ValueError: if an assertion must be signed and *stamp* is None.
        """
        method = self.method
        if method == "client_secret_basic":
            assert self.client_id is not None  # checked at construction
            value = basic_authorization(self.client_id, self.client_secret or "")
            return (("Authorization", value),)
        if self.client_id is not None:
            fields.append(("client_id", self.client_id))
        if method == "client_secret_post":
            if self.client_secret is not None:
                fields.append(("client_secret", self.client_secret))
        elif method not in TLS_AUTHS:
            fields.append(("client_assertion_type", ASSERTION_TYPE))
            fields.append(("client_assertion", self._assertion(stamp)))
        return ()

    def _assertion(self, stamp: Stamp | None) -> str:
        if self.assertion is not None:
            return supplied(self.assertion, "client_assertion")
        assert self.key is not None
        assert self.client_id is not None
        if stamp is None:
            raise ValueError(
                f"auth={self.method!r} signs each request: pass a Stamp(now=..., "
                "jti=...) (a TokenSession given jti= does)"
            )
        return signed_assertion(
            self.key,
            issuer=self.client_id,
            subject=self.client_id,
            audience=self.audience,
            stamp=stamp,
            lifetime=self.lifetime,
        )


def _lifetime(value: object) -> int:
    if (
        isinstance(value, bool)
        or not isinstance(value, int)
        or not 1 <= value <= _MAX_ASSERTION_LIFETIME
    ):
        raise ValueError(
            "assertion_lifetime must be whole seconds in "
            f"[1, {_MAX_ASSERTION_LIFETIME}]"
        )
    return value


def client_authentication(
    *,
    auth: object,
    client_id: str | None,
    client_secret: str | None,
    private_key: object,
    key_id: str | None,
    algorithm: str | None,
    client_assertion: object,
    assertion_audience: str | None,
    assertion_lifetime: object,
    token_url: str,
) -> ClientAuthentication:
    """Check a flow's client authentication arguments together.

    Raises:
      TypeError, ValueError: naming the argument; never showing a value.
      ImportError: if a private key needs the ``jwt`` extra.
    """
    if auth not in CLIENT_AUTHS:
        # What came is not echoed: a careless caller may have put a secret here.
        raise ValueError(f"auth must be one of {', '.join(map(repr, CLIENT_AUTHS))}")
    lifetime = _lifetime(assertion_lifetime)
    if assertion_audience is not None:
        check_credential("assertion_audience", assertion_audience)
    signs = auth in ("client_secret_jwt", "private_key_jwt")
    if not signs and (
        private_key is not None
        or client_assertion is not None
        or assertion_audience is not None
    ):
        if private_key is not None or client_assertion is not None:
            which = "private_key" if private_key is not None else "client_assertion"
            raise ValueError(f"{which} needs auth='private_key_jwt'")
        raise ValueError(
            "assertion_audience needs auth='private_key_jwt' or 'client_secret_jwt'"
        )
    if private_key is None and (key_id is not None or algorithm is not None):
        raise ValueError("key_id and algorithm need a private_key")
    if lifetime != ASSERTION_LIFETIME and (not signs or client_assertion is not None):
        # Nothing we sign would carry it: a caller who gave one expects it
        # to be used.
        raise ValueError(
            "assertion_lifetime is for assertions we sign (client_secret_jwt, "
            "private_key_jwt with a private_key)"
        )
    if auth == "client_secret_post":
        if client_id is None and client_secret is not None:
            raise ValueError("client_secret needs a client_id")
        return ClientAuthentication(
            method=auth, client_id=client_id, client_secret=client_secret
        )
    if client_id is None:
        raise ValueError(f"auth={auth!r} needs a client_id")
    if auth == "client_secret_basic":
        return ClientAuthentication(
            method=auth, client_id=client_id, client_secret=client_secret
        )
    if auth == "client_secret_jwt":
        if client_secret is None:
            raise ValueError("auth='client_secret_jwt' needs a client_secret")
        if private_key is not None or client_assertion is not None:
            # The secret signs: a key or an assertion would go unused.
            which = "private_key" if private_key is not None else "client_assertion"
            raise ValueError(f"{which} needs auth='private_key_jwt'")
        from ._keys import SecretKey

        return ClientAuthentication(
            method=auth,
            client_id=client_id,
            key=SecretKey(secret=client_secret.encode("utf-8")),
            audience=assertion_audience or token_url,
            lifetime=lifetime,
        )
    if client_secret is not None:
        # It would not be sent: a caller who gave one expects it to be used.
        raise ValueError(f"auth={auth!r} sends no client_secret: leave it out")
    if auth in TLS_AUTHS:
        return ClientAuthentication(method=auth, client_id=client_id)
    if (private_key is None) == (client_assertion is None):
        raise ValueError(
            "auth='private_key_jwt' needs a private_key or a client_assertion "
            "callable (one of them)"
        )
    if client_assertion is not None:
        if not callable(client_assertion):
            raise TypeError(
                "client_assertion must be a callable returning the assertion "
                "(for a file: sansio_auth.adapters.assertions.AssertionFile)"
            )
        if assertion_audience is not None:
            # The assertion is made elsewhere, its aud with it: ours would be
            # ignored, and a caller who gave one expects it to be used.
            raise ValueError(
                "assertion_audience is for assertions we sign: a client_assertion "
                "callable makes its own"
            )
        return ClientAuthentication(
            method="private_key_jwt", client_id=client_id, assertion=client_assertion
        )
    from ._keys import load_signing_key

    key = load_signing_key(private_key, algorithm=algorithm, key_id=key_id)
    return ClientAuthentication(
        method="private_key_jwt",
        client_id=client_id,
        key=key,
        audience=assertion_audience or token_url,
        lifetime=lifetime,
    )
