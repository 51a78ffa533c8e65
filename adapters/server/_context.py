"""What a persona sees of the server while answering one request.

The :class:`Context` is a persona's whole view of the server: the accepted
credentials, the token lifetimes, the minting of access and refresh tokens,
the checking of access tokens, and the :class:`~._guard.Guard` that keeps
used ids, the DPoP nonce and the records of refusals. It lives below the
personas (``personas/_base.py`` re-exports it) so that the server's helper
modules (client authentication, the grants) can take it too.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import final

import attrs

from ._credentials import Credentials
from ._guard import Guard
from ._minting import Grant, Minter, Problem

__all__ = ["Context"]


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
    guard: Guard
    """Used ids, the DPoP nonce, the records of refusals."""
    client_cas: tuple[bytes, ...] = ()
    """The DER certificates of the CAs that issue ``tls_client_auth``
    clients' certificates."""

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
        resources: tuple[str, ...] = (),
        jkt: str | None = None,
    ) -> str:
        """A new refresh token that only *family*'s endpoint takes, rotated
        from one of *chain* (a new grant if None), for *resources*, bound to
        the DPoP key *jkt* if given."""
        return self._minter.new_refresh_token(
            family=family,
            client_id=client_id,
            subject=subject,
            scope=scope,
            chain=chain,
            resources=resources,
            jkt=jkt,
        )

    def peek_refresh_token(self, token: str) -> Grant | None:
        """The grant of *token* if it is outstanding, without using it up."""
        return self._minter.peek_refresh_token(token)

    def take_refresh_token(self, token: str, family: str) -> Grant | None:
        """The grant of *token*, revoked now that it is used (rotation); None
        if it is unknown, used, expired or of another family. A used one
        sent again revokes its whole chain."""
        return self._minter.take_refresh_token(token, family)
