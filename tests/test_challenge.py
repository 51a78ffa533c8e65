"""WWW-Authenticate challenges (RFC 9110 §11.6.1) and what a 401 means for
our token (RFC 6750 §3): ``parse_challenges`` and ``api_action``."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sansio_auth import ApiAction, Challenge, api_action, parse_challenges

# -- the parser, by example --------------------------------------------------------

CASES: list[tuple[str, list[Challenge]]] = [
    ("", []),
    ("Bearer", [Challenge(scheme="bearer")]),
    (
        'Bearer realm="example"',
        [Challenge(scheme="Bearer", params=(("realm", "example"),))],
    ),
    # RFC 6750 §3, the expired-token example.
    (
        'Bearer realm="example", error="invalid_token", '
        'error_description="The access token expired"',
        [
            Challenge(
                scheme="Bearer",
                params=(
                    ("realm", "example"),
                    ("error", "invalid_token"),
                    ("error_description", "The access token expired"),
                ),
            )
        ],
    ),
    # RFC 9110 §11.6.1: two challenges in one value, a quoted pair inside.
    (
        'Newauth realm="apps", type=1, title="Login to \\"apps\\"", '
        'Basic realm="simple"',
        [
            Challenge(
                scheme="Newauth",
                params=(("realm", "apps"), ("type", "1"), ("title", 'Login to "apps"')),
            ),
            Challenge(scheme="Basic", params=(("realm", "simple"),)),
        ],
    ),
    ("Negotiate YIIB==", [Challenge(scheme="Negotiate", token68="YIIB==")]),
    (
        "Negotiate abc, Bearer error=invalid_token",
        [
            Challenge(scheme="Negotiate", token68="abc"),
            Challenge(scheme="Bearer", params=(("error", "invalid_token"),)),
        ],
    ),
    ("Basic, Bearer", [Challenge(scheme="Basic"), Challenge(scheme="Bearer")]),
    (
        'BEARER ERROR = "invalid_token"',
        [Challenge(scheme="bearer", params=(("error", "invalid_token"),))],
    ),
    (",, Bearer ,,", [Challenge(scheme="Bearer")]),
    # What cannot be read ends a challenge's params, the scheme and the
    # params before it kept; reading goes on from the next comma.
    ('Bearer error="unterminated', [Challenge(scheme="Bearer")]),
    ("Bearer =x, Basic", [Challenge(scheme="Bearer"), Challenge(scheme="Basic")]),
    ("Basic realm=My Realm", [Challenge(scheme="Basic", params=(("realm", "My"),))]),
    (
        "Basic realm=My Realm, charset=x",
        [
            Challenge(scheme="Basic", params=(("realm", "My"),)),
        ],
    ),
    ("@@@, Bearer", [Challenge(scheme="Bearer")]),
    (
        'Bearer realm="a,b", Basic',
        [
            Challenge(scheme="Bearer", params=(("realm", "a,b"),)),
            Challenge(scheme="Basic"),
        ],
    ),
    ("Bearer x=@, Basic", [Challenge(scheme="Bearer"), Challenge(scheme="Basic")]),
    ("Bearer a=1,", [Challenge(scheme="Bearer", params=(("a", "1"),))]),
    ("Bearer a=1, @", [Challenge(scheme="Bearer", params=(("a", "1"),))]),
    ('@"a,b", Basic', [Challenge(scheme="Basic")]),
    ('@"a', []),
    ("Bearer a", [Challenge(scheme="Bearer", token68="a")]),
    ("Bearer a b", [Challenge(scheme="Bearer")]),
    ("realm=x", []),
    # Params separated by spaces, not commas: read all the same.
    (
        'Bearer a="1" b="2", Basic',
        [
            Challenge(scheme="Bearer", params=(("a", "1"), ("b", "2"))),
            Challenge(scheme="Basic"),
        ],
    ),
    (
        'Basic realm="api" charset="UTF-8"',
        [
            Challenge(scheme="Basic", params=(("realm", "api"), ("charset", "UTF-8"))),
        ],
    ),
    (
        'Bearer realm="api" error="insufficient_scope"',
        [
            Challenge(
                scheme="Bearer",
                params=(("realm", "api"), ("error", "insufficient_scope")),
            ),
        ],
    ),
]


@pytest.mark.parametrize(("header", "expected"), CASES)
def test_parse_challenges(header: str, expected: list[Challenge]) -> None:
    assert parse_challenges(header) == tuple(expected)


def test_several_header_lines_are_read_in_order() -> None:
    got = parse_challenges(["Basic", 'Bearer error="invalid_token"'])
    assert [c.scheme for c in got] == ["basic", "bearer"]
    assert got[1].param("ERROR") == "invalid_token"
    assert got[1].param("realm") is None


def test_a_value_that_is_not_text_is_skipped() -> None:
    assert parse_challenges([b"Bearer", "Basic"]) == (  # type: ignore[list-item]
        Challenge(scheme="basic"),
    )


# -- the parser, by property -------------------------------------------------------

TOKEN = st.text(
    alphabet="!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ",
    min_size=1,
    max_size=12,
)
TOKEN68 = st.builds(
    lambda body, pad: body + "=" * pad,
    st.text(
        alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~+/",
        min_size=1,
        max_size=20,
    ),
    st.integers(0, 2),
)
QUOTABLE = st.text(
    alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E) | st.just("\t"),
    max_size=20,
)
OWS = st.sampled_from(["", " ", "  ", "\t"])


@st.composite
def challenges(draw: st.DrawFn) -> tuple[str, Challenge]:
    scheme = draw(TOKEN)
    kind = draw(st.sampled_from(["alone", "token68", "params"]))
    if kind == "alone":
        return scheme, Challenge(scheme=scheme)
    if kind == "token68":
        value = draw(TOKEN68)
        return f"{scheme} {value}", Challenge(scheme=scheme, token68=value)
    params = draw(st.lists(st.tuples(TOKEN, QUOTABLE | TOKEN), min_size=1, max_size=4))
    parts = []
    for name, value in params:
        quote = (
            draw(st.booleans())
            or not value
            or any(c not in "!#$%&'*+-.^_`|~" and not c.isalnum() for c in value)
        )
        shown = (
            '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
            if quote
            else value
        )
        parts.append(f"{name}{draw(OWS)}={draw(OWS)}{shown}")
    text = scheme + " " + f"{draw(OWS)},{draw(OWS)}".join(parts)
    return text, Challenge(scheme=scheme, params=tuple(params))


@given(st.lists(challenges(), max_size=4), OWS)
def test_what_is_written_by_the_grammar_reads_back(
    written: list[tuple[str, Challenge]], gap: str
) -> None:
    header = f"{gap},{gap}".join(text for text, _ in written)
    assert parse_challenges(header) == tuple(c for _, c in written)


@given(st.text())
def test_any_text_parses_without_raising(header: str) -> None:
    got = parse_challenges(header)
    assert all(isinstance(c, Challenge) for c in got)
    assert all(c.scheme == c.scheme.lower() for c in got)


@given(st.lists(st.text(), max_size=3))
def test_any_lines_parse_without_raising(lines: list[str]) -> None:
    assert isinstance(parse_challenges(lines), tuple)


@given(TOKEN.filter(lambda t: not t.endswith("=")), st.text(max_size=200))
def test_a_scheme_is_never_lost_to_what_follows_it(scheme: str, rest: str) -> None:
    # The scheme decides whether a 401 is about our token: whatever a
    # sloppy or hostile server writes after it, it is read.
    got = parse_challenges(f"{scheme} {rest}")
    assert got
    assert got[0].scheme == scheme.lower()


@given(st.text(min_size=1, max_size=50), st.integers(1, 4))
def test_only_the_first_8_kib_is_read(piece: str, lines: int) -> None:
    from sansio_auth._challenge import MAX_CHALLENGE_TEXT

    huge = ["Bearer " + piece * (MAX_CHALLENGE_TEXT // len(piece) + 1)] * lines
    cut = [huge[0][:MAX_CHALLENGE_TEXT]]
    assert parse_challenges(huge) == parse_challenges(cut)


def test_a_megabyte_of_challenges_is_read_quickly() -> None:
    import time

    header = ["Bearer " + "a=b, " * 200_000] * 2
    started = time.perf_counter()
    parse_challenges(header)
    assert time.perf_counter() - started < 0.5  # a generous bound: ~1 ms


# -- what a response means for the token ---------------------------------------------

ACTIONS: list[tuple[int, list[str], bool, bool, ApiAction]] = [
    # status, WWW-Authenticate, retried, replayable -> action
    (200, [], False, True, ApiAction.KEEP),
    (403, ['Bearer error="insufficient_scope"'], False, True, ApiAction.KEEP),
    (403, ['Bearer error="invalid_token"'], False, True, ApiAction.KEEP),
    (500, [], False, True, ApiAction.KEEP),
    (401, [], False, True, ApiAction.RETRY),
    (401, [], False, False, ApiAction.DROP),
    (401, [], True, True, ApiAction.KEEP),
    (401, ['Bearer realm="api"'], False, True, ApiAction.RETRY),
    (401, ['Bearer error="invalid_token"'], False, True, ApiAction.RETRY),
    (401, ['Bearer error="invalid_token"'], False, False, ApiAction.DROP),
    (401, ['Bearer error="invalid_token"'], True, True, ApiAction.KEEP),
    (401, ['bearer error="expired_token"'], False, True, ApiAction.RETRY),
    (401, ['Bearer error="insufficient_scope"'], False, True, ApiAction.KEEP),
    (401, ['Bearer error="invalid_request"'], False, True, ApiAction.KEEP),
    (401, ['Basic realm="x"'], False, True, ApiAction.KEEP),
    (401, ["Negotiate", 'Basic realm="x"'], False, True, ApiAction.KEEP),
    (401, ['Basic realm="x", Bearer'], False, True, ApiAction.RETRY),
    # Unreadable: no challenge of any scheme was read, as if none was sent.
    (401, ["@@@"], False, True, ApiAction.RETRY),
    # A slip in the params does not hide the scheme, nor a later error.
    (401, ["Basic realm=My Realm"], False, True, ApiAction.KEEP),
    (401, ['Basic realm="api" charset="UTF-8"'], False, True, ApiAction.KEEP),
    (
        401,
        ['Bearer realm="api" error="insufficient_scope"'],
        False,
        True,
        ApiAction.KEEP,
    ),
]


@pytest.mark.parametrize(
    ("status", "header", "retried", "replayable", "action"), ACTIONS
)
def test_api_action(
    status: int, header: list[str], retried: bool, replayable: bool, action: ApiAction
) -> None:
    got = api_action(
        status, header, scheme="Bearer", retried=retried, replayable=replayable
    )
    assert got is action


def test_the_scheme_is_the_one_we_sent() -> None:
    challenge = 'DPoP error="invalid_token"'
    assert api_action(
        401, challenge, scheme="DPoP", retried=False, replayable=True
    ) is (ApiAction.RETRY)
    assert api_action(
        401, challenge, scheme="Bearer", retried=False, replayable=True
    ) is (ApiAction.KEEP)


@given(
    st.integers(100, 599).filter(lambda s: s != 401),
    st.lists(st.text(), max_size=3),
    st.booleans(),
    st.booleans(),
)
def test_only_a_401_touches_the_token(
    status: int, header: list[str], retried: bool, replayable: bool
) -> None:
    got = api_action(
        status, header, scheme="Bearer", retried=retried, replayable=replayable
    )
    assert got is ApiAction.KEEP


@given(st.lists(st.text(), max_size=3), st.booleans())
def test_never_a_second_retry(header: list[str], replayable: bool) -> None:
    got = api_action(401, header, scheme="Bearer", retried=True, replayable=replayable)
    assert got is ApiAction.KEEP


@given(st.lists(st.text(), max_size=3))
def test_a_body_that_cannot_be_replayed_is_never_retried(header: list[str]) -> None:
    got = api_action(401, header, scheme="Bearer", retried=False, replayable=False)
    assert got is not ApiAction.RETRY


def test_the_values_are_public_and_named_from_the_package() -> None:
    import sansio_auth

    assert ApiAction.__module__ == "sansio_auth"
    assert Challenge.__module__ == "sansio_auth"
    assert sansio_auth.api_action is api_action


# -- DPoP (RFC 9449 §7.1, §9) ---------------------------------------------------

NONCE_CHALLENGE = 'DPoP error="use_dpop_nonce", algs="ES256"'


@pytest.mark.parametrize(
    ("nonce", "retried", "replayable", "expected"),
    [
        ("n-1", False, True, ApiAction.NONCE),
        ("n-1", True, True, ApiAction.KEEP),  # the one retry was spent
        ("n-1", False, False, ApiAction.KEEP),  # the body cannot go again
        (None, False, True, ApiAction.KEEP),  # no nonce to send: not the token
        ('bad"nonce', False, True, ApiAction.KEEP),
    ],
)
def test_a_nonce_challenge_keeps_the_token_and_retries_with_the_nonce(
    nonce: str | None, retried: bool, replayable: bool, expected: ApiAction
) -> None:
    got = api_action(
        401,
        NONCE_CHALLENGE,
        scheme="DPoP",
        retried=retried,
        replayable=replayable,
        dpop_nonce=nonce,
    )
    assert got is expected


def test_a_nonce_challenge_for_a_bearer_token_is_not_ours() -> None:
    assert (
        api_action(
            401, NONCE_CHALLENGE, scheme="Bearer", retried=False, replayable=True
        )
        is ApiAction.KEEP
    )


def test_a_refused_proof_keeps_the_token() -> None:
    # The proof was bad (a clock off, an algorithm refused, a replayed jti),
    # not the token: a new token per such answer would hammer the server.
    header = 'DPoP error="invalid_dpop_proof", error_description="iat"'
    # Once more with a fresh proof (a retrying transport replayed one, or a
    # redirect carried the first URL's), when the body can go again.
    assert (
        api_action(401, header, scheme="DPoP", retried=False, replayable=True)
        is ApiAction.PROOF
    )
    for retried, replayable in ((False, False), (True, True)):
        got = api_action(
            401, header, scheme="DPoP", retried=retried, replayable=replayable
        )
        assert got is ApiAction.KEEP
    # An invalid DPoP token is the token's fault: dropped, fetched again.
    token = api_action(
        401, 'DPoP error="invalid_token"', scheme="DPoP", retried=False, replayable=True
    )
    assert token is ApiAction.RETRY
