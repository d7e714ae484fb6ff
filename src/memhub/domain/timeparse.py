"""Natural-language time ranges ("yesterday morning", "last week", "Q3 2025"), in local time.

The patterns, their precedence and the ranges they produce follow mcp-memory-service's
``utils/time_parser.py`` (anchor §6) so that ``time_expr`` means the same thing with memhub.
Ranges are ``(start, end)`` epoch floats, start inclusive, end the last microsecond (or second,
where upstream uses ``23:59:59``) of the range; ``(None, None)`` when nothing matched.
"""

from __future__ import annotations

import re
from datetime import date, datetime, time, timedelta
from typing import Final

Range = tuple[float | None, float | None]
_NO_RANGE: Final[Range] = (None, None)
_MAX_LEN: Final = 500
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
_SEASONS: Final = {  # (start month, day, end month, day); winter wraps into the next year
    "spring": (3, 20, 6, 20),
    "summer": (6, 21, 9, 22),
    "fall": (9, 23, 12, 20),
    "autumn": (9, 23, 12, 20),
    "winter": (12, 21, 3, 19),
}
_HOLIDAYS: Final = {  # (month, day, window in days); day -1 = 4th Thursday of November
    "christmas": (12, 25, 3),
    "new year": (1, 1, 3),
    "valentine": (2, 14, 1),
    "halloween": (10, 31, 3),
    "thanksgiving": (11, -1, 3),
}
_TIME_OF_DAY: Final = {
    "morning": (5, 11),
    "noon": (12, 12),
    "afternoon": (13, 17),
    "evening": (18, 21),
    "night": (22, 4),
    "midnight": (0, 0),
}
_P: Final = {
    "between": re.compile(r"between\s+(\S[^&]{0,50}?)\s+and\s+(\S[^&]{0,50}?)(?=\s|$)"),
    "full_date": re.compile(r"(\d{4})-(\d{1,2})-(\d{1,2})"),
    "md_date": re.compile(r"(\d{1,2})[/-](\d{1,2})(?:[/-](\d{2,4}))?"),
    "days_ago": re.compile(r"(?:(\d{1,4})\s+days?\s+ago)|(?:yesterday)|(?:today)"),
    "weeks_ago": re.compile(r"(\d{1,4})\s+weeks?\s+ago"),
    "months_ago": re.compile(r"(\d{1,4})\s+months?\s+ago"),
    "years_ago": re.compile(r"(\d{1,4})\s+years?\s+ago"),
    "last_n": re.compile(r"last\s+(\d{1,4})\s+(days?|weeks?|months?|years?)"),
    "last": re.compile(r"last\s+(day|week|month|year|summer|spring|winter|fall|autumn)"),
    "this": re.compile(r"this\s+(day|week|month|year|summer|spring|winter|fall|autumn)"),
    "month": re.compile("(" + "|".join(_MONTHS) + ")"),
    "named": re.compile(
        r"(spring|summer|winter|fall|autumn|christmas|new\s*year|valentine|halloween|"
        r"thanksgiving|spring\s*break|summer\s*break|winter\s*break)"
    ),
    "half": re.compile(r"(first|second)\s+half\s+of\s+(\d{4})"),
    "quarter": re.compile(
        r"(first|second|third|fourth|1st|2nd|3rd|4th)\s+quarter(?:\s+(?:of\s+)?(\d{4}))?"
    ),
    "time_of_day": re.compile(r"(morning|afternoon|evening|night|noon|midnight)"),
    "recent": re.compile(r"recent|lately|recently"),
}


def _day(d: date) -> Range:
    return datetime.combine(d, time.min).timestamp(), datetime.combine(d, time.max).timestamp()


def _days(first: date, last: date) -> Range:
    return datetime.combine(first, time.min).timestamp(), datetime.combine(
        last, time.max
    ).timestamp()


def _month_span(year: int, month: int) -> Range:
    first = date(year, month, 1)
    following = date(year + 1, 1, 1) if month == 12 else date(year, month + 1, 1)
    return _days(first, following - timedelta(days=1))


def _year_span(year: int) -> Range:
    return datetime(year, 1, 1).timestamp(), datetime(year, 12, 31, 23, 59, 59).timestamp()


def _shift_month(year: int, month: int, back: int) -> tuple[int, int]:
    month -= back
    while month <= 0:
        month += 12
        year -= 1
    return year, month


def _season(name: str, year: int) -> tuple[datetime, datetime]:
    sm, sd, em, ed = _SEASONS[name]
    start = datetime(year, sm, sd)
    end_year = year + 1 if em < sm else year
    return start, datetime.combine(date(end_year, em, ed), time.max)


def _time_of_day(d: date, period: str) -> Range:
    start_h, end_h = _TIME_OF_DAY[period]
    start = datetime.combine(d, time(start_h, 0))
    end_day = d + timedelta(days=1) if start_h > end_h else d
    return start.timestamp(), datetime.combine(end_day, time(end_h, 59, 59)).timestamp()


def _holiday(name: str, today: date) -> Range:
    month, day, window = _HOLIDAYS[name]

    def on(year: int) -> date:
        if day == -1:  # the 4th Thursday of November
            first = date(year, 11, 1)
            return first + timedelta(days=(3 - first.weekday()) % 7, weeks=3)
        return date(year, month, day)

    for year in (today.year + 1, today.year, today.year - 1):
        target = on(year)
        if target - timedelta(days=window) <= today:
            break
    return _days(target - timedelta(days=window), target + timedelta(days=window))


def parse_time_expression(text: str, now: datetime | None = None) -> Range:
    """The time range a phrase names, in local time; ``(None, None)`` if it names none."""
    now = now or datetime.now()
    today = now.date()
    query = text[:_MAX_LEN].lower().strip()
    try:
        return _parse(query, now, today)
    except (ValueError, OverflowError):
        return _NO_RANGE


def _parse(query: str, now: datetime, today: date) -> Range:
    if match := _P["between"].search(query):
        start, _ = parse_time_expression(match.group(1), now)
        _, end = parse_time_expression(match.group(2), now)
        return start, end
    if match := _P["full_date"].search(query):
        return _day(date(int(match.group(1)), int(match.group(2)), int(match.group(3))))
    if match := _P["md_date"].search(query):
        month, day, year_text = int(match.group(1)), int(match.group(2)), match.group(3)
        year = int(year_text) if year_text else today.year
        if year_text and year < 100:
            year += 2000 if year < 50 else 1900
        return _day(date(year, month, day))
    if match := _P["days_ago"].search(query):
        if "yesterday" in query:
            back = 1
        elif "today" in query:
            back = 0
        else:
            back = int(match.group(1))
        target = today - timedelta(days=back)
        if part := _P["time_of_day"].search(query):
            return _time_of_day(target, part.group(1))
        return _day(target)
    if match := _P["weeks_ago"].search(query):
        target = today - timedelta(weeks=int(match.group(1)))
        monday = target - timedelta(days=target.weekday())
        return _days(monday, monday + timedelta(days=6))
    if match := _P["months_ago"].search(query):
        return _month_span(*_shift_month(today.year, today.month, int(match.group(1))))
    if match := _P["years_ago"].search(query):
        return _year_span(today.year - int(match.group(1)))
    if match := _P["last_n"].search(query):
        return _last_n(int(match.group(1)), match.group(2).rstrip("s"), now, today)
    if match := _P["last"].search(query):
        return _last(match.group(1), today)
    if match := _P["this"].search(query):
        return _this(match.group(1), today)
    if match := _P["month"].search(query):
        number = _MONTHS.index(match.group(1)) + 1
        year = today.year if number <= today.month else today.year - 1
        return _month_span(year, number)
    if match := _P["named"].search(query):
        name = re.sub(r"\s+", " ", match.group(1))
        if name in _HOLIDAYS:
            return _holiday(name, today)
        season_start, season_end = _season(name.split()[0], today.year)
        return season_start.timestamp(), season_end.timestamp()
    if match := _P["half"].search(query):
        year = int(match.group(2))
        if match.group(1) == "first":
            return datetime(year, 1, 1).timestamp(), datetime(year, 6, 30, 23, 59, 59).timestamp()
        return datetime(year, 7, 1).timestamp(), datetime(year, 12, 31, 23, 59, 59).timestamp()
    if match := _P["quarter"].search(query):
        number = {
            "first": 1,
            "1st": 1,
            "second": 2,
            "2nd": 2,
            "third": 3,
            "3rd": 3,
            "fourth": 4,
            "4th": 4,
        }[match.group(1)]
        first_month = (number - 1) * 3 + 1
        year = int(match.group(2)) if match.group(2) else today.year
        if not match.group(2) and date(year, first_month, 1) > today:
            year -= 1
        quarter_start = datetime(year, first_month, 1)
        end_year, end_month = (year + 1, 1) if first_month + 3 > 12 else (year, first_month + 3)
        return quarter_start.timestamp(), (
            datetime(end_year, end_month, 1) - timedelta(seconds=1)
        ).timestamp()
    if _P["recent"].search(query):
        return (now - timedelta(days=7)).timestamp(), now.timestamp()
    return _NO_RANGE


def _last_n(n: int, period: str, now: datetime, today: date) -> Range:
    if period == "week":
        start = today - timedelta(weeks=n)
        start -= timedelta(days=start.weekday())
    elif period == "month":
        start = date(*_shift_month(today.year, today.month, n), 1)
    elif period == "year":
        start = date(today.year - n, 1, 1)
    else:
        start = today - timedelta(days=n)
    return datetime.combine(start, time.min).timestamp(), now.timestamp()


def _last(period: str, today: date) -> Range:
    if period == "day":
        return _day(today - timedelta(days=1))
    if period == "week":
        monday = today - timedelta(days=today.weekday() + 7)
        return _days(monday, monday + timedelta(days=6))
    if period == "month":
        return _month_span(*_shift_month(today.year, today.month, 1))
    if period == "year":
        return _year_span(today.year - 1)
    year = today.year
    start, end = _season(period, year)
    while end.date() >= today:  # the most recent season that has ended
        year -= 1
        start, end = _season(period, year)
    return start.timestamp(), end.timestamp()


def _this(period: str, today: date) -> Range:
    if period == "day":
        return _day(today)
    if period == "week":
        monday = today - timedelta(days=today.weekday())
        return _days(monday, monday + timedelta(days=6))
    if period == "month":
        return _month_span(today.year, today.month)
    if period == "year":
        return _year_span(today.year)
    year = today.year
    if period == "winter" and today.month <= 3:
        year -= 1  # January to March belong to the winter that began last December
    start, end = _season(period, year)
    return start.timestamp(), end.timestamp()
