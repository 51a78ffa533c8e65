"""Retry-After (RFC 9110 §10.2.3) as a delay in seconds from the parse's ``now``.

Table-driven, in the manner of h11's ``tests/test_io.py``: each case is the
header value exactly as received, the ``now`` it is read at, and the exact
delay (or None) it must give.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import cast

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sansio_auth import (
    HttpError,
    HttpResponse,
    MalformedResponse,
    OAuthError,
    Token,
    parse_retry_after,
    parse_token_response,
)


def fields(error: object) -> tuple[type, dict[str, object]]:
    """An error as a comparable value: attrs makes exceptions compare by identity."""
    return type(error), attrs.asdict(cast(attrs.AttrsInstance, error), recurse=False)


def ts(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0
) -> float:
    """UNIX seconds of a UTC calendar time."""
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC).timestamp()


# RFC 9110 §5.6.7's example instant, in its three accepted spellings.
EXAMPLE = ts(1994, 11, 6, 8, 49, 37)
IMF = "Sun, 06 Nov 1994 08:49:37 GMT"
RFC850 = "Sunday, 06-Nov-94 08:49:37 GMT"
ASCTIME = "Sun Nov  6 08:49:37 1994"
NOW = 1_700_000_000.0


def test_the_example_instant_is_the_one_rfc_9110_means() -> None:
    # Guards the helper the tables below rely on.
    assert EXAMPLE == 784_111_777.0


DELTA_CASES = [
    pytest.param("0", 0.0, id="zero"),
    pytest.param("120", 120.0, id="two-minutes"),
    pytest.param("007", 7.0, id="leading-zeros"),
    pytest.param(" 120 ", 120.0, id="surrounding-spaces"),
    pytest.param("\t120\t", 120.0, id="surrounding-tabs"),
    pytest.param("9999999999", 9_999_999_999.0, id="ten-digits"),
]


@pytest.mark.parametrize(("value", "expected"), DELTA_CASES)
@pytest.mark.parametrize("now", [0.0, NOW, EXAMPLE + 0.5])
def test_delta_seconds_is_a_delay_whatever_now_is(
    value: str, expected: float, now: float
) -> None:
    assert parse_retry_after(value, now=now) == expected


DATE_CASES = [
    # IMF-fixdate, the preferred form.
    pytest.param(IMF, EXAMPLE - 60, 60.0, id="imf-fixdate"),
    pytest.param(IMF, EXAMPLE - 0.25, 0.25, id="imf-fixdate-fractional-now"),
    pytest.param(IMF, EXAMPLE, 0.0, id="imf-fixdate-now"),
    pytest.param(IMF, EXAMPLE + 3600, 0.0, id="imf-fixdate-in-the-past-is-zero"),
    pytest.param(
        "Thu, 01 Jan 2026 00:00:00 GMT",
        ts(2025, 12, 31, 23, 0, 0),
        3600.0,
        id="imf-fixdate-across-a-year",
    ),
    pytest.param(
        "Sun, 29 Feb 2032 12:00:00 GMT",
        ts(2032, 2, 29, 11, 59, 0),
        60.0,
        id="imf-fixdate-leap-day",
    ),
    # The obsolete RFC 850 form (two-digit year) ...
    pytest.param(RFC850, EXAMPLE - 10, 10.0, id="rfc850"),
    pytest.param(RFC850, EXAMPLE + 10, 0.0, id="rfc850-in-the-past-is-zero"),
    pytest.param(
        "Wednesday, 01-Jan-25 00:00:30 GMT",
        ts(2025, 1, 1),
        30.0,
        id="rfc850-wednesday-longest-weekday",
    ),
    # ... and asctime, whose day is padded with a space.
    pytest.param(ASCTIME, EXAMPLE - 5, 5.0, id="asctime-space-padded-day"),
    pytest.param("Sun Nov 06 08:49:37 1994", EXAMPLE - 5, 5.0, id="asctime-two-digit"),
    pytest.param(
        "Fri Dec 31 23:59:59 1999", ts(1999, 12, 31, 23, 59), 59.0, id="asctime-y2k"
    ),
    pytest.param(ASCTIME, EXAMPLE + 5, 0.0, id="asctime-in-the-past-is-zero"),
]


@pytest.mark.parametrize(("value", "now", "expected"), DATE_CASES)
def test_http_date_is_a_delay_from_now(value: str, now: float, expected: float) -> None:
    assert parse_retry_after(value, now=now) == expected


def test_the_same_date_is_a_shorter_delay_later() -> None:
    early = parse_retry_after(IMF, now=EXAMPLE - 100)
    late = parse_retry_after(IMF, now=EXAMPLE - 40)
    assert (early, late) == (100.0, 40.0)


# RFC 9110 §5.6.7: a two-digit year that appears to be more than 50 years in the
# future is the most recent past year with the same last two digits; one that
# is not is taken as it appears, even across a century boundary.
CENTURY_CASES = [
    pytest.param(
        "Tuesday, 01-Jan-75 00:00:00 GMT",
        ts(2025, 6, 1),
        ts(2075, 1, 1) - ts(2025, 6, 1),
        id="fifty-years-ahead-is-the-future",
    ),
    pytest.param(
        "Thursday, 01-Jan-76 00:00:00 GMT",
        ts(2025, 6, 1),
        0.0,
        id="over-fifty-years-ahead-is-the-past",
    ),
    pytest.param(
        "Friday, 31-Dec-99 23:59:59 GMT",
        ts(2001, 1, 1),
        0.0,
        id="99-after-2000-is-1999",
    ),
    pytest.param(
        "Friday, 31-Dec-99 23:59:59 GMT",
        ts(1999, 12, 31, 23, 59, 0),
        59.0,
        id="99-in-1999-is-this-year",
    ),
    pytest.param(
        "Saturday, 01-Jan-00 00:00:00 GMT",
        ts(1999, 12, 31, 23, 59, 30),
        30.0,
        id="00-at-the-end-of-1999-is-2000",
    ),
    pytest.param(
        "Friday, 01-Jan-00 00:00:00 GMT",
        ts(2099, 12, 31, 23, 59, 30),
        30.0,
        id="00-at-the-end-of-2099-is-2100",
    ),
    pytest.param(
        "Saturday, 01-Jan-50 00:00:00 GMT",
        ts(2099, 12, 31),
        0.0,
        id="50-in-2099-is-2050",
    ),
]


@pytest.mark.parametrize(("value", "now", "expected"), CENTURY_CASES)
def test_rfc850_two_digit_year(value: str, now: float, expected: float) -> None:
    assert parse_retry_after(value, now=now) == expected


INVALID = [
    pytest.param("", id="empty"),
    pytest.param("   ", id="blank"),
    pytest.param("-1", id="negative"),
    pytest.param("+5", id="plus-sign"),
    pytest.param("1.5", id="decimal"),
    pytest.param("1e3", id="exponent"),
    pytest.param("0x10", id="hex"),
    pytest.param("120s", id="unit"),
    pytest.param("1 20", id="inner-space"),
    pytest.param("soon", id="garbage"),
    pytest.param("\u0661\u0662\u0660", id="arabic-indic-digits"),
    pytest.param("\uff11\uff12\uff10", id="fullwidth-digits"),
    pytest.param("12345678901", id="eleven-digits"),
    pytest.param("00000000000", id="eleven-zeros"),
    pytest.param("Sun, 06 Foo 1994 08:49:37 GMT", id="bad-month"),
    pytest.param("Sun, 06 No 1994 08:49:37 GMT", id="short-month"),
    pytest.param("Tue, 31 Feb 2026 00:00:00 GMT", id="31-feb"),
    pytest.param("Sun, 29 Feb 2026 00:00:00 GMT", id="29-feb-no-leap-year"),
    pytest.param("Sun, 00 Nov 1994 08:49:37 GMT", id="day-zero"),
    pytest.param("Sun, 32 Nov 1994 08:49:37 GMT", id="day-32"),
    pytest.param("Sun, 06 Nov 1994 25:00:00 GMT", id="hour-25"),
    pytest.param("Sun, 06 Nov 1994 24:00:00 GMT", id="hour-24"),
    pytest.param("Sun, 06 Nov 1994 08:60:00 GMT", id="minute-60"),
    pytest.param("Sun, 06 Nov 1994 08:49:60 GMT", id="leap-second"),
    pytest.param("Sun, 06 Nov 0000 08:49:37 GMT", id="year-zero"),
    pytest.param("Sun, 06 Nov 1994 08:49:37 UTC", id="utc-not-gmt"),
    pytest.param("Sun, 06 Nov 1994 08:49:37", id="no-zone"),
    pytest.param("Sun, 06 Nov 1994 08:49:37 +0000", id="numeric-zone"),
    pytest.param("Sun, 6 Nov 1994 08:49:37 GMT", id="imf-one-digit-day"),
    pytest.param("Sun, 06 Nov 94 08:49:37 GMT", id="imf-two-digit-year"),
    pytest.param("Sun,  06 Nov 1994 08:49:37 GMT", id="imf-double-space"),
    pytest.param("Sun, 06 Nov 1994 8:49:37 GMT", id="one-digit-hour"),
    pytest.param("1994-11-06T08:49:37Z", id="iso-8601"),
    pytest.param("Sunday, 06-Nov-1994 08:49:37 GMT", id="rfc850-four-digit-year"),
    pytest.param("Sun, 06-Nov-94 08:49:37 GMT", id="rfc850-short-weekday"),
    pytest.param("Sunday, 06-Foo-94 08:49:37 GMT", id="rfc850-bad-month"),
    pytest.param("Sunday, 31-Feb-94 08:49:37 GMT", id="rfc850-31-feb"),
    pytest.param("Sun Nov 6 08:49:37 1994", id="asctime-unpadded-day"),
    pytest.param("Sun Nov  6 08:49:37 94", id="asctime-two-digit-year"),
    pytest.param("Sun Nov  6 08:49:37 1994 GMT", id="asctime-with-zone"),
    pytest.param("Sun Foo  6 08:49:37 1994", id="asctime-bad-month"),
    pytest.param("Sun Feb 31 08:49:37 1994", id="asctime-31-feb"),
    pytest.param("Sun Nov  6 25:49:37 1994", id="asctime-hour-25"),
    pytest.param(f"{IMF} junk", id="trailing-junk"),
    pytest.param(f"120, {IMF}", id="list"),
]


@pytest.mark.parametrize("value", INVALID)
def test_an_invalid_value_is_as_good_as_no_header(value: str) -> None:
    assert parse_retry_after(value, now=EXAMPLE - 60) is None


def test_an_absent_header_is_none() -> None:
    assert parse_retry_after(None, now=NOW) is None


# The same rules through the parser: every error that carries retry_after.
PARSED_CASES = [
    pytest.param(
        HttpResponse(status=429, headers=(("Retry-After", "120"),)),
        HttpError(status=429, content_type=None, snippet="", retry_after=120.0),
        id="429-delta",
    ),
    pytest.param(
        HttpResponse(
            status=503,
            headers=(
                ("Content-Type", "text/plain"),
                ("RETRY-AFTER", "Sun, 06 Nov 1994 08:49:37 GMT"),
            ),
            body=b"down for maintenance",
        ),
        HttpError(
            status=503,
            content_type="text/plain",
            snippet="down for maintenance",
            retry_after=90.0,
        ),
        id="503-date-any-case-name",
    ),
    pytest.param(
        HttpResponse(
            status=503, headers=(("retry-after", "Sun, 06 Nov 1994 08:00:00 GMT"),)
        ),
        HttpError(status=503, content_type=None, snippet="", retry_after=0.0),
        id="503-date-in-the-past",
    ),
    pytest.param(
        HttpResponse(status=429, headers=(("Retry-After", "a while"),)),
        HttpError(status=429, content_type=None, snippet="", retry_after=None),
        id="429-garbage",
    ),
    pytest.param(
        HttpResponse(status=429),
        HttpError(status=429, content_type=None, snippet="", retry_after=None),
        id="429-absent",
    ),
    pytest.param(
        HttpResponse(
            status=400,
            headers=(("Content-Type", "application/json"), ("Retry-After", "10")),
            body=b'{"error":"slow_down"}',
        ),
        OAuthError(
            error="slow_down", description=None, uri=None, status=400, retry_after=10.0
        ),
        id="oauth-slow-down-delta",
    ),
    pytest.param(
        HttpResponse(
            status=200,
            headers=(
                ("Content-Type", "application/json"),
                ("Retry-After", "Sunday, 06-Nov-94 08:49:37 GMT"),
            ),
            body=b'{"error":"temporarily_unavailable"}',
        ),
        OAuthError(
            error="temporarily_unavailable",
            description=None,
            uri=None,
            status=200,
            retry_after=90.0,
        ),
        id="oauth-on-200-rfc850",
    ),
    pytest.param(
        HttpResponse(
            status=503,
            headers=(("Content-Type", "application/json"), ("Retry-After", "-5")),
            body=b'{"error":"server_error"}',
        ),
        OAuthError(
            error="server_error",
            description=None,
            uri=None,
            status=503,
            retry_after=None,
        ),
        id="oauth-invalid",
    ),
]


@pytest.mark.parametrize(("response", "expected"), PARSED_CASES)
def test_parse_token_response_reads_retry_after(
    response: HttpResponse, expected: HttpError | OAuthError
) -> None:
    got = parse_token_response(response, now=EXAMPLE - 90)
    assert fields(got) == fields(expected)


def test_retry_after_on_a_success_or_malformed_answer_is_not_an_error() -> None:
    headers = (("Content-Type", "application/json"), ("Retry-After", "30"))
    good = HttpResponse(status=200, headers=headers, body=b'{"access_token":"at-1"}')
    bad = HttpResponse(status=200, headers=headers, body=b"[]")
    assert isinstance(parse_token_response(good, now=NOW), Token)
    assert isinstance(parse_token_response(bad, now=NOW), MalformedResponse)


# ---------------------------------------------------------------------------
# The calendar is arithmetic, not datetime (datetime cost a tenth of the
# import): hypothesis holds it to datetime over the whole range HTTP dates
# can name, valid and invalid alike.

MONTH_NAMES = [
    "Jan",
    "Feb",
    "Mar",
    "Apr",
    "May",
    "Jun",
    "Jul",
    "Aug",
    "Sep",
    "Oct",
    "Nov",
    "Dec",
]


def reference(
    year: int, month: int, day: int, hour: int, minute: int, second: int
) -> float | None:
    try:
        return ts(year, month, day, hour, minute, second)
    except ValueError:
        return None


@settings(database=None, deadline=None, max_examples=500)
@given(
    year=st.integers(0, 9999),
    month=st.integers(1, 12),
    day=st.integers(1, 31),
    hour=st.integers(0, 25),
    minute=st.integers(0, 61),
    second=st.integers(0, 61),
)
def test_an_imf_fixdate_means_what_datetime_says(
    year: int, month: int, day: int, hour: int, minute: int, second: int
) -> None:
    value = (
        f"Mon, {day:02d} {MONTH_NAMES[month - 1]} {year:04d} "
        f"{hour:02d}:{minute:02d}:{second:02d} GMT"
    )
    expected = reference(year, month, day, hour, minute, second)
    now = -62_135_596_800.0  # 0001-01-01: every valid date is a delay from it
    got = parse_retry_after(value, now=now)
    if expected is None:
        assert got is None
    else:
        assert got == expected - now


@settings(database=None, deadline=None, max_examples=500)
@given(
    # Whole seconds: datetime rounds to microseconds, so a hair before
    # midnight on 31 December would be next year to it and not to us.
    seconds=st.integers(min_value=-62_135_596_800, max_value=253_402_300_799),
    two_digits=st.integers(0, 99),
)
def test_a_two_digit_year_is_read_against_the_year_of_now(
    seconds: int, two_digits: int
) -> None:
    now = float(seconds)
    this_year = datetime.fromtimestamp(now, UTC).year
    candidates = [
        y
        for y in range(this_year - 150, this_year + 150)
        if y % 100 == two_digits and this_year - 50 < y <= this_year + 50
    ]
    (year,) = candidates
    value = f"Sunday, 01-Jan-{two_digits:02d} 00:00:00 GMT"
    expected = reference(year, 1, 1, 0, 0, 0)
    got = parse_retry_after(value, now=now)
    if expected is None:
        assert got is None
    else:
        assert got == max(0.0, expected - now)


@pytest.mark.parametrize("now", [math.nan, math.inf, -math.inf, 1e300])
def test_a_date_is_no_delay_from_a_now_that_is_no_time(now: float) -> None:
    assert parse_retry_after(IMF, now=now) is None
    assert parse_retry_after(RFC850, now=now) is None
    # A delta needs no now.
    assert parse_retry_after("120", now=now) == 120.0
