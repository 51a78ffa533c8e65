"""The TokenClient loop shared by the adapters: run the session's steps.

Every decision is the session's. The clients only map its steps onto their
world's primitives (a lock and an event for threads, an event for tasks),
send, report, and cache the token until the session's refresh point so that
the hot path takes no lock and allocates nothing.

A client is its session's one driver (``TokenSession.claim``): its waiters
are woken by its own fetches only, and its hot cache follows only the
decisions it sees. Its hot cache still checks, by identity, that the token
is the session's current one, so that a call on the session itself
(``client.session.invalidate(token)``) is followed at once.

``os.fork()``. A child inherits the client as it was: possibly a fetch in
flight (which in the child nobody will ever report), a lock held by a parent
thread (which nothing in the child will release), events of threads or of an
event loop that do not exist there. Rather than keep a registry of clients
(a weak reference each), the process counts its forks: :data:`PROCESS` is
replaced in each child, and a client compares the count it was set up in
with the process's on its slow path, before it takes any lock of its own.
On a mismatch it makes new primitives and abandons the inherited fetch; the
hot path may go on serving a token the parent fetched.
"""

from __future__ import annotations

import copy
import os
import random
import ssl
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, ClassVar, Final

from sansio_auth import Flow, SendRequest, Token, TokenError, TokenSession

from ._limits import (
    DEFAULT_MAX_RESPONSE_BYTES,
    DEFAULT_TIMEOUT,
    FETCH_MARGIN,
    check_send_args,
)
from ._tls import check_client_cert, client_cert_context

if TYPE_CHECKING:
    from ._dpop import ApiProofs

Clock = Callable[[], float]

LEAST_TIMEOUT: Final = 0.001
"""The shortest timeout a request under a lease is given when the lease has
(nearly) run out: it fails at once rather than outlive the lease."""


class _Process:
    """What belongs to this process and not to a forked child of it."""

    __slots__ = ("forks", "lock")

    def __init__(self, forks: int) -> None:
        self.forks: Final = forks
        """How many forks this process is from the one that imported us."""
        self.lock: Final = threading.Lock()
        """Held for a few bytecodes, never across a wait or an ``await``: for
        the check-and-set of state that threads share (a client's rebuild
        after a fork, an async client's event loop)."""


PROCESS = _Process(0)
"""This process's fork count and lock; a forked child gets its own."""


def _in_child() -> None:
    # Runs in the child, in the forking thread, before anything else does: a
    # new lock (the parent's may be held by a thread the child does not
    # have) and a new count, which tells every client it was inherited.
    global PROCESS
    PROCESS = _Process(PROCESS.forks + 1)


if hasattr(os, "register_at_fork"):  # not on Windows, which cannot fork
    os.register_at_fork(after_in_child=_in_child)


class ClientBase:
    """What the sync and async clients share: the session and the hot cache.

    Every TokenClient (urllib, trio, anyio, and the integrations' token
    clients) is built through this ``__init__``.

    Args:
      flow: how to get a token.
      timeout: seconds each request may take.
      ssl_context: for a private CA (and a client certificate of the
        caller's own loading).
      max_response_bytes: the largest token response read.
      session: a :class:`~sansio_auth.TokenSession` of *flow* to use (its
        policy); by default one with jittered backoff, the client's DPoP key
        and fresh ``jti`` values. The client claims it: one session, one
        client. A session given must carry the DPoP key itself
        (``TokenSession(flow, dpop_key=..., jti=...)``).
      clock: returns UNIX seconds; tests pass a fake one.
      store: a shared store (:mod:`sansio_auth.adapters.stores`) through
        which processes and hosts share one token; its key names the DPoP
        key's thumbprint and the client certificate's, so tokens bound to
        one never serve another.
      dpop_key: DPoP (RFC 9449): True for a fresh ES256 key held in memory
        (its tokens are this client's alone), or the key to use: a
        :class:`~sansio_auth.DPoPKey`, a PEM private key or a
        ``cryptography`` private key (RSA, EC P-256, Ed25519; the same one
        in every process that shares tokens through *store*). Every token
        request then carries a ``DPoP`` proof; the server's
        ``use_dpop_nonce`` is answered by sending again at once, within the
        same fetch (counted in ``session.stats.dpop_nonces``, not a
        failure). API requests get their proofs from :attr:`proofs` and
        :meth:`auth_headers`. None or False (the default): no DPoP.
      client_cert: the TLS client certificate the token endpoint sees (RFC
        8705): a PEM file holding the certificate and its key,
        ``(cert_path, key_path)``, or ``(cert_path, key_path, password)``;
        loaded into *ssl_context* when one is given, else into a default
        context of its own. ``tls_client_auth`` and
        ``self_signed_tls_client_auth`` need it (or an *ssl_context* that
        carries one). A token the server binds to it (``cnf.x5t#S256``)
        works only over connections presenting it.

    Raises:
      ValueError: *session* already drives another client, is of another
        flow, or lacks the *dpop_key* given; *timeout* or
        *max_response_bytes* is out of range; *client_cert* cannot be loaded
        (the message names the file, never a password or a key); the flow
        authenticates with a certificate and there is none; *dpop_key* is
        not a key we sign with (naming it, never showing it).
      TypeError: *store* is not a store, *clock* is not callable, or
        *client_cert* is not one of its forms.
      ImportError: *dpop_key* without ``cryptography`` (the ``jwt`` extra).
    """

    __slots__ = (
        "_clock",
        "_forks",
        "_hot",
        "_link",
        "_proofs",
        "_session",
        "max_response_bytes",
        "ssl_context",
        "timeout",
    )

    _driver: ClassVar[str]
    """What claims the session, for the error a second client gets."""
    _library: ClassVar[str | None] = None
    """The event loop library it runs on, when it is one only (trio)."""
    _takes_async_store: ClassVar[bool] = False
    """Whether an :class:`~sansio_auth.adapters.stores.AsyncStore` serves it
    (the async clients), or only a sync store does."""

    def __init__(
        self,
        flow: Flow,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        ssl_context: ssl.SSLContext | None = None,
        max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
        session: TokenSession | None = None,
        clock: Clock = time.time,
        store: object = None,
        dpop_key: object = None,
        client_cert: object = None,
    ) -> None:
        check_send_args(timeout, max_response_bytes, ssl_context)
        dpop = None
        jti = None
        if dpop_key is not None or getattr(flow, "needs_stamp", False):
            # Only a client that signs imports what signing needs: an async
            # client may be made on the event loop, at its first request.
            from ._dpop import dpop_option, new_jti

            dpop = dpop_option(dpop_key)
            jti = new_jti
        ssl_context, cert_sha256 = client_cert_context(client_cert, ssl_context)
        check_client_cert(flow, ssl_context, cert_sha256)
        if session is None:
            session = TokenSession(
                flow,
                jitter=random.random,
                fetch_timeout=timeout + FETCH_MARGIN,
                dpop_key=dpop,
                jti=jti,
            )
        elif not isinstance(session, TokenSession):
            raise TypeError("session must be a TokenSession")
        elif session.flow is not flow:
            raise ValueError("session must be a TokenSession of the same flow")
        elif dpop is not None and session.dpop_key != dpop:
            raise ValueError(
                "dpop_key must be the session's: give it to the TokenSession only"
            )
        dpop = session.dpop_key
        link = None
        if store is not None:
            from ._store_link import StoreLink

            # Tokens bound to a DPoP key or a certificate serve only their
            # holder: the store key names what they are bound to.
            binding = []
            if dpop is not None:
                binding.append(("dpop_jkt", dpop.jkt))
            if cert_sha256 is not None:
                binding.append(("x5t#S256", cert_sha256))
            link = StoreLink(
                store,
                flow,
                takes_async=self._takes_async_store,
                clock=clock,
                binding=tuple(binding),
            )
            if self._library is not None:
                link.check_library(self._library)
        if not callable(clock):
            raise TypeError("clock must be a function returning UNIX seconds")
        # Last: a client refused for a bad argument leaves the session free.
        session.claim(self._driver)
        self.timeout = timeout
        self.ssl_context = ssl_context
        self.max_response_bytes = max_response_bytes
        self._session = session
        self._clock = clock
        self._link = link
        self._proofs = None
        if dpop is not None:
            from ._dpop import ApiProofs

            self._proofs = ApiProofs(dpop, clock=clock)
        # (token, cached at, fresh until), in the client's clock: valid while
        # the clock is between the two, so a clock set back asks the session,
        # and while the token is still the session's.
        self._hot: tuple[Token, float, float] | None = None
        self._forks = PROCESS.forks
        self._setup()

    def _setup(self) -> None:
        """Make the world's own primitives (a lock, an event slot); again in a
        forked child, where the parent's may be held or bound to its loop."""

    def _check_fork(self) -> None:
        """On the slow path, before any lock of the client's is taken: in a
        forked child, set up afresh and give up the fetch the parent had in
        flight (see the module notes)."""
        if self._forks != PROCESS.forks:
            self._after_fork()

    def _after_fork(self) -> None:
        process = PROCESS
        with process.lock:  # the child's own: two of its threads rebuild once
            if self._forks == process.forks:
                return
            self._setup()
            in_flight = self._session.in_flight
            if in_flight is not None:
                # Nobody in this process will report it. A refresh token it
                # carried is dropped: the parent may rotate it.
                self._session.abandon(in_flight)
            self._forks = process.forks

    @property
    def session(self) -> TokenSession:
        """The session deciding for this client."""
        return self._session

    @property
    def proofs(self) -> ApiProofs | None:
        """The DPoP proofs of API requests: None without a DPoP key.

        ``proofs.key`` is the client's :class:`~sansio_auth.DPoPKey` (its
        ``jkt`` is what the server binds tokens to), and
        ``proofs.headers(token, method, url)`` the ``Authorization`` value
        and ``DPoP`` proof for one request (:meth:`auth_headers` does both
        with a usable token). Shared by the threads and tasks of the client.
        """
        return self._proofs

    def _auth_headers(self, token: Token, method: str, url: str) -> dict[str, str]:
        proofs = self._proofs
        if proofs is None:
            return {"Authorization": token.authorization()}
        authorization, proof = proofs.headers(token, method, url)
        if proof is None:
            return {"Authorization": authorization}
        return {"Authorization": authorization, "DPoP": proof}

    def learn_dpop_nonce(self, url: str, nonce: str | None) -> bool:
        """Keep a resource server's ``DPoP-Nonce`` for the next proofs to it.

        RFC 9449 §9: a resource server may ask for a nonce of its own with a
        401 ``WWW-Authenticate: DPoP error="use_dpop_nonce"`` and a
        ``DPoP-Nonce`` header, and may send a new one on any answer. Pass
        each answer's header here; when it returns True after such a 401,
        send the request once more with fresh :meth:`auth_headers` (the
        core's ``api_action(..., dpop_nonce=...)`` tells that 401 apart as
        ``ApiAction.NONCE``). Nonces are kept per origin (scheme, host and
        port) of *url*, for the most recent 64 origins.

        Args:
          url: the URL the answer came from.
          nonce: its ``DPoP-Nonce`` header, or None when it had none.

        Returns:
          True if *nonce* is valid (RFC 9449's characters) and new for that
          origin; False otherwise, and always without a DPoP key.
        """
        proofs = self._proofs
        return False if proofs is None else proofs.learn(url, nonce)

    def _cached(self) -> Token | None:
        hot = self._hot
        if (
            hot is not None
            and hot[1] <= self._clock() < hot[2]
            and hot[0] is self._session.token  # not dropped or replaced since
        ):
            return hot[0]
        return None

    def _cache(self, token: Token, now: float) -> None:
        # Right after the session handed out or received *token* at *now*:
        # fresh_until says how long it needs no decision (possibly not at all).
        self._hot = (token, now, self._session.fresh_until(now))

    def _fetch_timeout(self) -> float:
        """Seconds one token request may take: ``timeout``, or the session's
        lost-request deadline when that is shorter. A request the session
        would give up on is cut off rather than left running beside the next
        one, and the callers waiting for it can count on its report."""
        return min(self.timeout, self._session.fetch_timeout)

    def _settle_outcome(
        self, step: SendRequest, outcome: object
    ) -> Token | TokenError | None:
        """Give the session what the fleet protocol ended with (under the
        sync client's lock): a token to adopt, the fleet's failure, or
        nothing (the send was reported already)."""
        from sansio_auth import Adopt, ShareFailure

        now = self._clock()
        if isinstance(outcome, Adopt):
            token = self._session.adopt(
                outcome.token, now=now, step=step, recheck_at=outcome.recheck_at
            )
            if token is not None:
                self._cache(token, now)
            return token
        if isinstance(outcome, ShareFailure):
            self._session.share_failure(
                outcome.error, now=now, step=step, wait=outcome.wait
            )
            return outcome.error
        return None

    def _drop(self, token: Token | str) -> None:
        # The hot cache sees it: its token is no longer the session's.
        self._session.invalidate(token)
        if self._link is not None:
            # Whether or not it was still ours: another process may have
            # stored it, and the next fetch deletes it if it is still there.
            self._link.refuse(token)

    @property
    def store(self) -> object:
        """The shared store this client's tokens go through, or None."""
        link = self._link
        return None if link is None else link.store


def failure(error: BaseException) -> BaseException:
    """A copy of the session's error to raise: one per caller, so that the
    tracebacks of concurrent callers do not pile onto one object."""
    return copy.copy(error)


def wall_clock() -> float:
    """The default clock: UNIX seconds."""
    return time.time()
