"""``sansio-auth token`` with signed requests and bound tokens: a key file for
private_key_jwt (encrypted or not), client_secret_jwt, an assertion file, a
client certificate, resource indicators and DPoP, against the local token
server (which verifies each strictly and records what it got) and
oidc-provider (in a subprocess, as a user runs it); and the refusals: a key,
a PEM or a JWT put on the command line itself, missing or unfit files, and
options that do not go together, each named without a byte of any secret.
"""

from __future__ import annotations

import base64
import io
import json
import os
import ssl
import subprocess
import sys
import time
import urllib.parse
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Protocol

import attrs
import jwt
import pytest
import trustme
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from oidc_provider import OidcProvider

from sansio_auth import DPoPKey
from sansio_auth.adapters import cli
from sansio_auth.adapters.server import (
    Credentials,
    RecordedRequest,
    RegisteredClient,
    TokenServer,
)

RSA_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
ED_KEY = ed25519.Ed25519PrivateKey.generate()
LONG_SECRET = "generic-client-secret-of-at-least-32-bytes"
KEY_PASSWORD = "key-password-7Qz"
WRONG = "wrong-secret-value-5f3a"
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
RESOURCE_A = "https://api-a.example.test/v1"
RESOURCE_B = "https://api-b.example.test/v1"


def pem(key: Any, password: str | None = None) -> bytes:
    encryption: serialization.KeySerializationEncryption = (
        serialization.NoEncryption()
        if password is None
        else serialization.BestAvailableEncryption(password.encode())
    )
    data: bytes = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption
    )
    return data


def key_body(data: bytes) -> list[str]:
    """The base64 lines of a PEM: none may show in any output."""
    return [line for line in data.decode().splitlines() if not line.startswith("-")]


@attrs.frozen
class Run:
    code: int
    out: str
    err: str


class _Stdin(io.StringIO):
    def __init__(self, tty: bool) -> None:
        super().__init__()
        self._tty = tty

    def isatty(self) -> bool:
        return self._tty


class Runner(Protocol):
    def __call__(
        self,
        *argv: str,
        env: dict[str, str] | None = None,
        tty: bool = False,
        prompt: str | None = None,
    ) -> Run: ...


@pytest.fixture
def run(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Runner:
    def runner(
        *argv: str,
        env: dict[str, str] | None = None,
        tty: bool = False,
        prompt: str | None = None,
    ) -> Run:
        for secret in cli.SECRETS:
            monkeypatch.delenv(secret.env, raising=False)
        for name, value in (env or {}).items():
            monkeypatch.setenv(name, value)
        monkeypatch.setattr(sys, "stdin", _Stdin(tty))
        asked: list[str] = []

        def fake_prompt(text: str) -> str:
            asked.append(text)
            if prompt is None:
                raise EOFError
            return prompt

        monkeypatch.setattr("getpass.getpass", fake_prompt)
        code = cli.main(list(argv))
        captured = capsys.readouterr()
        return Run(code, captured.out, captured.err)

    return runner


@pytest.fixture(scope="module")
def server() -> Iterator[TokenServer]:
    credentials = Credentials(
        clients=(
            RegisteredClient(
                client_id="rsa-client", public_key=RSA_KEY.public_key(), key_id="rsa-1"
            ),
            RegisteredClient(client_id="ed-client", public_key=ED_KEY.public_key()),
        ),
        generic_client_secret=LONG_SECRET,
    )
    with TokenServer(credentials=credentials, dpop_nonce=True) as running:
        yield running


@pytest.fixture(autouse=True)
def _fresh(request: pytest.FixtureRequest) -> None:
    for name in ("server", "tls_server"):
        if name in request.fixturenames:
            request.getfixturevalue(name).clear()


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    made = {
        "rsa": tmp_path / "rsa.pem",
        "rsa-encrypted": tmp_path / "rsa-encrypted.pem",
        "ed": tmp_path / "ed.pem",
        "dpop": tmp_path / "dpop.pem",
        "not-a-key": tmp_path / "not-a-key.pem",
    }
    made["rsa"].write_bytes(pem(RSA_KEY))
    made["rsa-encrypted"].write_bytes(pem(RSA_KEY, KEY_PASSWORD))
    made["ed"].write_bytes(pem(ED_KEY))
    made["dpop"].write_bytes(pem(ec.generate_private_key(ec.SECP256R1())))
    made["not-a-key"].write_text(f"-----BEGIN NOTHING-----\n{WRONG}\n")
    for path in made.values():
        path.chmod(0o600)
    return made


def generic(server: TokenServer, client_id: str, *more: str) -> list[str]:
    return [
        "token",
        "--provider",
        "client-credentials",
        "--token-url",
        server.generic_token_url,
        "--client-id",
        client_id,
        *more,
    ]


def printed(result: Run) -> dict[str, Any]:
    assert result.code == cli.EXIT_OK, result.err
    body: dict[str, Any] = json.loads(result.out)
    return body


def fields(request: RecordedRequest) -> list[tuple[str, str]]:
    return urllib.parse.parse_qsl(request.body.decode(), keep_blank_values=True)


def field(request: RecordedRequest, name: str) -> str:
    values = [value for key, value in fields(request) if key == name]
    assert len(values) == 1, (name, values)
    return values[0]


def last_request(server: TokenServer) -> RecordedRequest:
    return server.token_requests("generic")[-1]


def assert_no_secret(result: Run, *secrets: str) -> None:
    for text in (result.out, result.err):
        for secret in (WRONG, KEY_PASSWORD, LONG_SECRET, *secrets):
            assert secret not in text


# -- private_key_jwt from a key file -------------------------------------------


@pytest.mark.parametrize("adapter", cli.ADAPTERS)
def test_private_key_jwt_from_a_key_file(
    server: TokenServer, run: Runner, files: dict[str, Path], adapter: str
) -> None:
    argv = generic(
        server,
        "rsa-client",
        "--private-key-file",
        str(files["rsa"]),
        "--key-id",
        "rsa-1",
        "--algorithm",
        "PS256",
        "--adapter",
        adapter,
    )
    # A client secret in the environment is not read for a key's method.
    result = run(*argv, env={"SANSIO_AUTH_CLIENT_SECRET": WRONG})
    token = printed(result)
    claims = server.verify(token["access_token"])
    assert claims is not None
    assert claims["client_id"] == "rsa-client"
    request = last_request(server)
    assert [name for name, _ in fields(request)] == [
        "grant_type",
        "client_id",
        "client_assertion_type",
        "client_assertion",
    ]
    assertion = field(request, "client_assertion")
    assert jwt.get_unverified_header(assertion) == {
        "alg": "PS256",
        "typ": "JWT",
        "kid": "rsa-1",
    }
    jwt.decode(
        assertion,
        RSA_KEY.public_key(),
        algorithms=["PS256"],
        audience=server.generic_token_url,
    )
    assert WRONG not in request.body.decode()
    assert_no_secret(result)


def test_an_encrypted_key_with_its_password_from_the_environment(
    server: TokenServer, run: Runner, files: dict[str, Path]
) -> None:
    argv = generic(
        server,
        "rsa-client",
        "--auth",
        "private_key_jwt",
        "--private-key-file",
        str(files["rsa-encrypted"]),
    )
    result = run(*argv, env={"SANSIO_AUTH_PRIVATE_KEY_PASSWORD": KEY_PASSWORD})
    printed(result)
    assert_no_secret(result)


def test_an_encrypted_keys_password_from_a_prompt(
    server: TokenServer, run: Runner, files: dict[str, Path]
) -> None:
    argv = generic(
        server, "rsa-client", "--private-key-file", str(files["rsa-encrypted"])
    )
    printed(run(*argv, tty=True, prompt=KEY_PASSWORD))


def test_an_encrypted_key_without_its_password_names_the_variable(
    server: TokenServer, run: Runner, files: dict[str, Path]
) -> None:
    argv = generic(
        server, "rsa-client", "--private-key-file", str(files["rsa-encrypted"])
    )
    result = run(*argv)
    assert result.code == cli.EXIT_USAGE
    assert "SANSIO_AUTH_PRIVATE_KEY_PASSWORD" in result.err
    assert server.token_requests() == []


def test_a_wrong_password_is_named_as_such_and_not_shown(
    server: TokenServer, run: Runner, files: dict[str, Path]
) -> None:
    argv = generic(
        server, "rsa-client", "--private-key-file", str(files["rsa-encrypted"])
    )
    result = run(*argv, env={"SANSIO_AUTH_PRIVATE_KEY_PASSWORD": WRONG})
    assert result.code == cli.EXIT_USAGE
    assert "password" in result.err
    assert str(files["rsa-encrypted"]) in result.err
    assert_no_secret(result, *key_body(files["rsa-encrypted"].read_bytes()))


def test_a_key_the_server_does_not_know_is_rejected(
    server: TokenServer, run: Runner, files: dict[str, Path]
) -> None:
    result = run(
        *generic(server, "ed-client", "--private-key-file", str(files["dpop"]))
    )
    assert result.code == cli.EXIT_REJECTED
    assert "invalid_client" in result.err
    assert_no_secret(result, *key_body(files["dpop"].read_bytes()))
    server.clear()


# -- client_secret_jwt, an assertion file, resources ---------------------------


def test_client_secret_jwt_with_the_issuer_as_audience(
    server: TokenServer, run: Runner
) -> None:
    argv = generic(
        server,
        server.credentials.generic_client_id,
        "--auth",
        "client_secret_jwt",
        "--assertion-audience",
        server.issuer,
    )
    printed(run(*argv, env={"SANSIO_AUTH_CLIENT_SECRET": LONG_SECRET}))
    assertion = field(last_request(server), "client_assertion")
    jwt.decode(
        assertion, LONG_SECRET.encode(), algorithms=["HS256"], audience=server.issuer
    )
    assert LONG_SECRET not in last_request(server).body.decode()


def test_a_client_assertion_file(
    server: TokenServer, run: Runner, tmp_path: Path
) -> None:
    now = int(time.time())
    assertion = jwt.encode(
        {
            "iss": "ed-client",
            "sub": "ed-client",
            "aud": server.generic_token_url,
            "jti": uuid.uuid4().hex,
            "iat": now,
            "exp": now + 60,
        },
        ED_KEY,
        algorithm="EdDSA",
    )
    path = tmp_path / "token"
    path.write_text(assertion + "\n")
    result = run(*generic(server, "ed-client", "--client-assertion-file", str(path)))
    printed(result)
    assert field(last_request(server), "client_assertion") == assertion
    assert assertion not in result.err


def test_resources_repeated(server: TokenServer, run: Runner) -> None:
    argv = generic(
        server,
        server.credentials.generic_client_id,
        "--resource",
        RESOURCE_A,
        "--resource",
        RESOURCE_B,
    )
    token = printed(run(*argv, env={"SANSIO_AUTH_CLIENT_SECRET": LONG_SECRET}))
    claims = server.verify(token["access_token"])
    assert claims is not None
    assert claims["aud"] == [RESOURCE_A, RESOURCE_B]
    sent = [v for k, v in fields(last_request(server)) if k == "resource"]
    assert sent == [RESOURCE_A, RESOURCE_B]


# -- DPoP ----------------------------------------------------------------------


@pytest.mark.parametrize("adapter", cli.ADAPTERS)
@pytest.mark.parametrize("attempts", [None, "2"])
def test_dpop_with_a_fresh_key_answers_the_nonce(
    server: TokenServer,
    run: Runner,
    files: dict[str, Path],
    adapter: str,
    attempts: str | None,
) -> None:
    argv = generic(
        server,
        "ed-client",
        "--private-key-file",
        str(files["ed"]),
        "--dpop",
        "--adapter",
        adapter,
        *(["--attempts", attempts] if attempts else []),
    )
    token = printed(run(*argv))
    assert token["token_type"] == "DPoP"
    requests = server.token_requests("generic")
    assert len(requests) == 2
    assert server.dpop_nonce_challenges == 1
    proof = jwt.decode(
        requests[1].header("DPoP") or "", options={"verify_signature": False}
    )
    assert proof["nonce"] == server.dpop_nonce
    server.clear()


def test_dpop_with_a_key_file_binds_to_that_key(
    server: TokenServer, run: Runner, files: dict[str, Path]
) -> None:
    argv = generic(
        server,
        server.credentials.generic_client_id,
        "--dpop-key-file",
        str(files["dpop"]),
        "--output",
        "bare",
    )
    result = run(*argv, env={"SANSIO_AUTH_CLIENT_SECRET": LONG_SECRET})
    assert result.code == cli.EXIT_OK, result.err
    claims = server.verify(result.out.strip())
    assert claims is not None
    assert claims["cnf"] == {"jkt": DPoPKey(files["dpop"].read_bytes()).jkt}
    server.clear()


def test_dpop_output_header_names_the_dpop_scheme(
    server: TokenServer, run: Runner
) -> None:
    argv = generic(
        server,
        server.credentials.generic_client_id,
        "--dpop",
        "--output",
        "header",
    )
    result = run(*argv, env={"SANSIO_AUTH_CLIENT_SECRET": LONG_SECRET})
    assert result.code == cli.EXIT_OK, result.err
    assert result.out.startswith("Authorization: DPoP ")
    server.clear()


def test_the_password_grant_takes_the_signed_options(
    server: TokenServer, run: Runner, files: dict[str, Path]
) -> None:
    c = server.credentials
    argv = [
        "token",
        "--provider",
        "password",
        "--token-url",
        server.generic_token_url,
        "--username",
        c.generic_username,
        "--client-id",
        "ed-client",
        "--private-key-file",
        str(files["ed"]),
        "--resource",
        RESOURCE_A,
        "--dpop",
    ]
    token = printed(run(*argv, env={"SANSIO_AUTH_PASSWORD": c.generic_password}))
    assert token["token_type"] == "DPoP"
    assert token["has_refresh_token"] is True
    server.clear()


# -- mutual TLS ----------------------------------------------------------------

SERVER_CA = trustme.CA()
CLIENT_CA = trustme.CA()
LEAF = CLIENT_CA.issue_cert("svc.clients.example.test")


@pytest.fixture(scope="module")
def tls_server() -> Iterator[TokenServer]:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    SERVER_CA.issue_cert("127.0.0.1").configure_cert(context)
    credentials = Credentials(
        clients=(
            RegisteredClient(
                client_id="dns-client",
                tls_client_auth_san_dns="svc.clients.example.test",
            ),
        )
    )
    with TokenServer(
        ssl_context=context,
        client_ca=CLIENT_CA.cert_pem.bytes(),
        credentials=credentials,
    ) as running:
        yield running


@pytest.fixture
def trust_server_ca(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The command line verifies with the system trust store, which
    # SSL_CERT_FILE replaces; a context with a client certificate is made
    # per run, so it reads the variable now.
    path = tmp_path / "server-ca.pem"
    SERVER_CA.cert_pem.write_to_path(str(path))
    monkeypatch.setenv("SSL_CERT_FILE", str(path))


@pytest.mark.parametrize("layout", ["cert and key", "one file", "encrypted key"])
@pytest.mark.usefixtures("trust_server_ca")
def test_tls_client_auth_with_a_client_certificate(
    tls_server: TokenServer, run: Runner, tmp_path: Path, layout: str
) -> None:
    cert = tmp_path / "cert.pem"
    key = tmp_path / "key.pem"
    cert.write_bytes(LEAF.cert_chain_pems[0].bytes())
    key_pem = LEAF.private_key_pem.bytes()
    env = {}
    if layout == "encrypted key":
        loaded = serialization.load_pem_private_key(key_pem, None)
        key_pem = pem(loaded, KEY_PASSWORD)
        env["SANSIO_AUTH_CLIENT_KEY_PASSWORD"] = KEY_PASSWORD
    if layout == "one file":
        cert.write_bytes(key_pem + LEAF.cert_chain_pems[0].bytes())
        cert_args = ["--client-cert", str(cert)]
    else:
        key.write_bytes(key_pem)
        cert_args = ["--client-cert", str(cert), "--client-key", str(key)]
    argv = generic(tls_server, "dns-client", "--auth", "tls_client_auth", *cert_args)
    token = printed(run(*argv, env=env))
    claims = tls_server.verify(token["access_token"])
    assert claims is not None
    leaf = x509.load_pem_x509_certificate(LEAF.cert_chain_pems[0].bytes())
    thumbprint = base64.urlsafe_b64encode(leaf.fingerprint(hashes.SHA256()))
    assert claims["cnf"] == {"x5t#S256": thumbprint.rstrip(b"=").decode()}
    assert fields(last_request(tls_server)) == [
        ("grant_type", "client_credentials"),
        ("client_id", "dns-client"),
    ]


@pytest.mark.usefixtures("trust_server_ca")
def test_an_encrypted_client_key_without_its_password_is_refused(
    tls_server: TokenServer, run: Runner, tmp_path: Path
) -> None:
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert.write_bytes(LEAF.cert_chain_pems[0].bytes())
    loaded = serialization.load_pem_private_key(LEAF.private_key_pem.bytes(), None)
    key.write_bytes(pem(loaded, KEY_PASSWORD))
    argv = generic(
        tls_server,
        "dns-client",
        "--auth",
        "tls_client_auth",
        "--client-cert",
        str(cert),
        "--client-key",
        str(key),
    )
    # No terminal, no variable: refused, and OpenSSL never asks on its own.
    result = run(*argv)
    assert result.code == cli.EXIT_USAGE
    assert "SANSIO_AUTH_CLIENT_KEY_PASSWORD" in result.err
    wrong = run(*argv, env={"SANSIO_AUTH_CLIENT_KEY_PASSWORD": WRONG})
    assert wrong.code == cli.EXIT_USAGE
    assert str(cert) in wrong.err
    assert_no_secret(wrong)
    assert tls_server.token_requests() == []


# -- refusals ------------------------------------------------------------------


def test_a_key_given_inline_is_refused_unshown(
    server: TokenServer, run: Runner, files: dict[str, Path]
) -> None:
    inline = files["rsa"].read_text()
    for option in ("--private-key-file", "--dpop-key-file", "--client-cert"):
        extra = ["--auth", "tls_client_auth"] if option == "--client-cert" else []
        result = run(*generic(server, "rsa-client", *extra, option, inline))
        assert result.code == cli.EXIT_USAGE
        assert f"{option} takes the path of a file" in result.err
        assert "looks like a PEM" in result.err
        assert result.err.count("\n") == 1
        assert_no_secret(result, *key_body(inline.encode()))
    assert server.token_requests() == []


def test_an_assertion_given_inline_is_refused_unshown(
    server: TokenServer, run: Runner
) -> None:
    assertion = jwt.encode({"sub": WRONG}, LONG_SECRET, algorithm="HS256")
    result = run(*generic(server, "ed-client", "--client-assertion-file", assertion))
    assert result.code == cli.EXIT_USAGE
    assert "looks like a JWT" in result.err
    assert assertion not in result.err
    assert assertion.split(".")[1] not in result.err


@pytest.mark.parametrize("option", ["--private-key-file", "--client-assertion-file"])
def test_a_missing_file_is_named_without_content(
    server: TokenServer, run: Runner, tmp_path: Path, option: str
) -> None:
    missing = tmp_path / "nowhere.pem"
    result = run(*generic(server, "ed-client", option, str(missing)))
    assert result.code == cli.EXIT_USAGE
    assert str(missing) in result.err
    assert "No such file" in result.err


@pytest.mark.parametrize("option", ["--private-key-file", "--client-assertion-file"])
@pytest.mark.parametrize("kind", ["directory", "fifo"])
def test_a_file_that_is_not_regular_is_refused_without_blocking(
    server: TokenServer, run: Runner, tmp_path: Path, option: str, kind: str
) -> None:
    path = tmp_path / "special"
    if kind == "directory":
        path.mkdir()
    else:
        os.mkfifo(path)
    result = run(*generic(server, "ed-client", option, str(path)))
    assert result.code == cli.EXIT_USAGE
    assert "not a regular file" in result.err


def test_a_file_that_is_no_key_is_refused_unshown(
    server: TokenServer, run: Runner, files: dict[str, Path]
) -> None:
    result = run(
        *generic(server, "ed-client", "--private-key-file", str(files["not-a-key"]))
    )
    assert result.code == cli.EXIT_USAGE
    assert "is not a PEM private key" in result.err
    assert str(files["not-a-key"]) in result.err
    assert_no_secret(result)


def test_an_empty_assertion_file_is_refused(
    server: TokenServer, run: Runner, tmp_path: Path
) -> None:
    path = tmp_path / "token"
    path.write_text("\n")
    result = run(*generic(server, "ed-client", "--client-assertion-file", str(path)))
    assert result.code == cli.EXIT_USAGE
    assert "is empty" in result.err


@pytest.mark.parametrize(
    ("extra", "says"),
    [
        (["--key-id", "k"], "--key-id needs --private-key-file"),
        (["--algorithm", "ES256"], "--algorithm needs --private-key-file"),
        (["--auth", "private_key_jwt"], "needs --private-key-file or"),
        (
            ["--auth", "post", "--private-key-file", "/k.pem"],
            "--private-key-file needs --auth private_key_jwt",
        ),
        (
            ["--private-key-file", "/k.pem", "--client-assertion-file", "/t"],
            "not both",
        ),
        (["--auth", "tls_client_auth"], "--auth tls_client_auth needs --client-cert"),
        (["--client-key", "/k.pem"], "--client-key needs --client-cert"),
        (["--dpop", "--dpop-key-file", "/k.pem"], "--dpop or --dpop-key-file"),
        (["--assertion-audience", "https://x/"], "--assertion-audience needs"),
        (
            [
                "--client-assertion-file",
                "/t",
                "--assertion-audience",
                "https://x/",
            ],
            "--assertion-audience needs",
        ),
        (["--auth", "nope"], "invalid choice"),
        (["--algorithm", "HS256"], "invalid choice"),
    ],
)
def test_options_that_do_not_go_together(
    server: TokenServer, run: Runner, extra: list[str], says: str
) -> None:
    env = {s.env: WRONG for s in cli.SECRETS}
    result = run(*generic(server, "ed-client", *extra), env=env)
    assert result.code == cli.EXIT_USAGE
    assert says in result.err
    assert result.err.count("\n") == 1
    assert_no_secret(result)
    assert server.token_requests() == []


def test_signed_options_need_a_client_id(server: TokenServer, run: Runner) -> None:
    c = server.credentials
    result = run(
        "token",
        "--provider",
        "password",
        "--token-url",
        server.generic_token_url,
        "--username",
        c.generic_username,
        "--auth",
        "client_secret_jwt",
        env={"SANSIO_AUTH_PASSWORD": WRONG, "SANSIO_AUTH_CLIENT_SECRET": WRONG},
    )
    assert result.code == cli.EXIT_USAGE
    assert "--auth client_secret_jwt needs --client-id" in result.err


@pytest.mark.parametrize(
    "extra",
    [["--dpop"], ["--resource", RESOURCE_A], ["--private-key-file", "/k.pem"]],
)
def test_vendor_providers_take_no_signed_options(run: Runner, extra: list[str]) -> None:
    result = run(
        "token", "--provider", "smartway", *extra, env={"SANSIO_AUTH_API_KEY": WRONG}
    )
    assert result.code == cli.EXIT_USAGE
    assert "does not apply to --provider smartway" in result.err


def test_help_names_the_new_options_and_their_variables(run: Runner) -> None:
    result = run("token", "--help")
    assert result.code == 0
    for option in (
        "--private-key-file",
        "--key-id",
        "--algorithm",
        "--client-assertion-file",
        "--assertion-audience",
        "--client-cert",
        "--client-key",
        "--resource",
        "--dpop",
        "--dpop-key-file",
        "private_key_jwt",
        "self_signed_tls_client_auth",
        "SANSIO_AUTH_PRIVATE_KEY_PASSWORD",
        "SANSIO_AUTH_DPOP_KEY_PASSWORD",
        "SANSIO_AUTH_CLIENT_KEY_PASSWORD",
    ):
        assert option in result.out, option


# -- oidc-provider, as a user runs the command ---------------------------------


def sansio_auth(
    op: OidcProvider, *argv: str, **env: str
) -> subprocess.CompletedProcess[str]:
    """The command in a process of its own, trusting oidc-provider's CA."""
    environment = {
        k: v for k, v in os.environ.items() if not k.startswith("SANSIO_AUTH_")
    }
    environment.update(env, SSL_CERT_FILE=str(op.ca_path))
    # The installed command, run away from the checkout, whose sansio_auth/
    # (with no adapters) would shadow the installed package.
    command = str(Path(sys.executable).parent / "sansio-auth")
    return subprocess.run(
        [command, "token", *argv],
        capture_output=True,
        text=True,
        env=environment,
        cwd=op.ca_path.parent,
        stdin=subprocess.DEVNULL,
        timeout=60,
        check=False,
    )


def access_claims(out: str) -> dict[str, Any]:
    token = json.loads(out)
    claims: dict[str, Any] = jwt.decode(
        token["access_token"], options={"verify_signature": False}
    )
    return claims


def test_oidc_provider_private_key_jwt_with_dpop(oidc_provider: OidcProvider) -> None:
    op = oidc_provider
    c = op.client("private-key-jwt-ps256")
    done = sansio_auth(
        op,
        "--provider",
        "client-credentials",
        "--token-url",
        op.token_url,
        "--client-id",
        c.client_id,
        "--private-key-file",
        str(c.private_key_path),
        "--key-id",
        c.kid or "",
        "--algorithm",
        "PS256",
        "--assertion-audience",
        op.issuer,
        "--dpop",
        "--adapter",
        "anyio",
    )
    assert done.returncode == 0, done.stderr + op.log
    assert json.loads(done.stdout)["token_type"] == "DPoP"
    assert access_claims(done.stdout)["client_id"] == c.client_id


@pytest.mark.parametrize("name", ["tls-client-auth", "self-signed-tls-client-auth"])
def test_oidc_provider_mtls(oidc_provider: OidcProvider, name: str) -> None:
    op = oidc_provider
    c = op.client(name)
    done = sansio_auth(
        op,
        "--provider",
        "client-credentials",
        "--token-url",
        op.token_url,
        "--client-id",
        c.client_id,
        "--auth",
        c.auth,
        "--client-cert",
        str(c.cert_path),
        "--client-key",
        str(c.key_path),
        "--resource",
        next(uri for uri in op.resources if op.resources[uri] == "api-b"),
    )
    assert done.returncode == 0, done.stderr + op.log
    claims = access_claims(done.stdout)
    assert claims["cnf"] == {"x5t#S256": c.certificate_thumbprint}
    assert claims["aud"] == "api-b"


def test_oidc_provider_client_secret_jwt(oidc_provider: OidcProvider) -> None:
    op = oidc_provider
    c = op.client("client-secret-jwt")
    assert c.secret is not None
    done = sansio_auth(
        op,
        "--provider",
        "client-credentials",
        "--token-url",
        op.token_url,
        "--client-id",
        c.client_id,
        "--auth",
        "client_secret_jwt",
        "--output",
        "header",
        SANSIO_AUTH_CLIENT_SECRET=c.secret,
    )
    assert done.returncode == 0, done.stderr + op.log
    assert done.stdout.startswith("Authorization: Bearer ")
    assert c.secret not in done.stdout + done.stderr


# -- what a run with a key of its own leaves behind ------------------------------


def test_dpop_says_its_token_dies_with_the_run(
    server: TokenServer, run: Runner, files: dict[str, Path]
) -> None:
    result = run(
        *generic(server, "ed-client", "--private-key-file", str(files["ed"]), "--dpop")
    )
    assert printed(result)["token_type"] == "DPoP"
    assert "key made for this run only" in result.err
    server.clear()


def test_dpop_with_a_store_is_refused_and_an_environment_store_unused(
    server: TokenServer, run: Runner, files: dict[str, Path], tmp_path: Path
) -> None:
    # A key made for one run: a store would keep its tokens under a key no
    # later run asks for, forever.
    store = tmp_path / "tokens"
    store.mkdir(mode=0o700)
    argv = generic(
        server, "ed-client", "--private-key-file", str(files["ed"]), "--dpop"
    )
    refused = run(*argv, "--store", f"file://{store}")
    assert refused.code == cli.EXIT_USAGE
    assert "--dpop-key-file" in refused.err
    used = run(*argv, env={"SANSIO_AUTH_STORE": f"file://{store}"})
    assert printed(used)["token_type"] == "DPoP"
    assert "SANSIO_AUTH_STORE is not used with --dpop" in used.err
    assert list(store.iterdir()) == []
    server.clear()


def test_a_private_key_others_may_read_is_warned_of(
    server: TokenServer, run: Runner, files: dict[str, Path]
) -> None:
    files["ed"].chmod(0o644)
    result = run(*generic(server, "ed-client", "--private-key-file", str(files["ed"])))
    assert printed(result)["access_token"]
    assert "can be read by others than its owner (mode 0644)" in result.err
    files["ed"].chmod(0o600)
    quiet = run(*generic(server, "ed-client", "--private-key-file", str(files["ed"])))
    assert printed(quiet)["access_token"]
    assert "can be read by others" not in quiet.err
    server.clear()
