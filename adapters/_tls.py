"""The one default TLS context of the process, and what a fork does to it."""

from __future__ import annotations

import os
import ssl
import threading

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
