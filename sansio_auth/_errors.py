"""Why a token could not be had, as values that can also be raised.

Every error says whether trying again may help (``retryable``); the lifecycle
decides retries from that alone. Nothing here ever holds a credential or a
token: the parser masks them before it builds any of these values.
"""

from __future__ import annotations

from typing import final

import attrs

__all__ = [
    "HttpError",
    "MalformedResponse",
    "OAuthError",
    "TokenError",
    "TransportError",
]

# RFC 6749 §5.2 codes (and RFC 8628's slow_down) that describe a passing state
# of the server rather than a problem with what we sent.
_RETRYABLE_OAUTH = frozenset({"temporarily_unavailable", "slow_down", "server_error"})
# Request Timeout, Too Early, Too Many Requests and the gateway family.
_RETRYABLE_STATUS = frozenset({408, 425, 429, 500, 502, 503, 504})


class TokenError(Exception):
    """The base of every error a token fetch can end in."""

    @property
    def retryable(self) -> bool:
        """Whether the same request may succeed later; each subclass decides."""
        return False

    def __reduce__(self) -> str | tuple[object, ...]:
        # BaseException's reduce calls cls(*args); ours are keyword-only.
        cls = type(self)
        if not attrs.has(cls):
            return super().__reduce__()
        fields = {field.name: getattr(self, field.name) for field in attrs.fields(cls)}
        return (_rebuild, (cls, fields))


def _rebuild(cls: type[TokenError], fields: dict[str, object]) -> TokenError:
    return cls(**fields)


def _after(retry_after: float | None) -> str:
    return "" if retry_after is None else f", retry after {retry_after:g} s"


@final
@attrs.frozen(kw_only=True)
class OAuthError(TokenError):
    """The server answered with an RFC 6749 §5.2 error body."""

    error: str
    """The ``error`` code, e.g. ``"invalid_client"``."""
    description: str | None = None
    """``error_description``, masked of credentials."""
    uri: str | None = None
    """``error_uri``."""
    status: int
    """The HTTP status it came with (any, 200 included)."""
    retry_after: float | None = None
    """Seconds to wait from the parse's ``now``, from ``Retry-After``."""

    @property
    def retryable(self) -> bool:
        """True for ``temporarily_unavailable``, ``slow_down``, ``server_error``."""
        return self.error in _RETRYABLE_OAUTH

    def __str__(self) -> str:
        text = f"token endpoint answered {self.error} (HTTP {self.status})"
        if self.description:
            text += f": {self.description}"
        return text + _after(self.retry_after)


@final
@attrs.frozen(kw_only=True)
class HttpError(TokenError):
    """A non-2xx answer that is not an OAuth error (an HTML 502, a 429, a 3xx)."""

    status: int
    """The HTTP status."""
    content_type: str | None
    """The response's ``Content-Type``, if any."""
    snippet: str
    """At most 200 characters of the body, credentials masked."""
    retry_after: float | None = None
    """Seconds to wait from the parse's ``now``, from ``Retry-After``."""
    location: str | None = None
    """Where a 3xx points (its ``Location``, credentials masked); never
    followed, since that would post the credentials there."""

    @property
    def retryable(self) -> bool:
        """True for 408, 425, 429, 500, 502, 503 and 504."""
        return self.status in _RETRYABLE_STATUS

    def __str__(self) -> str:
        kind = self.content_type or "no content type"
        text = f"token endpoint answered HTTP {self.status} ({kind})"
        if self.location is not None:
            # The usual cause: a token URL missing its trailing slash, or
            # http where the server wants https.
            text += (
                f": a redirect to {self.location}, not followed (a token request "
                "never is); if that is the token endpoint, use it as the token URL"
            )
        return text + _after(self.retry_after)


@final
@attrs.frozen(kw_only=True)
class MalformedResponse(TokenError):
    """A 2xx answer that is not a usable token."""

    reason: str
    """What was wrong, naming the field."""
    status: int
    """The HTTP status."""
    content_type: str | None
    """The response's ``Content-Type``, if any."""
    snippet: str
    """At most 200 characters of the body, credentials masked."""

    @property
    def retryable(self) -> bool:
        """Never: the same request would get the same unusable answer."""
        return False

    def __str__(self) -> str:
        return f"unusable token response (HTTP {self.status}): {self.reason}"


@final
@attrs.frozen(kw_only=True)
class TransportError(TokenError):
    """The exchange failed below HTTP semantics (made by the adapters)."""

    reason: str
    """What happened: refused, DNS, TLS verification, timeout, reset..."""
    retryable: bool  # a field here, a property in the base
    """Refused, reset, timeout, truncated: True. TLS, size cap: False."""

    def __str__(self) -> str:
        return self.reason
