"""DPoP proofs (RFC 9449): a JWT per request, signed by the client's key,
that binds a token to that key.

A proof names the request (``htm``, ``htu``), when it was made (``iat``), a
fresh ``jti``, the server's ``nonce`` when it asked for one, and, at a
resource server, the access token it accompanies (``ath``). The header is the
same for every proof of a key, so it is encoded once; a proof per API request
costs one signature and a few string operations.

The time and the ``jti`` come from outside; the key is generated outside too
(``sansio_auth.adapters`` do, when asked), since the core draws no random
numbers.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from json.encoder import encode_basestring_ascii as _quote
from typing import Final, final

from ._b64 import b64url
from ._fields import check_credential, check_text
from ._jws import json_segment
from ._keys import SigningKey, load_signing_key

__all__ = ["DPoPKey", "access_token_hash", "check_nonce", "proof_url"]

# RFC 9110 §9.1 and §5.6.2: a method is a token.
_METHOD = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
# A scheme, "://", an authority, then anything but space and controls.
_ABSOLUTE = re.compile(
    r"[A-Za-z][A-Za-z0-9+.\-]*://[^/?#\x00-\x20\x7f]+[^\x00-\x20\x7f]*"
)
# RFC 9449 §8.1: nonce = 1*NQCHAR, printable ASCII but for '"' and '\'.
_NONCE = re.compile(r"[\x21\x23-\x5b\x5d-\x7e]{1,1024}")
_MAX_NONCE = 1024


def proof_url(url: str) -> str:
    """The ``htu`` of a request to *url*: the URL without query and fragment
    (RFC 9449 §4.2), and without user info, which is no part of the target
    (RFC 9110 §4.2.4) and would put a password in a signed header."""
    # The fragment first: a '?' after a '#' is the fragment's.
    target = url.partition("#")[0].partition("?")[0]
    if "@" in target:
        scheme, sep, rest = target.partition("://")
        if sep:
            authority, slash, path = rest.partition("/")
            target = f"{scheme}://{authority.rpartition('@')[2]}{slash}{path}"
    return target


def access_token_hash(access_token: str) -> str:
    """The ``ath`` of a proof for *access_token*: base64url SHA-256."""
    return b64url(hashlib.sha256(access_token.encode("utf-8")).digest())


def check_nonce(value: str | None) -> str | None:
    """*value* if it is a nonce a proof may carry, else None.

    A server's ``DPoP-Nonce`` goes back into every proof we sign and into
    the header of our next request: anything but RFC 9449's characters, or
    an absurd length, is not taken.
    """
    if value is None or len(value) > _MAX_NONCE or not _NONCE.fullmatch(value):
        return None
    return value


@final
class DPoPKey:
    """The key that signs DPoP proofs, and so binds the tokens it gets.

    Args:
      private_key: a PEM private key (str or bytes), a ``cryptography``
        private key (RSA, EC P-256, Ed25519 or Ed448) or a
        :class:`~sansio_auth._keys.SigningKey`.
      algorithm: RS256, PS256, ES256 or EdDSA; None for the key's default.
      password: the PEM's password, if it is encrypted.

    Raises:
      ImportError: without ``cryptography`` (the ``jwt`` extra).
      TypeError, ValueError: naming ``dpop_key``; never showing the key.
    """

    __slots__ = ("_header", "_quoted_ath", "key")

    def __init__(
        self,
        private_key: object,
        *,
        algorithm: str | None = None,
        password: str | bytes | bytearray | memoryview | None = None,
    ) -> None:
        if isinstance(private_key, DPoPKey):
            private_key = private_key.key
        key = load_signing_key(
            private_key, algorithm=algorithm, password=password, field="dpop_key"
        )
        self.key: Final[SigningKey] = key
        # RFC 9449 §4.2: typ, alg and the public key; no kid (the key is
        # in the proof).
        self._header: Final = json_segment(
            {"typ": "dpop+jwt", "alg": key.algorithm, "jwk": dict(key.public_jwk)}
        )
        # The last ath and its JSON text: one token serves many requests.
        # Replaced whole, so threads see one pair or the other.
        self._quoted_ath: tuple[str, str] = ("", '""')

    @property
    def algorithm(self) -> str:
        """The JWS algorithm of the proofs."""
        return self.key.algorithm

    @property
    def jkt(self) -> str:
        """The key's RFC 7638 thumbprint: what a bound token's ``cnf.jkt`` is."""
        return self.key.thumbprint

    @property
    def public_jwk(self) -> Mapping[str, str]:
        """The public key, as it appears in each proof's header."""
        return self.key.public_jwk

    def __repr__(self) -> str:
        return f"DPoPKey(algorithm={self.algorithm!r}, jkt={self.jkt!r})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, DPoPKey):
            return NotImplemented
        return self.key == other.key

    def __hash__(self) -> int:
        return hash(self.key)

    def __copy__(self) -> DPoPKey:
        # Immutable but for the ath it caches: a copy is the key itself.
        return self

    def __deepcopy__(self, memo: dict[int, object]) -> DPoPKey:
        return self

    def __reduce__(self) -> tuple[type[DPoPKey], tuple[SigningKey]]:
        return DPoPKey, (self.key,)

    def proof(
        self,
        method: str,
        url: str,
        *,
        now: float,
        jti: str,
        nonce: str | None = None,
        access_token: str | None = None,
    ) -> str:
        """A proof for a *method* request to *url*, made at *now*.

        Args:
          method: the HTTP method (``htm``).
          url: the request URL; its query and fragment are left out (``htu``).
          now: UNIX seconds; ``iat`` is its whole part.
          jti: a value never used before by this key.
          nonce: the server's last ``DPoP-Nonce``, if it sent one.
          access_token: the token the request carries, at a resource server
            (``ath``); None at the token endpoint.

        Raises:
          TypeError, ValueError: for an argument a proof cannot carry, named.
        """
        from ._stamp import Stamp

        Stamp(now=now, jti=jti)  # the same rules as a signed request's
        check_text("method", method)
        check_text("url", url)
        if not _METHOD.fullmatch(method):
            raise ValueError("method must be an HTTP method (RFC 9110 §9.1)")
        if not _ABSOLUTE.fullmatch(proof_url(url)):
            # What goes in htu; a query may hold what it likes.
            raise ValueError(
                "url must be an absolute URL, with no space or control "
                "character before its query"
            )
        if nonce is not None and check_nonce(nonce) is None:
            raise ValueError("nonce is not a DPoP nonce (RFC 9449 §8.1)")
        ath = None
        if access_token is not None:
            check_credential("access_token", access_token)
            ath = access_token_hash(access_token)
        return self.signed(method, url, now=now, jti=jti, nonce=nonce, ath=ath)

    def signed(
        self,
        method: str,
        url: str,
        *,
        now: float,
        jti: str,
        nonce: str | None = None,
        ath: str | None = None,
    ) -> str:
        """:meth:`proof` given the token's ``ath`` (:func:`access_token_hash`)
        rather than the token: a caller that sends one token many times
        hashes it once. Its arguments are not checked, since it runs on
        every API request: a caller gives what :meth:`proof` would accept."""
        # Built as text, not through a dict and json.dumps: this runs on every
        # API request. The JSON string encoder quotes every value, so that
        # even an unchecked one stays one JSON string.
        quote = _quote
        claims = (
            f'{{"jti":{quote(jti)},"htm":{quote(method)},'
            f'"htu":{quote(proof_url(url))},"iat":{int(now)}'
        )
        if nonce is not None:
            claims += f',"nonce":{quote(nonce)}'
        if ath is None:
            claims += "}"
        else:
            last = self._quoted_ath
            if last[0] != ath:
                last = (ath, quote(ath))
                self._quoted_ath = last
            claims += f',"ath":{last[1]}}}'
        signing_input = f"{self._header}.{b64url(claims.encode())}"
        signature = b64url(self.key.sign(signing_input.encode()))
        return f"{signing_input}.{signature}"
