"""Keys that sign what we send (RFC 7518 §3): a private key for
``private_key_jwt``, the JWT bearer grant and DPoP; a client secret for
``client_secret_jwt``.

``cryptography`` is imported when a private key is loaded, never at package
import: users of client secrets and API keys do not pay for it, and need not
install it (the ``jwt`` extra). HS256 needs only :mod:`hmac`.

A key is a secret: its ``repr`` shows the algorithm, the ``kid`` and the
public key's thumbprint, never a byte of the private key, and a PEM that does
not load is refused without a word of it in the message (OpenSSL's own
errors may quote what they could not read).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from collections.abc import Callable, Mapping
from typing import Final, Literal, final

import attrs

from ._b64 import b64url

__all__ = [
    "ASYMMETRIC_ALGORITHMS",
    "Algorithm",
    "SecretKey",
    "SigningKey",
    "load_signing_key",
]

Algorithm = Literal["RS256", "PS256", "ES256", "EdDSA"]
ASYMMETRIC_ALGORITHMS: Final = ("RS256", "PS256", "ES256", "EdDSA")
_MIN_RSA_BITS = 2048  # RFC 7518 §3.3 and §3.5


def _missing_extra() -> ImportError:
    return ImportError(
        "signing with a private key needs the 'cryptography' package: "
        "pip install 'sansio-auth[jwt]'"
    )


@final
@attrs.frozen(eq=False)
class SigningKey:
    """A private key and the JWS algorithm it signs with.

    Build one with :func:`load_signing_key`. Two keys are equal when their
    algorithm, ``kid`` and public key are.
    """

    algorithm: Algorithm
    """RS256, PS256, ES256 or EdDSA."""
    key_id: str | None
    """The ``kid`` to put in a JWS header, if any."""
    public_jwk: Mapping[str, str] = attrs.field(repr=False)
    """The public key as a JWK (RFC 7517): its required members only."""
    thumbprint: str
    """The RFC 7638 SHA-256 thumbprint of the public key, base64url."""
    _key: object = attrs.field(repr=False, alias="key")
    _signer: Callable[[object, bytes], bytes] = attrs.field(repr=False, alias="signer")

    def sign(self, data: bytes) -> bytes:
        """The JWS signature of *data* (ES256: ``r || s``, 64 bytes)."""
        return self._signer(self._key, data)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, SigningKey):
            return NotImplemented
        return (self.algorithm, self.key_id, self.thumbprint) == (
            other.algorithm,
            other.key_id,
            other.thumbprint,
        )

    def __hash__(self) -> int:
        return hash((self.algorithm, self.key_id, self.thumbprint))

    def __copy__(self) -> SigningKey:
        # Immutable: a copy is the key itself, not a key exported and loaded
        # again (slow, and impossible for a key held in hardware).
        return self

    def __deepcopy__(self, memo: dict[int, object]) -> SigningKey:
        return self

    def __reduce__(self) -> tuple[object, tuple[bytes, str, str | None]]:
        # A flow goes to a process pool's workers by pickle, and a key object
        # does not pickle: the key travels as unencrypted PKCS #8, as a PEM
        # given as text does (docs/security.md says what that means).
        from cryptography.hazmat.primitives import serialization

        try:
            pem = self._key.private_bytes(  # type: ignore[attr-defined]
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        except Exception:
            raise TypeError(
                f"a {self.algorithm} key that cannot be exported (one held in "
                "hardware or a KMS) does not pickle: give each process the "
                "key itself"
            ) from None
        return _unpickle, (pem, self.algorithm, self.key_id)


def _unpickle(pem: bytes, algorithm: str, key_id: str | None) -> SigningKey:
    return load_signing_key(pem, algorithm=algorithm, key_id=key_id)


@final
@attrs.frozen
class SecretKey:
    """A client secret as an HS256 key (``client_secret_jwt``, RFC 7523 §2.2
    with OpenID Connect Core §9: the secret's UTF-8 octets are the key)."""

    _secret: bytes = attrs.field(repr=False, alias="secret")
    algorithm: Literal["HS256"] = "HS256"
    key_id: None = None

    def sign(self, data: bytes) -> bytes:
        """The HMAC-SHA-256 of *data*."""
        return hmac.digest(self._secret, data, "sha256")


def _sign_rs256(key: object, data: bytes) -> bytes:
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding

    return key.sign(data, padding.PKCS1v15(), hashes.SHA256())  # type: ignore[attr-defined, no-any-return]


def _sign_ps256(key: object, data: bytes) -> bytes:
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding

    # RFC 7518 §3.5: the salt is as long as the hash.
    pss = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32)
    return key.sign(data, pss, hashes.SHA256())  # type: ignore[attr-defined, no-any-return]


_ECDSA_SHA256: list[object] = []


def _raw_ecdsa(der: bytes) -> bytes:
    # RFC 7518 §3.4: the JWS form is r and s as 32 bytes each, not the DER
    # SEQUENCE { INTEGER r, INTEGER s } OpenSSL gives. A P-256 signature is
    # at most 72 bytes, so every length is one byte; an INTEGER has a leading
    # zero when its top bit is set, and is shorter when it is small.
    r_length = der[3]
    r = der[4 : 4 + r_length]
    s = der[6 + r_length :]
    if der[0] != 0x30 or der[2] != 0x02 or der[4 + r_length] != 0x02:
        raise ValueError("not a DER ECDSA signature")
    return r[-32:].rjust(32, b"\0") + s[-32:].rjust(32, b"\0")


def _sign_es256(key: object, data: bytes) -> bytes:
    # A DPoP proof per API request signs here: the algorithm object is made
    # once, and the DER is unpacked by slicing, not by a parser call.
    try:
        ecdsa = _ECDSA_SHA256[0]
    except IndexError:
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import ec

        ecdsa = ec.ECDSA(hashes.SHA256())
        _ECDSA_SHA256.append(ecdsa)
    return _raw_ecdsa(key.sign(data, ecdsa))  # type: ignore[attr-defined]


def _sign_eddsa(key: object, data: bytes) -> bytes:
    return key.sign(data)  # type: ignore[attr-defined, no-any-return]


_SIGNERS: Final = {
    "RS256": _sign_rs256,
    "PS256": _sign_ps256,
    "ES256": _sign_es256,
    "EdDSA": _sign_eddsa,
}


def _uint(value: int) -> str:
    return b64url(value.to_bytes(max(1, (value.bit_length() + 7) // 8), "big"))


def _thumbprint(jwk: Mapping[str, str]) -> str:
    # RFC 7638 §3: the required members, sorted, no whitespace.
    canonical = json.dumps(dict(jwk), separators=(",", ":"), sort_keys=True)
    return b64url(hashlib.sha256(canonical.encode("ascii")).digest())


_PRIVATE_KEY_BEGIN = re.compile(rb"-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----")


def _load_pem(
    value: str | bytes,
    password: str | bytes | bytearray | memoryview | None,
    field: str,
) -> object:
    from cryptography.hazmat.primitives import serialization

    if isinstance(password, bytearray | memoryview):
        # A buffer the caller may zero afterwards; cryptography reads bytes.
        password = bytes(password)
    if password is not None and not isinstance(password, str | bytes):
        raise TypeError(
            f"the password of {field} must be str, bytes or a bytes buffer, "
            f"got {type(password).__name__}"
        )
    try:
        data = value.encode("utf-8") if isinstance(value, str) else value
        secret = password.encode("utf-8") if isinstance(password, str) else password
    except UnicodeEncodeError:
        # The error object would carry the whole text, key included.
        raise ValueError(
            f"{field} or its password is not valid text (a lone surrogate)"
        ) from None
    if len(_PRIVATE_KEY_BEGIN.findall(data)) > 1:
        # OpenSSL takes the first and ignores the rest: in a rotation file
        # holding the old key and the new, that signs with the old one.
        raise ValueError(f"{field} holds more than one private key: give one")
    try:
        return serialization.load_pem_private_key(data, password=secret)
    except (ValueError, TypeError) as exc:
        # Not a word of what failed to load: OpenSSL may quote it. Only
        # whether a password is at fault ("Password was not given but ...",
        # "Incorrect password, ...": either case).
        reason = (
            "a wrong, missing or needless password"
            if "password" in str(exc).lower()
            else ""
        )
        detail = f" ({reason})" if reason else ""
        raise ValueError(
            f"{field} is not a PEM private key that can be read{detail}"
        ) from None
    except Exception:  # cryptography's UnsupportedAlgorithm and the like
        raise ValueError(
            f"{field} is not a PEM private key of a supported type"
        ) from None


def _describe(key: object) -> tuple[tuple[str, ...], dict[str, str]]:
    # The algorithms a key may sign with (the default first) and its JWK.
    from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa

    if isinstance(key, rsa.RSAPrivateKey):
        if key.key_size < _MIN_RSA_BITS:
            raise ValueError(
                f"private_key is a {key.key_size}-bit RSA key; RS256 and PS256 "
                f"need at least {_MIN_RSA_BITS} bits (RFC 7518 §3.3)"
            )
        numbers = key.public_key().public_numbers()
        return ("RS256", "PS256"), {
            "e": _uint(numbers.e),
            "kty": "RSA",
            "n": _uint(numbers.n),
        }
    if isinstance(key, ec.EllipticCurvePrivateKey):
        if not isinstance(key.curve, ec.SECP256R1):
            raise ValueError(
                f"private_key is an EC key on {key.curve.name}; ES256 needs P-256"
            )
        point = key.public_key().public_numbers()
        return ("ES256",), {
            "crv": "P-256",
            "kty": "EC",
            "x": b64url(point.x.to_bytes(32, "big")),
            "y": b64url(point.y.to_bytes(32, "big")),
        }
    if isinstance(key, ed25519.Ed25519PrivateKey | ed448.Ed448PrivateKey):
        from cryptography.hazmat.primitives import serialization

        raw = key.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )
        curve = "Ed25519" if isinstance(key, ed25519.Ed25519PrivateKey) else "Ed448"
        return ("EdDSA",), {"crv": curve, "kty": "OKP", "x": b64url(raw)}
    raise TypeError(
        "private_key must be a PEM private key or a cryptography private key "
        f"(RSA, EC P-256, Ed25519 or Ed448), got {type(key).__name__}"
    )


def load_signing_key(
    private_key: object,
    *,
    algorithm: str | None = None,
    key_id: str | None = None,
    password: str | bytes | bytearray | memoryview | None = None,
    field: str = "private_key",
    key_id_field: str = "key_id",
) -> SigningKey:
    """A :class:`SigningKey` from a PEM (str or bytes) or a ``cryptography``
    private key object.

    Args:
      private_key: the key; a :class:`SigningKey` is returned as it is when
        it agrees with *algorithm* and *key_id*.
      algorithm: RS256, PS256, ES256 or EdDSA; None for the key's default
        (RSA: RS256, EC P-256: ES256, Ed25519: EdDSA).
      key_id: the ``kid`` for the JWS header.
      password: the PEM's password, if it is encrypted.
      field: the argument's name, for messages.
      key_id_field: the name of *key_id*'s argument, for messages.

    Raises:
      ImportError: if ``cryptography`` is not installed (the ``jwt`` extra).
      TypeError, ValueError: naming *field*, never showing the key.
    """
    if key_id is not None:
        if not isinstance(key_id, str):
            raise TypeError(
                f"{key_id_field} must be a str, got {type(key_id).__name__}"
            )
        if not key_id or not key_id.isprintable():
            # It goes in a JWS header and shows in a flow's repr: one line
            # of text, never a PEM pasted in the wrong place.
            raise ValueError(
                f"{key_id_field} must be a non-empty line of printable text"
            )
    if isinstance(private_key, SigningKey):
        if (algorithm is None or algorithm == private_key.algorithm) and (
            key_id is None or key_id == private_key.key_id
        ):
            return private_key
        private_key = private_key._key
    try:
        import cryptography  # noqa: F401
    except ImportError:
        raise _missing_extra() from None
    if isinstance(private_key, str | bytes):
        key = _load_pem(private_key, password, field)
    else:
        key = private_key
    try:
        allowed, jwk = _describe(key)
    except (TypeError, ValueError) as exc:
        raise type(exc)(str(exc).replace("private_key", field)) from None
    if algorithm is None:
        algorithm = allowed[0]
    elif algorithm not in allowed:
        known = ", ".join(ASYMMETRIC_ALGORITHMS)
        # Named only when it is one of ours: a careless caller may have put
        # a secret here (and a list would not hash).
        named = isinstance(algorithm, str) and algorithm in _SIGNERS
        shown = f"algorithm {algorithm}" if named else "the algorithm given"
        raise ValueError(
            f"{shown} does not fit {field} (its key signs with "
            f"{', '.join(allowed)}; the algorithms are {known})"
        )
    return SigningKey(
        algorithm=algorithm,  # type: ignore[arg-type]
        key_id=key_id,
        public_jwk=jwk,
        thumbprint=_thumbprint(jwk),
        key=key,
        signer=_SIGNERS[algorithm],
    )
