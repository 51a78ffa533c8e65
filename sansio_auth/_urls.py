"""The token URL rule: https, or plain http to this machine only.

A token request carries the client's secret; over plain http it is readable
by anyone on the path. Loopback is exempt because nothing leaves the machine,
and local test servers need it. A URL with user info would put a second
credential where logs print it, and a fragment is never sent, so both are
signs of a mistake and refused rather than guessed at.
"""

from __future__ import annotations

import re

__all__ = ["check_token_url", "is_loopback"]

# Whitespace (what str.isspace calls whitespace: re's Unicode \s is the same
# set) and the C0, DEL and C1 control characters. One regex search instead of
# a test per character: URL checks run each time a flow is built.
_FORBIDDEN = re.compile(r"[\s\x00-\x1f\x7f-\x9f]")
# A host name every adapter resolves and sends alike: ASCII labels of 1 to 63
# letters, digits, hyphens and underscores, a final dot allowed.
_HOST_NAME = re.compile(r"(?:[A-Za-z0-9_-]{1,63}\.)*[A-Za-z0-9_-]{1,63}\.?")
_PASSED: set[str] = set()  # host names that passed, a few: same input, same answer


def is_loopback(host: str) -> bool:
    """Whether *host* names this machine: ``localhost``, 127.0.0.0/8 or ``::1``."""
    host = host.lower()
    if host == "localhost":
        return True
    # Here, not at the top: only plain-http URLs get this far, and ipaddress
    # is slow to import.
    import ipaddress

    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_token_url(url: object, field: str = "token_url") -> str:
    """Return *url* unchanged if it is a URL a credential may be sent to.

    Args:
      url: the candidate URL.
      field: the argument's name, for error messages.

    Returns:
      The URL.

    Raises:
      TypeError: if it is not a string.
      ValueError: naming the rule it breaks: scheme not https (outside
        loopback), user info, no host, a fragment, whitespace or control
        characters, or a bad port.
    """
    if not isinstance(url, str):
        raise TypeError(f"{field} must be a str, got {type(url).__name__}")
    # Printable ASCII without a space is the common case, and needs no regex.
    if not (url.isascii() and url.isprintable() and " " not in url) and (
        _FORBIDDEN.search(url)
    ):
        raise ValueError(f"{field} must not contain whitespace or control characters")
    try:
        scheme, netloc = _split(url)
    except ValueError:  # an unclosed IPv6 bracket
        raise ValueError(f"{field} is not a valid URL") from None
    if scheme not in ("https", "http"):
        raise ValueError(f"{field} must be an https URL")
    if "#" in url:
        raise ValueError(f"{field} must not have a fragment")
    if "@" in netloc:
        raise ValueError(f"{field} must not carry user info (credentials) in the URL")
    host, port = _host_and_port(netloc)
    if not host:
        raise ValueError(f"{field} must have a host")
    # A bracketed (IPv6) host was checked by urlsplit; the usual name passes
    # on one regex here (or is one already passed: a process builds its flows
    # for a handful of hosts), and the rest is told what is wrong with it.
    if "[" not in netloc and host not in _PASSED:
        if _HOST_NAME.fullmatch(host) and len(host) - host.endswith(".") <= 253:
            if len(_PASSED) < 64:
                _PASSED.add(host)
        else:
            raise ValueError(_host_refusal(host, field))
    # What urllib's .port accepts: ASCII digits, 0 to 65535 (and 0 is no
    # port to send to). No port text at all is the scheme's default.
    if port and not (port.isascii() and port.isdigit() and 0 < int(port) <= 65535):
        raise ValueError(f"{field} has an invalid port")
    if scheme == "http" and not is_loopback(host):
        raise ValueError(
            f"{field} must be an https URL (plain http is allowed only to "
            "localhost, 127.0.0.0/8 and ::1)"
        )
    return url


def _host_refusal(host: str, field: str) -> str:
    """Why *host*, which :data:`_HOST_NAME` refused, is refused.

    What every adapter can send alike: a name the resolver takes (its IDNA
    step refuses an empty label or one over 63 characters, deep in a send)
    and that goes in the Host header as it is (an international name would go
    as UTF-8 from one adapter and as IDNA from another, so it is asked for in
    its xn-- form).
    """
    if not host.isascii():
        return (
            f"{field} host must be ASCII: write an international domain name "
            "in its xn-- (IDNA) form"
        )
    name = host.removesuffix(".")  # a fully qualified name's final dot
    if len(name) > 253:
        return f"{field} host is longer than 253 characters"
    if any(not 0 < len(label) <= 63 for label in name.split(".")):
        return f"{field} host has an empty label or one over 63 characters"
    return f"{field} host may hold only letters, digits, '-', '_' and '.'"


def _split(url: str) -> tuple[str, str]:
    """The lowercased scheme and the netloc, as ``urllib.parse.urlsplit``
    gives them, for a URL without whitespace or control characters.

    ASCII without brackets, which is every usual token URL, is split here:
    urllib.parse was a fifth of the library's import time. Anything else
    goes to urlsplit, which also validates bracketed (IPv6) hosts and
    Unicode netlocs that normalise into delimiters.
    """
    if not url.isascii() or "[" in url or "]" in url:
        from urllib.parse import urlsplit

        parts = urlsplit(url)
        return parts.scheme.lower(), parts.netloc
    scheme, colon, rest = url.partition(":")
    # urlsplit's scheme: a letter, then letters, digits, "+", "-" and ".".
    if not (
        colon
        and scheme[:1].isalpha()
        and scheme.replace("+", "").replace("-", "").replace(".", "").isalnum()
    ):
        scheme, rest = "", url
    if rest[:2] != "//":
        return scheme.lower(), ""
    end = len(rest)
    for delimiter in "/?#":
        found = rest.find(delimiter, 2)
        if found >= 0:
            end = min(end, found)
    return scheme.lower(), rest[2:end]


def _host_and_port(netloc: str) -> tuple[str, str]:
    # urllib's split of a netloc without user info into host and port text
    # (its SplitResult._hostinfo), done once where .hostname and .port would
    # each redo it. The host keeps its case and any IPv6 zone; is_loopback
    # lowercases it, as .hostname would have.
    _, bracket, bracketed = netloc.partition("[")
    if bracket:
        host, _, after = bracketed.partition("]")
        _, _, port = after.partition(":")
    else:
        host, _, port = netloc.partition(":")
    return host, port
