"""SmartWay (LMS Smart Way): an API key exchanged for a short-lived JWT.

``POST /api/v1/auth/token`` with the company API key in ``X-API-Key`` and no
body; the answer is a JWT of about 15 minutes carrying ``companyId`` and
``hrEmail``. There is no refresh: the key gets the next token.
"""

from __future__ import annotations

from collections.abc import Mapping

from sansio_auth._flows import ApiKeyExchange
from sansio_auth._jwt import jwt_claims
from sansio_auth._token import Token

from ._base import join_url

__all__ = ["smartway", "smartway_identity"]


def smartway(api_key: str, *, base_url: str = "https://smartway.pro") -> ApiKeyExchange:
    """The SmartWay token flow.

    Args:
      api_key: the company API key (``company_api_key``).
      base_url: the SmartWay origin; another one for a staging or local server.

    Returns:
      An :class:`~sansio_auth.ApiKeyExchange` posting to ``/api/v1/auth/token``.

    Raises:
      ValueError: if the key is empty or holds a control character, or the
        URL is not https (loopback excepted).
    """
    return ApiKeyExchange(
        token_url=join_url(base_url, "/api/v1/auth/token"),
        api_key=api_key,
        header="X-API-Key",
    )


def _claim(claims: Mapping[str, object] | None, name: str) -> str | None:
    value = None if claims is None else claims.get(name)
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return str(value)
    return value if isinstance(value, str) and value else None


def smartway_identity(token: Token | str) -> tuple[str | None, str | None]:
    """Who a SmartWay token acts as: its ``companyId`` and ``hrEmail`` claims.

    ``hrEmail`` is the HR admin who created or last rotated the company's
    active API key, and SmartWay attributes the employee writes made with the
    token to that admin. So when another admin rotates the key, tokens issued
    from then on carry *their* email, and writes made with them are recorded
    as theirs, even though your integration did not change. A caller that
    audits or shows who made a change should read the identity from each new
    token, not once at start-up, and should expect it to change after a key
    rotation.

    The claims are read, not verified: use them to label and route, not to
    make an access decision.

    Args:
      token: a :class:`~sansio_auth.Token` or the raw access token string.

    Returns:
      ``(company_id, hr_email)``; each None when the claim is absent or the
      token is not a JWT. A numeric ``companyId`` is returned as a string.
    """
    access_token = token.access_token if isinstance(token, Token) else token
    claims = jwt_claims(access_token)
    return _claim(claims, "companyId"), _claim(claims, "hrEmail")
