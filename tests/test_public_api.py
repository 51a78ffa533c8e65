"""The public surface: one flat namespace, every name documented in __all__."""

from __future__ import annotations

import types

import pytest

import sansio_auth
import sansio_auth.providers


@pytest.mark.parametrize("module", [sansio_auth, sansio_auth.providers])
def test_all_is_sorted_unique_and_importable(module: types.ModuleType) -> None:
    names = module.__all__
    assert len(set(names)) == len(names)
    for name in names:
        assert hasattr(module, name), name


@pytest.mark.parametrize("module", [sansio_auth, sansio_auth.providers])
def test_public_objects_report_their_public_module(module: types.ModuleType) -> None:
    for name in module.__all__:
        obj = getattr(module, name)
        if isinstance(obj, type | types.FunctionType):
            assert obj.__module__ == module.__name__, name


def test_no_private_module_leaks_into_the_namespace() -> None:
    # isidentifier: pytest's assertion rewriting adds "@py_builtins" and the
    # like to packages that ship a pytest plugin.
    public = {n for n in dir(sansio_auth) if n.isidentifier() and not n.startswith("_")}
    modules = {
        n for n in public if isinstance(getattr(sansio_auth, n), types.ModuleType)
    }
    assert modules <= {"providers", "adapters"}


def test_the_design_contract_names_exist() -> None:
    for name in [
        "HttpRequest",
        "HttpResponse",
        "Token",
        "TokenError",
        "OAuthError",
        "HttpError",
        "MalformedResponse",
        "TransportError",
        "parse_token_response",
        "jwt_claims",
        "ClientCredentials",
        "PasswordGrant",
        "ApiKeyExchange",
    ]:
        assert name in sansio_auth.__all__
    for name in [
        "smartway",
        "smartway_identity",
        "smartconnect",
        "SMARTCONNECT_REGIONS",
        "teamsystem",
        "smartdocumentor",
    ]:
        assert name in sansio_auth.providers.__all__


def test_adapters_are_a_subpackage_not_a_top_level_package() -> None:
    import importlib.util

    assert importlib.util.find_spec("sansio_auth.adapters") is not None
    assert importlib.util.find_spec("adapters") is None


def test_an_unknown_name_is_an_attribute_error() -> None:
    # The lazily imported names go through the module's __getattr__; any
    # other name is still an AttributeError.
    with pytest.raises(AttributeError, match="no attribute 'no_such_name'"):
        sansio_auth.no_such_name  # noqa: B018


def test_version_is_the_user_agent_version() -> None:
    expected = f"sansio-auth/{sansio_auth.__version__}"
    assert expected == sansio_auth.USER_AGENT


# Import time is measured by benchmarks/run.py, never here; what is tested is
# the cause it depends on: the standard modules a bare import pulls in. Each
# of these cost a millisecond or more and serves only a rare path, where it
# is imported when needed.
LAZY_MODULES = [
    *("base64", "datetime", "hashlib", "ipaddress", "logging", "random"),
    *("socket", "ssl", "struct", "urllib.parse"),
    # The masking that error paths need (issue 10): a few milliseconds.
    *("sansio_auth._answers", "sansio_auth._mask", "sansio_auth._secrets"),
    "sansio_auth._shape",
    # Signing (issue 14): only a client that signs or proves needs them.
    *("cryptography", "hmac"),
    *("sansio_auth._keys", "sansio_auth._jws", "sansio_auth._b64"),
    *("sansio_auth._stamp", "sansio_auth._dpop", "sansio_auth._grants"),
]


def test_importing_the_core_leaves_the_rare_paths_modules_alone() -> None:
    import subprocess
    import sys

    code = (
        "import sys; import sansio_auth; "
        f"print(' '.join(m for m in {LAZY_MODULES!r} if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], check=True, capture_output=True, text=True
    )
    assert out.stdout.split() == []


# One shape for each integration's send over its library's own client: the
# request first, the client as a keyword named as the library names it.
INTEGRATION_SENDS = [
    pytest.param("httpx", "send", "client", id="httpx.send"),
    pytest.param("httpx", "send_async", "client", id="httpx.send_async"),
    pytest.param("requests", "send", "session", id="requests.send"),
    pytest.param("aiohttp", "send", "session", id="aiohttp.send"),
]


@pytest.mark.parametrize(("library", "name", "client"), INTEGRATION_SENDS)
def test_integration_sends_take_the_request_then_the_client_by_keyword(
    library: str, name: str, client: str
) -> None:
    import importlib
    import inspect

    from sansio_auth.adapters._limits import (
        DEFAULT_MAX_RESPONSE_BYTES,
        DEFAULT_TIMEOUT,
    )

    module = importlib.import_module(f"sansio_auth.adapters.{library}")
    assert name in module.__all__
    send = getattr(module, name)
    signature = inspect.signature(send)
    empty = inspect.Parameter.empty
    keyword = inspect.Parameter.KEYWORD_ONLY
    assert [(p.name, p.kind, p.default) for p in signature.parameters.values()] == [
        ("request", inspect.Parameter.POSITIONAL_OR_KEYWORD, empty),
        (client, keyword, empty),
        ("timeout", keyword, DEFAULT_TIMEOUT),
        ("max_response_bytes", keyword, DEFAULT_MAX_RESPONSE_BYTES),
    ]
    assert signature.return_annotation == "HttpResponse"
    doc = inspect.getdoc(send) or ""
    for section in ("Args:", "Returns:", "Raises:", "TransportError:"):
        assert section in doc, section
    for parameter in signature.parameters:
        assert f"\n  {parameter}: " in doc, parameter


def test_the_httpx_integration_exports_its_auth_and_both_sends() -> None:
    from sansio_auth.adapters import httpx

    assert httpx.__all__ == ["TokenAuth", "send", "send_async"]
