"""What the server remembers to check signed requests: used ids, its DPoP
nonce, and the record of what it refused.

A JWT a client signs is good once: the ``jti`` of each client assertion,
grant assertion and DPoP proof is kept until the JWT could no longer be
accepted anyway (its ``exp``, or the end of the proof's ``iat`` window), and
one seen again in that time is a replay (RFC 7523 §3 item 7, RFC 9449 §11.1).
Ids are kept per scope (the client, the issuer, the proof's key), so that two
parties picking the same id do not refuse each other. A heap orders them by
when they may go, so each use drops the expired ones from its front and
costs O(log n), not a walk of every id kept (a load test keeps tens of
thousands live, and every connection thread waits on the one lock).

The DPoP nonce (RFC 9449 §8, §9) is one random value for the token endpoint
and the resource alike, until :meth:`Guard.rotate_nonce`; only the current
one is taken. Each refusal is recorded as a :class:`Rejection` (what was
refused and why, never the credential itself), the last
:data:`MAX_REJECTIONS` of them, so that a long load test does not grow
without bound, and each nonce challenge is counted, so that a test can say
which rule refused its request.

Thread-safe: the connection threads share one guard.
"""

from __future__ import annotations

import collections
import heapq
import secrets
import threading
import time
from typing import Final, final

import attrs

__all__ = ["KINDS", "MAX_REJECTIONS", "Guard", "GuardControls", "Rejection"]

MAX_REJECTIONS: Final = 10_000
"""How many refusals are kept: the oldest go first."""

KINDS: Final = (
    "client_secret",
    "client_assertion",
    "client_certificate",
    "assertion",
    "subject_token",
    "actor_token",
    "dpop_proof",
    "access_token",
)
"""What a :class:`Rejection` may be about."""


@final
@attrs.frozen(kw_only=True)
class Rejection:
    """One credential the server refused, and the rule that refused it."""

    endpoint: str
    """The endpoint that refused it (``"generic"`` or ``"resource"``)."""
    kind: str
    """What was refused: one of :data:`KINDS` (``"client_assertion"``,
    ``"dpop_proof"``, ``"client_certificate"``, ...)."""
    reason: str
    """The rule, as a short code: the claim or header at fault (``"aud"``,
    ``"exp"``, ``"iat"``, ``"jti"``, ``"htu"``, ``"htm"``, ``"ath"``,
    ``"nonce"``, ``"alg"``, ``"kid"``, ``"typ"``, ``"jwk"``), or
    ``"replay"`` (an id used before), ``"signature"``, ``"lifetime"`` (an
    ``exp`` too far ahead), ``"malformed"``, ``"unknown"`` (no such client
    or issuer), ``"method"`` (a method the client did not register),
    ``"methods"`` (two methods at once), ``"mismatch"`` (a wrong secret,
    key or certificate), ``"binding"`` (a bound subject or actor token
    whose DPoP key or certificate the exchange request does not prove),
    ``"secret_length"`` (``client_secret_jwt`` with a secret under the 32
    bytes of RFC 7518 §3.2), ``"missing"``."""
    received_at: float = 0.0
    """UNIX seconds when it was refused."""


@final
class Guard:
    """Used ids, the DPoP nonce and the records of one server.

    Args:
      dpop_nonce: whether DPoP proofs must carry the server's nonce.
    """

    def __init__(self, *, dpop_nonce: bool) -> None:
        self.dpop_nonce: Final = dpop_nonce
        self._lock = threading.Lock()
        self._used: dict[tuple[str, str], float] = {}
        # (keep_until, scope, jti) of each id in _used: the earliest to go
        # first. Lifetimes differ (a proof's minute, an assertion's five),
        # so a deque in arrival order would not do.
        self._expiry: list[tuple[float, str, str]] = []
        self._nonce = secrets.token_urlsafe(16)
        self._challenges = 0
        self._rejections: collections.deque[Rejection] = collections.deque(
            maxlen=MAX_REJECTIONS
        )

    def first_use(self, scope: str, jti: str, keep_until: float) -> bool:
        """Whether *jti* is new in *scope*; it is then kept until
        *keep_until* (UNIX seconds), and refused as a replay till then."""
        now = time.time()
        with self._lock:
            expiry = self._expiry
            while expiry and expiry[0][0] <= now:
                _, old_scope, old_jti = heapq.heappop(expiry)
                del self._used[old_scope, old_jti]
            if (scope, jti) in self._used:
                return False
            self._used[scope, jti] = keep_until
            heapq.heappush(expiry, (keep_until, scope, jti))
            return True

    @property
    def kept(self) -> int:
        """How many ids are kept now (expired ones go at the next use)."""
        with self._lock:
            return len(self._used)

    # -- the DPoP nonce ----------------------------------------------------

    @property
    def nonce(self) -> str:
        """The nonce proofs must carry now (when :attr:`dpop_nonce`)."""
        with self._lock:
            return self._nonce

    def rotate_nonce(self) -> str:
        """Draw a new nonce; the old one is refused from now on."""
        with self._lock:
            self._nonce = secrets.token_urlsafe(16)
            return self._nonce

    def count_challenge(self) -> None:
        """Count one ``use_dpop_nonce`` answer."""
        with self._lock:
            self._challenges += 1

    @property
    def challenges(self) -> int:
        """How many ``use_dpop_nonce`` answers were sent."""
        with self._lock:
            return self._challenges

    # -- records -------------------------------------------------------------

    def reject(self, endpoint: str, kind: str, reason: str) -> None:
        """Record that *endpoint* refused a *kind* for *reason*."""
        rejection = Rejection(
            endpoint=endpoint, kind=kind, reason=reason, received_at=time.time()
        )
        with self._lock:
            self._rejections.append(rejection)

    @property
    def rejections(self) -> list[Rejection]:
        """The refusals recorded, oldest first (a copy): the last
        :data:`MAX_REJECTIONS`."""
        with self._lock:
            return list(self._rejections)

    def clear(self) -> None:
        """Forget the records and the count of challenges. Used ids stay
        used: a replay after ``clear()`` is a replay still."""
        with self._lock:
            self._rejections.clear()
            self._challenges = 0


class GuardControls:
    """What ``TokenServer`` (its base class) says of signed requests, from
    its guard."""

    _guard: Guard

    @property
    def rejections(self) -> list[Rejection]:
        """The credentials refused for breaking a rule, oldest first (a
        copy): client secrets, assertions, certificates, DPoP proofs, subject
        and actor tokens, bound tokens at the resource. Each says which
        endpoint, what kind and why (``Rejection(endpoint="generic",
        kind="client_assertion", reason="aud")``), never the credential.
        The last 10,000 are kept (``clear()`` forgets them)."""
        return self._guard.rejections

    @property
    def dpop_nonce_challenges(self) -> int:
        """How many ``use_dpop_nonce`` answers were sent (token endpoint and
        resource)."""
        return self._guard.challenges

    @property
    def dpop_nonce(self) -> str | None:
        """The DPoP nonce proofs must carry now, or None when the server was
        started without ``dpop_nonce=True``."""
        return self._guard.nonce if self._guard.dpop_nonce else None

    def rotate_dpop_nonce(self) -> str:
        """Draw a new DPoP nonce and return it: proofs with the old one are
        refused with ``use_dpop_nonce`` from now on (thread-safe).

        Raises:
          RuntimeError: if the server was started without ``dpop_nonce=True``.
        """
        if not self._guard.dpop_nonce:
            raise RuntimeError("rotate_dpop_nonce needs TokenServer(dpop_nonce=True)")
        return self._guard.rotate_nonce()
