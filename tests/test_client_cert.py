"""``client_cert=`` (RFC 8705): the context that presents the certificate,
and its thumbprint for the store key."""

from __future__ import annotations

import base64
import hashlib
import ssl
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
