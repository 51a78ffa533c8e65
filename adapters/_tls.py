"""The one default TLS context of the process, and what a fork does to it."""

from __future__ import annotations

import os
import ssl
import threading
import weakref
from typing import Final, final

__all__ = ["built_default_ssl_context", "default_ssl_context"]


# The shared default context, built on first use: building one reads the whole
# system trust store (set_default_verify_paths: about 15 ms and a few MB), far
# more than the exchange it serves. The lock keeps two threads from both
# building it, and a fork from happening while one does (below); a forked
# child gets a fresh lock.
_default_context: ssl.SSLContext | None = None
_default_context_lock = threading.Lock()


def _hold_for_fork() -> None:
    # A fork waits for a build under way to end: a child forked while a
    # thread was inside OpenSSL building the context could hang forever on
    # OpenSSL's own locks, which nothing in the child would release.
    _default_context_lock.acquire()


def _release_after_fork() -> None:
    _default_context_lock.release()


def _fresh_lock_in_child() -> None:
    global _default_context_lock
    _default_context_lock = threading.Lock()


if hasattr(os, "register_at_fork"):  # not on Windows, which cannot fork
    os.register_at_fork(
        before=_hold_for_fork,
        after_in_parent=_release_after_fork,
        after_in_child=_fresh_lock_in_child,
    )


def default_ssl_context() -> ssl.SSLContext:
    """Verified TLS with the system trust store: one context for the process.

    Built on the first call (the trust store is read then: a later change of
    ``SSL_CERT_FILE`` is not seen), then shared by every send given no
    context. A forked child keeps its parent's, once built.
    """
    global _default_context
    context = _default_context
    if context is None:
        with _default_context_lock:
            context = _default_context
            if context is None:
                context = _default_context = ssl.create_default_context()
    return context


def built_default_ssl_context() -> ssl.SSLContext | None:
    """The shared default context if it is built, else None.

    For a caller that must not build it where it runs (an event loop's
    thread): it builds it elsewhere, in a worker thread, when this is None.
    """
    return _default_context


def _cert_files(client_cert: object) -> tuple[str, str | None, str | bytes | None]:
    # As httpx and requests take it: a PEM file with the certificate and its
    # key, or (certificate, key), or (certificate, key, password).
    from ._paths import check_path_text

    if isinstance(client_cert, str | os.PathLike):
        path = os.fspath(client_cert)
        if isinstance(path, str):
            return check_path_text("client_cert", path), None, None
    if isinstance(client_cert, tuple) and len(client_cert) in (2, 3):
        certfile, keyfile, *rest = client_cert
        password = rest[0] if rest else None
        if (
            isinstance(certfile, str | os.PathLike)
            and isinstance(keyfile, str | os.PathLike)
            and (password is None or isinstance(password, str | bytes))
        ):
            cert, key = os.fspath(certfile), os.fspath(keyfile)
            if isinstance(cert, str) and isinstance(key, str):
                return (
                    check_path_text("client_cert's certificate", cert),
                    check_path_text("client_cert's key", key),
                    password,
                )
    raise TypeError(
        "client_cert must be a PEM file path, or (cert_path, key_path), or "
        "(cert_path, key_path, password)"
    )


_TLS_AUTHS: Final = ("tls_client_auth", "self_signed_tls_client_auth")
_MAX_PEM = 1 << 20  # a certificate chain and a key: kilobytes, not more
# The client certificate loaded into each caller's context, by thumbprint.
_loaded: weakref.WeakKeyDictionary[ssl.SSLContext, str] = weakref.WeakKeyDictionary()
_loaded_lock = threading.Lock()


@final
class LoadedCert:
    """A client certificate loaded into its context once: what an
    integration makes when it is built and gives each token client it makes
    later (on an event loop, where reading the trust store and the files
    would stall it)."""

    __slots__ = ("context", "thumbprint")

    def __init__(self, context: ssl.SSLContext, thumbprint: str) -> None:
        self.context: Final = context
        self.thumbprint: Final = thumbprint

    def __repr__(self) -> str:
        return f"LoadedCert(thumbprint={self.thumbprint!r})"


def load_client_cert(
    client_cert: object, ssl_context: ssl.SSLContext | None = None
) -> LoadedCert | None:
    """:func:`client_cert_context` done once, or None without a certificate."""
    context, thumbprint = client_cert_context(client_cert, ssl_context)
    if context is None or thumbprint is None:
        return None
    return LoadedCert(context, thumbprint)


def client_cert_context(
    client_cert: object, ssl_context: ssl.SSLContext | None
) -> tuple[ssl.SSLContext | None, str | None]:
    """The TLS context that presents *client_cert* (RFC 8705), and the
    certificate's SHA-256 thumbprint (base64url, as ``cnf.x5t#S256``).

    Without a certificate: *ssl_context* as given, and None. With both, the
    certificate is loaded into *ssl_context* (which may trust a private CA).

    Raises:
      ValueError: if the files cannot be loaded, or *ssl_context* carries
        another client's certificate already; the message names the file,
        never a password or a byte of a key.
    """
    if client_cert is None:
        return ssl_context, None
    if isinstance(client_cert, LoadedCert):
        if ssl_context is not None and ssl_context is not client_cert.context:
            raise ValueError(
                "give client_cert= or an ssl_context carrying the certificate, "
                "not another context beside a loaded certificate"
            )
        return client_cert.context, client_cert.thumbprint
    certfile, keyfile, password = _cert_files(client_cert)
    # Into the caller's context when there is one (it may trust a private
    # CA), as httpx does with cert= and verify=: the caller asked for both.
    context = ssl.create_default_context() if ssl_context is None else ssl_context
    asked: list[bool] = []

    def no_password() -> bytes:
        # Without a password callback OpenSSL asks for one on the terminal
        # itself ("Enter PEM pass phrase:"), blocking the process; an empty
        # one makes an encrypted key fail to load, as a ValueError.
        asked.append(True)
        return b""

    # A context presents the last certificate loaded into it: a second
    # client loading another into the caller's context would change what the
    # first presents, while its store key still names its own. So the
    # certificate is read and checked first, and loaded under the lock.
    from ._paths import read_regular_file

    failing = certfile  # the file a failure is named by
    try:
        # Read safely first (a FIFO at the path would block OpenSSL's read
        # forever); OpenSSL then reads the same regular files.
        pem = read_regular_file(certfile, max_bytes=_MAX_PEM, field="client_cert")
        if keyfile is not None:
            failing = keyfile
            read_regular_file(keyfile, max_bytes=_MAX_PEM, field="client_cert's key")
            failing = certfile
        thumbprint = cert_thumbprint(pem)
        with _loaded_lock:
            if ssl_context is not None:
                before = _loaded.get(ssl_context)
                if before is not None and before != thumbprint:
                    raise ValueError(
                        "this ssl_context carries another client certificate "
                        "already: give each client certificate a context of "
                        "its own"
                    )
            context.load_cert_chain(
                certfile, keyfile, no_password if password is None else password
            )
            if ssl_context is not None:
                _loaded[ssl_context] = thumbprint
    except (OSError, ssl.SSLError) as exc:
        reason = type(exc).__name__
        if asked:
            hint = "; its key is encrypted: give (cert_path, key_path, password)"
        elif password is not None and isinstance(exc, ssl.SSLError):
            hint = "; a wrong password, or a key that is not the certificate's"
        else:
            hint = ""
        raise ValueError(
            f"client_cert could not be loaded from {failing!r} ({reason}){hint}"
        ) from None
    return context, thumbprint


def cert_thumbprint(pem: bytes) -> str:
    """The ``x5t#S256`` of the first certificate in *pem*."""
    import base64
    import hashlib

    text = pem.decode("ascii", "replace")
    begin = text.find("-----BEGIN CERTIFICATE-----")
    end = text.find("-----END CERTIFICATE-----", begin)
    if begin == -1 or end == -1:
        raise ValueError("client_cert holds no PEM certificate")
    der = ssl.PEM_cert_to_DER_cert(text[begin : end + len("-----END CERTIFICATE-----")])
    digest = hashlib.sha256(der).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def check_client_cert(
    flow: object, ssl_context: ssl.SSLContext | None, cert_sha256: str | None
) -> None:
    """Refuse a flow that authenticates with its certificate when the client
    has none to present: every request would be refused, after a round trip.

    An ``ssl_context`` of the caller's may carry one (we cannot look inside
    it), so it is taken on trust.
    """
    auth = getattr(flow, "auth", None)
    if auth in _TLS_AUTHS and ssl_context is None and cert_sha256 is None:
        raise ValueError(
            f"auth={auth!r} needs the client certificate: give client_cert= "
            "(or an ssl_context that carries it)"
        )


def require_client_cert(flow: object, client_cert: object, yours: str) -> None:
    """An integration's check, when it is built: a flow that authenticates
    with a certificate needs ``client_cert=``, even when token requests go
    through the caller's own client (*yours*: ``"session="``), which must
    then present the same certificate."""
    auth = getattr(flow, "auth", None)
    if client_cert is None and auth in _TLS_AUTHS:
        raise ValueError(
            f"auth={auth!r} needs the client certificate: give client_cert= "
            f"(and a {yours} of yours, through which token requests go, the "
            "same certificate)"
        )
