"""Public keys and signature checks (RFC 7518 §3, RFC 8037), by ``cryptography``.

Imported only when a signature or a certificate is to be checked (the
modules that need it import this one inside their functions), so that the
server starts with the core alone; without ``cryptography`` the import names
the ``jwt`` extra.

The algorithms are the asymmetric ones of :data:`ASYMMETRIC`, each for one
key type only (RFC 8725 §3.1: the key decides the algorithm, never the
token): RS256 and PS256 (RSA of :data:`MIN_RSA_BITS` or more), ES256 (P-256,
its signature the 64 bytes R || S of RFC 7518 §3.4, not DER), EdDSA
(Ed25519, not a point of small order). PS256's salt is the length of its
hash, as RFC 7518 §3.5 says. HS256 is plain HMAC and needs none of this (see
``_assertions``).
"""

from __future__ import annotations

import typing
from collections.abc import Mapping
from typing import Final, TypeAlias

from .._extras import missing_extra

try:
    from cryptography import x509
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
    from cryptography.hazmat.primitives.asymmetric.types import (
        PrivateKeyTypes,
        PublicKeyTypes,
    )
    from cryptography.hazmat.primitives.asymmetric.utils import (
        encode_dss_signature,
    )
except ImportError as exc:
    raise missing_extra(__name__, "jwt", ("cryptography",), exc) from None

from ._jose import ASYMMETRIC, Invalid, jwk_bytes

__all__ = [
    "ASYMMETRIC",
    "MIN_RSA_BITS",
    "InvalidSignature",
    "PublicKey",
    "algorithms_for",
    "jwk_public_key",
    "load_certificate",
    "public_key",
    "verify",
    "x509",
]

MIN_RSA_BITS: Final = 2048
"""The smallest RSA modulus accepted (RFC 7518 §3.3)."""

PublicKey: TypeAlias = (
    rsa.RSAPublicKey | ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey
)
"""The key types accepted."""

_PRIVATE_JWK_MEMBERS: Final = frozenset({"d", "p", "q", "dp", "dq", "qi", "oth", "k"})
# An Ed25519 public key of small order (the 8 points of order 1, 2, 4 or 8)
# has signatures that verify under RFC 8032 §5.1.7 for any message, without
# its private key (the identity's: R the identity, S zero); OpenSSL does not
# check the key's order, libsodium does. Its blocklist
# (ge25519_has_small_order): the y of each such point, and p and p + 1,
# which are 0 and 1 written the non-canonical way; compared with the sign
# bit of x cleared, so both signs of each y go, as in libsodium.
_SMALL_ORDER_ED25519: Final = frozenset(
    bytes.fromhex(y)
    for y in (
        "0000000000000000000000000000000000000000000000000000000000000000",  # 0
        "0100000000000000000000000000000000000000000000000000000000000000",  # 1
        "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05",
        "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a",
        "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",  # p-1
        "edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",  # p
        "eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",  # p+1
    )
)


def _small_order(key: ed25519.Ed25519PublicKey) -> bool:
    """Whether *key* is one of libsodium's small-order encodings."""
    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return raw[:31] + bytes([raw[31] & 0x7F]) in _SMALL_ORDER_ED25519


def _checked(key: object) -> PublicKey:
    """*key* if it is of a type and size accepted, else ``ValueError``."""
    if isinstance(key, rsa.RSAPublicKey):
        if key.key_size < MIN_RSA_BITS:
            raise ValueError(
                f"an RSA key must have at least {MIN_RSA_BITS} bits, got {key.key_size}"
            )
        return key
    if isinstance(key, ec.EllipticCurvePublicKey):
        if not isinstance(key.curve, ec.SECP256R1):
            raise ValueError(f"an EC key must be on P-256, got {key.curve.name}")
        return key
    if isinstance(key, ed25519.Ed25519PublicKey):
        if _small_order(key):
            raise ValueError(
                "an Ed25519 key must not be a point of small order, "
                "whose signatures anyone can make"
            )
        return key
    raise ValueError(
        f"a key must be RSA, EC P-256 or Ed25519, got {type(key).__name__}"
    )


def public_key(material: object) -> PublicKey:
    """The public key of *material*: PEM text (str or bytes) of a public key,
    a certificate or a private key, or a ``cryptography`` key object. A
    private key gives its public half.

    Raises:
      ValueError: for PEM that holds none of these, or a key of a type or
        size not accepted.
      TypeError: for anything else.
    """
    if isinstance(material, str):
        material = material.encode()
    if isinstance(material, bytes):
        if b"-----BEGIN CERTIFICATE-----" in material:
            return _checked(x509.load_pem_x509_certificate(material).public_key())
        if b"PRIVATE KEY-----" in material:
            private = serialization.load_pem_private_key(material, password=None)
            return _checked(private.public_key())
        return _checked(serialization.load_pem_public_key(material))
    if isinstance(material, typing.get_args(PrivateKeyTypes)):
        return _checked(material.public_key())
    if isinstance(material, typing.get_args(PublicKeyTypes)):
        return _checked(material)
    raise TypeError(
        "a key must be PEM text or a cryptography key object, "
        f"got {type(material).__name__}"
    )


def algorithms_for(key: PublicKey) -> tuple[str, ...]:
    """The algorithms *key* verifies."""
    if isinstance(key, rsa.RSAPublicKey):
        return ("RS256", "PS256")
    if isinstance(key, ec.EllipticCurvePublicKey):
        return ("ES256",)
    return ("EdDSA",)


def verify(alg: str, key: PublicKey, signing_input: bytes, signature: bytes) -> bool:
    """Whether *signature* is *key*'s *alg* signature of *signing_input*;
    False too when *alg* is not one *key* verifies."""
    if alg not in algorithms_for(key):
        return False
    try:
        if isinstance(key, rsa.RSAPublicKey):
            scheme = (
                padding.PKCS1v15()
                if alg == "RS256"
                else padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32)
            )
            key.verify(signature, signing_input, scheme, hashes.SHA256())
        elif isinstance(key, ec.EllipticCurvePublicKey):
            if len(signature) != 64:  # RFC 7518 §3.4: R || S, 32 bytes each
                return False
            der = encode_dss_signature(
                int.from_bytes(signature[:32], "big"),
                int.from_bytes(signature[32:], "big"),
            )
            key.verify(der, signing_input, ec.ECDSA(hashes.SHA256()))
        else:
            key.verify(signature, signing_input)
    except InvalidSignature:
        return False
    return True


def jwk_public_key(jwk: Mapping[str, object], alg: str) -> PublicKey:
    """The public key of *jwk* (RFC 7517), which must verify *alg*.

    Raises:
      Invalid: ``"jwk"`` for anything but a public RSA, EC P-256 or Ed25519
        key (a private member present, a point off the curve, a short
        modulus, a member not written the one way RFC 7518 allows: see
        ``_jose.jwk_bytes``), or one of another type than *alg* needs.
    """
    private = sorted(_PRIVATE_JWK_MEMBERS & set(jwk))
    if private:
        raise Invalid("jwk", f"the jwk holds private members: {', '.join(private)}")
    kty = jwk.get("kty")
    try:
        key: object
        if kty == "RSA":
            n = int.from_bytes(jwk_bytes(jwk, "n"), "big")
            e = int.from_bytes(jwk_bytes(jwk, "e"), "big")
            key = rsa.RSAPublicNumbers(e, n).public_key()
        elif kty == "EC" and jwk.get("crv") == "P-256":
            x = int.from_bytes(jwk_bytes(jwk, "x", 32), "big")
            y = int.from_bytes(jwk_bytes(jwk, "y", 32), "big")
            key = ec.EllipticCurvePublicNumbers(x, y, ec.SECP256R1()).public_key()
        elif kty == "OKP" and jwk.get("crv") == "Ed25519":
            key = ed25519.Ed25519PublicKey.from_public_bytes(jwk_bytes(jwk, "x", 32))
        else:
            raise Invalid("jwk", "the jwk is not an RSA, EC P-256 or Ed25519 key")
        checked = _checked(key)
    except ValueError as error:  # off the curve, a bad modulus, too short
        raise Invalid("jwk", f"the jwk is not a valid public key: {error}") from None
    if alg not in algorithms_for(checked):
        raise Invalid("alg", f"the jwk's key type does not verify {alg}")
    declared = jwk.get("alg")
    if declared is not None and declared != alg:
        raise Invalid("alg", "the jwk's alg is not the header's alg")
    return checked


def load_certificate(der: bytes) -> x509.Certificate:
    """The X.509 certificate of *der*.

    Raises:
      Invalid: ``"certificate"`` when it does not parse.
    """
    try:
        return x509.load_der_x509_certificate(der)
    except ValueError:
        raise Invalid("certificate", "the client certificate does not parse") from None
