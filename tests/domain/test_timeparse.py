from __future__ import annotations

import re
import time
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from memhub.domain.timeparse import (
    TimeRangeError,
    extract_time_expression,
    parse_time_expression,
)
from tests.domain.helpers import local

# A Wednesday afternoon, local time (New York, standard time: DST ended on 2026-11-01).
NOW = datetime(2026, 11, 18, 14, 30)
END = (23, 59, 59, 999999)  # upstream's time.max
EOD = (23, 59, 59)  # upstream's datetime(..., 23, 59, 59)


pytestmark = pytest.mark.usefixtures("new_york_time")


def local_range(text: str, now: datetime = NOW) -> tuple[datetime | None, datetime | None]:
    start, end = parse_time_expression(text, now)
    return (
        None if start is None else datetime.fromtimestamp(start),
        None if end is None else datetime.fromtimestamp(end),
    )


d = local


CASES = [
    # 1. between X and Y: X's start, Y's end, kept in one annual window (12.x).
    ("between 2026-01-01 and 2026-03-01", d(2026, 1, 1), d(2026, 3, 1, *END)),
    ("between 12/25 and 1/31", d(2025, 12, 25), d(2026, 1, 31, *END)),
    ("between 1/31 and 12/25", d(2025, 1, 31), d(2025, 12, 25, *END)),
    ("between 2/29 and 12/25", d(2024, 2, 29), d(2024, 12, 25, *END)),
    ("between 1st quarter and 12/31/2024", d(2024, 1, 1), d(2024, 12, 31, *END)),
    ("between yesterday and today", d(2026, 11, 17), d(2026, 11, 18, *END)),
    ("between yesterday and someday", d(2026, 11, 17), None),
    # 2. ISO date, the whole local day.
    ("2026-03-05", d(2026, 3, 5), d(2026, 3, 5, *END)),
    ("what happened on 2026-03-08", d(2026, 3, 8), d(2026, 3, 8, *END)),  # 23-hour DST day
    # 3. M/D[/Y]: yearless is the most recent occurrence; 2-digit years pivot at 50.
    ("11/18", d(2026, 11, 18), d(2026, 11, 18, *END)),
    ("12/25", d(2025, 12, 25), d(2025, 12, 25, *END)),
    ("2/29", d(2024, 2, 29), d(2024, 2, 29, *END)),
    ("3/4/26", d(2026, 3, 4), d(2026, 3, 4, *END)),
    ("3/4/75", d(1975, 3, 4), d(1975, 3, 4, *END)),
    ("3-4-2024", d(2024, 3, 4), d(2024, 3, 4, *END)),
    # 4. N days ago / yesterday / today, optionally narrowed to a time of day.
    ("yesterday", d(2026, 11, 17), d(2026, 11, 17, *END)),
    ("today", d(2026, 11, 18), d(2026, 11, 18, *END)),
    ("3 days ago", d(2026, 11, 15), d(2026, 11, 15, *END)),
    ("yesterday morning", d(2026, 11, 17, 5), d(2026, 11, 17, 11, 59, 59)),
    ("2 days ago in the afternoon", d(2026, 11, 16, 13), d(2026, 11, 16, 17, 59, 59)),
    ("today evening", d(2026, 11, 18, 18), d(2026, 11, 18, 21, 59, 59)),
    ("yesterday night", d(2026, 11, 17, 22), d(2026, 11, 18, 4, 59, 59)),
    ("yesterday at noon", d(2026, 11, 17, 12), d(2026, 11, 17, 12, 59, 59)),
    ("today midnight", d(2026, 11, 18), d(2026, 11, 18, 0, 59, 59)),
    # 5. N weeks ago: the Monday-Sunday week holding that day.
    ("2 weeks ago", d(2026, 11, 2), d(2026, 11, 8, *END)),
    # 6. N months ago: that calendar month.
    ("1 month ago", d(2026, 10, 1), d(2026, 10, 31, *END)),
    ("11 months ago", d(2025, 12, 1), d(2025, 12, 31, *END)),
    ("13 months ago", d(2025, 10, 1), d(2025, 10, 31, *END)),
    # 7. N years ago: that calendar year.
    ("2 years ago", d(2024, 1, 1), d(2024, 12, 31, *EOD)),
    # 8. last N units: from the start of the first one until now.
    ("last 3 days", d(2026, 11, 15), NOW),
    ("last 2 weeks", d(2026, 11, 2), NOW),
    ("last 3 months", d(2026, 8, 1), NOW),
    ("last 14 months", d(2025, 9, 1), NOW),
    ("last 2 years", d(2024, 1, 1), NOW),
    # 9. last <period>: the previous one; a season's last fully ended occurrence.
    ("last day", d(2026, 11, 17), d(2026, 11, 17, *END)),
    ("last week", d(2026, 11, 9), d(2026, 11, 15, *END)),
    ("last month", d(2026, 10, 1), d(2026, 10, 31, *END)),
    ("last year", d(2025, 1, 1), d(2025, 12, 31, *EOD)),
    ("last summer", d(2026, 6, 21), d(2026, 9, 22, *EOD)),
    ("last fall", d(2025, 9, 23), d(2025, 12, 20, *EOD)),
    ("last winter", d(2025, 12, 21), d(2026, 3, 19, *EOD)),
    # 10. this <period>: the current one, days still ahead included.
    ("this day", d(2026, 11, 18), d(2026, 11, 18, *END)),
    ("this week", d(2026, 11, 16), d(2026, 11, 22, *END)),
    ("this month", d(2026, 11, 1), d(2026, 11, 30, *END)),
    ("this year", d(2026, 1, 1), d(2026, 12, 31, *EOD)),
    ("this autumn", d(2026, 9, 23), d(2026, 12, 20, *EOD)),
    ("this winter", d(2026, 12, 21), d(2027, 3, 19, *EOD)),
    ("this spring", d(2026, 3, 20), d(2026, 6, 20, *EOD)),
    # 11. Month names: this year's, or last year's while still ahead.
    ("march", d(2026, 3, 1), d(2026, 3, 31, *END)),
    ("November", d(2026, 11, 1), d(2026, 11, 30, *END)),
    ("december", d(2025, 12, 1), d(2025, 12, 31, *END)),
    # 12. Holidays (most recent window already open) and seasons (most recently started).
    ("christmas", d(2025, 12, 22), d(2025, 12, 28, *END)),
    ("new year", d(2025, 12, 29), d(2026, 1, 4, *END)),
    ("valentine", d(2026, 2, 13), d(2026, 2, 15, *END)),
    ("halloween", d(2026, 10, 28), d(2026, 11, 3, *END)),
    ("thanksgiving", d(2025, 11, 24), d(2025, 11, 30, *END)),
    ("summer", d(2026, 6, 21), d(2026, 9, 22, *EOD)),
    ("fall", d(2026, 9, 23), d(2026, 12, 20, *EOD)),
    ("winter", d(2025, 12, 21), d(2026, 3, 19, *EOD)),
    ("spring break", d(2026, 3, 20), d(2026, 6, 20, *EOD)),
    # 13. Half years.
    ("first half of 2025", d(2025, 1, 1), d(2025, 6, 30, *EOD)),
    ("second half of 2024", d(2024, 7, 1), d(2024, 12, 31, *EOD)),
    # 14. Quarters: yearless means this year's unless it has not started yet.
    ("3rd quarter", d(2026, 7, 1), d(2026, 9, 30, *EOD)),
    ("fourth quarter", d(2026, 10, 1), d(2026, 12, 31, *EOD)),
    ("first quarter of 2025", d(2025, 1, 1), d(2025, 3, 31, *EOD)),
    ("2nd quarter 2024", d(2024, 4, 1), d(2024, 6, 30, *EOD)),
    # 15. recent / recently / lately: the last 7 days up to now.
    ("recent", d(2026, 11, 11, 14, 30), NOW),
    ("what did we change recently", d(2026, 11, 11, 14, 30), NOW),
    ("lately", d(2026, 11, 11, 14, 30), NOW),
]


@pytest.mark.parametrize(("text", "start", "end"), CASES, ids=[c[0] for c in CASES])
def test_time_expression(text, start, end):
    assert local_range(text) == (start, end)


PRECEDENCE = [
    pytest.param("between 3/1 and 3/5 yesterday", "between 3/1 and 3/5", id="between-first"),
    pytest.param("2026-03-05 or 3/6", "2026-03-05", id="iso-before-md"),
    pytest.param("yesterday, 2 weeks ago", "yesterday", id="days-before-weeks"),
    pytest.param("3 days ago or yesterday", "yesterday", id="yesterday-beats-n-days"),
    pytest.param("last 2 weeks", "last 2 weeks", id="last-n-before-last"),
    pytest.param("last week of march", "last week", id="last-before-month"),
    pytest.param("this week in december", "this week", id="this-before-month"),
    pytest.param("march christmas", "march", id="month-before-holiday"),
    pytest.param("christmas in the second half of 2025", "christmas", id="holiday-before-half"),
    pytest.param("halloween 2024", "halloween", id="holiday-ignores-year"),
    pytest.param("first half of 2025 first quarter", "first half of 2025", id="half-first"),
    pytest.param("recently in the 3rd quarter", "3rd quarter", id="quarter-before-recent"),
    pytest.param("maybe", "may", id="month-inside-a-word"),
]


@pytest.mark.parametrize(("text", "same_as"), PRECEDENCE)
def test_precedence(text, same_as):
    assert local_range(text) == local_range(same_as)
    assert local_range(text) != (None, None)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "nothing to see",
        "2026-02-30",  # impossible ISO date: no range, and no fallback to M/D
        "2/30",
        "13/1",
        "newyear",  # the regex allows it, upstream's lookup does not
        "x" * 500 + "yesterday",  # only the first 500 characters are read
    ],
)
def test_no_range(text):
    assert parse_time_expression(text, NOW) == (None, None)


def test_input_is_cut_at_500_characters_and_lower_cased():
    assert local_range("x" * 490 + " YESTERDAY") == local_range("yesterday")


@pytest.mark.parametrize(
    ("text", "now", "expected"),
    [
        # Upstream reads each month name on its own and returns an inverted, always-empty range.
        ("between december and january", d(2026, 12, 15), (d(2025, 12, 1), d(2026, 1, 31, *END))),
        ("between january and december", NOW, (d(2025, 1, 1), d(2025, 12, 31, *END))),
        ("between march and january", NOW, (d(2025, 3, 1), d(2026, 1, 31, *END))),
        ("between summer and spring", NOW, (d(2025, 6, 21), d(2026, 6, 20, *EOD))),
        # Sides with an explicit year are not moved: the range spans both.
        ("between 2026-03-01 and 2026-01-01", NOW, (d(2026, 1, 1), d(2026, 3, 1, *END))),
        ("between today and yesterday", NOW, (d(2026, 11, 17), d(2026, 11, 18, *END))),
    ],
)
def test_between_never_gives_an_inverted_range(text, now, expected):
    assert local_range(text, now) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("9999999999 days ago", "'9999999999 days' is out of range: a count has at most 4 digits"),
        ("last 12345 weeks", "'12345 weeks' is out of range: a count has at most 4 digits"),
        ("9999 years ago", "'9999 years ago' names a date outside the years 1 to 9999"),
        ("last 9999 years", "'last 9999 years' names a date outside the years 1 to 9999"),
        ("between 9000 years ago and today", "names a date outside the years 1 to 9999"),
    ],
)
def test_absurd_ranges_are_refused_with_a_clear_message(text, message):
    with pytest.raises(TimeRangeError, match=re.escape(message)):
        parse_time_expression(text, NOW)


def test_holidays_and_seasons_follow_today():
    assert local_range("thanksgiving", d(2026, 11, 24)) == (d(2026, 11, 23), d(2026, 11, 29, *END))
    assert local_range("new year", d(2026, 12, 30)) == (d(2026, 12, 29), d(2027, 1, 4, *END))
    assert local_range("winter", d(2026, 12, 21)) == (d(2026, 12, 21), d(2027, 3, 19, *EOD))
    assert local_range("this winter", d(2027, 2, 1)) == (d(2026, 12, 21), d(2027, 3, 19, *EOD))
    assert local_range("spring", d(2026, 3, 19)) == (d(2025, 3, 20), d(2025, 6, 20, *EOD))
    assert local_range("last spring", d(2026, 6, 21)) == (d(2026, 3, 20), d(2026, 6, 20, *EOD))
    assert local_range("second quarter", d(2026, 2, 10)) == (d(2025, 4, 1), d(2025, 6, 30, *EOD))


def test_aware_now_is_read_in_local_time():
    aware = datetime(2026, 11, 18, 19, 30, tzinfo=UTC)  # 14:30 in New York
    assert parse_time_expression("recent", aware) == parse_time_expression("recent", NOW)


def test_default_now_is_the_clock():
    start, end = parse_time_expression("today")
    assert start is not None
    assert end is not None
    assert start <= time.time() <= end


moments = st.datetimes(min_value=datetime(1990, 1, 1), max_value=datetime(2090, 12, 31))


@given(now=moments)
def test_this_week_contains_now_and_follows_last_week(now):
    this_start, this_end = local_range("this week", now)
    last_start, last_end = local_range("last week", now)
    assert this_start is not None
    assert this_start.weekday() == 0
    assert this_end is not None
    assert last_end is not None
    assert this_start <= now <= this_end
    assert last_start == this_start - timedelta(days=7)
    assert last_end + timedelta(microseconds=1) == this_start


PHRASES = [
    "today", "yesterday", "3 days ago", "2 weeks ago", "5 months ago", "1 year ago",
    "last 3 days", "last week", "last month", "last year", "last summer", "this week",
    "this winter", "january", "march", "june", "december", "christmas", "new year", "spring",
    "winter", "first half of 2025", "second quarter", "4th quarter of 2024", "recently",
    "2026-01-05", "12/25", "1/5", "2/29", "3/1/2025", "yesterday morning", "today night",
]  # fmt: skip
phrases = st.sampled_from(PHRASES)
texts = st.one_of(
    st.text(max_size=80),
    phrases,
    st.builds("between {} and {}".format, phrases, phrases),
    st.builds("{} {}".format, st.text(max_size=20), phrases),
)


@given(now=moments, text=texts)
def test_any_text_gives_no_range_or_an_ordered_one(now, text):
    try:
        start, end = parse_time_expression(text, now)
    except TimeRangeError:
        return
    if "between" not in text.lower():  # "between X and <no date>" is half-open, as upstream
        assert (start is None) == (end is None)
    if start is not None and end is not None:
        assert start <= end


@pytest.mark.parametrize(
    ("query", "cleaned", "same_as"),
    [
        (
            "what did I decide yesterday about the schema",
            "what did I decide about the schema",
            "yesterday",
        ),
        ("standup notes in the morning yesterday", "standup notes", "yesterday morning"),
        (
            "deploy notes from 2026-01-05 to 2026-01-10 please",
            "deploy notes please",
            "between 2026-01-05 and 2026-01-10",
        ),
        ("maybe the May release", "maybe the release", "may"),
        ("errors in the last 3 days", "errors in the", "last 3 days"),
        ("Q notes from the FIRST QUARTER of 2025", "Q notes from the", "first quarter of 2025"),
    ],
)
def test_extract_time_expression(query, cleaned, same_as):
    assert extract_time_expression(query, NOW) == (
        cleaned,
        parse_time_expression(same_as, NOW),
    )
    assert parse_time_expression(same_as, NOW) != (None, None)


@pytest.mark.parametrize(
    "query",
    ["no time words here", "notes from the meeting to discuss budget", "newyear party"],
)
def test_extract_leaves_a_query_without_a_range_alone(query):
    assert extract_time_expression(query, NOW) == (query, (None, None))
