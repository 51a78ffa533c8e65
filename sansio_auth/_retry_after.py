"""``Retry-After`` (RFC 9110 §10.2.3) as a delay in seconds from ``now``.

The field is either delta-seconds (``1*DIGIT``) or an HTTP-date in any of the
three forms RFC 9110 §5.6.7 obliges a recipient to accept: IMF-fixdate,
the obsolete RFC 850 form (two-digit year) and asctime. A date in the past is
a delay of 0. Anything else is as good as no header: None.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

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


def _full_year(two_digits: int, now: float) -> int:
    # RFC 9110 §5.6.7: a two-digit year that looks more than 50 years in the
    # future is the most recent past year with those last two digits.
    this_year = datetime.fromtimestamp(now, UTC).year
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
    if match is None:
        return None
    month = _MONTHS.get(match["month"].lower())
    if month is None:
        return None
    year = int(match["year"])
    if len(match["year"]) == 2:
        year = _full_year(year, now)
    try:
        when = datetime(
            year,
            month,
            int(match["day"]),
            int(match["hour"]),
            int(match["minute"]),
            int(match["second"]),
            tzinfo=UTC,
        )
    except ValueError:  # 31 Feb, 25:00 and the like
        return None
    return max(0.0, when.timestamp() - now)
