"""What the vendor modules share."""

from __future__ import annotations

import sys

from sansio_auth._urls import check_token_url


def join_url(base_url: str, path: str) -> str:
    """*base_url* (checked like a token URL) with *path* appended.

    The result is interned: a process holding a flow per tenant of one vendor
    holds each of its URLs once, not once per flow.

    Raises:
      ValueError: if *base_url* breaks the token URL rule, or has a query.
    """
    check_token_url(base_url, "base_url")
    if "?" in base_url:
        raise ValueError("base_url must not have a query")
    return sys.intern(base_url.rstrip("/") + path)
