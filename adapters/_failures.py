"""What a ``TransportError`` says about a response that went wrong.

Every adapter words its failures here, so that the same bytes from a server
end the same way whichever adapter read them (``tests/test_transport_rules.py``
holds them to it). A reason is made of our own words, the ``host:port`` we
asked for and numbers: never of text a server or a proxy sent, which could be
anything (a reflected credential, terminal escapes, a forged log line), nor
of an exception message that may quote it (h11's and http.client's do).
"""

from __future__ import annotations

import enum

from sansio_auth import TransportError

from ._common import Target


class Malformation(enum.Enum):
    """What was wrong with a response that is not HTTP/1.1 as we read it.

    The rules are h11's, which the urllib adapter applies too: RFC 9112 §4
    for the status line, §5 for header lines, §6.3 and RFC 9110 §8.6 for
    ``Content-Length`` (an invalid or conflicting one is an unrecoverable
    error in a response), §7.1 for chunked framing.
    """

    STATUS_LINE = "bad status line"
    HEADER_LINE = "bad header line"
    HEAD_TOO_LARGE = "response head too large"
    CONTENT_LENGTH = "bad Content-Length"
    CONFLICTING_CONTENT_LENGTH = "conflicting Content-Length"
    TRANSFER_ENCODING = "unsupported Transfer-Encoding (only chunked, once)"
    CHUNKED = "bad chunked framing"
    SWITCHING_PROTOCOLS = "unexpected 101 Switching Protocols"
    """We never ask for an upgrade, so what follows a 101 is not HTTP."""
    HEAD = "malformed response head"
    """Anything else wrong before the body."""
    BODY = "malformed response body"
    """Anything else wrong in the body."""


def where(target: Target) -> str:
    """The ``host:port`` a reason names: what we asked for, nothing sent to us."""
    return f"{target.host}:{target.port}"


def malformed(name: str, kind: Malformation) -> TransportError:
    """The response from *name* broke HTTP/1.1 the way *kind* says.

    Retryable, as a glitch of a proxy or a server being redeployed often is;
    the session's cooldown keeps a server that always does it from being
    hammered.
    """
    return TransportError(
        reason=f"malformed HTTP response from {name}: {kind.value}", retryable=True
    )


def closed_before_response(name: str) -> TransportError:
    """The connection ended before a whole response head came."""
    return TransportError(
        reason=f"connection to {name} closed before a response", retryable=True
    )


def truncated(name: str) -> TransportError:
    """The connection ended inside the body its framing promised."""
    return TransportError(
        reason=f"connection to {name} closed before the response was complete "
        "(truncated body)",
        retryable=True,
    )


def over_limit(max_response_bytes: int) -> TransportError:
    """The body passed the size cap: not retried, it would be as big again."""
    return TransportError(
        reason=f"response body over the {max_response_bytes}-byte limit",
        retryable=False,
    )


def cannot_frame(name: str) -> TransportError:
    """Our own request could not be put on the wire (not the server's doing)."""
    return TransportError(reason=f"cannot frame the request to {name}", retryable=False)
