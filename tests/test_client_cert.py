"""``client_cert=`` (RFC 8705): the context that presents the certificate,
and its thumbprint for the store key."""

from __future__ import annotations

import base64
import hashlib
import os
import ssl
import threading
from pathlib import Path

import pytest
import trustme

from sansio_auth.adapters._tls import cert_thumbprint, client_cert_context

CA = trustme.CA()


def pem_file(tmp_path: Path, name: str) -> tuple[Path, bytes]:
    issued = CA.issue_cert(f"{name}.clients.example")
    path = tmp_path / f"{name}.pem"
    issued.private_key_and_cert_chain_pem.write_to_path(str(path))
    return path, issued.cert_chain_pems[0].bytes()


def test_the_thumbprint_is_base64url_sha256_of_the_der(tmp_path: Path) -> None:
    path, cert = pem_file(tmp_path, "one")
    der = ssl.PEM_cert_to_DER_cert(cert.decode())
    expected = base64.urlsafe_b64encode(hashlib.sha256(der).digest()).rstrip(b"=")
    context, thumbprint = client_cert_context(path, None)
    assert context is not None
    assert thumbprint == expected.decode() == cert_thumbprint(path.read_bytes())


def test_one_context_carries_one_clients_certificate(tmp_path: Path) -> None:
    # A context presents the last certificate loaded into it: a second
    # client's would silently replace the first's on its connections.
    first, _ = pem_file(tmp_path, "first")
    second, _ = pem_file(tmp_path, "second")
    shared = ssl.create_default_context()
    CA.configure_trust(shared)
    context, thumbprint = client_cert_context(first, shared)
    assert context is shared
    assert client_cert_context(first, shared) == (shared, thumbprint)  # same: fine
    with pytest.raises(ValueError, match="another client certificate"):
        client_cert_context(second, shared)
    # Each its own context: both fine.
    own = ssl.create_default_context()
    assert client_cert_context(second, own)[1] != thumbprint


def test_a_certificate_that_cannot_be_read_is_named_by_its_path(tmp_path: Path) -> None:
    missing = tmp_path / "missing.pem"
    with pytest.raises(ValueError, match=r"missing\.pem") as caught:
        client_cert_context(missing, None)
    assert "FileNotFoundError" in str(caught.value)


def test_a_certificate_given_as_content_is_refused_unshown(tmp_path: Path) -> None:
    # A careless caller's PEM where the path belongs: the error must not
    # show the private key it holds.
    issued = CA.issue_cert("careless.clients.example")
    pem = issued.private_key_and_cert_chain_pem.bytes().decode()
    key = issued.private_key_pem.bytes().decode()
    path, _ = pem_file(tmp_path, "careful")
    for given in (pem, (pem, str(path)), (str(path), key, "pw")):
        with pytest.raises(ValueError, match="content of a file") as caught:
            client_cert_context(given, None)
        assert "PRIVATE KEY" not in str(caught.value)
        assert "pw" not in str(caught.value)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs os.mkfifo")
def test_a_fifo_at_the_certificates_path_is_refused_without_blocking(
    tmp_path: Path,
) -> None:
    fifo = tmp_path / "client.pem"
    os.mkfifo(fifo)
    outcome: list[BaseException] = []

    def build() -> None:
        try:
            client_cert_context(fifo, None)
        except BaseException as exc:
            outcome.append(exc)

    worker = threading.Thread(target=build, daemon=True)
    worker.start()
    worker.join(5)
    assert not worker.is_alive(), "blocked on the FIFO"
    assert len(outcome) == 1
    assert isinstance(outcome[0], ValueError)
    assert "not a regular file" in str(outcome[0])


def test_a_missing_key_file_is_named_not_the_certificate(tmp_path: Path) -> None:
    path, _ = pem_file(tmp_path, "keyless")
    missing = tmp_path / "nowhere.key"
    with pytest.raises(ValueError, match=r"nowhere\.key") as caught:
        client_cert_context((path, missing), None)
    assert "keyless" not in str(caught.value)


def test_a_wrong_password_is_said_without_being_shown(tmp_path: Path) -> None:
    from cryptography.hazmat.primitives import serialization

    issued = CA.issue_cert("locked.clients.example")
    cert = tmp_path / "locked.crt"
    issued.cert_chain_pems[0].write_to_path(str(cert))
    key = serialization.load_pem_private_key(issued.private_key_pem.bytes(), None)
    locked = tmp_path / "locked.key"
    locked.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(b"right-password"),
        )
    )
    with pytest.raises(ValueError, match="a wrong password") as caught:
        client_cert_context((cert, locked, "wrong-password"), None)
    assert "wrong-password" not in str(caught.value)
    assert client_cert_context((cert, locked, "right-password"), None)[1]
