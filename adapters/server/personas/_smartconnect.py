"""SmartConnect: the password grant, ``token_type: "bearer"``, no ``expires_in``.

``POST /smartconnect/{REGION}/token``, one path for each region, with a form
body carrying the user's ``username`` and ``password`` and the application's
``client_id`` and ``client_secret``.
"""

from __future__ import annotations

from typing import Final

from ._base import (
    Answer,
    Context,
    Persona,
    RecordedRequest,
    Refused,
    Route,
    form_fields,
    require,
    same,
    token_answer,
)

__all__ = ["PERSONA", "SMARTCONNECT_REGIONS", "token_path"]

SMARTCONNECT_REGIONS: Final = ("NA", "NA2", "NA3", "UK", "EU", "EU2", "AU")
"""The regions served under ``/smartconnect/{REGION}/token``."""


def token_path(region: str) -> str:
    """The token endpoint's path for *region* (one of the regions, as is)."""
    return f"/smartconnect/{region}/token"


def _token(context: Context, request: RecordedRequest) -> Answer:
    creds = context.credentials
    fields = form_fields(request)
    require(fields, "grant_type")
    if fields["grant_type"] != "password":
        raise Refused("unsupported_grant_type", "the grant type must be password")
    require(fields, "username", "password", "client_id", "client_secret")
    if not (
        same(fields["client_id"], creds.smartconnect_client_id)
        and same(fields["client_secret"], creds.smartconnect_client_secret)
    ):
        raise Refused("invalid_client", "client authentication failed", status=401)
    if not (
        same(fields["username"], creds.smartconnect_username)
        and same(fields["password"], creds.smartconnect_password)
    ):
        raise Refused("invalid_grant", "the user name or password is incorrect")
    region = request.path.split("/")[2]
    token = context.issue(
        "smartconnect",
        fields["username"],
        context.token_lifetime,
        client_id=fields["client_id"],
        region=region,
    )
    return token_answer({"access_token": token, "token_type": "bearer"})


def _summary(url: str) -> str:
    return f"{url}{token_path('{REGION}')}  (REGION: {' '.join(SMARTCONNECT_REGIONS)})"


PERSONA: Final = Persona(
    name="smartconnect",
    summary=_summary,
    routes=(
        Route(
            endpoint="smartconnect",
            paths=frozenset(token_path(region) for region in SMARTCONNECT_REGIONS),
            answer=_token,
        ),
    ),
)
