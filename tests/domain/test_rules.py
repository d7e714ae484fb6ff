"""Pure rules shared with mcp-memory-service: hash, tags, types, timestamps, time phrases."""

from __future__ import annotations

import hashlib
import sqlite3
from datetime import datetime, timedelta

import pytest

from memhub.domain.hashing import content_hash
from memhub.domain.ontology import canonical_memory_type, custom_types_from_env
from memhub.domain.tags import normalize_tags, tag_filter_sql, tags_from_db, tags_to_db
from memhub.domain.timeparse import parse_time_expression
from memhub.domain.timestamps import iso_utc, parse_date_bound

# A Wednesday afternoon, local time.
NOW = datetime(2026, 11, 18, 14, 30, 0)


def test_content_hash_ignores_case_and_surrounding_space():
    assert content_hash("  Hello World \n") == hashlib.sha256(b"hello world").hexdigest()
    assert content_hash("a") != content_hash("b")


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (None, []),
        ([], []),
        (["Python", "python ", "OPS"], ["python", "ops"]),
        ("a, B ,c", ["a", "b", "c"]),
        ('["x", "Y"]', ["x", "y"]),
        (["has,comma"], ["has-comma"]),
        ("single", ["single"]),
        (["", "  "], []),
        (["x" * 150], ["x" * 100]),
    ],
)
def test_normalize_tags(raw, expected):
    assert normalize_tags(raw) == expected


def test_normalize_tags_caps_at_100_and_rejects_non_strings():
    assert len(normalize_tags([f"t{i}" for i in range(250)])) == 100
    with pytest.raises(ValueError, match="string"):
        normalize_tags(["ok", {"bad": 1}])
    with pytest.raises(ValueError, match="list of strings"):
        normalize_tags(42)


def test_stored_tag_format():
    assert tags_to_db([]) == "untagged"
    assert tags_to_db(["a", "b"]) == "a,b"
    assert tags_from_db("A, b,,c ") == ["A", "b", "c"]
    assert tags_from_db(None) == []


def _matching(rows: list[str], tags: list[str], match_all: bool) -> list[str]:
    conn = sqlite3.connect(":memory:")
    conn.execute("CREATE TABLE memories (tags TEXT)")
    conn.executemany("INSERT INTO memories VALUES (?)", [(r,) for r in rows])
    sql, params = tag_filter_sql(tags, match_all, column="m.tags")
    found = [r[0] for r in conn.execute(f"SELECT tags FROM memories m WHERE {sql}", params)]
    conn.close()
    return found


def test_tag_sql_matches_legacy_rows_whole_tags_only():
    rows = ["python,ops", "Ops, Monitoring", "python-tools", "100%_done", "100x_done"]
    assert _matching(rows, ["ops"], False) == ["python,ops", "Ops, Monitoring"]
    assert _matching(rows, ["monitoring", "python"], False) == ["python,ops", "Ops, Monitoring"]
    assert _matching(rows, ["ops", "python"], True) == ["python,ops"]
    assert _matching(rows, ["100%_done"], False) == ["100%_done"]  # % and _ are literal
    assert _matching(rows, [], False) == rows


def test_ontology_and_custom_types():
    assert canonical_memory_type(None) == ("note", None)
    assert canonical_memory_type(" Decision ") == ("decision", None)
    assert canonical_memory_type("bug") == ("bug", None)
    memory_type, warning = canonical_memory_type("Fact")
    assert memory_type == "observation"
    assert warning == (
        "Warning: requested memory_type 'Fact' is not in the ontology — stored as "
        "'observation'. Register custom types via the MCP_CUSTOM_MEMORY_TYPES env var, "
        "e.g. '{\"Fact\": []}'."
    )
    custom = custom_types_from_env({"MCP_CUSTOM_MEMORY_TYPES": '{"fact": ["trivia"]}'})
    assert canonical_memory_type("trivia", custom) == ("trivia", None)
    assert custom_types_from_env({"MCP_CUSTOM_MEMORY_TYPES": "not json"}) == {}


def test_iso_strings_match_upstream():
    assert iso_utc(0.0) == "1970-01-01T00:00:00Z"
    assert iso_utc(1.5) == "1970-01-01T00:00:01.500000Z"


def test_date_bounds():
    assert parse_date_bound("2026-03-04") == datetime(2026, 3, 4).timestamp()
    assert (
        parse_date_bound("2026-03-04T10:00:00Z")
        == datetime.fromisoformat("2026-03-04T10:00:00+00:00").timestamp()
    )
    with pytest.raises(ValueError, match="YYYY-MM-DD"):
        parse_date_bound("last tuesday")


def ts(*args: int) -> float:
    return datetime(*args).timestamp()  # type: ignore[arg-type]


def day(y: int, mo: int, d: int) -> tuple[float, float]:
    start = datetime(y, mo, d)
    return start.timestamp(), (start + timedelta(days=1) - timedelta(microseconds=1)).timestamp()


@pytest.mark.parametrize(
    ("phrase", "expected"),
    [
        ("yesterday", day(2026, 11, 17)),
        ("today", day(2026, 11, 18)),
        ("3 days ago", day(2026, 11, 15)),
        ("yesterday morning", (ts(2026, 11, 17, 5), ts(2026, 11, 17, 11, 59, 59))),
        ("yesterday night", (ts(2026, 11, 17, 22), ts(2026, 11, 18, 4, 59, 59))),
        ("2026-02-03", day(2026, 2, 3)),
        ("on 4/5/25", day(2025, 4, 5)),
        ("2 weeks ago", (day(2026, 11, 2)[0], day(2026, 11, 8)[1])),
        ("1 month ago", (day(2026, 10, 1)[0], day(2026, 10, 31)[1])),
        ("2 years ago", (ts(2024, 1, 1), ts(2024, 12, 31, 23, 59, 59))),
        ("last 3 days", (ts(2026, 11, 15), NOW.timestamp())),
        ("last week", (day(2026, 11, 9)[0], day(2026, 11, 15)[1])),
        ("last month", (day(2026, 10, 1)[0], day(2026, 10, 31)[1])),
        ("last year", (ts(2025, 1, 1), ts(2025, 12, 31, 23, 59, 59))),
        ("this week", (day(2026, 11, 16)[0], day(2026, 11, 22)[1])),
        ("in march", (day(2026, 3, 1)[0], day(2026, 3, 31)[1])),
        ("in december", (day(2025, 12, 1)[0], day(2025, 12, 31)[1])),  # future month: last year
        ("around halloween", (day(2026, 10, 28)[0], day(2026, 11, 3)[1])),
        # this year's (26 Nov ± 3) has not begun: upstream picks last year's (27 Nov 2025 ± 3)
        ("thanksgiving", (day(2025, 11, 24)[0], day(2025, 11, 30)[1])),
        ("first half of 2025", (ts(2025, 1, 1), ts(2025, 6, 30, 23, 59, 59))),
        ("third quarter of 2025", (ts(2025, 7, 1), ts(2025, 9, 30, 23, 59, 59))),
        ("recently", ((NOW - timedelta(days=7)).timestamp(), NOW.timestamp())),
        ("between 2026-01-02 and 2026-01-05", (day(2026, 1, 2)[0], day(2026, 1, 5)[1])),
        ("what did I have for lunch", (None, None)),
    ],
)
def test_time_phrases(phrase, expected):
    assert parse_time_expression(phrase, NOW) == expected


def test_precedence_between_beats_dates_and_long_input_is_cut():
    start, end = parse_time_expression("between yesterday and today", NOW)
    assert (start, end) == (day(2026, 11, 17)[0], day(2026, 11, 18)[1])
    assert parse_time_expression("x" * 600 + " yesterday", NOW) == (None, None)
