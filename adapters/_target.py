"""Where a request goes: its URL split for a transport, and whether its host
is this machine."""

from __future__ import annotations

import socket
from urllib.parse import urlsplit

import attrs

from sansio_auth import HttpRequest
from sansio_auth._urls import is_loopback

__all__ = ["Target", "resolves_to_loopback", "target"]


def resolves_to_loopback(host: str) -> bool:
    """Whether *host* names this machine the way the resolver reads it.

    The core's rule for plain http (``localhost``, dotted 127.0.0.0/8,
    ``::1``), and the spellings ``getaddrinfo`` also takes to this machine:
    a final dot (``localhost.``), the short and numeric IPv4 forms
    (``127.1``, ``2130706433``, ``0x7f.1``) and IPv4-mapped IPv6
    (``::ffff:127.0.0.1``). A request to any of them never goes through a
    proxy, which would take it off the machine.
    """
    name = host.lower().removesuffix(".")
    if name == "localhost" or is_loopback(name):
        return True
    try:
        return socket.inet_aton(name)[0] == 127
    except OSError:
        pass
    import ipaddress

    try:
        address = ipaddress.ip_address(name.partition("%")[0])
    except ValueError:
        return False
    mapped = getattr(address, "ipv4_mapped", None)
    return address.is_loopback or (mapped is not None and mapped.is_loopback)


@attrs.frozen(kw_only=True)
class Target:
    """Where a request goes, split for a transport."""

    https: bool
    host: str
    port: int
    path: str
    """The request target: path and query."""
    host_header: str
    """The ``Host`` header value (RFC 9110 §7.2)."""


def target(request: HttpRequest) -> Target:
    """Split the request's URL for a transport.

    Raises:
      TypeError: if *request* is not an ``HttpRequest``.
      ValueError: if the URL is not ASCII, its scheme is not http(s), it has
        no host, user info, or a port outside 1 to 65535. The message never
        quotes the URL, which may hold a credential in its query.
    """
    if not isinstance(request, HttpRequest):
        raise TypeError(f"request must be an HttpRequest, got {type(request).__name__}")
    url = request.url
    # Each transport would fail on it deep in a send (UnicodeEncodeError),
    # or encode the host differently from the others.
    if not url.isascii():
        raise ValueError(
            "request url must be ASCII: percent-encode the path and query, and "
            "write an international host name in its xn-- (IDNA) form"
        )
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:  # its message quotes the port text
        raise ValueError("request url must have a valid host and port") from None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("request url must be an absolute http or https URL")
    if parts.username is not None:
        # urllib would send it on in the Host header, the others drop it.
        raise ValueError("request url must not hold user info")
    if port == 0:
        raise ValueError("request url must have a port from 1 to 65535")
    https = scheme == "https"
    port = port or (443 if https else 80)
    host = parts.hostname
    shown = f"[{host}]" if ":" in host else host
    default = 443 if https else 80
    return Target(
        https=https,
        host=host,
        port=port,
        path=(parts.path or "/") + (f"?{parts.query}" if parts.query else ""),
        host_header=shown if port == default else f"{shown}:{port}",
    )
