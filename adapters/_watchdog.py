"""A watchdog for a sync exchange: at its deadline, cut the connection.

A sync read waits up to its timeout for each piece; a server that drips (a
response head, a chunk-size line, a body, a byte at a time) keeps every
read short, and a library's read loop (h11's for a head, http.client's for
a line) keeps reading until its unit is whole, so no check between reads
ever runs. Only cutting the connection ends such a read: a thread shuts the
socket down at the deadline (``shutdown``, which wakes a thread blocked in
``recv``; ``close`` would not, on Linux), and the reading thread sees an
error or an end of stream, which it reports as the timeout when
:attr:`Watchdog.fired` says so.

The socket may not be known yet at the deadline (still connecting, still
waiting for the pool): the cut is tried again every few milliseconds until
it is done or the watchdog is cancelled. The httpx send arms one before the
request; the requests send once the head is in (its head is bounded by a
worker thread it stops waiting for).
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable

__all__ = ["Watchdog", "shut_down", "shut_down_fd"]

_AGAIN = 0.02
"""Seconds between tries of a cut that found nothing to cut yet."""


class Watchdog:
    """Calls *cut* at *deadline* (``time.monotonic`` seconds), and again
    every few milliseconds while it returns False, until :meth:`cancel`.

    *cut* runs under the watchdog's lock, which :meth:`cancel` takes too:
    once ``cancel`` has returned, no cut runs, so the caller may close
    (and the OS reuse) the connection's descriptor.
    """

    __slots__ = ("_cut", "_done", "_lock", "fired")

    def __init__(self, deadline: float, cut: Callable[[], bool]) -> None:
        self.fired = False
        """Whether the deadline passed before :meth:`cancel`."""
        self._cut = cut
        self._lock = threading.Lock()
        self._done = threading.Event()
        threading.Thread(
            target=self._run, args=(deadline,), name="sansio-auth-watchdog", daemon=True
        ).start()

    def _run(self, deadline: float) -> None:
        wait = max(0.0, deadline - time.monotonic())
        while not self._done.wait(wait):
            with self._lock:
                if self._done.is_set():
                    return
                self.fired = True
                if self._cut():
                    return
            wait = _AGAIN

    def cancel(self) -> None:
        """Disarm; before the connection is closed."""
        with self._lock:
            self._done.set()


def shut_down(sock: socket.socket) -> None:
    """Shut *sock*'s TCP connection down both ways, under TLS too (through
    its descriptor: the TLS layer is left alone, and the reading thread's
    TLS read ends at the end of the stream)."""
    shut_down_fd(sock.fileno())


def shut_down_fd(fd: int) -> None:
    """:func:`shut_down` for a socket known by its descriptor only."""
    if fd < 0:  # closed already
        return
    try:
        raw = socket.socket(fileno=fd)
    except OSError:
        return
    try:
        raw.shutdown(socket.SHUT_RDWR)
    except OSError:  # already shut down by the peer
        pass
    finally:
        raw.detach()  # the descriptor stays its owner's
