from datetime import datetime
from typing import Any

import pytest

from memhub.mcp_bridge import arguments as a


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (None, []),
        ("", []),
        ("   ", []),
        (["Python", "python", " DB "], ["python", "db"]),
        ("a, B ,,c", ["a", "b", "c"]),
        ("single", ["single"]),
        ('["x", "Y"]', ["x", "y"]),
        ("[not json", ["[not json"]),
        (["has,comma"], ["has-comma"]),
        ([2024, "x", None, True], ["2024", "x"]),
        (("t1", "t2"), ["t1", "t2"]),
    ],
)
def test_normalize_tags(raw: Any, expected: Any) -> None:
    assert a.normalize_tags(raw) == expected


def test_normalize_tags_limits_length_and_count() -> None:
    assert a.normalize_tags(["x" * 150]) == ["x" * 100]
    assert len(a.normalize_tags([f"t{i}" for i in range(150)])) == 100


def test_normalize_tags_rejects_other_types() -> None:
    with pytest.raises(a.ArgumentError, match="tags must be"):
        a.normalize_tags({"a": 1})


def test_parse_date_is_local_midnight() -> None:
    assert a.parse_date("2024-03-05", "after") == datetime(2024, 3, 5).timestamp()
    assert a.parse_date(None, "after") is None
    assert a.parse_date("", "after") is None
    assert a.parse_date(1700000000, "after") == 1700000000.0


def test_parse_date_error_is_mms_text() -> None:
    with pytest.raises(a.ArgumentError) as info:
        a.parse_date("last tuesday", "before")
    assert str(info.value) == "Invalid before date format: last tuesday. Use YYYY-MM-DD"


@pytest.mark.parametrize(("raw", "expected"), [(None, 10), (5, 5), (5.0, 5), ("7", 7), (500, 100)])
def test_as_int_is_lenient_and_clamps(raw: Any, expected: Any) -> None:
    assert a.as_int(raw, "limit", 10, minimum=1, maximum=100, clamp=True) == expected


@pytest.mark.parametrize("raw", ["abc", 2.5, True, [1]])
def test_as_int_rejects(raw: Any) -> None:
    with pytest.raises(a.ArgumentError, match="limit must be a whole number"):
        a.as_int(raw, "limit", 10)


def test_as_int_range_without_clamp() -> None:
    with pytest.raises(a.ArgumentError, match="page must be at least 1"):
        a.as_int(0, "page", 1, minimum=1)


@pytest.mark.parametrize(
    ("raw", "expected"), [(None, False), (True, True), ("true", True), ("False", False), (1, True)]
)
def test_as_bool(raw: Any, expected: Any) -> None:
    assert a.as_bool(raw, "dry_run", False) is expected


def test_as_bool_rejects() -> None:
    with pytest.raises(a.ArgumentError):
        a.as_bool("maybe", "dry_run", False)


def test_choices_use_mms_wording() -> None:
    assert a.as_search_mode("HYBRID") == "hybrid"
    assert a.as_tag_match(None) == "any"
    with pytest.raises(a.ArgumentError) as info:
        a.as_search_mode("fuzzy")
    assert str(info.value) == "Invalid mode: fuzzy. Must be 'semantic', 'exact', or 'hybrid'"
    with pytest.raises(a.ArgumentError) as info:
        a.as_tag_match("some")
    assert str(info.value) == "Invalid tag_match: some. Must be 'any' or 'all'"


def test_as_object_accepts_json_strings() -> None:
    assert a.as_object('{"type": "note"}', "metadata") == {"type": "note"}
    assert a.as_object(None, "metadata") == {}
    with pytest.raises(a.ArgumentError):
        a.as_object("[1]", "metadata")


def test_store_tags_merges_top_level_and_metadata() -> None:
    args = {"tags": "a,b", "metadata": {"tags": ["B", "c"]}}
    assert a.store_tags(args) == ["a", "b", "c"]
    assert a.store_tags({"metadata": {"tags": "x,y"}}) == ["x", "y"]
    assert a.store_tags({"metadata": '{"tags": "z"}'}) == ["z"]


def test_max_response_chars_precedence() -> None:
    assert a.max_response_chars({}, {}) == 0
    assert a.max_response_chars({}, {"MCP_MAX_RESPONSE_CHARS": "3000"}) == 3000
    assert (
        a.max_response_chars({"max_response_chars": 500}, {"MCP_MAX_RESPONSE_CHARS": "3000"}) == 500
    )
    assert a.max_response_chars({"max_response_chars": 0}, {"MCP_MAX_RESPONSE_CHARS": "3000"}) == 0
    assert a.max_response_chars({"max_response_chars": "x"}, {"MCP_MAX_RESPONSE_CHARS": "9"}) == 9
    assert a.max_response_chars({}, {"MCP_MAX_RESPONSE_CHARS": "junk"}) == 0
