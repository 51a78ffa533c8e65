"""Checks, in an environment holding the wheel and no extra, that what the
core alone promises works: run by ``.ci/check_wheel`` from an empty
directory, with that environment's Python.

Each check prints one line; the first that fails raises and ends the run.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import importlib.util
import subprocess
import sys
import sysconfig
from pathlib import Path

EXTRA_PACKAGES = (
    "trio",
    "anyio",
    "h11",
    "sniffio",
    "httpx",
    "httpcore",
    "requests",
    "urllib3",
    "aiohttp",
    "redis",
)


def check(what: str, ok: bool, detail: object = "") -> None:
    if not ok:
        raise SystemExit(f"FAILED: {what} {detail}".rstrip())
    print(f"ok: {what}")


def installed() -> None:
    names = {d.metadata["Name"].lower() for d in importlib.metadata.distributions()}
    check(
        "only sansio-auth and attrs are installed (and pip)",
        names <= {"sansio-auth", "attrs", "pip", "setuptools"},
        sorted(names),
    )
    for name in EXTRA_PACKAGES:
        check(f"{name} is not importable", importlib.util.find_spec(name) is None)
    check(
        "the wheel, not a checkout",
        "site-packages"
        in str(getattr(importlib.util.find_spec("sansio_auth"), "origin", "")),
    )


def layout() -> None:
    check(
        "no top-level adapters package",
        importlib.util.find_spec("adapters") is None
        and not (Path(sysconfig.get_paths()["purelib"]) / "adapters").exists(),
    )
    files = importlib.metadata.files("sansio-auth") or []
    tops = {f.parts[0] for f in files if not f.parts[0].startswith("..")}
    check(
        "the wheel installs sansio_auth/ and its metadata only",
        tops
        <= {
            "sansio_auth",
            f"sansio_auth-{importlib.metadata.version('sansio-auth')}.dist-info",
        },
        sorted(tops),
    )
    check("py.typed is installed", any(f.name == "py.typed" for f in files))


def core_and_urllib_client() -> None:
    import sansio_auth
    from sansio_auth.adapters.server import TokenServer
    from sansio_auth.adapters.urllib import TokenClient, send
    from sansio_auth.providers import smartdocumentor

    with TokenServer() as server:
        c = server.credentials
        flow = smartdocumentor(
            client_id=c.smartdocumentor_client_id,
            client_secret=c.smartdocumentor_client_secret,
            base_url=server.smartdocumentor_base_url,
        )
        with TokenClient(flow, timeout=10) as client:
            token = client.token()
            check(
                "the urllib client gets a token from the local server",
                bool(token.access_token),
            )
            api = sansio_auth.HttpRequest(
                method="GET",
                url=server.resource_url,
                headers=(("Authorization", token.authorization()),),
                body=b"",
            )
            check(
                "the local server's API takes it", send(api, timeout=10).status == 200
            )
    loaded = [name for name in EXTRA_PACKAGES if name in sys.modules]
    check("nothing of an extra was imported on the way", not loaded, loaded)


def missing_extras() -> None:
    for module in ("trio", "anyio", "httpx", "requests", "aiohttp", "redis"):
        extra = module
        try:
            importlib.import_module(f"sansio_auth.adapters.{module}")
        except ImportError as exc:
            message = str(exc)
        else:
            message = "(it imported)"
        check(
            f"importing sansio_auth.adapters.{module} names the extra",
            f"pip install 'sansio-auth[{extra}]'" in message,
            message,
        )


def run(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603  (our own commands)
        argv,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        stdin=subprocess.DEVNULL,
    )


def command_line() -> None:
    cli = str(Path(sysconfig.get_paths()["scripts"]) / "sansio-auth")
    for what, argv in (
        ("sansio-auth demo --adapter urllib", (cli, "demo", "--adapter", "urllib")),
        (
            "python -m sansio_auth demo --adapter urllib",
            (sys.executable, "-m", "sansio_auth", "demo", "--adapter", "urllib"),
        ),
        ("sansio-auth demo", (cli, "demo")),
    ):
        done = run(*argv)
        check(f"{what} exits 0", done.returncode == 0, done.stdout + done.stderr)
        check(
            f"{what}: six providers through urllib",
            "\n6 tokens, " in done.stdout,
            done.stdout,
        )
    for extra in ("trio", "anyio"):
        check(
            f"sansio-auth demo names the {extra} extra it skipped",
            f"pip install 'sansio-auth[{extra}]'" in done.stdout,
            done.stdout,
        )
    done = run(cli, "token", "--provider", "smartway", "--adapter", "trio")
    check(
        "sansio-auth token --adapter trio: exit 2, naming the extra",
        done.returncode == 2 and "pip install 'sansio-auth[trio]'" in done.stderr,
        (done.returncode, done.stderr),
    )


def main() -> None:
    installed()
    layout()
    core_and_urllib_client()
    missing_extras()
    command_line()


if __name__ == "__main__":
    main()
