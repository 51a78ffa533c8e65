"""SmartConnect: the OAuth2 password grant, one token URL per region.

The form carries ``grant_type=password``, ``username``, ``password``,
``client_id`` and ``client_secret`` (all in the body). The documented answer
has ``token_type: "bearer"`` and no ``expires_in``; the parser then takes the
expiry from the JWT's ``exp``, if it has one.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from sansio_auth._flows import PasswordGrant

__all__ = ["SMARTCONNECT_REGIONS", "smartconnect"]

SMARTCONNECT_REGIONS: Mapping[str, str] = MappingProxyType(
    {
        "NA": "https://apina.smartconnect.com/token",
        "NA2": "https://apina2.smartconnect.com/token",
        "NA3": "https://apina3.smartconnect.com/token",
        "UK": "https://apieuk.smartconnect.com/token",
        "EU": "https://apieuw.smartconnect.com/token",
        "EU2": "https://apieuw2.smartconnect.com/token",
        "AU": "https://apiau.smartconnect.com/token",
    }
)


def smartconnect(
    *,
    region: str,
    username: str,
    password: str,
    client_id: str,
    client_secret: str,
    token_url: str | None = None,
) -> PasswordGrant:
    """The SmartConnect token flow for *region*.

    Args:
      region: one of ``NA NA2 NA3 UK EU EU2 AU`` (any case).
      username: the user's email address.
      password: the user's password.
      client_id: the REST application registration's client id.
      client_secret: its client secret.
      token_url: another token URL than the region's (a staging or local
        server); the region is still checked.

    Returns:
      A :class:`~sansio_auth.PasswordGrant` with the credentials in the body.

    Raises:
      ValueError: if the region is unknown (the message lists the valid ones)
        or a credential is empty.
    """
    valid = ", ".join(SMARTCONNECT_REGIONS)
    if not isinstance(region, str):
        raise TypeError(f"region must be a str, one of {valid}")
    key = region.upper()
    if key not in SMARTCONNECT_REGIONS:
        # What came is not echoed: a careless caller may have put a secret here.
        raise ValueError(f"unknown SmartConnect region; valid regions: {valid}")
    return PasswordGrant(
        token_url=SMARTCONNECT_REGIONS[key] if token_url is None else token_url,
        username=username,
        password=password,
        client_id=client_id,
        client_secret=client_secret,
        auth="client_secret_post",
    )
