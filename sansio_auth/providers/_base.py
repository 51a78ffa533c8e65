"""What the vendor modules share."""

from __future__ import annotations

from sansio_auth._urls import check_token_url


def join_url(base_url: str, path: str) -> str:
    """*base_url* (checked like a token URL) with *path* appended.

    Raises:
      ValueError: if *base_url* breaks the token URL rule, or has a query.
    """
    check_token_url(base_url, "base_url")
    if "?" in base_url:
        raise ValueError("base_url must not have a query")
    return base_url.rstrip("/") + path
