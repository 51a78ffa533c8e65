"""requests: what ``TokenAuth`` adds to a request, against a static header.

Three measurements, in one run:

- The auth step with a valid cached token, as ``Session.prepare_request``
  and ``Session.send`` run it: the auth object called on a prepared request
  (prepared before the clock starts), then the request's ``response`` hooks
  dispatched on a 200 (``requests.hooks.dispatch_hook``, with the keyword
  arguments ``Session.send`` passes). Baseline: an ``AuthBase`` that sets a
  fixed ``Authorization``; beside it, one that also registers a response
  hook doing nothing, the floor of any auth that watches for a 401. Peers:
  requests-oauth2client's ``OAuth2ClientCredentialsAuth`` (its best for
  requests) and authlib's requests ``OAuth2Session`` auth (``token_auth``,
  which checks the token and signs), each with a cached token.
- A whole GET through one ``requests.Session`` (keep-alive) to a minimal
  loopback API, with ``TokenAuth`` and with the static header, alternated
  request by request.
- The 401 path: 100 threads whose requests carry a revoked token
  (``TokenServer.revoke``), counting the token requests (one).

Targets (issue 12): ours at most 0.5 µs over the static header; the GET
within 1.01x; one token request for the burst.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from _fixtures import (
    Burst,
    authlib_peer,
    burst_counts,
    fast_api,
    generic_flow,
    load_peer,
    revoke_last_token,
)
from _integrations import (
    STATIC,
    add_auth_steps,
    add_burst,
    integration_row,
    targets_met,
)
from _timing import (
    Row,
    Settings,
    fresh_samples,
    interleaved,
    per_round_ratios,
    rotations,
    round_ratio_lines,
)

if TYPE_CHECKING:
    import requests

    from sansio_auth.adapters.server import TokenServer

Step = Callable[["requests.PreparedRequest"], object]
"""The auth step on one prepared request."""

# What Session.send passes to the response hooks, besides the response.
_SEND_KWARGS: dict[str, Any] = {
    "stream": False,
    "timeout": None,
    "verify": True,
    "cert": None,
    "proxies": {},
}


def run(settings: Settings) -> Row:
    import requests
    from requests.hooks import dispatch_hook

    from sansio_auth.adapters.requests import TokenAuth
    from sansio_auth.adapters.server import TokenServer

    repeat = settings.pick(41, 3)
    number = settings.pick(5_000, 200)
    with TokenServer() as server, fast_api() as api_url:
        flow = generic_flow(server)
        ours = TokenAuth(flow, timeout=10)
        with requests.Session() as warm:
            sent = warm.get(server.resource_url, auth=ours).request
        value = sent.headers["Authorization"]

        class StaticHeader(requests.auth.AuthBase):
            def __call__(self, r: requests.PreparedRequest) -> requests.PreparedRequest:
                r.headers["Authorization"] = value
                return r

        def no_op(
            response: requests.Response,
            stream: object = None,
            timeout: object = None,
            verify: object = None,
            cert: object = None,
            proxies: object = None,
            **others: object,
        ) -> None:
            return None

        class StaticHeaderAndHook(requests.auth.AuthBase):
            """The floor for any auth that watches for a 401: requests'
            dispatch of one response hook, which a static header skips."""

            def __call__(self, r: requests.PreparedRequest) -> requests.PreparedRequest:
                r.headers["Authorization"] = value
                r.hooks["response"].append(no_op)
                return r

        static = StaticHeader()
        builder = requests.Session()

        def fresh() -> requests.PreparedRequest:
            return builder.prepare_request(requests.Request("GET", api_url))

        def stepped(auth: Callable[[requests.PreparedRequest], object]) -> Step:
            def step(request: requests.PreparedRequest) -> object:
                auth(request)
                response = requests.Response()
                response.status_code = 200
                response.request = request
                return dispatch_hook(  # type: ignore[no-untyped-call]
                    "response", request.hooks, response, **_SEND_KWARGS
                )

            return step

        steps: dict[str, Step] = {
            STATIC: stepped(static),
            "static header + no-op hook": stepped(StaticHeaderAndHook()),
            "sansio_auth TokenAuth": stepped(ours),
        }
        steps.update(_peers(server, fresh, stepped))
        medians = interleaved(fresh_samples(steps, fresh, number), repeat)

        gets = {
            "GET, static header": static,
            "GET, sansio_auth TokenAuth": ours,
            "GET, static header again": StaticHeader(),
        }
        with requests.Session() as session:
            session.get(api_url)  # connected before timing
            whole = per_round_ratios(
                lambda auth: session.get(api_url, auth=auth),
                gets,
                rotations(list(gets)),
                settings.pick(4_000, 30),
            )
        burst = _burst_of_401s(server, TokenAuth(flow, timeout=10))
    return _row(medians, whole, burst)


def _peers(
    server: TokenServer,
    fresh: Callable[[], requests.PreparedRequest],
    stepped: Callable[[Callable[[requests.PreparedRequest], object]], Step],
) -> dict[str, Step]:
    """The peers' auth steps, each with a token fetched beforehand."""
    creds = server.credentials
    found: dict[str, Step] = {}
    rocl = load_peer("requests_oauth2client")
    if rocl is not None:
        client = rocl.OAuth2Client(
            token_endpoint=server.generic_token_url,
            auth=(creds.generic_client_id, creds.generic_client_secret),
            testing=True,  # it takes only https endpoints otherwise
        )
        peer = rocl.OAuth2ClientCredentialsAuth(client)
        peer(fresh())  # fetch once: cached from then on
        found["requests-oauth2client"] = stepped(peer)
    a_session = authlib_peer("requests_client", "OAuth2Session", server)
    if a_session is not None:
        # What OAuth2Session.request hands requests as the auth: it checks
        # the token is active, then signs.
        found["authlib"] = stepped(a_session.token_auth)
    return found


def _burst_of_401s(server: TokenServer, auth: requests.auth.AuthBase) -> Burst:
    """100 threads whose requests were prepared with a token that is then
    revoked (each is refused, and sent once more)."""
    import requests
    import requests.adapters

    with requests.Session() as session:
        session.auth = auth
        session.mount("http://", requests.adapters.HTTPAdapter(pool_maxsize=100))
        session.get(server.resource_url)
        prepared = [
            session.prepare_request(requests.Request("GET", server.resource_url))
            for _ in range(100)
        ]
        revoked = revoke_last_token(server)
        barrier = threading.Barrier(100)

        def one(request: requests.PreparedRequest) -> None:
            barrier.wait()
            session.send(request, timeout=60)

        threads = [threading.Thread(target=one, args=(p,)) for p in prepared]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    return burst_counts(server, revoked)


def _row(steps: dict[str, float], whole: dict[str, float], burst: Burst) -> Row:
    row = integration_row("requests TokenAuth", "static header (AuthBase)")
    names = [
        "static header + no-op hook",
        "sansio_auth TokenAuth",
        "requests-oauth2client",
        "authlib",
    ]
    add_auth_steps(row, steps, names)
    row.candidates += round_ratio_lines(
        whole, ["GET, static header", "GET, sansio_auth TokenAuth"]
    )
    control = whole["GET, static header again ratio"]
    row.notes.append(
        "GET: one keep-alive Session to a minimal loopback API, the auths "
        "rotated request by request; a ratio is the median of the rounds' "
        f"ratios. The same static header again, as a control: {control:.3f}"
    )
    add_burst(row, burst)
    row.notes.append(
        f"401 burst: 100 threads, each request refused once and sent once "
        f"more; {burst.tokens} token request"
    )
    own = steps["sansio_auth TokenAuth"] - steps["static header + no-op hook"]
    row.notes.append(
        "requests runs a response hook at a cost of its own (a check that the "
        "hook list is not itself a callable, then a call with five keyword "
        "arguments), which a static header never pays and a 401 retry cannot "
        f"avoid; over that floor, ours adds {own * 1e6:+.2f} µs. The peers "
        "register no hook: they do not retry a 401"
    )
    get_ratio = whole["GET, sansio_auth TokenAuth ratio"]
    row.met = targets_met(steps, "sansio_auth TokenAuth", get_ratio, burst)
    return row
