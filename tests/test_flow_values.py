"""Flows, keys and assertion sources as values: they cross into other
processes by pickle (a process pool's workers), copy and hash, and nothing a
caller does to what it passed in changes them afterwards.

A pickle carries the secrets a flow holds (a client secret, a private key as
unencrypted PKCS #8): docs/security.md says to pickle only to processes one
trusts. These tests check that it works, and that what arrives signs the
same bytes. A pickled copy is not ``==`` to a flow given a key object (the
copy holds the key loaded from it), so they compare what a flow does: its
repr, its store identity and its requests. ``copy`` and ``deepcopy`` give
the immutable value itself: nothing is exported or loaded again.
"""

from __future__ import annotations

import copy
import math
import multiprocessing
import pickle
from concurrent.futures import ProcessPoolExecutor
from operator import methodcaller
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from hypothesis import given, settings
from hypothesis import strategies as st
from jose_check import generated, parts, pem_of, verified_proof

from sansio_auth import (
    ClientCredentials,
    DPoPKey,
    JwtBearerGrant,
    Stamp,
    TokenExchange,
)
from sansio_auth._jws import json_segment
from sansio_auth._keys import load_signing_key
from sansio_auth.adapters.assertions import AssertionFile

URL = "https://auth.example.com/oauth2/token"
STAMP = Stamp(now=1_700_000_000.5, jti="jti-1")
RSA = generated("rsa")
ED = generated("ed25519")

FLOW_NAMES = [
    "private_key_jwt, a key object",
    "private_key_jwt, PEM bytes and a kid",
    "private_key_jwt, PEM text and an algorithm",
    "client_secret_jwt",
    "a workload identity file",
    "the bearer grant, key objects",
    "token exchange",
]


def flow_named(name: str, assertion_file: AssertionFile) -> Any:
    """One flow per way a key or a source is given. RS256 and EdDSA sign
    deterministically, so a copy must make the same bytes."""
    flows: dict[str, Any] = {
        FLOW_NAMES[0]: ClientCredentials(
            token_url=URL, client_id="c", auth="private_key_jwt", private_key=RSA
        ),
        FLOW_NAMES[1]: ClientCredentials(
            token_url=URL,
            client_id="c",
            auth="private_key_jwt",
            private_key=pem_of(ED),
            key_id="k1",
        ),
        FLOW_NAMES[2]: ClientCredentials(
            token_url=URL,
            client_id="c",
            auth="private_key_jwt",
            private_key=pem_of(RSA).decode(),
            algorithm="RS256",
        ),
        FLOW_NAMES[3]: ClientCredentials(
            token_url=URL,
            client_id="c",
            client_secret="s3cret-of-the-client",
            auth="client_secret_jwt",
        ),
        FLOW_NAMES[4]: ClientCredentials(
            token_url=URL,
            client_id="c",
            auth="private_key_jwt",
            client_assertion=assertion_file,
        ),
        FLOW_NAMES[5]: JwtBearerGrant(
            token_url=URL,
            issuer="svc@example.com",
            signing_key=ED,
            signing_key_id="sk",
            claims={"scope": ["a", "b"], "ext": {"k": [1, 2]}},
            client_id="c",
            auth="private_key_jwt",
            private_key=RSA,
        ),
        FLOW_NAMES[6]: TokenExchange(
            token_url=URL, subject_token="st-123", client_id="c", client_secret="s"
        ),
    }
    return flows[name]


@pytest.fixture
def assertion_file(tmp_path: Path) -> AssertionFile:
    path = tmp_path / "token"
    path.write_text("eyJ.workload.assertion\n")
    return AssertionFile(path, max_bytes=4096)


def assertion_of(flow: JwtBearerGrant) -> str:
    return dict(parse_qsl(flow.token_request(STAMP).body.decode()))["assertion"]


def copied(value: Any, how: str) -> Any:
    if how == "pickle":
        return pickle.loads(pickle.dumps(value))
    return getattr(copy, how)(value)


@pytest.mark.parametrize("name", FLOW_NAMES)
def test_a_flow_copied_is_the_flow_itself(
    name: str, assertion_file: AssertionFile
) -> None:
    # Immutable: a copy that loaded the key again would cost milliseconds
    # (an RSA PEM) and fail for a key that cannot be exported.
    flow = flow_named(name, assertion_file)
    assert copy.copy(flow) is flow
    assert copy.deepcopy(flow) is flow
    assert copy.deepcopy([flow])[0] is flow


@pytest.mark.parametrize("name", FLOW_NAMES)
def test_a_flow_pickled_signs_the_same_bytes(
    name: str, assertion_file: AssertionFile
) -> None:
    flow = flow_named(name, assertion_file)
    again = copied(flow, "pickle")
    assert type(again) is type(flow)
    assert repr(again) == repr(flow)
    assert again.cache_identity() == flow.cache_identity()
    assert again.needs_stamp == flow.needs_stamp
    assert again.token_request(STAMP) == flow.token_request(STAMP)


def test_a_flow_with_a_key_object_goes_to_a_spawned_worker(
    assertion_file: AssertionFile,
) -> None:
    # A spawned worker shares nothing with this process: the flow, its key
    # given as an object included, arrives by pickle alone.
    flows = [flow_named(name, assertion_file) for name in FLOW_NAMES]
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=1, mp_context=context) as pool:
        # methodcaller pickles by name: the worker imports no test module.
        requests = list(
            pool.map(methodcaller("token_request", STAMP), flows, timeout=120)
        )
    assert requests == [flow.token_request(STAMP) for flow in flows]


@pytest.mark.parametrize(
    ("kind", "algorithm"), [("rsa", "PS256"), ("ec", "ES256"), ("ed25519", "EdDSA")]
)
def test_a_signing_key_pickles_with_its_algorithm_and_kid(
    kind: Any, algorithm: str
) -> None:
    key = load_signing_key(generated(kind), algorithm=algorithm, key_id="kid-7")
    again = pickle.loads(pickle.dumps(key))
    assert again == key
    assert (again.algorithm, again.key_id) == (algorithm, "kid-7")
    assert again.public_jwk == key.public_jwk


class _HardwareKey(ec.EllipticCurvePrivateKey):
    """A key that signs inside a device (an HSM, a KMS): its private half
    never leaves it."""

    def __init__(self, inner: ec.EllipticCurvePrivateKey) -> None:
        self._inner = inner

    def exchange(self, algorithm: Any, peer_public_key: Any) -> bytes:
        raise NotImplementedError

    def public_key(self) -> ec.EllipticCurvePublicKey:
        return self._inner.public_key()

    @property
    def curve(self) -> ec.EllipticCurve:
        return self._inner.curve

    @property
    def key_size(self) -> int:
        return self._inner.key_size

    def sign(self, data: Any, signature_algorithm: Any) -> bytes:
        return self._inner.sign(data, signature_algorithm)

    def private_numbers(self) -> ec.EllipticCurvePrivateNumbers:
        raise RuntimeError("the key is not exportable")

    def private_bytes(self, *args: Any) -> bytes:
        raise RuntimeError("the key is not exportable")

    def __copy__(self) -> _HardwareKey:
        return self

    def __deepcopy__(self, memo: Any) -> _HardwareKey:
        return self


def test_a_key_that_cannot_be_exported_copies_and_says_why_it_does_not_pickle() -> None:
    hardware = _HardwareKey(generated("ec"))  # type: ignore[arg-type]
    flow = ClientCredentials(
        token_url=URL, client_id="c", auth="private_key_jwt", private_key=hardware
    )
    dpop = DPoPKey(hardware)
    assert copy.deepcopy(flow) is flow
    for key in (dpop, dpop.key):
        assert copy.copy(key) is key
        assert copy.deepcopy(key) is key
    for value in (flow, dpop, dpop.key):
        with pytest.raises(TypeError, match=r"cannot be exported .* does not pickle"):
            pickle.dumps(value)
    # It signs all the same.
    header, _ = verified_proof(
        dpop.proof("GET", "https://a.example/", now=1.0, jti="j")
    )
    assert header["jwk"] == dict(dpop.public_jwk)


def test_a_dpop_key_pickles_and_its_proofs_verify_under_the_same_key() -> None:
    for private in (generated("ec"), ED):
        key = DPoPKey(private)
        again = copied(key, "pickle")
        assert again == key
        assert again.jkt == key.jkt
        proof = again.proof("GET", "https://api.example/x", now=1.0, jti="j")
        header, claims = verified_proof(proof)
        assert header["jwk"] == dict(key.public_jwk)
        assert claims["jti"] == "j"
    ed = DPoPKey(ED)
    same = copied(ed, "pickle")
    assert same.proof("GET", "https://a.example/", now=1.0, jti="j") == ed.proof(
        "GET", "https://a.example/", now=1.0, jti="j"
    )


def test_an_assertion_file_copied_reads_the_file_itself(tmp_path: Path) -> None:
    path = tmp_path / "token"
    path.write_text("first")
    source = AssertionFile(path, max_bytes=64)
    assert source() == "first"
    again = copied(source, "pickle")
    assert again.path == source.path
    assert again.cache_identity == source.cache_identity
    path.write_text("second, rotated")
    assert again() == "second, rotated"
    path.write_text("x" * 65)
    with pytest.raises(ValueError, match="larger than 64 bytes"):
        again()  # the cap came along


# -- claims are frozen ----------------------------------------------------------


def test_claims_changed_by_the_caller_later_change_nothing() -> None:
    scopes: list[object] = ["a", "b"]
    nested: dict[str, object] = {"k": [1]}
    flow = JwtBearerGrant(
        token_url=URL,
        issuer="svc",
        signing_key=ED,
        claims={"scope": scopes, "ext": nested},
    )
    before = (flow.token_request(STAMP), flow.cache_identity(), hash(flow))
    scopes.append(math.nan)
    nested["k"] = "changed"
    nested["new"] = True
    assert (flow.token_request(STAMP), flow.cache_identity(), hash(flow)) == before
    _, claims, _ = parts(assertion_of(flow))
    assert claims["scope"] == ["a", "b"]
    assert claims["ext"] == {"k": [1]}


def test_a_frozen_claim_object_cannot_be_changed() -> None:
    flow = JwtBearerGrant(
        token_url=URL, issuer="svc", signing_key=ED, claims={"ext": {"k": 1}}
    )
    ((_, frozen),) = flow.claims
    assert frozen == {"k": 1}
    with pytest.raises(TypeError, match="cannot be changed"):
        frozen["k"] = 2
    with pytest.raises(TypeError, match="cannot be changed"):
        frozen.update(k=3)
    with pytest.raises(TypeError, match="cannot be changed"):
        frozen |= {"k": 4}
    assert frozen == {"k": 1}


@pytest.mark.parametrize("claims", [{"x": {1: 2}}, {"x": [{"a": {None: 1}}]}])
def test_a_claim_object_with_keys_that_are_no_str_is_refused(claims: Any) -> None:
    # json.dumps would write 1 as "1": not what was given.
    with pytest.raises(TypeError, match="with str keys"):
        JwtBearerGrant(token_url=URL, issuer="svc", signing_key=ED, claims=claims)


JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.text(max_size=5), inner, max_size=4)
    ),
    max_leaves=12,
)


@settings(max_examples=60, deadline=None)
@given(value=JSON_VALUES)
def test_property_a_frozen_claim_is_sent_as_given(value: object) -> None:
    flow = JwtBearerGrant(
        token_url=URL, issuer="svc", signing_key=ED, claims={"x": value}
    )
    _, claims, _ = parts(assertion_of(flow))
    assert claims["x"] == value
    assert isinstance(hash(flow), int)  # a frozen claim hashes
    assert copied(flow, "pickle").token_request(STAMP) == flow.token_request(STAMP)


def test_a_jws_segment_refuses_nan_and_infinity() -> None:
    # Not JSON (RFC 8259 §6): a verifier would refuse the whole JWT.
    for value in (math.nan, math.inf, -math.inf):
        with pytest.raises(ValueError, match="JSON compliant"):
            json_segment({"x": value})


# -- a stamp is a Stamp ---------------------------------------------------------


@pytest.mark.parametrize("stamp", [1_700_000_000.0, (1.0, "j"), {"now": 1, "jti": "j"}])
def test_a_stamp_of_another_type_is_a_type_error_naming_it(stamp: Any) -> None:
    for flow in (
        ClientCredentials(
            token_url=URL, client_id="c", auth="private_key_jwt", private_key=ED
        ),
        JwtBearerGrant(token_url=URL, issuer="svc", signing_key=ED),
    ):
        with pytest.raises(TypeError, match=r"^stamp must be a Stamp, got "):
            flow.token_request(stamp)
