"""trusted_request: the flows' way to build a request without checking again.

It must give exactly the value ``HttpRequest(...)`` gives for the same
arguments (equal, same hash, same repr, still frozen), so that nothing
downstream can tell the two apart; and with attrs validators turned off it
must not skip the one check that still runs then, the header check.
"""

from __future__ import annotations

import copy
import pickle

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from sansio_auth import HttpRequest
from sansio_auth._http import trusted_request

URL = "https://auth.example.com/oauth/token"

header_names = st.from_regex(r"[A-Za-z0-9!#$%&'*+\-.^_`|~]{1,12}", fullmatch=True)
header_values = st.text(
    st.characters(exclude_categories=["Cs"]).filter(
        lambda c: c == "\t" or not (ord(c) < 0x20 or 0x7F <= ord(c) <= 0x9F)
    ),
    max_size=12,
)
urls = st.sampled_from(
    [URL, "http://localhost:8080/t", "http://[::1]/t?x=1", "https://é.example/ü"]
)


@given(
    urls,
    st.lists(st.tuples(header_names, header_values), max_size=4).map(tuple),
    st.binary(max_size=40),
)
def test_a_trusted_request_is_the_request_the_constructor_builds(
    url: str, headers: tuple[tuple[str, str], ...], body: bytes
) -> None:
    try:
        checked = HttpRequest(method="POST", url=url, headers=headers, body=body)
    except ValueError:  # a framing header name: the flows never send one
        return
    trusted = trusted_request(url, headers, body)
    assert type(trusted) is HttpRequest
    assert trusted == checked
    assert hash(trusted) == hash(checked)
    assert repr(trusted) == repr(checked)
    assert trusted.method == "POST"
    assert trusted.header("Content-Type") == checked.header("Content-Type")
    assert attrs.evolve(trusted, body=b"x") == attrs.evolve(checked, body=b"x")


def test_a_trusted_request_is_frozen_and_copies_like_any_other() -> None:
    request = trusted_request(URL, (("Accept", "application/json"),), b"a=1")
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        request.url = "https://evil.example/"  # type: ignore[misc]
    for again in (
        copy.copy(request),
        copy.deepcopy(request),
        pickle.loads(pickle.dumps(request)),
    ):
        assert again == request
        assert type(again) is HttpRequest


def test_with_attrs_validators_off_the_headers_are_still_checked() -> None:
    with attrs.validators.disabled():
        with pytest.raises(ValueError, match="control character"):
            trusted_request(URL, (("X-API-Key", "a\r\nHost: evil"),), b"")
        with pytest.raises(TypeError, match="pairs"):
            trusted_request(URL, "Accept: */*", b"")  # type: ignore[arg-type]
        request = trusted_request(URL, [("Accept", "*/*")], b"")  # type: ignore[arg-type]
        assert request.headers == (("Accept", "*/*"),)
    # And with them on, it trusts its caller: that is what it is for.
    request = trusted_request(URL, (("Accept", "*/*"),), b"")
    assert request == HttpRequest(
        method="POST", url=URL, headers=(("Accept", "*/*"),), body=b""
    )
