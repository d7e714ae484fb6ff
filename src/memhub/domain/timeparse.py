"""Natural-language time ranges ("yesterday morning", "last week", "Q3 2025"), in local time.

The patterns, their precedence and the ranges they produce follow mcp-memory-service 12.2's
``utils/time_parser.py``, so that ``time_expr`` means the same thing with memhub.
Ranges are ``(start, end)`` epoch floats of naive local datetimes. Where upstream ends a range
with ``time.max`` the end is the last microsecond of the day; where it writes ``23:59:59``
(years, halves, quarters, seasons, times of day) the end is that second. ``(None, None)`` means
the text names no range; like upstream, an impossible date (``2/30/2026``) also gives that.
"""

from __future__ import annotations

import re
from datetime import date, datetime, time, timedelta
from typing import Final

TimeRange = tuple[float | None, float | None]


class TimeRangeError(ValueError):
    """The phrase names a range that cannot be meant: a count longer than four digits (upstream
    silently read "9999999999 days ago" as its last four digits), or a date outside the years
    1 to 9999 (upstream silently applied no filter at all). ``str(exc)`` says which."""


_NO_RANGE: Final[TimeRange] = (None, None)
_MAX_QUERY_CHARS: Final = 500  # upstream's ReDoS guard; the regexes rely on it
_MONTHS: Final = (
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
)
# (start month, start day, end month, end day); winter is the one season that wraps a year.
_SEASONS: Final = {
    "spring": (3, 20, 6, 20),
    "summer": (6, 21, 9, 22),
    "fall": (9, 23, 12, 20),
    "autumn": (9, 23, 12, 20),
    "winter": (12, 21, 3, 19),
}
# (month, day, window in days); day 0 marks Thanksgiving, the 4th Thursday of November.
_HOLIDAYS: Final = {
    "christmas": (12, 25, 3),
    "new year": (1, 1, 3),
    "valentine": (2, 14, 1),
    "halloween": (10, 31, 3),
    "thanksgiving": (11, 0, 3),
}
_TIMES_OF_DAY: Final = {  # (first hour, last hour), both inclusive
    "morning": (5, 11),
    "noon": (12, 12),
    "afternoon": (13, 17),
    "evening": (18, 21),
    "night": (22, 4),
    "midnight": (0, 0),
}
_QUARTERS: Final = {
    "first": 1,
    "1st": 1,
    "second": 2,
    "2nd": 2,
    "third": 3,
    "3rd": 3,
    "fourth": 4,
    "4th": 4,
}
_SEASON_WORDS: Final = "summer|spring|winter|fall|autumn"
_NAMED_PERIOD_RE: Final = (
    r"spring|summer|winter|fall|autumn|christmas|new\s*year|valentine|halloween|"
    r"thanksgiving|spring\s*break|summer\s*break|winter\s*break"
)

# Upstream's regexes, unanchored and without word boundaries on purpose: "may" matches inside
# "maybe" there too. Bounded repeats plus the 500-character cut keep backtracking linear.
_BETWEEN: Final = re.compile(r"between\s+(\S[^&]{0,50}?)\s+and\s+(\S[^&]{0,50}?)(?=\s|$)")
_FULL_DATE: Final = re.compile(r"(\d{4})-(\d{1,2})-(\d{1,2})")
_MONTH_DAY: Final = re.compile(r"(\d{1,2})[/-](\d{1,2})(?:[/-](\d{2,4}))?")
_DAYS_AGO: Final = re.compile(r"(?:(\d{1,4})\s+days?\s+ago)|(?:yesterday)|(?:today)")
_WEEKS_AGO: Final = re.compile(r"(\d{1,4})\s+weeks?\s+ago")
_MONTHS_AGO: Final = re.compile(r"(\d{1,4})\s+months?\s+ago")
_YEARS_AGO: Final = re.compile(r"(\d{1,4})\s+years?\s+ago")
_LAST_N: Final = re.compile(r"last\s+(\d{1,4})\s+(days?|weeks?|months?|years?)")
_LAST: Final = re.compile(rf"last\s+(day|week|month|year|{_SEASON_WORDS})")
_THIS: Final = re.compile(rf"this\s+(day|week|month|year|{_SEASON_WORDS})")
_MONTH_NAME: Final = re.compile("(" + "|".join(_MONTHS) + ")")
_NAMED_PERIOD: Final = re.compile(f"({_NAMED_PERIOD_RE})")
_HALF_YEAR: Final = re.compile(r"(first|second)\s+half\s+of\s+(\d{4})")
_QUARTER: Final = re.compile(
    r"(first|second|third|fourth|1st|2nd|3rd|4th)\s+quarter(?:\s+(?:of\s+)?(\d{4}))?"
)
_TIME_OF_DAY: Final = re.compile(r"(morning|afternoon|evening|night|noon|midnight)")
_RECENT: Final = re.compile(r"recent|lately|recently")
_BARE_MONTH_DAY: Final = re.compile(r"^(\d{1,2})[/-](\d{1,2})$")
# A count the patterns above would read only the last four digits of.
_LONG_COUNT: Final = re.compile(r"\d{5,}\s+(?:days?|weeks?|months?|years?)\b")
_EXPLICIT_YEAR: Final = re.compile(r"\d{4}")
_RELATIVE: Final = re.compile(r"ago|last|this|yesterday|today|recent|lately")


def parse_time_expression(text: str, now: datetime | None = None) -> TimeRange:
    """The local-time range a phrase names, as epoch floats; ``(None, None)`` if none.

    The first of these that matches wins (upstream's order): ``between X and Y``, ISO date,
    ``M/D[/Y]``, ``N days ago``/``yesterday``/``today`` (narrowed by a time of day), ``N weeks
    ago``, ``N months ago``, ``N years ago``, ``last N <unit>``, ``last <period>``, ``this
    <period>``, a month name, a holiday or season, ``first|second half of YYYY``, a quarter,
    ``recent``/``recently``/``lately``.

    A range is never inverted: ``between X and Y`` whose X falls after Y moves a yearless X
    (a month, ``M/D``, a season or quarter) back a year ("between december and january" in
    December is last December to this January), and otherwise spans both sides.

    Args:
        text: the phrase; only its first 500 characters are read, case-insensitively.
        now: the local "now" (naive local, or aware and converted); defaults to the clock.

    Raises:
        TimeRangeError: the phrase names an absurd range (see the class).
    """
    return _parse(text, _local(now), base_year=None)


def _local(now: datetime | None) -> datetime:
    if now is None:
        return datetime.now()
    if now.tzinfo is not None:
        return now.astimezone().replace(tzinfo=None)
    return now


def _parse(text: str, now: datetime, base_year: int | None) -> TimeRange:
    query = text[:_MAX_QUERY_CHARS].lower().strip()
    if count := _LONG_COUNT.search(query):
        raise TimeRangeError(f"{count.group(0)!r} is out of range: a count has at most 4 digits")
    try:
        return _match(query, now, base_year)
    except TimeRangeError:
        raise
    except OverflowError:
        raise TimeRangeError(f"{text[:80]!r} names a date outside the years 1 to 9999") from None
    except ValueError as exc:
        if "year" in str(exc):  # date(): "year -7973 is out of range"
            raise TimeRangeError(
                f"{text[:80]!r} names a date outside the years 1 to 9999"
            ) from None
        # An impossible day ("2/30"): upstream logs it and applies no time filter, and so do we.
        return _NO_RANGE
    except OSError:  # a platform that cannot convert that local time to an epoch
        return _NO_RANGE


def _match(query: str, now: datetime, base_year: int | None) -> TimeRange:
    today = now.date()
    if m := _BETWEEN.search(query):
        first, last = _parse(m.group(1), now, None), _parse(m.group(2), now, None)
        start, end = _anchor_between(m.group(1), m.group(2), first[0], last[1], now)
        if start is None or end is None or start <= end:
            return start, end
        return _uninvert(m.group(1), first, last)
    if m := _FULL_DATE.search(query):
        return _days(date(int(m.group(1)), int(m.group(2)), int(m.group(3))))
    if m := _MONTH_DAY.search(query):
        return _month_day(int(m.group(1)), int(m.group(2)), m.group(3), today, base_year)
    if m := _DAYS_AGO.search(query):
        # Upstream tests the whole query, so "3 days ago or yesterday" means yesterday.
        back = 1 if "yesterday" in query else 0 if "today" in query else int(m.group(1))
        target = today - timedelta(days=back)
        if part := _TIME_OF_DAY.search(query):
            return _time_of_day(target, part.group(1))
        return _days(target)
    if m := _WEEKS_AGO.search(query):
        monday = _monday(today - timedelta(weeks=int(m.group(1))))
        return _days(monday, monday + timedelta(days=6))
    if m := _MONTHS_AGO.search(query):
        return _month(*_months_back(today, int(m.group(1))))
    if m := _YEARS_AGO.search(query):
        return _year(today.year - int(m.group(1)))
    if m := _LAST_N.search(query):
        return _last_n(int(m.group(1)), m.group(2).rstrip("s"), now)
    if m := _LAST.search(query):
        return _last(m.group(1), today)
    if m := _THIS.search(query):
        return _this(m.group(1), today)
    if m := _MONTH_NAME.search(query):
        number = _MONTHS.index(m.group(1)) + 1
        # A month still ahead this year means last year's, which can hold memories.
        return _month(today.year if number <= today.month else today.year - 1, number)
    if m := _NAMED_PERIOD.search(query):
        return _named_period(m.group(1), today)
    if m := _HALF_YEAR.search(query):
        year = int(m.group(2))
        if m.group(1) == "first":
            return _span(datetime(year, 1, 1), datetime(year, 6, 30, 23, 59, 59))
        return _span(datetime(year, 7, 1), datetime(year, 12, 31, 23, 59, 59))
    if m := _QUARTER.search(query):
        return _quarter(_QUARTERS[m.group(1)], m.group(2), today, base_year)
    if _RECENT.search(query):
        return _span(now - timedelta(days=7), now)
    return _NO_RANGE


def _span(start: datetime, end: datetime) -> tuple[float, float]:
    return start.timestamp(), end.timestamp()


def _days(first: date, last: date | None = None) -> tuple[float, float]:
    """Midnight of ``first`` to the last microsecond of ``last`` (default: the same day)."""
    return _span(datetime.combine(first, time.min), datetime.combine(last or first, time.max))


def _monday(day: date) -> date:
    return day - timedelta(days=day.weekday())


def _months_back(today: date, back: int) -> tuple[int, int]:
    year, month = divmod(today.year * 12 + today.month - 1 - back, 12)
    return year, month + 1


def _month(year: int, month: int) -> tuple[float, float]:
    following = date(year + 1, 1, 1) if month == 12 else date(year, month + 1, 1)
    return _days(date(year, month, 1), following - timedelta(days=1))


def _year(year: int) -> tuple[float, float]:
    return _span(datetime(year, 1, 1), datetime(year, 12, 31, 23, 59, 59))


def _latest_occurrence(month: int, day: int, latest: date) -> date | None:
    """The last ``month``/``day`` on or before ``latest``; Feb 29 walks back to a leap year."""
    for year in range(latest.year, max(latest.year - 200, 0), -1):
        try:
            candidate = date(year, month, day)
        except ValueError:
            continue
        if candidate <= latest:
            return candidate
    return None


def _month_day(
    month: int, day: int, year_text: str | None, today: date, base_year: int | None
) -> TimeRange:
    if year_text is None:
        # A yearless date is its most recent occurrence (12.x; 10.59 used the current year).
        latest = today if base_year is None else date(base_year, 12, 31)
        found = _latest_occurrence(month, day, latest)
        return _NO_RANGE if found is None else _days(found)
    year = int(year_text)
    if year < 100:
        year += 2000 if year < 50 else 1900
    return _days(date(year, month, day))


def _anchor_between(
    start_text: str, end_text: str, start: float | None, end: float | None, now: datetime
) -> TimeRange:
    """Keep ``between X and Y`` in one annual window, as 12.x does (its issue #1347).

    Two yearless ``M/D`` sides are placed in the window that ends at Y's most recent occurrence
    (crossing New Year when X's month/day is later than Y's). Otherwise, when the sides came out
    inverted, X is re-read against Y's year and kept only if that puts it before Y.
    """
    if start is None or end is None:
        return start, end
    start_md = _BARE_MONTH_DAY.match(start_text.strip())
    end_md = _BARE_MONTH_DAY.match(end_text.strip())
    end_year = datetime.fromtimestamp(end).year
    if start_md is None or end_md is None:
        if start > end:
            anchored, _ = _parse(start_text, now, base_year=end_year)
            if anchored is not None and anchored <= end:
                start = anchored
        return start, end
    sm, sd = int(start_md.group(1)), int(start_md.group(2))
    em, ed = int(end_md.group(1)), int(end_md.group(2))
    crosses_year = (sm, sd) > (em, ed)
    first = _latest_occurrence(sm, sd, date(end_year - 1 if crosses_year else end_year, 12, 31))
    if first is None:
        return start, end
    last = _latest_occurrence(em, ed, date(first.year + 1 if crosses_year else first.year, 12, 31))
    if last is None or last < first:
        return start, end
    return _days(first, last)


def _uninvert(start_text: str, first: TimeRange, last: TimeRange) -> TimeRange:
    """A ``between`` range whose start came out after its end, put in order.

    A yearless calendar start (a month, ``M/D``, a season, a quarter) is moved back whole years
    until it precedes the end: "between december and january" read in December means the
    December before. Any other start (an explicit year, "yesterday") gives the span of both
    sides, which is what "between" names when its sides are given in the other order.
    """
    start, start_end = first
    end_start, end = last
    assert start is not None
    assert end is not None
    yearless = not _EXPLICIT_YEAR.search(start_text) and not _RELATIVE.search(start_text)
    if yearless:
        moved = datetime.fromtimestamp(start)
        for _ in range(4):  # Feb 29 may need several years to come round again
            moved = _year_earlier(moved)
            if moved.timestamp() <= end:
                return moved.timestamp(), end
    lows = [t for t in (start, end_start) if t is not None]
    highs = [t for t in (start_end, end) if t is not None]
    return min(lows), max(highs)


def _year_earlier(moment: datetime) -> datetime:
    try:
        return moment.replace(year=moment.year - 1)
    except ValueError:  # Feb 29 of a leap year: the year before has Feb 28
        return moment.replace(year=moment.year - 1, day=28)


def _time_of_day(day: date, period: str) -> tuple[float, float]:
    first_hour, last_hour = _TIMES_OF_DAY[period]
    # Night is the one period that runs past midnight (22:00 to 04:59:59 the next day).
    last_day = day + timedelta(days=1) if first_hour > last_hour else day
    return _span(
        datetime.combine(day, time(first_hour)), datetime.combine(last_day, time(last_hour, 59, 59))
    )


def _last_n(n: int, unit: str, now: datetime) -> tuple[float, float]:
    today = now.date()
    if unit == "week":
        first = _monday(today - timedelta(weeks=n))
    elif unit == "month":
        first = date(*_months_back(today, n), 1)
    elif unit == "year":
        first = date(today.year - n, 1, 1)
    else:
        first = today - timedelta(days=n)
    return _span(datetime.combine(first, time.min), now)


def _season(name: str, year: int, month: int | None = None) -> tuple[datetime, datetime]:
    """The season that starts in ``year``; given ``month`` in January to March, winter's
    start moves to the previous December (upstream's "this winter" rule)."""
    sm, sd, em, ed = _SEASONS[name]
    if em < sm and month is not None and month <= 3:
        year -= 1
    end_year = year + 1 if em < sm else year
    return datetime(year, sm, sd), datetime(end_year, em, ed, 23, 59, 59)


def _last(period: str, today: date) -> tuple[float, float]:
    if period == "day":
        return _days(today - timedelta(days=1))
    if period == "week":
        monday = _monday(today) - timedelta(weeks=1)
        return _days(monday, monday + timedelta(days=6))
    if period == "month":
        return _month(*_months_back(today, 1))
    if period == "year":
        return _year(today.year - 1)
    year = today.year
    start, end = _season(period, year)
    while end.date() >= today:  # the most recent occurrence that has fully ended
        year -= 1
        start, end = _season(period, year)
    return _span(start, end)


def _this(period: str, today: date) -> tuple[float, float]:
    if period == "day":
        return _days(today)
    if period == "week":  # Monday to Sunday, days still ahead included
        return _days(_monday(today), _monday(today) + timedelta(days=6))
    if period == "month":
        return _month(today.year, today.month)
    if period == "year":
        return _year(today.year)
    return _span(*_season(period, today.year, today.month))


def _holiday(year: int, month: int, day: int) -> date:
    if day == 0:
        first = date(year, 11, 1)
        return first + timedelta(days=(3 - first.weekday()) % 7, weeks=3)
    return date(year, month, day)


def _named_period(name: str, today: date) -> TimeRange:
    # Upstream looks the matched text up verbatim, so "newyear" and "new  year" match the regex
    # but name nothing; "spring break" matches as "spring" because that alternative comes first.
    if name in _HOLIDAYS:
        month, day, window = _HOLIDAYS[name]
        # The most recent occurrence whose window has opened; next year's first, because New
        # Year's window opens in late December.
        for year in (today.year + 1, today.year, today.year - 1):
            target = _holiday(year, month, day)
            if target - timedelta(days=window) <= today:
                break
        return _days(target - timedelta(days=window), target + timedelta(days=window))
    if name in _SEASONS:
        sm, sd, _, _ = _SEASONS[name]
        # The occurrence that started most recently (possibly still running).
        year = today.year if today >= date(today.year, sm, sd) else today.year - 1
        return _span(*_season(name, year))
    return _NO_RANGE


def _quarter(
    number: int, year_text: str | None, today: date, base_year: int | None
) -> tuple[float, float]:
    first_month = (number - 1) * 3 + 1
    if year_text is not None:
        year = int(year_text)
    elif base_year is not None:
        year = base_year
    else:
        # A quarter that has not started yet means last year's (12.x).
        year = today.year if date(today.year, first_month, 1) <= today else today.year - 1
    following = datetime(year + 1, 1, 1) if number == 4 else datetime(year, first_month + 3, 1)
    return _span(datetime(year, first_month, 1), following - timedelta(seconds=1))


# The phrases extract_time_expression cuts out of a query: upstream's list, except that
# ``last N <unit>`` is added, ``between``/``from`` sides are bounded like _BETWEEN (upstream's
# ``from .+ to .+`` swallowed the rest of the query), and ``recent`` keeps its word boundaries.
_PHRASES: Final = re.compile(
    "|".join(
        (
            r"\b\d+\s+days?\s+ago\b",
            r"\byesterday\b",
            r"\btoday\b",
            r"\b\d+\s+weeks?\s+ago\b",
            r"\b\d+\s+months?\s+ago\b",
            r"\b\d+\s+years?\s+ago\b",
            r"\blast\s+\d+\s+(?:days?|weeks?|months?|years?)\b",
            rf"\blast\s+(?:day|week|month|year|{_SEASON_WORDS})\b",
            rf"\bthis\s+(?:day|week|month|year|{_SEASON_WORDS})\b",
            r"\b(?:" + "|".join(_MONTHS) + r")\b",
            r"\bbetween\s+\S[^&]{0,50}?\s+and\s+\S[^&]{0,50}?(?=\s|$)",
            r"\bin\s+the\s+(?:morning|afternoon|evening|night|noon|midnight)\b",
            r"\b(?:recently|recent|lately)\b",
            r"\b\d{1,2}[/-]\d{1,2}(?:[/-]\d{2,4})?\b",
            r"\b\d{4}-\d{1,2}-\d{1,2}\b",
            rf"\b(?:{_NAMED_PERIOD_RE})\b",
            r"\b(?:first|second)\s+half\s+of\s+\d{4}\b",
            r"\b(?:first|second|third|fourth|1st|2nd|3rd|4th)\s+quarter(?:\s+(?:of\s+)?\d{4})?\b",
            r"\bfrom\s+(?P<start>\S[^&]{0,50}?)\s+to\s+(?P<end>\S[^&]{0,50}?)(?=\s|$)",
        )
    ),
    re.IGNORECASE,
)


def extract_time_expression(query: str, now: datetime | None = None) -> tuple[str, TimeRange]:
    """Split a query into its non-time words and the range its time phrases name.

    The phrases found are joined with spaces and parsed with ``parse_time_expression`` (so its
    precedence decides between them); ``from X to Y`` is read as ``between X and Y``. Unlike
    upstream, phrases are cut by position (upstream's ``str.replace`` also cut "may" out of
    "maybe" once "may" was found elsewhere), and a query whose phrases name no range is returned
    unchanged rather than losing words for nothing.

    Returns:
        ``(query without the phrases, whitespace collapsed, (start, end))``, or
        ``(query, (None, None))`` when it has no time phrase.
    """
    found = list(_PHRASES.finditer(query))
    if not found:
        return query, _NO_RANGE
    phrases = [
        f"between {m['start']} and {m['end']}" if m["start"] is not None else m.group(0)
        for m in found
    ]
    time_range = parse_time_expression(" ".join(phrases), now)
    if time_range == _NO_RANGE:
        return query, _NO_RANGE
    kept: list[str] = []
    position = 0
    for m in found:
        kept.append(query[position : m.start()])
        position = m.end()
    kept.append(query[position:])
    return " ".join(" ".join(kept).split()), time_range
