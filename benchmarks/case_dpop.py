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

from collections.abc import Callable

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
    medians = timed(funcs, settings)
    base = "bare ES256 signature"
    row = Row(
        case="a DPoP proof per API request",
        baseline=base,
        target="sansio_auth ≤ 1.20",
        candidates=ratios(medians, base, ["sansio_auth", "requests-oauth2client"]),
    )
    row.met = medians["sansio_auth"] / medians[base] <= 1.20
    row.notes.append(
        "sansio_auth: the Authorization value and a fresh proof with ath, as "
        "every integration makes per request; the header is encoded once per "
        "key, the token's hash once per token"
    )
    return row
