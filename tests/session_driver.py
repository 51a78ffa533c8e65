"""An in-memory driver for :class:`~sansio_auth.TokenSession` tests.

Like h11's ``tests/helpers.py`` ``ConnectionPair``: no sockets and no real
time. A :class:`FakeClock` says what ``now`` is (it may be set backwards, as
a wall clock can be), a :class:`ScriptedServer` answers each request with the
next answer in its queue and records what it got, and a :class:`Driver` plays
the caller's loop (``next_step``, then do what it says) against both.

The builders (:func:`token_response`, :func:`oauth_error`,
:func:`http_error`, :func:`html_502`, :func:`transport_error`, :func:`jwt`)
make the answers; :func:`form` reads a form body back.

Import it as ``from tests.session_driver import ...`` at run time (pytest's
importlib mode makes ``tests`` a namespace package) and as
``from session_driver import ...`` under ``TYPE_CHECKING`` (mypy, given the
``tests/`` folder without ``__init__.py``, names the module ``session_driver``).
"""

from __future__ import annotations

import base64
import itertools
import json
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from typing import Final
from urllib.parse import parse_qsl

from sansio_auth import (
    AwaitInFlight,
    Backoff,
    ClientCredentials,
    Failed,
    HttpRequest,
    HttpResponse,
    SendRequest,
    Step,
    Token,
    TokenError,
    TokenSession,
    TransportError,
    UseToken,
)

__all__ = [
    "CLIENT_ID",
    "CLIENT_SECRET",
    "T0",
    "TOKEN_URL",
    "Answer",
    "Driver",
    "FakeClock",
    "ScriptedServer",
    "client_credentials",
    "form",
    "html_502",
    "http_error",
    "jwt",
    "oauth_error",
    "token_response",
    "transport_error",
]

T0: Final = 1_700_000_000.0
"""Where a fake clock starts (UNIX seconds; 2023-11-14)."""
TOKEN_URL: Final = "https://auth.example.test/oauth2/token"
CLIENT_ID: Final = "client-1"
CLIENT_SECRET: Final = "Cs5-client-SECRET-qq"

Answer = HttpResponse | TokenError
"""What the scripted server does with a request: a response, or a failure
without one (typically a :class:`~sansio_auth.TransportError`)."""

_JSON: Final = (("Content-Type", "application/json"),)


def client_credentials(
    *,
    token_url: str = TOKEN_URL,
    client_id: str = CLIENT_ID,
    client_secret: str = CLIENT_SECRET,
) -> ClientCredentials:
    """A :class:`~sansio_auth.ClientCredentials` flow, credentials in the body."""
    return ClientCredentials(
        token_url=token_url, client_id=client_id, client_secret=client_secret
    )


def _retry_after(value: float | str | None) -> tuple[tuple[str, str], ...]:
    if value is None:
        return ()
    return (("Retry-After", value if isinstance(value, str) else f"{value:g}"),)


def token_response(
    access_token: str = "access-1",
    *,
    expires_in: float | str | None = 3600,
    refresh_token: str | None = None,
    scope: str | None = None,
    token_type: str = "Bearer",
    status: int = 200,
    extra: Mapping[str, object] | None = None,
) -> HttpResponse:
    """A JSON token response (RFC 6749 §5.1); None leaves a member out."""
    body: dict[str, object] = {"access_token": access_token, "token_type": token_type}
    if expires_in is not None:
        body["expires_in"] = expires_in
    if refresh_token is not None:
        body["refresh_token"] = refresh_token
    if scope is not None:
        body["scope"] = scope
    body.update(extra or {})
    return HttpResponse(status=status, headers=_JSON, body=json.dumps(body).encode())


def oauth_error(
    error: str,
    *,
    status: int = 400,
    retry_after: float | str | None = None,
    description: str | None = None,
) -> HttpResponse:
    """A JSON error response (RFC 6749 §5.2), with ``Retry-After`` if given."""
    body: dict[str, object] = {"error": error}
    if description is not None:
        body["error_description"] = description
    return HttpResponse(
        status=status,
        headers=_JSON + _retry_after(retry_after),
        body=json.dumps(body).encode(),
    )


def http_error(
    status: int,
    *,
    retry_after: float | str | None = None,
    content_type: str = "text/html",
    body: bytes = b"<html><body><h1>Something went wrong</h1></body></html>",
) -> HttpResponse:
    """A non-OAuth error answer (an HTML page by default)."""
    return HttpResponse(
        status=status,
        headers=(("Content-Type", content_type), *_retry_after(retry_after)),
        body=body,
    )


def html_502(*, retry_after: float | str | None = None) -> HttpResponse:
    """A gateway's HTML 502 page."""
    return http_error(
        502,
        retry_after=retry_after,
        body=b"<html><body><h1>502 Bad Gateway</h1></body></html>",
    )


def transport_error(
    reason: str = "connection reset by peer", *, retryable: bool = True
) -> TransportError:
    """A failure without a response, as an adapter reports it."""
    return TransportError(reason=reason, retryable=retryable)


def jwt(claims: Mapping[str, object]) -> str:
    """An unsigned-looking JWT (``header.payload.signature``) with *claims*."""

    def segment(obj: Mapping[str, object]) -> str:
        raw = json.dumps(dict(obj), separators=(",", ":")).encode()
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

    return f"{segment({'alg': 'RS256', 'typ': 'JWT'})}.{segment(claims)}.c2lnbmF0dXJl"


def form(request: HttpRequest) -> dict[str, str]:
    """The fields of a form-encoded request body (the first of repeats wins)."""
    fields: dict[str, str] = {}
    for name, value in parse_qsl(request.body.decode(), keep_blank_values=True):
        fields.setdefault(name, value)
    return fields


class FakeClock:
    """A wall clock under the test's control; it may go backwards."""

    def __init__(self, now: float = T0) -> None:
        self.now = now

    def advance(self, seconds: float) -> float:
        """Move by *seconds* (negative: a clock set back); the new time."""
        self.now += seconds
        return self.now

    def set(self, now: float) -> float:
        """Jump to *now*, in either direction; the new time."""
        self.now = now
        return self.now


class ScriptedServer:
    """A token endpoint that answers from a queue and records what it got."""

    def __init__(self, answers: Iterable[Answer] = ()) -> None:
        self.requests: list[HttpRequest] = []
        """Every request answered, in order."""
        self._script: deque[Answer] = deque(answers)

    def script(self, *answers: Answer) -> None:
        """Queue *answers* for the next requests."""
        self._script.extend(answers)

    @property
    def pending(self) -> int:
        """How many scripted answers are left."""
        return len(self._script)

    def handle(self, request: HttpRequest, answer: Answer | None = None) -> Answer:
        """Record *request*; answer it with *answer*, else the next scripted one."""
        self.requests.append(request)
        if answer is not None:
            return answer
        if not self._script:
            raise AssertionError("the scripted server has no answer left")
        return self._script.popleft()


class Driver:
    """A session, a fake clock and a scripted server, and the caller's loop.

    Every step the driver asks for is kept in :attr:`trace`, so a test can
    count what all its callers were told (:meth:`sent` gives the requests).
    """

    def __init__(
        self,
        session: TokenSession | None = None,
        *,
        now: float = T0,
        answers: Iterable[Answer] = (),
    ) -> None:
        self.session = session or TokenSession(client_credentials())
        self.clock = FakeClock(now)
        self.server = ScriptedServer(answers)
        self.trace: list[Step] = []

    # -- one caller at a time ----------------------------------------------

    def step(self) -> Step:
        """``next_step`` at the clock's time, traced."""
        step = self.session.next_step(self.clock.now)
        self.trace.append(step)
        return step

    def callers(self, count: int) -> list[Step]:
        """What *count* callers asking at the same time are told, in order."""
        return [self.step() for _ in range(count)]

    def send(self) -> SendRequest:
        """The next step, which must be a :class:`SendRequest`."""
        step = self.step()
        if not isinstance(step, SendRequest):
            raise AssertionError(f"expected SendRequest, got {step!r}")
        return step

    def report(
        self, step: SendRequest, answer: Answer | None = None
    ) -> Token | TokenError | SendRequest | None:
        """Let the server answer *step* and report it to the session, now.

        Returns:
          What ``receive`` returned for a response (None when ignored; a
          :class:`SendRequest` when a DPoP session is asked for a nonce), or
          None for a failure without a response.
        """
        result = self.server.handle(step.request, answer)
        if isinstance(result, HttpResponse):
            return self.session.receive(result, now=self.clock.now, step=step)
        self.session.receive_failure(result, now=self.clock.now, step=step)
        return None

    def fetch(
        self, answer: Answer | None = None
    ) -> Token | TokenError | SendRequest | None:
        """Send the request the session asks for now and report *answer*."""
        return self.report(self.send(), answer)

    # -- the whole loop ----------------------------------------------------

    def token(self, *, max_steps: int = 100) -> Token:
        """Run one caller's loop until it has a token, as an adapter does.

        A :class:`Backoff` or a finite :class:`AwaitInFlight` sleeps (moves
        the clock) until its ``until``; a :class:`Failed` raises its error.
        """
        for _ in range(max_steps):
            step = self.step()
            if isinstance(step, UseToken):
                return step.token
            if isinstance(step, SendRequest):
                self.report(step)
            elif isinstance(step, Backoff):
                self.clock.set(max(self.clock.now, step.until))
            elif isinstance(step, AwaitInFlight):
                if step.until == float("inf"):
                    raise AssertionError("waiting for a fetch that has no deadline")
                self.clock.set(max(self.clock.now, step.until))
            else:
                assert isinstance(step, Failed)
                raise step.error
        raise AssertionError(f"no token after {max_steps} steps")

    def until_send(self, *, max_steps: int = 100) -> SendRequest:
        """Sleep through backoffs, cooldowns and waits until told to send."""
        for _ in range(max_steps):
            step = self.step()
            if isinstance(step, SendRequest):
                return step
            if isinstance(step, UseToken):
                raise AssertionError("the session hands out a token; nothing to send")
            if isinstance(step, Backoff | AwaitInFlight):
                self.clock.set(max(self.clock.now, step.until))
            else:
                # A Failed holds for at most the cooldown from now.
                self.clock.advance(self.session.retry.cooldown)
        raise AssertionError(f"no SendRequest after {max_steps} steps")

    def sent(self) -> list[SendRequest]:
        """Every :class:`SendRequest` in the trace."""
        return [step for step in self.trace if isinstance(step, SendRequest)]


def count_jti() -> Callable[[], str]:
    """A ``jti`` function for sessions that sign: ``jti-1``, ``jti-2``, ..."""
    numbers = itertools.count(1)
    return lambda: f"jti-{next(numbers)}"
