"""What the server sends back: an answer value, and the RFC 6749 §5.2 refusal.

Every endpoint answers with an :class:`Answer` (status, body, headers);
token answers carry ``Cache-Control: no-store`` (RFC 6749 §5.1), and an
endpoint refuses a request by raising :class:`Refused`, whose answer is the
JSON ``error`` member of §5.2.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Final, final

import attrs

__all__ = ["REALM", "Answer", "Refused", "json_answer", "token_answer"]

REALM: Final = "sansio-auth"
"""The realm of the ``WWW-Authenticate`` challenges."""


@final
@attrs.frozen(kw_only=True)
class Answer:
    """An answer to send: its status, body and headers."""

    status: int
    body: bytes
    headers: tuple[tuple[str, str], ...] = ()
    content_type: str = "application/json"


def json_answer(
    status: int, data: Mapping[str, object], *extra: tuple[str, str]
) -> Answer:
    """*data* as a JSON body, with *status* and the *extra* headers."""
    return Answer(
        status=status,
        body=json.dumps(data).encode(),
        headers=extra,
    )


def token_answer(data: Mapping[str, object]) -> Answer:
    """A successful token answer (RFC 6749 §5.1): 200, not to be cached."""
    return json_answer(200, data, ("Cache-Control", "no-store"), ("Pragma", "no-cache"))


class Refused(Exception):
    """An RFC 6749 §5.2 error answer, raised inside an endpoint."""

    def __init__(
        self,
        error: str,
        description: str,
        *,
        status: int = 400,
        headers: tuple[tuple[str, str], ...] = (),
    ) -> None:
        super().__init__(error)
        self.answer = json_answer(
            status,
            {"error": error, "error_description": description},
            ("Cache-Control", "no-store"),
            *headers,
        )
