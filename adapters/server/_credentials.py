"""The fake credentials the server accepts, and how it compares them."""

from __future__ import annotations

import hmac
from typing import final

import attrs

__all__ = ["Credentials", "same"]


@final
@attrs.frozen(kw_only=True)
class Credentials:
    """The credentials the server accepts; all fake, all fixed by default."""

    smartway_api_key: str = "test-smartway-api-key"
    """SmartWay's ``X-API-Key``."""
    smartway_company_id: str = "test-company-0001"
    """The ``companyId`` claim of SmartWay tokens."""
    smartway_hr_email: str = "hr-admin@example.test"
    """The ``hrEmail`` claim of SmartWay tokens."""
    smartconnect_username: str = "user@example.test"
    """SmartConnect's ``username`` (the user's email)."""
    smartconnect_password: str = "test-smartconnect-password"
    """SmartConnect's ``password``."""
    smartconnect_client_id: str = "test-smartconnect-client-id"
    """SmartConnect's ``client_id``."""
    smartconnect_client_secret: str = "test-smartconnect-client-secret"
    """SmartConnect's ``client_secret``."""
    teamsystem_username: str = "test_admin_webapi"
    """TeamSystem's ``username`` field."""
    teamsystem_scope: str = "test_webapi_scope"
    """TeamSystem's ``scope`` field."""
    teamsystem_api_key: str = "test-teamsystem-api-key"
    """TeamSystem's API key, sent in the ``token`` field as ``Bearer <key>``."""
    smartdocumentor_client_id: str = "test-smartdocumentor-client-id"
    """SmartDocumentor's ``client_id``."""
    smartdocumentor_client_secret: str = "test-smartdocumentor-client-secret"
    """SmartDocumentor's ``client_secret``."""
    generic_client_id: str = "test-client-id"
    """The generic endpoint's client id."""
    generic_client_secret: str = "test-client-secret"
    """The generic endpoint's client secret."""
    generic_username: str = "test-user"
    """The generic endpoint's resource owner (password grant)."""
    generic_password: str = "test-password"
    """Their password."""


def same(given: str, expected: str) -> bool:
    """Whether *given* is *expected*, compared in constant time."""
    return hmac.compare_digest(given.encode(), expected.encode())
