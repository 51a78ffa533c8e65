"""The body and credential encoders: byte-exact tables, then properties.

Each encoder gets a table of literal cases (h11's ``tests/test_io.py``
``SIMPLE_CASES`` style: input and the exact bytes out) and a hypothesis
property that decodes the output with an independent standard-library decoder
and gets the input back.
"""

from __future__ import annotations

import base64
import email.policy
import json
import re
from collections.abc import Iterable
from email.parser import BytesParser
from typing import Any
from urllib.parse import parse_qsl, quote, quote_plus, unquote, unquote_plus

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from sansio_auth import (
    basic_authorization,
    encode_form,
    encode_json,
    encode_multipart,
)
from sansio_auth._encoding import BOUNDARY

# RFC 3986 §2.3: the bytes DESIGN.md's `enc` leaves alone.
UNRESERVED = frozenset(
    b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~"
)
# One encoded name or value: unreserved bytes and %HH escapes (upper-case hex).
PERCENT_ENCODED = r"(?:[A-Za-z0-9\-._~]|%[0-9A-F]{2})*"
# The same for a form body, where a space is '+'.
FORM_ENCODED = r"(?:[A-Za-z0-9\-._~+]|%[0-9A-F]{2})*"

# Any text that UTF-8 can encode (hypothesis leaves lone surrogates out of
# text() by default), with the characters that matter to these encodings
# drawn often.
TRICKY = ":%+&=\"'\\ \t\r\n#?/;,@[]~*£€😀\x00\x7f"
texts = st.text(
    st.one_of(st.sampled_from(TRICKY), st.characters(exclude_categories=["Cs"]))
)


def escaped_bytes(encoded: str) -> list[int]:
    """The bytes written as %HH in *encoded*."""
    return [int(hh, 16) for hh in re.findall(r"%([0-9A-Fa-f]{2})", encoded)]


# --------------------------------------------------------------------------
# encode_form: RFC 6749 Appendix B
# --------------------------------------------------------------------------

FORM_CASES: list[tuple[list[tuple[str, str]], bytes]] = [
    ([], b""),
    ([("grant_type", "client_credentials")], b"grant_type=client_credentials"),
    (
        [("grant_type", "client_credentials"), ("scope", "read write")],
        b"grant_type=client_credentials&scope=read+write",
    ),
    # RFC 6749 Appendix B's own example, as a name and as a value.
    ([(" %&+£€", " %&+£€")], b"+%25%26%2B%C2%A3%E2%82%AC=+%25%26%2B%C2%A3%E2%82%AC"),
    ([("a", "")], b"a="),
    ([("", "")], b"="),
    ([("a", "b=c&d")], b"a=b%3Dc%26d"),
    ([("k", "-._~")], b"k=-._~"),
    ([("k", "*/:?#[]@!$'(),;")], b"k=%2A%2F%3A%3F%23%5B%5D%40%21%24%27%28%29%2C%3B"),
    ([("k", '"\\')], b"k=%22%5C"),
    ([("k", "a\r\nb\x00")], b"k=a%0D%0Ab%00"),
    ([("k", "😀")], b"k=%F0%9F%98%80"),
    ([("k", "%20")], b"k=%2520"),
    ([("dup", "1"), ("dup", "2")], b"dup=1&dup=2"),
]


@pytest.mark.parametrize(("fields", "body"), FORM_CASES)
def test_encode_form_byte_exact(fields: list[tuple[str, str]], body: bytes) -> None:
    assert encode_form(fields) == body


def test_encode_form_takes_any_iterable_in_order() -> None:
    pairs = iter([("b", "2"), ("a", "1")])
    assert encode_form(pairs) == b"b=2&a=1"


@given(st.lists(st.tuples(texts, texts)))
def test_encode_form_round_trips_through_parse_qsl(
    fields: list[tuple[str, str]],
) -> None:
    body = encode_form(fields)
    assert isinstance(body, bytes)
    text = body.decode("ascii")
    assert parse_qsl(text, keep_blank_values=True) == fields
    if fields:
        for pair in text.split("&"):
            name, value = pair.split("=")
            assert re.fullmatch(FORM_ENCODED, name)
            assert re.fullmatch(FORM_ENCODED, value)
    else:
        assert text == ""
    # A space is '+', and nothing is escaped that did not need to be.
    assert "%20" not in text
    assert not UNRESERVED.intersection(escaped_bytes(text))


# encode_form skips quote_plus where it can (issue 6: the cost of building a
# request). The earlier code, which called quote_plus on every name and value,
# is the reference: the bytes must be the same, and so must any error.


def reference_encode_form(fields: Iterable[tuple[str, str]]) -> bytes:
    return "&".join(
        f"{quote_plus(name, safe='')}={quote_plus(value, safe='')}"
        for name, value in fields
    ).encode("ascii")


def form_outcome(fields: Any) -> bytes | tuple[str, str]:
    try:
        return encode_form(fields)
    except (TypeError, UnicodeError) as exc:
        return type(exc).__name__, str(exc)


def reference_form_outcome(fields: Any) -> bytes | tuple[str, str]:
    try:
        return reference_encode_form(fields)
    except (TypeError, UnicodeError) as exc:
        return type(exc).__name__, str(exc)


def test_encode_form_encodes_each_of_the_first_2048_characters_as_before() -> None:
    for code in range(0x800):
        if 0xD800 <= code <= 0xDFFF:
            continue
        c = chr(code)
        fields = [(c, f"a{c}b"), (f"{c} {c}", c * 3)]
        assert encode_form(fields) == reference_encode_form(fields), hex(code)


@given(st.lists(st.tuples(texts, texts)))
def test_encode_form_is_byte_for_byte_what_quote_plus_gives(
    fields: list[tuple[str, str]],
) -> None:
    assert encode_form(fields) == reference_encode_form(fields)


@given(
    st.lists(
        st.tuples(
            st.text(st.sampled_from("aZ09-._~ +%&\t")),
            st.text(st.sampled_from("aZ09-._~ +%&\té\x80")),
        )
    )
)
def test_encode_form_is_what_quote_plus_gives_on_mostly_safe_text(
    fields: list[tuple[str, str]],
) -> None:
    assert encode_form(fields) == reference_encode_form(fields)


@pytest.mark.parametrize(
    "fields",
    [
        [("a", "\ud800")],  # a lone surrogate: UTF-8 cannot encode it
        [("\udfff x", "b")],
        [(b"a b", b"\xff&")],  # quote_plus takes bytes, so encode_form does
        [("a", b"c")],
        [("a", 1)],
        [(None, "b")],
    ],
)
def test_encode_form_takes_and_refuses_what_it_did_before(fields: Any) -> None:
    assert form_outcome(fields) == reference_form_outcome(fields)


# --------------------------------------------------------------------------
# basic_authorization: RFC 6749 §2.3.1, with %20 for a space
# --------------------------------------------------------------------------

# (client_id, client_secret, the user-pass before base64, the header value)
BASIC_CASES: list[tuple[str, str, str, str]] = [
    # RFC 6749 §2.3.1's example.
    (
        "s6BhdRkqt3",
        "7Fjfp0ZBr1KtDRbnfVdmIw",
        "s6BhdRkqt3:7Fjfp0ZBr1KtDRbnfVdmIw",
        "Basic czZCaGRSa3F0Mzo3RmpmcDBaQnIxS3REUmJuZlZkbUl3",
    ),
    # A ':' in the id is encoded before the join, so it cannot shift the split;
    # a space is %20, not '+'.
    ("a:b", "c d", "a%3Ab:c%20d", "Basic YSUzQWI6YyUyMGQ="),
    ("user", "p+ss", "user:p%2Bss", "Basic dXNlcjpwJTJCc3M="),
    ("~-._", "*", "~-._:%2A", "Basic fi0uXzolMkE="),
    ("é", "€", "%C3%A9:%E2%82%AC", "Basic JUMzJUE5OiVFMiU4MiVBQw=="),
    ("", "", ":", "Basic Og=="),
    ("id", "a%20b", "id:a%2520b", "Basic aWQ6YSUyNTIwYg=="),
    ("a/b", "?&=#", "a%2Fb:%3F%26%3D%23", "Basic YSUyRmI6JTNGJTI2JTNEJTIz"),
]


@pytest.mark.parametrize(("client_id", "secret", "userpass", "header"), BASIC_CASES)
def test_basic_authorization_byte_exact(
    client_id: str, secret: str, userpass: str, header: str
) -> None:
    assert basic_authorization(client_id, secret) == header
    assert base64.b64decode(header.removeprefix("Basic "), validate=True) == (
        userpass.encode("ascii")
    )


@given(texts, texts)
def test_basic_authorization_decodes_with_unquote_and_unquote_plus(
    client_id: str, secret: str
) -> None:
    header = basic_authorization(client_id, secret)
    scheme, _, encoded = header.partition(" ")
    assert scheme == "Basic"
    userpass = base64.b64decode(encoded, validate=True).decode("ascii")
    # Exactly one ':', the separator: any ':' in the id or secret is escaped.
    assert userpass.count(":") == 1
    id_part, _, secret_part = userpass.partition(":")
    for part, original in [(id_part, client_id), (secret_part, secret)]:
        assert re.fullmatch(PERCENT_ENCODED, part)
        assert not UNRESERVED.intersection(escaped_bytes(part))
        # Servers decode with either; %20 (never '+') means a space to both.
        assert unquote(part, errors="strict") == original
        assert unquote_plus(part, errors="strict") == original


def reference_basic(client_id: Any, secret: Any) -> str | tuple[str, str]:
    # The encoder before issue 6 dropped urllib.parse and base64 from the
    # import: every value, and every refusal, must stay what it was.
    try:
        userpass = f"{quote(client_id, safe='')}:{quote(secret, safe='')}"
        return "Basic " + base64.b64encode(userpass.encode("ascii")).decode("ascii")
    except (TypeError, UnicodeError) as exc:
        return type(exc).__name__, str(exc)


def basic_outcome(client_id: Any, secret: Any) -> str | tuple[str, str]:
    try:
        return basic_authorization(client_id, secret)
    except (TypeError, UnicodeError) as exc:
        return type(exc).__name__, str(exc)


@given(
    st.text(st.characters(codec=None, exclude_categories=())),
    st.text(st.characters(codec=None, exclude_categories=())),
)
def test_basic_authorization_is_what_urllib_and_base64_gave(
    client_id: str, secret: str
) -> None:
    assert basic_outcome(client_id, secret) == reference_basic(client_id, secret)


@pytest.mark.parametrize(
    ("client_id", "secret"),
    [("a\ud800", "b"), ("a", "\udfff"), (b"id", b"s e"), ("a", 1), (None, "b")],
)
def test_basic_authorization_takes_and_refuses_what_it_did_before(
    client_id: Any, secret: Any
) -> None:
    assert basic_outcome(client_id, secret) == reference_basic(client_id, secret)


# --------------------------------------------------------------------------
# encode_multipart: RFC 7578
# --------------------------------------------------------------------------

# RFC 2045 §5.1: a parameter value that holds one of these must be quoted.
TSPECIALS = frozenset('()<>@,;:\\"/[]?=')
# RFC 2046 §5.1.1 bchars without the space, which our boundaries never hold.
BCHARS = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz'()+_,-./:=?"


def boundary_parameter(content_type: str) -> str:
    """The boundary in *content_type*, read by the RFC 2045 §5.1 grammar.

    This is independent of any MIME library: the value must be a token (no
    tspecials, spaces or controls) or a quoted-string.
    """
    media_type, _, parameter = content_type.partition("; ")
    assert media_type == "multipart/form-data"
    name, _, value = parameter.partition("=")
    assert name == "boundary"
    quoted = re.fullmatch(r'"((?:[^"\\\r\n]|\\[^\r\n])*)"', value)
    if quoted:
        return re.sub(r"\\(.)", r"\1", quoted[1])
    assert value, "an empty boundary parameter"
    for char in value:
        assert " " < char < "\x7f", f"{char!r} in an unquoted boundary parameter"
        assert char not in TSPECIALS, (
            f"tspecial {char!r} in an unquoted boundary parameter: "
            "RFC 2045 §5.1 requires a quoted-string"
        )
    return value


def parse_multipart(content_type: str, body: bytes) -> list[tuple[str, str]]:
    """The (name, value) fields of a multipart/form-data body, by the stdlib."""
    message = BytesParser(policy=email.policy.HTTP).parsebytes(
        b"Content-Type: " + content_type.encode("ascii") + b"\r\n\r\n" + body
    )
    assert message.defects == []
    assert message.get_content_type() == "multipart/form-data"
    fields = []
    for part in message.iter_parts():
        assert part.defects == []
        assert part.keys() == ["Content-Disposition"]
        assert part.get_content_disposition() == "form-data"
        name = part.get_param("name", header="content-disposition")
        assert isinstance(name, str)
        payload = part.get_payload(decode=True)
        assert isinstance(payload, bytes)
        fields.append((name, payload.decode("utf-8")))
    return fields


def part(name: bytes, value: bytes) -> bytes:
    return b"Content-Disposition: form-data; name=" + name + b"\r\n\r\n" + value


MULTIPART_CASES: list[tuple[list[tuple[str, str]], bytes]] = [
    # With no fields there is only the close delimiter (what browsers send
    # for an empty form).
    ([], b"--B--\r\n"),
    ([("a", "b")], b"--B\r\n" + part(b'"a"', b"b") + b"\r\n--B--\r\n"),
    (
        [("username", "u"), ("scope", "s"), ("token", "Bearer k")],
        b"--B\r\n"
        + part(b'"username"', b"u")
        + b"\r\n--B\r\n"
        + part(b'"scope"', b"s")
        + b"\r\n--B\r\n"
        + part(b'"token"', b"Bearer k")
        + b"\r\n--B--\r\n",
    ),
    ([("empty", "")], b"--B\r\n" + part(b'"empty"', b"") + b"\r\n--B--\r\n"),
    # A name is a quoted-string: '"' and '\' are backslash-escaped.
    (
        [('say "hi"', "x")],
        b"--B\r\n" + part(b'"say \\"hi\\""', b"x") + b"\r\n--B--\r\n",
    ),
    ([("a\\b", "x")], b"--B\r\n" + part(b'"a\\\\b"', b"x") + b"\r\n--B--\r\n"),
    ([("a;b=c", "x")], b"--B\r\n" + part(b'"a;b=c"', b"x") + b"\r\n--B--\r\n"),
    # Values are sent as they are, in UTF-8, line breaks included.
    (
        [("é", "ü€\r\nsecond line\n")],
        b"--B\r\n"
        + part('"é"'.encode(), "ü€\r\nsecond line\n".encode())
        + b"\r\n--B--\r\n",
    ),
    ([("v", "--A")], b"--B\r\n" + part(b'"v"', b"--A") + b"\r\n--B--\r\n"),
]


@pytest.mark.parametrize(("fields", "body"), MULTIPART_CASES)
def test_encode_multipart_byte_exact(
    fields: list[tuple[str, str]], body: bytes
) -> None:
    content_type, encoded = encode_multipart(fields, boundary="B")
    assert content_type == "multipart/form-data; boundary=B"
    assert encoded == body


@pytest.mark.parametrize(("fields", "body"), MULTIPART_CASES[1:])
def test_encode_multipart_byte_exact_cases_parse_back(
    fields: list[tuple[str, str]], body: bytes
) -> None:
    assert parse_multipart("multipart/form-data; boundary=B", body) == fields


def test_encode_multipart_uses_crlf_line_ends_only() -> None:
    _, body = encode_multipart([("a", "1"), ("b", "2")])
    assert body.count(b"\r\n") == 9
    assert b"\n" not in body.replace(b"\r\n", b"")
    assert b"\r" not in body.replace(b"\r\n", b"")


def test_encode_multipart_derived_boundary_is_deterministic_and_valid() -> None:
    fields = [("username", "u"), ("scope", "s"), ("token", "Bearer k")]
    first = encode_multipart(fields)
    assert encode_multipart(list(fields)) == first
    assert encode_multipart(iter(fields)) == first
    boundary = boundary_parameter(first[0])
    assert re.fullmatch(r"[0-9A-Za-z'()+_,\-./:=?]{1,70}", boundary)
    assert first[1].startswith(b"--" + boundary.encode() + b"\r\n")
    assert first[1].endswith(b"\r\n--" + boundary.encode() + b"--\r\n")
    assert parse_multipart(*first) == fields


@pytest.mark.parametrize(
    ("one", "other"),
    [
        ([("a", "b")], [("a", "c")]),
        ([("a", "b")], [("c", "b")]),
        ([("a", "1"), ("b", "2")], [("b", "2"), ("a", "1")]),
        ([("a", "b")], [("a", "b"), ("a", "b")]),
        ([], [("a", "")]),
        ([("token", "Bearer guessable-key")], [("token", "Bearer other-key")]),
    ],
)
def test_encode_multipart_boundary_carries_nothing_of_the_content(
    one: list[tuple[str, str]], other: list[tuple[str, str]]
) -> None:
    # The boundary travels in Content-Type, which access logs record: one
    # derived from the content (a hash of it, as before issue 10) let anyone
    # holding the log check a guessed API key against it.
    assert boundary_parameter(encode_multipart(one)[0]) == BOUNDARY
    assert boundary_parameter(encode_multipart(other)[0]) == BOUNDARY


SENDABLE = st.text(st.characters(exclude_categories=["Cs"]))
PARTS = st.lists(
    st.tuples(SENDABLE.filter(lambda n: not re.search("[\r\n\x00]", n)), SENDABLE),
    max_size=4,
)


@given(PARTS, PARTS)
def test_encode_multipart_boundary_is_the_same_for_any_content_without_it(
    one: list[tuple[str, str]], other: list[tuple[str, str]]
) -> None:
    assume(all(f"--{BOUNDARY}" not in name + value for name, value in one + other))
    first, second = encode_multipart(one)[0], encode_multipart(other)[0]
    assert first == second == f"multipart/form-data; boundary={BOUNDARY}"


@pytest.mark.parametrize(
    ("fields", "boundary"),
    [
        ([("a", f"--{BOUNDARY}")], f"{BOUNDARY}-1"),
        ([("a", f"x--{BOUNDARY}-1 and --{BOUNDARY}")], f"{BOUNDARY}-2"),
        ([("a", f"--{BOUNDARY}-2")], f"{BOUNDARY}-1"),
        ([(f"--{BOUNDARY}", "b")], f"{BOUNDARY}-1"),
        ([("a", f"{BOUNDARY}")], BOUNDARY),  # without its dashes: harmless
    ],
)
def test_encode_multipart_changes_the_boundary_only_when_the_content_holds_it(
    fields: list[tuple[str, str]], boundary: str
) -> None:
    content_type, body = encode_multipart(fields)
    assert boundary_parameter(content_type) == boundary
    assert parse_multipart(content_type, body) == fields


@pytest.mark.parametrize(
    "fields",
    [
        [("a", "x--B")],
        [("a", "--B")],
        [("a", "x\r\n--B\r\ny")],
        [("a", "x\r\n--B--")],
        [("--B", "x")],
        [("ok", "fine"), ("a", "tail --Bee")],
    ],
)
def test_encode_multipart_refuses_a_boundary_that_occurs_in_the_content(
    fields: list[tuple[str, str]],
) -> None:
    with pytest.raises(ValueError, match="boundary occurs in the content"):
        encode_multipart(fields, boundary="B")


def test_encode_multipart_accepts_the_boundary_text_without_its_dashes() -> None:
    # Only "--" + boundary can end a part; the bare text is harmless.
    _, body = encode_multipart([("a", "B")], boundary="B")
    assert parse_multipart("multipart/form-data; boundary=B", body) == [("a", "B")]


@pytest.mark.parametrize(
    "boundary",
    [
        "",
        "a" * 71,
        "a b",
        "a ",
        'a"b',
        "a;b",
        "a\\b",
        "a[b]",
        "a@b",
        "a<b>",
        "a\r\nb",
        "a\x00",
        "a\tb",
        "é",
        "a*b",
    ],
)
def test_encode_multipart_refuses_an_invalid_boundary(boundary: str) -> None:
    with pytest.raises(ValueError, match="boundary must be 1 to 70 RFC 2046"):
        encode_multipart([("a", "b")], boundary=boundary)


@pytest.mark.parametrize("boundary", ["a" * 70, "1", BCHARS[:70], BCHARS[-70:]])
def test_encode_multipart_accepts_any_rfc_2046_boundary(boundary: str) -> None:
    _, body = encode_multipart([("a", "b")], boundary=boundary)
    assert body.startswith(b"--" + boundary.encode() + b"\r\n")


@pytest.mark.parametrize("boundary", ["a(b)", "a,b", "a/b", "a:b", "a=b", "a?b"])
def test_encode_multipart_content_type_carries_a_tspecial_boundary_intact(
    boundary: str,
) -> None:
    # These boundaries are valid (RFC 2046 bchars), but RFC 2045 §5.1 needs
    # the parameter quoted when it holds a tspecial; unquoted, a MIME parser
    # reads a different boundary (the stdlib reads "a" for "a(b)") and finds
    # no parts at all.
    content_type, body = encode_multipart([("a", "b")], boundary=boundary)
    assert boundary_parameter(content_type) == boundary
    assert parse_multipart(content_type, body) == [("a", "b")]


@pytest.mark.parametrize(
    ("name", "index"),
    [
        ("SECRET-NAME\r", 0),
        ("SECRET-NAME\n", 0),
        ("SECRET\x00NAME", 0),
        ("SECRET-NAME\r\nX-Injected: 1", 0),
    ],
)
def test_encode_multipart_refuses_a_name_that_breaks_the_part_header(
    name: str, index: int
) -> None:
    with pytest.raises(ValueError, match="contains CR, LF or NUL") as caught:
        encode_multipart([(name, "value")])
    message = str(caught.value)
    assert f"#{index}" in message
    assert "SECRET" not in message
    assert "NAME" not in message


def test_encode_multipart_error_names_the_field_by_position() -> None:
    with pytest.raises(ValueError, match="#2") as caught:
        encode_multipart([("a", "1"), ("b", "2"), ("PRIVATE\n", "3")])
    assert "PRIVATE" not in str(caught.value)


# Field names: any text without CR, LF or NUL (the encoder refuses those).
# Tab and the other controls, quotes, backslashes, ';', '=' and non-ASCII all
# survive the stdlib parser, so nothing else is left out.
names = st.text(
    st.one_of(
        st.sampled_from('"\\;= \t'),
        st.characters(exclude_characters="\r\n\x00", exclude_categories=["Cs"]),
    )
)


@given(st.lists(st.tuples(names, texts), min_size=1))
def test_encode_multipart_round_trips_through_the_email_parser(
    fields: list[tuple[str, str]],
) -> None:
    # min_size=1: a body with no parts is only the close delimiter (see the
    # byte-exact table), which RFC 2046's grammar, and so the stdlib parser,
    # does not accept; everything else is checked here.
    content_type, body = encode_multipart(fields)
    boundary = boundary_parameter(content_type)
    assert body.count(b"--" + boundary.encode()) == len(fields) + 1
    assert parse_multipart(content_type, body) == fields
    assert encode_multipart(fields) == (content_type, body)


boundaries = st.from_regex(r"[0-9A-Za-z'()+_,\-./:=?]{1,70}", fullmatch=True)


@given(boundaries, st.lists(st.tuples(names, texts), min_size=1))
def test_encode_multipart_with_a_given_boundary_round_trips(
    boundary: str, fields: list[tuple[str, str]]
) -> None:
    delimiter = "--" + boundary
    assume(all(delimiter not in name + value for name, value in fields))
    content_type, body = encode_multipart(fields, boundary=boundary)
    assert boundary_parameter(content_type) == boundary
    # The stdlib reads an unquoted parameter holding "'" as an RFC 2231
    # charset'language'value and loses the boundary, although RFC 2045 allows
    # "'" in a token; boundary_parameter above has already checked what we
    # emit by the RFC grammar.
    if "'" not in content_type:
        assert parse_multipart(content_type, body) == fields


@given(boundaries, st.lists(st.tuples(names, texts), min_size=1))
def test_encode_multipart_never_lets_a_given_boundary_end_a_part_early(
    boundary: str, fields: list[tuple[str, str]]
) -> None:
    delimiter = "--" + boundary
    fields = [(name, value + delimiter) for name, value in fields]
    with pytest.raises(ValueError, match="boundary occurs in the content"):
        encode_multipart(fields, boundary=boundary)


# --------------------------------------------------------------------------
# encode_json: compact UTF-8
# --------------------------------------------------------------------------

JSON_CASES: list[tuple[dict[str, object], bytes]] = [
    ({}, b"{}"),
    (
        {"grant_type": "refresh_token", "refresh_token": "r"},
        b'{"grant_type":"refresh_token","refresh_token":"r"}',
    ),
    (
        {"a": [1, 2.5, True, None], "b": {"c": "d"}},
        b'{"a":[1,2.5,true,null],"b":{"c":"d"}}',
    ),
    ({"z": 1, "a": 2}, b'{"z":1,"a":2}'),
    ({"name": "é€😀"}, '{"name":"é€😀"}'.encode()),
    ({"q": 'a"b\\c\n'}, b'{"q":"a\\"b\\\\c\\n"}'),
    ({"s": "a, b: c"}, b'{"s":"a, b: c"}'),
]


@pytest.mark.parametrize(("value", "body"), JSON_CASES)
def test_encode_json_byte_exact(value: dict[str, object], body: bytes) -> None:
    assert encode_json(value) == body


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | texts,
    lambda children: st.lists(children) | st.dictionaries(texts, children),
    max_leaves=20,
)
# Outside strings, compact JSON has no whitespace at all.
JSON_STRING = re.compile(r'"(?:[^"\\]|\\.)*"', re.DOTALL)


@given(st.dictionaries(texts, json_values))
def test_encode_json_round_trips_and_is_compact(value: dict[str, object]) -> None:
    body = encode_json(value)
    text = body.decode("utf-8")
    assert json.loads(text) == value
    assert not re.search(r"\s", JSON_STRING.sub("", text))


# Text that JSON writes as-is (no quote, backslash or C0 control to escape).
plain_json_text = st.text(
    st.characters(exclude_characters='"\\', exclude_categories=["Cs", "Cc"])
    | st.sampled_from("\x7f\x85\u2028\u2029")
)


@given(plain_json_text)
def test_encode_json_writes_non_ascii_as_utf8_not_escapes(text: str) -> None:
    assert encode_json({"k": text}) == b'{"k":"' + text.encode("utf-8") + b'"}'
