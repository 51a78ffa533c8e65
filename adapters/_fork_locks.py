"""Locks that a forked child gets afresh.

A lock held by another thread at the moment of ``os.fork()`` stays held in
the child, where that thread does not exist: the child's first caller would
wait forever. The objects here hold a lock for a few bytecodes only, but a
fork may still land in those; each registers, and the child replaces the
lock of every one of them before anything else runs.
"""

from __future__ import annotations

import os
import threading
import weakref

__all__ = ["fork_safe_lock"]

_owners: weakref.WeakSet[object] = weakref.WeakSet()


def fork_safe_lock(owner: object) -> threading.Lock:
    """A lock for *owner*'s ``_lock`` attribute, replaced in a forked child."""
    _owners.add(owner)
    return threading.Lock()


def _renew() -> None:
    for owner in list(_owners):
        owner._lock = threading.Lock()  # type: ignore[attr-defined]


if hasattr(os, "register_at_fork"):  # not on Windows, which cannot fork
    os.register_at_fork(after_in_child=_renew)
