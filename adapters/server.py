"""A local token server on loopback that plays each vendor, for tests and demos.

:class:`TokenServer` is a real HTTP/1.1 server (``http.server``, one thread
per connection) that answers the way the vendors' documents say their token
endpoints do, and checks requests as strictly as they would:

=============================================  ===================================
path                                           plays
=============================================  ===================================
``POST /smartway/api/v1/auth/token``           SmartWay: ``X-API-Key`` for a JWT
                                               with ``companyId`` and ``hrEmail``
``POST /smartconnect/{REGION}/token``          SmartConnect: the password grant,
                                               ``token_type: "bearer"``, no
                                               ``expires_in``
``POST /teamsystem/api/v1/auth/token``         TeamSystem: the multipart request
``POST /teamsystem/oauth/token``               TeamSystem: the JSON refresh, with
                                               rotating refresh tokens
``POST /smartdocumentor/connect/token``        SmartDocumentor: client
                                               credentials, ``scope=WebAPI``
``POST /oauth/token``                          a generic RFC 6749 endpoint
``GET /api/resource``                          a protected resource (RFC 6750)
=============================================  ===================================

Access tokens are real JWTs signed with HS256 (RFC 7519, RFC 7518 §3.2) under
a key made for each server; :meth:`TokenServer.verify` and the resource
endpoint check them. Errors follow RFC 6749 §5.2: a JSON ``error`` member,
400, or 401 for ``invalid_client`` when the client authenticated with HTTP
Basic (with ``WWW-Authenticate``). Token answers carry ``Cache-Control:
no-store`` (§5.1).

Every request is recorded (:attr:`TokenServer.requests`) before it is
answered, and the answer can be made to fail the ways networks and gateways
do: latency, the next N answered 503 or 429 with ``Retry-After``, a reset in
the middle of the body, or no answer at all until the server stops.

This module does I/O, so it lives in the adapters, never in the core.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import contextlib
import email.parser
import email.policy
import hashlib
import hmac
import http.server
import json
import secrets
import socket
import socketserver
import ssl
import struct
import sys
import threading
import time
import urllib.parse
from collections.abc import Callable, Mapping, Sequence
from types import MappingProxyType, TracebackType
from typing import Any, ClassVar, Final, Self, TextIO, final

import anyio.to_thread
import attrs

__all__ = [
    "ENDPOINTS",
    "SMARTCONNECT_REGIONS",
    "SMARTWAY_SCOPE",
    "Credentials",
    "RecordedRequest",
    "TokenServer",
    "describe",
    "main",
    "serve_forever",
]

SMARTWAY_SCOPE: Final = (
    "academy.read academy.write employees.read employees.write "
    "tests.read tests.write files.read"
)
"""The scopes SmartWay's document shows in its token answer."""
SMARTCONNECT_REGIONS: Final = ("NA", "NA2", "NA3", "UK", "EU", "EU2", "AU")
"""The regions served under ``/smartconnect/{REGION}/token``."""
ENDPOINTS: Final = (
    "smartway",
    "smartconnect",
    "teamsystem",
    "teamsystem-refresh",
    "smartdocumentor",
    "generic",
    "resource",
)
"""The names :attr:`RecordedRequest.endpoint` takes (``"unknown"`` otherwise)."""
_TOKEN_ENDPOINTS: Final = frozenset(ENDPOINTS) - {"resource"}
_MAX_BODY: Final = 1_048_576
_REFRESH_LIFETIME: Final = 30 * 24 * 3600  # TeamSystem: "Refresh Token: 30 days"
_FORM: Final = "application/x-www-form-urlencoded"
_REALM: Final = "sansio-auth test server"


@final
@attrs.frozen(kw_only=True)
class Credentials:
    """The credentials the server accepts; all fake, all fixed by default."""

    smartway_api_key: str = "test-smartway-api-key"
    """SmartWay's ``X-API-Key``."""
    smartway_company_id: str = "test-company-0001"
    """The ``companyId`` claim of SmartWay tokens."""
    smartway_hr_email: str = "hr-admin@example.test"
    """The ``hrEmail`` claim of SmartWay tokens."""
    smartconnect_username: str = "user@example.test"
    """SmartConnect's ``username`` (the user's email)."""
    smartconnect_password: str = "test-smartconnect-password"
    """SmartConnect's ``password``."""
    smartconnect_client_id: str = "test-smartconnect-client-id"
    """SmartConnect's ``client_id``."""
    smartconnect_client_secret: str = "test-smartconnect-client-secret"
    """SmartConnect's ``client_secret``."""
    teamsystem_username: str = "test_admin_webapi"
    """TeamSystem's ``username`` field."""
    teamsystem_scope: str = "test_webapi_scope"
    """TeamSystem's ``scope`` field."""
    teamsystem_api_key: str = "test-teamsystem-api-key"
    """TeamSystem's API key, sent in the ``token`` field as ``Bearer <key>``."""
    smartdocumentor_client_id: str = "test-smartdocumentor-client-id"
    """SmartDocumentor's ``client_id``."""
    smartdocumentor_client_secret: str = "test-smartdocumentor-client-secret"
    """SmartDocumentor's ``client_secret``."""
    generic_client_id: str = "test-client-id"
    """The generic endpoint's client id."""
    generic_client_secret: str = "test-client-secret"
    """The generic endpoint's client secret."""
    generic_username: str = "test-user"
    """The generic endpoint's resource owner (password grant)."""
    generic_password: str = "test-password"
    """Their password."""


def _frozen_fields(value: Mapping[str, object]) -> Mapping[str, object]:
    return MappingProxyType(dict(value))


@final
@attrs.frozen(kw_only=True)
class RecordedRequest:
    """A request as the server received it."""

    method: str
    """The request method."""
    path: str
    """The request target as sent (path and query)."""
    headers: tuple[tuple[str, str], ...]
    """The headers, in the order received."""
    body: bytes
    """The body (empty when there was none)."""
    fields: Mapping[str, object] = attrs.field(
        factory=dict, converter=_frozen_fields, hash=False
    )
    """The body's fields: a form or multipart body's values (strings; the last
    one of a repeated name), or a JSON object's members. Empty otherwise."""
    endpoint: str
    """Which endpoint it reached: one of :data:`ENDPOINTS`, or ``"unknown"``."""
    fault: str | None = None
    """The fault it was answered with: ``"fail"``, ``"reset"``, ``"hang"``,
    or None for a normal answer."""
    received_at: float = 0.0
    """UNIX seconds when it was read."""

    def header(self, name: str) -> str | None:
        """The value of header *name* (any case), or None."""
        wanted = name.lower()
        for key, value in self.headers:
            if key.lower() == wanted:
                return value
        return None


# -- answers -----------------------------------------------------------------


@attrs.frozen(kw_only=True)
class _Answer:
    status: int
    body: bytes
    headers: tuple[tuple[str, str], ...] = ()
    content_type: str = "application/json"


def _json(status: int, data: Mapping[str, object], *extra: tuple[str, str]) -> _Answer:
    return _Answer(
        status=status,
        body=json.dumps(data).encode(),
        headers=extra,
    )


def _token_answer(data: Mapping[str, object]) -> _Answer:
    return _json(200, data, ("Cache-Control", "no-store"), ("Pragma", "no-cache"))


class _Refused(Exception):
    """An RFC 6749 §5.2 error answer, raised inside an endpoint."""

    def __init__(
        self,
        error: str,
        description: str,
        *,
        status: int = 400,
        headers: tuple[tuple[str, str], ...] = (),
    ) -> None:
        super().__init__(error)
        self.answer = _json(
            status,
            {"error": error, "error_description": description},
            ("Cache-Control", "no-store"),
            *headers,
        )


# -- JWT (RFC 7519, HS256) ----------------------------------------------------


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64url(text: str) -> bytes:
    if not text or any(c not in _B64URL for c in text):
        raise ValueError("not base64url")
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


_B64URL: Final = frozenset(
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
)
_JWT_HEADER: Final = _b64url(
    json.dumps({"alg": "HS256", "typ": "JWT"}, separators=(",", ":")).encode()
)


def _sign(key: bytes, claims: Mapping[str, object]) -> str:
    payload = _b64url(json.dumps(claims, separators=(",", ":")).encode())
    signing_input = f"{_JWT_HEADER}.{payload}"
    mac = hmac.new(key, signing_input.encode("ascii"), hashlib.sha256).digest()
    return f"{signing_input}.{_b64url(mac)}"


def _verify(key: bytes, token: str, now: float) -> Mapping[str, object] | None:
    parts = token.split(".")
    if len(parts) != 3:
        return None
    try:
        header = json.loads(_unb64url(parts[0]))
        mac = _unb64url(parts[2])
        claims = json.loads(_unb64url(parts[1]))
    except (ValueError, binascii.Error):
        return None
    if not isinstance(header, dict) or header.get("alg") != "HS256":
        return None
    expected = hmac.new(
        key, f"{parts[0]}.{parts[1]}".encode("ascii"), hashlib.sha256
    ).digest()
    if not hmac.compare_digest(mac, expected) or not isinstance(claims, dict):
        return None
    exp = claims.get("exp")
    if isinstance(exp, bool) or not isinstance(exp, int | float) or now >= exp:
        return None
    return MappingProxyType(claims)


# -- request bodies -------------------------------------------------------------


def _media_type(content_type: str | None) -> str:
    return (content_type or "").split(";", 1)[0].strip().lower()


def _form_pairs(body: bytes) -> list[tuple[str, str]]:
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise _Refused("invalid_request", "the form body is not UTF-8") from None
    return urllib.parse.parse_qsl(text, keep_blank_values=True)


def _multipart_pairs(content_type: str, body: bytes) -> list[tuple[str, str]]:
    """The fields of a multipart/form-data body (RFC 7578), by the email parser."""
    head = f"Content-Type: {content_type}\r\nMIME-Version: 1.0\r\n\r\n".encode(
        "latin-1", "replace"
    )
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + body)
    if not message.is_multipart() or message.defects:
        raise _Refused("invalid_request", "the multipart body is malformed")
    pairs = []
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        payload = part.get_payload(decode=True)
        if not isinstance(name, str) or not isinstance(payload, bytes):
            raise _Refused("invalid_request", "a multipart part has no field name")
        try:
            pairs.append((name, payload.decode("utf-8")))
        except UnicodeDecodeError:
            raise _Refused(
                "invalid_request", f"the multipart field {name} is not UTF-8"
            ) from None
    return pairs


def _single(pairs: Sequence[tuple[str, str]]) -> dict[str, str]:
    """RFC 6749 §3.2: parameters must not be included more than once."""
    fields: dict[str, str] = {}
    for name, value in pairs:
        if name in fields:
            raise _Refused("invalid_request", f"the parameter {name} is repeated")
        fields[name] = value
    return fields


def _recorded_fields(content_type: str | None, body: bytes) -> dict[str, object]:
    """Best-effort fields for the record; never raises."""
    media = _media_type(content_type)
    try:
        if media == _FORM:
            return dict(_form_pairs(body))
        if media == "multipart/form-data" and content_type is not None:
            return dict(_multipart_pairs(content_type, body))
        if media == "application/json" or (not media and body[:1] == b"{"):
            data = json.loads(body)
            if isinstance(data, dict):
                return data
    except (_Refused, ValueError):
        pass
    return {}


def _require(fields: Mapping[str, str], *names: str) -> None:
    for name in names:
        if not fields.get(name):
            raise _Refused("invalid_request", f"the parameter {name} is missing")


def _same(given: str, expected: str) -> bool:
    return hmac.compare_digest(given.encode(), expected.encode())


@attrs.frozen(kw_only=True)
class _Grant:
    """What a refresh token stands for."""

    family: str
    """``"teamsystem"`` or ``"generic"``: where it can be used."""
    client_id: str | None
    subject: str
    scope: str | None
    expires_at: float


# -- the server --------------------------------------------------------------


class _HTTPServer(http.server.ThreadingHTTPServer):
    daemon_threads = False  # joined on server_close: no thread outlives stop()
    block_on_close = True
    owner: TokenServer

    def server_bind(self) -> None:
        # Not HTTPServer's: it looks the host's name up (getfqdn), which can
        # take seconds on a machine with slow DNS.
        socketserver.TCPServer.server_bind(self)
        self.server_name = str(self.server_address[0])
        self.server_port = int(self.server_address[1])

    def get_request(self) -> tuple[socket.socket, Any]:
        conn, address = super().get_request()
        context = self.owner.ssl_context
        if context is not None:
            # The handshake runs in the connection's thread, on first read.
            conn = context.wrap_socket(
                conn, server_side=True, do_handshake_on_connect=False
            )
        return conn, address

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Clients that go away, bad TLS, resets: none of the test's business.
        return None


class _HTTPServer6(_HTTPServer):
    address_family = socket.AF_INET6


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "sansio-auth-test-server"
    sys_version = ""
    timeout = 10.0  # a client that connects and says nothing
    disable_nagle_algorithm = True  # head and body go in separate writes
    server: _HTTPServer

    def log_message(self, format: str, *args: Any) -> None:
        return None

    def setup(self) -> None:
        super().setup()
        self.server.owner._track(self.connection, add=True)
        if isinstance(self.connection, ssl.SSLSocket):
            try:
                self.connection.do_handshake()
            except BaseException:
                self.server.owner._track(self.connection, add=False)
                raise

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.owner._track(self.connection, add=False)

    def do_GET(self) -> None:
        self.server.owner._handle(self)

    do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_GET


class TokenServer:
    """The local token server; a context manager, sync (``with``) and async
    (``async with``, under asyncio or trio).

    Args:
      host: the address to listen on (loopback by default).
      port: the port; 0 picks a free one.
      token_lifetime: seconds the access tokens of SmartConnect, TeamSystem,
        SmartDocumentor and the generic endpoint live (their ``expires_in``).
      smartway_lifetime: seconds SmartWay's tokens live.
      credentials: the credentials accepted; :class:`Credentials` defaults.
      ssl_context: a server-side TLS context to serve ``https``.
    """

    _ANSWERERS: ClassVar[dict[str, str]] = {
        "smartway": "_smartway",
        "smartconnect": "_smartconnect",
        "teamsystem": "_teamsystem",
        "teamsystem-refresh": "_teamsystem_refresh",
        "smartdocumentor": "_smartdocumentor",
        "generic": "_generic",
        "resource": "_resource",
    }

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        token_lifetime: int = 3600,
        smartway_lifetime: int = 900,
        credentials: Credentials | None = None,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        for name, value in (
            ("token_lifetime", token_lifetime),
            ("smartway_lifetime", smartway_lifetime),
        ):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
        self.host: Final = host
        self.token_lifetime: Final = token_lifetime
        self.smartway_lifetime: Final = smartway_lifetime
        self.credentials: Final = credentials or Credentials()
        self.ssl_context: Final = ssl_context
        self._port = port
        self._key = secrets.token_bytes(32)
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._requests: list[RecordedRequest] = []
        self._refresh: dict[str, _Grant] = {}
        self._connections: set[socket.socket] = set()
        self._fail: list[tuple[int, int | None]] = []
        self._resets = 0
        self._hangs = 0
        self._latency = 0.0
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle -------------------------------------------------------

    def start(self) -> Self:
        """Listen and serve in a background thread; returns the server.

        Raises:
          RuntimeError: if it is already running or was stopped.
        """
        if self._httpd is not None or self._stopping.is_set():
            raise RuntimeError("a TokenServer starts once")
        server_class = _HTTPServer6 if ":" in self.host else _HTTPServer
        httpd = server_class((self.host, self._port), _Handler)
        httpd.owner = self
        self._port = httpd.server_address[1]
        self._httpd = httpd
        self._thread = threading.Thread(
            target=httpd.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"sansio-auth TokenServer {self.url}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving: hanging answers end, open connections are closed, and
        every thread is joined. Safe to call twice."""
        self._stopping.set()
        httpd, self._httpd = self._httpd, None
        if httpd is None:
            return
        httpd.shutdown()
        with self._lock:
            open_connections = list(self._connections)
        for conn in open_connections:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        httpd.server_close()  # joins the connection threads
        if self._thread is not None:
            self._thread.join()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    async def __aenter__(self) -> Self:
        return self.start()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        # Joining threads blocks; do it off the event loop (asyncio or trio).
        await anyio.to_thread.run_sync(self.stop)

    # -- where things are --------------------------------------------------

    @property
    def running(self) -> bool:
        """Whether it has been started and not stopped."""
        return self._httpd is not None

    @property
    def port(self) -> int:
        """The port listened on (known once started when 0 was asked)."""
        return self._port

    @property
    def url(self) -> str:
        """The base URL, e.g. ``http://127.0.0.1:54321``."""
        scheme = "https" if self.ssl_context is not None else "http"
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{scheme}://{host}:{self._port}"

    @property
    def smartway_base_url(self) -> str:
        """``base_url=`` for :func:`sansio_auth.providers.smartway`."""
        return f"{self.url}/smartway"

    @property
    def teamsystem_base_url(self) -> str:
        """``base_url=`` for :func:`sansio_auth.providers.teamsystem`."""
        return f"{self.url}/teamsystem"

    @property
    def smartdocumentor_base_url(self) -> str:
        """``base_url=`` for :func:`sansio_auth.providers.smartdocumentor`."""
        return f"{self.url}/smartdocumentor"

    def smartconnect_token_url(self, region: str = "NA") -> str:
        """SmartConnect's token URL for *region* (``NA NA2 NA3 UK EU EU2 AU``).

        Raises:
          ValueError: for another region.
        """
        key = region.upper()
        if key not in SMARTCONNECT_REGIONS:
            valid = ", ".join(SMARTCONNECT_REGIONS)
            raise ValueError(
                f"unknown SmartConnect region {region!r}; valid regions: {valid}"
            )
        return f"{self.url}/smartconnect/{key}/token"

    @property
    def generic_token_url(self) -> str:
        """The generic RFC 6749 token endpoint."""
        return f"{self.url}/oauth/token"

    @property
    def resource_url(self) -> str:
        """The protected resource (``GET`` with ``Authorization: Bearer``)."""
        return f"{self.url}/api/resource"

    # -- records ---------------------------------------------------------

    @property
    def requests(self) -> list[RecordedRequest]:
        """Every request received, oldest first (a copy)."""
        with self._lock:
            return list(self._requests)

    def token_requests(self, endpoint: str | None = None) -> list[RecordedRequest]:
        """The requests to token endpoints, or to *endpoint* only.

        Raises:
          ValueError: if *endpoint* is not one of :data:`ENDPOINTS`.
        """
        if endpoint is not None and endpoint not in ENDPOINTS:
            raise ValueError(
                f"endpoint must be one of {', '.join(ENDPOINTS)}, got {endpoint!r}"
            )
        wanted = _TOKEN_ENDPOINTS if endpoint is None else {endpoint}
        return [r for r in self.requests if r.endpoint in wanted]

    def clear(self) -> None:
        """Forget the recorded requests and any pending fault and latency.
        Issued tokens stay valid."""
        with self._lock:
            self._requests.clear()
            self._fail.clear()
            self._resets = self._hangs = 0
            self._latency = 0.0

    # -- faults ----------------------------------------------------------

    def fail_next(
        self, count: int, status: int = 503, retry_after: int | None = 1
    ) -> None:
        """Answer the next *count* requests with *status* (a plain-text error
        page) and ``Retry-After: <retry_after>`` unless it is None."""
        _check_count(count)
        if not 400 <= status <= 599:
            raise ValueError(f"status must be a 4xx or 5xx, got {status!r}")
        with self._lock:
            self._fail.extend([(status, retry_after)] * count)

    def set_latency(self, seconds: float) -> None:
        """Wait *seconds* before every answer (0 for none)."""
        if not 0 <= seconds < float("inf"):
            raise ValueError(f"latency must be a finite number >= 0, got {seconds!r}")
        with self._lock:
            self._latency = float(seconds)

    def reset_next(self, count: int = 1) -> None:
        """For the next *count* requests, send the head and half the body, then
        reset the connection (TCP RST)."""
        _check_count(count)
        with self._lock:
            self._resets += count

    def hang_next(self, count: int = 1) -> None:
        """Read the next *count* requests and never answer them (until stop)."""
        _check_count(count)
        with self._lock:
            self._hangs += count

    # -- tokens ----------------------------------------------------------

    def verify(self, token: str) -> Mapping[str, object] | None:
        """The claims of *token* if this server issued it (HS256 under its key)
        and it has not expired; None otherwise."""
        if not isinstance(token, str):
            return None
        return _verify(self._key, token, time.time())

    def _issue(
        self, endpoint: str, subject: str, lifetime: int, **claims: object
    ) -> str:
        now = int(time.time())
        payload: dict[str, object] = {
            "iss": self.url,
            "sub": subject,
            "iat": now,
            "exp": now + lifetime,
            "jti": secrets.token_hex(8),
            "endpoint": endpoint,
        }
        payload.update(claims)
        return _sign(self._key, payload)

    def _new_refresh_token(self, grant: _Grant) -> str:
        token = secrets.token_urlsafe(32)
        with self._lock:
            self._refresh[token] = grant
        return token

    def _take_refresh_token(self, token: str, family: str) -> _Grant | None:
        """The grant of *token*, revoked now that it is used (rotation)."""
        with self._lock:
            grant = self._refresh.get(token)
            if grant is None or grant.family != family:
                return None
            del self._refresh[token]
        return grant if time.time() < grant.expires_at else None

    # -- serving ---------------------------------------------------------

    def _track(self, conn: socket.socket, *, add: bool) -> None:
        with self._lock:
            if add:
                self._connections.add(conn)
            else:
                self._connections.discard(conn)

    def _handle(self, handler: _Handler) -> None:
        handler.close_connection = True  # one exchange per connection
        if "chunked" in (handler.headers.get("Transfer-Encoding") or "").lower():
            self._send(handler, _Answer(status=411, body=b"", content_type=""))
            return
        try:
            length = int(handler.headers.get("Content-Length") or 0)
        except ValueError:
            length = -1
        if not 0 <= length <= _MAX_BODY:
            self._send(handler, _Answer(status=413, body=b"", content_type=""))
            return
        body = handler.rfile.read(length) if length else b""
        if len(body) < length:
            return  # the client went away
        endpoint = _route(handler.path)
        content_type = handler.headers.get("Content-Type")
        with self._lock:
            fault: str | None = None
            failure: tuple[int, int | None] | None = None
            if self._hangs:
                self._hangs -= 1
                fault = "hang"
            elif self._resets:
                self._resets -= 1
                fault = "reset"
            elif self._fail:
                failure = self._fail.pop(0)
                fault = "fail"
            latency = self._latency
            self._requests.append(
                RecordedRequest(
                    method=handler.command,
                    path=handler.path,
                    headers=tuple(handler.headers.items()),
                    body=body,
                    fields=_recorded_fields(content_type, body),
                    endpoint=endpoint,
                    fault=fault,
                    received_at=time.time(),
                )
            )
        if fault == "hang":
            self._stopping.wait()
            return
        if latency and self._stopping.wait(latency):
            return
        if failure is not None:
            status, retry_after = failure
            headers = (
                () if retry_after is None else (("Retry-After", str(retry_after)),)
            )
            text = f"{status} {http.HTTPStatus(status).phrase}\n".encode()
            answer = _Answer(
                status=status, body=text, headers=headers, content_type="text/plain"
            )
        else:
            answer = self._answer(endpoint, handler, body)
        if fault == "reset":
            self._send_and_reset(handler, answer)
        else:
            self._send(handler, answer)

    def _answer(self, endpoint: str, handler: _Handler, body: bytes) -> _Answer:
        if endpoint == "unknown":
            return _json(404, {"error": "not_found", "path": handler.path})
        allowed = "GET" if endpoint == "resource" else "POST"
        if handler.command != allowed:
            return _json(
                405,
                {"error": "method_not_allowed", "allowed": allowed},
                ("Allow", allowed),
            )
        answerer: Callable[[_Handler, bytes], _Answer] = getattr(
            self, self._ANSWERERS[endpoint]
        )
        try:
            return answerer(handler, body)
        except _Refused as refused:
            return refused.answer

    def _head(self, handler: _Handler, answer: _Answer, length: int) -> None:
        handler.send_response(answer.status)
        if answer.content_type:
            handler.send_header("Content-Type", answer.content_type)
        for name, value in answer.headers:
            handler.send_header(name, value)
        handler.send_header("Content-Length", str(length))
        handler.send_header("Connection", "close")
        handler.end_headers()

    def _send(self, handler: _Handler, answer: _Answer) -> None:
        with contextlib.suppress(OSError):
            self._head(handler, answer, len(answer.body))
            if handler.command != "HEAD":
                handler.wfile.write(answer.body)
            handler.wfile.flush()

    def _send_and_reset(self, handler: _Handler, answer: _Answer) -> None:
        body = answer.body or b"{}"
        with contextlib.suppress(OSError):
            self._head(handler, answer, len(body))
            handler.wfile.write(body[: len(body) // 2])
            handler.wfile.flush()
            time.sleep(0.05)  # let the client read the head
            # SO_LINGER with a zero timeout makes close() send a RST.
            handler.connection.setsockopt(
                socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)
            )
            handler.rfile.close()
            handler.connection.close()

    # -- the vendors -----------------------------------------------------

    def _form(self, handler: _Handler, body: bytes) -> dict[str, str]:
        content_type = handler.headers.get("Content-Type")
        if _media_type(content_type) != _FORM:
            raise _Refused(
                "invalid_request",
                f"the content type must be {_FORM}, got {_media_type(content_type)!r}",
            )
        return _single(_form_pairs(body))

    def _smartway(self, handler: _Handler, body: bytes) -> _Answer:
        creds = self.credentials
        key = handler.headers.get("X-API-Key")
        if not key or not _same(key, creds.smartway_api_key):
            return _json(
                401,
                {
                    "error": "unauthorized",
                    "error_description": "a valid company API key is required "
                    "in the X-API-Key header",
                },
            )
        token = self._issue(
            "smartway",
            creds.smartway_company_id,
            self.smartway_lifetime,
            companyId=creds.smartway_company_id,
            hrEmail=creds.smartway_hr_email,
            scope=SMARTWAY_SCOPE,
        )
        return _token_answer(
            {
                "access_token": token,
                "token_type": "Bearer",
                "expires_in": self.smartway_lifetime,
                "scope": SMARTWAY_SCOPE,
            }
        )

    def _smartconnect(self, handler: _Handler, body: bytes) -> _Answer:
        creds = self.credentials
        fields = self._form(handler, body)
        _require(fields, "grant_type")
        if fields["grant_type"] != "password":
            raise _Refused("unsupported_grant_type", "the grant type must be password")
        _require(fields, "username", "password", "client_id", "client_secret")
        if not (
            _same(fields["client_id"], creds.smartconnect_client_id)
            and _same(fields["client_secret"], creds.smartconnect_client_secret)
        ):
            raise _Refused("invalid_client", "client authentication failed", status=401)
        if not (
            _same(fields["username"], creds.smartconnect_username)
            and _same(fields["password"], creds.smartconnect_password)
        ):
            raise _Refused("invalid_grant", "the user name or password is incorrect")
        region = handler.path.split("/")[2]
        token = self._issue(
            "smartconnect",
            fields["username"],
            self.token_lifetime,
            client_id=fields["client_id"],
            region=region,
        )
        return _token_answer({"access_token": token, "token_type": "bearer"})

    def _teamsystem(self, handler: _Handler, body: bytes) -> _Answer:
        creds = self.credentials
        content_type = handler.headers.get("Content-Type")
        if _media_type(content_type) != "multipart/form-data" or content_type is None:
            raise _Refused(
                "invalid_request",
                "the content type must be multipart/form-data, "
                f"got {_media_type(content_type)!r}",
            )
        accept = (handler.headers.get("Accept") or "").lower()
        if "application/json" not in accept:
            return _json(
                406,
                {
                    "error": "not_acceptable",
                    "error_description": "send Accept: application/json",
                },
            )
        fields = _single(_multipart_pairs(content_type, body))
        _require(fields, "username", "scope", "token")
        scheme, _, key = fields["token"].partition(" ")
        if scheme != "Bearer" or not _same(key, creds.teamsystem_api_key):
            raise _Refused(
                "invalid_client",
                "the token field must be 'Bearer <API key>' with a valid key",
                status=401,
            )
        if not _same(fields["username"], creds.teamsystem_username):
            raise _Refused("invalid_grant", "unknown username")
        if not _same(fields["scope"], creds.teamsystem_scope):
            raise _Refused("invalid_scope", "the scope is not granted to this user")
        return self._teamsystem_tokens(fields["username"], fields["scope"])

    def _teamsystem_tokens(self, username: str, scope: str) -> _Answer:
        access = self._issue("teamsystem", username, self.token_lifetime, scope=scope)
        refresh = self._new_refresh_token(
            _Grant(
                family="teamsystem",
                client_id=None,
                subject=username,
                scope=scope,
                expires_at=time.time() + _REFRESH_LIFETIME,
            )
        )
        return _token_answer(
            {
                "access_token": access,
                "token_type": "Bearer",
                "expires_in": self.token_lifetime,
                "refresh_token": refresh,
            }
        )

    def _teamsystem_refresh(self, handler: _Handler, body: bytes) -> _Answer:
        if _media_type(handler.headers.get("Content-Type")) != "application/json":
            raise _Refused(
                "invalid_request", "the content type must be application/json"
            )
        try:
            data = json.loads(body)
        except ValueError:
            raise _Refused("invalid_request", "the body is not JSON") from None
        if not isinstance(data, dict):
            raise _Refused("invalid_request", "the body must be a JSON object")
        fields = {k: v for k, v in data.items() if isinstance(v, str)}
        _require(fields, "grant_type")
        if fields["grant_type"] != "refresh_token":
            raise _Refused(
                "unsupported_grant_type", "the grant type must be refresh_token"
            )
        _require(fields, "refresh_token")
        grant = self._take_refresh_token(fields["refresh_token"], "teamsystem")
        if grant is None:
            raise _Refused("invalid_grant", "the refresh token is invalid or revoked")
        return self._teamsystem_tokens(grant.subject, grant.scope or "")

    def _smartdocumentor(self, handler: _Handler, body: bytes) -> _Answer:
        creds = self.credentials
        fields = self._form(handler, body)
        _require(fields, "grant_type")
        if fields["grant_type"] != "client_credentials":
            raise _Refused(
                "unsupported_grant_type", "the grant type must be client_credentials"
            )
        _require(fields, "client_id", "client_secret")
        if not (
            _same(fields["client_id"], creds.smartdocumentor_client_id)
            and _same(fields["client_secret"], creds.smartdocumentor_client_secret)
        ):
            # As the vendor documents it: {"error": "invalid_client"} alone.
            return _json(400, {"error": "invalid_client"})
        if fields.get("scope") != "WebAPI":
            raise _Refused("invalid_scope", "the scope must be WebAPI")
        token = self._issue(
            "smartdocumentor",
            fields["client_id"],
            self.token_lifetime,
            client_id=fields["client_id"],
            scope="WebAPI",
        )
        return _token_answer(
            {
                "access_token": token,
                "expires_in": self.token_lifetime,
                "token_type": "Bearer",
                "scope": "WebAPI",
            }
        )

    def _generic_client(self, handler: _Handler, fields: dict[str, str]) -> str:
        """The authenticated client id (RFC 6749 §2.3.1), or a refusal."""
        creds = self.credentials
        authorization = handler.headers.get("Authorization")
        basic = authorization is not None
        challenge = (("WWW-Authenticate", f'Basic realm="{_REALM}"'),)
        if basic and ("client_id" in fields or "client_secret" in fields):
            # §2.3: a client must not use more than one method.
            raise _Refused(
                "invalid_request", "client credentials in both header and body"
            )
        if authorization is not None:
            scheme, _, encoded = authorization.partition(" ")
            try:
                decoded = base64.b64decode(encoded.strip(), validate=True).decode()
            except (ValueError, binascii.Error):
                decoded = ""
            raw_id, colon, raw_secret = decoded.partition(":")
            if scheme.lower() != "basic" or not colon:
                raise _Refused(
                    "invalid_client",
                    "malformed Basic credentials",
                    status=401,
                    headers=challenge,
                )
            client_id = urllib.parse.unquote_plus(raw_id)
            secret = urllib.parse.unquote_plus(raw_secret)
        else:
            client_id = fields.pop("client_id", "")
            secret = fields.pop("client_secret", "")
            if not client_id:
                raise _Refused(
                    "invalid_client",
                    "client authentication is required",
                    status=401,
                    headers=challenge,
                )
        if not (
            _same(client_id, creds.generic_client_id)
            and _same(secret, creds.generic_client_secret)
        ):
            if basic:
                raise _Refused(
                    "invalid_client",
                    "client authentication failed",
                    status=401,
                    headers=challenge,
                )
            raise _Refused("invalid_client", "client authentication failed")
        return client_id

    def _generic(self, handler: _Handler, body: bytes) -> _Answer:
        creds = self.credentials
        fields = self._form(handler, body)
        _require(fields, "grant_type")
        grant_type = fields["grant_type"]
        if grant_type not in ("client_credentials", "password", "refresh_token"):
            raise _Refused(
                "unsupported_grant_type",
                f"the grant type {grant_type} is not supported",
            )
        client_id = self._generic_client(handler, fields)
        scope = fields.get("scope") or None
        refresh: str | None = None
        if grant_type == "client_credentials":
            subject = client_id
        elif grant_type == "password":
            _require(fields, "username", "password")
            if not (
                _same(fields["username"], creds.generic_username)
                and _same(fields["password"], creds.generic_password)
            ):
                raise _Refused("invalid_grant", "the username or password is incorrect")
            subject = fields["username"]
        else:
            _require(fields, "refresh_token")
            grant = self._take_refresh_token(fields["refresh_token"], "generic")
            if grant is None or grant.client_id != client_id:
                raise _Refused(
                    "invalid_grant", "the refresh token is invalid or revoked"
                )
            subject = grant.subject
            scope = scope or grant.scope
        if grant_type != "client_credentials":  # §4.4.3: none for this grant
            refresh = self._new_refresh_token(
                _Grant(
                    family="generic",
                    client_id=client_id,
                    subject=subject,
                    scope=scope,
                    expires_at=time.time() + _REFRESH_LIFETIME,
                )
            )
        claims: dict[str, object] = {"client_id": client_id}
        if scope is not None:
            claims["scope"] = scope
        data: dict[str, object] = {
            "access_token": self._issue(
                "generic", subject, self.token_lifetime, **claims
            ),
            "token_type": "Bearer",
            "expires_in": self.token_lifetime,
        }
        if scope is not None:
            data["scope"] = scope
        if refresh is not None:
            data["refresh_token"] = refresh
        return _token_answer(data)

    def _resource(self, handler: _Handler, body: bytes) -> _Answer:
        authorization = handler.headers.get("Authorization") or ""
        scheme, _, token = authorization.partition(" ")
        claims = self.verify(token.strip()) if scheme.lower() == "bearer" else None
        if claims is None:
            return _json(
                401,
                {
                    "error": "invalid_token",
                    "error_description": "a valid bearer token is required",
                },
                (
                    "WWW-Authenticate",
                    f'Bearer realm="{_REALM}", error="invalid_token"',
                ),
            )
        return _json(
            200,
            {"subject": claims.get("sub"), "endpoint": claims.get("endpoint")},
        )


def _check_count(count: int) -> None:
    if isinstance(count, bool) or not isinstance(count, int) or count < 0:
        raise ValueError(f"count must be an integer >= 0, got {count!r}")


_ROUTES: Final = {
    "/smartway/api/v1/auth/token": "smartway",
    "/teamsystem/api/v1/auth/token": "teamsystem",
    "/teamsystem/oauth/token": "teamsystem-refresh",
    "/smartdocumentor/connect/token": "smartdocumentor",
    "/oauth/token": "generic",
    "/api/resource": "resource",
}


def _route(target: str) -> str:
    path = urllib.parse.urlsplit(target).path
    if path in _ROUTES:
        return _ROUTES[path]
    parts = path.split("/")
    if (
        len(parts) == 4
        and parts[1] == "smartconnect"
        and parts[2] in SMARTCONNECT_REGIONS
        and parts[3] == "token"
    ):
        return "smartconnect"
    return "unknown"


# -- the command line ----------------------------------------------------------


def describe(server: TokenServer) -> str:
    """What a user of the running *server* needs: its URLs and credentials."""
    creds = attrs.asdict(server.credentials)
    lines = [
        f"sansio-auth token server on {server.url}",
        "",
        "endpoints:",
        f"  smartway         base_url={server.smartway_base_url}",
        f"  smartconnect     {server.url}/smartconnect/{{REGION}}/token"
        f"  (REGION: {' '.join(SMARTCONNECT_REGIONS)})",
        f"  teamsystem       base_url={server.teamsystem_base_url}",
        f"  smartdocumentor  base_url={server.smartdocumentor_base_url}",
        f"  generic          {server.generic_token_url}",
        f"  resource         GET {server.resource_url}",
        "",
        "credentials (fake, for tests):",
        *(f"  {name} = {value}" for name, value in creds.items()),
        "",
        f"token lifetime {server.token_lifetime} s, "
        f"SmartWay {server.smartway_lifetime} s",
    ]
    return "\n".join(lines)


def serve_forever(
    server: TokenServer,
    out: TextIO,
    *,
    stop: threading.Event | None = None,
) -> None:
    """Run *server* in the foreground: start it (unless running), print
    :func:`describe` to *out*, and serve until *stop* is set or the process is
    interrupted (Ctrl-C); then stop it.

    Args:
      server: the server, started or not.
      out: where the description goes (flushed).
      stop: an event that ends the serving; None to serve until interrupted.
    """
    if not server.running:
        server.start()
    try:
        out.write(describe(server) + "\n")
        out.flush()
        event = stop or threading.Event()
        with contextlib.suppress(KeyboardInterrupt):
            while not event.wait(0.5):
                pass
    finally:
        server.stop()


def main(argv: Sequence[str] | None = None, out: TextIO | None = None) -> int:
    """``python -m sansio_auth.adapters.server``: serve in the foreground."""
    parser = argparse.ArgumentParser(
        prog="python -m sansio_auth.adapters.server",
        description="A local token server playing SmartWay, SmartConnect, "
        "TeamSystem, SmartDocumentor and a generic RFC 6749 endpoint.",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--token-lifetime", type=int, default=3600)
    parser.add_argument("--smartway-lifetime", type=int, default=900)
    args = parser.parse_args(argv)
    server = TokenServer(
        host=args.host,
        port=args.port,
        token_lifetime=args.token_lifetime,
        smartway_lifetime=args.smartway_lifetime,
    )
    serve_forever(server, out or sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
