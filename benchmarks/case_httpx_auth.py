"""httpx: what ``TokenAuth`` adds to a request, against a static header.

Three measurements, in one run:

- The auth step with a valid cached token: each candidate's flow driven as
  ``httpx.Client`` drives it (``sync_auth_flow(request)``, ``next``, then
  the response sent in), on a fresh request from ``Client.build_request``
  each time (built before the clock starts). Baseline: an ``httpx.Auth``
  that sets a fixed ``Authorization``. Peers: httpx-auth's
  ``OAuth2ClientCredentials`` (which caches its tokens) and authlib's
  ``OAuth2Client`` (its ``ensure_active_token`` and ``token_auth`` flow, as
  its ``request`` runs them).
- A whole GET through one ``httpx.Client`` (keep-alive) to a minimal
  loopback API, with ``TokenAuth`` and with the static header, alternated
  request by request.
- The 401 path: a burst of 100 concurrent requests whose token was revoked
  (``TokenServer.revoke``), counting the token requests (one).

Targets (issue 12): ours at most 0.5 µs over the static header (httpx-auth
about 3.3 µs, authlib about 15.7 µs); the GET within 1.01x; one token
request for the burst.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Generator
from typing import TYPE_CHECKING

from _fixtures import (
    Burst,
    authlib_peer,
    burst_counts,
    fast_api,
    generic_flow,
    httpx_auth_peer,
    revoke_last_token,
)
from _integrations import (
    STATIC,
    add_auth_steps,
    add_burst,
    concurrent_burst_note,
    integration_row,
    targets_met,
)
from _timing import (
    Row,
    Settings,
    fresh_samples,
    interleaved,
    per_round_ratios,
    round_ratio_lines,
    shuffles,
)

if TYPE_CHECKING:
    import httpx

    from sansio_auth.adapters.server import TokenServer

Step = Callable[["httpx.Request"], object]
"""One auth step on a request."""


def run(settings: Settings) -> Row:
    import httpx

    from sansio_auth.adapters.httpx import TokenAuth
    from sansio_auth.adapters.server import TokenServer

    repeat = settings.pick(41, 3)
    number = settings.pick(5_000, 200)
    with TokenServer() as server, fast_api() as api_url:
        flow = generic_flow(server)
        ours = TokenAuth(flow, timeout=10)
        with httpx.Client(auth=ours) as warm:
            warm.get(server.resource_url)  # fetch and cache a token
        request = httpx.Request("GET", api_url)
        value = next(ours.sync_auth_flow(request)).headers["Authorization"]

        class StaticHeader(httpx.Auth):
            def auth_flow(
                self, request: httpx.Request
            ) -> Generator[httpx.Request, httpx.Response, None]:
                request.headers["Authorization"] = value
                yield request

        static = StaticHeader()
        builder = httpx.Client()
        response = httpx.Response(200, request=request)

        def fresh() -> httpx.Request:
            return builder.build_request("GET", api_url)

        def driven(auth: httpx.Auth) -> Step:
            def drive(request: httpx.Request) -> object:
                steps = auth.sync_auth_flow(request)
                sent = next(steps)
                with contextlib.suppress(StopIteration):
                    steps.send(response)
                return sent

            return drive

        flows: dict[str, Step] = {
            STATIC: driven(static),
            "sansio_auth TokenAuth": driven(ours),
        }
        peer = httpx_auth_peer(server)
        if peer is not None:
            driven(peer)(fresh())  # fetch once: cached from then on
            flows["httpx-auth"] = driven(peer)
        a_client = authlib_peer("httpx_client", "OAuth2Client", server)
        if a_client is not None:
            a_flow = driven(a_client.token_auth)

            def authlib_step(request: httpx.Request) -> object:
                # What OAuth2Client.request does before sending.
                a_client.ensure_active_token(a_client.token)
                return a_flow(request)

            flows["authlib"] = authlib_step
        steps = interleaved(fresh_samples(flows, fresh, number), repeat)

        gets = {
            "GET, static header": static,
            "GET, sansio_auth TokenAuth": ours,
            "GET, static header again": StaticHeader(),
        }
        with httpx.Client() as client:
            client.get(api_url)  # connected before timing
            # A new order each round: a request may cost more after another
            # (what it left in the caches), and a fixed rotation would charge
            # that to the one that follows.
            whole = per_round_ratios(
                lambda auth: client.get(api_url, auth=auth),
                gets,
                shuffles(list(gets), seed=12),
                settings.pick(4_000, 30),
            )
        burst = _burst_of_401s(server, TokenAuth(flow, timeout=10))
    return _row(steps, whole, burst)


def _burst_of_401s(server: TokenServer, auth: httpx.Auth) -> Burst:
    """A burst of 100 concurrent requests whose token was revoked."""
    import anyio
    import httpx

    async def burst() -> str:
        async with httpx.AsyncClient(auth=auth, timeout=60) as client:
            await client.get(server.resource_url)
            revoked = revoke_last_token(server)
            async with anyio.create_task_group() as group:
                for _ in range(100):
                    group.start_soon(client.get, server.resource_url)
        return revoked

    return burst_counts(server, anyio.run(burst))


def _row(steps: dict[str, float], whole: dict[str, float], burst: Burst) -> Row:
    row = integration_row("httpx TokenAuth", "static header (httpx.Auth)")
    add_auth_steps(row, steps, ["sansio_auth TokenAuth", "httpx-auth", "authlib"])
    row.candidates += round_ratio_lines(
        whole, ["GET, static header", "GET, sansio_auth TokenAuth"]
    )
    control = whole["GET, static header again ratio"]
    row.notes.append(
        "GET: one keep-alive client to a minimal loopback API, the auths "
        "taken in turn, in a new order each round; a ratio is the median of "
        f"the rounds' ratios. The same static header again, as a control: {control:.3f}"
    )
    add_burst(row, burst)
    row.notes.append(concurrent_burst_note(burst))
    get_ratio = whole["GET, sansio_auth TokenAuth ratio"]
    row.met = targets_met(steps, "sansio_auth TokenAuth", get_ratio, burst)
    return row
