"""The fake credentials the server accepts, and how it compares them."""

from __future__ import annotations

import hmac
from collections.abc import Iterable
from typing import final

import attrs

from ._clients import RegisteredClient, TrustedIssuer

__all__ = ["Credentials", "same"]


def _clients(value: Iterable[RegisteredClient]) -> tuple[RegisteredClient, ...]:
    clients = tuple(value)
    for client in clients:
        if not isinstance(client, RegisteredClient):
            raise TypeError(
                f"clients must be RegisteredClient values, got {type(client).__name__}"
            )
    ids = [client.client_id for client in clients]
    if len(set(ids)) != len(ids):
        raise ValueError("clients must not register one client id twice")
    return clients


def _issuers(value: Iterable[TrustedIssuer]) -> tuple[TrustedIssuer, ...]:
    issuers = tuple(value)
    for issuer in issuers:
        if not isinstance(issuer, TrustedIssuer):
            raise TypeError(
                f"issuers must be TrustedIssuer values, got {type(issuer).__name__}"
            )
    names = [issuer.issuer for issuer in issuers]
    if len(set(names)) != len(names):
        raise ValueError("issuers must not name one issuer twice")
    return issuers


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
    generic_client_secret: str = "test-client-secret-of-at-least-32-bytes"
    """The generic endpoint's client secret: 32 bytes or more, as an HS256
    key must be (RFC 7518 §3.2), so that ``client_secret_jwt`` takes it."""
    generic_username: str = "test-user"
    """The generic endpoint's resource owner (password grant)."""
    generic_password: str = "test-password"
    """Their password."""
    clients: tuple[RegisteredClient, ...] = attrs.field(default=(), converter=_clients)
    """More clients of the generic endpoint, with their keys and certificates
    (see :class:`RegisteredClient`). The generic client itself is registered
    with ``generic_client_secret`` (the basic, post and ``client_secret_jwt``
    methods) unless one of these has its id, which then replaces it."""
    issuers: tuple[TrustedIssuer, ...] = attrs.field(default=(), converter=_issuers)
    """The issuers whose signed JWTs the generic endpoint takes as JWT bearer
    grants and as token exchange subject or actor tokens."""

    def client(self, client_id: str) -> RegisteredClient | None:
        """The registered client of *client_id*, or None."""
        for client in self.clients:
            if client.client_id == client_id:
                return client
        if client_id == self.generic_client_id:
            return RegisteredClient(
                client_id=client_id, client_secret=self.generic_client_secret
            )
        return None

    def issuer(self, issuer: str) -> TrustedIssuer | None:
        """The trusted issuer named *issuer*, or None."""
        for trusted in self.issuers:
            if trusted.issuer == issuer:
                return trusted
        return None


def same(given: str, expected: str) -> bool:
    """Whether *given* is *expected*, compared in constant time."""
    return hmac.compare_digest(given.encode(), expected.encode())
