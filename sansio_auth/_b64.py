"""base64url without padding (RFC 7515 §2), the encoding of every JOSE part.

Through :mod:`binascii`, not :mod:`base64`: the latter costs its import and
does no more, and a DPoP proof per API request encodes three times.
"""

from __future__ import annotations

import binascii

__all__ = ["b64url"]

_TO_URLSAFE = bytes.maketrans(b"+/", b"-_")


def b64url(data: bytes) -> str:
    """*data* as base64url without ``=`` padding."""
    encoded = binascii.b2a_base64(data, newline=False)
    return encoded.translate(_TO_URLSAFE).rstrip(b"=").decode("ascii")
