"""DPoP: the proof on each API request (RFC 9449 §7), per request.

The baseline is a bare ``cryptography`` ES256 signature of a proof's signing
input of the same size. sansio_auth is everything an integration does per
request with a DPoP-bound token: the ``Authorization`` value and a fresh
proof (clock, ``jti``, ``htu`` without the query, ``ath``, signature, JOSE
encoding). requests-oauth2client is ``add_dpop_proof``, what its ``DPoPToken``
auth does per request, on a prepared request.

Target: sansio_auth at most 1.20x the bare signature. Issue 14.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any

from _fixtures import load_peer
from _timing import Row, Settings, ratios, timed

_URL = "https://api.example.com/v1/items?page=2"
_ACCESS_TOKEN = "2YotnFZFEjr1zCsicMWpAA-" * 2


def run(settings: Settings) -> Row:
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec

    from sansio_auth import DPoPKey, Token
    from sansio_auth.adapters._dpop import ApiProofs

    private = ec.generate_private_key(ec.SECP256R1())
    proofs = ApiProofs(DPoPKey(private))
    token = Token(
        access_token=_ACCESS_TOKEN,
        token_type="DPoP",
        received_at=0.0,
        expires_at=None,
        scopes=None,
        refresh_token=None,
        raw={},
    )
    _, proof = proofs.headers(token, "GET", _URL)
    assert proof is not None
    signing_input = proof.rpartition(".")[0].encode("ascii")
    ecdsa = ec.ECDSA(hashes.SHA256())

    funcs: dict[str, Callable[[], object]] = {
        "bare ES256 signature": lambda: private.sign(signing_input, ecdsa),
        "sansio_auth": lambda: proofs.headers(token, "GET", _URL),
    }
    peer = load_peer("requests_oauth2client.dpop")
    requests = load_peer("requests")
    if peer is not None and requests is not None:
        key = peer.DPoPKey.generate(alg="ES256")
        prepared = requests.Request("GET", _URL).prepare()
        funcs["requests-oauth2client"] = lambda: peer.add_dpop_proof(
            prepared, dpop_key=key, access_token=_ACCESS_TOKEN, header_name="DPoP"
        )
    with contextlib.ExitStack() as stack:
        if requests is not None:
            _through_requests(stack, funcs, private, peer)
        medians = timed(funcs, settings)
    base = "bare ES256 signature"
    row = Row(
        case="a DPoP proof per API request",
        baseline=base,
        target="sansio_auth ≤ 1.20",
        candidates=ratios(
            medians, base, ["sansio_auth", "requests-oauth2client", *_REQUESTS_LINES]
        ),
    )
    row.met = medians["sansio_auth"] / medians[base] <= 1.20
    row.notes.append(
        "sansio_auth: the Authorization value and a fresh proof with ath, as "
        "every integration makes per request; the header is encoded once per "
        "key, the token's hash once per token"
    )
    if _REQUESTS_LINES[0] in medians:
        added = medians[_REQUESTS_LINES[0]] - medians[_REQUESTS_LINES[1]]
        row.notes.append(
            "through requests, on a copy of a prepared request each time: "
            f"DPoP adds {added / medians[base]:.2f}x a bare signature to the "
            "same integration with a bearer token; the rest is the copy and "
            "requests' own header handling, as for any auth"
        )
    return row


_REQUESTS_LINES = [
    "requests TokenAuth, DPoP",
    "requests TokenAuth, Bearer",
    "requests-oauth2client DPoPToken",
    "prepared.copy() alone",
]


def _through_requests(
    stack: contextlib.ExitStack,
    funcs: dict[str, Callable[[], object]],
    private: object,
    peer: Any,
) -> None:
    # Whole per-request auth through requests, a token already held: ours
    # with DPoP and with a bearer token (what DPoP adds), and the peer's.
    import requests

    from sansio_auth import ClientCredentials, DPoPKey
    from sansio_auth.adapters.requests import TokenAuth
    from sansio_auth.adapters.server import TokenServer

    server = stack.enter_context(TokenServer())
    creds = server.credentials

    def flow() -> ClientCredentials:
        return ClientCredentials(
            token_url=server.generic_token_url,
            client_id=creds.generic_client_id,
            client_secret=creds.generic_client_secret,
        )

    prepared = requests.Request("GET", _URL).prepare()
    dpop = TokenAuth(flow(), dpop_key=DPoPKey(private))
    bearer = TokenAuth(flow())
    dpop(prepared.copy())  # fetch the token once, before timing
    bearer(prepared.copy())
    funcs[_REQUESTS_LINES[0]] = lambda: dpop(prepared.copy())
    funcs[_REQUESTS_LINES[1]] = lambda: bearer(prepared.copy())
    if peer is not None:
        token = peer.DPoPToken(
            access_token=_ACCESS_TOKEN, _dpop_key=peer.DPoPKey.generate(alg="ES256")
        )
        funcs[_REQUESTS_LINES[2]] = lambda: token(prepared.copy())
    funcs[_REQUESTS_LINES[3]] = prepared.copy
