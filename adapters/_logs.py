"""What the adapters log, on the ``sansio_auth`` logger: steps, statuses and
outcomes, by kind and URL (query values left out), never a credential or a
token."""

from __future__ import annotations

import logging

from sansio_auth import HttpRequest, SendRequest, Step, TokenError

__all__ = ["log_response", "log_result", "log_step", "logger"]

logger = logging.getLogger("sansio_auth")


def log_step(step: Step) -> None:
    """Log what the session said, with no credential or token in the record."""
    if not logger.isEnabledFor(logging.DEBUG):
        return
    if isinstance(step, SendRequest):
        kind = "refresh" if step.refresh else "token request"
        logger.debug("sending %s to %s", kind, step.request.redacted_url())
    else:
        logger.debug("session step: %s", type(step).__name__)


def log_response(request: HttpRequest, status: int) -> None:
    """Log the status a token request got back."""
    logger.debug("received HTTP %d from %s", status, request.redacted_url())


def log_result(request: HttpRequest, result: object, *, rejected: bool = False) -> None:
    """Log the outcome of a request, by kind and status only.

    Args:
      request: the request it answers (its URL is logged without query
        values, which may hold a key).
      result: what the session made of it (an error already masked).
      rejected: the session took it as a refresh token refused
        (``SessionEvent.REFRESH_REJECTED``): a WARNING, since a refresh token
        used twice may have been stolen and replayed. Not a failure for the
        caller: the session acquires anew.
    """
    url = request.redacted_url()
    if rejected:
        logger.warning(
            "refresh token refused by %s (invalid_grant): it had expired or been "
            "revoked, or was used already, possibly by someone who stole it; "
            "acquiring a new token",
            url,
        )
    if not logger.isEnabledFor(logging.DEBUG):
        return
    if isinstance(result, TokenError):
        logger.debug("token request to %s failed: %s", url, result)
    elif result is not None:
        logger.debug("token received from %s", url)
