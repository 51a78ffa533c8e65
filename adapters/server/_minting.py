"""The tokens the server hands out: signed access tokens, rotating refresh tokens.

Each server draws its own signing key. An access token is a JWT (see
:mod:`._jwt`) naming the server (``iss``), the subject, the endpoint that
issued it, and whatever claims that endpoint adds. A refresh token is an
opaque random string standing for a :class:`Grant`; it belongs to one family
(the endpoint that may take it) and is revoked the moment it is used, so each
refresh hands out a new one (rotation).

Either kind can be revoked on demand (:meth:`Minter.revoke`): an access token
by its ``jti``, so that no other spelling of the same JWT gets past, and a
refresh token by forgetting its grant. :meth:`Minter.check` says why a token
is refused: not issued here, revoked, or expired, in that order.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Mapping
from typing import Final, Literal, TypeAlias, final

import attrs

from ._jwt import decode, expired, sign

__all__ = ["REFRESH_LIFETIME", "Grant", "Minter", "Problem"]

REFRESH_LIFETIME: Final = 30 * 24 * 3600  # TeamSystem: "Refresh Token: 30 days"

Problem: TypeAlias = Literal["unknown", "revoked", "expired"]
"""Why an access token is refused: not issued here, revoked, or expired."""


@final
@attrs.frozen(kw_only=True)
class Grant:
    """What a refresh token stands for."""

    family: str
    """``"teamsystem"`` or ``"generic"``: where it can be used."""
    client_id: str | None
    subject: str
    scope: str | None
    expires_at: float
    chain: str = ""
    """The grant's whole chain of rotated refresh tokens: one replayed
    revokes them all (RFC 9700 §4.14.2)."""
    resources: tuple[str, ...] = ()
    """The resources (RFC 8707) it was granted for: a refresh may ask for
    some of them, never another."""
    jkt: str | None = None
    """The thumbprint of the DPoP key it is bound to: a refresh must prove
    that key (RFC 9449 §5)."""


@final
class Minter:
    """The server's signing key, and the refresh tokens it has handed out.

    Thread-safe: the connection threads share one.
    """

    def __init__(self) -> None:
        self._key = secrets.token_bytes(32)
        self._lock = threading.Lock()
        self._refresh: dict[str, Grant] = {}
        self._revoked: set[str] = set()  # the jti of each revoked access token
        # Each refresh token used once, and its chain: one used again is a
        # replay, and revokes its chain (RFC 9700 §4.14.2 reuse detection).
        self._used: dict[str, str] = {}
        self._replays = 0

    def issue(
        self,
        *,
        issuer: str,
        endpoint: str,
        subject: str,
        lifetime: int,
        claims: Mapping[str, object],
    ) -> str:
        """A new access token for *subject*, valid *lifetime* seconds."""
        now = int(time.time())
        payload: dict[str, object] = {
            "iss": issuer,
            "sub": subject,
            "iat": now,
            "exp": now + lifetime,
            "jti": secrets.token_hex(8),
            "endpoint": endpoint,
        }
        payload.update(claims)
        return sign(self._key, payload)

    def check(self, token: str) -> Mapping[str, object] | Problem:
        """The claims of *token* if it was issued here and is neither revoked
        nor expired; otherwise why not."""
        claims = decode(self._key, token)
        if claims is None:
            return "unknown"
        with self._lock:
            revoked = claims.get("jti") in self._revoked
        if revoked:
            return "revoked"
        return "expired" if expired(claims, time.time()) else claims

    def verify(self, token: str) -> Mapping[str, object] | None:
        """The claims of *token* if :meth:`check` accepts it, else None."""
        checked = self.check(token)
        return None if isinstance(checked, str) else checked

    def revoke(self, token: str) -> None:
        """Refuse *token* from now on: an access token issued here, or a
        refresh token handed out here. Anything else is ignored."""
        claims = decode(self._key, token)
        jti = None if claims is None else claims.get("jti")
        with self._lock:
            if isinstance(jti, str):
                self._revoked.add(jti)
            self._refresh.pop(token, None)

    @property
    def replays(self) -> int:
        """How many refresh tokens were sent again after their one use."""
        with self._lock:
            return self._replays

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
        """A new refresh token of *family*, valid for :data:`REFRESH_LIFETIME`,
        in the *chain* of the one it replaces (a new chain if None), for
        *resources* and bound to the DPoP key *jkt* if given."""
        grant = Grant(
            family=family,
            client_id=client_id,
            subject=subject,
            scope=scope,
            expires_at=time.time() + REFRESH_LIFETIME,
            chain=chain or secrets.token_hex(8),
            resources=resources,
            jkt=jkt,
        )
        token = secrets.token_urlsafe(32)
        with self._lock:
            self._refresh[token] = grant
        return token

    def peek_refresh_token(self, token: str) -> Grant | None:
        """The grant of *token* if it is outstanding, leaving it so: what a
        refresh must prove is checked before the token is used up."""
        with self._lock:
            return self._refresh.get(token)

    def take_refresh_token(self, token: str, family: str) -> Grant | None:
        """The grant of *token*, revoked now that it is used (rotation). One
        used before is a replay: its whole chain is revoked."""
        with self._lock:
            chain = self._used.get(token)
            if chain is not None:
                self._replays += 1
                for other, kept in list(self._refresh.items()):
                    if kept.chain == chain:
                        del self._refresh[other]
                return None
            grant = self._refresh.get(token)
            if grant is None or grant.family != family:
                return None
            del self._refresh[token]
            self._used[token] = grant.chain
        return grant if time.time() < grant.expires_at else None
