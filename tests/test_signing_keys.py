"""The keys that sign (``sansio_auth._keys``), the compact JWS they make
(``_jws``, ``_b64``) and the :class:`~sansio_auth.Stamp` of a signed request.

* Loading: a PEM (text or bytes, PKCS #8 or the traditional forms, encrypted
  with its password), a ``cryptography`` key object or a
  :class:`SigningKey`; each key type's default algorithm and the ones it may
  use; the refusals (RSA under 2048 bits, EC off P-256, other key types, a
  PEM that does not load, a wrong or missing password, an algorithm that does
  not fit), each naming the argument and never showing the key.
* Known answers: RFC 8037's Ed25519 key, JWK, thumbprint and signature;
  RFC 7638's RSA thumbprint; each JWK checked against the key's numbers.
* Signatures verify with PyJWT for every algorithm; RS256 and EdDSA are the
  same bytes each time, ES256 is ``r || s``.
* A key is a secret: no form of its private part in a repr or a message.
"""

from __future__ import annotations

import base64
import hashlib
import json
import math
import sys
import warnings
from typing import Any

import pytest
import trustme
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import (
    dsa,
    ec,
    ed448,
    ed25519,
    rsa,
    utils,
    x25519,
)
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from jose_check import (
    ALGORITHMS,
    b64url,
    fixture_pem,
    generated,
    parts,
    pem_of,
    public_of,
    verified,
)

from sansio_auth import Stamp
from sansio_auth._b64 import b64url as core_b64url
from sansio_auth._jws import compact_jws, json_segment
from sansio_auth._keys import SecretKey, _raw_ecdsa, _thumbprint, load_signing_key

PROPERTY = settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
PASSWORD = "pem-PASSWORD-7vQ"

# RFC 8037 Appendix A: the Ed25519 test key, its JWK, thumbprint (A.3) and
# the signature of "Example of Ed25519 signing" under {"alg":"EdDSA"} (A.4).
RFC8037_D = "nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A"
RFC8037_X = "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"
RFC8037_THUMBPRINT = "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"
RFC8037_INPUT = "eyJhbGciOiJFZERTQSJ9.RXhhbXBsZSBvZiBFZDI1NTE5IHNpZ25pbmc"
RFC8037_SIGNATURE = (
    "hgyY0il_MGCjP0JzlnLWG1PPOt7-09PGcvMg3AIbQR6dWbhijcNR4ki4"
    "iylGjg5BhVsPt9g7sVvpAr_MuM0KAg"
)
# RFC 7638 §3.1: an RSA public key and its SHA-256 thumbprint.
RFC7638_N = (
    "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuh"
    "DR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w"
    "6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajr"
    "n1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0L"
    "s1jF44-csFCur-kEgU8awapJzKnqDKgw"
)
RFC7638_THUMBPRINT = "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"


def decode(segment: str) -> bytes:
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


def uint(value: int) -> str:
    """RFC 7518 §2 Base64urlUInt: big-endian, the fewest octets."""
    return b64url(value.to_bytes((value.bit_length() + 7) // 8, "big"))


def expected_jwk(key: Any) -> dict[str, str]:
    """The public JWK of *key*, from its numbers (RFC 7518 §6, RFC 8037 §2)."""
    if isinstance(key, rsa.RSAPrivateKey):
        numbers = key.public_key().public_numbers()
        return {"e": uint(numbers.e), "kty": "RSA", "n": uint(numbers.n)}
    if isinstance(key, ec.EllipticCurvePrivateKey):
        point = key.public_key().public_numbers()
        return {
            "crv": "P-256",
            "kty": "EC",
            # RFC 7518 §6.2.1.2: the full 32 octets, leading zeros kept.
            "x": b64url(point.x.to_bytes(32, "big")),
            "y": b64url(point.y.to_bytes(32, "big")),
        }
    raw = key.public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    )
    curve = "Ed25519" if isinstance(key, ed25519.Ed25519PrivateKey) else "Ed448"
    return {"crv": curve, "kty": "OKP", "x": b64url(raw)}


def rfc7638(jwk: dict[str, str]) -> str:
    """RFC 7638 §3: SHA-256 of the required members, sorted, no whitespace."""
    text = json.dumps(jwk, sort_keys=True, separators=(",", ":"))
    return b64url(hashlib.sha256(text.encode()).digest())


def private_forms(key: Any) -> list[str]:
    """Every spelling of *key*'s private part a repr could leak."""
    pem = pem_of(key).decode()
    forms = [line for line in pem.splitlines() if not line.startswith("-----")]
    numbers: list[int] = []
    if isinstance(key, rsa.RSAPrivateKey):
        private = key.private_numbers()
        numbers = [private.d, private.p, private.q, private.dmp1, private.dmq1]
    elif isinstance(key, ec.EllipticCurvePrivateKey):
        numbers = [key.private_numbers().private_value]
    else:
        raw = key.private_bytes(
            serialization.Encoding.Raw,
            serialization.PrivateFormat.Raw,
            serialization.NoEncryption(),
        )
        numbers = [int.from_bytes(raw, "big")]
        forms += [raw.hex(), b64url(raw), repr(raw)]
    for number in numbers:
        forms += [str(number), f"{number:x}", uint(number)]
    return forms


def ec_key() -> ec.EllipticCurvePrivateKey:
    key = generated("ec")
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    return key


def rsa_key() -> rsa.RSAPrivateKey:
    key = generated("rsa")
    assert isinstance(key, rsa.RSAPrivateKey)
    return key


# -- loading -----------------------------------------------------------------


@pytest.mark.parametrize("kind", ["rsa", "ec", "ed25519"])
def test_a_key_loads_from_pem_text_bytes_and_object_alike(kind: Any) -> None:
    key = generated(kind)
    pem = pem_of(key)
    loaded = [
        load_signing_key(key),
        load_signing_key(pem),
        load_signing_key(pem.decode()),
    ]
    for signing in loaded:
        assert signing.algorithm == ALGORITHMS[kind][0]
        assert signing.key_id is None
        assert dict(signing.public_jwk) == expected_jwk(key)
        assert signing.thumbprint == rfc7638(expected_jwk(key))
    assert loaded[0] == loaded[1] == loaded[2]
    assert len({hash(signing) for signing in loaded}) == 1


def test_traditional_pem_forms_load_too() -> None:
    # PKCS #1 (BEGIN RSA PRIVATE KEY) and SEC 1 (BEGIN EC PRIVATE KEY), as
    # openssl genrsa and openssl ecparam write them.
    kinds: tuple[Any, ...] = ("rsa", "ec")
    for kind in kinds:
        key = generated(kind)
        pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.TraditionalOpenSSL,
            serialization.NoEncryption(),
        )
        assert pem.startswith(b"-----BEGIN RSA" if kind == "rsa" else b"-----BEGIN EC")
        assert load_signing_key(pem).thumbprint == rfc7638(expected_jwk(key))


def test_the_committed_fixture_keys_load_despite_their_note() -> None:
    # RFC 7468 §5.2: text before the BEGIN line is explanatory and skipped.
    rsa_key = load_signing_key(fixture_pem("rsa-2048.pem"))
    assert rsa_key.algorithm == "RS256"
    assert rsa_key.public_jwk["kty"] == "RSA"
    assert load_signing_key(fixture_pem("ed25519.pem")).algorithm == "EdDSA"


def test_an_encrypted_pem_loads_with_its_password_as_text_or_bytes() -> None:
    key = generated("ec")
    pem = pem_of(key, PASSWORD.encode())
    assert b"ENCRYPTED" in pem
    for password in (PASSWORD, PASSWORD.encode()):
        signing = load_signing_key(pem, password=password)
        assert signing.thumbprint == rfc7638(expected_jwk(key))


@pytest.mark.parametrize(
    ("encrypted", "password"),
    [
        pytest.param(True, None, id="no password for an encrypted key"),
        pytest.param(True, "wrong-PASSWORD-x", id="a wrong password"),
        pytest.param(False, PASSWORD, id="a password for a plain key"),
    ],
)
@pytest.mark.parametrize("field", ["private_key", "dpop_key", "signing_key"])
def test_a_password_problem_says_password_and_shows_no_pem(
    encrypted: bool, password: str | None, field: str
) -> None:
    key = generated("ed25519")
    pem = pem_of(key, PASSWORD.encode() if encrypted else None).decode()
    with pytest.raises(ValueError, match="password") as caught:
        load_signing_key(pem, password=password, field=field)
    message = str(caught.value)
    assert message.startswith(f"{field} is not a PEM private key that can be read")
    assert PASSWORD not in message
    assert "wrong-PASSWORD-x" not in message
    for line in pem.splitlines():
        assert line not in message
    assert caught.value.__cause__ is None
    assert caught.value.__suppress_context__


def test_a_pem_with_two_private_keys_is_refused() -> None:
    # OpenSSL signs with the first and ignores the rest: a rotation file
    # holding the old key and the new would sign with the old one.
    old, new = pem_of(generated("ec")), pem_of(generated("ed25519"))
    for field in ("private_key", "dpop_key"):
        with pytest.raises(
            ValueError, match=f"^{field} holds more than one private key"
        ) as caught:
            load_signing_key(old + new, field=field)
        assert old.decode().splitlines()[1] not in str(caught.value)
    # One key with its certificates, as a combined PEM holds them, is one.
    combined = trustme.CA().issue_cert("svc.example").private_key_and_cert_chain_pem
    assert load_signing_key(combined.bytes()).thumbprint


@pytest.mark.parametrize("where", ["key", "password"])
def test_pem_or_password_text_utf8_cannot_encode_is_refused_by_name(
    where: str,
) -> None:
    # A PEM read with errors="surrogateescape": the UnicodeEncodeError would
    # carry the whole text, key included, and name no field.
    pem = pem_of(generated("ec"), password=b"pw").decode()
    key, password = (pem + "\udcff", "pw") if where == "key" else (pem, "pw\udcff")
    with pytest.raises(
        ValueError, match=r"^dpop_key or its password is not valid"
    ) as caught:
        load_signing_key(key, password=password, field="dpop_key")
    assert caught.value.__cause__ is None
    assert caught.value.__suppress_context__
    assert pem.splitlines()[2] not in str(caught.value)


@pytest.mark.parametrize("password", [bytearray(b"pw"), memoryview(b"pw")])
def test_a_password_may_be_a_bytes_buffer(password: Any) -> None:
    # One the caller zeroes once the key is loaded.
    pem = pem_of(generated("ec"), password=b"pw")
    plain = load_signing_key(pem, password=b"pw")
    assert load_signing_key(pem, password=password).thumbprint == plain.thumbprint


@pytest.mark.parametrize("password", [5, ["pw"], object()])
def test_a_password_that_is_no_text_is_a_type_error_naming_it(password: Any) -> None:
    # Not "dpop_key is not a PEM ...": the key is not at fault.
    pem = pem_of(generated("ec"), password=b"pw")
    with pytest.raises(
        TypeError,
        match=r"^the password of dpop_key must be str, bytes or a bytes buffer",
    ):
        load_signing_key(pem, password=password, field="dpop_key")


SECRET_TEXT = "sk-live-SECRET-in-the-wrong-place-42"


@pytest.mark.parametrize(
    "value",
    [
        SECRET_TEXT,
        SECRET_TEXT.encode(),
        "",
        "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
        f"-----BEGIN PRIVATE KEY-----\n{SECRET_TEXT}\n-----END PRIVATE KEY-----\n",
        # A public key is no private key.
        public_of(generated("ed25519"))
        .public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        .decode(),
    ],
    ids=["secret text", "secret bytes", "empty", "bad body", "secret body", "public"],
)
@pytest.mark.parametrize("field", ["private_key", "dpop_key"])
def test_a_pem_that_does_not_load_is_refused_by_name_without_its_text(
    value: str | bytes, field: str
) -> None:
    with pytest.raises(
        ValueError, match=f"^{field} is not a PEM private key"
    ) as caught:
        load_signing_key(value, field=field)
    assert SECRET_TEXT not in str(caught.value)
    assert "password" not in str(caught.value)
    assert caught.value.__cause__ is None


def test_a_pem_of_an_unsupported_curve_is_refused_as_unsupported() -> None:
    # cryptography raises UnsupportedAlgorithm (no ValueError) for it.
    pem = fixture_pem("ec-secp112r1.pem")
    with pytest.raises(ValueError, match=r"^signing_key is not .* of a supported type"):
        load_signing_key(pem, field="signing_key")


@PROPERTY
@given(
    value=st.text(min_size=1)
    | st.binary(min_size=1)
    | st.builds(
        lambda body: f"-----BEGIN PRIVATE KEY-----\n{body}\n-----END PRIVATE KEY-----",
        st.text(),
    )
)
def test_property_any_text_that_is_no_key_is_refused_without_a_word_of_it(
    value: str | bytes,
) -> None:
    with pytest.raises(ValueError, match=r"^dpop_key is not a PEM") as caught:
        load_signing_key(value, field="dpop_key")
    message = str(caught.value)
    assert message.startswith("dpop_key is not a PEM private key")
    shown = value if isinstance(value, str) else value.decode("latin-1")
    # Unless the text is in our own words anyway.
    assume(len(shown) >= 4 and shown not in "dpop_key is not a PEM private key")
    assert shown not in message


# -- key types and sizes -------------------------------------------------------


def test_an_rsa_key_under_2048_bits_is_refused_by_name() -> None:
    small = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    for value in (small, pem_of(small)):
        with pytest.raises(ValueError, match=r"^dpop_key is a 1024-bit RSA key"):
            load_signing_key(value, field="dpop_key")
    # 2048 is the least RFC 7518 §3.3 allows, and enough.
    assert load_signing_key(generated("rsa")).algorithm == "RS256"


@pytest.mark.parametrize("curve", [ec.SECP384R1(), ec.SECP521R1(), ec.SECP256K1()])
def test_an_ec_key_off_p256_is_refused_naming_its_curve(
    curve: ec.EllipticCurve,
) -> None:
    key = ec.generate_private_key(curve)
    with pytest.raises(ValueError, match=f"^private_key is an EC key on {curve.name}"):
        load_signing_key(key)


def test_other_key_types_are_refused_by_type_name() -> None:
    with warnings.catch_warnings():
        # cryptography deprecates DSA, which is the point here.
        warnings.simplefilter("ignore")
        dsa_key = dsa.generate_private_key(key_size=2048)
    x_key = x25519.X25519PrivateKey.generate()
    for value, name in [
        (x_key, "X25519PrivateKey"),
        (dsa_key, "DSAPrivateKey"),
        (12345, "int"),
        (public_of(generated("ec")), type(public_of(generated("ec"))).__name__),
        (None, "NoneType"),
    ]:
        with pytest.raises(TypeError, match=r"^signing_key must be a PEM") as caught:
            load_signing_key(value, field="signing_key")
        assert name in str(caught.value)
    # A PEM of such a key is refused the same way.
    pem = x_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    with pytest.raises(TypeError, match="X25519PrivateKey"):
        load_signing_key(pem)


def test_ed448_signs_as_eddsa() -> None:
    key = ed448.Ed448PrivateKey.generate()
    signing = load_signing_key(key)
    assert signing.algorithm == "EdDSA"
    assert dict(signing.public_jwk) == expected_jwk(key)
    token = compact_jws(json_segment({"alg": "EdDSA"}), {"n": 1}, signing)
    assert verified(token, public_of(key), "EdDSA") == {"n": 1}


# -- algorithms -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "algorithm"),
    [(kind, algorithm) for kind in ALGORITHMS for algorithm in ALGORITHMS[kind]],
)
def test_every_fitting_algorithm_signs_what_pyjwt_verifies(
    kind: Any, algorithm: str
) -> None:
    key = generated(kind)
    signing = load_signing_key(key, algorithm=algorithm, key_id="kid-1")
    assert signing.algorithm == algorithm
    assert signing.key_id == "kid-1"
    header = json_segment({"alg": algorithm, "kid": "kid-1"})
    token = compact_jws(header, {"sub": "x", "n": 1}, signing)
    assert verified(token, public_of(key), algorithm) == {"sub": "x", "n": 1}


@pytest.mark.parametrize(
    ("kind", "algorithm"),
    [
        ("rsa", "ES256"),
        ("rsa", "EdDSA"),
        ("ec", "RS256"),
        ("ec", "PS256"),
        ("ec", "EdDSA"),
        ("ed25519", "ES256"),
        ("ed25519", "RS256"),
    ],
)
def test_an_algorithm_that_does_not_fit_the_key_is_refused(
    kind: Any, algorithm: str
) -> None:
    with pytest.raises(ValueError, match=f"^algorithm {algorithm} does not fit"):
        load_signing_key(generated(kind), algorithm=algorithm)


@pytest.mark.parametrize(
    "algorithm", ["HS256", "none", "rs256", "", SECRET_TEXT, ["RS256"], 256]
)
def test_an_unknown_algorithm_is_refused_without_being_shown(algorithm: Any) -> None:
    with pytest.raises(
        ValueError, match=r"^the algorithm given does not fit"
    ) as caught:
        load_signing_key(generated("rsa"), algorithm=algorithm, field="dpop_key")
    message = str(caught.value)
    assert "dpop_key" in message
    assert "RS256, PS256" in message  # what the key can do
    assert SECRET_TEXT not in message


@pytest.mark.parametrize(
    "key_id", ["", "two\nlines", "-----BEGIN PRIVATE KEY-----\nMII", "\x1f"]
)
def test_a_key_id_must_be_a_line_of_text(key_id: str) -> None:
    # It goes in a JWS header and shows in a flow's repr: never a PEM.
    with pytest.raises(
        ValueError, match=r"^key_id must be a non-empty line of printable text$"
    ):
        load_signing_key(generated("ec"), key_id=key_id)


@pytest.mark.parametrize("key_id", [7, b"kid", ["k"]])
def test_a_key_id_that_is_no_str_is_a_type_error(key_id: Any) -> None:
    with pytest.raises(TypeError, match=r"^key_id must be a str, got "):
        load_signing_key(generated("ec"), key_id=key_id)


def test_a_key_id_error_names_the_argument_it_came_from() -> None:
    # The bearer grant has signing_key_id beside the client's key_id: an
    # error about one must not name the other.
    with pytest.raises(ValueError, match=r"^signing_key_id must be a non-empty"):
        load_signing_key(generated("ec"), key_id="a\nb", key_id_field="signing_key_id")
    with pytest.raises(TypeError, match=r"^signing_key_id must be a str"):
        load_signing_key(generated("ec"), key_id=5, key_id_field="signing_key_id")  # type: ignore[arg-type]


def test_a_signing_key_is_taken_as_it_is_or_re_derived() -> None:
    signing = load_signing_key(generated("rsa"), key_id="k1")
    assert load_signing_key(signing) is signing
    assert load_signing_key(signing, algorithm="RS256", key_id="k1") is signing
    pss = load_signing_key(signing, algorithm="PS256")
    assert (pss.algorithm, pss.key_id) == ("PS256", None)
    assert pss.thumbprint == signing.thumbprint
    renamed = load_signing_key(signing, key_id="k2")
    assert (renamed.algorithm, renamed.key_id) == ("RS256", "k2")
    # Equal by algorithm, kid and public key; never equal to something else.
    assert pss != signing
    assert renamed != signing
    assert load_signing_key(signing, algorithm="PS256") == pss
    assert signing != "RS256"
    assert signing.__eq__(object()) is NotImplemented
    with pytest.raises(ValueError, match="does not fit"):
        load_signing_key(signing, algorithm="ES256")


def test_without_cryptography_the_error_names_the_jwt_extra(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # As if it were not installed: an import of it fails.
    monkeypatch.setitem(sys.modules, "cryptography", None)
    with pytest.raises(
        ImportError, match=r"pip install 'sansio-auth\[jwt\]'"
    ) as caught:
        load_signing_key(b"-----BEGIN PRIVATE KEY-----")
    assert caught.value.__cause__ is None


def test_the_jwt_extra_the_message_names_exists() -> None:
    import tomllib
    from pathlib import Path

    pyproject = Path(__file__).resolve().parent.parent / "pyproject.toml"
    extras = tomllib.loads(pyproject.read_text())["project"]["optional-dependencies"]
    assert any(dep.startswith("cryptography") for dep in extras["jwt"])


# -- known answers -----------------------------------------------------------


def test_rfc8037_ed25519_key_jwk_thumbprint_and_signature() -> None:
    key = ed25519.Ed25519PrivateKey.from_private_bytes(decode(RFC8037_D))
    signing = load_signing_key(key)
    assert dict(signing.public_jwk) == {"crv": "Ed25519", "kty": "OKP", "x": RFC8037_X}
    assert signing.thumbprint == RFC8037_THUMBPRINT
    signature = signing.sign(RFC8037_INPUT.encode("ascii"))
    assert b64url(signature) == RFC8037_SIGNATURE


def test_rfc7638_rsa_thumbprint() -> None:
    jwk = {"kty": "RSA", "n": RFC7638_N, "e": "AQAB"}
    assert _thumbprint(jwk) == RFC7638_THUMBPRINT
    # Member order does not matter: the members are sorted.
    assert _thumbprint(dict(reversed(list(jwk.items())))) == RFC7638_THUMBPRINT


def test_an_ec_jwk_keeps_leading_zero_octets() -> None:
    # RFC 7518 §6.2.1.2: x and y are always 32 octets. A point whose x has a
    # leading zero byte shows up once in a few hundred keys: look for one.
    for _ in range(2000):
        key = ec.generate_private_key(ec.SECP256R1())
        if key.public_key().public_numbers().x < 2**248:
            break
    else:  # pragma: no cover - odds of 1 in 10^3
        pytest.skip("no key with a short x drawn")
    jwk = load_signing_key(key).public_jwk
    assert len(decode(jwk["x"])) == 32
    assert decode(jwk["x"])[0] == 0
    assert dict(jwk) == expected_jwk(key)


def test_es256_signatures_are_r_and_s_of_32_octets() -> None:
    key = ec_key()
    signing = load_signing_key(key)
    data = b"header.payload"
    signature = signing.sign(data)
    assert len(signature) == 64
    r = int.from_bytes(signature[:32], "big")
    s = int.from_bytes(signature[32:], "big")
    # The same r and s as DER verify with cryptography itself.
    public = key.public_key()
    public.verify(utils.encode_dss_signature(r, s), data, ec.ECDSA(hashes.SHA256()))
    # Not deterministic (RFC 6979 is not used): two signatures differ.
    assert signing.sign(data) != signature


@pytest.mark.parametrize("kind", ["rsa", "ed25519"])
def test_rs256_and_eddsa_are_the_same_bytes_each_time(kind: Any) -> None:
    signing = load_signing_key(generated(kind))
    again = load_signing_key(pem_of(generated(kind)))
    header = json_segment({"alg": signing.algorithm})
    first = compact_jws(header, {"a": "b"}, signing)
    assert compact_jws(header, {"a": "b"}, signing) == first
    assert compact_jws(header, {"a": "b"}, again) == first


def test_ps256_uses_a_salt_as_long_as_the_hash() -> None:
    # RFC 7518 §3.5: PyJWT verifies with MGF1-SHA256 and a 32-octet salt.
    key = rsa_key()
    signing = load_signing_key(key, algorithm="PS256")
    data = b"a.b"
    from cryptography.hazmat.primitives.asymmetric import padding

    key.public_key().verify(
        signing.sign(data),
        data,
        padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32),
        hashes.SHA256(),
    )
    assert signing.sign(data) != signing.sign(data)  # salted afresh


# -- compact JWS -----------------------------------------------------------


def test_a_compact_jws_is_the_encoded_header_claims_and_signature() -> None:
    signing = load_signing_key(generated("ed25519"))
    header = json_segment({"alg": "EdDSA", "typ": "JWT"})
    claims = {"z": "last first", "a": 1, "u": "é\u2028", "n": None, "l": [1, "x"]}
    token = compact_jws(header, claims, signing)
    decoded_header, decoded_claims, signature = parts(token)
    assert list(decoded_header) == ["alg", "typ"]
    assert list(decoded_claims) == ["z", "a", "u", "n", "l"]  # as given
    assert decoded_claims == claims
    # ASCII JSON: the non-ASCII characters escaped, no whitespace.
    payload = decode(token.split(".")[1])
    assert (
        payload == b'{"z":"last first","a":1,"u":"\\u00e9\\u2028","n":null,"l":[1,"x"]}'
    )
    signing_input = token.rsplit(".", 1)[0].encode()
    ed_key = generated("ed25519")
    assert isinstance(ed_key, ed25519.Ed25519PrivateKey)
    ed_key.public_key().verify(signature, signing_input)


@PROPERTY
@given(data=st.binary(max_size=200))
def test_property_b64url_is_base64url_without_padding(data: bytes) -> None:
    encoded = core_b64url(data)
    assert encoded == base64.urlsafe_b64encode(data).decode().rstrip("=")
    assert "=" not in encoded
    assert decode(encoded) == data


@PROPERTY
@given(
    value=st.dictionaries(
        st.text(max_size=8),
        st.none() | st.booleans() | st.integers() | st.text(max_size=20),
        max_size=6,
    )
)
def test_property_a_json_segment_round_trips_in_order(value: dict[str, Any]) -> None:
    segment = json_segment(value)
    raw = decode(segment)
    assert raw.isascii()
    assert json.loads(raw) == value
    assert list(json.loads(raw)) == list(value)
    # Compact: no whitespace between the tokens.
    assert raw == json.dumps(json.loads(raw), separators=(",", ":")).encode()


# -- secrets -----------------------------------------------------------------


@pytest.mark.parametrize("kind", ["rsa", "ec", "ed25519"])
def test_no_form_of_the_private_key_in_a_signing_keys_repr(kind: Any) -> None:
    key = generated(kind)
    signing = load_signing_key(key, key_id="kid-9")
    shown = repr(signing) + str(signing)
    for form in private_forms(key):
        assert form not in shown
    # What it does show: the algorithm, the kid and the thumbprint.
    assert ALGORITHMS[kind][0] in shown
    assert "kid-9" in shown
    assert signing.thumbprint in shown


def test_a_secret_key_hides_its_secret_and_signs_hmac_sha256() -> None:
    secret = SecretKey(secret=SECRET_TEXT.encode())
    assert SECRET_TEXT not in repr(secret)
    assert (secret.algorithm, secret.key_id) == ("HS256", None)
    import hmac

    expected = hmac.new(SECRET_TEXT.encode(), b"x.y", hashlib.sha256).digest()
    assert secret.sign(b"x.y") == expected


# -- Stamp -------------------------------------------------------------------


@pytest.mark.parametrize(
    "now", [-1, -0.5, math.nan, math.inf, -math.inf, True, False, "1700000000", None]
)
def test_a_stamp_refuses_a_now_that_is_no_time(now: Any) -> None:
    with pytest.raises(ValueError, match=r"^now must be a finite, non-negative"):
        Stamp(now=now, jti="j")


@pytest.mark.parametrize("jti", ["", None, 7, b"jti"])
def test_a_stamp_refuses_a_jti_that_is_no_text(jti: Any) -> None:
    with pytest.raises(ValueError, match=r"^jti must be a non-empty string"):
        Stamp(now=0, jti=jti)


def test_a_stamp_refuses_a_jti_with_a_lone_surrogate() -> None:
    with pytest.raises(ValueError, match="lone surrogate") as caught:
        Stamp(now=0, jti="ab\ud800cd")
    assert "\ud800" not in str(caught.value)
    assert caught.value.__cause__ is None


def test_a_stamp_is_a_frozen_value() -> None:
    stamp = Stamp(now=1_700_000_000.9, jti="j-1")
    assert stamp == Stamp(now=1_700_000_000.9, jti="j-1")
    assert stamp != Stamp(now=1_700_000_000.9, jti="j-2")
    assert hash(stamp) == hash(Stamp(now=1_700_000_000.9, jti="j-1"))
    with pytest.raises(AttributeError):
        stamp.now = 0  # type: ignore[misc]
    assert Stamp(now=0, jti="x").now == 0  # the epoch is a time


# P-256's group order: r and s of a signature are in [1, n).
P256_ORDER = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551


@PROPERTY
@given(
    r=st.integers(1, P256_ORDER - 1) | st.sampled_from([1, 2**255, 2**248 - 1, 127]),
    s=st.integers(1, P256_ORDER - 1) | st.sampled_from([1, 2**255, 2**248 - 1, 128]),
)
def test_property_der_to_raw_ecdsa_is_r_and_s_of_32_octets(r: int, s: int) -> None:
    # The slicing parser against cryptography's own DER encoder: short
    # INTEGERs, and ones with a leading zero octet (top bit set).
    der = utils.encode_dss_signature(r, s)
    assert _raw_ecdsa(der) == r.to_bytes(32, "big") + s.to_bytes(32, "big")


@pytest.mark.parametrize(
    "der",
    [
        bytes([0x31, 6, 0x02, 1, 1, 0x02, 1, 1]),  # not a SEQUENCE
        bytes([0x30, 6, 0x03, 1, 1, 0x02, 1, 1]),  # r not an INTEGER
        bytes([0x30, 6, 0x02, 1, 1, 0x04, 1, 1]),  # s not an INTEGER
    ],
)
def test_a_signature_that_is_no_der_ecdsa_is_refused(der: bytes) -> None:
    with pytest.raises(ValueError, match=r"^not a DER ECDSA signature$"):
        _raw_ecdsa(der)
