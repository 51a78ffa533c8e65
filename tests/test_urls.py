"""check_token_url: https anywhere, plain http to this machine only.

A token request carries a credential, so the rule is strict: each refusal
below breaks exactly one rule, and the table says which (the message must name
it, and the field).
"""

from __future__ import annotations

from ipaddress import IPv4Address, IPv6Address

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sansio_auth import check_token_url

ACCEPTED = [
    # https, any case, any host, port, path and query.
    "https://auth.example.com/oauth/token",
    "HTTPS://AUTH.EXAMPLE.COM/OAUTH/TOKEN",
    "hTtPs://auth.example.com:8443/t?x=1&y=2",
    "https://auth.example.com",
    "https://auth.example.com:443",
    "https://auth.example.com:/t",
    "https://10.0.0.1/t",
    "https://[2001:db8::1]:8443/t",
    "https://tse.smart-api.teamsystem.cloud/api/v1/auth/token",
    # http to loopback only: localhost, 127.0.0.0/8 and ::1.
    "http://localhost/t",
    "http://LOCALHOST:8080/t",
    "http://LocalHost",
    "HTTP://127.0.0.1/t",
    "http://127.0.0.1:54321/oauth/token?x=1",
    "http://127.1.2.3/t",
    "http://127.255.255.255/t",
    "http://[::1]/t",
    "http://[::1]:8080/t",
    "http://[0:0:0:0:0:0:0:1]/t",
]


@pytest.mark.parametrize("url", ACCEPTED)
def test_accepted_urls_come_back_unchanged(url: str) -> None:
    assert check_token_url(url) == url
    assert check_token_url(url, "base_url") == url


SCHEME = "must be an https URL"
LOOPBACK = "plain http is allowed only to localhost, 127.0.0.0/8 and ::1"
USER_INFO = "user info"
NO_HOST = "must have a host"
FRAGMENT = "must not have a fragment"
WHITESPACE = "must not contain whitespace or control characters"
PORT = "has an invalid port"
INVALID = "is not a valid URL"

REFUSED = [
    # Plain http to anything but loopback, including look-alikes.
    ("http://auth.example.com/t", LOOPBACK),
    ("HTTP://AUTH.EXAMPLE.COM/t", LOOPBACK),
    ("http://localhost.evil.com/t", LOOPBACK),
    ("http://localhost.localdomain/t", LOOPBACK),
    ("http://evil-localhost/t", LOOPBACK),
    ("http://127.0.0.1.nip.io/t", LOOPBACK),
    ("http://128.0.0.1/t", LOOPBACK),
    ("http://126.255.255.255/t", LOOPBACK),
    ("http://0.0.0.0/t", LOOPBACK),
    ("http://10.0.0.1/t", LOOPBACK),
    ("http://[::2]/t", LOOPBACK),
    ("http://[::]/t", LOOPBACK),
    ("http://[2001:db8::1]/t", LOOPBACK),
    ("http://127.1/t", LOOPBACK),
    ("http://2130706433/t", LOOPBACK),
    # Other schemes, or none.
    ("ftp://auth.example.com/t", SCHEME),
    ("ws://localhost/t", SCHEME),
    ("wss://auth.example.com/t", SCHEME),
    ("file:///etc/passwd", SCHEME),
    ("javascript:alert(1)", SCHEME),
    ("httpx://auth.example.com/t", SCHEME),
    ("auth.example.com/t", SCHEME),
    ("//auth.example.com/t", SCHEME),
    ("", SCHEME),
    # User info: a second credential where logs print it.
    ("https://user@auth.example.com/t", USER_INFO),
    ("https://user:password@auth.example.com/t", USER_INFO),
    ("https://@auth.example.com/t", USER_INFO),
    ("https://:@auth.example.com/t", USER_INFO),
    ("http://127.0.0.1@evil.example/t", USER_INFO),
    ("http://user@localhost/t", USER_INFO),
    # No host.
    ("https:///t", NO_HOST),
    ("https://", NO_HOST),
    ("https://:443/t", NO_HOST),
    ("https:auth.example.com", NO_HOST),
    ("https:/auth.example.com/t", NO_HOST),
    ("http://:8080/t", NO_HOST),
    # A fragment, even an empty one: it is never sent, so it is a mistake.
    ("https://a/t#", FRAGMENT),
    ("https://a/t#frag", FRAGMENT),
    ("https://a/t?x=1#y", FRAGMENT),
    ("https://a#", FRAGMENT),
    ("http://localhost/t#x", FRAGMENT),
    # Whitespace and control characters, anywhere.
    ("https://a/ t", WHITESPACE),
    (" https://a/t", WHITESPACE),
    ("https://a/t ", WHITESPACE),
    ("https://a/t\n", WHITESPACE),
    ("https://a/t\r", WHITESPACE),
    ("https://a/t\r\nHost: evil", WHITESPACE),
    ("\thttps://a/t", WHITESPACE),
    ("https://a/t\x00", WHITESPACE),
    ("https://a/t\x01", WHITESPACE),
    ("https://a/t\x1f", WHITESPACE),
    ("https://a/t\x7f", WHITESPACE),
    ("https://a/t\x0b", WHITESPACE),
    ("https://a\u00a0b/t", WHITESPACE),
    ("https://a/t\u2028", WHITESPACE),
    ("https://a/t\u3000", WHITESPACE),
    # A port that is not a port.
    ("https://a:99999/t", PORT),
    ("https://a:65536/t", PORT),
    ("https://a:abc/t", PORT),
    ("https://a:-1/t", PORT),
    ("https://a:+1/t", PORT),
    ("https://a:1:2/t", PORT),
    ("http://localhost:http/t", PORT),
    # An unclosed (or unopened) IPv6 bracket.
    ("https://[::1/t", INVALID),
    ("http://[::1:8080/t", INVALID),
    ("https://::1]/t", INVALID),
    ("https://[not-an-ip]/t", INVALID),
]


@pytest.mark.parametrize(("url", "rule"), REFUSED)
def test_refused_urls_name_the_rule_and_the_field(url: str, rule: str) -> None:
    with pytest.raises(ValueError, match=r"^base_url ") as caught:
        check_token_url(url, "base_url")
    assert rule in str(caught.value)
    assert "token_url" not in str(caught.value)


@pytest.mark.parametrize(("url", "rule"), REFUSED)
def test_the_field_defaults_to_token_url(url: str, rule: str) -> None:
    with pytest.raises(ValueError, match=r"^token_url ") as caught:
        check_token_url(url)
    assert rule in str(caught.value)


def test_user_info_refusal_never_repeats_the_credential() -> None:
    with pytest.raises(ValueError, match="user info") as caught:
        check_token_url("https://client:SECRET-PASSWORD@auth.example.com/t")
    assert "SECRET" not in str(caught.value)


@pytest.mark.parametrize(
    "url", [None, b"https://auth.example.com/t", 42, ["https://a/t"], object()]
)
def test_a_url_that_is_not_a_str_is_a_type_error(url: object) -> None:
    with pytest.raises(TypeError, match=r"^endpoint must be a str, got "):
        check_token_url(url, "endpoint")
    with pytest.raises(TypeError, match=r"^token_url must be a str"):
        check_token_url(url)


hosts = st.from_regex(
    r"[a-z][a-z0-9-]{0,20}(\.[a-z][a-z0-9-]{0,20}){0,3}", fullmatch=True
)
paths = st.from_regex(r"(/[A-Za-z0-9._~%!$&'()*+,;=:@-]{0,10}){0,4}", fullmatch=True)


@given(hosts, paths)
def test_https_is_accepted_for_any_host(host: str, path: str) -> None:
    url = f"https://{host}{path}"
    assert check_token_url(url) == url


@given(hosts, paths)
def test_plain_http_is_refused_for_any_host_but_localhost(host: str, path: str) -> None:
    url = f"http://{host}{path}"
    if host == "localhost":
        assert check_token_url(url) == url
    else:
        with pytest.raises(ValueError, match="plain http is allowed only"):
            check_token_url(url)


# IPv4-mapped IPv6 (::ffff:127.0.0.1) is left out: the contract does not say,
# and ipaddress changed its answer for them in Python 3.13.
ip_literals = st.ip_addresses().filter(
    lambda a: not (isinstance(a, IPv6Address) and a.ipv4_mapped is not None)
)


@given(ip_literals, st.integers(min_value=1, max_value=65535))
def test_plain_http_to_an_ip_literal_is_for_loopback_only(
    address: IPv4Address | IPv6Address, port: int
) -> None:
    text = str(address)
    host = f"[{text}]" if ":" in text else text
    url = f"http://{host}:{port}/t"
    loopback = text == "::1" or text.startswith("127.")
    if loopback:
        assert check_token_url(url) == url
    else:
        with pytest.raises(ValueError, match="plain http is allowed only"):
            check_token_url(url)


url_like = st.text(
    st.sampled_from("hHtTpPsS:/@#?[]%.0123456789:lochast \t\r\n\x00\x7fé")
    | st.characters(exclude_categories=["Cs"])
)


@given(st.one_of(url_like, st.builds("https://{}".format, url_like)))
def test_any_text_is_returned_unchanged_or_refused_with_a_value_error(
    url: str,
) -> None:
    refusal: ValueError | None = None
    try:
        result = check_token_url(url)
    except ValueError as exc:
        refusal = exc
    if refusal is None:
        assert result == url
        assert url[:5].lower() in ("https", "http:")
    else:
        assert str(refusal).startswith("token_url ")
