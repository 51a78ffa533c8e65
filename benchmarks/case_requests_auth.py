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

import gc
import statistics
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from _fixtures import generic_flow, load_peer
from _timing import NOT_INSTALLED, Candidate, Row, Settings, fmt_time, interleaved
from case_httpx_auth import _auth_step_samples, _fast_api

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
    with TokenServer() as server, _fast_api() as api_url:
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
            "static header": stepped(static),
            "static header + no-op hook": stepped(StaticHeaderAndHook()),
            "sansio_auth TokenAuth": stepped(ours),
        }
        steps.update(_peers(server, fresh, stepped))
        # httpx's case times any auth step on fresh requests the same way.
        samplers = _auth_step_samples(steps, fresh, number)  # type: ignore[arg-type]
        medians = interleaved(samplers, repeat)

        gets = {
            "GET, static header": static,
            "GET, sansio_auth TokenAuth": ours,
            "GET, static header again": StaticHeader(),
        }
        whole = _whole_gets(api_url, gets, settings.pick(4_000, 30))
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
    authlib_requests = load_peer("authlib.integrations.requests_client")
    if authlib_requests is not None:
        a_session = authlib_requests.OAuth2Session(
            creds.generic_client_id,
            creds.generic_client_secret,
            token_endpoint=server.generic_token_url,
            grant_type="client_credentials",
        )
        a_session.fetch_token(server.generic_token_url)
        # What OAuth2Session.request hands requests as the auth: it checks
        # the token is active, then signs.
        found["authlib"] = stepped(a_session.token_auth)
    return found


def _whole_gets(
    api_url: str, auths: dict[str, requests.auth.AuthBase], rounds: int
) -> dict[str, float]:
    """The median GET with each of *auths* through one keep-alive Session,
    rotated request by request, and the median of each one's ratio to the
    first's within a round (a round's GETs share the machine's conditions;
    batches drift apart by several percent on a loaded one)."""
    import requests

    clock = time.perf_counter
    names = list(auths)
    times: dict[str, list[float]] = {name: [] for name in names}
    ratios: dict[str, list[float]] = {name: [] for name in names}
    with requests.Session() as session:
        session.get(api_url)  # connected before timing
        gc.collect()
        gc.disable()
        try:
            for i in range(rounds):
                shift = i % len(names)
                for name in names[shift:] + names[:shift]:
                    start = clock()
                    session.get(api_url, auth=auths[name])
                    times[name].append(clock() - start)
                for name in names:
                    ratios[name].append(times[name][-1] / times[names[0]][-1])
        finally:
            gc.enable()
    medians = {name: statistics.median(values) for name, values in times.items()}
    for name, values in ratios.items():
        medians[f"{name} ratio"] = statistics.median(values)
    return medians


def _burst_of_401s(server: TokenServer, auth: requests.auth.AuthBase) -> int:
    """The token requests made for 100 threads whose requests were prepared
    with a token that is then revoked (each is refused, and sent once more)."""
    import requests
    import requests.adapters

    with requests.Session() as session:
        session.auth = auth
        session.mount("http://", requests.adapters.HTTPAdapter(pool_maxsize=100))
        old = session.get(server.resource_url).request.headers["Authorization"]
        prepared = [
            session.prepare_request(requests.Request("GET", server.resource_url))
            for _ in range(100)
        ]
        server.revoke(old.partition(" ")[2])
        server.clear()
        barrier = threading.Barrier(100)

        def one(request: requests.PreparedRequest) -> None:
            barrier.wait()
            session.send(request, timeout=60)

        threads = [threading.Thread(target=one, args=(p,)) for p in prepared]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    return len(server.token_requests())


def _row(steps: dict[str, float], whole: dict[str, float], tokens: int) -> Row:
    base = steps["static header"]
    row = Row(
        case="requests TokenAuth",
        baseline="static header (AuthBase)",
        target="≤ static + 0.5 µs; GET ≤ 1.01; 1 token request per 401 burst",
    )
    row.candidates.append(Candidate("static header", fmt_time(base), "1.00"))
    names = (
        "static header + no-op hook",
        "sansio_auth TokenAuth",
        "requests-oauth2client",
        "authlib",
    )
    for name in names:
        if name not in steps:
            row.candidates.append(Candidate(name, NOT_INSTALLED, "-"))
            continue
        value = steps[name]
        row.candidates.append(Candidate(name, fmt_time(value), f"{value / base:.2f}"))
        row.notes.append(
            f"auth step, {name}: {(value - base) * 1e6:+.2f} µs per request "
            "over the static header"
        )
    for name in ("GET, static header", "GET, sansio_auth TokenAuth"):
        ratio = whole[f"{name} ratio"]
        row.candidates.append(Candidate(name, fmt_time(whole[name]), f"{ratio:.3f}"))
    control = whole["GET, static header again ratio"]
    row.notes.append(
        "GET: one keep-alive Session to a minimal loopback API, the auths "
        "rotated request by request; a ratio is the median of the rounds' "
        f"ratios. The same static header again, as a control: {control:.3f}"
    )
    row.candidates.append(Candidate("401 burst: token requests", str(tokens), "-"))
    row.notes.append(
        f"401 burst: 100 threads, each request refused once and sent once "
        f"more; {tokens} token request"
    )
    added = steps["sansio_auth TokenAuth"] - base
    own = steps["sansio_auth TokenAuth"] - steps["static header + no-op hook"]
    row.notes.append(
        "requests runs a response hook at a cost of its own (a check that the "
        "hook list is not itself a callable, then a call with five keyword "
        "arguments), which a static header never pays and a 401 retry cannot "
        f"avoid; over that floor, ours adds {own * 1e6:+.2f} µs. The peers "
        "register no hook: they do not retry a 401"
    )
    get_ratio = whole["GET, sansio_auth TokenAuth ratio"]
    row.met = added <= 0.5e-6 and get_ratio <= 1.01 and tokens == 1
    return row
