"""The requests integration: :class:`TokenAuth`, a ``requests.auth.AuthBase``.

Theory of operation. requests calls an auth object once per request, as the
last step of preparing it, and runs the request's ``response`` hooks on each
response before redirects are followed. :class:`TokenAuth` uses both:

- ``__call__`` sets ``Authorization`` from its token client (a thread-safe
  :class:`~sansio_auth.adapters._sync.SyncClientBase`: a lock-free cached
  token, and one token request however many threads are waiting) and
  registers its response hook. A request whose caller set
  ``Authorization`` (in the call or in the Session's headers) is left
  alone: no token, no hook. That is all the hot path does: one check of the
  cached token, one header set, one hook appended.
- The hook does nothing to a response that is not a 401. A 401 is ours only
  if its request carries an ``Authorization`` value we set lately (we keep
  the last few): the hook is copied onto each redirect's request, and a
  redirect to another host drops our value (requests strips it) and may
  carry that host's netrc credentials instead, which must never be
  answered with our token. Ours, it is the core's to judge
  (:func:`sansio_auth.api_action`); the hook only maps the answer onto
  requests. ``KEEP``: the response goes back. ``DROP``: the token is
  invalidated (if it is still the current one) and the response goes back.
  ``RETRY``: invalidated, a token got again, and the request sent once more
  as requests' own ``HTTPDigestAuth.handle_401`` resends: the 401 read and
  closed, a copy of the request with the fresh header sent through the same
  transport adapter with the same settings, the 401 kept in ``history``.
  The transport adapter runs no hooks, and the copy is marked as the retry,
  so that no request is sent a third time, even if a caller sends the copy
  again. The request the 401 answered gets the fresh value too (the 401
  keeps a copy of it as it was sent): requests follows a redirect of the
  retry with a copy of that request, which would otherwise send the refused
  token again.

The values set lately are kept under a lock of the TokenAuth's own, built
again in a forked child (as the token clients rebuild theirs): a thread of
the parent holding it at the fork would otherwise hold it in the child
forever.

A body can be sent again when it is ``None``, bytes or str (what ``data=`` a
dict, bytes, str or ``files=`` become), or a file whose start position
requests recorded (``_body_position``) and that can seek back to it: the
file is rewound, as requests rewinds one for a 307 or 308. A generator, an
iterator or a stream without a position is not sent again: its 401 goes
back (the token is still invalidated).

DPoP (RFC 9449). With a DPoP key, a token the server bound to it
(``token_type`` DPoP) is set as ``Authorization: DPoP <token>`` with a
``DPoP`` proof made for this request (its method, and its URL as prepared:
``params`` merged in, query cut off), and the response hook that also does:

- keeps the ``DPoP-Nonce`` of every answer, for the next proofs to that
  origin;
- takes the proof off a request whose answer is a redirect: requests
  follows it with a copy of the request (our hook is not called for the
  hop), and a proof is for one URL and one use. ``Authorization`` goes on
  to the same host (requests drops it for another); the hop's own 401 then
  comes back to the hook, which sends the hop once more with a proof of its
  own, the token kept;
- answers a 401 asking for a nonce (``use_dpop_nonce``, the core's
  ``NONCE``) by sending the request once more with a proof carrying it, the
  token kept: that is its one retry, as ``RETRY`` is.

Mutual TLS (RFC 8705): ``client_cert=`` is presented by our own token
requests (urllib's ``send``); through a Session, the Session's ``cert``
applies (give it the same one; ``client_cert`` then names it for a
``tls_client_auth`` flow and a store's key). The API requests are the
Session's: a certificate-bound token is taken only over a connection with
its certificate, so the Session must carry it (``session.cert``). This
module does not check that: a mounted adapter may present a certificate
requests knows nothing of (an ``ssl_context`` of its own, PKCS #12).

Token requests go through our urllib adapter's ``send`` or, when a
``requests.Session`` is given, through that Session's transport with only
its proxies, TLS verification, client certificate and mounted adapters
(:func:`send`; ``_requests_send.py`` says why exactly those).
"""

from __future__ import annotations

import ssl
import threading
import time
from typing import TYPE_CHECKING, Any, Final

from ._extras import missing_extra

try:
    import requests

    from ._requests_send import send
except ImportError as exc:
    raise missing_extra(__name__, "requests", ("requests", "urllib3"), exc) from None

from sansio_auth import ApiAction, Flow, HttpRequest, HttpResponse, Token, api_action

from . import _client as _process
from . import urllib as _urllib
from ._client import Clock
from ._limits import DEFAULT_MAX_RESPONSE_BYTES, DEFAULT_TIMEOUT
from ._sync import SyncClientBase
from ._tls import require_client_cert

if TYPE_CHECKING:
    from ._dpop import ApiProofs
    from .stores import Store

__all__ = ["TokenAuth", "send"]

_KEPT: Final = 8
"""How many of the values it set lately a TokenAuth knows as its own."""
_UNSET: Final = object()
_RETRIED: Final = "_sansio_auth_retried"
"""The attribute marking the one copy of a request sent again after a 401."""


class _Client(SyncClientBase):
    """The token client of a TokenAuth: token requests through our urllib
    ``send``, or through the user's Session."""

    __slots__ = ("_http",)

    _driver = "a requests TokenAuth"

    def __init__(
        self,
        flow: Flow,
        *,
        timeout: float,
        max_response_bytes: int,
        clock: Clock,
        http: requests.Session | None,
        store: object,
        dpop_key: object,
        client_cert: object,
    ) -> None:
        self._http = http
        super().__init__(
            flow,
            timeout=timeout,
            max_response_bytes=max_response_bytes,
            clock=clock,
            store=store,
            dpop_key=dpop_key,
            client_cert=client_cert,
        )

    def _send(
        self,
        request: HttpRequest,
        *,
        timeout: float,
        ssl_context: object,
        max_response_bytes: int,
    ) -> HttpResponse:
        if self._http is None:
            # Ours: the certificate of client_cert= when there is one.
            assert ssl_context is None or isinstance(ssl_context, ssl.SSLContext)
            return _urllib.send(
                request,
                timeout=timeout,
                ssl_context=ssl_context,
                max_response_bytes=max_response_bytes,
            )
        # The Session's TLS (its verify and cert), as configured.
        return send(
            request,
            session=self._http,
            timeout=timeout,
            max_response_bytes=max_response_bytes,
        )


class TokenAuth(requests.auth.AuthBase):
    """``Authorization`` from a token of *flow* on every request, with one
    retry on a 401 that refuses it.

    Use it as ``session.auth = TokenAuth(flow)`` or per request
    (``requests.get(url, auth=auth)``). One instance may be shared by any
    number of threads and sessions: they make one token request between
    them, and reuse its token until the session's refresh point.

    With *dpop_key*, a token bound to it goes with a fresh ``DPoP`` proof
    per request; with *client_cert*, token requests present it, and your
    Session must too (``session.cert``) for a token bound to it: see the
    module notes.

    Args:
      flow: how to get a token.
      timeout: seconds each token request may take, all of it.
      max_response_bytes: the largest token response read.
      session: a ``requests.Session`` for token requests (its proxies, CA
        bundle or ``verify``, client certificate and mounted adapters, such
        as a test's ``responses`` mock); never its headers, cookies, auth,
        hooks or params, and never a redirect. By default token requests go
        through :func:`sansio_auth.adapters.urllib.send`.
      clock: returns UNIX seconds; tests pass a fake one.
      store: a shared store (:mod:`sansio_auth.adapters.stores`: memory,
        file or Redis) through which processes and hosts share one token
        (see docs/fleet.md); None keeps the token to this client.
      dpop_key: None for no DPoP; True for a fresh ES256 key kept in memory;
        or a :class:`~sansio_auth.DPoPKey`, a PEM private key or a
        ``cryptography`` private key (give every process sharing a store
        the same one).
      client_cert: the TLS client certificate of token requests: a PEM file
        holding the certificate and its key, or ``(cert_path, key_path)``,
        or ``(cert_path, key_path, password)``. Through *session*, the
        Session's own ``cert`` is presented: give it the same one.

    Raises:
      TypeError: *session* is not a ``requests.Session``, *clock* is not
        callable, *store* is not a store, or *dpop_key* or *client_cert* is
        of no kind they take.
      ValueError: *timeout* or *max_response_bytes* is out of range, the
        key in *dpop_key* cannot be used, *client_cert* cannot be loaded,
        or the flow authenticates with a certificate and there is none.
      ImportError: *dpop_key* without ``cryptography`` (the ``jwt`` extra).

    A token endpoint that fails raises the session's
    :class:`~sansio_auth.TokenError` (``OAuthError``, ``HttpError``,
    ``TransportError``) from the API call, never an exception of requests.
    """

    __slots__ = (
        "_client",
        "_forks",
        "_heard",
        "_hook",
        "_last",
        "_lock",
        "_proven_hook",
        "_set",
    )

    def __init__(
        self,
        flow: Flow,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
        session: requests.Session | None = None,
        clock: Clock = time.time,
        store: Store | None = None,
        dpop_key: object = None,
        client_cert: object = None,
    ) -> None:
        if session is not None and not isinstance(session, requests.Session):
            raise TypeError(
                "session must be a requests.Session or None, got "
                f"{type(session).__name__}"
            )
        # Said here, for this integration's options (no ssl_context).
        require_client_cert(flow, client_cert, "session=")
        self._client = _Client(
            flow,
            timeout=timeout,
            max_response_bytes=max_response_bytes,
            clock=clock,
            http=session,
            store=store,
            dpop_key=dpop_key,
            client_cert=client_cert,
        )
        # Bound methods, made once: the hot path only appends one.
        self._hook = self._on_response
        self._proven_hook = self._on_proven_response
        # The token set last, its header value and whether it needs a DPoP
        # proof per request: the hot path compares identities rather than
        # format the value again.
        self._last: tuple[Token | None, str, bool] = (None, "", False)
        # The DPoP-Nonce heard last: one a server sends on every answer is
        # not looked up by its origin every time.
        self._heard: str | None = None
        # The values set lately, newest last, and their tokens: a 401's
        # request is ours only if it carries one of them (module notes).
        self._set: dict[str, Token] = {}
        self._lock = threading.Lock()
        self._forks = _process.PROCESS.forks

    def __call__(self, r: requests.PreparedRequest) -> requests.PreparedRequest:
        """Set ``Authorization`` on *r* and register the 401 hook, unless *r*
        carries an ``Authorization`` already.

        Raises:
          TokenError: no token could be got (see the session's retry policy).
        """
        headers = r.headers
        try:
            # The lowercased store of requests' CaseInsensitiveDict: its
            # ``in`` takes three Python calls, a good part of our budget.
            if "authorization" in headers._store:  # type: ignore[attr-defined]
                return r
        except AttributeError:
            if "Authorization" in headers:
                return r
        token = self._client.token()
        last = self._last
        if token is not last[0]:
            last = self._note(token)
        headers["Authorization"] = last[1]
        if last[2]:
            headers["DPoP"] = _proof(self._client.proofs, token, r)
            r.hooks["response"].append(self._proven_hook)
        else:
            r.hooks["response"].append(self._hook)
        return r

    def _locked(self) -> threading.Lock:
        """The lock of the values set; in a forked child, a new one (the
        parent's may be held by a thread the child does not have), as the
        token clients rebuild theirs. Only on the slow paths."""
        if self._forks != _process.PROCESS.forks:
            process = _process.PROCESS
            with process.lock:  # the child's own: two threads rebuild once
                if self._forks != process.forks:
                    self._lock = threading.Lock()
                    self._forks = process.forks
        return self._lock

    def _note(self, token: Token) -> tuple[Token, str, bool]:
        value, proved = _sendable(token, self._client.proofs)
        last = (token, value, proved)
        with self._locked():
            self._set[value] = token
            while len(self._set) > _KEPT:
                del self._set[next(iter(self._set))]
            self._last = last
        return last

    def _on_response(
        self,
        response: requests.Response,
        # Named, not **kwargs: binding the keywords Session.send passes costs
        # less than copying them into a new dict, on every response.
        stream: object = _UNSET,
        timeout: object = _UNSET,
        verify: object = _UNSET,
        cert: object = _UNSET,
        proxies: object = _UNSET,
        **others: object,
    ) -> requests.Response | None:
        # api_action keeps every response but a 401: a 200 costs one
        # comparison, and the core is asked about the rest.
        if response.status_code != 401:
            return None
        sending = _sending(stream, timeout, verify, cert, proxies, others)
        return self._on_401(response, sending)

    def _on_proven_response(
        self,
        response: requests.Response,
        stream: object = _UNSET,
        timeout: object = _UNSET,
        verify: object = _UNSET,
        cert: object = _UNSET,
        proxies: object = _UNSET,
        **others: object,
    ) -> requests.Response | None:
        """The hook of a request with a DPoP proof (module notes)."""
        nonce = self._hear(response)
        if response.status_code != 401:
            if response.is_redirect:
                # Followed with a copy of this request: no proof on it.
                response.request.headers.pop("DPoP", None)
            return None
        sending = _sending(stream, timeout, verify, cert, proxies, others)
        return self._on_401(response, sending, nonce)

    def _hear(self, response: requests.Response) -> str | None:
        """The ``DPoP-Nonce`` of *response*, kept for its origin when new."""
        nonce = response.headers.get("DPoP-Nonce")
        if nonce is not None and nonce != self._heard:
            self._heard = nonce
            self._client.learn_dpop_nonce(response.url, nonce)
        return nonce

    def _on_401(
        self,
        response: requests.Response,
        send_kwargs: dict[str, Any],
        nonce: str | None = None,
    ) -> requests.Response | None:
        request = response.request
        sent = request.headers.get("Authorization")
        with self._locked():
            token = self._set.get(sent) if isinstance(sent, str) else None
        if token is None or sent is None:
            # Not a value we set: a redirect's copy of the request, sent to
            # another host without ours (requests drops it) and maybe with
            # that host's netrc credentials; or a header changed since.
            return None
        connection = getattr(response, "connection", None)
        retried = bool(request.__dict__.get(_RETRIED))
        replayable = connection is not None and _replayable(request)
        scheme = sent.partition(" ")[0]
        if scheme == "DPoP" and "DPoP" not in request.headers:
            # A redirect's hop, which went without a proof (the hook took it
            # off): sent once more with one of its own, the token kept, when
            # the 401 may be about our token (another scheme's challenge, or
            # insufficient_scope, goes back untouched, as without a hop).
            hop = api_action(
                401,
                response.headers.get("WWW-Authenticate") or (),
                scheme="DPoP",
                retried=retried,
                replayable=replayable,
                dpop_nonce=nonce,
            )
            if hop is ApiAction.KEEP or hop is ApiAction.DROP:
                return None
            return self._send_again(response, send_kwargs, token, refused=False)
        action = api_action(
            response.status_code,
            response.headers.get("WWW-Authenticate") or (),
            scheme=scheme,
            retried=retried,
            replayable=replayable,
            dpop_nonce=nonce,
        )
        if action is ApiAction.KEEP:
            return None
        if action is ApiAction.NONCE or action is ApiAction.PROOF:
            if self._client.proofs is None:
                return None  # a nonce for a proof we cannot make
            # Learnt here whatever was heard before: it may be the nonce of
            # another origin too.
            self._client.learn_dpop_nonce(response.url, nonce)
            return self._send_again(response, send_kwargs, token, refused=False)
        self._client.invalidate(token)
        if action is ApiAction.DROP:
            return None
        return self._send_again(response, send_kwargs, token, refused=True)

    def _send_again(
        self,
        response: requests.Response,
        send_kwargs: dict[str, Any],
        token: Token,
        *,
        refused: bool,
    ) -> requests.Response | None:
        """Send *response*'s request once more, through the same transport
        adapter with the same settings: with a fresh token if *token* was
        *refused*, else with *token* and a fresh proof."""
        request = response.request
        # As HTTPDigestAuth.handle_401: read the 401, so that its connection
        # goes back to the pool for the retry, before a token request that
        # may take a while or fail.
        response.content  # noqa: B018
        response.close()
        last: tuple[Token | None, str, bool]
        if refused:
            token = self._client.token()
            last = self._note(token)
        else:
            kept: tuple[Token | None, str, bool] = self._last
            last = kept if kept[0] is token else self._note(token)
        value = last[1]
        retry = request.copy()
        retry.headers["Authorization"] = value
        if last[2]:
            retry.headers["DPoP"] = _proof(self._client.proofs, token, retry)
        else:
            retry.headers.pop("DPoP", None)
        retry.__dict__[_RETRIED] = True
        if not _rewind(retry):
            return None
        # requests follows the retry's redirect with a copy of the request
        # it sent, this one, not of the retry: the refused value would go
        # out again. It gets the fresh one too (not the retry's mark, nor a
        # proof: a hop gets its own), and the 401 keeps a copy of it as it
        # was sent.
        response.request = request.copy()
        request.headers["Authorization"] = value
        request.headers.pop("DPoP", None)
        connection = getattr(response, "connection", None)
        assert connection is not None  # else not replayable, never sent again
        resent: requests.Response = connection.send(retry, **send_kwargs)
        resent.history.append(response)
        resent.request = retry
        if last[2]:
            self._hear(resent)  # no hook runs on it
        return resent

    def __repr__(self) -> str:
        return f"<TokenAuth for a {type(self._client.session.flow).__name__} flow>"


def _sending(
    stream: object,
    timeout: object,
    verify: object,
    cert: object,
    proxies: object,
    others: dict[str, object],
) -> dict[str, Any]:
    """The keywords ``Session.send`` gave the hook, for a send again."""
    given = {
        "stream": stream,
        "timeout": timeout,
        "verify": verify,
        "cert": cert,
        "proxies": proxies,
    }
    # Only what was given: a missing verify sent on as None would turn TLS
    # verification off for the retry.
    return {**{k: v for k, v in given.items() if v is not _UNSET}, **others}


def _proof(proofs: ApiProofs | None, token: Token, r: requests.PreparedRequest) -> str:
    """A fresh DPoP proof of *token* for *r*, as prepared (its method, and
    its URL with ``params`` merged in)."""
    assert proofs is not None  # a token needs proofs only with a key
    assert r.method is not None  # prepared
    assert r.url is not None
    # The core cuts the query, the fragment and user info off.
    proof = proofs.headers(token, r.method, r.url)[1]
    assert proof is not None
    return proof


def _sendable(token: Token, proofs: ApiProofs | None) -> tuple[str, bool]:
    """The ``Authorization`` value of *token*, and whether it needs a DPoP
    proof per request: a DPoP-bound token (``token_type`` DPoP, any case)
    of a client with a DPoP key."""
    if proofs is not None and token.token_type.lower() == "dpop":
        return f"DPoP {token.access_token}", True
    return token.authorization(), False


_BYTES = (bytes, bytearray, memoryview, str)


def _replayable(request: requests.PreparedRequest) -> bool:
    """Whether *request*'s body can be sent again (module notes)."""
    body = request.body
    if body is None or isinstance(body, _BYTES):
        return True
    position = getattr(request, "_body_position", None)
    return type(position) is int and callable(getattr(body, "seek", None))


def _rewind(request: requests.PreparedRequest) -> bool:
    """Put a file body back where the first send started reading it; False
    if it cannot go back (closed, or its stream cannot seek after all)."""
    body = request.body
    if body is None or isinstance(body, _BYTES):
        return True
    try:
        body.seek(request._body_position)
    except (OSError, ValueError):
        return False
    return True
