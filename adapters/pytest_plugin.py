"""The pytest plugin: a ``token_server`` fixture, registered by the package.

Installed with sansio-auth (the ``pytest11`` entry point ``sansio_auth``), so
any test suite can ask for a running :class:`~sansio_auth.adapters.server.TokenServer`::

    def test_login(token_server):
        flow = smartway(
            token_server.credentials.smartway_api_key,
            base_url=token_server.smartway_base_url,
        )
        ...

Options for one test go in the ``token_server`` marker, as keyword arguments
of ``TokenServer``::

    @pytest.mark.token_server(token_lifetime=60, smartway_lifetime=30)
    def test_short_tokens(token_server): ...

The 401 path of an SDK's client is the same few lines: get a token through
it, ``token_server.revoke(access_token)``, and call
``token_server.resource_url`` (``GET``, ``POST`` or ``PUT``), whose 401 says
``error="invalid_token"``; or aim a fault at the API alone with
``token_server.fail_next(1, 401, None, endpoint="resource", headers=...)``.

The server module is imported when the fixture is first used, not when
pytest loads the plugin.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from .server import TokenServer

__all__ = ["token_server"]


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "token_server(**options): keyword arguments for the token_server "
        "fixture's TokenServer (token_lifetime, smartway_lifetime, credentials, "
        "ssl_context, host, port)",
    )


@pytest.fixture
def token_server(request: pytest.FixtureRequest) -> Iterator[TokenServer]:
    """A started :class:`~sansio_auth.adapters.server.TokenServer` on loopback,
    stopped after the test; options from the ``token_server`` marker."""
    from .server import TokenServer

    marker = request.node.get_closest_marker("token_server")
    options = dict(marker.kwargs) if marker is not None else {}
    with TokenServer(**options) as server:
        yield server
