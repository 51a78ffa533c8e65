"""``AssertionFile``: a workload identity token read from disk, again when it
rotates, refused without a word of it when it cannot be an assertion.

Rotation is done as Kubernetes does it for a projected volume (its
AtomicWriter): the token lives in a timestamped directory, ``..data`` is a
symlink to the current one and ``token`` a symlink to ``..data/token``; a new
version is a new directory, a ``..data_tmp`` symlink to it renamed over
``..data``, and the old directory removed. The file's path never changes and
nothing is ever written in place.

The end-to-end tests run a real ``TokenClient`` against the local token
server, which verifies each client assertion (and grant assertion, and
subject token) strictly: the file rotated between two token requests must
send the new one, and the server refuses a reused ``jti``.
"""

from __future__ import annotations

import os
import threading
import time
import urllib.parse
import uuid
from collections.abc import Iterator
from pathlib import Path

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from sansio_auth import (
    TOKEN_TYPE_JWT,
    ClientCredentials,
    JwtBearerGrant,
    OAuthError,
    TokenExchange,
)
from sansio_auth.adapters import urllib as urllib_adapter
from sansio_auth.adapters.assertions import MAX_BYTES, AssertionFile
from sansio_auth.adapters.server import (
    Credentials,
    RegisteredClient,
    TokenServer,
    TrustedIssuer,
)

SECRET_LOOKING = "eyJhbGciOiJub25lIn0.c2VjcmV0LWFzc2VydGlvbi1jb250ZW50.sig"


# -- a projected volume, as the kubelet writes it -----------------------------


class ProjectedVolume:
    """A directory laid out as a Kubernetes projected volume with one file."""

    def __init__(self, root: Path, name: str = "token") -> None:
        self.root = root
        self.name = name
        self.versions = 0

    @property
    def path(self) -> Path:
        """What the pod reads: ``<root>/token``."""
        return self.root / self.name

    def write(self, content: str | bytes) -> None:
        """Publish a new version atomically (the kubelet's AtomicWriter)."""
        data = content.encode() if isinstance(content, str) else content
        self.versions += 1
        stamp = f"..2024_01_01_00_00_{self.versions:02d}.{uuid.uuid4().hex[:8]}"
        version = self.root / stamp
        version.mkdir()
        (version / self.name).write_bytes(data)
        old = os.readlink(self.root / "..data") if self.versions > 1 else None
        tmp = self.root / "..data_tmp"
        os.symlink(stamp, tmp)
        os.rename(tmp, self.root / "..data")  # the atomic swap
        if old is None:
            os.symlink(f"..data/{self.name}", self.path)
        else:
            (self.root / old / self.name).unlink()
            (self.root / old).rmdir()


@pytest.fixture
def volume(tmp_path: Path) -> ProjectedVolume:
    return ProjectedVolume(tmp_path)


# -- reading and rotation -------------------------------------------------------


def test_reads_the_file_stripped(tmp_path: Path) -> None:
    path = tmp_path / "token"
    path.write_text(f"  {SECRET_LOOKING}\n")
    assert AssertionFile(path)() == SECRET_LOOKING
    assert AssertionFile(str(path))() == SECRET_LOOKING


def test_reads_the_new_version_after_an_atomic_swap(volume: ProjectedVolume) -> None:
    volume.write("first.assertion.jwt\n")
    source = AssertionFile(volume.path)
    assert source() == "first.assertion.jwt"
    # The same size on purpose: only the inode tells the versions apart.
    volume.write("other.assertion.jwt\n")
    assert source() == "other.assertion.jwt"
    volume.write("third.assertion.jwt.longer")
    assert source() == "third.assertion.jwt.longer"


def test_an_unchanged_file_is_not_read_again(tmp_path: Path) -> None:
    path = tmp_path / "token"
    path.write_text("aaaa.bbbb.cccc")
    source = AssertionFile(path)
    assert source() == "aaaa.bbbb.cccc"
    before = os.stat(path)
    # Rewritten in place, same size, its times put back: the same
    # (inode, mtime, size), so the version read before is returned. This is
    # the one change it cannot see, and proves it does not read each call.
    with open(path, "r+b") as file:
        file.write(b"zzzz.yyyy.xxxx")
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert source() == "aaaa.bbbb.cccc"
    # A new modification time alone is a change.
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns + 1_000_000))
    assert source() == "zzzz.yyyy.xxxx"


def test_a_change_of_size_is_seen_within_one_clock_tick(tmp_path: Path) -> None:
    path = tmp_path / "token"
    path.write_text("aaaa.bbbb.cccc")
    source = AssertionFile(path)
    assert source() == "aaaa.bbbb.cccc"
    mtime = os.stat(path).st_mtime_ns
    path.write_text("aaaa.bbbb.ccccdd")
    os.utime(path, ns=(mtime, mtime))
    assert source() == "aaaa.bbbb.ccccdd"


def test_the_path_is_absolute_and_named_by_the_store_identity(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "token").write_text("a.b.c")
    monkeypatch.chdir(tmp_path)
    source = AssertionFile("token")
    assert source.path == str(tmp_path / "token")
    assert source.cache_identity == f"file:{tmp_path / 'token'}"
    monkeypatch.chdir("/")
    assert source() == "a.b.c"  # a later chdir changes nothing


def test_the_repr_shows_the_path_only(tmp_path: Path) -> None:
    path = tmp_path / "token"
    path.write_text(SECRET_LOOKING)
    source = AssertionFile(path)
    source()
    assert repr(source) == f"AssertionFile({str(path)!r})"
    assert SECRET_LOOKING not in repr(source)
    assert not hasattr(source, "__dict__")  # nothing else to show


def test_safe_from_many_threads_across_rotations(volume: ProjectedVolume) -> None:
    versions = [f"version-{n:03d}.payload.signature" for n in range(40)]
    volume.write(versions[0])
    source = AssertionFile(volume.path)
    seen: set[str] = set()
    errors: list[BaseException] = []
    stop = threading.Event()

    def reader() -> None:
        try:
            while not stop.is_set():
                seen.add(source())
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=reader) for _ in range(8)]
    for thread in threads:
        thread.start()
    try:
        for version in versions[1:]:
            volume.write(version)
            time.sleep(0.002)
    finally:
        stop.set()
        for thread in threads:
            thread.join()
    assert not errors
    assert seen <= set(versions)  # never a torn or mixed read
    assert source() == versions[-1]


# -- refusals --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "says"),
    [
        (b"", "is empty"),
        (b" \n\t \r\n", "is empty"),
        (b"\xff\xfe" + SECRET_LOOKING.encode(), "not UTF-8 text"),
        (f"{SECRET_LOOKING}\n{SECRET_LOOKING}".encode(), "line break inside"),
        (f"{SECRET_LOOKING}\r{SECRET_LOOKING}".encode(), "line break inside"),
        (f"{SECRET_LOOKING}\x00".encode(), "control character"),
        (f"{SECRET_LOOKING}\tmore".encode(), "control character"),
    ],
)
def test_content_that_is_no_assertion_is_refused_by_path(
    tmp_path: Path, content: bytes, says: str
) -> None:
    path = tmp_path / "token"
    path.write_bytes(content)
    with pytest.raises(ValueError, match=says) as caught:
        AssertionFile(path)()
    message = str(caught.value)
    assert str(path) in message
    assert SECRET_LOOKING not in message
    assert "c2VjcmV0" not in message


def test_a_byte_order_mark_is_not_part_of_the_assertion(tmp_path: Path) -> None:
    # A file written on Windows may start with one; it is no character of
    # the token (and was refused as "a control character").
    path = tmp_path / "token"
    path.write_bytes(b"\xef\xbb\xbf" + SECRET_LOOKING.encode() + b"\r\n")
    assert AssertionFile(path)() == SECRET_LOOKING


def test_a_file_over_the_cap_is_refused_unread(tmp_path: Path) -> None:
    path = tmp_path / "token"
    path.write_bytes(b"a" * (MAX_BYTES + 1))
    with pytest.raises(ValueError, match=f"larger than {MAX_BYTES} bytes"):
        AssertionFile(path)()
    path.write_bytes(b"a" * MAX_BYTES)
    assert AssertionFile(path)() == "a" * MAX_BYTES
    small = AssertionFile(path, max_bytes=10)
    with pytest.raises(ValueError, match="larger than 10 bytes"):
        small()


def test_a_fifo_is_refused_without_blocking(tmp_path: Path) -> None:
    path = tmp_path / "token"
    os.mkfifo(path)
    outcome: list[BaseException] = []

    def call() -> None:
        try:
            AssertionFile(path)()
        except BaseException as exc:  # checked below
            outcome.append(exc)

    # In a thread: had it opened the FIFO for a blocking read, it would wait
    # for a writer forever, and the join would time out.
    thread = threading.Thread(target=call, daemon=True)
    thread.start()
    thread.join(timeout=10)
    assert not thread.is_alive(), "reading a FIFO blocked"
    assert len(outcome) == 1
    assert isinstance(outcome[0], ValueError)
    assert "not a regular file (a FIFO)" in str(outcome[0])
    assert str(path) in str(outcome[0])


def test_a_fifo_swapped_in_after_the_stat_is_refused_without_blocking(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The race the open descriptor's own check is for: a regular file when
    # stat'ed, a FIFO by the time it is opened.
    path = tmp_path / "token"
    path.write_text("a.b.c")
    source = AssertionFile(path)
    real_stat = os.stat

    def stat_then_swap(target: object, *args: object, **kwargs: object) -> object:
        status = real_stat(target, *args, **kwargs)  # type: ignore[arg-type]
        if str(target) == str(path):
            os.unlink(path)
            os.mkfifo(path)
        return status

    monkeypatch.setattr(os, "stat", stat_then_swap)
    with pytest.raises(ValueError, match="not a regular file"):
        source()


@pytest.mark.parametrize("kind", ["directory", "character device"])
def test_other_files_are_refused(tmp_path: Path, kind: str) -> None:
    if kind == "directory":
        path = tmp_path / "token"
        path.mkdir()
    else:
        path = Path("/dev/zero")  # endless: must never be read
    with pytest.raises(ValueError, match=f"not a regular file \\(a {kind}\\)"):
        AssertionFile(path)()


def test_a_version_removed_between_lookup_and_open_is_looked_up_again(
    volume: ProjectedVolume, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The kubelet deletes the old version right after the swap: a reader
    # that stat'ed the old one finds it gone when it opens it.
    volume.write("old.assertion.jwt")
    source = AssertionFile(volume.path)
    real_open = os.open
    rotated: list[bool] = []

    def open_after_a_rotation(path: object, *args: object, **kwargs: object) -> int:
        if str(path) == str(volume.path) and not rotated:
            rotated.append(True)
            volume.write("new.assertion.jwt")
            raise FileNotFoundError(2, "No such file or directory", str(path))
        return real_open(path, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(os, "open", open_after_a_rotation)
    assert source() == "new.assertion.jwt"
    assert rotated == [True]


def test_a_missing_file_is_an_os_error_naming_the_path(tmp_path: Path) -> None:
    path = tmp_path / "nowhere"
    with pytest.raises(FileNotFoundError) as caught:
        AssertionFile(path)()
    assert caught.value.filename == str(path)


def test_a_bad_version_is_not_kept(volume: ProjectedVolume) -> None:
    volume.write("good.assertion.one")
    source = AssertionFile(volume.path)
    assert source() == "good.assertion.one"
    volume.write("")
    with pytest.raises(ValueError, match="is empty"):
        source()
    with pytest.raises(ValueError, match="is empty"):
        source()  # refused again, not the old version
    volume.write("good.assertion.two")
    assert source() == "good.assertion.two"


@pytest.mark.parametrize(
    ("path", "max_bytes", "error"),
    [
        ("", MAX_BYTES, ValueError),
        (b"/bytes/path", MAX_BYTES, TypeError),
        (3, MAX_BYTES, TypeError),
        ("/x", 0, ValueError),
        ("/x", True, TypeError),
    ],
)
def test_constructor_arguments_are_checked(
    path: object, max_bytes: object, error: type[Exception]
) -> None:
    with pytest.raises(error):
        AssertionFile(path, max_bytes=max_bytes)  # type: ignore[arg-type]


# -- through a real TokenClient and the local token server ---------------------

CLIENT_ID = "workload-client"
ISSUER = "https://kubernetes.default.svc"
WORKLOAD_KEY = ec.generate_private_key(ec.SECP256R1())
CLIENT_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)


def workload_token(audience: str, subject: str = CLIENT_ID, **claims: object) -> str:
    """A JWT as a cluster's token issuer makes it (signed by PyJWT)."""
    now = int(time.time())
    payload = {
        "iss": subject if subject == CLIENT_ID else ISSUER,
        "sub": subject,
        "aud": audience,
        "jti": uuid.uuid4().hex,
        "iat": now,
        "exp": now + 300,
        **claims,
    }
    key = CLIENT_KEY if subject == CLIENT_ID else WORKLOAD_KEY
    alg = "RS256" if subject == CLIENT_ID else "ES256"
    return jwt.encode(payload, key, algorithm=alg)


@pytest.fixture(scope="module")
def server() -> Iterator[TokenServer]:
    credentials = Credentials(
        clients=(
            RegisteredClient(client_id=CLIENT_ID, public_key=CLIENT_KEY.public_key()),
        ),
        issuers=(TrustedIssuer(issuer=ISSUER, public_key=WORKLOAD_KEY.public_key()),),
    )
    with TokenServer(credentials=credentials) as running:
        yield running


def sent_field(server: TokenServer, name: str) -> list[str]:
    """The values of form field *name* in each token request, in order."""
    return [
        value
        for request in server.token_requests("generic")
        for key, value in urllib.parse.parse_qsl(request.body.decode())
        if key == name
    ]


def test_a_rotated_client_assertion_is_sent_on_the_next_request(
    server: TokenServer, volume: ProjectedVolume
) -> None:
    server.clear()
    first = workload_token(server.generic_token_url)
    volume.write(first + "\n")
    flow = ClientCredentials(
        token_url=server.generic_token_url,
        client_id=CLIENT_ID,
        auth="private_key_jwt",
        client_assertion=AssertionFile(volume.path),
    )
    with urllib_adapter.TokenClient(flow, timeout=10) as client:
        token = client.token()
        assert server.verify(token.access_token) is not None
        second = workload_token(server.generic_token_url)
        volume.write(second + "\n")
        client.invalidate(token)
        again = client.token()
        assert again.access_token != token.access_token
    assert sent_field(server, "client_assertion") == [first, second]
    assert server.rejections == []


def test_an_unrotated_assertion_is_sent_again_and_refused_as_a_replay(
    server: TokenServer, volume: ProjectedVolume
) -> None:
    # The other side of the test above: without the rotation, the server
    # sees the same jti and refuses it, so the test above could fail.
    server.clear()
    volume.write(workload_token(server.generic_token_url))
    flow = ClientCredentials(
        token_url=server.generic_token_url,
        client_id=CLIENT_ID,
        auth="private_key_jwt",
        client_assertion=AssertionFile(volume.path),
    )
    with urllib_adapter.TokenClient(flow, timeout=10) as client:
        client.invalidate(client.token())
        with pytest.raises(OAuthError, match="invalid_client"):
            client.token()
    assert [(r.kind, r.reason) for r in server.rejections] == [
        ("client_assertion", "replay")
    ]


def test_a_rotated_grant_assertion_through_the_jwt_bearer_grant(
    server: TokenServer, volume: ProjectedVolume
) -> None:
    server.clear()
    first = workload_token(server.generic_token_url, subject="system:sa:one")
    volume.write(first)
    flow = JwtBearerGrant(
        token_url=server.generic_token_url, assertion=AssertionFile(volume.path)
    )
    with urllib_adapter.TokenClient(flow, timeout=10) as client:
        token = client.token()
        claims = server.verify(token.access_token)
        assert claims is not None
        assert claims["sub"] == "system:sa:one"
        second = workload_token(server.generic_token_url, subject="system:sa:one")
        volume.write(second)
        client.invalidate(token)
        client.token()
    assert sent_field(server, "assertion") == [first, second]


def test_a_rotated_subject_token_through_token_exchange(
    server: TokenServer, volume: ProjectedVolume
) -> None:
    server.clear()
    first = workload_token(server.issuer, subject="system:sa:two")
    volume.write(first)
    flow = TokenExchange(
        token_url=server.generic_token_url,
        subject_token=AssertionFile(volume.path),
        subject_token_type=TOKEN_TYPE_JWT,
        client_id=CLIENT_ID,
        auth="private_key_jwt",
        private_key=CLIENT_KEY,
    )
    with urllib_adapter.TokenClient(flow, timeout=10) as client:
        token = client.token()
        claims = server.verify(token.access_token)
        assert claims is not None
        assert claims["sub"] == "system:sa:two"
        second = workload_token(server.issuer, subject="system:sa:two")
        volume.write(second)
        client.invalidate(token)
        client.token()
    assert sent_field(server, "subject_token") == [first, second]
    assert server.rejections == []


def test_a_file_refused_at_a_request_raises_from_token_and_keeps_the_client(
    server: TokenServer, volume: ProjectedVolume
) -> None:
    server.clear()
    volume.write("")
    flow = ClientCredentials(
        token_url=server.generic_token_url,
        client_id=CLIENT_ID,
        auth="private_key_jwt",
        client_assertion=AssertionFile(volume.path),
    )
    with urllib_adapter.TokenClient(flow, timeout=10) as client:
        with pytest.raises(ValueError, match="is empty"):
            client.token()
        assert server.token_requests() == []  # nothing was sent
        volume.write(workload_token(server.generic_token_url))
        assert client.token().access_token


@pytest.mark.parametrize(
    "given",
    [
        "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ3b3JrbG9hZCJ9.c2lnbmF0dXJlLXZhbHVl",
        "-----BEGIN PRIVATE KEY-----\nMIIB\n-----END PRIVATE KEY-----\n",
        "x" * 5000,
    ],
    ids=["jwt", "pem", "huge"],
)
def test_a_token_given_as_the_path_is_refused_unshown(given: str) -> None:
    # It would show in the repr, the store key and every error after.
    with pytest.raises(ValueError, match="content of a file") as caught:
        AssertionFile(given)
    assert given[:20] not in str(caught.value)
