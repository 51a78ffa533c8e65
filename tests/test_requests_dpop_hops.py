"""requests: a same-origin redirect hop goes without the first URL's proof
(requests copies the request), and its 401 is sent again with a proof of its
own only when the 401 may be about our token; another scheme's challenge or
insufficient_scope goes back untouched, as it does without a redirect."""

from __future__ import annotations

from pathlib import Path

import pytest
import requests
from http_server import Received, Reply, Server

from sansio_auth import ClientCredentials
from sansio_auth.adapters.requests import TokenAuth
from sansio_auth.adapters.server import TokenServer


def flow(server: TokenServer) -> ClientCredentials:
    return ClientCredentials(
        token_url=server.generic_token_url,
        client_id=server.credentials.generic_client_id,
        client_secret=server.credentials.generic_client_secret,
    )


@pytest.mark.parametrize(
    ("challenge", "sent"),
    [
        ('Basic realm="other"', 1),
        ('DPoP error="insufficient_scope"', 1),
        ('DPoP error="invalid_request"', 1),
        ('DPoP error="invalid_dpop_proof"', 2),  # the hop had no proof
        ('DPoP error="invalid_token"', 2),  # the hop had no proof: once more
        (None, 2),
    ],
)
def test_a_hops_401_is_sent_again_only_when_it_may_be_ours(
    challenge: str | None, sent: int
) -> None:
    def script(received: Received) -> Reply:
        if received.target == "/start":
            return Reply(status=302, headers=(("Location", "/end"),))
        headers = () if challenge is None else (("WWW-Authenticate", challenge),)
        return Reply(status=401, headers=headers)

    with TokenServer() as tokens, Server(script) as api:
        session = requests.Session()
        session.auth = TokenAuth(flow(tokens), dpop_key=True)
        assert session.get(api.url("/start")).status_code == 401
        ends = [r for r in api.requests if r.target == "/end"]
        assert len(ends) == sent
        assert ends[0].header("dpop") is None  # not the first URL's proof
        if sent == 2:
            assert ends[1].header("dpop") is not None


def test_a_refused_proof_does_not_throw_the_token_away() -> None:
    # A resource server refusing every proof (a clock off, an algorithm it
    # does not take) costs no token request per call: one more send with a
    # fresh proof, the token kept.
    refusal = Reply(
        status=401,
        headers=(("WWW-Authenticate", 'DPoP error="invalid_dpop_proof"'),),
    )
    with TokenServer() as tokens, Server([refusal]) as api:
        session = requests.Session()
        session.auth = TokenAuth(flow(tokens), dpop_key=True)
        for _ in range(5):
            assert session.get(api.url("/items")).status_code == 401
        assert len(api.requests) == 10  # each sent once more, never twice
        proofs = {r.header("dpop") for r in api.requests}
        assert len(proofs) == 10  # a fresh proof each time
        assert len(tokens.requests) == 1


def test_both_sides_of_httpx_share_one_loaded_certificate(tmp_path: Path) -> None:
    # Loaded when TokenAuth is made: the async side's token client is made
    # on the event loop, which loading the trust store and files would stall.
    import trustme

    from sansio_auth.adapters.httpx import TokenAuth as HttpxAuth

    path = tmp_path / "client.pem"
    trustme.CA().issue_cert(
        "client.example"
    ).private_key_and_cert_chain_pem.write_to_path(str(path))
    with TokenServer() as tokens:
        auth = HttpxAuth(flow(tokens), client_cert=path)
        sync_side = auth._sync_tokens()
        async_side = auth._async_tokens()
        assert sync_side.ssl_context is not None
        assert sync_side.ssl_context is async_side.ssl_context
