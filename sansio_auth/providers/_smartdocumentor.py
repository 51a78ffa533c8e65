"""SmartDocumentor: OAuth2 client credentials with ``scope=WebAPI``.

``POST /connect/token`` with ``grant_type``, ``scope``, ``client_id`` and
``client_secret`` in the form body, in that order (as the vendor's examples
send them). Bad credentials answer ``{"error": "invalid_client"}``.
"""

from __future__ import annotations

from sansio_auth._flows import ClientCredentials

from ._base import join_url

__all__ = ["smartdocumentor"]


def smartdocumentor(
    *,
    client_id: str,
    client_secret: str,
    base_url: str = "https://cloud.smartdocumentor.net",
) -> ClientCredentials:
    """The SmartDocumentor token flow.

    Args:
      client_id: your Client ID.
      client_secret: your Client Secret.
      base_url: the SmartDocumentor origin.

    Returns:
      A :class:`~sansio_auth.ClientCredentials` with ``scope=WebAPI`` and the
      credentials in the body.

    Raises:
      ValueError: if a credential is empty or the URL is not https
        (loopback excepted).
    """
    return ClientCredentials(
        token_url=join_url(base_url, "/connect/token"),
        client_id=client_id,
        client_secret=client_secret,
        scope=("WebAPI",),
        auth="client_secret_post",
    )
