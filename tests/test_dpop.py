"""DPoP proofs (RFC 9449) from :class:`~sansio_auth.DPoPKey`, and the pure
helpers of ``sansio_auth._dpop``.

* The key: every kind the core signs with, its ``jkt`` (RFC 7638, checked
  against RFC 7638 and RFC 9449's own example values), its public JWK; its
  refusals by the name ``dpop_key``; no private part in its repr.
* The proof (RFC 9449 §4.2): the header ``typ``/``alg``/``jwk`` and nothing
  else, the claims ``jti``, ``htm``, ``htu``, ``iat`` [, ``nonce``]
  [, ``ath``] in that order; as a property over any method, URL, time, jti,
  nonce and access token, for every key type, each proof verifies with PyJWT
  through the key in its own header; RS256 and EdDSA proofs are the same
  bytes for the same inputs.
* ``htu`` is the URL without query and fragment; ``ath`` is RFC 9449 §7.1's
  example value; a server nonce is taken only when it is RFC 9449 §8.1's
  ``1*NQCHAR`` and not absurdly long.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from jose_check import (
    ALGORITHMS,
    KeyKind,
    b64url,
    generated,
    parts,
    pem_of,
    public_of,
    sha256_b64url,
    verified,
    verified_proof,
)

from sansio_auth import DPoPKey
from sansio_auth._dpop import access_token_hash, check_nonce, proof_url
from sansio_auth._keys import _thumbprint, load_signing_key

PROPERTY = settings(
    max_examples=80,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
KINDS: tuple[KeyKind, ...] = ("rsa", "ec", "ed25519")
KEY_ALGORITHMS = [(kind, alg) for kind in KINDS for alg in ALGORITHMS[kind]]
URL = "https://server.example.com/token"
NOW = 1_700_000_000.6
SECRET = "sk-SECRET-not-a-key-1234567890"

# RFC 9449 §7.1: an access token and the ath of a proof carrying it.
RFC9449_TOKEN = "Kz~8mXK1EalYznwH-LC-1fBAo.4Ljp~zsPE_NeO.gxU"
RFC9449_ATH = "fUHyO2r2Z3DZ53EsNrWBb0xWXoaNy59IiKCAqksmQEo"
# RFC 9449 §4.1's example proof key and the jkt §6.1 binds a token to.
RFC9449_JWK = {
    "kty": "EC",
    "x": "l8tFrhx-34tV3hRICRDY9zCkDlpBhF42UQUfWVAWBFs",
    "y": "9VE4jf_Ok_o64zbTTlcuNJajHmt6v9TDVrU0CdvGRDA",
    "crv": "P-256",
}
RFC9449_JKT = "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I"
# RFC 8.1: nonce = 1*NQCHAR; NQCHAR = %x21 / %x23-5B / %x5D-7E
NQCHAR = "".join(chr(c) for c in range(0x21, 0x7F) if chr(c) not in '"\\')


def rfc7638(jwk: dict[str, str]) -> str:
    text = json.dumps(jwk, sort_keys=True, separators=(",", ":"))
    return b64url(hashlib.sha256(text.encode()).digest())


def htu(url: str) -> str:
    """RFC 9449 §4.2: the URI without its query and fragment parts."""
    return re.split(r"[?#]", url, maxsplit=1)[0]


def expected_claims(
    method: str,
    url: str,
    *,
    now: float,
    jti: str,
    nonce: str | None = None,
    access_token: str | None = None,
    ath: str | None = None,
) -> list[tuple[str, object]]:
    """The claims of a proof, in order; *ath* as given, or of *access_token*."""
    claims: list[tuple[str, object]] = [
        ("jti", jti),
        ("htm", method),
        ("htu", htu(url)),
        ("iat", int(now)),
    ]
    if nonce is not None:
        claims.append(("nonce", nonce))
    if access_token is not None:
        ath = sha256_b64url(access_token)
    if ath is not None:
        claims.append(("ath", ath))
    return claims


# -- the key ------------------------------------------------------------------


@pytest.mark.parametrize(("kind", "algorithm"), KEY_ALGORITHMS)
def test_a_dpop_key_of_each_kind_signs_proofs_pyjwt_verifies(
    kind: KeyKind, algorithm: str
) -> None:
    key = generated(kind)
    dpop = DPoPKey(pem_of(key), algorithm=algorithm)
    assert dpop.algorithm == algorithm
    assert dpop.jkt == rfc7638(dict(dpop.public_jwk))
    assert dpop == DPoPKey(key, algorithm=algorithm)
    proof = dpop.proof("POST", URL, now=NOW, jti="j-1")
    header, claims = verified_proof(proof)
    assert header == {"typ": "dpop+jwt", "alg": algorithm, "jwk": dict(dpop.public_jwk)}
    assert "d" not in header["jwk"]
    assert list(claims.items()) == expected_claims("POST", URL, now=NOW, jti="j-1")
    # The jwk is the key's own public half, not just any key that verifies.
    assert verified(proof, public_of(key), algorithm) == claims


def test_the_default_algorithm_is_the_keys() -> None:
    assert DPoPKey(generated("ec")).algorithm == "ES256"
    assert DPoPKey(generated("rsa")).algorithm == "RS256"
    assert DPoPKey(generated("ed25519")).algorithm == "EdDSA"


def test_a_signing_key_with_a_kid_makes_proofs_without_one() -> None:
    # RFC 9449 §4.2: the key is in the proof; no kid.
    signing = load_signing_key(generated("ed25519"), key_id="kid-1")
    dpop = DPoPKey(signing)
    assert dpop.key is signing
    header, _, _ = parts(dpop.proof("GET", URL, now=NOW, jti="j"))
    assert list(header) == ["typ", "alg", "jwk"]


def test_an_encrypted_pem_loads_with_its_password_and_says_password_without() -> None:
    key = generated("ec")
    pem = pem_of(key, b"dpop-PASSWORD")
    assert DPoPKey(pem, password="dpop-PASSWORD") == DPoPKey(key)
    with pytest.raises(
        ValueError, match=r"^dpop_key is not a PEM .*password"
    ) as caught:
        DPoPKey(pem)
    assert "dpop-PASSWORD" not in str(caught.value)
    for line in pem.decode().splitlines()[1:-1]:
        assert line not in str(caught.value)


@pytest.mark.parametrize(
    ("value", "kwargs", "error", "message"),
    [
        (
            SECRET,
            {},
            ValueError,
            r"^dpop_key is not a PEM private key that can be read$",
        ),
        (SECRET.encode(), {}, ValueError, r"^dpop_key is not a PEM private key"),
        (None, {}, TypeError, r"^dpop_key must be a PEM private key or a cryptography"),
        (
            rsa.generate_private_key(public_exponent=65537, key_size=1024),
            {},
            ValueError,
            r"^dpop_key is a 1024-bit RSA key",
        ),
        (
            ec.generate_private_key(ec.SECP384R1()),
            {},
            ValueError,
            r"^dpop_key is an EC key on secp384r1",
        ),
        # Asymmetric only: HS256 has no public key to put in a proof.
        (generated("ec"), {"algorithm": "HS256"}, ValueError, r"^the algorithm given"),
        (generated("ec"), {"algorithm": SECRET}, ValueError, r"^the algorithm given"),
        (
            generated("ec"),
            {"algorithm": "RS256"},
            ValueError,
            r"^algorithm RS256 does not fit dpop_key",
        ),
    ],
)
def test_a_dpop_key_is_refused_by_name_without_a_value(
    value: object, kwargs: dict[str, Any], error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message) as caught:
        DPoPKey(value, **kwargs)
    assert SECRET not in str(caught.value)
    assert caught.value.__cause__ is None


def test_a_dpop_keys_repr_is_its_algorithm_and_thumbprint() -> None:
    key = generated("ec")
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    dpop = DPoPKey(key)
    assert repr(dpop) == f"DPoPKey(algorithm='ES256', jkt={dpop.jkt!r})"
    private = key.private_numbers().private_value
    for form in (str(private), f"{private:x}", b64url(private.to_bytes(32, "big"))):
        assert form not in repr(dpop)
        assert form not in str(dpop)
    for line in pem_of(key).decode().splitlines()[1:-1]:
        assert line not in repr(dpop)


def test_dpop_keys_are_equal_by_key_and_algorithm() -> None:
    a = DPoPKey(generated("rsa"))
    assert a == DPoPKey(generated("rsa"))
    assert hash(a) == hash(DPoPKey(pem_of(generated("rsa")).decode()))
    assert a != DPoPKey(generated("rsa"), algorithm="PS256")
    assert a != DPoPKey(generated("ec"))
    assert a != "a key"
    assert a.__eq__(object()) is NotImplemented
    assert len({a, DPoPKey(generated("rsa")), DPoPKey(generated("ec"))}) == 2


def test_the_jkt_is_rfc7638s_thumbprint_as_rfc9449_shows_it() -> None:
    assert _thumbprint(RFC9449_JWK) == RFC9449_JKT
    for kind in KINDS:
        dpop = DPoPKey(generated(kind))
        assert dpop.jkt == rfc7638(dict(dpop.public_jwk))
        assert dpop.jkt == dpop.key.thumbprint


# -- the proof -----------------------------------------------------------------


def test_ath_is_rfc9449s_example_value() -> None:
    assert access_token_hash(RFC9449_TOKEN) == RFC9449_ATH
    dpop = DPoPKey(generated("ed25519"))
    proof = dpop.proof(
        "GET",
        "https://resource.example.org/protectedresource",
        now=NOW,
        jti="e1j3V_bKic8-LAEB",
        access_token=RFC9449_TOKEN,
    )
    _, claims = verified_proof(proof)
    assert claims["ath"] == RFC9449_ATH


def test_the_claims_are_in_order_with_nonce_before_ath() -> None:
    dpop = DPoPKey(generated("ed25519"))
    proof = dpop.proof(
        "GET",
        "https://api.example.com/a/b?q=1&r=2#frag",
        now=NOW,
        jti="j-9",
        nonce="n-1",
        access_token="at-1",
    )
    _, claims = verified_proof(proof)
    assert list(claims.items()) == [
        ("jti", "j-9"),
        ("htm", "GET"),
        ("htu", "https://api.example.com/a/b"),
        ("iat", 1_700_000_000),
        ("nonce", "n-1"),
        ("ath", sha256_b64url("at-1")),
    ]


def test_the_header_is_encoded_once_and_the_same_for_every_proof() -> None:
    dpop = DPoPKey(generated("ec"))
    first = dpop.proof("POST", URL, now=NOW, jti="a").split(".")[0]
    second = dpop.proof("GET", "https://x.example/", now=0, jti="b").split(".")[0]
    assert first == second
    assert json.loads(base64.urlsafe_b64decode(first + "==")) == {
        "typ": "dpop+jwt",
        "alg": "ES256",
        "jwk": dict(dpop.public_jwk),
    }


TCHAR = "!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
METHODS = st.sampled_from(["GET", "POST", "PUT", "DELETE", "PATCH"]) | st.text(
    st.sampled_from(TCHAR), min_size=1, max_size=10
)
ANY_TEXT = st.text(st.characters(exclude_categories=["Cs"]), max_size=40)
URLS = st.builds(
    lambda host, path, query, fragment: (
        f"https://{host}/{path}"
        + ("" if query is None else f"?{query}")
        + ("" if fragment is None else f"#{fragment}")
    ),
    st.from_regex(r"[a-z0-9]{1,12}(\.[a-z]{2,5}){0,2}(:[0-9]{1,5})?", fullmatch=True),
    st.text(
        st.characters(min_codepoint=0x21, max_codepoint=0x7E, exclude_characters="?#"),
        max_size=20,
    ),
    st.none() | ANY_TEXT,
    st.none() | ANY_TEXT,
)


@PROPERTY
@given(
    key_algorithm=st.sampled_from(KEY_ALGORITHMS),
    method=METHODS,
    url=URLS,
    now=st.floats(0, 2**33, allow_nan=False) | st.integers(0, 2**33),
    jti=st.text(st.characters(exclude_categories=["Cs"]), min_size=1, max_size=40),
    nonce=st.none() | st.text(st.sampled_from(NQCHAR), min_size=1, max_size=40),
    access_token=st.none() | ANY_TEXT.filter(bool),
)
@example(
    key_algorithm=("ed25519", "EdDSA"),
    method="GET",
    url="https://a.example/p#frag?not-a-query",
    now=0,
    jti="j",
    nonce=None,
    access_token=None,
)
def test_property_a_proof_verifies_and_carries_exactly_its_claims(
    key_algorithm: tuple[KeyKind, str],
    method: str,
    url: str,
    now: float,
    jti: str,
    nonce: str | None,
    access_token: str | None,
) -> None:
    kind, algorithm = key_algorithm
    dpop = DPoPKey(generated(kind), algorithm=algorithm)
    proof = dpop.proof(
        method, url, now=now, jti=jti, nonce=nonce, access_token=access_token
    )
    header, claims = verified_proof(proof)
    assert header == {"typ": "dpop+jwt", "alg": algorithm, "jwk": dict(dpop.public_jwk)}
    assert list(claims.items()) == expected_claims(
        method, url, now=now, jti=jti, nonce=nonce, access_token=access_token
    )
    assert proof.isascii()
    if algorithm in ("RS256", "EdDSA"):
        again = dpop.proof(
            method, url, now=now, jti=jti, nonce=nonce, access_token=access_token
        )
        assert again == proof


@PROPERTY
@given(
    method=ANY_TEXT,
    url=ANY_TEXT,
    jti=ANY_TEXT,
    nonce=st.none() | ANY_TEXT,
    ath=st.none() | ANY_TEXT,
)
def test_property_signed_keeps_any_value_in_its_own_claim(
    method: str, url: str, jti: str, nonce: str | None, ath: str | None
) -> None:
    # signed() checks nothing (it runs per API request), so the encoder is
    # all that stands between an odd value and a claim injected beside it.
    dpop = DPoPKey(generated("ed25519"))
    proof = dpop.signed(method, url, now=NOW, jti=jti, nonce=nonce, ath=ath)
    _, claims = verified_proof(proof)
    assert list(claims.items()) == expected_claims(
        method, url, now=NOW, jti=jti, nonce=nonce, ath=ath
    )


@PROPERTY
@given(method=METHODS | ANY_TEXT, url=URLS | ANY_TEXT)
def test_property_a_proof_refuses_a_method_or_url_it_cannot_carry(
    method: str, url: str
) -> None:
    dpop = DPoPKey(generated("ed25519"))
    try:
        proof = dpop.proof(method, url, now=NOW, jti="j")
    except ValueError as exc:
        message = str(exc)
        assert message.startswith(("method must be", "url must be")), message
        for given in (method, url):
            assert len(given) < 4 or given not in message
        return
    _, claims = verified_proof(proof)
    assert claims["htm"] == method
    assert re.fullmatch(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+", method)
    scheme, sep, rest = claims["htu"].partition("://")
    assert sep
    assert scheme
    assert rest.split("/")[0]
    assert not any(c.isspace() or ord(c) < 0x20 or c == "\x7f" for c in claims["htu"])


@pytest.mark.parametrize(
    ("arguments", "error", "message"),
    [
        ({"now": float("nan")}, ValueError, "now must be"),
        ({"now": -1}, ValueError, "now must be"),
        ({"now": "1700000000"}, ValueError, "now must be"),
        ({"now": True}, ValueError, "now must be"),
        ({"jti": ""}, ValueError, "jti must be"),
        ({"jti": "\ud800"}, ValueError, "jti is not valid text"),
        ({"method": ""}, ValueError, "method must be"),
        ({"method": "PO ST"}, ValueError, "method must be"),
        ({"method": None}, TypeError, "method must be a str"),
        ({"url": "relative/path"}, ValueError, "url must be"),
        ({"url": "https://as.example/to\tken"}, ValueError, "url must be"),
        ({"url": " https://as.example/t"}, ValueError, "url must be"),
        ({"nonce": 'a"b'}, ValueError, "nonce is not"),
        ({"nonce": ""}, ValueError, "nonce is not"),
        ({"access_token": ""}, ValueError, "access_token must not be empty"),
        ({"access_token": 5}, TypeError, "access_token must be a str"),
    ],
)
def test_a_proof_refuses_what_it_cannot_carry(
    arguments: dict[str, Any], error: type[Exception], message: str
) -> None:
    given: dict[str, Any] = {
        "method": "GET",
        "url": "https://as.example/t",
        "now": NOW,
        "jti": "j",
        **arguments,
    }
    method, url = given.pop("method"), given.pop("url")
    with pytest.raises(error, match=f"^{re.escape(message)}"):
        DPoPKey(generated("ec")).proof(method, url, **given)


def test_a_proof_url_may_have_any_query() -> None:
    # Only what goes in htu is checked: the query stays out of the proof.
    proof = DPoPKey(generated("ec")).proof(
        "GET", "https://as.example/t?q=a b\x01", now=NOW, jti="j"
    )
    assert verified_proof(proof)[1]["htu"] == "https://as.example/t"


# -- the helpers ---------------------------------------------------------------


@PROPERTY
@given(url=URLS | ANY_TEXT)
def test_property_htu_is_the_url_without_query_and_fragment(url: str) -> None:
    assert proof_url(url) == htu(url)
    assert "?" not in proof_url(url)
    assert "#" not in proof_url(url)
    assert url.startswith(proof_url(url))


@PROPERTY
@given(url=URLS)
def test_property_htu_agrees_with_urlsplit_on_urls(url: str) -> None:
    parts_ = urlsplit(url)
    assert proof_url(url) == urlunsplit(parts_._replace(query="", fragment=""))


@PROPERTY
@given(token=ANY_TEXT)
def test_property_ath_is_base64url_sha256_of_the_token(token: str) -> None:
    digest = hashlib.sha256(token.encode()).digest()
    assert access_token_hash(token) == b64url(digest)
    assert len(access_token_hash(token)) == 43  # 32 octets, no padding


@PROPERTY
@given(value=st.text(max_size=1100) | st.text(st.sampled_from(NQCHAR), max_size=1100))
@example(value="a" * 1024)
@example(value="a" * 1025)
@example(value="")
@example(value='"quoted"')
@example(value="back\\slash")
@example(value="with space")
@example(value="é")
@example(value="eyJ7S_zG.eyJH0-Z.HX4w-7v")
def test_property_a_nonce_is_taken_only_if_it_is_nqchars_of_sane_length(
    value: str,
) -> None:
    valid = 1 <= len(value) <= 1024 and all(c in NQCHAR for c in value)
    assert check_nonce(value) == (value if valid else None)


def test_no_nonce_is_no_nonce() -> None:
    assert check_nonce(None) is None
    assert check_nonce("n\n") is None  # no line break into a header
    assert check_nonce("n\x00") is None


def test_a_dpop_key_of_a_dpop_key_is_the_same_key() -> None:
    key = DPoPKey(ec.generate_private_key(ec.SECP256R1()))
    again = DPoPKey(key)
    assert again == key
    assert again.jkt == key.jkt


@pytest.mark.parametrize(
    ("url", "htu"),
    [
        ("https://u:pw@api.example/v1?q=1", "https://api.example/v1"),
        ("https://a@b@api.example/v1#x", "https://api.example/v1"),
        ("https://api.example/v1?next=u@x", "https://api.example/v1"),
        ("https://api.example/a@b/c", "https://api.example/a@b/c"),
    ],
)
def test_the_htu_has_no_user_info(url: str, htu: str) -> None:
    from sansio_auth._dpop import proof_url

    assert proof_url(url) == htu


def test_an_at_sign_in_a_url_without_authority_is_kept() -> None:
    from sansio_auth._dpop import proof_url

    assert proof_url("urn:example:a@b?x") == "urn:example:a@b"
