"""A real authorization server by others: ``oidc-provider`` (npm) on 127.0.0.1.

The ``oidc_provider`` fixture (session-scoped) makes every key and certificate
the clients need, writes the server's configuration, starts
``node tests/interop/oidc/server.mjs`` over HTTPS on a free loopback port and
yields an :class:`OidcProvider`: the URLs, the CA to trust for the server's
certificate, and one :class:`OidcClient` per way of authenticating, by name
(:data:`CLIENTS`). What the server enables and how is in ``server.mjs``.

The Node packages come from ``tests/interop/oidc/package-lock.json``, installed
by ``.ci/install_oidc_provider`` (README's set-up command runs it). Without
Node or with the packages missing or stale, the tests that use the fixture
skip, naming that script, or fail under CI (``CI=true``), where a missing
server is a broken set-up, never a reason to pass.

The JWT helpers here (:func:`sign_jwt`, :func:`public_jwk`,
:func:`jwk_thumbprint`) are for the raw interop tests, which talk to the server
without the library's code; they use ``cryptography`` alone.
"""

from __future__ import annotations

import base64
import contextlib
import datetime
import hashlib
import json
import os
import re
import secrets
import shutil
import signal
import ssl
import subprocess
import tempfile
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn

import pytest
import trustme
from cryptography import x509
from cryptography.hazmat.primitives import hashes, hmac, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.x509.oid import NameOID

__all__ = [
    "CLIENTS",
    "INSTALL_SCRIPT",
    "JWT_BEARER",
    "OIDC_DIR",
    "TOKEN_EXCHANGE",
    "OidcClient",
    "OidcProvider",
    "TrustedIssuer",
    "b64url",
    "jwk_thumbprint",
    "oidc_provider",
    "public_jwk",
    "sign_jwt",
]

OIDC_DIR = Path(__file__).resolve().parent / "interop" / "oidc"
INSTALL_SCRIPT = ".ci/install_oidc_provider"
# Written by .ci/install_oidc_provider after `npm ci`: the SHA-256 of the
# package-lock.json it installed, so a changed lock file reads as stale.
STAMP = OIDC_DIR / "node_modules" / ".sansio-auth-lock.sha256"
MIN_NODE = (18, 0)
_START_TIMEOUT = 30.0

JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
TOKEN_EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"
_GRANTS = [
    "client_credentials",
    "password",
    "refresh_token",
    JWT_BEARER,
    TOKEN_EXCHANGE,
]

# The clients, by name (the name is the client_id), and how each
# authenticates. private_key_jwt has one client per algorithm, each with one
# key and a kid; tls_client_auth one client matched by subject DN and one by
# a DNS SAN; "dpop-bound" must send a DPoP proof (dpop_bound_access_tokens).
CLIENTS: Mapping[str, str] = {
    "client-secret-basic": "client_secret_basic",
    "client-secret-post": "client_secret_post",
    "client-secret-jwt": "client_secret_jwt",
    "private-key-jwt-rs256": "private_key_jwt",
    "private-key-jwt-ps256": "private_key_jwt",
    "private-key-jwt-es256": "private_key_jwt",
    "private-key-jwt-eddsa": "private_key_jwt",
    "tls-client-auth": "tls_client_auth",
    "tls-client-auth-san": "tls_client_auth",
    "self-signed-tls-client-auth": "self_signed_tls_client_auth",
    "dpop-bound": "client_secret_post",
}

# The resources (RFC 8707) the server knows, each with the audience of its
# tokens and the scopes it accepts. A request without `resource` gets the
# default one.
_RESOURCES = {
    "https://api-a.example.test/v1": {"audience": "api-a", "scope": "read write"},
    "https://api-b.example.test/v1": {"audience": "api-b", "scope": "read"},
    "https://default.example.test/": {"audience": "default-api", "scope": "read"},
}
_DEFAULT_RESOURCE = "https://default.example.test/"


# JWTs with cryptography alone.


def b64url(data: bytes) -> str:
    """base64url without padding (RFC 7515 §2)."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64url_int(value: int) -> str:
    return b64url(value.to_bytes((value.bit_length() + 7) // 8 or 1, "big"))


def public_jwk(key: PrivateKeyTypes) -> dict[str, str]:
    """The public JWK of an RSA, EC P-256 or Ed25519 key (members only: no
    kid, alg or use)."""
    if isinstance(key, rsa.RSAPrivateKey):
        numbers = key.public_key().public_numbers()
        return {"kty": "RSA", "n": _b64url_int(numbers.n), "e": _b64url_int(numbers.e)}
    if isinstance(key, ec.EllipticCurvePrivateKey):
        if not isinstance(key.curve, ec.SECP256R1):
            raise TypeError("only P-256")
        point = key.public_key().public_numbers()
        return {
            "kty": "EC",
            "crv": "P-256",
            "x": b64url(point.x.to_bytes(32, "big")),
            "y": b64url(point.y.to_bytes(32, "big")),
        }
    if isinstance(key, ed25519.Ed25519PrivateKey):
        raw = key.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )
        return {"kty": "OKP", "crv": "Ed25519", "x": b64url(raw)}
    raise TypeError(f"unsupported key {type(key).__name__}")


def jwk_thumbprint(jwk: Mapping[str, str]) -> str:
    """RFC 7638: SHA-256 of the required members, sorted, no whitespace."""
    required = {"RSA": ("e", "kty", "n"), "EC": ("crv", "kty", "x", "y")}
    members = required.get(jwk["kty"], ("crv", "kty", "x"))
    canonical = json.dumps({name: jwk[name] for name in members}, separators=(",", ":"))
    return b64url(hashlib.sha256(canonical.encode()).digest())


def sign_jwt(
    header: Mapping[str, Any], claims: Mapping[str, Any], key: PrivateKeyTypes | bytes
) -> str:
    """A compact JWS of ``claims`` signed with ``header["alg"]``: RS256, PS256,
    ES256, EdDSA with a private key; HS256 with ``bytes``."""
    alg = header["alg"]
    signing_input = ".".join(
        b64url(json.dumps(part, separators=(",", ":")).encode())
        for part in (header, claims)
    ).encode("ascii")
    signature: bytes
    if alg == "HS256" and isinstance(key, bytes):
        mac = hmac.HMAC(key, hashes.SHA256())
        mac.update(signing_input)
        signature = mac.finalize()
    elif alg == "RS256" and isinstance(key, rsa.RSAPrivateKey):
        signature = key.sign(signing_input, padding.PKCS1v15(), hashes.SHA256())
    elif alg == "PS256" and isinstance(key, rsa.RSAPrivateKey):
        pss = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32)
        signature = key.sign(signing_input, pss, hashes.SHA256())
    elif alg == "ES256" and isinstance(key, ec.EllipticCurvePrivateKey):
        r, s = decode_dss_signature(key.sign(signing_input, ec.ECDSA(hashes.SHA256())))
        signature = r.to_bytes(32, "big") + s.to_bytes(32, "big")
    elif alg == "EdDSA" and isinstance(key, ed25519.Ed25519PrivateKey):
        signature = key.sign(signing_input)
    else:
        raise TypeError(f"cannot sign {alg} with {type(key).__name__}")
    return f"{signing_input.decode('ascii')}.{b64url(signature)}"


# What the fixture yields.


@dataclass(frozen=True, repr=False)
class OidcClient:
    """One registered client: its id, its auth method and what it
    authenticates with. The fields that do not apply to its method are None.

    ``private_key_pem`` and ``private_key_path``: the private_key_jwt key
    (PKCS #8, unencrypted), registered in the client's ``jwks`` with ``kid``
    and ``alg``. ``cert_path``, ``key_path`` and ``cert_key_path`` (both in one
    file): the TLS client certificate of tls_client_auth (issued by the
    fixture's client CA) and self_signed_tls_client_auth (self-signed,
    registered in ``jwks`` as ``x5c``).
    """

    client_id: str
    auth: str
    secret: str | None = None
    private_key_pem: bytes | None = None
    private_key_path: Path | None = None
    kid: str | None = None
    alg: str | None = None
    cert_path: Path | None = None
    key_path: Path | None = None
    cert_key_path: Path | None = None
    dpop_bound: bool = False
    certificate_bound: bool = False

    def __repr__(self) -> str:
        return f"<OidcClient {self.client_id} auth={self.auth}>"

    def private_key(self) -> PrivateKeyTypes:
        """The private_key_jwt key as a ``cryptography`` object."""
        if self.private_key_pem is None:
            raise ValueError(f"{self.client_id} has no private key")
        return serialization.load_pem_private_key(self.private_key_pem, None)

    @property
    def client_cert(self) -> tuple[str, str] | None:
        """``(cert_path, key_path)``, the adapters' ``client_cert=`` form."""
        if self.cert_path is None or self.key_path is None:
            return None
        return (str(self.cert_path), str(self.key_path))

    @property
    def certificate_thumbprint(self) -> str | None:
        """x5t#S256 of the client certificate: the ``cnf`` of a bound token."""
        if self.cert_path is None:
            return None
        cert = x509.load_pem_x509_certificate(self.cert_path.read_bytes())
        return b64url(cert.fingerprint(hashes.SHA256()))


@dataclass(frozen=True, repr=False)
class TrustedIssuer:
    """Someone whose JWTs the server accepts as a JWT bearer grant's
    ``assertion`` and as a token exchange's ``subject_token``/``actor_token``
    of type ``urn:ietf:params:oauth:token-type:jwt``: ``iss`` must be
    :attr:`issuer`, ``aud`` the server's issuer or token URL, with ``sub``,
    ``exp`` and a ``jti`` never used before."""

    issuer: str
    kid: str
    alg: str
    private_key_pem: bytes
    private_key_path: Path

    def __repr__(self) -> str:
        return f"<TrustedIssuer {self.issuer}>"

    def private_key(self) -> PrivateKeyTypes:
        return serialization.load_pem_private_key(self.private_key_pem, None)


@dataclass(frozen=True, repr=False)
class OidcProvider:
    """The running server.

    ``issuer`` is ``https://127.0.0.1:<port>``; ``token_url`` its token
    endpoint (``<issuer>/token``), which is also the audience it accepts in
    client assertions besides the issuer. ``resource_url`` is a protected
    resource (GET or POST) that checks a token as an API does (DPoP with a
    nonce of its own and ``ath``; the certificate a token is bound to) and
    answers its claims as JSON. ``ca`` is the trustme CA of the server's
    certificate (``ca_path``: its PEM); :meth:`ssl_context` trusts it, and
    carries a client's certificate when given one. ``resources``: each
    resource URI the server knows, with the ``aud`` of its tokens;
    ``default_resource`` is the one used when a request names none.
    ``username`` and ``password``: the resource owner of the password grant,
    whose answer carries a refresh token (rotated at each refresh).
    """

    issuer: str
    token_url: str
    jwks_url: str
    introspection_url: str
    revocation_url: str
    resource_url: str
    ca: trustme.CA
    ca_path: Path
    client_ca_path: Path
    clients: Mapping[str, OidcClient]
    resources: Mapping[str, str]
    default_resource: str
    trusted_issuer: TrustedIssuer
    username: str
    password: str
    _stderr_path: Path = field(compare=False)

    def __repr__(self) -> str:
        return f"<OidcProvider {self.issuer}>"

    def client(self, name: str) -> OidcClient:
        return self.clients[name]

    def ssl_context(self, client: OidcClient | None = None) -> ssl.SSLContext:
        """A client-side context that trusts the server (and only it), with
        ``client``'s certificate on the connection when it has one."""
        context = ssl.create_default_context()
        context.load_verify_locations(cafile=str(self.ca_path))
        if client is not None and client.client_cert is not None:
            context.load_cert_chain(*client.client_cert)
        return context

    @property
    def log(self) -> str:
        """The server's stderr: one line per request it refused, with
        oidc-provider's reason (for failure messages)."""
        return self._stderr_path.read_text(errors="replace")


# Finding Node and the packages.


def _missing(message: str) -> NoReturn:
    full = f"{message}: the oidc-provider interop tests need it (run {INSTALL_SCRIPT})"
    if os.environ.get("CI") == "true":
        pytest.fail(full, pytrace=False)
    pytest.skip(full)


def _node() -> str:
    node = shutil.which("node")
    if node is None:
        _missing(f"node (Node.js {MIN_NODE[0]}.{MIN_NODE[1]} or later) is not on PATH")
    version = subprocess.run(
        [node, "--version"], capture_output=True, text=True, check=False, timeout=30
    ).stdout.strip()
    match = re.fullmatch(r"v(\d+)\.(\d+)\.\d+.*", version)
    if match is None or (int(match[1]), int(match[2])) < MIN_NODE:
        _missing(f"node {version or '?'} is older than {MIN_NODE[0]}.{MIN_NODE[1]}")
    lock = hashlib.sha256((OIDC_DIR / "package-lock.json").read_bytes()).hexdigest()
    stamp = STAMP.read_text().strip() if STAMP.exists() else None
    if stamp != lock:
        what = "missing" if stamp is None else "stale (package-lock.json changed)"
        _missing(f"tests/interop/oidc/node_modules is {what}")
    return node


# Keys and certificates.


def _pem(key: PrivateKeyTypes) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _write(path: Path, data: bytes) -> Path:
    # Keys and the configuration (client secrets) are for this user alone.
    with open(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "wb") as f:
        f.write(data)
    return path


def _self_signed(key: ec.EllipticCurvePrivateKey, name: str) -> x509.Certificate:
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=2))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.CLIENT_AUTH]),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )


def _private_key_jwt(directory: Path, name: str, alg: str) -> OidcClient:
    key: PrivateKeyTypes
    if alg in ("RS256", "PS256"):
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    elif alg == "ES256":
        key = ec.generate_private_key(ec.SECP256R1())
    else:
        key = ed25519.Ed25519PrivateKey.generate()
    pem = _pem(key)
    return OidcClient(
        client_id=name,
        auth="private_key_jwt",
        private_key_pem=pem,
        private_key_path=_write(directory / f"{name}.key.pem", pem),
        kid=f"{name}-key-1",
        alg=alg,
    )


def _tls_leaf(
    directory: Path, name: str, cert_pem: bytes, key_pem: bytes, auth: str
) -> OidcClient:
    return OidcClient(
        client_id=name,
        auth=auth,
        cert_path=_write(directory / f"{name}.cert.pem", cert_pem),
        key_path=_write(directory / f"{name}.key.pem", key_pem),
        cert_key_path=_write(directory / f"{name}.pem", cert_pem + key_pem),
        certificate_bound=True,
    )


def _make_clients(
    directory: Path, client_ca: trustme.CA
) -> tuple[dict[str, OidcClient], list[dict[str, Any]]]:
    """The clients, and their registrations (oidc-provider client metadata)."""
    made: dict[str, OidcClient] = {}
    registered: list[dict[str, Any]] = []
    for name, auth in CLIENTS.items():
        metadata: dict[str, Any] = {
            "client_id": name,
            "token_endpoint_auth_method": auth,
            "grant_types": _GRANTS,
            "response_types": [],
            "redirect_uris": [],
        }
        client: OidcClient
        if auth.startswith("client_secret_"):
            secret = secrets.token_urlsafe(32)
            client = OidcClient(client_id=name, auth=auth, secret=secret)
            metadata["client_secret"] = secret
            if auth == "client_secret_jwt":
                metadata["token_endpoint_auth_signing_alg"] = "HS256"
            if name == "dpop-bound":
                client = OidcClient(
                    client_id=name, auth=auth, secret=secret, dpop_bound=True
                )
                metadata["dpop_bound_access_tokens"] = True
        elif auth == "private_key_jwt":
            alg = {"rs256": "RS256", "ps256": "PS256", "es256": "ES256"}.get(
                name.rsplit("-", 1)[1], "EdDSA"
            )
            client = _private_key_jwt(directory, name, alg)
            jwk = public_jwk(client.private_key())
            metadata["jwks"] = {
                "keys": [{**jwk, "kid": client.kid, "alg": alg, "use": "sig"}]
            }
            metadata["token_endpoint_auth_signing_alg"] = alg
        elif auth == "tls_client_auth":
            leaf = client_ca.issue_cert(
                f"{name}.clients.example.test",
                common_name=name,
                organization_name="sansio-auth tests",
                organization_unit_name="interop",
            )
            cert_pem = leaf.cert_chain_pems[0].bytes()
            client = _tls_leaf(
                directory, name, cert_pem, leaf.private_key_pem.bytes(), auth
            )
            if name == "tls-client-auth-san":
                metadata["tls_client_auth_san_dns"] = f"{name}.clients.example.test"
            else:
                subject = x509.load_pem_x509_certificate(cert_pem).subject
                metadata["tls_client_auth_subject_dn"] = subject.rfc4514_string()
            metadata["tls_client_certificate_bound_access_tokens"] = True
        else:  # self_signed_tls_client_auth
            key = ec.generate_private_key(ec.SECP256R1())
            cert = _self_signed(key, name)
            cert_pem = cert.public_bytes(serialization.Encoding.PEM)
            client = _tls_leaf(directory, name, cert_pem, _pem(key), auth)
            der = cert.public_bytes(serialization.Encoding.DER)
            x5c = [base64.b64encode(der).decode("ascii")]
            metadata["jwks"] = {"keys": [{**public_jwk(key), "x5c": x5c}]}
            metadata["tls_client_certificate_bound_access_tokens"] = True
        made[name] = client
        registered.append(metadata)
    return made, registered


def _trusted_issuer(directory: Path) -> TrustedIssuer:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = _pem(key)
    return TrustedIssuer(
        issuer="https://workload.example.test",
        kid="workload-key-1",
        alg="RS256",
        private_key_pem=pem,
        private_key_path=_write(directory / "workload.key.pem", pem),
    )


# The process.


def _wait_ready(process: subprocess.Popen[bytes], stdout: Path, stderr: Path) -> int:
    deadline = time.monotonic() + _START_TIMEOUT
    while time.monotonic() < deadline:
        match = re.search(r"^READY (\d+)$", stdout.read_text(), re.MULTILINE)
        if match is not None:
            return int(match[1])
        if process.poll() is not None:
            break
        time.sleep(0.05)
    state = (
        f"exited with {process.returncode}"
        if process.poll() is not None
        else f"not ready after {_START_TIMEOUT:.0f} s"
    )
    raise RuntimeError(
        f"oidc-provider (node server.mjs) {state}; its stderr:\n"
        f"{stderr.read_text(errors='replace')}"
    )


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)


@contextlib.contextmanager
def running_oidc_provider() -> Iterator[OidcProvider]:
    """Start oidc-provider with fresh clients, keys and certificates; stop it
    and delete them all on exit."""
    node = _node()
    directory = Path(tempfile.mkdtemp(prefix="sansio-auth-oidc-"))
    process: subprocess.Popen[bytes] | None = None
    try:
        server_ca = trustme.CA(organization_name="sansio-auth oidc-provider CA")
        client_ca = trustme.CA(organization_name="sansio-auth mTLS client CA")
        server_cert = server_ca.issue_cert("127.0.0.1")
        ca_path = _write(directory / "server-ca.pem", server_ca.cert_pem.bytes())
        client_ca_path = _write(directory / "client-ca.pem", client_ca.cert_pem.bytes())
        clients, registered = _make_clients(directory, client_ca)
        trusted = _trusted_issuer(directory)
        username, password = "alice", secrets.token_urlsafe(16)
        trusted_jwk = public_jwk(trusted.private_key())
        config = {
            "tls": {
                "cert": str(
                    _write(
                        directory / "server.cert.pem",
                        b"".join(p.bytes() for p in server_cert.cert_chain_pems),
                    )
                ),
                "key": str(
                    _write(
                        directory / "server.key.pem",
                        server_cert.private_key_pem.bytes(),
                    )
                ),
                "client_ca": str(client_ca_path),
            },
            "clients": registered,
            "resources": _RESOURCES,
            "default_resource": _DEFAULT_RESOURCE,
            "users": {username: password},
            "trusted_issuers": {
                trusted.issuer: {
                    "keys": [{**trusted_jwk, "kid": trusted.kid, "alg": trusted.alg}]
                }
            },
        }
        config_path = _write(directory / "config.json", json.dumps(config).encode())
        stdout, stderr = directory / "stdout.log", directory / "stderr.log"
        with stdout.open("wb") as out, stderr.open("wb") as err:
            process = subprocess.Popen(
                [node, "server.mjs", str(config_path), "0"],
                cwd=OIDC_DIR,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=err,
            )
        port = _wait_ready(process, stdout, stderr)
        issuer = f"https://127.0.0.1:{port}"
        yield OidcProvider(
            issuer=issuer,
            token_url=f"{issuer}/token",
            jwks_url=f"{issuer}/jwks",
            introspection_url=f"{issuer}/token/introspection",
            revocation_url=f"{issuer}/token/revocation",
            resource_url=f"{issuer}/api/resource",
            ca=server_ca,
            ca_path=ca_path,
            client_ca_path=client_ca_path,
            clients=clients,
            resources={uri: str(info["audience"]) for uri, info in _RESOURCES.items()},
            default_resource=_DEFAULT_RESOURCE,
            trusted_issuer=trusted,
            username=username,
            password=password,
            _stderr_path=stderr,
        )
    finally:
        if process is not None:
            _stop(process)
        shutil.rmtree(directory, ignore_errors=True)


# The fixture, registered by tests/conftest.py (pytest_plugins).


@pytest.fixture(scope="session")
def oidc_provider() -> Iterator[OidcProvider]:
    """oidc-provider, running for the whole session."""
    with running_oidc_provider() as provider:
        yield provider
