"""``Retry-After`` (RFC 9110 §10.2.3) as a delay in seconds from ``now``.

The field is either delta-seconds (``1*DIGIT``) or an HTTP-date in any of the
three forms RFC 9110 §5.6.7 obliges a recipient to accept: IMF-fixdate,
the obsolete RFC 850 form (two-digit year) and asctime. A date in the past is
a delay of 0. Anything else is as good as no header: None.
"""

from __future__ import annotations

import re

__all__ = ["parse_retry_after"]

_MONTHS = {
    name: number
    for number, name in enumerate(
        (
            "jan",
            "feb",
            "mar",
            "apr",
            "may",
            "jun",
            "jul",
            "aug",
            "sep",
            "oct",
            "nov",
            "dec",
        ),
        start=1,
    )
}
_TIME = r"(?P<hour>\d\d):(?P<minute>\d\d):(?P<second>\d\d)"
_MON = r"(?P<month>[A-Za-z]{3})"
_IMF_FIXDATE = re.compile(
    rf"[A-Za-z]{{3}}, (?P<day>\d\d) {_MON} (?P<year>\d{{4}}) {_TIME} GMT", re.ASCII
)
_RFC850 = re.compile(
    rf"[A-Za-z]{{6,9}}, (?P<day>\d\d)-{_MON}-(?P<year>\d\d) {_TIME} GMT", re.ASCII
)
_ASCTIME = re.compile(
    rf"[A-Za-z]{{3}} {_MON} (?P<day>[ \d]\d) {_TIME} (?P<year>\d{{4}})", re.ASCII
)
# Ten digits is over 300 years; a longer value is not a real instruction.
_DELTA = re.compile(r"\d{1,10}", re.ASCII)
# Year 10000, in UNIX seconds: beyond it *now* is no time (inf, NaN, 1e300).
_FAR = 253_402_300_800.0


# The calendar by arithmetic (Howard Hinnant's civil-date algorithms, in the
# proleptic Gregorian calendar that HTTP dates use), not datetime: importing
# datetime was a tenth of the library's import time, for a rare header.
_DAYS_IN_MONTH = (31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)
_DAY = 86_400


def _is_leap(year: int) -> bool:
    return year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)


def _days_from_civil(year: int, month: int, day: int) -> int:
    """Days from 1970-01-01 to the given date (negative before it)."""
    year -= month <= 2
    era = year // 400
    year_of_era = year - era * 400
    day_of_year = (153 * (month - 3 if month > 2 else month + 9) + 2) // 5 + day - 1
    day_of_era = year_of_era * 365 + year_of_era // 4 - year_of_era // 100 + day_of_year
    return era * 146_097 + day_of_era - 719_468


def _year_of(timestamp: float) -> int:
    """The UTC calendar year of a UNIX time."""
    days = int(timestamp // _DAY) + 719_468
    era = days // 146_097
    day_of_era = days - era * 146_097
    year_of_era = (
        day_of_era - day_of_era // 1460 + day_of_era // 36_524 - day_of_era // 146_096
    ) // 365
    day_of_year = day_of_era - (
        365 * year_of_era + year_of_era // 4 - year_of_era // 100
    )
    # Months count from March, so January and February close the year.
    march_based_month = (5 * day_of_year + 2) // 153
    return year_of_era + era * 400 + (march_based_month >= 10)


def _full_year(two_digits: int, now: float) -> int:
    # RFC 9110 §5.6.7: a two-digit year that looks more than 50 years in the
    # future is the most recent past year with those last two digits.
    this_year = _year_of(now)
    # The nearest such year that is not more than 50 years ahead.
    year = this_year - this_year % 100 + two_digits
    if year > this_year + 50:
        return year - 100
    if year <= this_year - 50:
        return year + 100
    return year


def parse_retry_after(value: str | None, *, now: float) -> float | None:
    """The delay a ``Retry-After`` value asks for, in seconds from *now*.

    Args:
      value: the header value, or None when the header is absent.
      now: the current time in UNIX seconds.

    Returns:
      A non-negative delay, or None when *value* is absent or not valid.
    """
    if value is None:
        return None
    value = value.strip()
    if _DELTA.fullmatch(value):
        return float(value)
    match = (
        _IMF_FIXDATE.fullmatch(value)
        or _RFC850.fullmatch(value)
        or _ASCTIME.fullmatch(value)
    )
    if match is None or not -_FAR < now < _FAR:
        return None  # no date, or a *now* that is no time to count from
    month = _MONTHS.get(match["month"].lower())
    if month is None:
        return None
    year = int(match["year"])
    if len(match["year"]) == 2:
        year = _full_year(year, now)
    day = int(match["day"])
    hour, minute, second = (
        int(match["hour"]),
        int(match["minute"]),
        int(match["second"]),
    )
    days_in_month = _DAYS_IN_MONTH[month - 1] + (month == 2 and _is_leap(year))
    if not (
        1 <= year <= 9999
        and 1 <= day <= days_in_month
        and hour < 24
        and minute < 60
        and second < 60
    ):
        return None  # 31 Feb, 25:00, year 0 and the like
    when = (
        _days_from_civil(year, month, day) * _DAY + hour * 3600 + minute * 60 + second
    )
    return max(0.0, when - now)
