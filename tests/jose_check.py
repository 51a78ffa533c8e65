"""JOSE checks made apart from the library, for the tests of the JWTs it signs.

The core writes its own compact JWS (``sansio_auth._jws``) over
``cryptography``'s primitives. Here a JWT is taken apart with the standard
library alone (:func:`parts`, which also checks the base64url and JSON forms
RFC 7515 asks for), and its signature is checked by PyJWT, a different JOSE
implementation (:func:`verified`, :func:`verified_proof`): a signature or an
encoding only our own code could read fails here.

The test keys: :func:`fixture_pem` reads the PEM files committed under
``tests/fixtures/keys/`` (test-only keys, for the byte-exact fixtures); and
:func:`generated` makes one key per kind once per process (RSA key generation
takes a good part of a second).

Import it as ``from jose_check import ...`` (``tests/`` is on ``pythonpath``).
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import json
import re
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import jwt as pyjwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa
from jwt.types import Options
from jwt.warnings import InsecureKeyLengthWarning

__all__ = [
    "ALGORITHMS",
    "KEYS_DIR",
    "KeyKind",
    "b64url",
    "fixture_key",
    "fixture_pem",
    "generated",
    "parts",
    "pem_of",
    "public_of",
    "sha256_b64url",
    "verified",
    "verified_hs256",
    "verified_proof",
]

KEYS_DIR = Path(__file__).resolve().parent / "fixtures" / "keys"

KeyKind = Literal["rsa", "ec", "ed25519"]
PrivateKey = (
    rsa.RSAPrivateKey
    | ec.EllipticCurvePrivateKey
    | ed25519.Ed25519PrivateKey
    | ed448.Ed448PrivateKey
)
PublicKey = (
    rsa.RSAPublicKey
    | ec.EllipticCurvePublicKey
    | ed25519.Ed25519PublicKey
    | ed448.Ed448PublicKey
)

ALGORITHMS: Mapping[KeyKind, tuple[str, ...]] = {
    "rsa": ("RS256", "PS256"),
    "ec": ("ES256",),
    "ed25519": ("EdDSA",),
}
"""The algorithms each kind of key signs with, its default first."""

# RFC 7515 §2: base64url without padding; RFC 4648 §5's alphabet only.
_B64URL = re.compile(r"[A-Za-z0-9_-]*")
# The checks that compare a claim with the clock: the tests give the time
# themselves and check those claims against it.
_NO_CLOCK: Options = {
    "verify_exp": False,
    "verify_iat": False,
    "verify_nbf": False,
    "verify_aud": False,
    "verify_iss": False,
}


def b64url(data: bytes) -> str:
    """base64url without padding, by the standard library."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def sha256_b64url(text: str) -> str:
    """RFC 9449 §4.2's ``ath`` of *text*: base64url of its SHA-256."""
    return b64url(hashlib.sha256(text.encode("utf-8")).digest())


def _decode(segment: str) -> bytes:
    assert _B64URL.fullmatch(segment), "not base64url without padding"
    assert len(segment) % 4 != 1, "not a base64 length"
    try:
        return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
    except binascii.Error as exc:  # pragma: no cover - a failing test says why
        raise AssertionError(f"not base64url: {exc}") from None


def _object(segment: str) -> dict[str, Any]:
    raw = _decode(segment)
    # RFC 7515 §3 leaves whitespace to the producer; ours promises none.
    text = raw.decode("ascii")
    value = json.loads(text, object_pairs_hook=_no_repeats)
    assert isinstance(value, dict)
    assert json.dumps(value, separators=(",", ":")) == text, "not compact JSON"
    return value


def _no_repeats(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    names = [name for name, _ in pairs]
    assert len(names) == len(set(names)), f"a member twice: {names}"
    return dict(pairs)


def parts(token: str) -> tuple[dict[str, Any], dict[str, Any], bytes]:
    """The header, the claims (in their order) and the signature of a compact
    JWS, read with the standard library; the forms RFC 7515 asks for checked
    (three base64url segments without padding, compact ASCII JSON objects
    with no member twice)."""
    segments = token.split(".")
    assert len(segments) == 3, "not a compact JWS"
    header, claims, signature = segments
    return _object(header), _object(claims), _decode(signature)


def verified(
    token: str, key: PublicKey | str | bytes, algorithm: str
) -> dict[str, Any]:
    """*token*'s claims, once PyJWT checked its signature by *key* (a public
    key, or an HMAC secret) under *algorithm* and its registered claims'
    types; the clock checks are the caller's."""
    with warnings.catch_warnings():
        # RFC 7518 §3.2 wants an HS256 key of 32 bytes; a client secret is
        # what it is (see test_client_auth.py).
        warnings.simplefilter("ignore", InsecureKeyLengthWarning)
        decoded = pyjwt.decode_complete(
            token, key, algorithms=[algorithm], options=_NO_CLOCK
        )
    assert decoded["header"]["alg"] == algorithm
    payload = decoded["payload"]
    assert isinstance(payload, dict)
    return payload


def verified_hs256(token: str, secret: str) -> dict[str, Any]:
    """*token*'s claims, its HS256 signature by *secret*'s UTF-8 octets
    checked by PyJWT (OpenID Connect Core §10.1: the secret is the key)."""
    return verified(token, secret.encode("utf-8"), "HS256")


def verified_proof(token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """A DPoP proof's header and claims, its signature checked by PyJWT with
    the public key of its own ``jwk`` header (RFC 9449 §4.3, step 7)."""
    header, _, _ = parts(token)
    jwk = pyjwt.PyJWK(header["jwk"], algorithm=header["alg"])
    claims = verified(token, jwk.key, header["alg"])
    return header, claims


@functools.cache
def generated(kind: KeyKind) -> PrivateKey:
    """One fresh key of *kind* per process: RSA 2048, EC P-256 or Ed25519."""
    if kind == "rsa":
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    if kind == "ec":
        return ec.generate_private_key(ec.SECP256R1())
    return ed25519.Ed25519PrivateKey.generate()


def public_of(key: PrivateKey) -> PublicKey:
    """The public half of *key*."""
    return key.public_key()


def pem_of(key: PrivateKey, password: bytes | None = None) -> bytes:
    """*key* as PKCS #8 PEM, encrypted under *password* if given."""
    encryption: serialization.KeySerializationEncryption = (
        serialization.NoEncryption()
        if password is None
        else serialization.BestAvailableEncryption(password)
    )
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption
    )


def fixture_pem(name: str) -> str:
    """The text of ``tests/fixtures/keys/<name>`` (a test-only key)."""
    return (KEYS_DIR / name).read_text(encoding="ascii")


def fixture_key(name: str) -> PrivateKey:
    """The key of ``tests/fixtures/keys/<name>``, loaded by ``cryptography``."""
    key = serialization.load_pem_private_key(fixture_pem(name).encode(), None)
    assert isinstance(
        key,
        rsa.RSAPrivateKey
        | ec.EllipticCurvePrivateKey
        | ed25519.Ed25519PrivateKey
        | ed448.Ed448PrivateKey,
    )
    return key
