"""What the integration cases (httpx, requests, aiohttp) share in their row.

Each times its integration's auth step against a static header, a whole GET
with and without it, and a 401 burst, against the same targets (issue 12):
at most 0.5 µs over the static header, the GET within 1.01x, one token
request for the burst.
"""

from __future__ import annotations

from _fixtures import Burst
from _timing import Candidate, Row, ratios

STATIC = "static header"
"""The baseline's name in the auth steps' medians."""


def integration_row(case: str, baseline: str) -> Row:
    """An integration case's row, with issue 12's targets."""
    return Row(
        case=case,
        baseline=baseline,
        target="≤ static + 0.5 µs; GET ≤ 1.01; 1 token request per 401 burst",
    )


def add_auth_steps(
    row: Row, steps: dict[str, float], names: list[str], detail: str = ""
) -> None:
    """The static header's line, then each of *names*' against it (or "not
    installed"), with a note of what each adds per request (and *detail*)."""
    base = steps[STATIC]
    row.candidates += ratios(steps, STATIC, names)
    for name in names:
        if name in steps:
            row.notes.append(
                f"auth step, {name}: {(steps[name] - base) * 1e6:+.2f} µs per "
                f"request over the static header{detail}"
            )


def add_burst(row: Row, burst: Burst) -> None:
    """The 401 burst's line: its token requests."""
    row.candidates.append(
        Candidate("401 burst: token requests", str(burst.tokens), "-")
    )


def concurrent_burst_note(burst: Burst) -> str:
    """The note of a burst of 100 concurrent requests."""
    return (
        f"401 burst: {burst.refused} of 100 concurrent requests carried the "
        f"revoked token and were refused; {burst.api_requests} API requests in "
        f"all (each refused one sent once more); {burst.tokens} token request"
    )


def targets_met(
    steps: dict[str, float], ours: str, get_ratio: float, burst: Burst
) -> bool:
    """Whether *ours* met issue 12's targets."""
    added = steps[ours] - steps[STATIC]
    return added <= 0.5e-6 and get_ratio <= 1.01 and burst.tokens == 1
