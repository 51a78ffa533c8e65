"""The adapters' side of DPoP (``adapters/_dpop.py``): the ``jti`` source,
the ``dpop_key=`` option, and the proofs of API requests with each resource
server's nonce. The proofs are verified by PyJWT, not by our own code."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import signal
import threading
import time
from typing import Any

import jwt as pyjwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from hypothesis import given
from hypothesis import strategies as st

from sansio_auth import DPoPKey, Token
from sansio_auth.adapters._dpop import ApiProofs, dpop_option, new_jti

KEY = ec.generate_private_key(ec.SECP256R1())
URL = "https://api.example.test/v1/items?page=2#top"


def token(token_type: str = "DPoP", access_token: str = "at-1") -> Token:
    return Token(
        access_token=access_token,
        token_type=token_type,
        received_at=0.0,
        expires_at=None,
        scopes=None,
        refresh_token=None,
        raw={},
    )


def verified(proof: str, key: DPoPKey) -> dict[str, Any]:
    """The proof's claims, its signature checked by PyJWT with the header's
    own ``jwk``, which must be the key's public half."""
    header = pyjwt.get_unverified_header(proof)
    assert header["typ"] == "dpop+jwt"
    assert header["jwk"] == dict(key.public_jwk)
    public = pyjwt.PyJWK(header["jwk"], algorithm=header["alg"])
    claims: dict[str, Any] = pyjwt.decode(
        proof,
        public.key,
        algorithms=[header["alg"]],
        # The times are the test's own clock's; the signature is the point.
        options={"verify_aud": False, "verify_iat": False},
    )
    return claims


def ath(access_token: str) -> str:
    digest = hashlib.sha256(access_token.encode()).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def test_a_bound_token_gets_the_dpop_scheme_and_a_proof_of_the_request() -> None:
    key = DPoPKey(KEY)
    proofs = ApiProofs(key, clock=lambda: 1_800_000_000.75)
    authorization, proof = proofs.headers(token(), "get", URL)
    assert authorization == "DPoP at-1"
    assert proof is not None
    claims = verified(proof, key)
    assert claims["htm"] == "GET"
    assert claims["htu"] == "https://api.example.test/v1/items"
    assert claims["iat"] == 1_800_000_000
    assert claims["ath"] == ath("at-1")
    assert "nonce" not in claims


@pytest.mark.parametrize("token_type", ["Bearer", "bearer", "N_A", "MAC"])
def test_a_token_that_is_not_bound_goes_as_it_is_without_a_proof(
    token_type: str,
) -> None:
    proofs = ApiProofs(DPoPKey(KEY))
    assert proofs.headers(token(token_type), "GET", URL) == (
        token(token_type).authorization(),  # Token normalises Bearer's case
        None,
    )


@pytest.mark.parametrize("token_type", ["DPoP", "dpop", "DPOP"])
def test_the_token_type_is_matched_in_any_case(token_type: str) -> None:
    proofs = ApiProofs(DPoPKey(KEY))
    authorization, proof = proofs.headers(token(token_type), "GET", URL)
    assert authorization == "DPoP at-1"
    assert proof is not None


def test_every_proof_has_a_new_jti_and_the_hash_of_its_own_token() -> None:
    key = DPoPKey(KEY)
    proofs = ApiProofs(key)
    seen = set()
    for access_token in ["at-1", "at-1", "at-2", "at-1", "at-3"]:
        _, proof = proofs.headers(token(access_token=access_token), "POST", URL)
        assert proof is not None
        claims = verified(proof, key)
        # A token's hash is kept between requests: never the wrong token's.
        assert claims["ath"] == ath(access_token)
        seen.add(claims["jti"])
    assert len(seen) == 5


def test_a_resource_servers_nonce_goes_in_its_proofs_only() -> None:
    key = DPoPKey(KEY)
    proofs = ApiProofs(key)
    assert proofs.learn("https://API.example.test:443/v1/a?x=1", "n-1") is True
    assert proofs.learn("https://api.example.test:443/other", "n-1") is False
    for url, expected in [
        ("https://api.example.test:443/v1/b", "n-1"),
        ("https://api.example.test/v1/b", None),  # another origin: no port
        ("https://other.example.test/v1/b", None),
    ]:
        _, proof = proofs.headers(token(), "GET", url)
        assert proof is not None
        assert verified(proof, key).get("nonce") == expected
    assert proofs.learn("https://api.example.test:443/", "n-2") is True
    _, proof = proofs.headers(token(), "GET", "https://api.example.test:443/v1")
    assert proof is not None
    assert verified(proof, key)["nonce"] == "n-2"


@pytest.mark.parametrize(
    "nonce",
    [None, "", 'with"quote', "back\\slash", "sp ace", "new\nline", "é", "x" * 1025],
)
def test_a_nonce_a_proof_could_not_carry_is_not_taken(nonce: str | None) -> None:
    # A hostile server's header goes into our next proof and request: only
    # RFC 9449's characters, at a sane length.
    proofs = ApiProofs(DPoPKey(KEY))
    assert proofs.learn(URL, nonce) is False
    _, proof = proofs.headers(token(), "GET", URL)
    assert proof is not None
    assert "nonce" not in verified(proof, DPoPKey(KEY))


def test_the_nonces_kept_are_bounded_oldest_first() -> None:
    key = DPoPKey(KEY)
    proofs = ApiProofs(key)
    for i in range(200):
        proofs.learn(f"https://host-{i}.example.test/", f"n-{i}")
    kept = []
    for i in (0, 135, 136, 199):
        _, proof = proofs.headers(token(), "GET", f"https://host-{i}.example.test/")
        assert proof is not None
        kept.append(verified(proof, key).get("nonce"))
    assert kept == [None, None, "n-136", "n-199"]


@given(
    method=st.sampled_from(["GET", "POST", "PUT", "DELETE", "PATCH"]),
    path=st.text(st.characters(codec="ascii", exclude_categories=["Cc"]), max_size=30),
    access_token=st.text(min_size=1, max_size=60),
    nonce=st.from_regex(r"[A-Za-z0-9_.~!-]{1,40}", fullmatch=True),
)
def test_any_request_gets_a_proof_another_library_accepts(
    method: str, path: str, access_token: str, nonce: str
) -> None:
    key = DPoPKey(KEY)
    proofs = ApiProofs(key)
    url = "https://api.example.test/" + path.replace("#", "%23").replace("?", "%3F")
    proofs.learn(url, nonce)
    _, proof = proofs.headers(token(access_token=access_token), method, url + "?q=1")
    assert proof is not None
    claims = verified(proof, key)
    assert claims["htm"] == method
    assert claims["htu"] == url
    assert claims["nonce"] == nonce
    assert claims["ath"] == ath(access_token)


def test_jti_values_are_distinct_across_threads() -> None:
    found: list[list[str]] = [[] for _ in range(8)]

    def draw(into: list[str]) -> None:
        into.extend(new_jti() for _ in range(2000))

    threads = [threading.Thread(target=draw, args=(into,)) for into in found]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    values = [value for into in found for value in into]
    assert len(set(values)) == len(values) == 16000


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_a_forked_child_draws_jti_values_its_parent_never_does() -> None:
    # A child that went on counting from its parent's prefix would send the
    # jti values the parent sends next: a server refuses those as replays.
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        try:
            os.write(write, json.dumps([new_jti() for _ in range(50)]).encode())
        finally:
            os._exit(0)
    os.close(write)
    with os.fdopen(read, "rb") as pipe:
        child = json.loads(pipe.read())
    os.waitpid(pid, 0)
    parent = [new_jti() for _ in range(50)]
    assert len(set(child)) == 50
    assert not set(child) & set(parent)
    assert {value.rpartition(".")[0] for value in child}.isdisjoint(
        {value.rpartition(".")[0] for value in parent}
    )


def test_the_dpop_key_option() -> None:
    assert dpop_option(None) is None
    assert dpop_option(False) is None
    made = dpop_option(True)
    assert made is not None
    assert made.algorithm == "ES256"
    assert dpop_option(True) != made  # a fresh key each time
    given_key = DPoPKey(KEY)
    assert dpop_option(given_key) is given_key
    pem = KEY.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    assert dpop_option(pem) == given_key
    assert dpop_option(pem.decode()) == given_key
    edwards = dpop_option(ed25519.Ed25519PrivateKey.generate())
    assert edwards is not None
    assert edwards.algorithm == "EdDSA"


@pytest.mark.parametrize("value", ["not a pem", b"-----BEGIN PRIVATE KEY-----\nxx"])
def test_a_dpop_key_that_is_not_a_key_is_refused_without_showing_it(
    value: str | bytes,
) -> None:
    with pytest.raises(ValueError, match="dpop_key") as caught:
        dpop_option(value)
    text = str(caught.value)
    assert "not a pem" not in text
    assert "BEGIN" not in text


def test_user_info_is_no_part_of_the_proof_or_the_origin() -> None:
    # RFC 9110 §4.2.4: user info is not the target; in a signed header it
    # would show a password to every proxy and log that keeps headers.
    key = DPoPKey(KEY)
    proofs = ApiProofs(key)
    assert proofs.learn("https://user:S3cr3t-pw@api.example.test/v1", "n-1")
    _, proof = proofs.headers(
        token(), "GET", "https://other:pw2@api.example.test/v1/items?x=1"
    )
    assert proof is not None
    claims = verified(proof, key)
    assert claims["htu"] == "https://api.example.test/v1/items"
    assert claims["nonce"] == "n-1"  # one origin, whoever the URL logs in as
    assert "S3cr3t" not in proof
    assert "pw2" not in base64.urlsafe_b64decode(proof.split(".")[1] + "==").decode()


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_a_child_forked_while_a_thread_held_the_nonce_lock_can_use_it() -> None:
    proofs = ApiProofs(DPoPKey(KEY))
    proofs._lock.acquire()  # as a thread inside learn() at the fork would
    try:
        pid = os.fork()
        if pid == 0:  # pragma: no cover - the child
            code = 1
            try:
                code = 0 if proofs.learn(URL, "child-nonce") else 2
            finally:
                os._exit(code)
    finally:
        proofs._lock.release()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            break
        time.sleep(0.05)
    else:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        pytest.fail("the child hung on the lock its parent's thread held")
    assert os.waitstatus_to_exitcode(status) == 0
