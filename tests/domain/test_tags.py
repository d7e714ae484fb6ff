from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from memhub.domain.tags import (
    carries,
    filter_text_problem,
    merge_tags,
    normalize_tags,
    read_back,
    tags_from_db,
    tags_to_db,
)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        pytest.param(None, [], id="none"),
        pytest.param([], [], id="empty-list"),
        pytest.param("", [], id="empty-string"),
        pytest.param("single", ["single"], id="one-tag"),
        pytest.param("  Single Tag ", ["single tag"], id="one-tag-inner-space"),
        pytest.param("a, B ,c,,", ["a", "b", "c"], id="csv-with-spaces"),
        pytest.param('["x", "Y", "x"]', ["x", "y"], id="json-array"),
        pytest.param(' ["a,b", 2024] ', ["a-b", "2024"], id="json-comma-and-number"),
        pytest.param("[not json, x", ["[not json- x"], id="bad-json-is-one-literal-tag"),
        pytest.param(["Python", "python ", "PYTHON", "ops"], ["python", "ops"], id="case-dedup"),
        pytest.param(("a", "b"), ["a", "b"], id="tuple"),
        pytest.param(["has,comma", "has-comma"], ["has-comma"], id="comma-to-dash-then-dedup"),
        pytest.param(["", "  ", ","], ["-"], id="empties-dropped"),
        pytest.param(["x" * 150], ["x" * 100], id="cut-to-100"),
        pytest.param(["x" * 99 + " y"], ["x" * 99], id="no-trailing-space-after-cut"),
        pytest.param(["İ" * 100], ["i̇" * 50], id="lowercase-then-cut"),
    ],
)
def test_normalize_tags(raw, expected):
    assert normalize_tags(raw) == expected


def test_normalize_tags_keeps_first_100_distinct_tags():
    raw = [f"T{i % 150}" for i in range(300)]
    assert normalize_tags(raw) == [f"t{i}" for i in range(100)]


def test_long_json_string_is_one_literal_tag():
    raw = json.dumps([f"tag{i}" for i in range(600)])
    assert len(raw) > 4096
    assert normalize_tags(raw) == [raw.replace(",", "-")[:100]]


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        pytest.param(["ok", {"bad": 1}, None, True, 7, 2.5], ["ok", "7", "2.5"], id="list"),
        pytest.param('["ok", {"a": 1}, null, true, 7]', ["ok", "{'a': 1}", "none", "true", "7"],
                     id="json-array"),
    ],
)  # fmt: skip
def test_non_string_elements_are_read_as_upstream_reads_them(raw, expected):
    # Upstream skips non-strings in a list and takes the str() of every JSON-array element.
    assert normalize_tags(raw) == expected


@pytest.mark.parametrize("raw", [42, {"a": 1}, 1.5, True])
def test_a_tags_value_of_another_shape_is_refused(raw):
    with pytest.raises(ValueError, match=r"tags must be a list of strings or a comma-separated"):
        normalize_tags(raw)


def test_merge_tags_normalizes_several_values_as_one():
    assert merge_tags(["B", "a"], "a, c", None, '["C", "d"]') == ["b", "a", "c", "d"]
    assert merge_tags([f"x{i}" for i in range(80)], [f"y{i}" for i in range(80)]) == (
        [f"x{i}" for i in range(80)] + [f"y{i}" for i in range(20)]
    )


def test_read_back_is_what_a_stored_row_reads_as():
    for tags in ([], ["a"], ["a", "b-c"]):
        assert read_back(tags) == tags_from_db(tags_to_db(tags))


tag_values = st.one_of(
    st.lists(st.text(max_size=120), max_size=130),
    st.lists(st.one_of(st.text(max_size=20), st.integers(), st.floats(), st.none(), st.booleans())),
    st.text(max_size=300),
    st.lists(st.text(max_size=30), max_size=20).map(json.dumps),
    st.lists(st.text(alphabet=" ,abcAB\u0130", max_size=8), max_size=20).map(",".join),
)


@given(tag_values)
def test_normalized_tags_are_stable_and_storable(raw):
    tags = normalize_tags(raw)
    assert normalize_tags(tags) == tags
    assert len(tags) <= 100
    assert len(set(tags)) == len(tags)
    for tag in tags:
        assert tag
        assert tag == tag.strip()
        assert tag == tag.lower()
        assert "," not in tag
        assert len(tag) <= 100
    assert tags_from_db(tags_to_db(tags)) == (tags or ["untagged"])


def test_stored_tag_format():
    assert tags_to_db([]) == "untagged"
    assert tags_to_db(["a", "b c"]) == "a,b c"
    assert tags_from_db("A, b,,c ") == ["A", "b", "c"]
    assert tags_from_db("") == []
    assert tags_from_db(None) == []


ROWS = [
    "python,ops",
    "Ops, Monitoring",
    "python-tools",
    "100%_done",
    "100x_done",
    "1000_done",
    "back\\slash",
    "machine learning,ml",
    "untagged",
]


def _matching(rows: list[str], tags: list[str], match_all: bool) -> list[str]:
    return [row for row in rows if carries(row, tags, match_all)]


@pytest.mark.parametrize(
    ("tags", "match_all", "expected"),
    [
        pytest.param(["ops"], False, ["python,ops", "Ops, Monitoring"], id="whole-tags-legacy"),
        pytest.param(["monitoring", "python"], False, ROWS[:2], id="any"),
        pytest.param(["ops", "python"], True, ["python,ops"], id="all"),
        pytest.param(["ops", "monitoring"], True, ["Ops, Monitoring"], id="all-legacy-row"),
        pytest.param(["python"], False, ["python,ops"], id="no-prefix-match"),
        pytest.param(["100%_done"], False, ["100%_done"], id="percent-underscore-literal"),
        pytest.param(["100%"], False, [], id="percent-not-wildcard"),
        pytest.param(["back\\slash"], False, ["back\\slash"], id="backslash-literal"),
        pytest.param(["machine learning"], False, ["machine learning,ml"], id="inner-space"),
        pytest.param([], False, ROWS, id="no-tags-no-filter"),
        pytest.param([" "], False, [], id="blank-tags-match-nothing"),
    ],
)
def test_the_tag_rule(tags, match_all, expected):
    assert _matching(ROWS, tags, match_all) == expected


def test_a_nul_is_no_pattern():
    assert filter_text_problem("a\x00b") is not None
    assert filter_text_problem("\x00") is not None
    assert filter_text_problem("snake_case 100%") is None
