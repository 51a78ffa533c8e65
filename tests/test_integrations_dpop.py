"""DPoP (RFC 9449) through every integration, against real servers.

httpx's ``TokenAuth`` on a ``Client`` and on an ``AsyncClient`` (asyncio and
trio), requests' ``TokenAuth`` and aiohttp's ``TokenMiddleware``, each driven
through ``integrations.Driver``, against the local token server started with
``dpop_nonce=True``: its token endpoint asks for a nonce first, binds the
token to the proof's key (``token_type`` DPoP, ``cnf.jkt``), and its
resource takes that token only as ``Authorization: DPoP`` with a proof of
that key for that request carrying its current nonce, refusing a replayed
``jti``. Each proof the resource got is also taken apart here and its
signature checked by PyJWT: a fresh ``jti`` per request, ``htm`` the
method, ``htu`` the URL sent (``params`` and ``base_url`` merged in, the
query cut off), ``ath`` the token's hash. Redirects go through scripted
servers of ``http_server``: a proof never reaches another origin with the
token, and a same-origin hop is proved for its own URL.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import anyio
import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from http_server import Received, Reply, serving
from integrations import KINDS, Driver, Kind, api_requests, driving, flow_for
from jose_check import sha256_b64url, verified_proof

from sansio_auth import DPoPKey
from sansio_auth.adapters import aiohttp as aiohttp_adapter
from sansio_auth.adapters import httpx as httpx_adapter
from sansio_auth.adapters import requests as requests_adapter
from sansio_auth.adapters.server import RecordedRequest, TokenServer

PRIVATE = ec.generate_private_key(ec.SECP256R1())
KEY = DPoPKey(PRIVATE)
"""The DPoP key of every test: its thumbprint is what tokens are bound to."""


@pytest.fixture
def server() -> Iterator[TokenServer]:
    """The local token server, wanting DPoP nonces (token endpoint and
    resource share one)."""
    with TokenServer(dpop_nonce=True) as running:
        yield running


@pytest.fixture(params=KINDS)
def kind(request: pytest.FixtureRequest) -> Kind:
    chosen: Kind = request.param
    return chosen


@pytest.fixture
def api(server: TokenServer, kind: Kind) -> Iterator[Driver]:
    with driving(kind, flow_for(server), dpop_key=KEY) as driver:
        yield driver


# -- what the servers got -----------------------------------------------------


def proof_of(request: RecordedRequest | Received) -> tuple[dict[str, Any], ...]:
    """The header and claims of *request*'s one DPoP proof, its signature
    checked by PyJWT."""
    values = [v for k, v in request.headers if k.lower() == "dpop"]
    assert len(values) == 1, f"{len(values)} DPoP headers"
    return verified_proof(values[0])


def claims_of(request: RecordedRequest | Received) -> dict[str, Any]:
    return proof_of(request)[1]


def token_of(request: RecordedRequest | Received) -> str:
    """The access token of a request sent with the DPoP scheme."""
    scheme, _, token = (request.header("Authorization") or "").partition(" ")
    assert scheme == "DPoP"
    return token


def bound_jkt(server: TokenServer, token: str) -> object:
    """The ``cnf.jkt`` of a token *server* issued."""
    claims = server.verify(token)
    assert claims is not None
    cnf = claims["cnf"]
    assert isinstance(cnf, dict)
    return cnf.get("jkt")


def check_proofs(server: TokenServer, calls: list[RecordedRequest]) -> None:
    """Each of *calls* carried the DPoP scheme and a proof of KEY made for
    it: its method, the resource's URL without the query, the token's hash,
    and a jti no other call had."""
    jtis = []
    for call in calls:
        header, claims = proof_of(call)
        token = token_of(call)
        assert bound_jkt(server, token) == KEY.jkt
        assert header["typ"] == "dpop+jwt"
        assert header["jwk"] == dict(KEY.public_jwk)
        assert claims["htm"] == call.method
        assert claims["htu"] == server.resource_url
        assert claims["ath"] == sha256_b64url(token)
        jtis.append(claims["jti"])
    assert len(set(jtis)) == len(jtis)


def challenged(call: RecordedRequest) -> bool:
    """Whether the resource asked *call* for a nonce: its proof had none, or
    not the current one (the record keeps requests, not answers)."""
    return "nonce" not in claims_of(call)


# -- a DPoP-bound token, a fresh proof per request -----------------------------


def test_a_dpop_bound_token_goes_with_a_fresh_proof_per_request(
    server: TokenServer, api: Driver
) -> None:
    first = api.request("GET", server.resource_url, params={"page": "2"})
    second = api.request("POST", server.resource_url, content=b"abc")
    third = api.request("PUT", server.resource_url, params={"q": "a b"}, content=b"")

    assert [first.status, second.status, third.status] == [200, 200, 200]
    assert second.json()["body_bytes"] == 3
    # The token endpoint's nonce dance: a proof without the nonce, refused
    # with use_dpop_nonce, then one with it; one fetch.
    asked, answered = server.token_requests()
    assert "nonce" not in claims_of(asked)
    assert claims_of(answered)["nonce"] == server.dpop_nonce
    assert claims_of(answered)["htu"] == server.generic_token_url
    # The resource asked for its nonce once (the token endpoint's is the
    # session's, not the API's): the first request was sent once more.
    calls = api_requests(server)
    assert [(c.method, c.path) for c in calls] == [
        ("GET", "/api/resource?page=2"),
        ("GET", "/api/resource?page=2"),
        ("POST", "/api/resource"),
        ("PUT", "/api/resource?q=a+b"),
    ]
    assert [challenged(c) for c in calls] == [True, False, False, False]
    assert all(claims_of(c)["nonce"] == server.dpop_nonce for c in calls[1:])
    assert server.dpop_nonce_challenges == 2
    check_proofs(server, calls)
    assert len({token_of(c) for c in calls}) == 1
    assert server.rejections[-1].reason == "nonce"
    assert [r.endpoint for r in server.rejections] == ["generic", "resource"]


def test_the_proof_names_the_url_httpx_sends_with_base_url_and_params(
    server: TokenServer,
) -> None:
    auth = httpx_adapter.TokenAuth(flow_for(server), dpop_key=KEY, timeout=10)
    base = server.url + "/api/"
    with httpx.Client(auth=auth, base_url=base, params={"a": "1"}) as client:
        assert client.get("resource", params={"b": "2"}).status_code == 200

    async def run() -> int:
        async with httpx.AsyncClient(
            auth=auth, base_url=base, params={"a": "1"}
        ) as client:
            return (await client.get("resource#here")).status_code

    assert anyio.run(run) == 200
    calls = api_requests(server)
    # Each side asked for the resource's nonce once (a nonce per side).
    both, one = "/api/resource?a=1&b=2", "/api/resource?a=1"
    assert [c.path for c in calls] == [both, both, one, one]
    check_proofs(server, calls)


def test_user_info_in_the_url_stays_out_of_the_proof(
    server: TokenServer, api: Driver
) -> None:
    url = server.resource_url.replace("://", "://someone:pw-Xk42-secret@")
    answer = api.request("GET", url)
    calls = api_requests(server)
    if api.kind == "aiohttp":
        # aiohttp makes Basic credentials of them: the caller's own.
        assert answer.status == 401
        assert [c.header("DPoP") for c in calls] == [None]
        return
    assert answer.status == 200
    check_proofs(server, calls)  # htu: the resource's URL, no user info


def test_a_rotated_nonce_is_answered_with_one_retry(
    server: TokenServer, api: Driver
) -> None:
    assert api.request("GET", server.resource_url).status == 200
    old = server.dpop_nonce
    new = server.rotate_dpop_nonce()
    server.clear()

    answer = api.request("POST", server.resource_url, content=b"payload")

    assert answer.status == 200
    assert answer.json()["body_bytes"] == len(b"payload")
    assert server.token_requests() == []  # the token kept
    refused, retried = api_requests(server)
    assert (claims_of(refused)["nonce"], claims_of(retried)["nonce"]) == (old, new)
    assert refused.body == retried.body == b"payload"
    assert token_of(refused) == token_of(retried)
    assert server.dpop_nonce_challenges == 1
    check_proofs(server, [refused, retried])
    # Learnt: the next request carries it at once.
    assert api.request("GET", server.resource_url).status == 200
    assert len(api_requests(server)) == 3


NONCE_CHALLENGE = [
    ("WWW-Authenticate", 'DPoP error="use_dpop_nonce", error_description="again"'),
    ("DPoP-Nonce", "nonce-from-a-fault"),
]


def test_a_second_nonce_challenge_is_not_answered(
    server: TokenServer, api: Driver
) -> None:
    assert api.request("GET", server.resource_url).status == 200
    server.clear()
    server.fail_next(2, 401, None, endpoint="resource", headers=NONCE_CHALLENGE)

    answer = api.request("GET", server.resource_url)

    assert answer.status == 401  # the retry's challenge goes back
    first, second = api_requests(server)
    assert claims_of(first)["nonce"] == server.dpop_nonce
    assert claims_of(second)["nonce"] == "nonce-from-a-fault"
    assert server.token_requests() == []
    # Not a refusal of the token: the next request keeps it (and learns the
    # server's own nonce again, with one retry).
    assert api.request("GET", server.resource_url).status == 200
    assert server.token_requests() == []
    assert len({token_of(c) for c in api_requests(server)}) == 1


def test_a_cold_burst_makes_one_token_request(server: TokenServer, api: Driver) -> None:
    server.set_latency(0.05)
    statuses = api.burst(20, server.resource_url)

    assert statuses == [200] * 20
    assert len(server.token_requests()) == 2  # one fetch: its nonce dance
    calls = api_requests(server)
    assert len({token_of(c) for c in calls}) == 1
    # Each request asked for the nonce was sent once more, and only those.
    asked = [c for c in calls if challenged(c)]
    assert len(calls) == 20 + len(asked)
    assert server.dpop_nonce_challenges == 1 + len(asked)
    check_proofs(server, calls)


def test_a_revoked_dpop_token_is_replaced_and_the_request_sent_once_more(
    server: TokenServer, api: Driver
) -> None:
    assert api.request("GET", server.resource_url).status == 200
    old = token_of(api_requests(server)[-1])
    server.revoke(old)
    server.clear()

    answer = api.request("PUT", server.resource_url, content=b"again")

    assert answer.status == 200
    # The session knew the token endpoint's nonce: one token request.
    (fetch,) = server.token_requests()
    assert claims_of(fetch)["nonce"] == server.dpop_nonce
    refused, retried = api_requests(server)
    assert token_of(refused) == old
    assert token_of(retried) != old
    check_proofs(server, [retried])
    assert claims_of(refused)["jti"] != claims_of(retried)["jti"]


def test_an_invalid_token_on_the_retry_goes_back(
    server: TokenServer, api: Driver
) -> None:
    assert api.request("GET", server.resource_url).status == 200
    server.clear()
    refused = [("WWW-Authenticate", 'DPoP error="invalid_token"')]
    server.fail_next(2, 401, None, endpoint="resource", headers=refused)

    assert api.request("GET", server.resource_url).status == 401
    assert len(api_requests(server)) == 2  # never a third send
    assert len(server.token_requests()) == 1


# -- redirects ----------------------------------------------------------------


def redirect(location: str) -> Reply:
    return Reply(status=302, headers=(("Location", location),))


def test_another_origin_never_gets_the_token_nor_a_proof_of_it(
    server: TokenServer, api: Driver
) -> None:
    with serving([Reply(body=b"{}")]) as other:
        with serving([redirect(other.url("/elsewhere"))]) as first:
            answer = api.request("GET", first.url("/start"), follow=True)
            assert answer.status == 200
            (start,) = first.requests
            assert token_of(start)
            assert claims_of(start)["htu"] == first.url("/start")
        (there,) = other.requests
    assert there.header("Authorization") is None
    if api.kind.startswith("httpx"):
        # httpx copies every header but Authorization onto the hop, where no
        # auth flow sees it (TokenAuth's notes): the proof made for the
        # first URL, useless without the token.
        assert claims_of(there)["htu"] == first.url("/start")
    else:
        assert there.header("DPoP") is None


class SameOrigin:
    """A scripted API: ``/start`` redirects to ``/end``, which takes a
    request only with a proof made for it (its URL, GET, a jti not seen)."""

    def __init__(self) -> None:
        self.end = ""
        self.seen: set[str] = set()

    def __call__(self, received: Received) -> Reply:
        if received.target == "/start":
            return redirect("/end")
        try:
            claims = claims_of(received)
            fresh = claims["jti"] not in self.seen
            self.seen.add(claims["jti"])
            good = fresh and claims["htu"] == self.end and claims["htm"] == "GET"
        except AssertionError:  # no proof, or several
            good = False
        if good:
            return Reply(body=b'{"ok": true}')
        challenge = 'DPoP error="invalid_dpop_proof", error_description="htu"'
        return Reply(status=401, headers=(("WWW-Authenticate", challenge),))


def test_a_same_origin_hop_is_proved_for_its_own_url(
    server: TokenServer, api: Driver
) -> None:
    script = SameOrigin()
    with serving(script) as api_server:
        end = script.end = api_server.url("/end")
        result = api.request("GET", api_server.url("/start"), follow=True)
        requests = list(api_server.requests)

    assert result.status == 200
    assert result.json() == {"ok": True}
    ends = [r for r in requests if r.target == "/end"]
    # aiohttp's middleware proves each hop as it goes; requests takes the
    # proof off the hop and proves it after its 401; httpx's hop carries the
    # first URL's proof, refused, and is sent once more with its own.
    assert len(ends) == (1 if api.kind == "aiohttp" else 2)
    assert claims_of(ends[-1])["htu"] == end
    assert {token_of(r) for r in requests} == {token_of(requests[0])}
    assert len(server.token_requests()) == 2  # the token kept: one fetch


@pytest.mark.parametrize("backend", ["sync", "asyncio", "trio"])
def test_httpx_next_request_sent_by_the_caller_gets_its_own_proof(
    server: TokenServer, backend: str
) -> None:
    # httpx copies our Authorization and proof onto response.next_request
    # (same origin): ours, proved again, not left alone as the caller's.
    auth = httpx_adapter.TokenAuth(flow_for(server), dpop_key=KEY, timeout=10)
    script = SameOrigin()
    with serving(script) as api_server:
        script.end = api_server.url("/end")
        start = api_server.url("/start")
        if backend == "sync":
            with httpx.Client(auth=auth) as client:
                moved = client.get(start)
                assert moved.next_request is not None
                status = client.send(moved.next_request).status_code
        else:

            async def run() -> int:
                async with httpx.AsyncClient(auth=auth) as client:
                    moved = await client.get(start)
                    assert moved.next_request is not None
                    return (await client.send(moved.next_request)).status_code

            status = anyio.run(run, backend=backend)
        requests = list(api_server.requests)

    assert status == 200
    first, end = requests  # no 401, no second send
    assert claims_of(first)["htu"] == start
    assert claims_of(end)["htu"] == script.end
    assert token_of(end) == token_of(first)


# -- the options --------------------------------------------------------------


PEM = PRIVATE.private_bytes(
    serialization.Encoding.PEM,
    serialization.PrivateFormat.PKCS8,
    serialization.NoEncryption(),
)


@pytest.mark.parametrize("dpop_key", [True, PEM, PEM.decode(), PRIVATE, KEY], ids=repr)
def test_each_form_of_the_key_binds_the_token(
    server: TokenServer, dpop_key: object
) -> None:
    with driving("requests", flow_for(server), dpop_key=dpop_key) as api:
        assert api.request("GET", server.resource_url).status == 200
    jkt = bound_jkt(server, token_of(api_requests(server)[-1]))
    assert (jkt == KEY.jkt) is (dpop_key is not True)


INTEGRATIONS = [
    httpx_adapter.TokenAuth,
    requests_adapter.TokenAuth,
    aiohttp_adapter.TokenMiddleware,
]


@pytest.mark.parametrize("integration", INTEGRATIONS)
def test_a_bad_key_is_refused_by_name_without_the_key(
    server: TokenServer, integration: Any
) -> None:
    text = (
        "-----BEGIN PRIVATE KEY-----\nc2VjcmV0LWtleS1ieXRlcw==\n"
        "-----END PRIVATE KEY-----\n"
    )
    with pytest.raises(ValueError, match="dpop_key") as refused:
        integration(flow_for(server), dpop_key=text)
    assert "c2VjcmV0" not in str(refused.value)
    with pytest.raises(TypeError, match="dpop_key"):
        integration(flow_for(server), dpop_key=42)


def test_one_key_for_both_sides_of_httpx(server: TokenServer) -> None:
    # True draws one key when the TokenAuth is made: its sync and async
    # sides, whose token clients are made later, share it.
    auth = httpx_adapter.TokenAuth(flow_for(server), dpop_key=True, timeout=10)
    with httpx.Client(auth=auth) as client:
        assert client.get(server.resource_url).status_code == 200

    async def run() -> int:
        async with httpx.AsyncClient(auth=auth) as client:
            return (await client.get(server.resource_url)).status_code

    assert anyio.run(run) == 200
    tokens = {token_of(c) for c in api_requests(server)}
    assert len(tokens) == 2  # a token each side
    assert len({bound_jkt(server, token) for token in tokens}) == 1


def test_a_callers_authorization_is_left_alone(
    server: TokenServer, api: Driver
) -> None:
    answer = api.request(
        "GET", server.resource_url, headers={"Authorization": "Bearer mine"}
    )

    assert answer.status == 401
    (call,) = api_requests(server)
    assert call.header("Authorization") == "Bearer mine"
    assert call.header("DPoP") is None
    assert server.token_requests() == []
