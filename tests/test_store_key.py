"""The key a fleet shares a flow's token under (``sansio_auth._store_key``).

Byte-exact keys, one per flow kind, so that a change of the encoding is a
deliberate new version; the identity each flow names; and properties: two
flows share a key exactly when what decides their token is the same (their
secrets may differ, their scopes come in any order), no secret, username or
API key can be read from a key in any encoding a server echoes, and a key is
the same in another process.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Callable
from typing import Any

import pytest
from echoes import ENCODINGS, SECRETS, mixed
from hypothesis import given
from hypothesis import strategies as st

from sansio_auth import ApiKeyExchange, ClientCredentials, PasswordGrant
from sansio_auth._store_key import store_key
from sansio_auth.providers import (
    smartconnect,
    smartdocumentor,
    smartway,
    teamsystem,
)
from sansio_auth.providers._teamsystem import TeamSystemFlow

URL = "https://auth.example.com/oauth2/token"
KEY = re.compile(r"sansio-auth:v1:\{[0-9a-f]{64}\}")

# The four vendors' flows, and a generic one with everything in it.
FLOWS: dict[str, Callable[[], Any]] = {
    "smartdocumentor": lambda: smartdocumentor(
        client_id="client-1", client_secret="secret-1"
    ),
    "smartconnect": lambda: smartconnect(
        region="EU",
        username="alice@example.com",
        password="password-1",
        client_id="client-1",
        client_secret="secret-1",
    ),
    "smartway": lambda: smartway("api-key-1"),
    "teamsystem": lambda: teamsystem(
        username="admin_webapicorso",
        scope="webapicorso_alywebapicorso",
        token="api-key-1",
    ),
    "client_credentials": lambda: ClientCredentials(
        token_url=URL,
        client_id="client-1",
        client_secret="secret-1",
        scope="write read",
        extra=(("resource", "https://api.example.com"), ("audience", "api")),
    ),
}

# Byte for byte: a change here is a change of format, and bumps v1.
EXPECTED_KEYS = {
    "smartdocumentor": "sansio-auth:v1:"
    "{062a947bbd0b59672510fab7ec6d9f99a0f6774c063b9b6cb2e09bae12c35754}",
    "smartconnect": "sansio-auth:v1:"
    "{5268f690cbae661f45958efc5e28830471228a79dd3027728d4c5c3582733413}",
    "smartway": "sansio-auth:v1:"
    "{dfbc0fef023dfc1bcc8c4617db01b0156dfe897821b3b85037e5745ceebde4bf}",
    "teamsystem": "sansio-auth:v1:"
    "{5fd6c471f64a22293c0bbdc12fcd46ec47e9f0d0ce375fef62aa93c94a4e43a1}",
    "client_credentials": "sansio-auth:v1:"
    "{b4439db6df4d39b0ac975a15cf923744a8c41b79607fc616f87ab60e6c35a6dd}",
}


@pytest.mark.parametrize("name", FLOWS)
def test_one_key_per_flow_kind_byte_for_byte(name: str) -> None:
    assert store_key(FLOWS[name]()) == EXPECTED_KEYS[name]


def test_the_encoding_is_json_of_a_tag_the_version_and_the_sorted_pairs() -> None:
    # The one place the canonical encoding is spelled out, so that another
    # implementation (a store in another language) can compute the same key.
    import hashlib

    flow = FLOWS["client_credentials"]()
    encoding = (
        '["sansio-auth store key",1,['
        '["client_id","client-1"],'
        '["extra:audience","api"],'
        '["extra:resource","https://api.example.com"],'
        '["grant","client_credentials"],'
        '["scope","read write"],'
        f'["token_url","{URL}"]]]'
    )
    digest = hashlib.sha256(encoding.encode()).hexdigest()
    assert store_key(flow) == f"sansio-auth:v1:{{{digest}}}"


# What each flow names: everything that decides the token, never a secret.
IDENTITIES: list[tuple[Callable[[], Any], tuple[tuple[str, str], ...]]] = [
    (
        FLOWS["smartdocumentor"],
        (
            ("grant", "client_credentials"),
            ("token_url", "https://cloud.smartdocumentor.net/connect/token"),
            ("client_id", "client-1"),
            ("scope", "WebAPI"),
        ),
    ),
    (
        FLOWS["smartconnect"],
        (
            ("grant", "password"),
            ("token_url", "https://apieuw.smartconnect.com/token"),
            ("client_id", "client-1"),
            ("username", "alice@example.com"),
            ("scope", ""),
        ),
    ),
    (
        lambda: PasswordGrant(
            token_url=URL,
            username="alice",
            password="pw",
            scope=("b", "a", "b"),
            extra={"audience": "api"},
        ),
        (
            ("grant", "password"),
            ("token_url", URL),
            ("username", "alice"),
            ("scope", "a b"),
            ("extra:audience", "api"),
        ),
    ),
    (
        FLOWS["smartway"],
        (
            ("grant", "api_key_exchange"),
            ("token_url", "https://smartway.pro/api/v1/auth/token"),
            (
                "api_key_sha256",
                "5e7bd0afcf2a7316e8ead67a03b8cf71b1111a549cc4c8a8bc1a4de4388d6f52",
            ),
        ),
    ),
    (
        FLOWS["teamsystem"],
        (
            ("grant", "teamsystem"),
            (
                "token_url",
                "https://tse.smart-api.teamsystem.cloud/api/v1/auth/token",
            ),
            ("refresh_url", "https://tse.smart-api.teamsystem.cloud/oauth/token"),
            ("username", "admin_webapicorso"),
            ("scope", "webapicorso_alywebapicorso"),
            ("language", "it-IT"),
            (
                "api_key_sha256",
                "5e7bd0afcf2a7316e8ead67a03b8cf71b1111a549cc4c8a8bc1a4de4388d6f52",
            ),
        ),
    ),
]


@pytest.mark.parametrize(("build", "identity"), IDENTITIES)
def test_each_flow_names_its_identity(
    build: Callable[[], Any], identity: tuple[tuple[str, str], ...]
) -> None:
    assert build().cache_identity() == identity


def test_the_api_key_hash_is_sha256_of_the_key_alone() -> None:
    import hashlib

    digest = hashlib.sha256(b"api-key-1").hexdigest()
    assert dict(FLOWS["smartway"]().cache_identity())["api_key_sha256"] == digest


@pytest.mark.parametrize("token", ["k-1", "Bearer k-1", "bearer k-1", "BEARER k-1"])
def test_teamsystem_key_is_the_same_with_or_without_bearer(token: str) -> None:
    flow = teamsystem(username="u", scope="s", token=token)
    assert store_key(flow) == store_key(
        teamsystem(username="u", scope="s", token="k-1")
    )


def test_where_a_credential_travels_does_not_change_the_key() -> None:
    post = ClientCredentials(token_url=URL, client_id="c", client_secret="s")
    basic = ClientCredentials(
        token_url=URL, client_id="c", client_secret="s", auth="client_secret_basic"
    )
    assert store_key(post) == store_key(basic)
    header = ApiKeyExchange(token_url=URL, api_key="k", header="X-Other")
    assert store_key(header) == store_key(ApiKeyExchange(token_url=URL, api_key="k"))


def test_teamsystem_language_changes_the_key() -> None:
    # Sent with the token request: the server may keep it in what it issues.
    italian = teamsystem(username="u", scope="s", token="k")
    english = teamsystem(username="u", scope="s", token="k", language="en-US")
    assert store_key(italian) != store_key(english)


def test_teamsystem_refresh_url_changes_the_key() -> None:
    flow = teamsystem(username="u", scope="s", token="k")
    other = TeamSystemFlow(
        token_url=flow.token_url,
        refresh_url="https://other.example/oauth/token",
        username="u",
        scope="s",
        token="k",
    )
    assert store_key(flow) != store_key(other)


def test_password_grant_with_and_without_client_id_differ() -> None:
    bare = PasswordGrant(token_url=URL, username="u", password="p")
    client = PasswordGrant(token_url=URL, username="u", password="p", client_id="c")
    assert store_key(bare) != store_key(client)


def test_extra_fields_in_any_order_of_names_share_a_key() -> None:
    one = ClientCredentials(
        token_url=URL, client_id="c", client_secret="s", extra={"a": "1", "b": "2"}
    )
    two = ClientCredentials(
        token_url=URL, client_id="c", client_secret="s", extra={"b": "2", "a": "1"}
    )
    assert store_key(one) == store_key(two)


def test_a_repeated_extra_field_keeps_the_order_of_its_values() -> None:
    # RFC 8707 resource may repeat; whether order matters is the server's
    # business, so two orders are two keys (a missed share, never a wrong one).
    one = ClientCredentials(
        token_url=URL,
        client_id="c",
        client_secret="s",
        extra=(("resource", "a"), ("resource", "b")),
    )
    two = ClientCredentials(
        token_url=URL,
        client_id="c",
        client_secret="s",
        extra=(("resource", "b"), ("resource", "a")),
    )
    assert store_key(one) != store_key(two)


def test_no_extra_field_can_pose_as_a_flow_field() -> None:
    plain = ClientCredentials(token_url=URL, client_id="c", client_secret="s")
    posing = ClientCredentials(
        token_url=URL, client_id="c", client_secret="s", extra={"username": "u"}
    )
    password = PasswordGrant(
        token_url=URL, username="u", password="p", client_id="c", client_secret="s"
    )
    assert len({store_key(plain), store_key(posing), store_key(password)}) == 3


class _Identity:
    """A flow of someone else's, naming the identity it is given."""

    def __init__(self, identity: object) -> None:
        self._identity = identity

    def cache_identity(self) -> object:
        return self._identity


@pytest.mark.parametrize(
    ("one", "two"),
    [
        ((("a", "b|c"),), (("a|b", "c"),)),
        ((("a", "b"), ("c", "d")), (("a", 'b"],["c'), ("c", "d"))),
        ((("a", 'b"],["c","d'),), (("a", "b"), ("c", "d"))),
        ((("a", "b\\"),), (("a", "b\\\\"),)),
        ((("a", ""),), (("a", " "),)),
        ((("a", "\ud800"),), (("a", "\udc00"),)),
        ((("a", "b"), ("a", "c")), (("a", "c"), ("a", "b"))),
    ],
)
def test_the_encoding_cannot_be_forged_by_a_separator(
    one: tuple[tuple[str, str], ...], two: tuple[tuple[str, str], ...]
) -> None:
    assert store_key(_Identity(one)) != store_key(_Identity(two))


def test_the_pairs_are_sorted_by_name() -> None:
    one = (("b", "2"), ("a", "1"), ("c", "3"))
    assert store_key(_Identity(one)) == store_key(_Identity(tuple(sorted(one))))


@pytest.mark.parametrize("flow", [object(), 42, "client_credentials", None])
def test_a_flow_without_an_identity_is_refused_by_its_type(flow: object) -> None:
    with pytest.raises(TypeError, match=rf"^{type(flow).__name__} has no cache_id"):
        store_key(flow)


class _NotCallable:
    cache_identity = (("a", "b"),)


def test_a_cache_identity_that_is_not_a_method_is_refused() -> None:
    with pytest.raises(TypeError, match=r"^_NotCallable has no cache_identity"):
        store_key(_NotCallable())


@pytest.mark.parametrize(
    "identity",
    [
        [("a", "b")],
        (["a", "b"],),
        (("a",),),
        (("a", "b", "c"),),
        (("a", 1),),
        ((b"a", "b"),),
        "ab",
        None,
    ],
)
def test_an_identity_of_the_wrong_shape_is_refused(identity: object) -> None:
    with pytest.raises(TypeError, match=r"^_Identity\.cache_identity\(\) must return"):
        store_key(_Identity(identity))


def test_an_empty_identity_is_refused() -> None:
    with pytest.raises(ValueError, match="must name at least one field"):
        store_key(_Identity(()))


@pytest.mark.parametrize(
    "prefix", ["a", "myapp:prod:tokens", "sansio-auth", "A.b_c-9", "app:"]
)
def test_a_prefix_of_letters_digits_and_dash_underscore_dot_colon(
    prefix: str,
) -> None:
    key = store_key(FLOWS["smartway"](), prefix=prefix)
    assert key.startswith(f"{prefix}:v1:{{")
    assert key.endswith(EXPECTED_KEYS["smartway"].removeprefix("sansio-auth"))


@pytest.mark.parametrize(
    "prefix",
    [
        "",
        "a b",
        "tag{x}",
        "a}",
        "keys*",
        "a?",
        "a[b]",
        "a\\b",
        "é",
        "a/b",
        "\n",
        "s3cr3t-p@ss",
    ],
)
def test_another_prefix_is_refused_without_echoing_it(prefix: str) -> None:
    with pytest.raises(ValueError, match="prefix must be") as caught:
        store_key(FLOWS["smartway"](), prefix=prefix)
    if prefix:
        assert prefix not in str(caught.value)


@pytest.mark.parametrize("prefix", [None, b"sansio-auth", 1])
def test_a_prefix_not_a_string_is_a_type_error(prefix: Any) -> None:
    with pytest.raises(TypeError, match=r"^prefix must be a str, got "):
        store_key(FLOWS["smartway"](), prefix=prefix)


def test_a_key_is_the_same_in_other_processes() -> None:
    # No hash randomization, no process state: two interpreters with other
    # hash seeds compute the very same keys.
    code = (
        "import json, sys\n"
        "sys.path.insert(0, sys.argv[1])\n"
        "from test_store_key import FLOWS\n"
        "from sansio_auth._store_key import store_key\n"
        "print(json.dumps({name: store_key(build()) for name, build in FLOWS.items()}))"
    )
    here = {name: store_key(build()) for name, build in FLOWS.items()}
    tests = os.path.dirname(__file__)
    for seed in ("0", "1", "4242"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        out = subprocess.run(
            [sys.executable, "-c", code, tests],
            env=env,
            capture_output=True,
            check=True,
            text=True,
        ).stdout
        assert json.loads(out) == here


# ---- properties --------------------------------------------------------------

# Small pools, so that two draws often share an identity and the property
# checks both ways: the same identity is the same key, another is another.
_URLS = st.sampled_from([URL, "https://other.example/token"])
_BASE_URLS = st.sampled_from(["https://ts.example", "https://ts2.example"])
_NAMES = st.sampled_from(["alice", "bob"])
_SCOPES = st.lists(st.sampled_from(["read", "write", "admin"]), max_size=4)
_EXTRA = st.lists(
    st.tuples(st.sampled_from(["audience", "resource"]), st.sampled_from(["x", "y"])),
    max_size=3,
)
_API_KEYS = st.sampled_from(["key-one", "key-two"])
_LANGUAGES = st.sampled_from(["it-IT", "en-US"])
# Secrets differ freely: they never decide the key.
_SECRETS = st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), min_size=1)


def _extra_model(extra: list[tuple[str, str]]) -> tuple[tuple[str, str], ...]:
    # By name; the values of one name in the order given.
    return tuple(sorted(extra, key=lambda pair: pair[0]))


@st.composite
def _flows(draw: st.DrawFn) -> tuple[object, tuple[object, ...]]:
    """A flow, and a model of what decides its token (written from the spec)."""
    kind = draw(st.sampled_from(["cc", "pg", "ak", "ts"]))
    if kind == "cc":
        url, client, scope, extra = (
            draw(_URLS),
            draw(_NAMES),
            draw(_SCOPES),
            draw(_EXTRA),
        )
        flow: object = ClientCredentials(
            token_url=url,
            client_id=client,
            client_secret=draw(_SECRETS),
            scope=scope,
            extra=extra,
            auth=draw(st.sampled_from(["client_secret_post", "client_secret_basic"])),
        )
        return flow, (kind, url, client, frozenset(scope), _extra_model(extra))
    if kind == "pg":
        url, user, scope, extra = (
            draw(_URLS),
            draw(_NAMES),
            draw(_SCOPES),
            draw(_EXTRA),
        )
        maybe_client = draw(st.none() | _NAMES)
        secret = None if maybe_client is None else draw(st.none() | _SECRETS)
        flow = PasswordGrant(
            token_url=url,
            username=user,
            password=draw(_SECRETS),
            client_id=maybe_client,
            client_secret=secret,
            scope=scope,
            extra=extra,
        )
        model = (kind, url, maybe_client, user, frozenset(scope), _extra_model(extra))
        return flow, model
    if kind == "ak":
        url, key = draw(_URLS), draw(_API_KEYS)
        header = draw(st.sampled_from(["X-API-Key", "X-Key"]))
        return ApiKeyExchange(token_url=url, api_key=key, header=header), (
            kind,
            url,
            key,
        )
    base, user, field, key, language = (
        draw(_BASE_URLS),
        draw(_NAMES),
        draw(st.sampled_from(["s1", "s2"])),
        draw(_API_KEYS),
        draw(_LANGUAGES),
    )
    token = draw(st.sampled_from(["", "Bearer ", "bearer "])) + key
    flow = teamsystem(
        username=user, scope=field, token=token, language=language, base_url=base
    )
    return flow, (kind, base, user, field, key, language)


@given(one=_flows(), two=_flows())
def test_two_flows_share_a_key_exactly_when_their_identity_is_the_same(
    one: tuple[object, tuple[object, ...]], two: tuple[object, tuple[object, ...]]
) -> None:
    # (a) any identity field differs: another key; (b) only secrets, auth or
    # the header differ: the same key; (d) scopes in any order, repeated.
    (flow_one, model_one), (flow_two, model_two) = one, two
    assert (store_key(flow_one) == store_key(flow_two)) == (model_one == model_two)


@given(scope=_SCOPES, data=st.data())
def test_scopes_in_any_order_and_repeated_share_a_key(
    scope: list[str], data: st.DataObject
) -> None:
    shuffled = data.draw(st.permutations(scope + scope[:1]))
    one = ClientCredentials(
        token_url=URL, client_id="c", client_secret="s", scope=scope
    )
    two = ClientCredentials(
        token_url=URL, client_id="c", client_secret="s", scope=" ".join(shuffled)
    )
    assert store_key(one) == store_key(two)


# Header values: printable ASCII, as check_header_value wants.
_ASCII_SECRETS = st.text(
    st.characters(min_codepoint=0x20, max_codepoint=0x7E), min_size=8, max_size=40
).filter(
    # Not a key the TeamSystem flow would take for "Bearer <key>" or refuse.
    lambda text: text.strip() and text[:7].lower() != "bearer "
)


def _spellings(data: st.DataObject, text: str) -> list[str]:
    return [encode(text) for encode in ENCODINGS.values()] + [data.draw(mixed(text))]


@given(
    data=st.data(),
    client_id=SECRETS,
    client_secret=SECRETS,
    username=SECRETS,
    password=SECRETS,
    api_key=_ASCII_SECRETS,
)
def test_no_credential_or_username_can_be_read_from_a_key(
    data: st.DataObject,
    client_id: str,
    client_secret: str,
    username: str,
    password: str,
    api_key: str,
) -> None:
    # (c) in no encoding of echoes.py: the key is a prefix and a digest.
    keys = [
        store_key(
            ClientCredentials(
                token_url=URL, client_id=client_id, client_secret=client_secret
            )
        ),
        store_key(
            PasswordGrant(
                token_url=URL,
                username=username,
                password=password,
                client_id=client_id,
                client_secret=client_secret,
            )
        ),
        store_key(ApiKeyExchange(token_url=URL, api_key=api_key)),
        store_key(teamsystem(username=username, scope="s", token=api_key)),
    ]
    for text in (client_id, client_secret, username, password, api_key):
        for spelling in _spellings(data, text):
            for key in keys:
                assert KEY.fullmatch(key)
                assert spelling not in key


def test_what_a_token_is_bound_to_changes_the_key() -> None:
    # A DPoP key's or a certificate's thumbprint: tokens bound to another
    # key are no use to this holder.
    flow = FLOWS["client_credentials"]()
    plain = store_key(flow)
    bound = store_key(flow, binding=(("dpop_jkt", "jkt-1"),))
    assert bound != plain
    assert bound == store_key(flow, binding=(("dpop_jkt", "jkt-1"),))
    assert bound != store_key(flow, binding=(("dpop_jkt", "jkt-2"),))
    assert bound != store_key(flow, binding=(("x5t#S256", "jkt-1"),))


@pytest.mark.parametrize(
    "binding",
    [
        "jkt",
        b"jkt",
        (("dpop_jkt", 5),),
        (("x",),),
        (("dpop_jkt", "a", "b"),),
        (("", "jkt"),),
        (("dpop_jkt", ""),),
        ("dpop_jkt", "jkt"),
        {"dpop_jkt": "jkt"},
    ],
)
def test_a_binding_that_is_no_tuple_of_string_pairs_is_refused(binding: Any) -> None:
    # A str would be taken apart character by character, a number hashed as
    # if it were a thumbprint: a key that looks fine and shares nothing.
    with pytest.raises(TypeError, match=r"^binding must be a tuple of \(name, value\)"):
        store_key(FLOWS["client_credentials"](), binding=binding)
